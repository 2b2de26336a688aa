//! The reconcile driver (the imperative shell): observe every host in one round trip, plan
//! with the pure planner, then carry out the plans in waves. Per-host failures are values in
//! the result; they never stop the other hosts.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::batches::schedule;
use crate::daemonset::DaemonSet;
use crate::fan_out::Reach;
use crate::host_facts::HostFacts;
use crate::host_script;
use crate::intent::host_intent;
use crate::inventory::Host;
use crate::observe::{self, Observation};
use crate::plan::Change;
use crate::plan::{ChangeKind, HostIntent, HostPlan, Placement, plan_host};
use crate::port_clash;
use crate::progress::{Phase, Progress};
use crate::render::Templates;
use crate::rollout::budget::{self, disrupts};
pub use crate::rollout::deadline::DEFAULT_PROGRESS_DEADLINE_SECS;
use crate::rollout::deadline::{auto_revert, wave_deadline};
use crate::rollout::results::{host_time, script_outcome};
use crate::saturate;
use crate::ssh::RemoteHost;
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
    /// Sessions of hosts to change kept from the observe to their wave (`KEEP_CHANGED`).
    pub keep_sessions: usize,
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

impl HostRun {
    fn new(host: &str) -> HostRun {
        HostRun {
            host: host.to_string(),
            outcome: Outcome::Unchanged,
            plan: None,
            observation: None,
            connections: 0,
            round_trips: 0,
        }
    }

