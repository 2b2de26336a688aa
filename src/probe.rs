//! Health checks: readiness, liveness and startup probes run the kubelet's way, from the laptop,
//! through the SSH connection dsctl already holds to each host.
//!
//! HTTP and TCP probes travel in a direct-tcpip channel to the host's 127.0.0.1 (hostNetwork),
//! its hostPort, or the container's own IP, so the host needs no curl and the laptop no route to
//! the host's ports. exec probes run `podman exec` on the host. The pure half: the prober's
//! state machine and availability ([`tracker`]), where a probe connects ([`target`]), the HTTP
//! request and response ([`http`]) and the one script that runs a round's host-side checks
//! ([`script`]). The shell half ([`run`]) drives them over a [`RemoteHost`](crate::ssh::RemoteHost).

pub mod http;
pub mod run;
pub mod script;
pub mod target;
pub mod tracker;

pub use run::{NotAvailable, ProbeEvent, Shortfall, probe_once, ready_now, wait_available};
pub use target::{Address, ProbeAction, ProbeError, ProbeTarget, resolve, running_check};
pub use tracker::{
    Availability, ContainerProbes, ProbeKind, ProbeResult, ProbeState, ProbeTracker, Streak, Timing,
};
