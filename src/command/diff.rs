use crate::apply::Outcome;
use crate::cli::ApplyArgs;
use crate::command::hosts;
use crate::diff::host_diff;

/// Exit codes as kubectl diff: 0 in sync, 1 drift, 2 (>1) errors.
pub fn run(args: ApplyArgs) -> anyhow::Result<i32> {
    let settings = hosts::settings(&args.connect, true, args.prune, true);
    let runs = match hosts::converge(&args, &settings) {
        Ok(runs) => runs,
        Err(code) => return Ok(code),
    };
    let mut drift = false;
    let mut failed = false;
    for run in &runs {
        match (&run.outcome, &run.plan, &run.observation) {
            (Outcome::Planned, Some(plan), Some(observed)) => {
                drift = true;
                crate::out!("{}", host_diff(&run.host, plan, observed))?;
            }
            (Outcome::Unreachable(e) | Outcome::Failed(e), _, _) => {
                failed = true;
                crate::errln!("{}: UNREACHABLE: {e}", run.host);
            }
            _ => {}
        }
    }
    Ok(if failed { 2 } else { i32::from(drift) })
}
