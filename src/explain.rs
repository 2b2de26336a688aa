//! `dsctl explain`: for each DaemonSet and host, whether it runs there and why. Pure: the
//! report is built from the specs and hosts, then printed as JSON or as a table.
//!
//! The JSON shape is a contract that scripts rely on:
//! `{"daemonsets":[{"name","revision","desired","maxUnavailable","maxSurge",
//! "hosts":[{"host","shouldRun","shouldContinueRunning","reasons":[…]}]}]}`.

use serde::Serialize;
use thiserror::Error;

use crate::daemonset::DaemonSet;
use crate::eligibility::node_affinity::required_terms;
use crate::eligibility::node_should_run_daemon_pod;
use crate::inventory::Host;
use crate::labels::{ARCH_LABEL, OS_LABEL};
use crate::revision::revision;
use crate::rollout_math::{BudgetError, resolve_budget};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExplainReport {
    pub daemonsets: Vec<DaemonSetReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetReport {
    pub name: String,
    pub revision: String,
    /// Hosts where shouldRun holds: what the rollout budget is resolved against.
    pub desired: usize,
    pub max_unavailable: usize,
    pub max_surge: usize,
    pub hosts: Vec<HostReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostReport {
    pub host: String,
    pub should_run: bool,
    pub should_continue_running: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("DaemonSet {daemonset}: {source}")]
pub struct ExplainError {
    pub daemonset: String,
    pub source: BudgetError,
}

/// The report for `daemonsets` over `hosts`, both in the order given.
pub fn explain(daemonsets: &[DaemonSet], hosts: &[Host]) -> Result<ExplainReport, ExplainError> {
    let daemonsets = daemonsets
        .iter()
        .map(|ds| {
            let hosts: Vec<HostReport> = hosts
                .iter()
                .map(|host| {
                    let mut e = node_should_run_daemon_pod(ds, host);
                    e.reasons.extend(unobserved_labels(ds, host));
                    HostReport {
                        host: host.name.clone(),
                        should_run: e.should_run,
                        should_continue_running: e.should_continue_running,
                        reasons: e.reasons,
                    }
                })
                .collect();
            let desired = hosts.iter().filter(|h| h.should_run).count();
            let budget = resolve_budget(&ds.spec.update_strategy, desired).map_err(|source| {
                ExplainError {
                    daemonset: ds.name().to_string(),
                    source,
                }
            })?;
            Ok(DaemonSetReport {
                name: ds.name().to_string(),
                revision: revision(ds),
                desired,
                max_unavailable: budget.max_unavailable,
                max_surge: budget.max_surge,
                hosts,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(ExplainReport { daemonsets })
}

/// A caveat for each well-known label the verdict depends on (nodeSelector or required node
/// affinity) that explain, which does not connect, has not observed: `apply` reads
/// `kubernetes.io/arch` and `kubernetes.io/os` from the host unless the inventory pins them.
fn unobserved_labels(ds: &DaemonSet, host: &Host) -> Vec<String> {
    let spec = ds.pod_spec();
    let mut keys: Vec<&str> = spec.node_selector.keys().map(String::as_str).collect();
    if let Some(required) = required_terms(spec) {
        for term in &required.node_selector_terms {
            keys.extend(term.match_expressions.iter().map(|r| r.key.as_str()));
        }
    }
    [
        (ARCH_LABEL, "it is not known offline (apply reads uname -m on the host)"),
        (
            OS_LABEL,
            "it is taken as linux offline (apply reads uname -s on the host)",
        ),
    ]
    .into_iter()
    .filter(|(label, _)| keys.contains(label) && !host.labels.contains_key(*label))
    .map(|(label, how)| {
        format!(
            "this verdict depends on {label}, which the inventory does not pin for {}: {how}, so apply may decide otherwise",
            host.name
        )
    })
    .collect()
}

/// Two aligned tables: one line per DaemonSet with its revision and budget, then one row
/// per DaemonSet and host with each reason on a line of its own.
pub fn render_table(report: &ExplainReport) -> String {
    if report.daemonsets.is_empty() {
        return "No DaemonSets.\n".to_string();
    }
    let mut summary = vec![row(&[
        "DAEMONSET",
        "REVISION",
        "DESIRED",
        "MAX-UNAVAILABLE",
        "MAX-SURGE",
    ])];
    for ds in &report.daemonsets {
        summary.push(vec![
            ds.name.clone(),
            ds.revision.clone(),
            ds.desired.to_string(),
            ds.max_unavailable.to_string(),
            ds.max_surge.to_string(),
        ]);
    }
    let mut hosts = vec![row(&["DAEMONSET", "HOST", "RUN", "CONTINUE", "REASONS"])];
    for ds in &report.daemonsets {
        for host in &ds.hosts {
            let mut reasons = host.reasons.iter();
            hosts.push(vec![
                ds.name.clone(),
                host.host.clone(),
                yes_no(host.should_run),
                yes_no(host.should_continue_running),
                reasons.next().cloned().unwrap_or_default(),
            ]);
            for reason in reasons {
                hosts.push(vec![
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    reason.clone(),
                ]);
            }
        }
    }
    format!("{}\n{}", aligned(&summary), aligned(&hosts))
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// Columns padded to their widest cell (in characters), two spaces apart, no trailing
/// spaces.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                let pad = widths[c] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::InventoryFile;

    const SPECS: [&str; 2] = [
        r#"
apiVersion = "apps/v1"
kind = "DaemonSet"
metadata = { name = "agent" }
[spec.selector.matchLabels]
app = "agent"
[spec.template.metadata.labels]
app = "agent"
[[spec.template.spec.containers]]
name = "agent"
image = "example.org/agent:1"
"#,
        r#"
apiVersion = "apps/v1"
kind = "DaemonSet"
metadata = { name = "ssd-only" }
[spec.selector.matchLabels]
app = "ssd-only"
[spec.updateStrategy]
rollingUpdate = { maxUnavailable = 0, maxSurge = "50%" }
[spec.template.metadata.labels]
app = "ssd-only"
[spec.template.spec]
nodeSelector = { disktype = "ssd" }
[[spec.template.spec.containers]]
name = "main"
image = "example.org/ssd:1"
"#,
    ];

    const INVENTORY: &str = r#"
[[hosts]]
name = "node-1"
address = "192.0.2.1"
labels = { disktype = "ssd" }
[[hosts]]
name = "node-2"
address = "192.0.2.2"
labels = { disktype = "hdd" }
[[hosts]]
name = "node-3"
address = "192.0.2.3"
labels = { disktype = "ssd" }
taints = [{ key = "dedicated", value = "db", effect = "NoExecute" }]
"#;

    fn report() -> ExplainReport {
        let specs: Vec<DaemonSet> = SPECS.iter().map(|s| toml::from_str(s).unwrap()).collect();
        let inventory: InventoryFile = toml::from_str(INVENTORY).unwrap();
        explain(&specs, &inventory.hosts()).unwrap()
    }

    #[test]
    fn counts_desired_hosts_and_resolves_the_budget() {
        let report = report();
        let verdicts = |ds: &DaemonSetReport| -> Vec<(String, bool, bool)> {
            ds.hosts
                .iter()
                .map(|h| (h.host.clone(), h.should_run, h.should_continue_running))
                .collect()
        };
        let agent = &report.daemonsets[0];
        assert_eq!((agent.name.as_str(), agent.desired), ("agent", 2));
        assert_eq!((agent.max_unavailable, agent.max_surge), (1, 0));
        assert_eq!(
            verdicts(agent),
            vec![
                ("node-1".into(), true, true),
                ("node-2".into(), true, true),
                ("node-3".into(), false, false)
            ]
        );
        let ssd = &report.daemonsets[1];
        assert_eq!(ssd.desired, 1);
        // 50% of 1 desired host, rounded up.
        assert_eq!((ssd.max_unavailable, ssd.max_surge), (0, 1));
        assert_eq!(
            verdicts(ssd),
            vec![
                ("node-1".into(), true, true),
                ("node-2".into(), false, false),
                ("node-3".into(), false, false)
            ]
        );
        assert_eq!(agent.revision.len(), 10);
        assert_ne!(agent.revision, ssd.revision);
    }

    /// A verdict on kubernetes.io/arch or kubernetes.io/os says that explain has not observed
    /// it, unless the inventory pins it.
    #[test]
    fn verdicts_on_unobserved_well_known_labels_say_so() {
        let spec: DaemonSet = toml::from_str(
            &SPECS[1].replace(
                "nodeSelector = { disktype = \"ssd\" }",
                "nodeSelector = { \"kubernetes.io/arch\" = \"arm64\" }\naffinity = { nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms = [{ matchExpressions = [{ key = \"kubernetes.io/os\", operator = \"In\", values = [\"linux\"] }] }] } } }",
            ),
        )
        .unwrap();
        let inventory: InventoryFile = toml::from_str(
            r#"
[[hosts]]
name = "pi"
address = "192.0.2.1"
labels = { "kubernetes.io/arch" = "arm64" }
[[hosts]]
name = "box"
address = "192.0.2.2"
"#,
        )
        .unwrap();
        let report = explain(&[spec], &inventory.hosts()).unwrap();
        let hosts = &report.daemonsets[0].hosts;
        assert!(hosts[0].should_run);
        let caveats = |h: &HostReport| -> Vec<String> {
            h.reasons
                .iter()
                .filter(|r| r.contains("does not pin"))
                .cloned()
                .collect()
        };
        assert_eq!(caveats(&hosts[0]).len(), 1, "{:?}", hosts[0].reasons);
        assert!(caveats(&hosts[0])[0].contains("kubernetes.io/os"));
        assert!(!hosts[1].should_run);
        let box_caveats = caveats(&hosts[1]);
        assert_eq!(box_caveats.len(), 2, "{box_caveats:?}");
        assert!(
            box_caveats[0].contains("kubernetes.io/arch") && box_caveats[0].contains("uname -m")
        );
        // A DaemonSet that does not select on them gets no caveat.
        assert!(report_has_no_caveats(&self::report()));
    }

    fn report_has_no_caveats(report: &ExplainReport) -> bool {
        report
            .daemonsets
            .iter()
            .flat_map(|d| &d.hosts)
            .flat_map(|h| &h.reasons)
            .all(|r| !r.contains("does not pin"))
    }

    #[test]
    fn json_has_exactly_the_documented_shape() {
        let json = serde_json::to_value(report()).unwrap();
        let object_keys = |v: &serde_json::Value| -> Vec<String> {
            let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(object_keys(&json), ["daemonsets"]);
        let ds = &json["daemonsets"][0];
        assert_eq!(
            object_keys(ds),
            [
                "desired",
                "hosts",
                "maxSurge",
                "maxUnavailable",
                "name",
                "revision"
            ]
        );
        assert!(ds["desired"].is_u64() && ds["maxSurge"].is_u64() && ds["maxUnavailable"].is_u64());
        assert!(ds["name"].is_string() && ds["revision"].is_string());
        let host = &ds["hosts"][0];
        assert_eq!(
            object_keys(host),
            ["host", "reasons", "shouldContinueRunning", "shouldRun"]
        );
        assert!(host["shouldRun"].is_boolean() && host["shouldContinueRunning"].is_boolean());
        assert!(
            host["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r.is_string())
        );
    }

    #[test]
    fn table_is_aligned_and_lists_every_reason() {
        let table = render_table(&report());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "DAEMONSET  REVISION    DESIRED  MAX-UNAVAILABLE  MAX-SURGE"
        );
        assert!(
            lines[1].starts_with("agent      ")
                && lines[1].ends_with("2        1                0")
        );
        assert!(
            lines.iter().all(|l| l.trim_end() == *l),
            "no trailing spaces"
        );
        let header = lines
            .iter()
            .position(|l| l.starts_with("DAEMONSET  HOST"))
            .unwrap();
        let reasons_at = lines[header].find("REASONS").unwrap();
        assert_eq!(
            lines[header + 1],
            format!(
                "{:<reasons_at$}{}",
                "agent      node-1  yes  yes",
                "no nodeName, nodeSelector or required node affinity: every host qualifies"
            )
        );
        // node-3 of ssd-only: one row, then its second reason alone under REASONS.
        let node3 = lines
            .iter()
            .position(|l| l.starts_with("ssd-only   node-3  no   no"))
            .unwrap();
        assert_eq!(
            &lines[node3][reasons_at..],
            "nodeSelector disktype=ssd matches"
        );
        assert_eq!(
            lines[node3 + 1],
            format!(
                "{:reasons_at$}taint dedicated=db:NoExecute is not tolerated: a running instance is evicted",
                ""
            )
        );
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(
            render_table(&explain(&[], &[]).unwrap()),
            "No DaemonSets.\n"
        );
        let spec: DaemonSet = toml::from_str(SPECS[0]).unwrap();
        let report = explain(&[spec], &[]).unwrap();
        let ds = &report.daemonsets[0];
        // No host wants it: the budget stays 1/0 as the API server defaults say.
        assert_eq!((ds.desired, ds.max_unavailable, ds.max_surge), (0, 1, 0));
    }

    #[test]
    fn a_malformed_budget_names_the_daemonset() {
        let mut spec: DaemonSet = toml::from_str(SPECS[1]).unwrap();
        spec.spec
            .update_strategy
            .rolling_update
            .as_mut()
            .unwrap()
            .max_surge = Some(crate::int_or_string::IntOrString::String("lots".into()));
        let err = explain(&[spec], &[]).unwrap_err();
        assert_eq!(err.daemonset, "ssd-only");
        assert!(
            err.to_string()
                .starts_with("DaemonSet ssd-only: invalid value for maxSurge")
        );
    }
}
