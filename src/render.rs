//! Rendering: an instance of a DaemonSet becomes one podman pod: a pod unit, one oneshot unit
//! per init container and one unit per app container, through handlebars templates.
//!
//! `plan` maps the container spec onto `podman run` options; this file escapes every value for
//! the place it lands (see `escape.rs`) and hands the templates a context of finished,
//! single-line strings. A template therefore cannot emit an unescaped value by accident: the
//! only unescaped values are the ones named `raw_*`, and the `systemd_arg`, `unit_value` and
//! `comment` helpers escape those on request.
//!
//! Two flavours: `service` (a pod service and `podman run --pod-id-file` services, shaped as
//! `podman generate systemd --new` makes them for pods; podman < 5.0) and `quadlet` (a `.pod`
//! file and `.container` files with `Pod=`, podman ≥ 5.0). The Quadlet files only use keys
//! Quadlet 5.0 knows (`.pod`: `PodName`, `Network`, `PublishPort`, `PodmanArgs`; `.container`:
//! `Image`, `ContainerName`, `Pod`, `Exec`, `Environment`, `Label`, `Volume`, `PodmanArgs`):
//! Quadlet refuses a whole file for one unknown key.
//!
//! Ordering: each init container's unit Requires+After the one before it, the app containers'
//! the last one; every container unit BindsTo+After the pod's, which Wants+Before them all, so
//! that starting (or restarting) the pod runs the init containers again, as the kubelet does.

mod plan;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};
use serde::Serialize;

use crate::daemonset::{Container, DaemonSet};
use crate::escape::{self, EscapeError};
use crate::host_facts::HostFacts;
use crate::inventory::UnitFlavor;
use crate::layout::{Instance, Role};

pub use crate::layout::{PODMAN, QUADLET_DIR, SERVICE_DIR};
pub use plan::{
    ContainerPlan, DEFAULT_GRACE_SECS, EmptyDir, Mount, PodPlan, STOP_TIMEOUT_MARGIN_SECS,
    UNIT_CPU_HEADROOM_MILLI, UNIT_MEMORY_HEADROOM_BYTES, Word, capability_name, check_sub_path,
    is_safe_fixed, is_untyped_socket, localhost_seccomp_profile, plan_container, plan_pod,
    resource_amount, sub_path_source,
};
/// Seconds between a container's exit and its restart: the kubelet's first crash back-off.
pub const RESTART_SEC: u64 = 10;
/// Seconds a start may take, image pull included.
pub const TIMEOUT_START_SEC: u64 = 900;

/// The template names, each overridable by `<name>.hbs` in a template directory: the
/// container units (init containers too, with `init` set) and the pod units, per flavour.
pub const TEMPLATE_NAMES: [&str; 4] = ["service", "quadlet", "service-pod", "quadlet-pod"];
const EMBEDDED: [(&str, &str); 4] = [
    ("service", include_str!("templates/service.hbs")),
    ("quadlet", include_str!("templates/quadlet.hbs")),
    ("service-pod", include_str!("templates/service-pod.hbs")),
    ("quadlet-pod", include_str!("templates/quadlet-pod.hbs")),
];

/// A rendered unit and where it goes on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitFile {
    /// The file name, such as `dsctl_web_<rev>_web.service` or `dsctl_web_<rev>.pod`.
    pub name: String,
    /// The absolute target path on the host.
    pub path: String,
    /// Shared: hosts that render the same unit hold one copy (`text_pool`).
    pub content: Arc<str>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("DaemonSet {daemonset:?}{}: {field}: {reason}", in_container(.container))]
    Value {
        /// Empty for a field of the pod.
        daemonset: String,
        container: String,
        field: String,
        reason: String,
    },
    #[error("template {template}{}: {message}", location(*.line, *.column))]
    Template {
        template: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("template directory {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "template directory {}: unknown template {file:?} (the templates are {})",
        .dir.display(),
        TEMPLATE_NAMES.map(|n| format!("{n}.hbs")).join(", ")
    )]
    UnknownTemplate { dir: PathBuf, file: String },
}

