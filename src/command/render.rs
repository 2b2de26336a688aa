use crate::cli::RenderArgs;

pub fn run(_args: RenderArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`render` is not built yet")
}
