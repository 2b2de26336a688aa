//! How a pod uses ConfigMaps and Secrets (pure): the consumer fields of the model
//! (`configMap`/`secret`/`projected` volumes, `configMapKeyRef`/`secretKeyRef`, `envFrom`),
//! their checks as the API server makes them, the references a DaemonSet makes (checked
//! against the loaded objects by `load.rs`), and what each resolves to for a host: the files
//! of a volume (the kubelet's `MakePayload`) and a container's env, split into plain values
//! (unit text) and Secret values (only in a 0600 file the host script writes).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::config_object::{ConfigObject, ObjectKey, ObjectKind, Value};
use crate::daemonset::{
    Container, DaemonSet, DownwardApiVolumeFile, DownwardApiVolumeSource, Volume,
};
use crate::diagnostic::{child, index};
use crate::k8s_names;
use crate::validate::Finding;

/// `defaultMode` of configMap and projected volumes (the API server's default).
pub const CONFIG_MAP_MODE: u32 = 0o644;
/// The mode of a file from a Secret unless the spec asks for another: only root on the host
/// (and the container's root) reads it.
pub const SECRET_MODE: u32 = 0o600;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyToPath {
    pub key: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapVolumeSource {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretVolumeSource {
    #[serde(default)]
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectedVolumeSource {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<VolumeProjection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeProjection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ObjectProjection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectProjection>,
    #[serde(
        default,
        rename = "downwardAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub downward_api: Option<DownwardApiProjection>,
    /// Refused: the token is issued by an API server.
    #[serde(default, skip_serializing)]
    pub service_account_token: Option<toml::Value>,
    /// Refused: the bundles are cluster objects.
    #[serde(default, skip_serializing)]
    pub cluster_trust_bundle: Option<toml::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectProjection {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownwardApiProjection {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<DownwardApiVolumeFile>,
}

/// `configMapKeyRef` / `secretKeyRef`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySelector {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvFromSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ObjectRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectRef {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// What the hosts keep of one used object: its content hash, each key's hash and whether it
/// is immutable. Never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectSummary {
    pub hash: String,
    #[serde(default)]
    pub immutable: bool,
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
}

/// The objects a DaemonSet's pod template uses, bound by the loader. Serialized (into the
/// spec.json hosts keep) as summaries only; a spec read back holds the summaries alone.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UsedObjects {
    pub objects: BTreeMap<ObjectKey, ConfigObject>,
    /// Summaries read back from a host's record (no data).
    pub recorded: BTreeMap<String, ObjectSummary>,
}

impl fmt::Debug for UsedObjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.summaries()).finish()
    }
}

impl UsedObjects {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.recorded.is_empty()
    }

    /// Whether the data is here (loaded from files), not only the hashes (read from a host).
    pub fn has_data(&self) -> bool {
        self.recorded.is_empty()
    }

    pub fn get(&self, kind: ObjectKind, name: &str) -> Option<&ConfigObject> {
        self.objects.get(&ObjectKey {
            kind,
            name: name.to_string(),
        })
    }

    /// `kind/name` → summary, from the data or as recorded.
    pub fn summaries(&self) -> BTreeMap<String, ObjectSummary> {
        if !self.recorded.is_empty() {
            return self.recorded.clone();
        }
        self.objects
            .values()
            .map(|o| {
                (
                    o.key().to_string(),
                    ObjectSummary {
                        hash: o.content_hash(),
                        immutable: o.immutable,
                        keys: o.key_hashes(),
                    },
                )
            })
            .collect()
    }
}

impl Serialize for UsedObjects {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let summaries = self.summaries();
        let mut map = s.serialize_map(Some(summaries.len()))?;
        for (k, v) in &summaries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for UsedObjects {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(UsedObjects {
            objects: BTreeMap::new(),
            recorded: BTreeMap::deserialize(d)?,
        })
    }
}

/// One use of an object by the pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: ObjectKind,
    pub name: String,
    /// The key used (`None`: the whole object).
    pub key: Option<String>,
    pub optional: bool,
    /// An env reference: only `data` keys count (not a ConfigMap's binaryData).
    pub env: bool,
    /// The field path of the name (or of the key, when `key` is set).
    pub field: String,
}

fn containers(ds: &DaemonSet) -> impl Iterator<Item = (String, &Container)> {
    let pod = ds.pod_spec();
    let base = "spec.template.spec";
    pod.containers
        .iter()
        .enumerate()
        .map(move |(i, c)| (index(&format!("{base}.containers"), i), c))
        .chain(
            pod.init_containers
                .iter()
                .enumerate()
                .map(move |(i, c)| (index(&format!("{base}.initContainers"), i), c)),
        )
}

