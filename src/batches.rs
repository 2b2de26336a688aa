//! Which hosts change together (pure): the order of a rollout under maxUnavailable.
//!
//! Hosts whose changes take no available instance down (creates, heals, removals) go first,
//! all at once: their instances are already unavailable, which Kubernetes also replaces
//! outside the budget. Hosts that restart a running instance for a new revision follow in
//! waves, where no wave holds more hosts of one DaemonSet than its maxUnavailable.

use std::collections::BTreeMap;

/// One host's part in the rollout: which DaemonSets it would take out of service.
#[derive(Debug, Clone, PartialEq)]
pub struct HostChanges<'a> {
    pub host: usize,
    pub disrupts: Vec<&'a str>,
}

/// Waves of host indices, in order. `max_unavailable` gives each DaemonSet's budget (≥ 1).
pub fn waves(hosts: &[HostChanges<'_>], max_unavailable: &BTreeMap<String, usize>) -> Vec<Vec<usize>> {
    let mut waves = Vec::new();
    let calm: Vec<usize> = hosts.iter().filter(|h| h.disrupts.is_empty()).map(|h| h.host).collect();
    if !calm.is_empty() {
        waves.push(calm);
    }
    let mut pending: Vec<&HostChanges> = hosts.iter().filter(|h| !h.disrupts.is_empty()).collect();
    while !pending.is_empty() {
        let mut used: BTreeMap<&str, usize> = BTreeMap::new();
        let mut wave = Vec::new();
        pending.retain(|h| {
            let fits = h.disrupts.iter().all(|ds| used.get(ds).copied().unwrap_or(0) < budget(max_unavailable, ds));
            if fits {
                for ds in &h.disrupts {
                    *used.entry(ds).or_default() += 1;
                }
                wave.push(h.host);
            }
            !fits
        });
        waves.push(wave);
    }
    waves
}

fn budget(max_unavailable: &BTreeMap<String, usize>, ds: &str) -> usize {
    max_unavailable.get(ds).copied().unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(host: usize, disrupts: &[&'static str]) -> HostChanges<'static> {
        HostChanges { host, disrupts: disrupts.to_vec() }
    }

    #[test]
    fn table() {
        let budgets: BTreeMap<String, usize> = [("a".to_string(), 2), ("b".to_string(), 1)].into();
        let cases: Vec<(&str, Vec<HostChanges>, Vec<Vec<usize>>)> = vec![
            ("nothing to do", vec![], vec![]),
            ("creates and heals all at once", vec![h(0, &[]), h(1, &[]), h(2, &[])], vec![vec![0, 1, 2]]),
            ("updates of a in pairs", vec![h(0, &["a"]), h(1, &["a"]), h(2, &["a"])], vec![vec![0, 1], vec![2]]),
            ("calm hosts first", vec![h(0, &["a"]), h(1, &[]), h(2, &["a"])], vec![vec![1], vec![0, 2]]),
            ("b one at a time", vec![h(0, &["b"]), h(1, &["b"])], vec![vec![0], vec![1]]),
            (
                "a host with both waits for both budgets",
                vec![h(0, &["a", "b"]), h(1, &["a"]), h(2, &["b"]), h(3, &["a"])],
                vec![vec![0, 1], vec![2, 3]],
            ),
            ("unknown DaemonSet defaults to one", vec![h(0, &["c"]), h(1, &["c"])], vec![vec![0], vec![1]]),
        ];
        for (name, hosts, want) in cases {
            assert_eq!(waves(&hosts, &budgets), want, "{name}");
        }
    }
}
