//! Secret values never reach the terminal: values planted in a Secret's `data`, `stringData`,
//! each `[dsctl.valueFrom]` source (file, env, command) and a pull secret's credential are
//! grepped for in every output of every offline command (stdout and stderr, every verbosity,
//! table and JSON, success and error paths). Each command must also have printed something,
//! so a command that fails silently cannot pass. (diff, apply --dry-run, apply -o json, get
//! and rollout against real hosts: tests/e2e/pull.rs.)

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use base64::Engine;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

const IN_DATA: &str = "pl4nted-in-data";
const IN_STRING_DATA: &str = "pl4nted-in-stringData";
const IN_FILE: &str = "pl4nted-from-file";
const IN_ENV: &str = "pl4nted-from-env";
const IN_COMMAND: &str = "pl4nted-from-command";
const REGISTRY_PASSWORD: &str = "pl4nted-registry-password";

const INVENTORY: &str = r#"[[hosts]]
name = "node-a"
address = "192.0.2.10"

[[hosts]]
name = "node-b"
address = "192.0.2.11"
"#;

/// Every planted value, and the base64 forms that sit in the spec files or on the hosts.
fn planted() -> Vec<String> {
    let mut values: Vec<String> = [
        IN_DATA,
        IN_STRING_DATA,
        IN_FILE,
        IN_ENV,
        IN_COMMAND,
        REGISTRY_PASSWORD,
    ]
    .iter()
    .map(|v| v.to_string())
    .collect();
    values.push(B64.encode(IN_DATA));
    values.push(registry_auth());
    values.push(B64.encode(docker_config()));
    values
}

fn registry_auth() -> String {
    B64.encode(format!("puller:{REGISTRY_PASSWORD}"))
}

fn docker_config() -> String {
    format!(
        r#"{{"auths":{{"10.213.0.16:8620":{{"auth":"{}"}}}}}}"#,
        registry_auth()
    )
}

/// A directory with a DaemonSet that uses two Secrets (an app Secret through a volume and
/// env, and a pull secret), the Secrets, the value file and the inventory.
struct Specs {
    dir: tempfile::TempDir,
}

impl Specs {
    fn new(daemonset_extra: &str, secrets_extra: &str) -> Specs {
        let dir = tempfile::tempdir().unwrap();
        let specs = dir.path().join("specs");
        std::fs::create_dir(&specs).unwrap();
        std::fs::write(dir.path().join("value-file"), IN_FILE).unwrap();
        std::fs::write(dir.path().join("value-command"), IN_COMMAND).unwrap();
        std::fs::write(dir.path().join("hosts.toml"), INVENTORY).unwrap();
        std::fs::write(
            specs.join("agent.toml"),
            format!(
                r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "cp-leak"
[spec.selector.matchLabels]
app = "cp-leak"
[spec.template.metadata.labels]
app = "cp-leak"
[spec.template.spec]
imagePullSecrets = [{{ name = "cp-regcred" }}]
volumes = [{{ name = "creds", secret = {{ secretName = "cp-app" }} }}]
{daemonset_extra}
[[spec.template.spec.containers]]
name = "agent"
image = "10.213.0.16:8620/cp/web:1"
volumeMounts = [{{ name = "creds", mountPath = "/etc/agent/creds", readOnly = true }}]
env = [
  {{ name = "API_KEY", valueFrom = {{ secretKeyRef = {{ name = "cp-app", key = "data-key" }} }} }},
  {{ name = "FROM_COMMAND", valueFrom = {{ secretKeyRef = {{ name = "cp-app", key = "command-key" }} }} }},
]
"#
            ),
        )
        .unwrap();
        std::fs::write(
            specs.join("secrets.toml"),
            format!(
                r#"apiVersion = "v1"
kind = "Secret"
[metadata]
name = "cp-app"
[data]
data-key = "{}"
[stringData]
string-key = "{IN_STRING_DATA}"
[dsctl.valueFrom]
file-key = {{ file = "../value-file" }}
env-key = {{ env = "CP_LEAK_PLANTED" }}
command-key = {{ command = ["cat", "{}"] }}
{secrets_extra}
"#,
                B64.encode(IN_DATA),
                dir.path().join("value-command").display()
            ),
        )
        .unwrap();
        std::fs::write(
            specs.join("regcred.toml"),
            format!(
                r#"apiVersion = "v1"
kind = "Secret"
type = "kubernetes.io/dockerconfigjson"
[metadata]
name = "cp-regcred"
[data]
".dockerconfigjson" = "{}"
"#,
                B64.encode(docker_config())
            ),
        )
        .unwrap();
        Specs { dir }
    }

    fn specs(&self) -> PathBuf {
        self.dir.path().join("specs")
    }

    fn inventory(&self) -> PathBuf {
        self.dir.path().join("hosts.toml")
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.specs().join(file), text).unwrap();
    }
}

struct Run {
    code: Option<i32>,
    output: String,
}

