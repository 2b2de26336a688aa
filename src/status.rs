//! `dsctl get`: rows for DaemonSets and pods, computed from live observations (pure).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::daemonset::DaemonSet;
use crate::eligibility::node_should_run_daemon_pod;
use crate::inventory::Host;
use crate::layout::service_name;
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
            rows.push(PodRow {
                host: host.name.clone(),
                daemonset: name.clone(),
                state: state.to_string(),
                revision: record.revision.clone(),
                restarts: units.iter().flatten().map(|u| u.restarts).sum(),
                age_seconds: started.map_or(0, |s| obs.now.saturating_sub(s)),
                ready: state == "running",
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
    /// What changed in the ConfigMaps and Secrets since the revision before
    /// (`configmap/NAME key KEY: changed`; never a value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
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
                    objects: Vec::new(),
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
    for i in 1..rows.len() {
        if let Some(new) = rows[i].spec_json.clone() {
            rows[i].objects =
                crate::config_refs::object_changes(rows[i - 1].spec_json.as_deref(), &new);
        }
    }
    rows
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
