//! How one container of a DaemonSet maps onto `podman run`: the flavour-independent half of
//! rendering. Each spec field becomes podman options here; `render.rs` then writes them as a
//! systemd service or as a Quadlet `.container`.
//!
//! Choices that Kubernetes leaves to the node, made here and why:
//! * `--init` always: the container's PID 1 is catatonit, which forwards SIGTERM, so images
//!   whose process ignores SIGTERM as PID 1 (busybox httpd) still stop within the grace period.
//! * hostPath `type` is checked before start (`ExecStartPre=`), as the kubelet checks it; an
//!   unset type creates a missing directory, as containerd does for the kubelet.
//! * emptyDir on disk is the named volume `dsctl-<ds>_<volume>`: containers of one DaemonSet
//!   share it and it survives container restarts, like a pod's emptyDir (unlike k8s, it also
//!   survives a new revision; `dsctl delete` removes it). `medium: Memory` is a per-container
//!   tmpfs (`--tmpfs`), sized by `sizeLimit`.
//! * The unit's `CPUQuota=`/`MemoryMax=` are the container's limits plus headroom for podman
//!   (see `UNIT_MEMORY_HEADROOM_BYTES`); the container's own limits are exact.
//! * CPU limits become `--cpus`; CPU requests (or the limit, as k8s defaults requests to
//!   limits) become `--cpu-shares` the way the kubelet computes cgroup shares; memory limits
//!   become `--memory`; an explicit memory request becomes `--memory-reservation`. Resources
//!   other than cpu and memory are not mapped (validation reports them).
//! * An exec livenessProbe becomes podman's healthcheck with `--health-on-failure=kill`:
//!   podman's docs advise `kill` under systemd, whose `Restart=always` then restarts the
//!   container, as the kubelet does. httpGet/tcpSocket liveness and readiness/startup probes
//!   are run by `dsctl` itself, not rendered.

use std::net::IpAddr;

use crate::daemonset::{
    Container, DaemonSet, HostPathVolumeSource, MountPropagation, Probe, Protocol, PullPolicy,
    Volume,
};
use crate::escape;

use super::RenderError;

mod hooks;
mod security;
pub use security::{
    SecurityOption, capability as capability_name, localhost_profile as localhost_seccomp_profile,
};

/// Seconds systemd waits beyond the grace period before it kills what is left (podman's own
/// `generate systemd` margin).
pub const STOP_TIMEOUT_MARGIN_SECS: u64 = 60;
/// k8s' default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE_SECS: u64 = 30;

/// One argv word. `Fixed` words are dsctl's own text (flags, numbers, systemd specifiers such as
/// `%t`) and are written as they are; `Value` words come from the spec and are always escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    Fixed(String),
    Value(String),
}

impl Word {
    pub fn as_str(&self) -> &str {
        match self {
            Word::Fixed(s) | Word::Value(s) => s,
        }
    }
}

fn fixed(s: impl Into<String>) -> Word {
    let s = s.into();
    debug_assert!(
        is_safe_fixed(&s),
        "fixed word {s:?} holds characters that need escaping"
    );
    Word::Fixed(s)
}

fn value(s: impl Into<String>) -> Word {
    Word::Value(s.into())
}

/// The characters a `Fixed` word may hold: none of them is special to systemd outside quotes
/// except `%`, which fixed words use on purpose for specifiers.
pub fn is_safe_fixed(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '_' | '.' | '/' | ':' | ',' | '=' | '+' | '@' | '%' | '-' | '[' | ']'
                )
        })
}

/// A bind mount, a named volume or a tmpfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    Bind {
        host: String,
        dest: String,
        read_only: bool,
        /// `rslave` or `rshared` (mountPropagation HostToContainer, Bidirectional); `None`
        /// leaves podman's default for binds, rprivate, which is Kubernetes' None.
        propagation: Option<&'static str>,
    },
    Named {
        name: String,
        dest: String,
        read_only: bool,
    },
    Tmpfs {
        dest: String,
        size: Option<u64>,
        read_only: bool,
    },
}

impl Mount {
    /// The `-v` argument, for bind mounts and named volumes.
    pub fn volume_spec(&self) -> Option<String> {
        let (source, dest, read_only, propagation) = match self {
            Mount::Bind {
                host,
                dest,
                read_only,
                propagation,
            } => (host, dest, *read_only, *propagation),
            Mount::Named {
                name,
                dest,
                read_only,
            } => (name, dest, *read_only, None),
            Mount::Tmpfs { .. } => return None,
        };
        let opts: Vec<&str> = read_only
            .then_some("ro")
            .into_iter()
            .chain(propagation)
            .collect();
        Some(if opts.is_empty() {
            format!("{source}:{dest}")
        } else {
            format!("{source}:{dest}:{}", opts.join(","))
        })
    }

