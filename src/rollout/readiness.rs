//! Whose readiness a run probes before it computes a budget (pure). The halted marker keeps a
//! host whose gate failed out of the budget, but an instance that passed its gate can stop
//! being ready later (its backend went away, a config broke it): Kubernetes counts such a pod
//! unavailable, so dsctl probes it too. Only runs with a budget to compute probe, i.e. some
//! host would take an available instance of the DaemonSet down; a run with nothing to disrupt
//! costs one exec per host, as before.

use std::collections::{BTreeMap, BTreeSet};

use crate::apply::{HostRun, Outcome};

/// (host index, DaemonSet) pairs to probe once for readiness: for every DaemonSet that some
/// host would disrupt in this run, each reachable host that runs it in sync (no change
/// planned for it, its instance active, no halted marker: a halted host is unavailable
/// already) at the revision `revisions` names for it (a host kept on an older revision by a
/// NoSchedule taint is not probed with the new revision's names). Hosts about to be updated
/// are not probed; they are taken down anyway.
pub fn to_probe(runs: &[HostRun], revisions: &BTreeMap<String, String>) -> Vec<(usize, String)> {
    let disrupted: BTreeSet<&str> = runs
        .iter()
        .filter(|r| r.outcome == Outcome::Changed)
        .flat_map(|r| r.plan.iter().flat_map(|p| &p.changes))
        .filter(|c| c.disruptive)
        .map(|c| c.daemonset.as_str())
        .collect();
    let mut probe = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        if run.outcome.is_error() {
            continue;
        }
        let Some(obs) = &run.observation else {
            continue;
        };
        for &ds in &disrupted {
            let planned = run
                .plan
                .iter()
                .flat_map(|p| &p.changes)
                .any(|c| c.daemonset == ds);
            let in_sync = !planned
                && obs.instance_active(ds)
                && obs.daemonsets.get(ds).is_some_and(|r| {
                    r.halted.is_none() && r.revision.as_ref() == revisions.get(ds)
                });
            if in_sync {
                probe.push((i, ds.to_string()));
            }
        }
    }
    probe
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::budget::tests::{At, ds, run};

    #[test]
    fn who_is_probed() {
        use At::*;
        let spec = ds("");
        let revisions: BTreeMap<String, String> =
            [("web".to_string(), crate::revision::revision(&spec))].into();
        // (what, hosts, probed host indices)
        let rows: &[(&str, &[At], &[usize])] = &[
            ("a no-op run probes nothing", &[InSync, InSync, InSync], &[]),
            ("a heal alone disrupts nothing", &[InSync, Healed], &[]),
            (
                "an update probes the in-sync hosts",
                &[InSync, Old, InSync],
                &[0, 2],
            ),
            (
                "not the halted, inactive or unreachable",
                &[Halted, Inactive, Unreachable, Old],
                &[],
            ),
            ("not bare hosts", &[Bare, Old], &[]),
        ];
        for (what, ats, want) in rows {
            let runs: Vec<HostRun> = ats
                .iter()
                .enumerate()
                .map(|(i, a)| run(i, *a, &spec))
                .collect();
            let probed: Vec<usize> = to_probe(&runs, &revisions)
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            assert_eq!(probed, *want, "{what}");
        }
        let other: BTreeMap<String, String> = [("web".to_string(), "0123456789".into())].into();
        let runs: Vec<HostRun> = [InSync, Old]
            .iter()
            .enumerate()
            .map(|(i, a)| run(i, *a, &spec))
            .collect();
        assert!(
            to_probe(&runs, &other).is_empty(),
            "another revision is not probed with this one's names"
        );
    }
}
