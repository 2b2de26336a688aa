//! YAML in: `-f x.yaml` and `dsctl convert`. Every fixture in tests/fixtures/yaml (the seed's
//! two manifests and real DaemonSets as their projects publish them, sources in each file's
//! header) gives the same `validate` result read as YAML and as the TOML `convert` writes;
//! `explain` and `render` read YAML as they read TOML; YAML mistakes name file:line:column and
//! the field.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

fn dsctl() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("dsctl"));
    cmd.env_remove("DSCTL_INVENTORY").env("NO_COLOR", "1");
    cmd
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/fixtures/yaml"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    files
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], paths: &[&Path]) -> Run {
    let mut cmd = dsctl();
    cmd.args(args);
    for path in paths {
        cmd.arg("-f").arg(path);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// What a validate run found, independent of the file's format: each diagnostic's headline
/// (severity, field, message) and help, and each valid object's name. Sorted, since TOML puts a
/// table's plain values before its sub-tables and so lists some findings in another order.
fn findings(run: &Run) -> Vec<String> {
    let mut found: Vec<String> = run
        .stderr
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("error:")
                || l.starts_with("warning:")
                || l.starts_with("help:")
                || l.starts_with("invalid:")
        })
        // The closing line names the invalid files, whose paths differ by format.
        .map(|l| match l.split_once(" (in ") {
            Some((head, _)) if l.starts_with("invalid:") => head.to_string(),
            _ => l.to_string(),
        })
        .collect();
    found.extend(
        run.stdout
            .lines()
            .filter_map(|l| l.split_once(" (").map(|(head, _)| head.to_string())),
    );
    found.sort();
    found
}

/// Converts one YAML file into `dir`, giving back the TOML files written.
fn convert(yaml: &Path, dir: &Path) -> Vec<PathBuf> {
    let out = dsctl()
        .arg("convert")
        .arg("-f")
        .arg(yaml)
        .arg("-o")
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        yaml.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| PathBuf::from(l.strip_prefix("wrote ").unwrap()))
        .collect()
}

#[test]
fn yaml_and_its_conversion_validate_identically() {
    for yaml in fixtures() {
        let dir = TempDir::new().unwrap();
        let from_yaml = run(&["validate"], &[&yaml]);
        let tomls = convert(&yaml, dir.path());
        assert_eq!(tomls.len(), 1, "{}", yaml.display());
        let from_toml = run(&["validate"], &[&tomls[0]]);
        assert_eq!(
            (from_yaml.code, findings(&from_yaml)),
            (from_toml.code, findings(&from_toml)),
            "{}\nYAML:\n{}\nTOML:\n{}",
            yaml.display(),
            from_yaml.stderr,
            from_toml.stderr
        );
        assert!(
            matches!(from_yaml.code, 0 | 2),
            "{}: {}",
            yaml.display(),
            from_yaml.stderr
        );
        // Every diagnostic of the YAML names a place in the YAML file.
        let name = yaml.file_name().unwrap().to_str().unwrap();
        let headlines = from_yaml
            .stderr
            .lines()
            .filter(|l| {
                l.trim_start().starts_with("error:") || l.trim_start().starts_with("warning:")
            })
            .count();
        assert_eq!(
            from_yaml.stderr.matches(&format!("{name}:")).count(),
            headlines,
            "{}",
            from_yaml.stderr
        );
    }
}

#[test]
fn the_seeds_manifests_are_valid_and_convert_to_the_examples() {
    let cases = [
        ("seed-nginx.yaml", "nginx.toml", "nginx-test-daemonset"),
        ("seed-fluentd.yaml", "fluentd.toml", "fluentd-logger"),
    ];
    for (yaml, example, name) in cases {
        let yaml = repo().join("tests/fixtures/yaml").join(yaml);
        let ran = run(&["validate"], &[&yaml]);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        assert!(
            ran.stdout.starts_with(&format!("{name}: valid")),
            "{}",
            ran.stdout
        );
        // The conversion holds the same values as the hand-made example (both read back).
        let dir = TempDir::new().unwrap();
        let converted = convert(&yaml, dir.path());
        let a: toml::Value =
            toml::from_str(&std::fs::read_to_string(&converted[0]).unwrap()).unwrap();
        let b: toml::Value = toml::from_str(
            &std::fs::read_to_string(repo().join("examples").join(example)).unwrap(),
        )
        .unwrap();
        assert_eq!(a, b, "{example}");
    }
}

