//! One file per subcommand: each turns parsed flags into calls on the core and the shell.

pub mod apply;
pub mod convert;
pub mod delete;
pub mod describe;
pub mod diff;
pub mod docs;
pub mod exec;
pub mod explain;
pub mod get;
pub mod hosts;
pub mod logs;
pub mod render;
pub mod rollout;
pub mod validate;
pub mod watch;
