//! The host script runs detached from the SSH channel, so a dropped connection (a closed
//! laptop, a killed dsctl, a cut link, a killed sshd) never stops it half-way.
//!
//! One exec round trip still does it all in the normal case: a small launcher receives the
//! script on stdin (checked by its sha256, so a cut upload runs nothing), starts it in a
//! transient systemd service (or a new session where systemd is not PID 1) with its output in
//! files under [`layout::RUNS_DIR`], waits for its exit code, prints what it printed and
//! removes the files. A launcher that dies first (its channel gone) leaves the files; the next
//! observe reports them ([`LeftRun`]), that run's notes say what the script did, and the files
//! are removed once reported. Everything here but [`exec`] is pure.

use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::host_script::sh_quote;
use crate::layout;
use crate::ssh::{ExecOutput, RemoteHost, SshError};

/// Exit code of the launcher when the script's process vanished without an exit code (killed,
/// or the host rebooted under it).
pub const EXIT_KILLED: u32 = 77;

/// A run id no other dsctl process picks: the clock, this process, and a counter.
pub fn new_run_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{nanos:x}-{:x}-{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The shell helpers shared by the launcher and observe.sh: `$B` is this boot, and `alive F`
/// holds when file F names a process (`pid boot`) that runs now (a pid of an earlier boot
/// names nothing, whatever has that number now).
pub const ALIVE_SH: &str = r#"read -r B 2>/dev/null </proc/sys/kernel/random/boot_id || B=-
alive() { set -- $(cat "$1" 2>/dev/null); [ -n "${1:-}" ] && [ "${2:-}" = "$B" ] && kill -0 "$1" 2>/dev/null; }
"#;

/// `dsctl_left_runs`, for observe.sh: one `leftrun` record for each script whose launcher is
/// gone, and an `inflight` one for each launch still waited for (another dsctl's, or a killed
/// one's whose launcher has not noticed yet; it may not hold the lock yet, and the budget
/// counts its host as down all the same).
pub const LEFT_RUNS_SH: &str = r#"dsctl_left_runs() {
  for r in "$S"/runs/*/ "$S"/runs/.*/; do
    [ -f "$r/waiter" ] || continue
    r=${r%/}; b=${r##*/}; id=${b#.}
    if alive "$r/waiter"; then st=inflight
    elif [ "$b" != "$id" ]; then continue
    elif [ -f "$r/rc" ]; then st=$(cat "$r/rc")
    elif alive "$r/runner"; then st=running
    else st=killed; fi
    echo "leftrun $id $st $(head -c 200 "$r/holder" 2>/dev/null | base64 -w0) $(tail -c 1000 "$r/err" 2>/dev/null | base64 -w0)"
  done
}
"#;

const LAUNCHER: &str = r#"set -eu
# Run files are root's alone (0600 in 0700 directories), the runner's and script's too.
umask 077
R="$S/runs/$ID"; T="$S/runs/.$ID"
# The launcher's writes are a run's first: a full or read-only state file system is named
# here, as the script's prelude would name it.
# (Every fork costs a wave 2-3 ms: a run id is new, so there is rarely anything to remove.)
if ! { mkdir -p "$S/runs" && chmod go= "$S" "$S/runs" &&
    { [ ! -e "$T" ] && [ ! -e "$R" ] || rm -rf "$T" "$R"; } && mkdir "$T" && echo "$$ $B" > "$T/waiter" &&
    printf '%s\n' "$HOLDER" > "$T/holder" && cat > "$T/script"; } 2> /dev/null; then
  rm -rf "$T" 2> /dev/null || true
  cannot_write "$S/runs"
  exit 1
fi
sum=$(sha256sum < "$T/script")
if [ "${sum%% *}" != "$SHA" ]; then
  rm -rf "$T"
  echo "the host script arrived incomplete; nothing was run" >&2
  exit 1
fi
# A write to the channel before the script starts: if the channel is gone already (dsctl
# killed while the script was on its way), the write fails and nothing runs, so a run that
# the next one cannot observe never starts behind its back.
trap '' PIPE
if ! echo "launch $ID" 2> /dev/null; then
  rm -rf "$T"
  exit 1
fi
trap - PIPE
mv "$T" "$R"
# The runner is a file: systemd-run would expand the $ of an inline one. Its pid file is
# renamed into place: the loop below reads an empty one, created but not yet written, as a
# dead runner (seen under load: "killed" for a script that ran on).
# The runner holds the fifo "done" open (read-write, so it never blocks) until it exits: the
# launcher's read of it ends the moment the script is over, with no polling delay. The loop
# after it decides what happened, and takes over if the wait ended early.
mkfifo "$R/done"
echo 'cd /; umask 077; exec 3<> "$1/done"; echo "$$ $2" > "$1/runner.t"; mv "$1/runner.t" "$1/runner"; sh "$1/script" > "$1/out" 2> "$1/err" < /dev/null 3>&-; echo $? > "$1/rc.t"; mv "$1/rc.t" "$1/rc"' > "$R/run"
if [ -d /run/systemd/system ] && command -v systemd-run > /dev/null 2>&1; then
  systemd-run --quiet --collect --unit="$UNIT" --description="dsctl host script $ID" sh "$R/run" "$R" "$B" > /dev/null
else
  setsid sh "$R/run" "$R" "$B" < /dev/null > /dev/null 2>&1 &
fi
# Opening the fifo to read waits for a writer: the runner, or after 20 s this watchdog (a
# runner that never started), which then closes it, so the read below ends. Killed once the
# runner is in, it takes its sleep with it, so nothing of it outlives the launcher.
sh -c 'trap "kill \$! 2> /dev/null; exit 0" TERM; sleep 20 & wait $!; exec 3<> "$0"' "$R/done" < /dev/null > /dev/null 2>&1 &
w=$!
exec 4< "$R/done"
kill "$w" 2> /dev/null || true
cat <&4 > /dev/null || true
exec 4<&-
n=0
while [ ! -f "$R/rc" ]; do
  if [ -f "$R/runner" ]; then
    if ! alive "$R/runner" && [ ! -f "$R/rc" ]; then
      cat "$R/out" 2> /dev/null || true
      cat "$R/err" >&2 2> /dev/null || true
      rm -rf "$R"
      echo "the host script was killed before it finished" >&2
      exit 77
    fi
  else
    n=$((n + 1))
    if [ "$n" -gt 200 ]; then
      echo "the host script did not start within 30 s (the next run reports it if it does)" >&2
      exit 1
    fi
  fi
  sleep 0.05
done
read -r rc < "$R/rc"
[ ! -s "$R/out" ] || cat "$R/out"
[ ! -s "$R/err" ] || cat "$R/err" >&2
rm -rf "$R"
exit "$rc"
"#;

/// What is sent for one host script: the launcher as the command, the script as its stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub command: String,
    pub stdin: Vec<u8>,
}

