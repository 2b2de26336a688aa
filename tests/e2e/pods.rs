//! The pod model on the fleet (issue 8): one podman pod per instance, init containers, emptyDir,
//! revision-named updates and maxSurge, on both flavours (trixie: Quadlet, bookworm: services).

use std::time::Duration;

use crate::harness::*;

/// An init container writes `filled-<tag>` (or fails, with `fail`) into an emptyDir that the
/// app serves on 19151; a sidecar fetches it over the pod's localhost into /tmp/seen.
fn pod_spec(name: &str, port: u16, tag: &str, fail: bool) -> String {
    let init = if fail {
        "echo init-broke-here; exit 3".to_string()
    } else {
        format!("echo filled-{tag} > /data/index.html")
    };
    format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "{name}"
[spec.selector.matchLabels]
app = "{name}"
[spec.template.metadata.labels]
app = "{name}"
[[spec.template.spec.initContainers]]
name = "fill"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
command = ["sh", "-c", "{init}"]
[[spec.template.spec.initContainers.volumeMounts]]
name = "data"
mountPath = "/data"
[[spec.template.spec.containers]]
name = "web"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
command = ["httpd", "-f", "-p", "{port}", "-h", "/data"]
[[spec.template.spec.containers.ports]]
containerPort = {port}
hostPort = {port}
[[spec.template.spec.containers.volumeMounts]]
name = "data"
mountPath = "/data"
[[spec.template.spec.containers]]
name = "side"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
command = ["sh", "-c", "while true; do wget -q -O /tmp/got http://localhost:{port}/ && cp /tmp/got /tmp/seen; sleep 1; done"]
[[spec.template.spec.volumes]]
name = "data"
emptyDir = {{}}
"#
    )
}

fn on(host: &str, script: &str) -> String {
    String::from_utf8_lossy(&on_host(host, script).stdout).into_owned()
}

/// The pods of a DaemonSet on a host, by name.
fn pods(host: &str, ds: &str) -> Vec<String> {
    on(
        host,
        &format!("podman pod ps --filter name=dsctl_{ds}_ --format '{{{{.Name}}}}'"),
    )
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
#[ignore]
fn pc_pod_init_fills_empty_dir_served_over_localhost_and_updates_replace_the_pod() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let mut hosts = fleet.of_suite("trixie", 1);
    hosts.extend(fleet.of_suite("bookworm", 1));
    let scene = Scene::new(&fleet, &hosts);
    let name = "pc-pod";
    scene.own(&[name]);
    for tag in ["r1", "r2"] {
        let spec = scene.spec(&format!("{tag}.toml"), &pod_spec(name, 19151, tag, false));
        let out = scene.dsctl(&["apply", "-f", path_str(&spec)]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        for h in &hosts {
            let served = http_get(&h.address, 19151, "/").map(|(_, body)| body);
            assert_eq!(
                served.as_deref().map(str::trim),
                Some(&*format!("filled-{tag}")),
                "{}",
                h.name
            );
            let pods = pods(&h.name, name);
            assert_eq!(pods.len(), 1, "{}: one pod: {pods:?}", h.name);
            let side = format!("{}_side", pods[0]);
            assert!(
                eventually(Duration::from_secs(10), || on(
                    &h.name,
                    &format!("podman exec {side} cat /tmp/seen")
                )
                .trim()
                    == format!("filled-{tag}")),
                "{}: the sidecar reaches the app over localhost",
                h.name
            );
            let dirs = on(
                &h.name,
                &format!("ls /var/lib/dsctl/pods | grep '^dsctl_{name}_'"),
            );
            assert_eq!(
                dirs.trim(),
                pods[0],
                "{}: only the current instance's dir",
                h.name
            );
        }
    }
    let spec = scene.spec("again.toml", &pod_spec(name, 19151, "r2", false));
    let out = scene.dsctl(&["diff", "-f", path_str(&spec)]);
    assert_eq!(out.status.code(), Some(0), "converged: {}", stdout(&out));
}

#[test]
#[ignore]
fn pc_failing_init_keeps_the_app_down_is_reported_and_halts_the_rollout() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let mut hosts = fleet.of_suite("trixie", 1);
    hosts.extend(fleet.of_suite("bookworm", 1));
    let scene = Scene::new(&fleet, &hosts);
    let name = "pc-init";
    scene.own(&[name]);
    let good = scene.spec("good.toml", &pod_spec(name, 19152, "ok", false));
    let out = scene.dsctl(&["apply", "-f", path_str(&good)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bad = scene.spec("bad.toml", &pod_spec(name, 19152, "ok", true));
    let out = scene.dsctl(&["apply", "-f", path_str(&bad)]);
    assert_ne!(out.status.code(), Some(0));
    let report = format!("{}{}", stdout(&out), stderr(&out));
    assert!(report.contains("rollout halted"), "{report}");
    // The host that took the failing revision: its app never started, and diff says why.
    let diff = scene.dsctl(&["diff", "-f", path_str(&bad)]);
    let text = stdout(&diff);
    assert!(
        text.contains("_fill.service is failed (exit code 3): init-broke-here"),
        "{text}"
    );
    assert!(text.contains("_web.service is inactive"), "{text}");
    let updated: Vec<_> = hosts
        .iter()
        .filter(|h| http_get(&h.address, 19152, "/").is_none())
        .collect();
    assert_eq!(
        updated.len(),
        1,
        "maxUnavailable = 1: one host down, the other halted"
    );
    let out = scene.dsctl(&["apply", "-f", path_str(&good)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// maxSurge as Kubernetes: the new revision's pod runs beside the old one until it is
/// available, then the old goes; never two pods of one revision, never none.
#[test]
#[ignore]
fn pc_max_surge_runs_the_new_pod_beside_the_old_never_two_of_one_revision() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 2);
    let scene = Scene::new(&fleet, &hosts);
    let name = "pc-surge";
    scene.own(&[name]);
    let v1 = scene.spec("v1.toml", &surge_spec(name, "1", ""));
    let out = scene.dsctl(&["apply", "-f", path_str(&v1)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pollers: Vec<_> = hosts
        .iter()
        .map(|h| {
            let (host, stop) = (h.name.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seen.push(pods(&host, "pc-surge"));
                    std::thread::sleep(Duration::from_millis(200));
                }
                seen
            })
        })
        .collect();
    let v2 = scene.spec("v2.toml", &surge_spec(name, "2", ""));
    let out = scene.dsctl(&["apply", "-f", path_str(&v2)]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for (h, poller) in hosts.iter().zip(pollers) {
        let seen = poller.join().unwrap();
        let most = seen.iter().map(Vec::len).max().unwrap_or(0);
        eprintln!(
            "{}: {} polls, at most {most} pods at once",
            h.name,
            seen.len()
        );
        for pods in &seen {
            assert!(!pods.is_empty(), "{}: never without an instance", h.name);
            let distinct: std::collections::BTreeSet<_> = pods.iter().collect();
            assert_eq!(
                distinct.len(),
                pods.len(),
                "{}: two pods of one revision",
                h.name
            );
            assert!(pods.len() <= 2, "{}: {pods:?}", h.name);
        }
        let now = pods(&h.name, name);
        assert_eq!(now.len(), 1, "{}: the old pod is gone: {now:?}", h.name);
    }
}
