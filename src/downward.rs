//! The downward API on a bare host: `env[].valueFrom.fieldRef` and `resourceFieldRef`,
//! resolved per host at render time from the DaemonSet, its revision and the host's facts, as
//! the kubelet resolves them for a pod (pkg/kubelet/kubelet_pods.go
//! `podFieldSelectorRuntimeValue`, pkg/api/v1/resource `ExtractContainerResourceValue`). Also
//! the field-path checks the API server makes (pkg/apis/core/validation
//! `validateObjectFieldSelector`, pkg/apis/core/pods `ConvertDownwardAPIFieldLabel`). Pure.
//!
//! The same fields fill `downwardAPI` volumes: their files are written into the instance's
//! directory (`layout::Instance::downward_api_dir`) by the unit before the container starts,
//! so they travel in the unit like env values and change with it.
//!
//! What each field is on a host:
//! - `metadata.name`: the instance's podman pod name (`layout::Instance::pod_name`);
//! - `metadata.namespace`: the DaemonSet's `metadata.namespace`, else `default`;
//! - `metadata.uid`: a UUID derived from the DaemonSet, the revision and the host, so it
//!   changes exactly when the instance is replaced by another revision or is on another host;
//! - `metadata.labels['k']`, `metadata.annotations['k']`: the pod template's, plus the
//!   `controller-revision-hash` label the DaemonSet controller adds to its pods;
//! - `spec.nodeName`: the inventory name; `spec.serviceAccountName`: as written, else `default`
//!   (the API server's default);
//! - `status.hostIP`, `status.hostIPs`: the host's address(es) (`host_facts.rs`);
//! - `status.podIP`, `status.podIPs`: with hostNetwork the host's; otherwise refused, because
//!   podman gives the pod its address when it starts, after the environment is fixed;
//! - `resourceFieldRef`: the container's limit or request in units of `divisor`, rounded up;
//!   an unset (or zero) limit is the node's allocatable amount, which on a bare host is all of
//!   it (dsctl reserves nothing and evicts nothing); an unset request is the limit as written,
//!   else 0, as the API server defaults requests.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::daemonset::{
    Container, DaemonSet, DownwardApiVolumeSource, ObjectFieldSelector, ResourceFieldSelector,
};
use crate::expansion;
use crate::host_facts::HostFacts;
use crate::layout::Instance;
use crate::quantity::{Quantity, QuantityError};

/// The fieldPaths an env var may use (`validEnvDownwardAPIFieldPathExpressions`), besides
/// `metadata.labels['k']` and `metadata.annotations['k']`.
pub const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// The fieldPaths a downwardAPI volume file may use (`validVolumeDownwardAPIFieldPathExpressions`),
/// besides the subscripted labels and annotations.
pub const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

/// The resources a resourceFieldRef may name (`validContainerResourceFieldPathExpressions`).
pub const RESOURCES: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// The label the DaemonSet controller puts on each of its pods, with the revision.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// Every fieldPath `ConvertDownwardAPIFieldLabel` knows for pods (the API server accepts only
/// some of them for env, see [`ENV_FIELD_PATHS`]).
const CONVERTIBLE: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// A pod field the downward API can give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodField {
    Name,
    Namespace,
    Uid,
    NodeName,
    ServiceAccountName,
    HostIp,
    HostIps,
    PodIp,
    PodIps,
    Label(String),
    Annotation(String),
    /// All labels, `key="value"` lines (volumes only).
    Labels,
    /// All annotations, likewise.
    Annotations,
}

/// Why a fieldRef is not valid, in the API server's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldRefError {
    #[error("Required value")]
    Required,
    #[error(
        "Invalid value: {path:?}: error converting fieldPath: unsupported pod version: {version}"
    )]
    Version { path: String, version: String },
    #[error("Invalid value: {0:?}: error converting fieldPath: field label not supported: {0}")]
    NotConvertible(String),
    #[error(
        "Invalid value: {0:?}: error converting fieldPath: field label does not support subscript: {0}"
    )]
    NoSubscript(String),
    /// A label or annotation key that is not a qualified name: reported on the fieldRef.
    #[error("Invalid value: {key:?}: {message}")]
    BadKey { key: String, message: String },
    #[error(
        "Unsupported value: {path:?}: supported values: {}",
        supported_list(supported)
    )]
    NotSupported {
        path: String,
        supported: &'static [&'static str],
    },
}

fn supported_list(supported: &[&str]) -> String {
    format!(
        "{}, \"metadata.labels['<KEY>']\", \"metadata.annotations['<KEY>']\"",
        quoted(supported)
    )
}

