//! maxSurge on a host (pure): the new revision runs as a temporary copy beside the old
//! instance until the canonical units have been replaced and are available again.
//!
//! A host has one set of unit names per DaemonSet (`dsctl-<ds>-<c>`), so the surge instance
//! is a clone whose containers are renamed `<c>-surge` (units and containers
//! `dsctl-<ds>-<c>-surge`). Its files carry the DaemonSet's name prefix, so a run that dies
//! half-way leaves files the planner already removes as no longer part of the DaemonSet; the
//! host's record is never touched by a surge. emptyDir volumes are named after the DaemonSet,
//! not the container, so the surge instance shares them with the old and the new one.

use crate::daemonset::DaemonSet;
use crate::inventory::UnitFlavor;
use crate::plan::{Action, Change, ChangeKind, service_name};
use crate::render::{RenderError, Templates, UnitFile, render_daemonset};
use crate::revision::revision;
use crate::rollout_math::resolve_budget;

/// Appended to each container name of the surge instance.
pub const SUFFIX: &str = "-surge";

/// The DaemonSet with every container renamed `<c>-surge`; nothing else changes (so the
/// revision, probes and volumes are those of the new revision).
pub fn surge_clone(ds: &DaemonSet) -> DaemonSet {
    let mut clone = ds.clone();
    for c in &mut clone.spec.template.spec.containers {
        c.name.push_str(SUFFIX);
    }
    clone
}

/// maxSurge resolved against the hosts that should run the DaemonSet (0: no surge).
pub fn max_surge(ds: &DaemonSet, desired: usize) -> usize {
    resolve_budget(&ds.spec.update_strategy, desired).map_or(0, |b| b.max_surge)
}

/// What starts the surge instance: its units for this flavour, written and started (not
/// enabled: a temporary instance should not come back after a reboot). No record is written.
pub fn up(
    ds: &DaemonSet,
    flavor: UnitFlavor,
    templates: &Templates,
) -> Result<(DaemonSet, Vec<UnitFile>, Change), RenderError> {
    let clone = surge_clone(ds);
    let units = render_daemonset(&clone, &revision(ds), flavor, templates)?;
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
        actions,
        disruptive: false,
    };
    Ok((clone, units, change))
}

/// What removes the surge instance again (stop, disable, delete its files and containers).
pub fn down(daemonset: &str, units: &[UnitFile]) -> Change {
    Change {
        daemonset: daemonset.to_string(),
        kind: ChangeKind::Remove,
        reasons: vec!["maxSurge: the surge instance is no longer needed".to_string()],
        actions: units
            .iter()
            .map(|u| Action::RemoveUnit {
                path: u.path.clone(),
                unit: service_name(&u.name),
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
    fn the_clone_renames_containers_and_nothing_else() {
        let original = ds("rollingUpdate = { maxUnavailable = 0, maxSurge = 1 }");
        let clone = surge_clone(&original);
        let names: Vec<&str> = clone
            .pod_spec()
            .containers
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["app-surge", "side-surge"]);
        let mut back = clone.clone();
        for (c, o) in back
            .spec
            .template
            .spec
            .containers
            .iter_mut()
            .zip(&original.pod_spec().containers)
        {
            c.name = o.name.clone();
        }
        assert_eq!(back, original, "only the names differ");
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
    fn up_starts_renamed_units_of_the_new_revision_without_a_record() {
        let original = ds("rollingUpdate = { maxUnavailable = 0, maxSurge = 1 }");
        for flavor in [UnitFlavor::Quadlet, UnitFlavor::Service] {
            let (clone, units, change) = up(&original, flavor, &Templates::embedded()).unwrap();
            assert_eq!(clone, surge_clone(&original));
            // The pod unit, then one per container (surge is rewritten for pods elsewhere).
            let rev = revision(&original);
            let instance = crate::layout::Instance::new("web", &rev);
            let names: Vec<String> = units.iter().map(|u| u.name.clone()).collect();
            assert_eq!(
                names,
                [
                    instance.pod_unit_file(flavor).name,
                    instance.container_unit_file("app-surge", flavor).name,
                    instance.container_unit_file("side-surge", flavor).name,
                ]
            );
            assert!(units.iter().all(|u| u.content.contains(&rev)));
            assert_eq!(
                change.actions.last(),
                Some(&Action::Start {
                    unit: instance.container_service("side-surge"),
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
                down.actions,
                units
                    .iter()
                    .map(|u| Action::RemoveUnit {
                        path: u.path.clone(),
                        unit: service_name(&u.name),
                    })
                    .collect::<Vec<_>>(),
                "no ForgetState: the record stays"
            );
        }
    }
}
