//! `dsctl get`: rows for DaemonSets and pods, computed from live observations (pure).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::daemonset::DaemonSet;
use crate::eligibility::node_should_run_daemon_pod;
use crate::host_facts::HostFacts;
use crate::inventory::Host;
use crate::labels::label_selector_as_selector;
use crate::layout::{Instance, service_name};
use crate::observe::{Observation, RecordedDaemonSet};

/// One DaemonSet instance on one host, as `kubectl get pods` shows a pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodRow {
    pub host: String,
    pub daemonset: String,
    /// running, failed, stopped or missing (a unit file was deleted).
    pub state: String,
    pub revision: Option<String>,
    pub restarts: u32,
    pub age_seconds: u64,
    pub ready: bool,
    /// The address dsctl reached the host at (its status.hostIP).
    pub address: String,
    /// The app containers of the recorded revision, in spec order (empty when the host
    /// records no spec of the current layout).
    pub containers: Vec<PodContainer>,
}

/// One app container of an instance: kubectl's READY counts these.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodContainer {
    pub name: String,
    /// podman's short container ID, while the container exists.
    pub id: Option<String>,
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetRow {
    pub name: String,
    pub desired: usize,
    pub current: usize,
    pub ready: usize,
    pub up_to_date: usize,
    pub available: usize,
    pub node_selector: String,
    pub age_seconds: u64,
    pub revision: Option<String>,
    /// kubectl's wide columns, from the newest recorded spec: app container names, their
    /// images, and the selector as `metav1.FormatLabelSelector` prints it.
    pub containers: Vec<String>,
    pub images: Vec<String>,
    pub selector: String,
}

pub fn pods(observed: &[(&Host, &Observation)], only: Option<&str>) -> Vec<PodRow> {
    let mut rows = Vec::new();
    for (host, obs) in observed {
        for (name, record) in &obs.daemonsets {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let units: Vec<_> = record
                .units
                .keys()
                .map(|f| obs.units.get(&service_name(f)))
                .collect();
            let state = if units.is_empty() || units.iter().any(Option::is_none) {
                "missing"
            } else if units.iter().flatten().all(|u| u.is_active()) {
                "running"
            } else if units.iter().flatten().any(|u| u.active_state == "failed") {
                "failed"
            } else {
                "stopped"
            };
            let started = units.iter().flatten().filter_map(|u| u.active_since).min();
            let spec: Option<DaemonSet> = record
                .spec_json
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok());
            let containers = match (&spec, &record.revision) {
                // A host's record is not trusted to hold names of the current layout.
                (Some(ds), Some(revision))
                    if crate::layout::is_name(name) && crate::layout::is_revision(revision) =>
                {
                    let instance = Instance::new(name, revision);
                    ds.pod_spec()
                        .containers
                        .iter()
                        .map(|c| PodContainer {
                            name: c.name.clone(),
                            id: obs
                                .containers
                                .get(&instance.container_name(&c.name))
                                .and_then(|s| s.id.clone()),
                            ready: obs
                                .units
                                .get(&instance.container_service(&c.name))
                                .is_some_and(|u| u.is_active()),
                        })
                        .collect()
                }
                _ => Vec::new(),
            };
            let address = HostFacts::observed(host, &obs.host)
                .host_ips
                .first()
                .map_or_else(|| host.address.clone(), ToString::to_string);
            rows.push(PodRow {
                host: host.name.clone(),
                daemonset: name.clone(),
                state: state.to_string(),
                revision: record.revision.clone(),
                restarts: units.iter().flatten().map(|u| u.restarts).sum(),
                age_seconds: started.map_or(0, |s| obs.now.saturating_sub(s)),
                ready: state == "running",
                address,
                containers,
            });
        }
    }
    rows
}

/// The record of the newest revision of a DaemonSet among the hosts (highest number).
pub fn newest<'a>(
    observed: &[(&Host, &'a Observation)],
    name: &str,
) -> Option<&'a RecordedDaemonSet> {
    observed
        .iter()
        .filter_map(|(_, o)| o.daemonsets.get(name))
        .max_by_key(|r| (r.number, r.updated))
}

