//! A simulated host for measuring dsctl itself (`examples/simfleet.rs`): what a host holds is an
//! [`Observation`], a host script's effect is its plan's [`Action`]s applied to it, and the
//! observe answer is that observation written back in `scripts/observe.sh`'s records. Built
//! from the planner's own types, so it follows the planner and the parser instead of a frozen
//! copy of their output (a round-trip test ties [`records`] to [`observe::parse`]).

use std::fmt::Write;
use std::net::IpAddr;

use base64::Engine;

use crate::daemonset::DaemonSet;
use crate::host_facts::HostFacts;
use crate::intent::host_intent;
use crate::inventory::{Host, UnitFlavor};
use crate::layout::{self, PodmanObject};
use crate::observe::{self, ContainerStatus, HistoryEntry, HostInfo, Observation, UnitStatus};
use crate::plan::{Action, Change, content_sha, plan_host};
use crate::render::Templates;

/// A fresh host with podman of `flavor` and nothing of dsctl on it.
pub fn fresh(address: IpAddr, flavor: UnitFlavor, now: u64) -> Observation {
    Observation {
        now,
        host: HostInfo {
            server_ip: Some(address),
            addresses: vec![("eth0".to_string(), address)],
            kernel: Some("Linux".to_string()),
            machine: Some("x86_64".to_string()),
            cpus: Some(2),
            memory_kib: Some(2 * 1024 * 1024),
            storage_kib: Some(20 * 1024 * 1024),
        },
        podman_version: Some(match flavor {
            UnitFlavor::Quadlet => "5.4.2".to_string(),
            UnitFlavor::Service => "4.3.1".to_string(),
        }),
        quadlet_generator: flavor == UnitFlavor::Quadlet,
        ..Observation::default()
    }
}

/// The changes dsctl would plan for `host` holding `observed`, converging to `specs`.
pub fn plan(
    specs: &[DaemonSet],
    host: &Host,
    observed: &Observation,
    templates: &Templates,
) -> Result<Vec<Change>, String> {
    let facts = HostFacts::observed(host, &observed.host);
    let flavor = host
        .settings
        .unit_flavor
        .unwrap_or_else(|| observed.detected_flavor());
    let intent =
        host_intent(specs, host, &facts, flavor, templates, false).map_err(|e| e.to_string())?;
    Ok(plan_host(&intent, observed).changes)
}

