//! The reconcile driver (the imperative shell): observe every host in one round trip, plan
//! with the pure planner, then carry out the plans in waves. Per-host failures are values in
//! the result; they never stop the other hosts.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::batches::{HostChanges, Policy, schedule};
use crate::daemonset::DaemonSet;
use crate::host_facts::HostFacts;
use crate::host_script::{self, EXIT_LOCKED};
use crate::intent::host_intent;
use crate::inventory::Host;
use crate::observe::{self, Observation};
use crate::plan::Change;
use crate::plan::{ChangeKind, HostIntent, HostPlan, plan_host};
use crate::port_clash;
use crate::progress::{Phase, Progress};
use crate::render::Templates;
use crate::rollout_math::resolve_budget;
use crate::saturate;
use crate::ssh::{ExecOutput, RemoteHost};
use crate::surge;

/// How a run treats hosts.
#[derive(Clone)]
pub struct Settings {
    pub parallel: usize,
    pub lock_timeout_secs: u64,
    /// Who holds the lock while a script runs (shown to a second, waiting dsctl).
    pub holder: String,
    pub dry_run: bool,
    pub prune: bool,
    /// Observe unit contents and older revisions' specs too (`diff`, `rollout history`).
    pub full_observe: bool,
    /// `rollout restart`: restart this DaemonSet's instances within its budget.
    pub restart: Option<String>,
    /// Where the rollout's progress goes (bars, lines or nothing).
    pub progress: Arc<dyn Progress>,
    /// `--max-unreachable`: beyond it, no disruptive wave starts.
    pub max_unreachable: Option<crate::unreachable::MaxUnreachable>,
    /// `rollout resume|undo`: this DaemonSet's halted hosts no longer hold its rollout.
    pub lift_halt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", content = "error", rename_all = "lowercase")]
pub enum Outcome {
    /// In sync: nothing to do.
    Unchanged,
    /// Changes were planned and (unless a dry run) carried out.
    Changed,
    /// Changes were planned but not carried out: a dry run.
    Planned,
    /// The host could not be reached or observed.
    Unreachable(String),
    /// The host's script failed (or its lock was held too long).
    Failed(String),
    /// Not changed because an earlier wave failed.
    Halted(String),
}

impl Outcome {
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Outcome::Unreachable(_) | Outcome::Failed(_) | Outcome::Halted(_)
        )
    }
}

/// What happened on one host.
#[derive(Debug, Clone, Serialize)]
pub struct HostRun {
    pub host: String,
    pub outcome: Outcome,
    pub plan: Option<HostPlan>,
    #[serde(skip)]
    pub observation: Option<Observation>,
    pub connections: u32,
    /// Exec round trips (each one channel, one script).
    pub round_trips: u32,
}

/// What decides the intent of each host once it is observed.
pub enum Desired<'a> {
    /// Converge to these specs.
    Specs {
        specs: &'a [DaemonSet],
        templates: &'a Templates,
    },
    /// Remove these DaemonSets (`delete`).
    Remove(&'a [String]),
    /// Only observe (`get`).
    Nothing,
}