fn in_container(container: &str) -> String {
    if container.is_empty() {
        String::new()
    } else {
        format!(", container {container:?}")
    }
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

/// The compiled templates: the embedded defaults, each maybe replaced from a directory.
#[derive(Debug, Clone)]
pub struct Templates {
    registry: Handlebars<'static>,
    /// Where each overridden template came from, for error messages.
    origins: std::collections::BTreeMap<String, PathBuf>,
}

impl Templates {
    pub fn embedded() -> Templates {
        let mut registry = new_registry();
        for (name, source) in EMBEDDED {
            registry
                .register_template_string(name, source)
                .expect("the embedded templates compile (tested)");
        }
        Templates {
            registry,
            origins: Default::default(),
        }
    }

    /// The embedded templates, with each `<name>.hbs` found in `dir` used instead. Any other
    /// `.hbs` file is an error (a misspelt name would otherwise be ignored silently).
    pub fn from_dir(dir: &Path) -> Result<Templates, RenderError> {
        let io = |source| RenderError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut templates = Templates::embedded();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".hbs") else {
                continue;
            };
            if !TEMPLATE_NAMES.contains(&name) {
                return Err(RenderError::UnknownTemplate {
                    dir: dir.to_path_buf(),
                    file,
                });
            }
            let path = entry.path();
            let source = std::fs::read_to_string(&path).map_err(|source| RenderError::Io {
                path: path.clone(),
                source,
            })?;
            templates
                .registry
                .register_template_string(name, source)
                .map_err(|e| RenderError::Template {
                    template: path.display().to_string(),
                    line: e.pos().map(|(l, _)| l),
                    column: e.pos().map(|(_, c)| c),
                    message: e.reason().to_string(),
                })?;
            templates.origins.insert(name.to_string(), path);
        }
        Ok(templates)
    }

    fn render<T: Serialize>(&self, name: &str, context: &T) -> Result<String, RenderError> {
        self.registry
            .render(name, context)
            .map_err(|e| RenderError::Template {
                template: {
                    let template = e.template_name.clone().unwrap_or_else(|| name.to_string());
                    match self.origins.get(&template) {
                        Some(path) => path.display().to_string(),
                        None => format!("{template} (embedded)"),
                    }
                },
                line: e.line_no,
                column: e.column_no,
                message: match e.reason() {
                    RenderErrorReason::MissingVariable(Some(var)) => {
                        format!("unknown variable `{var}`")
                    }
                    other => other.to_string(),
                },
            })
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::embedded()
    }
}

/// Strict (an unknown variable is an error), no HTML escaping, plus the escaping helpers.
fn new_registry() -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    registry.register_helper(
        "systemd_arg",
        Box::new(helper(|s| escape::exec_word(s).map_err(|e| e.to_string()))),
    );
    registry.register_helper(
        "unit_value",
        Box::new(helper(|s| Ok(escape::unit_value_plain(s)))),
    );
    registry.register_helper("comment", Box::new(helper(|s| Ok(escape::comment_text(s)))));
    registry
}

/// A helper that escapes its one string parameter with `f`.
fn helper(
    f: fn(&str) -> Result<String, String>,
) -> impl Fn(
    &Helper<'_>,
    &Handlebars<'_>,
    &Context,
    &mut RenderContext<'_, '_>,
    &mut dyn Output,
) -> HelperResult
+ Send
+ Sync {
    move |h, _, _, _, out| {
        let param = h
            .param(0)
            .ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex("escaping helper", 0))?;
        let text = match param.value() {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let escaped =
            f(&text).map_err(|msg| RenderErrorReason::Other(format!("{}: {msg}", h.name())))?;
        out.write(&escaped)?;
        Ok(())
    }
}

/// What every container template sees.
#[derive(Debug, Serialize)]
struct CommonContext {
    /// `# Managed by dsctl: …` (one comment line).
    header: String,
    /// `dsctl_<ds>_<rev>_<container>.service`.
    unit_name: String,
    /// `dsctl_<ds>_<rev>_<container>`: the podman container name.
    container_name: String,
    /// `Description=` value.
    description: String,
    /// An init container: a oneshot unit that runs to completion and does not restart.
    init: bool,
    /// The pod's service (`BindsTo=`/`After=`).
    pod_unit: String,
    /// The init container unit this one Requires and comes After, or null.
    after_init: Option<String>,
    restart_sec: u64,
    timeout_start_sec: u64,
    timeout_stop_sec: u64,
    /// `CPUQuota=` value (such as `50%`), or null.
    cpu_quota: Option<String>,
    /// `MemoryMax=` value in bytes, or null.
    memory_max: Option<String>,
    /// `ExecStartPre=` values: hostPath checks, escaped.
    exec_start_pre: Vec<String>,
    /// `ExecStartPost=` values: the postStart hook, escaped.
    exec_start_post: Vec<String>,
    /// `ExecStop=` values before the container's own stop: the preStop hook, escaped (the
    /// templates prefix `-`, so a failed hook does not keep the container from stopping).
    exec_stop_hooks: Vec<String>,
    raw_daemonset: String,
    raw_container: String,
    raw_revision: String,
    raw_image: String,
}

