//! Fault tests (issue 12) on the fault hosts only (node-9..12 trixie, node-13 bookworm, held
//! by the fault lease): connections cut mid-script, two applies started together, dsctl
//! SIGKILLed at random moments, a host lost mid-rollout and hosts power-cycled. An observer
//! thread polls every host's service from this machine all along.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::harness::*;

/// hostPorts of this file (the safety-script range is 8640-8659): one per test, so that a
/// test that fails and leaves its DaemonSet behind never blocks the next one's port.
const CUT_PORT: u16 = 8641;
const TWIN_PORT: u16 = 8642;
const KILL_PORT: u16 = 8643;
const LOST_PORT: u16 = 8644;

/// The test web image at `tag`, ready on /healthz, with `max_unavailable`, a progress deadline
/// that suits a cut connection, and (with `init_sleep`) an init container that keeps each host
/// script busy that many seconds, long enough to cut it.
fn spec(name: &str, tag: &str, port: u16, max_unavailable: u32, init_sleep: u32) -> String {
    let init = if init_sleep > 0 {
        format!(
            r#"[[spec.template.spec.initContainers]]
name = "wait"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
command = ["sleep", "{init_sleep}"]
"#
        )
    } else {
        String::new()
    };
    format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "{name}"
[spec.selector.matchLabels]
app = "{name}"
[spec.updateStrategy]
type = "RollingUpdate"
rollingUpdate = {{ maxUnavailable = {max_unavailable} }}
[spec.template.metadata.labels]
app = "{name}"
[spec.template.spec]
terminationGracePeriodSeconds = 2
{init}[[spec.template.spec.containers]]
name = "web"
image = "localhost/dsctl-test/web:{tag}"
imagePullPolicy = "Never"
[[spec.template.spec.containers.ports]]
containerPort = 8080
hostPort = {port}
[spec.template.spec.containers.readinessProbe]
httpGet = {{ path = "/healthz", port = 8080 }}
periodSeconds = 1
failureThreshold = 2
[dsctl]
progressDeadlineSeconds = 30
"#
    )
}

/// What each host serves on PORT ("down" when nothing answers).
fn serving(hosts: &[FleetHost], port: u16) -> Vec<String> {
    let probes: Vec<_> = hosts
        .iter()
        .map(|h| {
            let address = h.address.clone();
            std::thread::spawn(move || {
                http_get(&address, port, "/").map_or_else(|| "down".to_string(), |(_, b)| b)
            })
        })
        .collect();
    probes.into_iter().map(|p| p.join().unwrap()).collect()
}

fn all(hosts: &[FleetHost], body: &str) -> Vec<String> {
    vec![body.to_string(); hosts.len()]
}