#[test]
fn explain_and_render_read_yaml_as_toml() {
    let inventory = repo().join("tests/fixtures/explain/inventory.toml");
    let inventory = inventory.to_str().unwrap();
    for yaml in [
        "seed-nginx.yaml",
        "seed-fluentd.yaml",
        "gpu-feature-discovery.yaml",
    ] {
        let yaml = repo().join("tests/fixtures/yaml").join(yaml);
        let dir = TempDir::new().unwrap();
        let toml = &convert(&yaml, dir.path())[0];
        for command in [
            &["explain", "-i", inventory][..],
            &["render", "-i", inventory],
        ] {
            let a = run(command, &[&yaml]);
            let b = run(command, &[toml]);
            assert_eq!(a.code, 0, "{command:?} {}: {}", yaml.display(), a.stderr);
            // (gpu-feature-discovery's node affinity matches no fixture host: nothing to render.)
            assert!(!a.stdout.is_empty() || command[0] == "render");
            assert_eq!(
                (a.code, &a.stdout),
                (b.code, &b.stdout),
                "{command:?} {}",
                yaml.display()
            );
        }
    }
}

const DS: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: NAME
spec:
  selector:
    matchLabels:
      app: a
  template:
    metadata:
      labels:
        app: a
    spec:
      containers:
      - name: main
        image: localhost/agent:1
";