    pub fn options(&self) -> Vec<Word> {
        match self {
            Mount::Tmpfs {
                dest,
                size,
                read_only,
            } => {
                let mut opts = vec![if *read_only { "ro" } else { "rw" }.to_string()];
                if let Some(size) = size {
                    opts.push(format!("size={size}"));
                }
                vec![
                    fixed("--tmpfs"),
                    value(format!("{dest}:{}", opts.join(","))),
                ]
            }
            _ => vec![fixed("-v"), value(self.volume_spec().unwrap_or_default())],
        }
    }
}

/// Everything `podman run` needs for one container, before it is written as a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPlan {
    pub daemonset: String,
    pub container: String,
    pub revision: String,
    /// `dsctl-<ds>-<container>`: the unit's base name and the podman container name.
    pub name: String,
    pub image: String,
    /// `--label` pairs: dsctl's own first, then the pod template's labels.
    pub labels: Vec<(String, String)>,
    pub env: Vec<(String, String)>,
    /// `-p` values (`[hostIP:]hostPort:containerPort/proto`).
    pub publish: Vec<String>,
    pub host_network: bool,
    pub mounts: Vec<Mount>,
    /// Every other `podman run` option, one group of words per option.
    pub options: Vec<Vec<Word>>,
    /// The security context's options, each with its Quadlet key where one exists.
    pub security: Vec<SecurityOption>,
    /// `command`, as the JSON array `--entrypoint` takes.
    pub entrypoint: Option<String>,
    pub args: Vec<String>,
    /// `ExecStartPre=` commands (hostPath checks), each a full argv.
    pub pre_start: Vec<Vec<Word>>,
    /// `ExecStartPost=` commands: the postStart hook.
    pub post_start: Vec<Vec<Word>>,
    /// `ExecStop=` commands before the container's stop: the preStop hook, bounded by the
    /// grace period; a failure does not keep the container from stopping.
    pub pre_stop: Vec<Vec<Word>>,
    pub grace_secs: u64,
    /// `CPUQuota=` for the unit, such as `50%`.
    pub cpu_quota: Option<String>,
    /// `MemoryMax=` for the unit, in bytes.
    pub memory_max: Option<u64>,
}

/// `dsctl-<ds>-<container>`, from names that validation has already checked as DNS labels.
pub fn unit_base_name(daemonset: &str, container: &str) -> String {
    format!(
        "dsctl-{}-{}",
        escape::unit_name_component(daemonset),
        escape::unit_name_component(container)
    )
}

