//! Snapshots of the units rendered for every example under examples/, in both flavours, plus
//! one spec full of hostile values. Every unit is also read back with the oracle (one command
//! per exec line, nothing lost) and, where `systemd-analyze` is installed, verified by systemd.
//!
//! The revision is a fixed placeholder so that these snapshots change only when rendering does.

mod oracle;

use std::path::{Path, PathBuf};

use dsctl::daemonset::DaemonSet;
use dsctl::host_facts::HostFacts;
use dsctl::inventory::UnitFlavor;
use dsctl::layout::Instance;
use dsctl::render::{self, Templates, UnitFile};

const REVISION: &str = "0123456789";

/// The host every snapshot renders for.
fn host() -> HostFacts {
    HostFacts {
        node_name: "node-1".into(),
        host_ips: vec!["192.0.2.10".parse().unwrap()],
        arch: Some("amd64".into()),
        os: Some("linux".into()),
        cpus: Some(4),
        memory_bytes: Some(8 << 30),
        ephemeral_storage_bytes: Some(100 << 30),
    }
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Vec<DaemonSet> {
    match dsctl::load::daemonsets(&[path.to_path_buf()]) {
        Ok(specs) => specs.daemonsets.into_iter().map(|l| l.value).collect(),
        Err(diags) => panic!("{} does not load: {}", path.display(), diags.summary()),
    }
}

fn flavor_name(flavor: UnitFlavor) -> &'static str {
    match flavor {
        UnitFlavor::Service => "service",
        UnitFlavor::Quadlet => "quadlet",
    }
}

/// What systemd would run for a unit: the unit itself, or the service Quadlet makes of it.
fn as_service(unit: &UnitFile) -> (String, String) {
    if let Some(stem) = unit.name.strip_suffix(".pod") {
        let service = oracle::quadlet_generate_pod(&unit.content)
            .unwrap_or_else(|e| panic!("Quadlet refuses {}: {e}\n{}", unit.name, unit.content));
        (format!("{stem}-pod.service"), service)
    } else if unit.name.ends_with(".container") {
        let service = oracle::quadlet_generate(&unit.content, &unit.name)
            .unwrap_or_else(|e| panic!("Quadlet refuses {}: {e}\n{}", unit.name, unit.content));
        (unit.name.replace(".container", ".service"), service)
    } else {
        (unit.name.clone(), unit.content.to_string())
    }
}

/// Each exec line is exactly one command, systemd has nothing to say about the unit, and the
/// container's argv ends with its image and args (the pod's ExecStart starts the pod).
fn check_unit(unit: &UnitFile, ds: &DaemonSet, dir: &Path) {
    let (name, service) = as_service(unit);
    let parsed = oracle::parse_service(service.as_bytes(), &name)
        .unwrap_or_else(|w| panic!("{name}: {w:?}\n{service}"));
    for (key, commands) in &parsed.exec {
        if key != "ExecStartPre" && key != "ExecStopPost" {
            assert_eq!(commands.len(), 1, "{name} {key}: {commands:?}");
        }
    }
    let argv = &parsed.exec["ExecStart"][0].argv;
    let instance = Instance::new(ds.name(), REVISION);
    let pod = ds.pod_spec();
    if name == instance.pod_service() {
        assert_eq!(argv[1..3], [b"pod".to_vec(), b"start".to_vec()], "{name}");
    } else {
        let container = pod
            .init_containers
            .iter()
            .chain(&pod.containers)
            .find(|c| name == instance.container_service(&c.name))
            .expect("a unit per container");
        let tail: Vec<Vec<u8>> = std::iter::once(&container.image)
            .chain(&container.args)
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert!(
            argv.ends_with(&tail),
            "{name}: argv {argv:?} should end with {tail:?}"
        );
    }
    if let Some(complaints) = oracle::systemd_analyze_verify(dir, &name, &service) {
        assert!(complaints.is_empty(), "{name}: {complaints:#?}\n{service}");
    }
}

fn render_all(daemonsets: &[DaemonSet], flavor: UnitFlavor, dir: &Path) -> String {
    let templates = Templates::embedded();
    let mut out = String::new();
    for ds in daemonsets {
        let units = render::render_daemonset(ds, REVISION, &host(), flavor, &templates)
            .unwrap_or_else(|e| panic!("{}: {e}", ds.name()));
        let pod = ds.pod_spec();
        assert_eq!(
            units.len(),
            1 + pod.init_containers.len() + pod.containers.len()
        );
        for unit in units {
            check_unit(&unit, ds, dir);
            out.push_str(&format!("# ---- {}\n{}\n", unit.path, unit.content));
        }
    }
    out
}

