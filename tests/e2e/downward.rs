//! End-to-end tests of the downward API, `$(VAR)` expansion and the observed well-known node
//! labels, on one Debian 13 (Quadlet) and one Debian 12 (service units) host.
//!
//! Containers are found by their labels (`dsctl.daemonset=…`), not by name, so these tests
//! hold whatever the container naming scheme.

use std::time::Duration;

use crate::harness::*;

const DS: &str = "dw-downward";
const ARM: &str = "dw-arm";
const PORT: u16 = 19200;
/// The hostPath the test's subPathExpr mounts a per-node directory of.
const HOST_DIR: &str = "/var/tmp/dw-downward";

/// The web image serving its own environment at /env.txt, with downward env vars, `$(VAR)`s
/// in its argv and limits that resourceFieldRef reads back.
fn downward_spec() -> String {
    format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "{DS}"
namespace = "monitoring"
[spec.selector.matchLabels]
app = "{DS}"
[spec.template.metadata.labels]
app = "{DS}"
[spec.template.spec]
nodeSelector = {{ "kubernetes.io/arch" = "amd64" }}
volumes = [
  {{ name = "data", hostPath = {{ path = "{HOST_DIR}", type = "DirectoryOrCreate" }} }},
  {{ name = "podinfo", downwardAPI = {{ items = [
    {{ path = "labels", fieldRef = {{ fieldPath = "metadata.labels" }} }},
    {{ path = "ids/name", fieldRef = {{ fieldPath = "metadata.name" }} }},
    {{ path = "mem", resourceFieldRef = {{ containerName = "main", resource = "limits.memory", divisor = "1Mi" }} }},
  ] }} }},
]
[[spec.template.spec.containers]]
name = "main"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
command = ["/bin/sh", "-c"]
args = ["env > /www/env.txt; echo \"$0 $1\" > /www/argv.txt; echo \"$0\" > /data/hello; exec /entrypoint", "$(NODE_NAME)", "$$(NODE_NAME)", "$(URL)"]
volumeMounts = [
  {{ name = "data", mountPath = "/data", subPathExpr = "nodes/$(NODE_NAME)" }},
  {{ name = "podinfo", mountPath = "/etc/podinfo" }},
]
resources = {{ limits = {{ cpu = "500m", memory = "64Mi" }} }}
ports = [{{ containerPort = 8080, hostPort = {PORT} }}]
env = [
  {{ name = "NODE_NAME", valueFrom = {{ fieldRef = {{ fieldPath = "spec.nodeName" }} }} }},
  {{ name = "HOST_IP", valueFrom = {{ fieldRef = {{ fieldPath = "status.hostIP" }} }} }},
  {{ name = "POD_NAME", valueFrom = {{ fieldRef = {{ fieldPath = "metadata.name" }} }} }},
  {{ name = "POD_NAMESPACE", valueFrom = {{ fieldRef = {{ fieldPath = "metadata.namespace" }} }} }},
  {{ name = "APP", valueFrom = {{ fieldRef = {{ fieldPath = "metadata.labels['app']" }} }} }},
  {{ name = "MEM_MI", valueFrom = {{ resourceFieldRef = {{ resource = "limits.memory", divisor = "1Mi" }} }} }},
  {{ name = "CPU_M", valueFrom = {{ resourceFieldRef = {{ resource = "limits.cpu", divisor = "1m" }} }} }},
  {{ name = "CPU_REQUEST_M", valueFrom = {{ resourceFieldRef = {{ resource = "requests.cpu", divisor = "1m" }} }} }},
  {{ name = "STORAGE_KI", valueFrom = {{ resourceFieldRef = {{ resource = "limits.ephemeral-storage", divisor = "1Ki" }} }} }},
  {{ name = "URL", value = "http://$(HOST_IP):{PORT}/" }},
]
"#
    )
}

/// A DaemonSet for arm64 hosts only.
fn arm_spec() -> String {
    format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "{ARM}"
[spec.selector.matchLabels]
app = "{ARM}"
[spec.template.metadata.labels]
app = "{ARM}"
[spec.template.spec]
nodeSelector = {{ "kubernetes.io/arch" = "arm64" }}
[[spec.template.spec.containers]]
name = "main"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
ports = [{{ containerPort = 8080, hostPort = {} }}]
"#,
        PORT + 1
    )
}

