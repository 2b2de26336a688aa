use crate::cli::{ApplyArgs, TextOrJson};
use crate::command::hosts;
use crate::{progress, report};

pub fn run(args: ApplyArgs) -> anyhow::Result<i32> {
    let mut settings = hosts::settings(&args.connect, args.dry_run, args.prune, false);
    settings.progress =
        progress::for_output(args.dry_run || args.output == TextOrJson::Json).into();
    Ok(match hosts::converge(&args, &settings) {
        Ok(runs) => report::print(&runs, args.output, args.stats)?,
        Err(code) => code,
    })
}