#[derive(Debug, Serialize)]
struct ServiceContext {
    #[serde(flatten)]
    common: CommonContext,
    /// `Environment=` values.
    environment: Vec<String>,
    exec_start: String,
    exec_stop: String,
    exec_stop_post: String,
}

#[derive(Debug, Serialize)]
struct QuadletContext {
    #[serde(flatten)]
    common: CommonContext,
    image: String,
    /// `Pod=` value: the pod's `.pod` file.
    pod_file: String,
    volumes: Vec<String>,
    /// `Environment=` values (`"NAME=VALUE"` tokens).
    environment: Vec<String>,
    labels: Vec<String>,
    /// Security keys (`DropCapability=all`, `NoNewPrivileges=true` …), whole lines.
    security: Vec<String>,
    podman_args: Vec<String>,
    /// `Exec=` value (the container's args), or null.
    exec: Option<String>,
}

/// What both pod templates see.
#[derive(Debug, Serialize)]
struct PodContext {
    header: String,
    /// `dsctl_<ds>_<rev>-pod.service`.
    unit_name: String,
    /// `dsctl_<ds>_<rev>`: the podman pod name.
    pod_name: String,
    description: String,
    /// Every container unit of the pod, init containers first.
    container_units: Vec<String>,
    timeout_start_sec: u64,
    timeout_stop_sec: u64,
    /// `ExecStartPre=` values before the pod is created: emptyDir directories and tmpfs.
    exec_start_pre: Vec<String>,
    /// `ExecStopPost=` values after the pod is removed: tmpfs unmounts.
    exec_stop_post: Vec<String>,
    raw_daemonset: String,
    raw_revision: String,
}

#[derive(Debug, Serialize)]
struct ServicePodContext {
    #[serde(flatten)]
    common: PodContext,
    /// `%t/<pod>.pid`: the infra container's conmon, which systemd follows.
    pid_file: String,
    /// `/bin/rm -f` of the pid and pod-id files.
    exec_remove_files: String,
    /// `podman pod create …`.
    exec_create: String,
    exec_start: String,
    exec_stop: String,
    exec_stop_remove: String,
}

#[derive(Debug, Serialize)]
struct QuadletPodContext {
    #[serde(flatten)]
    common: PodContext,
    /// `Network=` value, or null.
    network: Option<String>,
    publish_ports: Vec<String>,
    podman_args: Vec<String>,
}

/// One instance: the pod unit, then one unit per init container (in order), then one per app
/// container. Every name and path comes from `layout::Instance`.
pub fn render_daemonset(
    ds: &DaemonSet,
    revision: &str,
    host: &HostFacts,
    flavor: UnitFlavor,
    templates: &Templates,
) -> Result<Vec<UnitFile>, RenderError> {
    let pod = ds.pod_spec();
    let instance = Instance::new(ds.name(), revision);
    let mut plans = Vec::new();
    for index in 0..pod.init_containers.len() {
        plans.push(plan_container(ds, Role::Init, index, revision, host)?);
    }
    for index in 0..pod.containers.len() {
        plans.push(plan_container(ds, Role::App, index, revision, host)?);
    }
    if flavor == UnitFlavor::Quadlet {
        for (index, c) in pod.init_containers.iter().enumerate() {
            check_quadlet_values(ds, c, &format!("initContainers[{index}]"))?;
        }
        for (index, c) in pod.containers.iter().enumerate() {
            check_quadlet_values(ds, c, &format!("containers[{index}]"))?;
        }
    }
    let pod_plan = plan_pod(ds, revision, host)?;
    let container_units: Vec<String> = plans.iter().map(|p| p.unit.clone()).collect();
    let mut units = vec![render_pod(
        &pod_plan,
        &instance,
        &container_units,
        flavor,
        templates,
    )?];
    let mut last_init: Option<String> = None;
    for plan in &plans {
        let deps = Deps {
            pod_unit: instance.pod_service(),
            pod_file: instance.pod_unit_file(UnitFlavor::Quadlet).name,
            pod_id_file: instance.pod_id_file(),
            after_init: last_init.clone(),
        };
        let file = instance.container_unit_file(&plan.container, flavor);
        let content = match flavor {
            UnitFlavor::Service => render_service(plan, &deps, templates)?,
            UnitFlavor::Quadlet => render_quadlet(plan, &deps, templates)?,
        };
        units.push(UnitFile {
            name: file.name,
            path: file.path,
            content: content.into(),
        });
        if plan.role == Role::Init {
            last_init = Some(plan.unit.clone());
        }
    }
    Ok(units)
}