/// Every object reference of the pod template, with the field that makes it.
pub fn references(ds: &DaemonSet) -> Vec<Reference> {
    let mut refs = Vec::new();
    let mut object = |kind,
                      name: &str,
                      items: &[KeyToPath],
                      optional: Option<bool>,
                      at: &str,
                      name_field: &str| {
        let optional = optional.unwrap_or(false);
        refs.push(Reference {
            kind,
            name: name.to_string(),
            key: None,
            optional,
            env: false,
            field: child(at, name_field),
        });
        for (k, item) in items.iter().enumerate() {
            refs.push(Reference {
                kind,
                name: name.to_string(),
                key: Some(item.key.clone()),
                optional,
                env: false,
                field: child(&index(&child(at, "items"), k), "key"),
            });
        }
    };
    for (i, vol) in ds.pod_spec().volumes.iter().enumerate() {
        let at = index("spec.template.spec.volumes", i);
        if let Some(cm) = &vol.config_map {
            object(
                ObjectKind::ConfigMap,
                &cm.name,
                &cm.items,
                cm.optional,
                &child(&at, "configMap"),
                "name",
            );
        }
        if let Some(s) = &vol.secret {
            object(
                ObjectKind::Secret,
                &s.secret_name,
                &s.items,
                s.optional,
                &child(&at, "secret"),
                "secretName",
            );
        }
        for (j, source) in vol
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().enumerate())
        {
            let at = index(&child(&child(&at, "projected"), "sources"), j);
            if let Some(cm) = &source.config_map {
                object(
                    ObjectKind::ConfigMap,
                    &cm.name,
                    &cm.items,
                    cm.optional,
                    &child(&at, "configMap"),
                    "name",
                );
            }
            if let Some(s) = &source.secret {
                object(
                    ObjectKind::Secret,
                    &s.name,
                    &s.items,
                    s.optional,
                    &child(&at, "secret"),
                    "name",
                );
            }
        }
    }
    // imagePullSecrets (pull_secrets.rs checks their type and content).
    for (i, r) in ds.pod_spec().image_pull_secrets.iter().enumerate() {
        refs.push(Reference {
            kind: ObjectKind::Secret,
            name: r.name.clone(),
            key: None,
            optional: false,
            env: false,
            field: crate::pull_secrets::reference_field(i),
        });
    }
    for (at, c) in containers(ds) {
        for (j, from) in c.env_from.iter().enumerate() {
            let at = index(&child(&at, "envFrom"), j);
            for (kind, r, name) in [
                (ObjectKind::ConfigMap, &from.config_map_ref, "configMapRef"),
                (ObjectKind::Secret, &from.secret_ref, "secretRef"),
            ] {
                if let Some(r) = r {
                    refs.push(Reference {
                        kind,
                        name: r.name.clone(),
                        key: None,
                        optional: r.optional.unwrap_or(false),
                        env: true,
                        field: child(&child(&at, name), "name"),
                    });
                }
            }
        }
        for (j, var) in c.env.iter().enumerate() {
            let Some(from) = &var.value_from else {
                continue;
            };
            let at = child(&index(&child(&at, "env"), j), "valueFrom");
            for (kind, sel, name) in [
                (
                    ObjectKind::ConfigMap,
                    &from.config_map_key_ref,
                    "configMapKeyRef",
                ),
                (ObjectKind::Secret, &from.secret_key_ref, "secretKeyRef"),
            ] {
                if let Some(sel) = sel {
                    let at = child(&at, name);
                    let optional = sel.optional.unwrap_or(false);
                    refs.push(Reference {
                        kind,
                        name: sel.name.clone(),
                        key: None,
                        optional,
                        env: true,
                        field: child(&at, "name"),
                    });
                    refs.push(Reference {
                        kind,
                        name: sel.name.clone(),
                        key: Some(sel.key.clone()),
                        optional,
                        env: true,
                        field: child(&at, "key"),
                    });
                }
            }
        }
    }
    refs
}

/// A reference that the loaded objects do not satisfy, as the kubelet would fail the pod
/// (an optional one is skipped, as the kubelet skips it).
pub fn check_reference(
    reference: &Reference,
    objects: &BTreeMap<ObjectKey, ConfigObject>,
) -> Option<Finding> {
    if reference.optional || reference.name.is_empty() {
        return None;
    }
    let wanted = ObjectKey {
        kind: reference.kind,
        name: reference.name.clone(),
    };
    let kind = reference.kind.lower();
    let Some(object) = objects.get(&wanted) else {
        return match reference.key {
            Some(_) => None,
            None => Some(
                Finding::error(
                    &reference.field,
                    format!("Not found: {kind} {:?} is in none of the -f files", reference.name),
                )
                .with_help(format!(
                    "add a {:?} document named {:?} to the files given with -f, or set optional = true",
                    reference.kind, reference.name
                )),
            ),
        };
    };
    let key = reference.key.as_deref()?;
    let present = if reference.env {
        object.env_value(key).is_some()
    } else {
        object.data.contains_key(key)
    };
    if present {
        return None;
    }
    let keys: Vec<&str> = object
        .data
        .keys()
        .filter(|k| !reference.env || object.env_value(k).is_some())
        .map(String::as_str)
        .collect();
    let binary = reference.env && object.binary_keys.contains(key);
    Some(Finding::error(
        &reference.field,
        if binary {
            format!("Not found: key {key:?} of {wanted} is binaryData, which env cannot take")
        } else {
            format!(
                "Not found: {wanted} has no key {key:?} (its keys: {})",
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(", ")
                }
            )
        },
    ))
}

// -------------------------------------------------------------------------------------------
// The API server's checks of the consumer fields (ValidatePodSpec), on the DaemonSet alone.
// -------------------------------------------------------------------------------------------