/// What the host script for `changes` leaves on a host whose every command succeeds.
pub fn apply(observed: &mut Observation, changes: &[Change]) {
    let now = observed.now;
    for action in changes.iter().flat_map(|c| &c.actions) {
        match action {
            Action::RemoveUnit { path, unit } => {
                observed.unit_files.remove(path);
                observed.units.remove(unit);
                if let Some(PodmanObject::Container(name)) = layout::podman_object_of_service(unit)
                {
                    observed.containers.remove(&name);
                }
            }
            Action::WriteUnit { path, content } => {
                observed
                    .unit_files
                    .insert(path.clone(), content_sha(content));
                let file = path.rsplit('/').next().unwrap_or(path);
                let unit = observed
                    .units
                    .entry(layout::service_name(file))
                    .or_insert_with(|| UnitStatus {
                        active_state: "inactive".to_string(),
                        sub_state: "dead".to_string(),
                        unit_file_state: "disabled".to_string(),
                        ..UnitStatus::default()
                    });
                // Every script that writes reloads systemd.
                unit.load_state = "loaded".to_string();
                unit.need_daemon_reload = false;
            }
            Action::Start { unit, enable } => {
                start(observed, unit, now);
                if let Some(status) = observed.units.get_mut(unit) {
                    status.unit_file_state = if *enable { "enabled" } else { "generated" }.into();
                }
            }
            Action::Restart { unit } => start(observed, unit, now),
            // Object files live beside the units; observe reports nothing of them.
            Action::Project { .. } => {}
            Action::DaemonReload => {
                for status in observed.units.values_mut() {
                    status.need_daemon_reload = false;
                }
            }
            Action::RecordState {
                daemonset,
                revision,
                units,
                spec_json,
                cause,
                ..
            } => {
                let record = observed.daemonsets.entry(daemonset.clone()).or_default();
                if let Some(old) = record.revision.take().filter(|old| old != revision) {
                    record.history.insert(
                        old,
                        HistoryEntry {
                            number: record.number,
                            recorded: record.updated,
                            cause: record.cause.clone(),
                            spec_json: None,
                        },
                    );
                }
                record.number = record
                    .history
                    .get(revision)
                    .map(|h| h.number)
                    .unwrap_or(record.number + 1);
                record.history.remove(revision);
                record.revision = Some(revision.clone());
                record.units = units
                    .iter()
                    .map(|u| (u.name.clone(), content_sha(&u.content)))
                    .collect();
                record.spec_json = Some(spec_json.to_string());
                record.cause = cause.clone();
                record.created = if record.created == 0 {
                    now
                } else {
                    record.created
                };
                record.updated = now;
                record.halted = None;
            }
            Action::ForgetState { daemonset } => {
                observed.daemonsets.remove(daemonset);
            }
            Action::RecordRevision {
                daemonset,
                revision,
                cause,
                ..
            } => {
                let record = observed.daemonsets.entry(daemonset.clone()).or_default();
                let number = record.number + record.history.len() as u64 + 1;
                record.history.insert(
                    revision.clone(),
                    HistoryEntry {
                        number,
                        recorded: now,
                        cause: cause.clone(),
                        spec_json: None,
                    },
                );
            }
            Action::RemoveInstanceDir { .. } | Action::RemoveLegacyVolumes { .. } => {}
        }
    }
}

/// A unit started by systemd, and its container (labelled as render labels it) running.
fn start(observed: &mut Observation, unit: &str, now: u64) {
    let status = observed.units.entry(unit.to_string()).or_default();
    status.load_state = "loaded".to_string();
    status.active_state = "active".to_string();
    status.sub_state = "running".to_string();
    status.active_since = Some(now);
    status.exit_status = Some(0);
    if let Some(PodmanObject::Container(name)) = layout::podman_object_of_service(unit) {
        let file = unit.trim_end_matches(".service");
        let daemonset = layout::owner_of_unit_file(file).map(str::to_string);
        let revision = layout::revision_of_unit_file(file).map(str::to_string);
        let pod = revision
            .as_deref()
            .zip(daemonset.as_deref())
            .map(|(rev, ds)| layout::Instance::new(ds, rev).pod_name());
        let container = pod
            .as_deref()
            .and_then(|p| name.strip_prefix(p)?.strip_prefix('_'))
            .map(str::to_string);
        observed.containers.insert(
            name,
            ContainerStatus {
                id: None,
                state: "running".to_string(),
                image: String::new(),
                revision,
                daemonset,
                container,
                pod,
            },
        );
    }
}

