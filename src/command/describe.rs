//! `dsctl describe ds NAME`: observes the targeted hosts (read-only) and prints
//! `describe::describe_daemonset` of what they hold.

use crate::cli::DescribeArgs;
use crate::command::hosts;

pub fn run(args: DescribeArgs) -> anyhow::Result<i32> {
    let targets = match hosts::targets(&args.connect) {
        Ok(hosts) => hosts,
        Err(code) => return Ok(code),
    };
    let runs = hosts::observe(&args.connect, &targets);
    let (observed, unreachable) = hosts::observed(&targets, &runs);
    match crate::describe::describe_daemonset(&args.name, &observed, &unreachable) {
        Some(text) => {
            crate::out!("{text}")?;
            Ok(i32::from(!unreachable.is_empty()))
        }
        None => {
            for (host, why) in &unreachable {
                crate::errln!("{host}: UNREACHABLE: {why}");
            }
            crate::errln!(
                "Error: daemonset {:?} is on none of the {} observed hosts",
                args.name,
                observed.len()
            );
            Ok(crate::run::EXIT_INVALID)
        }
    }
}
