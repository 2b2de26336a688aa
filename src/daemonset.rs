//! The DaemonSet model: Kubernetes `apps/v1` field names and structure, so that a manifest
//! converted mechanically from YAML to TOML deserializes as it is.
//!
//! Fields that Kubernetes has but that mean nothing on a bare host are still declared (as
//! `Option<toml::Value>`) so that `validate` can name them with a warning or a refusal instead
//! of the generic "unknown field" error; see `validate.rs` for which is which.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::int_or_string::IntOrString;
use crate::quantity::Quantity;

/// One TOML document: a DaemonSet plus dsctl's own extensions in `[dsctl]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DaemonSet {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: DaemonSetSpec,
    /// dsctl's extensions to Kubernetes, kept in one place apart from the k8s fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsctl: Option<Extensions>,
    /// Present in manifests exported from a cluster; ignored with a warning.
    #[serde(default, skip_serializing)]
    pub status: Option<toml::Value>,
}

/// The largest value of a `*Seconds` field: Kubernetes declares most of them int32, and dsctl
/// adds them to clocks (`Instant + deadline`) and writes them into units, where more would
/// overflow. Validation refuses larger values.
pub const MAX_SECONDS: i64 = i32::MAX as i64;

/// dsctl's rollout extensions (`[dsctl]` table at the top of a spec file).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Extensions {
    /// A rollout batch that is not available within this many seconds halts the rollout.
    pub progress_deadline_seconds: Option<u64>,
    /// Revert the halted batch to the previous revision.
    #[serde(default)]
    pub auto_revert: bool,
    /// Update at most this many hosts, then stop until `dsctl rollout resume`.
    pub partition: Option<u32>,
    /// Update only hosts matching this selector, then stop (a canary).
    pub canary_selector: Option<LabelSelector>,
    #[serde(default)]
    pub paused: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DaemonSetSpec {
    pub selector: LabelSelector,
    pub template: PodTemplateSpec,
    #[serde(default)]
    pub update_strategy: UpdateStrategy,
    #[serde(default)]
    pub min_ready_seconds: i64,
    #[serde(default = "default_revision_history_limit")]
    pub revision_history_limit: i64,
}

