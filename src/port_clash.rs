//! hostPort clashes between DaemonSets on one host (pure). Two DaemonSets that bind one host
//! port cannot both run: the second pod fails to start ("address already in use") after its
//! host has already been touched. So a host where the run would leave two DaemonSets on one
//! port, whether both come from this run's specs or one is already on the host (its recorded
//! spec), is refused before anything on it stops, naming both DaemonSets and the port.
//!
//! As the scheduler's NodePorts filter counts them: the same port and protocol clash when
//! their host IPs overlap (equal, or either one unset or a wildcard address). With
//! `hostNetwork`, every containerPort is a host port.

use std::fmt;

use crate::daemonset::{DaemonSet, PodSpec, Protocol};
use crate::diagnostic::{child, index};
use crate::observe::Observation;
use crate::plan::{HostIntent, Placement};

/// Where a DaemonSet on the host comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// This run's spec, to be started or kept on the host.
    Spec,
    /// Already on the host and not touched by this run (its recorded spec).
    Host,
}

/// One DaemonSet's pod as it will be on the host.
#[derive(Debug, Clone, Copy)]
pub struct Occupant<'a> {
    pub daemonset: &'a str,
    pub pod: &'a PodSpec,
    pub origin: Origin,
}

/// A host port that a pod binds, and the field that binds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub daemonset: String,
    pub origin: Origin,
    /// e.g. `spec.template.spec.containers[0].ports[1].hostPort`.
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    pub port: i64,
    pub protocol: Protocol,
    /// The host IP they both bind (empty: every address).
    pub host_ip: String,
    pub first: Binding,
    pub second: Binding,
}

impl fmt::Display for Clash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |b: &Binding| {
            let at = match b.origin {
                Origin::Spec => "",
                Origin::Host => ", already on this host",
            };
            format!("DaemonSet {} ({}{at})", b.daemonset, b.field)
        };
        let on = if self.host_ip.is_empty() {
            String::new()
        } else {
            format!(" on {}", self.host_ip)
        };
        write!(
            f,
            "hostPort {}/{:?}{on} is bound by both {} and {}: only one can run on this host; give one of them another hostPort",
            self.port,
            self.protocol,
            side(&self.first),
            side(&self.second),
        )
    }
}

struct Bound<'a> {
    port: i64,
    protocol: Protocol,
    ip: &'a str,
    binding: Binding,
}

fn bindings<'a>(o: &Occupant<'a>) -> Vec<Bound<'a>> {
    let mut out = Vec::new();
    for (kind, containers) in [
        ("containers", &o.pod.containers),
        ("initContainers", &o.pod.init_containers),
    ] {
        for (i, c) in containers.iter().enumerate() {
            for (j, p) in c.ports.iter().enumerate() {
                let Some(port) = p.bound_host_port(o.pod.host_network) else {
                    continue;
                };
                let path = index(
                    &child(&index(&child("spec.template.spec", kind), i), "ports"),
                    j,
                );
                let field = if p.host_port().is_some() {
                    "hostPort"
                } else {
                    "containerPort"
                };
                out.push(Bound {
                    port,
                    protocol: p.protocol,
                    ip: p.host_ip.as_deref().unwrap_or(""),
                    binding: Binding {
                        daemonset: o.daemonset.to_string(),
                        origin: o.origin,
                        field: child(&path, field),
                    },
                });
            }
        }
    }
    out
}

/// An unset or wildcard host IP binds every address.
fn overlaps(a: &str, b: &str) -> bool {
    let wildcard = |ip: &str| matches!(ip, "" | "0.0.0.0" | "::" | "[::]");
    wildcard(a) || wildcard(b) || a.trim_matches(['[', ']']) == b.trim_matches(['[', ']'])
}

