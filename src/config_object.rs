//! ConfigMap and Secret objects (core/v1), normalised once: `data`, `binaryData` and
//! `stringData` (and a Secret's `[dsctl.valueFrom]` sources) become one map of key to bytes,
//! validated as the API server's `ValidateConfigMap` / `ValidateSecret` do
//! (pkg/apis/core/validation/validation.go). Pure: a source's bytes are read by the caller
//! (`load.rs`), which hands them in.
//!
//! A value is a [`Value`], whose `Debug` shows only its length and hash, so no `{:?}` of the
//! model, no log line and no error can print a Secret's content.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::daemonset::ObjectMeta;
use crate::diagnostic::{Severity, child, key};
use crate::k8s_names;
use crate::validate::{Finding, Target};

/// `MaxSecretSize`, which the API server also applies to a ConfigMap's data.
pub const MAX_SIZE: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ObjectKind {
    ConfigMap,
    Secret,
}

impl ObjectKind {
    /// How kubectl names the kind in `kind/name` (`configmap/agent`).
    pub fn lower(self) -> &'static str {
        match self {
            ObjectKind::ConfigMap => "configmap",
            ObjectKind::Secret => "secret",
        }
    }
}

/// One object among all the `-f` files: kinds have separate names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectKey {
    pub kind: ObjectKind,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.lower(), self.name)
    }
}

/// The bytes of one key. Never printed: `Debug` shows the length and a hash prefix.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Value(Vec<u8>);

impl Value {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Value(bytes.into())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text, for env (Kubernetes puts the bytes into the variable as they are).
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// sha256 of the bytes, hex.
    pub fn sha(&self) -> String {
        hex::encode(Sha256::digest(&self.0))
    }
}

impl Serialize for Value {
    /// As `Debug`: `apply -o json` and the plans it prints show no value.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{self:?}"))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<redacted: {} bytes, sha256 {}>",
            self.0.len(),
            &self.sha()[..12]
        )
    }
}

/// A ConfigMap or Secret as dsctl uses it: every key's bytes, whatever field gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigObject {
    pub kind: ObjectKind,
    pub name: String,
    /// A Secret's `type` (`Opaque` when unset); empty for a ConfigMap.
    pub secret_type: String,
    pub immutable: bool,
    pub data: BTreeMap<String, Value>,
    /// A ConfigMap's keys from `binaryData`: files only, as the kubelet never puts them in env.
    pub binary_keys: BTreeSet<String>,
}

impl ConfigObject {
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind,
            name: self.name.clone(),
        }
    }

    pub fn is_secret(&self) -> bool {
        self.kind == ObjectKind::Secret
    }

    /// The value env may take from `key` (a ConfigMap's `data`, a Secret's `data`).
    pub fn env_value(&self, key: &str) -> Option<&Value> {
        if self.binary_keys.contains(key) {
            return None;
        }
        self.data.get(key)
    }

    /// The content hash: changes when, and only when, a key, a value, the type or
    /// `immutable` changes. It is what the revision takes from the object.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!(
            "{}\0{}\0{}\0{}\0",
            self.key(),
            self.secret_type,
            self.immutable,
            self.data.len()
        ));
        for (k, v) in &self.data {
            let binary = self.binary_keys.contains(k);
            h.update(format!("{k}\0{binary}\0{}\0", v.sha()));
        }
        hex::encode(h.finalize())
    }

    /// Each key's value hash (what the hosts keep and `diff` compares; never the value).
    pub fn key_hashes(&self) -> BTreeMap<String, String> {
        self.data
            .iter()
            .map(|(k, v)| (k.clone(), v.sha()[..16].to_string()))
            .collect()
    }
}

/// A `kind = "ConfigMap"` document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    #[serde(default)]
    pub binary_data: BTreeMap<String, String>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

/// A `kind = "Secret"` document.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    #[serde(default)]
    pub string_data: BTreeMap<String, String>,
    #[serde(default, rename = "type")]
    pub secret_type: Option<String>,
    #[serde(default)]
    pub immutable: Option<bool>,
    #[serde(default)]
    pub dsctl: Option<SecretExtensions>,
}

