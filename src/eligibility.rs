//! Whether a DaemonSet runs on a host: Kubernetes' `NodeShouldRunDaemonPod`, with reasons.
//!
//! Ported from pkg/controller/daemon/daemon_controller.go. A host is a Node whose labels are
//! the inventory's plus the kubelet's well-known ones (see [`labels::node_labels`]) and whose
//! taints are the inventory's. Pure.
//!
//! - nodeName, when set, must be the host's name;
//! - nodeSelector AND the required node affinity must match ([`node_affinity`]);
//! - every NoSchedule or NoExecute taint must be tolerated, counting the tolerations the
//!   DaemonSet controller adds ([`tolerations`]). An untolerated NoSchedule taint only stops
//!   new placement; an untolerated NoExecute taint also evicts. PreferNoSchedule is ignored.

pub mod node_affinity;
pub mod tolerations;

use serde::Serialize;

use crate::daemonset::{DaemonSet, TaintEffect, Toleration};
use crate::inventory::{Host, Taint};
use crate::labels;

use node_affinity::{Node, TermMatch};
use tolerations::{TaintDisplay, TolerationDisplay};

/// The verdict for one DaemonSet on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Eligibility {
    /// Start an instance here if none runs.
    pub should_run: bool,
    /// Keep an instance that already runs here.
    pub should_continue_running: bool,
    /// Why, one fact per entry, in the order Kubernetes checks them.
    pub reasons: Vec<String>,
}

/// `NodeShouldRunDaemonPod(node, ds)`, returning (shouldRun, shouldContinueRunning) with the
/// facts behind them.
pub fn node_should_run_daemon_pod(ds: &DaemonSet, host: &Host) -> Eligibility {
    let spec = ds.pod_spec();
    let node_labels = labels::node_labels(&host.name, &host.labels);
    let node = Node {
        name: &host.name,
        labels: &node_labels,
    };
    let mut reasons = Vec::new();

    let fits_node_name = match spec.node_name.as_deref() {
        None | Some("") => true,
        Some(name) if name == host.name => {
            reasons.push(format!("nodeName is {name}"));
            true
        }
        Some(name) => {
            reasons.push(format!("nodeName is {name}: it runs on that host only"));
            false
        }
    };

    let fits_affinity = explain_node_affinity(ds, node, &mut reasons);
    if spec.node_name.as_deref().unwrap_or("").is_empty() && reasons.is_empty() {
        reasons.push(
            "no nodeName, nodeSelector or required node affinity: every host qualifies".to_string(),
        );
    }

    let tolerations = tolerations::daemon_pod_tolerations(spec);
    explain_taints(&host.taints, &spec.tolerations, &tolerations, &mut reasons);

    let (should_run, should_continue_running) = if !fits_node_name || !fits_affinity {
        (false, false)
    } else {
        let no_schedule_or_execute =
            |t: &Taint| matches!(t.effect, TaintEffect::NoExecute | TaintEffect::NoSchedule);
        let fits_taints = tolerations::find_matching_untolerated_taint(
            &host.taints,
            &tolerations,
            no_schedule_or_execute,
        )
        .is_none();
        if fits_taints {
            (true, true)
        } else {
            // A running instance stays unless a NoExecute taint is untolerated.
            let evicted =
                tolerations::find_matching_untolerated_taint(&host.taints, &tolerations, |t| {
                    t.effect == TaintEffect::NoExecute
                })
                .is_some();
            (false, !evicted)
        }
    };

    Eligibility {
        should_run,
        should_continue_running,
        reasons,
    }
}