    /// Adds the counters of a session this run is done with.
    fn count(&mut self, stats: &crate::ssh::StatsSnapshot) {
        self.connections += stats.connections;
        self.round_trips += stats.execs;
    }
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

/// How many sessions of hosts it will change a run keeps open by default from the observe to their wave
/// (about 75 KiB each, BENCHMARKS.md). A run that changes more closes them all and connects
/// each host again for its image pull and for its wave, so it holds at most --parallel
/// sessions plus one wave's, at any fleet size.
pub const KEEP_CHANGED: usize = 256;

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
    // The revisions this run brings, whose specs it need not read back (`diff` and `get`
    // show what the hosts hold, so a full observe reads them all).
    let known: Vec<(String, String)> = match desired {
        Desired::Specs { specs, .. } if !settings.full_observe => specs
            .iter()
            .map(|d| (d.name().to_string(), crate::revision::revision(d)))
            .collect(),
        _ => Vec::new(),
    };
    let known: Vec<(&str, &str)> = known
        .iter()
        .map(|(n, r)| (n.as_str(), r.as_str()))
        .collect();
    let observe_script = Arc::new(observe::script(settings.full_observe, &known));
    let dry_run = settings.dry_run;
    let observing = hosts.iter().enumerate().map(|(i, host)| {
        let script = observe_script.clone();
        let connecting = connect(host.clone());
        (i, async move {
            let remote = connecting.await.map_err(|e| e.to_string())?;
            let observation = observe_on(&remote, &script).await;
            if let Ok(obs) = &observation {
                acknowledge_left_runs(&remote, obs, dry_run).await;
            }
            Ok::<_, String>((remote, observation))
        })
    });
    let mut runs: Vec<HostRun> = hosts.iter().map(|h| HostRun::new(&h.name)).collect();
    let mut remotes: Vec<Option<Arc<R>>> = hosts.iter().map(|_| None).collect();
    // Planned as each host answers; a host with nothing left to do in this run closes its
    // session at once, so a no-op holds at most --parallel of them.
    let (mut kept, mut keeping) = (0, true);
    let mut texts = crate::text_pool::TextPool::default();
    crate::fan_out::fan_out(observing, settings.parallel, |i, joined| {
        let run = &mut runs[i];
        match joined.and_then(|r| r) {
            Err(error) => run.outcome = Outcome::Unreachable(error),
            Ok((remote, observed)) => {
                match observed.and_then(|obs| plan_for(&hosts[i], obs, desired, settings)) {
                    Ok((obs, Err(refused))) => {
                        run.outcome = Outcome::Failed(refused);
                        run.observation = Some(obs);
                    }
                    Ok((obs, Ok(mut plan))) => {
                        plan.share_texts(&mut texts);
                        plan.notes
                            .extend(obs.left_runs.iter().map(crate::detached::note));
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
                if run.outcome != Outcome::Changed || !keeping {
                    run.count(&remote.stats());
                    return;
                }
                remotes[i] = Some(Arc::new(remote));
                kept += 1;
                if kept > settings.keep_sessions {
                    keeping = false;
                    close(&mut runs, &mut remotes, 0..hosts.len());
                }
            }
        }
    })
    .await;

    if !settings.dry_run {
        if let Desired::Specs { specs, templates } = desired {
            roll_out(
                &mut runs,
                &mut remotes,
                hosts,
                specs,
                templates,
                settings,
                &connect,
            )
            .await;
        } else {
            let all: Vec<usize> = (0..runs.len()).collect();
            for some in all.chunks(settings.keep_sessions.max(1)) {
                let opened = open_wave(
                    &mut runs,
                    &mut remotes,
                    hosts,
                    some,
                    &connect,
                    settings.parallel,
                )
                .await;
                execute_wave(&mut runs, &remotes, some, settings).await;
                close(&mut runs, &mut remotes, opened);
            }
        }
    }
    for (run, remote) in runs.iter_mut().zip(&remotes) {
        if let Some(remote) = remote {
            run.count(&remote.stats());
        }
    }
    runs
}

/// Removes the files of the left scripts this observation reported (their notes say what they
/// did). Only a host that has some pays this extra round trip.
async fn acknowledge_left_runs<R: RemoteHost>(remote: &R, obs: &Observation, dry_run: bool) {
    let Some(script) = crate::detached::ack_script(&obs.left_runs).filter(|_| !dry_run) else {
        return;
    };
    if let Err(e) = remote.exec(&script, None).await {
        tracing::warn!(
            "{}: could not remove reported host scripts: {e}",
            remote.name()
        );
    }
}

async fn observe_on<R: RemoteHost>(remote: &R, script: &str) -> Result<Observation, String> {
    let out = remote.exec(script, None).await.map_err(|e| e.to_string())?;
    crate::rollout::results::observation(&out)
}

/// The host's plan, or (inner `Err`) why nothing may change on it; `Err` when it cannot be
/// planned at all.
#[allow(clippy::type_complexity)]
fn plan_for(
    host: &Host,
    mut observed: Observation,
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
            // Every spec of the run was known to the observe script (`run`).
            for ds in specs.iter() {
                observed.restore_known_spec(ds.name(), || match intent.daemonsets.get(ds.name()) {
                    Some(Placement::Run(d)) => (d.revision.clone(), d.spec_json.to_string()),
                    _ => (crate::revision::revision(ds), crate::intent::spec_json(ds)),
                });
            }
            let clashes = port_clash::host_clashes(specs, &intent, &observed);
            if let Some(refused) = port_clash::refusal(&clashes) {
                return Ok((observed, Err(refused)));
            }
            intent
        }
        Desired::Remove(names) => crate::intent::removal_intent(names.iter().map(String::as_str)),
        Desired::Nothing => HostIntent::default(),
    };
    crate::config_refs::check_immutable(&intent, &observed)?;
    let plan = plan_host(&intent, &observed);
    Ok((observed, Ok(plan)))
}