pub fn plan_container(
    ds: &DaemonSet,
    index: usize,
    revision: &str,
) -> Result<ContainerPlan, RenderError> {
    let pod = ds.pod_spec();
    let c = &pod.containers[index];
    let field = |f: &str| format!("spec.template.spec.containers[{index}].{f}");
    let err_at = |path: String, reason: String| RenderError::Value {
        daemonset: ds.name().to_string(),
        container: c.name.clone(),
        field: path,
        reason,
    };
    let err = |f: &str, reason: String| err_at(field(f), reason);

    check_image(&c.image).map_err(|r| err("image", r))?;

    let mut labels = vec![
        ("dsctl.daemonset".to_string(), ds.name().to_string()),
        ("dsctl.container".to_string(), c.name.clone()),
        ("dsctl.revision".to_string(), revision.to_string()),
    ];
    labels.extend(
        ds.spec
            .template
            .metadata
            .labels
            .iter()
            .filter(|(k, _)| !k.starts_with("dsctl."))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    for (k, _) in &labels {
        if k.is_empty() || k.contains('=') {
            return Err(err(
                "metadata.labels",
                format!("label key {k:?} cannot be passed to podman (empty or holds `=`)"),
            ));
        }
    }

    let mut env = Vec::with_capacity(c.env.len());
    for (i, e) in c.env.iter().enumerate() {
        if e.value_from.is_some() {
            return Err(err(
                &format!("env[{i}].valueFrom"),
                "valueFrom needs the Kubernetes API and is not supported".into(),
            ));
        }
        if e.name.is_empty() || e.name.contains('=') {
            return Err(err(
                &format!("env[{i}].name"),
                format!("{:?} is not a valid environment variable name", e.name),
            ));
        }
        env.push((e.name.clone(), e.value.clone()));
    }

    let mut publish = Vec::new();
    if !pod.host_network {
        for (i, p) in c.ports.iter().enumerate() {
            let Some(host_port) = p.host_port else {
                continue;
            };
            let f = |s: &str| format!("ports[{i}].{s}");
            let port_ok = |n: i64| (1..=65535).contains(&n);
            if !port_ok(host_port) {
                return Err(err(
                    &f("hostPort"),
                    format!("{host_port} is not a port number"),
                ));
            }
            if !port_ok(p.container_port) {
                return Err(err(
                    &f("containerPort"),
                    format!("{} is not a port number", p.container_port),
                ));
            }
            let ip = match p.host_ip.as_deref().filter(|s| !s.is_empty()) {
                None => String::new(),
                Some(s) => match s.parse::<IpAddr>() {
                    Ok(IpAddr::V4(v4)) => format!("{v4}:"),
                    Ok(IpAddr::V6(v6)) => format!("[{v6}]:"),
                    Err(_) => return Err(err(&f("hostIP"), format!("{s:?} is not an IP address"))),
                },
            };
            let proto = match p.protocol {
                Protocol::TCP => "tcp",
                Protocol::UDP => "udp",
                Protocol::SCTP => "sctp",
            };
            publish.push(format!("{ip}{host_port}:{}/{proto}", p.container_port));
        }
    }

    let base = unit_base_name(ds.name(), &c.name);
    let mut mounts = Vec::new();
    let mut pre_start = Vec::new();
    for (i, vm) in c.volume_mounts.iter().enumerate() {
        let f = |s: &str| format!("volumeMounts[{i}].{s}");
        check_path(&vm.mount_path).map_err(|r| err(&f("mountPath"), r))?;
        let Some(j) = pod.volumes.iter().position(|v| v.name == vm.name) else {
            return Err(err(
                &f("name"),
                format!(
                    "no volume named {:?} in spec.template.spec.volumes",
                    vm.name
                ),
            ));
        };
        let (mut mount, check) =
            plan_volume(ds.name(), &pod.volumes[j], &vm.mount_path, vm.read_only).map_err(
                |(which, r)| err_at(format!("spec.template.spec.volumes[{j}].{which}"), r),
            )?;
        if let Some(check) = check
            && !pre_start.contains(&check)
        {
            pre_start.push(check);
        }
        if let Mount::Bind {
            host, propagation, ..
        } = &mut mount
        {
            *propagation = match vm.mount_propagation {
                None | Some(MountPropagation::None) => None,
                Some(MountPropagation::HostToContainer) => Some("rslave"),
                Some(MountPropagation::Bidirectional) => Some("rshared"),
            };
            if let Some(sub) = vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
                check_sub_path(sub).map_err(|r| err(&f("subPath"), r))?;
                *host = format!("{}/{sub}", host.trim_end_matches('/'));
                check_path(host).map_err(|r| err(&f("subPath"), r))?;
                // As the kubelet: a missing sub-path is created as a directory.
                pre_start.push(vec![
                    fixed("/bin/sh"),
                    fixed("-c"),
                    value(r#"[ -e "$1" ] || mkdir -p "$1""#),
                    fixed("dsctl-subpath"),
                    value(host.clone()),
                ]);
            }
        }
        mounts.push(mount);
    }

    let grace_secs = pod
        .termination_grace_period_seconds
        .map(|g| u64::try_from(g).unwrap_or(0))
        .unwrap_or(DEFAULT_GRACE_SECS);

    let mut options: Vec<Vec<Word>> = vec![
        vec![fixed("--init")],
        vec![fixed(format!("--pull={}", pull_policy(c)))],
        vec![fixed("--stop-timeout"), fixed(grace_secs.to_string())],
    ];
    if pod.host_pid {
        options.push(vec![fixed("--pid"), fixed("host")]);
    }
    let sec = pod.effective_security(c);
    let security = security::security_options(&sec).map_err(|(f, r)| {
        if f == "supplementalGroups" {
            err_at(format!("spec.template.spec.securityContext.{f}"), r)
        } else {
            err(&format!("securityContext.{f}"), r)
        }
    })?;
    if let Some(check) =
        security::run_as_non_root_check(&sec, &c.image, &c.name, pull_policy(c) == "never")
    {
        pre_start.push(check);
    }
    let mut post_start = Vec::new();
    let mut pre_stop = Vec::new();
    if let Some(lc) = &c.lifecycle {
        if let Some(h) = &lc.post_start {
            post_start.push(
                hooks::hook_argv(h, c, &base, pod.host_network)
                    .map_err(|r| err("lifecycle.postStart", r))?,
            );
        }
        if let Some(h) = &lc.pre_stop {
            let argv = hooks::hook_argv(h, c, &base, pod.host_network)
                .map_err(|r| err("lifecycle.preStop", r))?;
            pre_stop.push(hooks::bounded(argv, grace_secs));
        }
    }
    if let Some(dir) = &c.working_dir {
        check_path(dir).map_err(|r| err("workingDir", r))?;
        options.push(vec![fixed("-w"), value(dir.clone())]);
    }

    let (cpu_quota, memory_max) = plan_resources(c, &mut options).map_err(|(f, r)| err(&f, r))?;

    if let Some(probe) = &c.liveness_probe
        && let Some(exec) = &probe.exec
    {
        options.push(
            health_options(probe, &exec.command)
                .map_err(|r| err("livenessProbe.exec.command", r))?,
        );
    }

    let entrypoint = if c.command.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&c.command).expect("a list of strings always serializes"))
    };

    Ok(ContainerPlan {
        daemonset: ds.name().to_string(),
        container: c.name.clone(),
        revision: revision.to_string(),
        name: base,
        image: c.image.clone(),
        labels,
        env,
        publish,
        host_network: pod.host_network,
        mounts,
        options,
        security,
        entrypoint,
        args: c.args.clone(),
        pre_start,
        post_start,
        pre_stop,
        grace_secs,
        cpu_quota,
        memory_max,
    })
}