/// Runs the whole reconcile over `hosts`, connecting through `connect`.
pub async fn run<R, E, C, F>(
    hosts: &[Host],
    desired: &Desired<'_>,
    settings: &Settings,
    connect: C,
) -> Vec<HostRun>
where
    R: RemoteHost + Send + Sync + 'static,
    E: std::fmt::Display,
    C: Fn(Host) -> F,
    F: Future<Output = Result<R, E>> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(settings.parallel.max(1)));
    let observe_script = Arc::new(observe::script(settings.full_observe));
    let mut tasks = Vec::with_capacity(hosts.len());
    for host in hosts {
        let limit = limit.clone();
        let script = observe_script.clone();
        let connecting = connect(host.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let remote = connecting.await.map_err(|e| e.to_string())?;
            let observation = observe_on(&remote, &script).await;
            Ok::<_, String>((remote, observation))
        }));
    }

    let mut runs = Vec::with_capacity(hosts.len());
    let mut remotes: Vec<Option<Arc<R>>> = Vec::with_capacity(hosts.len());
    for (host, task) in hosts.iter().zip(tasks) {
        let joined = task
            .await
            .unwrap_or_else(|e| Err(format!("internal error: {e}")));
        let mut run = HostRun {
            host: host.name.clone(),
            outcome: Outcome::Unchanged,
            plan: None,
            observation: None,
            connections: 0,
            round_trips: 0,
        };
        match joined {
            Err(error) => {
                run.outcome = Outcome::Unreachable(error);
                remotes.push(None);
            }
            Ok((remote, observed)) => {
                match observed.and_then(|obs| plan_for(host, obs, desired, settings)) {
                    Ok((obs, Err(refused))) => {
                        run.outcome = Outcome::Failed(refused);
                        run.observation = Some(obs);
                    }
                    Ok((obs, Ok(plan))) => {
                        run.outcome = if plan.is_empty() {
                            Outcome::Unchanged
                        } else if settings.dry_run {
                            Outcome::Planned
                        } else {
                            Outcome::Changed
                        };
                        run.plan = Some(plan);
                        run.observation = Some(obs);
                    }
                    Err(error) => run.outcome = Outcome::Unreachable(error),
                }
                remotes.push(Some(Arc::new(remote)));
            }
        }
        runs.push(run);
    }

    if !settings.dry_run {
        if let Desired::Specs { specs, templates } = desired {
            roll_out(&mut runs, &remotes, hosts, specs, templates, settings).await;
        } else {
            let all: Vec<usize> = (0..runs.len()).collect();
            execute_wave(&mut runs, &remotes, &all, settings).await;
        }
    }
    for (run, remote) in runs.iter_mut().zip(&remotes) {
        if let Some(remote) = remote {
            let stats = remote.stats();
            run.connections = stats.connections;
            run.round_trips = stats.execs;
        }
    }
    runs
}

async fn observe_on<R: RemoteHost>(remote: &R, script: &str) -> Result<Observation, String> {
    let out = remote.exec(script, None).await.map_err(|e| e.to_string())?;
    if out.status != 0 {
        return Err(format!(
            "observe failed (exit {}): {}",
            out.status,
            tail(&out.stderr)
        ));
    }
    observe::parse(&String::from_utf8_lossy(&out.stdout)).map_err(|e| e.to_string())
}

/// The host's plan, or (inner `Err`) why nothing may change on it; `Err` when it cannot be
/// planned at all.
#[allow(clippy::type_complexity)]
fn plan_for(
    host: &Host,
    observed: Observation,
    desired: &Desired<'_>,
    settings: &Settings,
) -> Result<(Observation, Result<HostPlan, String>), String> {
    let intent = match desired {
        Desired::Specs { specs, templates } => {
            let flavor = host
                .settings
                .unit_flavor
                .unwrap_or_else(|| observed.detected_flavor());
            let facts = HostFacts::observed(host, &observed.host);
            let mut intent = host_intent(specs, host, &facts, flavor, templates, settings.prune)
                .map_err(|e| e.to_string())?;
            intent.restart.extend(settings.restart.clone());
            let clashes = port_clash::host_clashes(specs, &intent, &observed);
            if let Some(refused) = port_clash::refusal(&clashes) {
                return Ok((observed, Err(refused)));
            }
            intent
        }
        Desired::Remove(names) => crate::intent::removal_intent(names.iter().map(String::as_str)),
        Desired::Nothing => HostIntent::default(),
    };
    let plan = plan_host(&intent, &observed);
    Ok((observed, Ok(plan)))
}

