use crate::cli::ApplyArgs;

pub fn run(_args: ApplyArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`apply` is not built yet")
}