const MODE: &str = "must be a number between 0 and 0777 (octal), both inclusive";

fn mode_finding(path: &str, mode: Option<i32>, out: &mut Vec<Finding>) {
    if let Some(m) = mode
        && !(0..=0o777).contains(&m)
    {
        out.push(Finding::error(path, format!("Invalid value: {m}: {MODE}")));
    }
}

/// `validateLocalNonReservedPath`.
fn local_path(path: &str, value: &str, out: &mut Vec<Finding>) {
    if value.is_empty() {
        out.push(Finding::error(path, "Required value"));
        return;
    }
    let mut bad = |msg: &str| {
        out.push(Finding::error(
            path,
            format!("Invalid value: {value:?}: {msg}"),
        ))
    };
    if value.starts_with('/') {
        bad("must be a relative path");
    }
    if value.split('/').any(|p| p == "..") {
        bad("must not contain '..'");
    }
    if value.starts_with("..") {
        bad("must not start with '..'");
    }
    if value.contains('\0') {
        bad("must not hold a NUL character");
    }
}

fn name_required(path: &str, name: &str, out: &mut Vec<Finding>) {
    if name.is_empty() {
        out.push(Finding::error(path, "Required value"));
    } else {
        for msg in k8s_names::dns1123_subdomain(name) {
            out.push(Finding::error(
                path,
                format!("Invalid value: {name:?}: {msg}"),
            ));
        }
    }
}

fn items(
    path: &str,
    items: &[KeyToPath],
    out: &mut Vec<Finding>,
    paths: &mut Vec<(String, String)>,
) {
    for (i, item) in items.iter().enumerate() {
        let p = index(&child(path, "items"), i);
        if item.key.is_empty() {
            out.push(Finding::error(child(&p, "key"), "Required value"));
        } else {
            for msg in k8s_names::config_map_key(&item.key) {
                out.push(Finding::error(
                    child(&p, "key"),
                    format!("Invalid value: {:?}: {msg}", item.key),
                ));
            }
        }
        local_path(&child(&p, "path"), &item.path, out);
        mode_finding(&child(&p, "mode"), item.mode, out);
        paths.push((child(&p, "path"), item.path.clone()));
    }
}

/// The consumer checks of one volume (`path` is `spec.template.spec.volumes[i]`).
pub fn validate_volume(vol: &Volume, path: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(cm) = &vol.config_map {
        let p = child(path, "configMap");
        name_required(&child(&p, "name"), &cm.name, &mut out);
        items(&p, &cm.items, &mut out, &mut Vec::new());
        mode_finding(&child(&p, "defaultMode"), cm.default_mode, &mut out);
    }
    if let Some(s) = &vol.secret {
        let p = child(path, "secret");
        name_required(&child(&p, "secretName"), &s.secret_name, &mut out);
        items(&p, &s.items, &mut out, &mut Vec::new());
        mode_finding(&child(&p, "defaultMode"), s.default_mode, &mut out);
    }
    if let Some(projected) = &vol.projected {
        let p = child(path, "projected");
        mode_finding(&child(&p, "defaultMode"), projected.default_mode, &mut out);
        let mut paths = Vec::new();
        for (j, source) in projected.sources.iter().enumerate() {
            let sp = index(&child(&p, "sources"), j);
            let count = usize::from(source.config_map.is_some())
                + usize::from(source.secret.is_some())
                + usize::from(source.downward_api.is_some())
                + usize::from(source.service_account_token.is_some())
                + usize::from(source.cluster_trust_bundle.is_some());
            if count != 1 {
                out.push(Finding::error(
                    &sp,
                    "Forbidden: may not specify more than 1 volume type per source",
                ));
            }
            if source.service_account_token.is_some() {
                out.push(Finding::error(
                    child(&sp, "serviceAccountToken"),
                    "Forbidden: a service account token is issued by a Kubernetes API server, and hosts have none",
                ));
            }
            if source.cluster_trust_bundle.is_some() {
                out.push(Finding::error(
                    child(&sp, "clusterTrustBundle"),
                    "Forbidden: ClusterTrustBundles are objects of a Kubernetes cluster, and hosts have none; put the certificates in a ConfigMap",
                ));
            }
            if let Some(cm) = &source.config_map {
                let q = child(&sp, "configMap");
                name_required(&child(&q, "name"), &cm.name, &mut out);
                items(&q, &cm.items, &mut out, &mut paths);
            }
            if let Some(s) = &source.secret {
                let q = child(&sp, "secret");
                name_required(&child(&q, "name"), &s.name, &mut out);
                items(&q, &s.items, &mut out, &mut paths);
            }
            if let Some(d) = &source.downward_api {
                for (k, item) in d.items.iter().enumerate() {
                    let q = index(&child(&child(&sp, "downwardAPI"), "items"), k);
                    local_path(&child(&q, "path"), &item.path, &mut out);
                    paths.push((child(&q, "path"), item.path.clone()));
                }
            }
        }
        let mut seen = BTreeMap::new();
        for (field, p) in paths {
            if let Some(first) = seen.insert(p.clone(), field.clone()) {
                out.push(Finding::error(
                    field,
                    format!("Invalid value: {p:?}: conflicting duplicate paths (also {first})"),
                ));
            }
        }
    }
    out
}

