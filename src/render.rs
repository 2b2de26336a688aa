//! Rendering: a DaemonSet becomes one systemd unit per container, through handlebars templates.
//!
//! `plan` maps the container spec onto `podman run` options; this file escapes every value for
//! the place it lands (see `escape.rs`) and hands the templates a context of finished,
//! single-line strings. A template therefore cannot emit an unescaped value by accident: the
//! only unescaped values are the ones named `raw_*`, and the `systemd_arg`, `unit_value` and
//! `comment` helpers escape those on request.
//!
//! Two flavours: `service` (a `podman run` unit modelled on `podman generate systemd --new`,
//! for every podman from 4.3) and `quadlet` (a `.container` file for podman ≥ 4.4). The Quadlet
//! file only uses keys every Quadlet release has (`Image`, `ContainerName`, `Exec`,
//! `Environment`, `Label`, `PublishPort`, `Network`, `Volume`, `PodmanArgs`); Quadlet refuses a
//! whole file for one unknown key.

mod plan;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};
use serde::Serialize;

use crate::daemonset::DaemonSet;
use crate::escape::{self, EscapeError};
use crate::inventory::UnitFlavor;

pub use plan::{
    ContainerPlan, DEFAULT_GRACE_SECS, Mount, STOP_TIMEOUT_MARGIN_SECS, UNIT_CPU_HEADROOM_MILLI,
    UNIT_MEMORY_HEADROOM_BYTES, Word, capability_name, check_sub_path, emptydir_volume_name,
    is_safe_fixed, is_untyped_socket, localhost_seccomp_profile, plan_container, unit_base_name,
};

/// Where podman lives on Debian (and Fedora, RHEL, Ubuntu).
pub const PODMAN: &str = "/usr/bin/podman";
/// Where systemd services are written.
pub const SERVICE_DIR: &str = "/etc/systemd/system";
/// Where Quadlet reads `.container` files for the system manager.
pub const QUADLET_DIR: &str = "/etc/containers/systemd";
/// Seconds between a container's exit and its restart: the kubelet's first crash back-off.
pub const RESTART_SEC: u64 = 10;
/// Seconds a start may take, image pull included.
pub const TIMEOUT_START_SEC: u64 = 900;

/// The template names, each overridable by `<name>.hbs` in a template directory.
pub const TEMPLATE_NAMES: [&str; 2] = ["service", "quadlet"];
const EMBEDDED: [(&str, &str); 2] = [
    ("service", include_str!("templates/service.hbs")),
    ("quadlet", include_str!("templates/quadlet.hbs")),
];

/// A rendered unit and where it goes on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitFile {
    /// The file name, such as `dsctl-web-web.service` or `dsctl-web-web.container`.
    pub name: String,
    /// The absolute target path on the host.
    pub path: String,
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("DaemonSet {daemonset:?}, container {container:?}: {field}: {reason}")]
    Value {
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
    #[error(
        "DaemonSet {first_ds:?} container {first_container:?} and DaemonSet {second_ds:?} container \
         {second_container:?} would both be the unit {unit}: rename one of them"
    )]
    NameClash {
        unit: String,
        first_ds: String,
        first_container: String,
        second_ds: String,
        second_container: String,
    },
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

