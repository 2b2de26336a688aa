//! What each host should run: eligibility + revision + rendering, for one host (pure).

use crate::daemonset::{DaemonSet, UpdateStrategyType};
use crate::eligibility::node_should_run_daemon_pod;
use crate::host_facts::HostFacts;
use crate::inventory::{Host, UnitFlavor};
use crate::plan::{DesiredDaemonSet, HostIntent, Placement};
use crate::render::{RenderError, Templates, render_daemonset};
use crate::revision::revision;

/// The host's intent for every DaemonSet in `specs`. `flavor` is the host's inventory override
/// or else what the observe round trip detected; `facts` are what it learned about the host
/// (its well-known node labels decide eligibility, and the downward API renders from them).
pub fn host_intent(
    specs: &[DaemonSet],
    host: &Host,
    facts: &HostFacts,
    flavor: UnitFlavor,
    templates: &Templates,
    prune: bool,
) -> Result<HostIntent, RenderError> {
    let mut intent = HostIntent {
        prune,
        ..Default::default()
    };
    let node = facts.node(host);
    for ds in specs {
        let verdict = node_should_run_daemon_pod(ds, &node);
        let placement = if verdict.should_run {
            Placement::Run(desired(ds, facts, flavor, templates)?)
        } else if verdict.should_continue_running {
            Placement::Keep
        } else {
            Placement::Absent
        };
        intent.daemonsets.insert(ds.name().to_string(), placement);
    }
    Ok(intent)
}

/// The DaemonSet's units on this host in this flavour, with its revision (one for all hosts)
/// and the spec to record.
pub fn desired(
    ds: &DaemonSet,
    facts: &HostFacts,
    flavor: UnitFlavor,
    templates: &Templates,
) -> Result<DesiredDaemonSet, RenderError> {
    let revision = revision(ds);
    let units = render_daemonset(ds, &revision, facts, flavor, templates)?;
    let view = crate::downward::PodView {
        ds,
        revision: &revision,
        host: facts,
    };
    let projections =
        crate::config_refs::projections(&view).map_err(|(field, reason)| RenderError::Value {
            daemonset: ds.name().to_string(),
            container: String::new(),
            field,
            reason,
        })?;
    let spec_json = spec_json(ds);
    Ok(DesiredDaemonSet {
        name: ds.name().to_string(),
        revision,
        units,
        spec_json: spec_json.into(),
        on_delete: ds.spec.update_strategy.kind == UpdateStrategyType::OnDelete,
        cause: ds
            .metadata
            .annotations
            .get(CHANGE_CAUSE)
            .cloned()
            .unwrap_or_default(),
        history_limit: ds.spec.revision_history_limit,
        projections,
    })
}

/// The spec as a host records it (and `rollout undo` reads it back).
pub fn spec_json(ds: &DaemonSet) -> String {
    serde_json::to_string_pretty(ds).expect("a DaemonSet always serializes")
}

/// The annotation `kubectl --record` sets; `rollout history` shows it.
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// An intent that removes the named DaemonSets and leaves everything else alone (`delete`).
pub fn removal_intent<'a>(names: impl IntoIterator<Item = &'a str>) -> HostIntent {
    HostIntent {
        daemonsets: names
            .into_iter()
            .map(|n| (n.to_string(), Placement::Deleted))
            .collect(),
        ..Default::default()
    }
}