/// The launcher for `script`, run `id`, on behalf of `holder`.
pub fn launch(script: &str, id: &str, holder: &str) -> Launch {
    assert!(layout::is_run_id(id), "{id:?} is not a run id");
    let sha = hex::encode(Sha256::digest(script.as_bytes()));
    let command = format!(
        "S=${{DSCTL_STATE_DIR:-{}}}\nID={id}\nSHA={sha}\nUNIT={}\nHOLDER={}\n{ALIVE_SH}{}{LAUNCHER}",
        sh_quote(layout::STATE_DIR),
        sh_quote(&layout::script_unit(id)),
        sh_quote(holder),
        crate::host_script::CANNOT_WRITE_SH,
    );
    Launch {
        command,
        stdin: script.as_bytes().to_vec(),
    }
}

/// Is `command` (as sent: `ssh::remote_command`) a launcher from [`launch`], whose script
/// comes on stdin? For hosts that answer dsctl's protocol without a shell (`dsctl::sim`).
pub fn is_launcher(command: &str) -> bool {
    ["S=${DSCTL_STATE_DIR:-", "\nSHA=", "\nUNIT="]
        .iter()
        .all(|part| command.contains(part))
}

/// Runs a host script detached on `remote`: the same output and exit code as running it in
/// the channel, but the script finishes whatever becomes of the channel.
pub async fn exec<R: RemoteHost>(
    remote: &R,
    script: &str,
    holder: &str,
) -> Result<ExecOutput, SshError> {
    let launch = launch(script, &new_run_id(), holder);
    remote.exec(&launch.command, Some(&launch.stdin)).await
}

