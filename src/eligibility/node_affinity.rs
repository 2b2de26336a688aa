//! nodeSelector and required node affinity, matched against a host as Kubernetes matches a
//! Node.
//!
//! Ported from component-helpers `scheduling/corev1/nodeaffinity`: `GetRequiredNodeAffinity`
//! (nodeSelector AND required affinity) and `LazyErrorNodeSelector` (terms ORed, the
//! expressions of a term ANDed, an empty or malformed term matching nothing, only
//! `metadata.name` as a field).

use std::collections::BTreeMap;

use crate::daemonset::{
    NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
};
use crate::labels::{Operator, Requirement};

/// The only field a node selector term may match on: the node's (host's) name.
pub const OBJECT_NAME_FIELD: &str = "metadata.name";

/// What node affinity sees of a host.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// How one node selector term fared against a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermMatch {
    Matches,
    /// The requirements that failed, each described with what the host has.
    DoesNotMatch(Vec<String>),
    /// No expressions and no fields: selects no node.
    Empty,
    /// Does not parse (a bad key, value or value count): selects no node.
    Invalid(Vec<String>),
}

impl TermMatch {
    pub fn matches(&self) -> bool {
        matches!(self, TermMatch::Matches)
    }
}

/// `nodeSelectorTerm.match`: every expression (on labels) and every field (on the name).
pub fn match_term(term: &NodeSelectorTerm, node: Node<'_>) -> TermMatch {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return TermMatch::Empty;
    }
    let mut errors = Vec::new();
    let mut expressions = Vec::new();
    for (i, expr) in term.match_expressions.iter().enumerate() {
        match Requirement::new(
            &expr.key,
            label_operator(expr.operator),
            expr.values.clone(),
        ) {
            Ok(requirement) => expressions.push((requirement, expr)),
            Err(e) => errors.push(format!("matchExpressions[{i}]: {e}")),
        }
    }
    let mut fields = Vec::new();
    for (i, field) in term.match_fields.iter().enumerate() {
        match (field.operator, field.values.as_slice()) {
            (NodeSelectorOperator::In | NodeSelectorOperator::NotIn, [value]) => {
                fields.push((field, value))
            }
            (NodeSelectorOperator::In | NodeSelectorOperator::NotIn, _) => {
                errors.push(format!("matchFields[{i}].values: must have one element"))
            }
            (op, _) => errors.push(format!(
                "matchFields[{i}].operator: {op:?} is not supported, only In and NotIn"
            )),
        }
    }
    if !errors.is_empty() {
        return TermMatch::Invalid(errors);
    }

    let mut failed = Vec::new();
    for (requirement, expr) in &expressions {
        if !requirement.matches(node.labels) {
            let have = match node.labels.get(&expr.key) {
                Some(value) => format!("host has {}={value}", expr.key),
                None => format!("host has no label {}", expr.key),
            };
            failed.push(format!("{} ({have})", describe_requirement(expr)));
        }
    }
    // As in k8s, a node without a name has no fields, and field requirements are skipped.
    if !node.name.is_empty() {
        for (field, value) in &fields {
            // fields.Set.Get: an unknown field reads as "".
            let have = if field.key == OBJECT_NAME_FIELD {
                node.name
            } else {
                ""
            };
            let ok = match field.operator {
                NodeSelectorOperator::In => have == value.as_str(),
                _ => have != value.as_str(),
            };
            if !ok {
                failed.push(format!(
                    "{} (host is {})",
                    describe_requirement(field),
                    node.name
                ));
            }
        }
    }
    if failed.is_empty() {
        TermMatch::Matches
    } else {
        TermMatch::DoesNotMatch(failed)
    }
}

fn label_operator(op: NodeSelectorOperator) -> Operator {
    match op {
        NodeSelectorOperator::In => Operator::In,
        NodeSelectorOperator::NotIn => Operator::NotIn,
        NodeSelectorOperator::Exists => Operator::Exists,
        NodeSelectorOperator::DoesNotExist => Operator::DoesNotExist,
        NodeSelectorOperator::Gt => Operator::GreaterThan,
        NodeSelectorOperator::Lt => Operator::LessThan,
    }
}

/// `LazyErrorNodeSelector.Match`: any term that matches; no terms match nothing.
pub fn node_selector_matches(selector: &NodeSelector, node: Node<'_>) -> bool {
    selector
        .node_selector_terms
        .iter()
        .any(|term| match_term(term, node).matches())
}

