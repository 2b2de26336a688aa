//! A spec read back from hosts is untrusted input (pure): before `rollout restart|resume|undo`
//! applies it to every host, it must pass the validation of a spec file, hash to the revision
//! it is recorded under, carry the DaemonSet's name, and agree with what the other hosts
//! record. Otherwise one host's tampered record (a privileged container, a number of 999999,
//! a name like `../../etc`) would spread to the whole fleet.

use std::fmt;

use crate::daemonset::DaemonSet;
use crate::diagnostic::Severity;
use crate::observe::RecordedDaemonSet;

/// Which recorded revision to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The current revision with the highest number (restart, resume).
    Newest,
    /// The revision with this number (undo, history).
    Number(u64),
}

/// A revision the hosts agree on.
#[derive(Debug, Clone, PartialEq)]
pub struct Trusted {
    pub daemonset: DaemonSet,
    pub revision: String,
    pub number: u64,
}

/// Why nothing is applied: one line per host that disagrees or holds an invalid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub daemonset: String,
    pub problems: Vec<(String, String)>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the hosts' records of daemonset {:?} cannot be trusted; nothing was applied",
            self.daemonset
        )?;
        for (host, problem) in &self.problems {
            write!(f, "\n  {host}: {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// One recorded revision on one host.
struct Claim<'a> {
    host: &'a str,
    revision: &'a str,
    number: u64,
    spec_json: Option<&'a str>,
}

fn claims<'a>(host: &'a str, record: &'a RecordedDaemonSet) -> Vec<Claim<'a>> {
    let current = record.revision.as_deref().map(|revision| Claim {
        host,
        revision,
        number: record.number,
        spec_json: record.spec_json.as_deref(),
    });
    current
        .into_iter()
        .chain(record.history.iter().map(|(revision, h)| Claim {
            host,
            revision,
            number: h.number,
            spec_json: h.spec_json.as_deref(),
        }))
        .collect()
}

/// Why one claim cannot be applied, if it cannot.
fn check(claim: &Claim, name: &str) -> Result<DaemonSet, String> {
    if !crate::layout::is_revision(claim.revision) {
        return Err(format!("records a revision named {:?}", claim.revision));
    }
    let json = claim
        .spec_json
        .ok_or_else(|| format!("keeps no spec for revision {}", claim.revision))?;
    let ds: DaemonSet = serde_json::from_str(json)
        .map_err(|e| format!("revision {}: its spec does not parse: {e}", claim.revision))?;
    if ds.metadata.name != name {
        return Err(format!(
            "revision {}: its spec names daemonset {:?}",
            claim.revision, ds.metadata.name
        ));
    }
    if !ds.objects.has_data() {
        // The hosts keep ConfigMaps and Secrets as hashes only (never a Secret's value).
        let names: Vec<String> = ds.objects.summaries().into_keys().collect();
        return Err(format!(
            "revision {} uses {}, whose data the hosts keep only as hashes; apply the spec files with their ConfigMaps and Secrets instead",
            claim.revision,
            names.join(", ")
        ));
    }
    let hash = crate::revision::revision(&ds);
    if hash != claim.revision {
        return Err(format!(
            "revision {}: its spec hashes to {hash} (altered after it was recorded)",
            claim.revision
        ));
    }
    if let Some(e) = crate::validate::validate_daemonset(&ds)
        .into_iter()
        .find(|f| f.severity == Severity::Error)
    {
        return Err(format!(
            "revision {}: its spec is invalid: {}: {}",
            claim.revision, e.field, e.message
        ));
    }
    Ok(ds)
}

/// The revision `pick` selects among `records` (host name, that host's record of `name`), once
/// every host that holds it has a valid, matching spec and no host's number is beyond what the
/// others can explain (a rollout moves every host's number by one at a time).
pub fn trusted_spec(
    records: &[(&str, &RecordedDaemonSet)],
    name: &str,
    pick: Pick,
) -> Result<Trusted, Refused> {
    let refuse = |problems: Vec<(String, String)>| Refused {
        daemonset: name.to_string(),
        problems,
    };
    let all: Vec<Claim> = records.iter().flat_map(|(h, r)| claims(h, r)).collect();
    let mut problems = Vec::new();
    let chosen: Vec<&Claim> = match pick {
        Pick::Newest => {
            let current = |host: &str| records.iter().find(|(h, _)| *h == host).map(|(_, r)| r);
            let Some(top) = all
                .iter()
                .filter(|c| current(c.host).and_then(|r| r.revision.as_deref()) == Some(c.revision))
                .max_by_key(|c| c.number)
            else {
                return Err(refuse(vec![]));
            };
            let others = records
                .iter()
                .filter(|(h, _)| *h != top.host)
                .map(|(_, r)| r.number)
                .max();
            if let Some(others) = others
                && top.number > others + 1
            {
                problems.push((
                    top.host.to_string(),
                    format!(
                        "claims revision number {} while the other hosts are at most at {others}",
                        top.number
                    ),
                ));
            }
            all.iter().filter(|c| c.revision == top.revision).collect()
        }
        Pick::Number(n) => {
            let numbered: Vec<&Claim> = all.iter().filter(|c| c.number == n).collect();
            if let Some(first) = numbered.first() {
                for c in numbered.iter().filter(|c| c.revision != first.revision) {
                    problems.push((
                        c.host.to_string(),
                        format!(
                            "records revision {} as number {n}, {} records {}",
                            c.revision, first.host, first.revision
                        ),
                    ));
                }
            }
            numbered
        }
    };
    agree(&chosen, problems, name)
}

/// The revision `revision` among `records`, once every host that keeps its spec agrees on a
/// valid one that hashes to it (auto-revert's way back to what a failed host ran before).
pub fn trusted_revision(
    records: &[(&str, &RecordedDaemonSet)],
    name: &str,
    revision: &str,
) -> Result<Trusted, Refused> {
    let all: Vec<Claim> = records.iter().flat_map(|(h, r)| claims(h, r)).collect();
    let chosen: Vec<&Claim> = all.iter().filter(|c| c.revision == revision).collect();
    agree(&chosen, Vec::new(), name)
}

/// The one valid spec every claim that keeps one agrees on, or the problems.
fn agree(
    chosen: &[&Claim],
    mut problems: Vec<(String, String)>,
    name: &str,
) -> Result<Trusted, Refused> {
    let refuse = |problems: Vec<(String, String)>| Refused {
        daemonset: name.to_string(),
        problems,
    };
    let mut agreed: Option<(DaemonSet, &Claim)> = None;
    // A host that keeps no spec for the revision (history beyond what it observed) is no
    // evidence against it; every host that does keep one must agree.
    for claim in chosen.iter().filter(|c| c.spec_json.is_some()) {
        match check(claim, name) {
            Ok(ds) => match &agreed {
                Some((first, _)) if *first != ds => problems.push((
                    claim.host.to_string(),
                    format!(
                        "revision {}: its spec differs from the other hosts'",
                        claim.revision
                    ),
                )),
                Some(_) => {}
                None => agreed = Some((ds, claim)),
            },
            Err(problem) => problems.push((claim.host.to_string(), problem)),
        }
    }
    match agreed {
        Some((daemonset, claim)) if problems.is_empty() => Ok(Trusted {
            revision: claim.revision.to_string(),
            number: claim.number,
            daemonset,
        }),
        Some(_) => Err(refuse(problems)),
        None => {
            if problems.is_empty() {
                problems.push(("every host".into(), "keeps no spec of that revision".into()));
            }
            Err(refuse(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::HistoryEntry;

    fn ds(name: &str, image: &str) -> DaemonSet {
        toml::from_str(&format!(
            r#"apiVersion = "apps/v1"
kind = "DaemonSet"
metadata = {{ name = "{name}" }}
[spec.selector.matchLabels]
app = "web"
[spec.template.metadata.labels]
app = "web"
[[spec.template.spec.containers]]
name = "web"
image = "{image}"
"#
        ))
        .unwrap()
    }

    /// A host's record at `spec` (number `number`), with `older` kept in history.
    fn record(spec: &DaemonSet, number: u64, older: &[(&DaemonSet, u64)]) -> RecordedDaemonSet {
        RecordedDaemonSet {
            revision: Some(crate::revision::revision(spec)),
            number,
            spec_json: Some(serde_json::to_string(spec).unwrap()),
            history: older
                .iter()
                .map(|(d, n)| {
                    (
                        crate::revision::revision(d),
                        HistoryEntry {
                            number: *n,
                            spec_json: Some(serde_json::to_string(d).unwrap()),
                            ..HistoryEntry::default()
                        },
                    )
                })
                .collect(),
            ..RecordedDaemonSet::default()
        }
    }

    fn hosts(records: &[RecordedDaemonSet]) -> Vec<(&'static str, &RecordedDaemonSet)> {
        let names = ["node-1", "node-2", "node-3", "node-4"];
        names.iter().copied().zip(records.iter()).collect()
    }

    #[test]
    fn agreeing_hosts_give_the_newest_and_the_numbered_revision() {
        let (v1, v2) = (ds("web", "img:1"), ds("web", "img:2"));
        // Mid-rollout: one host is on v2, the others still on v1.
        let records = [
            record(&v2, 2, &[(&v1, 1)]),
            record(&v1, 1, &[]),
            record(&v1, 1, &[]),
        ];
        let newest = trusted_spec(&hosts(&records), "web", Pick::Newest).unwrap();
        assert_eq!((newest.daemonset, newest.number), (v2.clone(), 2));
        let undo = trusted_spec(&hosts(&records), "web", Pick::Number(1)).unwrap();
        assert_eq!(undo.daemonset, v1);
    }

    /// Each row: a tampering of node-2's record; nothing is returned, and the refusal names
    /// node-2 and why.
    #[test]
    fn a_record_tampered_on_one_host_is_never_trusted() {
        let v1 = ds("web", "img:1");
        let honest = record(&v1, 3, &[]);
        let mut privileged = v1.clone();
        privileged.spec.template.spec.containers[0].image = "img:evil".into();
        let evil = serde_json::to_string(&privileged).unwrap();
        let mut traversal = ds("../../etc", "img:1");
        traversal.spec = v1.spec.clone();
        let rows: Vec<(&str, RecordedDaemonSet, Pick, &str)> = vec![
            (
                "spec altered under its revision",
                RecordedDaemonSet {
                    spec_json: Some(evil.clone()),
                    ..honest.clone()
                },
                Pick::Newest,
                "hashes to",
            ),
            (
                "a consistent spec with a number far ahead",
                record(&privileged, 999_999, &[]),
                Pick::Newest,
                "claims revision number 999999",
            ),
            (
                "a traversal name",
                record(&traversal, 4, &[]),
                Pick::Newest,
                "names daemonset \"../../etc\"",
            ),
            (
                "a revision name that is a path",
                RecordedDaemonSet {
                    revision: Some("../x".into()),
                    number: 4,
                    ..honest.clone()
                },
                Pick::Newest,
                "records a revision named \"../x\"",
            ),
            (
                "a spec that does not parse",
                RecordedDaemonSet {
                    spec_json: Some("{".into()),
                    ..honest.clone()
                },
                Pick::Newest,
                "does not parse",
            ),
            (
                "another revision under the number asked for",
                record(&privileged, 3, &[]),
                Pick::Number(3),
                "as number 3",
            ),
            (
                "a valid hash of an invalid spec",
                {
                    let mut bad = v1.clone();
                    bad.spec.template.spec.containers[0].name = "Not_A_Name".into();
                    record(&bad, 4, &[])
                },
                Pick::Newest,
                "is invalid",
            ),
        ];
        for (what, tampered, pick, expect) in rows {
            let records = [honest.clone(), tampered, honest.clone()];
            let err = trusted_spec(&hosts(&records), "web", pick).expect_err(what);
            let text = err.to_string();
            assert!(
                err.problems
                    .iter()
                    .any(|(h, p)| h == "node-2" && p.contains(expect)),
                "{what}: {text}"
            );
            assert!(text.contains("nothing was applied"), "{what}");
        }
    }
}
