//! placeholder
use crate::cli::ExecArgs;
pub fn run(_args: ExecArgs) -> anyhow::Result<i32> {
    Ok(0)
}
