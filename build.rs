//! Generates the shell completions (bash, zsh, fish) and man pages at build time, from the same
//! clap definition the binary parses with (`src/cli.rs`, compiled here as a module, not copied),
//! so a packager finds them without running the binary, and they cannot drift from the flags.
//! Written into OUT_DIR (`DSCTL_GENERATED_DIR` for the crate's own tests) and mirrored into
//! `target/<profile>/{completions,man}`.

use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;
#[allow(dead_code)]
#[path = "src/interval.rs"]
mod interval;
#[allow(dead_code)]
#[path = "src/unreachable.rs"]
mod unreachable;

use clap::CommandFactory;
use clap_complete::Shell;

fn main() -> std::io::Result<()> {
    for input in [
        "build.rs",
        "src/cli.rs",
        "src/unreachable.rs",
        "src/interval.rs",
    ] {
        println!("cargo:rerun-if-changed={input}");
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    write_all(&out)?;
    println!("cargo:rustc-env=DSCTL_GENERATED_DIR={}", out.display());
    // OUT_DIR is target/<profile>/build/dsctl-<hash>/out: mirror into target/<profile>/.
    if let Some(profile_dir) = out.ancestors().nth(3) {
        write_all(profile_dir)?;
    }
    Ok(())
}

/// `DIR/completions/{dsctl.bash,_dsctl,dsctl.fish}` and `DIR/man/dsctl*.1`.
fn write_all(dir: &Path) -> std::io::Result<()> {
    let completions = dir.join("completions");
    let man = dir.join("man");
    std::fs::create_dir_all(&completions)?;
    std::fs::create_dir_all(&man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cli::Cli::command(), "dsctl", &completions)?;
    }
    clap_mangen::generate_to(cli::Cli::command(), &man)
}
