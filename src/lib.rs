//! dsctl: Kubernetes DaemonSets for bare Linux hosts over SSH.
//!
//! The pure core (no I/O): `daemonset`, `inventory`, `validate`, `labels`, `eligibility`,
//! `rollout_math`, `revision`, `render`, `plan`. The shell: `load` (files), `ssh`, `host_ops`,
//! `apply` and `command/*`. See ARCHITECTURE.md for the flow.
//!
//! Everything written to stdout and stderr goes through `output` (see there why).
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod apply;
pub mod batches;
pub mod cli;
pub mod command;
pub mod config_object;
pub mod config_refs;
pub mod convert;
pub mod daemonset;
pub mod describe;
pub mod detached;
pub mod diagnostic;
pub mod diff;
pub mod downward;
pub mod eligibility;
pub mod escape;
pub mod exec;
pub mod expansion;
pub mod explain;
pub mod fan_out;
pub mod host_facts;
pub mod host_script;
pub mod host_text;
pub mod images;
pub mod int_or_string;
pub mod intent;
pub mod interval;
pub mod inventory;
pub mod k8s_names;
pub mod known_hosts;
pub mod labels;
pub mod layout;
pub mod load;
pub mod logs;
pub mod metrics;
pub mod observe;
pub mod output;
pub mod plan;
pub mod plan_token;
pub mod port_clash;
pub mod probe;
pub mod progress;
pub mod pull_secrets;
pub mod quantity;
pub mod render;
pub mod report;
pub mod revision;
pub mod rollout;
pub mod rollout_math;
mod run;
pub mod saturate;
pub mod secret_redaction;
pub mod sim;
pub mod ssh;
pub mod ssh_config;
pub mod status;
pub mod surge;
#[doc(hidden)]
pub mod test_specs;
pub mod text_pool;
pub mod trusted_spec;
pub mod unreachable;
pub mod validate;
pub mod watch;
pub mod yaml;

pub use run::{EXIT_INVALID, run};
