//! What rendering knows about one host: its inventory name, and what the observe round trip
//! learned (addresses, architecture, OS, CPUs, memory, storage). The downward API resolves
//! against these (`downward.rs`), and the well-known node labels `kubernetes.io/arch` and
//! `kubernetes.io/os` come from them. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::inventory::Host;
use crate::labels::{ARCH_LABEL, OS_LABEL};
use crate::observe::HostInfo;

/// The facts about one host that rendering and eligibility use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostFacts {
    /// The inventory name: `spec.nodeName` and `kubernetes.io/hostname`.
    pub node_name: String,
    /// `status.hostIPs`: the primary address first (`status.hostIP`), then at most one of the
    /// other IP family, as the kubelet reports a node's addresses. Empty when not known.
    pub host_ips: Vec<IpAddr>,
    /// `kubernetes.io/arch`, in Go's GOARCH spelling (amd64, arm64 …).
    pub arch: Option<String>,
    /// `kubernetes.io/os`, in Go's GOOS spelling (linux).
    pub os: Option<String>,
    /// Processing units (`nproc`): the node's allocatable CPU.
    pub cpus: Option<u32>,
    /// MemTotal: the node's allocatable memory.
    pub memory_bytes: Option<u64>,
    /// The size of the file system under podman's storage: the node's allocatable
    /// ephemeral storage.
    pub ephemeral_storage_bytes: Option<u64>,
}

impl HostFacts {
    /// What is known without connecting: the name, and the address when the inventory gives an
    /// IP literal.
    pub fn offline(host: &Host) -> HostFacts {
        HostFacts {
            node_name: host.name.clone(),
            host_ips: inventory_ip(host).into_iter().collect(),
            ..Default::default()
        }
    }

    /// The facts of a host its observe round trip described.
    pub fn observed(host: &Host, info: &HostInfo) -> HostFacts {
        HostFacts {
            node_name: host.name.clone(),
            host_ips: host_ips(info, inventory_ip(host)),
            arch: info.machine.as_deref().map(goarch),
            os: info.kernel.as_deref().map(goos),
            cpus: info.cpus,
            memory_bytes: info.memory_kib.and_then(|k| k.checked_mul(1024)),
            ephemeral_storage_bytes: info.storage_kib.and_then(|k| k.checked_mul(1024)),
        }
    }

    /// The well-known labels these facts give a host's Node: `kubernetes.io/arch` and
    /// `kubernetes.io/os`, where known.
    pub fn well_known_labels(&self) -> BTreeMap<String, String> {
        [(ARCH_LABEL, &self.arch), (OS_LABEL, &self.os)]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.clone()?)))
            .collect()
    }

    /// The host as its Node would show it: the inventory's labels, plus the observed
    /// well-known labels the inventory does not pin itself. Eligibility runs on this.
    pub fn node(&self, host: &Host) -> Host {
        let mut node = host.clone();
        for (k, v) in self.well_known_labels() {
            node.labels.entry(k).or_insert(v);
        }
        node
    }
}

/// The inventory's address, when it is an IP literal (`[::1]` too).
fn inventory_ip(host: &Host) -> Option<IpAddr> {
    let address = host.address.trim_start_matches('[').trim_end_matches(']');
    address.parse().ok()
}