/// `dsctl ARGS… -i <inventory>` started in the background.
fn dsctl_bg(scene: &Scene, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dsctl"))
        .args(args)
        .arg("-i")
        .arg(scene.inventory())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

fn show(what: &str, out: &Output) {
    eprintln!("--- {what}: exit {:?}\n{}", out.status.code(), text(out));
}

/// The host's record of `ds` (its revision), read without SSH.
fn recorded(host: &str, ds: &str) -> String {
    stdout(&on_host(
        host,
        &format!("cat /var/lib/dsctl/daemonsets/{ds}/revision 2>/dev/null"),
    ))
    .trim()
    .to_string()
}

/// Waits until no host script of any run is in flight on the hosts: their lock is free and
/// no launcher or script of a run (src/detached.rs) is alive, so a script that a killed run
/// launched but that has not taken the lock yet counts too.
fn settled(hosts: &[FleetHost]) -> bool {
    eventually(Duration::from_secs(60), || {
        hosts.iter().all(|h| {
            on_host(
                &h.name,
                "{ flock -n /var/lib/dsctl/lock true 2>/dev/null || [ ! -e /var/lib/dsctl/lock ]; } && \
                 for f in /var/lib/dsctl/runs/*/waiter /var/lib/dsctl/runs/*/runner \
                   /var/lib/dsctl/runs/.*/waiter; do \
                   [ ! -f \"$f\" ] || ! kill -0 $(cut -d' ' -f1 \"$f\") 2>/dev/null || exit 1; \
                 done",
            )
            .status
            .success()
        })
    })
}

/// Waits (on the host, without SSH) until a host script is running there, then does `then`.
fn when_a_script_runs(host: &str, then: &str) -> Output {
    on_host(
        host,
        &format!(
            "for i in $(seq 600); do ls /var/lib/dsctl/runs/*/runner >/dev/null 2>&1 && break; sleep 0.05; done; \
             ls /var/lib/dsctl/runs/*/runner >/dev/null 2>&1 || {{ echo no script ran; exit 1; }}; \
             date +%T.%N; ls -l /var/lib/dsctl/runs/*/; {then}"
        ),
    )
}

/// Brings the hosts' links back up when dropped (also when a test panics): the next test
/// on the fault hosts must find them reachable.
struct LinksUp(Vec<String>);

impl Drop for LinksUp {
    fn drop(&mut self) {
        for h in &self.0 {
            on_host(
                h,
                "ip link set eth0 up; nft delete table inet ss_cut 2>/dev/null; true",
            );
        }
    }
}

fn five(fleet: &Fleet) -> (Vec<FleetHost>, FaultLease) {
    fleet.fault_hosts_of(&[("trixie", 4), ("bookworm", 1)])
}

/// (a) The SSH connection cut mid-script, two ways (its packets dropped in the host's
/// namespace, and its sshd session killed), on a Quadlet and a service host: the
/// script completes on the host while dsctl has lost it, and the next apply finds both hosts
/// converged; a script whose launcher died is reported by that next apply.
#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn a_cut_connection_never_stops_the_host_script_half_way() {
    let fleet = Fleet::get();
    let (five, _lease) = five(&fleet);
    let hosts = vec![five[0].clone(), five[4].clone()];
    let scene = Scene::new(&fleet, &hosts);
    // Declared after the scene, so dropped before it: links are up for its cleanup.
    let _links = LinksUp(hosts.iter().map(|h| h.name.clone()).collect());
    scene.own(&["ss-cut"]);
    let v1 = scene.spec("v1.toml", &spec("ss-cut", "1", CUT_PORT, 2, 3));
    assert_eq!(
        scene.dsctl(&["apply", "-f", path_str(&v1)]).status.code(),
        Some(0)
    );
    assert_eq!(serving(&hosts, CUT_PORT), all(&hosts, "1"));
    // The SSH connection's packets dropped in the host's namespace, both ways: the connection
    // goes silent as with a cut link, but the host keeps its network (with its link down,
    // systemd would hold the new pod's start on network-online.target, which is not dsctl's
    // doing).
    let drop_ssh = "nft add table inet ss_cut && \
        nft add chain inet ss_cut i '{ type filter hook input priority -10; }' && \
        nft add rule inet ss_cut i tcp dport 22 drop && \
        nft add chain inet ss_cut o '{ type filter hook output priority -10; }' && \
        nft add rule inet ss_cut o tcp sport 22 drop";
    for (k, (cut, restore)) in [
        (drop_ssh, "nft delete table inet ss_cut"),
        // The bracket keeps pkill from matching its own shell's command line.
        ("pkill -KILL -f '[s]shd.*root@notty'", "true"),
    ]
    .into_iter()
    .enumerate()
    {
        let tag = if k == 0 { "2" } else { "1" };
        let next = scene.spec("next.toml", &spec("ss-cut", tag, CUT_PORT, 2, 3));
        let before: Vec<String> = hosts.iter().map(|h| recorded(&h.name, "ss-cut")).collect();
        let started = Instant::now();
        let run = dsctl_bg(
            &scene,
            &["apply", "-f", path_str(&next), "--exec-timeout", "30"],
        );
        let cutters: Vec<_> = hosts
            .iter()
            .map(|h| {
                let (name, cut) = (h.name.clone(), format!("sleep 0.5; {cut}"));
                std::thread::spawn(move || when_a_script_runs(&name, &cut))
            })
            .collect();
        for c in cutters {
            let out = c.join().unwrap();
            assert!(out.status.success(), "cut: {}", text(&out));
            eprintln!(
                "cut at {:.1} s: {}",
                started.elapsed().as_secs_f64(),
                text(&out)
            );
        }
        let cut_at = started.elapsed();
        // While dsctl has lost them, each host finishes its script: new record, and the new
        // revision serving on the host itself.
        let mut seen = vec![];
        for (h, old) in hosts.iter().zip(&before) {
            // Generous: on a loaded 2-core machine a Quadlet host's three daemon-reloads and
            // pod start were seen to take 38 s after the cut.
            let done = eventually(Duration::from_secs(90), || {
                let now = recorded(&h.name, "ss-cut");
                // From inside the new container: the host's own network is cut too.
                let body = stdout(&on_host(
                    &h.name,
                    &format!(
                        "podman exec dsctl_ss-cut_{now}_web wget -qO- http://127.0.0.1:8080/ 2>/dev/null"
                    ),
                ));
                seen.push(format!(
                    "{:.1}s {now} {:?}",
                    started.elapsed().as_secs_f64(),
                    body.trim()
                ));
                now != *old && body.trim() == tag
            });
            assert!(
                done,
                "{} (cut {k}): the script did not complete: {:?}",
                h.name,
                &seen[seen.len().saturating_sub(5)..]
            );
        }
        let finished_at = started.elapsed();
        let out = run.wait_with_output().unwrap();
        show(&format!("apply cut by cut {k}"), &out);
        assert_ne!(
            out.status.code(),
            Some(0),
            "the cut run cannot have succeeded"
        );
        for h in &hosts {
            on_host(&h.name, restore);
        }
        let rerun = scene.dsctl(&["apply", "-f", path_str(&next), "--stats"]);
        let said = text(&rerun);
        eprintln!(
            "cut {k}: {:.1} s into the run, both scripts done on their hosts by {:.1} s, \
             the cut run ended after {:.1} s",
            cut_at.as_secs_f64(),
            finished_at.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        assert_eq!(rerun.status.code(), Some(0), "{said}");
        assert!(
            said.contains("2 hosts: 0 changed, 2 unchanged"),
            "the next apply must find both converged: {said}"
        );
        if k == 1 {
            // The sshd sessions died: each launcher died at its first write, leaving the result.
            assert_eq!(
                said.matches("finished after its connection was lost")
                    .count(),
                2,
                "{said}"
            );
        }
        assert_eq!(serving(&hosts, CUT_PORT), all(&hosts, tag));
        let left = on_host(&hosts[0].name, "ls /var/lib/dsctl/runs | wc -l");
        assert_eq!(stdout(&left).trim(), "0", "reported scripts are cleaned up");
    }
}

/// (b) Two applies of a new revision started together on 5 hosts with maxUnavailable 1: the
/// observer never sees 2 down, and the one that lost says why.
#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn two_applies_started_together_keep_the_budget_and_the_loser_says_why() {
    let fleet = Fleet::get();
    let (hosts, _lease) = five(&fleet);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["ss-twin"]);
    let v1 = scene.spec("v1.toml", &spec("ss-twin", "1", TWIN_PORT, 1, 0));
    assert_eq!(
        scene.dsctl(&["apply", "-f", path_str(&v1)]).status.code(),
        Some(0)
    );
    let mut stood_down = 0;
    for (round, tag) in ["2", "1"].into_iter().enumerate() {
        let next = scene.spec("next.toml", &spec("ss-twin", tag, TWIN_PORT, 1, 0));
        let observer = Observer::start(&hosts, TWIN_PORT, "/");
        let started = Instant::now();
        let a = dsctl_bg(&scene, &["apply", "-f", path_str(&next)]);
        let b = dsctl_bg(&scene, &["apply", "-f", path_str(&next)]);
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let took = started.elapsed();
        let Observed {
            worst,
            which,
            rounds,
            ..
        } = observer.finish();
        show("apply A", &a);
        show("apply B", &b);
        eprintln!(
            "round {round}: both ended within {:.1} s; {rounds} observer rounds saw at most \
             {worst} of 5 down at once {which:?}",
            took.as_secs_f64()
        );
        assert!(worst <= 1, "{worst} hosts down at once: {which:?}");
        let (ta, tb) = (text(&a), text(&b));
        let why = |t: &str| t.contains("another dsctl") || t.contains("held back");
        assert!(
            a.status.code() == Some(0) || b.status.code() == Some(0),
            "one of them converges"
        );
        for (out, t) in [(&a, &ta), (&b, &tb)] {
            if out.status.code() != Some(0) {
                assert!(why(t), "the loser must say why: {t}");
            }
        }
        stood_down += [&ta, &tb]
            .iter()
            .filter(|t| t.contains("another dsctl"))
            .count();
        let after = scene.dsctl(&["apply", "-f", path_str(&next)]);
        assert_eq!(after.status.code(), Some(0), "{}", text(&after));
        assert_eq!(serving(&hosts, TWIN_PORT), all(&hosts, tag));
    }
    eprintln!("a stale plan stood down in {stood_down} of 2 rounds");
}