/// The newest recorded spec of a DaemonSet, parsed.
pub fn newest_spec(observed: &[(&Host, &Observation)], name: &str) -> Option<DaemonSet> {
    newest(observed, name)?
        .spec_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
}

/// Per DaemonSet: DESIRED from the newest recorded spec's eligibility over the targeted hosts,
/// UP-TO-DATE against the newest revision, AVAILABLE after minReadySeconds.
pub fn daemonsets(observed: &[(&Host, &Observation)], only: Option<&str>) -> Vec<DaemonSetRow> {
    let names: BTreeSet<&str> = observed
        .iter()
        .flat_map(|(_, o)| o.daemonsets.keys())
        .map(String::as_str)
        .filter(|n| only.is_none_or(|o| o == *n))
        .collect();
    let pods = pods(observed, only);
    let now = observed.iter().map(|(_, o)| o.now).max().unwrap_or(0);
    names
        .into_iter()
        .map(|name| {
            let revision = newest(observed, name).and_then(|r| r.revision.clone());
            let spec = newest_spec(observed, name);
            let created = observed
                .iter()
                .filter_map(|(_, o)| o.daemonsets.get(name))
                .map(|r| r.created)
                .min();
            let mine: Vec<&PodRow> = pods.iter().filter(|p| p.daemonset == name).collect();
            let min_ready = spec
                .as_ref()
                .map_or(0, |s| s.spec.min_ready_seconds.max(0) as u64);
            let desired = match &spec {
                Some(ds) => observed
                    .iter()
                    .filter(|(h, o)| {
                        let node = crate::host_facts::HostFacts::observed(h, &o.host).node(h);
                        node_should_run_daemon_pod(ds, &node).should_run
                    })
                    .count(),
                None => mine.len(),
            };
            let node_selector = spec
                .as_ref()
                .map(|s| &s.spec.template.spec.node_selector)
                .filter(|m| !m.is_empty())
                .map_or_else(
                    || "<none>".to_string(),
                    |m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    },
                );
            DaemonSetRow {
                name: name.to_string(),
                desired,
                current: mine.len(),
                ready: mine.iter().filter(|p| p.ready).count(),
                up_to_date: mine.iter().filter(|p| p.revision == revision).count(),
                available: mine
                    .iter()
                    .filter(|p| p.ready && p.age_seconds >= min_ready)
                    .count(),
                node_selector,
                age_seconds: now.saturating_sub(created.unwrap_or(now)),
                revision,
                containers: spec
                    .iter()
                    .flat_map(|s| &s.pod_spec().containers)
                    .map(|c| c.name.clone())
                    .collect(),
                images: spec
                    .iter()
                    .flat_map(|s| &s.pod_spec().containers)
                    .map(|c| c.image.clone())
                    .collect(),
                selector: spec
                    .as_ref()
                    .map_or_else(String::new, |s| format_selector(&s.spec.selector)),
            }
        })
        .collect()
}

/// One revision of a DaemonSet as `rollout history` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionRow {
    pub number: u64,
    pub revision: String,
    pub cause: String,
    /// Hosts that run it now.
    pub hosts: usize,
    pub spec_json: Option<String>,
}

/// Every revision of a DaemonSet that a host still keeps, oldest first.
pub fn history(observed: &[(&Host, &Observation)], name: &str) -> Vec<RevisionRow> {
    let mut rows: BTreeMap<String, RevisionRow> = BTreeMap::new();
    let mut add =
        |revision: &str, number: u64, cause: &str, spec: Option<&String>, running: bool| {
            let row = rows
                .entry(revision.to_string())
                .or_insert_with(|| RevisionRow {
                    number,
                    revision: revision.to_string(),
                    cause: cause.to_string(),
                    hosts: 0,
                    spec_json: None,
                });
            row.number = row.number.max(number);
            row.hosts += usize::from(running);
            if row.spec_json.is_none() {
                row.spec_json = spec.cloned();
            }
        };
    for (_, obs) in observed {
        let Some(record) = obs.daemonsets.get(name) else {
            continue;
        };
        if let Some(revision) = &record.revision {
            add(
                revision,
                record.number,
                &record.cause,
                record.spec_json.as_ref(),
                true,
            );
        }
        for (revision, entry) in &record.history {
            add(
                revision,
                entry.number,
                &entry.cause,
                entry.spec_json.as_ref(),
                false,
            );
        }
    }
    let mut rows: Vec<RevisionRow> = rows.into_values().collect();
    rows.sort_by_key(|r| r.number);
    rows
}