impl fmt::Debug for SecretDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretDoc")
            .field("name", &self.metadata.name)
            .field("keys", &self.data.keys().chain(self.string_data.keys()))
            .finish_non_exhaustive()
    }
}

/// dsctl's extension of a Secret: values that need not live in the spec file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretExtensions {
    #[serde(default)]
    pub value_from: BTreeMap<String, ValueSource>,
}

/// Where a key's value comes from, read on the machine that runs dsctl when the spec loads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueSource {
    /// A local file (relative to the spec file), taken byte for byte.
    #[serde(default)]
    pub file: Option<String>,
    /// An environment variable of dsctl's process.
    #[serde(default)]
    pub env: Option<String>,
    /// A command (argv, no shell) whose stdout is the value, less one trailing newline.
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

/// The secret types and the keys the API server requires of each.
const TYPED_SECRETS: &[(&str, &[&str])] = &[
    ("kubernetes.io/dockercfg", &[".dockercfg"]),
    ("kubernetes.io/dockerconfigjson", &[".dockerconfigjson"]),
    ("kubernetes.io/ssh-auth", &["ssh-privatekey"]),
    ("kubernetes.io/tls", &["tls.crt", "tls.key"]),
];

fn meta_findings(api_version: &str, kind: &str, meta: &ObjectMeta, findings: &mut Vec<Finding>) {
    if api_version != "v1" {
        findings.push(Finding::error(
            "apiVersion",
            format!(
                "Unsupported value: {api_version:?}: supported values: \"v1\" (for kind {kind})"
            ),
        ));
    }
    if meta.name.is_empty() {
        findings.push(Finding::error(
            "metadata.name",
            "Required value: name is required",
        ));
    } else {
        for msg in k8s_names::dns1123_subdomain(&meta.name) {
            findings.push(Finding::error(
                "metadata.name",
                format!("Invalid value: {:?}: {msg}", meta.name),
            ));
        }
    }
}

fn key_findings(path: &str, k: &str, findings: &mut Vec<Finding>) {
    for msg in k8s_names::config_map_key(k) {
        let mut f = Finding::error(key(path, k), format!("Invalid value: {k:?}: {msg}"));
        f.target = Target::Key;
        findings.push(f);
    }
}

fn decode(path: &str, k: &str, text: &str, findings: &mut Vec<Finding>) -> Option<Vec<u8>> {
    // The API server reads []byte fields with Go's base64.StdEncoding (padding required);
    // whitespace a YAML/TOML author wraps long values with is not part of the data.
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            findings.push(Finding::error(
                key(path, k),
                format!("Invalid value: not base64: {e}"),
            ));
            None
        }
    }
}

fn size_finding(total: usize, findings: &mut Vec<Finding>) {
    if total > MAX_SIZE {
        findings.push(Finding::error(
            "data",
            format!("Too long: may not be more than {MAX_SIZE} bytes (the object holds {total})"),
        ));
    }
}

/// `ValidateConfigMap`, and the object it normalises to (`None` when invalid).
pub fn config_map(doc: &ConfigMapDoc) -> (Option<ConfigObject>, Vec<Finding>) {
    let mut findings = Vec::new();
    meta_findings(&doc.api_version, "ConfigMap", &doc.metadata, &mut findings);
    let mut data = BTreeMap::new();
    let mut binary_keys = BTreeSet::new();
    for (k, v) in &doc.data {
        key_findings("data", k, &mut findings);
        data.insert(k.clone(), Value::new(v.as_bytes()));
    }
    for (k, v) in &doc.binary_data {
        key_findings("binaryData", k, &mut findings);
        if doc.data.contains_key(k) {
            findings.push(Finding::error(
                key("binaryData", k),
                format!("Invalid value: {k:?}: duplicate of key present in data"),
            ));
        }
        if let Some(bytes) = decode("binaryData", k, v, &mut findings) {
            binary_keys.insert(k.clone());
            data.insert(k.clone(), Value::new(bytes));
        }
    }
    let total = doc
        .data
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum::<usize>()
        + doc
            .binary_data
            .keys()
            .filter_map(|k| data.get(k).map(|v| k.len() + v.len()))
            .sum::<usize>();
    size_finding(total, &mut findings);
    let object = ConfigObject {
        kind: ObjectKind::ConfigMap,
        name: doc.metadata.name.clone(),
        secret_type: String::new(),
        immutable: doc.immutable.unwrap_or(false),
        data,
        binary_keys,
    };
    finish(object, findings)
}

