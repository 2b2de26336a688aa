//! The inventory model: hosts with an address, SSH settings, labels and taints.
//!
//! `[defaults]` fills any SSH setting a host leaves out; what is still missing after that is
//! resolved at connect time through `ssh -G` (see `ssh_config.rs`), so ~/.ssh/config applies.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::daemonset::TaintEffect;

/// The file as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    #[serde(default)]
    pub defaults: HostSettings,
    #[serde(default)]
    pub hosts: Vec<HostEntry>,
}

/// SSH and unit settings that `[defaults]` and each host may set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    /// `host:port` or `user@host:port` of a bastion reached with a direct-tcpip tunnel.
    pub proxy_jump: Option<String>,
    /// Override the unit flavour detected from the host's podman version.
    pub unit_flavor: Option<UnitFlavor>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    pub name: String,
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub proxy_jump: Option<String>,
    pub unit_flavor: Option<UnitFlavor>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<Taint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub effect: TaintEffect,
}

/// How a container's unit is written on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitFlavor {
    /// A `podman run --replace` systemd service: works on every podman.
    Service,
    /// A Quadlet `.container` file: needs podman ≥ 4.4.
    Quadlet,
}

/// A host with `[defaults]` applied: what every other module works with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Host {
    pub name: String,
    pub address: String,
    pub settings: HostSettings,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
}

impl InventoryFile {
    /// Hosts with each unset setting taken from `[defaults]`.
    pub fn hosts(&self) -> Vec<Host> {
        self.hosts
            .iter()
            .map(|h| Host {
                name: h.name.clone(),
                address: h.address.clone(),
                settings: h.settings().or(&self.defaults),
                labels: h.labels.clone(),
                taints: h.taints.clone(),
            })
            .collect()
    }
}

impl HostEntry {
    /// The settings this host sets itself (serde cannot flatten with deny_unknown_fields).
    pub fn settings(&self) -> HostSettings {
        HostSettings {
            user: self.user.clone(),
            port: self.port,
            identity_file: self.identity_file.clone(),
            known_hosts: self.known_hosts.clone(),
            proxy_jump: self.proxy_jump.clone(),
            unit_flavor: self.unit_flavor,
        }
    }
}

impl HostSettings {
    /// Each field of `self`, or else the one from `fallback`.
    pub fn or(&self, fallback: &HostSettings) -> HostSettings {
        HostSettings {
            user: self.user.clone().or_else(|| fallback.user.clone()),
            port: self.port.or(fallback.port),
            identity_file: self
                .identity_file
                .clone()
                .or_else(|| fallback.identity_file.clone()),
            known_hosts: self
                .known_hosts
                .clone()
                .or_else(|| fallback.known_hosts.clone()),
            proxy_jump: self
                .proxy_jump
                .clone()
                .or_else(|| fallback.proxy_jump.clone()),
            unit_flavor: self.unit_flavor.or(fallback.unit_flavor),
        }
    }
}
