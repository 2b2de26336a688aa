//! The reconcile driver (the imperative shell): observe every host in one round trip, plan
//! with the pure planner, then carry out the plans in waves. Per-host failures are values in
//! the result; they never stop the other hosts.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::batches::{HostChanges, waves};
use crate::daemonset::DaemonSet;
use crate::host_script::{self, EXIT_LOCKED};
use crate::intent::host_intent;
use crate::inventory::Host;
use crate::observe::{self, Observation};
use crate::plan::{HostIntent, HostPlan, Placement, plan_host};
use crate::render::Templates;
use crate::rollout_math::resolve_budget;
use crate::ssh::{ExecOutput, RemoteHost};

/// How a run treats hosts.
#[derive(Debug, Clone)]
pub struct Settings {
    pub parallel: usize,
    pub lock_timeout_secs: u64,
    /// Who holds the lock while a script runs (shown to a second, waiting dsctl).
    pub holder: String,
    pub dry_run: bool,
    pub prune: bool,
    /// Observe unit contents and recorded specs too (`diff`, `get`).
    pub full_observe: bool,
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
    /// DaemonSets that should run on this host (shouldRun), for budgets and summaries.
    #[serde(skip)]
    pub should_run: Vec<String>,
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
            should_run: Vec::new(),
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
                    Ok((obs, plan, should_run)) => {
                        run.outcome = if plan.is_empty() {
                            Outcome::Unchanged
                        } else if settings.dry_run {
                            Outcome::Planned
                        } else {
                            Outcome::Changed
                        };
                        run.plan = Some(plan);
                        run.should_run = should_run;
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
        if let Desired::Specs { specs, .. } = desired {
            execute_in_waves(&mut runs, &remotes, hosts, specs, settings).await;
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

fn plan_for(
    host: &Host,
    observed: Observation,
    desired: &Desired<'_>,
    settings: &Settings,
) -> Result<(Observation, HostPlan, Vec<String>), String> {
    let intent = match desired {
        Desired::Specs { specs, templates } => {
            let flavor = host
                .settings
                .unit_flavor
                .unwrap_or_else(|| observed.detected_flavor());
            host_intent(specs, host, flavor, templates, settings.prune)
                .map_err(|e| e.to_string())?
        }
        Desired::Remove(names) => crate::intent::removal_intent(names.iter().map(String::as_str)),
        Desired::Nothing => HostIntent::default(),
    };
    let plan = plan_host(&intent, &observed);
    let should_run = intent
        .daemonsets
        .iter()
        .filter(|(_, p)| matches!(p, Placement::Run(_)))
        .map(|(n, _)| n.clone())
        .collect();
    Ok((observed, plan, should_run))
}

/// Calm hosts first, then disruptive ones within each DaemonSet's maxUnavailable; a failed
/// wave halts the waves after it.
async fn execute_in_waves<R: RemoteHost + Send + Sync + 'static>(
    runs: &mut [HostRun],
    remotes: &[Option<Arc<R>>],
    hosts: &[Host],
    specs: &[DaemonSet],
    settings: &Settings,
) {
    let budgets = max_unavailable(runs, specs);
    let changes: Vec<HostChanges> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.outcome == Outcome::Changed)
        .map(|(i, r)| HostChanges {
            host: i,
            disrupts: r
                .plan
                .iter()
                .flat_map(|p| &p.changes)
                .filter(|c| c.disruptive)
                .map(|c| c.daemonset.as_str())
                .collect(),
        })
        .collect();
    let order = waves(&changes, &budgets);
    let mut halted_by: Option<String> = None;
    for wave in order {
        if let Some(why) = &halted_by {
            for i in wave {
                runs[i].outcome = Outcome::Halted(why.clone());
            }
            continue;
        }
        let disruptive = wave
            .iter()
            .any(|i| runs[*i].plan.as_ref().is_some_and(HostPlan::is_disruptive));
        execute_wave(runs, remotes, &wave, settings).await;
        let failed: Vec<&str> = wave
            .iter()
            .filter(|i| runs[**i].outcome.is_error())
            .map(|i| hosts[*i].name.as_str())
            .collect();
        if disruptive && !failed.is_empty() {
            halted_by = Some(format!(
                "rollout halted: update failed on {}",
                failed.join(", ")
            ));
        }
    }
}

/// Each DaemonSet's maxUnavailable, resolved against the hosts that should run it.
fn max_unavailable(runs: &[HostRun], specs: &[DaemonSet]) -> BTreeMap<String, usize> {
    specs
        .iter()
        .map(|ds| {
            let desired = runs
                .iter()
                .filter(|r| r.should_run.iter().any(|n| n == ds.name()))
                .count();
            let budget = resolve_budget(&ds.spec.update_strategy, desired)
                .map(|b| b.max_unavailable)
                .unwrap_or(1);
            (
                ds.name().to_string(),
                usize::try_from(budget).unwrap_or(1).max(1),
            )
        })
        .collect()
}

async fn execute_wave<R: RemoteHost + Send + Sync + 'static>(
    runs: &mut [HostRun],
    remotes: &[Option<Arc<R>>],
    wave: &[usize],
    settings: &Settings,
) {
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
    for (i, task) in tasks {
        runs[i].outcome = match task.await {
            Ok(Ok(out)) => script_outcome(&out),
            Ok(Err(e)) => Outcome::Failed(e.to_string()),
            Err(e) => Outcome::Failed(format!("internal error: {e}")),
        };
    }
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