/// The rollout: pull images first; then the calm hosts (creates, heals, removals: their
/// instances are unavailable already, so Kubernetes replaces them outside the budget); then
/// the hosts that take an available instance down, in waves within each DaemonSet's budget
/// less what is still unavailable. Every wave must become available before the next starts;
/// a disruptive wave that fails halts the rest (and, with `autoRevert`, goes back).
async fn roll_out<R: RemoteHost + Send + Sync + 'static>(
    runs: &mut [HostRun],
    remotes: &[Option<Arc<R>>],
    hosts: &[Host],
    specs: &[DaemonSet],
    templates: &Templates,
    settings: &Settings,
) {
    let pull_failures = pull_images(runs, remotes, specs, settings).await;
    let disrupts = |r: &HostRun| r.plan.iter().flat_map(|p| &p.changes).any(|c| c.disruptive);
    let calm: Vec<usize> = (0..runs.len())
        .filter(|i| runs[*i].outcome == Outcome::Changed && !disrupts(&runs[*i]))
        .collect();
    let ctx = WaveContext {
        remotes,
        hosts,
        specs,
        templates,
        settings,
    };
    if !calm.is_empty() {
        run_wave(runs, &ctx, &calm, "calm").await;
    }
    if let Some(limit) = settings.max_unreachable {
        let down: Vec<&str> = runs
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Unreachable(_)))
            .map(|r| r.host.as_str())
            .collect();
        if let Some(why) = crate::unreachable::refusal(limit, &down, runs.len()) {
            for (i, run) in runs.iter_mut().enumerate() {
                if run.outcome == Outcome::Changed && disrupts(run) {
                    run.outcome = Outcome::Halted(why.clone());
                    settings.progress.host(&hosts[i].name, Phase::Halted);
                }
            }
            return;
        }
    }

    let policies = policies(
        runs,
        hosts,
        specs,
        &pull_failures,
        settings.lift_halt.as_deref(),
    );
    let changes: Vec<HostChanges> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.outcome == Outcome::Changed && disrupts(r))
        .map(|(i, r)| HostChanges {
            host: i,
            labels: &hosts[i].labels,
            disrupts: r
                .plan
                .iter()
                .flat_map(|p| &p.changes)
                .filter(|c| c.disruptive)
                .map(|c| c.daemonset.as_str())
                .collect(),
        })
        .collect();
    let schedule = schedule(&changes, &policies);
    for ((i, ds), reason) in &schedule.held {
        let run = &mut runs[*i];
        if let Some(plan) = run.plan.as_mut() {
            plan.changes.retain(|c| c.daemonset != *ds);
            plan.notes.push(format!("{ds}: held back: {reason}"));
            let halted = policies.get(ds).map_or(&[][..], |p| &p.halted[..]);
            if !halted.is_empty() {
                // A rollout halted by an earlier run stays halted, and says so (cron mails it).
                run.outcome = Outcome::Halted(format!(
                    "rollout halted: {} did not become available at this revision \
                     (dsctl rollout status {ds}; resume or undo lifts it)",
                    halted.join(", ")
                ));
            } else if plan.changes.is_empty() && run.outcome == Outcome::Changed {
                run.outcome = Outcome::Unchanged;
            }
        }
    }
    let waves = schedule.waves.len();
    for (k, wave) in schedule.waves.iter().enumerate() {
        for &i in wave {
            settings
                .progress
                .host(&hosts[i].name, Phase::Waiting { wave: k + 1, waves });
        }
    }
    let mut halted_by: Option<String> = None;
    for (k, wave) in schedule.waves.into_iter().enumerate() {
        match &halted_by {
            Some(why) => {
                for i in wave {
                    if runs[i].outcome == Outcome::Changed {
                        runs[i].outcome = Outcome::Halted(why.clone());
                        settings.progress.host(&hosts[i].name, Phase::Halted);
                    }
                }
            }
            None => halted_by = run_wave(runs, &ctx, &wave, &format!("{}/{waves}", k + 1)).await,
        }
    }
}