/// nodeSelector AND required node affinity, one reason per selector key and per term.
fn explain_node_affinity(ds: &DaemonSet, node: Node<'_>, reasons: &mut Vec<String>) -> bool {
    let spec = ds.pod_spec();
    let mut fits = true;
    for (key, want) in &spec.node_selector {
        match node.labels.get(key) {
            Some(have) if have == want => {
                reasons.push(format!("nodeSelector {key}={want} matches"))
            }
            Some(have) => {
                fits = false;
                reasons.push(format!(
                    "nodeSelector {key}={want} does not match (host has {key}={have})"
                ));
            }
            None => {
                fits = false;
                reasons.push(format!(
                    "nodeSelector {key}={want} does not match (host has no label {key})"
                ));
            }
        }
    }
    if let Some(required) = node_affinity::required_terms(spec) {
        if required.node_selector_terms.is_empty() {
            reasons.push("required node affinity has no terms, so it matches no host".to_string());
            fits = false;
        }
        let mut any_term = false;
        for (i, term) in required.node_selector_terms.iter().enumerate() {
            let outcome = node_affinity::match_term(term, node);
            any_term |= outcome.matches();
            reasons.push(match outcome {
                TermMatch::Matches => {
                    let what: Vec<String> = term
                        .match_expressions
                        .iter()
                        .chain(&term.match_fields)
                        .map(node_affinity::describe_requirement)
                        .collect();
                    format!(
                        "required node affinity term {i} matches: {}",
                        what.join(", ")
                    )
                }
                TermMatch::DoesNotMatch(failed) => {
                    format!(
                        "required node affinity term {i} does not match: {}",
                        failed.join(", ")
                    )
                }
                TermMatch::Empty => {
                    format!("required node affinity term {i} is empty, so it matches no host")
                }
                TermMatch::Invalid(errors) => format!(
                    "required node affinity term {i} is invalid, so it matches no host: {}",
                    errors.join("; ")
                ),
            });
        }
        fits &= any_term;
    }
    fits
}