/// Interfaces whose addresses are podman's or a container runtime's own, never the host's.
fn is_container_interface(name: &str) -> bool {
    [
        "podman",
        "cni-podman",
        "veth",
        "docker",
        "cni",
        "flannel",
        "cali",
        "virbr",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

/// The kubelet's node addresses: one primary IP (the address dsctl's SSH connection reached,
/// else the inventory's, else the first global address), then the first global address of the
/// other family on the same interface (a dual-stack pair).
fn host_ips(info: &HostInfo, inventory: Option<IpAddr>) -> Vec<IpAddr> {
    let usable = |ip: &IpAddr| !ip.is_loopback() && !ip.is_unspecified();
    let host_addresses: Vec<&(String, IpAddr)> = info
        .addresses
        .iter()
        .filter(|(iface, ip)| !is_container_interface(iface) && usable(ip))
        .collect();
    let Some(primary) = info
        .server_ip
        .filter(usable)
        .or(inventory.filter(usable))
        .or_else(|| host_addresses.first().map(|(_, ip)| *ip))
    else {
        return Vec::new();
    };
    let iface = host_addresses
        .iter()
        .find(|(_, ip)| *ip == primary)
        .map(|(iface, _)| iface.as_str());
    let other = host_addresses
        .iter()
        .filter(|(i, _)| iface.is_none_or(|name| name == i))
        .map(|(_, ip)| *ip)
        .find(|ip| ip.is_ipv4() != primary.is_ipv4());
    std::iter::once(primary).chain(other).collect()
}

/// `uname -m` in Go's GOARCH spelling, as the kubelet's `runtime.GOARCH` labels a node.
pub fn goarch(machine: &str) -> String {
    match machine {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" | "aarch64_be" => "arm64",
        "i386" | "i486" | "i586" | "i686" => "386",
        m if m.starts_with("armv") || m == "arm" => "arm",
        "ppc64le" => "ppc64le",
        "ppc64" => "ppc64",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        "mips64" => "mips64",
        "mips" => "mips",
        other => other,
    }
    .to_string()
}

/// `uname -s` in Go's GOOS spelling.
pub fn goos(kernel: &str) -> String {
    kernel.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, address: &str) -> Host {
        Host {
            name: name.into(),
            address: address.into(),
            settings: Default::default(),
            labels: BTreeMap::new(),
            taints: vec![],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn addrs(list: &[(&str, &str)]) -> Vec<(String, IpAddr)> {
        list.iter().map(|(i, a)| (i.to_string(), ip(a))).collect()
    }

    #[test]
    fn goarch_spelling() {
        for (machine, want) in [
            ("x86_64", "amd64"),
            ("aarch64", "arm64"),
            ("armv7l", "arm"),
            ("armv6l", "arm"),
            ("i686", "386"),
            ("ppc64le", "ppc64le"),
            ("s390x", "s390x"),
            ("riscv64", "riscv64"),
            ("loongarch64", "loong64"),
            ("sparc64", "sparc64"),
        ] {
            assert_eq!(goarch(machine), want, "{machine}");
        }
        assert_eq!(goos("Linux"), "linux");
    }

    #[test]
    fn host_ips_table() {
        let global = addrs(&[
            ("eth0", "10.213.0.11"),
            ("eth0", "fd00::11"),
            ("podman0", "10.88.0.1"),
            ("eth1", "192.168.5.5"),
            ("eth1", "fd00:5::5"),
        ]);
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            &'a str,
            &'a [(&'a str, &'a str)],
            &'a [&'a str],
        );
        let cases: &[Case] = &[
            (
                "the SSH server address, then its v6 twin",
                Some("10.213.0.11"),
                "node-1",
                &[],
                &["10.213.0.11", "fd00::11"],
            ),
            (
                "through the other interface",
                Some("192.168.5.5"),
                "node-1",
                &[],
                &["192.168.5.5", "fd00:5::5"],
            ),
            (
                "v6 first",
                Some("fd00::11"),
                "node-1",
                &[],
                &["fd00::11", "10.213.0.11"],
            ),
            (
                "no SSH_CONNECTION: the inventory literal",
                None,
                "10.213.0.11",
                &[],
                &["10.213.0.11", "fd00::11"],
            ),
            (
                "a loopback tunnel: the first global address",
                Some("127.0.0.1"),
                "localhost",
                &[],
                &["10.213.0.11", "fd00::11"],
            ),
            (
                "an address outside the list has no twin",
                Some("203.0.113.7"),
                "x",
                &[("eth0", "203.0.113.7")],
                &["203.0.113.7"],
            ),
        ];
        for (name, server, address, extra, want) in cases {
            let addresses = if extra.is_empty() {
                global.clone()
            } else {
                addrs(extra)
            };
            let info = HostInfo {
                server_ip: server.map(ip),
                addresses,
                ..Default::default()
            };
            let facts = HostFacts::observed(&host("n", address), &info);
            let want: Vec<IpAddr> = want.iter().map(|s| ip(s)).collect();
            assert_eq!(facts.host_ips, want, "{name}");
        }
        let none = HostFacts::observed(&host("n", "node.example"), &HostInfo::default());
        assert!(none.host_ips.is_empty());
        let podman_only = HostInfo {
            addresses: addrs(&[("podman0", "10.88.0.1")]),
            ..Default::default()
        };
        assert!(
            HostFacts::observed(&host("n", "node.example"), &podman_only)
                .host_ips
                .is_empty()
        );
    }

    #[test]
    fn offline_and_observed_facts() {
        assert_eq!(
            HostFacts::offline(&host("node-1", "[fd00::1]")).host_ips,
            [ip("fd00::1")]
        );
        assert!(
            HostFacts::offline(&host("node-1", "node-1.lan"))
                .host_ips
                .is_empty()
        );
        let info = HostInfo {
            kernel: Some("Linux".into()),
            machine: Some("aarch64".into()),
            cpus: Some(4),
            memory_kib: Some(2_000_000),
            storage_kib: Some(10),
            ..Default::default()
        };
        let facts = HostFacts::observed(&host("node-1", "10.0.0.1"), &info);
        assert_eq!(facts.arch.as_deref(), Some("arm64"));
        assert_eq!(facts.os.as_deref(), Some("linux"));
        assert_eq!(facts.memory_bytes, Some(2_048_000_000));
        assert_eq!(facts.ephemeral_storage_bytes, Some(10_240));
        assert_eq!(facts.host_ips, [ip("10.0.0.1")]);
    }

    #[test]
    fn inventory_labels_pin_the_observed_ones() {
        let facts = HostFacts {
            arch: Some("arm64".into()),
            os: Some("linux".into()),
            ..Default::default()
        };
        let mut h = host("node-1", "10.0.0.1");
        let node = facts.node(&h);
        assert_eq!(node.labels[ARCH_LABEL], "arm64");
        assert_eq!(node.labels[OS_LABEL], "linux");
        h.labels.insert(ARCH_LABEL.into(), "amd64".into());
        assert_eq!(facts.node(&h).labels[ARCH_LABEL], "amd64");
        assert!(!HostFacts::default().node(&h).labels.contains_key(OS_LABEL));
    }
}
