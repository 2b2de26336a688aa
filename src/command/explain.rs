use crate::cli::ExplainArgs;

pub fn run(_args: ExplainArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`explain` is not built yet")
}
