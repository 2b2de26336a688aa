use crate::cli::GetArgs;

pub fn run(_args: GetArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`get` is not built yet")
}