/// How a container unit hangs off its pod and the init containers before it.
struct Deps {
    pod_unit: String,
    pod_file: String,
    pod_id_file: String,
    after_init: Option<String>,
}

fn render_pod(
    plan: &PodPlan,
    instance: &Instance<'_>,
    container_units: &[String],
    flavor: UnitFlavor,
    templates: &Templates,
) -> Result<UnitFile, RenderError> {
    let lines = |argvs: &[Vec<Word>]| {
        argvs
            .iter()
            .map(|argv| pod_words(plan, argv, escape::exec_word))
            .collect::<Result<Vec<_>, _>>()
    };
    let common = PodContext {
        header: format!(
            "# Managed by dsctl: daemonset={} pod={} revision={}  Do not edit; dsctl apply restores it.",
            escape::comment_text(&plan.daemonset),
            escape::comment_text(&plan.name),
            escape::comment_text(&plan.revision),
        ),
        unit_name: instance.pod_service(),
        pod_name: plan.name.clone(),
        description: escape::unit_value_plain(&format!("dsctl DaemonSet {} pod", plan.daemonset)),
        container_units: container_units.to_vec(),
        timeout_start_sec: TIMEOUT_START_SEC,
        timeout_stop_sec: plan.grace_secs + STOP_TIMEOUT_MARGIN_SECS,
        exec_start_pre: lines(&plan.pre_start)?,
        exec_stop_post: lines(&plan.stop_post)?,
        raw_daemonset: plan.daemonset.clone(),
        raw_revision: plan.revision.clone(),
    };
    let file = instance.pod_unit_file(flavor);
    let content = match flavor {
        UnitFlavor::Service => {
            let f = |s: &str| Word::Fixed(s.to_string());
            let pid_file = instance.pod_pid_file();
            let id_file = instance.pod_id_file();
            let mut create = vec![
                f(PODMAN),
                f("pod"),
                f("create"),
                f("--infra-conmon-pidfile"),
                f(&pid_file),
                f("--pod-id-file"),
                f(&id_file),
                f("--replace"),
                f("--name"),
                Word::Value(plan.name.clone()),
            ];
            if plan.host_network {
                create.extend([f("--network"), f("host")]);
            }
            for p in &plan.publish {
                create.extend([f("-p"), Word::Value(p.clone())]);
            }
            create.extend(plan.create_options().into_iter().flatten());
            let grace = plan.grace_secs.to_string();
            let fixed_line = |words: &[&str]| words.join(" ");
            let context = ServicePodContext {
                common,
                exec_remove_files: fixed_line(&["/bin/rm", "-f", &pid_file, &id_file]),
                exec_create: pod_words(plan, &create, escape::exec_word)?,
                exec_start: fixed_line(&[PODMAN, "pod", "start", "--pod-id-file", &id_file]),
                exec_stop: fixed_line(&[
                    PODMAN,
                    "pod",
                    "stop",
                    "--ignore",
                    "--pod-id-file",
                    &id_file,
                    "-t",
                    &grace,
                ]),
                exec_stop_remove: fixed_line(&[
                    PODMAN,
                    "pod",
                    "rm",
                    "--ignore",
                    "-f",
                    "--pod-id-file",
                    &id_file,
                ]),
                pid_file,
            };
            templates.render("service-pod", &context)?
        }
        UnitFlavor::Quadlet => {
            let podman_args = plan
                .create_options()
                .iter()
                .map(|group| pod_words(plan, group, escape::quadlet_word))
                .collect::<Result<Vec<_>, _>>()?;
            let context = QuadletPodContext {
                common,
                network: plan.host_network.then(|| "host".to_string()),
                publish_ports: plan.publish.clone(),
                podman_args,
            };
            templates.render("quadlet-pod", &context)?
        }
    };
    Ok(UnitFile {
        name: file.name,
        path: file.path,
        content: content.into(),
    })
}

