//! `dsctl describe ds NAME`: one DaemonSet in `kubectl describe daemonset`'s shape, from the
//! observation `get` already makes (pure). Placement reasons come from `explain.rs` over the
//! observed nodes; counts from `status.rs`; events from the hosts' records (install time,
//! each recorded revision, a halted rollout, failed or restarting units), as the hosts are
//! the only state dsctl has.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::daemonset::{
    Container, DaemonSet, EnvVar, Probe, TolerationOperator, UpdateStrategyType, Volume,
    VolumeMount,
};
use crate::explain::{DaemonSetReport, explain};
use crate::host_facts::HostFacts;
use crate::inventory::Host;
use crate::layout::service_name;
use crate::observe::Observation;
use crate::status::{self, DaemonSetRow, PodRow, age, format_selector, table};

/// At most this many events are shown, the newest ones (kubectl shows what the API server
/// still keeps; the hosts keep up to revisionHistoryLimit revisions).
pub const MAX_EVENTS: usize = 20;

/// The description, or `None` when no observed host records the DaemonSet.
/// `unreachable` names the targeted hosts that were not observed, with why.
pub fn describe_daemonset(
    name: &str,
    observed: &[(&Host, &Observation)],
    unreachable: &[(&str, String)],
) -> Option<String> {
    let row = status::daemonsets(observed, Some(name)).pop()?;
    let pods = status::pods(observed, Some(name));
    let spec = status::newest_spec(observed, name);
    let nodes: Vec<Host> = observed
        .iter()
        .map(|(h, o)| HostFacts::observed(h, &o.host).node(h))
        .collect();
    let report = spec
        .as_ref()
        .and_then(|ds| explain(std::slice::from_ref(ds), &nodes).ok())
        .and_then(|mut r| r.daemonsets.pop());
    let newest = status::newest(observed, name);

    let mut out = String::new();
    let none = || "<none>".to_string();
    let mut head = vec![("Name", vec![name.to_string()])];
    if let Some(ds) = &spec {
        head.push(("Selector", vec![format_selector(&ds.spec.selector)]));
        head.push(("Node-Selector", vec![row.node_selector.clone()]));
        head.push(("Labels", pairs(&ds.metadata.labels, "=")));
        head.push(("Annotations", pairs(&ds.metadata.annotations, ": ")));
    }
    if let Some(record) = newest {
        head.push((
            "Revision",
            vec![format!(
                "{} ({})",
                record.number,
                record.revision.clone().unwrap_or_else(none)
            )],
        ));
    }
    block(&mut out, 0, &head);
    counts(&mut out, &row, &pods, report.as_ref());
    if let Some(ds) = &spec {
        let mut strategy = vec![("Update Strategy", vec![strategy(ds, report.as_ref())])];
        strategy.push((
            "Min Ready Seconds",
            vec![ds.spec.min_ready_seconds.to_string()],
        ));
        strategy.push((
            "Rollout",
            rollout_state(name, ds, &row, observed, unreachable),
        ));
        block(&mut out, 0, &strategy);
        pod_template(&mut out, ds);
    }
    placement(&mut out, report.as_ref(), &pods, unreachable);
    events(&mut out, name, observed);
    Some(out)
}

/// kubectl's aligned `Key:  value` lines; a key with several values puts each further one on
/// a line of its own, aligned under the first.
fn block(out: &mut String, indent: usize, lines: &[(&str, Vec<String>)]) {
    let width = lines.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    for (key, values) in lines {
        let mut values = values.iter();
        let first = values.next().map_or("<none>", String::as_str);
        let key = format!("{key}:");
        let line = format!("{:indent$}{key:<width$}  {first}", "");
        let _ = writeln!(out, "{}", line.trim_end());
        for more in values {
            let _ = writeln!(out, "{:indent$}{:width$}  {more}", "", "");
        }
    }
}

fn pairs(map: &BTreeMap<String, String>, sep: &str) -> Vec<String> {
    if map.is_empty() {
        return vec!["<none>".into()];
    }
    map.iter().map(|(k, v)| format!("{k}{sep}{v}")).collect()
}

