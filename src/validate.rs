//! Validation of DaemonSet specs and inventories, as the Kubernetes API server does it
//! (pkg/apis/apps/validation `ValidateDaemonSet` and the pod-spec checks of
//! pkg/apis/core/validation, for the fields dsctl supports), plus what a bare host needs.
//!
//! Pure: findings name a Kubernetes field path (`spec.template.spec.containers[0].name`), never
//! a position in a file; the loader turns paths into file:line:column.
//!
//! [`HOSTLESS_FIELDS`] is the one table of Kubernetes fields that mean nothing, or cannot be
//! honoured, on a bare host, and whether each is warned about (ignored) or refused.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;

use crate::daemonset::{
    Container, DaemonSet, HttpGetAction, LabelSelector, LabelSelectorOperator, MAX_SECONDS,
    MountPropagation, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, PodSpec,
    Probe, SeccompProfile, SeccompProfileType, TaintEffect, TolerationOperator, UpdateStrategyType,
    Volume,
};
use crate::diagnostic::{Severity, child, index, key};
use crate::downward;
use crate::int_or_string::IntOrString;
use crate::inventory::InventoryFile;
use crate::k8s_names;
use crate::quantity::{Quantity, QuantityError};
use crate::render;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Kubernetes field path, e.g. `spec.template.spec.containers[0].ports[1].containerPort`.
    pub field: String,
    pub message: String,
    pub help: Option<String>,
    /// Whether the caret belongs under the field's value or its key (a bad label key).
    pub target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Value,
    Key,
}

impl Finding {
    pub fn error(field: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            field: field.into(),
            message: message.into(),
            help: None,
            target: Target::Value,
        }
    }

    pub fn warning(field: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(field, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    fn on_key(mut self) -> Self {
        self.target = Target::Key;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The decision table: Kubernetes fields without a meaning on a bare host.
// ---------------------------------------------------------------------------------------------

/// Where in a spec a field lives (the Kubernetes type that declares it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    DaemonSet,
    ObjectMeta,
    DaemonSetSpec,
    TemplateMeta,
    PodSpec,
    PodSecurityContext,
    Affinity,
    Container,
    SecurityContext,
    Resources,
    Volume,
    VolumeMount,
    EnvVar,
    /// An env var's `valueFrom`.
    EnvVarSource,
    Probe,
}

/// Values of a field that ask for nothing beyond what dsctl does anyway; they draw no finding.
/// An empty value (`""`, `[]`, `{}`) is always benign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Benign {
    Never,
    IfFalse,
    IfTrue,
    IfString(&'static str),
    /// A table whose given field has the given string value (`{ type = "RuntimeDefault" }`).
    IfTableField(&'static str, &'static str),
}

/// One Kubernetes field dsctl ignores (a warning) or refuses (an error), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostlessField {
    pub location: Location,
    pub key: &'static str,
    /// Warning: ignoring it changes nothing a host could do. Error: ignoring it would change
    /// behaviour, so the user must remove or replace it.
    pub severity: Severity,
    pub benign: Benign,
    /// Whether the model keeps the field (as `Option<toml::Value>`) for `validate` to see;
    /// otherwise the loader takes it out of the document before deserializing.
    pub declared: bool,
    pub why: &'static str,
}

const fn field(
    location: Location,
    key: &'static str,
    severity: Severity,
    benign: Benign,
    declared: bool,
    why: &'static str,
) -> HostlessField {
    HostlessField {
        location,
        key,
        severity,
        benign,
        declared,
        why,
    }
}

use Benign::{IfFalse, IfString, IfTableField, IfTrue, Never};
use Location as L;
use Severity::{Error as E, Warning as W};

const SERVER_WRITTEN: &str = "it is written by the Kubernetes API server, not by users";
const NO_API_SERVER: &str = "it needs a Kubernetes API server, and hosts have none";
const ONLY_HOSTPATH: &str = "only hostPath and emptyDir volumes exist on a bare host; mount the storage on the host and use a hostPath volume";

/// Every Kubernetes field dsctl knows but does not honour. One row per (type, field).
#[rustfmt::skip]
pub const HOSTLESS_FIELDS: &[HostlessField] = &[
    // DaemonSet
    field(L::DaemonSet, "status", W, Never, true, "it is the controller's report, not part of the spec; see `dsctl get` and `dsctl rollout status`"),
    // ObjectMeta
    field(L::ObjectMeta, "namespace", W, Never, true, "hosts have no namespaces: a DaemonSet name is unique across the whole inventory"),
    field(L::ObjectMeta, "uid", W, Never, false, SERVER_WRITTEN),
    field(L::ObjectMeta, "resourceVersion", W, Never, false, SERVER_WRITTEN),
    field(L::ObjectMeta, "generation", W, Never, false, SERVER_WRITTEN),
    field(L::ObjectMeta, "creationTimestamp", W, Never, false, SERVER_WRITTEN),
    field(L::ObjectMeta, "deletionTimestamp", W, Never, false, SERVER_WRITTEN),
    field(L::ObjectMeta, "deletionGracePeriodSeconds", W, Never, false, SERVER_WRITTEN),
    field(L::ObjectMeta, "selfLink", W, Never, false, SERVER_WRITTEN),
    field(L::ObjectMeta, "managedFields", W, Never, false, SERVER_WRITTEN),
    field(L::ObjectMeta, "ownerReferences", W, Never, false, "there is no garbage collector on a bare host"),
    field(L::ObjectMeta, "finalizers", W, Never, false, "there is no garbage collector on a bare host"),
    field(L::ObjectMeta, "generateName", E, Never, false, "dsctl needs a fixed name to find the DaemonSet on its hosts again; set metadata.name"),
    // DaemonSetSpec
    field(L::DaemonSetSpec, "templateGeneration", W, Never, false, "it is a deprecated extensions/v1beta1 field; dsctl hashes the template instead"),
    // Pod template metadata
    field(L::TemplateMeta, "name", W, Never, false, "instances are named after the DaemonSet and the container"),
    field(L::TemplateMeta, "generateName", W, Never, false, "instances are named after the DaemonSet and the container"),
    field(L::TemplateMeta, "namespace", W, Never, false, "hosts have no namespaces"),
    field(L::TemplateMeta, "creationTimestamp", W, Never, false, SERVER_WRITTEN),
    // PodSpec: ignored
    field(L::PodSpec, "serviceAccountName", W, Never, true, "there is no API server, so no service-account token is mounted"),
    field(L::PodSpec, "serviceAccount", W, Never, true, "there is no API server, so no service-account token is mounted"),
    field(L::PodSpec, "automountServiceAccountToken", W, IfFalse, true, "there is no API server, so no service-account token is mounted"),
    field(L::PodSpec, "priorityClassName", W, Never, true, "there is no scheduler that could preempt anything on a bare host"),
    field(L::PodSpec, "priority", W, Never, false, "there is no scheduler that could preempt anything on a bare host"),
    field(L::PodSpec, "preemptionPolicy", W, Never, false, "there is no scheduler that could preempt anything on a bare host"),
    field(L::PodSpec, "schedulerName", W, IfString("default-scheduler"), true, "dsctl places DaemonSet instances itself, as the DaemonSet controller does"),
    field(L::PodSpec, "dnsPolicy", W, IfString("Default"), true, "there is no cluster DNS: containers resolve names through the host's /etc/resolv.conf, like dnsPolicy Default"),
    field(L::PodSpec, "imagePullSecrets", W, Never, true, "there are no Secrets; log each host into the registry with `podman login` instead"),
    field(L::PodSpec, "enableServiceLinks", W, IfFalse, false, "there are no Services whose addresses could be injected"),
    field(L::PodSpec, "subdomain", W, Never, false, "there is no cluster DNS to register the name in"),
    field(L::PodSpec, "setHostnameAsFQDN", W, IfFalse, false, "there is no cluster DNS domain"),
    field(L::PodSpec, "os", W, IfTableField("name", "linux"), false, "dsctl hosts run Linux"),
    field(L::PodSpec, "overhead", W, Never, false, "it is set by a RuntimeClass, and there is none"),
    field(L::PodSpec, "topologySpreadConstraints", W, Never, false, "a DaemonSet runs one instance per host, so there is nothing to spread"),
    // PodSpec: refused
    field(L::PodSpec, "restartPolicy", E, IfString("Always"), true, "DaemonSet instances always restart (Kubernetes accepts only Always); the units use Restart=always"),
    field(L::PodSpec, "ephemeralContainers", E, Never, true, "debug containers need the kubelet; use `podman exec` on the host"),
    field(L::PodSpec, "hostIPC", E, IfFalse, true, "sharing the host's IPC namespace is not rendered into units"),
    field(L::PodSpec, "hostUsers", E, IfTrue, false, "user namespaces are not set up; containers share the host's users"),
    field(L::PodSpec, "shareProcessNamespace", E, IfFalse, false, "the containers of an instance run as separate podman containers without a shared PID namespace"),
    field(L::PodSpec, "activeDeadlineSeconds", E, Never, false, "Kubernetes forbids it for DaemonSets: their pods run until replaced"),
    field(L::PodSpec, "dnsConfig", E, Never, false, "custom nameservers and search domains are not rendered into units"),
    field(L::PodSpec, "hostAliases", E, Never, false, "extra /etc/hosts entries are not rendered into units"),
    field(L::PodSpec, "hostname", E, Never, false, "containers get podman's hostname, or the host's with hostNetwork"),
    field(L::PodSpec, "readinessGates", E, Never, false, "nothing on a bare host sets the pod conditions they wait for"),
    field(L::PodSpec, "resourceClaims", E, Never, false, "dynamic resource allocation needs a cluster"),
    field(L::PodSpec, "runtimeClassName", E, Never, false, "containers always run with podman's default OCI runtime"),
    field(L::PodSpec, "schedulingGates", E, Never, false, "a gated pod would never start, and nothing could remove the gate"),
    // Pod securityContext, field by field
    field(L::PodSecurityContext, "sysctls", E, Never, false, "namespaced sysctls are not rendered into units"),
    field(L::PodSecurityContext, "appArmorProfile", E, IfTableField("type", "RuntimeDefault"), false, "podman applies its default AppArmor profile, and only that"),
    field(L::PodSecurityContext, "fsGroupChangePolicy", W, Never, false, "volume ownership is not changed on a bare host"),
    field(L::PodSecurityContext, "supplementalGroupsPolicy", E, IfString("Merge"), false, "podman always adds the groups the image's /etc/group gives the user, as the Merge policy does; Strict is not rendered into units"),
    field(L::PodSecurityContext, "seLinuxOptions", W, Never, false, "podman applies its default SELinux label"),
    field(L::PodSecurityContext, "seLinuxChangePolicy", W, Never, false, "podman applies its default SELinux label"),
    field(L::PodSecurityContext, "windowsOptions", W, Never, false, "dsctl hosts run Linux"),
    // Affinity
    field(L::Affinity, "podAffinity", E, Never, true, "dsctl cannot see the pods of other workloads, so it could not place by them"),
    field(L::Affinity, "podAntiAffinity", E, Never, true, "dsctl cannot see the pods of other workloads, so it could not place by them"),
    // Container
    field(L::Container, "terminationMessagePath", W, IfString("/dev/termination-log"), true, "podman keeps no termination message; read the unit's journal"),
    field(L::Container, "terminationMessagePolicy", W, IfString("File"), true, "podman keeps no termination message; read the unit's journal"),
    field(L::Container, "stdin", W, IfFalse, false, "units run without an attached terminal"),
    field(L::Container, "stdinOnce", W, IfFalse, false, "units run without an attached terminal"),
    field(L::Container, "tty", W, IfFalse, false, "units run without an attached terminal"),
    field(L::Container, "resizePolicy", W, Never, false, "resources change by replacing the instance"),
    field(L::Container, "envFrom", E, Never, true, "ConfigMaps and Secrets need an API server; list the variables under env"),
    field(L::Container, "volumeDevices", E, Never, false, "block devices from claims need a cluster; mount the device with a hostPath volume"),
    field(L::Container, "restartPolicy", E, Never, false, "a container-level restartPolicy is for sidecar init containers, which dsctl does not run"),
    // Container securityContext
    field(L::SecurityContext, "appArmorProfile", E, IfTableField("type", "RuntimeDefault"), false, "podman applies its default AppArmor profile, and only that"),
    field(L::SecurityContext, "seLinuxOptions", W, Never, true, "podman applies its default SELinux label"),
    field(L::SecurityContext, "windowsOptions", W, Never, false, "dsctl hosts run Linux"),
    // Container resources
    field(L::Resources, "claims", E, Never, false, "dynamic resource allocation needs a cluster"),
    // Volumes
    field(L::Volume, "configMap", E, Never, true, NO_API_SERVER),
    field(L::Volume, "secret", E, Never, true, NO_API_SERVER),
    field(L::Volume, "persistentVolumeClaim", E, Never, true, NO_API_SERVER),
    field(L::Volume, "projected", E, Never, true, NO_API_SERVER),
    field(L::Volume, "ephemeral", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "csi", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "nfs", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "iscsi", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "fc", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "rbd", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "cephfs", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "glusterfs", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "flexVolume", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "image", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "gitRepo", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "awsElasticBlockStore", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "gcePersistentDisk", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "azureDisk", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "azureFile", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "cinder", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "vsphereVolume", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "portworxVolume", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "photonPersistentDisk", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "quobyte", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "scaleIO", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "storageos", E, Never, false, ONLY_HOSTPATH),
    field(L::Volume, "flocker", E, Never, false, ONLY_HOSTPATH),
    // Volume mounts
    field(L::VolumeMount, "recursiveReadOnly", E, IfString("Disabled"), false, "recursive read-only mounts are not rendered into units"),
    // Env var sources (fieldRef and resourceFieldRef are resolved on each host)
    field(L::EnvVarSource, "configMapKeyRef", E, Never, true, "there are no ConfigMaps without an API server; write the value under env"),
    field(L::EnvVarSource, "secretKeyRef", E, Never, true, "there are no Secrets without an API server; write the value under env"),
    field(L::EnvVarSource, "fileKeyRef", E, Never, true, "env files from volumes are not read into units"),
    // Probes
    field(L::Probe, "grpc", E, Never, true, "podman health checks cannot speak gRPC; use exec with a gRPC health client, or tcpSocket"),
];

/// The table row for `key` in `location`, if dsctl knows it as a field without meaning here.
pub fn hostless_field(location: Location, key: &str) -> Option<&'static HostlessField> {
    HOSTLESS_FIELDS
        .iter()
        .find(|f| f.location == location && f.key == key)
}