/// One reason per host taint: ignored, tolerated (by whom) or not (and what follows).
fn explain_taints(
    taints: &[Taint],
    own: &[Toleration],
    all: &[Toleration],
    reasons: &mut Vec<String>,
) {
    for taint in taints {
        let shown = TaintDisplay(taint);
        let reason = if taint.effect == TaintEffect::PreferNoSchedule {
            format!("taint {shown} is ignored: PreferNoSchedule does not bind a DaemonSet")
        } else if let Some(t) = own.iter().find(|t| tolerations::tolerates_taint(t, taint)) {
            format!(
                "taint {shown} is tolerated by toleration {}",
                TolerationDisplay(t)
            )
        } else if tolerations::tolerations_tolerate_taint(all, taint) {
            format!(
                "taint {shown} is tolerated: the DaemonSet controller adds this toleration to every DaemonSet"
            )
        } else if taint.effect == TaintEffect::NoSchedule {
            format!("taint {shown} is not tolerated: no new placement, a running instance stays")
        } else {
            format!("taint {shown} is not tolerated: a running instance is evicted")
        };
        reasons.push(reason);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::daemonset::{
        Affinity, Container, DaemonSetSpec, LabelSelector, NodeAffinity, NodeSelector,
        NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, ObjectMeta, PodSpec,
        PodTemplateSpec, TemplateMeta, TolerationOperator, UpdateStrategy,
    };
    use crate::inventory::HostSettings;
    use tolerations::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// daemon_controller_test.go: simpleDaemonSetLabel, simpleDaemonSetLabel2, simpleNodeLabel,
    /// simpleNodeLabel2.
    fn simple_daemon_set_label() -> BTreeMap<String, String> {
        map(&[("name", "simple-daemon"), ("type", "production")])
    }
    fn simple_daemon_set_label2() -> BTreeMap<String, String> {
        map(&[("name", "simple-daemon"), ("type", "test")])
    }
    fn simple_node_label() -> BTreeMap<String, String> {
        map(&[("color", "blue"), ("speed", "fast")])
    }
    fn simple_node_label2() -> BTreeMap<String, String> {
        map(&[("color", "red"), ("speed", "fast")])
    }

    /// daemon_controller_test.go `newDaemonSet`.
    fn new_daemon_set(name: &str) -> DaemonSet {
        DaemonSet {
            api_version: "apps/v1".into(),
            kind: "DaemonSet".into(),
            metadata: ObjectMeta {
                name: name.into(),
                ..ObjectMeta::default()
            },
            spec: DaemonSetSpec {
                selector: LabelSelector {
                    match_labels: simple_daemon_set_label(),
                    match_expressions: vec![],
                },
                template: PodTemplateSpec {
                    metadata: TemplateMeta {
                        labels: simple_daemon_set_label(),
                        ..TemplateMeta::default()
                    },
                    spec: PodSpec {
                        containers: vec![Container {
                            name: "foo".into(),
                            image: "foo/bar".into(),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    },
                },
                update_strategy: UpdateStrategy::default(),
                min_ready_seconds: 0,
                revision_history_limit: 10,
            },
            dsctl: None,
            status: None,
            objects: Default::default(),
        }
    }

    /// daemon_controller_test.go `newNode`.
    fn new_node(name: &str, labels: BTreeMap<String, String>) -> Host {
        Host {
            name: name.into(),
            address: "192.0.2.1".into(),
            settings: HostSettings::default(),
            labels,
            taints: vec![],
        }
    }

    /// daemon_controller_test.go `addNodes`: node-{start}..node-{start+count-1}.
    fn add_nodes(
        hosts: &mut Vec<Host>,
        start: usize,
        count: usize,
        labels: BTreeMap<String, String>,
    ) {
        for i in start..start + count {
            hosts.push(new_node(&format!("node-{i}"), labels.clone()));
        }
    }

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    /// daemon_controller_test.go: noScheduleTaints, noExecuteTaints, noScheduleTolerations.
    fn no_schedule_taints() -> Vec<Taint> {
        vec![taint("dedicated", "user1", TaintEffect::NoSchedule)]
    }
    fn no_execute_taints() -> Vec<Taint> {
        vec![taint("dedicated", "user1", TaintEffect::NoExecute)]
    }
    fn no_schedule_tolerations() -> Vec<Toleration> {
        vec![Toleration {
            key: Some("dedicated".into()),
            value: Some("user1".into()),
            effect: Some(TaintEffect::NoSchedule),
            ..Toleration::default()
        }]
    }

    fn affinity(terms: Vec<NodeSelectorTerm>) -> Option<Affinity> {
        Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: terms,
                }),
                preferred: vec![],
            }),
            ..Affinity::default()
        })
    }

    fn in_term(key: &str, values: &[&str]) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: vec![NodeSelectorRequirement {
                key: key.into(),
                operator: NodeSelectorOperator::In,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
            match_fields: vec![],
        }
    }

    fn verdict(ds: &DaemonSet, host: &Host) -> (bool, bool) {
        let e = node_should_run_daemon_pod(ds, host);
        (e.should_run, e.should_continue_running)
    }

    /// k8s: daemon_controller_test.go, TestNodeShouldRunDaemonPod. The node is "test-node"
    /// labelled simpleDaemonSetLabel. Resource requests and host ports no longer enter the
    /// decision in k8s (the scheduler handles them), so those cases expect (true, true) too.
    #[test]
    fn node_should_run_daemon_pod_table() {
        type Edit = Box<dyn Fn(&mut DaemonSet, &mut Host)>;
        let cases: Vec<(&str, Edit, bool, bool)> = vec![
            ("ShouldRunDaemonPod", Box::new(|_, _| {}), true, true),
            // resourcePodSpec("", "200M", "0.5") on a 100M node: resources are not checked.
            ("InsufficientResourceError", Box::new(|_, _| {}), true, true),
            (
                "ErrPodNotMatchHostName",
                Box::new(|ds, _| ds.spec.template.spec.node_name = Some("other-node".into())),
                false,
                false,
            ),
            // A pod with hostPort 666 on the node and the DaemonSet wanting 666: not checked.
            ("ErrPodNotFitsHostPorts", Box::new(|_, _| {}), true, true),
            (
                "ErrNodeSelectorNotMatch",
                Box::new(|ds, _| ds.spec.template.spec.node_selector = simple_daemon_set_label2()),
                false,
                false,
            ),
            (
                "ShouldRunDaemonPod (nodeSelector matches)",
                Box::new(|ds, _| ds.spec.template.spec.node_selector = simple_daemon_set_label()),
                true,
                true,
            ),
            (
                "ErrPodAffinityNotMatch",
                Box::new(|ds, _| {
                    ds.spec.template.spec.affinity = affinity(vec![in_term("type", &["test"])])
                }),
                false,
                false,
            ),
            (
                "ShouldRunDaemonPod (affinity matches)",
                Box::new(|ds, _| {
                    ds.spec.template.spec.affinity =
                        affinity(vec![in_term("type", &["production"])])
                }),
                true,
                true,
            ),
            (
                // node.Spec.Unschedulable shows up as this taint on a real node.
                "ShouldRunDaemonPodOnUnschedulableNode",
                Box::new(|_, host| {
                    host.taints = vec![taint(TAINT_NODE_UNSCHEDULABLE, "", TaintEffect::NoSchedule)]
                }),
                true,
                true,
            ),
        ];
        for (name, edit, should_run, should_continue_running) in cases {
            for strategy in update_strategies() {
                let mut ds = new_daemon_set("foo");
                ds.spec.update_strategy = strategy;
                let mut host = new_node("test-node", simple_daemon_set_label());
                edit(&mut ds, &mut host);
                assert_eq!(
                    verdict(&ds, &host),
                    (should_run, should_continue_running),
                    "{name} ({:?})",
                    ds.spec.update_strategy.kind
                );
            }
        }
    }

    /// daemon_controller_test.go `updateStrategies`: every case runs under both.
    fn update_strategies() -> Vec<UpdateStrategy> {
        vec![
            UpdateStrategy {
                kind: crate::daemonset::UpdateStrategyType::OnDelete,
                rolling_update: None,
            },
            UpdateStrategy::default(),
        ]
    }

    /// k8s: the taint and toleration tests of daemon_controller_test.go, one host each. The
    /// k8s tests count creates and deletes; a create is shouldRun on a host without the pod,
    /// a kept pod is shouldContinueRunning.
    #[test]
    fn taints_and_tolerations() {
        type Edit = Box<dyn Fn(&mut DaemonSet, &mut Host)>;
        let cases: Vec<(&str, Edit, bool, bool)> = vec![
            (
                // The pod that already runs is kept (no delete), no new one is made.
                "TestNoScheduleTaintedDoesntEvicitRunningIntolerantPod",
                Box::new(|_, host| host.taints = no_schedule_taints()),
                false,
                true,
            ),
            (
                "TestNoExecuteTaintedDoesEvicitRunningIntolerantPod",
                Box::new(|_, host| host.taints = no_execute_taints()),
                false,
                false,
            ),
            (
                "TestTaintedNodeDaemonDoesNotLaunchIntolerantPod",
                Box::new(|_, host| host.taints = no_schedule_taints()),
                false,
                true,
            ),
            (
                "TestTaintedNodeDaemonLaunchesToleratePod",
                Box::new(|ds, host| {
                    ds.spec.template.spec.tolerations = no_schedule_tolerations();
                    host.taints = no_schedule_taints();
                }),
                true,
                true,
            ),
            (
                "TestNotReadyNodeDaemonLaunchesPod",
                Box::new(|_, host| {
                    host.taints = vec![taint(TAINT_NODE_NOT_READY, "", TaintEffect::NoExecute)]
                }),
                true,
                true,
            ),
            (
                "TestUnreachableNodeDaemonLaunchesPod",
                Box::new(|_, host| {
                    host.taints = vec![taint(TAINT_NODE_UNREACHABLE, "", TaintEffect::NoExecute)]
                }),
                true,
                true,
            ),
            (
                "TestNodeDaemonLaunchesToleratePod",
                Box::new(|ds, _| ds.spec.template.spec.tolerations = no_schedule_tolerations()),
                true,
                true,
            ),
            (
                "TestTaintPressureNodeDaemonLaunchesPod",
                Box::new(|_, host| {
                    host.taints = vec![
                        taint(TAINT_NODE_DISK_PRESSURE, "", TaintEffect::NoSchedule),
                        taint(TAINT_NODE_MEMORY_PRESSURE, "", TaintEffect::NoSchedule),
                        taint(TAINT_NODE_PID_PRESSURE, "", TaintEffect::NoSchedule),
                    ]
                }),
                true,
                true,
            ),
            (
                // The k8s test sets only the NetworkUnavailable condition, no taint.
                "TestNetworkUnavailableNodeDaemonLaunchesPod",
                Box::new(|_, _| {}),
                true,
                true,
            ),
            // The network-unavailable taint itself: tolerated only with hostNetwork.
            (
                "network-unavailable taint, hostNetwork",
                Box::new(|ds, host| {
                    ds.spec.template.spec.host_network = true;
                    host.taints = vec![taint(
                        TAINT_NODE_NETWORK_UNAVAILABLE,
                        "",
                        TaintEffect::NoSchedule,
                    )];
                }),
                true,
                true,
            ),
            (
                "network-unavailable taint, pod network",
                Box::new(|_, host| {
                    host.taints = vec![taint(
                        TAINT_NODE_NETWORK_UNAVAILABLE,
                        "",
                        TaintEffect::NoSchedule,
                    )]
                }),
                false,
                true,
            ),
            (
                "PreferNoSchedule is ignored",
                Box::new(|_, host| {
                    host.taints = vec![taint("dedicated", "user1", TaintEffect::PreferNoSchedule)]
                }),
                true,
                true,
            ),
            (
                "NoSchedule toleration does not tolerate NoExecute",
                Box::new(|ds, host| {
                    ds.spec.template.spec.tolerations = no_schedule_tolerations();
                    host.taints = no_execute_taints();
                }),
                false,
                false,
            ),
            (
                "a toleration without effect tolerates NoExecute",
                Box::new(|ds, host| {
                    ds.spec.template.spec.tolerations = vec![Toleration {
                        key: Some("dedicated".into()),
                        operator: Some(TolerationOperator::Exists),
                        ..Toleration::default()
                    }];
                    host.taints = no_execute_taints();
                }),
                true,
                true,
            ),
            (
                "tolerate everything",
                Box::new(|ds, host| {
                    ds.spec.template.spec.tolerations = vec![Toleration {
                        operator: Some(TolerationOperator::Exists),
                        ..Toleration::default()
                    }];
                    host.taints = [no_execute_taints(), no_schedule_taints()].concat();
                }),
                true,
                true,
            ),
            (
                "NoSchedule and NoExecute untolerated: evicted",
                Box::new(|_, host| {
                    host.taints = vec![
                        taint("a", "", TaintEffect::NoSchedule),
                        taint("b", "", TaintEffect::NoExecute),
                    ]
                }),
                false,
                false,
            ),
            (
                "NoExecute tolerated, NoSchedule not: kept, not placed",
                Box::new(|ds, host| {
                    ds.spec.template.spec.tolerations = vec![Toleration {
                        key: Some("b".into()),
                        operator: Some(TolerationOperator::Exists),
                        effect: Some(TaintEffect::NoExecute),
                        ..Toleration::default()
                    }];
                    host.taints = vec![
                        taint("a", "", TaintEffect::NoSchedule),
                        taint("b", "", TaintEffect::NoExecute),
                    ];
                }),
                false,
                true,
            ),
            (
                "a selector mismatch wins over tolerated taints",
                Box::new(|ds, host| {
                    ds.spec.template.spec.node_selector = simple_node_label2();
                    host.taints = no_schedule_taints();
                }),
                false,
                false,
            ),
        ];
        for (name, edit, should_run, should_continue_running) in cases {
            for strategy in update_strategies() {
                let mut ds = new_daemon_set("tolerate");
                ds.spec.update_strategy = strategy;
                let mut host = new_node("tainted", BTreeMap::new());
                edit(&mut ds, &mut host);
                assert_eq!(
                    verdict(&ds, &host),
                    (should_run, should_continue_running),
                    "{name}"
                );
            }
        }
    }

    /// k8s: the selector and name tests of daemon_controller_test.go, counting the nodes
    /// that should run the DaemonSet (= the pods created on an empty cluster).
    #[test]
    fn selectors_and_node_names() {
        type Setup = Box<dyn Fn(&mut DaemonSet, &mut Vec<Host>)>;
        let four_plain_three_labelled = |hosts: &mut Vec<Host>| {
            add_nodes(hosts, 0, 4, BTreeMap::new());
            add_nodes(hosts, 4, 3, simple_node_label());
        };
        let cases: Vec<(&str, Setup, usize)> = vec![
            (
                "TestOneNodeDaemonLaunchesPod",
                Box::new(|_, hosts| hosts.push(new_node("only-node", BTreeMap::new()))),
                1,
            ),
            (
                "TestSelectorDaemonLaunchesPods",
                Box::new(move |ds, hosts| {
                    ds.spec.template.spec.node_selector = simple_node_label();
                    four_plain_three_labelled(hosts);
                }),
                3,
            ),
            (
                "TestBadSelectorDaemonDoesNothing",
                Box::new(move |ds, hosts| {
                    ds.spec.template.spec.node_selector = simple_node_label2();
                    four_plain_three_labelled(hosts);
                }),
                0,
            ),
            (
                "TestNameDaemonSetLaunchesPods",
                Box::new(|ds, hosts| {
                    ds.spec.template.spec.node_name = Some("node-0".into());
                    add_nodes(hosts, 0, 5, BTreeMap::new());
                }),
                1,
            ),
            (
                "TestBadNameDaemonSetDoesNothing",
                Box::new(|ds, hosts| {
                    ds.spec.template.spec.node_name = Some("node-10".into());
                    add_nodes(hosts, 0, 5, BTreeMap::new());
                }),
                0,
            ),
            (
                "TestNameAndSelectorDaemonSetLaunchesPods",
                Box::new(move |ds, hosts| {
                    ds.spec.template.spec.node_selector = simple_node_label();
                    ds.spec.template.spec.node_name = Some("node-6".into());
                    four_plain_three_labelled(hosts);
                }),
                1,
            ),
            (
                "TestInconsistentNameSelectorDaemonSetDoesNothing",
                Box::new(move |ds, hosts| {
                    ds.spec.template.spec.node_selector = simple_node_label();
                    ds.spec.template.spec.node_name = Some("node-0".into());
                    four_plain_three_labelled(hosts);
                }),
                0,
            ),
            (
                "TestNodeAffinityDaemonLaunchesPods",
                Box::new(move |ds, hosts| {
                    ds.spec.template.spec.affinity = affinity(vec![in_term("color", &["blue"])]);
                    four_plain_three_labelled(hosts);
                }),
                3,
            ),
            (
                "TestSelectorDaemonDeletesUnselectedPods (5 of 10 selected)",
                Box::new(|ds, hosts| {
                    ds.spec.template.spec.node_selector = simple_node_label();
                    add_nodes(hosts, 0, 5, BTreeMap::new());
                    add_nodes(hosts, 5, 5, simple_node_label());
                }),
                5,
            ),
        ];
        for (name, setup, want) in cases {
            let mut ds = new_daemon_set("foo");
            let mut hosts = Vec::new();
            setup(&mut ds, &mut hosts);
            let desired = hosts
                .iter()
                .filter(|h| node_should_run_daemon_pod(&ds, h).should_run)
                .count();
            assert_eq!(desired, want, "{name}");
        }
    }

    #[test]
    fn well_known_node_labels_are_selectable() {
        let mut ds = new_daemon_set("agent");
        ds.spec.template.spec.node_selector = map(&[("kubernetes.io/os", "linux")]);
        ds.spec.template.spec.affinity =
            affinity(vec![in_term("kubernetes.io/hostname", &["node-1"])]);
        assert_eq!(
            verdict(&ds, &new_node("node-1", BTreeMap::new())),
            (true, true)
        );
        assert_eq!(
            verdict(&ds, &new_node("node-2", BTreeMap::new())),
            (false, false)
        );
    }

    #[test]
    fn reasons_say_why() {
        let mut ds = new_daemon_set("agent");
        ds.spec.template.spec.node_selector = map(&[("disktype", "ssd")]);
        ds.spec.template.spec.affinity =
            affinity(vec![in_term("zone", &["a"]), in_term("zone", &["c"])]);
        ds.spec.template.spec.tolerations = no_schedule_tolerations();
        let mut host = new_node("node-1", map(&[("disktype", "ssd"), ("zone", "b")]));
        host.taints = vec![
            taint("dedicated", "user1", TaintEffect::NoSchedule),
            taint(TAINT_NODE_UNSCHEDULABLE, "", TaintEffect::NoSchedule),
            taint("gpu", "", TaintEffect::NoExecute),
            taint("spot", "true", TaintEffect::PreferNoSchedule),
        ];
        let e = node_should_run_daemon_pod(&ds, &host);
        assert_eq!(
            e.reasons,
            vec![
                "nodeSelector disktype=ssd matches",
                "required node affinity term 0 does not match: zone In [a] (host has zone=b)",
                "required node affinity term 1 does not match: zone In [c] (host has zone=b)",
                "taint dedicated=user1:NoSchedule is tolerated by toleration dedicated=user1:NoSchedule",
                "taint node.kubernetes.io/unschedulable:NoSchedule is tolerated: the DaemonSet controller adds this toleration to every DaemonSet",
                "taint gpu:NoExecute is not tolerated: a running instance is evicted",
                "taint spot=true:PreferNoSchedule is ignored: PreferNoSchedule does not bind a DaemonSet",
            ]
        );
        assert_eq!((e.should_run, e.should_continue_running), (false, false));

        let mut ds = new_daemon_set("agent");
        ds.spec.template.spec.node_name = Some("node-2".into());
        let mut host = new_node("node-1", BTreeMap::new());
        host.taints = no_schedule_taints();
        assert_eq!(
            node_should_run_daemon_pod(&ds, &host).reasons,
            vec![
                "nodeName is node-2: it runs on that host only",
                "taint dedicated=user1:NoSchedule is not tolerated: no new placement, a running instance stays",
            ]
        );

        let e = node_should_run_daemon_pod(
            &new_daemon_set("agent"),
            &new_node("node-1", BTreeMap::new()),
        );
        assert_eq!(
            e.reasons,
            vec!["no nodeName, nodeSelector or required node affinity: every host qualifies"]
        );

        let mut ds = new_daemon_set("agent");
        ds.spec.template.spec.node_selector = map(&[("disktype", "ssd")]);
        ds.spec.template.spec.affinity = affinity(vec![]);
        let e = node_should_run_daemon_pod(&ds, &new_node("node-1", BTreeMap::new()));
        assert_eq!(
            e.reasons,
            vec![
                "nodeSelector disktype=ssd does not match (host has no label disktype)",
                "required node affinity has no terms, so it matches no host",
            ]
        );
    }
}