fn counts(out: &mut String, row: &DaemonSetRow, pods: &[PodRow], report: Option<&DaemonSetReport>) {
    let misscheduled = report.map_or(0, |r| {
        r.hosts
            .iter()
            .filter(|h| !h.should_continue_running && pods.iter().any(|p| p.host == h.host))
            .count()
    });
    let count = |state: &str| pods.iter().filter(|p| p.state == state).count();
    let waiting = pods.len() - count("running") - count("failed");
    let _ = write!(
        out,
        "Desired Number of Nodes Scheduled: {}\n\
         Current Number of Nodes Scheduled: {}\n\
         Number of Nodes Scheduled with Up-to-date Pods: {}\n\
         Number of Nodes Scheduled with Available Pods: {}\n\
         Number of Nodes Misscheduled: {misscheduled}\n\
         Pods Status:  {} Running / {waiting} Waiting / 0 Succeeded / {} Failed\n",
        row.desired,
        row.current,
        row.up_to_date,
        row.available,
        count("running"),
        count("failed"),
    );
}

/// `RollingUpdate (maxUnavailable 25% = 1 host, maxSurge 0)`, resolved against the desired
/// hosts as the rollout resolves it.
fn strategy(ds: &DaemonSet, report: Option<&DaemonSetReport>) -> String {
    let strategy = &ds.spec.update_strategy;
    match strategy.kind {
        UpdateStrategyType::OnDelete => "OnDelete".to_string(),
        UpdateStrategyType::RollingUpdate => {
            let rolling = strategy.rolling_update.as_ref();
            let value = |given: Option<String>, resolved: Option<usize>, default: &str| {
                let given = given.unwrap_or_else(|| default.to_string());
                match resolved {
                    Some(n) if n.to_string() != given => format!("{given} = {n}"),
                    _ => given,
                }
            };
            format!(
                "RollingUpdate (maxUnavailable {}, maxSurge {})",
                value(
                    rolling
                        .and_then(|r| r.max_unavailable.as_ref())
                        .map(|v| v.to_string()),
                    report.map(|r| r.max_unavailable),
                    "1"
                ),
                value(
                    rolling
                        .and_then(|r| r.max_surge.as_ref())
                        .map(|v| v.to_string()),
                    report.map(|r| r.max_surge),
                    "0"
                ),
            )
        }
    }
}

/// Where the rollout stands, as `rollout status` would say it, with what holds it.
fn rollout_state(
    name: &str,
    ds: &DaemonSet,
    row: &DaemonSetRow,
    observed: &[(&Host, &Observation)],
    unreachable: &[(&str, String)],
) -> Vec<String> {
    let halted: Vec<String> = observed
        .iter()
        .filter_map(|(h, o)| {
            let why = o.daemonsets.get(name)?.halted.as_deref()?;
            Some(format!("halted on {}: {}", h.name, why.trim()))
        })
        .collect();
    if !halted.is_empty() {
        return halted;
    }
    let ext = ds.dsctl.clone().unwrap_or_default();
    let mut lines = Vec::new();
    let available = row.available.min(row.up_to_date);
    if row.up_to_date == row.desired && row.available == row.desired && unreachable.is_empty() {
        lines.push(format!(
            "complete: {} of {} updated hosts are available",
            available, row.desired
        ));
    } else if ds.spec.update_strategy.kind == UpdateStrategyType::OnDelete {
        lines.push(format!(
            "OnDelete: {} of {} hosts run the newest revision; `dsctl delete pod HOST {name}` replaces one",
            row.up_to_date, row.current
        ));
    } else {
        lines.push(format!(
            "in progress: {} of {} updated hosts are available",
            available, row.desired
        ));
    }
    if ext.paused {
        lines.push("paused until `dsctl rollout resume`".into());
    }
    if let Some(n) = ext.partition {
        lines.push(format!(
            "partition {n}: at most {n} hosts take a new revision until `dsctl rollout resume`"
        ));
    }
    if let Some(canary) = &ext.canary_selector {
        lines.push(format!(
            "canary {}: only those hosts take a new revision until `dsctl rollout resume`",
            format_selector(canary)
        ));
    }
    for (host, why) in unreachable {
        lines.push(format!("unreachable: {host}: {why}"));
    }
    lines
}

