//! maxSurge on a host (pure), as Kubernetes does it: the new revision's pod starts beside the
//! old instance and, once it is available, the host's normal update stops and removes the old
//! one (its units are no longer part of the DaemonSet) and records the new revision.
//!
//! Instances are named by revision (`layout::Instance`), so the new pod never shares a name
//! with the old one, and no host ever runs two instances of one revision. A run that dies
//! between the surge and the update leaves the new pod's units without a record; the next
//! apply finds them owned by name (`layout::owner_of_unit_file`) and finishes the update.

use crate::daemonset::DaemonSet;
use crate::inventory::UnitFlavor;
use crate::layout::service_name;
use crate::plan::{Action, Change, ChangeKind};
use crate::render::{RenderError, Templates, UnitFile, render_daemonset};
use crate::revision::revision;
use crate::rollout_math::resolve_budget;

/// maxSurge resolved against the hosts that should run the DaemonSet (0: no surge).
pub fn max_surge(ds: &DaemonSet, desired: usize) -> usize {
    resolve_budget(&ds.spec.update_strategy, desired).map_or(0, |b| b.max_surge)
}

/// What starts the new revision's pod beside the old instance: its units for this flavour,
/// written and started in the pod's order. No record is written (the update that follows
/// records it).
pub fn up(
    ds: &DaemonSet,
    flavor: UnitFlavor,
    templates: &Templates,
) -> Result<(Vec<UnitFile>, Change), RenderError> {
    let units = render_daemonset(ds, &revision(ds), flavor, templates)?;
    let mut actions: Vec<Action> = units
        .iter()
        .map(|u| Action::WriteUnit {
            path: u.path.clone(),
            content: u.content.clone(),
        })
        .collect();
    actions.extend(units.iter().map(|u| Action::Start {
        unit: service_name(&u.name),
        enable: false,
    }));
    let change = Change {
        daemonset: ds.name().to_string(),
        kind: ChangeKind::Update,
        reasons: vec!["maxSurge: start the new revision beside the old instance".to_string()],
        actions: update
            .actions
            .iter()
            .filter(|a| matches!(a, Action::WriteUnit { .. } | Action::Start { .. }))
            .cloned()
            .collect(),
        disruptive: false,
    };
    Ok((units, change))
}

/// What removes the new pod again when it did not become available (the old one stays).
pub fn down(daemonset: &str, units: &[UnitFile]) -> Change {
    let mut actions: Vec<Action> = units
        .iter()
        .rev()
        .map(|u| Action::RemoveUnit {
            path: u.path.clone(),
            unit: service_name(&u.name),
        })
        .collect();
    let dirs: std::collections::BTreeSet<String> = units
        .iter()
        .filter_map(|u| crate::layout::instance_of_unit_file(&u.name))
        .map(|i| i.pod_dir())
        .collect();
    actions.extend(
        dirs.into_iter()
            .map(|path| Action::RemoveInstanceDir { path }),
    );
    Change {
        daemonset: surge.daemonset.clone(),
        kind: ChangeKind::Remove,
        reasons: vec!["maxSurge: the new pod did not become available".to_string()],
        actions,
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
    fn up_starts_the_new_revisions_pod_without_a_record_and_down_removes_it() {
        let original = ds("rollingUpdate = { maxUnavailable = 0, maxSurge = 1 }");
        for flavor in [UnitFlavor::Quadlet, UnitFlavor::Service] {
            let (units, change) = up(&original, flavor, &Templates::embedded()).unwrap();
            let rev = revision(&original);
            let instance = crate::layout::Instance::new("web", &rev);
            let names: Vec<String> = units.iter().map(|u| u.name.clone()).collect();
            // Exactly the units the normal update then keeps: the same names, no copy.
            assert_eq!(
                names,
                [
                    instance.pod_unit_file(flavor).name,
                    instance.container_unit_file("app", flavor).name,
                    instance.container_unit_file("side", flavor).name,
                ]
            );
            assert_eq!(
                change.actions.last(),
                Some(&Action::Start {
                    unit: instance.container_service("side"),
                    enable: false
                })
            );
            assert_eq!(change.actions.len(), 6);
            assert!(
                change
                    .actions
                    .iter()
                    .all(|a| matches!(a, Action::WriteUnit { .. } | Action::Start { .. })),
                "no record: {:?}",
                change.actions
            );
            assert!(!change.disruptive);

            let down = down("web", &units);
            assert_eq!(
                down.actions.first(),
                Some(&Action::RemoveUnit {
                    path: units[2].path.clone(),
                    unit: instance.container_service("side"),
                }),
                "containers before their pod"
            );
            assert_eq!(
                down.actions.last(),
                Some(&Action::RemoveInstanceDir {
                    path: instance.pod_dir()
                })
            );
            assert!(
                !down
                    .actions
                    .iter()
                    .any(|a| matches!(a, Action::ForgetState { .. })),
                "the record stays"
            );
        }
    }
}
