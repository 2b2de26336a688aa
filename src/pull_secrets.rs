//! imagePullSecrets → one podman auth file per DaemonSet (pure).
//!
//! A pod's imagePullSecrets name Secrets of type `kubernetes.io/dockerconfigjson` (key
//! `.dockerconfigjson`, `{"auths": {REGISTRY: ENTRY}}`) or the legacy
//! `kubernetes.io/dockercfg` (key `.dockercfg`, `{REGISTRY: ENTRY}`). podman's auth file
//! (containers-auth.json(5)) reads only `auth` (base64 `user:password`) and `identitytoken`
//! from an entry, so `username`/`password` entries, which Kubernetes accepts, are folded into
//! `auth` here. Several Secrets merge in the order listed; the first one that names a registry
//! wins it, as the kubelet tries them in order.
//!
//! Credentials never reach an error message: errors name the Secret, the key and a position,
//! and [`AuthFile`]'s `Debug` prints no content.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value};

use crate::config_object::{ConfigObject, ObjectKind};
use crate::daemonset::DaemonSet;
use crate::diagnostic::{child, index};
use crate::validate::Finding;

/// The Secret types an imagePullSecrets reference may name.
pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
pub const DOCKER_CFG: &str = "kubernetes.io/dockercfg";

/// What this module needs of a Secret: its type and its decoded values.
pub trait SecretData {
    fn secret_type(&self) -> &str;
    fn value(&self, key: &str) -> Option<&[u8]>;
}

impl SecretData for ConfigObject {
    fn secret_type(&self) -> &str {
        &self.secret_type
    }
    fn value(&self, key: &str) -> Option<&[u8]> {
        self.data.get(key).map(|v| v.bytes())
    }
}

impl SecretData for (&str, BTreeMap<String, Vec<u8>>) {
    fn secret_type(&self) -> &str {
        self.0
    }
    fn value(&self, key: &str) -> Option<&[u8]> {
        self.1.get(key).map(Vec::as_slice)
    }
}

/// A podman auth file's content. Its `Debug` is redacted: it holds credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthFile(String);

impl AuthFile {
    /// The JSON text, for the host script only.
    pub fn json(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AuthFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthFile(<redacted>)")
    }
}

/// Why an imagePullSecrets reference cannot be used. `index` is the reference's position in
/// the pod spec's list, so the caller can point at its file:line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullSecretError {
    #[error("the reference has no name")]
    NoName { index: usize },
    #[error("no Secret named {name:?} is among the loaded files")]
    Missing { index: usize, name: String },
    #[error(
        "Secret {name:?} has type {type_:?}; a pull secret has type \
         {DOCKER_CONFIG_JSON} (or {DOCKER_CFG})"
    )]
    WrongType {
        index: usize,
        name: String,
        type_: String,
    },
    #[error("Secret {name:?} has no key {key:?}")]
    MissingKey {
        index: usize,
        name: String,
        key: &'static str,
    },
    #[error(
        "Secret {name:?} key {key:?} is not valid JSON \
         (line {line}, column {column})"
    )]
    NotJson {
        index: usize,
        name: String,
        key: &'static str,
        line: usize,
        column: usize,
    },
    #[error("Secret {name:?} key {key:?}: {reason}")]
    Shape {
        index: usize,
        name: String,
        key: &'static str,
        reason: String,
    },
}

impl PullSecretError {
    /// The position of the reference in imagePullSecrets.
    pub fn index(&self) -> usize {
        match self {
            Self::NoName { index }
            | Self::Missing { index, .. }
            | Self::WrongType { index, .. }
            | Self::MissingKey { index, .. }
            | Self::NotJson { index, .. }
            | Self::Shape { index, .. } => *index,
        }
    }
}