/// `observed` as `scripts/observe.sh` prints it (without `$FULL`'s contents).
pub fn records(observed: &Observation) -> String {
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let mut s = String::with_capacity(4096);
    let h = &observed.host;
    let opt = |v: Option<String>| v.unwrap_or_default();
    let _ = writeln!(s, "dsctl-observe 1");
    let _ = writeln!(s, "hostip {}", opt(h.server_ip.map(|ip| ip.to_string())));
    for (iface, addr) in &h.addresses {
        let _ = writeln!(s, "hostaddr {iface} {addr}");
    }
    let _ = writeln!(
        s,
        "uname {} {}",
        opt(h.kernel.clone()),
        opt(h.machine.clone())
    );
    let _ = writeln!(s, "cpus {}", opt(h.cpus.map(|v| v.to_string())));
    let _ = writeln!(s, "memtotal {}", opt(h.memory_kib.map(|v| v.to_string())));
    let _ = writeln!(s, "storage {}", opt(h.storage_kib.map(|v| v.to_string())));
    let _ = writeln!(s, "now {}", observed.now);
    let _ = writeln!(
        s,
        "podman {}",
        observed.podman_version.as_deref().unwrap_or("-")
    );
    let yes = if observed.quadlet_generator {
        "yes"
    } else {
        "no"
    };
    let _ = writeln!(s, "quadlet {yes}");
    match &observed.lock_holder {
        Some(holder) => writeln!(s, "lock held {holder}"),
        None => writeln!(s, "lock free"),
    }
    .ok();
    // The state the token is made of (scripts/state.sh): the sim has no inodes, so a unit
    // file's content hash stands for its identity.
    for (path, sha) in &observed.unit_files {
        let _ = writeln!(s, "state {path} {sha}");
    }
    for (name, r) in &observed.daemonsets {
        let halted = if r.halted.is_some() { "halted" } else { "-" };
        let revision = r.revision.as_deref().unwrap_or("-");
        let _ = writeln!(s, "state ds {name} {revision} {} {halted}", r.number);
        let _ = writeln!(
            s,
            "ds {name} {} {} {} {} {}",
            r.revision.as_deref().unwrap_or("-"),
            r.created,
            r.updated,
            r.number,
            b64(&r.cause)
        );
        for (rev, e) in &r.history {
            let _ = writeln!(
                s,
                "dshist {name} {rev} {} {} {}",
                e.number,
                e.recorded,
                b64(&e.cause)
            );
        }
        for (file, sha) in &r.units {
            let _ = writeln!(s, "dsunit {name} {file} {sha}");
        }
        if let Some(why) = &r.halted {
            let _ = writeln!(s, "dshalted {name} {}", b64(why));
        }
        if let Some(json) = &r.spec_json {
            let _ = writeln!(s, "dsspec {name} {}", b64(json));
        }
    }
    for (path, sha) in &observed.unit_files {
        let _ = writeln!(s, "file {path} {sha}");
    }
    for (id, u) in &observed.units {
        let _ = writeln!(s, "prop Id={id}");
        let _ = writeln!(s, "prop LoadState={}", u.load_state);
        let _ = writeln!(s, "prop ActiveState={}", u.active_state);
        let _ = writeln!(s, "prop SubState={}", u.sub_state);
        let _ = writeln!(s, "prop UnitFileState={}", u.unit_file_state);
        let _ = writeln!(s, "prop NRestarts={}", u.restarts);
        let since = u.active_since.map(|t| format!("@{t}")).unwrap_or_default();
        let _ = writeln!(s, "prop ActiveEnterTimestamp={since}");
        let reload = if u.need_daemon_reload { "yes" } else { "no" };
        let _ = writeln!(s, "prop NeedDaemonReload={reload}");
        let status = u.exit_status.map(|c| c.to_string()).unwrap_or_default();
        let _ = writeln!(s, "prop ExecMainStatus={status}");
        let _ = writeln!(s, "unitend");
    }
    for (name, c) in &observed.containers {
        let field = |v: &Option<String>| v.clone().unwrap_or_else(|| "<no value>".to_string());
        let _ = writeln!(
            s,
            "container\t{name}\t{}\t{}\t{}\t{}\t{}\t{}",
            c.state,
            c.image,
            field(&c.revision),
            field(&c.daemonset),
            field(&c.container),
            field(&c.pod)
        );
    }
    let _ = writeln!(s, "end");
    s
}

