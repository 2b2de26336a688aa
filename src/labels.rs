//! Label selectors with Kubernetes semantics: `metav1.LabelSelector` matching, the kubectl
//! selector syntax for `-l/--limit`, and the requirements node affinity is built from.
//!
//! Ported from apimachinery `pkg/labels/selector.go` (Requirement, Lexer, Parser) and
//! `metav1.LabelSelectorAsSelector`. Pure.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::daemonset::{LabelSelector, LabelSelectorOperator};
use crate::k8s_names;

/// The label every Kubernetes node carries with its name (set by the kubelet).
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// The label every Kubernetes node carries with its OS; dsctl hosts are Linux.
pub const OS_LABEL: &str = "kubernetes.io/os";
/// The label every Kubernetes node carries with its CPU architecture (GOARCH); dsctl learns it
/// from the host when it connects (`host_facts.rs`).
pub const ARCH_LABEL: &str = "kubernetes.io/arch";

/// A host's labels as Kubernetes would show them on its Node: the inventory's labels plus
/// the well-known `kubernetes.io/hostname` and `kubernetes.io/os=linux` that the kubelet
/// sets, so that manifests selecting on them behave as in a cluster. The inventory wins
/// where it sets one of them itself.
pub fn node_labels(host_name: &str, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut all = labels.clone();
    all.entry(HOSTNAME_LABEL.to_string())
        .or_insert_with(|| host_name.to_string());
    all.entry(OS_LABEL.to_string())
        .or_insert_with(|| "linux".to_string());
    all
}

/// `selection.Operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// Why a requirement is malformed (`labels.NewRequirement`'s checks).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequirementError {
    #[error("invalid label key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("invalid value {value:?} for label {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("for 'in', 'notin' operators, values set can't be empty (key {key})")]
    NoValues { key: String },
    #[error("exact-match compatibility requires one single value (key {key})")]
    NotOneValue { key: String },
    #[error("values set must be empty for exists and does not exist (key {key})")]
    UnexpectedValues { key: String },
    #[error("for 'Gt', 'Lt' operators, exactly one value is required (key {key})")]
    NotOneNumber { key: String },
    #[error("for 'Gt', 'Lt' operators, the value must be an integer: {value:?} (key {key})")]
    NotInteger { key: String, value: String },
}

/// One condition on one label key; a selector ANDs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// A validated requirement, as `labels.NewRequirement` builds it (first error wins).
    pub fn new(
        key: &str,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Self, RequirementError> {
        if let Err(reason) = check_label_key(key) {
            return Err(RequirementError::InvalidKey {
                key: key.to_string(),
                reason,
            });
        }
        let k = || key.to_string();
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(RequirementError::NoValues { key: k() });
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                return Err(RequirementError::NotOneValue { key: k() });
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(RequirementError::UnexpectedValues { key: k() });
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return Err(RequirementError::NotOneNumber { key: k() });
                }
                if values[0].parse::<i64>().is_err() {
                    return Err(RequirementError::NotInteger {
                        key: k(),
                        value: values[0].clone(),
                    });
                }
            }
            _ => {}
        }
        for value in &values {
            if let Err(reason) = check_label_value(value) {
                return Err(RequirementError::InvalidValue {
                    key: k(),
                    value: value.clone(),
                    reason,
                });
            }
        }
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// `Requirement.Matches`: NotIn and NotEquals match a missing key; Gt and Lt need the
    /// label to hold an integer and never match otherwise.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.values.contains(v))
            }
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(Ok(have)) = value.map(|v| v.parse::<i64>()) else {
                    return false;
                };
                let [want] = self.values.as_slice() else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else {
                    return false;
                };
                match self.operator {
                    Operator::GreaterThan => have > want,
                    _ => have < want,
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// kubectl's syntax, as `Requirement.String` writes it (set values sorted).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let mut values = self.values.clone();
        values.sort();
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            write!(f, "({})", values.join(","))
        } else {
            f.write_str(&values.join(","))
        }
    }
}

