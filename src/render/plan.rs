//! How one container of a DaemonSet maps onto `podman run`: the flavour-independent half of
//! rendering. Each spec field becomes podman options here; `render.rs` then writes them as a
//! systemd service or as a Quadlet `.container`.
//!
//! Choices that Kubernetes leaves to the node, made here and why:
//! * `--init` unless hostPID: the container's PID 1 is catatonit, which forwards SIGTERM, so
//!   images whose process ignores SIGTERM as PID 1 (busybox httpd) still stop within the grace
//!   period. In the host's PID namespace there is no PID 1 to take, and podman refuses `--init`.
//! * hostPath `type` is checked before start (`ExecStartPre=`), as the kubelet checks it; an
//!   unset type creates a missing directory, as containerd does for the kubelet.
//! * An instance is one podman pod (see [`PodPlan`]): its containers share the network, IPC and
//!   UTS namespaces; ports are published on the pod, and hostNetwork/hostPID are the pod's.
//! * emptyDir is a bind mount of the plain directory `layout::Instance::empty_dir` (a podman
//!   named volume would be filled with the image's files): it starts empty, is shared by the
//!   pod's containers and survives their restarts. `medium: Memory` mounts a tmpfs there (sized
//!   by `sizeLimit`) when the pod starts; the pod unit creates both.
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
use crate::downward::PodView;
use crate::expansion;
use crate::host_facts::HostFacts;
use crate::layout::{self, Instance, Role};
use crate::quantity::Quantity;

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

/// A bind mount: a hostPath, or an emptyDir's directory.
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
}

impl Mount {
    /// The `-v` argument.
    pub fn volume_spec(&self) -> Option<String> {
        let Mount::Bind {
            host,
            dest,
            read_only,
            propagation,
        } = self;
        let opts: Vec<&str> = read_only
            .then_some("ro")
            .into_iter()
            .chain(*propagation)
            .collect();
        Some(if opts.is_empty() {
            format!("{host}:{dest}")
        } else {
            format!("{host}:{dest}:{}", opts.join(","))
        })
    }

    /// Mounts `sub` (an expanded subPathExpr, relative and without `..`) of the volume
    /// instead of all of it, and returns the command to run first: it creates a missing
    /// sub-path, as the kubelet does, and refuses one that resolves outside the volume (a
    /// symlink planted in it), as the kubelet's safe sub-path does. An empty `sub` is the
    /// whole volume.
    pub fn with_sub_path(&mut self, sub: &str) -> Result<Option<Vec<Word>>, String> {
        let sub = sub.trim_end_matches('/');
        if sub.is_empty() {
            return Ok(None);
        }
        let Mount::Bind { host, .. } = self;
        check_path(&format!("/{sub}"))?;
        let root = host.trim_end_matches('/').to_string();
        *host = format!("{root}/{sub}");
        Ok(Some(vec![
            fixed("/bin/sh"),
            fixed("-c"),
            value(SUB_PATH_CHECK),
            fixed("dsctl-subpath"),
            value(root),
            value(sub.to_string()),
        ]))
    }

    pub fn options(&self) -> Vec<Word> {
        vec![fixed("-v"), value(self.volume_spec().unwrap_or_default())]
    }
}

/// An emptyDir of the pod: its directory, and the tmpfs size when `medium: Memory` (the inner
/// `None`: no sizeLimit, the kernel's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyDir {
    pub path: String,
    pub memory: Option<Option<u64>>,
}

/// The pod of one instance: what `podman pod create` needs, and what its unit prepares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPlan {
    pub daemonset: String,
    pub revision: String,
    /// `dsctl_<ds>_<rev>`.
    pub name: String,
    pub infra_name: String,
    /// `--label` pairs for the pod (dsctl's own).
    pub labels: Vec<(String, String)>,
    /// Every app container's `-p` values: ports belong to the pod.
    pub publish: Vec<String>,
    pub host_network: bool,
    pub host_pid: bool,
    pub empty_dirs: Vec<EmptyDir>,
    /// `ExecStartPre=` commands: emptyDir directories and tmpfs mounts, each a full argv.
    pub pre_start: Vec<Vec<Word>>,
    /// `ExecStopPost=` commands (tmpfs unmounts); failures are ignored (`-` prefix).
    pub stop_post: Vec<Vec<Word>>,
    pub grace_secs: u64,
}