#[test]
fn every_example_renders_in_both_flavours() {
    let examples = examples();
    assert!(!examples.is_empty(), "no examples/*.toml");
    let dir = tempfile::tempdir().unwrap();
    for path in examples {
        let daemonsets = load(&path);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for flavor in [UnitFlavor::Service, UnitFlavor::Quadlet] {
            let rendered = render_all(&daemonsets, flavor, dir.path());
            insta::assert_snapshot!(format!("{stem}_{}", flavor_name(flavor)), rendered);
        }
    }
}

/// One spec whose every field is hostile, to show (and pin) what escaping looks like.
#[test]
fn hostile_values() {
    let ds: DaemonSet = toml::from_str(
        r#"
apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "evil"
[spec.selector.matchLabels]
app = "evil"
[spec.template.metadata.labels]
app = "evil"
"quote" = "it's \"quoted\""
[spec.template.spec]
terminationGracePeriodSeconds = 5
[[spec.template.spec.containers]]
name = "evil"
image = "registry.example/evil;rm:%n$HOME"
command = ["/bin/sh", "-c"]
args = ["echo \"$HOME\" 100% done; rm -rf / \\\n[Service]\nExecStart=/bin/evil", "a b", "$PATH", "${PATH}", "%n", "\\;", "'single'", "tab\there"]
workingDir = "/work dir/$x%y"
env = [
  { name = "SEMI", value = ";" },
  { name = "NEWLINE", value = "line1\nExecStartPre=/bin/evil" },
  { name = "DOLLAR", value = "$(whoami) ${HOME} $HOME $$" },
  { name = "PERCENT", value = "%h %% %" },
  { name = "BACKSLASH", value = "C:\\path\\" },
  { name = "UNICODE", value = "ünïcödé ☃ \u0085" },
]
volumeMounts = [{ name = "host", mountPath = "/data dir/\"x\"", readOnly = true }]
livenessProbe = { exec = { command = ["test", "-f", "/tmp/ok; reboot"] } }
[[spec.template.spec.volumes]]
name = "host"
hostPath = { path = "/srv/$data/100%", type = "Directory" }
"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for flavor in [UnitFlavor::Service, UnitFlavor::Quadlet] {
        let rendered = render_all(std::slice::from_ref(&ds), flavor, dir.path());
        insta::assert_snapshot!(format!("hostile_{}", flavor_name(flavor)), rendered);
    }
}

/// A pod in the shape of issue 8: two init containers (the second writes into the emptyDir
/// the app serves), two app containers with ports, an emptyDir on disk and one in memory.
#[test]
fn pod_with_init_containers() {
    let ds: DaemonSet = toml::from_str(
        r#"
apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "agent"
[spec.selector.matchLabels]
app = "agent"
[spec.template.metadata.labels]
app = "agent"
[spec.template.spec]
terminationGracePeriodSeconds = 5
[[spec.template.spec.initContainers]]
name = "wait"
image = "localhost/dsctl-test/web:1"
command = ["/bin/sh", "-c", "true"]
[[spec.template.spec.initContainers]]
name = "seed"
image = "localhost/dsctl-test/web:1"
command = ["/bin/sh", "-c", "echo seeded > /shared/index.html"]
volumeMounts = [{ name = "shared", mountPath = "/shared" }]
[[spec.template.spec.containers]]
name = "web"
image = "localhost/dsctl-test/web:1"
ports = [{ containerPort = 8080, hostPort = 19100 }]
volumeMounts = [{ name = "shared", mountPath = "/srv", readOnly = true }, { name = "scratch", mountPath = "/tmp/scratch" }]
[[spec.template.spec.containers]]
name = "reloader"
image = "localhost/dsctl-test/web:1"
command = ["/bin/sh", "-c"]
args = ["while sleep 5; do wget -qO- http://localhost:8080/ >/dev/null; done"]
ports = [{ containerPort = 9090, hostPort = 19101, protocol = "UDP" }]
volumeMounts = [{ name = "scratch", mountPath = "/tmp/scratch" }]
[[spec.template.spec.volumes]]
name = "shared"
emptyDir = {}
[[spec.template.spec.volumes]]
name = "scratch"
emptyDir = { medium = "Memory", sizeLimit = "16Mi" }
"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for flavor in [UnitFlavor::Service, UnitFlavor::Quadlet] {
        let rendered = render_all(std::slice::from_ref(&ds), flavor, dir.path());
        insta::assert_snapshot!(format!("pod_{}", flavor_name(flavor)), rendered);
    }
}