/// Requirements ANDed together; no requirement at all selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches every label set.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Requirements sorted by key, as `internalSelector.Add` keeps them.
    pub fn new(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector { requirements }
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// `metav1.LabelSelectorAsSelector`: matchLabels become `key=value`, matchExpressions keep
/// their operator; an empty selector selects everything.
pub fn label_selector_as_selector(selector: &LabelSelector) -> Result<Selector, RequirementError> {
    let mut requirements = Vec::new();
    for (key, value) in &selector.match_labels {
        requirements.push(Requirement::new(
            key,
            Operator::Equals,
            vec![value.clone()],
        )?);
    }
    for expr in &selector.match_expressions {
        let op = match expr.operator {
            LabelSelectorOperator::In => Operator::In,
            LabelSelectorOperator::NotIn => Operator::NotIn,
            LabelSelectorOperator::Exists => Operator::Exists,
            LabelSelectorOperator::DoesNotExist => Operator::DoesNotExist,
        };
        requirements.push(Requirement::new(&expr.key, op, expr.values.clone())?);
    }
    Ok(Selector::new(requirements))
}

/// Whether `selector` selects `labels`. An empty selector matches everything (validation
/// refuses empty DaemonSet selectors on its own); a malformed one matches nothing.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    label_selector_as_selector(selector).is_ok_and(|s| s.matches(labels))
}

/// Why a selector string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("found {found}, expected: {expected}")]
    Unexpected {
        found: String,
        expected: &'static str,
    },
    #[error(transparent)]
    Requirement(#[from] RequirementError),
}

/// Parse a selector in kubectl's syntax (`labels.Parse`): `a=b`, `a==b`, `a!=b`,
/// `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, joined by `,` (AND).
pub fn parse(input: &str) -> Result<Selector, ParseError> {
    Parser::new(input).parse().map(Selector::new)
}

impl FromStr for Selector {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// The `-l/--limit` host filter: a kubectl label selector, evaluated against the host's
/// Node labels (see [`node_labels`], so `kubernetes.io/hostname=node-1` works). As a
/// convenience for picking hosts by name, a bare token (`-l node-1`), which kubectl reads as
/// "label node-1 exists", also matches the host named so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSelector {
    selector: Selector,
}

impl HostSelector {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Ok(HostSelector {
            selector: parse(input)?,
        })
    }

    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    pub fn matches(&self, host_name: &str, labels: &BTreeMap<String, String>) -> bool {
        let labels = node_labels(host_name, labels);
        self.selector.requirements().iter().all(|r| {
            r.matches(&labels) || (r.operator() == Operator::Exists && r.key() == host_name)
        })
    }
}

impl FromStr for HostSelector {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostSelector::parse(s)
    }
}

impl fmt::Display for HostSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.selector.fmt(f)
    }
}

/// `validateLabelKey`: Kubernetes' label key rules, its error texts joined.
fn check_label_key(key: &str) -> Result<(), String> {
    joined(k8s_names::qualified_name(key))
}

/// `validateLabelValue`.
fn check_label_value(value: &str) -> Result<(), String> {
    joined(k8s_names::label_value(value))
}