fn pod_template(out: &mut String, ds: &DaemonSet) {
    let meta = &ds.spec.template.metadata;
    let spec = ds.pod_spec();
    out.push_str("Pod Template:\n");
    let mut head = vec![("Labels", pairs(&meta.labels, "="))];
    if !meta.annotations.is_empty() {
        head.push(("Annotations", pairs(&meta.annotations, ": ")));
    }
    if spec.host_network {
        head.push(("Host Network", vec!["true".into()]));
    }
    if spec.host_pid {
        head.push(("Host PID", vec!["true".into()]));
    }
    block(out, 2, &head);
    if !spec.init_containers.is_empty() {
        out.push_str("  Init Containers:\n");
        for c in &spec.init_containers {
            container(out, c);
        }
    }
    out.push_str("  Containers:\n");
    for c in &spec.containers {
        container(out, c);
    }
    if spec.volumes.is_empty() {
        out.push_str("  Volumes:  <none>\n");
    } else {
        out.push_str("  Volumes:\n");
        for v in &spec.volumes {
            let _ = writeln!(out, "   {}:", v.name);
            block(out, 4, &volume(v));
        }
    }
    let tolerations: Vec<String> = spec
        .tolerations
        .iter()
        .map(|t| {
            let mut s = t.key.clone().unwrap_or_default();
            if let Some(v) = &t.value {
                s.push('=');
                s.push_str(v);
            }
            if let Some(e) = &t.effect {
                let _ = write!(s, ":{e:?}");
            }
            if t.operator == Some(TolerationOperator::Exists) {
                s.push_str(" op=Exists");
            }
            if let Some(secs) = t.toleration_seconds {
                let _ = write!(s, " for {secs}s");
            }
            s.trim().to_string()
        })
        .collect();
    block(
        out,
        2,
        &[
            ("Node-Selectors", pairs(&spec.node_selector, "=")),
            (
                "Tolerations",
                if tolerations.is_empty() {
                    vec!["<none>".into()]
                } else {
                    tolerations
                },
            ),
        ],
    );
}

/// One container as kubectl describes it; environment variables by name and source only
/// (a literal value may be a credential: dsctl has no Secrets yet).
fn container(out: &mut String, c: &Container) {
    let _ = writeln!(out, "   {}:", c.name);
    let ports = |host: bool| -> Vec<String> {
        let list: Vec<String> = c
            .ports
            .iter()
            .filter_map(|p| {
                let port = if host {
                    p.host_port()?
                } else {
                    p.container_port
                };
                Some(format!("{port}/{:?}", p.protocol))
            })
            .collect();
        if list.is_empty() {
            vec!["<none>".into()]
        } else {
            vec![list.join(", ")]
        }
    };
    let mut lines = vec![("Image", vec![c.image.clone()])];
    if let Some(policy) = c.image_pull_policy {
        lines.push(("Image Pull Policy", vec![format!("{policy:?}")]));
    }
    lines.push(("Port", ports(false)));
    lines.push(("Host Port", ports(true)));
    if !c.command.is_empty() {
        lines.push(("Command", c.command.clone()));
    }
    if !c.args.is_empty() {
        lines.push(("Args", c.args.clone()));
    }
    if let Some(resources) = &c.resources {
        for (key, map) in [
            ("Limits", &resources.limits),
            ("Requests", &resources.requests),
        ] {
            if !map.is_empty() {
                let values = map.iter().map(|(k, q)| format!("{k}: {}", q.0)).collect();
                lines.push((key, values));
            }
        }
    }
    for (key, probe) in [
        ("Liveness", &c.liveness_probe),
        ("Readiness", &c.readiness_probe),
        ("Startup", &c.startup_probe),
    ] {
        if let Some(p) = probe {
            lines.push((key, vec![probe_line(p)]));
        }
    }
    lines.push((
        "Environment",
        if c.env.is_empty() {
            vec!["<none>".into()]
        } else {
            c.env.iter().map(env_line).collect()
        },
    ));
    lines.push((
        "Mounts",
        if c.volume_mounts.is_empty() {
            vec!["<none>".into()]
        } else {
            c.volume_mounts.iter().map(mount_line).collect()
        },
    ));
    block(out, 4, &lines);
}

fn env_line(e: &EnvVar) -> String {
    let Some(from) = &e.value_from else {
        return e.name.clone();
    };
    if let Some(f) = &from.field_ref {
        let api = f.api_version.as_deref().unwrap_or("v1");
        return format!("{}  ({api}:{})", e.name, f.field_path);
    }
    if let Some(r) = &from.resource_field_ref {
        return format!("{}  ({})", e.name, r.resource);
    }
    e.name.clone()
}