/// Parses what [`records`] wrote, as dsctl parses a real host's answer.
pub fn reparse(text: &str) -> Result<Observation, observe::ObserveError> {
    observe::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::HostSettings;

    fn host(name: &str, flavor: Option<UnitFlavor>) -> Host {
        Host {
            name: name.to_string(),
            address: "127.0.0.2".to_string(),
            settings: HostSettings {
                unit_flavor: flavor,
                ..HostSettings::default()
            },
            labels: Default::default(),
            taints: Vec::new(),
        }
    }

    fn spec(file: &str) -> DaemonSet {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let loaded = crate::load::daemonsets(&[path]).expect("example loads");
        loaded.daemonsets.into_iter().next().expect("one").value
    }

    #[test]
    fn a_simulated_host_converges_and_then_plans_nothing_through_its_own_records() {
        let templates = Templates::embedded();
        for (file, flavor) in [
            ("examples/web.toml", UnitFlavor::Quadlet),
            ("examples/web.toml", UnitFlavor::Service),
            ("examples/agent-with-reloader.toml", UnitFlavor::Quadlet),
            ("examples/agent-with-reloader.toml", UnitFlavor::Service),
        ] {
            let specs = vec![spec(file)];
            let h = host("sim-1", None);
            let mut obs = fresh("127.0.0.2".parse().unwrap(), flavor, 1_000);
            let first = plan(&specs, &h, &obs, &templates).unwrap();
            assert!(
                !first.is_empty(),
                "{file} {flavor:?}: a fresh host needs a create"
            );
            apply(&mut obs, &first);
            let text = records(&obs);
            let mut back = reparse(&text).unwrap();
            // The token is the hash of the records' state lines, which the sim never holds.
            assert_eq!(back.token.take().map(|t| t.len()), Some(64));
            assert_eq!(back, obs, "{file} {flavor:?}: records round-trip");
            let again = plan(&specs, &h, &back, &templates).unwrap();
            assert!(
                again.is_empty(),
                "{file} {flavor:?}: in sync, got {again:?}"
            );
        }
    }

    #[test]
    fn a_new_revision_is_one_update_then_in_sync_with_the_old_one_in_history() {
        let templates = Templates::embedded();
        let v1 = spec("examples/web.toml");
        let mut v2 = v1.clone();
        v2.spec.template.spec.containers[0]
            .args
            .push("--simulated".to_string());
        let h = host("sim-1", Some(UnitFlavor::Quadlet));
        let mut obs = fresh("127.0.0.2".parse().unwrap(), UnitFlavor::Quadlet, 1_000);
        let create = plan(std::slice::from_ref(&v1), &h, &obs, &templates).unwrap();
        apply(&mut obs, &create);
        let update = plan(std::slice::from_ref(&v2), &h, &obs, &templates).unwrap();
        assert_eq!(update.len(), 1);
        assert_eq!(update[0].kind, crate::plan::ChangeKind::Update);
        assert!(update[0].disruptive);
        apply(&mut obs, &update);
        let obs = reparse(&records(&obs)).unwrap();
        assert!(plan(&[v2], &h, &obs, &templates).unwrap().is_empty());
        let record = &obs.daemonsets[v1.name()];
        assert_eq!(record.number, 2);
        assert_eq!(record.history.len(), 1);
        assert!(record.history.contains_key(&crate::revision::revision(&v1)));
    }

    #[test]
    fn a_unit_stopped_by_hand_is_a_heal() {
        let templates = Templates::embedded();
        let specs = vec![spec("examples/web.toml")];
        let h = host("sim-1", None);
        let mut obs = fresh("127.0.0.2".parse().unwrap(), UnitFlavor::Quadlet, 1_000);
        let create = plan(&specs, &h, &obs, &templates).unwrap();
        apply(&mut obs, &create);
        let unit = obs.units.keys().next().unwrap().clone();
        obs.units.get_mut(&unit).unwrap().active_state = "inactive".to_string();
        let heal = plan(&specs, &h, &reparse(&records(&obs)).unwrap(), &templates).unwrap();
        assert_eq!(heal.len(), 1);
        assert_eq!(heal[0].kind, crate::plan::ChangeKind::Heal);
    }
}
