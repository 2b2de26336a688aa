//! maxSurge on a host (pure), as Kubernetes does it: the new revision's pod starts beside the
//! old one, and the old one goes once the new one is available.
//!
//! Instances are named by revision (`layout::Instance`), so the new pod's units never collide
//! with the old pod's: the surge is the write-and-start half of the host's planned update, run
//! first. The update itself then only stops and removes the old pod and records the revision
//! (its writes and starts find the new pod already there). No host ever runs two instances of
//! one revision, and a run that dies half-way leaves the new pod's files, which the next plan
//! either keeps (they are the desired units) or removes (they belong to no wanted revision).

use crate::daemonset::DaemonSet;
use crate::layout::service_name;
use crate::plan::{Action, Change, ChangeKind};
use crate::rollout_math::resolve_budget;

/// maxSurge resolved against the hosts that should run the DaemonSet (0: no surge).
pub fn max_surge(ds: &DaemonSet, desired: usize) -> usize {
    resolve_budget(&ds.spec.update_strategy, desired).map_or(0, |b| b.max_surge)
}

/// What starts the new pod beside the old: the writes and starts of the planned update, with
/// neither its removals nor its record.
pub fn up(update: &Change) -> Change {
    Change {
        daemonset: update.daemonset.clone(),
        kind: ChangeKind::Update,
        reasons: vec!["maxSurge: start the new revision beside the old instance".to_string()],
        actions: update
            .actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Project { .. } | Action::WriteUnit { .. } | Action::Start { .. }
                )
            })
            .cloned()
            .collect(),
        disruptive: false,
    }
}

/// What removes a new pod that did not become available: its units, written by [`up`]; the old
/// instance and the record stay.
pub fn down(surge: &Change) -> Change {
    Change {
        daemonset: surge.daemonset.clone(),
        kind: ChangeKind::Remove,
        reasons: vec!["maxSurge: the new instance did not become available".to_string()],
        actions: surge
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::WriteUnit { path, .. } => Some(Action::RemoveUnit {
                    path: path.clone(),
                    unit: service_name(path.rsplit('/').next().unwrap_or(path)),
                }),
                _ => None,
            })
            .collect(),
        disruptive: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(strategy: &str) -> DaemonSet {
        let text = format!(
            r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "web"
[spec.selector.matchLabels]
app = "web"
[spec.updateStrategy]
type = "RollingUpdate"
{strategy}
[spec.template.metadata.labels]
app = "web"
[[spec.template.spec.containers]]
name = "app"
image = "img:2"
[spec.template.spec.containers.readinessProbe]
httpGet = {{ path = "/healthz", port = 8080 }}
[[spec.template.spec.containers]]
name = "side"
image = "img:side"
"#
        );
        toml::from_str(&text).expect("test spec parses")
    }

    #[test]
    fn max_surge_table() {
        let cases = [
            ("rollingUpdate = { maxUnavailable = 0, maxSurge = 1 }", 6, 1),
            ("rollingUpdate = { maxUnavailable = 0, maxSurge = 2 }", 6, 2),
            (
                "rollingUpdate = { maxUnavailable = 0, maxSurge = \"50%\" }",
                5,
                3,
            ),
            (
                "rollingUpdate = { maxUnavailable = 0, maxSurge = \"10%\" }",
                4,
                1,
            ),
            ("rollingUpdate = { maxUnavailable = 2 }", 6, 0),
            ("", 6, 0),
        ];
        for (strategy, desired, want) in cases {
            assert_eq!(max_surge(&ds(strategy), desired), want, "{strategy}");
        }
    }

    #[test]
    fn up_is_the_update_without_removals_or_record_and_down_undoes_it() {
        let unit = |n: &str| crate::layout::unit_path(n);
        let update = Change {
            daemonset: "web".into(),
            kind: ChangeKind::Update,
            reasons: vec![],
            actions: vec![
                Action::RemoveUnit {
                    path: unit("dsctl_web_0000000001-pod.service"),
                    unit: "dsctl_web_0000000001-pod.service".into(),
                },
                Action::WriteUnit {
                    path: unit("dsctl_web_0000000002.pod"),
                    content: "pod".into(),
                },
                Action::WriteUnit {
                    path: unit("dsctl_web_0000000002_app.container"),
                    content: "app".into(),
                },
                Action::Start {
                    unit: "dsctl_web_0000000002-pod.service".into(),
                    enable: false,
                },
                Action::Start {
                    unit: "dsctl_web_0000000002_app.service".into(),
                    enable: false,
                },
                Action::ForgetState {
                    daemonset: "web".into(),
                },
            ],
            disruptive: true,
        };
        let surge = up(&update);
        assert!(!surge.disruptive);
        assert_eq!(surge.actions, update.actions[1..5].to_vec());
        let down = down(&surge);
        assert_eq!(
            down.actions,
            [
                Action::RemoveUnit {
                    path: unit("dsctl_web_0000000002.pod"),
                    unit: "dsctl_web_0000000002-pod.service".into(),
                },
                Action::RemoveUnit {
                    path: unit("dsctl_web_0000000002_app.container"),
                    unit: "dsctl_web_0000000002_app.service".into(),
                },
            ]
        );
    }
}
