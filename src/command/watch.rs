//! `dsctl apply --watch`: one long-lived process that keeps a connection to every host and
//! runs the apply driver every interval (one observe exec per host in sync), heals drift with
//! the same health-gated rules, reconnects with backoff, reloads changed files, and logs one
//! line per change. The decisions are in `watch.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use crate::apply::{Desired, Outcome, Settings};
use crate::cli::ApplyArgs;
use crate::command::hosts::{self, Connecting};
use crate::daemonset::DaemonSet;
use crate::inventory::Host;
use crate::render::Templates;
use crate::ssh::{ConnectOptions, Connector, RemoteHost, Session, SshError, StatsSnapshot};
use crate::watch::{Seen, Stamp, backoff, log_lines, next_cycle};
use crate::{metrics, ssh_config};

/// What one cycle converges to; replaced only by a reload that loads without errors.
struct Loaded {
    specs: Vec<DaemonSet>,
    hosts: Vec<Host>,
    templates: Templates,
}

fn load(args: &ApplyArgs) -> Result<Loaded, i32> {
    Ok(Loaded {
        specs: hosts::specs(&args.specs.files)?,
        hosts: hosts::targets(&args.connect)?,
        templates: hosts::templates(args.templates.as_deref())?,
    })
}

/// The files whose change triggers a reload.
fn watched(args: &ApplyArgs) -> Vec<PathBuf> {
    let mut paths = args.specs.files.clone();
    paths.push(args.connect.inventory.inventory.clone());
    paths.extend(args.templates.clone());
    paths
}

/// A host's kept connection and its reconnect backoff.
#[derive(Default)]
struct Slot {
    host: Option<Host>,
    session: Option<Arc<Session>>,
    failures: u32,
    retry_at: Option<Instant>,
}

type Slots = Arc<Mutex<BTreeMap<String, Slot>>>;

/// A kept session, shared between cycles.
struct Kept(Arc<Session>);

impl RemoteHost for Kept {
    type Tunnel = <Session as RemoteHost>::Tunnel;

    fn name(&self) -> &str {
        self.0.name()
    }

