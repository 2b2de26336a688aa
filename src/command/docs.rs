//! `dsctl completion SHELL` and `dsctl man [-o DIR]`: generated from the clap definitions in
//! `cli.rs`, so they can never drift from the flags. Packagers run them at package time
//! (`dsctl completion bash > /usr/share/bash-completion/completions/dsctl`,
//! `dsctl man -o /usr/share/man/man1`).

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionArgs, ManArgs};

pub fn completion(args: CompletionArgs) -> anyhow::Result<i32> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "dsctl", &mut script);
    crate::output::print_bytes(&script).context("writing the completion script")?;
    Ok(0)
}

pub fn man(args: ManArgs) -> anyhow::Result<i32> {
    let command = Cli::command();
    match args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("rendering the man page")?;
            crate::output::print_bytes(&page).context("writing the man page")?;
        }
    }
    Ok(0)
}