fn quoted(list: &[&str]) -> String {
    list.iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl FieldRefError {
    /// Whether the API server reports it on the fieldRef itself rather than its fieldPath.
    pub fn on_selector(&self) -> bool {
        matches!(self, FieldRefError::BadKey { .. })
    }
}

/// `fieldpath.SplitMaybeSubscriptedPath`: `metadata.labels['app']` → (`metadata.labels`, `app`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (head, key) = inner.split_once("['")?;
    (!head.is_empty()).then_some((head, key))
}

/// A fieldRef checked as the API server checks it, and what it names; `supported` is
/// [`ENV_FIELD_PATHS`] or [`VOLUME_FIELD_PATHS`].
pub fn parse_field_ref(
    selector: &ObjectFieldSelector,
    supported: &'static [&'static str],
) -> Result<PodField, Vec<FieldRefError>> {
    let path = selector.field_path.as_str();
    if path.is_empty() {
        return Err(vec![FieldRefError::Required]);
    }
    // The API server defaults an absent apiVersion to v1.
    if let Some(version) = selector.api_version.as_deref()
        && !version.is_empty()
        && version != "v1"
    {
        return Err(vec![FieldRefError::Version {
            path: path.to_string(),
            version: version.to_string(),
        }]);
    }
    if let Some((head, key)) = split_subscript(path) {
        let (field, check): (fn(String) -> PodField, String) = match head {
            "metadata.labels" => (PodField::Label, key.to_string()),
            "metadata.annotations" => (PodField::Annotation, key.to_ascii_lowercase()),
            _ => return Err(vec![FieldRefError::NoSubscript(path.to_string())]),
        };
        let errors: Vec<FieldRefError> = crate::k8s_names::qualified_name(&check)
            .into_iter()
            .map(|message| FieldRefError::BadKey {
                key: key.to_string(),
                message,
            })
            .collect();
        return if errors.is_empty() {
            Ok(field(key.to_string()))
        } else {
            Err(errors)
        };
    }
    // `spec.host` is what old v1 clients sent for spec.nodeName.
    let path = if path == "spec.host" {
        "spec.nodeName"
    } else {
        path
    };
    if !CONVERTIBLE.contains(&path) {
        return Err(vec![FieldRefError::NotConvertible(path.to_string())]);
    }
    if !supported.contains(&path) {
        return Err(vec![FieldRefError::NotSupported {
            path: path.to_string(),
            supported,
        }]);
    }
    Ok(match path {
        "metadata.name" => PodField::Name,
        "metadata.namespace" => PodField::Namespace,
        "metadata.uid" => PodField::Uid,
        "spec.nodeName" => PodField::NodeName,
        "spec.serviceAccountName" => PodField::ServiceAccountName,
        "status.hostIP" => PodField::HostIp,
        "status.hostIPs" => PodField::HostIps,
        "status.podIP" => PodField::PodIp,
        "status.podIPs" => PodField::PodIps,
        "metadata.labels" => PodField::Labels,
        "metadata.annotations" => PodField::Annotations,
        _ => {
            return Err(vec![FieldRefError::NotSupported {
                path: path.to_string(),
                supported,
            }]);
        }
    })
}

/// Why a resourceFieldRef is not valid (`validateContainerResourceFieldSelector`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceRefError {
    #[error("Required value")]
    Required,
    #[error("Unsupported value: {0:?}: supported values: {list}", list = quoted(RESOURCES))]
    NotSupported(String),
    #[error(
        "Invalid value: {0:?}: only divisor's values 1m and 1 are supported with the cpu resource"
    )]
    CpuDivisor(String),
    #[error(
        "Invalid value: {resource:?}: only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the {kind} resource"
    )]
    ByteDivisor {
        resource: String,
        kind: &'static str,
    },
    #[error("Invalid value: {0:?}: {1}")]
    BadDivisor(String, String),
}

impl ResourceRefError {
    /// Whether the API server reports it on the `divisor` (else on `resource`).
    pub fn on_divisor(&self) -> bool {
        matches!(
            self,
            ResourceRefError::CpuDivisor(_)
                | ResourceRefError::ByteDivisor { .. }
                | ResourceRefError::BadDivisor(..)
        )
    }
}

