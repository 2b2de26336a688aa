use crate::apply::{self, Desired};
use crate::cli::{ApplyArgs, TextOrJson};
use crate::command::hosts;
use crate::{progress, report};

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
    let mut settings = hosts::settings(&args.connect, args.dry_run, args.prune, false);
    settings.progress =
        progress::for_output(args.dry_run || args.output == TextOrJson::Json).into();
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
    Ok(report::print(&runs, args.output, args.stats))
}