/// The `podman run` command line of the service flavour: in the pod (`--pod-id-file`),
/// detached with conmon's readiness for an app container, in the foreground for an init one.
pub fn service_exec_start(plan: &ContainerPlan, pod_id_file: &str) -> Vec<Word> {
    let f = |s: &str| Word::Fixed(s.to_string());
    let v = |s: &str| Word::Value(s.to_string());
    let mut argv = vec![
        f(PODMAN),
        f("run"),
        f("--cidfile=%t/%n.ctr-id"),
        f("--cgroups=no-conmon"),
        f("--rm"),
        f("--pod-id-file"),
        f(pod_id_file),
    ];
    if plan.role == Role::App {
        argv.extend([f("--sdnotify=conmon"), f("-d")]);
    }
    argv.extend([f("--replace"), f("--name"), v(&plan.name)]);
    for (k, val) in &plan.labels {
        argv.extend([f("--label"), v(&format!("{k}={val}"))]);
    }
    for m in &plan.mounts {
        argv.extend(m.options());
    }
    for (k, val) in &plan.env {
        argv.extend([f("--env"), v(&format!("{k}={val}"))]);
    }
    argv.extend(plan.options.iter().flatten().cloned());
    argv.extend(plan.security.iter().flat_map(|o| o.words.iter().cloned()));
    if let Some(ep) = &plan.entrypoint {
        argv.extend([f("--entrypoint"), v(ep)]);
    }
    argv.push(v(&plan.image));
    argv.extend(plan.args.iter().map(|a| v(a)));
    argv
}

fn render_service(
    plan: &ContainerPlan,
    deps: &Deps,
    templates: &Templates,
) -> Result<String, RenderError> {
    let grace = plan.grace_secs.to_string();
    let stop = [
        PODMAN,
        "stop",
        "--ignore",
        "-t",
        &grace,
        "--cidfile=%t/%n.ctr-id",
    ];
    let stop_post = [
        PODMAN,
        "rm",
        "-f",
        "--ignore",
        "-t",
        &grace,
        "--cidfile=%t/%n.ctr-id",
    ];
    let fixed_line = |words: &[&str]| words.join(" ");
    let context = ServiceContext {
        common: common_context(plan, deps)?,
        environment: vec!["PODMAN_SYSTEMD_UNIT=%n".to_string()],
        exec_start: exec_words(
            plan,
            &service_exec_start(plan, &deps.pod_id_file),
            escape::exec_word,
        )?,
        exec_stop: fixed_line(&stop),
        exec_stop_post: fixed_line(&stop_post),
    };
    templates.render("service", &context)
}

fn render_quadlet(
    plan: &ContainerPlan,
    deps: &Deps,
    templates: &Templates,
) -> Result<String, RenderError> {
    let value_err = |field: &str, e: EscapeError| RenderError::Value {
        daemonset: plan.daemonset.clone(),
        container: plan.container.clone(),
        field: field.to_string(),
        reason: e.to_string(),
    };
    let kv = |field: &str, pairs: &[(String, String)]| {
        pairs
            .iter()
            .map(|(k, v)| escape::quadlet_key_value(k, v).map_err(|e| value_err(field, e)))
            .collect::<Result<Vec<_>, _>>()
    };
    let mut volumes = Vec::new();
    let mut podman_args = Vec::new();
    for m in &plan.mounts {
        match m.volume_spec() {
            // Quadlet copies Volume= verbatim into the command line; only plain paths survive.
            Some(spec) if is_safe_fixed(&spec) && !spec.contains('%') => volumes.push(spec),
            _ => podman_args.push(exec_words(plan, &m.options(), escape::quadlet_word)?),
        }
    }
    for group in &plan.options {
        podman_args.push(exec_words(plan, group, escape::quadlet_word)?);
    }
    // The security plan's values are dsctl's own words (capability names, `true`, checked
    // paths), safe in a Quadlet value as they are.
    let mut security = Vec::new();
    for option in &plan.security {
        match &option.quadlet {
            Some((key, value)) => security.push(format!("{key}={value}")),
            None => podman_args.push(exec_words(plan, &option.words, escape::quadlet_word)?),
        }
    }
    if let Some(ep) = &plan.entrypoint {
        podman_args.push(exec_words(
            plan,
            &[Word::Fixed("--entrypoint".into()), Word::Value(ep.clone())],
            escape::quadlet_word,
        )?);
    }
    let exec = if plan.args.is_empty() {
        None
    } else {
        let words: Vec<Word> = plan.args.iter().map(|a| Word::Value(a.clone())).collect();
        Some(exec_words(plan, &words, escape::quadlet_word)?)
    };
    let context = QuadletContext {
        common: common_context(plan, deps)?,
        // Image= is taken verbatim apart from specifiers; check_image refused the rest.
        image: plan.image.replace('%', "%%").replace('$', "$$"),
        pod_file: deps.pod_file.clone(),
        volumes,
        environment: kv("env", &plan.env)?,
        labels: kv("labels", &plan.labels)?,
        security,
        podman_args,
        exec,
    };
    templates.render("quadlet", &context)
}