fn default_revision_history_limit() -> i64 {
    10
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: LabelSelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum LabelSelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateStrategy {
    #[serde(rename = "type", default)]
    pub kind: UpdateStrategyType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdate>,
}

impl Default for UpdateStrategy {
    fn default() -> Self {
        UpdateStrategy {
            kind: UpdateStrategyType::RollingUpdate,
            rolling_update: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum UpdateStrategyType {
    #[default]
    RollingUpdate,
    OnDelete,
}

/// Defaults as in k8s: maxUnavailable 1, maxSurge 0.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollingUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTemplateSpec {
    #[serde(default)]
    pub metadata: TemplateMeta,
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateMeta {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSpec {
    pub containers: Vec<Container>,
    /// Run in order, each to completion, before the app containers, on every instance start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default)]
    pub host_network: bool,
    #[serde(default, rename = "hostPID")]
    pub host_pid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    // k8s fields with no meaning on a bare host: warned about (see validate.rs). The service
    // account's name is still what the downward API's spec.serviceAccountName shows, so it is
    // part of the template (and of its revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub automount_service_account_token: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub priority_class_name: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub dns_policy: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub restart_policy: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub image_pull_secrets: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub scheduler_name: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    // k8s fields dsctl cannot honour on a bare host: refused (see validate.rs).
    #[serde(default, skip_serializing)]
    pub ephemeral_containers: Option<toml::Value>,
    #[serde(default, rename = "hostIPC", skip_serializing)]
    pub host_ipc: Option<toml::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Affinity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
    /// One instance per host already; pod (anti-)affinity is refused (see validate.rs).
    #[serde(default, skip_serializing)]
    pub pod_affinity: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub pod_anti_affinity: Option<toml::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeAffinity {
    #[serde(
        default,
        rename = "requiredDuringSchedulingIgnoredDuringExecution",
        skip_serializing_if = "Option::is_none"
    )]
    pub required: Option<NodeSelector>,
    #[serde(
        default,
        rename = "preferredDuringSchedulingIgnoredDuringExecution",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub preferred: Vec<PreferredSchedulingTerm>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelector {
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelectorTerm {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Only `metadata.name` is a valid field key, as in k8s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelectorRequirement {
    pub key: String,
    pub operator: NodeSelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum NodeSelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreferredSchedulingTerm {
    pub weight: i32,
    pub preference: NodeSelectorTerm,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Toleration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Absent means Equal, as in k8s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<TolerationOperator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Absent matches every effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum TolerationOperator {
    Exists,
    Equal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolumeSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
    // Volume sources that need a cluster: refused (see validate.rs).
    #[serde(default, skip_serializing)]
    pub config_map: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub secret: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub persistent_volume_claim: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub projected: Option<toml::Value>,
    #[serde(
        default,
        rename = "downwardAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub downward_api: Option<DownwardApiVolumeSource>,
}

/// A `downwardAPI` volume: files holding pod fields, written per host before the container
/// starts (see `downward.rs`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownwardApiVolumeSource {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<DownwardApiVolumeFile>,
    /// File mode bits; 0644 when absent, as the API server defaults it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mode: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownwardApiVolumeFile {
    /// Relative to the volume, without `..`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPathVolumeSource {
    pub path: String,
    /// "", DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmptyDirVolumeSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    pub name: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    // k8s fields with no meaning here: warned about or refused (see validate.rs).
    #[serde(default, skip_serializing)]
    pub env_from: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default, skip_serializing)]
    pub termination_message_path: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub termination_message_policy: Option<toml::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// `valueFrom`: the downward API is resolved per host at render time (see `downward.rs`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVarSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    // Need ConfigMaps, Secrets or volume files: refused (see validate.rs).
    #[serde(default, skip_serializing)]
    pub config_map_key_ref: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub secret_key_ref: Option<toml::Value>,
    #[serde(default, skip_serializing)]
    pub file_key_ref: Option<toml::Value>,
}

/// `fieldRef`: a field of the pod, such as `spec.nodeName` or `metadata.labels['app']`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectFieldSelector {
    /// Defaults to "v1", as the API server defaults it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default)]
    pub field_path: String,
}

/// `resourceFieldRef`: a container's limit or request, such as `limits.memory`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceFieldSelector {
    /// Another container of the pod; this container when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default)]
    pub resource: String,
    /// The unit the value is given in (rounded up); 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divisor: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerPort {
    pub container_port: i64,
    /// As written; read it through [`ContainerPort::host_port`], which owns "0 means unset".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host_port: Option<i64>,
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

impl ContainerPort {
    /// The hostPort to publish: `None` when absent or 0, which Kubernetes reads as "not set".
    pub fn host_port(&self) -> Option<i64> {
        self.host_port.filter(|hp| *hp != 0)
    }

    /// The host port this port occupies: its hostPort, or with `hostNetwork` the containerPort
    /// itself (the container binds it on the host directly).
    pub fn bound_host_port(&self, host_network: bool) -> Option<i64> {
        self.host_port()
            .or(host_network.then_some(self.container_port))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Protocol {
    #[default]
    TCP,
    UDP,
    SCTP,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceRequirements {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    #[serde(default)]
    pub read_only: bool,
    /// A path inside the volume to mount instead of its root (relative, without `..`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    /// A sub-path of the volume with `$(VAR)` references to the container's env, expanded per
    /// host (`expansion::expand_sub_path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path_expr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_propagation: Option<MountPropagation>,
}

/// How mounts under a volume's mount point travel between host and container
/// (k8s `MountPropagationMode`; absent is None).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum MountPropagation {
    /// `rprivate`: neither side sees the other's later mounts.
    None,
    /// `rslave`: the container sees mounts the host makes later.
    HostToContainer,
    /// `rshared`: both ways; Kubernetes allows it for privileged containers only.
    Bidirectional,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_mount: Option<ProcMount>,
    // Warned about (see validate.rs).
    #[serde(default, skip_serializing)]
    pub se_linux_options: Option<toml::Value>,
}

/// The pod-level security settings (k8s `PodSecurityContext`). runAsUser, runAsGroup,
/// runAsNonRoot and seccompProfile are defaults for each container; supplementalGroups and
/// fsGroup apply to every container. Read them through [`PodSpec::effective_security`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSecurityContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supplemental_groups: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
}

/// Capabilities added to and dropped from the runtime's default set (names without `CAP_`,
/// or `ALL`). As in the CRI, the drops apply first, so `drop = ["ALL"]` with `add` keeps
/// exactly the added ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeccompProfile {
    #[serde(rename = "type")]
    pub kind: SeccompProfileType,
    /// A path relative to the kubelet's seccomp root (`layout::SECCOMP_ROOT`), for Localhost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localhost_profile: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum SeccompProfileType {
    RuntimeDefault,
    Unconfined,
    Localhost,
}

/// Whether /proc is masked (k8s `ProcMountType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum ProcMount {
    #[default]
    Default,
    Unmasked,
}

/// The security settings a container runs with: its own, else the pod's (the kubelet's
/// `DetermineEffectiveSecurityContext`), plus the pod's groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectiveSecurity {
    pub privileged: bool,
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: bool,
    pub read_only_root_filesystem: bool,
    pub capabilities: Capabilities,
    /// `allowPrivilegeEscalation`; absent means allowed, as in Kubernetes.
    pub allow_privilege_escalation: bool,
    pub seccomp_profile: Option<SeccompProfile>,
    pub proc_mount: ProcMount,
    /// The pod's supplementalGroups, then its fsGroup (as the kubelet adds it), deduplicated.
    pub supplemental_groups: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Refused (see validate.rs).
    #[serde(default, skip_serializing)]
    pub grpc: Option<toml::Value>,
    #[serde(default)]
    pub initial_delay_seconds: i64,
    #[serde(default = "default_period")]
    pub period_seconds: i64,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: i64,
    #[serde(default = "default_success")]
    pub success_threshold: i64,
    #[serde(default = "default_failure")]
    pub failure_threshold: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

fn default_period() -> i64 {
    10
}
fn default_timeout() -> i64 {
    1
}
fn default_success() -> i64 {
    1
}
fn default_failure() -> i64 {
    3
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpGetAction {
    #[serde(default = "default_path")]
    pub path: String,
    pub port: IntOrString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
}

fn default_path() -> String {
    "/".to_string()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpSocketAction {
    pub port: IntOrString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Hooks run after the container starts and before it is stopped (k8s `Lifecycle`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifecycle {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_start: Option<LifecycleHandler>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<LifecycleHandler>,
    /// Refused (see validate.rs).
    #[serde(default, skip_serializing)]
    pub stop_signal: Option<toml::Value>,
}

/// One hook: exactly one of exec, httpGet, sleep (tcpSocket is deprecated and refused).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LifecycleHandler {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<SleepAction>,
    #[serde(default, skip_serializing)]
    pub tcp_socket: Option<toml::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SleepAction {
    pub seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExecAction {
    pub command: Vec<String>,
}

impl DaemonSet {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn pod_spec(&self) -> &PodSpec {
        &self.spec.template.spec
    }
}

impl PodSpec {
    /// The security settings `c` runs with: every container field as written, and the pod's
    /// runAsUser, runAsGroup, runAsNonRoot and seccompProfile where the container sets none.
    pub fn effective_security(&self, c: &Container) -> EffectiveSecurity {
        let pod = self.security_context.clone().unwrap_or_default();
        let sc = c.security_context.clone().unwrap_or_default();
        let mut groups: Vec<i64> = Vec::new();
        for g in pod.supplemental_groups.iter().chain(pod.fs_group.iter()) {
            if !groups.contains(g) {
                groups.push(*g);
            }
        }
        EffectiveSecurity {
            privileged: sc.privileged == Some(true),
            run_as_user: sc.run_as_user.or(pod.run_as_user),
            run_as_group: sc.run_as_group.or(pod.run_as_group),
            run_as_non_root: sc.run_as_non_root.or(pod.run_as_non_root) == Some(true),
            read_only_root_filesystem: sc.read_only_root_filesystem == Some(true),
            capabilities: sc.capabilities.unwrap_or_default(),
            allow_privilege_escalation: sc.allow_privilege_escalation != Some(false),
            seccomp_profile: sc.seccomp_profile.or(pod.seccomp_profile),
            proc_mount: sc.proc_mount.unwrap_or(ProcMount::Default),
            supplemental_groups: groups,
        }
    }
}

impl Container {
    /// The pull policy in effect: as written, or Kubernetes' default (Always for `:latest` or
    /// no tag, unless pinned by digest; IfNotPresent otherwise).
    pub fn effective_pull_policy(&self) -> PullPolicy {
        self.image_pull_policy.unwrap_or_else(|| {
            let name = self.image.rsplit('/').next().unwrap_or(&self.image);
            match name.split_once(':') {
                _ if self.image.contains('@') => PullPolicy::IfNotPresent,
                Some((_, "latest")) | None => PullPolicy::Always,
                Some(_) => PullPolicy::IfNotPresent,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(pod_sc: &str, container_sc: &str) -> (PodSpec, Container) {
        let text = format!(
            "containers = [{{ name = \"c\", image = \"i\", securityContext = {{ {container_sc} }} }}]\nsecurityContext = {{ {pod_sc} }}\n"
        );
        let pod: PodSpec = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let c = pod.containers[0].clone();
        (pod, c)
    }

    /// The container's own value wins; the pod's fills in what the container leaves unset;
    /// the groups are the pod's alone.
    #[test]
    fn effective_security_pod_vs_container() {
        let base = EffectiveSecurity {
            allow_privilege_escalation: true,
            ..Default::default()
        };
        let cases: Vec<(&str, &str, &str, EffectiveSecurity)> = vec![
            ("nothing", "", "", base.clone()),
            (
                "pod user",
                "runAsUser = 1000, runAsGroup = 100",
                "",
                EffectiveSecurity {
                    run_as_user: Some(1000),
                    run_as_group: Some(100),
                    ..base.clone()
                },
            ),
            (
                "container user wins",
                "runAsUser = 1000, runAsGroup = 100",
                "runAsUser = 2000",
                EffectiveSecurity {
                    run_as_user: Some(2000),
                    run_as_group: Some(100),
                    ..base.clone()
                },
            ),
            (
                "pod runAsNonRoot",
                "runAsNonRoot = true",
                "",
                EffectiveSecurity {
                    run_as_non_root: true,
                    ..base.clone()
                },
            ),
            (
                "container runAsNonRoot false wins",
                "runAsNonRoot = true",
                "runAsNonRoot = false",
                base.clone(),
            ),
            (
                "groups",
                "supplementalGroups = [10, 20, 10], fsGroup = 20",
                "",
                EffectiveSecurity {
                    supplemental_groups: vec![10, 20],
                    ..base.clone()
                },
            ),
            (
                "fsGroup after supplementalGroups",
                "supplementalGroups = [10], fsGroup = 5",
                "",
                EffectiveSecurity {
                    supplemental_groups: vec![10, 5],
                    ..base.clone()
                },
            ),
            (
                "pod seccomp",
                "seccompProfile = { type = \"Unconfined\" }",
                "",
                EffectiveSecurity {
                    seccomp_profile: Some(SeccompProfile {
                        kind: SeccompProfileType::Unconfined,
                        localhost_profile: None,
                    }),
                    ..base.clone()
                },
            ),
            (
                "container seccomp wins",
                "seccompProfile = { type = \"Unconfined\" }",
                "seccompProfile = { type = \"RuntimeDefault\" }",
                EffectiveSecurity {
                    seccomp_profile: Some(SeccompProfile {
                        kind: SeccompProfileType::RuntimeDefault,
                        localhost_profile: None,
                    }),
                    ..base.clone()
                },
            ),
            (
                "container-only fields",
                "",
                "privileged = true, readOnlyRootFilesystem = true, allowPrivilegeEscalation = false, procMount = \"Unmasked\", capabilities = { drop = [\"ALL\"] }",
                EffectiveSecurity {
                    privileged: true,
                    read_only_root_filesystem: true,
                    allow_privilege_escalation: false,
                    proc_mount: ProcMount::Unmasked,
                    capabilities: Capabilities {
                        add: vec![],
                        drop: vec!["ALL".into()],
                    },
                    ..base.clone()
                },
            ),
        ];
        for (name, pod_sc, container_sc, want) in cases {
            let (pod, c) = pod(pod_sc, container_sc);
            assert_eq!(pod.effective_security(&c), want, "{name}");
        }
    }
}
