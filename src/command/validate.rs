use crate::cli::ValidateArgs;

pub fn run(_args: ValidateArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`validate` is not built yet")
}