fn common_context(plan: &ContainerPlan, deps: &Deps) -> Result<CommonContext, RenderError> {
    let lines = |argvs: &[Vec<Word>]| {
        argvs
            .iter()
            .map(|argv| exec_words(plan, argv, escape::exec_word))
            .collect::<Result<Vec<_>, _>>()
    };
    let pre = lines(&plan.pre_start)?;
    let exec_start_post = lines(&plan.post_start)?;
    let exec_stop_hooks = lines(&plan.pre_stop)?;
    let init = plan.role == Role::Init;
    Ok(CommonContext {
        header: format!(
            "# Managed by dsctl: daemonset={} container={} revision={}  Do not edit; dsctl apply restores it.",
            escape::comment_text(&plan.daemonset),
            escape::comment_text(&plan.container),
            escape::comment_text(&plan.revision),
        ),
        unit_name: plan.unit.clone(),
        container_name: plan.name.clone(),
        description: escape::unit_value_plain(&format!(
            "dsctl DaemonSet {} {}container {}",
            plan.daemonset,
            if init { "init " } else { "" },
            plan.container
        )),
        init,
        pod_unit: deps.pod_unit.clone(),
        after_init: deps.after_init.clone(),
        restart_sec: RESTART_SEC,
        timeout_start_sec: TIMEOUT_START_SEC,
        timeout_stop_sec: plan.grace_secs + STOP_TIMEOUT_MARGIN_SECS,
        cpu_quota: plan.cpu_quota.clone(),
        memory_max: plan.memory_max.map(|b| b.to_string()),
        exec_start_pre: pre,
        exec_start_post,
        exec_stop_hooks,
        raw_daemonset: plan.daemonset.clone(),
        raw_container: plan.container.clone(),
        raw_revision: plan.revision.clone(),
        raw_image: plan.image.clone(),
    })
}

/// [`exec_words`] for the pod's own command lines (errors name no container).
fn pod_words(
    plan: &PodPlan,
    words: &[Word],
    escape: fn(&str) -> Result<String, EscapeError>,
) -> Result<String, RenderError> {
    join_words(words, escape, |s, e| RenderError::Value {
        daemonset: plan.daemonset.clone(),
        container: String::new(),
        field: "podman pod argument".to_string(),
        reason: format!("{s:?} {e}"),
    })
}

/// Words joined into one command line: fixed words as they are, values through `escape`.
fn exec_words(
    plan: &ContainerPlan,
    words: &[Word],
    escape: fn(&str) -> Result<String, EscapeError>,
) -> Result<String, RenderError> {
    join_words(words, escape, |s, e| RenderError::Value {
        daemonset: plan.daemonset.clone(),
        container: plan.container.clone(),
        field: "podman argument".to_string(),
        reason: format!("{s:?} {e}"),
    })
}

fn join_words(
    words: &[Word],
    escape: fn(&str) -> Result<String, EscapeError>,
    error: impl Fn(&str, EscapeError) -> RenderError,
) -> Result<String, RenderError> {
    let mut line = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        match word {
            Word::Fixed(s) if is_safe_fixed(s) => line.push_str(s),
            Word::Fixed(s) | Word::Value(s) => {
                let escaped = escape(s).map_err(|e| error(s, e))?;
                let _ = write!(line, "{escaped}");
            }
        }
    }
    Ok(line)
}