/// The auth file for a pod's imagePullSecrets (`names`, in order), or None when there are
/// none. `lookup` finds a loaded Secret by name.
pub fn auth_file<'a, S: SecretData + ?Sized + 'a>(
    names: &[&str],
    lookup: impl Fn(&str) -> Option<&'a S>,
) -> Result<Option<AuthFile>, Vec<PullSecretError>> {
    let mut auths = Map::new();
    let mut errors = Vec::new();
    for (index, name) in names.iter().enumerate() {
        match entries(index, name, &lookup) {
            Ok(found) => {
                for (registry, entry) in found {
                    auths.entry(registry).or_insert(entry);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if names.is_empty() {
        return Ok(None);
    }
    let mut file = Map::new();
    file.insert("auths".into(), Value::Object(auths));
    Ok(Some(AuthFile(Value::Object(file).to_string())))
}

/// A DaemonSet's auth file, from the Secrets the loader bound into it; None without
/// imagePullSecrets.
pub fn for_daemonset(ds: &DaemonSet) -> Result<Option<AuthFile>, Vec<PullSecretError>> {
    let names: Vec<&str> = ds
        .pod_spec()
        .image_pull_secrets
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    auth_file(&names, |name| ds.objects.get(ObjectKind::Secret, name))
}

/// The help for a pull secret that no `-f` file holds (a pull secret cannot be optional).
pub fn missing_help(name: &str) -> String {
    format!(
        "add a Secret document named {name:?} of type {DOCKER_CONFIG_JSON} to the files given with -f"
    )
}

/// Whether `field` is the name of an imagePullSecrets reference.
pub fn is_reference_field(field: &str) -> bool {
    field.starts_with("spec.template.spec.imagePullSecrets[")
}

/// The field of the `index`th imagePullSecrets reference's name.
pub fn reference_field(index_: usize) -> String {
    child(
        &index("spec.template.spec.imagePullSecrets", index_),
        "name",
    )
}

/// What `validate` reports of a loaded DaemonSet's imagePullSecrets. A missing Secret is left
/// to the reference check (config_refs.rs), which reports every kind of reference alike.
pub fn findings(ds: &DaemonSet) -> Vec<Finding> {
    if !ds.objects.has_data() {
        return Vec::new();
    }
    match for_daemonset(ds) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .filter(|e| !matches!(e, PullSecretError::Missing { .. }))
            .map(|e| Finding::error(reference_field(e.index()), e.to_string()))
            .collect(),
    }
}

/// One Secret's registries, each as a podman auth entry.
fn entries<'a, S: SecretData + ?Sized + 'a>(
    index: usize,
    name: &str,
    lookup: &impl Fn(&str) -> Option<&'a S>,
) -> Result<Vec<(String, Value)>, PullSecretError> {
    if name.is_empty() {
        return Err(PullSecretError::NoName { index });
    }
    let secret = lookup(name).ok_or_else(|| PullSecretError::Missing {
        index,
        name: name.into(),
    })?;
    let (key, wrapped) = match secret.secret_type() {
        DOCKER_CONFIG_JSON => (".dockerconfigjson", true),
        DOCKER_CFG => (".dockercfg", false),
        other => {
            return Err(PullSecretError::WrongType {
                index,
                name: name.into(),
                type_: other.into(),
            });
        }
    };
    let shape = |reason: &str| PullSecretError::Shape {
        index,
        name: name.into(),
        key,
        reason: reason.into(),
    };
    let bytes = secret
        .value(key)
        .ok_or_else(|| PullSecretError::MissingKey {
            index,
            name: name.into(),
            key,
        })?;
    // serde_json's messages may quote the input ("invalid type: string \"…\""): only the
    // position is kept.
    let value: Value = serde_json::from_slice(bytes).map_err(|e| PullSecretError::NotJson {
        index,
        name: name.into(),
        key,
        line: e.line(),
        column: e.column(),
    })?;
    let registries = if wrapped {
        value
            .get("auths")
            .ok_or_else(|| shape("it has no \"auths\" object"))?
    } else {
        &value
    };
    let Value::Object(registries) = registries else {
        return Err(shape("the registries are not a JSON object"));
    };
    let mut out = Vec::new();
    for (registry, entry) in registries {
        let entry =
            podman_entry(entry).map_err(|why| shape(&format!("registry {registry:?}: {why}")))?;
        out.push((registry_key(registry), entry));
    }
    Ok(out)
}

/// A Kubernetes docker config entry as podman reads it: `auth`, else `username`+`password`
/// folded into `auth`; `identitytoken` kept.
fn podman_entry(entry: &Value) -> Result<Value, &'static str> {
    let Value::Object(entry) = entry else {
        return Err("the entry is not a JSON object");
    };
    let text = |k: &str| -> Result<Option<&str>, &'static str> {
        match entry.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err("a field that must be a string is not one"),
        }
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let auth = match (text("auth")?, text("username")?, text("password")?) {
        (Some(auth), _, _) => {
            let decoded = b64.decode(auth).map_err(|_| "\"auth\" is not base64")?;
            if !decoded.contains(&b':') {
                return Err("\"auth\" does not decode to USER:PASSWORD");
            }
            Some(auth.to_string())
        }
        (None, Some(user), Some(password)) => Some(b64.encode(format!("{user}:{password}"))),
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err("it has only one of \"username\" and \"password\"");
        }
        (None, None, None) => None,
    };
    let token = text("identitytoken")?;
    let mut out = Map::new();
    match (auth, token) {
        (None, None) => {
            return Err("it has no \"auth\", \"username\"/\"password\" or \"identitytoken\"");
        }
        (auth, token) => {
            if let Some(auth) = auth {
                out.insert("auth".into(), Value::String(auth));
            }
            if let Some(token) = token {
                out.insert("identitytoken".into(), Value::String(token.into()));
            }
        }
    }
    Ok(Value::Object(out))
}

