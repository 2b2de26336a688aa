//! The lock protects the plan, not only the script: observation is not locked, so a plan may
//! be made from a state that another dsctl changes before this run's script takes the lock.
//!
//! The observation carries a token, the sha256 of [`STATE_SH`]'s lines (every record and
//! every unit file dsctl may own), which observe.sh prints as `state` records. The host
//! script computes it again under the lock and, when it differs, changes nothing and exits
//! [`EXIT_STALE`], naming who changed the host last ([`crate::layout::CHANGED_BY`]). That host is then reported, not changed: its plan no longer
//! holds, and the run stops its rollout there, so that two applies started together never take
//! more hosts down together than one of them may. The next run plans it afresh.

use sha2::{Digest, Sha256};

/// `dsctl_state` and `dsctl_token`, shared by observe.sh and the host script.
pub const STATE_SH: &str = include_str!("scripts/state.sh");

/// The token of the state a host's observation printed: the sha256 of its `state` lines, in
/// their order, each with its newline. It is what `dsctl_token` prints for the same state
/// (`dsctl_state | sha256sum`), so observe.sh needs no sha256sum of its own.
#[derive(Default)]
pub struct StateHasher(Sha256);

impl StateHasher {
    pub fn line(&mut self, line: &str) {
        self.0.update(line.as_bytes());
        self.0.update(b"\n");
    }