/// Characters no image reference can hold, refused early: podman would refuse them anyway,
/// and Quadlet's `Image=` takes its value verbatim.
fn check_image(image: &str) -> Result<(), String> {
    if image.is_empty() {
        return Err("the image is empty".into());
    }
    if let Some(c) = image
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'))
    {
        return Err(format!(
            "{image:?} is not an image reference (it holds {c:?})"
        ));
    }
    Ok(())
}

/// Container and host paths as podman's `-v host:dest` needs them.
fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} is not an absolute path"));
    }
    if path.contains(':') {
        return Err(format!(
            "{path:?} holds `:`, which podman's -v syntax cannot carry"
        ));
    }
    if path.contains('\0') {
        return Err(format!("{path:?} holds a NUL character"));
    }
    Ok(())
}

/// An untyped hostPath that names a socket: under /run or /var/run, ending in `.sock`.
pub fn is_untyped_socket(hp: &HostPathVolumeSource) -> bool {
    hp.kind.as_deref().unwrap_or("").is_empty()
        && (hp.path.starts_with("/run/") || hp.path.starts_with("/var/run/"))
        && hp.path.ends_with(".sock")
}

/// A subPath as the API server accepts it: relative, and no `..` element.
pub fn check_sub_path(sub: &str) -> Result<(), String> {
    if sub.starts_with('/') {
        return Err(format!("{sub:?} must be a relative path"));
    }
    if sub.split('/').any(|part| part == "..") {
        return Err(format!("{sub:?} must not contain '..'"));
    }
    Ok(())
}