    fn exec(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<crate::ssh::ExecOutput, SshError>> + Send {
        self.0.exec(script, stdin)
    }

    fn open_tcp(&self, port: u16) -> impl Future<Output = Result<Self::Tunnel, SshError>> + Send {
        self.0.open_tcp(port)
    }

    fn open_tcp_to(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Self::Tunnel, SshError>> + Send {
        RemoteHost::open_tcp_to(self.0.as_ref(), host, port)
    }

    fn stats(&self) -> StatsSnapshot {
        self.0.stats()
    }
}

/// Hands out each host's kept session, or connects (once its backoff has passed). A new
/// Connector per cycle, so a bastion that failed is tried again next cycle.
fn connector(
    args: &ApplyArgs,
    slots: Slots,
    interval: Duration,
) -> impl Fn(Host) -> std::pin::Pin<Box<dyn Future<Output = Result<Kept, String>> + Send>> + use<> {
    let connector = Arc::new(Connector::new(ConnectOptions {
        connect_timeout: Duration::from_secs(args.connect.connect_timeout),
        exec_timeout: Duration::from_secs(args.connect.exec_timeout),
        accept_new_host_keys: args.connect.accept_new_host_keys,
        ..ConnectOptions::default()
    }));
    move |host: Host| {
        let (connector, slots) = (connector.clone(), slots.clone());
        let name = host.name.clone();
        Box::pin(async move {
            {
                let mut slots = slots.lock().expect("slots lock");
                let slot = slots.entry(host.name.clone()).or_default();
                if slot.host.as_ref() != Some(&host) {
                    // New, or its inventory entry changed: connect afresh.
                    *slot = Slot {
                        host: Some(host.clone()),
                        ..Slot::default()
                    };
                }
                if let Some(session) = slot.session.as_ref().filter(|s| !s.is_closed()) {
                    return Ok(Kept(session.clone()));
                }
                slot.session = None;
                if let Some(at) = slot.retry_at.filter(|at| *at > Instant::now()) {
                    return Err(format!(
                        "reconnecting in {:.0?} ({} failed attempts)",
                        at - Instant::now(),
                        slot.failures
                    ));
                }
            }
            let connecting: Connecting = Box::pin(async move {
                let target = ssh_config::resolve_host(&host)
                    .await
                    .map_err(|e| e.to_string())?;
                connector.connect(&target).await.map_err(|e| e.to_string())
            });
            let result = connecting.await;
            let mut slots = slots.lock().expect("slots lock");
            let Some(slot) = slots.get_mut(&name) else {
                return result.map(|s| Kept(Arc::new(s)));
            };
            match result {
                Ok(session) => {
                    let session = Arc::new(session);
                    slot.session = Some(session.clone());
                    slot.failures = 0;
                    slot.retry_at = None;
                    Ok(Kept(session))
                }
                Err(e) => {
                    slot.failures += 1;
                    slot.retry_at = Some(Instant::now() + backoff(slot.failures, interval));
                    Err(e)
                }
            }
        }) as std::pin::Pin<Box<dyn Future<Output = Result<Kept, String>> + Send>>
    }
}

/// Runs until SIGTERM or SIGINT; returns the exit code (0 on a signal).
pub fn run(args: ApplyArgs, settings: Settings, interval: Duration) -> anyhow::Result<i32> {
    let mut loaded = match load(&args) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let runtime = hosts::runtime();
    let code = runtime.block_on(async move {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let paths = watched(&args);
        let mut stamp = Stamp::of(&paths);
        let slots: Slots = Default::default();
        let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
        let started = Instant::now();
        crate::errln!(
            "dsctl apply --watch: {} hosts, {} DaemonSets, every {interval:?}",
            loaded.hosts.len(),
            loaded.specs.len()
        );
        loop {
            let cycle_start = started.elapsed();
            let now = Stamp::of(&paths);
            if now != stamp {
                stamp = now;
                match load(&args) {
                    Ok(l) => {
                        crate::outln!(
                            "reloaded: {} hosts, {} DaemonSets",
                            l.hosts.len(),
                            l.specs.len()
                        )?;
                        loaded = l;
                    }
                    Err(_) => crate::outln!(
                        "reload failed (see above): still converging to the previous specs and inventory"
                    )?,
                }
            }
            // Hosts no longer in the inventory are let go.
            slots
                .lock()
                .expect("slots lock")
                .retain(|name, _| loaded.hosts.iter().any(|h| &h.name == name));
            let desired = Desired::Specs {
                specs: &loaded.specs,
                templates: &loaded.templates,
            };
            let connect = connector(&args, slots.clone(), interval);
            let cycle = crate::apply::run(&loaded.hosts, &desired, &settings, connect);
            let runs = tokio::select! {
                runs = cycle => runs,
                _ = term.recv() => break,
                _ = int.recv() => break,
            };
            {
                // A host that could not be observed gets a new connection next time.
                let mut slots = slots.lock().expect("slots lock");
                for run in runs
                    .iter()
                    .filter(|r| matches!(r.outcome, Outcome::Unreachable(_)))
                {
                    if let Some(slot) = slots.get_mut(&run.host) {
                        slot.session = None;
                    }
                }
            }
            tracing::debug!(
                "cycle: {} hosts in {:?}",
                runs.len(),
                started.elapsed().saturating_sub(cycle_start)
            );
            let (lines, now_seen) = log_lines(&seen, &runs);
            seen = now_seen;
            for line in lines {
                crate::outln!("{line}")?;
            }
            if crate::output::reader_gone() {
                break;
            }
            if let Some(path) = &args.metrics_file {
                let failed = runs.iter().any(|r| r.outcome.is_error());
                let finished = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let text = metrics::render(
                    metrics::Counts::of(&runs),
                    started.elapsed().saturating_sub(cycle_start),
                    finished,
                    i32::from(failed),
                );
                if let Err(e) = metrics::write_atomically(path, &text) {
                    crate::errln!("--metrics-file {}: {e}", path.display());
                }
            }
            drop(runs);
            let wake = started + next_cycle(cycle_start, interval, started.elapsed());
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        crate::errln!("dsctl apply --watch: stopped");
        Ok::<i32, std::io::Error>(0)
    })?;
    // Whatever is still in flight (an `ssh -G`, a half-sent script) is dropped, not awaited:
    // the hosts' scripts are idempotent and locked, so the next run finishes them.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(code)
}
