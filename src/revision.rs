//! The revision of a DaemonSet: a hash of its pod template, like controller-revision-hash.
//!
//! Kubernetes hashes `spec.template` only, so a change to metadata, the selector or the
//! update strategy never starts a rollout; this does the same. The template is serialized
//! with serde_json: struct fields in declaration order and maps as BTreeMaps make that byte
//! stream canonical, whatever order the TOML was written in.

use sha2::{Digest, Sha256};

use crate::daemonset::{DaemonSet, PodTemplateSpec};

/// Hex digits kept from the digest: short enough to read, plenty against collisions.
const LEN: usize = 10;

/// The revision of `ds`: 10 hex characters that change when, and only when, the pod template
/// changes.
pub fn revision(ds: &DaemonSet) -> String {
    let objects = ds.objects.summaries();
    if objects.is_empty() {
        return template_revision(&ds.spec.template);
    }
    // The content of every object the template uses: a ConfigMap-only change is a new
    // revision, and so a rollout (kubernetes/kubernetes#22368). Only hashes: the revision of
    // a spec read back from a host (which keeps no Secret data) is the same.
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&ds.spec.template).expect("a pod template serializes to JSON"));
    for (name, summary) in &objects {
        h.update(format!("\0{name}\0{}", summary.hash));
    }
    let mut hex = hex::encode(h.finalize());
    hex.truncate(LEN);
    hex
}

/// The revision of a pod template on its own (for history kept apart from a DaemonSet).
pub fn template_revision(template: &PodTemplateSpec) -> String {
    // Serializing plain data structs to JSON has no failure mode (no maps with non-string
    // keys, no custom serializers that error).
    let canonical = serde_json::to_vec(template).expect("a pod template serializes to JSON");
    let digest = Sha256::digest(&canonical);
    let mut hex = hex::encode(digest);
    hex.truncate(LEN);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENT: &str = r#"
apiVersion = "apps/v1"
kind = "DaemonSet"

[metadata]
name = "agent"
labels = { app = "agent", tier = "node" }

[spec.selector.matchLabels]
app = "agent"

[spec.updateStrategy]
type = "RollingUpdate"
rollingUpdate = { maxUnavailable = 1 }

[spec.template.metadata.labels]
app = "agent"

[spec.template.spec]
nodeSelector = { disktype = "ssd", zone = "a" }

[[spec.template.spec.containers]]
name = "agent"
image = "example.org/agent:1.0"
args = ["--verbose", "--port=9100"]
env = [{ name = "MODE", value = "fast" }]
"#;

    /// The same DaemonSet with every table and key written in another order.
    const AGENT_REORDERED: &str = r#"
kind = "DaemonSet"
apiVersion = "apps/v1"

[spec.template.spec]
nodeSelector = { zone = "a", disktype = "ssd" }

[[spec.template.spec.containers]]
env = [{ value = "fast", name = "MODE" }]
args = ["--verbose", "--port=9100"]
image = "example.org/agent:1.0"
name = "agent"

[spec.template.metadata.labels]
app = "agent"

[spec.updateStrategy]
rollingUpdate = { maxUnavailable = 1 }
type = "RollingUpdate"

[spec.selector.matchLabels]
app = "agent"

[metadata]
labels = { tier = "node", app = "agent" }
name = "agent"
"#;

    /// A named change to a DaemonSet.
    type Edit = (&'static str, Box<dyn Fn(&mut DaemonSet)>);

    fn parse(text: &str) -> DaemonSet {
        toml::from_str(text).expect("test spec parses")
    }

    fn agent() -> DaemonSet {
        parse(AGENT)
    }

    #[test]
    fn is_ten_hex_characters_and_stable() {
        let rev = revision(&agent());
        assert_eq!(rev.len(), LEN);
        assert!(
            rev.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(rev, revision(&agent()));
        // Pinned: a change in how templates serialize would change every revision and so
        // restart every DaemonSet in every fleet. If this fails, that is what happened.
        assert_eq!(rev, "eacd529e28");
    }

    #[test]
    fn ignores_the_order_things_are_written_in() {
        assert_eq!(revision(&agent()), revision(&parse(AGENT_REORDERED)));
    }

    #[test]
    fn changes_when_the_template_changes() {
        let base = revision(&agent());
        let edits: Vec<Edit> = vec![
            (
                "image",
                Box::new(|ds| {
                    ds.spec.template.spec.containers[0].image = "example.org/agent:1.1".into()
                }),
            ),
            (
                "env value",
                Box::new(|ds| ds.spec.template.spec.containers[0].env[0].value = "slow".into()),
            ),
            (
                "args",
                Box::new(|ds| {
                    ds.spec.template.spec.containers[0]
                        .args
                        .push("--debug".into())
                }),
            ),
            (
                "args order",
                Box::new(|ds| ds.spec.template.spec.containers[0].args.reverse()),
            ),
            (
                "nodeSelector",
                Box::new(|ds| {
                    ds.spec
                        .template
                        .spec
                        .node_selector
                        .insert("zone".into(), "b".into());
                }),
            ),
            (
                "template label",
                Box::new(|ds| {
                    ds.spec
                        .template
                        .metadata
                        .labels
                        .insert("version".into(), "2".into());
                }),
            ),
            (
                "hostNetwork",
                Box::new(|ds| ds.spec.template.spec.host_network = true),
            ),
        ];
        for (what, edit) in edits {
            let mut ds = agent();
            edit(&mut ds);
            assert_ne!(
                revision(&ds),
                base,
                "changing the {what} must change the revision"
            );
        }
    }

    #[test]
    fn unchanged_outside_the_template() {
        let base = revision(&agent());
        let edits: Vec<Edit> = vec![
            ("name", Box::new(|ds| ds.metadata.name = "agent-2".into())),
            (
                "metadata.labels",
                Box::new(|ds| {
                    ds.metadata.labels.insert("owner".into(), "ops".into());
                }),
            ),
            (
                "metadata.annotations",
                Box::new(|ds| {
                    ds.metadata.annotations.insert("note".into(), "x".into());
                }),
            ),
            (
                "updateStrategy",
                Box::new(|ds| ds.spec.update_strategy = Default::default()),
            ),
            (
                "minReadySeconds",
                Box::new(|ds| ds.spec.min_ready_seconds = 30),
            ),
            (
                "revisionHistoryLimit",
                Box::new(|ds| ds.spec.revision_history_limit = 3),
            ),
            (
                "selector",
                Box::new(|ds| {
                    ds.spec
                        .selector
                        .match_labels
                        .insert("tier".into(), "node".into());
                }),
            ),
        ];
        for (what, edit) in edits {
            let mut ds = agent();
            edit(&mut ds);
            assert_eq!(
                revision(&ds),
                base,
                "changing the {what} must keep the revision"
            );
        }
    }
}
