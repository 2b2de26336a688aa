use crate::cli::DeleteArgs;

pub fn run(_args: DeleteArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`delete` is not built yet")
}
