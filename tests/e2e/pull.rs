//! imagePullSecrets against a real private registry (tests/fleet/registry: docker-registry
//! with htpasswd basic auth and TLS on node-6), on a Debian 13 (Quadlet) and a Debian 12
//! (podman-run service) host: the pull fails without the Secret, succeeds with it, the units'
//! own pulls use the same auth file, and the credential is in no output of dsctl and in no
//! file that a non-root user on the hosts can read.

use std::collections::BTreeMap;
use std::process::Command;

use base64::Engine;

use crate::harness::*;

const DS: &str = "cp-pull";
const SECRET: &str = "cp-regcred";
const PORT: u16 = 8621;

/// `tests/fleet/registry up HOSTS…`: REGISTRY, IMAGE, USER, PASSWORD.
fn registry_up(hosts: &[FleetHost]) -> BTreeMap<String, String> {
    let out = Command::new(repo().join("tests/fleet/registry"))
        .arg("up")
        .args(hosts.iter().map(|h| &h.name))
        .output()
        .unwrap();
    assert!(out.status.success(), "registry up: {}", stderr(&out));
    stdout(&out)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn host(fleet: &Fleet, name: &str) -> FleetHost {
    fleet
        .hosts
        .iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("the fleet has no {name}"))
        .clone()
}

fn daemonset(image: &str, pull_secret: bool) -> String {
    let secrets = if pull_secret {
        format!("imagePullSecrets = [{{ name = \"{SECRET}\" }}]\n")
    } else {
        String::new()
    };
    format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "{DS}"
[spec.selector.matchLabels]
app = "{DS}"
[spec.template.metadata.labels]
app = "{DS}"
[spec.template.spec]
{secrets}[[spec.template.spec.containers]]
name = "web"
image = "{image}"
imagePullPolicy = "IfNotPresent"
[[spec.template.spec.containers.ports]]
containerPort = 8080
hostPort = {PORT}
[dsctl]
progressDeadlineSeconds = 60
"#
    )
}

fn pull_secret(dockerconfigjson: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(dockerconfigjson);
    format!(
        r#"apiVersion = "v1"
kind = "Secret"
type = "kubernetes.io/dockerconfigjson"
[metadata]
name = "{SECRET}"
[data]
".dockerconfigjson" = "{b64}"
"#
    )
}