fn joined(errors: Vec<String>) -> Result<(), String> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Lexer tokens (`labels.Token`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier(String),
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

impl Token {
    fn literal(s: &str) -> Option<Token> {
        Some(match s {
            ")" => Token::ClosedPar,
            "," => Token::Comma,
            "!" => Token::DoesNotExist,
            "==" => Token::DoubleEquals,
            "=" => Token::Equals,
            ">" => Token::GreaterThan,
            "in" => Token::In,
            "<" => Token::LessThan,
            "!=" => Token::NotEquals,
            "notin" => Token::NotIn,
            "(" => Token::OpenPar,
            _ => return None,
        })
    }

    /// In a value position, `in` and `notin` are plain identifiers (`notin=in`).
    fn in_values(self) -> Token {
        match self {
            Token::In => Token::Identifier("in".to_string()),
            Token::NotIn => Token::Identifier("notin".to_string()),
            other => other,
        }
    }

    fn describe(&self) -> String {
        let s = match self {
            Token::EndOfString => return "end of string".to_string(),
            Token::Identifier(s) => s.as_str(),
            Token::ClosedPar => ")",
            Token::Comma => ",",
            Token::DoesNotExist => "!",
            Token::DoubleEquals => "==",
            Token::Equals => "=",
            Token::GreaterThan => ">",
            Token::In => "in",
            Token::LessThan => "<",
            Token::NotEquals => "!=",
            Token::NotIn => "notin",
            Token::OpenPar => "(",
        };
        format!("'{s}'")
    }
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// `labels.Lexer`: identifiers run up to whitespace or a special symbol; special symbols are
/// read greedily into the longest operator.
fn lex(input: &str) -> Vec<Token> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut pos = 0;
    loop {
        while pos < chars.len() && is_whitespace(chars[pos]) {
            pos += 1;
        }
        if pos == chars.len() {
            tokens.push(Token::EndOfString);
            return tokens;
        }
        if is_special(chars[pos]) {
            let mut buffer = String::new();
            let mut last = None;
            while pos < chars.len() && is_special(chars[pos]) {
                buffer.push(chars[pos]);
                match Token::literal(&buffer) {
                    Some(token) => {
                        last = Some(token);
                        pos += 1;
                    }
                    // Every single special character is a token, so `last` is set here.
                    None if last.is_some() => break,
                    None => pos += 1,
                }
            }
            tokens.push(last.expect("a special character is a token"));
        } else {
            let start = pos;
            while pos < chars.len() && !is_special(chars[pos]) && !is_whitespace(chars[pos]) {
                pos += 1;
            }
            let word: String = chars[start..pos].iter().collect();
            tokens.push(Token::literal(&word).unwrap_or(Token::Identifier(word)));
        }
    }
}

/// `labels.Parser`: recursive descent over the scanned tokens.
struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn new(input: &str) -> Self {
        Parser {
            tokens: lex(input),
            position: 0,
        }
    }

    fn lookahead(&self) -> Token {
        self.tokens[self.position].clone()
    }

    fn lookahead_value(&self) -> Token {
        self.lookahead().in_values()
    }

    fn consume(&mut self) -> Token {
        let token = self.lookahead();
        // EndOfString is last and stays put, so a parser at the end keeps seeing it.
        if self.position + 1 < self.tokens.len() {
            self.position += 1;
        }
        token
    }

    fn consume_value(&mut self) -> Token {
        self.consume().in_values()
    }

    fn unexpected(found: &Token, expected: &'static str) -> ParseError {
        ParseError::Unexpected {
            found: found.describe(),
            expected,
        }
    }

    fn parse(mut self) -> Result<Vec<Requirement>, ParseError> {
        let mut requirements = Vec::new();
        loop {
            match self.lookahead_value() {
                Token::Identifier(_) | Token::DoesNotExist => {
                    requirements.push(self.parse_requirement()?);
                    match self.consume_value() {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let next = self.lookahead_value();
                            if !matches!(next, Token::Identifier(_) | Token::DoesNotExist) {
                                return Err(Self::unexpected(&next, "identifier after ','"));
                            }
                        }
                        other => return Err(Self::unexpected(&other, "',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                other => {
                    return Err(Self::unexpected(
                        &other,
                        "!, identifier, or 'end of string'",
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, ParseError> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(op) = inferred {
            return Ok(Requirement::new(&key, op, Vec::new())?);
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Ok(Requirement::new(&key, operator, values)?)
    }

    /// The key, and Exists or DoesNotExist when no binary operator follows it.
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), ParseError> {
        let mut token = self.consume_value();
        let mut operator = None;
        if token == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            token = self.consume_value();
        }
        let Token::Identifier(key) = token else {
            return Err(Self::unexpected(&token, "identifier"));
        };
        if let Err(reason) = check_label_key(&key) {
            return Err(RequirementError::InvalidKey { key, reason }.into());
        }
        if matches!(self.lookahead_value(), Token::EndOfString | Token::Comma) && operator.is_none()
        {
            operator = Some(Operator::Exists);
        }
        Ok((key, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, ParseError> {
        let token = self.consume();
        Ok(match token {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            other => {
                return Err(Self::unexpected(&other, "in, notin, =, ==, !=, >, <"));
            }
        })
    }

    /// `(x,y,z)` as a sorted set; `()` and empty list entries are the empty value.
    fn parse_values(&mut self) -> Result<Vec<String>, ParseError> {
        let token = self.consume_value();
        if token != Token::OpenPar {
            return Err(Self::unexpected(&token, "'('"));
        }
        match self.lookahead_value() {
            Token::Identifier(_) | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                let token = self.consume_value();
                if token != Token::ClosedPar {
                    return Err(Self::unexpected(&token, "')'"));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume_value();
                Ok(vec![String::new()])
            }
            other => Err(Self::unexpected(&other, "',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, ParseError> {
        let mut set = std::collections::BTreeSet::new();
        loop {
            match self.consume_value() {
                Token::Identifier(value) => {
                    set.insert(value);
                    match self.lookahead_value() {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set.into_iter().collect()),
                        other => return Err(Self::unexpected(&other, "',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new()); // "(,"
                    }
                    match self.lookahead_value() {
                        Token::ClosedPar => {
                            set.insert(String::new()); // ",)"
                            return Ok(set.into_iter().collect());
                        }
                        Token::Comma => {
                            set.insert(String::new()); // ",,"
                        }
                        _ => {}
                    }
                }
                other => return Err(Self::unexpected(&other, "',', or identifier")),
            }
        }
    }

    /// The single value of `=`, `==`, `!=`, `>` or `<`; nothing before `,` or the end is "".
    fn parse_exact_value(&mut self) -> Result<Vec<String>, ParseError> {
        if matches!(self.lookahead_value(), Token::EndOfString | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        match self.consume_value() {
            Token::Identifier(value) => Ok(vec![value]),
            other => Err(Self::unexpected(&other, "identifier")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::LabelSelectorRequirement;

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: Operator, values: &[&str]) -> Requirement {
        Requirement::new(key, op, values.iter().map(|v| v.to_string()).collect())
            .expect("valid requirement")
    }

    /// k8s: labels/selector_test.go, TestSelectorParse.
    #[test]
    fn selector_parse() {
        let good = [
            "x=a,y=b,z=c",
            "",
            "x!=a,y=b",
            "x=",
            "x= ",
            "x=,z= ",
            "x= ,z= ",
            "!x",
            "x>1",
            "x>1,z<5",
        ];
        for input in good {
            let parsed = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(
                parsed.to_string(),
                input.replace(' ', ""),
                "{input:?} restrings"
            );
        }
        for input in ["x=a||y=b", "x==a==b", "!x=a", "x<a"] {
            assert!(parse(input).is_err(), "{input:?} must not parse");
        }
    }

    /// k8s: selector_test.go, TestDeterministicParse.
    #[test]
    fn deterministic_parse() {
        assert_eq!(
            parse("x=a,a=x").unwrap().to_string(),
            parse("a=x,x=a").unwrap().to_string()
        );
    }

    /// k8s: selector_test.go, TestSelectorMatches (and TestEverything).
    #[test]
    fn selector_matches_table() {
        let labelset = set(&[("foo", "bar"), ("baz", "blah")]);
        let cases: &[(&str, BTreeMap<String, String>, bool)] = &[
            ("", set(&[("x", "y")]), true),
            ("x=y", set(&[("x", "y")]), true),
            ("x=y,z=w", set(&[("x", "y"), ("z", "w")]), true),
            ("x!=y,z!=w", set(&[("x", "z"), ("z", "a")]), true),
            ("notin=in", set(&[("notin", "in")]), true),
            ("x", set(&[("x", "z")]), true),
            ("!x", set(&[("y", "z")]), true),
            ("x>1", set(&[("x", "2")]), true),
            ("x<1", set(&[("x", "0")]), true),
            ("x=z", set(&[]), false),
            ("x=y", set(&[("x", "z")]), false),
            ("x=y,z=w", set(&[("x", "w"), ("z", "w")]), false),
            ("x!=y,z!=w", set(&[("x", "z"), ("z", "w")]), false),
            ("x", set(&[("y", "z")]), false),
            ("!x", set(&[("x", "z")]), false),
            ("x>1", set(&[("x", "0")]), false),
            ("x<1", set(&[("x", "2")]), false),
            ("foo=bar", labelset.clone(), true),
            ("baz=blah", labelset.clone(), true),
            ("foo=bar,baz=blah", labelset.clone(), true),
            ("foo=blah", labelset.clone(), false),
            ("baz=bar", labelset.clone(), false),
            ("foo=bar,foobar=bar,baz=blah", labelset, false),
        ];
        for (selector, labels, want) in cases {
            let parsed = parse(selector).unwrap_or_else(|e| panic!("{selector:?}: {e}"));
            assert_eq!(
                parsed.matches(labels),
                *want,
                "{selector:?} against {labels:?}"
            );
        }
        assert!(Selector::everything().matches(&set(&[("x", "y")])));
        assert!(Selector::everything().is_empty());
    }

    /// k8s: selector_test.go, TestRequirementConstructor.
    #[test]
    fn requirement_constructor() {
        let long_key = "a".repeat(254);
        let cases: &[(&str, Operator, &[&str], bool)] = &[
            ("x", Operator::In, &[], false),
            ("x", Operator::NotIn, &[], false),
            ("x", Operator::In, &["foo"], true),
            ("x", Operator::NotIn, &["foo"], true),
            ("x", Operator::Exists, &[], true),
            ("x", Operator::DoesNotExist, &[], true),
            ("1foo", Operator::In, &["bar"], true),
            ("1234", Operator::In, &["bar"], true),
            ("y", Operator::GreaterThan, &["1"], true),
            ("z", Operator::LessThan, &["6"], true),
            ("foo", Operator::GreaterThan, &["bar"], false),
            ("barz", Operator::LessThan, &["blah"], false),
            (&long_key, Operator::Exists, &[], false),
            // Not in the k8s table, but its rules: exact match needs one value, Exists none.
            ("x", Operator::Equals, &["a", "b"], false),
            ("x", Operator::Exists, &["a"], false),
            ("x", Operator::GreaterThan, &["1", "2"], false),
            ("x", Operator::In, &["not valid!"], false),
            ("example.com/x", Operator::Exists, &[], true),
            ("Example.com/x", Operator::Exists, &[], false),
            ("/x", Operator::Exists, &[], false),
            ("a/b/c", Operator::Exists, &[], false),
        ];
        for (key, op, values, ok) in cases {
            let got = Requirement::new(key, *op, values.iter().map(|v| v.to_string()).collect());
            assert_eq!(got.is_ok(), *ok, "{key:?} {op:?} {values:?}: {got:?}");
        }
    }

    /// k8s: selector_test.go, TestToString.
    #[test]
    fn to_string() {
        let cases: Vec<(Vec<Requirement>, &str)> = vec![
            (
                vec![
                    req("x", Operator::In, &["abc", "def"]),
                    req("y", Operator::NotIn, &["jkl"]),
                    req("z", Operator::Exists, &[]),
                ],
                "x in (abc,def),y notin (jkl),z",
            ),
            (
                vec![
                    req("x", Operator::NotIn, &["abc", "def"]),
                    req("y", Operator::NotEquals, &["jkl"]),
                    req("z", Operator::DoesNotExist, &[]),
                ],
                "x notin (abc,def),y!=jkl,!z",
            ),
            (
                vec![
                    req("x", Operator::NotIn, &["abc"]),
                    req("y", Operator::In, &["jkl", "mno"]),
                    req("z", Operator::NotIn, &[""]),
                ],
                "x notin (abc),y in (jkl,mno),z notin ()",
            ),
            (
                vec![
                    req("x", Operator::Equals, &["abc"]),
                    req("y", Operator::DoubleEquals, &["jkl"]),
                    req("z", Operator::NotEquals, &["a"]),
                    req("z", Operator::Exists, &[]),
                ],
                "x=abc,y==jkl,z!=a,z",
            ),
            (
                vec![
                    req("x", Operator::GreaterThan, &["2"]),
                    req("y", Operator::LessThan, &["8"]),
                    req("z", Operator::Exists, &[]),
                ],
                "x>2,y<8,z",
            ),
        ];
        for (requirements, want) in cases {
            assert_eq!(Selector::new(requirements).to_string(), want);
        }
    }

    /// k8s: selector_test.go, TestRequirementSelectorMatching.
    #[test]
    fn requirement_selector_matching() {
        let cases: Vec<(BTreeMap<String, String>, Vec<Requirement>, bool)> = vec![
            (
                set(&[("x", "foo"), ("y", "baz")]),
                vec![
                    req("x", Operator::In, &["foo"]),
                    req("y", Operator::NotIn, &["alpha"]),
                ],
                true,
            ),
            (
                set(&[("x", "foo"), ("y", "baz")]),
                vec![
                    req("x", Operator::In, &["foo"]),
                    req("y", Operator::In, &["alpha"]),
                ],
                false,
            ),
            (
                set(&[("y", "")]),
                vec![
                    req("x", Operator::NotIn, &[""]),
                    req("y", Operator::Exists, &[]),
                ],
                true,
            ),
            (
                set(&[("y", "")]),
                vec![
                    req("x", Operator::DoesNotExist, &[]),
                    req("y", Operator::Exists, &[]),
                ],
                true,
            ),
            (
                set(&[("y", "")]),
                vec![
                    req("x", Operator::NotIn, &[""]),
                    req("y", Operator::DoesNotExist, &[]),
                ],
                false,
            ),
            (
                set(&[("y", "baz")]),
                vec![req("x", Operator::In, &[""])],
                false,
            ),
            (
                set(&[("z", "2")]),
                vec![req("z", Operator::GreaterThan, &["1"])],
                true,
            ),
            (
                set(&[("z", "v2")]),
                vec![req("z", Operator::GreaterThan, &["1"])],
                false,
            ),
        ];
        for (labels, requirements, want) in cases {
            let selector = Selector::new(requirements);
            assert_eq!(
                selector.matches(&labels),
                want,
                "{selector} against {labels:?}"
            );
        }
    }

    /// k8s: selector_test.go, TestSetSelectorParser (`Some` is the expected selector, or
    /// `None` where k8s only checks validity).
    #[test]
    fn set_selector_parser() {
        let cases: Vec<(&str, Option<Vec<Requirement>>, bool)> = vec![
            ("", Some(vec![]), true),
            ("\rx", Some(vec![req("x", Operator::Exists, &[])]), true),
            (
                "this-is-a-dns.domain.com/key-with-dash",
                Some(vec![req(
                    "this-is-a-dns.domain.com/key-with-dash",
                    Operator::Exists,
                    &[],
                )]),
                true,
            ),
            (
                "this-is-another-dns.domain.com/key-with-dash in (so,what)",
                Some(vec![req(
                    "this-is-another-dns.domain.com/key-with-dash",
                    Operator::In,
                    &["so", "what"],
                )]),
                true,
            ),
            (
                "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
                Some(vec![req(
                    "0.1.2.domain/99",
                    Operator::NotIn,
                    &["10.10.100.1", "tick.tack.clock"],
                )]),
                true,
            ),
            (
                "foo  in\t (abc)",
                Some(vec![req("foo", Operator::In, &["abc"])]),
                true,
            ),
            (
                "x notin\n (abc)",
                Some(vec![req("x", Operator::NotIn, &["abc"])]),
                true,
            ),
            (
                "x  notin\t\t\t(abc,def)",
                Some(vec![req("x", Operator::NotIn, &["abc", "def"])]),
                true,
            ),
            (
                "x in (abc,def)",
                Some(vec![req("x", Operator::In, &["abc", "def"])]),
                true,
            ),
            (
                "x in (abc,)",
                Some(vec![req("x", Operator::In, &["", "abc"])]),
                true,
            ),
            ("x in ()", Some(vec![req("x", Operator::In, &[""])]), true),
            (
                "x notin (abc,,def),bar,z in (),w",
                Some(vec![
                    req("bar", Operator::Exists, &[]),
                    req("w", Operator::Exists, &[]),
                    req("x", Operator::NotIn, &["", "abc", "def"]),
                    req("z", Operator::In, &[""]),
                ]),
                true,
            ),
            ("x,y in (a)", None, true),
            ("x=a", Some(vec![req("x", Operator::Equals, &["a"])]), true),
            (
                "x>1",
                Some(vec![req("x", Operator::GreaterThan, &["1"])]),
                true,
            ),
            (
                "x<7",
                Some(vec![req("x", Operator::LessThan, &["7"])]),
                true,
            ),
            (
                "x=a,y!=b",
                Some(vec![
                    req("x", Operator::Equals, &["a"]),
                    req("y", Operator::NotEquals, &["b"]),
                ]),
                true,
            ),
            (
                "x=a,y!=b,z in (h,i,j)",
                Some(vec![
                    req("x", Operator::Equals, &["a"]),
                    req("y", Operator::NotEquals, &["b"]),
                    req("z", Operator::In, &["h", "i", "j"]),
                ]),
                true,
            ),
            ("x=a||y=b", None, false),
            ("x,,y", None, false),
            (",x,y", None, false),
            ("x nott in (y)", None, false),
            (
                "x notin ( )",
                Some(vec![req("x", Operator::NotIn, &[""])]),
                true,
            ),
            (
                "x notin (, a)",
                Some(vec![req("x", Operator::NotIn, &["", "a"])]),
                true,
            ),
            ("a in (xyz),", None, false),
            ("a in (xyz)b notin ()", None, false),
            ("a ", Some(vec![req("a", Operator::Exists, &[])]), true),
            (
                "a in (x,y,notin, z,in)",
                Some(vec![req(
                    "a",
                    Operator::In,
                    &["in", "notin", "x", "y", "z"],
                )]),
                true,
            ),
            ("a in (xyz abc)", None, false),
            ("a notin(", None, false),
            ("a (", None, false),
            ("(", None, false),
        ];
        for (input, want, valid) in cases {
            let got = parse(input);
            assert_eq!(got.is_ok(), valid, "{input:?}: {got:?}");
            if let (Ok(got), Some(want)) = (got, want) {
                assert_eq!(got, Selector::new(want), "{input:?}");
            }
        }
    }

    #[test]
    fn parse_errors_are_typed_and_readable() {
        assert_eq!(
            parse("a in (xyz),").unwrap_err(),
            ParseError::Unexpected {
                found: "end of string".into(),
                expected: "identifier after ','"
            }
        );
        assert_eq!(
            parse("x<a").unwrap_err().to_string(),
            "for 'Gt', 'Lt' operators, the value must be an integer: \"a\" (key x)"
        );
        assert!(matches!(
            parse("bad key=1"),
            Err(ParseError::Unexpected { .. })
        ));
        assert!(matches!(
            parse("-bad=1"),
            Err(ParseError::Requirement(RequirementError::InvalidKey { .. }))
        ));
        assert_eq!(
            parse("a (").unwrap_err().to_string(),
            "found '(', expected: in, notin, =, ==, !=, >, <"
        );
    }

    fn label_selector(
        labels: &[(&str, &str)],
        exprs: Vec<(&str, LabelSelectorOperator, &[&str])>,
    ) -> LabelSelector {
        LabelSelector {
            match_labels: set(labels),
            match_expressions: exprs
                .into_iter()
                .map(|(key, operator, values)| LabelSelectorRequirement {
                    key: key.to_string(),
                    operator,
                    values: values.iter().map(|v| v.to_string()).collect(),
                })
                .collect(),
        }
    }

    /// k8s: apimachinery/pkg/apis/meta/v1/helpers_test.go, TestLabelSelectorAsSelector (a nil
    /// selector cannot occur here: the model requires one).
    #[test]
    fn label_selector_as_selector_table() {
        use LabelSelectorOperator::*;
        let cases: Vec<(LabelSelector, Result<&str, ()>)> = vec![
            (label_selector(&[], vec![]), Ok("")),
            (label_selector(&[("foo", "bar")], vec![]), Ok("foo=bar")),
            (
                label_selector(&[], vec![("baz", In, &["qux", "norf"])]),
                Ok("baz in (norf,qux)"),
            ),
            (
                label_selector(&[("foo", "bar")], vec![("baz", In, &["qux", "norf"])]),
                Ok("baz in (norf,qux),foo=bar"),
            ),
            (
                label_selector(&[], vec![("baz", Exists, &["qux", "norf"])]),
                Err(()),
            ),
            // Further cases for the same rules.
            (
                label_selector(
                    &[("foo", "bar")],
                    vec![
                        ("baz", NotIn, &["qux", "norf"]),
                        ("zap", Exists, &[]),
                        ("zoo", DoesNotExist, &[]),
                    ],
                ),
                Ok("baz notin (norf,qux),foo=bar,zap,!zoo"),
            ),
            (
                label_selector(&[("foo", "bar")], vec![("baz", Exists, &["qux", "norf"])]),
                Err(()),
            ),
            (label_selector(&[], vec![("baz", In, &[])]), Err(())),
            (label_selector(&[("foo", "not valid")], vec![]), Err(())),
        ];
        for (selector, want) in cases {
            let got = label_selector_as_selector(&selector).map(|s| s.to_string());
            assert_eq!(
                got.map_err(|_| ()),
                want.map(str::to_string),
                "{selector:?}"
            );
        }
    }

    #[test]
    fn selector_matches_label_selectors() {
        use LabelSelectorOperator::*;
        let node = set(&[("app", "agent"), ("tier", "node"), ("zone", "a")]);
        let cases: Vec<(LabelSelector, bool)> = vec![
            (label_selector(&[], vec![]), true),
            (label_selector(&[("app", "agent")], vec![]), true),
            (label_selector(&[("app", "other")], vec![]), false),
            (
                label_selector(&[("app", "agent")], vec![("zone", In, &["a", "b"])]),
                true,
            ),
            (
                label_selector(&[("app", "agent")], vec![("zone", NotIn, &["a"])]),
                false,
            ),
            (label_selector(&[], vec![("gpu", DoesNotExist, &[])]), true),
            (label_selector(&[], vec![("gpu", Exists, &[])]), false),
            (label_selector(&[], vec![("gpu", NotIn, &["true"])]), true),
            // Malformed: matches nothing rather than everything.
            (label_selector(&[], vec![("app", In, &[])]), false),
        ];
        for (selector, want) in cases {
            assert_eq!(selector_matches(&selector, &node), want, "{selector:?}");
        }
    }

    #[test]
    fn host_selector() {
        let labels = set(&[("zone", "a"), ("disktype", "ssd")]);
        let cases: &[(&str, &str, bool)] = &[
            ("", "node-1", true),
            ("zone=a", "node-1", true),
            ("zone=a,disktype!=hdd", "node-1", true),
            ("zone=b", "node-1", false),
            ("zone in (a,b),!gpu", "node-1", true),
            // A bare token picks a host by name, or by label key as kubectl does.
            ("node-1", "node-1", true),
            ("node-1", "node-2", false),
            ("zone", "node-2", true),
            ("node-1,zone=b", "node-1", false),
            // The well-known Node labels.
            ("kubernetes.io/hostname=node-1", "node-1", true),
            ("kubernetes.io/hostname in (node-2,node-3)", "node-1", false),
            ("kubernetes.io/os=linux", "node-1", true),
        ];
        for (input, host, want) in cases {
            let selector: HostSelector = input.parse().unwrap();
            assert_eq!(
                selector.matches(host, &labels),
                *want,
                "{input:?} on {host}"
            );
        }
        assert!(HostSelector::parse("zone=").is_ok());
        assert!(HostSelector::parse("zone==a==b").is_err());
    }

    #[test]
    fn node_labels_add_well_known_labels_without_overriding() {
        let labels = node_labels("node-1", &set(&[("zone", "a")]));
        assert_eq!(
            labels,
            set(&[
                ("zone", "a"),
                ("kubernetes.io/hostname", "node-1"),
                ("kubernetes.io/os", "linux")
            ])
        );
        let own = node_labels("node-1", &set(&[("kubernetes.io/hostname", "n1")]));
        assert_eq!(own["kubernetes.io/hostname"], "n1");
    }
}
