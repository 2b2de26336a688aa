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