/// `metav1.FormatLabelSelector`: `app=web,tier in (a,b)`, `<none>` for an empty selector.
pub fn format_selector(selector: &crate::daemonset::LabelSelector) -> String {
    match label_selector_as_selector(selector) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s.to_string(),
        Err(_) => "<error>".to_string(),
    }
}

/// How `get` prints its rows: kubectl's columns, or those and its `-o wide` extra columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    Normal,
    Wide,
}

/// `get ds`: kubectl's columns; wide adds CONTAINERS, IMAGES and SELECTOR.
pub fn daemonsets_table(rows: &[DaemonSetRow], columns: Columns) -> String {
    let mut header = vec![
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE SELECTOR",
        "AGE",
    ];
    if columns == Columns::Wide {
        header.extend(["CONTAINERS", "IMAGES", "SELECTOR"]);
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.name.clone(),
                r.desired.to_string(),
                r.current.to_string(),
                r.ready.to_string(),
                r.up_to_date.to_string(),
                r.available.to_string(),
                r.node_selector.clone(),
                age(r.age_seconds),
            ];
            if columns == Columns::Wide {
                row.extend([
                    or_none(&r.containers.join(",")),
                    or_none(&r.images.join(",")),
                    or_none(&r.selector),
                ]);
            }
            row
        })
        .collect();
    table(&header, &rows)
}

/// `get pods`: one row per instance; wide adds READY (app containers up of all, as kubectl
/// counts them), the host's address, and the containers with their IDs.
pub fn pods_table(rows: &[PodRow], columns: Columns) -> String {
    let wide = columns == Columns::Wide;
    let mut header = vec!["HOST", "DAEMONSET"];
    if wide {
        header.push("READY");
    }
    header.extend(["STATE", "REVISION", "RESTARTS", "AGE"]);
    if wide {
        header.extend(["ADDRESS", "CONTAINERS", "CONTAINER IDS"]);
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            let mut row = vec![p.host.clone(), p.daemonset.clone()];
            if wide {
                row.push(if p.containers.is_empty() {
                    "-".to_string()
                } else {
                    let up = p.containers.iter().filter(|c| c.ready).count();
                    format!("{up}/{}", p.containers.len())
                });
            }
            row.extend([
                p.state.clone(),
                p.revision.clone().unwrap_or_else(|| "-".into()),
                p.restarts.to_string(),
                age(p.age_seconds),
            ]);
            if wide {
                let names: Vec<&str> = p.containers.iter().map(|c| c.name.as_str()).collect();
                let ids: Vec<&str> = p
                    .containers
                    .iter()
                    .map(|c| c.id.as_deref().unwrap_or("-"))
                    .collect();
                row.extend([
                    p.address.clone(),
                    or_none(&names.join(",")),
                    or_none(&ids.join(",")),
                ]);
            }
            row
        })
        .collect();
    table(&header, &rows)
}

fn or_none(cell: &str) -> String {
    if cell.is_empty() {
        "<none>".into()
    } else {
        cell.into()
    }
}