/// Every pair of different DaemonSets that bind one host port, each pair once, in the order
/// the occupants are given. Clashes inside one DaemonSet are `validate`'s to report.
pub fn clashes(occupants: &[Occupant<'_>]) -> Vec<Clash> {
    let all: Vec<Bound<'_>> = occupants.iter().flat_map(bindings).collect();
    let mut found = Vec::new();
    for (k, a) in all.iter().enumerate() {
        for b in &all[k + 1..] {
            if a.binding.daemonset != b.binding.daemonset
                && a.port == b.port
                && a.protocol == b.protocol
                && overlaps(a.ip, b.ip)
            {
                let host_ip = if overlaps(a.ip, "") { b.ip } else { a.ip };
                found.push(Clash {
                    port: a.port,
                    protocol: a.protocol,
                    host_ip: host_ip.to_string(),
                    first: a.binding.clone(),
                    second: b.binding.clone(),
                });
            }
        }
    }
    found
}

/// The DaemonSets recorded on the host that this run leaves in place (not named by the run's
/// specs, and not pruned), each with its recorded spec. A record whose spec does not parse
/// binds nothing that can be known; the trusted-spec checks refuse it where it is applied.
pub fn recorded_elsewhere(intent: &HostIntent, observed: &Observation) -> Vec<(String, DaemonSet)> {
    observed
        .daemonsets
        .iter()
        .filter(|(name, _)| !intent.daemonsets.contains_key(*name) && !intent.prune)
        .filter_map(|(name, record)| {
            let ds: DaemonSet = serde_json::from_str(record.spec_json.as_deref()?).ok()?;
            Some((name.clone(), ds))
        })
        .collect()
}

/// The clashes on one host: the run's specs that will run there (placed to run, or kept where
/// their instance already is), and the DaemonSets already on the host that the run leaves.
pub fn host_clashes(
    specs: &[DaemonSet],
    intent: &HostIntent,
    observed: &Observation,
) -> Vec<Clash> {
    let others = recorded_elsewhere(intent, observed);
    let mut occupants: Vec<Occupant<'_>> = specs
        .iter()
        .filter(|ds| match intent.daemonsets.get(ds.name()) {
            Some(Placement::Run(_)) => true,
            Some(Placement::Keep) => observed.daemonsets.contains_key(ds.name()),
            _ => false,
        })
        .map(|ds| Occupant {
            daemonset: ds.name(),
            pod: ds.pod_spec(),
            origin: Origin::Spec,
        })
        .collect();
    occupants.extend(others.iter().map(|(name, ds)| Occupant {
        daemonset: name,
        pod: ds.pod_spec(),
        origin: Origin::Host,
    }));
    clashes(&occupants)
}

/// One line for a host's refusal: every clash found there.
pub fn refusal(clashes: &[Clash]) -> Option<String> {
    if clashes.is_empty() {
        return None;
    }
    let all: Vec<String> = clashes.iter().map(Clash::to_string).collect();
    Some(format!("refused before any change: {}", all.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::RecordedDaemonSet;
    use crate::test_specs::SpecBuilder;

    fn spec(name: &str, ports: &str) -> DaemonSet {
        SpecBuilder::new(name).ports(ports).build()
    }

    /// (first DaemonSet, second DaemonSet, port, protocol) of each clash.
    type Named = (String, String, i64, Protocol);

    fn names(found: &[Clash]) -> Vec<Named> {
        found
            .iter()
            .map(|c| {
                (
                    c.first.daemonset.clone(),
                    c.second.daemonset.clone(),
                    c.port,
                    c.protocol,
                )
            })
            .collect()
    }

    fn occupants(specs: &[DaemonSet]) -> Vec<Occupant<'_>> {
        specs
            .iter()
            .map(|ds| Occupant {
                daemonset: ds.name(),
                pod: ds.pod_spec(),
                origin: Origin::Spec,
            })
            .collect()
    }

    #[test]
    fn clash_table() {
        let tcp = Protocol::TCP;
        let p = |port: u16| format!("{{ containerPort = 80, hostPort = {port} }}");
        type Case = (
            &'static str,
            Vec<DaemonSet>,
            Vec<(&'static str, &'static str, i64, Protocol)>,
        );
        let cases: Vec<Case> = vec![
            ("one DaemonSet", vec![spec("a", &p(8680))], vec![]),
            (
                "different ports",
                vec![spec("a", &p(8680)), spec("b", &p(8681))],
                vec![],
            ),
            (
                "same port",
                vec![spec("a", &p(8680)), spec("b", &p(8680))],
                vec![("a", "b", 8680, tcp)],
            ),
            (
                "same port, other protocol",
                vec![
                    spec("a", &p(8680)),
                    spec(
                        "b",
                        "{ containerPort = 80, hostPort = 8680, protocol = \"UDP\" }",
                    ),
                ],
                vec![],
            ),
            (
                "same port and UDP",
                vec![
                    spec(
                        "a",
                        "{ containerPort = 53, hostPort = 8680, protocol = \"UDP\" }",
                    ),
                    spec(
                        "b",
                        "{ containerPort = 80, hostPort = 8680, protocol = \"UDP\" }",
                    ),
                ],
                vec![("a", "b", 8680, Protocol::UDP)],
            ),
            (
                "different host IPs",
                vec![
                    spec(
                        "a",
                        "{ containerPort = 80, hostPort = 8680, hostIP = \"127.0.0.1\" }",
                    ),
                    spec(
                        "b",
                        "{ containerPort = 80, hostPort = 8680, hostIP = \"10.0.0.1\" }",
                    ),
                ],
                vec![],
            ),
            (
                "one host IP, one wildcard",
                vec![
                    spec(
                        "a",
                        "{ containerPort = 80, hostPort = 8680, hostIP = \"127.0.0.1\" }",
                    ),
                    spec(
                        "b",
                        "{ containerPort = 80, hostPort = 8680, hostIP = \"0.0.0.0\" }",
                    ),
                ],
                vec![("a", "b", 8680, tcp)],
            ),
            (
                "hostPort 0 is no host port",
                vec![
                    spec("a", "{ containerPort = 80, hostPort = 0 }"),
                    spec("b", "{ containerPort = 80, hostPort = 0 }"),
                ],
                vec![],
            ),
            (
                "no hostPort, no clash",
                vec![
                    spec("a", "{ containerPort = 8680 }"),
                    spec("b", "{ containerPort = 8680 }"),
                ],
                vec![],
            ),
            (
                "hostNetwork containerPort against a hostPort",
                vec![
                    SpecBuilder::new("a")
                        .ports("{ containerPort = 8680 }")
                        .host_network()
                        .build(),
                    spec("b", &p(8680)),
                ],
                vec![("a", "b", 8680, tcp)],
            ),
            (
                "three DaemonSets, every pair named once",
                vec![
                    spec("a", &p(8680)),
                    spec("b", &p(8680)),
                    spec("c", &p(8680)),
                ],
                vec![
                    ("a", "b", 8680, tcp),
                    ("a", "c", 8680, tcp),
                    ("b", "c", 8680, tcp),
                ],
            ),
        ];
        for (name, specs, want) in cases {
            let want: Vec<Named> = want
                .into_iter()
                .map(|(a, b, port, proto)| (a.into(), b.into(), port, proto))
                .collect();
            assert_eq!(names(&clashes(&occupants(&specs))), want, "{name}");
        }
    }

    #[test]
    fn a_clash_names_both_daemonsets_the_port_and_the_fields() {
        let a = spec("sv-a", "{ containerPort = 80, hostPort = 8680 }");
        let b = SpecBuilder::new("sv-b")
            .ports("{ containerPort = 8680 }")
            .host_network()
            .build();
        let occupants = [
            Occupant {
                daemonset: a.name(),
                pod: a.pod_spec(),
                origin: Origin::Spec,
            },
            Occupant {
                daemonset: b.name(),
                pod: b.pod_spec(),
                origin: Origin::Host,
            },
        ];
        let found = clashes(&occupants);
        assert_eq!(
            refusal(&found).unwrap(),
            "refused before any change: hostPort 8680/TCP is bound by both DaemonSet sv-a \
             (spec.template.spec.containers[0].ports[0].hostPort) and DaemonSet sv-b \
             (spec.template.spec.containers[0].ports[0].containerPort, already on this host): \
             only one can run on this host; give one of them another hostPort"
        );
        assert_eq!(refusal(&[]), None);
    }

    fn recorded(ds: &DaemonSet) -> RecordedDaemonSet {
        RecordedDaemonSet {
            revision: Some("r1".into()),
            spec_json: Some(serde_json::to_string(ds).unwrap()),
            ..Default::default()
        }
    }

    fn run(ds: &DaemonSet) -> Placement {
        let templates = crate::render::Templates::embedded();
        Placement::Run(
            crate::intent::desired(
                ds,
                &Default::default(),
                crate::inventory::UnitFlavor::Quadlet,
                &templates,
            )
            .unwrap(),
        )
    }

    /// With what a host holds: its recorded DaemonSets count unless this run names or prunes
    /// them; a spec placed Absent or Deleted is on its way out.
    #[test]
    fn host_clashes_count_what_the_host_already_runs() {
        let old = spec("sv-old", "{ containerPort = 80, hostPort = 8680 }");
        let new = spec("sv-new", "{ containerPort = 80, hostPort = 8680 }");
        let moved = spec("sv-old", "{ containerPort = 80, hostPort = 8681 }");
        let mut observed = Observation::default();
        observed.daemonsets.insert("sv-old".into(), recorded(&old));
        let intent = |entries: Vec<(&str, Placement)>, prune: bool| HostIntent {
            daemonsets: entries
                .into_iter()
                .map(|(n, p)| (n.to_string(), p))
                .collect(),
            prune,
            ..Default::default()
        };
        let specs = [new.clone()];
        let found = host_clashes(
            &specs,
            &intent(vec![("sv-new", run(&new))], false),
            &observed,
        );
        assert_eq!(
            names(&found),
            [("sv-new".into(), "sv-old".into(), 8680, Protocol::TCP)]
        );
        assert_eq!(found[0].second.origin, Origin::Host);
        // Pruned: sv-old goes in this run.
        let pruned = host_clashes(
            &specs,
            &intent(vec![("sv-new", run(&new))], true),
            &observed,
        );
        assert!(pruned.is_empty());
        // Both in this run, sv-old moved to another port: no clash.
        let both = [new.clone(), moved.clone()];
        let placed = intent(vec![("sv-new", run(&new)), ("sv-old", run(&moved))], false);
        assert!(host_clashes(&both, &placed, &observed).is_empty());
        // sv-new not eligible here: nothing of it will run.
        let absent = intent(vec![("sv-new", Placement::Absent)], false);
        assert!(host_clashes(&specs, &absent, &observed).is_empty());
        // Kept only where its instance is: sv-new is not on the host, so it binds nothing.
        let kept = intent(vec![("sv-new", Placement::Keep)], false);
        assert!(host_clashes(&specs, &kept, &observed).is_empty());
        // A record whose spec is not JSON binds nothing known.
        let mut broken = observed.clone();
        broken.daemonsets.get_mut("sv-old").unwrap().spec_json = Some("{not json".into());
        let found = host_clashes(&specs, &intent(vec![("sv-new", run(&new))], false), &broken);
        assert!(found.is_empty());
    }
}