/// The registry as podman's auth file keys it: the legacy URL form (`https://host/v1/`) is
/// reduced to its host; a `host[:port][/namespace]` key is kept as it is.
fn registry_key(key: &str) -> String {
    match key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
    {
        Some(rest) => rest.split('/').next().unwrap_or(rest).to_string(),
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER_PASS_B64: &str = "dTpwQHNz"; // "u:p@ss"

    fn data(key: &str, value: &str) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([(key.to_string(), value.as_bytes().to_vec())])
    }

    fn run(
        names: &[&str],
        secrets: &BTreeMap<&str, (&str, BTreeMap<String, Vec<u8>>)>,
    ) -> Result<Option<AuthFile>, Vec<PullSecretError>> {
        auth_file(names, |n| secrets.get(n))
    }

    fn parsed(file: &AuthFile) -> Value {
        serde_json::from_str(file.json()).unwrap()
    }

    #[test]
    fn no_references_no_file() {
        assert_eq!(run(&[], &BTreeMap::new()), Ok(None));
    }

    #[test]
    fn entries_become_podman_auth_entries() {
        let json = |entry: &str| format!(r#"{{"auths":{{"reg.example:5000":{entry}}}}}"#);
        for (entry, want) in [
            (
                format!(r#"{{"auth":"{USER_PASS_B64}"}}"#),
                serde_json::json!({"auth": USER_PASS_B64}),
            ),
            (
                r#"{"username":"u","password":"p@ss","email":"x@y"}"#.to_string(),
                serde_json::json!({"auth": USER_PASS_B64}),
            ),
            (
                format!(r#"{{"auth":"{USER_PASS_B64}","username":"other","password":"x"}}"#),
                serde_json::json!({"auth": USER_PASS_B64}),
            ),
            (
                r#"{"identitytoken":"tok"}"#.to_string(),
                serde_json::json!({"identitytoken": "tok"}),
            ),
        ] {
            let secrets = BTreeMap::from([(
                "s",
                (DOCKER_CONFIG_JSON, data(".dockerconfigjson", &json(&entry))),
            )]);
            let file = run(&["s"], &secrets).unwrap().unwrap();
            assert_eq!(
                parsed(&file),
                serde_json::json!({"auths": {"reg.example:5000": want}}),
                "{entry}"
            );
        }
    }

    #[test]
    fn dockercfg_and_legacy_url_keys() {
        let cfg = format!(r#"{{"https://index.example/v1/":{{"auth":"{USER_PASS_B64}"}}}}"#);
        let secrets = BTreeMap::from([("old", (DOCKER_CFG, data(".dockercfg", &cfg)))]);
        let file = run(&["old"], &secrets).unwrap().unwrap();
        assert_eq!(
            parsed(&file),
            serde_json::json!({"auths": {"index.example": {"auth": USER_PASS_B64}}})
        );
        for (key, want) in [
            ("http://r:5000", "r:5000"),
            ("r.example/team", "r.example/team"),
            ("10.0.0.1:8620", "10.0.0.1:8620"),
        ] {
            assert_eq!(registry_key(key), want);
        }
    }

    #[test]
    fn the_first_secret_that_names_a_registry_wins() {
        let a = r#"{"auths":{"r":{"auth":"YTph"},"only-a":{"auth":"YTph"}}}"#; // a:a
        let b = r#"{"auths":{"r":{"auth":"Yjpi"},"only-b":{"auth":"Yjpi"}}}"#; // b:b
        let secrets = BTreeMap::from([
            ("a", (DOCKER_CONFIG_JSON, data(".dockerconfigjson", a))),
            ("b", (DOCKER_CONFIG_JSON, data(".dockerconfigjson", b))),
        ]);
        let file = run(&["a", "b"], &secrets).unwrap().unwrap();
        assert_eq!(
            parsed(&file)["auths"],
            serde_json::json!({"r": {"auth": "YTph"}, "only-a": {"auth": "YTph"}, "only-b": {"auth": "Yjpi"}})
        );
    }

    /// Every refusal, and none of them repeats a credential.
    #[test]
    fn refusals_name_the_reference_and_never_the_credential() {
        const PLANTED: &str = "pl4nted-Secret";
        let with = |entry: &str| format!(r#"{{"auths":{{"r":{entry}}}}}"#);
        type Case<'a> = (&'a str, (&'a str, BTreeMap<String, Vec<u8>>), &'a str);
        let cases: Vec<Case> = vec![
            (
                "opaque",
                ("Opaque", data("password", PLANTED)),
                "has type \"Opaque\"",
            ),
            (
                "nokey",
                (DOCKER_CONFIG_JSON, data(".dockercfg", PLANTED)),
                "has no key \".dockerconfigjson\"",
            ),
            (
                "notjson",
                (
                    DOCKER_CONFIG_JSON,
                    data(".dockerconfigjson", &format!("{{\"auths\": {PLANTED}")),
                ),
                "is not valid JSON (line 1, column 11)",
            ),
            (
                "typed",
                (
                    DOCKER_CONFIG_JSON,
                    data(
                        ".dockerconfigjson",
                        &format!("{{\"auths\": \"{PLANTED}\"}}"),
                    ),
                ),
                "the registries are not a JSON object",
            ),
            (
                "noauths",
                (
                    DOCKER_CONFIG_JSON,
                    data(".dockerconfigjson", &format!("{{\"{PLANTED}\": 1}}")),
                ),
                "it has no \"auths\" object",
            ),
            (
                "half",
                (
                    DOCKER_CONFIG_JSON,
                    data(
                        ".dockerconfigjson",
                        &with(&format!("{{\"password\":\"{PLANTED}\"}}")),
                    ),
                ),
                "only one of \"username\" and \"password\"",
            ),
            (
                "badb64",
                (
                    DOCKER_CONFIG_JSON,
                    data(
                        ".dockerconfigjson",
                        &with(&format!("{{\"auth\":\"{PLANTED}!\"}}")),
                    ),
                ),
                "\"auth\" is not base64",
            ),
            (
                "nocolon",
                (
                    DOCKER_CONFIG_JSON,
                    data(".dockerconfigjson", &with("{\"auth\":\"cGw0bnRlZA==\"}")),
                ),
                "does not decode to USER:PASSWORD",
            ),
            (
                "empty",
                (
                    DOCKER_CONFIG_JSON,
                    data(".dockerconfigjson", &with("{\"email\":\"x\"}")),
                ),
                "it has no \"auth\"",
            ),
            (
                "number",
                (
                    DOCKER_CONFIG_JSON,
                    data(".dockerconfigjson", &with("{\"auth\":12}")),
                ),
                "must be a string",
            ),
        ];
        for (name, secret, want) in cases {
            let secrets = BTreeMap::from([(name, secret)]);
            let errors = run(&["ok-missing", name], &secrets).unwrap_err();
            assert_eq!(errors.len(), 2, "{name}: {errors:?}");
            assert!(
                matches!(&errors[0], PullSecretError::Missing { index: 0, name } if name == "ok-missing")
            );
            let message = errors[1].to_string();
            assert_eq!(errors[1].index(), 1);
            assert!(
                message.starts_with(&format!("Secret {name:?} ")),
                "{message}"
            );
            assert!(message.contains(want), "{name}: {message}");
            assert!(
                !message.contains(PLANTED) && !message.contains("cGw0bnRlZA"),
                "{message}"
            );
        }
        assert_eq!(
            run(&[""], &BTreeMap::new()).unwrap_err()[0].to_string(),
            "the reference has no name"
        );
    }

    #[test]
    fn debug_is_redacted() {
        let secrets = BTreeMap::from([(
            "s",
            (
                DOCKER_CONFIG_JSON,
                data(
                    ".dockerconfigjson",
                    &format!(r#"{{"auths":{{"r":{{"auth":"{USER_PASS_B64}"}}}}}}"#),
                ),
            ),
        )]);
        let file = run(&["s"], &secrets).unwrap();
        assert_eq!(format!("{file:?}"), "Some(AuthFile(<redacted>))");
    }
}
