//! Images first: the script that pulls (or checks) a rollout's images on a host before any
//! instance is stopped, so a host's downtime is only the restart and a missing image halts
//! the rollout before anything is disrupted (pure).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::daemonset::{DaemonSet, PullPolicy};
use crate::host_script::sh_quote;

const PRELUDE: &str = r#"set -u
rc=0
# Every podman call has its own deadline, so a wedged podman or registry is reported by name
# well before the run's own exec deadline; `--` keeps an image from ever being read as a flag.
has() { timeout 60 podman image exists -- "$1"; }
# get IMAGE POLICY: make IMAGE present as imagePullPolicy POLICY asks.
get() {
  case $2 in
    Never) has "$1" && return 0
           echo "image $1 is not on the host and imagePullPolicy is Never" >&2; rc=1; return ;;
    IfNotPresent) has "$1" && return 0 ;;
  esac
  out=$(timeout 300 podman pull -q -- "$1" 2>&1 >/dev/null) || {
    [ $? -ne 124 ] || out="no answer within 300s"
    echo "pulling image $1 failed: $out" >&2; rc=1
  }
}
"#;

/// One `get` per distinct image; the strictest policy wins when two containers share one.
pub fn pull_script(daemonsets: &[&DaemonSet]) -> String {
    let mut images: BTreeMap<&str, PullPolicy> = BTreeMap::new();
    for container in daemonsets.iter().flat_map(|ds| &ds.pod_spec().containers) {
        let policy = container.effective_pull_policy();
        images
            .entry(container.image.as_str())
            .and_modify(|p| *p = stricter(*p, policy))
            .or_insert(policy);
    }
    let mut script = PRELUDE.to_string();
    for (image, policy) in images {
        let _ = writeln!(script, "get {} {policy:?}", sh_quote(image));
    }
    script.push_str("exit $rc\n");
    script
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
