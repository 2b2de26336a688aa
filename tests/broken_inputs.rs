//! Broken specs and inventories given to `dsctl apply` (issue 12): each is refused with its
//! own clear error — exactly one, naming `file:line:column` and the field — with exit code 2,
//! and before any host is contacted. The inventory's hosts are unroutable fleet addresses
//! (10.213.255.x) plus one loopback "host" that is a listener counting connections: it must
//! see none. A control case (valid input) shows that a run which does go to the hosts is seen
//! by that listener.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dsctl::test_specs::SpecBuilder;

/// Counts the connections a run made to the loopback host.
struct Listener(TcpListener);

impl Listener {
    fn new() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Listener(l)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    /// Connections accepted since the last call.
    fn accepted(&self) -> usize {
        let mut n = 0;
        while self.0.accept().is_ok() {
            n += 1;
        }
        n
    }
}

/// An inventory of two unroutable hosts and the loopback listener; `edit` changes its text.
fn inventory(port: u16) -> String {
    format!(
        "[defaults]\nuser = \"root\"\n\n[[hosts]]\nname = \"sv-h1\"\naddress = \"10.213.255.1\"\nlabels = {{ tier = \"a\" }}\n\n\
         [[hosts]]\nname = \"sv-h2\"\naddress = \"10.213.255.2\"\n\n\
         [[hosts]]\nname = \"sv-loop\"\naddress = \"127.0.0.1\"\nport = {port}\n"
    )
}

fn spec() -> SpecBuilder {
    SpecBuilder::new("sv-broken").ports("{ containerPort = 8080, hostPort = 8690 }")
}

/// Which file holds the error.
#[derive(Clone, Copy, Debug)]
enum In {
    Spec,
    Inventory,
}

struct Case {
    name: &'static str,
    spec: String,
    /// `None`: the good inventory.
    inventory: Option<String>,
    /// The error's file, and text on the line it must point at (its first occurrence).
    file: In,
    marker: &'static str,
    field: &'static str,
    message: &'static str,
}

fn spec_case(
    name: &'static str,
    spec: String,
    marker: &'static str,
    field: &'static str,
    message: &'static str,
) -> Case {
    Case {
        name,
        spec,
        inventory: None,
        file: In::Spec,
        marker,
        field,
        message,
    }
}

fn inventory_case(
    name: &'static str,
    edit: impl Fn(String) -> String,
    marker: &'static str,
    field: &'static str,
    message: &'static str,
    port: u16,
) -> Case {
    Case {
        name,
        spec: spec().toml(),
        inventory: Some(edit(inventory(port))),
        file: In::Inventory,
        marker,
        field,
        message,
    }
}