fn output_of(out: &std::process::Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// Every value that must never show: the password, the base64 `user:password`, and the
/// Secret's base64 data as written in the file.
fn assert_hidden(what: &str, text: &str, planted: &[String]) {
    assert!(!text.trim().is_empty(), "{what} printed nothing");
    for value in planted {
        assert!(
            !text.contains(value.as_str()),
            "{what} printed a credential:\n{text}"
        );
    }
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn image_pull_secrets_pull_from_a_private_registry_and_the_credential_never_shows() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    // node-6 runs the registry; node-7 is Debian 12.
    let hosts = vec![host(&fleet, "node-6"), host(&fleet, "node-7")];
    assert_eq!(
        (hosts[0].suite.as_str(), hosts[1].suite.as_str()),
        ("trixie", "bookworm")
    );
    let reg = registry_up(&hosts);
    let (image, user, password) = (&reg["IMAGE"], &reg["USER"], &reg["PASSWORD"]);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = format!(
        r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
        reg["REGISTRY"]
    );
    let secret_b64 = base64::engine::general_purpose::STANDARD.encode(&config);
    let planted = vec![password.clone(), auth.clone(), secret_b64.clone()];

    let scene = Scene::new(&fleet, &hosts);
    scene.own(&[DS]);
    for h in &hosts {
        on_host(
            &h.name,
            &format!("podman rmi -i -f {image} >/dev/null 2>&1; true"),
        );
    }

    // Without the Secret: podman is refused by the registry, and dsctl says so by image.
    std::fs::create_dir_all(scene.dir.path().join("specs/private")).unwrap();
    let bare = scene.spec("bare.toml", &daemonset(image, false));
    let out = scene.dsctl(&["apply", "-f", path_str(&bare)]);
    assert_eq!(out.status.code(), Some(1), "{}", output_of(&out));
    let text = output_of(&out);
    assert!(
        text.contains("image pull failed") && text.contains(image.as_str()),
        "{text}"
    );
    assert!(
        text.contains("authentication required") || text.contains("unauthorized"),
        "{text}"
    );
    for h in &hosts {
        assert_eq!(http_get(&h.address, PORT, "/"), None, "{}", h.name);
    }

    // With it, from a directory that holds the DaemonSet and its Secret.
    let dir = scene.dir.path().join("specs/private");
    scene.spec("private/ds.toml", &daemonset(image, true));
    scene.spec("private/secret.toml", &pull_secret(&config));
    let files = ["-f", path_str(&dir)];
    let mut outputs = Vec::new();
    for args in [
        &["validate"][..],
        &["render", "--host", "node-6"],
        &["render", "-v"],
        &["diff"],
    ] {
        let out = scene.dsctl(&[args, &files].concat());
        outputs.push((args.join(" "), output_of(&out)));
    }
    let started = std::time::Instant::now();
    let out = scene.dsctl(&[&["apply", "-vv"][..], &files].concat());
    eprintln!("apply with the pull secret took {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(0), "{}", output_of(&out));
    outputs.push(("apply -vv".into(), output_of(&out)));
    for h in &hosts {
        assert_eq!(
            http_get(&h.address, PORT, "/"),
            Some((200, "1".into())),
            "{} serves the private image",
            h.name
        );
    }
    for args in [
        &["apply", "-o", "json", "-v"][..],
        &["apply", "--dry-run", "-vv"],
        &["diff", "-vv"],
    ] {
        let out = scene.dsctl(&[args, &files].concat());
        outputs.push((args.join(" "), output_of(&out)));
    }
    for args in [
        &["get", "ds", "-o", "json"][..],
        &["get", "pods", "-vv"],
        &["rollout", "history", DS],
        &["rollout", "history", DS, "--revision", "1"],
    ] {
        let out = scene.dsctl(args);
        outputs.push((args.join(" "), output_of(&out)));
    }
    for (what, text) in &outputs {
        assert_hidden(what, text, &planted);
    }

    for h in &hosts {
        // The auth file: root's alone, and where the units find it.
        let file = format!("/var/lib/dsctl/auth/{DS}.json");
        let modes = stdout(&on_host(
            &h.name,
            &format!("stat -c '%a %U' /var/lib/dsctl/auth {file}"),
        ));
        assert_eq!(modes, "700 root\n600 root\n", "{}", h.name);
        let units = stdout(&on_host(
            &h.name,
            &format!(
                "cat /etc/containers/systemd/dsctl_{DS}_*_web.container /etc/systemd/system/dsctl_{DS}_*_web.service 2>/dev/null"
            ),
        ));
        assert!(
            units.contains(&format!("--authfile {file}")),
            "{}: {units}",
            h.name
        );

        // What dsctl keeps on the host (records, history, spec.json, lock, auth) is root's
        // alone; the instances' own volumes (pods/) are the containers' business.
        // (Polled: other suites' applies on the shared hosts may be running older binaries,
        // whose lock.holder was 0644 while their script ran.)
        let open = || {
            stdout(&on_host(
                &h.name,
                "find /var/lib/dsctl -path /var/lib/dsctl/pods -prune -o -perm /077 -print",
            ))
        };
        assert!(
            eventually(std::time::Duration::from_secs(60), || open().is_empty()),
            "{}: readable by others: {}",
            h.name,
            open()
        );

        // The units' own pulls use it too: the image gone, a restart pulls it again.
        let restart = on_host(
            &h.name,
            &format!(
                "u=$(systemctl list-units --all --no-legend --plain 'dsctl_{DS}_*_web.service' | awk '{{print $1}}'); systemctl stop \"$u\" && podman rmi -f {image} >/dev/null && systemctl start \"$u\" && podman image exists {image}"
            ),
        );
        assert!(
            restart.status.success(),
            "{}: {}",
            h.name,
            output_of(&restart)
        );
        assert!(
            eventually(std::time::Duration::from_secs(20), || http_get(
                &h.address, PORT, "/"
            ) == Some((
                200,
                "1".into()
            ))),
            "{}",
            h.name
        );

        // No file a non-root user can read holds the credential; root finds it in the auth
        // file (so the search does find the value where it is).
        let needle = format!("-e '{password}' -e '{auth}' -e '{secret_b64}'");
        let started = std::time::Instant::now();
        let nobody = on_host(
            &h.name,
            &format!(
                "for d in / /var/lib/containers; do runuser -u nobody -- find \"$d\" -xdev -type f -readable -print0 2>/dev/null; done | runuser -u nobody -- xargs -0 grep -lsF {needle} -- ; echo searched"
            ),
        );
        eprintln!(
            "{}: the search as nobody took {:?}",
            h.name,
            started.elapsed()
        );
        assert_eq!(
            stdout(&nobody),
            "searched\n",
            "{}: readable by nobody",
            h.name
        );
        let root = on_host(
            &h.name,
            &format!("grep -rlsF {needle} /var/lib/dsctl /etc/containers /etc/systemd"),
        );
        assert_eq!(stdout(&root), format!("{file}\n"), "{}", h.name);
    }

    // No more imagePullSecrets: the auth file goes (the image is present, so no pull).
    let out = scene.dsctl(&["apply", "-f", path_str(&bare)]);
    assert_eq!(out.status.code(), Some(0), "{}", output_of(&out));
    for h in &hosts {
        let left = on_host(&h.name, &format!("ls /var/lib/dsctl/auth/{DS}.json"));
        assert!(!left.status.success(), "{}: the auth file stayed", h.name);
    }
    // And a delete takes it with the DaemonSet.
    let out = scene.dsctl(&[&["apply"][..], &files].concat());
    assert_eq!(out.status.code(), Some(0), "{}", output_of(&out));
    let out = scene.dsctl(&["delete", "ds", DS]);
    assert_eq!(out.status.code(), Some(0), "{}", output_of(&out));
    for h in &hosts {
        let left = on_host(&h.name, &format!("ls /var/lib/dsctl/auth/{DS}.json"));
        assert!(
            !left.status.success(),
            "{}: delete left the auth file",
            h.name
        );
        on_host(
            &h.name,
            &format!("podman rmi -i -f {image} >/dev/null 2>&1; true"),
        );
    }
}
