//! The rollout driver's decisions, pure and table-tested: `apply.rs` only carries data between
//! them and the hosts. Which hosts count unavailable and what each DaemonSet may disrupt
//! ([`budget`]), whose readiness is probed before a budget is computed ([`readiness`]), how
//! long a wave may take ([`deadline`]), which spec a failed host goes back to ([`revert`]),
//! and what an exec's result means ([`results`]).

pub mod budget;
pub mod deadline;
pub mod readiness;
pub mod results;
pub mod revert;
pub mod steps;
