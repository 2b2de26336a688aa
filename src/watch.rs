//! `dsctl apply --watch`: the decisions of the long-lived controller, pure and table-tested.
//! The loop itself (connections kept per host, signals, file reloads) is
//! `command/watch.rs`; each cycle is one run of the apply driver, so healing follows the same
//! health-gated rules as a plain apply.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::apply::{HostRun, Outcome};

/// The default `--interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The longest wait between reconnect attempts to an unreachable host.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub use crate::interval::parse_interval;

/// How long to wait before reconnecting after `failures` failed attempts in a row: the
/// interval, doubling per failure, at most [`MAX_BACKOFF`] (or the interval, if longer). A
/// host that is down costs one connect timeout per backoff, not one per cycle.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doubled = interval.saturating_mul(1u32 << (failures - 1).min(16));
    doubled.min(MAX_BACKOFF.max(interval))
}

/// When the next cycle starts: one interval after the last one started, or at once if that
/// cycle took longer (a slow fleet is checked back to back, never in overlapping cycles).
pub fn next_cycle(last_start: Duration, interval: Duration, now: Duration) -> Duration {
    (last_start + interval).max(now)
}

/// What the controller last saw of a host, to log only what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    InSync,
    /// Its last changes failed (or were halted): the message, logged once until it differs.
    Failing(String),
    /// Unreachable: logged once on the way down, then "reconnected" on the way back.
    Unreachable,
}

/// The log lines for one cycle's `runs` against what was seen before, and what is seen now.
/// Nothing when nothing changed; every carried-out change is one line.
pub fn log_lines(
    before: &BTreeMap<String, Seen>,
    runs: &[HostRun],
) -> (Vec<String>, BTreeMap<String, Seen>) {
    let mut lines = Vec::new();
    let mut now = BTreeMap::new();
    for run in runs {
        let was = before.get(&run.host);
        if was == Some(&Seen::Unreachable) && !matches!(run.outcome, Outcome::Unreachable(_)) {
            lines.push(format!("{}: reconnected", run.host));
        }
        let seen = match &run.outcome {
            Outcome::Unchanged => Seen::InSync,
            Outcome::Changed | Outcome::Planned => {
                let verb = if run.outcome == Outcome::Planned {
                    "would "
                } else {
                    ""
                };
                for change in run.plan.iter().flat_map(|p| &p.changes) {
                    lines.push(format!(
                        "{}: {verb}{} {}: {}",
                        run.host,
                        kind_word(change.kind),
                        change.daemonset,
                        change.reasons.join("; ")
                    ));
                }
                Seen::InSync
            }
            Outcome::Unreachable(why) => {
                if was != Some(&Seen::Unreachable) {
                    lines.push(format!("{}: unreachable: {}", run.host, first_line(why)));
                }
                Seen::Unreachable
            }
            Outcome::Failed(why) | Outcome::Halted(why) => {
                let seen = Seen::Failing(why.clone());
                if was != Some(&seen) {
                    let word = if matches!(run.outcome, Outcome::Halted(_)) {
                        "halted"
                    } else {
                        "failed"
                    };
                    lines.push(format!(
                        "{}: {word}: {}",
                        run.host,
                        why.replace('\n', " | ")
                    ));
                }
                seen
            }
        };
        now.insert(run.host.clone(), seen);
    }
    (lines, now)
}