/// The names of the DaemonSet's running containers on a host, found by label.
fn containers(host: &str, ds: &str) -> Vec<String> {
    stdout(&on_host(
        host,
        &format!(
            "podman ps --filter label=dsctl.daemonset={ds} --filter label=dsctl.container=main --format '{{{{.Names}}}}'"
        ),
    ))
    .lines()
    .map(str::to_string)
    .filter(|l| !l.is_empty())
    .collect()
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn containers_see_their_host_through_the_downward_api_and_expanded_argv() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let mut hosts = fleet.of_suite("trixie", 1);
    hosts.extend(fleet.of_suite("bookworm", 1));
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&[DS, ARM]);
    for host in &hosts {
        on_host(&host.name, &format!("rm -rf {HOST_DIR}"));
    }
    let downward = scene.spec("downward.toml", &downward_spec());
    let arm = scene.spec("arm.toml", &arm_spec());
    let files = ["-f", path_str(&downward), "-f", path_str(&arm)];

    // Offline, explain cannot know the architecture, and says so.
    let out = scene.dsctl(&[&["explain"][..], &files].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("depends on kubernetes.io/arch, which the inventory does not pin"),
        "{}",
        stdout(&out)
    );

    let out = scene.dsctl(&[&["apply"][..], &files].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    for host in &hosts {
        // nodeSelector kubernetes.io/arch=amd64 matched the observed x86_64 host; arm64 did not.
        let running = containers(&host.name, DS);
        assert_eq!(running.len(), 1, "{}: {running:?}", host.name);
        assert!(
            containers(&host.name, ARM).is_empty(),
            "{} is not arm64",
            host.name
        );
        let name = &running[0];

        let env = stdout(&on_host(&host.name, &format!("podman exec {name} env")));
        let storage_kib = stdout(&on_host(
            &host.name,
            "df -Pk /var/lib/containers | awk 'NR == 2 {print $2}'",
        ));
        let revision = stdout(&on_host(
            &host.name,
            &format!(
                "podman inspect {name} --format '{{{{index .Config.Labels \"dsctl.revision\"}}}}'"
            ),
        ));
        let url = format!("http://{}:{PORT}/", host.address);
        for want in [
            format!("NODE_NAME={}", host.name),
            format!("HOST_IP={}", host.address),
            format!("POD_NAME=dsctl_{DS}_{}", revision.trim()),
            "POD_NAMESPACE=monitoring".to_string(),
            format!("APP={DS}"),
            "MEM_MI=64".to_string(),
            "CPU_M=500".to_string(),
            // The API server defaults a missing request to the limit.
            "CPU_REQUEST_M=500".to_string(),
            // No ephemeral-storage limit: the node's allocatable, all of its storage.
            format!("STORAGE_KI={}", storage_kib.trim()),
            format!("URL={url}"),
        ] {
            assert!(
                env.lines().any(|l| l == want),
                "{}: wanted {want} in:\n{env}",
                host.name
            );
        }

        // $(VAR) is expanded in the argv podman runs, `$$` escapes, as the kubelet does.
        let cmd = stdout(&on_host(
            &host.name,
            &format!("podman inspect {name} --format '{{{{json .Config.Cmd}}}}'"),
        ));
        let cmd: Vec<String> = serde_json::from_str(cmd.trim())
            .unwrap_or_else(|e| panic!("{}: {e}: {cmd}", host.name));
        assert_eq!(
            cmd[1..],
            [host.name.clone(), "$(NODE_NAME)".to_string(), url.clone()],
            "{}: {cmd:?}",
            host.name
        );

        // The process itself sees the same, served from the host.
        assert!(
            eventually(Duration::from_secs(20), || {
                http_get(&host.address, PORT, "/argv.txt")
                    == Some((200, format!("{} $(NODE_NAME)", host.name)))
            }),
            "{}: {:?}",
            host.name,
            http_get(&host.address, PORT, "/argv.txt")
        );
        let (_, page) = http_get(&host.address, PORT, "/env.txt").expect("env page");
        assert!(
            page.lines()
                .any(|l| l == format!("NODE_NAME={}", host.name)),
            "{page}"
        );

        // The downwardAPI volume's files, as the kubelet writes them.
        let file = |f: &str| {
            stdout(&on_host(
                &host.name,
                &format!("podman exec {name} cat /etc/podinfo/{f}"),
            ))
        };
        assert_eq!(file("mem"), "64", "{}", host.name);
        assert_eq!(file("ids/name"), format!("dsctl_{DS}_{}", revision.trim()));
        assert_eq!(
            file("labels"),
            format!(
                "app=\"{DS}\"\ncontroller-revision-hash=\"{}\"",
                revision.trim()
            )
        );

        // subPathExpr mounted the host's own directory of the hostPath.
        let hello = stdout(&on_host(
            &host.name,
            &format!("cat {HOST_DIR}/nodes/{}/hello", host.name),
        ));
        assert_eq!(hello.trim(), host.name, "{}", host.name);
    }

    // A second apply is a no-op: the per-host values are stable.
    let out = scene.dsctl(&[&["apply", "-o", "json"][..], &files].concat());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["changed"], 0, "{report:#}");

    // Pinned in the inventory, the label wins over the observed one.
    let bookworm = hosts[1].name.clone();
    scene.write_inventory(|h| {
        if h["name"].as_str() == Some(bookworm.as_str()) {
            label(h, "kubernetes.io/arch", "arm64");
        }
    });
    let out = scene.dsctl(&[&["apply"][..], &files].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        containers(&bookworm, ARM).len(),
        1,
        "{bookworm} pinned arm64"
    );
    assert!(
        containers(&bookworm, DS).is_empty(),
        "{bookworm} is no longer amd64"
    );
    assert_eq!(containers(&hosts[0].name, DS).len(), 1);
    let out = scene.dsctl(&["delete", "ds", DS, ARM]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for host in &hosts {
        assert!(containers(&host.name, DS).is_empty(), "{}", host.name);
        // The instance directory (downwardAPI files) goes with the instance once the pod
        // model removes it; until then the test removes its own.
        on_host(
            &host.name,
            &format!("rm -rf {HOST_DIR} /var/lib/dsctl/pods/dsctl_{DS}_*"),
        );
    }
}
