//! The host side of a probing round, in ONE exec (pure): every exec probe, unit-and-container
//! check and container-IP lookup due in the round runs in parallel on the host, each under
//! `timeout`, and the results come back as one line each. Every value from the spec is
//! shell-quoted; outputs travel base64-encoded so no output can forge a result line.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;

use crate::host_script::sh_quote;
use crate::probe::tracker::ProbeResult;

/// Output kept per check (the message shows less).
pub const OUTPUT_KEPT: usize = 4096;
/// Characters of output a failure message shows.
const OUTPUT_SHOWN: usize = 300;
/// Extra seconds `timeout` gives a command after TERM before it KILLs it.
const KILL_AFTER_SECS: u64 = 2;
/// Limit for the bookkeeping commands (systemctl, podman inspect).
pub const BOOKKEEPING_TIMEOUT: Duration = Duration::from_secs(10);

const HEADER: &str = "dsctl-probe 1";

/// One check run on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCheck {
    /// `podman exec <container> <argv…>` under `timeout`.
    Exec {
        podman_name: String,
        argv: Vec<String>,
        timeout: Duration,
    },
    /// The unit's state and whether the container runs.
    Running { podman_name: String, unit: String },
    /// The container's IP address on its podman network.
    ContainerIp { podman_name: String },
}

impl HostCheck {
    /// The longest this check may take on the host.
    pub fn time_limit(&self) -> Duration {
        let limit = match self {
            HostCheck::Exec { timeout, .. } => ceil_secs(*timeout),
            HostCheck::Running { .. } => 2 * BOOKKEEPING_TIMEOUT.as_secs(),
            HostCheck::ContainerIp { .. } => BOOKKEEPING_TIMEOUT.as_secs(),
        };
        Duration::from_secs(limit + KILL_AFTER_SECS)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The script that runs `checks` in parallel and prints `check <i> <status> <base64 output>`.
pub fn script(checks: &[HostCheck]) -> String {
    let bookkeeping = BOOKKEEPING_TIMEOUT.as_secs();
    let mut s = String::from(
        "d=$(mktemp -d \"${TMPDIR:-/tmp}/dsctl-probe.XXXXXX\") || exit 1\ntrap 'rm -rf \"$d\"' EXIT\n",
    );
    for (i, check) in checks.iter().enumerate() {
        let body = match check {
            HostCheck::Exec {
                podman_name,
                argv,
                timeout,
            } => {
                let argv: Vec<String> = argv.iter().map(|a| sh_quote(a)).collect();
                format!(
                    "timeout -k {KILL_AFTER_SECS} {} podman exec {} {} >\"$d/{i}\" 2>&1 </dev/null; echo $? >\"$d/{i}.rc\"",
                    ceil_secs(*timeout).max(1),
                    sh_quote(podman_name),
                    argv.join(" ")
                )
            }
            HostCheck::Running { podman_name, unit } => format!(
                "a=$(timeout -k {KILL_AFTER_SECS} {bookkeeping} systemctl is-active {} 2>&1 </dev/null); \
                 r=$(timeout -k {KILL_AFTER_SECS} {bookkeeping} podman container inspect -f '{{{{.State.Running}}}}' {} 2>&1 </dev/null); \
                 printf '%s\\n%s\\n' \"$a\" \"$r\" >\"$d/{i}\"; \
                 [ \"$a\" = active ] && [ \"$r\" = true ]; echo $? >\"$d/{i}.rc\"",
                sh_quote(unit),
                sh_quote(podman_name)
            ),
            HostCheck::ContainerIp { podman_name } => format!(
                "timeout -k {KILL_AFTER_SECS} {bookkeeping} podman container inspect \
                 -f '{{{{.NetworkSettings.IPAddress}}}}{{{{range .NetworkSettings.Networks}}}} {{{{.IPAddress}}}}{{{{end}}}}' {} \
                 >\"$d/{i}\" 2>&1 </dev/null; echo $? >\"$d/{i}.rc\"",
                sh_quote(podman_name)
            ),
        };
        let _ = writeln!(s, "( {body} ) &");
    }
    let _ = writeln!(s, "wait\necho '{HEADER}'");
    if !checks.is_empty() {
        let indices: Vec<String> = (0..checks.len()).map(|i| i.to_string()).collect();
        let _ = writeln!(
            s,
            "for i in {}; do\n  printf 'check %s %s ' \"$i\" \"$(cat \"$d/$i.rc\" 2>/dev/null || echo 255)\"\n  \
             head -c {OUTPUT_KEPT} \"$d/$i\" 2>/dev/null | base64 | tr -d '\\n'\n  echo\ndone",
            indices.join(" ")
        );
    }
    s
}

/// A check's exit status and output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutput {
    pub status: u32,
    pub output: String,
}

/// Splits the script's output into each check's result; a missing line is that check's error.
pub fn parse(stdout: &str, count: usize) -> Vec<Result<CheckOutput, String>> {
    let mut results: Vec<Result<CheckOutput, String>> = (0..count)
        .map(|_| Err("the probe script printed no result for this check".to_string()))
        .collect();
    let mut lines = stdout.lines().skip_while(|l| *l != HEADER);
    if lines.next().is_none() {
        let why = format!(
            "the probe script did not run (output began: {:?})",
            stdout.chars().take(100).collect::<String>()
        );
        return (0..count).map(|_| Err(why.clone())).collect();
    }
    for line in lines {
        let mut parts = line.splitn(4, ' ');
        let (Some("check"), Some(index), Some(status)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(index), Ok(status)) = (index.parse::<usize>(), status.trim().parse::<u32>()) else {
            continue;
        };
        let encoded = parts.next().unwrap_or_default().trim();
        let output = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|_| format!("(undecodable output: {encoded})"));
        if let Some(slot) = results.get_mut(index) {
            *slot = Ok(CheckOutput { status, output });
        }
    }
    results
}