/// Which part of a volume is wrong (`hostPath.path` …), and why.
type VolumeError = (&'static str, String);

/// A volume as a mount, plus the hostPath check to run before start. Errors name the part of
/// the volume that is wrong (`volumes`).
fn plan_volume(
    ds: &str,
    volume: &Volume,
    dest: &str,
    read_only: bool,
) -> Result<(Mount, Option<Vec<Word>>), VolumeError> {
    let dest = dest.to_string();
    if let Some(hp) = &volume.host_path {
        check_path(&hp.path).map_err(|r| ("hostPath.path", r))?;
        let path = || value(hp.path.clone());
        let test = |flag: &str| vec![fixed("/usr/bin/test"), fixed(flag), path()];
        let check = match hp.kind.as_deref().unwrap_or("") {
            // A socket that is not there yet must not become a directory: the bind then fails
            // until the socket's daemon creates it (validation warns).
            "" if is_untyped_socket(hp) => None,
            // Like containerd: a missing path becomes a directory; anything present is used.
            "" => Some(vec![
                fixed("/bin/sh"),
                fixed("-c"),
                value(r#"[ -e "$1" ] || mkdir -p "$1""#),
                fixed("dsctl-hostpath"),
                path(),
            ]),
            "DirectoryOrCreate" => Some(vec![fixed("/bin/mkdir"), fixed("-p"), path()]),
            "FileOrCreate" => Some(vec![
                fixed("/bin/sh"),
                fixed("-c"),
                value(r#"[ -e "$1" ] || : > "$1"; [ -f "$1" ]"#),
                fixed("dsctl-hostpath"),
                path(),
            ]),
            "Directory" => Some(test("-d")),
            "File" => Some(test("-f")),
            "Socket" => Some(test("-S")),
            "CharDevice" => Some(test("-c")),
            "BlockDevice" => Some(test("-b")),
            other => {
                return Err(("hostPath.type", format!("unknown hostPath type {other:?}")));
            }
        };
        return Ok((
            Mount::Bind {
                host: hp.path.clone(),
                dest,
                read_only,
                propagation: None,
            },
            check,
        ));
    }
    if let Some(ed) = &volume.empty_dir {
        return match ed.medium.as_deref().unwrap_or("") {
            "" => Ok((
                Mount::Named {
                    name: emptydir_volume_name(ds, &volume.name),
                    dest,
                    read_only,
                },
                None,
            )),
            "Memory" => {
                let size = match &ed.size_limit {
                    None => None,
                    Some(q) => Some(
                        q.value()
                            .map_err(|e| ("emptyDir.sizeLimit", e.to_string()))
                            .and_then(|b| {
                                u64::try_from(b).map_err(|_| {
                                    ("emptyDir.sizeLimit", "must not be negative".to_string())
                                })
                            })?,
                    ),
                };
                Ok((
                    Mount::Tmpfs {
                        dest,
                        size,
                        read_only,
                    },
                    None,
                ))
            }
            other => Err((
                "emptyDir.medium",
                format!("unknown emptyDir medium {other:?} (\"\" or \"Memory\")"),
            )),
        };
    }
    Err((
        "name",
        "only hostPath and emptyDir volumes can be mounted".into(),
    ))
}

/// `dsctl-<ds>_<volume>`: `_` never occurs in either (DNS labels, or escaped by
/// `unit_name_component`), so two DaemonSets never share an emptyDir volume by accident.
pub fn emptydir_volume_name(daemonset: &str, volume: &str) -> String {
    format!(
        "dsctl-{}_{}",
        escape::unit_name_component(daemonset),
        escape::unit_name_component(volume)
    )
}

/// k8s' default pull policy: Always for `:latest` or no tag (and no digest), else IfNotPresent.
fn pull_policy(c: &Container) -> &'static str {
    let policy = c.image_pull_policy.unwrap_or_else(|| {
        let name = c.image.rsplit('/').next().unwrap_or(&c.image);
        let has_digest = c.image.contains('@');
        match name.split_once(':') {
            _ if has_digest => PullPolicy::IfNotPresent,
            Some((_, "latest")) | None => PullPolicy::Always,
            Some(_) => PullPolicy::IfNotPresent,
        }
    });
    match policy {
        PullPolicy::Always => "always",
        PullPolicy::IfNotPresent => "missing",
        PullPolicy::Never => "never",
    }
}

type FieldError = (String, String);

/// What the unit's `CPUQuota=` and `MemoryMax=` allow beyond the container's own limits. The
/// unit's cgroup holds podman itself, which pulls and unpacks the image there, and conmon (and,
/// under Quadlet's `--cgroups=split`, the container's cgroup too). The container is held to its
/// exact limits by `--cpus` and `--memory` in its own cgroup; the unit's limits are a backstop
/// that must not starve podman: a 32Mi unit would OOM-kill podman before the container starts.
pub const UNIT_CPU_HEADROOM_MILLI: u64 = 1000;
pub const UNIT_MEMORY_HEADROOM_BYTES: u64 = 256 << 20;

/// Adds the resource options and returns the unit's `CPUQuota=` and `MemoryMax=`.
fn plan_resources(
    c: &Container,
    options: &mut Vec<Vec<Word>>,
) -> Result<(Option<String>, Option<u64>), FieldError> {
    let Some(res) = &c.resources else {
        return Ok((None, None));
    };
    let positive =
        |kind: &str, name: &str, scaled: Result<i128, crate::quantity::QuantityError>| {
            let f = format!("resources.{kind}.{name}");
            match scaled {
                Ok(n) if n > 0 => u64::try_from(n).map_err(|_| (f, "is too large".to_string())),
                Ok(_) => Err((f, "must be greater than zero".to_string())),
                Err(e) => Err((f, e.to_string())),
            }
        };
    let mut cpu_quota = None;
    let cpu_limit = res
        .limits
        .get("cpu")
        .map(|q| positive("limits", "cpu", q.milli_value()))
        .transpose()?;
    if let Some(milli) = cpu_limit {
        options.push(vec![fixed("--cpus"), fixed(decimal_milli(milli))]);
        // CPUQuota= is a percentage of one CPU (1000 millicores = 100%), rounded up.
        let unit_milli = milli.saturating_add(UNIT_CPU_HEADROOM_MILLI);
        cpu_quota = Some(format!("{}%", unit_milli.div_ceil(10)));
    }
    let cpu_request = res
        .requests
        .get("cpu")
        .map(|q| positive("requests", "cpu", q.milli_value()))
        .transpose()?;
    if let Some(milli) = cpu_request.or(cpu_limit) {
        // The kubelet's MilliCPUToShares: 1 CPU = 1024 shares, at least 2, at most 262144.
        let shares = (milli.saturating_mul(1024) / 1000).clamp(2, 262_144);
        options.push(vec![fixed("--cpu-shares"), fixed(shares.to_string())]);
    }
    let memory_max = res
        .limits
        .get("memory")
        .map(|q| positive("limits", "memory", q.value()))
        .transpose()?;
    if let Some(bytes) = memory_max {
        options.push(vec![fixed("--memory"), fixed(bytes.to_string())]);
    }
    let memory_max = memory_max.map(|b| b.saturating_add(UNIT_MEMORY_HEADROOM_BYTES));
    if let Some(q) = res.requests.get("memory") {
        let bytes = positive("requests", "memory", q.value())?;
        options.push(vec![
            fixed("--memory-reservation"),
            fixed(bytes.to_string()),
        ]);
    }
    Ok((cpu_quota, memory_max))
}

/// `thousandths / 1000` as a decimal without trailing zeros: 100 → "0.1", 2000 → "2".
fn decimal_milli(thousandths: u64) -> String {
    let (int, frac) = (thousandths / 1000, thousandths % 1000);
    if frac == 0 {
        int.to_string()
    } else {
        format!("{int}.{}", format!("{frac:03}").trim_end_matches('0'))
    }
}

/// podman's healthcheck options for an exec probe. podman reads a JSON array of two or more
/// words as an exec command, but a one-word array (or one starting with CMD, NONE or
/// CMD-SHELL) as a shell command, so those run as `exec 'word' …` through `/bin/sh -c`.
fn health_options(probe: &Probe, command: &[String]) -> Result<Vec<Word>, String> {
    if command.is_empty() {
        return Err("the exec probe has no command".into());
    }
    let special = ["CMD", "NONE", "CMD-SHELL"]
        .iter()
        .any(|s| command[0].eq_ignore_ascii_case(s));
    let json = if command.len() >= 2 && !special {
        serde_json::to_string(command).expect("strings serialize")
    } else {
        let mut script = String::from("exec");
        for word in command {
            if word.contains('\0') {
                return Err("the command holds a NUL character".into());
            }
            script.push_str(" '");
            script.push_str(&word.replace('\'', r"'\''"));
            script.push('\'');
        }
        serde_json::to_string(&["CMD-SHELL", &script]).expect("strings serialize")
    };
    let secs = |n: i64| format!("{}s", n.max(0));
    Ok(vec![
        fixed("--health-cmd"),
        value(json),
        fixed(format!(
            "--health-interval={}",
            secs(probe.period_seconds.max(1))
        )),
        fixed(format!(
            "--health-timeout={}",
            secs(probe.timeout_seconds.max(1))
        )),
        fixed(format!(
            "--health-retries={}",
            probe.failure_threshold.max(1)
        )),
        fixed(format!(
            "--health-start-period={}",
            secs(probe.initial_delay_seconds)
        )),
        fixed("--health-on-failure=kill"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_milli_table() {
        for (n, want) in [
            (100, "0.1"),
            (2000, "2"),
            (1500, "1.5"),
            (1, "0.001"),
            (250, "0.25"),
            (10_000, "10"),
        ] {
            assert_eq!(decimal_milli(n), want);
        }
    }

    #[test]
    fn default_pull_policy_follows_kubernetes() {
        let with = |image: &str| Container {
            image: image.into(),
            ..Default::default()
        };
        for (image, want) in [
            ("nginx", "always"),
            ("nginx:latest", "always"),
            ("nginx:1.25", "missing"),
            ("localhost:5000/nginx", "always"),
            ("localhost:5000/nginx:1.2", "missing"),
            ("nginx@sha256:abc", "missing"),
            ("docker.io/library/nginx:latest", "always"),
        ] {
            assert_eq!(pull_policy(&with(image)), want, "{image}");
        }
        let explicit = Container {
            image: "nginx".into(),
            image_pull_policy: Some(PullPolicy::Never),
            ..Default::default()
        };
        assert_eq!(pull_policy(&explicit), "never");
    }

    #[test]
    fn fixed_words_reject_quoting_characters() {
        assert!(is_safe_fixed("--cidfile=%t/%n.ctr-id"));
        assert!(is_safe_fixed("[::1]:80:80/tcp"));
        for bad in ["", "a b", "a\"", "a\\", "a;b", "$x", "a\n"] {
            assert!(!is_safe_fixed(bad), "{bad:?}");
        }
    }

    /// A DaemonSet whose one container (named `c`, image `img:1`) has `container` (TOML keys)
    /// and whose pod spec has `pod` (TOML keys, such as volumes).
    fn ds(container: &str, pod: &str) -> DaemonSet {
        let doc = format!(
            "apiVersion = \"apps/v1\"\nkind = \"DaemonSet\"\nmetadata = {{ name = \"d\" }}\n\
             [spec]\nselector = {{ matchLabels = {{ app = \"d\" }} }}\n\
             [spec.template.metadata]\nlabels = {{ app = \"d\" }}\n\
             [spec.template.spec]\n{pod}\n\
             [[spec.template.spec.containers]]\nname = \"c\"\nimage = \"img:1\"\n{container}\n"
        );
        toml::from_str(&doc).unwrap_or_else(|e| panic!("{e}\n{doc}"))
    }

    fn plan(container: &str, pod: &str) -> ContainerPlan {
        plan_container(&ds(container, pod), 0, "rev").unwrap()
    }

    fn refusal(container: &str, pod: &str) -> String {
        plan_container(&ds(container, pod), 0, "rev")
            .unwrap_err()
            .to_string()
    }

    fn words(groups: &[Vec<Word>]) -> Vec<String> {
        groups
            .iter()
            .flatten()
            .map(|w| w.as_str().to_string())
            .collect()
    }

    #[test]
    fn ports_table() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("ports = [{ containerPort = 80 }]", "", &[]),
            (
                "ports = [{ containerPort = 80, hostPort = 8080 }]",
                "",
                &["8080:80/tcp"],
            ),
            (
                "ports = [{ containerPort = 53, hostPort = 53, protocol = \"UDP\" }]",
                "",
                &["53:53/udp"],
            ),
            (
                "ports = [{ containerPort = 80, hostPort = 80, hostIP = \"10.0.0.1\" }]",
                "",
                &["10.0.0.1:80:80/tcp"],
            ),
            (
                "ports = [{ containerPort = 80, hostPort = 80, hostIP = \"::1\" }]",
                "",
                &["[::1]:80:80/tcp"],
            ),
            (
                "ports = [{ containerPort = 80, hostPort = 80 }]",
                "hostNetwork = true",
                &[],
            ),
        ];
        for (container, pod, want) in cases {
            assert_eq!(plan(container, pod).publish, *want, "{container} {pod}");
        }
        assert!(
            refusal(
                "ports = [{ containerPort = 80, hostPort = 80, hostIP = \"x; y\" }]",
                ""
            )
            .contains("hostIP")
        );
        assert!(
            refusal("ports = [{ containerPort = 80, hostPort = 70000 }]", "").contains("hostPort")
        );
    }

    #[test]
    fn volumes_table() {
        let mount = "volumeMounts = [{ name = \"v\", mountPath = \"/m\" }]";
        let mount_ro = "volumeMounts = [{ name = \"v\", mountPath = \"/m\", readOnly = true }]";
        let host = |kind: &str| {
            format!("volumes = [{{ name = \"v\", hostPath = {{ path = \"/h\"{kind} }} }}]")
        };
        let bind = |ro| Mount::Bind {
            host: "/h".into(),
            dest: "/m".into(),
            read_only: ro,
            propagation: None,
        };
        let cases: Vec<(&str, String, Mount, Vec<&str>)> = vec![
            (
                mount,
                host(""),
                bind(false),
                vec![
                    "/bin/sh",
                    "-c",
                    r#"[ -e "$1" ] || mkdir -p "$1""#,
                    "dsctl-hostpath",
                    "/h",
                ],
            ),
            (
                mount_ro,
                host(", type = \"DirectoryOrCreate\""),
                bind(true),
                vec!["/bin/mkdir", "-p", "/h"],
            ),
            (
                mount,
                host(", type = \"Directory\""),
                bind(false),
                vec!["/usr/bin/test", "-d", "/h"],
            ),
            (
                mount,
                host(", type = \"File\""),
                bind(false),
                vec!["/usr/bin/test", "-f", "/h"],
            ),
            (
                mount,
                host(", type = \"Socket\""),
                bind(false),
                vec!["/usr/bin/test", "-S", "/h"],
            ),
            (
                mount,
                host(", type = \"CharDevice\""),
                bind(false),
                vec!["/usr/bin/test", "-c", "/h"],
            ),
            (
                mount,
                host(", type = \"BlockDevice\""),
                bind(false),
                vec!["/usr/bin/test", "-b", "/h"],
            ),
            (
                mount,
                host(", type = \"FileOrCreate\""),
                bind(false),
                vec![
                    "/bin/sh",
                    "-c",
                    r#"[ -e "$1" ] || : > "$1"; [ -f "$1" ]"#,
                    "dsctl-hostpath",
                    "/h",
                ],
            ),
        ];
        for (container, pod, want_mount, want_check) in cases {
            let p = plan(container, &pod);
            assert_eq!(p.mounts, vec![want_mount], "{pod}");
            assert_eq!(words(&p.pre_start), want_check, "{pod}");
        }
        let named = plan(mount_ro, "volumes = [{ name = \"v\", emptyDir = {} }]");
        assert_eq!(
            named.mounts,
            vec![Mount::Named {
                name: "dsctl-d_v".into(),
                dest: "/m".into(),
                read_only: true
            }]
        );
        assert_eq!(named.mounts[0].volume_spec().unwrap(), "dsctl-d_v:/m:ro");
        assert!(named.pre_start.is_empty());
        let tmpfs = plan(
            mount,
            "volumes = [{ name = \"v\", emptyDir = { medium = \"Memory\", sizeLimit = \"64Mi\" } }]",
        );
        assert_eq!(
            words(&[tmpfs.mounts[0].options()]),
            ["--tmpfs", "/m:rw,size=67108864"]
        );

        for (container, pod, field) in [
            (
                mount,
                host("").replace("/h", "h"),
                "volumes[0].hostPath.path",
            ),
            (
                mount,
                host("").replace("/h", "/a:b"),
                "volumes[0].hostPath.path",
            ),
            (
                mount,
                host(", type = \"Bogus\""),
                "volumes[0].hostPath.type",
            ),
            (
                &mount.replace("/m", "m") as &str,
                host(""),
                "volumeMounts[0].mountPath",
            ),
            (
                &mount.replace("\"v\"", "\"w\"") as &str,
                host(""),
                "volumeMounts[0].name",
            ),
            (
                mount,
                "volumes = [{ name = \"v\", emptyDir = { medium = \"HugePages\" } }]".into(),
                "emptyDir.medium",
            ),
        ] {
            let err = refusal(container, &pod);
            assert!(err.contains(field), "{err} should name {field}");
        }
    }

    #[test]
    fn resources_table() {
        /// (container TOML, podman options, unit CPUQuota=, unit MemoryMax=)
        type Case<'a> = (&'a str, &'a [&'a str], Option<&'a str>, Option<u64>);
        let cases: &[Case] = &[
            ("", &[], None, None),
            (
                "resources = { limits = { cpu = \"100m\" } }",
                &["--cpus", "0.1", "--cpu-shares", "102"],
                Some("110%"),
                None,
            ),
            (
                "resources = { limits = { cpu = 2 } }",
                &["--cpus", "2", "--cpu-shares", "2048"],
                Some("300%"),
                None,
            ),
            (
                "resources = { requests = { cpu = \"1m\" } }",
                &["--cpu-shares", "2"],
                None,
                None,
            ),
            (
                "resources = { requests = { cpu = \"250m\", memory = \"64Mi\" }, limits = { cpu = \"0.5\", memory = \"1Gi\" } }",
                &[
                    "--cpus",
                    "0.5",
                    "--cpu-shares",
                    "256",
                    "--memory",
                    "1073741824",
                    "--memory-reservation",
                    "67108864",
                ],
                Some("150%"),
                Some((1 << 30) + UNIT_MEMORY_HEADROOM_BYTES),
            ),
            (
                "resources = { limits = { \"nvidia.com/gpu\" = 1 } }",
                &[],
                None,
                None,
            ),
        ];
        for (container, want, quota, memory_max) in cases {
            let p = plan(container, "");
            let got = words(&p.options[3..]);
            assert_eq!(got, *want, "{container}");
            assert_eq!(p.cpu_quota.as_deref(), *quota, "{container}");
            assert_eq!(p.memory_max, *memory_max, "{container}");
        }
        assert!(
            refusal("resources = { limits = { memory = \"lots\" } }", "")
                .contains("resources.limits.memory")
        );
        assert!(
            refusal("resources = { limits = { cpu = \"0\" } }", "").contains("greater than zero")
        );
    }

    #[test]
    fn security_and_basics() {
        let p = plan("", "");
        assert_eq!(
            words(&p.options),
            ["--init", "--pull=missing", "--stop-timeout", "30"]
        );
        assert_eq!(p.grace_secs, DEFAULT_GRACE_SECS);
        assert_eq!(p.name, "dsctl-d-c");
        assert_eq!(
            p.labels[..3],
            [
                ("dsctl.daemonset".into(), "d".into()),
                ("dsctl.container".into(), "c".into()),
                ("dsctl.revision".into(), "rev".into())
            ]
        );
        let p = plan(
            "workingDir = \"/w\"\nsecurityContext = { privileged = true, runAsUser = 1000, runAsGroup = 100, readOnlyRootFilesystem = true }",
            "hostPID = true\nterminationGracePeriodSeconds = 0",
        );
        assert_eq!(
            words(&p.options),
            [
                "--init",
                "--pull=missing",
                "--stop-timeout",
                "0",
                "--pid",
                "host",
                "-w",
                "/w"
            ]
        );
        let security: Vec<&str> = p
            .security
            .iter()
            .flat_map(|o| o.words.iter().map(Word::as_str))
            .collect();
        assert_eq!(
            security,
            ["--privileged", "--read-only", "--user", "1000:100"]
        );
        assert!(refusal("securityContext = { runAsGroup = 5 }", "").contains("runAsGroup"));
        assert!(refusal("securityContext = { runAsUser = -1 }", "").contains("runAsUser"));
        assert!(refusal("env = [{ name = \"A=B\", value = \"x\" }]", "").contains("env[0].name"));
        assert!(refusal("env = [{ name = \"A\", valueFrom = { fieldRef = { fieldPath = \"spec.nodeName\" } } }]", "").contains("valueFrom"));
        assert!(refusal("workingDir = \"rel\"", "").contains("workingDir"));
        let p = plan("command = [\"/bin/sh\", \"-c\"]\nargs = [\"echo hi\"]", "");
        assert_eq!(p.entrypoint.as_deref(), Some(r#"["/bin/sh","-c"]"#));
        assert_eq!(p.args, ["echo hi"]);
    }

    #[test]
    fn liveness_exec_becomes_a_healthcheck() {
        let probe = |cmd: &str| {
            format!(
                "livenessProbe = {{ exec = {{ command = {cmd} }}, initialDelaySeconds = 7, periodSeconds = 5, timeoutSeconds = 2, failureThreshold = 4 }}"
            )
        };
        let health = |p: &ContainerPlan| words(&p.options).into_iter().skip(4).collect::<Vec<_>>();
        let tail = [
            "--health-interval=5s",
            "--health-timeout=2s",
            "--health-retries=4",
            "--health-start-period=7s",
            "--health-on-failure=kill",
        ];
        let cases: &[(&str, &str)] = &[
            (r#"["cat", "/tmp/ok"]"#, r#"["cat","/tmp/ok"]"#),
            (
                r#"["healthcheck"]"#,
                r#"["CMD-SHELL","exec 'healthcheck'"]"#,
            ),
            (r#"["CMD", "x"]"#, r#"["CMD-SHELL","exec 'CMD' 'x'"]"#),
            (r#"["it's"]"#, r#"["CMD-SHELL","exec 'it'\\''s'"]"#),
        ];
        for (cmd, json) in cases {
            let mut want = vec!["--health-cmd".to_string(), json.to_string()];
            want.extend(tail.iter().map(|s| s.to_string()));
            assert_eq!(health(&plan(&probe(cmd), "")), want, "{cmd}");
        }
        // httpGet and tcpSocket liveness probes are dsctl's to run, not podman's.
        let p = plan("livenessProbe = { tcpSocket = { port = 80 } }", "");
        assert_eq!(p.options.len(), 3);
    }
}
