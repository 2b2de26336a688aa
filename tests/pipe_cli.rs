//! Every command behaves like a Unix tool in a pipe: when stdout's reader goes away
//! (`| head -1`, `| grep -q`), dsctl ends quietly (no panic, no "Broken pipe"), and its exit
//! code is that of its work. Two ways per command: a pipe whose reader is already closed
//! (EPIPE on the first write, deterministic), and a real `| head -1` through sh.
//!
//! Host-facing commands run against an inventory whose only host refuses connections
//! (127.0.0.1 port 1), so they print their table or report with that host unreachable;
//! their fleet twins are in tests/e2e/day2.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn unreachable_inventory(dir: &Path) -> PathBuf {
    let path = dir.join("inventory.toml");
    std::fs::write(
        &path,
        "[[hosts]]\nname = \"gone\"\naddress = \"127.0.0.1\"\nport = 1\nuser = \"root\"\n",
    )
    .unwrap();
    path
}

/// Runs dsctl with stdout a pipe whose reader is closed: (exit code, stderr).
fn closed_stdout(args: &[&str], inventory: &Path) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_dsctl"))
        .args(args)
        .current_dir(repo())
        .env("DSCTL_INVENTORY", inventory)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `dsctl ARGS | head -1` in sh: (dsctl's exit code, what head printed, dsctl's stderr).
fn piped_into_head(args: &[&str], inventory: &Path) -> (String, String, String) {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "\"$DSCTL\" {} 2>\"$ERR\" | head -1; echo \"exit=${{PIPESTATUS[0]}}\" >&2",
        quoted.join(" ")
    );
    let err = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(repo())
        .env("DSCTL", env!("CARGO_BIN_EXE_dsctl"))
        .env("DSCTL_INVENTORY", inventory)
        .env("ERR", err.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(err.path()).unwrap(),
    )
}

fn assert_quiet(what: &str, stderr: &str) {
    for bad in ["panicked", "Broken pipe", "failed printing"] {
        assert!(
            !stderr.contains(bad),
            "{what}: {bad:?} in stderr:\n{stderr}"
        );
    }
}

/// Each command, with the exit code its work gives and a word its first line holds.
const COMMANDS: &[(&[&str], i32, &str)] = &[
    (&["validate", "-f", "examples"], 0, "valid"),
    (
        &["validate", "-f", "tests/fixtures/yaml/seed-nginx.yaml"],
        0,
        "valid",
    ),
    (
        &["convert", "-f", "tests/fixtures/yaml/node-exporter.yaml"],
        0,
        "# Converted",
    ),
    (&["explain", "-f", "examples"], 0, "DAEMONSET"),
    (&["explain", "-f", "examples", "-o", "json"], 0, "{"),
    (&["render", "-f", "examples"], 0, "# ----"),
    (
        &["convert", "-f", "tests/fixtures/yaml/seed-nginx.yaml"],
        0,
        "# Converted",
    ),
    (&["--help"], 0, "DaemonSets"),
    (&["completion", "bash"], 0, "_dsctl"),
    (&["completion", "zsh"], 0, "#compdef"),
    (&["completion", "fish"], 0, "#"),
    (&["man"], 0, ".ie"),
    (&["get", "ds", "--connect-timeout", "2"], 1, "NAME"),
    (&["get", "pods", "--connect-timeout", "2"], 1, "HOST"),
    (
        &["get", "pods", "-o", "wide", "--connect-timeout", "2"],
        1,
        "CONTAINER IDS",
    ),
    (
        &["get", "ds", "-o", "wide", "--connect-timeout", "2"],
        1,
        "SELECTOR",
    ),
    (
        &["get", "pods", "-o", "json", "--connect-timeout", "2"],
        1,
        "{",
    ),
    // No host holds it (the only one is unreachable): nothing on stdout, exit 2.
    (&["describe", "ds", "web", "--connect-timeout", "2"], 2, ""),
    (
        &[
            "apply",
            "-f",
            "examples/web.toml",
            "--dry-run",
            "--connect-timeout",
            "2",
        ],
        1,
        "gone",
    ),
    (
        &[
            "apply",
            "-f",
            "examples/web.toml",
            "-o",
            "json",
            "--dry-run",
            "--connect-timeout",
            "2",
        ],
        1,
        "{",
    ),
    (
        &[
            "rollout",
            "status",
            "web",
            "--no-watch",
            "--connect-timeout",
            "2",
        ],
        2,
        "",
    ),
];