impl PodPlan {
    /// `podman pod create` options beyond the ones both flavours' machinery adds (name, pid
    /// and id files): the shared namespaces, host namespaces, infra name, labels. An init
    /// container exits before any app container starts, so the pod must not stop when its
    /// last container exits (`--exit-policy=continue`; Kubernetes keeps a pod for its whole
    /// life).
    pub fn create_options(&self) -> Vec<Vec<Word>> {
        let mut share = "ipc,net,uts".to_string();
        if self.host_pid {
            share.push_str(",pid");
        }
        let mut options = vec![
            vec![fixed("--exit-policy=continue")],
            vec![fixed("--infra-name"), value(self.infra_name.clone())],
            vec![fixed(format!("--share={share}"))],
        ];
        if self.host_pid {
            options.push(vec![fixed("--pid=host")]);
        }
        for (k, v) in &self.labels {
            options.push(vec![fixed("--label"), value(format!("{k}={v}"))]);
        }
        options
    }
}

/// The pod of `ds` at `revision`: app containers' ports, host namespaces, emptyDir volumes.
pub fn plan_pod(ds: &DaemonSet, revision: &str, host: &HostFacts) -> Result<PodPlan, RenderError> {
    let pod = ds.pod_spec();
    let instance = Instance::new(ds.name(), revision);
    let mut publish = Vec::new();
    for index in 0..pod.containers.len() {
        publish.extend(plan_container(ds, Role::App, index, revision, host)?.publish);
    }
    let mut empty_dirs = Vec::new();
    let mut pre_start = Vec::new();
    let mut stop_post = Vec::new();
    for (j, v) in pod.volumes.iter().enumerate() {
        let Some(ed) = &v.empty_dir else { continue };
        let err = |which: &str, reason: String| RenderError::Value {
            daemonset: ds.name().to_string(),
            container: String::new(),
            field: format!("spec.template.spec.volumes[{j}].{which}"),
            reason,
        };
        let path = instance.empty_dir(&v.name);
        let memory = match ed.medium.as_deref().unwrap_or("") {
            "" => None,
            "Memory" => Some(match &ed.size_limit {
                None => None,
                Some(q) => Some(
                    q.value()
                        .map_err(|e| err("emptyDir.sizeLimit", e.to_string()))
                        .and_then(|b| {
                            u64::try_from(b).map_err(|_| {
                                err("emptyDir.sizeLimit", "must not be negative".to_string())
                            })
                        })?,
                ),
            }),
            other => {
                return Err(err(
                    "emptyDir.medium",
                    format!("unknown emptyDir medium {other:?} (\"\" or \"Memory\")"),
                ));
            }
        };
        // 0755 root, created at every start so that it is there after a reboot.
        pre_start.push(vec![
            fixed("/bin/mkdir"),
            fixed("-p"),
            fixed("-m"),
            fixed("0755"),
            value(path.clone()),
        ]);
        if let Some(size) = memory {
            let mut opts = "mode=0755".to_string();
            if let Some(size) = size {
                opts.push_str(&format!(",size={size}"));
            }
            // Only when not mounted yet: a restart after a failed stop must not stack mounts.
            pre_start.push(vec![
                fixed("/bin/sh"),
                fixed("-c"),
                value(r#"mountpoint -q "$2" || mount -t tmpfs -o "$1" tmpfs "$2""#),
                fixed("dsctl-emptydir"),
                fixed(opts),
                value(path.clone()),
            ]);
            stop_post.push(vec![fixed("-/bin/umount"), value(path.clone())]);
        }
        empty_dirs.push(EmptyDir { path, memory });
    }
    Ok(PodPlan {
        daemonset: ds.name().to_string(),
        revision: revision.to_string(),
        name: instance.pod_name(),
        infra_name: instance.infra_name(),
        labels: vec![
            (layout::LABEL_DAEMONSET.to_string(), ds.name().to_string()),
            (layout::LABEL_REVISION.to_string(), revision.to_string()),
        ],
        publish,
        host_network: pod.host_network,
        host_pid: pod.host_pid,
        empty_dirs,
        pre_start,
        stop_post,
        grace_secs: grace_secs(ds),
    })
}

fn grace_secs(ds: &DaemonSet) -> u64 {
    ds.pod_spec()
        .termination_grace_period_seconds
        .map(|g| u64::try_from(g).unwrap_or(0))
        .unwrap_or(DEFAULT_GRACE_SECS)
}
/// `$1` the directory, then (path, octal mode, content) per file: each file written to a
/// temporary name and renamed, so a reader never sees half a file.
const WRITE_FILES: &str = r#"d=$1; shift; mkdir -p -- "$d" || exit 1; while [ $# -ge 3 ]; do f=$d/$1; mkdir -p -- "$(dirname -- "$f")" && printf %s "$3" > "$f.dsctl-new" && chmod "$2" "$f.dsctl-new" && mv -f -- "$f.dsctl-new" "$f" || exit 1; shift 3; done"#;

/// The command that writes a downwardAPI volume's files before the container starts.
fn write_files(dir: &str, files: &[crate::downward::VolumeFile]) -> Vec<Word> {
    let mut argv = vec![
        fixed("/bin/sh"),
        fixed("-c"),
        value(WRITE_FILES),
        fixed("dsctl-downward"),
        value(dir),
    ];
    for (path, mode, content) in files {
        argv.push(value(path.clone()));
        argv.push(fixed(format!("{mode:o}")));
        argv.push(value(content.clone()));
    }
    argv
}

/// `$1` the volume, `$2` the sub-path: fail unless it resolves inside `$1` (checked before
/// `mkdir -p`, which would follow a planted symlink, and again after), else create it.
const SUB_PATH_CHECK: &str = r#"r=$(realpath -e -- "$1") || exit 1; inside() { p=$(realpath $1 -- "$r/$2") && case "$p/" in "$r"/*) ;; *) echo "subPath $2 resolves to $p, outside the volume $r" >&2; exit 1 ;; esac; }; inside -m "$2" && mkdir -p -- "$r/$2" && inside -e "$2""#;

/// Everything `podman run` needs for one container, before it is written as a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPlan {
    pub daemonset: String,
    pub container: String,
    pub revision: String,
    pub role: Role,
    /// `dsctl_<ds>_<rev>_<container>`: the podman container name (layout.rs).
    pub name: String,
    /// The pod it joins.
    pub pod: String,
    /// The container's unit: `<name>.service`.
    pub unit: String,
    pub image: String,
    /// `--label` pairs: dsctl's own first, then the pod template's labels.
    pub labels: Vec<(String, String)>,
    pub env: Vec<(String, String)>,
    /// `-p` values (`[hostIP:]hostPort:containerPort/proto`), published by the pod.
    pub publish: Vec<String>,
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

/// Container `index` of the init (`Role::Init`) or app containers.
pub fn plan_container(
    ds: &DaemonSet,
    role: Role,
    index: usize,
    revision: &str,
    host: &HostFacts,
) -> Result<ContainerPlan, RenderError> {
    let pod = ds.pod_spec();
    let (list, c) = match role {
        Role::App => ("containers", &pod.containers[index]),
        Role::Init => ("initContainers", &pod.init_containers[index]),
    };
    let instance = Instance::new(ds.name(), revision);
    let field = |f: &str| format!("spec.template.spec.{list}[{index}].{f}");
    let err_at = |path: String, reason: String| RenderError::Value {
        daemonset: ds.name().to_string(),
        container: c.name.clone(),
        field: path,
        reason,
    };
    let err = |f: &str, reason: String| err_at(field(f), reason);

    check_image(&c.image).map_err(|r| err("image", r))?;

    let mut labels = vec![
        (layout::LABEL_DAEMONSET.to_string(), ds.name().to_string()),
        (layout::LABEL_CONTAINER.to_string(), c.name.clone()),
        (layout::LABEL_REVISION.to_string(), revision.to_string()),
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

    for (i, e) in c.env.iter().enumerate() {
        if e.name.is_empty() || e.name.contains('=') {
            return Err(err(
                &format!("env[{i}].name"),
                format!("{:?} is not a valid environment variable name", e.name),
            ));
        }
    }
    let pod_view = PodView { ds, revision, host };
    let env = pod_view
        .container_env(c)
        .map_err(|(f, reason)| err(&f, reason))?;
    let vars = expansion::env_map(&env);
    let command: Vec<String> = c
        .command
        .iter()
        .map(|s| expansion::expand(s, &[&vars]))
        .collect();
    let args: Vec<String> = c
        .args
        .iter()
        .map(|s| expansion::expand(s, &[&vars]))
        .collect();

    let mut publish = Vec::new();
    if !pod.host_network {
        for (i, p) in c.ports.iter().enumerate() {
            let Some(host_port) = p.host_port() else {
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
        let (mut mount, check) = match &pod.volumes[j].downward_api {
            Some(source) => {
                let files = pod_view.volume_files(source).map_err(|(which, r)| {
                    err_at(
                        format!("spec.template.spec.volumes[{j}].downwardAPI.{which}"),
                        r,
                    )
                })?;
                let dir = Instance::new(ds.name(), revision).downward_api_dir(&vm.name);
                let write = write_files(&dir, &files);
                // Read-only, as Kubernetes always mounts a downwardAPI volume.
                let mount = Mount::Bind {
                    host: dir,
                    dest: vm.mount_path.clone(),
                    read_only: true,
                    propagation: None,
                };
                (mount, Some(write))
            }
            None => plan_volume(&instance, &pod.volumes[j], &vm.mount_path, vm.read_only).map_err(
                |(which, r)| err_at(format!("spec.template.spec.volumes[{j}].{which}"), r),
            )?,
        };
        if let Some(check) = check
            && !pre_start.contains(&check)
        {
            pre_start.push(check);
        }
        let Mount::Bind { propagation, .. } = &mut mount;
        *propagation = match vm.mount_propagation {
            None | Some(MountPropagation::None) => None,
            Some(MountPropagation::HostToContainer) => Some("rslave"),
            Some(MountPropagation::Bidirectional) => Some("rshared"),
        };
        if let Some(sub) = vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
            check_sub_path(sub).map_err(|r| err(&f("subPath"), r))?;
            // The same rule and check as subPathExpr below (hostPath only, see there).
            sub_path_source(&pod.volumes[j]).map_err(|r| err(&f("subPath"), r))?;
            if let Some(create) = mount
                .with_sub_path(sub)
                .map_err(|r| err(&f("subPath"), r))?
            {
                pre_start.push(create);
            }
        }
        if let Some(expr) = &vm.sub_path_expr {
            let sub = expansion::expand_sub_path(expr, &vars)
                .map_err(|e| err(&f("subPathExpr"), e.to_string()))?;
            sub_path_source(&pod.volumes[j]).map_err(|r| err(&f("subPathExpr"), r))?;
            if let Some(create) = mount
                .with_sub_path(&sub)
                .map_err(|r| err(&f("subPathExpr"), r))?
            {
                pre_start.push(create);
            }
        }
        mounts.push(mount);
    }

    let grace_secs = grace_secs(ds);

    let mut options: Vec<Vec<Word>> = Vec::new();
    if !pod.host_pid {
        options.push(vec![fixed("--init")]);
    }
    options.extend([
        vec![fixed(format!("--pull={}", pull_policy(c)))],
        vec![fixed("--stop-timeout"), fixed(grace_secs.to_string())],
    ]);
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
    let name = instance.container_name(&c.name);
    let mut post_start = Vec::new();
    let mut pre_stop = Vec::new();
    if let Some(lc) = &c.lifecycle {
        if let Some(h) = &lc.post_start {
            post_start.push(
                hooks::hook_argv(h, c, &name, pod.host_network)
                    .map_err(|r| err("lifecycle.postStart", r))?,
            );
        }
        if let Some(h) = &lc.pre_stop {
            let argv = hooks::hook_argv(h, c, &name, pod.host_network)
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

    let entrypoint = if command.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&command).expect("a list of strings always serializes"))
    };

    Ok(ContainerPlan {
        daemonset: ds.name().to_string(),
        container: c.name.clone(),
        revision: revision.to_string(),
        role,
        name,
        pod: instance.pod_name(),
        unit: instance.container_service(&c.name),
        image: c.image.clone(),
        labels,
        env,
        publish,
        mounts,
        options,
        security,
        entrypoint,
        args,
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

/// A sub-path (subPath, subPathExpr) is mounted from a hostPath volume only: a container that
/// can write into its volume (an emptyDir) could turn a sub-path into a symlink out of it, and
/// the next start would follow it (the kubelet opens sub-paths without following links; a bind
/// mount cannot). `validate` asks this too.
pub fn sub_path_source(volume: &Volume) -> Result<(), String> {
    if volume.host_path.is_none() {
        return Err(
            "a sub-path can be mounted from a hostPath volume only: in an emptyDir the container could replace it with a symlink out of the volume; mount the volume whole".into(),
        );
    }
    Ok(())
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
    instance: &Instance<'_>,
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
    if volume.empty_dir.is_some() {
        // The pod unit creates the directory (and mounts a Memory medium's tmpfs on it).
        return Ok((
            Mount::Bind {
                host: instance.empty_dir(&volume.name),
                dest,
                read_only,
                propagation: None,
            },
            None,
        ));
    }
    Err((
        "name",
        "only hostPath and emptyDir volumes can be mounted".into(),
    ))
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
    let positive = |kind: &str, name: &str, q: &Quantity| {
        resource_amount(name, q).map_err(|reason| (format!("resources.{kind}.{name}"), reason))
    };
    let mut cpu_quota = None;
    let cpu_limit = res
        .limits
        .get("cpu")
        .map(|q| positive("limits", "cpu", q))
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
        .map(|q| positive("requests", "cpu", q))
        .transpose()?;
    if let Some(milli) = cpu_request.or(cpu_limit) {
        // The kubelet's MilliCPUToShares: 1 CPU = 1024 shares, at least 2, at most 262144.
        let shares = (milli.saturating_mul(1024) / 1000).clamp(2, 262_144);
        options.push(vec![fixed("--cpu-shares"), fixed(shares.to_string())]);
    }
    let memory_max = res
        .limits
        .get("memory")
        .map(|q| positive("limits", "memory", q))
        .transpose()?;
    if let Some(bytes) = memory_max {
        options.push(vec![fixed("--memory"), fixed(bytes.to_string())]);
    }
    let memory_max = memory_max.map(|b| b.saturating_add(UNIT_MEMORY_HEADROOM_BYTES));
    if let Some(q) = res.requests.get("memory") {
        let bytes = positive("requests", "memory", q)?;
        options.push(vec![
            fixed("--memory-reservation"),
            fixed(bytes.to_string()),
        ]);
    }
    Ok((cpu_quota, memory_max))
}

/// The amount render writes for a `cpu` (millicores) or `memory` (bytes) quantity, or why it
/// cannot write one. `validate` asks this too, so what validates always renders.
pub fn resource_amount(name: &str, q: &Quantity) -> Result<u64, String> {
    let scaled = if name == "cpu" {
        q.milli_value()
    } else {
        q.value()
    };
    match scaled {
        Ok(n) if n > 0 => u64::try_from(n).map_err(|_| "is too large".to_string()),
        Ok(_) => Err("must be greater than zero".to_string()),
        Err(e) => Err(e.to_string()),
    }
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

    /// hostPort 0 is "not set" (ContainerPort::host_port): nothing is published for it, where
    /// render once refused it on every host.
    #[test]
    fn host_port_zero_publishes_nothing() {
        let ds = crate::test_specs::SpecBuilder::new("sv-zero")
            .ports(
                "{ containerPort = 8080, hostPort = 0 }, { containerPort = 8081, hostPort = 8681 }",
            )
            .build();
        let pod = plan_pod(&ds, REV, &HostFacts::default()).unwrap();
        assert_eq!(pod.publish, ["8681:8081/tcp"]);
    }

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

    fn host() -> HostFacts {
        HostFacts {
            node_name: "node-1".into(),
            host_ips: vec!["10.0.0.1".parse().unwrap()],
            cpus: Some(2),
            memory_bytes: Some(1 << 30),
            ..Default::default()
        }
    }

    const REV: &str = "0abc";

    fn plan(container: &str, pod: &str) -> ContainerPlan {
        plan_container(&ds(container, pod), Role::App, 0, REV, &host()).unwrap()
    }

    fn refusal(container: &str, pod: &str) -> String {
        plan_container(&ds(container, pod), Role::App, 0, REV, &host())
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
        // emptyDir, on disk or in memory, is the instance's directory: the pod unit makes it.
        for medium in ["", ", medium = \"Memory\", sizeLimit = \"64Mi\""] {
            let pod = format!(
                "volumes = [{{ name = \"v\", emptyDir = {{ {} }} }}]",
                &medium.trim_start_matches(", ")
            );
            let empty = plan(mount_ro, &pod);
            assert_eq!(
                empty.mounts[0].volume_spec().unwrap(),
                "/var/lib/dsctl/pods/dsctl_d_0abc/volumes/v:/m:ro"
            );
            assert!(empty.pre_start.is_empty());
        }

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
        ] {
            let err = refusal(container, &pod);
            assert!(err.contains(field), "{err} should name {field}");
        }
    }

    /// Pod-level options: ports of every app container on the pod, host namespaces for the
    /// whole pod, emptyDir directories (tmpfs for Memory) prepared by the pod unit.
    #[test]
    fn pod_options_table() {
        let two_ports = "ports = [{ containerPort = 80, hostPort = 19100 }, { containerPort = 53, hostPort = 19101, protocol = \"UDP\" }]";
        let base = [
            "--exit-policy=continue",
            "--infra-name",
            "dsctl_d_0abc-infra",
        ];
        let labels = [
            "--label",
            "dsctl.daemonset=d",
            "--label",
            "dsctl.revision=0abc",
        ];
        /// (container TOML, pod TOML, published ports, hostNetwork, namespace options)
        type Case<'a> = (&'a str, &'a str, &'a [&'a str], bool, &'a [&'a str]);
        let cases: &[Case] = &[
            ("", "", &[], false, &["--share=ipc,net,uts"]),
            (
                two_ports,
                "",
                &["19100:80/tcp", "19101:53/udp"],
                false,
                &["--share=ipc,net,uts"],
            ),
            (
                two_ports,
                "hostNetwork = true",
                &[],
                true,
                &["--share=ipc,net,uts"],
            ),
            (
                "",
                "hostPID = true",
                &[],
                false,
                &["--share=ipc,net,uts,pid", "--pid=host"],
            ),
        ];
        for (container, pod, publish, host_network, share) in cases {
            let p = plan_pod(&ds(container, pod), REV, &host()).unwrap();
            assert_eq!(p.publish, *publish, "{container} {pod}");
            assert_eq!(p.host_network, *host_network, "{pod}");
            let mut want: Vec<&str> = base.to_vec();
            want.extend(*share);
            want.extend(labels);
            assert_eq!(words(&p.create_options()), want, "{pod}");
            assert_eq!(p.name, "dsctl_d_0abc");
        }

        let dir = "/var/lib/dsctl/pods/dsctl_d_0abc/volumes";
        let p = plan_pod(
            &ds(
                "",
                "volumes = [{ name = \"a\", emptyDir = {} }, { name = \"m\", emptyDir = { medium = \"Memory\", sizeLimit = \"64Mi\" } }, { name = \"h\", hostPath = { path = \"/h\" } }]",
            ), REV, &host())
        .unwrap();
        assert_eq!(
            p.empty_dirs,
            [
                EmptyDir {
                    path: format!("{dir}/a"),
                    memory: None
                },
                EmptyDir {
                    path: format!("{dir}/m"),
                    memory: Some(Some(64 << 20))
                },
            ]
        );
        assert_eq!(
            words(&p.pre_start),
            [
                "/bin/mkdir",
                "-p",
                "-m",
                "0755",
                &format!("{dir}/a"),
                "/bin/mkdir",
                "-p",
                "-m",
                "0755",
                &format!("{dir}/m"),
                "/bin/sh",
                "-c",
                r#"mountpoint -q "$2" || mount -t tmpfs -o "$1" tmpfs "$2""#,
                "dsctl-emptydir",
                "mode=0755,size=67108864",
                &format!("{dir}/m"),
            ]
        );
        assert_eq!(words(&p.stop_post), ["-/bin/umount", &format!("{dir}/m")]);
        let err = plan_pod(
            &ds(
                "",
                "volumes = [{ name = \"v\", emptyDir = { medium = \"HugePages\" } }]",
            ),
            REV,
            &host(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("volumes[0].emptyDir.medium"), "{err}");
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
        assert_eq!(p.name, "dsctl_d_0abc_c");
        assert_eq!(p.unit, "dsctl_d_0abc_c.service");
        assert_eq!(
            p.labels[..3],
            [
                ("dsctl.daemonset".into(), "d".into()),
                ("dsctl.container".into(), "c".into()),
                ("dsctl.revision".into(), REV.into())
            ]
        );
        let p = plan(
            "workingDir = \"/w\"\nsecurityContext = { privileged = true, runAsUser = 1000, runAsGroup = 100, readOnlyRootFilesystem = true }",
            "hostPID = true\nterminationGracePeriodSeconds = 0",
        );
        assert_eq!(
            words(&p.options),
            ["--pull=missing", "--stop-timeout", "0", "-w", "/w"]
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
        assert!(refusal("workingDir = \"rel\"", "").contains("workingDir"));
        let p = plan("command = [\"/bin/sh\", \"-c\"]\nargs = [\"echo hi\"]", "");
        assert_eq!(p.entrypoint.as_deref(), Some(r#"["/bin/sh","-c"]"#));
        assert_eq!(p.args, ["echo hi"]);
    }

    /// The downward API and `$(VAR)`: env resolved for the host, command and args expanded from
    /// it, subPathExpr too.
    #[test]
    fn env_command_args_and_sub_path_expand_per_host() {
        let p = plan(
            r#"env = [
                { name = "NODE", valueFrom = { fieldRef = { fieldPath = "spec.nodeName" } } },
                { name = "IP", valueFrom = { fieldRef = { fieldPath = "status.hostIP" } } },
                { name = "CPUS", valueFrom = { resourceFieldRef = { resource = "limits.cpu" } } },
                { name = "ADDR", value = "$(IP):9100" },
            ]
            command = ["/bin/agent", "--node=$(NODE)"]
            args = ["--listen=$(ADDR)", "$$(NODE)", "$(UNSET)", "--cpus=$(CPUS)"]
            volumeMounts = [{ name = "logs", mountPath = "/logs", subPathExpr = "nodes/$(NODE)" }]"#,
            r#"volumes = [{ name = "logs", hostPath = { path = "/var/log/agent", type = "Directory" } }]"#,
        );
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            p.env,
            pairs(&[
                ("NODE", "node-1"),
                ("IP", "10.0.0.1"),
                ("CPUS", "2"),
                ("ADDR", "10.0.0.1:9100")
            ])
        );
        assert_eq!(
            p.entrypoint.as_deref(),
            Some(r#"["/bin/agent","--node=node-1"]"#)
        );
        assert_eq!(
            p.args,
            ["--listen=10.0.0.1:9100", "$(NODE)", "$(UNSET)", "--cpus=2"]
        );
        assert_eq!(
            p.mounts,
            [Mount::Bind {
                host: "/var/log/agent/nodes/node-1".into(),
                dest: "/logs".into(),
                read_only: false,
                propagation: None,
            }]
        );
        assert_eq!(
            words(&p.pre_start),
            [
                "/usr/bin/test",
                "-d",
                "/var/log/agent",
                "/bin/sh",
                "-c",
                SUB_PATH_CHECK,
                "dsctl-subpath",
                "/var/log/agent",
                "nodes/node-1"
            ]
        );
        let mount = |expr: &str| {
            format!(
                "env = [{{ name = \"UP\", value = \"..\" }}]\nvolumeMounts = [{{ name = \"v\", mountPath = \"/m\", subPathExpr = \"{expr}\" }}]"
            )
        };
        let host_path = "volumes = [{ name = \"v\", hostPath = { path = \"/h\" } }]";
        for (expr, want) in [
            ("$(UP)/x", "must not contain '..'"),
            ("$(NOPE)", "missing value for NOPE"),
        ] {
            let err = refusal(&mount(expr), host_path);
            assert!(
                err.contains("volumeMounts[0].subPathExpr") && err.contains(want),
                "{err}"
            );
        }
        let err = refusal(&mount("a"), "volumes = [{ name = \"v\", emptyDir = {} }]");
        assert!(err.contains("hostPath volume only"), "{err}");
        let err = refusal(
            "env = [{ name = \"P\", valueFrom = { fieldRef = { fieldPath = \"status.podIP\" } } }]",
            "",
        );
        assert!(
            err.contains("env[0].valueFrom.fieldRef") && err.contains("podman assigns"),
            "{err}"
        );
    }

    /// A downwardAPI volume: its files are written per host before start, mounted read-only.
    #[test]
    fn downward_api_volume_files() {
        let d = ds(
            r#"volumeMounts = [{ name = "info", mountPath = "/etc/podinfo" }]
            resources = { limits = { memory = "32Mi" } }"#,
            r#"[[spec.template.spec.volumes]]
name = "info"
downwardAPI = { defaultMode = 0o600, items = [
  { path = "node", fieldRef = { fieldPath = "metadata.labels['app']" } },
  { path = "meta/labels", fieldRef = { fieldPath = "metadata.labels" }, mode = 0o644 },
  { path = "mem", resourceFieldRef = { containerName = "c", resource = "limits.memory", divisor = "1Mi" } },
] }"#,
        );
        let p = plan_container(&d, Role::App, 0, "0a1b2c3d4e", &host()).unwrap();
        let dir = "/var/lib/dsctl/pods/dsctl_d_0a1b2c3d4e/volumes/info";
        assert_eq!(
            p.mounts,
            [Mount::Bind {
                host: dir.into(),
                dest: "/etc/podinfo".into(),
                read_only: true,
                propagation: None,
            }]
        );
        assert_eq!(
            words(&p.pre_start),
            [
                "/bin/sh",
                "-c",
                WRITE_FILES,
                "dsctl-downward",
                dir,
                "node",
                "600",
                "d",
                "meta/labels",
                "644",
                "app=\"d\"\ncontroller-revision-hash=\"0a1b2c3d4e\"",
                "mem",
                "600",
                "32"
            ]
        );
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