/// The rollout: pull images first; then the calm hosts (creates, heals, removals: their
/// instances are unavailable already, so Kubernetes replaces them outside the budget); then
/// the hosts that take an available instance down, in waves within each DaemonSet's budget
/// less what is still unavailable. Every wave must become available before the next starts;
/// a disruptive wave that fails halts the rest (and, with `autoRevert`, goes back).
async fn roll_out<R, E, C, F>(
    runs: &mut [HostRun],
    remotes: &mut [Option<Arc<R>>],
    hosts: &[Host],
    specs: &[DaemonSet],
    templates: &Templates,
    settings: &Settings,
    connect: &C,
) where
    R: RemoteHost + Send + Sync + 'static,
    E: std::fmt::Display,
    C: Fn(Host) -> F,
    F: Future<Output = Result<R, E>> + Send + 'static,
{
    let pull_failures = pull_images(runs, remotes, hosts, specs, settings, connect).await;
    let calm: Vec<usize> = (0..runs.len())
        .filter(|i| runs[*i].outcome == Outcome::Changed && !disrupts(&runs[*i]))
        .collect();
    let ctx = WaveContext {
        hosts,
        specs,
        templates,
        settings,
    };
    if !calm.is_empty() {
        let opened = open_wave(runs, remotes, hosts, &calm, connect, settings.parallel).await;
        run_wave(runs, &ctx, remotes, &calm, "calm").await;
        close(runs, remotes, opened);
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

    let not_ready = probe_in_sync(runs, remotes, hosts, specs, settings, connect).await;
    let policies = budget::policies(&budget::Inputs {
        runs,
        hosts,
        specs,
        pull_failures: &pull_failures,
        not_ready: &not_ready,
        lift_halt: settings.lift_halt.as_deref(),
    });
    let schedule = schedule(&budget::disruptions(runs, hosts), &policies);
    budget::hold(runs, &schedule.held, &policies);
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
        let label = format!("{}/{waves}", k + 1);
        let connected = |i: usize| remotes[i].is_some() || runs[i].outcome != Outcome::Changed;
        for step in crate::rollout::steps::wave_steps(wave, connected, settings.parallel) {
            if let Some(why) = &halted_by {
                for i in step {
                    if runs[i].outcome == Outcome::Changed {
                        runs[i].outcome = Outcome::Halted(why.clone());
                        settings.progress.host(&hosts[i].name, Phase::Halted);
                    }
                }
                continue;
            }
            let opened = open_wave(runs, remotes, hosts, &step, connect, settings.parallel).await;
            halted_by = run_wave(runs, &ctx, remotes, &step, &label).await;
            close(runs, remotes, opened);
        }
    }
}

/// Connects the hosts of a wave whose sessions were closed after the observe (a run that
/// changes more hosts than it keeps sessions for, `Settings::keep_sessions`); returns those opened here,
/// which `close` closes after the wave. A host that cannot be reached again fails.
async fn open_wave<R, E, C, F>(
    runs: &mut [HostRun],
    remotes: &mut [Option<Arc<R>>],
    hosts: &[Host],
    wave: &[usize],
    connect: &C,
    parallel: usize,
) -> Vec<usize>
where
    R: RemoteHost + Send + Sync + 'static,
    E: std::fmt::Display,
    C: Fn(Host) -> F,
    F: Future<Output = Result<R, E>> + Send + 'static,
{
    let closed: Vec<usize> = wave
        .iter()
        .copied()
        .filter(|i| remotes[*i].is_none() && runs[*i].outcome == Outcome::Changed)
        .collect();
    let opening = closed.into_iter().map(|i| {
        let connecting = connect(hosts[i].clone());
        (
            i,
            async move { connecting.await.map_err(|e| e.to_string()) },
        )
    });
    let mut opened = Vec::new();
    crate::fan_out::fan_out(opening, parallel, |i, joined| {
        match joined.and_then(|r| r) {
            Ok(remote) => {
                remotes[i] = Some(Arc::new(remote));
                opened.push(i);
            }
            Err(e) => runs[i].outcome = Outcome::Failed(format!("reconnecting for its wave: {e}")),
        }
    })
    .await;
    opened
}

/// Closes these hosts' sessions, keeping their counters.
fn close<R: RemoteHost>(
    runs: &mut [HostRun],
    remotes: &mut [Option<Arc<R>>],
    hosts: impl IntoIterator<Item = usize>,
) {
    for i in hosts {
        if let Some(remote) = remotes[i].take() {
            runs[i].count(&remote.stats());
        }
    }
}

/// What every wave of one rollout shares.
struct WaveContext<'a> {
    hosts: &'a [Host],
    specs: &'a [DaemonSet],
    templates: &'a Templates,
    settings: &'a Settings,
}