/// The 1-based `line:column` of `needle` (after `after`) in `text`.
fn position(text: &str, after: &str, needle: &str) -> String {
    let at = text.find(after).unwrap() + text[text.find(after).unwrap()..].find(needle).unwrap();
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

#[test]
fn yaml_mistakes_name_file_line_column_and_field() {
    let dir = TempDir::new().unwrap();
    let cases: &[(&str, &str, &str, &str, &str, &str)] = &[
        (
            "wrong type",
            "        image: localhost/agent:1\n        ports:\n        - containerPort: \"80\"\n",
            "containerPort",
            "\"80\"",
            "spec.template.spec.containers[0].ports[0].containerPort",
            "invalid type: string \"80\", expected an integer",
        ),
        (
            "unknown field",
            "      nodeSelectr:\n        disk: ssd\n",
            "nodeSelectr",
            "nodeSelectr",
            "spec.template.spec.nodeSelectr",
            "unknown field `nodeSelectr`",
        ),
        (
            "bad indentation",
            "        image: localhost/agent:1\n         imagePullPolicy: Always\n",
            "imagePullPolicy",
            ":",
            "spec.template.spec.containers[0]",
            "YAML syntax error",
        ),
    ];
    for (what, edit, after, needle, field, message) in cases {
        let text = if what.starts_with("unknown") {
            format!("{}{edit}", DS.replace("NAME", "a"))
        } else {
            DS.replace("NAME", "a")
                .replace("        image: localhost/agent:1\n", edit)
        };
        let path = write(&dir, "bad.yaml", &text);
        let ran = run(&["validate"], &[&path]);
        assert_eq!(ran.code, 2, "{what}: {}", ran.stderr);
        // (For the bad indentation, saphyr points at the `:` a deeper-indented key cannot have.)
        let at = position(&text, after, needle);
        let location = format!("bad.yaml:{at}]");
        assert!(
            ran.stderr.contains(&location),
            "{what}: {location} in\n{}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains(&format!("error: {field}: {message}")),
            "{what}:\n{}",
            ran.stderr
        );
    }
}

#[test]
fn multi_document_files_and_kinds() {
    let dir = TempDir::new().unwrap();
    let two = format!(
        "# two agents\n{}---\n{}",
        DS.replace("NAME", "ym-one"),
        DS.replace("NAME", "ym-two")
    );
    let path = write(&dir, "two.yml", &two);
    let ran = run(&["validate"], &[&path]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("ym-one: valid") && ran.stdout.contains("ym-two: valid"));

    // A directory of YAML files is read like one of TOML files.
    let ran = run(&["validate"], &[dir.path()]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("ym-two: valid"), "{}", ran.stdout);

    // One file per object; without -o, stdout only takes one.
    let ran = run(&["convert"], &[&path]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("holds 2 objects: pass -o DIR"),
        "{}",
        ran.stderr
    );
    let out = dir.path().join("out");
    let written = convert(&path, &out);
    assert_eq!(
        written,
        vec![out.join("ym-one.toml"), out.join("ym-two.toml")]
    );
    let ran = run(&["convert", "-o", out.to_str().unwrap()], &[&path]);
    assert_eq!(ran.code, 2, "refuses to overwrite");
    assert!(ran.stderr.contains("--overwrite"), "{}", ran.stderr);
    let ran = run(&["validate"], &[&written[0], &written[1]]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    // A kind dsctl does not read is refused by its kind, not by a field of it; the other
    // documents are still checked.
    let mixed = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: agent\n---\n{}",
        DS.replace("NAME", "ym-three")
            .replace("app: a\n    spec", "app: b\n    spec")
    );
    let path = write(&dir, "mixed.yaml", &mixed);
    let ran = run(&["validate"], &[&path]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr
            .contains("error: kind: unsupported kind `ServiceAccount`: dsctl reads DaemonSet"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("mixed.yaml:2:7]"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("spec.selector"),
        "the DaemonSet's own error is reported too:\n{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("unknown field"), "{}", ran.stderr);
    let ran = run(&["convert", "-o", out.to_str().unwrap()], &[&path]);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("unsupported kind `ServiceAccount`"));
    assert!(!out.join("ym-three.toml").exists(), "nothing written");
}

#[test]
fn convert_to_stdout_keeps_comments() {
    let path = repo().join("tests/fixtures/yaml/seed-fluentd.yaml");
    let ran = run(&["convert"], &[&path]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    for comment in [
        "name = \"fluentd-logger\" # Name of your DaemonSet",
        "app = \"fluentd-logging\" # Must match labels in template.metadata.labels",
        "# This defines the Pod that will run on each node\n[spec.template.metadata]",
        "terminationGracePeriodSeconds = 30 # Time for graceful shutdown",
        "# Allows Pod to be scheduled on nodes with specific taints\n[[spec.template.spec.tolerations]]",
        "key = \"node-role.kubernetes.io/control-plane\" # Or \"master\" for older versions",
        "name = \"docker-logs\" # Mount Docker container logs",
        "# Define hostPath volumes to access node resources\n[[spec.template.spec.volumes]]",
    ] {
        assert!(
            ran.stdout.contains(comment),
            "{comment:?} in\n{}",
            ran.stdout
        );
    }
    let ran = run(&["convert"], &[&repo().join("examples/nginx.toml")]);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("not a YAML file"), "{}", ran.stderr);
}

#[test]
fn a_real_multi_document_manifest_is_refused_kind_by_kind() {
    let path = repo().join("tests/fixtures/yaml-refused/kube-flannel.yml");
    let ran = run(&["validate"], &[&path]);
    assert_eq!(ran.code, 2);
    for kind in [
        "PodSecurityPolicy",
        "ClusterRole",
        "ClusterRoleBinding",
        "ServiceAccount",
    ] {
        assert!(
            ran.stderr.contains(&format!(
                "error: kind: unsupported kind `{kind}`: dsctl reads DaemonSet"
            )),
            "{kind}:\n{}",
            ran.stderr
        );
    }
    // Its ConfigMap is read now, as an object of its own.
    assert!(
        !ran.stderr.contains("unsupported kind `ConfigMap`"),
        "{}",
        ran.stderr
    );
    // Its DaemonSet (extensions/v1beta1, no selector) is read and judged on its own fields,
    // and the same way once converted.
    assert!(
        ran.stderr
            .contains("error: spec.selector: missing required field `selector`"),
        "{}",
        ran.stderr
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let daemonset = text.split("\n---\n").last().unwrap();
    let dir = TempDir::new().unwrap();
    let yaml = write(&dir, "flannel-ds.yaml", daemonset);
    let from_yaml = run(&["validate"], &[&yaml]);
    let toml = &convert(&yaml, &dir.path().join("out"))[0];
    let from_toml = run(&["validate"], &[toml]);
    assert_eq!(from_yaml.code, 2);
    assert_eq!(
        (from_yaml.code, findings(&from_yaml)),
        (from_toml.code, findings(&from_toml)),
        "YAML:\n{}\nTOML:\n{}",
        from_yaml.stderr,
        from_toml.stderr
    );
}