/// How a script whose launcher is gone ended, as the next observe finds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum LeftState {
    /// It finished with this exit code after its connection was lost.
    Exited(i32),
    /// It still runs (it holds the host's lock, so this run's scripts wait for it).
    Running,
    /// Its launcher still waits for it: another dsctl's script, in flight now.
    InFlight,
    /// Its process is gone without an exit code (killed, or the host rebooted).
    Killed,
}

/// A host script left behind by a run whose connection was lost.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftRun {
    pub id: String,
    pub state: LeftState,
    /// The run that sent it (user, host, pid), as the lock names it.
    pub holder: String,
    /// The end of what it printed on stderr (bounded by the host; cut again here).
    pub stderr_tail: String,
}

impl LeftRun {
    /// Is it over (so reporting it once is enough and its files can go)?
    pub fn is_over(&self) -> bool {
        !matches!(self.state, LeftState::Running | LeftState::InFlight)
    }
}

/// Parses the fields of an observe `leftrun` record: `ID STATE HOLDER-B64 STDERR-B64`.
pub fn parse_left_run(fields: &str) -> Result<LeftRun, String> {
    let mut f = fields.split(' ');
    let (Some(id), Some(state)) = (f.next(), f.next()) else {
        return Err("leftrun needs an id and a state".into());
    };
    if !layout::is_run_id(id) {
        return Err(format!("leftrun: {id:?} is not a run id"));
    }
    let state = match state {
        "running" => LeftState::Running,
        "inflight" => LeftState::InFlight,
        "killed" => LeftState::Killed,
        code => LeftState::Exited(
            code.parse()
                .map_err(|_| format!("leftrun: bad state {code:?}"))?,
        ),
    };
    let text = |b64: Option<&str>| -> Result<String, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.unwrap_or("").trim())
            .map_err(|_| "leftrun: not base64".to_string())?;
        Ok(printable(&String::from_utf8_lossy(&bytes)))
    };
    let holder = text(f.next())?.trim().to_string();
    let stderr = text(f.next())?;
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let stderr_tail = lines[lines.len().saturating_sub(5)..].join("\n");
    Ok(LeftRun {
        id: id.to_string(),
        state,
        holder,
        stderr_tail: stderr_tail.chars().take(1000).collect(),
    })
}

/// Host-controlled text without control characters (newlines kept), so it cannot drive the
/// terminal it is shown on.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect()
}

/// What a run says about a left script, in its notes.
pub fn note(left: &LeftRun) -> String {
    let by = if left.holder.is_empty() {
        "an earlier run".to_string()
    } else {
        format!("the run of {}", left.holder)
    };
    let what = match left.state {
        LeftState::Exited(0) => "finished after its connection was lost".to_string(),
        LeftState::Exited(code) => format!("failed (exit {code}) after its connection was lost"),
        LeftState::Running => {
            "still runs; its connection was lost (this run waits for its lock)".to_string()
        }
        LeftState::InFlight => "is in flight (this run counts the host as down)".to_string(),
        LeftState::Killed => "was killed before it finished (the host may have rebooted); \
             this run's plan repairs what it left"
            .to_string(),
    };
    let tail = if left.stderr_tail.is_empty() || left.state == LeftState::Exited(0) {
        String::new()
    } else {
        format!(": {}", left.stderr_tail.replace('\n', "\n    "))
    };
    format!("host script {} of {by} {what}{tail}", left.id)
}

