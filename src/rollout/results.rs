//! What an exec's result means for a host (pure): the observe script's output, the image
//! pull's, the host script's exit code and the time the host reports for it.

use std::time::Duration;

use crate::apply::Outcome;
use crate::host_script::EXIT_LOCKED;
use crate::observe::{self, Observation};
use crate::ssh::ExecOutput;

/// Lines of stderr an error message keeps.
const TAIL_LINES: usize = 12;

/// The observation, or why the host could not be observed.
pub fn observation(out: &ExecOutput) -> Result<Observation, String> {
    if out.status != 0 {
        return Err(format!(
            "observe failed (exit {}): {}",
            out.status,
            tail(&out.stderr)
        ));
    }
    observe::parse(&String::from_utf8_lossy(&out.stdout)).map_err(|e| e.to_string())
}

/// `None` when the pull script found every image; otherwise why the host fails.
pub fn pull_failure(out: &ExecOutput) -> Option<String> {
    (out.status != 0).then(|| {
        format!(
            "image pull failed, nothing was stopped: {}",
            tail(&out.stderr)
        )
    })
}

/// The host script's verdict: exit 0 changed the host; 75 is the lock wait; anything else
/// failed, with the end of its stderr.
pub fn script_outcome(out: &ExecOutput) -> Outcome {
    match out.status {
        0 => Outcome::Changed,
        EXIT_LOCKED => Outcome::Failed(format!("lock wait timed out; {}", tail(&out.stderr))),
        // Another dsctl changed the host after this run observed it: not this run's to touch.
        crate::plan_token::EXIT_STALE => Outcome::Halted(crate::plan_token::stale_message(
            &crate::plan_token::stale_by(&String::from_utf8_lossy(&out.stderr)).unwrap_or_default(),
        )),
        code => Outcome::Failed(format!("exit {code}: {}", tail(&out.stderr))),
    }
}

/// What the host reported as its own time for the script (`done <nanoseconds>`, last wins).
pub fn host_time(stdout: &[u8]) -> Duration {
    let text = String::from_utf8_lossy(stdout);
    let nanos = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("done ")?.trim().parse::<u64>().ok());
    Duration::from_nanos(nanos.unwrap_or(0))
}

/// The last non-blank lines of a command's stderr, for an error message, with control
/// characters dropped (a host's text never drives the terminal).
pub fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..]
        .iter()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect()
        })
        .collect::<Vec<String>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(status: u32, stdout: &str, stderr: &str) -> ExecOutput {
        ExecOutput {
            status,
            signal: None,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn script_outcomes() {
        let rows: &[(u32, &str, Outcome)] = &[
            (0, "", Outcome::Changed),
            (0, "noise on stderr", Outcome::Changed),
            (
                75,
                "locked by: dsctl bob@lap pid 7",
                Outcome::Failed("lock wait timed out; locked by: dsctl bob@lap pid 7".into()),
            ),
            (
                1,
                "x.service did not start:\n\n  Active: failed\n",
                Outcome::Failed("exit 1: x.service did not start:\n  Active: failed".into()),
            ),
            (
                1,
                "refused: \"../../etc\" is not a valid name for a state path",
                Outcome::Failed(
                    "exit 1: refused: \"../../etc\" is not a valid name for a state path".into(),
                ),
            ),
            (255, "", Outcome::Failed("exit 255: ".into())),
            (
                crate::plan_token::EXIT_STALE,
                "dsctl-stale: bob@b pid 3\n",
                Outcome::Halted(crate::plan_token::stale_message("bob@b pid 3")),
            ),
            (
                crate::detached::EXIT_KILLED,
                "the host script was killed before it finished",
                Outcome::Failed("exit 77: the host script was killed before it finished".into()),
            ),
        ];
        for (status, stderr, want) in rows {
            assert_eq!(
                &script_outcome(&out(*status, "", stderr)),
                want,
                "{status} {stderr:?}"
            );
        }
    }

    #[test]
    fn host_times() {
        let rows: &[(&str, u64)] = &[
            ("", 0),
            ("write x\ndone 1500000\n", 1_500_000),
            ("done 1\ndone 2\n", 2),
            ("done nope\n", 0),
            ("done 18446744073709551615", u64::MAX),
            ("done 18446744073709551616", 0),
        ];
        for (stdout, nanos) in rows {
            assert_eq!(
                host_time(stdout.as_bytes()),
                Duration::from_nanos(*nanos),
                "{stdout:?}"
            );
        }
    }

    #[test]
    fn tails_keep_the_last_lines_without_control_characters() {
        let many: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let kept = tail(many.as_bytes());
        assert!(
            kept.starts_with("line 9\n") && kept.ends_with("line 20"),
            "{kept}"
        );
        assert_eq!(tail(b"\x1b]0;owned\x07evil\x1b[2J\n"), "]0;ownedevil[2J");
        assert_eq!(tail(b"\xff\xfe bytes"), "\u{fffd}\u{fffd} bytes");
    }

    #[test]
    fn observations_and_pulls() {
        assert!(observation(&out(0, "dsctl-observe 1\nnow 5\nend\n", "")).is_ok());
        let rows: &[(ExecOutput, &str)] = &[
            (
                out(127, "", "sh: podman: not found"),
                "observe failed (exit 127): sh: podman: not found",
            ),
            (out(0, "garbage", ""), "did not run the observe script"),
            (out(0, "dsctl-observe 1\nnow 5\n", ""), "interrupted"),
            (out(0, "dsctl-observe 1\nnow x\nend\n", ""), "bad clock"),
        ];
        for (o, want) in rows {
            let e = observation(o).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        assert_eq!(pull_failure(&out(0, "", "")), None);
        assert_eq!(
            pull_failure(&out(1, "", "pulling image x failed: no answer within 300s")).unwrap(),
            "image pull failed, nothing was stopped: pulling image x failed: no answer within 300s"
        );
    }
}
