//! `dsctl explain`, end to end over the fixture specs and inventory in tests/fixtures/explain.
//!
//! The JSON shape is a contract with scripts: these tests pin its keys and types exactly, and
//! check the verdicts for nodeSelector, NoSchedule, NoExecute, tolerations and the taints the
//! DaemonSet controller tolerates on its own.

use std::collections::BTreeSet;
use std::path::PathBuf;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/explain")
        .join(name)
}

fn explain(extra: &[&str]) -> assert_cmd::assert::Assert {
    cargo_bin_cmd!("dsctl")
        .arg("explain")
        .arg("-f")
        .arg(fixture("specs"))
        .arg("-i")
        .arg(fixture("inventory.toml"))
        .args(extra)
        .env_remove("DSCTL_INVENTORY")
        .assert()
}

fn json() -> Value {
    let output = explain(&["-o", "json"])
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&output).expect("stdout is JSON and nothing else")
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn json_has_exactly_the_documented_shape() {
    let report = json();
    assert_eq!(keys(&report), BTreeSet::from(["daemonsets"]));
    let daemonsets = report["daemonsets"].as_array().unwrap();
    assert_eq!(daemonsets.len(), 3);
    for ds in daemonsets {
        assert_eq!(
            keys(ds),
            BTreeSet::from([
                "name",
                "revision",
                "desired",
                "maxUnavailable",
                "maxSurge",
                "hosts"
            ])
        );
        assert!(ds["name"].is_string());
        let revision = ds["revision"].as_str().unwrap();
        assert_eq!(revision.len(), 10);
        assert!(revision.chars().all(|c| c.is_ascii_hexdigit()));
        for number in ["desired", "maxUnavailable", "maxSurge"] {
            assert!(ds[number].is_u64(), "{number} is a non-negative integer");
        }
        let hosts = ds["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 5);
        for host in hosts {
            assert_eq!(
                keys(host),
                BTreeSet::from(["host", "shouldRun", "shouldContinueRunning", "reasons"])
            );
            assert!(host["host"].is_string());
            assert!(host["shouldRun"].is_boolean());
            assert!(host["shouldContinueRunning"].is_boolean());
            let reasons = host["reasons"].as_array().unwrap();
            assert!(!reasons.is_empty(), "every verdict says why");
            assert!(reasons.iter().all(Value::is_string));
        }
        let should_run = hosts.iter().filter(|h| h["shouldRun"] == true).count();
        assert_eq!(
            ds["desired"], should_run,
            "desired counts the hosts that should run it"
        );
    }
}

/// (host, shouldRun, shouldContinueRunning) in inventory order.
fn verdicts(ds: &Value) -> Vec<(String, bool, bool)> {
    ds["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().to_string(),
                h["shouldRun"].as_bool().unwrap(),
                h["shouldContinueRunning"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn expect(rows: &[(&str, bool, bool)]) -> Vec<(String, bool, bool)> {
    rows.iter()
        .map(|(h, r, c)| (h.to_string(), *r, *c))
        .collect()
}

#[test]
fn verdicts_follow_kubernetes() {
    let report = json();
    let by_name = |name: &str| -> Value {
        report["daemonsets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|ds| ds["name"] == name)
            .unwrap_or_else(|| panic!("{name} is reported"))
            .clone()
    };

    // No selector, no tolerations: an untolerated NoSchedule taint stops new placement but
    // keeps a running instance, NoExecute evicts it, and the unschedulable taint (like every
    // node-condition taint) is tolerated by the DaemonSet controller's own tolerations.
    let agent = by_name("agent");
    assert_eq!(
        verdicts(&agent),
        expect(&[
            ("node-ssd", true, true),
            ("node-hdd", true, true),
            ("node-gpu", false, true),
            ("node-maintenance", false, false),
            ("node-cordoned", true, true),
        ])
    );
    assert_eq!(
        (
            &agent["desired"],
            &agent["maxUnavailable"],
            &agent["maxSurge"]
        ),
        (&3.into(), &1.into(), &0.into())
    );

    // nodeSelector disktype=ssd; taints still apply on the selected hosts.
    let ssd = by_name("ssd-cache");
    assert_eq!(
        verdicts(&ssd),
        expect(&[
            ("node-ssd", true, true),
            ("node-hdd", false, false),
            ("node-gpu", false, true),
            ("node-maintenance", false, false),
            ("node-cordoned", false, false),
        ])
    );
    // 50% of 1 desired host, rounded up.
    assert_eq!(
        (&ssd["desired"], &ssd["maxUnavailable"], &ssd["maxSurge"]),
        (&1.into(), &1.into(), &0.into())
    );

    // Tolerates both taints: runs everywhere.
    let tolerant = by_name("tolerant");
    assert!(
        verdicts(&tolerant)
            .iter()
            .all(|(_, run, keep)| *run && *keep)
    );
    // maxUnavailable 30% of 5 hosts rounds up to 2, as the DaemonSet controller does.
    assert_eq!(
        (
            &tolerant["desired"],
            &tolerant["maxUnavailable"],
            &tolerant["maxSurge"]
        ),
        (&5.into(), &2.into(), &0.into())
    );
}

#[test]
fn reasons_name_the_deciding_facts() {
    let report = json();
    let reasons = |ds: usize, host: usize| -> Vec<String> {
        report["daemonsets"][ds]["hosts"][host]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect()
    };
    // ssd-cache on node-hdd.
    assert!(
        reasons(1, 1).contains(
            &"nodeSelector disktype=ssd does not match (host has disktype=hdd)".to_string()
        )
    );
    // agent on node-gpu and node-maintenance.
    assert!(
        reasons(0, 2).contains(
            &"taint dedicated=gpu:NoSchedule is not tolerated: no new placement, a running instance stays".to_string()
        )
    );
    assert!(reasons(0, 3).contains(
        &"taint maintenance:NoExecute is not tolerated: a running instance is evicted".to_string()
    ));
    // tolerant on node-gpu.
    assert!(
        reasons(2, 2).contains(
            &"taint dedicated=gpu:NoSchedule is tolerated by toleration dedicated=gpu:NoSchedule"
                .to_string()
        )
    );
}

#[test]
fn table_is_the_default_output() {
    let table = explain(&[]).success().get_output().stdout.clone();
    let table = String::from_utf8(table).unwrap();
    assert_eq!(
        table,
        String::from_utf8(
            explain(&["-o", "table"])
                .success()
                .get_output()
                .stdout
                .clone()
        )
        .unwrap()
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "DAEMONSET  REVISION    DESIRED  MAX-UNAVAILABLE  MAX-SURGE"
    );
    assert!(lines[1].starts_with("agent "));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("DAEMONSET  HOST") && l.ends_with("REASONS"))
    );
    let gpu = lines
        .iter()
        .find(|l| l.starts_with("agent ") && l.contains(" node-gpu "))
        .expect("a row for agent on node-gpu");
    let cells: Vec<&str> = gpu.split_whitespace().collect();
    assert_eq!(&cells[..4], ["agent", "node-gpu", "no", "yes"]);
}

#[test]
fn spec_files_can_be_named_one_by_one() {
    let output = cargo_bin_cmd!("dsctl")
        .args(["explain", "-o", "json", "-f"])
        .arg(fixture("specs/ssd-cache.toml"))
        .arg("-f")
        .arg(fixture("specs/agent.toml"))
        .arg("-i")
        .arg(fixture("inventory.toml"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&output).unwrap();
    let names: Vec<&str> = report["daemonsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ds| ds["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ssd-cache", "agent"]);
}

#[test]
fn an_invalid_spec_exits_2_and_says_where() {
    cargo_bin_cmd!("dsctl")
        .args(["explain", "-o", "json", "-f"])
        .arg(fixture("bad-spec.toml"))
        .arg("-i")
        .arg(fixture("inventory.toml"))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("bad-spec.toml"));
}

#[test]
fn a_missing_inventory_exits_2() {
    cargo_bin_cmd!("dsctl")
        .arg("explain")
        .arg("-f")
        .arg(fixture("specs"))
        .arg("-i")
        .arg(fixture("no-such-inventory.toml"))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("no-such-inventory.toml"));
}

/// Placement does not depend on the containers: a spec whose container fields are invalid is
/// still explained, with the problems as warnings.
#[test]
fn invalid_container_fields_only_warn() {
    let dir = tempfile::TempDir::new().unwrap();
    let spec = dir.path().join("broken-container.toml");
    std::fs::write(
        &spec,
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "broken"
[spec.selector.matchLabels]
app = "broken"
[spec.template.metadata.labels]
app = "broken"
[[spec.template.spec.containers]]
name = "c"
image = "localhost/c:1"
securityContext = { procMount = "Sideways" }
"#,
    )
    .unwrap();
    let out = cargo_bin_cmd!("dsctl")
        .args(["explain", "-o", "json", "-f"])
        .arg(&spec)
        .arg("-i")
        .arg(fixture("inventory.toml"))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: spec.template.spec.containers[0].securityContext.procMount",
        ))
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["daemonsets"][0]["name"], "broken");
    // A broken placement field still stops explain.
    std::fs::write(
        &spec,
        std::fs::read_to_string(&spec)
            .unwrap()
            .replace("[[spec.template.spec.containers]]", "[spec.template.spec]\nnodeSelector = { \"bad key!\" = \"x\" }\n[[spec.template.spec.containers]]"),
    )
    .unwrap();
    cargo_bin_cmd!("dsctl")
        .args(["explain", "-f"])
        .arg(&spec)
        .arg("-i")
        .arg(fixture("inventory.toml"))
        .assert()
        .code(2);
}