fn cases(port: u16) -> Vec<Case> {
    let probe = |kind: &str, body: &str| {
        spec()
            .tail(&format!("[spec.template.spec.containers.{kind}]\n{body}"))
            .toml()
    };
    let limits = |body: &str| {
        spec()
            .tail(&format!(
                "[spec.template.spec.containers.resources.limits]\n{body}"
            ))
            .toml()
    };
    vec![
        // The container.
        spec_case("image missing", spec().image("").toml(), "image = \"\"", "containers[0].image", "Required value"),
        spec_case("image read as a flag", spec().image("--privileged").toml(), "image = \"--privileged\"", "containers[0].image", "must not begin with `-`"),
        spec_case("image with a space", spec().image("web 1").toml(), "image = \"web 1\"", "containers[0].image", "whitespace"),
        spec_case("container name invalid", spec().toml().replace("name = \"web\"", "name = \"Web_1\""), "name = \"Web_1\"", "containers[0].name", "RFC 1123"),
        spec_case("field misspelt", spec().container("imagePullPolicyy = \"Never\"").toml(), "imagePullPolicyy", "imagePullPolicyy", "imagePullPolicy"),
        spec_case("pull policy unknown", spec().container("imagePullPolicy = \"Sometimes\"").toml(), "imagePullPolicy", "imagePullPolicy", "IfNotPresent"),
        spec_case("env name invalid", spec().container("env = [{ name = \"1BAD\", value = \"x\" }]").toml(), "env = ", "containers[0].env[0].name", "environment variable name"),
        spec_case("command not a list", spec().container("command = \"/bin/sh\"").toml(), "command = ", "containers[0].command", "expected an array"),
        // Ports.
        spec_case("hostPort out of range", spec().ports("{ containerPort = 8080, hostPort = 70000 }").toml(), "ports = ", "ports[0].hostPort", "between 1 and 65535"),
        spec_case("containerPort 0", spec().ports("{ containerPort = 0 }").toml(), "ports = ", "ports[0].containerPort", "between 1 and 65535"),
        spec_case("containerPort a string", spec().ports("{ containerPort = \"http\" }").toml(), "ports = ", "containerPort", "integer"),
        spec_case("one hostPort twice", spec().ports("{ containerPort = 8080, hostPort = 8690 }, { containerPort = 8081, hostPort = 8690 }").toml(), "ports = ", "ports[1].hostPort", "Duplicate value"),
        spec_case("hostNetwork hostPort differs", spec().host_network().ports("{ containerPort = 8080, hostPort = 8690 }").toml(), "ports = ", "ports[0].hostPort", "must match `containerPort`"),
        spec_case("hostIP not an IP", spec().ports("{ containerPort = 8080, hostPort = 8690, hostIP = \"300.1.1.1\" }").toml(), "ports = ", "ports[0].hostIP", "valid IP address"),
        spec_case("protocol unknown", spec().ports("{ containerPort = 8080, protocol = \"QUIC\" }").toml(), "ports = ", "protocol", "TCP"),
        spec_case("port name twice", spec().ports("{ containerPort = 8080, hostPort = 8690, name = \"http\" }, { containerPort = 8081, hostPort = 8691, name = \"http\" }").toml(), "ports = ", "ports[1].name", "Duplicate value"),
        // Seconds and deadlines.
        spec_case("progressDeadlineSeconds 0", spec().tail("[dsctl]\nprogressDeadlineSeconds = 0").toml(), "progressDeadlineSeconds", "dsctl.progressDeadlineSeconds", "greater than 0"),
        spec_case("progressDeadlineSeconds past any clock", spec().tail("[dsctl]\nprogressDeadlineSeconds = 18446744073709551615").toml(), "progressDeadlineSeconds", "dsctl.progressDeadlineSeconds", "less than or equal to 2147483647"),
        spec_case("minReadySeconds negative", spec().tail("[spec]\nminReadySeconds = -1").toml(), "minReadySeconds", "spec.minReadySeconds", "greater than or equal to 0"),
        spec_case("minReadySeconds past int32", spec().tail("[spec]\nminReadySeconds = 3000000000").toml(), "minReadySeconds", "spec.minReadySeconds", "less than or equal to 2147483647"),
        spec_case("grace period negative", spec().pod("terminationGracePeriodSeconds = -5").toml(), "terminationGracePeriodSeconds", "terminationGracePeriodSeconds", "greater than or equal to 0"),
        spec_case("grace period past int32", spec().pod("terminationGracePeriodSeconds = 9223372036854775807").toml(), "terminationGracePeriodSeconds", "terminationGracePeriodSeconds", "less than or equal to 2147483647"),
        // Probes.
        spec_case("probe periodSeconds 0", probe("readinessProbe", "periodSeconds = 0\ntcpSocket = { port = 8080 }"), "periodSeconds", "readinessProbe.periodSeconds", "greater than or equal to 1"),
        spec_case("probe timeout past int32", probe("livenessProbe", "timeoutSeconds = 4294967296\ntcpSocket = { port = 8080 }"), "timeoutSeconds", "livenessProbe.timeoutSeconds", "less than or equal to 2147483647"),
        spec_case("probe without a handler", probe("readinessProbe", "periodSeconds = 5"), "[spec.template.spec.containers.readinessProbe]", "readinessProbe", "must specify a handler type"),
        spec_case("probe with two handlers", probe("livenessProbe", "tcpSocket = { port = 8080 }\nexec = { command = [\"true\"] }"), "[spec.template.spec.containers.livenessProbe]", "livenessProbe", "more than 1 handler type"),
        spec_case("HTTPS probe", probe("readinessProbe", "httpGet = { port = 8080, scheme = \"HTTPS\" }"), "httpGet", "readinessProbe.httpGet.scheme", "HTTPS"),
        spec_case("probe on an unknown named port", probe("readinessProbe", "tcpSocket = { port = \"nope\" }"), "tcpSocket", "readinessProbe.tcpSocket.port", "nope"),
        // Resources.
        spec_case("cpu limit 0", limits("cpu = \"0\""), "cpu = ", "resources.limits[cpu]", "must be greater than zero"),
        spec_case("memory not a quantity", limits("memory = \"lots\""), "memory = ", "resources.limits[memory]", "quantity"),
        spec_case("memory too large to write", limits("memory = \"100000000000000000000\""), "memory = ", "resources.limits[memory]", "is too large"),
        spec_case("cpu request above limit", spec().tail("[spec.template.spec.containers.resources]\nlimits = { cpu = \"1\" }\nrequests = { cpu = \"2\" }").toml(), "requests = ", "resources.requests[cpu]", "less than or equal to cpu limit"),
        // Volumes.
        spec_case("mount of no volume", spec().container("volumeMounts = [{ name = \"data\", mountPath = \"/data\" }]").toml(), "volumeMounts = ", "volumeMounts[0].name", "no volumes"),
        spec_case("hostPath relative", spec().pod("volumes = [{ name = \"data\", hostPath = { path = \"var/data\" } }]").container("volumeMounts = [{ name = \"data\", mountPath = \"/data\" }]").toml(), "volumes = ", "volumes[0].hostPath.path", "absolute"),
        spec_case("subPath of an emptyDir", spec().pod("volumes = [{ name = \"data\", emptyDir = {} }]").container("volumeMounts = [{ name = \"data\", mountPath = \"/data\", subPath = \"x\" }]").toml(), "volumeMounts = ", "volumeMounts[0].subPath", "hostPath volume only", ),
        spec_case("configMap volume (not yet)", spec().pod("volumes = [{ name = \"cfg\", configMap = { name = \"x\" } }]").toml(), "volumes = ", "volumes[0].configMap", "configMap"),
        // The object.
        spec_case("metadata.name invalid", spec().toml().replacen("name = \"sv-broken\"", "name = \"Sv_Broken\"", 1), "name = \"Sv_Broken\"", "metadata.name", "RFC 1123"),
        spec_case("selector does not select the template", spec().toml().replace("[spec.template.metadata.labels]\napp = \"sv-broken\"", "[spec.template.metadata.labels]\napp = \"other\""), "[spec.template.metadata.labels]", "spec.template.metadata.labels", "selector"),
        spec_case("kind not a DaemonSet", spec().toml().replace("kind = \"DaemonSet\"", "kind = \"Deployment\""), "kind = ", "kind", "Deployment"),
        spec_case("TOML syntax", spec().toml().replace("image = \"localhost/dsctl-test-web:1\"", "image = \"localhost/dsctl-test-web:1"), "image = ", "", "string"),
        spec_case("maxSurge with a hostPort", spec().tail("[spec.updateStrategy.rollingUpdate]\nmaxUnavailable = 0\nmaxSurge = 1").toml(), "maxSurge", "rollingUpdate.maxSurge", "host port"),
        spec_case("maxUnavailable and maxSurge both 0", SpecBuilder::new("sv-broken").tail("[spec.updateStrategy.rollingUpdate]\nmaxUnavailable = 0\nmaxSurge = 0").toml(), "maxUnavailable", "rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0"),
        spec_case("restartPolicy Never", spec().pod("restartPolicy = \"Never\"").toml(), "restartPolicy", "restartPolicy", "Always"),
        spec_case("capability unknown", spec().tail("[spec.template.spec.containers.securityContext.capabilities]\nadd = [\"NET_MAGIC\"]").toml(), "add = ", "capabilities.add[0]", "NET_MAGIC"),
        // The inventory.
        inventory_case("host name twice", |t| t.replace("name = \"sv-h2\"", "name = \"sv-h1\""), "name = \"sv-h1\"\naddress = \"10.213.255.2\"", "hosts[1].name", "Duplicate value", port),
        inventory_case("host address twice", |t| t.replace("10.213.255.2", "10.213.255.1"), "address = \"10.213.255.1\"\n\n", "hosts[1].address", "Duplicate value", port),
        inventory_case("host name not a node name", |t| t.replace("name = \"sv-h2\"", "name = \"SV_h2\""), "SV_h2", "hosts[1].name", "RFC 1123", port),
        inventory_case("host address empty", |t| t.replace("\"10.213.255.2\"", "\"\""), "address = \"\"", "hosts[1].address", "Required value", port),
        inventory_case("host port 0", |t| t.replace(&format!("port = {port}"), "port = 0"), "port = 0", "hosts[2].port", "between 1 and 65535", port),
        inventory_case("defaults port 0", |t| t.replace("user = \"root\"", "user = \"root\"\nport = 0"), "port = 0", "defaults.port", "between 1 and 65535", port),
        inventory_case("label key invalid", |t| t.replace("tier = \"a\"", "\"a/b/c\" = \"x\""), "labels = ", "hosts[0].labels[a/b/c]", "label key", port),
        inventory_case("taint key invalid", |t| t.replace("labels = { tier = \"a\" }", "taints = [{ key = \"bad key\", effect = \"NoSchedule\" }]"), "taints = ", "hosts[0].taints[0].key", "name part", port),
        inventory_case("taint effect unknown", |t| t.replace("labels = { tier = \"a\" }", "taints = [{ key = \"k\", effect = \"Sometimes\" }]"), "taints = ", "effect", "NoSchedule", port),
        inventory_case("field misspelt", |t| t.replace("address = \"10.213.255.2\"", "adress = \"10.213.255.2\""), "adress", "adress", "address", port),
        inventory_case("unit flavour unknown", |t| t.replace("user = \"root\"", "user = \"root\"\nunit_flavor = \"docker\""), "unit_flavor", "unit_flavor", "quadlet", port),
        inventory_case("user with a space", |t| t.replace("user = \"root\"", "user = \"ro ot\""), "user = ", "defaults.user", "whitespace", port),
        inventory_case("TOML syntax", |t| t.replace("[[hosts]]\nname = \"sv-h2\"", "[[hosts]\nname = \"sv-h2\""), "[[hosts]\n", "", "unclosed array table", port),
    ]
}

