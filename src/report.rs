//! How a run's results read: text lines for people and cron, JSON for scripts (pure).

use std::fmt::Write as _;

use serde::Serialize;

use crate::apply::{HostRun, Outcome};
use crate::plan::ChangeKind;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub hosts: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub failed: usize,
}

impl Summary {
    pub fn of(runs: &[HostRun]) -> Summary {
        let mut s = Summary {
            hosts: runs.len(),
            ..Default::default()
        };
        for run in runs {
            match run.outcome {
                Outcome::Unchanged => s.unchanged += 1,
                Outcome::Changed | Outcome::Planned => s.changed += 1,
                _ => s.failed += 1,
            }
        }
        s
    }
}

/// The exit code of apply/delete: 0 when every targeted host converged, 1 otherwise.
pub fn exit_code(runs: &[HostRun]) -> i32 {
    i32::from(runs.iter().any(|r| r.outcome.is_error()))
}

fn verb(kind: ChangeKind, dry_run: bool) -> &'static str {
    match (kind, dry_run) {
        (ChangeKind::Create, false) => "created",
        (ChangeKind::Update, false) => "updated",
        (ChangeKind::Heal, false) => "restored",
        (ChangeKind::Remove, false) => "removed",
        (ChangeKind::Prune, false) => "pruned",
        (ChangeKind::Restart, false) => "restarted",
        (ChangeKind::Restart, true) => "would restart",
        (ChangeKind::Record, false) => "recorded",
        (ChangeKind::Record, true) => "would record",
        (ChangeKind::Create, true) => "would create",
        (ChangeKind::Update, true) => "would update",
        (ChangeKind::Heal, true) => "would restore",
        (ChangeKind::Remove, true) => "would remove",
        (ChangeKind::Prune, true) => "would prune",
    }
}

/// One line per change and per failed host, then a summary. Empty when nothing changed and
/// `quiet_when_unchanged` (cron mails any output).
pub fn text(runs: &[HostRun], stats: bool, quiet_when_unchanged: bool) -> String {
    let mut out = String::new();
    for run in runs {
        let dry_run = run.outcome == Outcome::Planned;
        if let Some(plan) = &run.plan
            && matches!(
                run.outcome,
                Outcome::Changed | Outcome::Planned | Outcome::Failed(_) | Outcome::Halted(_)
            )
        {
            for change in &plan.changes {
                let verb = match run.outcome {
                    Outcome::Failed(_) | Outcome::Halted(_) => "not converged:",
                    _ => verb(change.kind, dry_run),
                };
                let _ = writeln!(
                    out,
                    "{}: daemonset/{} {verb} ({})",
                    run.host,
                    change.daemonset,
                    change.reasons.join("; ")
                );
            }
        }
        match &run.outcome {
            Outcome::Unreachable(e) => {
                let _ = writeln!(out, "{}: UNREACHABLE: {e}", run.host);
            }
            Outcome::Failed(e) => {
                let _ = writeln!(out, "{}: FAILED: {}", run.host, e.replace('\n', "\n    "));
            }
            Outcome::Halted(e) => {
                let _ = writeln!(out, "{}: NOT UPDATED: {e}", run.host);
            }
            _ => {}
        }
    }
    let summary = Summary::of(runs);
    let quiet = quiet_when_unchanged && summary.changed == 0 && summary.failed == 0;
    if !quiet {
        for run in runs {
            for note in run.plan.iter().flat_map(|p| &p.notes) {
                let _ = writeln!(out, "{}: {note}", run.host);
            }
        }
    } else {
        // What a script of an earlier run did after its connection was lost is said once,
        // also by a run that changes nothing (the plan's notes hold it otherwise).
        for run in runs {
            for left in run.observation.iter().flat_map(|o| &o.left_runs) {
                let _ = writeln!(out, "{}: {}", run.host, crate::detached::note(left));
            }
        }
    }
    if stats {
        for run in runs {
            let _ = writeln!(
                out,
                "stats: {} connections={} round_trips={}",
                run.host, run.connections, run.round_trips
            );
        }
    }
    if !(quiet_when_unchanged && summary.changed == 0 && summary.failed == 0 && !stats) {
        let _ = writeln!(
            out,
            "{} hosts: {} changed, {} unchanged, {} failed",
            summary.hosts, summary.changed, summary.unchanged, summary.failed
        );
    }
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    hosts: &'a [HostRun],
    summary: Summary,
}

pub fn json(runs: &[HostRun]) -> String {
    serde_json::to_string_pretty(&JsonReport {
        hosts: runs,
        summary: Summary::of(runs),
    })
    .expect("report serializes")
}

/// Prints a run's report as the user asked (text is quiet when nothing changed and stdout is
/// not a terminal) and gives the exit code.
pub fn print(
    runs: &[HostRun],
    output: crate::cli::TextOrJson,
    stats: bool,
) -> std::io::Result<i32> {
    use std::io::IsTerminal;
    match output {
        crate::cli::TextOrJson::Json => crate::outln!("{}", json(runs))?,
        crate::cli::TextOrJson::Text => {
            crate::out!("{}", text(runs, stats, !std::io::stdout().is_terminal()))?
        }
    }
    Ok(exit_code(runs))
}
