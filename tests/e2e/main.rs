//! End-to-end tests of `dsctl apply`, `diff`, `get` and `delete` on the real test fleet:
//! systemd-nspawn hosts with OpenSSH, systemd and podman (tests/fleet/fleet).
//!
//! Ignored by a plain `cargo test`; tests/run brings the fleet up and runs them with
//! `--include-ignored`.

mod clash;
mod config;
mod day2;
mod downward;
mod faults;
mod harness;
mod hostile;
mod ownership;
mod pods;
mod pull;
mod rollout;
mod security;
mod watch;
mod yaml;

use std::time::{Duration, Instant};

use harness::*;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

fn unit_files(host: &str, ds: &str) -> String {
    stdout(&on_host(
        host,
        &format!(
            "ls /etc/systemd/system/dsctl_{ds}_* /etc/containers/systemd/dsctl_{ds}_* /etc/systemd/system/dsctl-{ds}-* /etc/containers/systemd/dsctl-{ds}-* 2>/dev/null; ls -d /var/lib/dsctl/daemonsets/{ds} /var/lib/dsctl/pods/dsctl_{ds}_* 2>/dev/null; podman ps -a --format '{{{{.Names}}}}' --filter label=dsctl.daemonset={ds} 2>/dev/null; podman pod ps --format '{{{{.Name}}}}' --filter name=dsctl_{ds}_ 2>/dev/null"
        ),
    ))
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn apply_places_daemonsets_on_eligible_hosts_then_is_a_one_round_trip_noop() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let mut hosts = fleet.of_suite("trixie", 4);
    hosts.extend(fleet.of_suite("bookworm", 2));
    let scene = Scene::new(&fleet, &hosts);
    let canaries = [hosts[1].name.clone(), hosts[4].name.clone()];
    scene.write_inventory(|h| {
        if canaries.iter().any(|c| c == h["name"].as_str().unwrap()) {
            label(h, "tier", "canary");
        }
    });
    scene.own(&["e2e-web", "e2e-canary"]);
    let web = scene.spec("web.toml", &web_spec("e2e-web", "1", 8080, &[]));
    let canary = scene.spec(
        "canary.toml",
        &web_spec("e2e-canary", "2", 8081, &[("tier", "canary")]),
    );
    let files = ["-f", path_str(&web), "-f", path_str(&canary)];

    let out = scene.dsctl(&[&["apply"][..], &files].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    for host in &hosts {
        assert_eq!(
            http_get(&host.address, 8080, "/"),
            Some((200, "1".into())),
            "e2e-web on {}",
            host.name
        );
        let expect_canary = canaries.contains(&host.name);
        let got = http_get(&host.address, 8081, "/");
        if expect_canary {
            assert_eq!(got, Some((200, "2".into())), "e2e-canary on {}", host.name);
        } else {
            assert_eq!(got, None, "e2e-canary must not run on {}", host.name);
        }
        // Quadlet where podman ≥ 4.4 (trixie), a podman-run service on podman 4.3 (bookworm).
        let files = unit_files(&host.name, "e2e-web");
        let want = if host.suite == "trixie" {
            "/etc/containers/systemd/dsctl_e2e-web_"
        } else {
            "/etc/systemd/system/dsctl_e2e-web_"
        };
        let suffix = if host.suite == "trixie" {
            "_web.container"
        } else {
            "_web.service"
        };
        assert!(
            files
                .lines()
                .any(|f| f.starts_with(want) && f.ends_with(suffix)),
            "{}: {files}",
            host.name
        );
    }

    // A second apply changes nothing, in one exec round trip over one connection per host.
    let started = Instant::now();
    let out = scene.dsctl(&[&["apply", "-o", "json", "--stats"][..], &files].concat());
    eprintln!(
        "no-op apply on {} hosts took {:?}",
        hosts.len(),
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(report["summary"]["changed"], 0, "{report:#}");
    assert_eq!(report["summary"]["unchanged"], hosts.len());
    for host in report["hosts"].as_array().unwrap() {
        assert_eq!(host["round_trips"], 1, "{host:#}");
        assert_eq!(host["connections"], 1, "{host:#}");
    }
    let out = scene.dsctl(&[&["diff"][..], &files].concat());
    assert_eq!(out.status.code(), Some(0), "diff after apply must be clean");

    // Quiet for cron: nothing changed, not a terminal, no output.
    let out = scene.dsctl(&[&["apply"][..], &files].concat());
    assert_eq!(stdout(&out), "");

    scene.dsctl(&["delete", "ds", "e2e-web", "e2e-canary"]);
    for host in &hosts {
        assert_eq!(
            unit_files(&host.name, "e2e-web").trim(),
            "",
            "{}",
            host.name
        );
        assert_eq!(
            unit_files(&host.name, "e2e-canary").trim(),
            "",
            "{}",
            host.name
        );
    }
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn stopped_deleted_and_edited_units_are_drift_and_apply_restores_them() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = vec![
        fleet.of_suite("trixie", 2).remove(0),
        fleet.of_suite("trixie", 2).remove(1),
        fleet.of_suite("bookworm", 1).remove(0),
    ];
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["e2e-drift"]);
    let spec = scene.spec("drift.toml", &web_spec("e2e-drift", "1", 8082, &[]));
    let files = ["-f", path_str(&spec)];
    assert_eq!(
        scene
            .dsctl(&[&["apply"][..], &files].concat())
            .status
            .code(),
        Some(0)
    );

    // Stopped on one host, deleted on another, edited by hand on the third.
    on_host(
        &hosts[0].name,
        "systemctl stop 'dsctl_e2e-drift_*_web.service'",
    );
    on_host(
        &hosts[1].name,
        "rm /etc/containers/systemd/dsctl_e2e-drift_*_web.container && systemctl daemon-reload && systemctl stop 'dsctl_e2e-drift_*_web.service'",
    );
    on_host(
        &hosts[2].name,
        "sed -i 's/^TimeoutStopSec=.*/TimeoutStopSec=1/' /etc/systemd/system/dsctl_e2e-drift_*_web.service",
    );

    let out = scene.dsctl(&[&["diff"][..], &files].concat());
    assert_eq!(out.status.code(), Some(1), "drift must make diff exit 1");
    let text = stdout(&out);
    for host in &hosts {
        assert!(
            text.contains(&host.name),
            "diff names {}:\n{text}",
            host.name
        );
    }
    assert!(
        text.contains("+TimeoutStopSec="),
        "diff shows the hand edit:\n{text}"
    );
    assert_eq!(
        http_get(&hosts[0].address, 8082, "/"),
        None,
        "diff changed nothing"
    );

    let out = scene.dsctl(&[&["apply"][..], &files].concat());
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("3 changed"), "{}", stdout(&out));
    for host in &hosts {
        assert_eq!(
            http_get(&host.address, 8082, "/"),
            Some((200, "1".into())),
            "{}",
            host.name
        );
    }
    assert_eq!(
        scene.dsctl(&[&["diff"][..], &files].concat()).status.code(),
        Some(0)
    );
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn relabel_and_taints_move_the_daemonset_as_kubernetes_does() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 3);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["e2e-sel"]);
    let spec = scene.spec(
        "sel.toml",
        &web_spec("e2e-sel", "1", 8083, &[("role", "edge")]),
    );
    let files = ["-f", path_str(&spec)];
    scene.write_inventory(|h| label(h, "role", "edge"));
    assert_eq!(
        scene
            .dsctl(&[&["apply"][..], &files].concat())
            .status
            .code(),
        Some(0)
    );
    for host in &hosts {
        assert!(
            http_get(&host.address, 8083, "/").is_some(),
            "{}",
            host.name
        );
    }

    // host 0 loses the label, host 1 gains NoSchedule, host 2 gains NoExecute.
    let (h0, h1) = (hosts[0].name.clone(), hosts[1].name.clone());
    scene.write_inventory(|h| {
        let name = h["name"].as_str().unwrap().to_string();
        if name != h0 {
            label(h, "role", "edge");
        }
        if name == h1 {
            taint(h, "maintenance", "NoSchedule");
        } else if name != h0 {
            taint(h, "maintenance", "NoExecute");
        }
    });
    let out = scene.dsctl(&[&["apply"][..], &files].concat());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        unit_files(&hosts[0].name, "e2e-sel").trim(),
        "",
        "relabelled host is garbage-collected"
    );
    assert_eq!(http_get(&hosts[0].address, 8083, "/"), None);
    assert_eq!(
        http_get(&hosts[1].address, 8083, "/"),
        Some((200, "1".into())),
        "NoSchedule keeps it"
    );
    assert_eq!(
        unit_files(&hosts[2].name, "e2e-sel").trim(),
        "",
        "NoExecute evicts it"
    );
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn an_unreachable_host_is_reported_and_the_others_converge() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 3);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["e2e-down"]);
    let spec = scene.spec("down.toml", &web_spec("e2e-down", "1", 8084, &[]));
    let down = hosts[2].name.clone();
    on_host(
        &down,
        "systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl stop ssh.service",
    );
    let out = scene.dsctl(&["apply", "-f", path_str(&spec), "--connect-timeout", "3"]);
    on_host(&down, "systemctl start ssh.service");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains(&format!("{down}: UNREACHABLE")), "{text}");
    assert!(text.contains("1 failed"), "{text}");
    for host in &hosts[..2] {
        assert_eq!(
            http_get(&host.address, 8084, "/"),
            Some((200, "1".into())),
            "{}",
            host.name
        );
    }
    assert!(eventually(Duration::from_secs(10), || on_host(
        &down,
        "systemctl is-active ssh.service"
    )
    .status
    .success()));
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn a_wrong_host_key_is_refused_and_nothing_changes() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 2);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["e2e-key"]);
    // A known_hosts where the first host has the second host's key.
    let known = std::fs::read_to_string(repo().join("target/fleet/known_hosts")).unwrap();
    let names = |line: &str| {
        line.split_whitespace()
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let key_of = |address: &str| {
        let line = known
            .lines()
            .find(|l| names(l).iter().any(|n| n == address))
            .unwrap();
        line.split_once(' ').unwrap().1.to_string()
    };
    let other_key = key_of(&hosts[1].address);
    let forged: String = known
        .lines()
        .map(|l| {
            if names(l).iter().any(|n| *n == hosts[0].address) {
                format!("{} {other_key}\n", l.split_whitespace().next().unwrap())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let forged_path = scene.dir.path().join("known_hosts");
    std::fs::write(&forged_path, forged).unwrap();
    let forged_str = forged_path.to_str().unwrap().to_string();
    scene.write_inventory(|h| {
        h.insert("known_hosts".into(), forged_str.clone().into());
    });
    let spec = scene.spec("key.toml", &web_spec("e2e-key", "1", 8085, &[]));
    let out = scene.dsctl(&["apply", "-f", path_str(&spec), "--accept-new-host-keys"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&hosts[0].name) && text.to_lowercase().contains("host key"),
        "{text}"
    );
    assert_eq!(
        unit_files(&hosts[0].name, "e2e-key").trim(),
        "",
        "nothing changed on the refused host"
    );
    assert_eq!(
        http_get(&hosts[1].address, 8085, "/"),
        Some((200, "1".into()))
    );
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn a_held_lock_makes_apply_wait_then_fail_naming_the_holder() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 1);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["e2e-lock"]);
    let spec = scene.spec("lock.toml", &web_spec("e2e-lock", "1", 8086, &[]));
    let host = hosts[0].name.clone();
    // Another dsctl (simulated) holds the host's lock for 6 seconds.
    let holder = std::thread::spawn({
        let host = host.clone();
        move || {
            on_host(
                &host,
                "mkdir -p /var/lib/dsctl; exec 9>>/var/lib/dsctl/lock; flock 9; echo 'other@laptop pid 1' > /var/lib/dsctl/lock.holder; sleep 6; rm -f /var/lib/dsctl/lock.holder",
            )
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    let out = scene.dsctl(&["apply", "-f", path_str(&spec), "--lock-timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("other@laptop"),
        "names the holder: {}",
        stdout(&out)
    );
    assert_eq!(
        unit_files(&host, "e2e-lock").trim(),
        "",
        "nothing interleaved"
    );
    let started = Instant::now();
    let out = scene.dsctl(&["apply", "-f", path_str(&spec), "--lock-timeout", "30"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "waits for the lock, then applies"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for the holder"
    );
    holder.join().unwrap();

    // Two applies at once with different images: both finish, one after the other.
    let v2 = scene.spec("lock2.toml", &web_spec("e2e-lock", "2", 8086, &[]));
    let a = std::thread::spawn({
        let inv = scene.inventory();
        let spec = spec.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_dsctl"))
                .args(["apply", "-f"])
                .arg(spec)
                .arg("-i")
                .arg(inv)
                .output()
                .unwrap()
        }
    });
    let b = scene.dsctl(&["apply", "-f", path_str(&v2)]);
    let a = a.join().unwrap();
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(b.status.code(), Some(0));
    let served = http_get(&hosts[0].address, 8086, "/").unwrap().1;
    assert!(served == "1" || served == "2");
    // Whichever ran last is what the host records and serves: never a mix.
    let recorded = stdout(&on_host(
        &host,
        "cat /var/lib/dsctl/daemonsets/e2e-lock/units/*",
    ));
    assert!(
        recorded.contains(&format!("localhost/dsctl-test/web:{served}")),
        "{recorded}"
    );
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn delete_and_prune_leave_nothing_behind() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let mut hosts = fleet.of_suite("trixie", 1);
    hosts.extend(fleet.of_suite("bookworm", 1));
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["e2e-keep", "e2e-gone"]);
    let keep = scene.spec("keep.toml", &web_spec("e2e-keep", "1", 8087, &[]));
    let gone = scene.spec("gone.toml", &web_spec("e2e-gone", "1", 8088, &[]));
    assert_eq!(
        scene
            .dsctl(&["apply", "-f", path_str(&keep), "-f", path_str(&gone)])
            .status
            .code(),
        Some(0)
    );

    // Without --prune, a DaemonSet the specs no longer name stays.
    assert_eq!(
        scene.dsctl(&["apply", "-f", path_str(&keep)]).status.code(),
        Some(0)
    );
    assert!(http_get(&hosts[0].address, 8088, "/").is_some());
    assert_eq!(
        scene
            .dsctl(&["apply", "--prune", "-f", path_str(&keep)])
            .status
            .code(),
        Some(0)
    );
    for host in &hosts {
        assert_eq!(
            unit_files(&host.name, "e2e-gone").trim(),
            "",
            "{}",
            host.name
        );
        assert_eq!(http_get(&host.address, 8088, "/"), None);
        assert!(http_get(&host.address, 8087, "/").is_some());
    }
    let out = scene.dsctl(&["delete", "-f", path_str(&keep)]);
    assert_eq!(out.status.code(), Some(0));
    for host in &hosts {
        assert_eq!(
            unit_files(&host.name, "e2e-keep").trim(),
            "",
            "{}",
            host.name
        );
        let leftovers = stdout(&on_host(
            &host.name,
            "podman ps -a --filter label=dsctl.daemonset=e2e-keep --format '{{.Names}}'; systemctl list-units --all --no-legend 'dsctl_e2e-keep_*'",
        ));
        assert_eq!(leftovers.trim(), "", "{}", host.name);
    }
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn get_reads_daemonsets_and_pods_live_from_the_hosts() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 2);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["e2e-get"]);
    let spec = scene.spec("get.toml", &web_spec("e2e-get", "1", 8089, &[]));
    assert_eq!(
        scene.dsctl(&["apply", "-f", path_str(&spec)]).status.code(),
        Some(0)
    );
    let out = scene.dsctl(&["get", "ds"]);
    let text = stdout(&out);
    assert!(text.starts_with("NAME"), "{text}");
    for column in [
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE SELECTOR",
        "AGE",
    ] {
        assert!(text.contains(column), "{text}");
    }
    let row = text
        .lines()
        .find(|l| l.starts_with("e2e-get "))
        .unwrap_or_else(|| panic!("{text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[1..6], &["2", "2", "2", "2", "2"], "{row}");
    let out = scene.dsctl(&["get", "pods", "e2e-get", "-o", "json"]);
    let pods = json(&out);
    let pods = pods["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 2);
    for pod in pods {
        assert_eq!(pod["daemonset"], "e2e-get");
        assert_eq!(pod["state"], "running", "{pod:#}");
    }
}

/// The seed document's two manifests run as they are, with two test-only adjustments because
/// no registry can be reached here: the fleet's web image stands in under the seed's image
/// names, and the pull policy is IfNotPresent so the stand-ins are used.
#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn the_seed_nginx_and_fluentd_examples_run_where_kubernetes_would_place_them() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 2);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["nginx-test-daemonset", "fluentd-logger"]);
    let control_plane = hosts[1].name.clone();
    scene.write_inventory(|h| {
        if h["name"].as_str() == Some(control_plane.as_str()) {
            taint(h, "node-role.kubernetes.io/control-plane", "NoSchedule");
        }
    });
    for host in &hosts {
        let tag = "for n in docker.io/library/nginx:latest docker.io/fluentd/fluentd:v1.16-debian-1; do podman tag localhost/dsctl-test/web:1 $n; done";
        assert!(on_host(&host.name, tag).status.success());
    }
    let mut files = Vec::new();
    for example in ["nginx", "fluentd"] {
        let text =
            std::fs::read_to_string(repo().join(format!("examples/{example}.toml"))).unwrap();
        let mut doc: toml::Table = text.parse().unwrap();
        let containers = doc["spec"]["template"]["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap();
        let patched: Vec<toml::Value> = containers
            .into_iter()
            .map(|mut c| {
                c.as_table_mut()
                    .unwrap()
                    .insert("imagePullPolicy".into(), "IfNotPresent".into());
                c
            })
            .collect();
        doc["spec"]["template"]["spec"]
            .as_table_mut()
            .unwrap()
            .insert("containers".into(), toml::Value::Array(patched));
        files.push(scene.spec(&format!("{example}.toml"), &toml::to_string(&doc).unwrap()));
    }
    let out = scene.dsctl(&[
        "apply",
        "-f",
        path_str(&files[0]),
        "-f",
        path_str(&files[1]),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Found by label: instances are named by revision.
    let id = |host: &str, ds: &str, container: &str| {
        stdout(&on_host(
            host,
            &format!(
                "podman ps -q --filter status=running --filter label=dsctl.daemonset={ds} --filter label=dsctl.container={container}"
            ),
        ))
        .trim()
        .to_string()
    };
    let running = |host: &str, ds: &str, container: &str| !id(host, ds, container).is_empty();
    // nginx has no toleration: not on the control-plane host. fluentd tolerates it.
    assert!(running(
        &hosts[0].name,
        "nginx-test-daemonset",
        "nginx-test-container"
    ));
    assert!(!running(
        &control_plane,
        "nginx-test-daemonset",
        "nginx-test-container"
    ));
    for host in &hosts {
        assert!(
            running(&host.name, "fluentd-logger", "fluentd-container"),
            "{}",
            host.name
        );
        let mounts = stdout(&on_host(
            &host.name,
            &format!(
                "podman inspect -f '{{{{range .Mounts}}}}{{{{.Destination}}}}:{{{{.RW}}}} {{{{end}}}}' {}",
                id(&host.name, "fluentd-logger", "fluentd-container")
            ),
        ));
        assert!(
            mounts.contains("/var/log:true") && mounts.contains("/var/lib/docker/containers:false"),
            "{mounts}"
        );
    }
}