#[test]
fn every_command_ends_quietly_when_the_reader_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = unreachable_inventory(dir.path());
    for (args, code, _) in COMMANDS {
        let (got, stderr) = closed_stdout(args, &inventory);
        assert_quiet(&args.join(" "), &stderr);
        assert_eq!(got, Some(*code), "dsctl {}: {stderr}", args.join(" "));
    }
}

#[test]
fn every_command_piped_into_head_prints_its_first_line_and_exits_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = unreachable_inventory(dir.path());
    for (args, code, first) in COMMANDS {
        let (status, head, stderr) = piped_into_head(args, &inventory);
        let what = format!("dsctl {} | head -1", args.join(" "));
        assert_quiet(&what, &stderr);
        assert_eq!(status, format!("exit={code}"), "{what}: {stderr}");
        assert!(head.lines().count() <= 1, "{what}: {head}");
        assert!(head.contains(first), "{what}: first line {head:?}");
    }
}

/// `2>&1 | head` closes stderr too: dsctl's messages must not panic either.
#[test]
fn a_closed_stderr_is_quiet_too() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = unreachable_inventory(dir.path());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_dsctl"))
        .args(["get", "ds", "--connect-timeout", "2"])
        .env("DSCTL_INVENTORY", &inventory)
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the unreachable host is still reported"
    );
}

#[test]
fn completions_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_dsctl"))
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for sub in [
            "validate",
            "explain",
            "render",
            "apply",
            "diff",
            "get",
            "delete",
            "rollout",
            "describe",
            "logs",
            "exec",
            "completion",
            "man",
            "convert",
        ] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        assert!(
            script.contains("follow"),
            "{shell}: flags of subcommands too"
        );
    }
}

#[test]
fn man_pages_are_written_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_dsctl"))
        .args(["man", "-o"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    for page in ["dsctl.1", "dsctl-logs.1", "dsctl-exec.1", "dsctl-apply.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
    }
}

/// build.rs writes the completions and man pages at build time from the same clap definition:
/// each file exists, names every subcommand (taken from the definition, not a list here), and
/// is what `dsctl completion SHELL` prints.
#[test]
fn completions_and_man_pages_are_generated_at_build_for_every_subcommand() {
    use clap::CommandFactory;
    let generated = Path::new(env!("DSCTL_GENERATED_DIR"));
    let cli = dsctl::cli::Cli::command();
    let subcommands: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    assert!(subcommands.len() >= 13, "{subcommands:?}");
    for (shell, file) in [
        ("bash", "dsctl.bash"),
        ("zsh", "_dsctl"),
        ("fish", "dsctl.fish"),
    ] {
        let path = generated.join("completions").join(file);
        let script =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for sub in &subcommands {
            assert!(script.contains(sub), "{file} lacks {sub}");
        }
        let printed = Command::new(env!("CARGO_BIN_EXE_dsctl"))
            .args(["completion", shell])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(printed.stdout).unwrap(),
            script,
            "{file} differs from `dsctl completion {shell}`"
        );
    }
    let page = |name: &str| {
        let path = generated.join("man").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let main_page = page("dsctl.1");
    for sub in &subcommands {
        assert!(main_page.contains(sub), "dsctl.1 lacks {sub}");
        assert!(
            page(&format!("dsctl-{sub}.1")).contains(".TH"),
            "dsctl-{sub}.1"
        );
    }
    // `dsctl man` renders the same definition (the build's page also lists `help`).
    let printed = Command::new(env!("CARGO_BIN_EXE_dsctl"))
        .arg("man")
        .output()
        .unwrap();
    let printed = String::from_utf8(printed.stdout).unwrap();
    assert!(main_page.starts_with(printed.split(".SH SUBCOMMANDS").next().unwrap()));
}