/// Removes the files of left scripts once they are reported (only those that are over).
pub fn ack_script(left: &[LeftRun]) -> Option<String> {
    let ids: Vec<String> = left
        .iter()
        .filter(|l| l.is_over() && layout::is_run_id(&l.id))
        .map(|l| sh_quote(&l.id))
        .collect();
    (!ids.is_empty()).then(|| {
        format!(
            "S=${{DSCTL_STATE_DIR:-{}}}\nfor id in {}; do rm -rf \"$S/runs/$id\"; done\n",
            sh_quote(layout::STATE_DIR),
            ids.join(" ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::path::Path;
    use std::process::Command;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn run_ids_are_unique_and_valid() {
        let a = new_run_id();
        let b = new_run_id();
        assert_ne!(a, b);
        assert!(layout::is_run_id(&a), "{a}");
        for bad in ["", "../x", "A", "-x", "a b", &"a".repeat(65)] {
            assert!(!layout::is_run_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn left_run_records() {
        let ok = |fields: &str, id: &str, state: LeftState, holder: &str, tail: &str| {
            let left = parse_left_run(fields).unwrap_or_else(|e| panic!("{fields}: {e}"));
            assert_eq!(
                left,
                LeftRun {
                    id: id.into(),
                    state,
                    holder: holder.into(),
                    stderr_tail: tail.into(),
                },
                "{fields}"
            );
        };
        ok(
            &format!("1a-2-0 0 {} ", b64("me@lap pid 7\n")),
            "1a-2-0",
            LeftState::Exited(0),
            "me@lap pid 7",
            "",
        );
        ok(
            &format!("x 1 {} {}", b64("h"), b64("a\n\nb\nc\nd\ne\nf\n")),
            "x",
            LeftState::Exited(1),
            "h",
            "b\nc\nd\ne\nf",
        );
        ok("x running", "x", LeftState::Running, "", "");
        ok("x inflight", "x", LeftState::InFlight, "", "");
        ok(
            &format!("x killed {} {}", b64("h\x1b[2J"), b64("\x07bell")),
            "x",
            LeftState::Killed,
            "h[2J",
            "bell",
        );
        for bad in ["", "x", "../../etc 0", "x maybe", "x 0 !!notbase64", "X 0"] {
            assert!(parse_left_run(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn notes_say_what_the_left_script_did() {
        let left = |state, tail: &str| LeftRun {
            id: "r1".into(),
            state,
            holder: "me@lap".into(),
            stderr_tail: tail.into(),
        };
        for (l, want) in [
            (
                left(LeftState::Exited(0), "noise"),
                "host script r1 of the run of me@lap finished after its connection was lost",
            ),
            (
                left(LeftState::Exited(1), "x.service did not start:"),
                "host script r1 of the run of me@lap failed (exit 1) after its connection was lost: x.service did not start:",
            ),
            (
                left(LeftState::Running, ""),
                "host script r1 of the run of me@lap still runs; its connection was lost (this run waits for its lock)",
            ),
        ] {
            assert_eq!(note(&l), want);
        }
        assert!(note(&left(LeftState::Killed, "")).contains("killed before it finished"));
        let all = [
            left(LeftState::Running, ""),
            left(LeftState::Killed, ""),
            left(LeftState::Exited(3), ""),
        ];
        let ack = ack_script(&all).unwrap();
        assert_eq!(ack.matches("'r1'").count(), 2, "{ack}");
        assert_eq!(ack_script(&all[..1]), None, "a running script is not acked");
    }

    /// Runs the launcher for `script` against a local state dir (no systemd here: the
    /// `setsid` path), in its own process group.
    fn launch_local(state: &Path, script: &str, stdin: Option<&[u8]>) -> std::process::Output {
        let l = launch(script, &new_run_id(), "tester");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&l.command)
            .env("DSCTL_STATE_DIR", state)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or(&l.stdin)).unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    }

    #[test]
    fn a_launcher_is_told_from_other_commands() {
        let launch = launch("echo hi", &new_run_id(), "me");
        assert!(is_launcher(&launch.command));
        assert!(is_launcher(&crate::ssh::remote_command(
            &launch.command,
            "bob",
            true
        )));
        for other in ["sh -s", "S=1", crate::observe::script(false, &[]).as_str()] {
            assert!(!is_launcher(other), "{other:.40}");
        }
    }

    #[test]
    fn the_launcher_passes_output_and_exit_code_through_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let out = launch_local(&state, "echo out; echo err >&2; exit 3\n", None);
        assert_eq!(out.status.code(), Some(3));
        let id_line = String::from_utf8_lossy(&out.stdout);
        assert!(id_line.starts_with("launch "), "{id_line}");
        assert_eq!(id_line.lines().nth(1), Some("out"));
        assert_eq!(id_line.lines().count(), 2);
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
        assert_eq!(std::fs::read_dir(state.join("runs")).unwrap().count(), 0);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join("runs"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_cut_upload_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let marker = dir.path().join("ran");
        let script = format!("touch {}\n", marker.display());
        let out = launch_local(&state, &script, Some(&script.as_bytes()[..5]));
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("arrived incomplete"));
        assert!(!marker.exists());
        assert_eq!(std::fs::read_dir(state.join("runs")).unwrap().count(), 0);
    }

    /// A state directory the launcher cannot write (here: under a file) fails naming the
    /// path and the cause, and runs nothing.
    #[test]
    fn an_unwritable_state_dir_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "").unwrap();
        let marker = dir.path().join("ran");
        let script = format!("touch {}\n", marker.display());
        let out = launch_local(&dir.path().join("f/s"), &script, None);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!("cannot write {}/f/s/runs: ", dir.path().display())),
            "{err}"
        );
        assert!(
            err.contains("KiB free on its file system (full, or read-only)"),
            "{err}"
        );
        assert!(!marker.exists());
    }

    /// The channel gone before the script starts (dsctl killed while it was on its way): the
    /// launcher's write fails and nothing runs, so no script runs that no run can observe.
    #[test]
    fn a_script_whose_channel_is_gone_before_it_starts_never_runs() {
        use std::os::fd::FromRawFd;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let marker = dir.path().join("ran");
        let l = launch(&format!("touch {}\n", marker.display()), &new_run_id(), "t");
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        unsafe { libc::close(fds[0]) };
        // SAFETY: fds[1] is a descriptor this test just made and hands over here.
        let closed = unsafe { std::process::Stdio::from_raw_fd(fds[1]) };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&l.command)
            .env("DSCTL_STATE_DIR", &state)
            .stdin(std::process::Stdio::piped())
            .stdout(closed)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&l.stdin).unwrap();
        assert!(!child.wait().unwrap().success());
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!marker.exists(), "the script ran without a channel");
        assert_eq!(std::fs::read_dir(state.join("runs")).unwrap().count(), 0);
    }

    #[test]
    fn a_killed_script_is_reported_as_killed() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        // The script kills its own process group (the runner with it), as a reboot would.
        let out = launch_local(&state, "echo half\nkill -9 0\necho never\n", None);
        assert_eq!(out.status.code(), Some(EXIT_KILLED as i32));
        assert!(String::from_utf8_lossy(&out.stderr).contains("killed before it finished"));
    }

    /// The launcher killed while its script runs (its channel gone): the script finishes,
    /// and what observe.sh reports of it parses as a finished left run.
    #[test]
    fn a_script_outlives_its_launcher_and_is_reported_next_time() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let done = dir.path().join("done");
        let script = format!(
            "sleep 1; echo finishing >&2; touch {}; exit 4\n",
            done.display()
        );
        let l = launch(&script, "leftover-1", "me@lap pid 9");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&l.command)
            .env("DSCTL_STATE_DIR", &state)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&l.stdin).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(400));
        let observe = format!(
            "S={}\n{ALIVE_SH}{LEFT_RUNS_SH}dsctl_left_runs\n",
            state.display(),
        );
        let seen = Command::new("sh").arg("-c").arg(&observe).output().unwrap();
        let seen = String::from_utf8_lossy(&seen.stdout);
        assert!(
            seen.starts_with("leftrun leftover-1 inflight "),
            "a launch still waited for is in flight: {seen}"
        );
        // SIGKILL to the launcher's whole process group: the script is in its own session.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        child.wait().unwrap();
        let report = |want: &str| {
            let out = Command::new("sh").arg("-c").arg(&observe).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let line = text
                .lines()
                .find(|l| l.starts_with("leftrun "))
                .unwrap_or("");
            assert!(line.starts_with(want), "{want}: {text}");
            line.strip_prefix("leftrun ").map(parse_left_run)
        };
        report("leftrun leftover-1 running");
        for _ in 0..100 {
            if done.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(done.exists(), "the script finished without its launcher");
        std::thread::sleep(std::time::Duration::from_millis(200));
        let left = report("leftrun leftover-1 4").unwrap().unwrap();
        // What the run left (script, pid files, output, exit code) is root's alone.
        use std::os::unix::fs::PermissionsExt;
        let run = state.join("runs/leftover-1");
        let files: Vec<_> = std::fs::read_dir(&run)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        assert!(files.len() >= 6, "{files:?}");
        for f in files {
            let mode = f.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.path().display());
        }
        assert_eq!(left.state, LeftState::Exited(4));
        assert_eq!(left.holder, "me@lap pid 9");
        assert_eq!(left.stderr_tail, "finishing");
        let ack = ack_script(&[left]).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(&ack)
            .env("DSCTL_STATE_DIR", &state)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(std::fs::read_dir(state.join("runs")).unwrap().count(), 0);
    }
}