/// The finding for a hostless field set to `value` at `path`, or `None` when the value asks
/// for nothing dsctl would not do anyway. `None` as well for keys not in the table.
pub fn check_hostless(
    location: Location,
    key: &str,
    value: &toml::Value,
    path: &str,
) -> Option<Finding> {
    let row = hostless_field(location, key)?;
    if is_empty_value(value) || is_benign(row.benign, value) {
        return None;
    }
    Some(hostless_finding(row, path))
}

fn hostless_finding(row: &HostlessField, path: &str) -> Finding {
    match row.severity {
        Severity::Warning => Finding::warning(path, format!("ignored on a bare host: {}", row.why)),
        Severity::Error => Finding::error(
            path,
            format!("not supported on a bare host: {}", row.why),
        )
        .with_help(
            "dsctl refuses the field rather than run the container differently from what it asks",
        ),
    }
}

fn is_empty_value(value: &toml::Value) -> bool {
    match value {
        toml::Value::String(s) => s.is_empty(),
        toml::Value::Array(a) => a.is_empty(),
        toml::Value::Table(t) => t.is_empty(),
        _ => false,
    }
}

fn is_benign(benign: Benign, value: &toml::Value) -> bool {
    match benign {
        Never => false,
        IfFalse => value.as_bool() == Some(false),
        IfTrue => value.as_bool() == Some(true),
        IfString(s) => value.as_str() == Some(s),
        IfTableField(k, v) => value
            .as_table()
            .is_some_and(|t| t.len() == 1 && t.get(k).and_then(|x| x.as_str()) == Some(v)),
    }
}

// ---------------------------------------------------------------------------------------------
// DaemonSet
// ---------------------------------------------------------------------------------------------

/// Everything wrong with a DaemonSet, errors and warnings, in document order.
pub fn validate_daemonset(ds: &DaemonSet) -> Vec<Finding> {
    let mut v = Findings::default();
    if ds.api_version != "apps/v1" {
        v.push(
            unsupported("apiVersion", &ds.api_version, &["apps/v1"])
                .with_help("dsctl reads DaemonSets of the stable apps/v1 API"),
        );
    }
    if ds.kind != "DaemonSet" {
        v.push(unsupported("kind", &ds.kind, &["DaemonSet"]).with_help("one DaemonSet per file"));
    }
    v.object_meta(ds);
    v.spec(ds);
    v.extensions(ds);
    if let Some(status) = &ds.status {
        v.hostless(L::DaemonSet, "status", status, "status");
    }
    v.0
}

#[derive(Default)]
struct Findings(Vec<Finding>);

const POD: &str = "spec.template.spec";

impl Findings {
    fn push(&mut self, finding: Finding) {
        self.0.push(finding);
    }

    fn hostless(&mut self, location: Location, key: &str, value: &toml::Value, path: &str) {
        if let Some(finding) = check_hostless(location, key, value, path) {
            self.push(finding);
        }
    }

    fn hostless_opt(
        &mut self,
        location: Location,
        parent: &str,
        key: &str,
        value: &Option<toml::Value>,
    ) {
        if let Some(value) = value {
            self.hostless(location, key, value, &child(parent, key));
        }
    }

    fn object_meta(&mut self, ds: &DaemonSet) {
        let meta = &ds.metadata;
        let name = &meta.name;
        if name.is_empty() {
            self.push(Finding::error(
                "metadata.name",
                "Required value: name is required",
            ));
        } else {
            let subdomain = k8s_names::dns1123_subdomain(name);
            let label = k8s_names::dns1123_label(name);
            for msg in &subdomain {
                self.push(invalid("metadata.name", name, msg));
            }
            if subdomain.is_empty() && !label.is_empty() {
                // Kubernetes takes any DNS subdomain; dsctl needs a label (see the help).
                for msg in label {
                    self.push(invalid("metadata.name", name, &msg).with_help(
                        "dsctl builds systemd unit and podman container names on every host from the \
                         DaemonSet name, so it must be a DNS-1123 label: at most 63 lowercase letters, \
                         digits and '-', as Kubernetes requires of the names it builds pod and container names from",
                    ));
                }
            }
        }
        // Hosts have no namespaces; the downward API is the one place that shows it.
        let shown = ds
            .pod_spec()
            .containers
            .iter()
            .flat_map(|c| &c.env)
            .any(|e| {
                e.value_from
                    .as_ref()
                    .and_then(|f| f.field_ref.as_ref())
                    .is_some_and(|f| f.field_path == "metadata.namespace")
            });
        if let Some(namespace) = &meta.namespace
            && !shown
        {
            self.hostless(
                L::ObjectMeta,
                "namespace",
                &toml::Value::String(namespace.clone()),
                "metadata.namespace",
            );
        }
        self.labels(&meta.labels, "metadata.labels");
        self.annotations(&meta.annotations, "metadata.annotations");
    }