/// `/data from data (rw)`, as kubectl prints a mount.
fn mount_line(m: &VolumeMount) -> String {
    let mut s = format!("{} from {}", m.mount_path, m.name);
    if let Some(sub) = m.sub_path.as_deref().or(m.sub_path_expr.as_deref()) {
        let _ = write!(s, " ({})", sub);
    }
    s.push_str(if m.read_only { " (ro)" } else { " (rw)" });
    s
}

/// kubectl's probe line: `http-get http://:8080/ delay=0s timeout=1s period=10s #success=1 #failure=3`.
fn probe_line(p: &Probe) -> String {
    let action = if let Some(h) = &p.http_get {
        let scheme = h.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
        format!(
            "http-get {scheme}://{}:{}{}",
            h.host.as_deref().unwrap_or(""),
            h.port,
            h.path
        )
    } else if let Some(t) = &p.tcp_socket {
        format!("tcp-socket {}:{}", t.host.as_deref().unwrap_or(""), t.port)
    } else if let Some(e) = &p.exec {
        format!("exec [{}]", e.command.join(" "))
    } else {
        "<unknown>".to_string()
    };
    format!(
        "{action} delay={}s timeout={}s period={}s #success={} #failure={}",
        p.initial_delay_seconds,
        p.timeout_seconds,
        p.period_seconds,
        p.success_threshold,
        p.failure_threshold
    )
}

fn volume(v: &Volume) -> Vec<(&'static str, Vec<String>)> {
    if let Some(h) = &v.host_path {
        return vec![
            ("Type", vec!["HostPath (bare host directory volume)".into()]),
            ("Path", vec![h.path.clone()]),
            ("HostPathType", vec![h.kind.clone().unwrap_or_default()]),
        ];
    }
    if let Some(e) = &v.empty_dir {
        return vec![
            (
                "Type",
                vec!["EmptyDir (a temporary directory that shares a pod's lifetime)".into()],
            ),
            ("Medium", vec![e.medium.clone().unwrap_or_default()]),
            (
                "SizeLimit",
                vec![
                    e.size_limit
                        .as_ref()
                        .map_or("<unset>".into(), |q| q.0.clone()),
                ],
            ),
        ];
    }
    if let Some(d) = &v.downward_api {
        let items = d.items.iter().map(|i| {
            let from = i
                .field_ref
                .as_ref()
                .map(|f| f.field_path.clone())
                .or_else(|| i.resource_field_ref.as_ref().map(|r| r.resource.clone()))
                .unwrap_or_default();
            format!("{from} -> {}", i.path)
        });
        return vec![
            (
                "Type",
                vec!["DownwardAPI (a volume populated by information about the pod)".into()],
            ),
            ("Items", items.collect()),
        ];
    }
    vec![("Type", vec!["<unknown>".into()])]
}

/// Per targeted host: whether it should run the DaemonSet, with explain's reasons, and what
/// it runs now.
fn placement(
    out: &mut String,
    report: Option<&DaemonSetReport>,
    pods: &[PodRow],
    unreachable: &[(&str, String)],
) {
    out.push_str("Placement:\n");
    let mut rows = Vec::new();
    let pod_cells = |host: &str| match pods.iter().find(|p| p.host == host) {
        Some(p) => (
            p.state.clone(),
            p.revision.clone().unwrap_or_else(|| "-".into()),
        ),
        None => ("-".into(), "-".into()),
    };
    let hosts: Vec<(&str, Option<bool>, Vec<String>)> = match report {
        Some(r) => r
            .hosts
            .iter()
            .map(|h| (h.host.as_str(), Some(h.should_run), h.reasons.clone()))
            .collect(),
        // No readable spec: what the hosts run, without a verdict.
        None => pods
            .iter()
            .map(|p| (p.host.as_str(), None, Vec::new()))
            .collect(),
    };
    for (host, run, reasons) in hosts {
        let (state, revision) = pod_cells(host);
        let mut reasons = reasons.into_iter();
        rows.push(vec![
            host.to_string(),
            match run {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "?".into(),
            },
            state,
            revision,
            reasons.next().unwrap_or_default(),
        ]);
        for more in reasons {
            rows.push(vec![
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                more,
            ]);
        }
    }
    for (host, why) in unreachable {
        rows.push(vec![
            host.to_string(),
            "?".into(),
            "unreachable".into(),
            "-".into(),
            why.clone(),
        ]);
    }
    for line in table(&["HOST", "RUN", "STATE", "REVISION", "REASON"], &rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
}

/// One event read from a host's record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    /// The host's Unix seconds; `None` for a state that has no recorded time.
    at: Option<u64>,
    age: String,
    warning: bool,
    reason: &'static str,
    host: String,
    message: String,
}

