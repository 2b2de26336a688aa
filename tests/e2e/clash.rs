//! hostPort clashes between DaemonSets on a host (issue 12, item 9), on one Debian 13 and one
//! Debian 12 host: refused before anything on the host changes, naming both DaemonSets and
//! the port, whether both come from one run or one is already on the host; a hostNetwork
//! containerPort is a host port. Also: host text (a change-cause read back from the hosts)
//! reaches the terminal without its escape sequences.

use std::time::Instant;

use crate::harness::*;

const A: &str = "sv-clash-a";
const B: &str = "sv-clash-b";
const NET: &str = "sv-clash-net";

/// The web image on a hostPort, or with hostNetwork serving on `port` itself.
fn spec(name: &str, port: u16, host_network: bool, cause: &str) -> String {
    let (pod, ports, command) = if host_network {
        (
            "hostNetwork = true\n",
            format!("[[spec.template.spec.containers.ports]]\ncontainerPort = {port}\n"),
            format!(
                "command = [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"{port}\", \"-h\", \"/www\"]\n"
            ),
        )
    } else {
        (
            "",
            format!(
                "[[spec.template.spec.containers.ports]]\ncontainerPort = 8080\nhostPort = {port}\n"
            ),
            String::new(),
        )
    };
    format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "{name}"
[metadata.annotations]
"kubernetes.io/change-cause" = "{cause}"
[spec.selector.matchLabels]
app = "{name}"
[spec.template.metadata.labels]
app = "{name}"
[spec.template.spec]
{pod}
[[spec.template.spec.containers]]
name = "web"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
{command}{ports}"#
    )
}

/// The containers of a DaemonSet on a host, with their start times (a restart changes them).
fn containers(host: &str, ds: &str) -> String {
    stdout(&on_host(
        host,
        &format!(
            "podman ps -a --filter label=dsctl.daemonset={ds} --format '{{{{.Names}}}} {{{{.ID}}}} {{{{.StartedAt}}}}' 2>/dev/null; ls /etc/systemd/system /etc/containers/systemd | grep -c 'dsctl_{ds}_' || true"
        ),
    ))
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn host_port_clashes_are_refused_before_anything_changes_naming_both_daemonsets() {
    let _fleet_lock = serial();
    let fleet = Fleet::get();
    let mut hosts = fleet.of_suite("trixie", 1);
    hosts.extend(fleet.of_suite("bookworm", 1));
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&[A, B, NET]);
    let started = Instant::now();

    // 1. Two specs of one run on one port: nothing of either is created anywhere.
    let a = scene.spec("a.toml", &spec(A, 8680, false, "first"));
    let b = scene.spec("b.toml", &spec(B, 8680, false, "second"));
    let out = scene.dsctl(&["apply", "-f", path_str(&a), "-f", path_str(&b)]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    for h in &hosts {
        assert!(
            said.lines().any(|l| l.contains(&h.name)
                && l.contains("hostPort 8680/TCP")
                && l.contains(A)
                && l.contains(B)),
            "{} names both DaemonSets and the port: {said}",
            h.name
        );
        assert_eq!(containers(&h.name, A).trim(), "0", "{}", h.name);
        assert_eq!(containers(&h.name, B).trim(), "0", "{}", h.name);
    }

    // 2. One already on the hosts: the second is refused, the first keeps serving untouched.
    // Its change-cause carries escape sequences (an OSC retitle, a CSI clear) to check that
    // host text reaches the terminal stripped.
    let hostile = "first \\u001b]0;pwned\\u0007\\u001b[2Jcleared";
    let a = scene.spec("a.toml", &spec(A, 8680, false, hostile));
    let out = scene.dsctl(&["apply", "-f", path_str(&a)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before: Vec<String> = hosts.iter().map(|h| containers(&h.name, A)).collect();
    for h in &hosts {
        assert!(
            eventually(std::time::Duration::from_secs(20), || http_get(
                &h.address, 8680, "/"
            )
            .is_some()),
            "{} serves {A} on 8680",
            h.name
        );
    }
    let out = scene.dsctl(&["apply", "-f", path_str(&b)]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    for (h, before) in hosts.iter().zip(&before) {
        assert!(
            said.lines().any(|l| l.contains(&h.name)
                && l.contains("hostPort 8680/TCP")
                && l.contains(&format!("DaemonSet {A} ("))
                && l.contains("already on this host")
                && l.contains(&format!("DaemonSet {B} ("))),
            "{}: {said}",
            h.name
        );
        assert_eq!(
            &containers(&h.name, A),
            before,
            "{A} untouched on {}",
            h.name
        );
        assert_eq!(containers(&h.name, B).trim(), "0", "{}", h.name);
        assert!(http_get(&h.address, 8680, "/").is_some(), "{}", h.name);
    }
    let history = scene.dsctl(&["rollout", "history", A]);
    let shown = format!("{}{}", stdout(&history), stderr(&history));
    assert!(
        shown.contains("first ") && shown.contains("cleared"),
        "{shown}"
    );
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "host text is stripped of escape sequences: {shown:?}"
    );

    // 3. A hostNetwork containerPort is a host port: a hostPort on it is refused.
    let net = scene.spec("net.toml", &spec(NET, 8681, true, "net"));
    let out = scene.dsctl(&["apply", "-f", path_str(&net)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for h in &hosts {
        assert!(
            eventually(std::time::Duration::from_secs(20), || http_get(
                &h.address, 8681, "/"
            )
            .is_some()),
            "{} serves {NET} on 8681 over the host network",
            h.name
        );
    }
    let b = scene.spec("b.toml", &spec(B, 8681, false, "second"));
    let out = scene.dsctl(&["apply", "-f", path_str(&b)]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("hostPort 8681/TCP")
            && said.contains(&format!(
                "DaemonSet {NET} (spec.template.spec.containers[0].ports[0].containerPort, already on this host)"
            )),
        "{said}"
    );
    for h in &hosts {
        assert_eq!(containers(&h.name, B).trim(), "0", "{}", h.name);
    }

    // 4. Moved to a free port, it applies beside the others.
    let b = scene.spec("b.toml", &spec(B, 8682, false, "moved"));
    let out = scene.dsctl(&["apply", "-f", path_str(&b)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for h in &hosts {
        for port in [8680, 8681, 8682] {
            assert!(
                eventually(std::time::Duration::from_secs(20), || http_get(
                    &h.address, port, "/"
                )
                .is_some()),
                "{} serves {port}",
                h.name
            );
        }
    }
    eprintln!(
        "clash e2e on {}: {:.1} s",
        hosts
            .iter()
            .map(|h| format!("{} ({})", h.name, h.suite))
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    );
}