/// What every wave of one rollout shares.
struct WaveContext<'a, R> {
    remotes: &'a [Option<Arc<R>>],
    hosts: &'a [Host],
    specs: &'a [DaemonSet],
    templates: &'a Templates,
    settings: &'a Settings,
}

/// Runs one wave's scripts, waits until it is available, and on failure reverts (where asked)
/// and records the halt. Returns why the rollout halts, if it does.
async fn run_wave<R: RemoteHost + Send + Sync + 'static>(
    runs: &mut [HostRun],
    ctx: &WaveContext<'_, R>,
    wave: &[usize],
    label: &str,
) -> Option<String> {
    let (remotes, hosts, specs, settings) = (ctx.remotes, ctx.hosts, ctx.specs, ctx.settings);
    let started = std::time::Instant::now();
    let deadline = wave
        .iter()
        .flat_map(|i| runs[*i].plan.iter().flat_map(|p| &p.changes))
        .map(|c| progress_deadline(specs, &c.daemonset))
        .max()
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECS);
    surge_up(runs, ctx, wave, Duration::from_secs(deadline)).await;
    let surge_time = started.elapsed();
    for &i in wave
        .iter()
        .filter(|i| runs[**i].outcome == Outcome::Changed)
    {
        settings.progress.host(
            &hosts[i].name,
            Phase::Updating {
                wave: label.to_string(),
            },
        );
    }
    let host_work = execute_wave(runs, remotes, wave, settings).await;
    for &i in wave
        .iter()
        .filter(|i| runs[**i].outcome == Outcome::Changed)
    {
        settings.progress.host(&hosts[i].name, Phase::Probing);
    }
    let scripts_done = std::time::Instant::now();
    gate_wave(runs, remotes, wave, specs, Duration::from_secs(deadline)).await;
    let probes_done = std::time::Instant::now();
    for &i in wave {
        match &runs[i].outcome {
            Outcome::Changed => settings.progress.host(&hosts[i].name, Phase::Available),
            Outcome::Failed(e) => settings
                .progress
                .host(&hosts[i].name, Phase::Failed(e.clone())),
            _ => {}
        }
    }
    let failed: Vec<usize> = wave
        .iter()
        .copied()
        .filter(|i| runs[*i].outcome.is_error())
        .collect();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let probes = probes_done - scripts_done;
    tracing::info!(
        "wave {label}: {} hosts, surge {:.1} ms, host work {:.1} ms, probe waits {:.1} ms, dsctl overhead {:.1} ms",
        wave.len(),
        ms(surge_time),
        ms(host_work),
        ms(probes),
        ms((started.elapsed()).saturating_sub(probes + host_work + surge_time)),
    );
    if failed.is_empty() {
        return None;
    }
    for &i in &failed {
        let revert_it = runs[i]
            .plan
            .iter()
            .flat_map(|p| &p.changes)
            .any(|c| c.kind == ChangeKind::Update && auto_revert(specs, &c.daemonset));
        if revert_it {
            revert(
                &mut runs[i],
                remotes[i].as_deref(),
                &hosts[i],
                ctx.templates,
                settings,
            )
            .await;
        }
    }
    mark_halted(runs, remotes, &failed).await;
    let names: Vec<&str> = failed.iter().map(|i| hosts[*i].name.as_str()).collect();
    Some(format!(
        "rollout halted: {} did not become available",
        names.join(", ")
    ))
}