#[test]
fn user_templates_override_and_strict_mode_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("service.hbs"),
        "[Service]\nExecStart={{exec_start}}\n# {{comment raw_image}}\n",
    )
    .unwrap();
    let templates = Templates::from_dir(dir.path()).unwrap();
    let ds = &load(&examples()[0])[0];
    let units =
        render::render_daemonset(ds, REVISION, &host(), UnitFlavor::Service, &templates).unwrap();
    // units[0] is the pod (service-pod.hbs, embedded); units[1] the first container.
    assert!(
        units[0]
            .content
            .contains("ExecStart=/usr/bin/podman pod start ")
    );
    assert!(
        units[1]
            .content
            .starts_with("[Service]\nExecStart=/usr/bin/podman run "),
        "{}",
        units[1].content
    );
    // quadlet.hbs is missing from the directory, so the embedded one is used.
    let quadlet =
        render::render_daemonset(ds, REVISION, &host(), UnitFlavor::Quadlet, &templates).unwrap();
    assert!(quadlet[1].content.contains("[Container]"));

    std::fs::write(
        dir.path().join("quadlet.hbs"),
        "[Container]\nImage={{image}}\nExec={{no_such_thing}}\n",
    )
    .unwrap();
    let templates = Templates::from_dir(dir.path()).unwrap();
    let err = render::render_daemonset(ds, REVISION, &host(), UnitFlavor::Quadlet, &templates)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("quadlet") && err.contains("no_such_thing") && err.contains("line 3"),
        "{err}"
    );

    std::fs::write(dir.path().join("servce.hbs"), "").unwrap();
    let err = Templates::from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("servce.hbs") && err.contains("service.hbs"),
        "{err}"
    );
}

/// `dsctl render`: a header line per unit naming the host and the target path, only for the
/// hosts that should run each DaemonSet, in the flavour the inventory asks for.
#[test]
fn render_command_prints_each_hosts_units() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("hosts.toml");
    std::fs::write(
        &inventory,
        r#"
[[hosts]]
name = "plain"
address = "192.0.2.1"

[[hosts]]
name = "quad"
address = "192.0.2.2"
unit_flavor = "quadlet"

[[hosts]]
name = "tainted"
address = "192.0.2.3"
taints = [{ key = "dedicated", value = "x", effect = "NoSchedule" }]
"#,
    )
    .unwrap();
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web.toml");
    let run = |extra: &[&str]| {
        let out = assert_cmd::Command::cargo_bin("dsctl")
            .unwrap()
            .arg("render")
            .arg("-f")
            .arg(&web)
            .arg("-i")
            .arg(&inventory)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };

    let (code, stdout, _) = run(&[]);
    assert_eq!(code, Some(0));
    let headers: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("# ---- "))
        .collect();
    let rev = dsctl::revision::revision(&load(&web)[0]);
    assert_eq!(
        headers,
        [
            format!("# ---- plain: /etc/systemd/system/dsctl_web_{rev}-pod.service"),
            format!("# ---- plain: /etc/systemd/system/dsctl_web_{rev}_web.service"),
            format!("# ---- quad: /etc/containers/systemd/dsctl_web_{rev}.pod"),
            format!("# ---- quad: /etc/containers/systemd/dsctl_web_{rev}_web.container"),
        ]
    );
    assert!(
        stdout.contains("ExecStart=/usr/bin/podman run ")
            && stdout.contains("[Container]\nImage=localhost/dsctl-test/web:1")
    );

    let (code, stdout, _) = run(&["--host", "quad"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with(&format!(
        "# ---- quad: /etc/containers/systemd/dsctl_web_{rev}.pod\n# Managed by dsctl: daemonset=web pod=dsctl_web_{rev} "
    )));

    let (code, stdout, stderr) = run(&["--host", "tainted"]);
    assert_eq!((code, stdout.as_str()), (Some(0), ""));
    assert!(stderr.contains("runs none of these DaemonSets"), "{stderr}");

    let (code, _, stderr) = run(&["--host", "missing"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("no host named \"missing\"") && stderr.contains("plain, quad, tainted"),
        "{stderr}"
    );
}