/// `nodeSelector` as `labels.SelectorFromSet`: every key present with exactly that value.
pub fn node_selector_map_matches(selector: &BTreeMap<String, String>, node: Node<'_>) -> bool {
    selector
        .iter()
        .all(|(key, value)| node.labels.get(key) == Some(value))
}

/// `GetRequiredNodeAffinity(pod).Match(node)`: the nodeSelector map AND the required node
/// affinity; the preferred terms play no part in whether a DaemonSet runs.
pub fn required_node_affinity_matches(spec: &PodSpec, node: Node<'_>) -> bool {
    if !node_selector_map_matches(&spec.node_selector, node) {
        return false;
    }
    match required_terms(spec) {
        Some(selector) => node_selector_matches(selector, node),
        None => true,
    }
}

/// `affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`, if set.
pub fn required_terms(spec: &PodSpec) -> Option<&NodeSelector> {
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required
        .as_ref()
}

/// `zone In [a, b]`, `gpu Exists`, `cores Gt [4]`.
pub fn describe_requirement(req: &NodeSelectorRequirement) -> String {
    match req.operator {
        NodeSelectorOperator::Exists | NodeSelectorOperator::DoesNotExist => {
            format!("{} {:?}", req.key, req.operator)
        }
        op => format!("{} {op:?} [{}]", req.key, req.values.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::{Affinity, NodeAffinity};

    use NodeSelectorOperator::*;

    /// (name, selector, node name, node labels, matches)
    type SelectorCase = (
        &'static str,
        NodeSelector,
        &'static str,
        BTreeMap<String, String>,
        bool,
    );
    /// (name, pod spec, node labels, node name, matches)
    type PodCase = (
        &'static str,
        PodSpec,
        &'static [(&'static str, &'static str)],
        &'static str,
        bool,
    );
    /// (requirement, node labels, outcome)
    type OperatorCase = (
        NodeSelectorRequirement,
        &'static [(&'static str, &'static str)],
        TermMatchKind,
    );

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn requirement(
        key: &str,
        operator: NodeSelectorOperator,
        values: &[&str],
    ) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn term(
        expressions: Vec<NodeSelectorRequirement>,
        fields: Vec<NodeSelectorRequirement>,
    ) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: expressions,
            match_fields: fields,
        }
    }

    fn exprs(expressions: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        term(expressions, vec![])
    }

    fn name_in(values: &[&str]) -> NodeSelectorTerm {
        term(vec![], vec![requirement(OBJECT_NAME_FIELD, In, values)])
    }

    fn selector(terms: Vec<NodeSelectorTerm>) -> NodeSelector {
        NodeSelector {
            node_selector_terms: terms,
        }
    }

    fn with_affinity(node_selector: &[(&str, &str)], required: Option<NodeSelector>) -> PodSpec {
        PodSpec {
            node_selector: labels(node_selector),
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required,
                    preferred: vec![],
                }),
                ..Affinity::default()
            }),
            ..PodSpec::default()
        }
    }

    /// k8s: component-helpers/scheduling/corev1/helpers_test.go, TestMatchNodeSelectorTerms
    /// (the nil-selector/nil-node case has no counterpart here).
    #[test]
    fn match_node_selector_terms() {
        let label_1 = || requirement("label_1", In, &["label_1_val"]);
        let cases: Vec<SelectorCase> = vec![
            (
                "node label matches matchExpressions terms",
                selector(vec![exprs(vec![label_1()])]),
                "",
                labels(&[("label_1", "label_1_val")]),
                true,
            ),
            (
                "node field matches matchFields terms",
                selector(vec![name_in(&["host_1"])]),
                "host_1",
                labels(&[]),
                true,
            ),
            (
                "invalid node field requirement",
                selector(vec![name_in(&["host_1", "host_2"])]),
                "host_1",
                labels(&[]),
                false,
            ),
            (
                "fieldSelectorTerm with node labels",
                selector(vec![name_in(&["host_1"])]),
                "not_host_1",
                labels(&[("metadata.name", "host_1")]),
                false,
            ),
            (
                "labelSelectorTerm with node fields",
                selector(vec![exprs(vec![requirement(
                    "metadata.name",
                    In,
                    &["host_1"],
                )])]),
                "host_1",
                labels(&[]),
                false,
            ),
            (
                "labelSelectorTerm and fieldSelectorTerm was set, but only node fields",
                selector(vec![term(
                    vec![label_1()],
                    vec![requirement(OBJECT_NAME_FIELD, In, &["host_1"])],
                )]),
                "host_1",
                labels(&[]),
                false,
            ),
            (
                "labelSelectorTerm and fieldSelectorTerm was set, both node fields and labels (both matched)",
                selector(vec![term(
                    vec![label_1()],
                    vec![requirement(OBJECT_NAME_FIELD, In, &["host_1"])],
                )]),
                "host_1",
                labels(&[("label_1", "label_1_val")]),
                true,
            ),
            (
                "labelSelectorTerm and fieldSelectorTerm was set, both node fields and labels (one mismatched)",
                selector(vec![term(
                    vec![label_1()],
                    vec![requirement(OBJECT_NAME_FIELD, In, &["host_1"])],
                )]),
                "host_1",
                labels(&[("label_1", "label_1_val-failed")]),
                false,
            ),
            (
                "multi-selector was set, both node fields and labels (one mismatched)",
                selector(vec![exprs(vec![label_1()]), name_in(&["host_1"])]),
                "host_1",
                labels(&[("label_1", "label_1_val-failed")]),
                true,
            ),
        ];
        for (name, selector, node_name, node_labels, want) in cases {
            let node = Node {
                name: node_name,
                labels: &node_labels,
            };
            assert_eq!(node_selector_matches(&selector, node), want, "{name}");
        }
    }

    /// k8s: nodeaffinity/nodeaffinity_test.go, TestNodeSelectorMatch (with the invalid
    /// terms, the lazy selector the DaemonSet controller uses skips them and keeps going).
    #[test]
    fn node_selector_match() {
        let label_1 = || requirement("label_1", In, &["label_1_val"]);
        let name_1 = || requirement(OBJECT_NAME_FIELD, In, &["host_1"]);
        let invalid = selector(vec![
            name_in(&["host_1", "host_2"]),
            term(vec![label_1()], vec![name_1()]),
            exprs(vec![requirement("invalid key", In, &["label_value"])]),
        ]);
        let terms: Vec<TermMatch> = invalid
            .node_selector_terms
            .iter()
            .map(|t| {
                match_term(
                    t,
                    Node {
                        name: "host_1",
                        labels: &labels(&[]),
                    },
                )
            })
            .collect();
        assert!(
            matches!(&terms[0], TermMatch::Invalid(e) if e[0].contains("must have one element"))
        );
        assert!(matches!(&terms[1], TermMatch::DoesNotMatch(_)));
        assert!(matches!(&terms[2], TermMatch::Invalid(e) if e[0].contains("invalid key")));

        let cases: Vec<SelectorCase> = vec![
            (
                "node matches field selector, but not labels",
                selector(vec![term(vec![label_1()], vec![name_1()])]),
                "host_1",
                labels(&[]),
                false,
            ),
            (
                "node matches field selector and label selector",
                selector(vec![term(vec![label_1()], vec![name_1()])]),
                "host_1",
                labels(&[("label_1", "label_1_val")]),
                true,
            ),
            (
                "second term matches",
                selector(vec![exprs(vec![label_1()]), term(vec![], vec![name_1()])]),
                "host_1",
                labels(&[]),
                true,
            ),
            (
                "an invalid term does not stop a later valid one",
                selector(vec![
                    name_in(&["host_1", "host_2"]),
                    term(vec![], vec![name_1()]),
                ]),
                "host_1",
                labels(&[]),
                true,
            ),
        ];
        for (name, selector, node_name, node_labels, want) in cases {
            let node = Node {
                name: node_name,
                labels: &node_labels,
            };
            assert_eq!(node_selector_matches(&selector, node), want, "{name}");
        }
    }

    /// k8s: nodeaffinity_test.go, TestPodMatchesNodeSelectorAndAffinityTerms.
    #[test]
    fn pod_matches_node_selector_and_affinity_terms() {
        let one = |reqs: Vec<NodeSelectorRequirement>| Some(selector(vec![exprs(reqs)]));
        let cases: Vec<PodCase> = vec![
            ("no selector", PodSpec::default(), &[], "", true),
            (
                "missing labels",
                PodSpec {
                    node_selector: labels(&[("foo", "bar")]),
                    ..PodSpec::default()
                },
                &[],
                "",
                false,
            ),
            (
                "same labels",
                PodSpec {
                    node_selector: labels(&[("foo", "bar")]),
                    ..PodSpec::default()
                },
                &[("foo", "bar")],
                "",
                true,
            ),
            (
                "node labels are superset",
                PodSpec {
                    node_selector: labels(&[("foo", "bar")]),
                    ..PodSpec::default()
                },
                &[("foo", "bar"), ("baz", "blah")],
                "",
                true,
            ),
            (
                "node labels are subset",
                PodSpec {
                    node_selector: labels(&[("foo", "bar"), ("baz", "blah")]),
                    ..PodSpec::default()
                },
                &[("foo", "bar")],
                "",
                false,
            ),
            (
                "Pod with matchExpressions using In operator that matches the existing node",
                with_affinity(&[], one(vec![requirement("foo", In, &["bar", "value2"])])),
                &[("foo", "bar")],
                "",
                true,
            ),
            (
                "Pod with matchExpressions using Gt operator that matches the existing node",
                with_affinity(&[], one(vec![requirement("kernel-version", Gt, &["0204"])])),
                &[("kernel-version", "0206")],
                "",
                true,
            ),
            (
                "Pod with matchExpressions using NotIn operator that matches the existing node",
                with_affinity(
                    &[],
                    one(vec![requirement("mem-type", NotIn, &["DDR", "DDR2"])]),
                ),
                &[("mem-type", "DDR3")],
                "",
                true,
            ),
            (
                "Pod with matchExpressions using Exists operator that matches the existing node",
                with_affinity(&[], one(vec![requirement("GPU", Exists, &[])])),
                &[("GPU", "NVIDIA-GRID-K1")],
                "",
                true,
            ),
            (
                "Pod with affinity that don't match node's labels won't schedule onto the node",
                with_affinity(
                    &[],
                    one(vec![requirement("foo", In, &["value1", "value2"])]),
                ),
                &[("foo", "bar")],
                "",
                false,
            ),
            (
                "Pod with an empty []NodeSelectorTerm in affinity, can't match the node's labels and won't schedule onto the node",
                with_affinity(&[], Some(selector(vec![]))),
                &[("foo", "bar")],
                "",
                false,
            ),
            (
                "Pod with empty MatchExpressions is not a valid value will match no objects and won't schedule onto the node",
                with_affinity(&[], Some(selector(vec![exprs(vec![])]))),
                &[("foo", "bar")],
                "",
                false,
            ),
            (
                "Pod with no Affinity will schedule onto a node",
                PodSpec::default(),
                &[("foo", "bar")],
                "",
                true,
            ),
            (
                "Pod with Affinity but nil NodeSelector will schedule onto a node",
                with_affinity(&[], None),
                &[("foo", "bar")],
                "",
                true,
            ),
            (
                "Pod with multiple matchExpressions ANDed that matches the existing node",
                with_affinity(
                    &[],
                    one(vec![
                        requirement("GPU", Exists, &[]),
                        requirement("GPU", NotIn, &["AMD", "INTER"]),
                    ]),
                ),
                &[("GPU", "NVIDIA-GRID-K1")],
                "",
                true,
            ),
            (
                "Pod with multiple matchExpressions ANDed that doesn't match the existing node",
                with_affinity(
                    &[],
                    one(vec![
                        requirement("GPU", Exists, &[]),
                        requirement("GPU", In, &["AMD", "INTER"]),
                    ]),
                ),
                &[("GPU", "NVIDIA-GRID-K1")],
                "",
                false,
            ),
            (
                "Pod with multiple NodeSelectorTerms ORed in affinity, matches the node's labels and will schedule onto the node",
                with_affinity(
                    &[],
                    Some(selector(vec![
                        exprs(vec![requirement("foo", In, &["bar", "value2"])]),
                        exprs(vec![requirement("diffkey", In, &["wrong", "value2"])]),
                    ])),
                ),
                &[("foo", "bar")],
                "",
                true,
            ),
            (
                "Pod with an Affinity and a PodSpec.NodeSelector both are satisfied, will schedule onto the node",
                with_affinity(
                    &[("foo", "bar")],
                    one(vec![requirement("foo", Exists, &[])]),
                ),
                &[("foo", "bar")],
                "",
                true,
            ),
            (
                "Pod with an Affinity matches node's labels but the PodSpec.NodeSelector is not satisfied, won't schedule onto the node",
                with_affinity(
                    &[("foo", "bar")],
                    one(vec![requirement("foo", Exists, &[])]),
                ),
                &[("foo", "barrrrrr")],
                "",
                false,
            ),
            (
                "Pod with an invalid value in Affinity term won't be scheduled onto the node",
                with_affinity(
                    &[],
                    one(vec![requirement(
                        "foo",
                        NotIn,
                        &["invalid value: ___@#$%^"],
                    )]),
                ),
                &[("foo", "bar")],
                "",
                false,
            ),
            (
                "Pod with matchFields using In operator that matches the existing node",
                with_affinity(&[], Some(selector(vec![name_in(&["node_1"])]))),
                &[],
                "node_1",
                true,
            ),
            (
                "Pod with matchFields using In operator that does not match the existing node",
                with_affinity(&[], Some(selector(vec![name_in(&["node_1"])]))),
                &[],
                "node_2",
                false,
            ),
            (
                "Pod with two terms: matchFields does not match, but matchExpressions matches",
                with_affinity(
                    &[],
                    Some(selector(vec![
                        name_in(&["node_1"]),
                        exprs(vec![requirement("foo", In, &["bar"])]),
                    ])),
                ),
                &[("foo", "bar")],
                "node_2",
                true,
            ),
            (
                "Pod with one term: matchFields does not match, but matchExpressions matches",
                with_affinity(
                    &[],
                    Some(selector(vec![term(
                        vec![requirement("foo", In, &["bar"])],
                        vec![requirement(OBJECT_NAME_FIELD, In, &["node_1"])],
                    )])),
                ),
                &[("foo", "bar")],
                "node_2",
                false,
            ),
            (
                "Pod with one term: both matchFields and matchExpressions match",
                with_affinity(
                    &[],
                    Some(selector(vec![term(
                        vec![requirement("foo", In, &["bar"])],
                        vec![requirement(OBJECT_NAME_FIELD, In, &["node_1"])],
                    )])),
                ),
                &[("foo", "bar")],
                "node_1",
                true,
            ),
            (
                "Pod with two terms: both matchFields and matchExpressions do not match",
                with_affinity(
                    &[],
                    Some(selector(vec![
                        name_in(&["node_1"]),
                        exprs(vec![requirement("foo", In, &["not-match-to-bar"])]),
                    ])),
                ),
                &[("foo", "bar")],
                "node_2",
                false,
            ),
        ];
        for (name, spec, node_labels, node_name, want) in cases {
            let node_labels = labels(node_labels);
            let node = Node {
                name: node_name,
                labels: &node_labels,
            };
            assert_eq!(required_node_affinity_matches(&spec, node), want, "{name}");
        }
    }

    /// All six operators, Gt/Lt on integers only (labels.Requirement.Matches and
    /// NewRequirement, as reached through node affinity).
    #[test]
    fn operators() {
        let cases: Vec<OperatorCase> = vec![
            (
                requirement("zone", In, &["a", "b"]),
                &[("zone", "a")],
                Match,
            ),
            (
                requirement("zone", In, &["a", "b"]),
                &[("zone", "c")],
                NoMatch,
            ),
            (requirement("zone", In, &["a"]), &[], NoMatch),
            (requirement("zone", NotIn, &["a"]), &[("zone", "b")], Match),
            (
                requirement("zone", NotIn, &["a"]),
                &[("zone", "a")],
                NoMatch,
            ),
            (requirement("zone", NotIn, &["a"]), &[], Match),
            (requirement("gpu", Exists, &[]), &[("gpu", "")], Match),
            (requirement("gpu", Exists, &[]), &[], NoMatch),
            (requirement("gpu", DoesNotExist, &[]), &[], Match),
            (
                requirement("gpu", DoesNotExist, &[]),
                &[("gpu", "x")],
                NoMatch,
            ),
            (requirement("cores", Gt, &["4"]), &[("cores", "8")], Match),
            (requirement("cores", Gt, &["4"]), &[("cores", "4")], NoMatch),
            // A negative number is not a valid label value, so not a valid Gt/Lt operand.
            (
                requirement("cores", Gt, &["-1"]),
                &[("cores", "0")],
                Invalid,
            ),
            (requirement("cores", Lt, &["4"]), &[("cores", "2")], Match),
            (requirement("cores", Lt, &["4"]), &[("cores", "4")], NoMatch),
            (requirement("cores", Lt, &["10"]), &[("cores", "9")], Match),
            // Integers, not strings: "10" > "9" as numbers although not as text.
            (requirement("cores", Gt, &["9"]), &[("cores", "10")], Match),
            // A label value that is not an integer never matches Gt or Lt.
            (
                requirement("cores", Gt, &["4"]),
                &[("cores", "eight")],
                NoMatch,
            ),
            (
                requirement("cores", Lt, &["4"]),
                &[("cores", "1.5")],
                NoMatch,
            ),
            (requirement("cores", Gt, &["4"]), &[], NoMatch),
            // Malformed requirements make the term invalid.
            (
                requirement("cores", Gt, &["four"]),
                &[("cores", "8")],
                Invalid,
            ),
            (
                requirement("cores", Gt, &["1", "2"]),
                &[("cores", "8")],
                Invalid,
            ),
            (requirement("zone", In, &[]), &[("zone", "a")], Invalid),
            (requirement("gpu", Exists, &["x"]), &[("gpu", "x")], Invalid),
            (requirement("bad key", Exists, &[]), &[], Invalid),
        ];
        for (req, node_labels, want) in cases {
            let node_labels = labels(node_labels);
            let got = match_term(
                &exprs(vec![req.clone()]),
                Node {
                    name: "n",
                    labels: &node_labels,
                },
            );
            assert_eq!(
                kind(&got),
                want,
                "{} on {node_labels:?}: {got:?}",
                describe_requirement(&req)
            );
        }
    }

    #[derive(Debug, PartialEq)]
    enum TermMatchKind {
        Match,
        NoMatch,
        Invalid,
    }
    use TermMatchKind::{Invalid, Match, NoMatch};

    fn kind(m: &TermMatch) -> TermMatchKind {
        match m {
            TermMatch::Matches => Match,
            TermMatch::DoesNotMatch(_) => NoMatch,
            TermMatch::Empty | TermMatch::Invalid(_) => Invalid,
        }
    }

    #[test]
    fn match_fields() {
        let cases: Vec<(NodeSelectorRequirement, &str, TermMatchKind)> = vec![
            (
                requirement(OBJECT_NAME_FIELD, In, &["node-1"]),
                "node-1",
                Match,
            ),
            (
                requirement(OBJECT_NAME_FIELD, In, &["node-1"]),
                "node-2",
                NoMatch,
            ),
            (
                requirement(OBJECT_NAME_FIELD, NotIn, &["node-1"]),
                "node-2",
                Match,
            ),
            (
                requirement(OBJECT_NAME_FIELD, NotIn, &["node-1"]),
                "node-1",
                NoMatch,
            ),
            (
                requirement(OBJECT_NAME_FIELD, Exists, &[]),
                "node-1",
                Invalid,
            ),
            (requirement(OBJECT_NAME_FIELD, In, &[]), "node-1", Invalid),
            // Any other field reads as "" (fields.Set.Get).
            (
                requirement("spec.unschedulable", In, &["true"]),
                "node-1",
                NoMatch,
            ),
            (
                requirement("spec.unschedulable", NotIn, &["true"]),
                "node-1",
                Match,
            ),
        ];
        for (req, name, want) in cases {
            let got = match_term(
                &term(vec![], vec![req.clone()]),
                Node {
                    name,
                    labels: &BTreeMap::new(),
                },
            );
            assert_eq!(kind(&got), want, "{} on {name}", describe_requirement(&req));
        }
    }

    #[test]
    fn failures_say_what_the_host_has() {
        let node_labels = labels(&[("zone", "b")]);
        let got = match_term(
            &term(
                vec![
                    requirement("zone", In, &["a"]),
                    requirement("gpu", Exists, &[]),
                ],
                vec![requirement(OBJECT_NAME_FIELD, In, &["node-1"])],
            ),
            Node {
                name: "node-2",
                labels: &node_labels,
            },
        );
        assert_eq!(
            got,
            TermMatch::DoesNotMatch(vec![
                "zone In [a] (host has zone=b)".to_string(),
                "gpu Exists (host has no label gpu)".to_string(),
                "metadata.name In [node-1] (host is node-2)".to_string(),
            ])
        );
    }
}