/// maxSurge: on each host of the wave that replaces an available instance of a surge
/// DaemonSet, starts the new revision's pod beside the old one (`surge.rs`) and waits until it
/// is available, so the host always has an available instance; the wave's own script then
/// stops and removes the old pod. A host whose new pod does not become available in time has it
/// removed again, keeps its old instance untouched, and fails (which halts the rollout).
async fn surge_up<R: RemoteHost + Send + Sync + 'static>(
    runs: &mut [HostRun],
    ctx: &WaveContext<'_, R>,
    wave: &[usize],
    deadline: Duration,
) -> usize {
    let until = saturate::instant_after(tokio::time::Instant::now(), deadline);
    let mut tasks = Vec::new();
    for &i in wave {
        let run = &runs[i];
        let (Some(remote), Some(plan)) = (ctx.remotes[i].clone(), run.plan.as_ref()) else {
            continue;
        };
        if run.outcome != Outcome::Changed {
            continue;
        }
        let surging: Vec<(DaemonSet, Change)> = plan
            .changes
            .iter()
            .filter(|c| c.disruptive)
            .filter_map(|c| {
                let ds = ctx.specs.iter().find(|s| s.name() == c.daemonset)?;
                (surge::max_surge(ds, 1) > 0).then(|| (ds.clone(), surge::up(c)))
            })
            .collect();
        if surging.is_empty() {
            continue;
        }
        ctx.settings
            .progress
            .host(&ctx.hosts[i].name, Phase::Surging);
        let (lock_timeout, holder) = (ctx.settings.lock_timeout_secs, ctx.settings.holder.clone());
        tasks.push((
            i,
            tokio::spawn(async move {
                surge_host(remote.as_ref(), surging, until, lock_timeout, &holder).await
            }),
        ));
    }
    let surged = tasks.len();
    for (i, task) in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => runs[i].outcome = Outcome::Failed(e),
            Err(e) => runs[i].outcome = Outcome::Failed(format!("internal error: {e}")),
        }
    }
    surged
}

/// Starts one host's new pods in one exec and waits until each is available; removes them
/// again when one is not.
async fn surge_host<R: RemoteHost>(
    remote: &R,
    surging: Vec<(DaemonSet, Change)>,
    until: tokio::time::Instant,
    lock_timeout: u64,
    holder: &str,
) -> Result<(), String> {
    let changes: Vec<Change> = surging.iter().map(|(_, c)| c.clone()).collect();
    let result = async {
        let out = remote
            .exec(&host_script::script(&changes, lock_timeout, holder), None)
            .await
            .map_err(|e| e.to_string())?;
        if let Outcome::Failed(e) = script_outcome(&out) {
            return Err(e);
        }
        for (ds, change) in &surging {
            crate::probe::wait_available(remote, ds, until, |_| {})
                .await
                .map_err(|e| format!("daemonset/{}: {e}", change.daemonset))?;
        }
        Ok(())
    }
    .await;
    let Err(e) = result else {
        return Ok(());
    };
    let downs: Vec<Change> = changes.iter().map(surge::down).collect();
    let cleanup = match remote
        .exec(&host_script::script(&downs, lock_timeout, holder), None)
        .await
        .map_err(|e| e.to_string())
        .map(|out| script_outcome(&out))
    {
        Ok(Outcome::Failed(c)) | Err(c) => {
            format!("removing it failed ({c}); the next apply removes it")
        }
        Ok(_) => "it was removed".to_string(),
    };
    Err(format!(
        "{e}\nmaxSurge: the new instance did not become available beside the old one; {cleanup}, \
         and the old instance was left running"
    ))
}

/// Leaves the reason on each failed host (`rollout status` reports it) until a later apply
/// records the DaemonSet there again.
async fn mark_halted<R: RemoteHost>(
    runs: &[HostRun],
    remotes: &[Option<Arc<R>>],
    failed: &[usize],
) {
    for &i in failed {
        let (Some(remote), Outcome::Failed(why)) = (&remotes[i], &runs[i].outcome) else {
            continue;
        };
        for change in runs[i].plan.iter().flat_map(|p| &p.changes) {
            let script = host_script::halted_script(&change.daemonset, why);
            if let Err(e) = remote.exec(&script, None).await {
                tracing::warn!("{}: could not record the halt: {e}", runs[i].host);
            }
        }
    }
}

/// A rollout batch that is not available within this long halts the rollout.
pub const DEFAULT_PROGRESS_DEADLINE_SECS: u64 = 300;

