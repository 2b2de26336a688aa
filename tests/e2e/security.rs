//! End-to-end tests of security contexts on one Debian 13 (Quadlet) and one Debian 12
//! (podman-run service) host: what the container's kernel view shows, and the kubelet's
//! runAsNonRoot refusal at start.

use std::time::Duration;

use crate::harness::*;

/// The last trixie and the last bookworm host (the others' tests start from the first).
fn two_flavours(fleet: &Fleet) -> Vec<FleetHost> {
    ["trixie", "bookworm"]
        .iter()
        .map(|suite| {
            fleet
                .hosts
                .iter()
                .rfind(|h| h.suite == *suite)
                .unwrap_or_else(|| panic!("the fleet needs a {suite} host"))
                .clone()
        })
        .collect()
}

/// The web image on `host_port`, with pod-level and container-level securityContext tables.
fn spec(name: &str, host_port: u16, pod_sc: &str, container_sc: &str) -> String {
    format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "{name}"
[spec.selector.matchLabels]
app = "{name}"
[spec.template.metadata.labels]
app = "{name}"
[spec.template.spec]
securityContext = {{ {pod_sc} }}
[[spec.template.spec.containers]]
name = "web"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
securityContext = {{ {container_sc} }}
[[spec.template.spec.containers.ports]]
containerPort = 8080
hostPort = {host_port}
[dsctl]
progressDeadlineSeconds = 30
"#
    )
}

/// `/proc/1/status` inside the DaemonSet's container on `host`, found by label.
fn proc_status(host: &str, ds: &str) -> String {
    stdout(&on_host(
        host,
        &format!(
            "id=$(podman ps -q --filter label=dsctl.daemonset={ds} --filter label=dsctl.container=web | head -n1); [ -n \"$id\" ] && podman exec \"$id\" cat /proc/1/status"
        ),
    ))
}

fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in\n{status}"))
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn dropped_capabilities_no_new_privileges_and_pod_level_user_reach_the_container() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = two_flavours(&fleet);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["sc-caps"]);
    let file = scene.spec(
        "caps.toml",
        &spec(
            "sc-caps",
            19250,
            "runAsNonRoot = true, runAsUser = 1000, runAsGroup = 1000, supplementalGroups = [4242]",
            "allowPrivilegeEscalation = false, capabilities = { drop = [\"ALL\"] }",
        ),
    );
    let out = scene.dsctl(&["apply", "-f", path_str(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for host in &hosts {
        let status = proc_status(&host.name, "sc-caps");
        assert_eq!(
            status_field(&status, "CapEff"),
            "0000000000000000",
            "{}",
            host.name
        );
        assert_eq!(
            status_field(&status, "CapPrm"),
            "0000000000000000",
            "{}",
            host.name
        );
        assert_eq!(status_field(&status, "NoNewPrivs"), "1", "{}", host.name);
        // The pod's runAsUser/runAsGroup/supplementalGroups, inherited by the container.
        assert!(
            status_field(&status, "Uid").starts_with("1000\t"),
            "{status}"
        );
        assert!(
            status_field(&status, "Gid").starts_with("1000\t"),
            "{status}"
        );
        assert!(status_field(&status, "Groups").contains("4242"), "{status}");
        assert_eq!(
            http_get(&host.address, 19250, "/"),
            Some((200, "1".into())),
            "{}",
            host.name
        );
    }
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn run_as_non_root_with_a_root_image_fails_to_start_with_the_kubelets_message() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = two_flavours(&fleet);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["sc-nonroot"]);
    // The web image has no USER: it runs as root, which runAsNonRoot forbids.
    let file = scene.spec(
        "nonroot.toml",
        &spec("sc-nonroot", 19251, "runAsNonRoot = true", ""),
    );
    let out = scene.dsctl(&["validate", "-f", path_str(&file)]);
    assert_eq!(out.status.code(), Some(0), "the uid is unknown until start");
    let out = scene.dsctl(&["apply", "-f", path_str(&file)]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    for host in &hosts {
        let journal = || {
            stdout(&on_host(
                &host.name,
                "journalctl -u '*sc-nonroot*' --no-pager -o cat -n 50",
            ))
        };
        assert!(
            eventually(Duration::from_secs(20), || journal().contains(
                "container web has runAsNonRoot and image will run as root"
            )),
            "{}: {}",
            host.name,
            journal()
        );
        let running = stdout(&on_host(
            &host.name,
            "podman ps -q --filter label=dsctl.daemonset=sc-nonroot --filter label=dsctl.container=web",
        ));
        assert_eq!(running.trim(), "", "{}: nothing may run as root", host.name);
    }
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn post_start_and_pre_stop_hooks_run_in_the_container() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = two_flavours(&fleet);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["sc-hooks"]);
    let dir = "/var/tmp/sc-hooks";
    for host in &hosts {
        on_host(&host.name, &format!("rm -rf {dir}"));
    }
    let hooks = r#"lifecycle = { postStart = { exec = { command = ["/bin/sh", "-c", "echo started > /hooks/post-start"] } }, preStop = { exec = { command = ["/bin/sh", "-c", "echo stopping > /hooks/pre-stop"] } } }
volumeMounts = [{ name = "hooks", mountPath = "/hooks" }]
"#;
    let volume = format!(
        "[[spec.template.spec.volumes]]\nname = \"hooks\"\nhostPath = {{ path = \"{dir}\", type = \"DirectoryOrCreate\" }}\n[dsctl]"
    );
    let text = spec("sc-hooks", 19252, "", "")
        .replace(
            "securityContext = {  }\n[[spec.template.spec.containers.ports]]",
            &format!("{hooks}[[spec.template.spec.containers.ports]]"),
        )
        .replace("[dsctl]", &volume);
    let file = scene.spec("hooks.toml", &text);
    let out = scene.dsctl(&["apply", "-f", path_str(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for host in &hosts {
        let read = |f: &str| stdout(&on_host(&host.name, &format!("cat {dir}/{f} 2>/dev/null")));
        assert_eq!(read("post-start").trim(), "started", "{}", host.name);
        assert_eq!(
            read("pre-stop").trim(),
            "",
            "{}: not stopped yet",
            host.name
        );
    }
    let out = scene.dsctl(&["delete", "ds", "sc-hooks"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for host in &hosts {
        let pre_stop = stdout(&on_host(
            &host.name,
            &format!("cat {dir}/pre-stop 2>/dev/null"),
        ));
        assert_eq!(pre_stop.trim(), "stopping", "{}", host.name);
        on_host(&host.name, &format!("rm -rf {dir}"));
    }
}
