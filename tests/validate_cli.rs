//! `dsctl validate`: the examples pass, and each kind of mistake is reported with
//! `file:line:column`, the Kubernetes field, and exit code 2.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

const VALID: &str = r#"apiVersion = "apps/v1"
kind = "DaemonSet"

[metadata]
name = "agent"

[spec.selector.matchLabels]
app = "agent"

[spec.template.metadata.labels]
app = "agent"

[[spec.template.spec.containers]]
name = "main"
image = "localhost/agent:1"
"#;

const INVENTORY: &str = r#"[[hosts]]
name = "node-1"
address = "192.0.2.10"
"#;

fn dsctl() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("dsctl"));
    cmd.env_remove("DSCTL_INVENTORY").env("NO_COLOR", "1");
    cmd
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn validate(specs: &[&Path]) -> Run {
    validate_with(specs, None)
}

fn validate_with(specs: &[&Path], inventory: Option<&Path>) -> Run {
    let mut cmd = dsctl();
    cmd.arg("validate");
    for spec in specs {
        cmd.arg("-f").arg(spec);
    }
    if let Some(inventory) = inventory {
        cmd.arg("-i").arg(inventory);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `line:column` (1-based) of the first occurrence of `needle` after `after` in `text`.
fn position(text: &str, after: &str, needle: &str) -> String {
    let from = text
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in text"));
    let at = from
        + text[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in text"));
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

/// Runs validate on one spec file holding `text` and checks that it fails naming the field
/// and pointing at `needle` (the first after `after`).
fn assert_spec_error(text: &str, after: &str, needle: &str, field: &str, message: &str) -> String {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "bad.toml", text);
    let run = validate(&[&path]);
    assert_eq!(run.code, 2, "stderr:\n{}", run.stderr);
    let location = format!("{}:{}", path.display(), position(text, after, needle));
    assert!(
        run.stderr.contains(&location),
        "wanted {location} in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("error: {field}: ")),
        "wanted field {field} in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(message),
        "wanted {message:?} in:\n{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing is valid: {}", run.stdout);
    run.stderr
}

fn with_pod(extra: &str) -> String {
    VALID.replace(
        "[[spec.template.spec.containers]]",
        &format!("[spec.template.spec]\n{extra}\n[[spec.template.spec.containers]]"),
    )
}

#[test]
fn examples_and_inventory_are_valid() {
    let run = validate_with(
        &[&repo().join("examples")],
        Some(&repo().join("inventory/hosts.toml")),
    );
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    for (name, file) in [
        ("fluentd-logger", "fluentd.toml"),
        ("gpu-agent", "gpu-agent.toml"),
        ("nginx-test-daemonset", "nginx.toml"),
        ("node-exporter", "node-exporter.toml"),
        ("web", "web.toml"),
    ] {
        let line = format!(
            "{name}: valid ({})",
            repo().join("examples").join(file).display()
        );
        assert!(
            run.stdout.contains(&line),
            "wanted {line:?} in:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("inventory: valid, 5 hosts"),
        "{}",
        run.stdout
    );
    // The only warning: the seed's nginx port, published nowhere, as the seed wrote it.
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains("containerPort: neither published")
            && run.stderr.contains("nginx.toml"),
        "{}",
        run.stderr
    );
}

#[test]
fn toml_syntax_error() {
    let text = VALID.replace(
        "image = \"localhost/agent:1\"",
        "image = \"localhost/agent:1",
    );
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "bad.toml", &text);
    let run = validate(&[&path]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("TOML syntax error"), "{}", run.stderr);
    let line = text.lines().position(|l| l.starts_with("image")).unwrap() + 1;
    assert!(
        run.stderr.contains(&format!("{}:{line}:", path.display())),
        "{}",
        run.stderr
    );
}

#[test]
fn wrong_type() {
    let text = format!("{VALID}[[spec.template.spec.containers.ports]]\ncontainerPort = \"80\"\n");
    assert_spec_error(
        &text,
        "containerPort",
        "\"80\"",
        "spec.template.spec.containers[0].ports[0].containerPort",
        "invalid type: string \"80\", expected an integer",
    );
}

#[test]
fn missing_required_field() {
    let text = VALID.replace("image = \"localhost/agent:1\"\n", "");
    assert_spec_error(
        &text,
        "",
        "[[spec.template.spec.containers]]",
        "spec.template.spec.containers[0].image",
        "missing required field `image`",
    );
}

#[test]
fn unknown_field_with_suggestion() {
    let text = with_pod("nodeSelectr = { disktype = \"ssd\" }");
    let stderr = assert_spec_error(
        &text,
        "",
        "nodeSelectr",
        "spec.template.spec.nodeSelectr",
        "unknown field `nodeSelectr`",
    );
    assert!(stderr.contains("did you mean `nodeSelector`?"), "{stderr}");
}

#[test]
fn bad_enum_variant_with_suggestion() {
    let text = with_pod(
        "tolerations = [{ key = \"dedicated\", operator = \"Exists\", effect = \"NoSchedul\" }]",
    );
    let stderr = assert_spec_error(
        &text,
        "",
        "\"NoSchedul\"",
        "spec.template.spec.tolerations[0].effect",
        "unknown value `NoSchedul`",
    );
    assert!(stderr.contains("did you mean `NoSchedule`?"), "{stderr}");
}

#[test]
fn selector_not_matching_template_labels() {
    let text = VALID.replace(
        "[spec.template.metadata.labels]\napp = \"agent\"",
        "[spec.template.metadata.labels]\napp = \"other\"",
    );
    assert_spec_error(
        &text,
        "",
        "[spec.template.metadata.labels]",
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
    );
}

#[test]
fn empty_selector() {
    let text = VALID.replace(
        "[spec.selector.matchLabels]\napp = \"agent\"",
        "[spec.selector]",
    );
    assert_spec_error(
        &text,
        "",
        "[spec.selector]",
        "spec.selector",
        "empty selector is invalid for daemonset",
    );
}

#[test]
fn duplicate_container_names() {
    let text = format!(
        "{VALID}\n[[spec.template.spec.containers]]\nname = \"main\"\nimage = \"localhost/other:1\"\n"
    );
    assert_spec_error(
        &text,
        "localhost/agent:1",
        "\"main\"",
        "spec.template.spec.containers[1].name",
        "Duplicate value: \"main\"",
    );
}

#[test]
fn port_out_of_range() {
    let text = format!("{VALID}[[spec.template.spec.containers.ports]]\ncontainerPort = 70000\n");
    assert_spec_error(
        &text,
        "",
        "70000",
        "spec.template.spec.containers[0].ports[0].containerPort",
        "Invalid value: 70000: must be between 1 and 65535, inclusive",
    );
}

#[test]
fn max_unavailable_and_max_surge_both_zero() {
    let text = VALID.replace(
        "[spec.template.metadata.labels]",
        "[spec.updateStrategy]\ntype = \"RollingUpdate\"\nrollingUpdate = { maxUnavailable = 0, maxSurge = 0 }\n\n[spec.template.metadata.labels]",
    );
    let stderr = assert_spec_error(
        &text,
        "maxUnavailable",
        "0",
        "spec.updateStrategy.rollingUpdate.maxUnavailable",
        "cannot be 0 when maxSurge is 0",
    );
    assert!(stderr.contains("help:"), "{stderr}");
}

#[test]
fn bad_label_key() {
    let text = VALID.replace(
        "name = \"agent\"\n",
        "name = \"agent\"\nlabels = { \"example.com/-team\" = \"infra\" }\n",
    );
    assert_spec_error(
        &text,
        "labels",
        "\"example.com/-team\"",
        "metadata.labels[example.com/-team]",
        "name part must consist of alphanumeric characters",
    );
}

#[test]
fn volume_mount_naming_a_missing_volume() {
    let text = format!(
        "{VALID}[[spec.template.spec.containers.volumeMounts]]\nname = \"logs\"\nmountPath = \"/var/log\"\n\n[[spec.template.spec.volumes]]\nname = \"log\"\nhostPath = {{ path = \"/var/log\" }}\n"
    );
    let stderr = assert_spec_error(
        &text,
        "volumeMounts",
        "\"logs\"",
        "spec.template.spec.containers[0].volumeMounts[0].name",
        "Not found: \"logs\"",
    );
    assert!(stderr.contains("defined volumes: log"), "{stderr}");
}

#[test]
fn refused_field() {
    let text = with_pod("ephemeralContainers = [{ name = \"debug\", image = \"busybox\" }]");
    assert_spec_error(
        &text,
        "ephemeralContainers",
        "[{",
        "spec.template.spec.ephemeralContainers",
        "not supported on a bare host",
    );
}

/// Issue 12: an HTTPS probe validated, then failed every wave's gate at apply time.
#[test]
fn https_probe_is_refused_before_any_host_is_contacted() {
    let text =
        format!("{VALID}readinessProbe = {{ httpGet = {{ port = 8443, scheme = \"HTTPS\" }} }}\n");
    let err = assert_spec_error(
        &text,
        "readinessProbe",
        "\"HTTPS\"",
        "spec.template.spec.containers[0].readinessProbe.httpGet.scheme",
        "HTTPS probes are not supported yet",
    );
    assert!(
        !err.contains("privileged") && !err.contains("hostNetwork"),
        "{err}"
    );
}

#[test]
fn warned_field_still_validates() {
    let text = with_pod("serviceAccountName = \"agent\"");
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "agent.toml", &text);
    let run = validate(&[&path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let location = format!(
        "{}:{}",
        path.display(),
        position(&text, "serviceAccountName", "\"agent\"")
    );
    assert!(run.stderr.contains(&location), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: spec.template.spec.serviceAccountName: ignored on a bare host"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("agent: valid"), "{}", run.stdout);
}

#[test]
fn duplicate_host_names_in_inventory() {
    let dir = TempDir::new().unwrap();
    let spec = write(&dir, "agent.toml", VALID);
    let text = format!("{INVENTORY}\n[[hosts]]\nname = \"node-1\"\naddress = \"192.0.2.11\"\n");
    let inventory = write(&dir, "inventory.toml", &text);
    let run = validate_with(&[&spec], Some(&inventory));
    assert_eq!(run.code, 2, "{}", run.stderr);
    let location = format!(
        "{}:{}",
        inventory.display(),
        position(&text, "192.0.2.10", "\"node-1\"")
    );
    assert!(
        run.stderr.contains(&location),
        "wanted {location}:\n{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: hosts[1].name: Duplicate value: \"node-1\""),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_taint_effect_in_inventory() {
    let dir = TempDir::new().unwrap();
    let spec = write(&dir, "agent.toml", VALID);
    let text = format!(
        "{INVENTORY}taints = [{{ key = \"dedicated\", value = \"gpu\", effect = \"NoScheduel\" }}]\n"
    );
    let inventory = write(&dir, "inventory.toml", &text);
    let run = validate_with(&[&spec], Some(&inventory));
    assert_eq!(run.code, 2, "{}", run.stderr);
    let location = format!(
        "{}:{}",
        inventory.display(),
        position(&text, "effect", "\"NoScheduel\"")
    );
    assert!(
        run.stderr.contains(&location),
        "wanted {location}:\n{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: hosts[0].taints[0].effect: unknown value `NoScheduel`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `NoSchedule`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn duplicate_daemonset_names_across_files() {
    let dir = TempDir::new().unwrap();
    let first = write(&dir, "a.toml", VALID);
    let second = write(
        &dir,
        "b.toml",
        &VALID.replace("localhost/agent:1", "localhost/agent:2"),
    );
    let run = validate(&[dir.path()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let name_at = position(VALID, "[metadata]", "\"agent\"");
    assert!(
        run.stderr
            .contains(&format!("{}:{name_at}", second.display())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("is also defined in {}:{name_at}", first.display())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: metadata.name: Duplicate value: \"agent\""),
        "{}",
        run.stderr
    );
}

#[test]
fn every_error_of_every_file_is_reported() {
    let dir = TempDir::new().unwrap();
    let one = write(
        &dir,
        "one.toml",
        &format!("{VALID}[[spec.template.spec.containers.ports]]\ncontainerPort = 0\n"),
    );
    let two = write(
        &dir,
        "two.toml",
        &VALID
            .replace("name = \"agent\"", "name = \"Agent\"")
            .replace("app = \"agent\"", "app = \"agent two\""),
    );
    let run = validate(&[&one, &two]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!("{}:", one.display())),
        "{}",
        run.stderr
    );
    for field in [
        "spec.template.spec.containers[0].ports[0].containerPort",
        "metadata.name",
        "spec.selector.matchLabels[app]",
        "spec.template.metadata.labels[app]",
    ] {
        assert!(
            run.stderr.contains(&format!("error: {field}: ")),
            "wanted {field}:\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains(&format!("{}:", two.display())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("invalid: 4 errors"), "{}", run.stderr);
}

#[test]
fn missing_file_is_named() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("nope.toml");
    let run = validate(&[&missing]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains(&format!("{}: cannot read the file", missing.display())),
        "{}",
        run.stderr
    );
    let empty = TempDir::new().unwrap();
    let run = validate(&[empty.path()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("the directory holds no *.toml, *.yaml or *.yml files"),
        "{}",
        run.stderr
    );
}

/// The seed manifests, converted mechanically, are the examples: they must keep every field.
#[test]
fn seed_examples_keep_the_seed_fields() {
    let fluentd = std::fs::read_to_string(repo().join("examples/fluentd.toml")).unwrap();
    for needle in [
        "name = \"fluentd-logger\"",
        "key = \"node-role.kubernetes.io/control-plane\"",
        "image = \"fluentd/fluentd:v1.16-debian-1\"",
        "limits = { memory = \"200Mi\" }",
        "requests = { cpu = \"100m\", memory = \"128Mi\" }",
        "mountPath = \"/var/lib/docker/containers\"",
        "terminationGracePeriodSeconds = 30",
    ] {
        assert!(fluentd.contains(needle), "{needle}");
    }
    let nginx = std::fs::read_to_string(repo().join("examples/nginx.toml")).unwrap();
    for needle in [
        "name = \"nginx-test-daemonset\"",
        "image = \"nginx:latest\"",
        "containerPort = 80",
        "name = \"http-web\"",
    ] {
        assert!(nginx.contains(needle), "{needle}");
    }
}

#[test]
fn several_files_say_which_are_valid() {
    let dir = TempDir::new().unwrap();
    let good = write(&dir, "good.toml", VALID);
    let bad = write(
        &dir,
        "bad.toml",
        &VALID
            .replace("name = \"agent\"", "name = \"other\"")
            .replace("app = \"agent\"", "app = \"other\"")
            .replace("image = \"localhost/agent:1\"", "image = \"\""),
    );
    let run = validate(&[&good, &bad]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stdout, format!("agent: valid ({})\n", good.display()));
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("invalid: ") && last.contains(&bad.display().to_string()),
        "{last}"
    );
    assert!(!last.contains(&good.display().to_string()), "{last}");
}

/// Each security refusal names file:line:column and the field, and never advises more
/// privilege or removing a restriction.
#[test]
fn security_refusals_say_where_and_give_no_privilege_raising_advice() {
    let sc = |extra: &str| {
        VALID.replace(
            "image = \"localhost/agent:1\"",
            &format!("image = \"localhost/agent:1\"\nsecurityContext = {{ {extra} }}"),
        )
    };
    let cases = [
        (
            sc("runAsNonRoot = true, runAsUser = 0"),
            "runAsNonRoot = ",
            "true",
            "spec.template.spec.containers[0].securityContext.runAsNonRoot",
            "runAsNonRoot is true and runAsUser is 0",
        ),
        (
            sc("allowPrivilegeEscalation = false, privileged = true"),
            "securityContext = ",
            "{",
            "spec.template.spec.containers[0].securityContext",
            "cannot set `allowPrivilegeEscalation` to false",
        ),
        (
            sc("seccompProfile = { type = \"Localhost\", localhostProfile = \"../p.json\" }"),
            "localhostProfile = ",
            "\"../p.json\"",
            "spec.template.spec.containers[0].securityContext.seccompProfile.localhostProfile",
            "without `..`",
        ),
        (
            format!(
                "{}\n[[spec.template.spec.containers.volumeMounts]]\nname = \"h\"\nmountPath = \"/h\"\nmountPropagation = \"Bidirectional\"\n[[spec.template.spec.volumes]]\nname = \"h\"\nhostPath = {{ path = \"/srv\" }}\n",
                VALID.trim_end()
            ),
            "mountPropagation = ",
            "\"Bidirectional\"",
            "spec.template.spec.containers[0].volumeMounts[0].mountPropagation",
            "Bidirectional mount propagation is available only to privileged containers",
        ),
    ];
    for (text, after, needle, field, message) in cases {
        let stderr = assert_spec_error(&text, after, needle, field, message);
        let advice: String = stderr
            .lines()
            .filter(|l| l.contains("help:") || l.contains("error:"))
            .collect();
        assert!(!advice.contains("remove"), "{advice}");
        assert!(
            !advice.contains("use privileged") && !advice.contains("set privileged"),
            "{advice}"
        );
        let help: String = stderr.lines().filter(|l| l.contains("help:")).collect();
        assert!(!help.contains("privileged"), "{help}");
    }
}

/// The downward API: an unknown fieldPath names file:line, the field, and the supported paths.
#[test]
fn unknown_downward_field_path() {
    let text = format!(
        "{VALID}[[spec.template.spec.containers.env]]\nname = \"NODE\"\nvalueFrom = {{ fieldRef = {{ fieldPath = \"spec.nodename\" }} }}\n"
    );
    let stderr = assert_spec_error(
        &text,
        "fieldRef",
        "\"spec.nodename\"",
        "spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
        "field label not supported: spec.nodename",
    );
    assert!(stderr.contains("did you mean `spec.nodeName`?"), "{stderr}");
    for supported in [
        "spec.nodeName",
        "status.hostIP",
        "metadata.labels['KEY']",
        "status.podIP/podIPs with hostNetwork",
    ] {
        assert!(
            stderr.contains(supported),
            "wanted {supported} in:\n{stderr}"
        );
    }

    let text = format!(
        "{VALID}[[spec.template.spec.containers.env]]\nname = \"PHASE\"\nvalueFrom = {{ fieldRef = {{ fieldPath = \"status.phase\" }} }}\n"
    );
    let stderr = assert_spec_error(
        &text,
        "fieldRef",
        "\"status.phase\"",
        "spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
        "Unsupported value: \"status.phase\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
    );
    assert!(!stderr.contains("API server; write"), "{stderr}");
}

/// status.podIP without hostNetwork says why, truthfully, and suggests no more privilege.
#[test]
fn pod_ip_without_host_network() {
    let text = format!(
        "{VALID}[[spec.template.spec.containers.env]]\nname = \"IP\"\nvalueFrom = {{ fieldRef = {{ fieldPath = \"status.podIP\" }} }}\n"
    );
    let stderr = assert_spec_error(
        &text,
        "fieldRef",
        "\"status.podIP\"",
        "spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
        "podman assigns it when the pod starts, after the containers' environment is fixed",
    );
    assert!(!stderr.contains("hostNetwork"), "{stderr}");
}

#[test]
fn bad_resource_field_ref() {
    let text = format!(
        "{VALID}[[spec.template.spec.containers.env]]\nname = \"CPU\"\nvalueFrom = {{ resourceFieldRef = {{ resource = \"limits.cpu\", divisor = \"10m\" }} }}\n"
    );
    assert_spec_error(
        &text,
        "resourceFieldRef",
        "\"10m\"",
        "spec.template.spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor",
        "only divisor's values 1m and 1 are supported with the cpu resource",
    );
    let text = format!(
        "{VALID}[[spec.template.spec.containers.env]]\nname = \"GPU\"\nvalueFrom = {{ resourceFieldRef = {{ resource = \"limits.nvidia.com/gpu\" }} }}\n"
    );
    assert_spec_error(
        &text,
        "resourceFieldRef",
        "\"limits.nvidia.com/gpu\"",
        "spec.template.spec.containers[0].env[0].valueFrom.resourceFieldRef.resource",
        "Unsupported value: \"limits.nvidia.com/gpu\": supported values: \"limits.cpu\"",
    );
}

/// Every supported downward field, and $(VAR) references, validate without a finding.
#[test]
fn downward_fields_validate() {
    let mut text = VALID.replace(
        "[[spec.template.spec.containers]]",
        "[spec.template.spec]\nhostNetwork = true\n[[spec.template.spec.containers]]",
    );
    text.push_str("args = [\"--node=$(NODE)\"]\n");
    for (i, path) in [
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "metadata.labels['app']",
        "metadata.annotations['example.com/x']",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    ]
    .iter()
    .enumerate()
    {
        text.push_str(&format!(
            "[[spec.template.spec.containers.env]]\nname = \"F{i}\"\nvalueFrom = {{ fieldRef = {{ fieldPath = \"{path}\" }} }}\n"
        ));
    }
    for (i, resource) in ["limits.cpu", "requests.memory", "limits.ephemeral-storage"]
        .iter()
        .enumerate()
    {
        text.push_str(&format!(
            "[[spec.template.spec.containers.env]]\nname = \"R{i}\"\nvalueFrom = {{ resourceFieldRef = {{ resource = \"{resource}\", divisor = \"1m\" }} }}\n"
        ));
    }
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "ok.toml", &text);
    let run = validate(&[&path]);
    assert_eq!(run.code, 0, "{text}\nstderr:\n{}", run.stderr);
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
}
