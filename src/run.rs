//! The entry point behind `main`: parse flags, set up logging, dispatch, map to an exit code.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::command;

/// Exit code for errors in what the user wrote (flags, specs, inventory), as `validate` uses.
pub const EXIT_INVALID: i32 = 2;

pub fn run() -> i32 {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Validate(args) => command::validate::run(args),
        Command::Explain(args) => command::explain::run(args),
        Command::Render(args) => command::render::run(args),
        Command::Apply(args) => command::apply::run(args),
        Command::Diff(args) => command::diff::run(args),
        Command::Get(args) => command::get::run(args),
        Command::Delete(args) => command::delete::run(args),
        Command::Describe(args) => command::describe::run(args),
        Command::Rollout(args) => command::rollout::run(args),
        Command::Logs(args) => command::logs::run(args),
        Command::Exec(args) => command::exec::run(args),
        Command::Completion(args) => command::docs::completion(args),
        Command::Man(args) => command::docs::man(args),
        Command::Convert(args) => command::convert::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            crate::errln!("error: {err:#}");
            EXIT_INVALID
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "dsctl=info",
        2 => "dsctl=debug",
        _ => "dsctl=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
