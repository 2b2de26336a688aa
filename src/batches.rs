//! Which hosts change together (pure): the order of a rollout, after Kubernetes'
//! RollingUpdate (pkg/controller/daemon/update.go) plus dsctl's partition, canary and pause.
//!
//! Hosts whose changes take no available instance down (creates, heals, removals) go first,
//! all at once: their instances are already unavailable, and Kubernetes also replaces those
//! outside the budget. Hosts that restart an available instance for a new revision follow in
//! waves, where no wave takes more hosts of one DaemonSet out of service than its
//! maxUnavailable minus the hosts that are unavailable already (unreachable or not ready).
//! A DaemonSet with maxSurge (and maxUnavailable 0) rolls in waves of maxSurge hosts, each
//! host starting the new instance beside the old one (`surge.rs`); as in Kubernetes, hosts
//! that are unavailable already do not hold a surge back.

use std::collections::BTreeMap;

use crate::daemonset::LabelSelector;
use crate::labels::selector_matches;

/// One host's part in the rollout: the DaemonSets it would take out of service.
#[derive(Debug, Clone, PartialEq)]
pub struct HostChanges<'a> {
    pub host: usize,
    pub labels: &'a BTreeMap<String, String>,
    pub disrupts: Vec<&'a str>,
}

/// How one DaemonSet may roll out in this run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub max_unavailable: usize,
    /// maxSurge (with maxUnavailable 0): a wave holds at most this many hosts, and hosts that
    /// are unavailable already do not hold it back (Kubernetes surges regardless).
    pub max_surge: usize,
    /// Hosts that should run it but are unavailable now (unreachable, not ready).
    pub unavailable: Vec<String>,
    /// Of those, the hosts whose gate failed at the revision they run (a halted rollout that
    /// holds across runs until they are recorded again or `rollout resume|undo`).
    pub halted: Vec<String>,
    /// Hosts that already run the new revision (they count against a partition).
    pub updated: usize,
    /// At most this many hosts on the new revision until `rollout resume`.
    pub partition: Option<usize>,
    /// Only hosts matching this selector take the new revision until `rollout resume`.
    pub canary: Option<LabelSelector>,
    pub paused: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    /// Waves of host indices, in order; the first holds the calm hosts, if any.
    pub waves: Vec<Vec<usize>>,
    /// Disruptive changes that wait, by (host index, DaemonSet), with the reason.
    pub held: BTreeMap<(usize, String), String>,
}

pub fn schedule(hosts: &[HostChanges<'_>], policies: &BTreeMap<String, Policy>) -> Schedule {
    let mut held = BTreeMap::new();
    let mut quota: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    let mut pending: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut calm = Vec::new();
    // Borrowed, not cloned per host: a policy lists the unavailable hosts (host × unavailable).
    let no_policy = Policy::default();
    for h in hosts {
        let mut go = Vec::new();
        for ds in &h.disrupts {
            let policy = policies.get(*ds).unwrap_or(&no_policy);
            let left = quota
                .entry(ds)
                .or_insert_with(|| policy.partition.map(|p| p.saturating_sub(policy.updated)));
            let reason = if policy.paused {
                Some("the rollout is paused (dsctl rollout resume continues it)".to_string())
            } else if policy
                .canary
                .as_ref()
                .is_some_and(|c| !selector_matches(c, h.labels))
            {
                Some("not in the canary selector (dsctl rollout resume continues)".to_string())
            } else if *left == Some(0) {
                Some(format!(
                    "partition: {} host(s) take the new revision first (dsctl rollout resume continues)",
                    policy.partition.unwrap_or(0)
                ))
            } else if budget(policy) == 0 {
                Some(format!(
                    "maxUnavailable={} is used up by unavailable hosts: {}",
                    policy.max_unavailable,
                    policy.unavailable.join(", ")
                ))
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    held.insert((h.host, ds.to_string()), reason);
                }
                None => {
                    if let Some(n) = left.as_mut() {
                        *n -= 1;
                    }
                    go.push(*ds);
                }
            }
        }
        if go.is_empty() {
            calm.push(h.host);
        } else {
            pending.push((h.host, go));
        }
    }
    let mut waves = Vec::new();
    if !calm.is_empty() {
        waves.push(calm);
    }
    while !pending.is_empty() {
        let mut used: BTreeMap<&str, usize> = BTreeMap::new();
        let mut wave = Vec::new();
        pending.retain(|(host, disrupts)| {
            let fits = disrupts.iter().all(|ds| {
                let b = policies.get(*ds).map_or(1, budget);
                used.get(ds).copied().unwrap_or(0) < b
            });
            if fits {
                for ds in disrupts {
                    *used.entry(ds).or_default() += 1;
                }
                wave.push(*host);
            }
            !fits
        });
        waves.push(wave);
    }
    Schedule { waves, held }
}

