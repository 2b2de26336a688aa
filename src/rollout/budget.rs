//! Each DaemonSet's rollout budget for this run, and what happens to the changes it holds back
//! (pure). A desired host counts unavailable when it is unreachable, its heal or create failed,
//! its instance is not active, its gate failed at the revision it runs (the halted marker, so
//! that a failing revision never creeps one host further per run), or, being in sync, it
//! answered its readiness probe with a failure in this run ([`super::readiness`]).

use std::collections::BTreeMap;

use crate::apply::{HostRun, Outcome};
use crate::batches::{HostChanges, Policy};
use crate::daemonset::DaemonSet;
use crate::host_facts::HostFacts;
use crate::inventory::Host;
use crate::rollout_math::resolve_budget;
use crate::surge;

/// Hosts whose in-sync instance was found not ready in this run, by (host index, DaemonSet),
/// with why.
pub type NotReady = BTreeMap<(usize, String), String>;

/// What the budgets are computed from.
pub struct Inputs<'a> {
    pub runs: &'a [HostRun],
    pub hosts: &'a [Host],
    pub specs: &'a [DaemonSet],
    /// Hosts whose image pull failed, by DaemonSet: that DaemonSet may disrupt nothing.
    pub pull_failures: &'a BTreeMap<String, Vec<String>>,
    pub not_ready: &'a NotReady,
    /// `rollout resume|undo`: this DaemonSet's halted hosts no longer hold its rollout.
    pub lift_halt: Option<&'a str>,
}

/// Why a desired host is unavailable for `name`, if it is.
enum Unavailable {
    Halted,
    NotReady(String),
    Down,
}

/// Each DaemonSet's rollout policy: maxUnavailable against the hosts that should run it, the
/// hosts that are unavailable now, partition, canary and pause. A DaemonSet whose image could
/// not be pulled somewhere gets no budget at all: nothing may be disrupted for it.
pub fn policies(input: &Inputs) -> BTreeMap<String, Policy> {
    input
        .specs
        .iter()
        .map(|ds| (ds.name().to_string(), policy(input, ds)))
        .collect()
}

fn policy(input: &Inputs, ds: &DaemonSet) -> Policy {
    let (runs, hosts) = (input.runs, input.hosts);
    let name = ds.name();
    // Unreachable hosts count as desired too, by their inventory labels (their well-known
    // labels are not observed).
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
    let halted_here = |i: usize| {
        input.lift_halt != Some(name)
            && runs[i]
                .observation
                .as_ref()
                .and_then(|o| o.daemonsets.get(name))
                .is_some_and(|r| r.halted_at(&revision))
    };
    // One pass: why each desired host is unavailable, if it is.
    let why: Vec<(usize, Unavailable)> = desired
        .iter()
        .filter_map(|&i| {
            let run = &runs[i];
            let verdict = match &run.outcome {
                // Unreachable, or a heal or create that did not become available.
                outcome if outcome.is_error() && halted_here(i) => Unavailable::Halted,
                outcome if outcome.is_error() => Unavailable::Down,
                // Healed in the calm wave, or active and about to be updated.
                Outcome::Changed => return None,
                _ if halted_here(i) => Unavailable::Halted,
                _ => match input.not_ready.get(&(i, name.to_string())) {
                    Some(e) => Unavailable::NotReady(e.clone()),
                    None if run.observation.as_ref().is_some_and(|o| {
                        o.daemonsets.contains_key(name) && !o.instance_active(name)
                    }) =>
                    {
                        Unavailable::Down
                    }
                    None => return None,
                },
            };
            Some((i, verdict))
        })
        .collect();
    let pull_failed = input.pull_failures.get(name);
    let unavailable: Vec<String> = match pull_failed {
        Some(failed) => failed.clone(),
        None => why
            .iter()
            .map(|(i, w)| {
                let host = &hosts[*i].name;
                match w {
                    Unavailable::Halted => format!(
                        "{host} (its rollout of revision {revision} halted; dsctl rollout resume \
                         or undo lifts it)"
                    ),
                    Unavailable::NotReady(e) => format!("{host} (not ready: {e})"),
                    Unavailable::Down => host.clone(),
                }
            })
            .collect(),
    };
    let halted: Vec<String> = desired
        .iter()
        .filter(|i| halted_here(**i))
        .map(|i| hosts[*i].name.clone())
        .collect();
    let (max_unavailable, max_surge) = match pull_failed {
        Some(_) => (0, 0),
        None => (
            resolve_budget(&ds.spec.update_strategy, desired.len())
                .map(|b| b.max_unavailable)
                .unwrap_or(1),
            surge::max_surge(ds, desired.len()),
        ),
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
    let ext = ds.dsctl.clone().unwrap_or_default();
    Policy {
        halted,
        max_unavailable,
        max_surge,
        unavailable,
        updated,
        partition: ext.partition.map(|p| p as usize),
        canary: ext.canary_selector,
        paused: ext.paused,
    }
}

/// Whether the host's plan takes an available instance down.
pub fn disrupts(run: &HostRun) -> bool {
    run.plan
        .iter()
        .flat_map(|p| &p.changes)
        .any(|c| c.disruptive)
}

/// The hosts that would take an available instance down, for the scheduler.
pub fn disruptions<'a>(runs: &'a [HostRun], hosts: &'a [Host]) -> Vec<HostChanges<'a>> {
    runs.iter()
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
        .collect()
}

/// Takes the held changes out of their hosts' plans, with a note each. A host left with
/// nothing to do is unchanged, unless the DaemonSet's rollout is halted (by this run's budget
/// or an earlier run's failed gate): then it says so and fails the run (cron mails it).
pub fn hold(
    runs: &mut [HostRun],
    held: &BTreeMap<(usize, String), String>,
    policies: &BTreeMap<String, Policy>,
) {
    for ((i, ds), reason) in held {
        let run = &mut runs[*i];
        let Some(plan) = run.plan.as_mut() else {
            continue;
        };
        plan.changes.retain(|c| c.daemonset != *ds);
        plan.notes.push(format!("{ds}: held back: {reason}"));
        let halted = policies.get(ds).map_or(&[][..], |p| &p.halted[..]);
        if !halted.is_empty() {
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