/// A small deterministic generator (no clock in the moments: the seed is printed).
fn next_random(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

/// (c) dsctl SIGKILLed at 20 random moments of apply and `rollout restart`, each followed by
/// a rerun: after each kill every host serves again once the detached scripts finish (none is
/// left without its instance), every rerun converges, and the observer never sees more than
/// maxUnavailable hosts down at once.
#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn sigkill_at_random_moments_then_rerun_converges_within_the_budget() {
    let fleet = Fleet::get();
    let (hosts, _lease) = five(&fleet);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["ss-kill"]);
    let max_unavailable = 2;
    let v = |tag: &str| {
        scene.spec(
            &format!("v{tag}.toml"),
            &spec("ss-kill", tag, KILL_PORT, max_unavailable, 0),
        )
    };
    let (v1, v2) = (v("1"), v("2"));
    assert_eq!(
        scene.dsctl(&["apply", "-f", path_str(&v1)]).status.code(),
        Some(0)
    );
    let mut seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    eprintln!("seed {seed}");
    let observer = Observer::start(&hosts, KILL_PORT, "/");
    let started = Instant::now();
    // What happened when (seconds since the observer started), to place its worst round.
    let t0 = SystemTime::now();
    let mut events: Vec<(f64, String)> = vec![];
    let mut event = |what: String| events.push((since(t0, SystemTime::now()), what));
    let mut current = &v1;
    let mut moments = vec![];
    let mut kinds = [0, 0];
    // 20 by default, as the issue asks; DSCTL_E2E_KILLS=N for fewer on a slow machine.
    let kills: usize = std::env::var("DSCTL_E2E_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    for k in 0..kills {
        let restart = k % 4 == 3;
        let args: Vec<&str> = if restart {
            vec!["rollout", "restart", "ss-kill"]
        } else {
            current = if current == &v1 { &v2 } else { &v1 };
            vec!["apply", "-f", path_str(current)]
        };
        kinds[usize::from(restart)] += 1;
        let at = Duration::from_millis(300 + next_random(&mut seed) % 5700);
        event(format!("kill {k}: {} started", args.join(" ")));
        let mut child = dsctl_bg(&scene, &args);
        std::thread::sleep(at);
        let ended_by_itself = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        event(format!(
            "kill {k}: killed (had ended by itself: {ended_by_itself})"
        ));
        moments.push((at.as_millis(), ended_by_itself));
        // The scripts the killed run had started finish on their own: then every host serves
        // (the old revision or the new), none is left without its instance.
        assert!(settled(&hosts), "kill {k}: a host script never finished");
        let up = eventually(Duration::from_secs(20), || {
            !serving(&hosts, KILL_PORT).iter().any(|s| s == "down")
        });
        assert!(
            up,
            "kill {k} at {at:?}: a host was left without its instance: {:?}",
            serving(&hosts, KILL_PORT)
        );
        event(format!("kill {k}: settled, rerun started"));
        let rerun = scene.dsctl(&["apply", "-f", path_str(current)]);
        event(format!("kill {k}: rerun ended"));
        assert_eq!(
            rerun.status.code(),
            Some(0),
            "rerun after kill {k} at {at:?}: {}",
            text(&rerun)
        );
        let want = if current == &v1 { "1" } else { "2" };
        assert_eq!(
            serving(&hosts, KILL_PORT),
            all(&hosts, want),
            "after kill {k}"
        );
    }
    let Observed {
        worst,
        which,
        at,
        rounds,
    } = observer.finish();
    let at = at.map(|a| since(t0, a));
    eprintln!(
        "{kills} kills ({} during apply, {} during rollout restart) at {:?} ms (true = had \
         ended by itself) in {:.0} s; {rounds} observer rounds saw at most {worst} of 5 hosts \
         down at once {which:?} at {at:?} s (maxUnavailable {max_unavailable})",
        kinds[0],
        kinds[1],
        moments,
        started.elapsed().as_secs_f64()
    );
    if worst > max_unavailable as usize {
        // Where the worst round falls among the runs, and what systemd on each of its hosts
        // did around it: a host whose unit stayed active was slow to answer, not down.
        let at = at.unwrap_or_default();
        for (t, what) in events.iter().filter(|(t, _)| (*t - at).abs() < 30.0) {
            eprintln!("{t:8.3} {what}");
        }
        eprintln!("{at:8.3} worst observer round sent its checks");
        let epoch = since(std::time::UNIX_EPOCH, t0) + at;
        for h in hosts
            .iter()
            .filter(|h| which.iter().any(|w| w.starts_with(&format!("{} ", h.name))))
        {
            let journal = on_host(
                &h.name,
                &format!(
                    "journalctl -o short-precise --since @{:.0} --until @{:.0} | grep ss-kill | tail -40",
                    epoch - 20.0,
                    epoch + 5.0
                ),
            );
            eprintln!(
                "--- {} journal around the worst round:\n{}",
                h.name,
                stdout(&journal)
            );
        }
    }
    assert!(
        worst <= max_unavailable as usize,
        "{worst} hosts down at once at {at:?} s: {which:?}"
    );
}

