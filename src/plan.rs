//! The planner: a pure function from (what should run on a host, what the host holds) to the
//! changes that converge it. No I/O; `host_script.rs` turns a plan into the one script that
//! carries it out, and `apply.rs` decides when each host's script runs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::layout::{self, service_name, unit_path};
use crate::observe::Observation;
use crate::render::UnitFile;

/// What one DaemonSet should look like on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredDaemonSet {
    pub name: String,
    pub revision: String,
    pub units: Vec<UnitFile>,
    /// The DaemonSet as applied (JSON), recorded on the host for `get` and `rollout history`.
    pub spec_json: String,
    /// updateStrategy OnDelete: a running instance keeps its revision until it is deleted.
    pub on_delete: bool,
    /// The `kubernetes.io/change-cause` annotation, shown by `rollout history`.
    pub cause: String,
    pub history_limit: i64,
}

/// The verdict of eligibility for one DaemonSet on one host.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// shouldRun: converge it to the desired units.
    Run(DesiredDaemonSet),
    /// shouldContinueRunning only (e.g. a NoSchedule taint): an instance that is there stays as
    /// it is; none is created.
    Keep,
    /// Neither: an instance that is there is removed.
    Absent,
    /// `dsctl delete`: removed wherever it is.
    Deleted,
}

/// Everything the planner needs to know about one host's intent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostIntent {
    pub daemonsets: BTreeMap<String, Placement>,
    /// Remove DaemonSets the host holds but the intent does not name.
    pub prune: bool,
    /// Restart these DaemonSets' running instances even when in sync (`rollout restart`).
    pub restart: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Nothing of this DaemonSet was on the host.
    Create,
    /// A new revision replaces a running one.
    Update,
    /// Same revision, but a unit was stopped, failed, deleted or edited by hand.
    Heal,
    /// The host is no longer eligible, or the DaemonSet was deleted.
    Remove,
    /// The specs no longer name this DaemonSet (`--prune`).
    Prune,
    /// `rollout restart`: same revision, restarted within the budget.
    Restart,
    /// OnDelete: a new revision recorded in the host's history, no instance touched.
    Record,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Stop and disable the unit, then delete its file.
    RemoveUnit { path: String, unit: String },
    /// Write the file atomically (temporary file + rename in the same directory).
    WriteUnit { path: String, content: String },
    /// Start the unit (and enable it where `enable`), clearing a failed state first.
    Start { unit: String, enable: bool },
    /// Restart the unit because its definition changed.
    Restart { unit: String },
    /// Record the applied revision, units and spec under STATE_DIR, keeping the previous
    /// revisions (up to revisionHistoryLimit) for `rollout history` and `undo`.
    RecordState {
        daemonset: String,
        revision: String,
        units: Vec<UnitFile>,
        spec_json: String,
        cause: String,
        history_limit: i64,
    },
    /// Delete the DaemonSet's record under STATE_DIR.
    ForgetState { daemonset: String },
    /// Remove the podman named volumes the earlier layout used for the DaemonSet's emptyDirs.
    RemoveLegacyVolumes { daemonset: String },
    /// Add a revision (and its spec) to the record's history without making it the applied
    /// one: OnDelete's new revision, which `rollout history` lists at once and which the
    /// record takes (with this number) when a deleted instance comes back.
    RecordRevision {
        daemonset: String,
        revision: String,
        spec_json: String,
        cause: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub daemonset: String,
    pub kind: ChangeKind,
    /// Why, in words, one per finding.
    pub reasons: Vec<String>,
    pub actions: Vec<Action>,
    /// True when this change takes a running, available instance out of service (a restart
    /// for a new revision): such changes are what maxUnavailable budgets.
    pub disruptive: bool,
}

/// The changes for one host; empty means in sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostPlan {
    pub changes: Vec<Change>,
    /// DaemonSets that stay as they are, with the reason (kept by NoSchedule, not pruned …).
    pub notes: Vec<String>,
}

impl HostPlan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn is_disruptive(&self) -> bool {
        self.changes.iter().any(|c| c.disruptive)
    }
}

