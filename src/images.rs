//! Images first: the script that pulls (or checks) a rollout's images on a host before any
//! instance is stopped, so a host's downtime is only the restart and a missing image halts
//! the rollout before anything is disrupted (pure).
//!
//! It also writes each DaemonSet's registry auth file (pull_secrets.rs) before the pulls that
//! need it, and removes it from a DaemonSet that no longer has imagePullSecrets: the units'
//! own pulls (`--authfile` in their podman arguments) read the same file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine;

use crate::daemonset::{DaemonSet, PullPolicy};
use crate::host_script::sh_quote;
use crate::layout;
use crate::pull_secrets;

const PRELUDE: &str = r#"set -u
rc=0
# Every podman call has its own deadline, so a wedged podman or registry is reported by name
# well before the run's own exec deadline; `--` keeps an image from ever being read as a flag.
has() { timeout 60 podman image exists -- "$1"; }
# auth FILE B64: write a registry auth file that only root can read (0600 in a 0700
# directory), atomically. The content arrives on the script's stdin, never in an argv.
auth() {
  d=${1%/*}
  (umask 077; mkdir -p "$d") && chmod 0700 "$d" && t=$(mktemp "$d/.dsctl.XXXXXX") &&
    printf '%s' "$2" | base64 -d > "$t" && chmod 0600 "$t" && mv -f "$t" "$1" ||
    { echo "writing the registry auth file $1 failed" >&2; rc=1; }
}
# get IMAGE POLICY [AUTHFILE]: make IMAGE present as imagePullPolicy POLICY asks.
get() {
  case $2 in
    Never) has "$1" && return 0
           echo "image $1 is not on the host and imagePullPolicy is Never" >&2; rc=1; return ;;
    IfNotPresent) has "$1" && return 0 ;;
  esac
  out=$(timeout 300 podman pull -q ${3:+--authfile "$3"} -- "$1" 2>&1 >/dev/null) || {
    [ $? -ne 124 ] || out="no answer within 300s"
    echo "pulling image $1 failed: $out" >&2; rc=1
  }
}
"#;

/// One `get` per distinct image and auth file; the strictest policy wins when two containers
/// share one. A DaemonSet's auth file is written before its pulls, and removed when it has
/// no imagePullSecrets.
pub fn pull_script(daemonsets: &[&DaemonSet]) -> String {
    let mut images: BTreeMap<(&str, Option<String>), PullPolicy> = BTreeMap::new();
    let mut script = PRELUDE.to_string();
    for ds in daemonsets {
        let authfile = auth_step(&mut script, ds);
        for container in &ds.pod_spec().containers {
            let policy = container.effective_pull_policy();
            images
                .entry((container.image.as_str(), authfile.clone()))
                .and_modify(|p| *p = stricter(*p, policy))
                .or_insert(policy);
        }
    }
    for ((image, authfile), policy) in images {
        let _ = write!(script, "get {} {policy:?}", sh_quote(image));
        if let Some(file) = authfile {
            let _ = write!(script, " {}", sh_quote(&file));
        }
        script.push('\n');
    }
    script.push_str("exit $rc\n");
    script
}

/// Writes (or removes) `ds`'s auth file; returns the file its pulls use.
fn auth_step(script: &mut String, ds: &DaemonSet) -> Option<String> {
    let file = layout::auth_file(ds.name());
    if ds.pod_spec().image_pull_secrets.is_empty() {
        let _ = writeln!(script, "rm -f {}", sh_quote(&file));
        return None;
    }
    // A spec read back from a host's record (auto-revert, undo) holds the Secrets' hashes
    // only: the file written with it stays as it is.
    if !ds.objects.has_data() {
        return Some(file);
    }
    match pull_secrets::for_daemonset(ds) {
        Ok(Some(content)) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(content.json());
            let _ = writeln!(script, "auth {} {b64}", sh_quote(&file));
        }
        Ok(None) => {}
        // validate refuses these before any host is contacted; the messages hold no value.
        Err(errors) => {
            for e in errors {
                let _ = writeln!(script, "echo {} >&2; rc=1", sh_quote(&e.to_string()));
            }
        }
    }
    Some(file)
}

/// Always pulls, IfNotPresent may pull, Never only checks.
fn stricter(a: PullPolicy, b: PullPolicy) -> PullPolicy {
    use PullPolicy::*;
    match (a, b) {
        (Always, _) | (_, Always) => Always,
        (IfNotPresent, _) | (_, IfNotPresent) => IfNotPresent,
        _ => Never,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::Container;

    fn ds(images: &[(&str, Option<PullPolicy>)]) -> DaemonSet {
        let text = r#"apiVersion = "apps/v1"
kind = "DaemonSet"
metadata.name = "x"
spec.selector.matchLabels.app = "x"
spec.template.metadata.labels.app = "x"
spec.template.spec.containers = []
"#;
        let mut ds: DaemonSet = toml::from_str(text).unwrap();
        ds.spec.template.spec.containers = images
            .iter()
            .enumerate()
            .map(|(i, (image, policy))| Container {
                name: format!("c{i}"),
                image: image.to_string(),
                image_pull_policy: *policy,
                ..Default::default()
            })
            .collect();
        ds
    }

    #[test]
    fn one_line_per_image_with_the_policy_in_effect() {
        let d = ds(&[
            ("nginx", None),
            ("fluentd/fluentd:v1.16", None),
            ("localhost/web:1", Some(PullPolicy::Never)),
            ("localhost/web:1", Some(PullPolicy::IfNotPresent)),
            ("app@sha256:abc", None),
        ]);
        let s = pull_script(&[&d]);
        assert!(s.contains("get 'nginx' Always\n"), "{s}");
        assert!(
            s.contains("get 'fluentd/fluentd:v1.16' IfNotPresent\n"),
            "{s}"
        );
        assert!(s.contains("get 'localhost/web:1' IfNotPresent\n"), "{s}");
        assert!(s.contains("get 'app@sha256:abc' IfNotPresent\n"), "{s}");
        assert_eq!(s.matches("\nget '").count(), 4);
    }

    const CREDENTIAL: &str = r#"{"auths":{"10.0.0.1:8620":{"auth":"dTpzM2NyZXQ="}}}"#;

    /// `d` with imagePullSecrets = [regcred], and the Secret bound as the loader binds it.
    fn with_pull_secret(mut d: DaemonSet) -> DaemonSet {
        use crate::config_object::{ConfigObject, ObjectKind, Value};
        d.spec.template.spec.image_pull_secrets = vec![crate::daemonset::LocalObjectReference {
            name: "regcred".into(),
        }];
        let secret = ConfigObject {
            kind: ObjectKind::Secret,
            name: "regcred".into(),
            secret_type: pull_secrets::DOCKER_CONFIG_JSON.into(),
            immutable: false,
            data: BTreeMap::from([(".dockerconfigjson".into(), Value::new(CREDENTIAL))]),
            binary_keys: Default::default(),
        };
        d.objects.objects.insert(secret.key(), secret);
        d
    }

    #[test]
    fn pulls_with_the_daemonsets_auth_file_and_removes_unused_ones() {
        let mut private = with_pull_secret(ds(&[("10.0.0.1:8620/cp/web:1", None)]));
        private.metadata.name = "private".into();
        let mut public = ds(&[("10.0.0.1:8620/cp/web:1", None)]);
        public.metadata.name = "public".into();
        let s = pull_script(&[&private, &public]);
        let file = layout::auth_file("private");
        let write = s.find(&format!("auth '{file}' ")).expect(&s);
        let get = s
            .find(&format!(
                "get '10.0.0.1:8620/cp/web:1' IfNotPresent '{file}'\n"
            ))
            .expect(&s);
        assert!(write < get, "{s}");
        // The other DaemonSet pulls the same image without credentials, and loses its file.
        assert!(
            s.contains("get '10.0.0.1:8620/cp/web:1' IfNotPresent\n"),
            "{s}"
        );
        assert!(
            s.contains(&format!("rm -f '{}'\n", layout::auth_file("public"))),
            "{s}"
        );
        // The credential travels base64-encoded only.
        assert!(
            !s.contains("dTpzM2NyZXQ=") && !s.contains(CREDENTIAL),
            "{s}"
        );
    }

    #[test]
    fn a_recorded_spec_keeps_the_auth_file_and_a_bad_secret_fails_without_its_value() {
        use crate::config_refs::ObjectSummary;
        let mut recorded = with_pull_secret(ds(&[("r/web:1", None)]));
        recorded.objects.objects.clear();
        recorded.objects.recorded.insert(
            "secret/regcred".into(),
            ObjectSummary {
                hash: "0".repeat(64),
                immutable: false,
                keys: BTreeMap::new(),
            },
        );
        let s = pull_script(&[&recorded]);
        let file = layout::auth_file("x");
        assert!(!s.contains("\nauth ") && !s.contains("rm -f"), "{s}");
        assert!(
            s.contains(&format!("get 'r/web:1' IfNotPresent '{file}'\n")),
            "{s}"
        );

        let mut opaque = with_pull_secret(ds(&[("r/web:1", None)]));
        for secret in opaque.objects.objects.values_mut() {
            secret.secret_type = "Opaque".into();
        }
        let s = pull_script(&[&opaque]);
        assert!(s.contains("has type \"Opaque\""), "{s}");
        assert!(s.contains("rc=1") && !s.contains("\nauth "), "{s}");
        assert!(!s.contains("dTpzM2NyZXQ="), "{s}");
    }

    /// Runs the script with a fake podman: the auth file is 0600 in a 0700 directory, holds
    /// the auth JSON, and podman gets its path, never its content.
    #[test]
    fn the_auth_file_is_roots_alone_and_reaches_podman_by_path() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = tmp.path().join("podman.log");
        let podman = bin.join("podman");
        std::fs::write(
            &podman,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\n[ \"$1\" != image ] || exit 1\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&podman, std::fs::Permissions::from_mode(0o755)).unwrap();
        let state = tmp.path().join("auth");
        let d = with_pull_secret(ds(&[("10.0.0.1:8620/cp/web:1", None)]));
        let script = pull_script(&[&d]).replace(layout::AUTH_DIR, state.to_str().unwrap());
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let file = state.join("x.json");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&file), 0o600);
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(
            written,
            serde_json::from_str::<serde_json::Value>(CREDENTIAL).unwrap()
        );
        let calls = std::fs::read_to_string(&log).unwrap();
        assert!(
            calls.contains(&format!(
                "pull -q --authfile {} -- 10.0.0.1:8620/cp/web:1",
                file.display()
            )),
            "{calls}"
        );
        assert!(!calls.contains("dTpzM2NyZXQ="), "{calls}");
        // No leftovers of the atomic write.
        assert_eq!(std::fs::read_dir(&state).unwrap().count(), 1);
    }

    #[test]
    fn reports_every_missing_image_and_fails() {
        let d = ds(&[
            ("localhost/none:1", Some(PullPolicy::Never)),
            ("localhost/none:2", Some(PullPolicy::Never)),
        ]);
        // A host without podman: `podman image exists` fails, so both are reported.
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(pull_script(&[&d]))
            .env("PATH", "/nonexistent")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("localhost/none:1") && err.contains("localhost/none:2"),
            "{err}"
        );
    }
}