/// Quadlet cannot carry an empty argument, a lone `;` or U+0080 (see `escape.rs`): refuse them
/// naming the field, before rendering.
fn check_quadlet_values(ds: &DaemonSet, c: &Container, at_list: &str) -> Result<(), RenderError> {
    let err = |field: String, e: EscapeError| RenderError::Value {
        daemonset: ds.name().to_string(),
        container: c.name.clone(),
        field,
        reason: format!("{e} (the service unit flavour can carry it)"),
    };
    let at = |f: &str| format!("spec.template.spec.{at_list}.{f}");
    if c.image.ends_with(".image") || c.image.ends_with(".build") {
        return Err(RenderError::Value {
            daemonset: ds.name().to_string(),
            container: c.name.clone(),
            field: at("image"),
            reason: "Quadlet reads an Image= ending in .image or .build as another Quadlet unit"
                .into(),
        });
    }
    for (i, arg) in c.args.iter().enumerate() {
        escape::quadlet_word(arg).map_err(|e| err(at(&format!("args[{i}]")), e))?;
    }
    let mut fields: Vec<(String, &str)> = vec![(at("image"), &c.image)];
    fields.extend(
        c.command
            .iter()
            .enumerate()
            .map(|(i, s)| (at(&format!("command[{i}]")), s.as_str())),
    );
    for (i, e) in c.env.iter().enumerate() {
        fields.push((at(&format!("env[{i}].name")), &e.name));
        fields.push((at(&format!("env[{i}].value")), &e.value));
    }
    if let Some(dir) = &c.working_dir {
        fields.push((at("workingDir"), dir));
    }
    for (i, m) in c.volume_mounts.iter().enumerate() {
        fields.push((at(&format!("volumeMounts[{i}].mountPath")), &m.mount_path));
    }
    for (j, v) in ds.pod_spec().volumes.iter().enumerate() {
        if let Some(hp) = &v.host_path {
            fields.push((
                format!("spec.template.spec.volumes[{j}].hostPath.path"),
                &hp.path,
            ));
        }
    }
    for (k, v) in &ds.spec.template.metadata.labels {
        fields.push((format!("spec.template.metadata.labels.{k}"), k));
        fields.push((format!("spec.template.metadata.labels.{k}"), v));
    }
    if let Some(probe) = &c.liveness_probe
        && let Some(exec) = &probe.exec
    {
        fields.extend(
            exec.command
                .iter()
                .enumerate()
                .map(|(i, s)| (at(&format!("livenessProbe.exec.command[{i}]")), s.as_str())),
        );
    }
    for (field, value) in fields {
        if value.contains('\u{80}') {
            return Err(err(field, EscapeError::QuadletU0080));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(name: &str, containers: &[&str]) -> DaemonSet {
        let mut doc = format!(
            "apiVersion = \"apps/v1\"\nkind = \"DaemonSet\"\nmetadata = {{ name = \"{name}\" }}\n\
             [spec]\nselector = {{ matchLabels = {{ app = \"x\" }} }}\n\
             [spec.template]\nmetadata = {{ labels = {{ app = \"x\" }} }}\n[spec.template.spec]\n"
        );
        for c in containers {
            doc.push_str(&format!(
                "[[spec.template.spec.containers]]\nname = \"{c}\"\nimage = \"img\"\n"
            ));
        }
        toml::from_str(&doc).unwrap()
    }

    const REV: &str = "0a1b2c3d4e";

    /// Issue 12: DaemonSet `node` container `exporter-agent` and DaemonSet `node-exporter`
    /// container `main` were both `dsctl-node-exporter-*`; with `_` separators no file,
    /// service, pod or container name is shared.
    fn host() -> HostFacts {
        HostFacts {
            node_name: "node-1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn names_of_different_daemonsets_never_clash() {
        let t = Templates::embedded();
        for flavor in [UnitFlavor::Service, UnitFlavor::Quadlet] {
            let mut names = std::collections::BTreeSet::new();
            let mut count = 0;
            for d in [
                ds("node", &["exporter-agent"]),
                ds("node-exporter", &["main"]),
            ] {
                for u in render_daemonset(&d, REV, &host(), flavor, &t).unwrap() {
                    count += 1;
                    names.insert(u.path.clone());
                    let container_name = u.content.lines().find_map(|l| {
                        l.strip_prefix("ContainerName=")
                            .or_else(|| l.split(" --name ").nth(1))
                            .map(|rest| rest.split(' ').next().unwrap().to_string())
                    });
                    if let Some(n) = container_name {
                        count += 1;
                        names.insert(n);
                    }
                }
            }
            assert_eq!(names.len(), count, "{names:#?}");
        }
    }

    #[test]
    fn one_pod_unit_then_init_then_app_units() {
        let t = Templates::embedded();
        let mut d = ds("web", &["app", "sidecar"]);
        d.spec.template.spec.init_containers = ds("x", &["setup"]).spec.template.spec.containers;
        let units = render_daemonset(&d, REV, &host(), UnitFlavor::Service, &t).unwrap();
        let paths: Vec<&str> = units.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/etc/systemd/system/dsctl_web_0a1b2c3d4e-pod.service",
                "/etc/systemd/system/dsctl_web_0a1b2c3d4e_setup.service",
                "/etc/systemd/system/dsctl_web_0a1b2c3d4e_app.service",
                "/etc/systemd/system/dsctl_web_0a1b2c3d4e_sidecar.service",
            ]
        );
        assert!(units[0].content.starts_with(
            "# Managed by dsctl: daemonset=web pod=dsctl_web_0a1b2c3d4e revision=0a1b2c3d4e "
        ));
        assert!(
            units[2].content.starts_with(
                "# Managed by dsctl: daemonset=web container=app revision=0a1b2c3d4e "
            )
        );
        for unit in &units[1..] {
            assert!(
                unit.content
                    .contains("BindsTo=dsctl_web_0a1b2c3d4e-pod.service\n")
            );
            assert!(
                unit.content
                    .contains(" --pod-id-file %t/dsctl_web_0a1b2c3d4e.pod-id ")
            );
        }
        assert!(
            units[1]
                .content
                .contains("Type=oneshot\nRemainAfterExit=yes\n")
        );
        assert!(!units[1].content.contains("Restart=") && !units[1].content.contains(" -d "));
        for app in &units[2..] {
            assert!(app.content.contains(
                "Requires=dsctl_web_0a1b2c3d4e_setup.service\nAfter=dsctl_web_0a1b2c3d4e_setup.service\n"
            ));
            assert!(app.content.contains("Restart=always\n"));
        }
        let units = render_daemonset(&d, REV, &host(), UnitFlavor::Quadlet, &t).unwrap();
        let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "dsctl_web_0a1b2c3d4e.pod",
                "dsctl_web_0a1b2c3d4e_setup.container",
                "dsctl_web_0a1b2c3d4e_app.container",
                "dsctl_web_0a1b2c3d4e_sidecar.container",
            ]
        );
        assert!(units[0].path.starts_with("/etc/containers/systemd/"));
        assert!(
            units[0]
                .content
                .contains("[Pod]\nPodName=dsctl_web_0a1b2c3d4e\n")
        );
        for unit in &units[1..] {
            assert!(unit.content.contains("Pod=dsctl_web_0a1b2c3d4e.pod\n"));
        }
    }

    #[test]
    fn quadlet_refusals_name_the_field() {
        let t = Templates::embedded();
        let mut d = ds("web", &["app"]);
        d.spec.template.spec.containers[0].args = vec!["ok".into(), ";".into()];
        let err = render_daemonset(&d, REV, &host(), UnitFlavor::Quadlet, &t)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("containers[0].args[1]") && err.contains("command separator"),
            "{err}"
        );
        assert!(render_daemonset(&d, REV, &host(), UnitFlavor::Service, &t).is_ok());
        d.spec.template.spec.containers[0].args = vec![];
        d.spec.template.spec.containers[0].image = "thing.image".into();
        let err = render_daemonset(&d, REV, &host(), UnitFlavor::Quadlet, &t)
            .unwrap_err()
            .to_string();
        assert!(err.contains("containers[0].image"), "{err}");
    }

    #[test]
    fn embedded_templates_compile() {
        let t = Templates::embedded();
        for name in TEMPLATE_NAMES {
            assert!(t.registry.has_template(name), "{name}");
        }
    }
}
