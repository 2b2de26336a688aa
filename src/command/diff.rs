use crate::apply::{self, Desired, Outcome};
use crate::cli::ApplyArgs;
use crate::command::hosts;
use crate::diff::host_diff;

/// Exit codes as kubectl diff: 0 in sync, 1 drift, 2 (>1) errors.
pub fn run(args: ApplyArgs) -> anyhow::Result<i32> {
    let specs = match hosts::specs(&args.specs.files) {
        Ok(specs) => specs,
        Err(code) => return Ok(code),
    };
    let targets = match hosts::targets(&args.connect) {
        Ok(hosts) => hosts,
        Err(code) => return Ok(code),
    };
    let templates = hosts::templates(args.templates.as_deref())?;
    let settings = hosts::settings(&args.connect, true, args.prune, true);
    let desired = Desired::Specs {
        specs: &specs,
        templates: &templates,
    };
    let runs = hosts::runtime().block_on(apply::run(
        &targets,
        &desired,
        &settings,
        hosts::connector(&args.connect),
    ));
    let mut drift = false;
    let mut failed = false;
    for run in &runs {
        match (&run.outcome, &run.plan, &run.observation) {
            (Outcome::Planned, Some(plan), Some(observed)) => {
                drift = true;
                print!("{}", host_diff(&run.host, plan, observed));
            }
            (Outcome::Unreachable(e) | Outcome::Failed(e), _, _) => {
                failed = true;
                eprintln!("{}: UNREACHABLE: {e}", run.host);
            }
            _ => {}
        }
    }
    Ok(if failed { 2 } else { i32::from(drift) })
}