/// sha256 of a unit's content, as the observe script reports it (`sha256sum`).
pub fn content_sha(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

pub fn plan_host(intent: &HostIntent, observed: &Observation) -> HostPlan {
    let mut plan = HostPlan::default();
    for (name, placement) in &intent.daemonsets {
        let held = holds(observed, name);
        match placement {
            Placement::Run(desired) if waits_for_delete(desired, observed) => {
                plan.notes.push(format!(
                    "{name}: OnDelete: the running instance keeps its revision until it is deleted \
                 (dsctl delete pod HOST {name})"
                ));
                plan.changes.extend(record_on_delete(desired, observed));
            }
            Placement::Run(desired) => {
                if let Some(change) = converge(desired, observed) {
                    plan.changes.push(change);
                } else if intent.restart.contains(name) {
                    plan.changes.push(restart(desired));
                }
            }
            Placement::Keep if held => plan.notes.push(format!(
                "{name}: kept as it is (the host may no longer take new placements)"
            )),
            Placement::Keep | Placement::Absent | Placement::Deleted if held => {
                let why = match placement {
                    Placement::Deleted => "deleted",
                    _ => "the host is not eligible",
                };
                plan.changes
                    .push(removal(name, observed, ChangeKind::Remove, why));
            }
            Placement::Keep | Placement::Absent | Placement::Deleted => {}
        }
    }
    for name in observed.daemonsets.keys() {
        if intent.daemonsets.contains_key(name) {
            continue;
        }
        if intent.prune {
            plan.changes.push(removal(
                name,
                observed,
                ChangeKind::Prune,
                "no spec names it (--prune)",
            ));
        } else {
            plan.notes.push(format!(
                "{name}: on the host but in no spec; kept (use --prune to remove)"
            ));
        }
    }
    plan
}

/// Does the host hold anything of this DaemonSet (a record or a unit file)?
fn holds(observed: &Observation, name: &str) -> bool {
    observed.daemonsets.contains_key(name) || !recorded_files(observed, name).is_empty()
}

/// Unit files of the DaemonSet: those its record lists (the only way to own a file of the
/// earlier, ambiguous `dsctl-<ds>-<c>` layout), plus present files whose injective name says
/// they are its own (`layout::owner_of_unit_file`), such as those of an interrupted update.
fn recorded_files(observed: &Observation, name: &str) -> BTreeSet<String> {
    let mut files: BTreeSet<String> = observed
        .daemonsets
        .get(name)
        .map(|r| r.units.keys().cloned().collect())
        .unwrap_or_default();
    files.extend(
        observed
            .unit_files
            .keys()
            .map(|p| file_name(p))
            .filter(|f| layout::owner_of_unit_file(f) == Some(name))
            .map(str::to_string),
    );
    files
}

/// OnDelete records a new revision in the history at once (as Kubernetes writes its
/// ControllerRevision), once, touching no instance.
fn record_on_delete(desired: &DesiredDaemonSet, observed: &Observation) -> Option<Change> {
    let record = observed.daemonsets.get(&desired.name)?;
    if record.history.contains_key(&desired.revision) {
        return None;
    }
    Some(Change {
        daemonset: desired.name.clone(),
        kind: ChangeKind::Record,
        reasons: vec![format!(
            "OnDelete: revision {} recorded; the running instance keeps revision {} until it is deleted",
            desired.revision,
            record.revision.as_deref().unwrap_or("unrecorded")
        )],
        actions: vec![Action::RecordRevision {
            daemonset: desired.name.clone(),
            revision: desired.revision.clone(),
            spec_json: desired.spec_json.clone(),
            cause: desired.cause.clone(),
        }],
        disruptive: false,
    })
}

/// OnDelete leaves a healthy instance of another revision alone; a failed, stopped or
/// missing one is replaced with the new revision, as the DaemonSet controller does.
fn waits_for_delete(desired: &DesiredDaemonSet, observed: &Observation) -> bool {
    let Some(record) = observed.daemonsets.get(&desired.name) else {
        return false;
    };
    desired.on_delete
        && record.revision.as_deref() != Some(desired.revision.as_str())
        && observed.instance_active(&desired.name)
}

fn converge(desired: &DesiredDaemonSet, observed: &Observation) -> Option<Change> {
    let record = observed.daemonsets.get(&desired.name);
    let mut reasons = Vec::new();
    let mut removes = Vec::new();
    let mut writes = Vec::new();
    let mut starts = Vec::new();
    let mut any_was_active = false;

    let wanted: BTreeSet<&str> = desired.units.iter().map(|u| u.name.as_str()).collect();
    let mut stops_active = false;
    let mut legacy = false;
    for stale in recorded_files(observed, &desired.name) {
        if !wanted.contains(stale.as_str()) {
            let service = service_name(&stale);
            stops_active |= observed.units.get(&service).is_some_and(|s| s.is_active());
            if layout::legacy::is_legacy_unit_file(&stale) {
                legacy = true;
                reasons.push(format!(
                    "{stale} is of the earlier unit layout (one pod now)"
                ));
            } else {
                reasons.push(format!("{stale} is no longer part of the DaemonSet"));
            }
            removes.push(Action::RemoveUnit {
                path: unit_path(&stale),
                unit: service,
            });
        }
    }
    if legacy {
        removes.push(Action::RemoveLegacyVolumes {
            daemonset: desired.name.clone(),
        });
    }
    for unit in &desired.units {
        let service = service_name(&unit.name);
        let status = observed.units.get(&service);
        let active = status.is_some_and(|s| s.is_active());
        any_was_active |= active;
        let sha = content_sha(&unit.content);
        let file_changed = match observed.unit_files.get(&unit.path) {
            None => {
                reasons.push(format!("{} is missing", unit.path));
                true
            }
            Some(present) if *present != sha => {
                reasons.push(format!("{} differs from the desired unit", unit.path));
                true
            }
            Some(_) => false,
        };
        if file_changed {
            writes.push(Action::WriteUnit {
                path: unit.path.clone(),
                content: unit.content.clone(),
            });
        }
        // A Quadlet unit is generated, so it is enabled through its [Install] section.
        let enable = unit.name.ends_with(".service");
        let enabled = status
            .is_some_and(|s| s.unit_file_state == "enabled" || s.unit_file_state == "generated");
        if file_changed && active {
            starts.push(Action::Restart {
                unit: service.clone(),
            });
        } else if file_changed || !active || (enable && !enabled) {
            if !file_changed {
                let state = status.map_or("not loaded", |s| s.active_state.as_str());
                if !active {
                    reasons.push(format!("{service} is {state}"));
                } else {
                    reasons.push(format!("{service} is not enabled"));
                }
            }
            starts.push(Action::Start {
                unit: service,
                enable,
            });
        }
    }

    let recorded_units: BTreeMap<&str, &str> = record
        .map(|r| {
            r.units
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let desired_units: BTreeMap<&str, String> = desired
        .units
        .iter()
        .map(|u| (u.name.as_str(), content_sha(&u.content)))
        .collect();
    let record_current = record
        .is_some_and(|r| r.revision.as_deref() == Some(desired.revision.as_str()))
        && recorded_units.len() == desired_units.len()
        && desired_units
            .iter()
            .all(|(k, v)| recorded_units.get(k) == Some(&v.as_str()));

    if removes.is_empty() && writes.is_empty() && starts.is_empty() && record_current {
        return None;
    }
    // An update stops the old revision's pod (its units have other names), unless the new pod
    // already runs (a maxSurge step), and a hand-edited unit is restarted: either takes an
    // active instance out of service.
    let disruptive = (stops_active && !starts.is_empty())
        || (any_was_active && starts.iter().any(|a| matches!(a, Action::Restart { .. })));
    let kind = match record.and_then(|r| r.revision.as_deref()) {
        None if !holds(observed, &desired.name) => ChangeKind::Create,
        Some(rev) if rev != desired.revision => ChangeKind::Update,
        _ if !writes.is_empty() && any_was_active && record.is_none() => ChangeKind::Update,
        _ if stops_active && disruptive => ChangeKind::Update,
        _ => ChangeKind::Heal,
    };
    if kind == ChangeKind::Update {
        let from = record
            .and_then(|r| r.revision.as_deref())
            .unwrap_or("unrecorded");
        if from == desired.revision {
            reasons.insert(0, format!("revision {from}: the instance is replaced"));
        } else {
            reasons.insert(0, format!("revision {from} → {}", desired.revision));
        }
    } else if kind == ChangeKind::Create {
        reasons = vec![format!("install revision {}", desired.revision)];
    } else if reasons.is_empty() {
        reasons.push("the host's record of the DaemonSet is out of date".to_string());
    }
    let mut actions = removes;
    actions.extend(writes);
    actions.extend(starts);
    actions.push(Action::RecordState {
        daemonset: desired.name.clone(),
        revision: desired.revision.clone(),
        units: desired.units.clone(),
        spec_json: desired.spec_json.clone(),
        cause: desired.cause.clone(),
        history_limit: desired.history_limit,
    });
    Some(Change {
        daemonset: desired.name.clone(),
        kind,
        reasons,
        actions,
        disruptive,
    })
}

fn restart(desired: &DesiredDaemonSet) -> Change {
    Change {
        daemonset: desired.name.clone(),
        kind: ChangeKind::Restart,
        reasons: vec!["rollout restart".to_string()],
        actions: desired
            .units
            .iter()
            .map(|u| Action::Restart {
                unit: service_name(&u.name),
            })
            .collect(),
        disruptive: true,
    }
}

fn removal(name: &str, observed: &Observation, kind: ChangeKind, why: &str) -> Change {
    let mut actions: Vec<Action> = recorded_files(observed, name)
        .iter()
        .map(|f| Action::RemoveUnit {
            path: unit_path(f),
            unit: service_name(f),
        })
        .collect();
    actions.push(Action::ForgetState {
        daemonset: name.to_string(),
    });
    Change {
        daemonset: name.to_string(),
        kind,
        reasons: vec![why.to_string()],
        actions,
        disruptive: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{RecordedDaemonSet, UnitStatus};

    const PATH: &str = "/etc/containers/systemd/dsctl-web-web.container";
    const FILE: &str = "dsctl-web-web.container";
    const SERVICE: &str = "dsctl-web-web.service";

    fn desired(revision: &str, content: &str) -> DesiredDaemonSet {
        DesiredDaemonSet {
            name: "web".into(),
            revision: revision.into(),
            units: vec![UnitFile {
                name: FILE.into(),
                path: PATH.into(),
                content: content.into(),
            }],
            spec_json: "{}".into(),
            on_delete: false,
            cause: String::new(),
            history_limit: 10,
        }
    }

    fn on_delete(revision: &str, content: &str) -> DesiredDaemonSet {
        DesiredDaemonSet {
            on_delete: true,
            ..desired(revision, content)
        }
    }

    /// A host that runs `web` at `revision` with unit `content`, its service in `state`.
    fn host(revision: &str, content: &str, state: &str) -> Observation {
        let mut obs = Observation::default();
        let mut record = RecordedDaemonSet {
            revision: Some(revision.into()),
            ..Default::default()
        };
        record.units.insert(FILE.into(), content_sha(content));
        obs.daemonsets.insert("web".into(), record);
        obs.unit_files.insert(PATH.into(), content_sha(content));
        obs.units.insert(
            SERVICE.into(),
            UnitStatus {
                active_state: state.into(),
                unit_file_state: "generated".into(),
                ..Default::default()
            },
        );
        obs
    }

    fn intent(placement: Placement) -> HostIntent {
        HostIntent {
            daemonsets: [("web".to_string(), placement)].into(),
            ..Default::default()
        }
    }

    fn kinds(plan: &HostPlan) -> Vec<(ChangeKind, bool)> {
        plan.changes
            .iter()
            .map(|c| (c.kind, c.disruptive))
            .collect()
    }

    #[test]
    fn table() {
        let edited = {
            let mut o = host("r1", "v1", "active");
            o.unit_files.insert(PATH.into(), content_sha("hand edit"));
            o
        };
        let deleted = {
            let mut o = host("r1", "v1", "inactive");
            o.unit_files.clear();
            o
        };
        type Case = (
            &'static str,
            Placement,
            Observation,
            Vec<(ChangeKind, bool)>,
        );
        let recorded = {
            let mut o = host("r1", "v1", "active");
            let record = o.daemonsets.get_mut("web").expect("the web record");
            record.history.insert(
                "r2".into(),
                crate::observe::HistoryEntry {
                    number: 2,
                    ..Default::default()
                },
            );
            o
        };
        let cases: Vec<Case> = vec![
            (
                "empty host gets it",
                Placement::Run(desired("r1", "v1")),
                Observation::default(),
                vec![(ChangeKind::Create, false)],
            ),
            (
                "in sync does nothing",
                Placement::Run(desired("r1", "v1")),
                host("r1", "v1", "active"),
                vec![],
            ),
            (
                "new revision restarts a running unit",
                Placement::Run(desired("r2", "v2")),
                host("r1", "v1", "active"),
                vec![(ChangeKind::Update, true)],
            ),
            (
                "new revision on a failed unit is outside the budget",
                Placement::Run(desired("r2", "v2")),
                host("r1", "v1", "failed"),
                vec![(ChangeKind::Update, false)],
            ),
            (
                "stopped unit is healed",
                Placement::Run(desired("r1", "v1")),
                host("r1", "v1", "inactive"),
                vec![(ChangeKind::Heal, false)],
            ),
            (
                "hand-edited file is restored",
                Placement::Run(desired("r1", "v1")),
                edited,
                vec![(ChangeKind::Heal, true)],
            ),
            (
                "deleted file is restored",
                Placement::Run(desired("r1", "v1")),
                deleted,
                vec![(ChangeKind::Heal, false)],
            ),
            (
                "not eligible any more: removed",
                Placement::Absent,
                host("r1", "v1", "active"),
                vec![(ChangeKind::Remove, false)],
            ),
            (
                "NoSchedule keeps a running instance",
                Placement::Keep,
                host("r1", "v1", "active"),
                vec![],
            ),
            (
                "NoSchedule creates nothing",
                Placement::Keep,
                Observation::default(),
                vec![],
            ),
            (
                "absent and not there: nothing",
                Placement::Absent,
                Observation::default(),
                vec![],
            ),
            (
                "OnDelete keeps a running old revision and records the new one",
                Placement::Run(on_delete("r2", "v2")),
                host("r1", "v1", "active"),
                vec![(ChangeKind::Record, false)],
            ),
            (
                "OnDelete records the new revision once",
                Placement::Run(on_delete("r2", "v2")),
                recorded,
                vec![],
            ),
            (
                "OnDelete replaces a failed one",
                Placement::Run(on_delete("r2", "v2")),
                host("r1", "v1", "failed"),
                vec![(ChangeKind::Update, false)],
            ),
            (
                "OnDelete installs where nothing runs",
                Placement::Run(on_delete("r2", "v2")),
                Observation::default(),
                vec![(ChangeKind::Create, false)],
            ),
        ];
        for (name, placement, observed, want) in cases {
            let plan = plan_host(&intent(placement), &observed);
            assert_eq!(kinds(&plan), want, "{name}: {plan:#?}");
        }
    }

    #[test]
    fn actions_for_an_update_and_a_removal() {
        let plan = plan_host(
            &intent(Placement::Run(desired("r2", "v2"))),
            &host("r1", "v1", "active"),
        );
        let actions = &plan.changes[0].actions;
        assert!(
            matches!(&actions[0], Action::WriteUnit { path, content } if path == PATH && content == "v2")
        );
        assert!(matches!(&actions[1], Action::Restart { unit } if unit == SERVICE));
        assert!(matches!(&actions[2], Action::RecordState { revision, .. } if revision == "r2"));

        let plan = plan_host(&intent(Placement::Absent), &host("r1", "v1", "active"));
        assert_eq!(
            plan.changes[0].actions,
            vec![
                Action::RemoveUnit {
                    path: PATH.into(),
                    unit: SERVICE.into()
                },
                Action::ForgetState {
                    daemonset: "web".into()
                }
            ]
        );
    }

    #[test]
    fn flavour_switch_removes_the_other_flavours_file() {
        let mut want = desired("r1", "svc");
        want.units = vec![UnitFile {
            name: "dsctl-web-web.service".into(),
            path: "/etc/systemd/system/dsctl-web-web.service".into(),
            content: "svc".into(),
        }];
        let plan = plan_host(&intent(Placement::Run(want)), &host("r1", "v1", "active"));
        let actions = &plan.changes[0].actions;
        assert!(
            actions.contains(&Action::RemoveUnit {
                path: PATH.into(),
                unit: SERVICE.into()
            }),
            "{actions:#?}"
        );
    }

    #[test]
    fn prune_only_when_asked() {
        let observed = host("r1", "v1", "active");
        let keep = plan_host(&HostIntent::default(), &observed);
        assert!(keep.is_empty());
        assert!(keep.notes[0].contains("--prune"));
        let pruned = plan_host(
            &HostIntent {
                prune: true,
                ..Default::default()
            },
            &observed,
        );
        assert_eq!(kinds(&pruned), vec![(ChangeKind::Prune, false)]);
    }

    const R1: &str = "0000000001";
    const R2: &str = "0000000002";

    /// The pod layout's units of `web` at `revision` (a Quadlet pod with one container).
    fn pod_units(revision: &str, content: &str) -> Vec<UnitFile> {
        let i = layout::Instance::new("web", revision);
        [
            i.pod_unit_file(crate::inventory::UnitFlavor::Quadlet),
            i.container_unit_file("web", crate::inventory::UnitFlavor::Quadlet),
        ]
        .into_iter()
        .map(|u| UnitFile {
            name: u.name,
            path: u.path,
            content: content.into(),
        })
        .collect()
    }

    fn pod_desired(revision: &str) -> DesiredDaemonSet {
        DesiredDaemonSet {
            units: pod_units(revision, revision),
            ..desired(revision, "")
        }
    }

    /// A host whose record and units are `units` at `revision`, every service `state`.
    fn pod_host(revision: &str, units: &[UnitFile], state: &str) -> Observation {
        let mut obs = Observation::default();
        let mut record = RecordedDaemonSet {
            revision: Some(revision.into()),
            ..Default::default()
        };
        for u in units {
            record.units.insert(u.name.clone(), content_sha(&u.content));
            add_unit(&mut obs, u, state);
        }
        obs.daemonsets.insert("web".into(), record);
        obs
    }

    fn add_unit(obs: &mut Observation, u: &UnitFile, state: &str) {
        obs.unit_files
            .insert(u.path.clone(), content_sha(&u.content));
        obs.units.insert(
            service_name(&u.name),
            UnitStatus {
                active_state: state.into(),
                unit_file_state: "generated".into(),
                ..Default::default()
            },
        );
    }

    fn removed(plan: &HostPlan) -> Vec<String> {
        plan.changes
            .iter()
            .flat_map(|c| &c.actions)
            .filter_map(|a| match a {
                Action::RemoveUnit { unit, .. } => Some(unit.clone()),
                _ => None,
            })
            .collect()
    }

    /// Instances are named by revision: an update stops and removes the old pod (first, so
    /// that its hostPorts are free) and starts the new one; it takes an instance down.
    #[test]
    fn a_new_revision_is_a_new_pod_and_the_old_one_goes() {
        let old = pod_units(R1, R1);
        let plan = plan_host(
            &intent(Placement::Run(pod_desired(R2))),
            &pod_host(R1, &old, "active"),
        );
        assert_eq!(kinds(&plan), vec![(ChangeKind::Update, true)]);
        assert_eq!(
            removed(&plan),
            [
                "dsctl_web_0000000001-pod.service",
                "dsctl_web_0000000001_web.service"
            ]
        );
        let actions = &plan.changes[0].actions;
        assert!(matches!(actions[0], Action::RemoveUnit { .. }));
        let starts: Vec<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Start { unit, .. } => Some(unit.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            starts,
            [
                "dsctl_web_0000000002-pod.service",
                "dsctl_web_0000000002_web.service"
            ]
        );
        // In sync afterwards.
        let plan = plan_host(
            &intent(Placement::Run(pod_desired(R2))),
            &pod_host(R2, &pod_units(R2, R2), "active"),
        );
        assert!(plan.is_empty(), "{plan:?}");
    }

    /// A run killed during a maxSurge step leaves the new pod running beside the old one,
    /// with no record of it: the next apply goes on with the update (and keeps the new pod's
    /// files, which are the desired ones); a pod of a revision no one wants is removed.
    #[test]
    fn pods_left_by_an_interrupted_surge_are_finished_or_removed() {
        let mut observed = pod_host(R1, &pod_units(R1, R1), "active");
        for u in pod_units(R2, R2) {
            add_unit(&mut observed, &u, "active");
        }
        let plan = plan_host(&intent(Placement::Run(pod_desired(R2))), &observed);
        assert_eq!(kinds(&plan), vec![(ChangeKind::Update, false)]);
        assert_eq!(
            removed(&plan),
            [
                "dsctl_web_0000000001-pod.service",
                "dsctl_web_0000000001_web.service"
            ]
        );
        assert!(
            !plan.changes[0]
                .actions
                .iter()
                .any(|a| matches!(a, Action::WriteUnit { .. } | Action::Start { .. })),
            "the new pod is already there: {:?}",
            plan.changes[0].actions
        );
        // Rolled back to R1 instead: the R2 pod is stale, the R1 pod stays as it is.
        let plan = plan_host(&intent(Placement::Run(pod_desired(R1))), &observed);
        assert_eq!(kinds(&plan), vec![(ChangeKind::Heal, false)]);
        assert_eq!(
            removed(&plan),
            [
                "dsctl_web_0000000002-pod.service",
                "dsctl_web_0000000002_web.service"
            ]
        );
    }

    /// Issue 12: DaemonSets `node` (container `exporter-agent`) and `node-exporter`
    /// (container `main`) were both `dsctl-node-exporter-*`; in the pod layout the name says
    /// which DaemonSet owns a file, and a file of the earlier layout is owned only by record.
    #[test]
    fn ownership_is_by_record_and_injective_name() {
        let mut observed = Observation::default();
        for (ds, c) in [("node", "exporter-agent"), ("node-exporter", "main")] {
            let i = layout::Instance::new(ds, R1);
            let u = i.container_unit_file(c, crate::inventory::UnitFlavor::Service);
            observed.unit_files.insert(u.path, "s".into());
        }
        observed.unit_files.insert(
            "/etc/systemd/system/dsctl-node-exporter-main.service".into(),
            "s".into(),
        );
        let files =
            |o: &Observation, ds: &str| recorded_files(o, ds).into_iter().collect::<Vec<_>>();
        assert_eq!(
            files(&observed, "node"),
            ["dsctl_node_0000000001_exporter-agent.service"]
        );
        assert_eq!(
            files(&observed, "node-exporter"),
            ["dsctl_node-exporter_0000000001_main.service"]
        );
        let mut record = RecordedDaemonSet::default();
        record
            .units
            .insert("dsctl-node-exporter-main.service".into(), "s".into());
        observed.daemonsets.insert("node-exporter".into(), record);
        assert_eq!(
            files(&observed, "node-exporter"),
            [
                "dsctl-node-exporter-main.service",
                "dsctl_node-exporter_0000000001_main.service"
            ]
        );
        assert_eq!(
            files(&observed, "node"),
            ["dsctl_node_0000000001_exporter-agent.service"]
        );
    }

    /// A host deployed before pods (one `dsctl-<ds>-<c>` unit per container) converges to the
    /// pod through a budgeted update, even at the same revision, and keeps nothing old.
    #[test]
    fn the_earlier_layout_migrates_to_a_pod_as_a_budgeted_update() {
        let plan = plan_host(
            &intent(Placement::Run(pod_desired(R1))),
            &host(R1, "v1", "active"),
        );
        assert_eq!(kinds(&plan), vec![(ChangeKind::Update, true)]);
        let actions = &plan.changes[0].actions;
        assert_eq!(
            actions[..2],
            [
                Action::RemoveUnit {
                    path: PATH.into(),
                    unit: SERVICE.into()
                },
                Action::RemoveLegacyVolumes {
                    daemonset: "web".into()
                }
            ]
        );
        assert!(
            plan.changes[0]
                .reasons
                .iter()
                .any(|r| r.contains("earlier unit layout")),
            "{:?}",
            plan.changes[0].reasons
        );
    }
}