fn dsctl(args: &[&str], specs: &Specs) -> Run {
    let out = Command::new(assert_cmd::cargo::cargo_bin!("dsctl"))
        .args(args)
        .env_remove("DSCTL_INVENTORY")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("CP_LEAK_PLANTED", IN_ENV)
        .current_dir(specs.dir.path())
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs every offline command at every verbosity; returns (command, exit code) for the
/// caller's own expectations after checking that each printed something and no secret.
fn every_offline_output(specs: &Specs) -> Vec<(String, Option<i32>)> {
    let (dir, inv) = (specs.specs(), specs.inventory());
    let (dir, inv) = (path(&dir), path(&inv));
    let mut seen = Vec::new();
    for verbosity in [None, Some("-v"), Some("-vv"), Some("-vvv")] {
        for base in [
            vec!["validate", "-f", dir],
            vec!["validate", "-f", dir, "-i", inv],
            vec!["render", "-f", dir, "-i", inv],
            vec!["render", "-f", dir, "-i", inv, "--host", "node-b"],
            vec!["explain", "-f", dir, "-i", inv],
            vec!["explain", "-f", dir, "-i", inv, "-o", "json"],
        ] {
            let mut args = base.clone();
            args.extend(verbosity);
            let run = dsctl(&args, specs);
            let what = args.join(" ");
            assert!(
                !run.output.trim().is_empty(),
                "`dsctl {what}` printed nothing"
            );
            for value in planted() {
                assert!(
                    !run.output.contains(&value),
                    "`dsctl {what}` printed the planted {value:?}:\n{}",
                    run.output
                );
            }
            seen.push((what, run.code));
        }
    }
    seen
}

#[test]
fn a_valid_spec_with_secrets_prints_no_value_anywhere() {
    let specs = Specs::new("", "");
    let seen = every_offline_output(&specs);
    // The files are valid, so validate and explain succeed (render depends on the consumers
    // the renderer supports; its output is checked either way).
    for (what, code) in &seen {
        if what.starts_with("validate") || what.starts_with("explain") {
            assert_eq!(*code, Some(0), "dsctl {what}");
        }
    }
    assert_eq!(seen.len(), 24);
}

#[test]
fn error_messages_about_secrets_print_no_value() {
    // Each mistake sits beside the planted values (and some inside a value).
    for (daemonset_extra, secrets_extra, extra_file, want) in [
        // A pull secret of the wrong type, whose data holds a planted value.
        (
            "",
            "",
            Some(format!(
                "apiVersion = \"v1\"\nkind = \"Secret\"\n[metadata]\nname = \"cp-regcred\"\n[stringData]\n\".dockerconfigjson\" = \"{REGISTRY_PASSWORD}\"\n"
            )),
            "has type \"Opaque\"",
        ),
        // A dockerconfigjson that is no JSON, and JSON of the wrong shape.
        (
            "",
            "",
            Some(format!(
                "apiVersion = \"v1\"\nkind = \"Secret\"\ntype = \"kubernetes.io/dockerconfigjson\"\n[metadata]\nname = \"cp-regcred\"\n[stringData]\n\".dockerconfigjson\" = '{{\"auths\": {REGISTRY_PASSWORD}}}'\n"
            )),
            "JSON",
        ),
        (
            "",
            "",
            Some(format!(
                "apiVersion = \"v1\"\nkind = \"Secret\"\ntype = \"kubernetes.io/dockerconfigjson\"\n[metadata]\nname = \"cp-regcred\"\n[stringData]\n\".dockerconfigjson\" = '{{\"auths\": {{\"r\": \"{REGISTRY_PASSWORD}\"}}}}'\n"
            )),
            "not a JSON object",
        ),
        // A key that is no valid key, with a planted value; bad base64 in data.
        (
            "",
            &*format!("\"bad key!\" = \"{IN_DATA}\""),
            None,
            "bad key!",
        ),
        (
            "",
            "",
            Some(format!(
                "apiVersion = \"v1\"\nkind = \"Secret\"\n[metadata]\nname = \"cp-other\"\n[data]\nk = \"{IN_DATA}!\"\n"
            )),
            "base64",
        ),
        // A reference to a key the Secret lacks; a pull secret that is not there.
        (
            "initContainers = [{ name = \"i\", image = \"r/i:1\", env = [{ name = \"X\", valueFrom = { secretKeyRef = { name = \"cp-app\", key = \"no-such-key\" } } }] }]",
            "",
            None,
            "no-such-key",
        ),
    ] {
        let specs = Specs::new(daemonset_extra, secrets_extra);
        if let Some(text) = extra_file {
            let file = if text.contains("cp-regcred") {
                "regcred.toml"
            } else {
                "other.toml"
            };
            specs.write(file, &text);
        }
        let seen = every_offline_output(&specs);
        let run = dsctl(&["validate", "-f", path(&specs.specs())], &specs);
        assert_eq!(run.code, Some(2), "{want}: {}", run.output);
        assert!(run.output.contains(want), "{want}: {}", run.output);
        assert!(
            seen.iter()
                .any(|(w, c)| w.starts_with("render") && *c != Some(0)),
            "render refuses the invalid files too"
        );
    }
}