/// A resourceFieldRef checked as the API server checks it (`containerName` is checked by
/// `validate`, which knows the pod's containers).
pub fn check_resource_ref(selector: &ResourceFieldSelector) -> Vec<ResourceRefError> {
    let resource = selector.resource.as_str();
    if resource.is_empty() {
        return vec![ResourceRefError::Required];
    }
    let mut errors = Vec::new();
    if !RESOURCES.contains(&resource) {
        errors.push(ResourceRefError::NotSupported(resource.to_string()));
    }
    if let Some(divisor) = &selector.divisor {
        match divisor_value(resource, divisor) {
            Err(e) => errors.push(ResourceRefError::BadDivisor(
                divisor.0.clone(),
                e.to_string(),
            )),
            // An unset or zero divisor is 1.
            Ok(0) => {}
            Ok(value) => {
                const BYTES: &[i128] = &[
                    1,
                    1_000,
                    1_000_000,
                    1_000_000_000,
                    1_000_000_000_000,
                    1_000_000_000_000_000,
                    1_000_000_000_000_000_000,
                    1 << 10,
                    1 << 20,
                    1 << 30,
                    1 << 40,
                    1 << 50,
                    1 << 60,
                ];
                match resource {
                    "limits.cpu" | "requests.cpu" if value != 1 && value != 1000 => {
                        errors.push(ResourceRefError::CpuDivisor(resource.to_string()))
                    }
                    "limits.memory" | "requests.memory" if !BYTES.contains(&value) => {
                        errors.push(ResourceRefError::ByteDivisor {
                            resource: resource.to_string(),
                            kind: "memory",
                        })
                    }
                    "limits.ephemeral-storage" | "requests.ephemeral-storage"
                        if !BYTES.contains(&value) =>
                    {
                        errors.push(ResourceRefError::ByteDivisor {
                            resource: resource.to_string(),
                            kind: "ephemeral-storage",
                        })
                    }
                    _ => {}
                }
            }
        }
    }
    errors
}

/// A divisor in the resource's own unit: thousandths for cpu, bytes otherwise.
fn divisor_value(resource: &str, divisor: &Quantity) -> Result<i128, QuantityError> {
    if resource.ends_with(".cpu") {
        divisor.milli_value()
    } else {
        divisor.value()
    }
}

/// Why a downward value cannot be given for this host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownwardError {
    #[error(
        "{what} of host {host:?} is not known yet: dsctl learns it from the host when it connects (apply, diff)"
    )]
    Unobserved { what: &'static str, host: String },
    #[error("{POD_IP_WHY}")]
    PodIp,
    #[error("no container named {0:?} in this pod")]
    NoContainer(String),
    #[error("{0}")]
    Invalid(String),
}

/// A downwardAPI volume's file: its path in the volume, its mode and its content.
pub type VolumeFile = (String, u32, String);

/// The mode of a downwardAPI volume's files when the spec gives none
/// (`DownwardAPIVolumeSourceDefaultMode`).
pub const DEFAULT_MODE: i32 = 0o644;

/// `fieldpath.FormatMap`: `key="value"` lines in key order, values quoted as Go's `%q` does.
pub fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `strconv.Quote`: printable characters as they are, the rest escaped.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Why status.podIP cannot be given without hostNetwork.
pub const POD_IP_WHY: &str = "the pod's IP address is not known when its environment is written: \
     podman assigns it when the pod starts, after the containers' environment is fixed";

/// One instance of a DaemonSet on one host: what the downward API describes.
#[derive(Debug, Clone, Copy)]
pub struct PodView<'a> {
    pub ds: &'a DaemonSet,
    pub revision: &'a str,
    pub host: &'a HostFacts,
}