/// Output as one printable line, shortened for messages.
pub fn shown(output: &str) -> String {
    let joined = output
        .trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    let mut text: String = joined
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(OUTPUT_SHOWN)
        .collect();
    if joined.chars().count() > OUTPUT_SHOWN {
        text.push('…');
    }
    text
}

fn with_output(what: String, output: &str) -> String {
    let output = shown(output);
    if output.is_empty() {
        what
    } else {
        format!("{what}: {output}")
    }
}

/// An exec probe's verdict: exit 0 is success (podman's own failures are 125–127).
pub fn exec_result(out: &CheckOutput, timeout: Duration) -> ProbeResult {
    let secs = ceil_secs(timeout).max(1);
    match out.status {
        0 => ProbeResult::Success,
        124 | 137 => {
            ProbeResult::Failure(with_output(format!("timed out after {secs}s"), &out.output))
        }
        125 => ProbeResult::Failure(with_output("podman exec failed".into(), &out.output)),
        126 => ProbeResult::Failure(with_output(
            "the command cannot be run in the container".into(),
            &out.output,
        )),
        127 => ProbeResult::Failure(with_output(
            "the command was not found in the container".into(),
            &out.output,
        )),
        status => ProbeResult::Failure(with_output(format!("exit {status}"), &out.output)),
    }
}

/// The no-probe readiness: the unit is active and podman says the container is running.
pub fn running_result(out: &CheckOutput, unit: &str) -> ProbeResult {
    let mut lines = out.output.lines();
    let unit_state = lines.next().unwrap_or_default().trim();
    let running = shown(&lines.collect::<Vec<_>>().join("\n"));
    if out.status == 0 && unit_state == "active" && running == "true" {
        return ProbeResult::Success;
    }
    let unit_state = if unit_state.is_empty() {
        "unknown"
    } else {
        unit_state
    };
    let running = match running.as_str() {
        "true" => "running".to_string(),
        "false" => "not running".to_string(),
        "" => "unknown".to_string(),
        other => other.to_string(),
    };
    ProbeResult::Failure(format!("unit {unit} is {unit_state}; container: {running}"))
}

