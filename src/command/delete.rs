use crate::apply::{self, Desired};
use crate::cli::DeleteArgs;
use crate::command::hosts;
use crate::report;
use crate::run::EXIT_INVALID;

/// `delete ds NAME…`, `delete -f SPEC…` (everywhere), or `delete pod HOST DS` (one instance:
/// the next apply recreates it, with the current revision, as Kubernetes does for OnDelete).
pub fn run(mut args: DeleteArgs) -> anyhow::Result<i32> {
    let mut names: Vec<String> = Vec::new();
    if !args.files.is_empty() {
        match hosts::specs(&args.files) {
            Ok(specs) => names.extend(specs.iter().map(|ds| ds.name().to_string())),
            Err(code) => return Ok(code),
        }
    }
    match args.target.first().map(String::as_str) {
        None if !names.is_empty() => {}
        Some("ds" | "daemonset" | "daemonsets") if args.target.len() > 1 => {
            names.extend(args.target.drain(1..))
        }
        Some("pod" | "pods") if args.target.len() == 3 => {
            names.push(args.target[2].clone());
            args.connect.limit = Some(format!("kubernetes.io/hostname={}", args.target[1]));
        }
        _ => {
            crate::errln!(
                "error: say what to delete: `delete ds NAME…`, `delete pod HOST DS` or `delete -f SPEC…`"
            );
            return Ok(EXIT_INVALID);
        }
    }
    let targets = match hosts::targets(&args.connect) {
        Ok(hosts) => hosts,
        Err(code) => return Ok(code),
    };
    let settings = hosts::settings(&args.connect, false, false, false);
    let runs = hosts::runtime().block_on(apply::run(
        &targets,
        &Desired::Remove(&names),
        &settings,
        hosts::connector(&args.connect),
    ));
    Ok(report::print(&runs, args.output, false)?)
}