    pub fn token(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Exit code of a host script whose host changed since it was observed.
pub const EXIT_STALE: u32 = 76;

/// The first line of the stale report on stderr, followed by who changed the host.
const STALE_MARK: &str = "dsctl-stale:";

/// The check the host script makes under the lock, before anything changes; `$TOKEN` empty
/// means "no check" (scripts that follow this run's own earlier script on the host).
pub const CHECK_SH: &str = r#"if [ -n "$TOKEN" ] && [ "$(dsctl_token)" != "$TOKEN" ]; then
  echo "dsctl-stale: $(head -c 200 "$S/changed.by" 2>/dev/null | tr -d '\n' || true)" >&2
  exit 76
fi
(umask 077; printf '%s\n' "$HOLDER" > "$S/changed.by.new" && mv -f "$S/changed.by.new" "$S/changed.by")
"#;

/// Who changed a host since this run observed it, from a stale script's stderr (`None` when
/// the script did not report a stale plan). Control characters are dropped: the text is the
/// host's.
pub fn stale_by(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|l| {
        let by = l.strip_prefix(STALE_MARK)?.trim();
        Some(by.chars().filter(|c| !c.is_control()).take(200).collect())
    })
}

/// What the run says about a host whose plan went stale.
pub fn stale_message(by: &str) -> String {
    let who = if by.is_empty() {
        "another dsctl".to_string()
    } else {
        format!("another dsctl ({by})")
    };
    format!(
        "{who} changed this host after this run observed it; nothing was changed here, and \
         this run's rollout stops so that both together stay within maxUnavailable (the next \
         apply plans it again)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_script::{script_with, sh_quote};
    use crate::layout::STATE_DIR;
    use crate::plan::{Action, Change, ChangeKind};
    use std::path::Path;
    use std::process::Command;

    #[test]
    fn stale_reports_parse() {
        for (stderr, want) in [
            ("dsctl-stale: alice@lap pid 4\n", Some("alice@lap pid 4")),
            ("noise\ndsctl-stale: \n", Some("")),
            ("dsctl-stale: a\x1b[31mb\n", Some("a[31mb")),
            ("exit 1: x.service did not start\n", None),
            ("", None),
        ] {
            assert_eq!(stale_by(stderr).as_deref(), want, "{stderr:?}");
        }
        assert!(stale_message("bob@h pid 1").starts_with("another dsctl (bob@h pid 1) changed"));
        assert!(stale_message("").starts_with("another dsctl changed"));
    }

    fn token_of(state: &Path, globs: &str) -> String {
        let script = format!(
            "S={}\nUNIT_GLOBS={}\n{STATE_SH}dsctl_token\n",
            sh_quote(state.to_str().unwrap()),
            sh_quote(globs)
        );
        let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn record(revision: &str) -> Change {
        Change {
            daemonset: "web".into(),
            kind: ChangeKind::Update,
            reasons: vec![],
            actions: vec![Action::RecordState {
                daemonset: "web".into(),
                revision: revision.into(),
                units: vec![],
                spec_json: "{}".into(),
                cause: String::new(),
                history_limit: 10,
            }],
            disruptive: true,
        }
    }

    /// Runs a host script planned from `token` against the state dir; (exit code, stderr).
    fn run(state: &Path, token: Option<&str>, holder: &str, revision: &str) -> (i32, String) {
        let s = script_with(&[record(revision)], 5, holder, token)
            .replace(STATE_DIR, state.to_str().unwrap());
        let out = Command::new("sh")
            .arg("-c")
            .arg(s)
            .env("DSCTL_STATE_DIR", state)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The table: what changed between the observation and the script, and whether the script
    /// may go on.
    #[test]
    fn the_script_goes_on_only_from_the_state_it_was_planned_from() {
        type Edit = fn(&Path, &Path);
        let cases: [(&str, Edit, bool); 7] = [
            ("nothing changed", |_, _| {}, true),
            (
                "another revision recorded",
                |s, _| std::fs::write(s.join("daemonsets/web/revision"), "bb\n").unwrap(),
                false,
            ),
            (
                "a halted marker appeared",
                |s, _| std::fs::write(s.join("daemonsets/web/halted"), "x\n").unwrap(),
                false,
            ),
            (
                "a unit file was written",
                |_, u| std::fs::write(u.join("dsctl_web_bb-pod.service"), "[Unit]\n").unwrap(),
                false,
            ),
            (
                "the record was forgotten",
                |s, _| std::fs::remove_dir_all(s.join("daemonsets/web")).unwrap(),
                false,
            ),
            (
                "only the lock holder and clocks moved",
                |s, _| {
                    std::fs::write(s.join("lock.holder"), "someone").unwrap();
                    std::fs::write(s.join("daemonsets/web/recorded"), "1").unwrap();
                },
                true,
            ),
            (
                "a file outside the globs",
                |_, u| std::fs::write(u.join("other.service"), "x").unwrap(),
                true,
            ),
        ];
        for (what, edit, goes_on) in cases {
            let dir = tempfile::tempdir().unwrap();
            let state = dir.path().join("s");
            let units = dir.path().join("units");
            std::fs::create_dir_all(&units).unwrap();
            std::fs::write(units.join("dsctl_web_aa-pod.service"), "[Unit]\n").unwrap();
            assert_eq!(run(&state, None, "first", "aa").0, 0, "{what}");
            let globs = format!("{}/dsctl_*.service", units.display());
            let token = token_of(&state, &globs);
            edit(&state, &units);
            // The script must see the same globs: point them at the test's unit dir.
            let s = script_with(&[record("cc")], 5, "second", Some(&token))
                .replace(STATE_DIR, state.to_str().unwrap())
                .replace(
                    &sh_quote(&crate::layout::UNIT_FILE_GLOBS.join(" ")),
                    &sh_quote(&globs),
                );
            let out = Command::new("sh").arg("-c").arg(s).output().unwrap();
            let code = out.status.code().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            if goes_on {
                assert_eq!(code, 0, "{what}: {stderr}");
                assert_eq!(
                    std::fs::read_to_string(state.join("daemonsets/web/revision")).unwrap(),
                    "cc\n",
                    "{what}"
                );
            } else {
                assert_eq!(code, EXIT_STALE as i32, "{what}: {stderr}");
                assert_eq!(stale_by(&stderr).as_deref(), Some("first"), "{what}");
                assert_ne!(
                    std::fs::read_to_string(state.join("daemonsets/web/revision"))
                        .unwrap_or_default(),
                    "cc\n",
                    "{what}: a stale script changed the record"
                );
            }
        }
    }

    /// Two scripts planned from one observation: the first goes on, the second finds the host
    /// changed by the first and says by whom.
    #[test]
    fn of_two_runs_planned_together_the_second_stands_down() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        assert_eq!(run(&state, None, "setup", "aa").0, 0);
        let globs = crate::layout::UNIT_FILE_GLOBS.join(" ");
        let token = token_of(&state, &globs);
        assert_eq!(run(&state, Some(&token), "alice@a pid 1", "bb").0, 0);
        let (code, stderr) = run(&state, Some(&token), "bob@b pid 2", "bb");
        assert_eq!(code, EXIT_STALE as i32);
        assert_eq!(stale_by(&stderr).as_deref(), Some("alice@a pid 1"));
        // Without a token (this run's own follow-up script) there is no check.
        assert_eq!(run(&state, None, "bob@b pid 2", "bb").0, 0);
    }
}