fn extensions<'a>(specs: &'a [DaemonSet], name: &str) -> Option<&'a crate::daemonset::Extensions> {
    specs
        .iter()
        .find(|s| s.name() == name)
        .and_then(|s| s.dsctl.as_ref())
}

fn progress_deadline(specs: &[DaemonSet], name: &str) -> u64 {
    extensions(specs, name)
        .and_then(|x| x.progress_deadline_seconds)
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECS)
}

fn auto_revert(specs: &[DaemonSet], name: &str) -> bool {
    extensions(specs, name).is_some_and(|x| x.auto_revert)
}

/// Each DaemonSet's rollout policy: maxUnavailable against the hosts that should run it, the
/// hosts that are unavailable now, partition, canary and pause. A DaemonSet whose image could
/// not be pulled somewhere gets no budget at all: nothing may be disrupted for it.
fn policies(
    runs: &[HostRun],
    hosts: &[Host],
    specs: &[DaemonSet],
    pull_failures: &BTreeMap<String, Vec<String>>,
    lift_halt: Option<&str>,
) -> BTreeMap<String, Policy> {
    specs
        .iter()
        .map(|ds| {
            let name = ds.name();
            // Unreachable hosts count as desired too, by their inventory labels (their
            // well-known labels are not observed).
            let desired: Vec<usize> = (0..runs.len())
                .filter(|i| {
                    let host = &hosts[*i];
                    let node = match &runs[*i].observation {
                        Some(o) => HostFacts::observed(host, &o.host).node(host),
                        None => host.clone(),
                    };
                    crate::eligibility::node_should_run_daemon_pod(ds, &node).should_run
                })
                .collect();
            let revision = crate::revision::revision(ds);
            let halted_here = |o: &Observation, name: &str| {
                lift_halt != Some(name)
                    && o.daemonsets
                        .get(name)
                        .is_some_and(|r| r.halted_at(&revision))
            };
            let unavailable: Vec<String> = match pull_failures.get(name) {
                Some(failed) => failed.clone(),
                None => desired
                    .iter()
                    .filter(|i| match &runs[**i].outcome {
                        // Unreachable, or a heal or create that did not become available.
                        outcome if outcome.is_error() => true,
                        // Healed in the calm wave, or active and about to be updated.
                        Outcome::Changed => false,
                        _ => runs[**i].observation.as_ref().is_some_and(|o| {
                            (o.daemonsets.contains_key(name) && !o.instance_active(name))
                                || halted_here(o, name)
                        }),
                    })
                    .map(|i| match &runs[*i].observation {
                        Some(o) if halted_here(o, name) => format!(
                            "{} (its rollout of revision {revision} halted; dsctl rollout resume \
                             or undo lifts it)",
                            hosts[*i].name
                        ),
                        _ => hosts[*i].name.clone(),
                    })
                    .collect(),
            };
            let max_unavailable = if pull_failures.contains_key(name) {
                0
            } else {
                resolve_budget(&ds.spec.update_strategy, desired.len())
                    .map(|b| b.max_unavailable)
                    .unwrap_or(1)
            };
            let updated = desired
                .iter()
                .filter(|i| {
                    let rec = runs[**i]
                        .observation
                        .as_ref()
                        .and_then(|o| o.daemonsets.get(name));
                    rec.and_then(|r| r.revision.as_deref()) == Some(revision.as_str())
                })
                .count();
            let max_surge = if pull_failures.contains_key(name) {
                0
            } else {
                surge::max_surge(ds, desired.len())
            };
            let ext = ds.dsctl.clone().unwrap_or_default();
            let halted: Vec<String> = desired
                .iter()
                .filter(|i| {
                    runs[**i]
                        .observation
                        .as_ref()
                        .is_some_and(|o| halted_here(o, name))
                })
                .map(|i| hosts[*i].name.clone())
                .collect();
            let policy = Policy {
                halted,
                max_unavailable,
                max_surge,
                unavailable,
                updated,
                partition: ext.partition.map(|p| p as usize),
                canary: ext.canary_selector,
                paused: ext.paused,
            };
            (name.to_string(), policy)
        })
        .collect()
}