/// The container's IP from the inspect output (the top-level address, else the first network's).
pub fn container_ip(out: &CheckOutput) -> Result<String, String> {
    if out.status != 0 {
        return Err(with_output(
            "cannot look up the container's IP address".into(),
            &out.output,
        ));
    }
    out.output
        .split_whitespace()
        .find(|token| token.parse::<IpAddr>().is_ok())
        .map(str::to_string)
        .ok_or_else(|| {
            "the container has no IP address (not running, or not on a podman network)".into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(status: u32, output: &str) -> CheckOutput {
        CheckOutput {
            status,
            output: output.into(),
        }
    }

    #[test]
    fn exec_verdicts() {
        let t = Duration::from_secs(3);
        let failure = |s: &str| ProbeResult::Failure(s.into());
        for (status, output, want) in [
            (0, "ok", ProbeResult::Success),
            (1, "not ready yet\n", failure("exit 1: not ready yet")),
            (2, "", failure("exit 2")),
            (124, "", failure("timed out after 3s")),
            (
                125,
                "Error: can only create exec sessions on running containers: container state improper\n",
                failure(
                    "podman exec failed: Error: can only create exec sessions on running containers: container state improper",
                ),
            ),
            (
                127,
                "crun: executable file `curl` not found",
                failure(
                    "the command was not found in the container: crun: executable file `curl` not found",
                ),
            ),
            (
                1,
                "line one\n\nline two\n",
                failure("exit 1: line one / line two"),
            ),
        ] {
            assert_eq!(
                exec_result(&out(status, output), t),
                want,
                "{status} {output:?}"
            );
        }
        let long = exec_result(&out(1, &"z".repeat(500)), t);
        assert_eq!(long, failure(&format!("exit 1: {}…", "z".repeat(300))));
    }

    #[test]
    fn running_verdicts() {
        let u = "dsctl-web-web.service";
        assert_eq!(
            running_result(&out(0, "active\ntrue\n"), u),
            ProbeResult::Success
        );
        for (status, output, want) in [
            (
                1,
                "activating\nfalse\n",
                "unit dsctl-web-web.service is activating; container: not running",
            ),
            (
                1,
                "failed\nError: no such container dsctl-web-web\n",
                "unit dsctl-web-web.service is failed; container: Error: no such container dsctl-web-web",
            ),
            (
                1,
                "",
                "unit dsctl-web-web.service is unknown; container: unknown",
            ),
            // A forged zero status does not make it ready.
            (
                0,
                "active\nfalse\n",
                "unit dsctl-web-web.service is active; container: not running",
            ),
        ] {
            assert_eq!(
                running_result(&out(status, output), u),
                ProbeResult::Failure(want.into()),
                "{output:?}"
            );
        }
    }

    #[test]
    fn container_ips() {
        for (status, output, want) in [
            (0, "10.88.0.5\n", Ok("10.88.0.5")),
            (0, " 10.89.0.7\n", Ok("10.89.0.7")),
            (0, "10.88.0.5 10.88.0.5\n", Ok("10.88.0.5")),
            (0, " fd00::7\n", Ok("fd00::7")),
            (
                0,
                "\n",
                Err("the container has no IP address (not running, or not on a podman network)"),
            ),
            (
                125,
                "Error: no such container x\n",
                Err("cannot look up the container's IP address: Error: no such container x"),
            ),
        ] {
            assert_eq!(
                container_ip(&out(status, output)),
                want.map(str::to_string).map_err(str::to_string),
                "{output:?}"
            );
        }
    }

    #[test]
    fn parse_keeps_order_and_flags_missing_lines() {
        let ok = base64::engine::general_purpose::STANDARD.encode("fine\n");
        let stdout = format!("noise\n{HEADER}\ncheck 1 0 {ok}\ncheck 0 3 \ncheck x 1 zz\n");
        let got = parse(&stdout, 3);
        assert_eq!(got[0], Ok(out(3, "")));
        assert_eq!(got[1], Ok(out(0, "fine\n")));
        assert_eq!(
            got[2],
            Err("the probe script printed no result for this check".into())
        );
        let none = parse("sh: 1: mktemp: not found\n", 1);
        assert_eq!(
            none[0],
            Err(
                "the probe script did not run (output began: \"sh: 1: mktemp: not found\\n\")"
                    .into()
            )
        );
    }

    /// Runs the script with the real `sh`, `timeout` and `base64`, and fake `podman` and
    /// `systemctl` that print their arguments, so quoting and parsing are checked end to end.
    #[test]
    fn the_script_runs_under_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        let fake = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        fake(
            "podman",
            r#"case "$1" in
  exec) shift 2; exec "$@" ;;
  container)
    case "$4" in
      *Running*) echo true ;;
      *) echo " 10.88.0.9" ;;
    esac ;;
esac"#,
        );
        fake(
            "systemctl",
            r#"[ "$2" = "dsctl-a-b.service" ] && echo active || echo inactive"#,
        );
        let checks = vec![
            HostCheck::Exec {
                podman_name: "dsctl-a-b".into(),
                argv: vec![
                    "sh".into(),
                    "-c".into(),
                    "printf '%s|' \"$0\"; exit 3".into(),
                    "it's $HOME; `x`".into(),
                ],
                timeout: Duration::from_secs(5),
            },
            HostCheck::Exec {
                podman_name: "dsctl-a-b".into(),
                argv: vec!["sleep".into(), "5".into()],
                timeout: Duration::from_millis(500),
            },
            HostCheck::Running {
                podman_name: "dsctl-a-b".into(),
                unit: "dsctl-a-b.service".into(),
            },
            HostCheck::Running {
                podman_name: "dsctl-a-c".into(),
                unit: "dsctl-a-c.service".into(),
            },
            HostCheck::ContainerIp {
                podman_name: "dsctl-a-b".into(),
            },
        ];
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let started = std::time::Instant::now();
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(&checks))
            .env("PATH", path)
            .env("TMPDIR", dir.path())
            .output()
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "checks run in parallel, under timeout"
        );
        let results = parse(&String::from_utf8_lossy(&output.stdout), checks.len());
        assert_eq!(results[0], Ok(out(3, "it's $HOME; `x`|")));
        assert_eq!(
            exec_result(results[1].as_ref().unwrap(), Duration::from_millis(500)),
            ProbeResult::Failure("timed out after 1s".into())
        );
        assert_eq!(
            running_result(results[2].as_ref().unwrap(), "u"),
            ProbeResult::Success
        );
        assert_eq!(
            running_result(results[3].as_ref().unwrap(), "dsctl-a-c.service"),
            ProbeResult::Failure("unit dsctl-a-c.service is inactive; container: running".into())
        );
        assert_eq!(
            container_ip(results[4].as_ref().unwrap()),
            Ok("10.88.0.9".into())
        );
        // The temporary directory is removed.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("dsctl-probe."))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
