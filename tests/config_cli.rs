//! ConfigMaps and Secrets at the command line: each kind of bad object and bad reference is
//! refused with `file:line:column`, the field and exit code 2; a Secret's value, from the
//! file, an env var or a command, is never printed.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// A DaemonSet whose pod gets `pod` (TOML keys) and whose container gets `container`.
fn daemonset(pod: &str, container: &str) -> String {
    format!(
        "apiVersion = \"apps/v1\"\nkind = \"DaemonSet\"\n[metadata]\nname = \"cm-agent\"\n\
         [spec.selector.matchLabels]\napp = \"a\"\n[spec.template.metadata.labels]\napp = \"a\"\n\
         [spec.template.spec]\n{pod}\n\
         [[spec.template.spec.containers]]\nname = \"main\"\nimage = \"localhost/agent:1\"\n{container}\n"
    )
}

const CONFIG: &str = "apiVersion = \"v1\"\nkind = \"ConfigMap\"\n[metadata]\nname = \"cfg\"\n[data]\n\"app.conf\" = \"a=1\"\n[binaryData]\nblob = \"AAE=\"\n";
const SECRET: &str = "apiVersion = \"v1\"\nkind = \"Secret\"\n[metadata]\nname = \"creds\"\n[stringData]\ntoken = \"cm-cli-planted-5150\"\n";
const PLANTED: &str = "cm-cli-planted-5150";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A scratch directory of spec files, and dsctl run on them.
struct Specs {
    dir: TempDir,
    files: Vec<PathBuf>,
}

impl Specs {
    fn new() -> Specs {
        Specs {
            dir: TempDir::new().unwrap(),
            files: Vec::new(),
        }
    }

    fn file(mut self, name: &str, text: &str) -> Specs {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        self.files.push(path);
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("dsctl"));
        cmd.env_remove("DSCTL_INVENTORY").env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    fn validate(&self) -> Run {
        self.run(&["validate"], &[])
    }
}

/// `file:line:column` of the first `needle` after `after` in the file's text.
fn at(path: &Path, after: &str, needle: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let from = text.find(after).unwrap_or_else(|| panic!("{after:?}"));
    let i = from
        + text[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?}"));
    let line = text[..i].matches('\n').count() + 1;
    let col = i - text[..i].rfind('\n').map_or(0, |j| j + 1) + 1;
    format!("{}:{line}:{col}", path.display())
}

fn assert_refused(run: &Run, location: &str, field: &str, message: &str) {
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(location),
        "wanted {location} in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("error: {field}: ")),
        "wanted {field} in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(message),
        "wanted {message:?} in:\n{}",
        run.stderr
    );
}

#[test]
fn a_daemonset_with_its_objects_is_valid_and_each_is_named() {
    let specs = Specs::new()
        .file(
            "ds.toml",
            &daemonset(
                "volumes = [{ name = \"c\", configMap = { name = \"cfg\" } }, { name = \"s\", secret = { secretName = \"creds\", optional = true } }, { name = \"none\", configMap = { name = \"absent\", optional = true } }]",
                "envFrom = [{ secretRef = { name = \"creds\" } }]",
            ),
        )
        .file("cfg.toml", CONFIG)
        .file(
            "more.yaml",
            &format!("{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: other}}\ndata: {{k: v}}\n", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ndata:\n  token: Y20tY2xpLXBsYW50ZWQtNTE1MA==\n"),
        );
    let run = specs.validate();
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "cm-agent: valid",
        "configmap/cfg: valid",
        "secret/creds: valid",
        "configmap/other: valid",
    ] {
        assert!(run.stdout.contains(line), "{line} in {}", run.stdout);
    }
    assert!(!format!("{}{}", run.stdout, run.stderr).contains(PLANTED));
}

