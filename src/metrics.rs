//! `apply --metrics-file PATH`: the run's outcome as node-exporter textfile metrics, so a
//! cron job is watched by the Prometheus its users already run. Written atomically (a
//! temporary file in the same directory, then a rename), as the textfile collector asks,
//! so a scrape never reads half a file.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::apply::{HostRun, Outcome};

/// Hosts per state: in_sync (nothing to do), drifted (changes found: applied, planned in a
/// dry run, or halted before they ran), unreachable, failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub in_sync: usize,
    pub drifted: usize,
    pub unreachable: usize,
    pub failed: usize,
}

impl Counts {
    pub fn of(runs: &[HostRun]) -> Counts {
        let mut c = Counts::default();
        for run in runs {
            match run.outcome {
                Outcome::Unchanged => c.in_sync += 1,
                Outcome::Changed | Outcome::Planned | Outcome::Halted(_) => c.drifted += 1,
                Outcome::Unreachable(_) => c.unreachable += 1,
                Outcome::Failed(_) => c.failed += 1,
            }
        }
        c
    }
}

/// The textfile's content.
pub fn render(counts: Counts, duration: Duration, finished_unix: u64, exit_code: i32) -> String {
    let mut s = String::new();
    s.push_str("# HELP dsctl_hosts Targeted hosts by the outcome of the last dsctl apply.\n");
    s.push_str("# TYPE dsctl_hosts gauge\n");
    for (state, n) in [
        ("in_sync", counts.in_sync),
        ("drifted", counts.drifted),
        ("unreachable", counts.unreachable),
        ("failed", counts.failed),
    ] {
        s.push_str(&format!("dsctl_hosts{{state=\"{state}\"}} {n}\n"));
    }
    s.push_str("# HELP dsctl_last_run_duration_seconds How long the last dsctl apply took.\n");
    s.push_str("# TYPE dsctl_last_run_duration_seconds gauge\n");
    s.push_str(&format!(
        "dsctl_last_run_duration_seconds {:.3}\n",
        duration.as_secs_f64()
    ));
    s.push_str("# HELP dsctl_last_run_timestamp_seconds When the last dsctl apply ended.\n");
    s.push_str("# TYPE dsctl_last_run_timestamp_seconds gauge\n");
    s.push_str(&format!(
        "dsctl_last_run_timestamp_seconds {finished_unix}\n"
    ));
    s.push_str("# HELP dsctl_last_run_exit_code The last dsctl apply's exit code.\n");
    s.push_str("# TYPE dsctl_last_run_exit_code gauge\n");
    s.push_str(&format!("dsctl_last_run_exit_code {exit_code}\n"));
    s
}

/// Replaces `path` with `content` atomically (readable by the node exporter's user).
pub fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".dsctl-metrics")
        .tempfile_in(dir)?;
    tmp.write_all(content.as_bytes())?;
    tmp.as_file().sync_all()?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: Outcome) -> HostRun {
        HostRun {
            host: "h".into(),
            outcome,
            plan: None,
            observation: None,
            connections: 0,
            round_trips: 0,
        }
    }

    #[test]
    fn hosts_are_counted_by_outcome() {
        let runs = [
            run(Outcome::Unchanged),
            run(Outcome::Unchanged),
            run(Outcome::Changed),
            run(Outcome::Planned),
            run(Outcome::Halted("wave 1 failed".into())),
            run(Outcome::Unreachable("timeout".into())),
            run(Outcome::Failed("exit 1".into())),
        ];
        assert_eq!(
            Counts::of(&runs),
            Counts {
                in_sync: 2,
                drifted: 3,
                unreachable: 1,
                failed: 1
            }
        );
    }

    #[test]
    fn the_textfile_format() {
        let text = render(
            Counts {
                in_sync: 5,
                drifted: 1,
                unreachable: 2,
                failed: 0,
            },
            Duration::from_millis(12_345),
            1_796_166_306,
            1,
        );
        assert_eq!(
            text,
            "# HELP dsctl_hosts Targeted hosts by the outcome of the last dsctl apply.\n\
             # TYPE dsctl_hosts gauge\n\
             dsctl_hosts{state=\"in_sync\"} 5\n\
             dsctl_hosts{state=\"drifted\"} 1\n\
             dsctl_hosts{state=\"unreachable\"} 2\n\
             dsctl_hosts{state=\"failed\"} 0\n\
             # HELP dsctl_last_run_duration_seconds How long the last dsctl apply took.\n\
             # TYPE dsctl_last_run_duration_seconds gauge\n\
             dsctl_last_run_duration_seconds 12.345\n\
             # HELP dsctl_last_run_timestamp_seconds When the last dsctl apply ended.\n\
             # TYPE dsctl_last_run_timestamp_seconds gauge\n\
             dsctl_last_run_timestamp_seconds 1796166306\n\
             # HELP dsctl_last_run_exit_code The last dsctl apply's exit code.\n\
             # TYPE dsctl_last_run_exit_code gauge\n\
             dsctl_last_run_exit_code 1\n"
        );
    }

    #[test]
    fn written_atomically_over_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dsctl.prom");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left");
    }
}
