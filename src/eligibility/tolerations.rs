//! Taints versus tolerations, and the tolerations every DaemonSet gets for free.
//!
//! Ported from `Toleration.ToleratesTaint` (k8s.io/api/core/v1/toleration.go),
//! `TolerationsTolerateTaint` / `FindMatchingUntoleratedTaint` (component-helpers
//! scheduling/corev1) and `AddOrUpdateDaemonPodTolerations`
//! (pkg/controller/daemon/util/daemonset_util.go).

use std::fmt;

use crate::daemonset::{PodSpec, TaintEffect, Toleration, TolerationOperator};
use crate::inventory::Taint;

pub const TAINT_NODE_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_NODE_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_NODE_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_NODE_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const TAINT_NODE_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const TAINT_NODE_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// The tolerations the DaemonSet controller adds to every DaemonSet pod, so that node
/// problems and cordoning never keep a node agent away (network-unavailable only for
/// hostNetwork pods, which do not need the pod network).
pub fn automatic_tolerations(host_network: bool) -> Vec<Toleration> {
    let exists = |key: &str, effect| Toleration {
        key: Some(key.to_string()),
        operator: Some(TolerationOperator::Exists),
        value: None,
        effect: Some(effect),
        toleration_seconds: None,
    };
    let mut tolerations = vec![
        exists(TAINT_NODE_NOT_READY, TaintEffect::NoExecute),
        exists(TAINT_NODE_UNREACHABLE, TaintEffect::NoExecute),
        exists(TAINT_NODE_DISK_PRESSURE, TaintEffect::NoSchedule),
        exists(TAINT_NODE_MEMORY_PRESSURE, TaintEffect::NoSchedule),
        exists(TAINT_NODE_PID_PRESSURE, TaintEffect::NoSchedule),
        exists(TAINT_NODE_UNSCHEDULABLE, TaintEffect::NoSchedule),
    ];
    if host_network {
        tolerations.push(exists(
            TAINT_NODE_NETWORK_UNAVAILABLE,
            TaintEffect::NoSchedule,
        ));
    }
    tolerations
}

/// The pod's tolerations after `AddOrUpdateDaemonPodTolerations`: the spec's own, with each
/// automatic one replacing a spec toleration equal to it in key, operator, value and effect
/// (`AddOrUpdateTolerationInPodSpec`), or appended.
pub fn daemon_pod_tolerations(spec: &PodSpec) -> Vec<Toleration> {
    let mut tolerations = spec.tolerations.clone();
    for added in automatic_tolerations(spec.host_network) {
        let mut replaced = false;
        for existing in tolerations.iter_mut() {
            if match_toleration(existing, &added) {
                *existing = added.clone();
                replaced = true;
            }
        }
        if !replaced {
            tolerations.push(added);
        }
    }
    tolerations
}

/// `Toleration.MatchToleration`: the same key, effect, operator and value.
fn match_toleration(a: &Toleration, b: &Toleration) -> bool {
    key(a) == key(b) && a.effect == b.effect && a.operator == b.operator && value(a) == value(b)
}

fn key(t: &Toleration) -> &str {
    t.key.as_deref().unwrap_or("")
}

fn value(t: &Toleration) -> &str {
    t.value.as_deref().unwrap_or("")
}

/// `Toleration.ToleratesTaint`: an absent effect matches every effect, an empty key (with
/// Exists) every key; Exists matches any value, Equal (the default) the same value.
/// tolerationSeconds plays no part here, as in Kubernetes.
pub fn tolerates_taint(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration
        .effect
        .is_some_and(|effect| effect != taint.effect)
    {
        return false;
    }
    if !key(toleration).is_empty() && key(toleration) != taint.key {
        return false;
    }
    match toleration.operator {
        None | Some(TolerationOperator::Equal) => value(toleration) == taint.value,
        Some(TolerationOperator::Exists) => true,
    }
}

/// `TolerationsTolerateTaint`: any one toleration suffices.
pub fn tolerations_tolerate_taint(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates_taint(t, taint))
}

/// `FindMatchingUntoleratedTaint`: the first taint passing `filter` that no toleration
/// tolerates.
pub fn find_matching_untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|taint| filter(taint))
        .find(|taint| !tolerations_tolerate_taint(tolerations, taint))
}

/// A taint as Kubernetes prints it: `key=value:Effect`, or `key:Effect` without a value.
pub struct TaintDisplay<'a>(pub &'a Taint);

impl fmt::Display for TaintDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let taint = self.0;
        f.write_str(&taint.key)?;
        if !taint.value.is_empty() {
            write!(f, "={}", taint.value)?;
        }
        write!(f, ":{:?}", taint.effect)
    }
}