/// Each rule of ValidateConfigMap / ValidateSecret, as one bad document.
#[test]
fn bad_objects_are_refused_where_they_are_written() {
    let big = "x".repeat(1024 * 1024);
    let rows: Vec<(String, &str, &str, &str, &str)> = vec![
        // (document, after, needle, field, message)
        (
            CONFIG.replace("\"app.conf\"", "\"app conf\""),
            "[data]",
            "\"app conf\"",
            "data[app conf]",
            "a valid config key must consist of alphanumeric characters",
        ),
        (
            CONFIG.replace("AAE=", "not*base64"),
            "[binaryData]",
            "\"not*base64\"",
            "binaryData[blob]",
            "not base64",
        ),
        (
            CONFIG.replace("blob = ", "\"app.conf\" = "),
            "[binaryData]",
            "\"app.conf\"",
            "binaryData[app.conf]",
            "duplicate of key present in data",
        ),
        (
            CONFIG.replace("\"v1\"", "\"v2\""),
            "apiVersion",
            "\"v2\"",
            "apiVersion",
            "Unsupported value: \"v2\"",
        ),
        (
            CONFIG.replace("name = \"cfg\"", "name = \"Cfg_1\""),
            "name",
            "\"Cfg_1\"",
            "metadata.name",
            "lowercase RFC 1123 subdomain",
        ),
        (
            CONFIG.replace("a=1", &big),
            "name",
            "[data]",
            "data",
            "Too long: may not be more than 1048576 bytes",
        ),
        (
            CONFIG.replace("[metadata]", "immutible = true\n[metadata]"),
            "immutible",
            "immutible",
            "immutible",
            "unknown field `immutible`",
        ),
        (
            SECRET.replace("[metadata]", "type = \"kubernetes.io/tls\"\n[metadata]"),
            "type",
            "\"kubernetes.io/tls\"",
            "type",
            "data[tls.crt]: a secret of type \"kubernetes.io/tls\" needs the key \"tls.crt\"",
        ),
        (
            SECRET.replace(
                "[metadata]",
                "type = \"kubernetes.io/service-account-token\"\n[metadata]",
            ),
            "type",
            "\"kubernetes.io/service-account-token\"",
            "type",
            "issued by a Kubernetes API server",
        ),
        (
            SECRET.replace(
                "[stringData]\ntoken = \"cm-cli-planted-5150\"",
                "[data]\ntoken = \"%%%\"",
            ),
            "[data]",
            "\"%%%\"",
            "data[token]",
            "not base64",
        ),
    ];
    for (doc, after, needle, field, message) in rows {
        let specs = Specs::new().file("obj.toml", &doc);
        let run = specs.validate();
        assert_refused(
            &run,
            &at(&specs.path("obj.toml"), after, needle),
            field,
            message,
        );
        assert!(!run.stderr.contains(PLANTED), "{}", run.stderr);
    }
    // Two objects of one kind and name.
    let specs = Specs::new().file("a.toml", CONFIG).file("b.toml", CONFIG);
    let run = specs.validate();
    assert_refused(
        &run,
        &at(&specs.path("b.toml"), "name", "\"cfg\""),
        "metadata.name",
        "configmap/cfg is also defined in",
    );
    // An unknown kind is named, never a confusing field error.
    let specs = Specs::new().file(
        "r.yaml",
        "apiVersion: v1\nkind: Role\nmetadata: {name: r}\n",
    );
    assert_refused(
        &specs.validate(),
        &at(&specs.path("r.yaml"), "kind", "Role"),
        "kind",
        "unsupported kind `Role`: dsctl reads DaemonSet, ConfigMap, Secret",
    );
}

/// Each kind of bad reference, at the reference.
#[test]
fn bad_references_are_refused_at_the_reference() {
    let rows: Vec<(String, &str, &str, &str)> = vec![
        // (daemonset, needle, field, message)
        (
            daemonset(
                "volumes = [{ name = \"c\", configMap = { name = \"gone\" } }]",
                "",
            ),
            "\"gone\"",
            "spec.template.spec.volumes[0].configMap.name",
            "Not found: configmap \"gone\" is in none of the -f files",
        ),
        (
            daemonset(
                "volumes = [{ name = \"c\", configMap = { name = \"cfg\", items = [{ key = \"nope\", path = \"x\" }] } }]",
                "",
            ),
            "\"nope\"",
            "spec.template.spec.volumes[0].configMap.items[0].key",
            "configmap/cfg has no key \"nope\" (its keys: app.conf, blob)",
        ),
        (
            daemonset(
                "",
                "env = [{ name = \"T\", valueFrom = { secretKeyRef = { name = \"creds\", key = \"tokn\" } } }]",
            ),
            "\"tokn\"",
            "spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.key",
            "secret/creds has no key \"tokn\"",
        ),
        (
            daemonset(
                "",
                "env = [{ name = \"B\", valueFrom = { configMapKeyRef = { name = \"cfg\", key = \"blob\" } } }]",
            ),
            "\"blob\"",
            "spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.key",
            "is binaryData, which env cannot take",
        ),
        (
            daemonset("", "envFrom = [{ configMapRef = { name = \"gone\" } }]"),
            "\"gone\"",
            "spec.template.spec.containers[0].envFrom[0].configMapRef.name",
            "Not found: configmap \"gone\"",
        ),
        (
            daemonset(
                "volumes = [{ name = \"p\", projected = { sources = [{ serviceAccountToken = { path = \"token\" } }] } }]",
                "",
            ),
            "{ path = \"token\" }",
            "spec.template.spec.volumes[0].projected.sources[0].serviceAccountToken",
            "issued by a Kubernetes API server, and hosts have none",
        ),
        (
            daemonset(
                "volumes = [{ name = \"p\", projected = { sources = [{ clusterTrustBundle = { name = \"b\", path = \"b\" } }] } }]",
                "",
            ),
            "{ name = \"b\"",
            "spec.template.spec.volumes[0].projected.sources[0].clusterTrustBundle",
            "put the certificates in a ConfigMap",
        ),
        (
            daemonset(
                "volumes = [{ name = \"c\", secret = { secretName = \"creds\", items = [{ key = \"token\", path = \"../t\" }] } }]",
                "",
            ),
            "\"../t\"",
            "spec.template.spec.volumes[0].secret.items[0].path",
            "must not contain '..'",
        ),
        (
            daemonset(
                "",
                "envFrom = [{ prefix = \"9\", configMapRef = { name = \"cfg\" } }]",
            ),
            "\"9\"",
            "spec.template.spec.containers[0].envFrom[0].prefix",
            "must not start with a digit",
        ),
    ];
    for (ds, needle, field, message) in rows {
        let specs = Specs::new()
            .file("ds.toml", &ds)
            .file("cfg.toml", CONFIG)
            .file("sec.toml", SECRET);
        let run = specs.validate();
        assert_refused(
            &run,
            &at(&specs.path("ds.toml"), "[spec.template.spec]", needle),
            field,
            message,
        );
        assert!(!run.stderr.contains(PLANTED), "{}", run.stderr);
    }
}