fn events(out: &mut String, name: &str, observed: &[(&Host, &Observation)]) {
    let mut all = Vec::new();
    for (host, obs) in observed {
        all.extend(host_events(name, host, obs));
    }
    // Oldest first, as kubectl lists them; states without a time (failures now) last.
    all.sort_by(|a, b| {
        (a.at.is_none(), a.at, &a.host, a.reason).cmp(&(b.at.is_none(), b.at, &b.host, b.reason))
    });
    let skip = all.len().saturating_sub(MAX_EVENTS);
    if all.is_empty() {
        out.push_str("Events:  <none>\n");
        return;
    }
    out.push_str("Events:\n");
    let mut rows: Vec<Vec<String>> = vec![
        ["----", "------", "---", "----", "-------"]
            .map(String::from)
            .to_vec(),
    ];
    for e in &all[skip..] {
        rows.push(vec![
            if e.warning { "Warning" } else { "Normal" }.into(),
            e.reason.into(),
            e.age.clone(),
            e.host.clone(),
            e.message.clone(),
        ]);
    }
    for line in table(&["Type", "Reason", "Age", "From", "Message"], &rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
}

fn host_events(name: &str, host: &Host, obs: &Observation) -> Vec<Event> {
    let Some(record) = obs.daemonsets.get(name) else {
        return Vec::new();
    };
    let event = |at: Option<u64>, warning, reason, message: String| Event {
        at,
        age: at.map_or_else(|| "<unknown>".into(), |t| age(obs.now.saturating_sub(t))),
        warning,
        reason,
        host: host.name.clone(),
        message,
    };
    let cause = |c: &str| {
        if c.is_empty() {
            String::new()
        } else {
            format!(": {c}")
        }
    };
    let mut events = Vec::new();
    if record.created > 0 {
        events.push(event(
            Some(record.created),
            false,
            "Installed",
            format!("{name} first installed on {}", host.name),
        ));
    }
    for (revision, entry) in &record.history {
        if entry.recorded > 0 {
            events.push(event(
                Some(entry.recorded),
                false,
                "RevisionRecorded",
                format!(
                    "revision {} ({revision}){}",
                    entry.number,
                    cause(&entry.cause)
                ),
            ));
        }
    }
    if let Some(revision) = &record.revision
        && record.updated > 0
    {
        events.push(event(
            Some(record.updated),
            false,
            "RevisionRecorded",
            format!(
                "revision {} ({revision}) is current{}",
                record.number,
                cause(&record.cause)
            ),
        ));
    }
    if let Some(why) = &record.halted {
        events.push(event(None, true, "RolloutHalted", why.trim().to_string()));
    }
    for file in record.units.keys() {
        let service = service_name(file);
        let Some(unit) = obs.units.get(&service) else {
            events.push(event(
                None,
                true,
                "UnitMissing",
                format!("{service} is not loaded (its unit file is gone)"),
            ));
            continue;
        };
        if unit.active_state == "failed" {
            let mut message = format!("{service} failed");
            if let Some(code) = unit.exit_status {
                let _ = write!(message, " (exit code {code})");
            }
            if let Some(last) = unit.journal_tail.as_deref().and_then(|t| t.lines().last()) {
                let _ = write!(message, ": {last}");
            }
            events.push(event(None, true, "Failed", message));
        } else if unit.restarts > 0 {
            events.push(event(
                unit.active_since,
                true,
                "Restarted",
                format!("{service} restarted {} times", unit.restarts),
            ));
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{ContainerStatus, HistoryEntry, RecordedDaemonSet, UnitStatus};

    const SPEC: &str = r#"{"apiVersion":"apps/v1","kind":"DaemonSet",
        "metadata":{"name":"web","labels":{"app":"web","tier":"edge"},"annotations":{"team":"infra"}},
        "spec":{"selector":{"matchLabels":{"app":"web"}},
          "updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"50%"}},
          "template":{"metadata":{"labels":{"app":"web"}},
            "spec":{"nodeSelector":{"zone":"a"},
              "tolerations":[{"key":"dedicated","operator":"Equal","value":"web","effect":"NoSchedule"}],
              "volumes":[{"name":"data","hostPath":{"path":"/srv/data"}}],
              "initContainers":[{"name":"init","image":"busybox:1"}],
              "containers":[{"name":"web","image":"img:2","command":["httpd","-f"],
                "ports":[{"containerPort":8080,"hostPort":8700}],
                "resources":{"limits":{"memory":"64Mi"}},
                "readinessProbe":{"httpGet":{"path":"/","port":8080}},
                "env":[{"name":"TOKEN","value":"s3cret"},
                       {"name":"NODE","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}],
                "volumeMounts":[{"name":"data","mountPath":"/data","readOnly":true}]}]}}}}"#;

    fn host(name: &str, zone: &str) -> Host {
        Host {
            name: name.into(),
            address: format!("192.0.2.{}", name.len()),
            settings: Default::default(),
            labels: [("zone".to_string(), zone.to_string())].into(),
            taints: vec![],
        }
    }

    /// A host recording `web` at `revision` (number 2, revision 1 in its history), its
    /// container unit in `state`.
    fn obs(revision: &str, state: &str, halted: Option<&str>) -> Observation {
        let spec = serde_json::from_str::<serde_json::Value>(SPEC)
            .unwrap()
            .to_string();
        let instance = crate::layout::Instance::new("web", revision);
        let mut o = Observation {
            now: 10_000,
            ..Default::default()
        };
        let mut record = RecordedDaemonSet {
            revision: Some(revision.into()),
            created: 1_000,
            updated: 9_000,
            number: 2,
            cause: "image 2".into(),
            halted: halted.map(str::to_string),
            spec_json: Some(spec),
            ..Default::default()
        };
        record.history.insert(
            "aaaa".into(),
            HistoryEntry {
                number: 1,
                recorded: 1_000,
                ..Default::default()
            },
        );
        let unit_file = format!("{}.container", instance.container_name("web"));
        record.units.insert(unit_file, "x".into());
        o.daemonsets.insert("web".into(), record);
        o.units.insert(
            instance.container_service("web"),
            UnitStatus {
                active_state: state.into(),
                active_since: Some(9_500),
                exit_status: (state == "failed").then_some(3),
                journal_tail: (state == "failed").then(|| "starting\nbind: in use".into()),
                ..Default::default()
            },
        );
        o.containers.insert(
            instance.container_name("web"),
            ContainerStatus {
                state: "running".into(),
                id: Some("3f2a1b9c0d1e".into()),
                ..Default::default()
            },
        );
        o
    }

    #[test]
    fn describes_a_daemonset_in_kubectls_shape() {
        let (a, b, c) = (
            host("node-1", "a"),
            host("node-2", "a"),
            host("node-3", "b"),
        );
        let (oa, ob, oc) = (
            obs("bbbb", "active", None),
            obs("bbbb", "failed", None),
            Observation {
                now: 10_000,
                ..Default::default()
            },
        );
        let text = describe_daemonset(
            "web",
            &[(&a, &oa), (&b, &ob), (&c, &oc)],
            &[("node-4", "connection refused".to_string())],
        )
        .unwrap();
        let expected = "\
Name:           web
Selector:       app=web
Node-Selector:  zone=a
Labels:         app=web
                tier=edge
Annotations:    team: infra
Revision:       2 (bbbb)
Desired Number of Nodes Scheduled: 2
Current Number of Nodes Scheduled: 2
Number of Nodes Scheduled with Up-to-date Pods: 2
Number of Nodes Scheduled with Available Pods: 1
Number of Nodes Misscheduled: 0
Pods Status:  1 Running / 0 Waiting / 0 Succeeded / 1 Failed
Update Strategy:    RollingUpdate (maxUnavailable 50% = 1, maxSurge 0)
Min Ready Seconds:  0
Rollout:            in progress: 1 of 2 updated hosts are available
                    unreachable: node-4: connection refused
Pod Template:
  Labels:  app=web
  Init Containers:
   init:
    Image:        busybox:1
    Port:         <none>
    Host Port:    <none>
    Environment:  <none>
    Mounts:       <none>
  Containers:
   web:
    Image:        img:2
    Port:         8080/TCP
    Host Port:    8700/TCP
    Command:      httpd
                  -f
    Limits:       memory: 64Mi
    Readiness:    http-get http://:8080/ delay=0s timeout=1s period=10s #success=1 #failure=3
    Environment:  TOKEN
                  NODE  (v1:spec.nodeName)
    Mounts:       /data from data (ro)
  Volumes:
   data:
    Type:          HostPath (bare host directory volume)
    Path:          /srv/data
    HostPathType:
  Node-Selectors:  zone=a
  Tolerations:     dedicated=web:NoSchedule
";
        assert!(text.starts_with(expected), "got:\n{text}");
        assert!(!text.contains("s3cret"), "env values stay out: {text}");
        let placement = text.split("Placement:\n").nth(1).unwrap();
        let placement = placement.split("Events:").next().unwrap();
        let rows: Vec<Vec<&str>> = placement
            .lines()
            .map(|l| {
                l.split("   ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .collect();
        assert_eq!(rows[0], ["HOST", "RUN", "STATE", "REVISION", "REASON"]);
        assert_eq!(rows[1][..4], ["node-1", "yes", "running", "bbbb"]);
        assert_eq!(rows[2][..4], ["node-2", "yes", "failed", "bbbb"]);
        assert_eq!(rows[3][..4], ["node-3", "no", "-", "-"]);
        assert!(rows[3][4].contains("zone"), "{:?}", rows[3]);
        assert_eq!(
            rows[4],
            ["node-4", "?", "unreachable", "-", "connection refused"]
        );
    }

    #[test]
    fn events_come_from_the_records_oldest_first_then_failures() {
        let (a, b) = (host("node-1", "a"), host("node-2", "a"));
        let (oa, ob) = (
            obs("bbbb", "active", None),
            obs("bbbb", "failed", Some("readiness probe failed on :8080\n")),
        );
        let text = describe_daemonset("web", &[(&a, &oa), (&b, &ob)], &[]).unwrap();
        let events: Vec<&str> = text
            .split("Events:\n")
            .nth(1)
            .unwrap()
            .lines()
            .map(str::trim)
            .collect();
        let service = crate::layout::Instance::new("web", "bbbb").container_service("web");
        let want = [
            "Type      Reason             Age         From     Message".to_string(),
            "----      ------             ---         ----     -------".to_string(),
            "Normal    Installed          2h          node-1   web first installed on node-1".into(),
            "Normal    RevisionRecorded   2h          node-1   revision 1 (aaaa)".into(),
            "Normal    Installed          2h          node-2   web first installed on node-2".into(),
            "Normal    RevisionRecorded   2h          node-2   revision 1 (aaaa)".into(),
            "Normal    RevisionRecorded   16m         node-1   revision 2 (bbbb) is current: image 2".into(),
            "Normal    RevisionRecorded   16m         node-2   revision 2 (bbbb) is current: image 2".into(),
            format!("Warning   Failed             <unknown>   node-2   {service} failed (exit code 3): bind: in use"),
            "Warning   RolloutHalted      <unknown>   node-2   readiness probe failed on :8080".into(),
        ];
        assert_eq!(events, want);
        assert!(
            text.contains(
                "Rollout:            halted on node-2: readiness probe failed on :8080\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn on_delete_and_partition_say_what_holds_the_rollout() {
        let spec = SPEC
            .replace(
                r#"{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"50%"}}"#,
                r#"{"type":"OnDelete"}"#,
            )
            .replace(
                r#""kind":"DaemonSet","#,
                r#""kind":"DaemonSet","dsctl":{"partition":1},"#,
            );
        let a = host("node-1", "a");
        let b = host("node-2", "a");
        let mut oa = obs("bbbb", "active", None);
        let ob = obs("bbbb", "active", None);
        let rec = oa.daemonsets.get_mut("web").unwrap();
        rec.spec_json = Some(spec);
        rec.number = 3;
        rec.revision = Some("cccc".into());
        let text = describe_daemonset("web", &[(&a, &oa), (&b, &ob)], &[]).unwrap();
        assert!(text.contains("Update Strategy:    OnDelete\n"), "{text}");
        assert!(
            text.contains(
                "Rollout:            OnDelete: 1 of 2 hosts run the newest revision; `dsctl delete pod HOST web` replaces one\n                    partition 1: at most 1 hosts take a new revision until `dsctl rollout resume`\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_daemonset_no_host_records_is_none() {
        let a = host("node-1", "a");
        let oa = obs("bbbb", "active", None);
        assert_eq!(describe_daemonset("other", &[(&a, &oa)], &[]), None);
    }
}
