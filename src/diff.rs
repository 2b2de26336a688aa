//! `dsctl diff`: what apply would change on each host, as unified diffs of unit files plus
//! the unit state changes (pure: works on the plan and the observation).

use std::fmt::Write as _;

use similar::TextDiff;

use crate::observe::Observation;
use crate::plan::{Action, HostPlan};

/// The diff of one host, empty when it is in sync.
pub fn host_diff(host: &str, plan: &HostPlan, observed: &Observation) -> String {
    let mut out = String::new();
    for change in &plan.changes {
        let _ = writeln!(
            out,
            "# {host}: daemonset/{} {:?}: {}",
            change.daemonset,
            change.kind,
            change.reasons.join("; ")
        );
        for action in &change.actions {
            match action {
                Action::WriteUnit { path, content } => {
                    let live = observed.contents.get(path).map_or("", String::as_str);
                    out.push_str(&unified(host, path, live, content));
                }
                Action::RemoveUnit { path, unit } => {
                    let live = observed.contents.get(path).map_or("", String::as_str);
                    out.push_str(&unified(host, path, live, ""));
                    let _ = writeln!(out, "{host}: {unit}: {} -> removed", state(observed, unit));
                }
                Action::Start { unit, .. } => {
                    let _ = writeln!(
                        out,
                        "{host}: {unit}: {} -> active (start)",
                        state(observed, unit)
                    );
                }
                Action::Restart { unit } => {
                    let _ = writeln!(
                        out,
                        "{host}: {unit}: {} -> active (restart)",
                        state(observed, unit)
                    );
                }
                Action::DaemonReload => {
                    let _ = writeln!(out, "{host}: systemctl daemon-reload");
                }
                Action::RemoveInstanceDir { path } => {
                    let _ = writeln!(
                        out,
                        "{host}: {path}: removed (the instance's emptyDir volumes)"
                    );
                }
                Action::Project { dir, files, .. } => {
                    let _ = writeln!(
                        out,
                        "{host}: {dir}: written ({} files; values not shown)",
                        files.len()
                    );
                }
                Action::RemoveLegacyVolumes { daemonset } => {
                    let _ = writeln!(
                        out,
                        "{host}: daemonset/{daemonset}: podman volumes of the earlier layout removed"
                    );
                }
                Action::RecordState {
                    revision,
                    spec_json,
                    ..
                } => {
                    let record = observed.daemonsets.get(&change.daemonset);
                    let live = record.and_then(|r| r.revision.as_deref()).unwrap_or("none");
                    let live_spec = record.and_then(|r| r.spec_json.as_deref());
                    for line in crate::config_refs::object_changes(live_spec, spec_json) {
                        let _ = writeln!(out, "{host}: {line}");
                    }
                    if live != revision {
                        let _ = writeln!(
                            out,
                            "{host}: daemonset/{} revision: {live} -> {revision}",
                            change.daemonset
                        );
                    }
                }
                Action::ForgetState { daemonset } => {
                    let _ = writeln!(out, "{host}: daemonset/{daemonset}: record removed");
                }
                Action::RecordRevision {
                    daemonset,
                    revision,
                    ..
                } => {
                    let _ = writeln!(
                        out,
                        "{host}: daemonset/{daemonset} history: + revision {revision} (OnDelete)"
                    );
                }
            }
        }
    }
    out
}

fn state(observed: &Observation, unit: &str) -> String {
    observed.units.get(unit).map_or_else(
        || "not loaded".to_string(),
        |s| format!("{} ({})", s.active_state, s.sub_state),
    )
}

fn unified(host: &str, path: &str, live: &str, desired: &str) -> String {
    if live == desired {
        return String::new();
    }
    TextDiff::from_lines(live, desired)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{host}:{path} (live)"),
            &format!("{host}:{path} (desired)"),
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::UnitStatus;
    use crate::plan::{Change, ChangeKind};

    #[test]
    fn shows_content_and_state_changes() {
        let mut observed = Observation::default();
        observed.contents.insert(
            "/etc/systemd/system/a.service".into(),
            "[Service]\nTimeoutStopSec=1\n".into(),
        );
        observed.units.insert(
            "a.service".into(),
            UnitStatus {
                active_state: "failed".into(),
                sub_state: "failed".into(),
                ..Default::default()
            },
        );
        let plan = HostPlan {
            changes: vec![Change {
                daemonset: "a".into(),
                kind: ChangeKind::Heal,
                reasons: vec!["edited".into()],
                actions: vec![
                    Action::WriteUnit {
                        path: "/etc/systemd/system/a.service".into(),
                        content: "[Service]\nTimeoutStopSec=40\n".into(),
                    },
                    Action::Start {
                        unit: "a.service".into(),
                        enable: true,
                    },
                ],
                disruptive: false,
            }],
            notes: vec![],
        };
        let text = host_diff("node-1", &plan, &observed);
        assert!(
            text.contains("--- node-1:/etc/systemd/system/a.service (live)"),
            "{text}"
        );
        assert!(
            text.contains("-TimeoutStopSec=1\n+TimeoutStopSec=40"),
            "{text}"
        );
        assert!(
            text.contains("node-1: a.service: failed (failed) -> active (start)"),
            "{text}"
        );
        assert_eq!(host_diff("node-1", &HostPlan::default(), &observed), "");
    }
}
