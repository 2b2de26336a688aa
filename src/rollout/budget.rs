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
                // Another dsctl's script runs there now, or is on its way to the lock (launched
                // by a run killed since): its instance may be down.
                _ if run.observation.as_ref().is_some_and(|o| {
                    o.lock_holder.is_some() || o.left_runs.iter().any(|l| !l.is_over())
                }) =>
                {
                    Unavailable::Down
                }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::observe::{Observation, RecordedDaemonSet, UnitStatus};
    use crate::plan::{ChangeKind, HostPlan};

    pub fn ds(dsctl: &str) -> DaemonSet {
        toml::from_str(&format!(
            r#"apiVersion = "apps/v1"
kind = "DaemonSet"
metadata = {{ name = "web" }}
[spec.selector.matchLabels]
app = "web"
[spec.template.metadata.labels]
app = "web"
[[spec.template.spec.containers]]
name = "web"
image = "img"
{dsctl}
"#
        ))
        .unwrap()
    }

    /// What a test host is like.
    #[derive(Clone, Copy, Debug)]
    pub enum At {
        /// Runs `web` at the spec's revision, active.
        InSync,
        /// Runs an older revision, active; about to be updated.
        Old,
        /// Recorded, but its units are not active.
        Inactive,
        /// Its gate failed at the spec's revision (halted marker).
        Halted,
        Unreachable,
        /// Healed or created in the calm wave.
        Healed,
        /// Nothing of `web` on it.
        Bare,
        /// In sync, but another run's script is in flight there (launched, lock not yet taken).
        InFlight,
    }

    pub fn host(i: usize) -> Host {
        Host {
            name: format!("node-{i}"),
            address: "192.0.2.1".into(),
            settings: Default::default(),
            labels: Default::default(),
            taints: vec![],
        }
    }

    pub fn run(i: usize, at: At, spec: &DaemonSet) -> HostRun {
        let revision = crate::revision::revision(spec);
        let record = |rev: &str, halted: bool| RecordedDaemonSet {
            revision: Some(rev.to_string()),
            units: [("dsctl_web_x_web.container".to_string(), "sha".to_string())].into(),
            halted: halted.then(|| "gate failed".to_string()),
            ..RecordedDaemonSet::default()
        };
        let unit = |active: bool| UnitStatus {
            active_state: if active { "active" } else { "failed" }.into(),
            load_state: "loaded".into(),
            ..UnitStatus::default()
        };
        let mut obs = Observation::default();
        let (rec, active) = match at {
            At::InSync | At::Healed | At::InFlight => (Some(record(&revision, false)), true),
            At::Old => (Some(record("0123456789", false)), true),
            At::Inactive => (Some(record(&revision, false)), false),
            At::Halted => (Some(record(&revision, true)), true),
            At::Unreachable | At::Bare => (None, false),
        };
        if matches!(at, At::InFlight) {
            obs.left_runs.push(crate::detached::LeftRun {
                id: "r1".into(),
                state: crate::detached::LeftState::InFlight,
                holder: "dsctl other@host".into(),
                stderr_tail: String::new(),
            });
        }
        if let Some(rec) = rec {
            obs.daemonsets.insert("web".into(), rec);
            obs.units
                .insert("dsctl_web_x_web.service".into(), unit(active));
        }
        let change = |disruptive: bool| crate::plan::Change {
            daemonset: "web".into(),
            kind: if disruptive {
                ChangeKind::Update
            } else {
                ChangeKind::Heal
            },
            reasons: vec![],
            actions: vec![],
            disruptive,
        };
        let (outcome, plan) = match at {
            At::Unreachable => (Outcome::Unreachable("no route".into()), None),
            At::Old => (
                Outcome::Changed,
                Some(HostPlan {
                    changes: vec![change(true)],
                    notes: vec![],
                }),
            ),
            At::Healed => (
                Outcome::Changed,
                Some(HostPlan {
                    changes: vec![change(false)],
                    notes: vec![],
                }),
            ),
            _ => (Outcome::Unchanged, Some(HostPlan::default())),
        };
        HostRun {
            host: format!("node-{i}"),
            outcome,
            plan,
            observation: (!matches!(at, At::Unreachable)).then_some(obs),
            connections: 1,
            round_trips: 1,
        }
    }

    fn fleet(ats: &[At], spec: &DaemonSet) -> (Vec<HostRun>, Vec<Host>) {
        let runs = ats
            .iter()
            .enumerate()
            .map(|(i, a)| run(i + 1, *a, spec))
            .collect();
        (runs, (1..=ats.len()).map(host).collect())
    }

    #[test]
    fn budgets() {
        use At::*;
        let plain = ds("");
        let two = ds("[spec.updateStrategy.rollingUpdate]\nmaxUnavailable = 2");
        // (what, spec, hosts, not ready (host index), pulls failed, lift_halt,
        //  unavailable (host names), halted, maxUnavailable)
        type Row<'a> = (
            &'a str,
            &'a DaemonSet,
            Vec<At>,
            Vec<usize>,
            bool,
            bool,
            Vec<&'a str>,
            Vec<&'a str>,
            usize,
        );
        let rows: Vec<Row> = vec![
            (
                "all in sync",
                &plain,
                vec![InSync, InSync, Old],
                vec![],
                false,
                false,
                vec![],
                vec![],
                1,
            ),
            (
                "unreachable counts",
                &plain,
                vec![Unreachable, Old, Old],
                vec![],
                false,
                false,
                vec!["node-1"],
                vec![],
                1,
            ),
            (
                "inactive counts",
                &plain,
                vec![Inactive, Old],
                vec![],
                false,
                false,
                vec!["node-1"],
                vec![],
                1,
            ),
            (
                "healed in the calm wave does not",
                &plain,
                vec![Healed, Old],
                vec![],
                false,
                false,
                vec![],
                vec![],
                1,
            ),
            (
                "another run's script in flight counts",
                &plain,
                vec![InFlight, Old],
                vec![],
                false,
                false,
                vec!["node-1"],
                vec![],
                1,
            ),
            (
                "bare hosts do not",
                &plain,
                vec![Bare, Old],
                vec![],
                false,
                false,
                vec![],
                vec![],
                1,
            ),
            (
                "not ready counts",
                &plain,
                vec![InSync, Old, Old],
                vec![0],
                false,
                false,
                vec!["node-1 (not ready: probe failed)"],
                vec![],
                1,
            ),
            (
                "halted counts, and holds",
                &plain,
                vec![Halted, Old, Old],
                vec![],
                false,
                false,
                vec!["node-1 (its rollout"],
                vec!["node-1"],
                1,
            ),
            (
                "resume lifts the halt",
                &plain,
                vec![Halted, Old, Old],
                vec![],
                false,
                true,
                vec![],
                vec![],
                1,
            ),
            (
                "halted wins over not ready",
                &plain,
                vec![Halted, Old],
                vec![0],
                false,
                false,
                vec!["node-1 (its rollout"],
                vec!["node-1"],
                1,
            ),
            (
                "a failed pull leaves no budget",
                &plain,
                vec![InSync, Old, Old],
                vec![],
                true,
                false,
                vec!["node-3"],
                vec![],
                0,
            ),
            (
                "maxUnavailable 2",
                &two,
                vec![Inactive, InSync, Old, Old],
                vec![1],
                false,
                false,
                vec!["node-1", "node-2 (not ready: probe failed)"],
                vec![],
                2,
            ),
        ];
        for (what, spec, ats, not_ready, pull_failed, lift, unavailable, halted, max) in rows {
            let (runs, hosts) = fleet(&ats, spec);
            let not_ready: NotReady = not_ready
                .into_iter()
                .map(|i| ((i, "web".to_string()), "probe failed".to_string()))
                .collect();
            let pulls: BTreeMap<String, Vec<String>> = if pull_failed {
                [("web".to_string(), vec!["node-3".to_string()])].into()
            } else {
                BTreeMap::new()
            };
            let policies = policies(&Inputs {
                runs: &runs,
                hosts: &hosts,
                specs: std::slice::from_ref(spec),
                pull_failures: &pulls,
                not_ready: &not_ready,
                lift_halt: lift.then_some("web"),
            });
            let p = &policies["web"];
            assert_eq!(
                p.unavailable.len(),
                unavailable.len(),
                "{what}: {:?}",
                p.unavailable
            );
            for (got, want) in p.unavailable.iter().zip(&unavailable) {
                assert!(got.starts_with(want), "{what}: {got}");
            }
            assert_eq!(p.halted, halted, "{what}");
            assert_eq!(p.max_unavailable, max, "{what}");
        }
    }

    #[test]
    fn held_changes_leave_the_plan_with_a_note_and_say_halted_when_halted() {
        use At::*;
        let spec = ds("");
        for (halted, want) in [
            (false, Outcome::Unchanged),
            (true, Outcome::Halted(String::new())),
        ] {
            let (mut runs, _) = fleet(&[Old, Old], &spec);
            let held: BTreeMap<(usize, String), String> = [(
                (1, "web".to_string()),
                "maxUnavailable 1 is used up".to_string(),
            )]
            .into();
            let policy = Policy {
                halted: if halted {
                    vec!["node-9".into()]
                } else {
                    vec![]
                },
                ..Policy::default()
            };
            hold(&mut runs, &held, &[("web".to_string(), policy)].into());
            let plan = runs[1].plan.as_ref().unwrap();
            assert!(plan.changes.is_empty());
            assert_eq!(plan.notes, ["web: held back: maxUnavailable 1 is used up"]);
            match (&runs[1].outcome, &want) {
                (Outcome::Halted(why), Outcome::Halted(_)) => {
                    assert!(why.contains("node-9 did not become available"), "{why}")
                }
                (got, want) => assert_eq!(got, want),
            }
            assert_eq!(
                runs[0].outcome,
                Outcome::Changed,
                "the other host keeps its change"
            );
            assert_eq!(disruptions(&runs, &[host(1), host(2)]).len(), 1);
        }
    }
}