/// The consumer checks of a container's `envFrom` and `valueFrom` object references.
pub fn validate_container(c: &Container, path: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (j, from) in c.env_from.iter().enumerate() {
        let p = index(&child(path, "envFrom"), j);
        if let Some(prefix) = from.prefix.as_deref().filter(|p| !p.is_empty()) {
            for msg in k8s_names::env_var_name(prefix) {
                out.push(Finding::error(
                    child(&p, "prefix"),
                    format!("Invalid value: {prefix:?}: {msg}"),
                ));
            }
        }
        match (&from.config_map_ref, &from.secret_ref) {
            (Some(_), Some(_)) => out.push(Finding::error(
                &p,
                "Invalid value: may not have more than one field specified at a time",
            )),
            (None, None) => out.push(Finding::error(
                &p,
                "Required value: must specify one of: `configMapRef` or `secretRef`",
            )),
            _ => {}
        }
        if let Some(r) = &from.config_map_ref {
            name_required(
                &child(&child(&p, "configMapRef"), "name"),
                &r.name,
                &mut out,
            );
        }
        if let Some(r) = &from.secret_ref {
            name_required(&child(&child(&p, "secretRef"), "name"), &r.name, &mut out);
        }
    }
    for (j, var) in c.env.iter().enumerate() {
        let Some(from) = &var.value_from else {
            continue;
        };
        let p = child(&index(&child(path, "env"), j), "valueFrom");
        for (sel, name) in [
            (&from.config_map_key_ref, "configMapKeyRef"),
            (&from.secret_key_ref, "secretKeyRef"),
        ] {
            let Some(sel) = sel else { continue };
            let q = child(&p, name);
            name_required(&child(&q, "name"), &sel.name, &mut out);
            if sel.key.is_empty() {
                out.push(Finding::error(child(&q, "key"), "Required value"));
            } else {
                for msg in k8s_names::config_map_key(&sel.key) {
                    out.push(Finding::error(
                        child(&q, "key"),
                        format!("Invalid value: {:?}: {msg}", sel.key),
                    ));
                }
            }
        }
    }
    out
}

// -------------------------------------------------------------------------------------------
// Resolution for a host.
// -------------------------------------------------------------------------------------------

/// One file of a projected volume: its path in the volume, mode and content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectedFile {
    pub path: String,
    pub mode: u32,
    pub value: Value,
}