/// A toleration in one line: `dedicated=gpu:NoSchedule`, `gpu Exists:NoSchedule`,
/// `every key Exists, any effect`.
pub struct TolerationDisplay<'a>(pub &'a Toleration);

impl fmt::Display for TolerationDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let key = if key(t).is_empty() {
            "every key"
        } else {
            key(t)
        };
        match t.operator {
            Some(TolerationOperator::Exists) => write!(f, "{key} Exists")?,
            None | Some(TolerationOperator::Equal) => write!(f, "{key}={}", value(t))?,
        }
        match t.effect {
            Some(effect) => write!(f, ":{effect:?}"),
            None => f.write_str(", any effect"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.to_string(),
            value: value.to_string(),
            effect,
        }
    }

    fn toleration(
        key: &str,
        operator: Option<TolerationOperator>,
        value: &str,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.to_string()),
            operator,
            value: (!value.is_empty()).then(|| value.to_string()),
            effect,
            toleration_seconds: None,
        }
    }

    use TaintEffect::{NoExecute, NoSchedule, PreferNoSchedule};
    use TolerationOperator::{Equal, Exists};

    /// k8s: staging/src/k8s.io/api/core/v1/toleration_test.go, TestTolerationToleratesTaint
    /// (the Gt/Lt cases belong to the alpha TaintTolerationComparisonOperators gate, which
    /// the model does not offer).
    #[test]
    fn toleration_tolerates_taint() {
        let cases = [
            (
                "same key and effect, Exists, taint has no value",
                toleration("foo", Some(Exists), "", Some(NoSchedule)),
                taint("foo", "", NoSchedule),
                true,
            ),
            (
                "same key and effect, Exists, taint has some value",
                toleration("foo", Some(Exists), "", Some(NoSchedule)),
                taint("foo", "bar", NoSchedule),
                true,
            ),
            (
                "same effect, empty key and Exists matches all taints",
                toleration("", Some(Exists), "", Some(NoSchedule)),
                taint("foo", "bar", NoSchedule),
                true,
            ),
            (
                "same key, effect and value, Equal",
                toleration("foo", Some(Equal), "bar", Some(NoSchedule)),
                taint("foo", "bar", NoSchedule),
                true,
            ),
            (
                "same key and effect, different values, Equal",
                toleration("foo", Some(Equal), "value1", Some(NoSchedule)),
                taint("foo", "value2", NoSchedule),
                false,
            ),
            (
                "same key and value, different effects, Equal",
                toleration("foo", Some(Equal), "bar", Some(NoSchedule)),
                taint("foo", "bar", NoExecute),
                false,
            ),
            // The rules in ToleratesTaint's comment, beyond the k8s table:
            (
                "empty effect matches every effect",
                toleration("foo", Some(Exists), "", None),
                taint("foo", "bar", NoExecute),
                true,
            ),
            (
                "empty key, Exists, empty effect matches everything",
                toleration("", Some(Exists), "", None),
                taint("anything", "x", NoExecute),
                true,
            ),
            (
                "operator defaults to Equal",
                toleration("foo", None, "bar", Some(NoSchedule)),
                taint("foo", "bar", NoSchedule),
                true,
            ),
            (
                "default Equal compares values",
                toleration("foo", None, "baz", Some(NoSchedule)),
                taint("foo", "bar", NoSchedule),
                false,
            ),
            (
                "Equal without value matches a taint without value",
                toleration("foo", Some(Equal), "", Some(NoSchedule)),
                taint("foo", "", NoSchedule),
                true,
            ),
            (
                "different key",
                toleration("foo", Some(Exists), "", Some(NoSchedule)),
                taint("bar", "", NoSchedule),
                false,
            ),
        ];
        for (name, toleration, taint, want) in cases {
            assert_eq!(tolerates_taint(&toleration, &taint), want, "{name}");
        }
    }

    /// k8s: component-helpers/scheduling/corev1/helpers_test.go,
    /// TestFindMatchingUntoleratedTaint (without the alpha Gt/Lt cases).
    #[test]
    fn find_matching_untolerated_taint_table() {
        let all = |_: &Taint| true;
        let none = |_: &Taint| false;
        let no_execute = |t: &Taint| t.effect == NoExecute;
        type Filter = fn(&Taint) -> bool;
        /// (name, tolerations, taints, filter, all filtered taints tolerated)
        type Case = (&'static str, Vec<Toleration>, Vec<Taint>, Filter, bool);
        let cases: Vec<Case> = vec![
            (
                "empty tolerations tolerate empty taints",
                vec![],
                vec![],
                all,
                true,
            ),
            (
                "non-empty tolerations tolerate empty taints",
                vec![toleration("foo", Some(Exists), "", Some(NoSchedule))],
                vec![],
                all,
                true,
            ),
            (
                "tolerations match all taints, expect tolerated",
                vec![toleration("foo", Some(Exists), "", Some(NoSchedule))],
                vec![taint("foo", "", NoSchedule)],
                all,
                true,
            ),
            (
                "tolerations don't match taints, but no taints apply to the filter",
                vec![toleration("foo", Some(Exists), "", Some(NoSchedule))],
                vec![taint("bar", "", NoSchedule)],
                none,
                true,
            ),
            (
                "no filter: all taints apply, tolerations don't match, expect untolerated",
                vec![toleration("foo", Some(Exists), "", Some(NoSchedule))],
                vec![taint("bar", "", NoSchedule)],
                all,
                false,
            ),
            (
                "tolerations match taints, expect tolerated",
                vec![toleration("foo", Some(Exists), "", Some(NoExecute))],
                vec![taint("foo", "", NoExecute), taint("bar", "", NoSchedule)],
                no_execute,
                true,
            ),
        ];
        for (name, tolerations, taints, filter, tolerated) in cases {
            let found = find_matching_untolerated_taint(&taints, &tolerations, filter);
            assert_eq!(found.is_none(), tolerated, "{name}");
        }
        // The first untolerated taint is the one returned.
        let taints = [
            taint("a", "", NoSchedule),
            taint("b", "", NoExecute),
            taint("c", "", NoExecute),
        ];
        let tolerations = [toleration("a", Some(Exists), "", None)];
        assert_eq!(
            find_matching_untolerated_taint(&taints, &tolerations, |_| true).map(|t| &t.key[..]),
            Some("b")
        );
    }

    /// The list in `AddOrUpdateDaemonPodTolerations`, in its order.
    #[test]
    fn automatic_tolerations_cover_node_conditions() {
        let keys = |tolerations: Vec<Toleration>| -> Vec<(String, TaintEffect)> {
            tolerations
                .into_iter()
                .map(|t| (t.key.unwrap(), t.effect.unwrap()))
                .collect()
        };
        let expected = vec![
            (TAINT_NODE_NOT_READY.to_string(), NoExecute),
            (TAINT_NODE_UNREACHABLE.to_string(), NoExecute),
            (TAINT_NODE_DISK_PRESSURE.to_string(), NoSchedule),
            (TAINT_NODE_MEMORY_PRESSURE.to_string(), NoSchedule),
            (TAINT_NODE_PID_PRESSURE.to_string(), NoSchedule),
            (TAINT_NODE_UNSCHEDULABLE.to_string(), NoSchedule),
        ];
        assert_eq!(keys(automatic_tolerations(false)), expected);
        let mut with_network = expected;
        with_network.push((TAINT_NODE_NETWORK_UNAVAILABLE.to_string(), NoSchedule));
        assert_eq!(keys(automatic_tolerations(true)), with_network);
        assert!(
            automatic_tolerations(true)
                .iter()
                .all(|t| t.operator == Some(Exists) && t.toleration_seconds.is_none())
        );
    }

    #[test]
    fn daemon_pod_tolerations_add_or_update() {
        let own = toleration("dedicated", Some(Equal), "gpu", Some(NoSchedule));
        // The same toleration as an automatic one, but limited in time: replaced by the
        // automatic, unlimited one, as AddOrUpdateTolerationInPodSpec does.
        let mut limited = toleration(TAINT_NODE_NOT_READY, Some(Exists), "", Some(NoExecute));
        limited.toleration_seconds = Some(300);
        let spec = PodSpec {
            tolerations: vec![own.clone(), limited],
            ..PodSpec::default()
        };
        let tolerations = daemon_pod_tolerations(&spec);
        assert_eq!(tolerations.len(), 1 + automatic_tolerations(false).len());
        assert_eq!(tolerations[0], own);
        assert_eq!(tolerations[1].key.as_deref(), Some(TAINT_NODE_NOT_READY));
        assert_eq!(tolerations[1].toleration_seconds, None);
    }

    #[test]
    fn displays() {
        assert_eq!(
            TaintDisplay(&taint("dedicated", "gpu", NoSchedule)).to_string(),
            "dedicated=gpu:NoSchedule"
        );
        assert_eq!(
            TaintDisplay(&taint("gpu", "", PreferNoSchedule)).to_string(),
            "gpu:PreferNoSchedule"
        );
        let cases = [
            (
                toleration("dedicated", None, "gpu", Some(NoSchedule)),
                "dedicated=gpu:NoSchedule",
            ),
            (
                toleration("gpu", Some(Exists), "", Some(NoExecute)),
                "gpu Exists:NoExecute",
            ),
            (
                toleration("", Some(Exists), "", None),
                "every key Exists, any effect",
            ),
        ];
        for (t, want) in cases {
            assert_eq!(TolerationDisplay(&t).to_string(), want);
        }
    }
}
