//! `apply::run` driven in process against fake hosts (`fake.rs`) that fail, hang, drop the
//! connection or are killed at every step of their script: budgets, outcomes, exit codes and
//! deadlines, under tokio's paused clock (a 600 s deadline passes in no real time).

mod fake;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dsctl::apply::{self, Desired, HostRun, Outcome, Settings};
use dsctl::daemonset::DaemonSet;
use dsctl::inventory::Host;
use dsctl::layout::DAEMONSETS_DIR;
use dsctl::render::Templates;
use fake::{FakeHost, Fault, Kind, Rule, Shared};

const NAME: &str = "sc-web";

fn spec(image: &str, dsctl: &str) -> DaemonSet {
    toml::from_str(&format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
metadata = {{ name = "{NAME}" }}
[spec.selector.matchLabels]
app = "sc-web"
[spec.template.metadata.labels]
app = "sc-web"
[[spec.template.spec.containers]]
name = "web"
image = "{image}"
{dsctl}
"#
    ))
    .unwrap()
}

fn rev(ds: &DaemonSet) -> String {
    dsctl::revision::revision(ds)
}

fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("node-{i}")).collect()
}

fn hosts(names: &[String]) -> Vec<Host> {
    names
        .iter()
        .map(|n| Host {
            name: n.clone(),
            address: "192.0.2.1".into(),
            settings: Default::default(),
            labels: Default::default(),
            taints: vec![],
        })
        .collect()
}

fn settings() -> Settings {
    Settings {
        parallel: 8,
        lock_timeout_secs: 60,
        holder: "driver test".into(),
        dry_run: false,
        prune: false,
        full_observe: false,
        restart: None,
        progress: Arc::new(dsctl::progress::Silent),
        max_unreachable: None,
        lift_halt: None,
        keep_sessions: apply::KEEP_CHANGED,
    }
}

fn fleet(n: usize) -> (Shared, Vec<Host>) {
    let names = names(n);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    (fake::world(&refs), hosts(&names))
}

async fn apply_to(world: &Shared, hosts: &[Host], specs: &[DaemonSet]) -> Vec<HostRun> {
    let templates = Templates::embedded();
    let desired = Desired::Specs {
        specs,
        templates: &templates,
    };
    let world = world.clone();
    apply::run(hosts, &desired, &settings(), move |h: Host| {
        let host = FakeHost {
            name: h.name,
            world: world.clone(),
        };
        async move { Ok::<_, String>(host) }
    })
    .await
}

fn outcome<'a>(runs: &'a [HostRun], host: &str) -> &'a Outcome {
    &runs.iter().find(|r| r.host == host).unwrap().outcome
}

/// What the run says of the scripts it found left behind on the host.
fn left_notes(run: &HostRun) -> Vec<String> {
    run.observation
        .iter()
        .flat_map(|o| &o.left_runs)
        .map(dsctl::detached::note)
        .collect()
}

fn recorded(world: &Shared, host: &str) -> Option<String> {
    let w = world.lock().unwrap();
    w.hosts[host]
        .fs
        .get(&format!("{DAEMONSETS_DIR}/{NAME}/revision"))
        .map(|r| r.trim().to_string())
}

fn execs(world: &Shared, host: &str) -> Vec<Kind> {
    world.lock().unwrap().hosts[host].execs.clone()
}

fn fault(world: &Shared, host: &str, kind: Kind, fault: Fault) {
    let mut w = world.lock().unwrap();
    let h = w.hosts.get_mut(host).unwrap();
    let nth = h.execs.iter().filter(|k| **k == kind).count();
    h.rules.push(Rule { kind, nth, fault });
}

fn clear_faults(world: &Shared) {
    for h in world.lock().unwrap().hosts.values_mut() {
        h.rules.clear();
    }
}

fn max_down(world: &Shared) -> usize {
    world
        .lock()
        .unwrap()
        .max_down
        .get(NAME)
        .copied()
        .unwrap_or(0)
}