/// Pulls (or checks) the images of every DaemonSet that will be installed or updated, on every
/// host that will get it, before anything is stopped. Returns the hosts that failed, by
/// DaemonSet; those hosts are marked failed.
async fn pull_images<R: RemoteHost + Send + Sync + 'static>(
    runs: &mut [HostRun],
    remotes: &[Option<Arc<R>>],
    specs: &[DaemonSet],
    settings: &Settings,
) -> BTreeMap<String, Vec<String>> {
    let limit = Arc::new(Semaphore::new(settings.parallel.max(1)));
    let mut tasks = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let (Some(remote), Some(plan)) = (remotes[i].clone(), run.plan.as_ref()) else {
            continue;
        };
        let installing: Vec<&DaemonSet> = plan
            .changes
            .iter()
            .filter(|c| {
                matches!(
                    c.kind,
                    ChangeKind::Create | ChangeKind::Update | ChangeKind::Heal
                )
            })
            .filter_map(|c| specs.iter().find(|s| s.name() == c.daemonset))
            .collect();
        if installing.is_empty() || run.outcome != Outcome::Changed {
            continue;
        }
        settings.progress.host(&run.host, Phase::Pulling);
        let script = crate::images::pull_script(&installing);
        let names: Vec<String> = installing.iter().map(|d| d.name().to_string()).collect();
        let limit = limit.clone();
        tasks.push((
            i,
            names,
            tokio::spawn(async move {
                let _permit = limit
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                remote.exec(&script, None).await
            }),
        ));
    }
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, names, task) in tasks {
        let error = match task.await {
            Ok(Ok(out)) if out.status == 0 => continue,
            Ok(Ok(out)) => format!(
                "image pull failed, nothing was stopped: {}",
                tail(&out.stderr)
            ),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("internal error: {e}"),
        };
        runs[i].outcome = Outcome::Failed(error);
        for name in names {
            failures.entry(name).or_default().push(runs[i].host.clone());
        }
    }
    failures
}

/// Waits until every DaemonSet a wave installed or updated is available on each of its hosts.
async fn gate_wave<R: RemoteHost + Send + Sync + 'static>(
    runs: &mut [HostRun],
    remotes: &[Option<Arc<R>>],
    wave: &[usize],
    specs: &[DaemonSet],
    deadline: Duration,
) {
    let until = saturate::instant_after(tokio::time::Instant::now(), deadline);
    let mut tasks = Vec::new();
    for &i in wave {
        let (Some(remote), Some(plan)) = (remotes[i].clone(), runs[i].plan.as_ref()) else {
            continue;
        };
        if runs[i].outcome != Outcome::Changed {
            continue;
        }
        let gated: Vec<DaemonSet> = plan
            .changes
            .iter()
            // Removals leave nothing to probe, and OnDelete's record of a new revision starts
            // nothing: its instance of that revision does not exist yet.
            .filter(|c| {
                !matches!(
                    c.kind,
                    ChangeKind::Remove | ChangeKind::Prune | ChangeKind::Record
                )
            })
            .filter_map(|c| specs.iter().find(|s| s.name() == c.daemonset).cloned())
            .collect();
        tasks.push((
            i,
            tokio::spawn(async move {
                for ds in &gated {
                    crate::probe::wait_available(remote.as_ref(), ds, until, |_| {})
                        .await
                        .map_err(|e| format!("daemonset/{}: {e}", ds.name()))?;
                }
                Ok::<(), String>(())
            }),
        ));
    }
    for (i, task) in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => runs[i].outcome = Outcome::Failed(e),
            Err(e) => runs[i].outcome = Outcome::Failed(format!("internal error: {e}")),
        }
    }
}