impl PodView<'_> {
    /// A field's value on this host.
    pub fn field(&self, field: &PodField) -> Result<String, DownwardError> {
        let pod = self.ds.pod_spec();
        Ok(match field {
            PodField::Name => Instance::new(self.ds.name(), self.revision).pod_name(),
            PodField::Namespace => self
                .ds
                .metadata
                .namespace
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".to_string()),
            PodField::Uid => self.uid(),
            PodField::NodeName => self.host.node_name.clone(),
            PodField::ServiceAccountName => [&pod.service_account_name, &pod.service_account]
                .into_iter()
                .find_map(|v| v.as_ref()?.as_str().filter(|s| !s.is_empty()))
                .unwrap_or("default")
                .to_string(),
            PodField::HostIp => self.host_ips()?[0].clone(),
            PodField::HostIps => self.host_ips()?.join(","),
            PodField::PodIp if pod.host_network => self.host_ips()?[0].clone(),
            PodField::PodIps if pod.host_network => self.host_ips()?.join(","),
            PodField::PodIp | PodField::PodIps => return Err(DownwardError::PodIp),
            PodField::Label(key) => self.labels().get(key).cloned().unwrap_or_default(),
            PodField::Annotation(key) => self
                .ds
                .spec
                .template
                .metadata
                .annotations
                .get(key)
                .cloned()
                .unwrap_or_default(),
            PodField::Labels => format_map(&self.labels()),
            PodField::Annotations => format_map(&self.ds.spec.template.metadata.annotations),
        })
    }

    /// A downwardAPI volume's files: (path in the volume, mode, content), as the kubelet's
    /// downwardAPI volume plugin writes them. The error names the item (`items[i]…`).
    pub fn volume_files(
        &self,
        source: &DownwardApiVolumeSource,
    ) -> Result<Vec<VolumeFile>, (String, String)> {
        let default_mode = source.default_mode.unwrap_or(DEFAULT_MODE);
        let mut files = Vec::with_capacity(source.items.len());
        for (i, item) in source.items.iter().enumerate() {
            let at = |f: &str| format!("items[{i}].{f}");
            let content = if let Some(selector) = &item.field_ref {
                let field = parse_field_ref(selector, VOLUME_FIELD_PATHS).map_err(|errors| {
                    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    (at("fieldRef.fieldPath"), text.join("; "))
                })?;
                self.field(&field)
                    .map_err(|e| (at("fieldRef"), e.to_string()))?
            } else if let Some(selector) = &item.resource_field_ref {
                // A volume's resourceFieldRef names its container (the API server requires it).
                let first = &self.ds.pod_spec().containers[0];
                self.resource(first, selector)
                    .map_err(|e| (at("resourceFieldRef"), e.to_string()))?
            } else {
                return Err((at("path"), "needs a fieldRef or a resourceFieldRef".into()));
            };
            let mode = item.mode.unwrap_or(default_mode);
            let mode = u32::try_from(mode)
                .ok()
                .filter(|m| *m <= 0o777)
                .ok_or_else(|| (at("mode"), format!("{mode} is not a file mode (0 to 0777)")))?;
            files.push((item.path.clone(), mode, content));
        }
        Ok(files)
    }

    fn host_ips(&self) -> Result<Vec<String>, DownwardError> {
        if self.host.host_ips.is_empty() {
            return Err(DownwardError::Unobserved {
                what: "the IP address",
                host: self.host.node_name.clone(),
            });
        }
        Ok(self.host.host_ips.iter().map(|ip| ip.to_string()).collect())
    }

    /// The pod's labels: the template's, and the revision as the DaemonSet controller adds it.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.ds.spec.template.metadata.labels.clone();
        labels.insert(REVISION_HASH_LABEL.to_string(), self.revision.to_string());
        labels
    }

    /// A UUID (version 8, RFC 9562) from the DaemonSet, the revision and the host: stable for
    /// the instance, different for every other one.
    pub fn uid(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [self.ds.name(), self.revision, &self.host.node_name] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let mut b: [u8; 16] = hasher.finalize()[..16]
            .try_into()
            .expect("a sha256 has 32 bytes");
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    /// A resourceFieldRef's value for `container` (or the container it names).
    pub fn resource(
        &self,
        container: &Container,
        selector: &ResourceFieldSelector,
    ) -> Result<String, DownwardError> {
        let container = match selector.container_name.as_deref().filter(|n| !n.is_empty()) {
            None => container,
            Some(name) => self
                .ds
                .pod_spec()
                .containers
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| DownwardError::NoContainer(name.to_string()))?,
        };
        let resource = selector.resource.as_str();
        let (kind, name) = resource
            .split_once('.')
            .filter(|_| RESOURCES.contains(&resource))
            .ok_or_else(|| DownwardError::Invalid(format!("unsupported resource {resource:?}")))?;
        let bad = |e: QuantityError| DownwardError::Invalid(e.to_string());
        let measure = |q: &Quantity| divisor_value(resource, q).map_err(bad);
        let resources = container.resources.clone().unwrap_or_default();
        let limit = resources.limits.get(name).map(measure).transpose()?;
        let amount = match kind {
            // `MergeContainerResourceLimits`: an unset or zero limit is the node's allocatable.
            "limits" => match limit.filter(|v| *v != 0) {
                Some(v) => v,
                None => self.allocatable(name)?,
            },
            // The API server defaults a missing request to the limit as written.
            _ => match resources.requests.get(name).map(measure).transpose()? {
                Some(v) => v,
                None => limit.unwrap_or(0),
            },
        };
        // An unset or zero divisor is 1 (a whole CPU, a byte).
        let one = measure(&Quantity("1".into()))?;
        let divisor = match &selector.divisor {
            Some(d) => Some(measure(d)?).filter(|d| *d != 0).unwrap_or(one),
            None => one,
        };
        let (Ok(amount), Ok(divisor)) = (u128::try_from(amount), u128::try_from(divisor)) else {
            return Err(DownwardError::Invalid(format!(
                "{resource} and its divisor must not be negative"
            )));
        };
        Ok(amount.div_ceil(divisor).to_string())
    }

    /// The node's allocatable amount of a resource, in its unit (thousandths for cpu).
    fn allocatable(&self, name: &str) -> Result<i128, DownwardError> {
        let unobserved = |what| DownwardError::Unobserved {
            what,
            host: self.host.node_name.clone(),
        };
        match name {
            "cpu" => self
                .host
                .cpus
                .map(|n| i128::from(n) * 1000)
                .ok_or_else(|| unobserved("the CPU count")),
            "memory" => self
                .host
                .memory_bytes
                .map(i128::from)
                .ok_or_else(|| unobserved("the memory size")),
            _ => self
                .host
                .ephemeral_storage_bytes
                .map(i128::from)
                .ok_or_else(|| unobserved("the storage size")),
        }
    }

    /// A container's environment as the kubelet builds it (`makeEnvironmentVariables`): in
    /// order, a value with its `$(VAR)` references to the variables declared before it
    /// expanded, a valueFrom resolved. The error names the env entry (`env[i]…`).
    pub fn container_env(
        &self,
        container: &Container,
    ) -> Result<Vec<(String, String)>, (String, String)> {
        self.container_env_split(container).map(|env| env.plain)
    }

    /// The container's env as the kubelet makes it (`envFrom`, then `env`; see
    /// `config_refs::Env`), Secret values apart from the rest: they never reach a unit.
    /// `$(VAR)` expands from the plain values only, so a Secret is never copied into one.
    pub fn container_env_split(
        &self,
        container: &Container,
    ) -> Result<crate::config_refs::Env, (String, String)> {
        use crate::config_refs::{self, EnvValue};
        let mut env = config_refs::Env::default();
        config_refs::env_from(container, &self.ds.objects, &mut env)?;
        let mut declared: HashMap<String, String> = env.plain.iter().cloned().collect();
        for (i, var) in container.env.iter().enumerate() {
            let at = |f: &str| format!("env[{i}].{f}");
            let value = if !var.value.is_empty() {
                EnvValue::Plain(expansion::expand(&var.value, &[&declared]))
            } else if let Some(from) = &var.value_from {
                if let Some(found) = config_refs::env_ref_value(var, &self.ds.objects) {
                    match found.map_err(|e| (at("valueFrom"), e))? {
                        Some(value) => value,
                        // An optional reference that is absent leaves the variable unset.
                        None => continue,
                    }
                } else if let Some(selector) = &from.field_ref {
                    let field = parse_field_ref(selector, ENV_FIELD_PATHS).map_err(|errors| {
                        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        (at("valueFrom.fieldRef.fieldPath"), text.join("; "))
                    })?;
                    EnvValue::Plain(
                        self.field(&field)
                            .map_err(|e| (at("valueFrom.fieldRef"), e.to_string()))?,
                    )
                } else if let Some(selector) = &from.resource_field_ref {
                    EnvValue::Plain(
                        self.resource(container, selector)
                            .map_err(|e| (at("valueFrom.resourceFieldRef"), e.to_string()))?,
                    )
                } else {
                    return Err((
                        at("valueFrom"),
                        "only fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef can be resolved on a host".into(),
                    ));
                }
            } else {
                EnvValue::Plain(String::new())
            };
            match &value {
                EnvValue::Plain(v) => {
                    declared.insert(var.name.clone(), v.clone());
                }
                EnvValue::Secret(_) => {
                    declared.remove(&var.name);
                }
            }
            config_refs::set_env(&mut env, &var.name, value);
        }
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    /// A DaemonSet `agent` in namespace `monitoring` whose one container `main` has
    /// `container` (TOML keys), with `pod` (TOML keys) in its pod spec.
    fn ds(container: &str, pod: &str) -> DaemonSet {
        let doc = format!(
            "apiVersion = \"apps/v1\"\nkind = \"DaemonSet\"\n\
             metadata = {{ name = \"agent\", namespace = \"monitoring\" }}\n\
             [spec]\nselector = {{ matchLabels = {{ app = \"agent\" }} }}\n\
             [spec.template.metadata]\nlabels = {{ app = \"agent\", tier = \"node\" }}\n\
             annotations = {{ \"example.com/team\" = \"infra\" }}\n\
             [spec.template.spec]\n{pod}\n\
             [[spec.template.spec.containers]]\nname = \"main\"\nimage = \"img:1\"\n{container}\n\
             [[spec.template.spec.containers]]\nname = \"side\"\nimage = \"img:1\"\n\
             resources = {{ limits = {{ memory = \"64Mi\" }} }}\n"
        );
        toml::from_str(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"))
    }

    fn host() -> HostFacts {
        HostFacts {
            node_name: "node-1".into(),
            host_ips: vec![
                "10.213.0.11".parse::<IpAddr>().unwrap(),
                "fd00::11".parse().unwrap(),
            ],
            arch: Some("amd64".into()),
            os: Some("linux".into()),
            cpus: Some(4),
            memory_bytes: Some(8 << 30),
            ephemeral_storage_bytes: Some(100 << 30),
        }
    }

    const REV: &str = "0a1b2c3d4e";

    fn field(path: &str, d: &DaemonSet, h: &HostFacts) -> Result<String, DownwardError> {
        let selector = ObjectFieldSelector {
            api_version: None,
            field_path: path.into(),
        };
        let view = PodView {
            ds: d,
            revision: REV,
            host: h,
        };
        view.field(
            &parse_field_ref(&selector, ENV_FIELD_PATHS)
                .map_err(|e| DownwardError::Invalid(format!("{e:?}")))?,
        )
    }

    /// Every field the downward API gives an env var, for one host.
    #[test]
    fn field_table() {
        let d = ds("", "serviceAccountName = \"collector\"");
        let h = host();
        let uid = PodView {
            ds: &d,
            revision: REV,
            host: &h,
        }
        .uid();
        let cases: &[(&str, &str)] = &[
            ("metadata.name", "dsctl_agent_0a1b2c3d4e"),
            ("metadata.namespace", "monitoring"),
            ("metadata.uid", &uid),
            ("metadata.labels['app']", "agent"),
            ("metadata.labels['controller-revision-hash']", REV),
            ("metadata.labels['absent']", ""),
            ("metadata.annotations['example.com/team']", "infra"),
            ("spec.nodeName", "node-1"),
            ("spec.host", "node-1"),
            ("spec.serviceAccountName", "collector"),
            ("status.hostIP", "10.213.0.11"),
            ("status.hostIPs", "10.213.0.11,fd00::11"),
        ];
        for (path, want) in cases {
            assert_eq!(field(path, &d, &h).as_deref(), Ok(*want), "{path}");
        }
        // Pod IPs are the host's with hostNetwork, and cannot be known without it.
        let host_net = ds("", "hostNetwork = true");
        assert_eq!(field("status.podIP", &host_net, &h).unwrap(), "10.213.0.11");
        assert_eq!(
            field("status.podIPs", &host_net, &h).unwrap(),
            "10.213.0.11,fd00::11"
        );
        assert_eq!(field("status.podIP", &d, &h), Err(DownwardError::PodIp));
        assert!(!POD_IP_WHY.contains("hostNetwork"));
        // Defaults: no namespace, no service account.
        let plain = ds("", "");
        let mut plain = plain.clone();
        plain.metadata.namespace = None;
        assert_eq!(field("metadata.namespace", &plain, &h).unwrap(), "default");
        assert_eq!(
            field("spec.serviceAccountName", &plain, &h).unwrap(),
            "default"
        );
        // Unknown host facts are an error naming what is missing.
        let offline = HostFacts {
            node_name: "node-9".into(),
            ..Default::default()
        };
        let err = field("status.hostIP", &d, &offline)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("node-9") && err.contains("IP address"),
            "{err}"
        );
    }

    #[test]
    fn uid_is_uuid_shaped_and_per_instance() {
        let d = ds("", "");
        let h = host();
        let view = |rev, h| PodView {
            ds: &d,
            revision: rev,
            host: h,
        };
        let uid = view(REV, &h).uid();
        let parts: Vec<usize> = uid.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{uid}");
        assert_eq!(&uid[14..15], "8");
        assert!(matches!(&uid[19..20], "8" | "9" | "a" | "b"), "{uid}");
        assert_eq!(uid, view(REV, &h).uid());
        assert_ne!(uid, view("ffff", &h).uid());
        let other = HostFacts {
            node_name: "node-2".into(),
            ..host()
        };
        assert_ne!(uid, view(REV, &other).uid());
    }

    fn resource(
        container: &str,
        resource: &str,
        divisor: Option<&str>,
        h: &HostFacts,
    ) -> Result<String, DownwardError> {
        let d = ds(container, "");
        let selector = ResourceFieldSelector {
            container_name: None,
            resource: resource.into(),
            divisor: divisor.map(|d| Quantity(d.into())),
        };
        PodView {
            ds: &d,
            revision: REV,
            host: h,
        }
        .resource(&d.pod_spec().containers[0], &selector)
    }

    /// resourceFieldRef values: divisors round up; an unset limit is the node's allocatable;
    /// an unset request is the limit as written, else 0.
    #[test]
    fn resource_table() {
        let h = host();
        let limited = "resources = { limits = { cpu = \"250m\", memory = \"100Mi\", \"ephemeral-storage\" = \"1Gi\" }, requests = { cpu = \"100m\" } }";
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            (limited, "limits.cpu", None, "1"),
            (limited, "limits.cpu", Some("1m"), "250"),
            (limited, "limits.cpu", Some("1"), "1"),
            (limited, "requests.cpu", Some("1m"), "100"),
            (limited, "limits.memory", None, "104857600"),
            (limited, "limits.memory", Some("1Mi"), "100"),
            (limited, "limits.memory", Some("1M"), "105"),
            (limited, "limits.memory", Some("1Gi"), "1"),
            (limited, "requests.memory", Some("1Mi"), "100"),
            (limited, "limits.ephemeral-storage", Some("1Mi"), "1024"),
            (limited, "requests.ephemeral-storage", None, "1073741824"),
            (limited, "limits.cpu", Some("0"), "1"),
            // No limits: the node's allocatable (4 CPUs, 8Gi, 100Gi); no requests: 0.
            ("", "limits.cpu", None, "4"),
            ("", "limits.cpu", Some("1m"), "4000"),
            ("", "limits.memory", Some("1Mi"), "8192"),
            ("", "limits.ephemeral-storage", Some("1Gi"), "100"),
            ("", "requests.cpu", None, "0"),
            ("", "requests.memory", None, "0"),
            // A zero limit is no limit.
            (
                "resources = { limits = { cpu = 0 } }",
                "limits.cpu",
                None,
                "4",
            ),
            (
                "resources = { limits = { cpu = 0 } }",
                "requests.cpu",
                None,
                "0",
            ),
            (
                "resources = { requests = { memory = \"1Ki\" } }",
                "limits.memory",
                Some("1Gi"),
                "8",
            ),
        ];
        for (container, res, divisor, want) in cases {
            assert_eq!(
                resource(container, res, *divisor, &h).as_deref(),
                Ok(*want),
                "{container} {res} {divisor:?}"
            );
        }
        let offline = HostFacts {
            node_name: "n".into(),
            ..Default::default()
        };
        assert!(matches!(
            resource("", "limits.memory", None, &offline),
            Err(DownwardError::Unobserved {
                what: "the memory size",
                ..
            })
        ));
        assert_eq!(
            resource(limited, "limits.cpu", Some("1m"), &offline).unwrap(),
            "250"
        );
        // containerName picks another container of the pod.
        let d = ds("", "");
        let selector = ResourceFieldSelector {
            container_name: Some("side".into()),
            resource: "limits.memory".into(),
            divisor: Some(Quantity("1Mi".into())),
        };
        let view = PodView {
            ds: &d,
            revision: REV,
            host: &h,
        };
        assert_eq!(
            view.resource(&d.pod_spec().containers[0], &selector)
                .unwrap(),
            "64"
        );
        let selector = ResourceFieldSelector {
            container_name: Some("nope".into()),
            ..selector
        };
        assert_eq!(
            view.resource(&d.pod_spec().containers[0], &selector),
            Err(DownwardError::NoContainer("nope".into()))
        );
    }

    #[test]
    fn field_ref_checks() {
        let check = |path: &str, version: Option<&str>| {
            parse_field_ref(
                &ObjectFieldSelector {
                    api_version: version.map(str::to_string),
                    field_path: path.into(),
                },
                ENV_FIELD_PATHS,
            )
        };
        assert_eq!(check("spec.nodeName", Some("v1")), Ok(PodField::NodeName));
        assert_eq!(check("", None), Err(vec![FieldRefError::Required]));
        assert!(matches!(
            &check("spec.nodeName", Some("v2")).unwrap_err()[0],
            FieldRefError::Version { .. }
        ));
        assert_eq!(
            check("spec.nodename", None),
            Err(vec![FieldRefError::NotConvertible("spec.nodename".into())])
        );
        assert_eq!(
            check("status.phase", None),
            Err(vec![FieldRefError::NotSupported {
                path: "status.phase".into(),
                supported: ENV_FIELD_PATHS,
            }])
        );
        assert_eq!(
            check("metadata.labels", None),
            Err(vec![FieldRefError::NotSupported {
                path: "metadata.labels".into(),
                supported: ENV_FIELD_PATHS,
            }])
        );
        assert_eq!(
            check("spec.nodeName['x']", None),
            Err(vec![FieldRefError::NoSubscript(
                "spec.nodeName['x']".into()
            )])
        );
        let bad_key = check("metadata.labels['-bad-']", None).unwrap_err();
        assert!(bad_key[0].on_selector(), "{bad_key:?}");
        assert_eq!(
            check("metadata.annotations['Example.COM/Team']", None),
            Ok(PodField::Annotation("Example.COM/Team".into()))
        );
        let text = FieldRefError::NotSupported {
            path: "status.phase".into(),
            supported: ENV_FIELD_PATHS,
        }
        .to_string();
        for p in ENV_FIELD_PATHS {
            assert!(text.contains(&format!("{p:?}")), "{text}");
        }
    }

    #[test]
    fn resource_ref_checks() {
        let check = |resource: &str, divisor: Option<&str>| {
            check_resource_ref(&ResourceFieldSelector {
                container_name: None,
                resource: resource.into(),
                divisor: divisor.map(|d| Quantity(d.into())),
            })
        };
        assert!(check("limits.cpu", Some("1m")).is_empty());
        assert!(check("limits.cpu", Some("1000m")).is_empty());
        assert!(check("requests.memory", Some("1Gi")).is_empty());
        assert!(check("limits.ephemeral-storage", Some("1k")).is_empty());
        assert!(check("limits.memory", Some("0")).is_empty());
        assert_eq!(check("", None), [ResourceRefError::Required]);
        assert_eq!(
            check("limits.gpu", None),
            [ResourceRefError::NotSupported("limits.gpu".into())]
        );
        assert_eq!(
            check("limits.cpu", Some("10m")),
            [ResourceRefError::CpuDivisor("limits.cpu".into())]
        );
        let err = &check("requests.memory", Some("3Mi"))[0];
        assert!(
            err.on_divisor() && err.to_string().contains("memory resource"),
            "{err}"
        );
        assert!(matches!(
            &check("limits.memory", Some("lots"))[0],
            ResourceRefError::BadDivisor(..)
        ));
    }

    /// `makeEnvironmentVariables`: env order matters, `$$` escapes, undefined references stay.
    #[test]
    fn container_env_expands_in_order() {
        let d = ds(
            r#"env = [
                { name = "NODE", valueFrom = { fieldRef = { fieldPath = "spec.nodeName" } } },
                { name = "URL", value = "http://$(NODE):$(PORT)/$(MISSING)" },
                { name = "PORT", value = "9100" },
                { name = "AGAIN", value = "$(PORT) $$(PORT) $(URL)" },
                { name = "MEM", valueFrom = { resourceFieldRef = { resource = "limits.memory", divisor = "1Mi" } } },
                { name = "EMPTY" },
            ]"#,
            "",
        );
        let h = host();
        let env = PodView {
            ds: &d,
            revision: REV,
            host: &h,
        }
        .container_env(&d.pod_spec().containers[0])
        .unwrap();
        let want = [
            ("NODE", "node-1"),
            ("URL", "http://node-1:$(PORT)/$(MISSING)"),
            ("PORT", "9100"),
            ("AGAIN", "9100 $(PORT) http://node-1:$(PORT)/$(MISSING)"),
            ("MEM", "8192"),
            ("EMPTY", ""),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(env, want);
        let pod_ip = ds(
            r#"env = [{ name = "IP", valueFrom = { fieldRef = { fieldPath = "status.podIP" } } }]"#,
            "",
        );
        let (field, why) = PodView {
            ds: &pod_ip,
            revision: REV,
            host: &h,
        }
        .container_env(&pod_ip.pod_spec().containers[0])
        .unwrap_err();
        assert_eq!(field, "env[0].valueFrom.fieldRef");
        assert!(why.contains("podman assigns"), "{why}");
    }
}
