//! Which spec a failed host goes back to (auto-revert), pure. The spec comes from the hosts'
//! records, so it is untrusted input: it goes through `trusted_spec` (it must validate, hash
//! to the revision the failed host ran before, and agree with every other host that keeps
//! it), exactly as for `rollout undo`. A tampered record is refused, and the host stays failed
//! on the new revision (which halts the rollout) rather than run what one host made up.

use crate::apply::HostRun;
use crate::daemonset::DaemonSet;
use crate::plan::ChangeKind;
use crate::trusted_spec::{Refused, trusted_revision};

/// The specs host `i` ran before this run's updates of the DaemonSets that auto-revert, read
/// through the records of every observed host. `auto_revert` says which DaemonSets do.
pub fn previous_specs(
    runs: &[HostRun],
    i: usize,
    auto_revert: impl Fn(&str) -> bool,
) -> Result<Vec<DaemonSet>, Refused> {
    let Some(before) = runs[i].observation.as_ref() else {
        return Ok(Vec::new());
    };
    let mut specs = Vec::new();
    for change in runs[i].plan.iter().flat_map(|p| &p.changes) {
        if change.kind != ChangeKind::Update || !auto_revert(&change.daemonset) {
            continue;
        }
        let name = change.daemonset.as_str();
        let Some(revision) = before
            .daemonsets
            .get(name)
            .and_then(|r| r.revision.as_deref())
        else {
            continue;
        };
        let records: Vec<(&str, &crate::observe::RecordedDaemonSet)> = runs
            .iter()
            .filter_map(|r| {
                Some((
                    r.host.as_str(),
                    r.observation.as_ref()?.daemonsets.get(name)?,
                ))
            })
            .collect();
        specs.push(trusted_revision(&records, name, revision)?.daemonset);
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::budget::tests::{At, ds, run};

    #[test]
    fn the_previous_spec_must_be_trusted() {
        let old = ds("");
        let new = ds("[dsctl]\nautoRevert = true");
        let with_spec = |i: usize, json: Option<String>| {
            let mut r = run(i, At::Old, &new);
            let rec = r
                .observation
                .as_mut()
                .unwrap()
                .daemonsets
                .get_mut("web")
                .unwrap();
            rec.revision = Some(crate::revision::revision(&old));
            rec.spec_json = json;
            r
        };
        let honest = serde_json::to_string(&old).unwrap();
        let mut evil = old.clone();
        evil.spec.template.spec.containers[0].image = "img:evil".into();
        let evil = serde_json::to_string(&evil).unwrap();
        let runs = vec![
            with_spec(0, Some(honest.clone())),
            with_spec(1, Some(honest.clone())),
        ];
        assert_eq!(
            previous_specs(&runs, 0, |_| true).unwrap(),
            vec![old.clone()]
        );
        assert_eq!(previous_specs(&runs, 0, |_| false).unwrap(), vec![]);
        let rows: Vec<(&str, Vec<HostRun>, &str)> = vec![
            (
                "altered on the failed host",
                vec![
                    with_spec(0, Some(evil.clone())),
                    with_spec(1, Some(honest.clone())),
                ],
                "node-0",
            ),
            (
                "altered on another host",
                vec![
                    with_spec(0, Some(honest.clone())),
                    with_spec(1, Some(evil.clone())),
                ],
                "node-1",
            ),
            (
                "kept nowhere",
                vec![with_spec(0, None), with_spec(1, None)],
                "every host",
            ),
        ];
        for (what, runs, blamed) in rows {
            let refused = previous_specs(&runs, 0, |_| true).expect_err(what);
            assert!(
                refused.problems.iter().any(|(h, _)| h == blamed),
                "{what}: {refused}"
            );
        }
    }
}
