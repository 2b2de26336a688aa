//! YAML in, on the fleet: a Kubernetes YAML DaemonSet applies as its TOML would, and the TOML
//! `dsctl convert` writes from it is in sync with what the YAML put on the hosts.

use crate::harness::*;

const YAML: &str = "# the test fleet's web image, as a Kubernetes user writes it
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: ym-web
spec:
  selector:
    matchLabels: {app: ym-web}
  template:
    metadata:
      labels:
        app: ym-web
    spec:
      containers:
      - name: web
        image: localhost/dsctl-test/web:1
        imagePullPolicy: Never
        ports:
        - containerPort: 8080
          hostPort: 19400 # ym- range
";

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn a_yaml_daemonset_applies_and_its_conversion_is_in_sync() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let hosts = vec![
        fleet.of_suite("trixie", 1).remove(0),
        fleet.of_suite("bookworm", 1).remove(0),
    ];
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["ym-web"]);
    let yaml = scene.spec("ym-web.yaml", YAML);

    let out = scene.dsctl(&["apply", "-f", path_str(&yaml)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for host in &hosts {
        assert!(
            eventually(std::time::Duration::from_secs(30), || http_get(
                &host.address,
                19400,
                "/"
            ) == Some((
                200,
                "1".into()
            ))),
            "ym-web on {}",
            host.name
        );
    }

    let converted = scene.dir.path().join("converted");
    // (convert is offline: it takes no inventory, so not through scene.dsctl.)
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dsctl"))
        .args(["convert", "-f", path_str(&yaml), "-o", path_str(&converted)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let toml = converted.join("ym-web.toml");
    assert!(
        std::fs::read_to_string(&toml)
            .unwrap()
            .contains("hostPort = 19400 # ym- range"),
        "the comment is kept"
    );
    // Same revision, same units: the hosts are in sync with the TOML (diff exits 0).
    let out = scene.dsctl(&["diff", "-f", path_str(&toml)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = scene.dsctl(&["delete", "-f", path_str(&yaml)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