fn kind_word(kind: crate::plan::ChangeKind) -> &'static str {
    use crate::plan::ChangeKind::*;
    match kind {
        Create => "created",
        Update => "updated",
        Heal => "healed",
        Remove => "removed",
        Prune => "pruned",
        Restart => "restarted",
        Record => "recorded",
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// What the watched files look like now: each path's modification time and length (`None`
/// for a path that cannot be read). A directory counts with every entry in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp(pub Vec<(PathBuf, Option<(SystemTime, u64)>)>);

impl Stamp {
    pub fn of(paths: &[PathBuf]) -> Stamp {
        let mut entries = Vec::new();
        for path in paths {
            entries.push((path.clone(), meta(path)));
            if path.is_dir()
                && let Ok(dir) = std::fs::read_dir(path)
            {
                let mut inner: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
                inner.sort();
                entries.extend(inner.into_iter().map(|p| {
                    let m = meta(&p);
                    (p, m)
                }));
            }
        }
        Stamp(entries)
    }
}

fn meta(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, ChangeKind, HostPlan};

    #[test]
    fn intervals() {
        let ok = [
            ("5s", 5_000),
            ("5", 5_000),
            ("500ms", 500),
            ("1.5s", 1_500),
            ("2m", 120_000),
            ("1h", 3_600_000),
            (" 10s ", 10_000),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_interval(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in ["", "s", "5x", "50ms", "0", "-1s", "fast"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_from_the_interval_up_to_a_minute() {
        let s = Duration::from_secs;
        let table = [
            (0, s(5), s(0)),
            (1, s(5), s(5)),
            (2, s(5), s(10)),
            (3, s(5), s(20)),
            (4, s(5), s(40)),
            (5, s(5), s(60)),
            (40, s(5), s(60)),
            (1, s(120), s(120)),
            (3, s(120), s(120)),
            (3, Duration::from_millis(500), s(2)),
        ];
        for (failures, interval, want) in table {
            assert_eq!(
                backoff(failures, interval),
                want,
                "{failures} × {interval:?}"
            );
        }
    }

    #[test]
    fn cycles_start_one_interval_apart_or_at_once_when_late() {
        let s = Duration::from_secs;
        assert_eq!(next_cycle(s(10), s(5), s(11)), s(15));
        assert_eq!(next_cycle(s(10), s(5), s(15)), s(15));
        assert_eq!(next_cycle(s(10), s(5), s(23)), s(23));
    }

    fn run(host: &str, outcome: Outcome, changes: &[(&str, ChangeKind, &str)]) -> HostRun {
        HostRun {
            host: host.to_string(),
            outcome,
            plan: Some(HostPlan {
                changes: changes
                    .iter()
                    .map(|(ds, kind, why)| Change {
                        daemonset: ds.to_string(),
                        kind: *kind,
                        reasons: vec![why.to_string()],
                        actions: vec![],
                        disruptive: false,
                    })
                    .collect(),
                notes: vec![],
            }),
            observation: None,
            connections: 1,
            round_trips: 1,
        }
    }

    #[test]
    fn one_line_per_change_and_nothing_when_nothing_changes() {
        use Outcome::*;
        let seen = |pairs: &[(&str, Seen)]| -> BTreeMap<String, Seen> {
            pairs
                .iter()
                .map(|(h, s)| (h.to_string(), s.clone()))
                .collect()
        };
        let unreachable = || Unreachable("connect: refused\nmore".into());
        type Row = (
            &'static str,
            BTreeMap<String, Seen>,
            HostRun,
            Vec<&'static str>,
            Seen,
        );
        let table: Vec<Row> = vec![
            (
                "in sync stays quiet",
                seen(&[("a", Seen::InSync)]),
                run("a", Unchanged, &[]),
                vec![],
                Seen::InSync,
            ),
            (
                "first sight of a synced host is quiet",
                seen(&[]),
                run("a", Unchanged, &[]),
                vec![],
                Seen::InSync,
            ),
            (
                "a heal is one line",
                seen(&[("a", Seen::InSync)]),
                run(
                    "a",
                    Changed,
                    &[("web", ChangeKind::Heal, "x.service is inactive")],
                ),
                vec!["a: healed web: x.service is inactive"],
                Seen::InSync,
            ),
            (
                "a dry run says would",
                seen(&[]),
                run("a", Planned, &[("web", ChangeKind::Create, "install")]),
                vec!["a: would created web: install"],
                Seen::InSync,
            ),
            (
                "going down is logged once",
                seen(&[("a", Seen::InSync)]),
                run("a", unreachable(), &[]),
                vec!["a: unreachable: connect: refused"],
                Seen::Unreachable,
            ),
            (
                "staying down is quiet",
                seen(&[("a", Seen::Unreachable)]),
                run("a", Unreachable("reconnecting in 10s".into()), &[]),
                vec![],
                Seen::Unreachable,
            ),
            (
                "coming back is logged, with what it healed",
                seen(&[("a", Seen::Unreachable)]),
                run("a", Changed, &[("web", ChangeKind::Heal, "stopped")]),
                vec!["a: reconnected", "a: healed web: stopped"],
                Seen::InSync,
            ),
            (
                "a failure is logged once",
                seen(&[("a", Seen::Failing("exit 1".into()))]),
                run("a", Failed("exit 1".into()), &[]),
                vec![],
                Seen::Failing("exit 1".into()),
            ),
            (
                "a new failure is logged",
                seen(&[("a", Seen::InSync)]),
                run("a", Failed("exit 1\nwhy".into()), &[]),
                vec!["a: failed: exit 1 | why"],
                Seen::Failing("exit 1\nwhy".into()),
            ),
            (
                "halted",
                seen(&[]),
                run("a", Halted("rollout halted".into()), &[]),
                vec!["a: halted: rollout halted"],
                Seen::Failing("rollout halted".into()),
            ),
        ];
        for (name, before, r, want, after) in table {
            let (lines, now) = log_lines(&before, &[r]);
            assert_eq!(lines, want, "{name}");
            assert_eq!(now.get("a"), Some(&after), "{name}");
        }
    }

    #[test]
    fn a_stamp_changes_with_a_file_in_a_watched_directory() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![dir.path().to_path_buf()];
        std::fs::write(dir.path().join("a.toml"), "x").unwrap();
        let before = Stamp::of(&paths);
        assert_eq!(Stamp::of(&paths), before);
        std::fs::write(dir.path().join("a.toml"), "xy").unwrap();
        assert_ne!(Stamp::of(&paths), before);
        let gone = Stamp::of(&[dir.path().join("missing.toml")]);
        assert_eq!(gone.0[0].1, None);
    }
}