    fn spec(&mut self, ds: &DaemonSet) {
        let spec = &ds.spec;
        self.selector(&spec.selector, "spec.selector");
        let template_labels = &spec.template.metadata.labels;
        let selector = &spec.selector;
        if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
            self.push(
                Finding::error(
                    "spec.selector",
                    "Invalid value: {}: empty selector is invalid for daemonset",
                )
                .with_help("select the template's labels, e.g. matchLabels = { app = \"NAME\" }"),
            );
        } else if let Ok(parsed) = crate::labels::label_selector_as_selector(selector)
            && !parsed.matches(template_labels)
        {
            self.push(
                invalid(
                    "spec.template.metadata.labels",
                    &DisplayMap(template_labels),
                    "`selector` does not match template `labels`",
                )
                .with_help(format!(
                    "spec.selector must select spec.template.metadata.labels; the selector is {}",
                    describe_selector(selector)
                )),
            );
        }
        self.labels(template_labels, "spec.template.metadata.labels");
        self.annotations(
            &spec.template.metadata.annotations,
            "spec.template.metadata.annotations",
        );
        seconds(self, spec.min_ready_seconds, "spec.minReadySeconds");
        non_negative(
            self,
            spec.revision_history_limit,
            "spec.revisionHistoryLimit",
        );
        self.update_strategy(ds);
        self.pod_spec(&spec.template.spec);
    }

    fn update_strategy(&mut self, ds: &DaemonSet) {
        let strategy = &ds.spec.update_strategy;
        let path = "spec.updateStrategy.rollingUpdate";
        let Some(rolling) = &strategy.rolling_update else {
            return;
        };
        if strategy.kind != UpdateStrategyType::RollingUpdate {
            self.push(
                Finding::error(
                    path,
                    "Forbidden: only allowed for updateStrategy type 'RollingUpdate'",
                )
                .with_help("remove rollingUpdate, or set updateStrategy.type = \"RollingUpdate\""),
            );
            return;
        }
        // Kubernetes defaults a missing maxUnavailable to 1 and a missing maxSurge to 0.
        let unavailable = rolling
            .max_unavailable
            .clone()
            .unwrap_or(IntOrString::Int(1));
        let surge = rolling.max_surge.clone().unwrap_or(IntOrString::Int(0));
        let unavailable_path = child(path, "maxUnavailable");
        let surge_path = child(path, "maxSurge");
        self.int_or_percent(&unavailable, &unavailable_path);
        self.int_or_percent(&surge, &surge_path);
        let has_unavailable = int_or_percent_value(&unavailable) != 0;
        let has_surge = int_or_percent_value(&surge) != 0;
        match (has_unavailable, has_surge) {
            (true, true) => self.push(
                invalid(&surge_path, &surge, "may not be set when maxUnavailable is non-zero").with_help(
                    "a DaemonSet update either stops old instances first (maxUnavailable) or starts new \
                     ones first (maxSurge); to surge, set maxUnavailable = 0 (it defaults to 1)",
                ),
            ),
            (false, false) => self.push(
                Finding::error(&unavailable_path, "Required value: cannot be 0 when maxSurge is 0")
                    .with_help("with both 0 an update could never replace an instance; set maxUnavailable = 1 or maxSurge = 1"),
            ),
            _ => {}
        }
        if has_surge && let Some(port) = first_host_port(ds.pod_spec()) {
            self.push(
                invalid(&surge_path, &surge, "may not be non-zero when a container uses a host port").with_help(format!(
                    "during a surge the old and the new instance run side by side on a host, and both \
                     would bind host port {port}; use maxUnavailable instead"
                )),
            );
        }
    }

    fn int_or_percent(&mut self, value: &IntOrString, path: &str) {
        match value {
            IntOrString::Int(n) => non_negative(self, *n, path),
            IntOrString::String(s) => {
                let errs = k8s_names::percent(s);
                for msg in &errs {
                    self.push(invalid(path, s, msg));
                }
                if errs.is_empty() && int_or_percent_value(value) > 100 {
                    self.push(invalid(path, s, "must not be greater than 100%"));
                }
            }
        }
    }

    fn extensions(&mut self, ds: &DaemonSet) {
        let Some(ext) = &ds.dsctl else { return };
        if let Some(deadline) = ext.progress_deadline_seconds {
            if deadline == 0 {
                self.push(invalid(
                    "dsctl.progressDeadlineSeconds",
                    &deadline,
                    "must be greater than 0",
                ));
            } else if i128::from(deadline) > i128::from(MAX_SECONDS) {
                at_most_max_seconds(self, i128::from(deadline), "dsctl.progressDeadlineSeconds");
            } else if (deadline as i128) <= ds.spec.min_ready_seconds as i128 {
                self.push(
                    invalid(
                        "dsctl.progressDeadlineSeconds",
                        &deadline,
                        "must be greater than minReadySeconds",
                    )
                    .with_help(
                        "a batch needs minReadySeconds of readiness before it counts as available",
                    ),
                );
            }
        }
        if ext.partition == Some(0) {
            self.push(
                invalid("dsctl.partition", &0, "must be greater than 0").with_help(
                    "a partition of 0 would update no host; set paused = true to hold a rollout",
                ),
            );
        }
        if let Some(canary) = &ext.canary_selector {
            self.selector(canary, "dsctl.canarySelector");
            if canary.match_labels.is_empty() && canary.match_expressions.is_empty() {
                self.push(
                    Finding::error("dsctl.canarySelector", "Invalid value: {}: an empty canary selector selects every host")
                        .with_help("select the canary hosts' labels, or remove canarySelector for a full rollout"),
                );
            }
        }
        let rollout_only =
            ext.partition.is_some() || ext.canary_selector.is_some() || ext.auto_revert;
        if ds.spec.update_strategy.kind == UpdateStrategyType::OnDelete && rollout_only {
            self.push(Finding::warning(
                "dsctl",
                "partition, canarySelector and autoRevert steer rolling updates and are ignored with updateStrategy OnDelete",
            ));
        }
    }

    fn labels(&mut self, labels: &BTreeMap<String, String>, path: &str) {
        for (k, value) in labels {
            let entry = key(path, k);
            for msg in k8s_names::qualified_name(k) {
                self.push(invalid(&entry, k, &msg).on_key());
            }
            for msg in k8s_names::label_value(value) {
                self.push(invalid(&entry, value, &msg));
            }
        }
    }

    fn annotations(&mut self, annotations: &BTreeMap<String, String>, path: &str) {
        const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
        let mut total = 0;
        for (k, value) in annotations {
            for msg in k8s_names::qualified_name(k) {
                self.push(invalid(&key(path, k), k, &msg).on_key());
            }
            total += k.len() + value.len();
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT {
            self.push(Finding::error(
                path,
                format!("Too long: must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
            ));
        }
    }

    /// `ValidateLabelSelector`.
    fn selector(&mut self, selector: &LabelSelector, path: &str) {
        self.labels(&selector.match_labels, &child(path, "matchLabels"));
        for (i, expr) in selector.match_expressions.iter().enumerate() {
            let p = index(&child(path, "matchExpressions"), i);
            match expr.operator {
                LabelSelectorOperator::In | LabelSelectorOperator::NotIn => {
                    if expr.values.is_empty() {
                        self.push(Finding::error(
                            child(&p, "values"),
                            "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                        ));
                    }
                }
                LabelSelectorOperator::Exists | LabelSelectorOperator::DoesNotExist => {
                    if !expr.values.is_empty() {
                        self.push(Finding::error(
                            child(&p, "values"),
                            "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                        ));
                    }
                }
            }
            for msg in k8s_names::qualified_name(&expr.key) {
                self.push(invalid(&child(&p, "key"), &expr.key, &msg));
            }
            for (j, value) in expr.values.iter().enumerate() {
                for msg in k8s_names::label_value(value) {
                    self.push(invalid(&index(&child(&p, "values"), j), value, &msg));
                }
            }
        }
    }

    fn pod_spec(&mut self, pod: &PodSpec) {
        let volumes = self.volumes(pod);
        self.containers(pod, &volumes);
        self.labels(&pod.node_selector, &child(POD, "nodeSelector"));
        if let Some(node_name) = &pod.node_name {
            for msg in k8s_names::dns1123_subdomain(node_name) {
                self.push(invalid(&child(POD, "nodeName"), node_name, &msg));
            }
        }
        if let Some(affinity) = &pod.affinity {
            let path = child(POD, "affinity");
            if let Some(node) = &affinity.node_affinity {
                let path = child(&path, "nodeAffinity");
                if let Some(required) = &node.required {
                    let path = child(&path, "requiredDuringSchedulingIgnoredDuringExecution");
                    let terms = child(&path, "nodeSelectorTerms");
                    if required.node_selector_terms.is_empty() {
                        self.push(Finding::error(
                            terms.clone(),
                            "Required value: must have at least one node selector term",
                        ));
                    }
                    for (i, term) in required.node_selector_terms.iter().enumerate() {
                        self.node_selector_term(term, &index(&terms, i));
                    }
                }
                let preferred = child(&path, "preferredDuringSchedulingIgnoredDuringExecution");
                for (i, term) in node.preferred.iter().enumerate() {
                    let p = index(&preferred, i);
                    if !(1..=100).contains(&term.weight) {
                        self.push(invalid(
                            &child(&p, "weight"),
                            &term.weight,
                            "must be in the range 1-100",
                        ));
                    }
                    self.node_selector_term(&term.preference, &child(&p, "preference"));
                }
            }
            self.hostless_opt(L::Affinity, &path, "podAffinity", &affinity.pod_affinity);
            self.hostless_opt(
                L::Affinity,
                &path,
                "podAntiAffinity",
                &affinity.pod_anti_affinity,
            );
        }
        self.tolerations(pod);
        if let Some(grace) = pod.termination_grace_period_seconds {
            seconds(self, grace, &child(POD, "terminationGracePeriodSeconds"));
        }
        for (key, value) in [
            ("serviceAccountName", &pod.service_account_name),
            ("serviceAccount", &pod.service_account),
            (
                "automountServiceAccountToken",
                &pod.automount_service_account_token,
            ),
            ("priorityClassName", &pod.priority_class_name),
            ("dnsPolicy", &pod.dns_policy),
            ("restartPolicy", &pod.restart_policy),
            ("imagePullSecrets", &pod.image_pull_secrets),
            ("schedulerName", &pod.scheduler_name),
            ("ephemeralContainers", &pod.ephemeral_containers),
            ("hostIPC", &pod.host_ipc),
        ] {
            self.hostless_opt(L::PodSpec, POD, key, value);
        }
        self.pod_security_context(pod);
    }

    fn pod_security_context(&mut self, pod: &PodSpec) {
        let Some(psc) = &pod.security_context else {
            return;
        };
        let p = child(POD, "securityContext");
        for (k, id) in [
            ("runAsUser", psc.run_as_user),
            ("runAsGroup", psc.run_as_group),
            ("fsGroup", psc.fs_group),
        ] {
            if let Some(id) = id {
                for msg in k8s_names::unix_id(id) {
                    self.push(invalid(&child(&p, k), &id, &msg));
                }
            }
        }
        for (i, id) in psc.supplemental_groups.iter().enumerate() {
            for msg in k8s_names::unix_id(*id) {
                self.push(invalid(
                    &index(&child(&p, "supplementalGroups"), i),
                    id,
                    &msg,
                ));
            }
        }
        if let Some(profile) = &psc.seccomp_profile {
            self.seccomp_profile(profile, &child(&p, "seccompProfile"));
        }
        if psc.fs_group.is_some() && pod.volumes.iter().any(|v| v.empty_dir.is_some()) {
            self.push(Finding::warning(
                child(&p, "fsGroup"),
                "emptyDir volumes are not given to fsGroup; the group is added to every container's supplemental groups",
            ));
        }
    }

    fn seccomp_profile(&mut self, profile: &SeccompProfile, path: &str) {
        let lp = child(path, "localhostProfile");
        match (profile.kind, &profile.localhost_profile) {
            (SeccompProfileType::Localhost, None) => self.push(Finding::error(
                lp,
                "Required value: must be set when seccomp type is Localhost",
            )),
            (SeccompProfileType::Localhost, Some(lhp)) => {
                if let Err(msg) = render::localhost_seccomp_profile(lhp) {
                    self.push(invalid(&lp, lhp, &msg));
                }
            }
            (_, Some(lhp)) => self.push(invalid(
                &lp,
                lhp,
                "can only be set when seccomp type is Localhost",
            )),
            (_, None) => {}
        }
    }

    fn node_selector_term(&mut self, term: &NodeSelectorTerm, path: &str) {
        for (i, req) in term.match_expressions.iter().enumerate() {
            self.node_selector_requirement(req, &index(&child(path, "matchExpressions"), i));
        }
        for (i, req) in term.match_fields.iter().enumerate() {
            let p = index(&child(path, "matchFields"), i);
            if req.key != "metadata.name" {
                self.push(unsupported(&child(&p, "key"), &req.key, &["metadata.name"]));
            }
            match req.operator {
                NodeSelectorOperator::In | NodeSelectorOperator::NotIn => {
                    if req.values.len() != 1 {
                        self.push(Finding::error(
                            child(&p, "values"),
                            "Required value: must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                        ));
                    }
                }
                other => self.push(unsupported(
                    &child(&p, "operator"),
                    &format!("{other:?}"),
                    &["In", "NotIn"],
                )),
            }
        }
    }

    /// `ValidateNodeSelectorRequirement`, with Gt/Lt values checked to be integers.
    fn node_selector_requirement(&mut self, req: &NodeSelectorRequirement, path: &str) {
        let values = child(path, "values");
        match req.operator {
            NodeSelectorOperator::In | NodeSelectorOperator::NotIn => {
                if req.values.is_empty() {
                    self.push(Finding::error(
                        values,
                        "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            NodeSelectorOperator::Exists | NodeSelectorOperator::DoesNotExist => {
                if !req.values.is_empty() {
                    self.push(Finding::error(
                        values,
                        "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
                if req.values.len() != 1 {
                    self.push(Finding::error(
                        values,
                        "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'",
                    ));
                } else if req.values[0].parse::<i64>().is_err() {
                    self.push(invalid(
                        &index(&values, 0),
                        &req.values[0],
                        "must be an integer when `operator` is 'Lt' or 'Gt'",
                    ));
                }
            }
        }
        for msg in k8s_names::qualified_name(&req.key) {
            self.push(invalid(&child(path, "key"), &req.key, &msg));
        }
    }

    /// `validateTolerations`.
    fn tolerations(&mut self, pod: &PodSpec) {
        let path = child(POD, "tolerations");
        for (i, t) in pod.tolerations.iter().enumerate() {
            let p = index(&path, i);
            let key = t.key.as_deref().unwrap_or("");
            let value = t.value.as_deref().unwrap_or("");
            if !key.is_empty() {
                for msg in k8s_names::qualified_name(key) {
                    self.push(invalid(&child(&p, "key"), &key, &msg));
                }
            }
            let operator = t.operator.unwrap_or(TolerationOperator::Equal);
            if key.is_empty() && operator != TolerationOperator::Exists {
                self.push(invalid(
                    &child(&p, "operator"),
                    &format!("{operator:?}"),
                    "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                ));
            }
            if t.toleration_seconds.is_some() && t.effect != Some(TaintEffect::NoExecute) {
                self.push(invalid(
                    &child(&p, "effect"),
                    &t.effect.map(|e| format!("{e:?}")).unwrap_or_default(),
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                ));
            }
            match operator {
                TolerationOperator::Equal => {
                    for msg in k8s_names::label_value(value) {
                        self.push(invalid(&child(&p, "value"), &value, &msg));
                    }
                }
                TolerationOperator::Exists => {
                    if !value.is_empty() {
                        self.push(invalid(
                            &child(&p, "value"),
                            &value,
                            "value must be empty when `operator` is 'Exists'",
                        ));
                    }
                }
            }
        }
    }

    /// Volumes: unique DNS-1123 names, exactly one source. Returns the names defined.
    fn volumes(&mut self, pod: &PodSpec) -> BTreeSet<String> {
        let path = child(POD, "volumes");
        let mut names = BTreeSet::new();
        for (i, vol) in pod.volumes.iter().enumerate() {
            let p = index(&path, i);
            let name_path = child(&p, "name");
            if vol.name.is_empty() {
                self.push(Finding::error(&name_path, "Required value"));
            } else {
                for msg in k8s_names::dns1123_label(&vol.name) {
                    self.push(invalid(&name_path, &vol.name, &msg));
                }
                if !names.insert(vol.name.clone()) {
                    self.push(duplicate(&name_path, &vol.name));
                }
            }
            self.volume_source(vol, &p);
            for (k, item) in vol
                .downward_api
                .iter()
                .flat_map(|d| d.items.iter().enumerate())
            {
                if let Some(name) = item
                    .resource_field_ref
                    .as_ref()
                    .and_then(|r| r.container_name.as_deref())
                    .filter(|n| !n.is_empty() && !pod.containers.iter().any(|c| c.name == *n))
                {
                    self.push(Finding::error(
                        format!("{p}.downwardAPI.items[{k}].resourceFieldRef.containerName"),
                        format!("Not found: {name:?}"),
                    ));
                }
            }
        }
        names
    }

    fn volume_source(&mut self, vol: &Volume, path: &str) {
        let hostless = [
            ("configMap", &vol.config_map),
            ("secret", &vol.secret),
            ("persistentVolumeClaim", &vol.persistent_volume_claim),
            ("projected", &vol.projected),
        ];
        let sources = usize::from(vol.host_path.is_some())
            + usize::from(vol.empty_dir.is_some())
            + usize::from(vol.downward_api.is_some())
            + hostless.iter().filter(|(_, v)| v.is_some()).count();
        match sources {
            0 => self.push(
                Finding::error(path, "Required value: must specify a volume type")
                    .with_help("set hostPath = { path = \"/…\" } or emptyDir = {}"),
            ),
            1 => {}
            _ => self.push(Finding::error(
                path,
                "Forbidden: may not specify more than 1 volume type",
            )),
        }
        // A refused source is refused even when empty: the volume would have no source.
        for (k, value) in hostless {
            if value.is_some()
                && let Some(row) = hostless_field(L::Volume, k)
            {
                self.push(hostless_finding(row, &child(path, k)));
            }
        }
        if let Some(host_path) = &vol.host_path {
            let p = child(&child(path, "hostPath"), "path");
            self.absolute_path(&host_path.path, &p);
            if render::is_untyped_socket(host_path) {
                self.push(Finding::warning(
                    &p,
                    "looks like a socket (under /run or /var/run, ending in .sock), so it is not created as a directory when missing, as an untyped hostPath otherwise is; the container starts once the socket exists",
                ).with_help("set type = \"Socket\" to say so and silence this warning"));
            }
            if let Some(kind) = &host_path.kind {
                const TYPES: &[&str] = &[
                    "",
                    "DirectoryOrCreate",
                    "Directory",
                    "FileOrCreate",
                    "File",
                    "Socket",
                    "CharDevice",
                    "BlockDevice",
                ];
                if !TYPES.contains(&kind.as_str()) {
                    self.push(unsupported(
                        &child(&child(path, "hostPath"), "type"),
                        kind,
                        &TYPES[1..],
                    ));
                }
            }
        }
        if let Some(source) = &vol.downward_api {
            self.downward_api_volume(source, &child(path, "downwardAPI"));
        }
        if let Some(empty_dir) = &vol.empty_dir {
            let p = child(path, "emptyDir");
            if let Some(medium) = &empty_dir.medium
                && !medium.is_empty()
                && medium != "Memory"
            {
                self.push(unsupported(&child(&p, "medium"), medium, &["", "Memory"]));
            }
            if let Some(limit) = &empty_dir.size_limit {
                self.quantity(&limit.0, &child(&p, "sizeLimit"));
            }
        }
    }

    /// A path that reaches a podman `-v src:dst:opts` argument: absolute, no `..`, and none
    /// of the characters that would split or end that argument.
    fn absolute_path(&mut self, value: &str, path: &str) {
        if value.is_empty() {
            self.push(Finding::error(path, "Required value"));
            return;
        }
        if !value.starts_with('/') {
            self.push(invalid(path, value, "must be an absolute path"));
        }
        if value.split('/').any(|part| part == "..") {
            self.push(invalid(path, value, "must not contain '..'"));
        }
        if value.contains(':') || value.contains(',') {
            self.push(invalid(
                path,
                value,
                "must not contain ':' or ',' (they separate podman's volume options)",
            ));
        }
        if value.chars().any(char::is_control) {
            self.push(invalid(path, value, "must not contain control characters"));
        }
    }

    fn containers(&mut self, pod: &PodSpec, volumes: &BTreeSet<String>) {
        let path = child(POD, "containers");
        if pod.containers.is_empty() {
            self.push(Finding::error(
                &path,
                "Required value: a DaemonSet needs at least one container",
            ));
        }
        // Init and app containers share one namespace of names, as in Kubernetes.
        let mut names = BTreeSet::new();
        let mut host_ports: HashMap<(i64, String, String), String> = HashMap::new();
        let init_path = child(POD, "initContainers");
        let all = pod
            .init_containers
            .iter()
            .enumerate()
            .map(|(i, c)| (index(&init_path, i), c, true))
            .chain(
                pod.containers
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (index(&path, i), c, false)),
            );
        for (p, c, init) in all {
            let name_path = child(&p, "name");
            if c.name.is_empty() {
                self.push(Finding::error(&name_path, "Required value"));
            } else {
                for msg in k8s_names::dns1123_label(&c.name) {
                    self.push(invalid(&name_path, &c.name, &msg));
                }
                if !names.insert(c.name.clone()) {
                    self.push(duplicate(&name_path, &c.name));
                }
            }
            self.image(&c.image, &child(&p, "image"));
            for (field, args) in [("command", &c.command), ("args", &c.args)] {
                for (j, arg) in args.iter().enumerate() {
                    no_nul(self, arg, &index(&child(&p, field), j));
                }
            }
            if let Some(dir) = &c.working_dir {
                let wp = child(&p, "workingDir");
                if !dir.starts_with('/') {
                    self.push(invalid(&wp, dir, "must be an absolute path"));
                }
                no_nul(self, dir, &wp);
            }
            self.env(c, pod, &p);
            if init && !c.ports.is_empty() {
                // As Kubernetes: an init container serves nothing, so it publishes nothing.
                self.push(Finding::error(
                    child(&p, "ports"),
                    "Forbidden: may not be set for init containers",
                ));
            } else {
                self.ports(c, pod.host_network, &p, &mut host_ports);
            }
            if let Some(resources) = &c.resources {
                self.resources(resources, &child(&p, "resources"));
            }
            self.volume_mounts(c, volumes, pod, &p);
            self.security_context(pod, c, &p);
            self.lifecycle(c, &p);
            let probes = [
                ("readinessProbe", &c.readiness_probe),
                ("livenessProbe", &c.liveness_probe),
                ("startupProbe", &c.startup_probe),
            ];
            for (kind, probe) in probes {
                match probe {
                    // Kubernetes refuses probes on init containers: they run to completion.
                    Some(_) if init => self.push(Finding::error(
                        child(&p, kind),
                        "Forbidden: may not be set for init containers",
                    )),
                    Some(probe) => self.probe(probe, kind, c, &child(&p, kind)),
                    None => {}
                }
            }
            for (k, value) in [
                ("envFrom", &c.env_from),
                ("terminationMessagePath", &c.termination_message_path),
                ("terminationMessagePolicy", &c.termination_message_policy),
            ] {
                self.hostless_opt(L::Container, &p, k, value);
            }
        }
    }

    fn image(&mut self, image: &str, path: &str) {
        if image.trim().is_empty() {
            self.push(
                Finding::error(path, "Required value")
                    .with_help("e.g. image = \"docker.io/library/nginx:1.27\""),
            );
        } else if image.trim() != image {
            self.push(invalid(
                path,
                image,
                "must not have leading or trailing whitespace",
            ));
        } else if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.push(invalid(
                path,
                image,
                "must not contain whitespace or control characters",
            ));
        } else if image.starts_with('-') {
            // No image reference starts with `-`; on a command line it would read as a flag.
            self.push(invalid(
                path,
                image,
                "must not begin with `-`: an image reference starts with a registry, a name or a digest",
            ));
        }
    }

    fn env(&mut self, c: &Container, pod: &PodSpec, path: &str) {
        let mut seen = BTreeSet::new();
        for (i, var) in c.env.iter().enumerate() {
            let p = index(&child(path, "env"), i);
            let name_path = child(&p, "name");
            if var.name.is_empty() {
                self.push(Finding::error(&name_path, "Required value"));
            } else {
                for msg in k8s_names::env_var_name(&var.name) {
                    self.push(invalid(&name_path, &var.name, &msg));
                }
                if !seen.insert(var.name.as_str()) {
                    self.push(Finding::warning(
                        &name_path,
                        format!(
                            "duplicate name {:?}: the later value wins, as in Kubernetes",
                            var.name
                        ),
                    ));
                }
            }
            no_nul(self, &var.value, &child(&p, "value"));
            if let Some(from) = &var.value_from {
                self.env_source(from, !var.value.is_empty(), pod, &child(&p, "valueFrom"));
            }
        }
    }

    /// `validateDownwardAPIVolumeSource` (containerName is checked against the pod's
    /// containers when they are known, in `containers`).
    fn downward_api_volume(
        &mut self,
        source: &crate::daemonset::DownwardApiVolumeSource,
        path: &str,
    ) {
        let mode_ok = |m: i32| (0..=0o777).contains(&m);
        const MODE: &str = "must be a number between 0 and 0777 (octal), both inclusive";
        if let Some(mode) = source.default_mode
            && !mode_ok(mode)
        {
            self.push(invalid(&child(path, "defaultMode"), &mode, MODE));
        }
        for (i, item) in source.items.iter().enumerate() {
            let p = index(&child(path, "items"), i);
            let item_path = child(&p, "path");
            if item.path.is_empty() {
                self.push(Finding::error(&item_path, "Required value"));
            } else {
                // `validateLocalNonReservedPath`.
                if item.path.starts_with('/') {
                    self.push(invalid(&item_path, &item.path, "must be a relative path"));
                }
                if item.path.split('/').any(|part| part == "..") {
                    self.push(invalid(&item_path, &item.path, "must not contain '..'"));
                }
                if item.path.starts_with("..") {
                    self.push(invalid(&item_path, &item.path, "must not start with '..'"));
                }
                no_nul(self, &item.path, &item_path);
            }
            if let Some(mode) = item.mode
                && !mode_ok(mode)
            {
                self.push(invalid(&child(&p, "mode"), &mode, MODE));
            }
            match (&item.field_ref, &item.resource_field_ref) {
                (Some(_), Some(_)) => self.push(invalid(
                    &p,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                )),
                (None, None) => self.push(Finding::error(
                    &p,
                    "Required value: one of fieldRef and resourceFieldRef",
                )),
                _ => {}
            }
            if let Some(selector) = &item.field_ref {
                let fp = child(&p, "fieldRef");
                if let Err(errors) =
                    downward::parse_field_ref(selector, downward::VOLUME_FIELD_PATHS)
                {
                    for e in errors {
                        let at = if e.on_selector() {
                            fp.clone()
                        } else {
                            child(&fp, "fieldPath")
                        };
                        self.push(Finding::error(at, e.to_string()));
                    }
                }
            }
            if let Some(selector) = &item.resource_field_ref {
                let rp = child(&p, "resourceFieldRef");
                if selector.container_name.as_deref().unwrap_or("").is_empty() {
                    self.push(Finding::error(
                        child(&rp, "containerName"),
                        "Required value",
                    ));
                }
                for e in downward::check_resource_ref(selector) {
                    let at = child(
                        &rp,
                        if e.on_divisor() {
                            "divisor"
                        } else {
                            "resource"
                        },
                    );
                    self.push(Finding::error(at, e.to_string()));
                }
            }
        }
    }

    /// `validateEnvVarValueFrom`: exactly one source, and the downward API's field paths as
    /// the API server checks them.
    fn env_source(
        &mut self,
        from: &crate::daemonset::EnvVarSource,
        has_value: bool,
        pod: &PodSpec,
        path: &str,
    ) {
        let refused = [
            ("configMapKeyRef", &from.config_map_key_ref),
            ("secretKeyRef", &from.secret_key_ref),
            ("fileKeyRef", &from.file_key_ref),
        ];
        let sources = usize::from(from.field_ref.is_some())
            + usize::from(from.resource_field_ref.is_some())
            + refused.iter().filter(|(_, v)| v.is_some()).count();
        if sources == 0 {
            self.push(invalid(
                path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if has_value {
            self.push(invalid(
                path,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if sources > 1 {
            self.push(invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
        for (k, value) in refused {
            if value.is_some()
                && let Some(row) = hostless_field(L::EnvVarSource, k)
            {
                self.push(hostless_finding(row, &child(path, k)));
            }
        }
        if let Some(selector) = &from.field_ref {
            let p = child(path, "fieldRef");
            match downward::parse_field_ref(selector, downward::ENV_FIELD_PATHS) {
                Err(errors) => {
                    for e in errors {
                        let at = if e.on_selector() {
                            p.clone()
                        } else {
                            child(&p, "fieldPath")
                        };
                        let finding = Finding::error(at, e.to_string());
                        self.push(match e {
                            downward::FieldRefError::NotConvertible(_)
                            | downward::FieldRefError::NotSupported { .. } => {
                                let near = downward::ENV_FIELD_PATHS
                                    .iter()
                                    .find(|p| p.eq_ignore_ascii_case(&selector.field_path))
                                    .map(|p| format!("did you mean `{p}`? "))
                                    .unwrap_or_default();
                                finding.with_help(format!(
                                    "{near}dsctl resolves these on each host as the kubelet does: \
                                     metadata.name (the instance's pod name), metadata.namespace, \
                                     metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'], \
                                     spec.nodeName (the inventory name), spec.serviceAccountName, \
                                     status.hostIP, status.hostIPs, and status.podIP/podIPs with hostNetwork"
                                ))
                            }
                            _ => finding,
                        });
                    }
                }
                Ok(downward::PodField::PodIp | downward::PodField::PodIps) if !pod.host_network => {
                    self.push(
                        invalid(&child(&p, "fieldPath"), &selector.field_path, downward::POD_IP_WHY)
                            .with_help(
                                "status.hostIP gives the host's address; a program that needs the pod's \
                                 own address can read it from its network interface when it starts",
                            ),
                    );
                }
                Ok(_) => {}
            }
        }
        if let Some(selector) = &from.resource_field_ref {
            let p = child(path, "resourceFieldRef");
            for e in downward::check_resource_ref(selector) {
                let at = child(
                    &p,
                    if e.on_divisor() {
                        "divisor"
                    } else {
                        "resource"
                    },
                );
                self.push(Finding::error(at, e.to_string()));
            }
            if let Some(name) = selector.container_name.as_deref().filter(|n| !n.is_empty())
                && !pod.containers.iter().any(|c| c.name == name)
            {
                let names: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
                self.push(
                    Finding::error(child(&p, "containerName"), format!("Not found: {name:?}"))
                        .with_help(format!("the pod's containers are {}", names.join(", "))),
                );
            }
        }
    }

    /// `validateContainerPorts`, `validateHostNetwork` and `AccumulateUniqueHostPorts`.
    fn ports(
        &mut self,
        c: &Container,
        host_network: bool,
        path: &str,
        host_ports: &mut HashMap<(i64, String, String), String>,
    ) {
        let mut names = BTreeSet::new();
        for (i, port) in c.ports.iter().enumerate() {
            let p = index(&child(path, "ports"), i);
            let container_path = child(&p, "containerPort");
            for msg in k8s_names::port_number(port.container_port) {
                self.push(invalid(&container_path, &port.container_port, &msg));
            }
            let host_port = port.host_port();
            if let Some(hp) = host_port {
                for msg in k8s_names::port_number(hp) {
                    self.push(invalid(&child(&p, "hostPort"), &hp, &msg));
                }
                if host_network && hp != port.container_port {
                    self.push(
                        invalid(
                            &child(&p, "hostPort"),
                            &hp,
                            "must match `containerPort` when `hostNetwork` is true",
                        )
                        .with_help(
                            "with hostNetwork the container binds its port on the host directly",
                        ),
                    );
                }
            }
            if host_port.is_none() && !host_network {
                self.push(Finding::warning(
                    &container_path,
                    "neither published (no hostPort) nor on the host network: the port is reachable only from the host itself, on podman's network",
                ));
            }
            if let Some(name) = &port.name {
                for msg in k8s_names::port_name(name) {
                    self.push(invalid(&child(&p, "name"), name, &msg));
                }
                if !names.insert(name.as_str()) {
                    self.push(duplicate(&child(&p, "name"), name));
                }
            }
            if let Some(ip) = &port.host_ip
                && !ip.is_empty()
                && ip.parse::<std::net::IpAddr>().is_err()
            {
                self.push(invalid(
                    &child(&p, "hostIP"),
                    ip,
                    "must be a valid IP address",
                ));
            }
            // With hostNetwork every container port is a host port.
            if let Some(hp) = port.bound_host_port(host_network) {
                let protocol = format!("{:?}", port.protocol);
                let ip = port.host_ip.clone().unwrap_or_default();
                let field = if host_port.is_some() {
                    child(&p, "hostPort")
                } else {
                    container_path.clone()
                };
                if let Some(first) = host_ports.insert((hp, protocol.clone(), ip), field.clone()) {
                    self.push(
                        duplicate(&field, &format!("{hp}/{protocol}"))
                            .with_help(format!("{first} already binds this port on the host")),
                    );
                }
            }
        }
    }

    fn resources(&mut self, resources: &crate::daemonset::ResourceRequirements, path: &str) {
        let mut parsed: BTreeMap<(&str, &str), i128> = BTreeMap::new();
        for (kind, map) in [
            ("requests", &resources.requests),
            ("limits", &resources.limits),
        ] {
            for (name, quantity) in map {
                let p = key(&child(path, kind), name);
                for msg in k8s_names::qualified_name(name) {
                    self.push(invalid(&p, name, &msg).on_key());
                }
                if let Some(value) = self.quantity(&quantity.0, &p) {
                    match name.as_str() {
                        "cpu" | "memory" => {
                            // What passes here, render can write (`--cpus`, `--memory`).
                            if let Err(msg) = render::resource_amount(name, quantity) {
                                self.push(invalid(&p, &quantity.0, &msg).with_help(
                                    "dsctl writes cpu and memory as podman limits, which must be positive; leave the entry out for no limit",
                                ));
                            }
                            parsed.insert((kind, name.as_str()), value);
                        }
                        _ => self.push(Finding::warning(
                            &p,
                            format!("ignored on a bare host: only cpu and memory are enforced, not {name}"),
                        )),
                    }
                }
            }
        }
        for name in ["cpu", "memory"] {
            if let (Some(request), Some(limit)) = (
                parsed.get(&("requests", name)),
                parsed.get(&("limits", name)),
            ) && request > limit
            {
                let limit_text = &resources.limits[name].0;
                self.push(invalid(
                    &key(&child(path, "requests"), name),
                    &resources.requests[name].0,
                    &format!("must be less than or equal to {name} limit of {limit_text}"),
                ));
            }
        }
    }

    /// The quantity in thousandths (rounded up, as render uses it), or a finding.
    fn quantity(&mut self, text: &str, path: &str) -> Option<i128> {
        match Quantity(text.to_string()).milli_value() {
            Ok(value) if value < 0 => {
                self.push(invalid(path, text, "must be greater than or equal to 0"));
                None
            }
            Ok(value) => Some(value),
            Err(e) => {
                let msg = match e {
                    QuantityError::Invalid(_) => QUANTITY_FORMAT.to_string(),
                    QuantityError::TooLarge(_) => "is too large".to_string(),
                };
                self.push(invalid(path, text, &msg).with_help(
                    "a Kubernetes quantity: cpu like 2, \"0.5\" or \"100m\"; memory like \"128Mi\", \"1G\" or 1000",
                ));
                None
            }
        }
    }

    fn volume_mounts(
        &mut self,
        c: &Container,
        volumes: &BTreeSet<String>,
        pod: &PodSpec,
        path: &str,
    ) {
        let mut mount_paths = BTreeSet::new();
        for (i, mount) in c.volume_mounts.iter().enumerate() {
            let p = index(&child(path, "volumeMounts"), i);
            let name_path = child(&p, "name");
            if mount.name.is_empty() {
                self.push(Finding::error(&name_path, "Required value"));
            } else if !volumes.contains(&mount.name) {
                let defined = if volumes.is_empty() {
                    "the pod defines no volumes".to_string()
                } else {
                    format!(
                        "defined volumes: {}",
                        volumes
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                self.push(
                    Finding::error(&name_path, format!("Not found: {:?}", mount.name)).with_help(format!(
                        "a volumeMount must name a volume of spec.template.spec.volumes; {defined}"
                    )),
                );
            }
            let mount_path = child(&p, "mountPath");
            self.absolute_path(&mount.mount_path, &mount_path);
            if !mount.mount_path.is_empty() && !mount_paths.insert(mount.mount_path.as_str()) {
                self.push(invalid(&mount_path, &mount.mount_path, "must be unique"));
            }
            if let Some(sub) = mount.sub_path.as_deref().filter(|s| !s.is_empty())
                && let Err(msg) = render::check_sub_path(sub)
            {
                self.push(invalid(&child(&p, "subPath"), sub, &msg));
            }
            // What render refuses per host: a sub-path of anything but a hostPath.
            let source = pod.volumes.iter().find(|v| v.name == mount.name);
            for (field, set) in [
                (
                    "subPath",
                    mount.sub_path.as_deref().is_some_and(|s| !s.is_empty()),
                ),
                ("subPathExpr", mount.sub_path_expr.is_some()),
            ] {
                if set
                    && let Some(volume) = source
                    && let Err(msg) = render::sub_path_source(volume)
                {
                    self.push(Finding::error(
                        child(&p, field),
                        format!("Forbidden: {msg}"),
                    ));
                }
            }
            let propagation = child(&p, "mountPropagation");
            let privileged = c
                .security_context
                .as_ref()
                .is_some_and(|sc| sc.privileged == Some(true));
            match mount.mount_propagation {
                None | Some(MountPropagation::None) => {}
                Some(MountPropagation::Bidirectional) if !privileged => {
                    self.push(Finding::error(
                        propagation,
                        "Forbidden: Bidirectional mount propagation is available only to privileged containers",
                    ));
                }
                Some(_) => {}
            }
            if let Some(expr) = &mount.sub_path_expr {
                // `validateLocalDescendingPath`; the expanded path is checked again per host.
                let sp = child(&p, "subPathExpr");
                if expr.starts_with('/') {
                    self.push(invalid(&sp, expr, "must be a relative path"));
                }
                if expr.split('/').any(|part| part == "..") {
                    self.push(invalid(&sp, expr, "must not contain '..'"));
                }
                no_nul(self, expr, &sp);
            }
        }
    }

    fn security_context(&mut self, pod: &PodSpec, c: &Container, path: &str) {
        let p = child(path, "securityContext");
        if let Some(sc) = &c.security_context {
            for (k, id) in [
                ("runAsUser", sc.run_as_user),
                ("runAsGroup", sc.run_as_group),
            ] {
                if let Some(id) = id {
                    for msg in k8s_names::unix_id(id) {
                        self.push(invalid(&child(&p, k), &id, &msg));
                    }
                }
            }
            if let Some(caps) = &sc.capabilities {
                for (k, names) in [("add", &caps.add), ("drop", &caps.drop)] {
                    for (i, name) in names.iter().enumerate() {
                        if let Err(msg) = render::capability_name(name) {
                            self.push(invalid(
                                &index(&child(&child(&p, "capabilities"), k), i),
                                name,
                                &msg,
                            ));
                        }
                    }
                }
            }
            if let Some(profile) = &sc.seccomp_profile {
                self.seccomp_profile(profile, &child(&p, "seccompProfile"));
            }
            // The API server's own checks (ValidateSecurityContext).
            if sc.allow_privilege_escalation == Some(false) {
                if sc.privileged == Some(true) {
                    self.push(Finding::error(
                        &p,
                        "Invalid value: cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
                    ));
                }
                let sys_admin = sc.capabilities.iter().flat_map(|c| &c.add).any(|n| {
                    let n = n.to_ascii_uppercase();
                    n == "SYS_ADMIN" || n == "CAP_SYS_ADMIN"
                });
                if sys_admin {
                    self.push(Finding::error(
                        &p,
                        "Invalid value: cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
                    ));
                }
            }
            self.hostless_opt(
                L::SecurityContext,
                &p,
                "seLinuxOptions",
                &sc.se_linux_options,
            );
        }
        // As the kubelet (verifyRunAsNonRoot): a uid of 0 known now can never start.
        let sec = pod.effective_security(c);
        if sec.run_as_non_root && sec.run_as_user == Some(0) {
            let own = c.security_context.as_ref();
            let field = if own.is_some_and(|sc| sc.run_as_non_root.is_some()) {
                child(&p, "runAsNonRoot")
            } else {
                child(&child(POD, "securityContext"), "runAsNonRoot")
            };
            self.push(Finding::error(
                field,
                "runAsNonRoot is true and runAsUser is 0: the container would run as root, which runAsNonRoot forbids, so it could never start",
            ));
        }
    }

    fn http_get_action(&mut self, http: &HttpGetAction, c: &Container, p: &str) {
        self.probe_port(&http.port, c, &child(p, "port"));
        if http.path.is_empty() {
            self.push(Finding::error(child(p, "path"), "Required value"));
        } else if http
            .path
            .chars()
            .any(|ch| ch.is_whitespace() || ch.is_control())
        {
            self.push(invalid(
                &child(p, "path"),
                &http.path,
                "must not contain whitespace or control characters",
            ));
        }
        if let Some(scheme) = &http.scheme
            && scheme != "HTTP"
            && scheme != "HTTPS"
        {
            self.push(unsupported(&child(p, "scheme"), scheme, &["HTTP", "HTTPS"]));
        } else if http.scheme.as_deref() == Some("HTTPS") {
            // Refused here rather than at apply time, where every wave would fail its gate.
            self.push(Finding::error(
                child(p, "scheme"),
                "HTTPS probes are not supported yet: dsctl's prober speaks plain HTTP through \
                 the SSH connection and has no TLS client (the kubelet's HTTPS probe skips \
                 certificate verification); a tcpSocket probe on the port checks that it listens",
            ));
        }
        if let Some(host) = &http.host
            && host.chars().any(|ch| ch.is_whitespace() || ch.is_control())
        {
            self.push(invalid(
                &child(p, "host"),
                host,
                "must not contain whitespace or control characters",
            ));
        }
        for (i, header) in http.http_headers.iter().enumerate() {
            let hp = index(&child(p, "httpHeaders"), i);
            for msg in k8s_names::http_header_name(&header.name) {
                self.push(invalid(&child(&hp, "name"), &header.name, &msg));
            }
            if header.value.chars().any(|ch| ch.is_control()) {
                self.push(invalid(
                    &child(&hp, "value"),
                    &header.value,
                    "must not contain control characters",
                ));
            }
        }
    }

    /// postStart and preStop: one handler each, as the API server checks them.
    fn lifecycle(&mut self, c: &Container, path: &str) {
        let Some(lc) = &c.lifecycle else {
            return;
        };
        let p = child(path, "lifecycle");
        if lc.stop_signal.is_some() {
            self.push(Finding::error(
                child(&p, "stopSignal"),
                "not supported on a bare host: podman's stop signal is not rendered into units, so the container would get SIGTERM instead",
            ));
        }
        for (kind, handler) in [("postStart", &lc.post_start), ("preStop", &lc.pre_stop)] {
            let Some(h) = handler else {
                continue;
            };
            let hp = child(&p, kind);
            let handlers = usize::from(h.exec.is_some())
                + usize::from(h.http_get.is_some())
                + usize::from(h.sleep.is_some())
                + usize::from(h.tcp_socket.is_some());
            match handlers {
                0 => self.push(
                    Finding::error(&hp, "Required value: must specify a handler type")
                        .with_help("set one of exec, httpGet or sleep"),
                ),
                1 => {}
                _ => self.push(Finding::error(
                    &hp,
                    "Forbidden: may not specify more than 1 handler type",
                )),
            }
            if h.tcp_socket.is_some() {
                self.push(Finding::error(
                    child(&hp, "tcpSocket"),
                    "not supported on a bare host: Kubernetes keeps tcpSocket hooks only for compatibility and fails them at runtime",
                ));
            }
            if let Some(exec) = &h.exec {
                let ep = child(&child(&hp, "exec"), "command");
                if exec.command.is_empty() {
                    self.push(Finding::error(&ep, "Required value"));
                }
                for (i, arg) in exec.command.iter().enumerate() {
                    no_nul(self, arg, &index(&ep, i));
                }
            }
            if let Some(http) = &h.http_get {
                self.http_get_action(http, c, &child(&hp, "httpGet"));
            }
            if let Some(sleep) = &h.sleep {
                seconds(self, sleep.seconds, &child(&child(&hp, "sleep"), "seconds"));
            }
        }
    }

    fn probe(&mut self, probe: &Probe, kind: &str, c: &Container, path: &str) {
        let handlers = usize::from(probe.http_get.is_some())
            + usize::from(probe.tcp_socket.is_some())
            + usize::from(probe.exec.is_some())
            + usize::from(probe.grpc.is_some());
        match handlers {
            0 => self.push(
                Finding::error(path, "Required value: must specify a handler type")
                    .with_help("set one of httpGet, tcpSocket or exec"),
            ),
            1 => {}
            _ => self.push(Finding::error(
                path,
                "Forbidden: may not specify more than 1 handler type",
            )),
        }
        seconds(
            self,
            probe.initial_delay_seconds,
            &child(path, "initialDelaySeconds"),
        );
        for (field, value, k8s_default) in [
            ("timeoutSeconds", probe.timeout_seconds, 1),
            ("periodSeconds", probe.period_seconds, 10),
            ("successThreshold", probe.success_threshold, 1),
            ("failureThreshold", probe.failure_threshold, 3),
        ] {
            if value < 1 {
                self.push(
                    invalid(&child(path, field), &value, "must be greater than or equal to 1").with_help(format!(
                        "Kubernetes turns 0 into its default, {k8s_default}; write {k8s_default} (or leave the field out)"
                    )),
                );
            } else {
                at_most_max_seconds(self, i128::from(value), &child(path, field));
            }
        }
        if kind != "readinessProbe" && probe.success_threshold != 1 && probe.success_threshold >= 1
        {
            self.push(invalid(
                &child(path, "successThreshold"),
                &probe.success_threshold,
                "must be 1",
            ));
        }
        if let Some(grace) = probe.termination_grace_period_seconds {
            let p = child(path, "terminationGracePeriodSeconds");
            if kind == "readinessProbe" {
                self.push(invalid(&p, &grace, "must not be set for readinessProbes"));
            } else if grace <= 0 {
                self.push(invalid(&p, &grace, "must be greater than 0"));
            } else {
                at_most_max_seconds(self, i128::from(grace), &p);
            }
        }
        if let Some(http) = &probe.http_get {
            self.http_get_action(http, c, &child(path, "httpGet"));
        }
        if let Some(tcp) = &probe.tcp_socket {
            self.probe_port(&tcp.port, c, &child(&child(path, "tcpSocket"), "port"));
        }
        if let Some(exec) = &probe.exec {
            let p = child(&child(path, "exec"), "command");
            if exec.command.is_empty() {
                self.push(Finding::error(&p, "Required value"));
            }
            for (i, arg) in exec.command.iter().enumerate() {
                no_nul(self, arg, &index(&p, i));
            }
        }
        // Even an empty grpc table is the probe's handler, so it is refused as it is.
        if probe.grpc.is_some()
            && let Some(row) = hostless_field(L::Probe, "grpc")
        {
            self.push(hostless_finding(row, &child(path, "grpc")));
        }
    }

    /// A probe port: a number in range, or the name of one of the container's ports.
    fn probe_port(&mut self, port: &IntOrString, c: &Container, path: &str) {
        match port {
            IntOrString::Int(n) => {
                for msg in k8s_names::port_number(*n) {
                    self.push(invalid(path, n, &msg));
                }
            }
            IntOrString::String(name) => {
                let errs = k8s_names::port_name(name);
                for msg in &errs {
                    self.push(invalid(path, name, msg));
                }
                let known: Vec<&str> = c.ports.iter().filter_map(|p| p.name.as_deref()).collect();
                if errs.is_empty() && !known.contains(&name.as_str()) {
                    let help = if known.is_empty() {
                        "the container names no ports; name one under ports, or use the port number"
                            .to_string()
                    } else {
                        format!("the container's named ports: {}", known.join(", "))
                    };
                    self.push(Finding::error(path, format!("Not found: {name:?}")).with_help(help));
                }
            }
        }
    }
}

fn non_negative(v: &mut Findings, value: i64, path: &str) {
    if value < 0 {
        v.push(invalid(path, &value, "must be greater than or equal to 0"));
    }
}

/// `user` and `proxy_jump` of a host or of `[defaults]`: words that go to SSH as they are.
fn ssh_words(v: &mut Findings, path: &str, user: &Option<String>, proxy_jump: &Option<String>) {
    for (field, value) in [("user", user), ("proxy_jump", proxy_jump)] {
        if let Some(value) = value
            && (value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            v.push(invalid(
                &child(path, field),
                value,
                "must be non-empty and contain no whitespace",
            ));
        }
    }
}

/// A `*Seconds` field: not negative, and small enough to add to a clock ([`MAX_SECONDS`]).
fn seconds(v: &mut Findings, value: i64, path: &str) {
    non_negative(v, value, path);
    at_most_max_seconds(v, i128::from(value), path);
}

fn at_most_max_seconds(v: &mut Findings, value: i128, path: &str) {
    if value > i128::from(MAX_SECONDS) {
        v.push(invalid(
            path,
            &value,
            &format!("must be less than or equal to {MAX_SECONDS} (about 68 years)"),
        ));
    }
}

fn no_nul(v: &mut Findings, value: &str, path: &str) {
    if value.contains('\0') {
        v.push(invalid(path, value, "must not contain a NUL character"));
    }
}

/// The first host port the pod binds: an explicit hostPort, or any port with hostNetwork.
fn first_host_port(pod: &PodSpec) -> Option<i64> {
    pod.containers
        .iter()
        .flat_map(|c| &c.ports)
        .find_map(|p| p.bound_host_port(pod.host_network))
}

/// `getIntOrPercentValue`: the integer, or the percentage as a number (invalid strings are 0).
fn int_or_percent_value(value: &IntOrString) -> i64 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            if k8s_names::percent(s).is_empty() {
                s[..s.len() - 1].parse().unwrap_or(i64::MAX)
            } else {
                0
            }
        }
    }
}

fn describe_selector(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for expr in &selector.match_expressions {
        let values = expr.values.join(",");
        parts.push(match expr.operator {
            LabelSelectorOperator::In => format!("{} in ({values})", expr.key),
            LabelSelectorOperator::NotIn => format!("{} notin ({values})", expr.key),
            LabelSelectorOperator::Exists => expr.key.clone(),
            LabelSelectorOperator::DoesNotExist => format!("!{}", expr.key),
        });
    }
    parts.join(",")
}

/// Shows a label map as Kubernetes prints one: `map[app:web tier:x]`.
struct DisplayMap<'a>(&'a BTreeMap<String, String>);

impl Debug for DisplayMap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        write!(f, "map[{}]", items.join(" "))
    }
}

fn invalid(path: &str, value: &(impl Debug + ?Sized), msg: &str) -> Finding {
    Finding::error(path, format!("Invalid value: {value:?}: {msg}"))
}

fn duplicate(path: &str, value: &(impl Debug + ?Sized)) -> Finding {
    Finding::error(path, format!("Duplicate value: {value:?}"))
}

fn unsupported(path: &str, value: &str, supported: &[&str]) -> Finding {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    Finding::error(
        path,
        format!(
            "Unsupported value: {value:?}: supported values: {}",
            list.join(", ")
        ),
    )
}

/// The API server's message for a malformed quantity.
const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

// ---------------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------------

/// Everything wrong with an inventory: unique, usable host names and addresses, Kubernetes
/// label and taint rules, sane SSH ports.
pub fn validate_inventory(inventory: &InventoryFile) -> Vec<Finding> {
    let mut v = Findings::default();
    if inventory.defaults.port == Some(0) {
        v.push(invalid(
            "defaults.port",
            &0,
            &k8s_names::inclusive_range_error(1, 65535),
        ));
    }
    let defaults = &inventory.defaults;
    ssh_words(&mut v, "defaults", &defaults.user, &defaults.proxy_jump);
    if inventory.hosts.is_empty() {
        v.push(
            Finding::warning("hosts", "the inventory lists no hosts")
                .with_help("add [[hosts]] tables with name and address"),
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut addresses: HashMap<(&str, Option<u16>), usize> = HashMap::new();
    for (i, host) in inventory.hosts.iter().enumerate() {
        let p = index("hosts", i);
        let name_path = child(&p, "name");
        if host.name.is_empty() {
            v.push(Finding::error(&name_path, "Required value"));
        } else {
            for msg in k8s_names::dns1123_subdomain(&host.name) {
                v.push(invalid(&name_path, &host.name, &msg).with_help(
                    "host names are node names: they select hosts (kubernetes.io/hostname, nodeName, -l) and name files, so they follow Kubernetes' node-name rule",
                ));
            }
            if let Some(first) = names.insert(host.name.as_str(), i) {
                v.push(
                    duplicate(&name_path, &host.name)
                        .with_help(format!("hosts[{first}] has the same name")),
                );
            }
        }
        let address_path = child(&p, "address");
        if host.address.is_empty() {
            v.push(Finding::error(&address_path, "Required value"));
        } else if host
            .address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
            || host.address.starts_with('-')
        {
            v.push(invalid(
                &address_path,
                &host.address,
                "must be a host name or an IP address",
            ));
        } else {
            // Two entries may share an address only if they reach different SSH ports.
            let port = host.port.or(inventory.defaults.port);
            if let Some(first) = addresses.insert((host.address.as_str(), port), i) {
                v.push(duplicate(&address_path, &host.address).with_help(format!(
                    "hosts[{first}] has the same address and port; each host must be listed once"
                )));
            }
        }
        if host.port == Some(0) {
            v.push(invalid(
                &child(&p, "port"),
                &0,
                &k8s_names::inclusive_range_error(1, 65535),
            ));
        }
        ssh_words(&mut v, &p, &host.user, &host.proxy_jump);
        v.labels(&host.labels, &child(&p, "labels"));
        let mut taints = BTreeSet::new();
        for (j, taint) in host.taints.iter().enumerate() {
            let tp = index(&child(&p, "taints"), j);
            if taint.key.is_empty() {
                v.push(Finding::error(child(&tp, "key"), "Required value"));
            }
            for msg in k8s_names::qualified_name(&taint.key) {
                if !taint.key.is_empty() {
                    v.push(invalid(&child(&tp, "key"), &taint.key, &msg));
                }
            }
            for msg in k8s_names::label_value(&taint.value) {
                v.push(invalid(&child(&tp, "value"), &taint.value, &msg));
            }
            if !taints.insert((taint.key.as_str(), taint.effect)) {
                v.push(
                    duplicate(&tp, &format!("{}:{:?}", taint.key, taint.effect))
                        .with_help("taints must be unique by key and effect pair"),
                );
            }
        }
    }
    v.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::DaemonSet;

    const BASE: &str = r#"
apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "agent"
[spec.selector.matchLabels]
app = "agent"
[spec.template.metadata.labels]
app = "agent"
[[spec.template.spec.containers]]
name = "main"
image = "localhost/agent:1"
"#;

    fn parse(extra: &str) -> DaemonSet {
        let text = format!("{BASE}{extra}");
        toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// Parses BASE with `edit` applied to its TOML table (so tests can replace anything).
    fn edited(edit: impl FnOnce(&mut toml::Table)) -> DaemonSet {
        let mut table: toml::Table = toml::from_str(BASE).unwrap();
        edit(&mut table);
        let text = toml::to_string(&table).unwrap();
        toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn errors(ds: &DaemonSet) -> Vec<(String, String)> {
        validate_daemonset(ds)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (f.field, f.message))
            .collect()
    }

    fn warnings(ds: &DaemonSet) -> Vec<String> {
        validate_daemonset(ds)
            .into_iter()
            .filter(|f| f.severity == Severity::Warning)
            .map(|f| f.field)
            .collect()
    }

    /// metadata.namespace means nothing on a host, unless the downward API shows it.
    #[test]
    fn namespace_is_warned_unless_the_downward_api_shows_it() {
        let mut ds = parse("");
        ds.metadata.namespace = Some("monitoring".into());
        assert_eq!(warnings(&ds), ["metadata.namespace"]);
        let mut shown = parse(
            "env = [{ name = \"NS\", valueFrom = { fieldRef = { fieldPath = \"metadata.namespace\" } } }]\n",
        );
        shown.metadata.namespace = Some("monitoring".into());
        assert_eq!(warnings(&shown), Vec::<String>::new());
        assert_eq!(errors(&shown), vec![]);
    }

    #[test]
    fn base_is_valid() {
        assert_eq!(validate_daemonset(&parse("")), vec![]);
    }

    /// Each case: extra TOML after BASE, the field that must be named, a piece of the message.
    #[test]
    fn daemonset_errors() {
        let c0 = "spec.template.spec.containers[0]";
        let cases: &[(&str, &str, &str)] = &[
            (
                "[spec.template.spec.containers.resources.limits]\ncpu = \"1\"\n[spec.template.spec.containers.resources.requests]\ncpu = \"2\"\n",
                "spec.template.spec.containers[0].resources.requests[cpu]",
                "must be less than or equal to cpu limit of 1",
            ),
            (
                "[spec.template.spec.containers.resources.requests]\nmemory = \"12XB\"\n",
                "spec.template.spec.containers[0].resources.requests[memory]",
                "quantities must match",
            ),
            (
                "[[spec.template.spec.containers.ports]]\ncontainerPort = 70000\n",
                "spec.template.spec.containers[0].ports[0].containerPort",
                "must be between 1 and 65535, inclusive",
            ),
            (
                "[[spec.template.spec.containers.ports]]\ncontainerPort = 80\nhostPort = 0\nname = \"HTTP\"\n",
                "spec.template.spec.containers[0].ports[0].name",
                "must contain only alpha-numeric",
            ),
            (
                "[[spec.template.spec.containers.ports]]\ncontainerPort = 80\nname = \"http\"\n[[spec.template.spec.containers.ports]]\ncontainerPort = 81\nname = \"http\"\n",
                "spec.template.spec.containers[0].ports[1].name",
                "Duplicate value: \"http\"",
            ),
            (
                "[[spec.template.spec.containers.ports]]\ncontainerPort = 80\nhostPort = 8080\n[[spec.template.spec.containers.ports]]\ncontainerPort = 81\nhostPort = 8080\n",
                "spec.template.spec.containers[0].ports[1].hostPort",
                "Duplicate value: \"8080/TCP\"",
            ),
            (
                "[[spec.template.spec.containers.volumeMounts]]\nname = \"logs\"\nmountPath = \"/var/log\"\n",
                "spec.template.spec.containers[0].volumeMounts[0].name",
                "Not found: \"logs\"",
            ),
            (
                "[[spec.template.spec.containers.volumeMounts]]\nname = \"logs\"\nmountPath = \"var/log\"\n[[spec.template.spec.volumes]]\nname = \"logs\"\nemptyDir = {}\n",
                "spec.template.spec.containers[0].volumeMounts[0].mountPath",
                "must be an absolute path",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"1BAD\"\nvalue = \"x\"\n",
                "spec.template.spec.containers[0].env[0].name",
                "a valid environment variable name",
            ),
            (
                "[spec.template.spec.containers.readinessProbe]\nperiodSeconds = 5\n",
                "spec.template.spec.containers[0].readinessProbe",
                "must specify a handler type",
            ),
            (
                "[spec.template.spec.containers.readinessProbe]\ntcpSocket = { port = 1 }\nexec = { command = [\"true\"] }\n",
                "spec.template.spec.containers[0].readinessProbe",
                "may not specify more than 1 handler type",
            ),
            (
                "[spec.template.spec.containers.livenessProbe]\ntcpSocket = { port = \"http\" }\n",
                "spec.template.spec.containers[0].livenessProbe.tcpSocket.port",
                "Not found: \"http\"",
            ),
            (
                "[spec.template.spec.containers.livenessProbe]\nhttpGet = { port = 80 }\nsuccessThreshold = 2\n",
                "spec.template.spec.containers[0].livenessProbe.successThreshold",
                "must be 1",
            ),
            (
                "[spec.template.spec.containers.startupProbe]\nexec = { command = [] }\nfailureThreshold = 0\n",
                "spec.template.spec.containers[0].startupProbe.failureThreshold",
                "must be greater than or equal to 1",
            ),
            (
                "[spec.template.spec.containers.startupProbe]\nexec = { command = [] }\n",
                "spec.template.spec.containers[0].startupProbe.exec.command",
                "Required value",
            ),
            (
                "[spec.template.spec.containers.readinessProbe]\nhttpGet = { port = 80, scheme = \"FTP\" }\n",
                "spec.template.spec.containers[0].readinessProbe.httpGet.scheme",
                "Unsupported value: \"FTP\"",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"v\"\n",
                "spec.template.spec.volumes[0]",
                "must specify a volume type",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"v\"\nemptyDir = {}\nhostPath = { path = \"/x\" }\n",
                "spec.template.spec.volumes[0]",
                "may not specify more than 1 volume type",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"v\"\nhostPath = { path = \"/x/../etc\" }\n",
                "spec.template.spec.volumes[0].hostPath.path",
                "must not contain '..'",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"v\"\nhostPath = { path = \"/x:/y\" }\n",
                "spec.template.spec.volumes[0].hostPath.path",
                "must not contain ':'",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"V_1\"\nemptyDir = {}\n",
                "spec.template.spec.volumes[0].name",
                "RFC 1123 label",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"v\"\nemptyDir = {}\n[[spec.template.spec.volumes]]\nname = \"v\"\nemptyDir = {}\n",
                "spec.template.spec.volumes[1].name",
                "Duplicate value: \"v\"",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"v\"\nconfigMap = { name = \"x\" }\n",
                "spec.template.spec.volumes[0].configMap",
                "not supported on a bare host",
            ),
            (
                "[[spec.template.spec.tolerations]]\noperator = \"Equal\"\nvalue = \"x\"\n",
                "spec.template.spec.tolerations[0].operator",
                "operator must be Exists when `key` is empty",
            ),
            (
                "[[spec.template.spec.tolerations]]\nkey = \"k\"\noperator = \"Exists\"\nvalue = \"x\"\n",
                "spec.template.spec.tolerations[0].value",
                "value must be empty when `operator` is 'Exists'",
            ),
            (
                "[[spec.template.spec.tolerations]]\nkey = \"k\"\neffect = \"NoSchedule\"\ntolerationSeconds = 5\n",
                "spec.template.spec.tolerations[0].effect",
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ),
            (
                "[[spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms]]\nmatchExpressions = [{ key = \"a\", operator = \"In\" }]\n",
                "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
                "must be specified when `operator` is 'In' or 'NotIn'",
            ),
            (
                "[[spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms]]\nmatchExpressions = [{ key = \"a\", operator = \"Exists\", values = [\"x\"] }]\n",
                "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            (
                "[[spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms]]\nmatchExpressions = [{ key = \"a\", operator = \"Gt\", values = [\"1\", \"2\"] }]\n",
                "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
                "must be specified single value when `operator` is 'Lt' or 'Gt'",
            ),
            (
                "[[spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms]]\nmatchExpressions = [{ key = \"a\", operator = \"Lt\", values = [\"x\"] }]\n",
                "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]",
                "must be an integer",
            ),
            (
                "[[spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms]]\nmatchFields = [{ key = \"metadata.labels\", operator = \"In\", values = [\"a\"] }]\n",
                "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key",
                "supported values: \"metadata.name\"",
            ),
            (
                "[[spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms]]\nmatchFields = [{ key = \"metadata.name\", operator = \"In\", values = [\"a\", \"b\"] }]\n",
                "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values",
                "must be only one value",
            ),
            (
                "[spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution]\nnodeSelectorTerms = []\n",
                "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
                "must have at least one node selector term",
            ),
            (
                "[[spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution]]\nweight = 0\npreference = {}\n",
                "spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
                "must be in the range 1-100",
            ),
            (
                "[spec.template.spec]\nnodeName = \"Node_1\"\n",
                "spec.template.spec.nodeName",
                "RFC 1123 subdomain",
            ),
            (
                "[spec.template.spec]\nterminationGracePeriodSeconds = -1\n",
                "spec.template.spec.terminationGracePeriodSeconds",
                "must be greater than or equal to 0",
            ),
            (
                "[spec.template.spec.nodeSelector]\n\"bad key!\" = \"x\"\n",
                "spec.template.spec.nodeSelector[bad key!]",
                "name part must consist of",
            ),
            (
                "[[spec.template.spec.initContainers]]\nname = \"init\"\nimage = \"i\"\nports = [{ containerPort = 80 }]\n",
                "spec.template.spec.initContainers[0].ports",
                "may not be set for init containers",
            ),
            (
                "[[spec.template.spec.initContainers]]\nname = \"init\"\nimage = \"i\"\nreadinessProbe = { tcpSocket = { port = 80 } }\n",
                "spec.template.spec.initContainers[0].readinessProbe",
                "may not be set for init containers",
            ),
            (
                "[[spec.template.spec.initContainers]]\nname = \"main\"\nimage = \"i\"\n",
                "spec.template.spec.containers[0].name",
                "Duplicate value",
            ),
            (
                "[spec.template.spec]\nrestartPolicy = \"OnFailure\"\n",
                "spec.template.spec.restartPolicy",
                "not supported on a bare host",
            ),
            (
                "[spec.template.spec]\nhostIPC = true\n",
                "spec.template.spec.hostIPC",
                "not supported",
            ),
            (
                "[spec.template.spec.containers.securityContext]\nrunAsUser = -1\n",
                "spec.template.spec.containers[0].securityContext.runAsUser",
                "must be between 0 and 4294967295",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"NODE\"\nvalueFrom = { fieldRef = { fieldPath = \"spec.nodename\" } }\n",
                "spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
                "field label not supported: spec.nodename",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"P\"\nvalueFrom = { fieldRef = { fieldPath = \"status.phase\" } }\n",
                "spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
                "Unsupported value: \"status.phase\": supported values: \"metadata.name\"",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"P\"\nvalueFrom = { fieldRef = { fieldPath = \"status.podIP\" } }\n",
                "spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
                "podman assigns it when the pod starts",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"L\"\nvalueFrom = { fieldRef = { fieldPath = \"metadata.labels['-x']\" } }\n",
                "spec.template.spec.containers[0].env[0].valueFrom.fieldRef",
                "Invalid value: \"-x\"",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"N\"\nvalueFrom = { fieldRef = { apiVersion = \"v2\", fieldPath = \"spec.nodeName\" } }\n",
                "spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
                "unsupported pod version: v2",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"G\"\nvalueFrom = { resourceFieldRef = { resource = \"limits.gpu\" } }\n",
                "spec.template.spec.containers[0].env[0].valueFrom.resourceFieldRef.resource",
                "Unsupported value: \"limits.gpu\"",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"C\"\nvalueFrom = { resourceFieldRef = { resource = \"limits.cpu\", divisor = \"10m\" } }\n",
                "spec.template.spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor",
                "only divisor's values 1m and 1 are supported with the cpu resource",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"C\"\nvalueFrom = { resourceFieldRef = { resource = \"limits.cpu\", containerName = \"other\" } }\n",
                "spec.template.spec.containers[0].env[0].valueFrom.resourceFieldRef.containerName",
                "Not found: \"other\"",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"C\"\nvalueFrom = { configMapKeyRef = { name = \"c\", key = \"k\" } }\n",
                "spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef",
                "there are no ConfigMaps",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"C\"\nvalue = \"x\"\nvalueFrom = { fieldRef = { fieldPath = \"spec.nodeName\" } }\n",
                "spec.template.spec.containers[0].env[0].valueFrom",
                "may not be specified when `value` is not empty",
            ),
            (
                "[[spec.template.spec.containers.env]]\nname = \"C\"\nvalueFrom = {}\n",
                "spec.template.spec.containers[0].env[0].valueFrom",
                "must specify one of",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"info\"\ndownwardAPI = { items = [{ path = \"n\", fieldRef = { fieldPath = \"spec.nodeName\" } }] }\n",
                "spec.template.spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath",
                "Unsupported value: \"spec.nodeName\": supported values: \"metadata.annotations\"",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"info\"\ndownwardAPI = { items = [{ path = \"m\", resourceFieldRef = { resource = \"limits.memory\" } }] }\n",
                "spec.template.spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName",
                "Required value",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"info\"\ndownwardAPI = { items = [{ path = \"../x\", fieldRef = { fieldPath = \"metadata.name\" } }] }\n",
                "spec.template.spec.volumes[0].downwardAPI.items[0].path",
                "must not contain '..'",
            ),
            (
                "[[spec.template.spec.volumes]]\nname = \"info\"\ndownwardAPI = { defaultMode = 512, items = [] }\n",
                "spec.template.spec.volumes[0].downwardAPI.defaultMode",
                "between 0 and 0777",
            ),
            (
                "[spec]\nminReadySeconds = -1\n",
                "spec.minReadySeconds",
                "must be greater than or equal to 0",
            ),
            (
                "[spec]\nrevisionHistoryLimit = -1\n",
                "spec.revisionHistoryLimit",
                "must be greater than or equal to 0",
            ),
            (
                "[dsctl]\npartition = 0\n",
                "dsctl.partition",
                "must be greater than 0",
            ),
            (
                "[dsctl]\ncanarySelector = {}\n",
                "dsctl.canarySelector",
                "selects every host",
            ),
            (
                "[dsctl]\nprogressDeadlineSeconds = 0\n",
                "dsctl.progressDeadlineSeconds",
                "must be greater than 0",
            ),
        ];
        for (extra, field, message) in cases {
            let errs = errors(&parse(extra));
            assert!(
                errs.iter().any(|(f, m)| f == field && m.contains(message)),
                "for\n{extra}\nwanted {field}: …{message}…\ngot {errs:#?}"
            );
        }
        let _ = c0;
    }

    #[test]
    fn names() {
        let cases: &[(&str, &str, &str)] = &[
            ("web.agent", "metadata.name", "must not contain dots"),
            ("Agent", "metadata.name", "RFC 1123 subdomain"),
            ("", "metadata.name", "Required value"),
        ];
        for (name, field, message) in cases {
            let ds = edited(|t| {
                t["metadata"]["name"] = toml::Value::String(name.to_string());
            });
            let errs = errors(&ds);
            assert!(
                errs.iter().any(|(f, m)| f == field && m.contains(message)),
                "{name}: {errs:#?}"
            );
        }
        let long = "a".repeat(64);
        let ds = edited(|t| t["metadata"]["name"] = toml::Value::String(long.clone()));
        assert!(
            errors(&ds)
                .iter()
                .any(|(_, m)| m.contains("must be no more than 63 characters"))
        );
    }

    #[test]
    fn api_version_kind_and_containers() {
        let ds = edited(|t| {
            t["apiVersion"] = "extensions/v1beta1".into();
            t["kind"] = "Deployment".into();
        });
        let errs = errors(&ds);
        assert!(
            errs.contains(&(
                "apiVersion".into(),
                "Unsupported value: \"extensions/v1beta1\": supported values: \"apps/v1\"".into()
            )),
            "{errs:?}"
        );
        assert!(errs.iter().any(|(f, _)| f == "kind"), "{errs:?}");

        let ds = parse("[[spec.template.spec.containers]]\nname = \"main\"\nimage = \" \"\n");
        let errs = errors(&ds);
        assert!(
            errs.contains(&(
                "spec.template.spec.containers[1].name".into(),
                "Duplicate value: \"main\"".into()
            )),
            "{errs:?}"
        );
        assert!(
            errs.contains(&(
                "spec.template.spec.containers[1].image".into(),
                "Required value".into()
            )),
            "{errs:?}"
        );

        let ds = edited(|t| {
            t["spec"]["template"]["spec"]["containers"] = toml::Value::Array(vec![]);
        });
        assert!(
            errors(&ds)
                .iter()
                .any(|(f, m)| f == "spec.template.spec.containers" && m.contains("Required value"))
        );
    }

    #[test]
    fn selector_rules() {
        let ds = edited(|t| t["spec"]["selector"] = toml::Value::Table(toml::Table::new()));
        assert_eq!(
            errors(&ds),
            vec![(
                "spec.selector".to_string(),
                "Invalid value: {}: empty selector is invalid for daemonset".to_string()
            )]
        );
        let ds = edited(|t| t["spec"]["selector"]["matchLabels"]["app"] = "other".into());
        assert_eq!(
            errors(&ds),
            vec![(
                "spec.template.metadata.labels".to_string(),
                "Invalid value: map[app:agent]: `selector` does not match template `labels`"
                    .to_string()
            )]
        );
        let ds = parse("[[spec.selector.matchExpressions]]\nkey = \"tier\"\noperator = \"In\"\n");
        let errs = errors(&ds);
        assert!(
            errs.iter()
                .any(|(f, m)| f == "spec.selector.matchExpressions[0].values"
                    && m.contains("must be specified")),
            "{errs:?}"
        );
        // An invalid selector reports its own error, not a mismatch (as Kubernetes does).
        assert!(
            !errs.iter().any(|(_, m)| m.contains("does not match")),
            "{errs:?}"
        );
        let ds = parse(
            "[[spec.selector.matchExpressions]]\nkey = \"tier\"\noperator = \"DoesNotExist\"\n",
        );
        assert_eq!(errors(&ds), vec![]);
        let ds = edited(|t| {
            let labels = toml::Value::Table(toml::toml! { "-bad" = "x" "ok" = "-bad" });
            t["metadata"]
                .as_table_mut()
                .unwrap()
                .insert("labels".into(), labels);
        });
        let found = validate_daemonset(&ds);
        assert!(
            found
                .iter()
                .any(|f| f.field == "metadata.labels[-bad]" && f.target == Target::Key),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|f| f.field == "metadata.labels[ok]" && f.target == Target::Value),
            "{found:#?}"
        );
    }

    /// ValidateRollingUpdateDaemonSet, with Kubernetes' defaults (maxUnavailable 1,
    /// maxSurge 0) applied to what is left out.
    #[test]
    fn rolling_update() {
        let ru = "spec.updateStrategy.rollingUpdate";
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("", None),
            ("maxUnavailable = 2", None),
            ("maxUnavailable = \"25%\"", None),
            ("maxUnavailable = \"100%\"", None),
            ("maxUnavailable = 0\nmaxSurge = 1", None),
            ("maxUnavailable = 0\nmaxSurge = \"10%\"", None),
            (
                "maxUnavailable = 0\nmaxSurge = 0",
                Some(("maxUnavailable", "cannot be 0 when maxSurge is 0")),
            ),
            (
                "maxUnavailable = \"0%\"",
                Some(("maxUnavailable", "cannot be 0 when maxSurge is 0")),
            ),
            (
                "maxSurge = 1",
                Some(("maxSurge", "may not be set when maxUnavailable is non-zero")),
            ),
            (
                "maxUnavailable = -1",
                Some(("maxUnavailable", "must be greater than or equal to 0")),
            ),
            (
                "maxUnavailable = \"101%\"",
                Some(("maxUnavailable", "must not be greater than 100%")),
            ),
            (
                "maxUnavailable = \"5\"",
                Some(("maxUnavailable", "a valid percent string")),
            ),
            (
                "maxUnavailable = \"-5%\"",
                Some(("maxUnavailable", "a valid percent string")),
            ),
        ];
        for (body, want) in cases {
            let ds = parse(&format!(
                "[spec.updateStrategy]\ntype = \"RollingUpdate\"\n[spec.updateStrategy.rollingUpdate]\n{body}\n"
            ));
            let errs = errors(&ds);
            match want {
                None => assert_eq!(errs, vec![], "{body}"),
                Some((field, msg)) => assert!(
                    errs.iter()
                        .any(|(f, m)| *f == child(ru, field) && m.contains(msg)),
                    "{body}: {errs:#?}"
                ),
            }
        }
        let ds = parse(
            "[spec.updateStrategy]\ntype = \"OnDelete\"\nrollingUpdate = { maxUnavailable = 1 }\n",
        );
        assert!(
            errors(&ds)
                .iter()
                .any(|(f, m)| f == ru && m.contains("only allowed"))
        );
    }

    /// Each of these once validated and then failed at apply (issue 12, item 8).
    #[test]
    fn what_apply_refuses_is_refused_here() {
        const C: &str = "spec.template.spec.containers[0]";
        let big = MAX_SECONDS + 1;
        for (extra, field, message) in [
            (
                format!("[dsctl]\nprogressDeadlineSeconds = {}\n", u64::MAX),
                "dsctl.progressDeadlineSeconds".to_string(),
                "less than or equal to 2147483647",
            ),
            (
                format!("[spec]\nminReadySeconds = {big}\n"),
                "spec.minReadySeconds".into(),
                "less than or equal to 2147483647",
            ),
            (
                format!("[spec.template.spec]\nterminationGracePeriodSeconds = {big}\n"),
                "spec.template.spec.terminationGracePeriodSeconds".into(),
                "less than or equal to 2147483647",
            ),
            (
                format!(
                    "[spec.template.spec.containers.readinessProbe]\nperiodSeconds = {big}\ntcpSocket = {{ port = 80 }}\n"
                ),
                format!("{C}.readinessProbe.periodSeconds"),
                "less than or equal to 2147483647",
            ),
            (
                format!(
                    "[spec.template.spec.containers.livenessProbe]\ninitialDelaySeconds = {big}\ntcpSocket = {{ port = 80 }}\n"
                ),
                format!("{C}.livenessProbe.initialDelaySeconds"),
                "less than or equal to 2147483647",
            ),
            (
                "[spec.template.spec.containers.resources.limits]\ncpu = \"0\"\n".into(),
                format!("{C}.resources.limits[cpu]"),
                "must be greater than zero",
            ),
            (
                "[spec.template.spec.containers.resources.requests]\nmemory = \"0\"\n".into(),
                format!("{C}.resources.requests[memory]"),
                "must be greater than zero",
            ),
            (
                "[spec.template.spec.containers.resources.limits]\nmemory = \"100000000000000000000\"\n"
                    .into(),
                format!("{C}.resources.limits[memory]"),
                "is too large",
            ),
        ] {
            let errs = errors(&parse(&extra));
            assert!(
                errs.iter().any(|(f, m)| *f == field && m.contains(message)),
                "{extra}: want {field}: {message}, got {errs:#?}"
            );
        }
        let dash = edited(|t| {
            t["spec"]["template"]["spec"]["containers"][0]["image"] = "--privileged".into();
        });
        let errs = errors(&dash);
        assert!(
            errs.iter()
                .any(|(f, m)| f == &format!("{C}.image") && m.contains("must not begin with `-`")),
            "{errs:#?}"
        );
        // The largest accepted values stay accepted.
        let max = parse(&format!(
            "[dsctl]\nprogressDeadlineSeconds = {MAX_SECONDS}\n[spec]\nminReadySeconds = 10\n"
        ));
        assert_eq!(errors(&max), vec![]);
    }

    /// hostPort 0 is "not set" in one place: neither a port number error nor a host port clash.
    #[test]
    fn host_port_zero_is_unset() {
        let ds = parse(
            "[[spec.template.spec.containers.ports]]\ncontainerPort = 80\nhostPort = 0\n[[spec.template.spec.containers.ports]]\ncontainerPort = 81\nhostPort = 0\n",
        );
        assert_eq!(errors(&ds), vec![]);
        let port = &ds.pod_spec().containers[0].ports[0];
        assert_eq!(port.host_port(), None);
        assert_eq!(port.bound_host_port(false), None);
        assert_eq!(port.bound_host_port(true), Some(80));
        assert_eq!(first_host_port(ds.pod_spec()), None);
    }

    #[test]
    fn surge_with_host_ports_is_refused() {
        let strategy = "[spec.updateStrategy.rollingUpdate]\nmaxUnavailable = 0\nmaxSurge = 1\n";
        let ds = parse(&format!(
            "{strategy}[[spec.template.spec.containers.ports]]\ncontainerPort = 80\nhostPort = 8080\n"
        ));
        let errs = errors(&ds);
        assert!(
            errs.iter()
                .any(|(f, m)| f == "spec.updateStrategy.rollingUpdate.maxSurge"
                    && m.contains("host port")),
            "{errs:#?}"
        );
        let ds = parse(&format!(
            "{strategy}[spec.template.spec]\nhostNetwork = true\n[[spec.template.spec.containers.ports]]\ncontainerPort = 9100\n"
        ));
        assert!(errors(&ds).iter().any(|(_, m)| m.contains("host port")));
        let ds = parse(&format!(
            "{strategy}[[spec.template.spec.containers.ports]]\ncontainerPort = 80\n"
        ));
        let errs = errors(&ds);
        assert!(
            errs.iter().all(|(_, m)| !m.contains("host port")),
            "{errs:#?}"
        );
    }

    #[test]
    fn host_network_ports() {
        let ds = parse(
            "[spec.template.spec]\nhostNetwork = true\n[[spec.template.spec.containers.ports]]\ncontainerPort = 80\nhostPort = 8080\n",
        );
        assert!(errors(&ds).contains(&(
            "spec.template.spec.containers[0].ports[0].hostPort".into(),
            "Invalid value: 8080: must match `containerPort` when `hostNetwork` is true".into()
        )));
        let ds = parse(
            "[spec.template.spec]\nhostNetwork = true\n[[spec.template.spec.containers.ports]]\ncontainerPort = 80\n[[spec.template.spec.containers]]\nname = \"b\"\nimage = \"x\"\n[[spec.template.spec.containers.ports]]\ncontainerPort = 80\n",
        );
        assert!(errors(&ds).iter().any(|(f, m)| f
            == "spec.template.spec.containers[1].ports[0].containerPort"
            && m.contains("Duplicate value: \"80/TCP\"")));
    }

    /// Every security finding: where, how severe, what it says; none advises more privilege
    /// or removing a field.
    #[test]
    fn security_findings() {
        const SC: &str = "[spec.template.spec.containers.securityContext]\n";
        const PSC: &str = "[spec.template.spec.securityContext]\n";
        const C0: &str = "spec.template.spec.containers[0]";
        let hostpath = "[[spec.template.spec.volumes]]\nname = \"h\"\nhostPath = { path = \"/srv\" }\n[[spec.template.spec.volumes]]\nname = \"e\"\nemptyDir = {}\n";
        let mount =
            |m: &str| format!("{hostpath}[[spec.template.spec.containers.volumeMounts]]\n{m}\n");
        let cases: Vec<(String, String, Severity, &str)> = vec![
            (format!("{SC}runAsNonRoot = true\nrunAsUser = 0\n"), format!("{C0}.securityContext.runAsNonRoot"), Severity::Error, "runAsNonRoot is true and runAsUser is 0"),
            (format!("{PSC}runAsNonRoot = true\nrunAsUser = 0\n"), "spec.template.spec.securityContext.runAsNonRoot".into(), Severity::Error, "could never start"),
            (format!("{PSC}runAsNonRoot = true\n{SC}runAsUser = 0\n"), "spec.template.spec.securityContext.runAsNonRoot".into(), Severity::Error, "runAsUser is 0"),
            (format!("{PSC}fsGroup = -1\n"), "spec.template.spec.securityContext.fsGroup".into(), Severity::Error, "must be between 0 and 4294967295"),
            (format!("{PSC}supplementalGroups = [1, -2]\n"), "spec.template.spec.securityContext.supplementalGroups[1]".into(), Severity::Error, "must be between"),
            (format!("{PSC}seccompProfile = {{ type = \"Localhost\" }}\n"), "spec.template.spec.securityContext.seccompProfile.localhostProfile".into(), Severity::Error, "must be set when seccomp type is Localhost"),
            (format!("{SC}seccompProfile = {{ type = \"Localhost\", localhostProfile = \"../x.json\" }}\n"), format!("{C0}.securityContext.seccompProfile.localhostProfile"), Severity::Error, "without `..`"),
            (format!("{SC}seccompProfile = {{ type = \"RuntimeDefault\", localhostProfile = \"x.json\" }}\n"), format!("{C0}.securityContext.seccompProfile.localhostProfile"), Severity::Error, "can only be set when seccomp type is Localhost"),
            (format!("{SC}capabilities = {{ drop = [\"ALL\", \"NET-RAW\"] }}\n"), format!("{C0}.securityContext.capabilities.drop[1]"), Severity::Error, "not a capability name"),
            (format!("{SC}allowPrivilegeEscalation = false\nprivileged = true\n"), format!("{C0}.securityContext"), Severity::Error, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"),
            (format!("{SC}allowPrivilegeEscalation = false\ncapabilities = {{ add = [\"SYS_ADMIN\"] }}\n"), format!("{C0}.securityContext"), Severity::Error, "CAP_SYS_ADMIN"),
            (mount("name = \"h\"\nmountPath = \"/m\"\nmountPropagation = \"Bidirectional\""), format!("{C0}.volumeMounts[0].mountPropagation"), Severity::Error, "Forbidden: Bidirectional mount propagation is available only to privileged containers"),
            (mount("name = \"h\"\nmountPath = \"/m\"\nsubPath = \"../etc\""), format!("{C0}.volumeMounts[0].subPath"), Severity::Error, "must not contain '..'"),
            (mount("name = \"h\"\nmountPath = \"/m\"\nsubPath = \"/etc\""), format!("{C0}.volumeMounts[0].subPath"), Severity::Error, "must be a relative path"),
            (format!("{hostpath}{PSC}fsGroup = 2000\n"), "spec.template.spec.securityContext.fsGroup".into(), Severity::Warning, "supplemental groups"),
            ("[[spec.template.spec.volumes]]\nname = \"s\"\nhostPath = { path = \"/run/containerd/containerd.sock\" }\n".into(), "spec.template.spec.volumes[0].hostPath.path".into(), Severity::Warning, "not created as a directory"),
            ("[[spec.template.spec.containers.ports]]\ncontainerPort = 9100\n".into(), format!("{C0}.ports[0].containerPort"), Severity::Warning, "neither published"),
        ];
        for (extra, field, severity, message) in cases {
            let findings = validate_daemonset(&parse(&extra));
            let Some(f) = findings
                .iter()
                .find(|f| f.field == field && f.message.contains(message))
            else {
                panic!("for\n{extra}\nwanted {field}: …{message}…\ngot {findings:#?}");
            };
            assert_eq!(f.severity, severity, "{extra}");
            let help = f.help.as_deref().unwrap_or("");
            assert!(
                !help.contains("privileged") && !help.contains("remove"),
                "{help}"
            );
            assert!(!f.message.contains("remove"), "{}", f.message);
            assert!(
                !f.message.contains("use privileged") && !f.message.contains("set privileged"),
                "{}",
                f.message
            );
        }
        // What real DaemonSets write validates cleanly.
        for ok in [
            format!(
                "{SC}capabilities = {{ drop = [\"ALL\"], add = [\"NET_BIND_SERVICE\"] }}\nallowPrivilegeEscalation = false\nrunAsNonRoot = true\nreadOnlyRootFilesystem = true\nseccompProfile = {{ type = \"RuntimeDefault\" }}\nprocMount = \"Default\"\n"
            ),
            format!(
                "{PSC}runAsUser = 65534\nrunAsGroup = 65534\nrunAsNonRoot = true\nsupplementalGroups = [10]\nfsGroup = 2000\nseccompProfile = {{ type = \"Localhost\", localhostProfile = \"audit.json\" }}\n"
            ),
            format!("{SC}runAsNonRoot = false\nrunAsUser = 0\n"),
            mount(
                "name = \"h\"\nmountPath = \"/m\"\nsubPath = \"a/b\"\nmountPropagation = \"HostToContainer\"",
            ),
            format!(
                "{}{SC}privileged = true\n",
                mount("name = \"h\"\nmountPath = \"/m\"\nmountPropagation = \"Bidirectional\"")
            ),
        ] {
            assert_eq!(validate_daemonset(&parse(&ok)), vec![], "{ok}");
        }
    }

    #[test]
    fn warnings_for_fields_without_meaning() {
        let ds = parse(
            "[spec.template.spec]\nserviceAccountName = \"agent\"\ndnsPolicy = \"ClusterFirst\"\nautomountServiceAccountToken = false\nrestartPolicy = \"Always\"\nhostIPC = false\nschedulerName = \"default-scheduler\"\nsecurityContext = {}\n\
             [spec.template.spec.containers.resources.limits]\n\"nvidia.com/gpu\" = 1\n",
        );
        assert_eq!(errors(&ds), vec![]);
        assert_eq!(
            warnings(&ds),
            vec![
                "spec.template.spec.containers[0].resources.limits[nvidia.com/gpu]",
                "spec.template.spec.serviceAccountName",
                "spec.template.spec.dnsPolicy",
            ]
        );
        let ds = edited(|t| {
            t["metadata"]
                .as_table_mut()
                .unwrap()
                .insert("namespace".into(), "kube-system".into());
            t.insert(
                "status".into(),
                toml::Value::Table(toml::toml! { numberReady = 3 }),
            );
        });
        assert_eq!(warnings(&ds), vec!["metadata.namespace", "status"]);
        let ds = parse(
            "[spec.template.spec.containers.securityContext]\nrunAsUser = 65534\nrunAsNonRoot = true\nseccompProfile = { type = \"RuntimeDefault\" }\nallowPrivilegeEscalation = true\n",
        );
        assert_eq!(validate_daemonset(&ds), vec![]);
    }

    #[test]
    fn hostless_table_is_consistent_with_the_model() {
        let mut seen = BTreeSet::new();
        for row in HOSTLESS_FIELDS {
            assert!(
                seen.insert((format!("{:?}", row.location), row.key)),
                "duplicate row {row:?}"
            );
            assert!(!row.why.is_empty());
        }
        // Declared rows deserialize into the model; undeclared ones would be unknown fields
        // (so the loader must take them out first).
        fn table_at<'a>(t: &'a mut toml::Table, path: &[&str]) -> &'a mut toml::Table {
            let mut current = t;
            for step in path {
                let next = current
                    .entry(step.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                current = match next {
                    toml::Value::Array(items) => items[0].as_table_mut().unwrap(),
                    other => other.as_table_mut().unwrap(),
                };
            }
            current
        }
        for row in HOSTLESS_FIELDS {
            let mut doc: toml::Table = toml::from_str(BASE).unwrap();
            let pod = ["spec", "template", "spec"];
            let container = ["spec", "template", "spec", "containers"];
            let path: Vec<&str> = match row.location {
                L::PodSecurityContext => [&pod[..], &["securityContext"]].concat(),
                L::DaemonSet => vec![],
                L::ObjectMeta => vec!["metadata"],
                L::DaemonSetSpec => vec!["spec"],
                L::TemplateMeta => vec!["spec", "template", "metadata"],
                L::PodSpec => pod.to_vec(),
                L::Affinity => [&pod[..], &["affinity"]].concat(),
                L::Container => container.to_vec(),
                L::SecurityContext => [&container[..], &["securityContext"]].concat(),
                L::Resources => [&container[..], &["resources"]].concat(),
                L::Probe => [&container[..], &["readinessProbe"]].concat(),
                L::Volume => {
                    table_at(&mut doc, &pod).insert(
                        "volumes".into(),
                        toml::Value::Array(vec![toml::Value::Table(toml::toml! { name = "v" })]),
                    );
                    [&pod[..], &["volumes"]].concat()
                }
                L::VolumeMount => {
                    table_at(&mut doc, &container).insert(
                        "volumeMounts".into(),
                        toml::Value::Array(vec![toml::Value::Table(
                            toml::toml! { name = "v" mountPath = "/v" },
                        )]),
                    );
                    [&container[..], &["volumeMounts"]].concat()
                }
                L::EnvVar => {
                    table_at(&mut doc, &container).insert(
                        "env".into(),
                        toml::Value::Array(vec![toml::Value::Table(toml::toml! { name = "V" })]),
                    );
                    [&container[..], &["env"]].concat()
                }
                L::EnvVarSource => {
                    table_at(&mut doc, &container).insert(
                        "env".into(),
                        toml::Value::Array(vec![toml::Value::Table(
                            toml::toml! { name = "V" valueFrom = {} },
                        )]),
                    );
                    [&container[..], &["env", "valueFrom"]].concat()
                }
            };
            table_at(&mut doc, &path).insert(row.key.to_string(), toml::Value::Integer(1));
            let text = toml::to_string(&doc).unwrap();
            let parsed = toml::from_str::<DaemonSet>(&text);
            let unknown = parsed
                .as_ref()
                .err()
                .is_some_and(|e| e.message().contains("unknown field"));
            assert_eq!(
                !unknown, row.declared,
                "{:?}.{}: {parsed:?}",
                row.location, row.key
            );
        }
    }

    #[test]
    fn quantities() {
        // In thousandths, as validation compares requests with limits.
        let good: &[(&str, i128)] = &[
            ("100m", 100),
            ("0.5", 500),
            ("2", 2000),
            ("128Mi", 128 * 1024 * 1024 * 1000),
            ("1G", 1_000_000_000_000),
            ("1000", 1_000_000),
            ("1e3", 1_000_000),
            ("1.5Gi", 1536 * 1024 * 1024 * 1000),
            (".5", 500),
            ("+1k", 1_000_000),
        ];
        for (text, want) in good {
            assert_eq!(
                Quantity(text.to_string()).milli_value(),
                Ok(*want),
                "{text}"
            );
        }
        for bad in ["", "Mi", "1.2.3", "12XB", "1 Gi", "1mi", "abc", "1e", "."] {
            assert!(Quantity(bad.to_string()).milli_value().is_err(), "{bad}");
        }
    }

    fn inventory(text: &str) -> Vec<(String, String)> {
        let inv: InventoryFile = toml::from_str(text).unwrap();
        validate_inventory(&inv)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (f.field, f.message))
            .collect()
    }

    #[test]
    fn inventory_rules() {
        let ok = "[[hosts]]\nname = \"node-1\"\naddress = \"192.0.2.10\"\nlabels = { \"topology.kubernetes.io/zone\" = \"a\" }\ntaints = [{ key = \"dedicated\", value = \"gpu\", effect = \"NoSchedule\" }]\n";
        assert_eq!(inventory(ok), vec![]);
        let cases: &[(&str, &str, &str)] = &[
            (
                "[[hosts]]\nname = \"a\"\naddress = \"192.0.2.1\"\n[[hosts]]\nname = \"a\"\naddress = \"192.0.2.2\"\n",
                "hosts[1].name",
                "Duplicate value: \"a\"",
            ),
            (
                "[[hosts]]\nname = \"a\"\naddress = \"192.0.2.1\"\n[[hosts]]\nname = \"b\"\naddress = \"192.0.2.1\"\n",
                "hosts[1].address",
                "Duplicate value",
            ),
            (
                "[[hosts]]\nname = \"Node_1\"\naddress = \"192.0.2.1\"\n",
                "hosts[0].name",
                "RFC 1123 subdomain",
            ),
            (
                "[[hosts]]\nname = \"a\"\naddress = \"\"\n",
                "hosts[0].address",
                "Required value",
            ),
            (
                "[[hosts]]\nname = \"a\"\naddress = \"192.0.2.1\"\nport = 0\n",
                "hosts[0].port",
                "must be between 1 and 65535",
            ),
            (
                "[defaults]\nuser = \"ro ot\"\n[[hosts]]\nname = \"a\"\naddress = \"x\"\n",
                "defaults.user",
                "no whitespace",
            ),
            (
                "[defaults]\nport = 0\n[[hosts]]\nname = \"a\"\naddress = \"x\"\n",
                "defaults.port",
                "must be between 1 and 65535",
            ),
            (
                "[[hosts]]\nname = \"a\"\naddress = \"x\"\nlabels = { \"a/b/c\" = \"x\" }\n",
                "hosts[0].labels[a/b/c]",
                "a valid label key",
            ),
            (
                "[[hosts]]\nname = \"a\"\naddress = \"x\"\nlabels = { a = \"x y\" }\n",
                "hosts[0].labels[a]",
                "a valid label must be",
            ),
            (
                "[[hosts]]\nname = \"a\"\naddress = \"x\"\ntaints = [{ key = \"bad key\", effect = \"NoSchedule\" }]\n",
                "hosts[0].taints[0].key",
                "name part",
            ),
            (
                "[[hosts]]\nname = \"a\"\naddress = \"x\"\ntaints = [{ key = \"k\", effect = \"NoSchedule\" }, { key = \"k\", value = \"v\", effect = \"NoSchedule\" }]\n",
                "hosts[0].taints[1]",
                "Duplicate value",
            ),
        ];
        for (text, field, message) in cases {
            let errs = inventory(text);
            assert!(
                errs.iter().any(|(f, m)| f == field && m.contains(message)),
                "{text}\n{errs:#?}"
            );
        }
        // The same address on two SSH ports is two hosts (e.g. containers behind one IP).
        let two_ports = "[[hosts]]\nname = \"a\"\naddress = \"127.0.0.1\"\nport = 2201\n[[hosts]]\nname = \"b\"\naddress = \"127.0.0.1\"\nport = 2202\n";
        assert_eq!(inventory(two_ports), vec![]);
    }
}