fn max_on(world: &Shared, revision: &str) -> usize {
    world
        .lock()
        .unwrap()
        .max_on
        .get(revision)
        .copied()
        .unwrap_or(0)
}

fn reset_observer(world: &Shared) {
    let mut w = world.lock().unwrap();
    w.max_down.clear();
    w.max_on.clear();
}

/// Installs `ds` on every host and checks it converged.
async fn installed(n: usize, ds: &DaemonSet) -> (Shared, Vec<Host>) {
    let (world, hosts) = fleet(n);
    let runs = apply_to(&world, &hosts, std::slice::from_ref(ds)).await;
    assert_eq!(dsctl::report::exit_code(&runs), 0, "{runs:#?}");
    for h in &hosts {
        assert_eq!(recorded(&world, &h.name), Some(rev(ds)));
    }
    reset_observer(&world);
    (world, hosts)
}

#[tokio::test(start_paused = true)]
async fn an_install_converges_and_the_next_run_is_one_exec_per_host_with_no_probe() {
    let v1 = spec("img:1", "");
    let (world, hosts) = installed(4, &v1).await;
    let before: Vec<usize> = hosts.iter().map(|h| execs(&world, &h.name).len()).collect();
    let runs = apply_to(&world, &hosts, std::slice::from_ref(&v1)).await;
    assert!(
        runs.iter().all(|r| r.outcome == Outcome::Unchanged),
        "{runs:#?}"
    );
    assert_eq!(dsctl::report::exit_code(&runs), 0);
    for (h, before) in hosts.iter().zip(before) {
        assert_eq!(
            execs(&world, &h.name)[before..],
            [Kind::Observe],
            "{}",
            h.name
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_update_rolls_one_host_at_a_time_and_probes_only_in_sync_hosts() {
    let (v1, v2) = (spec("img:1", ""), spec("img:2", ""));
    let (world, hosts) = installed(4, &v1).await;
    let before: Vec<usize> = hosts.iter().map(|h| execs(&world, &h.name).len()).collect();
    let runs = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
    assert_eq!(dsctl::report::exit_code(&runs), 0, "{runs:#?}");
    for h in &hosts {
        assert_eq!(recorded(&world, &h.name), Some(rev(&v2)));
        assert_eq!(outcome(&runs, &h.name), &Outcome::Changed);
    }
    assert_eq!(max_down(&world), 1, "maxUnavailable 1");
    // Nothing was in sync when the budget was computed: no host was probed before its update
    // (each probe follows its own script: the gate).
    for (h, before) in hosts.iter().zip(before) {
        let kinds = execs(&world, &h.name)[before..].to_vec();
        let script = kinds.iter().rposition(|k| *k == Kind::Script).unwrap();
        assert!(
            !kinds[..script].contains(&Kind::Probe),
            "{}: {kinds:?}",
            h.name
        );
    }
}

/// Issue 12, item 1: five applies of a revision that never becomes ready; at most one host
/// (one wave's budget) ever runs it, every run fails, and the rollout stays halted.
#[tokio::test(start_paused = true)]
async fn a_failing_revision_applied_five_times_is_never_on_more_than_one_host() {
    let v1 = spec("img:1", "");
    let bad = spec("img:bad", "[dsctl]\nprogressDeadlineSeconds = 20");
    let (world, hosts) = installed(4, &v1).await;
    for h in world.lock().unwrap().hosts.values_mut() {
        h.unready.insert(rev(&bad));
    }
    for round in 1..=5 {
        let runs = apply_to(&world, &hosts, std::slice::from_ref(&bad)).await;
        assert_eq!(
            dsctl::report::exit_code(&runs),
            1,
            "round {round}: {runs:#?}"
        );
        let on_bad = hosts
            .iter()
            .filter(|h| recorded(&world, &h.name) == Some(rev(&bad)))
            .count();
        assert_eq!(on_bad, 1, "round {round}");
        let halted = runs
            .iter()
            .filter(|r| matches!(&r.outcome, Outcome::Halted(why) if why.contains("halted")))
            .count();
        assert_eq!(halted, 3, "round {round}: {runs:#?}");
    }
    assert_eq!(max_on(&world, &rev(&bad)), 1);
    assert_eq!(max_down(&world), 1);
}

/// Issue 12, item 1: a host that runs the new revision in sync but stopped being ready counts
/// against the budget (probed once, through its connection); once it is ready again the
/// rollout goes on.
#[tokio::test(start_paused = true)]
async fn an_in_sync_host_that_is_not_ready_holds_the_rollout() {
    let (v1, v2) = (spec("img:1", ""), spec("img:2", ""));
    let (world, hosts) = installed(4, &v1).await;
    let runs = apply_to(&world, &hosts[..1], std::slice::from_ref(&v2)).await;
    assert_eq!(dsctl::report::exit_code(&runs), 0, "{runs:#?}");
    world
        .lock()
        .unwrap()
        .hosts
        .get_mut("node-1")
        .unwrap()
        .unready
        .insert(rev(&v2));
    let before = execs(&world, "node-1").len();
    let runs = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
    assert_eq!(
        execs(&world, "node-1")[before..],
        [Kind::Observe, Kind::Probe],
        "node-1 is probed once"
    );
    for h in &hosts[1..] {
        assert_eq!(recorded(&world, &h.name), Some(rev(&v1)), "{} held", h.name);
        let plan = runs
            .iter()
            .find(|r| r.host == h.name)
            .unwrap()
            .plan
            .as_ref();
        let notes = plan.unwrap().notes.join("\n");
        assert!(
            notes.contains("held back") && notes.contains("node-1 (not ready: container web"),
            "{notes}"
        );
    }
    world
        .lock()
        .unwrap()
        .hosts
        .get_mut("node-1")
        .unwrap()
        .unready
        .clear();
    let runs = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
    assert_eq!(dsctl::report::exit_code(&runs), 0, "{runs:#?}");
    for h in &hosts {
        assert_eq!(recorded(&world, &h.name), Some(rev(&v2)));
    }
}

/// The host script stopped after each of its steps (the host crashed under it: the exec's
/// connection closes), then a rerun: every rerun repairs what the script left half-done, and
/// an outside observer never saw more than maxUnavailable hosts down.
#[tokio::test(start_paused = true)]
async fn crashed_at_every_step_of_the_script_a_rerun_converges_within_the_budget() {
    let (v1, v2) = (spec("img:1", ""), spec("img:2", ""));
    let mut cut = 0;
    for step in 0.. {
        let (world, hosts) = installed(3, &v1).await;
        fault(&world, "node-1", Kind::Script, Fault::Crash(step));
        let first = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
        clear_faults(&world);
        let finished = dsctl::report::exit_code(&first) == 0;
        let runs = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
        if !finished {
            assert!(
                runs.iter().any(|r| left_notes(r)
                    .iter()
                    .any(|n| n.contains("was killed before it finished"))),
                "step {step}: the rerun says the script was stopped: {runs:#?}"
            );
        }
        assert_eq!(dsctl::report::exit_code(&runs), 0, "step {step}: {runs:#?}");
        for h in &hosts {
            assert_eq!(recorded(&world, &h.name), Some(rev(&v2)), "step {step}");
        }
        assert!(max_down(&world) <= 1, "step {step}: {}", max_down(&world));
        let again = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
        assert!(
            again.iter().all(|r| r.outcome == Outcome::Unchanged),
            "step {step}: {again:#?}"
        );
        if finished {
            break;
        }
        cut += 1;
    }
    eprintln!("the script was cut after each of its {cut} steps; every rerun converged");
    // An update's script: 2 removals, 2 writes, 2 starts, the record's 4 writes and record.
    assert!(cut >= 8, "the script was cut at {cut} steps only");
}

/// dsctl killed (the exec never answers, the run is dropped) or the connection dropped after
/// each step of the host script: the detached script finishes on the host all the same, and
/// the rerun finds the host converged, changes nothing there, and says what the left script
/// did; its files are removed once reported.
#[tokio::test(start_paused = true)]
async fn a_script_cut_off_from_dsctl_finishes_and_the_rerun_finds_the_host_converged() {
    let (v1, v2) = (spec("img:1", ""), spec("img:2", ""));
    for step in [0, 2, 5, 8] {
        for fault_of in [Fault::Kill, Fault::Drop] {
            let (world, hosts) = installed(3, &v1).await;
            fault(&world, "node-1", Kind::Script, fault_of(step));
            let first = tokio::time::timeout(
                Duration::from_secs(3600),
                apply_to(&world, &hosts, std::slice::from_ref(&v2)),
            )
            .await;
            assert!(first.is_err() || first.is_ok_and(|r| dsctl::report::exit_code(&r) == 1));
            clear_faults(&world);
            assert_eq!(
                recorded(&world, "node-1"),
                Some(rev(&v2)),
                "step {step}: the script finished"
            );
            let runs = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
            assert_eq!(dsctl::report::exit_code(&runs), 0, "step {step}: {runs:#?}");
            let node1 = runs.iter().find(|r| r.host == "node-1").unwrap();
            assert_eq!(node1.outcome, Outcome::Unchanged, "step {step}: {runs:#?}");
            assert!(
                left_notes(node1)
                    .iter()
                    .any(|n| n.contains("finished after its connection was lost")),
                "step {step}: {:?}",
                left_notes(node1)
            );
            assert!(
                world.lock().unwrap().hosts["node-1"].left_runs.is_empty(),
                "acked"
            );
            assert!(max_down(&world) <= 1);
        }
    }
}

/// The connection dropped after each step of the script: the host fails naming it, the
/// rollout stops (the other hosts are not touched), and a rerun converges.
#[tokio::test(start_paused = true)]
async fn a_connection_dropped_mid_script_fails_that_host_and_a_rerun_repairs_it() {
    let (v1, v2) = (spec("img:1", ""), spec("img:2", ""));
    for step in [0, 3, 6] {
        let (world, hosts) = installed(3, &v1).await;
        fault(&world, "node-1", Kind::Script, Fault::Drop(step));
        let runs = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
        assert_eq!(dsctl::report::exit_code(&runs), 1);
        let Outcome::Failed(why) = outcome(&runs, "node-1") else {
            panic!("{runs:#?}");
        };
        assert!(why.contains("node-1: the connection closed"), "{why}");
        for h in ["node-2", "node-3"] {
            assert!(matches!(outcome(&runs, h), Outcome::Halted(_)), "{runs:#?}");
            assert_eq!(recorded(&world, h), Some(rev(&v1)));
        }
        let runs = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
        assert_eq!(dsctl::report::exit_code(&runs), 0, "step {step}: {runs:#?}");
        assert!(max_down(&world) <= 1);
    }
}

/// A host whose observe never answers is reported by name when its deadline passes; the
/// others converge meanwhile, and the run takes no longer than that deadline.
#[tokio::test(start_paused = true)]
async fn a_hung_host_is_reported_within_its_deadline_and_the_others_converge() {
    let (v1, v2) = (spec("img:1", ""), spec("img:2", ""));
    let (world, hosts) = installed(4, &v1).await;
    fault(&world, "node-3", Kind::Observe, Fault::Hang);
    let started = tokio::time::Instant::now();
    let runs = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
    let took = started.elapsed();
    assert!(took >= fake::EXEC_TIMEOUT && took < fake::EXEC_TIMEOUT + Duration::from_secs(5));
    let Outcome::Unreachable(why) = outcome(&runs, "node-3") else {
        panic!("{runs:#?}");
    };
    assert!(
        why.contains("node-3") && why.contains("deadline of 600s"),
        "{why}"
    );
    assert_eq!(dsctl::report::exit_code(&runs), 1);
    // node-3 counts unavailable: maxUnavailable 1 leaves no budget for the others.
    for h in ["node-1", "node-2", "node-4"] {
        assert_eq!(recorded(&world, h), Some(rev(&v1)), "{h}: held");
    }
    assert_eq!(max_down(&world), 0);
    // With a budget of 2, the three others update while node-3 hangs.
    let wide = spec(
        "img:2",
        "[spec.updateStrategy.rollingUpdate]\nmaxUnavailable = 2",
    );
    fault(&world, "node-3", Kind::Observe, Fault::Hang);
    let runs = apply_to(&world, &hosts, std::slice::from_ref(&wide)).await;
    for h in ["node-1", "node-2", "node-4"] {
        assert_eq!(outcome(&runs, h), &Outcome::Changed, "{runs:#?}");
    }
    assert!(matches!(outcome(&runs, "node-3"), Outcome::Unreachable(_)));
}

/// A probe that never answers fails the gate within progressDeadlineSeconds (plus the probe
/// round's own limit), naming the host; the rollout halts.
#[tokio::test(start_paused = true)]
async fn a_hung_probe_fails_the_gate_within_the_progress_deadline() {
    let v1 = spec("img:1", "");
    let v2 = spec("img:2", "[dsctl]\nprogressDeadlineSeconds = 30");
    let (world, hosts) = installed(3, &v1).await;
    for n in 0..3 {
        let mut w = world.lock().unwrap();
        let h = w.hosts.get_mut("node-1").unwrap();
        let nth = h.execs.iter().filter(|k| **k == Kind::Probe).count() + n;
        h.rules.push(Rule {
            kind: Kind::Probe,
            nth,
            fault: Fault::Kill(0),
        });
    }
    let started = tokio::time::Instant::now();
    let runs = apply_to(&world, &hosts[..1], std::slice::from_ref(&v2)).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30 + 60), "{took:?}");
    let Outcome::Failed(why) = outcome(&runs, "node-1") else {
        panic!("{runs:#?}");
    };
    assert!(why.contains("no answer from the host"), "{why}");
}

/// An image missing on one host: nothing is stopped anywhere, that host fails naming the
/// image, and the exit code is 1.
#[tokio::test(start_paused = true)]
async fn a_failed_pull_stops_nothing() {
    let (v1, v2) = (spec("img:1", ""), spec("img:2", ""));
    let (world, hosts) = installed(4, &v1).await;
    world
        .lock()
        .unwrap()
        .hosts
        .get_mut("node-3")
        .unwrap()
        .missing_images
        .insert("img:2".into());
    let runs = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
    assert_eq!(dsctl::report::exit_code(&runs), 1);
    let Outcome::Failed(why) = outcome(&runs, "node-3") else {
        panic!("{runs:#?}");
    };
    assert!(why.contains("image pull failed, nothing was stopped") && why.contains("img:2"));
    assert_eq!(max_down(&world), 0);
    for h in &hosts {
        assert_eq!(recorded(&world, &h.name), Some(rev(&v1)));
    }
}

/// A host script that fails (a unit that does not start, the lock held): the host fails with
/// the script's own words, the rollout halts, and the halted marker is left on that host.
#[tokio::test(start_paused = true)]
async fn a_failing_script_halts_the_rollout_and_marks_the_host() {
    let (v1, v2) = (spec("img:1", ""), spec("img:2", ""));
    for (status, stderr, want) in [
        (
            1,
            "x.service did not start:",
            "exit 1: x.service did not start:",
        ),
        (
            75,
            "locked by: dsctl eve@lap pid 1",
            "lock wait timed out; locked by: dsctl eve",
        ),
    ] {
        let (world, hosts) = installed(3, &v1).await;
        fault(&world, "node-1", Kind::Script, Fault::Fail(status, stderr));
        let runs = apply_to(&world, &hosts, std::slice::from_ref(&v2)).await;
        assert_eq!(dsctl::report::exit_code(&runs), 1);
        let Outcome::Failed(why) = outcome(&runs, "node-1") else {
            panic!("{runs:#?}");
        };
        assert!(why.contains(want), "{why}");
        for h in ["node-2", "node-3"] {
            assert!(matches!(outcome(&runs, h), Outcome::Halted(_)));
        }
        assert!(execs(&world, "node-1").contains(&Kind::Halt));
    }
}

fn tamper(world: &Shared, host: &str, edit: impl Fn(&mut String)) {
    let mut w = world.lock().unwrap();
    let spec = w
        .hosts
        .get_mut(host)
        .unwrap()
        .fs
        .get_mut(&format!("{DAEMONSETS_DIR}/{NAME}/spec.json"))
        .unwrap();
    edit(spec);
}

/// Issue 12, item 4: auto-revert goes back to the previous revision through trusted_spec. An
/// honest fleet is reverted; a fleet where one host's record of the previous spec was altered
/// (a privileged container) is not: nothing of the tampered spec runs anywhere.
#[tokio::test(start_paused = true)]
async fn auto_revert_reads_the_previous_spec_through_trusted_spec() {
    let v1 = spec("img:1", "");
    let bad = spec(
        "img:bad",
        "[dsctl]\nprogressDeadlineSeconds = 20\nautoRevert = true",
    );
    let (world, hosts) = installed(3, &v1).await;
    for h in world.lock().unwrap().hosts.values_mut() {
        h.unready.insert(rev(&bad));
    }
    let runs = apply_to(&world, &hosts, std::slice::from_ref(&bad)).await;
    let Outcome::Failed(why) = outcome(&runs, "node-1") else {
        panic!("{runs:#?}");
    };
    assert!(
        why.contains("auto-revert: back on the previous revision"),
        "{why}"
    );
    assert_eq!(recorded(&world, "node-1"), Some(rev(&v1)));

    for tampering in ["privileged", "altered on another host"] {
        let (world, hosts) = installed(3, &v1).await;
        for h in world.lock().unwrap().hosts.values_mut() {
            h.unready.insert(rev(&bad));
        }
        match tampering {
            "privileged" => tamper(&world, "node-1", |s| {
                let mut json: serde_json::Value = serde_json::from_str(s).unwrap();
                json["spec"]["template"]["spec"]["containers"][0]["securityContext"] =
                    serde_json::json!({ "privileged": true });
                *s = json.to_string();
            }),
            _ => tamper(&world, "node-2", |s| {
                *s = s.replace("img:1", "img:evil");
            }),
        }
        let runs = apply_to(&world, &hosts, std::slice::from_ref(&bad)).await;
        let Outcome::Failed(why) = outcome(&runs, "node-1") else {
            panic!("{runs:#?}");
        };
        assert!(
            why.contains("auto-revert refused")
                && why.contains("cannot be trusted; nothing was applied"),
            "{tampering}: {why}"
        );
        assert_eq!(recorded(&world, "node-1"), Some(rev(&bad)), "{tampering}");
        let w = world.lock().unwrap();
        for (name, h) in &w.hosts {
            let scripts_wrote_privileged =
                h.fs.iter()
                    .filter(|(k, _)| k.starts_with("/etc/"))
                    .any(|(_, v)| v.contains("privileged") || v.contains("img:evil"));
            assert!(!scripts_wrote_privileged, "{tampering}: {name}");
        }
    }
}

/// A fake host's session that counts how many are open at once and how often each host was
/// connected, so a test sees what the driver holds.
struct Counted {
    host: FakeHost,
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl dsctl::ssh::RemoteHost for Counted {
    type Tunnel = <FakeHost as dsctl::ssh::RemoteHost>::Tunnel;

    fn name(&self) -> &str {
        self.host.name()
    }

    fn exec(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl std::future::Future<Output = Result<dsctl::ssh::ExecOutput, dsctl::ssh::SshError>> + Send
    {
        self.host.exec(script, stdin)
    }

    fn open_tcp(
        &self,
        port: u16,
    ) -> impl std::future::Future<Output = Result<Self::Tunnel, dsctl::ssh::SshError>> + Send {
        self.host.open_tcp(port)
    }

    fn open_tcp_to(
        &self,
        host: &str,
        port: u16,
    ) -> impl std::future::Future<Output = Result<Self::Tunnel, dsctl::ssh::SshError>> + Send {
        self.host.open_tcp_to(host, port)
    }

    fn stats(&self) -> dsctl::ssh::StatsSnapshot {
        dsctl::ssh::StatsSnapshot {
            connections: 1,
            ..Default::default()
        }
    }
}

/// The parallelism of the counted runs: small, so the bounds below are tight.
const PARALLEL: usize = 2;

/// What a run held: the most sessions open at once, and connections by host.
#[derive(Default)]
struct Held {
    open: Arc<std::sync::atomic::AtomicUsize>,
    most: Arc<std::sync::atomic::AtomicUsize>,
    connects: Arc<Mutex<std::collections::BTreeMap<String, usize>>>,
}

async fn apply_counted(
    world: &Shared,
    hosts: &[Host],
    specs: &[DaemonSet],
    held: &Held,
    keep: usize,
) -> Vec<HostRun> {
    use std::sync::atomic::Ordering::SeqCst;
    let templates = Templates::embedded();
    let desired = Desired::Specs {
        specs,
        templates: &templates,
    };
    let world = world.clone();
    let (open, most, connects) = (held.open.clone(), held.most.clone(), held.connects.clone());
    let settings = Settings {
        keep_sessions: keep,
        parallel: PARALLEL,
        ..settings()
    };
    apply::run(hosts, &desired, &settings, move |h: Host| {
        *connects.lock().unwrap().entry(h.name.clone()).or_default() += 1;
        most.fetch_max(open.fetch_add(1, SeqCst) + 1, SeqCst);
        let host = Counted {
            host: FakeHost {
                name: h.name,
                world: world.clone(),
            },
            open: open.clone(),
        };
        async move { Ok::<_, String>(host) }
    })
    .await
}

/// Issue 10, item 3: a no-op closes each host's session once it is planned (at most
/// --parallel open at once, one connection per host); a rollout over more hosts than the
/// driver keeps sessions for connects each host again for its pull and for its wave, never
/// holds more than it keeps (plus --parallel; a wave wider than that goes in steps), and
/// still converges within the budget.
#[tokio::test(start_paused = true)]
async fn sessions_are_closed_when_a_host_is_done_and_reopened_for_its_wave() {
    use std::sync::atomic::Ordering::SeqCst;
    // Waves of 6 hosts, more than the run keeps sessions for plus --parallel: each wave goes
    // --parallel hosts at a time once its sessions were closed.
    let (n, keep) = (12, 1);
    let half = "[spec.updateStrategy.rollingUpdate]\nmaxUnavailable = \"50%\"";
    let (v1, v2) = (spec("img:1", half), spec("img:2", half));
    let (world, hosts) = installed(n, &v1).await;

    let noop = Held::default();
    let runs = apply_counted(&world, &hosts, std::slice::from_ref(&v1), &noop, keep).await;
    assert!(runs.iter().all(|r| r.outcome == Outcome::Unchanged));
    assert!(
        runs.iter().all(|r| r.connections == 1),
        "one connection per host"
    );
    assert!(
        noop.most.load(SeqCst) <= settings().parallel,
        "{}",
        noop.most.load(SeqCst)
    );
    assert_eq!(noop.open.load(SeqCst), 0, "all closed at the end");

    let rollout = Held::default();
    let runs = apply_counted(&world, &hosts, std::slice::from_ref(&v2), &rollout, keep).await;
    assert_eq!(dsctl::report::exit_code(&runs), 0);
    assert!(runs.iter().all(|r| r.outcome == Outcome::Changed));
    for h in &hosts {
        assert_eq!(recorded(&world, &h.name), Some(rev(&v2)));
    }
    assert!(
        max_down(&world) <= n / 2,
        "maxUnavailable 50%: {}",
        max_down(&world)
    );
    let connects = rollout.connects.lock().unwrap();
    assert!(connects.values().all(|c| *c == 3), "observe, pull, wave");
    assert!(runs.iter().all(|r| r.connections == 3));
    let most = rollout.most.load(SeqCst);
    assert!(most <= keep + 1 + PARALLEL, "{most} sessions at once");
    assert_eq!(rollout.open.load(SeqCst), 0);
}