/// What changed in the objects between two recorded specs (spec.json texts), one line per
/// key: `configmap/NAME key KEY: changed` (added, removed). Never a value: specs hold hashes.
pub fn object_changes(old: Option<&str>, new: &str) -> Vec<String> {
    let summaries = |text: Option<&str>| -> BTreeMap<String, ObjectSummary> {
        text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| v.get("usedObjects").cloned())
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    };
    let (old, new) = (summaries(old), summaries(Some(new)));
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        match (old.get(name), new.get(name)) {
            (None, Some(_)) => out.push(format!("{name}: now used")),
            (Some(_), None) => out.push(format!("{name}: no longer used")),
            (Some(a), Some(b)) if a.hash != b.hash => {
                let keys: std::collections::BTreeSet<&String> =
                    a.keys.keys().chain(b.keys.keys()).collect();
                for key in keys {
                    let what = match (a.keys.get(key), b.keys.get(key)) {
                        (None, Some(_)) => "added",
                        (Some(_), None) => "removed",
                        (Some(x), Some(y)) if x != y => "changed",
                        _ => continue,
                    };
                    out.push(format!("{name} key {key}: {what}"));
                }
                if a.immutable != b.immutable {
                    out.push(format!(
                        "{name}: immutable {} -> {}",
                        a.immutable, b.immutable
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// The objects recorded as immutable in `old` whose content `new` changes: Kubernetes
/// refuses such an update ("field is immutable when `immutable` is set").
pub fn immutable_violations(old: Option<&str>, new: &str) -> Vec<String> {
    let summaries = |text: Option<&str>| -> BTreeMap<String, ObjectSummary> {
        text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| v.get("usedObjects").cloned())
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    };
    let (old, new) = (summaries(old), summaries(Some(new)));
    old.iter()
        .filter(|(name, a)| a.immutable && new.get(*name).is_some_and(|b| b.hash != a.hash))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Refuses a host's plan when a DaemonSet would change an object its record holds as
/// immutable (the hash recorded on the host is the truth: there is no API server).
pub fn check_immutable(
    intent: &crate::plan::HostIntent,
    observed: &crate::observe::Observation,
) -> Result<(), String> {
    for (name, placement) in &intent.daemonsets {
        let crate::plan::Placement::Run(desired) = placement else {
            continue;
        };
        let Some(record) = observed.daemonsets.get(name) else {
            continue;
        };
        let changed = immutable_violations(record.spec_json.as_deref(), &desired.spec_json);
        if !changed.is_empty() {
            return Err(format!(
                "daemonset/{name}: {} is immutable and its content changed: field is immutable when `immutable` is set (give the changed object a new name, and the DaemonSet's references with it)",
                changed.join(", ")
            ));
        }
    }
    Ok(())
}

/// One directory of object data for the host script: a volume's files, or a container's
/// env file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Projection {
    /// The instance's root-only objects directory (`layout::Instance::objects_dir`).
    pub parent: String,
    pub dir: String,
    pub files: Vec<ProjectedFile>,
}

/// Every projection of an instance: each object volume's files, and each container's Secret
/// env as a podman env file (`NAME=value` lines; values with line breaks are refused).
pub fn projections(
    view: &crate::downward::PodView<'_>,
) -> Result<Vec<Projection>, (String, String)> {
    let instance = crate::layout::Instance::new(view.ds.name(), view.revision);
    let parent = instance.objects_dir();
    let pod = view.ds.pod_spec();
    let mut out = Vec::new();
    for (i, vol) in pod.volumes.iter().enumerate() {
        let downward = |source: &DownwardApiVolumeSource| view.volume_files(source);
        let files = volume_files(vol, &view.ds.objects, &downward)
            .map_err(|(f, r)| (format!("spec.template.spec.volumes[{i}].{f}"), r))?;
        if let Some(files) = files {
            out.push(Projection {
                parent: parent.clone(),
                dir: instance.object_volume_dir(&vol.name),
                files,
            });
        }
    }
    for (at, c) in containers(view.ds) {
        let env = view
            .container_env_split(c)
            .map_err(|(f, r)| (child(&at, &f), r))?;
        if env.secret.is_empty() {
            continue;
        }
        let mut text = Vec::new();
        for (name, value) in &env.secret {
            text.extend_from_slice(name.as_bytes());
            text.push(b'=');
            text.extend_from_slice(value.bytes());
            text.push(b'\n');
        }
        out.push(Projection {
            parent: parent.clone(),
            dir: instance.env_file_dir(&c.name),
            files: vec![ProjectedFile {
                path: crate::layout::ENV_FILE.to_string(),
                mode: SECRET_MODE,
                value: Value::new(text),
            }],
        });
    }
    Ok(out)
}

/// Whether a volume's content comes from objects (it is then written by the host script).
pub fn is_object_volume(vol: &Volume) -> bool {
    vol.config_map.is_some() || vol.secret.is_some() || vol.projected.is_some()
}

fn mode_of(m: Option<i32>, default: u32) -> u32 {
    m.and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m <= 0o777)
        .unwrap_or(default)
}

/// The kubelet's payload of one object source: every key (or the items), at its mode. A
/// missing optional object gives nothing; a missing key of an optional one is skipped.
fn payload(
    object: Option<&ConfigObject>,
    items: &[KeyToPath],
    default_mode: u32,
    out: &mut Vec<ProjectedFile>,
) {
    let Some(object) = object else { return };
    if items.is_empty() {
        for (k, v) in &object.data {
            out.push(ProjectedFile {
                path: k.clone(),
                mode: default_mode,
                value: v.clone(),
            });
        }
    }
    for item in items {
        if let Some(v) = object.data.get(&item.key) {
            out.push(ProjectedFile {
                path: item.path.clone(),
                mode: mode_of(item.mode, default_mode),
                value: v.clone(),
            });
        }
    }
}

/// A projected volume's downwardAPI files for this host: (path, mode, content), or which
/// field is wrong and why (downward.rs).
pub type DownwardFiles = Result<Vec<(String, u32, String)>, (String, String)>;

/// The files of an object volume (`None` for other volumes). `downward` resolves a projected
/// volume's downwardAPI items for this host (downward.rs).
pub fn volume_files(
    vol: &Volume,
    objects: &UsedObjects,
    downward: &dyn Fn(&DownwardApiVolumeSource) -> DownwardFiles,
) -> Result<Option<Vec<ProjectedFile>>, (String, String)> {
    let mut out = Vec::new();
    if let Some(cm) = &vol.config_map {
        let object = objects.get(ObjectKind::ConfigMap, &cm.name);
        payload(
            object,
            &cm.items,
            mode_of(cm.default_mode, CONFIG_MAP_MODE),
            &mut out,
        );
    } else if let Some(s) = &vol.secret {
        let object = objects.get(ObjectKind::Secret, &s.secret_name);
        payload(
            object,
            &s.items,
            mode_of(s.default_mode, SECRET_MODE),
            &mut out,
        );
    } else if let Some(p) = &vol.projected {
        for (j, source) in p.sources.iter().enumerate() {
            if let Some(cm) = &source.config_map {
                let object = objects.get(ObjectKind::ConfigMap, &cm.name);
                payload(
                    object,
                    &cm.items,
                    mode_of(p.default_mode, CONFIG_MAP_MODE),
                    &mut out,
                );
            }
            if let Some(s) = &source.secret {
                let object = objects.get(ObjectKind::Secret, &s.name);
                payload(
                    object,
                    &s.items,
                    mode_of(p.default_mode, SECRET_MODE),
                    &mut out,
                );
            }
            if let Some(d) = &source.downward_api {
                let files = downward(&DownwardApiVolumeSource {
                    items: d.items.clone(),
                    default_mode: p.default_mode,
                })
                .map_err(|(f, r)| (format!("projected.sources[{j}].downwardAPI.{f}"), r))?;
                out.extend(
                    files
                        .into_iter()
                        .map(|(path, mode, content)| ProjectedFile {
                            path,
                            mode,
                            value: Value::new(content),
                        }),
                );
            }
        }
    } else {
        return Ok(None);
    }
    Ok(Some(out))
}

/// A container's env as the kubelet makes it: `envFrom` first (each object's keys, prefixed;
/// a key that is no valid variable name is skipped with a warning), then `env`, each later
/// definition replacing an earlier one of the same name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// In the unit (values that are not secret).
    pub plain: Vec<(String, String)>,
    /// Only in the 0600 env file the host script writes.
    pub secret: Vec<(String, Value)>,
    /// The envFrom keys skipped as invalid variable names.
    pub skipped: Vec<String>,
}

impl Env {
    fn set(&mut self, name: String, value: EnvValue) {
        self.plain.retain(|(n, _)| *n != name);
        self.secret.retain(|(n, _)| *n != name);
        match value {
            EnvValue::Plain(v) => self.plain.push((name, v)),
            EnvValue::Secret(v) => self.secret.push((name, v)),
        }
    }
}

/// One env value by where it may be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Plain(String),
    Secret(Value),
}

/// The value of an env var from an object (`None`: another kind of valueFrom, or an
/// optional reference that is absent, which the kubelet leaves unset).
pub fn env_ref_value(
    var: &crate::daemonset::EnvVar,
    objects: &UsedObjects,
) -> Option<Result<Option<EnvValue>, String>> {
    let from = var.value_from.as_ref()?;
    let (kind, sel) = match (&from.config_map_key_ref, &from.secret_key_ref) {
        (Some(sel), _) => (ObjectKind::ConfigMap, sel),
        (None, Some(sel)) => (ObjectKind::Secret, sel),
        (None, None) => return None,
    };
    let value = objects
        .get(kind, &sel.name)
        .and_then(|o| o.env_value(&sel.key));
    Some(match value {
        None if sel.optional.unwrap_or(false) => Ok(None),
        None => Err(format!(
            "{}/{} has no key {:?} here",
            kind.lower(),
            sel.name,
            sel.key
        )),
        Some(v) => to_env(kind, v).map(Some),
    })
}

fn to_env(kind: ObjectKind, v: &Value) -> Result<EnvValue, String> {
    let text = v
        .text()
        .ok_or_else(|| "the value is not UTF-8 text, which env cannot carry".to_string())?;
    Ok(match kind {
        ObjectKind::ConfigMap => EnvValue::Plain(text.to_string()),
        ObjectKind::Secret => {
            // podman's --env-file is one VAR=value per line: a line break would cut the value.
            if text.contains(['\n', '\r']) {
                return Err("the value holds a line break, which a podman env file cannot carry; mount the Secret as a volume instead".into());
            }
            EnvValue::Secret(v.clone())
        }
    })
}

/// The variables `envFrom` gives a container, in order (see [`Env`]).
pub fn env_from(
    c: &Container,
    objects: &UsedObjects,
    env: &mut Env,
) -> Result<(), (String, String)> {
    for (j, from) in c.env_from.iter().enumerate() {
        let (kind, r) = match (&from.config_map_ref, &from.secret_ref) {
            (Some(r), _) => (ObjectKind::ConfigMap, r),
            (None, Some(r)) => (ObjectKind::Secret, r),
            (None, None) => continue,
        };
        let Some(object) = objects.get(kind, &r.name) else {
            continue;
        };
        let prefix = from.prefix.as_deref().unwrap_or("");
        for (k, v) in &object.data {
            if object.env_value(k).is_none() {
                continue;
            }
            let name = format!("{prefix}{k}");
            if !k8s_names::env_var_name(&name).is_empty() {
                env.skipped.push(name);
                continue;
            }
            let value = to_env(kind, v)
                .map_err(|r| (format!("envFrom[{j}]"), format!("key {k:?}: {r}")))?;
            env.set(name, value);
        }
    }
    Ok(())
}

/// Adds one `env` entry's resolved value (see [`Env`]).
pub fn set_env(env: &mut Env, name: &str, value: EnvValue) {
    env.set(name.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_object::{self, ConfigMapDoc, SecretDoc};

    fn ds(pod: &str, container: &str) -> DaemonSet {
        let doc = format!(
            "apiVersion = \"apps/v1\"\nkind = \"DaemonSet\"\nmetadata = {{ name = \"cm-a\" }}\n\
             [spec]\nselector = {{ matchLabels = {{ app = \"a\" }} }}\n\
             [spec.template.metadata]\nlabels = {{ app = \"a\" }}\n\
             [spec.template.spec]\n{pod}\n\
             [[spec.template.spec.containers]]\nname = \"main\"\nimage = \"img:1\"\n{container}\n"
        );
        toml::from_str(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"))
    }

    fn objects() -> UsedObjects {
        let cm: ConfigMapDoc = toml::from_str("apiVersion = \"v1\"\nkind = \"ConfigMap\"\nmetadata = { name = \"cfg\" }\ndata = { \"app.conf\" = \"a=1\", \"log.level\" = \"info\", \"bad-name\" = \"x\" }\nbinaryData = { blob = \"AAE=\" }\n").unwrap();
        let s: SecretDoc = toml::from_str("apiVersion = \"v1\"\nkind = \"Secret\"\nmetadata = { name = \"creds\" }\nstringData = { token = \"t0k\", multi = \"a\\nb\" }\n").unwrap();
        let mut used = UsedObjects::default();
        for o in [
            config_object::config_map(&cm).0.unwrap(),
            config_object::secret(&s, &BTreeMap::new()).0.unwrap(),
        ] {
            used.objects.insert(o.key(), o);
        }
        used
    }

    fn no_downward(_: &DownwardApiVolumeSource) -> DownwardFiles {
        Ok(vec![("node".into(), 0o644, "node-1".into())])
    }

    /// The projection layout: which files each volume shape gives, at which mode.
    #[test]
    fn projection_layout() {
        let table: &[(&str, &[(&str, u32)])] = &[
            (
                "configMap = { name = \"cfg\" }",
                &[
                    ("app.conf", 0o644),
                    ("bad-name", 0o644),
                    ("blob", 0o644),
                    ("log.level", 0o644),
                ],
            ),
            (
                "configMap = { name = \"cfg\", defaultMode = 0o440, items = [{ key = \"app.conf\", path = \"etc/app.conf\" }, { key = \"log.level\", path = \"lvl\", mode = 0o400 }] }",
                &[("etc/app.conf", 0o440), ("lvl", 0o400)],
            ),
            (
                "secret = { secretName = \"creds\" }",
                &[("multi", 0o600), ("token", 0o600)],
            ),
            (
                "secret = { secretName = \"creds\", defaultMode = 0o644, items = [{ key = \"token\", path = \"t\" }] }",
                &[("t", 0o644)],
            ),
            ("secret = { secretName = \"gone\", optional = true }", &[]),
            (
                "configMap = { name = \"cfg\", optional = true, items = [{ key = \"nope\", path = \"n\" }] }",
                &[],
            ),
            (
                "projected = { sources = [{ configMap = { name = \"cfg\", items = [{ key = \"app.conf\", path = \"app.conf\" }] } }, { secret = { name = \"creds\", items = [{ key = \"token\", path = \"token\" }] } }, { downwardAPI = { items = [] } }] }",
                &[("app.conf", 0o644), ("token", 0o600), ("node", 0o644)],
            ),
        ];
        let used = objects();
        for (source, want) in table {
            let d = ds(&format!("volumes = [{{ name = \"v\", {source} }}]"), "");
            let files = volume_files(&d.pod_spec().volumes[0], &used, &no_downward)
                .unwrap()
                .unwrap();
            let got: Vec<(&str, u32)> = files.iter().map(|f| (f.path.as_str(), f.mode)).collect();
            assert_eq!(got, *want, "{source}");
        }
        let host_path = ds(
            "volumes = [{ name = \"v\", hostPath = { path = \"/x\" } }]",
            "",
        );
        assert_eq!(
            volume_files(&host_path.pod_spec().volumes[0], &used, &no_downward).unwrap(),
            None
        );
    }

    #[test]
    fn references_are_checked_as_the_kubelet_fails_a_pod() {
        let d = ds(
            "volumes = [{ name = \"v\", configMap = { name = \"cfg\", items = [{ key = \"missing\", path = \"m\" }] } }, { name = \"w\", secret = { secretName = \"nope\" } }, { name = \"o\", secret = { secretName = \"nope\", optional = true } }]",
            "env = [{ name = \"B\", valueFrom = { configMapKeyRef = { name = \"cfg\", key = \"blob\" } } }, { name = \"T\", valueFrom = { secretKeyRef = { name = \"creds\", key = \"token\" } } }]\nenvFrom = [{ configMapRef = { name = \"other\" } }]",
        );
        let used = objects();
        let got: Vec<String> = references(&d)
            .iter()
            .filter_map(|r| check_reference(r, &used.objects))
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect();
        assert_eq!(
            got,
            [
                "spec.template.spec.volumes[0].configMap.items[0].key: Not found: configmap/cfg has no key \"missing\" (its keys: app.conf, bad-name, blob, log.level)",
                "spec.template.spec.volumes[1].secret.secretName: Not found: secret \"nope\" is in none of the -f files",
                "spec.template.spec.containers[0].envFrom[0].configMapRef.name: Not found: configmap \"other\" is in none of the -f files",
                "spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Not found: key \"blob\" of configmap/cfg is binaryData, which env cannot take",
            ]
        );
    }

    #[test]
    fn env_from_and_env_split_plain_from_secret() {
        let d = ds(
            "",
            "envFrom = [{ configMapRef = { name = \"cfg\" }, prefix = \"CFG_\" }, { secretRef = { name = \"creds\" } }]",
        );
        let used = objects();
        let mut env = Env::default();
        let err = env_from(&d.pod_spec().containers[0], &used, &mut env).unwrap_err();
        assert!(err.1.contains("line break"), "{err:?}");
        let d = ds(
            "",
            "envFrom = [{ configMapRef = { name = \"cfg\" }, prefix = \"CFG_\" }]",
        );
        let mut env = Env::default();
        env_from(&d.pod_spec().containers[0], &used, &mut env).unwrap();
        set_env(&mut env, "CFG_log.level", EnvValue::Secret(Value::new("s")));
        assert_eq!(
            env.plain,
            [
                ("CFG_app.conf".to_string(), "a=1".to_string()),
                ("CFG_bad-name".to_string(), "x".to_string())
            ]
        );
        assert_eq!(env.secret.len(), 1);
        let d = ds(
            "",
            "envFrom = [{ configMapRef = { name = \"cfg\" } }]\nenv = [{ name = \"T\", valueFrom = { secretKeyRef = { name = \"creds\", key = \"token\" } } }, { name = \"O\", valueFrom = { secretKeyRef = { name = \"none\", key = \"k\", optional = true } } }]",
        );
        let c = &d.pod_spec().containers[0];
        assert_eq!(
            env_ref_value(&c.env[0], &used),
            Some(Ok(Some(EnvValue::Secret(Value::new("t0k")))))
        );
        assert_eq!(env_ref_value(&c.env[1], &used), Some(Ok(None)));
    }

    /// What diff and `rollout history` say between two recorded specs, and the immutable rule.
    #[test]
    fn object_changes_name_keys_and_immutable_objects_may_not_change() {
        let spec = |objects: &str| format!("{{\"usedObjects\": {{{objects}}}}}");
        let cm = |hash: &str, keys: &str, immutable: bool| {
            format!(
                "\"configmap/cfg\": {{\"hash\": \"{hash}\", \"immutable\": {immutable}, \"keys\": {{{keys}}}}}"
            )
        };
        let old = spec(&cm("h1", "\"a\": \"1\", \"b\": \"2\"", false));
        let rows: Vec<(String, Vec<&str>)> = vec![
            (old.clone(), vec![]),
            (
                spec(&cm("h2", "\"a\": \"1\", \"b\": \"3\", \"c\": \"4\"", false)),
                vec!["configmap/cfg key b: changed", "configmap/cfg key c: added"],
            ),
            (
                spec(&cm("h2", "\"a\": \"1\"", false)),
                vec!["configmap/cfg key b: removed"],
            ),
            (spec(""), vec!["configmap/cfg: no longer used"]),
        ];
        for (new, want) in rows {
            assert_eq!(object_changes(Some(&old), &new), want, "{new}");
        }
        assert_eq!(object_changes(None, &old), ["configmap/cfg: now used"]);
        let frozen = spec(&cm("h1", "\"a\": \"1\"", true));
        assert_eq!(
            immutable_violations(Some(&frozen), &spec(&cm("h2", "\"a\": \"9\"", true))),
            ["configmap/cfg"]
        );
        assert!(immutable_violations(Some(&frozen), &frozen).is_empty());
        assert!(immutable_violations(Some(&old), &spec(&cm("h2", "", true))).is_empty());
    }

    #[test]
    fn consumer_fields_are_validated() {
        let d = ds(
            "volumes = [{ name = \"p\", projected = { sources = [{ serviceAccountToken = { path = \"t\" } }, { configMap = { name = \"a\", items = [{ key = \"k\", path = \"x\" }] }, secret = { name = \"b\" } }, { secret = { name = \"b\", items = [{ key = \"..k\", path = \"x\", mode = 512 }] } }] } }, { name = \"c\", configMap = { items = [{ key = \"k\", path = \"/abs\" }] } }]",
            "",
        );
        let vols = &d.pod_spec().volumes;
        let got: Vec<String> = vols
            .iter()
            .enumerate()
            .flat_map(|(i, v)| validate_volume(v, &format!("volumes[{i}]")))
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect();
        let want = [
            "volumes[0].projected.sources[0].serviceAccountToken: Forbidden: a service account token is issued",
            "volumes[0].projected.sources[1]: Forbidden: may not specify more than 1 volume type",
            "volumes[0].projected.sources[2].secret.items[0].key: Invalid value: \"..k\": must not start with '..'",
            "volumes[0].projected.sources[2].secret.items[0].mode: Invalid value: 512",
            "volumes[0].projected.sources[2].secret.items[0].path: Invalid value: \"x\": conflicting duplicate paths",
            "volumes[1].configMap.name: Required value",
            "volumes[1].configMap.items[0].path: Invalid value: \"/abs\": must be a relative path",
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.starts_with(w), "{g}\n  wanted {w}");
        }
        let d = ds(
            "",
            "envFrom = [{ prefix = \"1X\", configMapRef = { name = \"a\" }, secretRef = { name = \"b\" } }, {}]\nenv = [{ name = \"A\", valueFrom = { secretKeyRef = { name = \"s\" } } }]",
        );
        let got: Vec<String> = validate_container(&d.pod_spec().containers[0], "c")
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect();
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(got[0].starts_with("c.envFrom[0].prefix: Invalid value: \"1X\""));
        assert!(got[1].starts_with("c.envFrom[0]: Invalid value: may not have more than one"));
        assert!(got[2].starts_with("c.envFrom[1]: Required value"));
        assert!(got[3].starts_with("c.env[0].valueFrom.secretKeyRef.key: Required value"));
    }
}
