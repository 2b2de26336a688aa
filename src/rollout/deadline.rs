//! How long a wave may take to become available (pure): the longest progressDeadlineSeconds
//! of the DaemonSets it changes (`saturate` keeps `Instant + deadline` from overflowing).

use std::time::Duration;

use crate::daemonset::{DaemonSet, Extensions};

/// A rollout batch that is not available within this long halts the rollout.
pub const DEFAULT_PROGRESS_DEADLINE_SECS: u64 = 300;

fn extensions<'a>(specs: &'a [DaemonSet], name: &str) -> Option<&'a Extensions> {
    specs
        .iter()
        .find(|s| s.name() == name)
        .and_then(|s| s.dsctl.as_ref())
}

/// The DaemonSet's progressDeadlineSeconds, or the default.
pub fn progress_deadline(specs: &[DaemonSet], name: &str) -> u64 {
    extensions(specs, name)
        .and_then(|x| x.progress_deadline_seconds)
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECS)
}

/// Whether a failed host of this DaemonSet goes back to its previous revision.
pub fn auto_revert(specs: &[DaemonSet], name: &str) -> bool {
    extensions(specs, name).is_some_and(|x| x.auto_revert)
}

/// The wave's deadline: the longest of the deadlines of the DaemonSets it changes (the
/// default when it changes none).
pub fn wave_deadline<'a>(
    specs: &[DaemonSet],
    changed: impl IntoIterator<Item = &'a str>,
) -> Duration {
    let secs = changed
        .into_iter()
        .map(|name| progress_deadline(specs, name))
        .max()
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECS);
    Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, dsctl: &str) -> DaemonSet {
        toml::from_str(&format!(
            r#"apiVersion = "apps/v1"
kind = "DaemonSet"
metadata = {{ name = "{name}" }}
[spec.selector.matchLabels]
app = "a"
[spec.template.metadata.labels]
app = "a"
[[spec.template.spec.containers]]
name = "a"
image = "img"
{dsctl}
"#
        ))
        .unwrap()
    }

    #[test]
    fn wave_deadlines() {
        let specs = [
            spec("plain", ""),
            spec(
                "slow",
                "[dsctl]\nprogressDeadlineSeconds = 900\nautoRevert = true",
            ),
            spec("quick", "[dsctl]\nprogressDeadlineSeconds = 5"),
            spec(
                "huge",
                "[dsctl]\nprogressDeadlineSeconds = 18446744073709551615",
            ),
        ];
        let rows: &[(&[&str], u64)] = &[
            (&[], 300),
            (&["plain"], 300),
            (&["quick"], 5),
            (&["quick", "slow"], 900),
            (&["quick", "plain"], 300),
            (&["unknown"], 300),
            (&["huge", "quick"], u64::MAX),
        ];
        for (changed, secs) in rows {
            assert_eq!(
                wave_deadline(&specs, changed.iter().copied()),
                Duration::from_secs(*secs),
                "{changed:?}"
            );
        }
        assert!(auto_revert(&specs, "slow"));
        assert!(!auto_revert(&specs, "plain") && !auto_revert(&specs, "unknown"));
    }
}