fn dsctl(dir: &Path, args: &[&str]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_dsctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text, started.elapsed())
}

/// 1-based line of the first occurrence of `marker` in `text`.
fn line_of(text: &str, marker: &str) -> usize {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("marker {marker:?} not in\n{text}"));
    text[..at].matches('\n').count() + 1
}

#[test]
fn each_broken_input_has_its_own_clear_error_and_no_host_is_contacted() {
    let listener = Listener::new();
    let port = listener.port();
    let cases = cases(port);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.toml");
    let inventory_path = dir.path().join("inventory.toml");
    let (spec_arg, inventory_arg) = (
        spec_path.to_str().unwrap(),
        inventory_path.to_str().unwrap(),
    );
    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let started = Instant::now();
    for case in &cases {
        let inventory_text = case.inventory.clone().unwrap_or_else(|| inventory(port));
        listener.accepted();
        std::fs::write(&spec_path, &case.spec).unwrap();
        std::fs::write(&inventory_path, &inventory_text).unwrap();
        let (code, said, took) = dsctl(
            dir.path(),
            &[
                "apply",
                "-f",
                spec_arg,
                "-i",
                inventory_arg,
                "--connect-timeout",
                "5",
            ],
        );
        let (file, text) = match case.file {
            In::Spec => (spec_arg, &case.spec),
            In::Inventory => (inventory_arg, &inventory_text),
        };
        let at = format!("{file}:{}:", line_of(text, case.marker));
        let errors = said
            .lines()
            .filter(|l| l.trim_start().starts_with("error"))
            .count();
        let mut wrong = Vec::new();
        if code != Some(2) {
            wrong.push(format!("exit {code:?}, not 2"));
        }
        if errors != 1 {
            wrong.push(format!("{errors} errors, not exactly 1"));
        }
        if !said.contains(&at) {
            wrong.push(format!("no {at}"));
        }
        if !said.contains(case.field) || !said.contains(case.message) {
            wrong.push(format!(
                "not naming {:?} with {:?}",
                case.field, case.message
            ));
        }
        if said.contains("UNREACHABLE") || listener.accepted() != 0 || took > Duration::from_secs(3)
        {
            wrong.push(format!("a host was contacted (took {took:?})"));
        }
        let headline = said
            .lines()
            .find(|l| l.trim_start().starts_with("error"))
            .unwrap_or("")
            .trim()
            .to_string();
        if !seen.insert(headline.clone()) {
            wrong.push(format!("the same error as another case: {headline}"));
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {}\n{said}", case.name, wrong.join("; ")));
        }
    }
    eprintln!(
        "{} broken inputs refused in {:.1} s, none contacting a host",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// The control: valid input does go to the hosts, and the loopback listener sees it.
#[test]
fn a_valid_input_is_seen_contacting_the_hosts() {
    let listener = Listener::new();
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.toml");
    let inventory_path = dir.path().join("inventory.toml");
    std::fs::write(&spec_path, spec().toml()).unwrap();
    std::fs::write(&inventory_path, inventory(listener.port())).unwrap();
    let (code, said, _) = dsctl(
        dir.path(),
        &[
            "apply",
            "-f",
            spec_path.to_str().unwrap(),
            "-i",
            inventory_path.to_str().unwrap(),
            "--connect-timeout",
            "2",
        ],
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("sv-loop: UNREACHABLE"), "{said}");
    assert!(
        listener.accepted() >= 1,
        "the listener saw the connection: {said}"
    );
}
