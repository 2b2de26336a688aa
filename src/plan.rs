//! The planner: a pure function from (what should run on a host, what the host holds) to the
//! changes that converge it. No I/O; `host_script.rs` turns a plan into the one script that
//! carries it out, and `apply.rs` decides when each host's script runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::layout::{self, PodmanObject, service_name, unit_path};
use crate::observe::Observation;
use crate::render::UnitFile;

/// What one DaemonSet should look like on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredDaemonSet {
    pub name: String,
    pub revision: String,
    pub units: Vec<UnitFile>,
    /// The DaemonSet as applied (JSON), recorded on the host for `get` and `rollout history`.
    pub spec_json: Arc<str>,
    /// updateStrategy OnDelete: a running instance keeps its revision until it is deleted.
    pub on_delete: bool,
    /// The `kubernetes.io/change-cause` annotation, shown by `rollout history`.
    pub cause: String,
    pub history_limit: i64,
    /// ConfigMap and Secret data the instance reads, written before its units start.
    pub projections: Vec<crate::config_refs::Projection>,
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
    WriteUnit { path: String, content: Arc<str> },
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
        spec_json: Arc<str>,
        cause: String,
        history_limit: i64,
    },
    /// Delete the DaemonSet's record under STATE_DIR.
    ForgetState { daemonset: String },
    /// `systemctl daemon-reload`: a unit is not loaded or its file changed since the last load.
    /// (Writes and removals reload anyway.)
    DaemonReload,
    /// Remove a gone instance's directory (its emptyDir volumes, `layout::Instance::pod_dir`).
    RemoveInstanceDir { path: String },
    /// Write a directory of object data atomically, as the kubelet's AtomicWriter does, under
    /// the root-only `parent` (config_refs.rs). Values are redacted when serialized.
    Project {
        parent: String,
        dir: String,
        files: Vec<crate::config_refs::ProjectedFile>,
    },
    /// Remove the podman named volumes the earlier layout used for emptyDir.
    RemoveLegacyVolumes { daemonset: String },
    /// Add a revision (and its spec) to the record's history without making it the applied
    /// one: OnDelete's new revision, which `rollout history` lists at once and which the
    /// record takes (with this number) when a deleted instance comes back.
    RecordRevision {
        daemonset: String,
        revision: String,
        spec_json: Arc<str>,
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

    /// Shares the plan's unit contents and spec JSON with other hosts' plans through `pool`.
    pub fn share_texts(&mut self, pool: &mut crate::text_pool::TextPool) {
        for action in self.changes.iter_mut().flat_map(|c| &mut c.actions) {
            match action {
                Action::WriteUnit { content, .. } => pool.share(content),
                Action::RecordState {
                    units, spec_json, ..
                } => {
                    pool.share(spec_json);
                    for unit in units {
                        pool.share(&mut unit.content);
                    }
                }
                Action::RecordRevision { spec_json, .. } => pool.share(spec_json),
                _ => {}
            }
        }
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

/// The unit files of a DaemonSet on the host: those its record lists, and present files whose
/// current-layout name says it owns them. A legacy name (`dsctl-<ds>-<c>`) is ambiguous
/// (`node`/`exporter-agent` vs `node-exporter`/`agent`), so it counts only through a record.
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

/// Removals of these unit files, app and init containers before their pods (a pod's stop
/// takes its containers, which then could not be stopped by name), and the instance
/// directories and legacy volumes that go with them; `keep` is the revision that stays.
fn removals<'a>(
    daemonset: &str,
    files: impl IntoIterator<Item = &'a String>,
    keep: Option<&str>,
) -> Vec<Action> {
    let mut units: Vec<Action> = Vec::new();
    let mut pods: Vec<Action> = Vec::new();
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    let mut legacy = false;
    for f in files {
        let unit = service_name(f);
        let remove = Action::RemoveUnit {
            path: unit_path(f),
            unit: unit.clone(),
        };
        match layout::podman_object_of_service(&unit) {
            Some(PodmanObject::Pod(_)) => pods.push(remove),
            _ => units.push(remove),
        }
        if let Some(instance) = layout::instance_of_unit_file(f) {
            if Some(instance.revision) != keep {
                dirs.insert(instance.pod_dir());
            }
        } else if layout::legacy::is_legacy_unit_file(f) {
            legacy = true;
        }
    }
    units.extend(pods);
    units.extend(
        dirs.into_iter()
            .map(|path| Action::RemoveInstanceDir { path }),
    );
    if legacy {
        units.push(Action::RemoveLegacyVolumes {
            daemonset: daemonset.to_string(),
        });
    }
    units
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
    let mut writes = Vec::new();
    let mut starts = Vec::new();
    let mut reload = false;
    // An active instance is stopped: the old revision's (or the legacy) units going, or a unit
    // of this revision restarted.
    let mut stops_active = false;
    let mut migrates = false;

    let wanted: BTreeSet<&str> = desired.units.iter().map(|u| u.name.as_str()).collect();
    let mut stale_files = Vec::new();
    for stale in recorded_files(observed, &desired.name) {
        if !wanted.contains(stale.as_str()) {
            migrates |= layout::legacy::is_legacy_unit_file(&stale);
            stops_active |= observed
                .units
                .get(&service_name(&stale))
                .is_some_and(|s| s.is_active());
            // A recorded file already gone (a script that failed after removing it) is removed
            // again, idempotently, without a reason of its own.
            if observed.unit_files.contains_key(&unit_path(&stale)) {
                reasons.push(format!("{stale} is no longer part of the DaemonSet"));
            }
            stale_files.push(stale);
        }
    }
    let removes = removals(&desired.name, &stale_files, Some(desired.revision.as_str()));
    for unit in &desired.units {
        let service = service_name(&unit.name);
        let status = observed.units.get(&service);
        let active = status.is_some_and(|s| s.is_active());
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
        } else if let Some(why) = status.map_or(Some("is not loaded"), needs_reload) {
            // A file written but never loaded (a script cut after the write): reload, or
            // every later start fails with "Unit not found".
            reasons.push(format!("{service} {why}"));
            reload = true;
        }
        // The container runs another revision than its unit says (hand-made, or left by a
        // script cut before its restart): a stale instance is restarted.
        let stale_revision = match layout::podman_object_of_service(&service) {
            Some(PodmanObject::Container(name)) => observed
                .containers
                .get(&name)
                .and_then(|c| c.revision.as_deref())
                .filter(|r| *r != desired.revision),
            _ => None,
        };
        if let (Some(running), true) = (stale_revision, active && !file_changed) {
            reasons.push(format!(
                "{service} runs revision {running}, not {}",
                desired.revision
            ));
        }
        let stale_start = active && !file_changed && started_before_file(observed, unit, status);
        if stale_start && stale_revision.is_none() {
            reasons.push(format!(
                "{service} has run since before its unit file was written"
            ));
        }
        // A Quadlet unit is generated, so it is enabled through its [Install] section.
        let enable = unit.name.ends_with(".service");
        let enabled = status
            .is_some_and(|s| s.unit_file_state == "enabled" || s.unit_file_state == "generated");
        if (file_changed || stale_revision.is_some() || stale_start) && active {
            stops_active = true;
            starts.push(Action::Restart {
                unit: service.clone(),
            });
        } else if file_changed || !active || (enable && !enabled) {
            if !file_changed {
                if !active {
                    reasons.push(format!("{service} is {}", describe(status)));
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

    if removes.is_empty() && writes.is_empty() && starts.is_empty() && !reload && record_current {
        return None;
    }
    // An update stops the old revision's pod (its units have other names), unless the new pod
    // already runs (a maxSurge step), and a hand-edited unit is restarted: either takes an
    // active instance out of service.
    let disruptive = stops_active && !starts.is_empty();
    let kind = match record.and_then(|r| r.revision.as_deref()) {
        None if !holds(observed, &desired.name) => ChangeKind::Create,
        Some(rev) if rev != desired.revision => ChangeKind::Update,
        _ if migrates => ChangeKind::Update,
        _ if stops_active && record.is_none() => ChangeKind::Update,
        _ => ChangeKind::Heal,
    };
    if kind == ChangeKind::Update {
        let from = record
            .and_then(|r| r.revision.as_deref())
            .unwrap_or("unrecorded");
        if migrates && from == desired.revision {
            reasons.insert(
                0,
                format!("revision {from}: from one unit per container to a pod"),
            );
        } else {
            reasons.insert(0, format!("revision {from} → {}", desired.revision));
            if migrates {
                reasons.insert(1, "from one unit per container to a pod".to_string());
            }
        }
    } else if kind == ChangeKind::Create {
        reasons = vec![format!("install revision {}", desired.revision)];
    } else if reasons.is_empty() {
        reasons.push("the host's record of the DaemonSet is out of date".to_string());
    }
    let mut actions = removes;
    if reload && writes.is_empty() && actions.is_empty() {
        actions.push(Action::DaemonReload);
    }
    if !writes.is_empty() || !starts.is_empty() {
        actions.extend(desired.projections.iter().map(|p| Action::Project {
            parent: p.parent.clone(),
            dir: p.dir.clone(),
            files: p.files.clone(),
        }));
    }
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

/// Whether an active unit became active before its file was last written (a script cut
/// between writing a unit and restarting it, or a file rewritten by hand): its instance runs
/// the older file. Read from systemd and the file's mtime alone, no podman call. Unknown
/// times, and a file stamped after the host's clock (the clock went back), are taken as fresh.
fn started_before_file(
    observed: &Observation,
    unit: &UnitFile,
    status: Option<&crate::observe::UnitStatus>,
) -> bool {
    let (Some(since), Some(&written)) = (
        status.and_then(|s| s.active_since),
        observed.unit_mtimes.get(&unit.path),
    ) else {
        return false;
    };
    written > since && written <= observed.now
}

/// Why systemd's view of a unit is out of date, if it is.
fn needs_reload(status: &crate::observe::UnitStatus) -> Option<&'static str> {
    if status.load_state == "not-found" {
        Some("is not loaded")
    } else if status.need_daemon_reload {
        Some("changed on disk since systemd loaded it")
    } else {
        None
    }
}

/// A unit's state in words; a failed unit with its exit code and the tail of its journal
/// (what an init container that failed printed).
fn describe(status: Option<&crate::observe::UnitStatus>) -> String {
    let Some(s) = status else {
        return "not loaded".to_string();
    };
    let mut text = s.active_state.clone();
    if s.active_state == "failed" {
        if let Some(code) = s.exit_status {
            text.push_str(&format!(" (exit code {code})"));
        }
        if let Some(tail) = s.journal_tail.as_deref().filter(|t| !t.trim().is_empty()) {
            let lines: Vec<&str> = tail.lines().filter(|l| !l.trim().is_empty()).collect();
            text.push_str(&format!(": {}", lines.join(" | ")));
        }
    }
    text
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
    let mut actions = removals(name, &recorded_files(observed, name), None);
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
            projections: vec![],
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

    use crate::inventory::UnitFlavor;
    use crate::layout::Instance;
    use crate::observe::ContainerStatus;

    const R1: &str = "0a1";
    const R2: &str = "0b2";

    /// The units of `ds`'s pod at `rev`: the pod, an init container `init`, an app `app`.
    fn pod_units(ds: &str, rev: &str) -> Vec<UnitFile> {
        let i = Instance::new(ds, rev);
        let f = UnitFlavor::Quadlet;
        [
            i.pod_unit_file(f),
            i.container_unit_file("init", f),
            i.container_unit_file("app", f),
        ]
        .into_iter()
        .map(|u| UnitFile {
            content: format!("{} {rev}", u.name).into(),
            name: u.name,
            path: u.path,
        })
        .collect()
    }

    fn pod_desired(ds: &str, rev: &str) -> DesiredDaemonSet {
        DesiredDaemonSet {
            name: ds.into(),
            units: pod_units(ds, rev),
            ..desired(rev, "")
        }
    }

    fn unit_status(state: &str) -> UnitStatus {
        UnitStatus {
            load_state: "loaded".into(),
            active_state: state.into(),
            unit_file_state: "generated".into(),
            ..Default::default()
        }
    }

    /// Adds `ds`'s pod at `rev` to the host, recorded, every unit in `state`, its containers
    /// labelled with `rev`.
    fn with_pod(mut obs: Observation, ds: &str, rev: &str, state: &str) -> Observation {
        let mut record = RecordedDaemonSet {
            revision: Some(rev.into()),
            ..Default::default()
        };
        for u in pod_units(ds, rev) {
            record.units.insert(u.name.clone(), content_sha(&u.content));
            obs.unit_files
                .insert(u.path.clone(), content_sha(&u.content));
            obs.units.insert(service_name(&u.name), unit_status(state));
        }
        let i = Instance::new(ds, rev);
        obs.containers.insert(
            i.container_name("app"),
            ContainerStatus {
                state: "running".into(),
                revision: Some(rev.into()),
                ..Default::default()
            },
        );
        obs.daemonsets.insert(ds.into(), record);
        obs
    }

    fn pod_host(rev: &str, state: &str) -> Observation {
        with_pod(Observation::default(), "web", rev, state)
    }

    #[test]
    fn hosts_that_render_the_same_units_share_one_copy_of_each_text() {
        let texts = |plan: &HostPlan| -> Vec<Arc<str>> {
            plan.changes
                .iter()
                .flat_map(|c| &c.actions)
                .flat_map(|a| match a {
                    Action::WriteUnit { content, .. } => vec![content.clone()],
                    Action::RecordState {
                        units, spec_json, ..
                    } => std::iter::once(spec_json.clone())
                        .chain(units.iter().map(|u| u.content.clone()))
                        .collect(),
                    _ => vec![],
                })
                .collect()
        };
        // Two hosts rendered apart: equal texts, separate allocations, until shared.
        let plan_of = || plan_host(&run(pod_desired("web", R2)), &Observation::default());
        let (mut a, mut b) = (plan_of(), plan_of());
        let mut pool = crate::text_pool::TextPool::default();
        a.share_texts(&mut pool);
        b.share_texts(&mut pool);
        let (ta, tb) = (texts(&a), texts(&b));
        assert_eq!(ta.len(), 7, "3 units written, 3 recorded, 1 spec");
        assert_eq!(ta, tb);
        assert!(ta.iter().zip(&tb).all(|(x, y)| Arc::ptr_eq(x, y)));
        // The 3 unit contents and the spec: what was written is what is recorded.
        assert_eq!(pool.len(), 4);
    }

    fn run(d: DesiredDaemonSet) -> HostIntent {
        HostIntent {
            daemonsets: [(d.name.clone(), Placement::Run(d))].into(),
            ..Default::default()
        }
    }

    fn removed_units(change: &Change) -> Vec<String> {
        change
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::RemoveUnit { unit, .. } => Some(unit.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn pod_model_table() {
        let failed_init = {
            let mut o = pod_host(R1, "active");
            let init = Instance::new("web", R1).container_service("init");
            o.units.insert(
                init.clone(),
                UnitStatus {
                    exit_status: Some(3),
                    journal_tail: Some("copying config\nno such file: /cfg".into()),
                    ..unit_status("failed")
                },
            );
            o
        };
        let stale_running = {
            let mut o = pod_host(R1, "active");
            let app = Instance::new("web", R1).container_name("app");
            o.containers.get_mut(&app).unwrap().revision = Some("0ff".into());
            o
        };
        // The app unit active since 500, its file written at `written`, the host's clock at 1000.
        let app_written_at = |written: u64| {
            let mut o = pod_host(R1, "active");
            let i = Instance::new("web", R1);
            o.now = 1000;
            o.units
                .get_mut(&i.container_service("app"))
                .unwrap()
                .active_since = Some(500);
            let path = i.container_unit_file("app", UnitFlavor::Quadlet).path;
            o.unit_mtimes.insert(path, written);
            o
        };
        let needs_reload = {
            let mut o = pod_host(R1, "active");
            let app = Instance::new("web", R1).container_service("app");
            o.units.get_mut(&app).unwrap().need_daemon_reload = true;
            o
        };
        let not_loaded = {
            let mut o = pod_host(R1, "active");
            let app = Instance::new("web", R1).container_service("app");
            o.units.insert(app, unit_status("inactive"));
            o.units
                .values_mut()
                .for_each(|u| u.load_state = "not-found".into());
            o
        };
        let unrecorded_new_pod = {
            // A run that died after a surge started the new pod: its files are owned by name.
            let mut o = pod_host(R1, "active");
            for u in pod_units("web", R2) {
                o.unit_files.insert(u.path.clone(), content_sha(&u.content));
                o.units.insert(service_name(&u.name), unit_status("active"));
            }
            o
        };
        type Case = (
            &'static str,
            Observation,
            DesiredDaemonSet,
            Vec<(ChangeKind, bool)>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "create",
                Observation::default(),
                pod_desired("web", R1),
                vec![(ChangeKind::Create, false)],
                "install revision",
            ),
            (
                "in sync",
                pod_host(R1, "active"),
                pod_desired("web", R1),
                vec![],
                "",
            ),
            (
                "update stops the old pod",
                pod_host(R1, "active"),
                pod_desired("web", R2),
                vec![(ChangeKind::Update, true)],
                "revision 0a1 → 0b2",
            ),
            (
                "update of a failed pod is outside the budget",
                pod_host(R1, "failed"),
                pod_desired("web", R2),
                vec![(ChangeKind::Update, false)],
                "revision",
            ),
            (
                "heal a stopped pod",
                pod_host(R1, "inactive"),
                pod_desired("web", R1),
                vec![(ChangeKind::Heal, false)],
                "is inactive",
            ),
            (
                "failed init is reported with exit code and output",
                failed_init,
                pod_desired("web", R1),
                vec![(ChangeKind::Heal, false)],
                "failed (exit code 3): copying config | no such file: /cfg",
            ),
            (
                "stale running revision is restarted",
                stale_running,
                pod_desired("web", R1),
                vec![(ChangeKind::Heal, true)],
                "runs revision 0ff, not 0a1",
            ),
            (
                "running since before its file was written: restarted",
                app_written_at(600),
                pod_desired("web", R1),
                vec![(ChangeKind::Heal, true)],
                "_app.service has run since before its unit file was written",
            ),
            (
                "started after its file was written: in sync",
                app_written_at(400),
                pod_desired("web", R1),
                vec![],
                "",
            ),
            (
                "a file stamped after the host's clock (the clock went back): in sync",
                app_written_at(2000),
                pod_desired("web", R1),
                vec![],
                "",
            ),
            (
                "changed on disk: reload",
                needs_reload,
                pod_desired("web", R1),
                vec![(ChangeKind::Heal, false)],
                "changed on disk since systemd loaded it",
            ),
            (
                "not loaded: reload and start",
                not_loaded,
                pod_desired("web", R1),
                vec![(ChangeKind::Heal, false)],
                "is not loaded",
            ),
            (
                "a surge's unrecorded new pod: the update goes on",
                unrecorded_new_pod,
                pod_desired("web", R2),
                vec![(ChangeKind::Update, false)],
                "0a1_app.container is no longer part",
            ),
        ];
        for (name, observed, want, kinds_want, reason) in cases {
            let plan = plan_host(&run(want), &observed);
            assert_eq!(kinds(&plan), kinds_want, "{name}: {plan:#?}");
            if let Some(c) = plan.changes.first() {
                assert!(
                    c.reasons.join("; ").contains(reason),
                    "{name}: {:?}",
                    c.reasons
                );
            }
        }
    }

    /// Instances are named by revision: an update stops and removes the old pod (first, so
    /// that its hostPorts are free) and starts the new one; it takes an instance down.
    #[test]
    fn update_stops_the_old_pod_before_the_new_one_starts_and_removes_its_dir() {
        let plan = plan_host(&run(pod_desired("web", R2)), &pod_host(R1, "active"));
        let actions = &plan.changes[0].actions;
        let old = Instance::new("web", R1);
        assert_eq!(
            removed_units(&plan.changes[0]),
            [
                old.container_service("app"),
                old.container_service("init"),
                old.pod_service(),
            ],
            "containers before their pod"
        );
        let pos = |f: &dyn Fn(&Action) -> bool| actions.iter().position(f).unwrap();
        let last_remove = actions
            .iter()
            .rposition(|a| matches!(a, Action::RemoveUnit { .. }))
            .unwrap();
        assert!(last_remove < pos(&|a| matches!(a, Action::Start { .. })));
        assert!(actions.contains(&Action::RemoveInstanceDir {
            path: old.pod_dir()
        }));
        let new = Instance::new("web", R2);
        assert!(!actions.contains(&Action::RemoveInstanceDir {
            path: new.pod_dir()
        }));
        assert!(
            matches!(actions.last(), Some(Action::RecordState { revision, .. }) if revision == R2)
        );
        assert!(!actions.contains(&Action::RemoveLegacyVolumes {
            daemonset: "web".into()
        }));
    }

    /// Object data is written before the units that mount it start, also by a maxSurge step,
    /// and never makes a change of its own on a host in sync.
    #[test]
    fn projections_are_written_before_the_units_start() {
        let mut d = pod_desired("web", R2);
        let i = Instance::new("web", R2);
        d.projections = vec![crate::config_refs::Projection {
            parent: i.objects_dir(),
            dir: i.object_volume_dir("conf"),
            files: vec![],
        }];
        for observed in [Observation::default(), pod_host(R1, "active")] {
            let plan = plan_host(&run(d.clone()), &observed);
            let actions = &plan.changes[0].actions;
            let pos = |f: &dyn Fn(&Action) -> bool| actions.iter().position(f).unwrap();
            let project = pos(&|a| matches!(a, Action::Project { .. }));
            assert!(project < pos(&|a| matches!(a, Action::WriteUnit { .. })));
            assert!(project < pos(&|a| matches!(a, Action::Start { .. })));
            let up = crate::surge::up(&plan.changes[0]);
            assert!(
                matches!(up.actions.first(), Some(Action::Project { .. })),
                "{up:#?}"
            );
        }
        let in_sync = pod_host(R2, "active");
        assert!(plan_host(&run(d), &in_sync).is_empty());
    }

    #[test]
    fn stale_or_unloaded_units_are_reloaded_even_when_nothing_is_written() {
        let mut o = pod_host(R1, "active");
        let app = Instance::new("web", R1).container_service("app");
        o.units.get_mut(&app).unwrap().need_daemon_reload = true;
        let plan = plan_host(&run(pod_desired("web", R1)), &o);
        assert_eq!(plan.changes[0].actions[0], Action::DaemonReload);
        let script = crate::host_script::script(&plan.changes, 5, "t");
        assert!(script.contains("systemctl daemon-reload"), "{script}");
    }

    /// A host deployed with the earlier layout (one `dsctl-<ds>-<c>` unit per container, its
    /// record naming them) converges through an Update: disruptive, budgeted, and nothing of
    /// the old layout left.
    #[test]
    fn migration_from_the_legacy_layout_is_a_budgeted_update() {
        for recorded_rev in [R1, R2] {
            let observed = host(recorded_rev, "v1", "active");
            let plan = plan_host(&run(pod_desired("web", R2)), &observed);
            assert_eq!(
                kinds(&plan),
                vec![(ChangeKind::Update, true)],
                "{recorded_rev}"
            );
            let c = &plan.changes[0];
            assert!(
                c.reasons.iter().any(|r| r.contains("to a pod")),
                "{:?}",
                c.reasons
            );
            assert_eq!(removed_units(c), [SERVICE]);
            assert!(c.actions.contains(&Action::RemoveLegacyVolumes {
                daemonset: "web".into()
            }));
            assert!(c.actions.iter().any(|a| matches!(a, Action::Start { .. })));
        }
    }

    /// `node`/`exporter-agent` and `node-exporter`/`agent` had one legacy unit name; by record
    /// and by injective names each DaemonSet keeps its own units.
    #[test]
    fn ownership_is_by_record_and_injective_names() {
        const LEGACY: &str = "dsctl-node-exporter-agent.service";
        let mut o = with_pod(Observation::default(), "node", R1, "active");
        o = with_pod(o, "node-exporter", R1, "active");
        // A legacy file on disk that only node's record names.
        o.unit_files
            .insert(format!("/etc/systemd/system/{LEGACY}"), "x".into());
        o.daemonsets
            .get_mut("node")
            .unwrap()
            .units
            .insert(LEGACY.into(), "x".into());
        let files = |ds: &str| recorded_files(&o, ds).into_iter().collect::<Vec<_>>();
        assert!(files("node").contains(&LEGACY.to_string()));
        assert!(!files("node-exporter").contains(&LEGACY.to_string()));
        assert!(files("node").iter().all(|f| !f.contains("node-exporter_")));
        assert!(
            files("node-exporter")
                .iter()
                .all(|f| f.starts_with("dsctl_node-exporter_"))
        );
        // Both in sync except node's legacy leftover; deleting one leaves the other alone.
        let intent = HostIntent {
            daemonsets: [
                ("node".to_string(), Placement::Run(pod_desired("node", R1))),
                ("node-exporter".to_string(), Placement::Deleted),
            ]
            .into(),
            ..Default::default()
        };
        let plan = plan_host(&intent, &o);
        let node = plan.changes.iter().find(|c| c.daemonset == "node").unwrap();
        assert_eq!(removed_units(node), [LEGACY]);
        let gone = plan
            .changes
            .iter()
            .find(|c| c.daemonset == "node-exporter")
            .unwrap();
        assert_eq!(gone.kind, ChangeKind::Remove);
        assert!(
            removed_units(gone)
                .iter()
                .all(|u| u.starts_with("dsctl_node-exporter_"))
        );
        assert_eq!(removed_units(gone).len(), 3);
    }

    #[test]
    fn failed_init_makes_the_instance_unavailable_and_exited_init_does_not() {
        let mut o = pod_host(R1, "active");
        let init = Instance::new("web", R1).container_service("init");
        o.units.get_mut(&init).unwrap().sub_state = "exited".into();
        assert!(
            o.instance_active("web"),
            "active (exited) is a finished init"
        );
        o.units.insert(init, unit_status("failed"));
        assert!(!o.instance_active("web"));
        let mut o = pod_host(R1, "active");
        let app = Instance::new("web", R1).container_service("app");
        o.units.insert(app, unit_status("activating"));
        assert!(!o.instance_active("web"), "an app container not active");
    }
}