/// `[dsctl.valueFrom]`: a failing source is named at its file:line, and what a source gives
/// is never printed (render shows units only; the value lives in the env file).
#[test]
fn secret_sources_are_read_locally_and_never_printed() {
    let ds = daemonset(
        "volumes = [{ name = \"s\", secret = { secretName = \"creds\" } }]",
        "env = [{ name = \"T\", valueFrom = { secretKeyRef = { name = \"creds\", key = \"token\" } } }]\nvolumeMounts = [{ name = \"s\", mountPath = \"/etc/creds\" }]",
    );
    let sourced = |source: &str| {
        format!(
            "apiVersion = \"v1\"\nkind = \"Secret\"\n[metadata]\nname = \"creds\"\n[dsctl.valueFrom]\ntoken = {source}\n"
        )
    };
    let inventory = "[[hosts]]\nname = \"node-1\"\naddress = \"192.0.2.10\"\n";
    for source in [
        "{ file = \"token.txt\" }".to_string(),
        "{ env = \"CM_CLI_TOKEN\" }".to_string(),
        "{ command = [\"sh\", \"-c\", \"printf '%s-%s' cm-cli-planted 5150\"] }".to_string(),
    ] {
        let specs = Specs::new()
            .file("ds.toml", &ds)
            .file("sec.toml", &sourced(&source));
        std::fs::write(specs.path("token.txt"), PLANTED).unwrap();
        std::fs::write(specs.path("inv.toml"), inventory).unwrap();
        let inv = specs.path("inv.toml");
        for args in [
            &["validate"][..],
            &["render", "-i", inv.to_str().unwrap()][..],
        ] {
            let run = specs.run(args, &[("CM_CLI_TOKEN", PLANTED)]);
            assert_eq!(run.code, 0, "{source} {args:?}: {}", run.stderr);
            assert!(
                !run.stdout.contains(PLANTED) && !run.stderr.contains(PLANTED),
                "{source} {args:?} printed the value:\n{}",
                run.stdout
            );
        }
        let run = specs.run(
            &["render", "-i", inv.to_str().unwrap()],
            &[("CM_CLI_TOKEN", PLANTED)],
        );
        assert!(run.stdout.contains("--env-file"), "{}", run.stdout);
    }
    let rows = [
        (
            "{ file = \"missing.txt\" }",
            "dsctl.valueFrom[token].file",
            "cannot read",
        ),
        (
            "{ env = \"CM_CLI_UNSET\" }",
            "dsctl.valueFrom[token].env",
            "the environment variable CM_CLI_UNSET is not set",
        ),
        (
            "{ command = [\"sh\", \"-c\", \"printf '%s-%s' cm-cli-planted 5150; echo denied >&2; exit 4\"] }",
            "dsctl.valueFrom[token].command",
            "failed (exit status: 4): denied",
        ),
        (
            "{ command = [\"/nonexistent/pass\"] }",
            "dsctl.valueFrom[token].command",
            "cannot run",
        ),
        (
            "{ env = \"A\", file = \"b\" }",
            "dsctl.valueFrom[token]",
            "exactly one of",
        ),
    ];
    for (source, field, message) in rows {
        let specs = Specs::new()
            .file("ds.toml", &ds)
            .file("sec.toml", &sourced(source));
        let run = specs.validate();
        let needle = source.split(" = ").next().unwrap().trim_start_matches("{ ");
        let after = if field.ends_with(']') {
            "[dsctl.valueFrom]"
        } else {
            "token"
        };
        let needle = if field.ends_with(']') {
            "token"
        } else {
            needle
        };
        let location = at(&specs.path("sec.toml"), after, needle);
        let location = location.rsplit_once(':').unwrap().0.to_string();
        assert_refused(&run, &location, field, message);
        assert!(!run.stderr.contains(PLANTED), "{}", run.stderr);
    }
}