/// Runs one wave's scripts, waits until it is available, and on failure reverts (where asked)
/// and records the halt. Returns why the rollout halts, if it does.
async fn run_wave<R: RemoteHost + Send + Sync + 'static>(
    runs: &mut [HostRun],
    ctx: &WaveContext<'_>,
    remotes: &[Option<Arc<R>>],
    wave: &[usize],
    label: &str,
) -> Option<String> {
    let (hosts, specs, settings) = (ctx.hosts, ctx.specs, ctx.settings);
    let started = std::time::Instant::now();
    let deadline = wave_deadline(
        specs,
        wave.iter()
            .flat_map(|i| runs[*i].plan.iter().flat_map(|p| &p.changes))
            .map(|c| c.daemonset.as_str()),
    );
    surge_up(runs, ctx, remotes, wave, deadline).await;
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
    let (host_work, lost) = execute_wave(runs, remotes, wave, settings).await;
    for &i in wave
        .iter()
        .filter(|i| runs[**i].outcome == Outcome::Changed)
    {
        settings.progress.host(&hosts[i].name, Phase::Probing);
    }
    let scripts_done = std::time::Instant::now();
    gate_wave(runs, remotes, wave, specs, deadline).await;
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
    // A host whose plan went stale (another dsctl changed it) is not this run's to revert or
    // mark: it stops the rollout, and says why.
    let (stood_down, failed): (Vec<usize>, Vec<usize>) = failed
        .into_iter()
        .partition(|i| matches!(runs[*i].outcome, Outcome::Halted(_)));
    // A host whose channel was lost mid-script is not failed at this revision: its detached
    // script goes on, and the next run observes what it did. Neither revert nor mark it.
    let (lost, failed): (Vec<usize>, Vec<usize>) =
        failed.into_iter().partition(|i| lost.contains(i));
    if failed.is_empty() && !lost.is_empty() {
        let names: Vec<&str> = lost.iter().map(|i| hosts[*i].name.as_str()).collect();
        return Some(format!(
            "rollout stopped: lost the connection to {} mid-script (the script goes on there; \
             the next run finds what it did)",
            names.join(", ")
        ));
    }
    if failed.is_empty() {
        let names: Vec<&str> = stood_down.iter().map(|i| hosts[*i].name.as_str()).collect();
        return Some(format!(
            "rollout stopped: another dsctl changed {} after this run observed it",
            names.join(", ")
        ));
    }
    for &i in &failed {
        let revert_it = runs[i]
            .plan
            .iter()
            .flat_map(|p| &p.changes)
            .any(|c| c.kind == ChangeKind::Update && auto_revert(specs, &c.daemonset));
        if revert_it {
            let previous =
                crate::rollout::revert::previous_specs(runs, i, |ds| auto_revert(specs, ds));
            revert(
                &mut runs[i],
                previous,
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
    ctx: &WaveContext<'_>,
    remotes: &[Option<Arc<R>>],
    wave: &[usize],
    deadline: Duration,
) -> usize {
    let until = saturate::instant_after(tokio::time::Instant::now(), deadline);
    let mut tasks = Vec::new();
    for &i in wave {
        let run = &runs[i];
        let (Some(remote), Some(plan)) = (remotes[i].clone(), run.plan.as_ref()) else {
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
        let token = plan_token(&mut runs[i]);
        tasks.push((
            i,
            tokio::spawn(async move {
                surge_host(
                    remote.as_ref(),
                    surging,
                    until,
                    lock_timeout,
                    &holder,
                    token,
                )
                .await
            }),
        ));
    }
    let surged = tasks.len();
    for (i, task) in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(outcome)) => runs[i].outcome = outcome,
            Err(e) => runs[i].outcome = Outcome::Failed(format!("internal error: {e}")),
        }
    }
    surged
}

/// Starts one host's new pods in one exec and waits until each is available; removes them
/// again when one is not. A host whose plan went stale is left as it is (Halted).
async fn surge_host<R: RemoteHost>(
    remote: &R,
    surging: Vec<(DaemonSet, Change)>,
    until: tokio::time::Instant,
    lock_timeout: u64,
    holder: &str,
    token: Option<String>,
) -> Result<(), Outcome> {
    let changes: Vec<Change> = surging.iter().map(|(_, c)| c.clone()).collect();
    let script = host_script::script_with(&changes, lock_timeout, holder, token.as_deref());
    let started = crate::detached::exec(remote, &script, holder)
        .await
        .map_err(|e| e.to_string())
        .map(|out| script_outcome(&out));
    if let Ok(stale @ Outcome::Halted(_)) = started {
        return Err(stale);
    }
    let result = async {
        if let Outcome::Failed(e) = started? {
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
    let cleanup = match crate::detached::exec(
        remote,
        &host_script::script(&downs, lock_timeout, holder),
        holder,
    )
    .await
    .map_err(|e| e.to_string())
    .map(|out| script_outcome(&out))
    {
        Ok(Outcome::Failed(c)) | Err(c) => {
            format!("removing it failed ({c}); the next apply removes it")
        }
        Ok(_) => "it was removed".to_string(),
    };
    Err(Outcome::Failed(format!(
        "{e}\nmaxSurge: the new instance did not become available beside the old one; {cleanup}, \
         and the old instance was left running"
    )))
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

/// Pulls (or checks) the images of every DaemonSet that will be installed or updated, on every
/// host that will get it, before anything is stopped. Returns the hosts that failed, by
/// DaemonSet; those hosts are marked failed.
async fn pull_images<R, E, C, F>(
    runs: &mut [HostRun],
    remotes: &[Option<Arc<R>>],
    hosts: &[Host],
    specs: &[DaemonSet],
    settings: &Settings,
    connect: &C,
) -> BTreeMap<String, Vec<String>>
where
    R: RemoteHost + Send + Sync + 'static,
    E: std::fmt::Display,
    C: Fn(Host) -> F,
    F: Future<Output = Result<R, E>> + Send + 'static,
{
    let mut jobs = Vec::new();
    // One script per set of DaemonSets, shared by the hosts that install that set.
    let mut scripts: BTreeMap<Vec<String>, Arc<str>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        let Some(plan) = run.plan.as_ref() else {
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
        let names: Vec<String> = installing.iter().map(|d| d.name().to_string()).collect();
        let script = scripts
            .entry(names.clone())
            .or_insert_with(|| crate::images::pull_script(&installing).into())
            .clone();
        jobs.push((i, names, script));
    }
    let pulling = jobs.iter().enumerate().map(|(k, (i, _, script))| {
        let reach = Reach::of(&remotes[*i], || connect(hosts[*i].clone()));
        let script = script.clone();
        (k, async move {
            let (remote, opened) = reach.open().await?;
            let out = remote.exec(&script, None).await.map_err(|e| e.to_string());
            Ok::<_, String>((out, opened.then(|| remote.stats())))
        })
    });
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    crate::fan_out::fan_out(pulling, settings.parallel, |k, joined| {
        let (i, names, _) = &jobs[k];
        let error = match joined.and_then(|r| r) {
            Ok((out, opened)) => {
                if let Some(stats) = opened {
                    runs[*i].count(&stats);
                }
                match out.map(|out| crate::rollout::results::pull_failure(&out)) {
                    Ok(None) => return,
                    Ok(Some(why)) | Err(why) => why,
                }
            }
            Err(e) => e,
        };
        runs[*i].outcome = Outcome::Failed(error);
        for name in names {
            failures
                .entry(name.clone())
                .or_default()
                .push(runs[*i].host.clone());
        }
    })
    .await;
    failures
}

/// Probes, once, the readiness of the hosts that run a DaemonSet in sync while this run would
/// disrupt it elsewhere (`rollout::readiness`), so a host that stopped being ready counts
/// against the budget. An in-sync host closed its session after the observe (a no-op holds
/// none), so it is connected again for the probe and closed after; one it cannot reach counts
/// as not ready. Returns those not ready, with why.
async fn probe_in_sync<R, E, C, F>(
    runs: &mut [HostRun],
    remotes: &[Option<Arc<R>>],
    hosts: &[Host],
    specs: &[DaemonSet],
    settings: &Settings,
    connect: &C,
) -> budget::NotReady
where
    R: RemoteHost + Send + Sync + 'static,
    E: std::fmt::Display,
    C: Fn(Host) -> F,
    F: Future<Output = Result<R, E>> + Send + 'static,
{
    let revisions: BTreeMap<String, String> = specs
        .iter()
        .map(|d| (d.name().to_string(), crate::revision::revision(d)))
        .collect();
    let pairs = crate::rollout::readiness::to_probe(runs, &revisions);
    let probing = pairs.iter().enumerate().filter_map(|(k, (i, name))| {
        let ds = specs.iter().find(|s| s.name() == name).cloned()?;
        let reach = Reach::of(&remotes[*i], || connect(hosts[*i].clone()));
        Some((k, async move {
            let (remote, opened) = match reach.open().await {
                Ok(reached) => reached,
                Err(e) => return (Err(format!("{e} to probe it")), None),
            };
            let ready = crate::probe::ready_now(remote.as_ref(), &ds).await;
            (ready, opened.then(|| remote.stats()))
        }))
    });
    let mut not_ready = budget::NotReady::new();
    crate::fan_out::fan_out(probing, settings.parallel, |k, joined| {
        let (i, name) = &pairs[k];
        let why = match joined {
            Ok((ready, reconnected)) => {
                if let Some(stats) = reconnected {
                    runs[*i].count(&stats);
                }
                match ready {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        tracing::info!("{}: {name} is not ready: {why}", runs[*i].host);
        not_ready.insert((*i, name.clone()), why);
    })
    .await;
    not_ready
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
    previous: Result<Vec<DaemonSet>, crate::trusted_spec::Refused>,
    remote: Option<&R>,
    host: &Host,
    templates: &Templates,
    settings: &Settings,
) {
    let Some(remote) = remote else {
        return;
    };
    let why = match &run.outcome {
        Outcome::Failed(e) => e.clone(),
        other => format!("{other:?}"),
    };
    let previous = match previous {
        Ok(previous) => previous,
        Err(refused) => {
            run.outcome = Outcome::Failed(format!("{why}\nauto-revert refused: {refused}"));
            return;
        }
    };
    let result = async {
        let now = observe_on(remote, &observe::script(false, &[])).await?;
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
        let script = host_script::script_with(
            &plan.changes,
            settings.lock_timeout_secs,
            &settings.holder,
            now.token.as_deref(),
        );
        let out = crate::detached::exec(remote, &script, &settings.holder)
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

/// Runs the wave's host scripts (detached, `detached::exec`). Returns the longest host work
/// and the hosts whose channel was lost: their scripts go on, so they are not failed at this
/// revision (no revert, no halt mark).
async fn execute_wave<R: RemoteHost + Send + Sync + 'static>(
    runs: &mut [HostRun],
    remotes: &[Option<Arc<R>>],
    wave: &[usize],
    settings: &Settings,
) -> (Duration, Vec<usize>) {
    let limit = Arc::new(Semaphore::new(settings.parallel.max(1)));
    let mut tasks = Vec::new();
    for &i in wave {
        let (Some(remote), Some(plan)) = (remotes[i].clone(), runs[i].plan.as_ref()) else {
            continue;
        };
        if plan.is_empty() || runs[i].outcome.is_error() {
            continue;
        }
        let changes = plan.changes.clone();
        let token = plan_token(&mut runs[i]);
        let limit = limit.clone();
        let (holder, lock_timeout) = (settings.holder.clone(), settings.lock_timeout_secs);
        tasks.push((
            i,
            tokio::spawn(async move {
                let _permit = limit
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                // Built once its turn comes: a wide wave holds --parallel scripts, not one per host.
                let script =
                    host_script::script_with(&changes, lock_timeout, &holder, token.as_deref());
                crate::detached::exec(remote.as_ref(), &script, &holder).await
            }),
        ));
    }
    let (mut host_work, mut lost) = (Duration::ZERO, Vec::new());
    for (i, task) in tasks {
        runs[i].outcome = match task.await {
            Ok(Ok(out)) => {
                host_work = host_work.max(host_time(&out.stdout));
                script_outcome(&out)
            }
            Ok(Err(e)) => {
                lost.push(i);
                Outcome::Failed(format!(
                    "{e}; the host script runs on detached (the next run finds what it did)"
                ))
            }
            Err(e) => Outcome::Failed(format!("internal error: {e}")),
        };
    }
    (host_work, lost)
}

/// The token of the observation a host's plan was made from, for the first script this run
/// sends there; later scripts of this run on that host follow its own changes, unchecked.
fn plan_token(run: &mut HostRun) -> Option<String> {
    run.observation.as_mut().and_then(|o| o.token.take())
}