/// `ValidateSecret` (after the API server has merged `stringData` into `data`), and the object
/// it normalises to. `sourced` holds the bytes each `[dsctl.valueFrom]` key was read as (the
/// caller reports a source that could not be read); a sourced key overrides `data` and
/// `stringData` as `stringData` overrides `data`.
pub fn secret(
    doc: &SecretDoc,
    sourced: &BTreeMap<String, Value>,
) -> (Option<ConfigObject>, Vec<Finding>) {
    let mut findings = Vec::new();
    meta_findings(&doc.api_version, "Secret", &doc.metadata, &mut findings);
    let mut data = BTreeMap::new();
    for (k, v) in &doc.data {
        key_findings("data", k, &mut findings);
        if let Some(bytes) = decode("data", k, v, &mut findings) {
            data.insert(k.clone(), Value::new(bytes));
        }
    }
    for (k, v) in &doc.string_data {
        key_findings("stringData", k, &mut findings);
        data.insert(k.clone(), Value::new(v.as_bytes()));
    }
    let sources = doc.dsctl.as_ref().map(|d| &d.value_from);
    for (k, source) in sources.into_iter().flatten() {
        let path = "dsctl.valueFrom";
        key_findings(path, k, &mut findings);
        let given = usize::from(source.file.is_some())
            + usize::from(source.env.is_some())
            + usize::from(source.command.is_some());
        if given != 1 {
            findings.push(Finding::error(
                key(path, k),
                "Invalid value: must specify exactly one of: `file`, `env` or `command`",
            ));
        }
        if source.command.as_ref().is_some_and(Vec::is_empty) {
            findings.push(Finding::error(
                child(&key(path, k), "command"),
                "Required value: the command's argv (its program first)",
            ));
        }
        if let Some(v) = sourced.get(k) {
            data.insert(k.clone(), v.clone());
        }
    }
    let secret_type = doc
        .secret_type
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "Opaque".to_string());
    match secret_type.as_str() {
        "kubernetes.io/service-account-token" => findings.push(Finding::error(
            "type",
            "Unsupported value: \"kubernetes.io/service-account-token\": its token is issued by a Kubernetes API server, and hosts have none",
        )),
        "kubernetes.io/basic-auth" => {
            if !data.contains_key("username") && !data.contains_key("password") {
                findings.push(Finding::error(
                    "type",
                    "Required value: data[username]: either username or password is required",
                ));
            }
        }
        t => {
            if let Some((_, keys)) = TYPED_SECRETS.iter().find(|(name, _)| *name == t) {
                for k in *keys {
                    match data.get(*k) {
                        // At `type`: the key it asks for is written nowhere.
                        None => findings.push(Finding::error(
                            "type",
                            format!("Required value: {}: a secret of type {t:?} needs the key {k:?}", key("data", k)),
                        )),
                        Some(v) if t.ends_with("dockercfg") || t.ends_with("dockerconfigjson") => {
                            if serde_json::from_slice::<serde_json::Value>(v.bytes()).is_err() {
                                findings.push(Finding::error(
                                    key("data", k),
                                    "Invalid value: <secret contents redacted>: must be valid JSON",
                                ));
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    let total = data.iter().map(|(k, v)| k.len() + v.len()).sum();
    size_finding(total, &mut findings);
    let object = ConfigObject {
        kind: ObjectKind::Secret,
        name: doc.metadata.name.clone(),
        secret_type,
        immutable: doc.immutable.unwrap_or(false),
        data,
        binary_keys: BTreeSet::new(),
    };
    finish(object, findings)
}

fn finish(object: ConfigObject, findings: Vec<Finding>) -> (Option<ConfigObject>, Vec<Finding>) {
    let ok = !findings.iter().any(|f| f.severity == Severity::Error);
    (ok.then_some(object), findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(extra: &str) -> ConfigMapDoc {
        let doc = format!(
            "apiVersion = \"v1\"\nkind = \"ConfigMap\"\nmetadata = {{ name = \"cfg\" }}\n{extra}"
        );
        toml::from_str(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"))
    }

    fn sec(extra: &str) -> SecretDoc {
        let doc = format!(
            "apiVersion = \"v1\"\nkind = \"Secret\"\nmetadata = {{ name = \"s\" }}\n{extra}"
        );
        toml::from_str(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"))
    }

    fn fields(findings: &[Finding]) -> Vec<String> {
        findings
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect()
    }

    /// One row per rule of ValidateConfigMap: the document's tail, and the field and a part of
    /// the message of each finding (none for a valid object).
    #[test]
    fn config_map_rules() {
        let big = "x".repeat(MAX_SIZE);
        let table: Vec<(String, Vec<(&str, &str)>)> = vec![
            (
                "data = { \"app.conf\" = \"a=1\", KEY_NAME = \"\", key-name = \"v\" }".into(),
                vec![],
            ),
            ("binaryData = { logo = \"AAEC\" }".into(), vec![]),
            (
                "data = { \"a b\" = \"1\" }".into(),
                vec![(
                    "data[a b]",
                    "a valid config key must consist of alphanumeric characters",
                )],
            ),
            (
                "data = { \".\" = \"1\" }".into(),
                vec![("data[.]", "must not be '.'")],
            ),
            (
                "data = { \"..x\" = \"1\" }".into(),
                vec![("data[..x]", "must not start with '..'")],
            ),
            (
                format!("data = {{ \"{}\" = \"1\" }}", "k".repeat(254)),
                vec![("data[", "must be no more than 253 characters")],
            ),
            (
                "data = { a = \"1\" }\nbinaryData = { a = \"AA==\" }".into(),
                vec![("binaryData[a]", "duplicate of key present in data")],
            ),
            (
                "binaryData = { a = \"not base64!\" }".into(),
                vec![("binaryData[a]", "not base64")],
            ),
            (
                format!("data = {{ a = \"{big}\" }}"),
                vec![("data", "Too long: may not be more than 1048576 bytes")],
            ),
        ];
        for (tail, want) in table {
            let (object, findings) = config_map(&cm(&tail));
            let got = fields(&findings);
            assert_eq!(got.len(), want.len(), "{tail:.80}: {got:?}");
            for ((field, msg), got) in want.iter().zip(&got) {
                assert!(
                    got.starts_with(field) && got.contains(msg),
                    "{tail:.80}: {got}"
                );
            }
            assert_eq!(object.is_some(), want.is_empty());
        }
        let bad_name: ConfigMapDoc = toml::from_str(
            "apiVersion = \"v2\"\nkind = \"ConfigMap\"\nmetadata = { name = \"Bad_Name\" }\n",
        )
        .unwrap();
        let got = fields(&config_map(&bad_name).1);
        assert!(
            got[0].starts_with("apiVersion: Unsupported value: \"v2\""),
            "{got:?}"
        );
        assert!(got[1].contains("lowercase RFC 1123 subdomain"), "{got:?}");
    }

    #[test]
    fn secret_rules() {
        let table: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("data = { token = \"c2VjcmV0\" }", vec![]),
            ("stringData = { token = \"secret\" }", vec![]),
            (
                "data = { token = \"%%\" }",
                vec![("data[token]", "not base64")],
            ),
            (
                "type = \"kubernetes.io/tls\"\nstringData = { \"tls.crt\" = \"c\" }",
                vec![(
                    "type",
                    "data[tls.key]: a secret of type \"kubernetes.io/tls\" needs the key \"tls.key\"",
                )],
            ),
            (
                "type = \"kubernetes.io/tls\"\nstringData = { \"tls.crt\" = \"c\", \"tls.key\" = \"k\" }",
                vec![],
            ),
            (
                "type = \"kubernetes.io/ssh-auth\"",
                vec![("type", "needs the key \"ssh-privatekey\"")],
            ),
            (
                "type = \"kubernetes.io/basic-auth\"",
                vec![(
                    "type",
                    "data[username]: either username or password is required",
                )],
            ),
            (
                "type = \"kubernetes.io/basic-auth\"\nstringData = { password = \"p\" }",
                vec![],
            ),
            (
                "type = \"kubernetes.io/dockerconfigjson\"\nstringData = { \".dockerconfigjson\" = \"{nope\" }",
                vec![("data[.dockerconfigjson]", "must be valid JSON")],
            ),
            (
                "type = \"kubernetes.io/dockerconfigjson\"\nstringData = { \".dockerconfigjson\" = \"{}\" }",
                vec![],
            ),
            (
                "type = \"kubernetes.io/service-account-token\"",
                vec![("type", "issued by a Kubernetes API server")],
            ),
            ("type = \"example.com/custom\"", vec![]),
            (
                "[dsctl.valueFrom]\nkey = { env = \"A\", file = \"f\" }",
                vec![("dsctl.valueFrom[key]", "exactly one of")],
            ),
            (
                "[dsctl.valueFrom]\nkey = { command = [] }",
                vec![("dsctl.valueFrom[key].command", "Required value")],
            ),
        ];
        for (tail, want) in table {
            let (object, findings) = secret(&sec(tail), &BTreeMap::new());
            let got = fields(&findings);
            assert_eq!(got.len(), want.len(), "{tail}: {got:?}");
            for ((field, msg), got) in want.iter().zip(&got) {
                assert!(got.starts_with(field) && got.contains(msg), "{tail}: {got}");
            }
            assert_eq!(object.is_some(), want.is_empty(), "{tail}");
        }
    }

    /// stringData overrides data, and a source overrides both; the type defaults to Opaque.
    #[test]
    fn secret_normalises_every_field_into_data() {
        let doc = sec(
            "data = { a = \"ZnJvbS1kYXRh\", b = \"Yg==\" }\nstringData = { a = \"from-string\", c = \"c\" }\n[dsctl.valueFrom]\nb = { env = \"B\" }\n",
        );
        let sourced = BTreeMap::from([("b".to_string(), Value::new("from-env"))]);
        let (object, findings) = secret(&doc, &sourced);
        assert!(findings.is_empty(), "{findings:?}");
        let object = object.unwrap();
        assert_eq!(object.secret_type, "Opaque");
        let text: Vec<(&str, &str)> = object
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.text().unwrap()))
            .collect();
        assert_eq!(text, [("a", "from-string"), ("b", "from-env"), ("c", "c")]);
    }

    #[test]
    fn values_never_show_in_debug_and_hashes_follow_content() {
        let (object, _) = secret(
            &sec("stringData = { token = \"planted-value-123\" }"),
            &BTreeMap::new(),
        );
        let object = object.unwrap();
        let shown = format!(
            "{object:?} {:?}",
            sec("stringData = { token = \"planted-value-123\" }")
        );
        assert!(!shown.contains("planted-value-123"), "{shown}");
        assert!(shown.contains("redacted: 17 bytes"), "{shown}");
        let (other, _) = secret(
            &sec("stringData = { token = \"planted-value-124\" }"),
            &BTreeMap::new(),
        );
        let other = other.unwrap();
        assert_ne!(object.content_hash(), other.content_hash());
        assert_ne!(object.key_hashes(), other.key_hashes());
        let (same, _) = secret(
            &sec("data = { token = \"cGxhbnRlZC12YWx1ZS0xMjM=\" }"),
            &BTreeMap::new(),
        );
        assert_eq!(object.content_hash(), same.unwrap().content_hash());
        // A ConfigMap's binaryData key is not an env value.
        let (cm, _) = config_map(&cm("data = { a = \"1\" }\nbinaryData = { b = \"AA==\" }"));
        let cm = cm.unwrap();
        assert!(cm.env_value("a").is_some() && cm.env_value("b").is_none());
    }
}
