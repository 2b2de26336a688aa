use crate::cli::RolloutArgs;

pub fn run(_args: RolloutArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`rollout` is not built yet")
}