/// What a wave may take down: maxUnavailable less what is unavailable already (≥ 1 is
/// needed to make progress; 0 holds the rollout, as the DaemonSet controller does). With
/// maxSurge no instance is taken down before its replacement is available: maxSurge hosts.
fn budget(policy: &Policy) -> usize {
    if policy.max_surge > 0 {
        return policy.max_surge;
    }
    policy
        .max_unavailable
        .max(1)
        .saturating_sub(policy.unavailable.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(tier: &str) -> BTreeMap<String, String> {
        [("tier".to_string(), tier.to_string())].into()
    }

    fn policy(max_unavailable: usize) -> Policy {
        Policy {
            max_unavailable,
            ..Default::default()
        }
    }

    #[test]
    fn waves_table() {
        let canary = labels("canary");
        let plain = labels("main");
        let h = |host: usize, disrupts: &[&'static str]| HostChanges {
            host,
            labels: &plain,
            disrupts: disrupts.to_vec(),
        };
        let policies: BTreeMap<String, Policy> =
            [("a".to_string(), policy(2)), ("b".to_string(), policy(1))].into();
        type Case<'a> = (&'static str, Vec<HostChanges<'a>>, Vec<Vec<usize>>);
        let cases: Vec<Case> = vec![
            ("nothing to do", vec![], vec![]),
            (
                "creates and heals all at once",
                vec![h(0, &[]), h(1, &[]), h(2, &[])],
                vec![vec![0, 1, 2]],
            ),
            (
                "updates of a in pairs",
                vec![h(0, &["a"]), h(1, &["a"]), h(2, &["a"])],
                vec![vec![0, 1], vec![2]],
            ),
            (
                "calm hosts first",
                vec![h(0, &["a"]), h(1, &[]), h(2, &["a"])],
                vec![vec![1], vec![0, 2]],
            ),
            (
                "b one at a time",
                vec![h(0, &["b"]), h(1, &["b"])],
                vec![vec![0], vec![1]],
            ),
            (
                "a host with both waits for both budgets",
                vec![h(0, &["a", "b"]), h(1, &["a"]), h(2, &["b"]), h(3, &["a"])],
                vec![vec![0, 1], vec![2, 3]],
            ),
            (
                "unknown DaemonSet defaults to one",
                vec![h(0, &["c"]), h(1, &["c"])],
                vec![vec![0], vec![1]],
            ),
        ];
        for (name, hosts, want) in cases {
            let s = schedule(&hosts, &policies);
            assert_eq!(s.waves, want, "{name}");
            assert!(s.held.is_empty(), "{name}");
        }
        // The canary label only matters with a canary selector.
        let _ = &canary;
    }

    #[test]
    fn unavailable_hosts_use_up_the_budget() {
        let l = labels("x");
        let hosts: Vec<HostChanges> = (0..4)
            .map(|i| HostChanges {
                host: i,
                labels: &l,
                disrupts: vec!["a"],
            })
            .collect();
        let mut p = policy(2);
        p.unavailable = vec!["down-1".into()];
        let s = schedule(&hosts, &[("a".to_string(), p.clone())].into());
        assert_eq!(
            s.waves,
            vec![vec![0], vec![1], vec![2], vec![3]],
            "one left of two"
        );
        p.unavailable.push("down-2".into());
        let s = schedule(&hosts, &[("a".to_string(), p)].into());
        assert_eq!(s.waves, vec![vec![0, 1, 2, 3]], "all held, so all calm");
        assert_eq!(s.held.len(), 4);
        assert!(s.held[&(0, "a".to_string())].contains("down-1, down-2"));
    }

    #[test]
    fn surge_waves_hold_max_surge_hosts_and_ignore_unavailable_hosts() {
        let l = labels("x");
        let h = |host: usize, disrupts: &[&'static str]| HostChanges {
            host,
            labels: &l,
            disrupts: disrupts.to_vec(),
        };
        let surge = |max_surge: usize, down: &[&str]| Policy {
            max_surge,
            unavailable: down.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        };
        type Case<'a> = (&'static str, Policy, Vec<HostChanges<'a>>, Vec<Vec<usize>>);
        let four = || (0..4).map(|i| h(i, &["s"])).collect::<Vec<_>>();
        let cases: Vec<Case> = vec![
            (
                "maxSurge 1: one host a wave",
                surge(1, &[]),
                four(),
                vec![vec![0], vec![1], vec![2], vec![3]],
            ),
            (
                "maxSurge 2: pairs",
                surge(2, &[]),
                four(),
                vec![vec![0, 1], vec![2, 3]],
            ),
            (
                "unavailable hosts do not hold a surge back",
                surge(1, &["down-1", "down-2"]),
                four(),
                vec![vec![0], vec![1], vec![2], vec![3]],
            ),
            (
                "maxSurge larger than the hosts: one wave",
                surge(10, &[]),
                four(),
                vec![vec![0, 1, 2, 3]],
            ),
            (
                "calm hosts still go first",
                surge(2, &[]),
                vec![h(0, &["s"]), h(1, &[]), h(2, &["s"]), h(3, &["s"])],
                vec![vec![1], vec![0, 2], vec![3]],
            ),
        ];
        for (name, policy, hosts, want) in cases {
            let s = schedule(&hosts, &[("s".to_string(), policy)].into());
            assert_eq!(s.waves, want, "{name}");
            assert!(s.held.is_empty(), "{name}");
        }
    }

    #[test]
    fn partition_canary_and_pause_hold_hosts_back() {
        let (canary, main) = (labels("canary"), labels("main"));
        let hosts = vec![
            HostChanges {
                host: 0,
                labels: &main,
                disrupts: vec!["a"],
            },
            HostChanges {
                host: 1,
                labels: &canary,
                disrupts: vec!["a"],
            },
            HostChanges {
                host: 2,
                labels: &main,
                disrupts: vec!["a"],
            },
        ];
        let with = |f: &dyn Fn(&mut Policy)| {
            let mut p = policy(3);
            f(&mut p);
            schedule(&hosts, &[("a".to_string(), p)].into())
        };
        let s = with(&|p| p.partition = Some(2));
        assert_eq!(s.waves, vec![vec![2], vec![0, 1]]);
        assert!(s.held[&(2, "a".to_string())].starts_with("partition"));
        let s = with(&|p| {
            p.partition = Some(2);
            p.updated = 2;
        });
        assert_eq!(
            s.held.len(),
            3,
            "two hosts already updated fill the partition"
        );
        let s = with(&|p| {
            p.canary = Some(LabelSelector {
                match_labels: labels("canary"),
                ..Default::default()
            })
        });
        assert_eq!(s.waves, vec![vec![0, 2], vec![1]]);
        let s = with(&|p| p.paused = true);
        assert_eq!(s.held.len(), 3);
    }
}