/// kubectl's short ages: 45s, 12m, 5h, 3d.
pub fn age(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Left-aligned columns separated by three spaces, as kubectl prints them.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}   "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{RecordedDaemonSet, UnitStatus};

    fn host(name: &str) -> Host {
        Host {
            name: name.into(),
            address: "192.0.2.1".into(),
            settings: Default::default(),
            labels: Default::default(),
            taints: vec![],
        }
    }

    fn obs(revision: &str, updated: u64, active: &str) -> Observation {
        let mut o = Observation {
            now: 1000,
            ..Default::default()
        };
        let mut rec = RecordedDaemonSet {
            revision: Some(revision.into()),
            created: 100,
            updated,
            ..Default::default()
        };
        rec.units
            .insert("dsctl-web-web.container".into(), "x".into());
        o.daemonsets.insert("web".into(), rec);
        o.units.insert(
            "dsctl-web-web.service".into(),
            UnitStatus {
                active_state: active.into(),
                restarts: 1,
                active_since: Some(900),
                ..Default::default()
            },
        );
        o
    }

    #[test]
    fn counts_like_kubectl() {
        let (a, b, c) = (host("a"), host("b"), host("c"));
        let (oa, ob, oc) = (
            obs("r2", 500, "active"),
            obs("r1", 400, "active"),
            obs("r2", 500, "failed"),
        );
        let observed = [(&a, &oa), (&b, &ob), (&c, &oc)];
        let rows = daemonsets(&observed, None);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (r.desired, r.current, r.ready, r.up_to_date, r.available),
            (3, 3, 2, 2, 2)
        );
        assert_eq!(r.revision.as_deref(), Some("r2"));
        assert_eq!(r.age_seconds, 900);
        let pods = pods(&observed, Some("web"));
        assert_eq!(pods[2].state, "failed");
        assert_eq!(pods[0].age_seconds, 100);
        assert_eq!(pods[0].restarts, 1);
    }

    /// `-o wide`: kubectl's extra columns for DaemonSets; READY, address and container IDs
    /// for pods, from the observed containers of the recorded revision.
    #[test]
    fn wide_tables() {
        let spec = r#"{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"web"},
            "spec":{"selector":{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]}]},
            "template":{"spec":{"containers":[{"name":"web","image":"img:1"},{"name":"side","image":"side:2"}]}}}}"#;
        let spec = serde_json::from_str::<serde_json::Value>(spec)
            .unwrap()
            .to_string();
        let a = host("a");
        let mut o = Observation {
            now: 1000,
            ..Default::default()
        };
        o.host.server_ip = Some("10.213.0.11".parse().unwrap());
        let instance = Instance::new("web", "0a1");
        let mut rec = RecordedDaemonSet {
            revision: Some("0a1".into()),
            created: 100,
            spec_json: Some(spec),
            ..Default::default()
        };
        for (c, state, id) in [
            ("web", "active", Some("3f2a1b9c0d1e")),
            ("side", "failed", None),
        ] {
            rec.units.insert(
                format!("{}.container", instance.container_name(c)),
                "x".into(),
            );
            o.units.insert(
                instance.container_service(c),
                UnitStatus {
                    active_state: state.into(),
                    restarts: 2,
                    active_since: Some(940),
                    ..Default::default()
                },
            );
            o.containers.insert(
                instance.container_name(c),
                crate::observe::ContainerStatus {
                    id: id.map(str::to_string),
                    ..Default::default()
                },
            );
        }
        o.daemonsets.insert("web".into(), rec);
        let observed = [(&a, &o)];
        let pods = pods(&observed, None);
        assert_eq!(
            pods_table(&pods, Columns::Wide),
            "HOST   DAEMONSET   READY   STATE    REVISION   RESTARTS   AGE   ADDRESS       CONTAINERS   CONTAINER IDS\n\
             a      web         1/2     failed   0a1        4          60s   10.213.0.11   web,side     3f2a1b9c0d1e,-\n"
        );
        assert_eq!(
            pods_table(&pods, Columns::Normal),
            "HOST   DAEMONSET   STATE    REVISION   RESTARTS   AGE\na      web         failed   0a1        4          60s\n"
        );
        let ds = daemonsets(&observed, None);
        assert_eq!(
            daemonsets_table(&ds, Columns::Wide),
            "NAME   DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE   CONTAINERS   IMAGES         SELECTOR\n\
             web    1         1         0       1            0           <none>          15m   web,side     img:1,side:2   app=web,tier in (a,b)\n"
        );
        assert!(daemonsets_table(&ds, Columns::Normal).starts_with("NAME   DESIRED"));
        assert!(!daemonsets_table(&ds, Columns::Normal).contains("SELECTOR\n"));
    }

    #[test]
    fn ages_and_tables() {
        assert_eq!(
            [age(5), age(600), age(4 * 3600), age(3 * 86400)],
            ["5s", "10m", "4h", "3d"]
        );
        let t = table(&["NAME", "AGE"], &[vec!["web".into(), "5s".into()]]);
        assert_eq!(t, "NAME   AGE\nweb    5s\n");
    }
}
