use anyhow::Context;

use crate::cli::{ApplyArgs, TextOrJson};
use crate::command::hosts;
use crate::{metrics, progress, report};

pub fn run(args: ApplyArgs) -> anyhow::Result<i32> {
    let started = std::time::Instant::now();
    let mut settings = hosts::settings(&args.connect, args.dry_run, args.prune, false);
    settings.progress =
        progress::for_output(args.dry_run || args.output == TextOrJson::Json).into();
    settings.max_unreachable = args.max_unreachable;
    if args.watch {
        settings.progress = std::sync::Arc::new(progress::Silent);
        let interval = args.interval;
        return crate::command::watch::run(args, settings, interval);
    }
    let runs = match hosts::converge(&args, &settings) {
        Ok(runs) => runs,
        Err(code) => return Ok(code),
    };
    let code = report::print(&runs, args.output, args.stats)?;
    if let Some(path) = &args.metrics_file {
        let finished = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let text = metrics::render(
            metrics::Counts::of(&runs),
            started.elapsed(),
            finished,
            code,
        );
        metrics::write_atomically(path, &text)
            .with_context(|| format!("writing --metrics-file {}", path.display()))?;
    }
    Ok(code)
}