/// Seconds from `from` to `to`.
fn since(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).unwrap_or_default().as_secs_f64()
}

/// (d) A host lost mid-rollout (its link cut while the first wave runs) is reported by name;
/// while it is lost it counts against the budget (the next change disrupts no other host); when
/// it is back the next apply converges it. Then a Quadlet host and a service host are power-cycled: their units come back by
/// themselves and the next apply reports no change.
#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn a_lost_host_is_reported_and_rebooted_hosts_come_back_by_themselves() {
    let fleet = Fleet::get();
    let (hosts, _lease) = five(&fleet);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["ss-lost"]);
    let v1 = scene.spec("v1.toml", &spec("ss-lost", "1", LOST_PORT, 1, 0));
    let v2 = scene.spec("v2.toml", &spec("ss-lost", "2", LOST_PORT, 1, 0));
    assert_eq!(
        scene.dsctl(&["apply", "-f", path_str(&v1)]).status.code(),
        Some(0)
    );
    let lost = hosts.last().unwrap().clone();
    // Declared after the scene, so dropped before it: links are up for its cleanup.
    let _links = LinksUp(vec![lost.name.clone()]);
    let observer = Observer::start(&hosts, LOST_PORT, "/");
    let run = dsctl_bg(
        &scene,
        &["apply", "-f", path_str(&v2), "--exec-timeout", "40"],
    );
    // As soon as the first wave's script runs on any other host, cut the lost one off.
    let first = hosts[..hosts.len() - 1]
        .iter()
        .map(|h| {
            let name = h.name.clone();
            std::thread::spawn(move || when_a_script_runs(&name, "true").status.success())
        })
        .collect::<Vec<_>>();
    std::thread::sleep(Duration::from_millis(100));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !first.iter().any(|t| t.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    observer.exclude(&lost.name);
    on_host(&lost.name, "ip link set eth0 down");
    let out = run.wait_with_output().unwrap();
    for t in first {
        let _ = t.join();
    }
    let Observed {
        worst,
        which,
        rounds,
        ..
    } = observer.finish();
    show("apply with a host lost", &out);
    // While it is still lost, it uses up the budget: the next change disrupts no other host.
    // A script whose exec outlived its deadline on a loaded machine goes on detached; the
    // records are compared once none is in flight (else its own record change counts).
    assert!(settled(&hosts), "a host script never finished");
    let before: Vec<String> = hosts.iter().map(|h| recorded(&h.name, "ss-lost")).collect();
    let v3 = scene.spec("v3.toml", &spec("ss-lost", "2", LOST_PORT, 1, 1));
    let held = scene.dsctl(&["apply", "-f", path_str(&v3), "--connect-timeout", "3"]);
    let after: Vec<String> = hosts.iter().map(|h| recorded(&h.name, "ss-lost")).collect();
    on_host(&lost.name, "ip link set eth0 up");
    assert_ne!(held.status.code(), Some(0));
    assert!(
        text(&held).contains(&format!("{}: UNREACHABLE", lost.name))
            && text(&held).contains("held back"),
        "the lost host is unreachable and holds the others back: {}",
        text(&held)
    );
    assert_eq!(
        before, after,
        "no host was changed while the lost one used the budget"
    );
    let said = text(&out);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        said.lines()
            .any(|l| l.starts_with(&format!("{}:", lost.name))
                && (l.contains("FAILED")
                    || l.contains("UNREACHABLE")
                    || l.contains("NOT UPDATED"))),
        "the lost host is named: {said}"
    );
    let updated: Vec<String> = hosts.iter().map(|h| recorded(&h.name, "ss-lost")).collect();
    eprintln!(
        "{rounds} observer rounds saw at most {worst} of the 4 others down at once {which:?}; \
         records after the run: {updated:?}"
    );
    assert!(worst <= 1, "{worst} down at once: {which:?}");
    let rerun = scene.dsctl(&["apply", "-f", path_str(&v2)]);
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));
    assert_eq!(serving(&hosts, LOST_PORT), all(&hosts, "2"));

    // Power-cycle a Quadlet host and a service host at once. Debian 12's podman 4.3
    // auto-update (a timer that fires at boot) lists every container and fails on one that a
    // unit's `--replace` removes meanwhile, leaving the host "degraded", which `fleet restart`
    // refuses; dsctl does not use auto-update, so these fault hosts go without it.
    let rebooted = [hosts[0].clone(), lost.clone()];
    for h in &rebooted {
        on_host(
            &h.name,
            "systemctl mask podman-auto-update.timer podman-auto-update.service >/dev/null 2>&1; \
             systemctl reset-failed podman-auto-update.service 2>/dev/null; true",
        );
    }
    let started = Instant::now();
    let restarts: Vec<_> = rebooted
        .iter()
        .map(|h| {
            let name = h.name.clone();
            std::thread::spawn(move || {
                Command::new(repo().join("tests/fleet/fleet"))
                    .args(["restart", &name])
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for r in restarts {
        let out = r.join().unwrap();
        assert!(out.status.success(), "fleet restart: {}", text(&out));
    }
    let back = eventually(Duration::from_secs(60), || {
        serving(&rebooted, LOST_PORT) == all(&rebooted, "2")
    });
    eprintln!(
        "power-cycled {} and {}: serving again after {:.1} s without dsctl",
        rebooted[0].name,
        rebooted[1].name,
        started.elapsed().as_secs_f64()
    );
    assert!(
        back,
        "units did not come back: {:?}",
        serving(&rebooted, LOST_PORT)
    );
    let again = scene.dsctl(&["apply", "-f", path_str(&v2), "--stats"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("5 hosts: 0 changed, 5 unchanged, 0 failed"),
        "after the reboot the next apply changes nothing: {}",
        text(&again)
    );
}