/// Puts a host of a halted wave back on the revision it ran before (auto-revert): observe it
/// again and converge it to the spec it had recorded.
async fn revert<R: RemoteHost>(
    run: &mut HostRun,
    remote: Option<&R>,
    host: &Host,
    templates: &Templates,
    settings: &Settings,
) {
    let (Some(remote), Some(before)) = (remote, run.observation.as_ref()) else {
        return;
    };
    let previous: Vec<DaemonSet> = run
        .plan
        .iter()
        .flat_map(|p| &p.changes)
        .filter(|c| c.kind == ChangeKind::Update)
        .filter_map(|c| before.daemonsets.get(&c.daemonset)?.spec_json.as_deref())
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect();
    let why = match &run.outcome {
        Outcome::Failed(e) => e.clone(),
        other => format!("{other:?}"),
    };
    let result = async {
        let now = observe_on(remote, &observe::script(false)).await?;
        let flavor = host
            .settings
            .unit_flavor
            .unwrap_or_else(|| now.detected_flavor());
        let intent = host_intent(
            &previous,
            host,
            &HostFacts::observed(host, &now.host),
            flavor,
            templates,
            false,
        )
        .map_err(|e| e.to_string())?;
        let plan = plan_host(&intent, &now);
        let script =
            host_script::script(&plan.changes, settings.lock_timeout_secs, &settings.holder);
        let out = remote
            .exec(&script, None)
            .await
            .map_err(|e| e.to_string())?;
        match script_outcome(&out) {
            Outcome::Changed => Ok(()),
            Outcome::Failed(e) => Err(e),
            other => Err(format!("{other:?}")),
        }
    }
    .await;
    run.outcome = Outcome::Failed(match result {
        Ok(()) => format!("{why}\nauto-revert: back on the previous revision"),
        Err(e) => format!("{why}\nauto-revert failed: {e}"),
    });
}

async fn execute_wave<R: RemoteHost + Send + Sync + 'static>(
    runs: &mut [HostRun],
    remotes: &[Option<Arc<R>>],
    wave: &[usize],
    settings: &Settings,
) -> Duration {
    let limit = Arc::new(Semaphore::new(settings.parallel.max(1)));
    let mut tasks = Vec::new();
    for &i in wave {
        let (Some(remote), Some(plan)) = (remotes[i].clone(), runs[i].plan.as_ref()) else {
            continue;
        };
        if plan.is_empty() || runs[i].outcome.is_error() {
            continue;
        }
        let script =
            host_script::script(&plan.changes, settings.lock_timeout_secs, &settings.holder);
        let limit = limit.clone();
        tasks.push((
            i,
            tokio::spawn(async move {
                let _permit = limit
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                remote.exec(&script, None).await
            }),
        ));
    }
    let mut host_work = Duration::ZERO;
    for (i, task) in tasks {
        runs[i].outcome = match task.await {
            Ok(Ok(out)) => {
                host_work = host_work.max(host_time(&out.stdout));
                script_outcome(&out)
            }
            Ok(Err(e)) => Outcome::Failed(e.to_string()),
            Err(e) => Outcome::Failed(format!("internal error: {e}")),
        };
    }
    host_work
}

/// What the host reported as its own time for the script (`done <nanoseconds>`).
fn host_time(stdout: &[u8]) -> Duration {
    let text = String::from_utf8_lossy(stdout);
    let nanos = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("done ")?.trim().parse::<u64>().ok());
    Duration::from_nanos(nanos.unwrap_or(0))
}

fn script_outcome(out: &ExecOutput) -> Outcome {
    match out.status {
        0 => Outcome::Changed,
        EXIT_LOCKED => Outcome::Failed(format!("lock wait timed out; {}", tail(&out.stderr))),
        code => Outcome::Failed(format!("exit {code}: {}", tail(&out.stderr))),
    }
}

/// The last lines of a command's stderr, for an error message.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}
