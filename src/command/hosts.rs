//! What the commands that talk to hosts share: loading specs and the inventory, choosing the
//! targeted hosts, and connecting to them.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::apply::{Desired, HostRun, Settings};
use crate::cli::{ApplyArgs, ConnectArgs};
use crate::daemonset::DaemonSet;
use crate::diagnostic::Diagnostics;
use crate::inventory::Host;
use crate::labels::HostSelector;
use crate::render::Templates;
use crate::run::EXIT_INVALID;
use crate::ssh::{ConnectOptions, Connector, Session};
use crate::{load, ssh_config};

/// Prints every problem and says how many; the caller exits with [`EXIT_INVALID`].
pub(crate) fn invalid(diagnostics: Diagnostics) -> i32 {
    diagnostics.eprint();
    crate::errln!("invalid: {}", diagnostics.summary());
    EXIT_INVALID
}

/// Loads and validates specs (warnings go to stderr); on errors prints them all and gives the
/// exit code.
pub fn specs(files: &[PathBuf]) -> Result<Vec<DaemonSet>, i32> {
    let loaded = load::daemonsets(files).map_err(invalid)?;
    loaded.warnings.eprint();
    let specs: Vec<DaemonSet> = loaded.daemonsets.into_iter().map(|l| l.value).collect();
    Ok(specs)
}

/// The inventory's hosts with `[defaults]` applied and key paths made relative to the
/// inventory file (warnings go to stderr).
pub fn inventory(path: &Path) -> Result<Vec<Host>, i32> {
    let (inventory, warnings) = load::inventory_with_warnings(path).map_err(invalid)?;
    warnings.eprint();
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(inventory
        .value
        .hosts()
        .into_iter()
        .map(|h| relative_to(base, h))
        .collect())
}

/// The embedded templates, or the ones in `--templates DIR` (an error is printed).
pub fn templates(dir: Option<&Path>) -> Result<Templates, i32> {
    match dir {
        Some(dir) => Templates::from_dir(dir).map_err(|e| {
            crate::errln!("error: {e}");
            EXIT_INVALID
        }),
        None => Ok(Templates::embedded()),
    }
}

/// `apply` and `diff`: load everything, then observe, plan and (unless a dry run) converge.
pub fn converge(args: &ApplyArgs, settings: &Settings) -> Result<Vec<HostRun>, i32> {
    let specs = specs(&args.specs.files)?;
    let hosts = targets(&args.connect)?;
    let templates = templates(args.templates.as_deref())?;
    let desired = Desired::Specs {
        specs: &specs,
        templates: &templates,
    };
    Ok(runtime().block_on(crate::apply::run(
        &hosts,
        &desired,
        settings,
        connector(&args.connect),
    )))
}

/// The inventory's hosts that `--limit` selects (all without it).
pub fn targets(args: &ConnectArgs) -> Result<Vec<Host>, i32> {
    let hosts = inventory(&args.inventory.inventory)?;
    let Some(limit) = &args.limit else {
        return Ok(hosts);
    };
    let selector = HostSelector::parse(limit).map_err(|e| {
        crate::errln!("error: --limit {limit:?}: {e}");
        EXIT_INVALID
    })?;
    let chosen: Vec<Host> = hosts
        .into_iter()
        .filter(|h| selector.matches(&h.name, &h.labels))
        .collect();
    if chosen.is_empty() {
        crate::errln!(
            "error: --limit {limit:?} matches no host in {}",
            args.inventory.inventory.display()
        );
        return Err(EXIT_INVALID);
    }
    Ok(chosen)
}

/// Relative key and known_hosts paths in an inventory mean "next to the inventory", so the
/// same inventory works from any directory (`~` paths are expanded later, at connect time).
fn relative_to(base: &Path, mut host: Host) -> Host {
    for path in [
        &mut host.settings.identity_file,
        &mut host.settings.known_hosts,
    ]
    .into_iter()
    .flatten()
    {
        if path.is_relative() && !path.starts_with("~") {
            *path = base.join(&*path);
        }
    }
    host
}

pub fn settings(args: &ConnectArgs, dry_run: bool, prune: bool, full_observe: bool) -> Settings {
    Settings {
        parallel: args.parallel,
        lock_timeout_secs: args.lock_timeout,
        holder: holder(),
        dry_run,
        prune,
        full_observe,
        restart: None,
        progress: Arc::new(crate::progress::Silent),
        max_unreachable: None,
        lift_halt: None,
        keep_sessions: crate::apply::KEEP_CHANGED,
    }
}

/// Names this run in a host's lock: who, from where, which process, since when.
fn holder() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "dsctl {user}@{host} pid {} since {since}",
        std::process::id()
    )
}

/// A connection being set up.
pub type Connecting = Pin<Box<dyn Future<Output = Result<Session, String>> + Send>>;

/// Connects to hosts: settings resolved through the inventory and `ssh -G`, one connection
/// per host, one shared per bastion.
pub fn connector(args: &ConnectArgs) -> impl Fn(Host) -> Connecting + Send + Sync + use<> {
    let connector = Arc::new(Connector::new(ConnectOptions {
        connect_timeout: Duration::from_secs(args.connect_timeout),
        exec_timeout: Duration::from_secs(args.exec_timeout),
        accept_new_host_keys: args.accept_new_host_keys,
        ..ConnectOptions::default()
    }));
    move |host: Host| -> Connecting {
        let connector = connector.clone();
        Box::pin(async move {
            let target = ssh_config::resolve_host(&host)
                .await
                .map_err(|e| e.to_string())?;
            connector.connect(&target).await.map_err(|e| e.to_string())
        })
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts")
}

/// Observes the targeted hosts, read-only (with recorded specs): one run per host.
pub fn observe(args: &ConnectArgs, targets: &[Host]) -> Vec<HostRun> {
    let settings = settings(args, true, false, true);
    runtime().block_on(crate::apply::run(
        targets,
        &Desired::Nothing,
        &settings,
        connector(args),
    ))
}

/// Each observed host with what it showed, and each other host with why it was not observed.
pub type Observed<'a> = (
    Vec<(&'a Host, &'a crate::observe::Observation)>,
    Vec<(&'a str, String)>,
);

/// The hosts that were observed, and each other host with why it was not.
pub fn observed<'a>(targets: &'a [Host], runs: &'a [HostRun]) -> Observed<'a> {
    let mut observed = Vec::new();
    let mut missing = Vec::new();
    for (host, run) in targets.iter().zip(runs) {
        match &run.observation {
            Some(obs) => observed.push((host, obs)),
            None => missing.push((
                host.name.as_str(),
                match &run.outcome {
                    crate::apply::Outcome::Unreachable(e) | crate::apply::Outcome::Failed(e) => {
                        e.to_string()
                    }
                    _ => "not observed".to_string(),
                },
            )),
        }
    }
    (observed, missing)
}