/// What every template sees.
#[derive(Debug, Serialize)]
struct CommonContext {
    /// `# Managed by dsctl: …` (one comment line).
    header: String,
    /// `dsctl-<ds>-<container>.service`.
    unit_name: String,
    /// `dsctl-<ds>-<container>`: the podman container name.
    container_name: String,
    /// `Description=` value.
    description: String,
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
    /// `Network=` value, or null.
    network: Option<String>,
    publish_ports: Vec<String>,
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

/// One unit per container, named `dsctl-<daemonset>-<container>`.
pub fn render_daemonset(
    ds: &DaemonSet,
    revision: &str,
    flavor: UnitFlavor,
    templates: &Templates,
) -> Result<Vec<UnitFile>, RenderError> {
    (0..ds.pod_spec().containers.len())
        .map(|index| {
            let plan = plan_container(ds, index, revision)?;
            match flavor {
                UnitFlavor::Service => render_service(&plan, templates),
                UnitFlavor::Quadlet => {
                    check_quadlet_values(ds, index)?;
                    render_quadlet(&plan, templates)
                }
            }
        })
        .collect()
}

/// Refuses two containers that would share a unit name: `dsctl-<ds>-<container>` is ambiguous
/// when names hold `-` (DaemonSet `a-b` container `c` and DaemonSet `a` container `b-c`).
pub fn check_unit_names(daemonsets: &[DaemonSet]) -> Result<(), RenderError> {
    let mut seen: std::collections::BTreeMap<String, (&str, &str)> =
        std::collections::BTreeMap::new();
    for ds in daemonsets {
        for c in &ds.pod_spec().containers {
            let unit = unit_base_name(ds.name(), &c.name);
            match seen.get(&unit) {
                Some(&(first_ds, first_container))
                    if (first_ds, first_container) != (ds.name(), c.name.as_str()) =>
                {
                    return Err(RenderError::NameClash {
                        unit,
                        first_ds: first_ds.to_string(),
                        first_container: first_container.to_string(),
                        second_ds: ds.name().to_string(),
                        second_container: c.name.clone(),
                    });
                }
                _ => {
                    seen.insert(unit, (ds.name(), &c.name));
                }
            }
        }
    }
    Ok(())
}

/// The `podman run` command line of the service flavour.
pub fn service_exec_start(plan: &ContainerPlan) -> Vec<Word> {
    let f = |s: &str| Word::Fixed(s.to_string());
    let v = |s: &str| Word::Value(s.to_string());
    let mut argv = vec![
        f(PODMAN),
        f("run"),
        f("--cidfile=%t/%n.ctr-id"),
        f("--cgroups=no-conmon"),
        f("--rm"),
        f("--sdnotify=conmon"),
        f("-d"),
        f("--replace"),
        f("--name"),
        v(&plan.name),
    ];
    for (k, val) in &plan.labels {
        argv.extend([f("--label"), v(&format!("{k}={val}"))]);
    }
    if plan.host_network {
        argv.extend([f("--network"), f("host")]);
    }
    for p in &plan.publish {
        argv.extend([f("-p"), v(p)]);
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

fn render_service(plan: &ContainerPlan, templates: &Templates) -> Result<UnitFile, RenderError> {
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
        common: common_context(plan)?,
        environment: vec!["PODMAN_SYSTEMD_UNIT=%n".to_string()],
        exec_start: exec_words(plan, &service_exec_start(plan), escape::exec_word)?,
        exec_stop: fixed_line(&stop),
        exec_stop_post: fixed_line(&stop_post),
    };
    let name = format!("{}.service", plan.name);
    Ok(UnitFile {
        path: format!("{SERVICE_DIR}/{name}"),
        content: templates.render("service", &context)?,
        name,
    })
}

fn render_quadlet(plan: &ContainerPlan, templates: &Templates) -> Result<UnitFile, RenderError> {
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
        common: common_context(plan)?,
        // Image= is taken verbatim apart from specifiers; check_image refused the rest.
        image: plan.image.replace('%', "%%").replace('$', "$$"),
        network: plan.host_network.then(|| "host".to_string()),
        publish_ports: plan.publish.clone(),
        volumes,
        environment: kv("env", &plan.env)?,
        labels: kv("labels", &plan.labels)?,
        security,
        podman_args,
        exec,
    };
    let name = format!("{}.container", plan.name);
    Ok(UnitFile {
        path: format!("{QUADLET_DIR}/{name}"),
        content: templates.render("quadlet", &context)?,
        name,
    })
}

fn common_context(plan: &ContainerPlan) -> Result<CommonContext, RenderError> {
    let lines = |argvs: &[Vec<Word>]| {
        argvs
            .iter()
            .map(|argv| exec_words(plan, argv, escape::exec_word))
            .collect::<Result<Vec<_>, _>>()
    };
    let pre = lines(&plan.pre_start)?;
    let exec_start_post = lines(&plan.post_start)?;
    let exec_stop_hooks = lines(&plan.pre_stop)?;
    Ok(CommonContext {
        header: format!(
            "# Managed by dsctl: daemonset={} container={} revision={}  Do not edit; dsctl apply restores it.",
            escape::comment_text(&plan.daemonset),
            escape::comment_text(&plan.container),
            escape::comment_text(&plan.revision),
        ),
        unit_name: format!("{}.service", plan.name),
        container_name: plan.name.clone(),
        description: escape::unit_value_plain(&format!(
            "dsctl DaemonSet {} container {}",
            plan.daemonset, plan.container
        )),
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

/// Words joined into one command line: fixed words as they are, values through `escape`.
fn exec_words(
    plan: &ContainerPlan,
    words: &[Word],
    escape: fn(&str) -> Result<String, EscapeError>,
) -> Result<String, RenderError> {
    let mut line = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        match word {
            Word::Fixed(s) if is_safe_fixed(s) => line.push_str(s),
            Word::Fixed(s) | Word::Value(s) => {
                let escaped = escape(s).map_err(|e| RenderError::Value {
                    daemonset: plan.daemonset.clone(),
                    container: plan.container.clone(),
                    field: "podman argument".to_string(),
                    reason: format!("{s:?} {e}"),
                })?;
                let _ = write!(line, "{escaped}");
            }
        }
    }
    Ok(line)
}

/// Quadlet cannot carry an empty argument, a lone `;` or U+0080 (see `escape.rs`): refuse them
/// naming the field, before rendering.
fn check_quadlet_values(ds: &DaemonSet, index: usize) -> Result<(), RenderError> {
    let c = &ds.pod_spec().containers[index];
    let err = |field: String, e: EscapeError| RenderError::Value {
        daemonset: ds.name().to_string(),
        container: c.name.clone(),
        field,
        reason: format!("{e} (the service unit flavour can carry it)"),
    };
    let at = |f: &str| format!("spec.template.spec.containers[{index}].{f}");
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

    #[test]
    fn unit_names_that_clash_are_refused() {
        assert!(check_unit_names(&[ds("a", &["b", "c"]), ds("a-b", &["d"])]).is_ok());
        let err = check_unit_names(&[ds("a-b", &["c"]), ds("a", &["b-c"])])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dsctl-a-b-c") && err.contains("\"a-b\"") && err.contains("\"b-c\""),
            "{err}"
        );
    }

    #[test]
    fn one_unit_per_container_at_its_path() {
        let t = Templates::embedded();
        let units = render_daemonset(
            &ds("web", &["app", "sidecar"]),
            "r1",
            UnitFlavor::Service,
            &t,
        )
        .unwrap();
        let paths: Vec<&str> = units.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/etc/systemd/system/dsctl-web-app.service",
                "/etc/systemd/system/dsctl-web-sidecar.service"
            ]
        );
        assert!(
            units[0]
                .content
                .starts_with("# Managed by dsctl: daemonset=web container=app revision=r1 ")
        );
        let units = render_daemonset(&ds("web", &["app"]), "r1", UnitFlavor::Quadlet, &t).unwrap();
        assert_eq!(units[0].name, "dsctl-web-app.container");
        assert_eq!(
            units[0].path,
            "/etc/containers/systemd/dsctl-web-app.container"
        );
    }

    #[test]
    fn quadlet_refusals_name_the_field() {
        let t = Templates::embedded();
        let mut d = ds("web", &["app"]);
        d.spec.template.spec.containers[0].args = vec!["ok".into(), ";".into()];
        let err = render_daemonset(&d, "r", UnitFlavor::Quadlet, &t)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("containers[0].args[1]") && err.contains("command separator"),
            "{err}"
        );
        assert!(render_daemonset(&d, "r", UnitFlavor::Service, &t).is_ok());
        d.spec.template.spec.containers[0].args = vec![];
        d.spec.template.spec.containers[0].image = "thing.image".into();
        let err = render_daemonset(&d, "r", UnitFlavor::Quadlet, &t)
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
