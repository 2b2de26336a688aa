//! CI runs the README's commands exactly as the README gives them: `.ci/readme-commands`
//! extracts them from the first code block, and `.ci/run` runs what it prints, in order.
//! (`.ci/run` itself brings the fleet up and down, so it is never run from a test.)

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn commands(readme: Option<&std::path::Path>) -> Vec<String> {
    let mut cmd = Command::new(repo().join(".ci/readme-commands"));
    if let Some(path) = readme {
        cmd.arg(path);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_first_code_block_gives_the_commands_in_order_without_comments() {
    let dir = tempfile::tempdir().unwrap();
    let readme = dir.path().join("README.md");
    std::fs::write(
        &readme,
        "# x\n\ntext `inline`\n\n```sh\n# 1. first:\nmake a && run b\n\n  # 2. then:\ntests/run\n```\n\n```sh\nnot this\n```\n",
    )
    .unwrap();
    assert_eq!(commands(Some(&readme)), ["make a && run b", "tests/run"]);
}

#[test]
fn the_readme_gives_a_fleet_and_example_command_then_the_tests() {
    let got = commands(None);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("tests/fleet/fleet up "), "{got:?}");
    assert!(got[0].contains("apply -f examples/"), "{got:?}");
    assert_eq!(got[1], "tests/run");
    // Run as root without sudo (a root shell without sudo installed has none).
    assert!(got.iter().all(|c| !c.contains("sudo")), "{got:?}");
}

#[test]
fn ci_runs_what_the_readme_says_and_nothing_else() {
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let code: Vec<&str> = ci
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(code.iter().any(|l| l.contains(".ci/readme-commands")));
    assert!(
        code.iter()
            .all(|l| !l.contains("tests/run") && !l.contains("cargo ")),
        "test commands belong in the README, not in .ci/run"
    );
}
