//! Turns a host's plan into the one shell script that carries it out (pure).
//!
//! The script holds the host's dsctl lock (flock) while it runs, so two applies never
//! interleave, and every step is idempotent (write-if-different, start-if-stopped), so a run
//! killed half-way is finished by the next one. File contents travel base64-encoded: no value
//! from a spec is ever parsed by the host's shell.

use std::fmt::Write as _;

use base64::Engine;

use crate::layout::{self, PodmanObject, STATE_DIR};
use crate::plan::{Action, Change};

/// Exit code the script uses when the lock could not be taken in time.
pub const EXIT_LOCKED: u32 = 75;

/// Quotes a string as one word for a POSIX shell.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// The shell function that writes a projection (config_refs.rs): kept apart so that its
/// layout is tested on its own.
const PROJECT_FN: &str = r#"# project PARENT DIR [PATH MODE B64]...: write DIR as the kubelet's AtomicWriter does: the files
# in a new ..<timestamp> directory, ..data switched to it by one rename, a link per top-level
# entry, then the previous payload removed, so a reader sees the old files or the new, never a
# mix. PARENT is root's alone (Secrets); DIR itself is what a container mounts.
project() {
  (umask 077; mkdir -p "$1"); chmod 0700 "$1"
  d=$2; shift 2
  mkdir -p "$d"; chmod 0755 "$d"
  t=$(mktemp -d "$d/..$(date +%Y_%m_%d_%H_%M_%S).XXXXXX")
  chmod 0755 "$t"
  while [ $# -ge 3 ]; do
    f=$t/$1; mkdir -p "$(dirname "$f")"
    (umask 077; printf '%s' "$3" | base64 -d > "$f"); chmod "$2" "$f"
    shift 3
  done
  find "$t" -type f -exec sync {} +
  rm -f "$d/..data_tmp"; ln -s "${t##*/}" "$d/..data_tmp"
  mv -T "$d/..data_tmp" "$d/..data"
  for e in "$t"/* "$t"/.[!.]*; do [ -e "$e" ] || continue; n=${e##*/}; [ -L "$d/$n" ] || ln -s "..data/$n" "$d/$n"; done
  for e in "$d"/* "$d"/.[!.]*; do [ -L "$e" ] || continue; n=${e##*/}; [ -e "$t/$n" ] || rm -f "$e"; done
  for o in "$d"/..?*; do case ${o##*/} in ..data|..data_tmp|"${t##*/}") ;; *) rm -rf "$o" ;; esac; done
  sync "$d"
}
"#;

/// `cannot_write PATH`: names a write under the state directory that failed by its cause (dash
/// itself reports only "I/O error"). Shared by the script's prelude and the detached launcher,
/// whichever writes first.
pub const CANNOT_WRITE_SH: &str = r#"cannot_write() {
  echo "cannot write $1: $(df -Pk "$S" 2>/dev/null | awk 'NR == 2 {print $4}') KiB free on its file system (full, or read-only)" >&2
}
"#;

const PRELUDE: &str = r#"DSCTL_START=$(date +%s%N)
set -eu
umask 022
S=${DSCTL_STATE_DIR:-$STATE_DIR}
# The state is root's alone: specs may hold secrets, and a user who can open the lock can
# hold it and block every apply. A symlinked lock is never followed.
(umask 077; mkdir -p "$S/daemonsets")
[ ! -L "$S/lock" ] || rm -f "$S/lock"
(umask 077; : >>"$S/lock")
# Not recursive over $S: pods/ holds emptyDir volumes that containers' own users write.
chmod go= "$S" "$S/lock"; chmod -R go= "$S/daemonsets"
exec 9>>"$S/lock"
if ! flock -w "$LOCK_TIMEOUT" 9; then
  echo "locked by: $(cat "$S/lock.holder" 2>/dev/null || echo unknown)" >&2
  exit 75
fi
# The first write under the lock, root's alone like the lock (it names who applies, from
# where): a full or read-only state file system is named as such here (dash reports only
# "I/O error" for the write that fails).
if ! (umask 077; printf '%s\n' "$HOLDER" 2>/dev/null > "$S/lock.holder"); then
  cannot_write "$S/lock.holder"
  exit 1
fi
# On the way out, whatever this script did: observe's cache of unit states is keyed on
# SCRIPT_RAN (src/layout.rs), so the next observe asks systemd again.
trap 'rm -f "$S/lock.holder"; (umask 077; mkdir -p "${RAN%/*}" && : > "$RAN.$$" && mv -f "$RAN.$$" "$RAN") 2>/dev/null || true' EXIT
# Recovery of a record swap cut short (see record): an aside copy whose record is missing is
# the current record (the crash came before the swap); beside a record it is garbage.
# Forgotten records (.gone) and half-prepared ones (.new) are garbage.
for o in "$S"/daemonsets/.*.old; do
  [ -d "$o" ] || continue
  b=${o##*/}; b=${b#.}; b=${b%.old}
  if [ -d "$S/daemonsets/$b" ]; then rm -rf "$o"; else mv "$o" "$S/daemonsets/$b"; fi
done
for g in "$S"/daemonsets/.*.gone "$S"/daemonsets/.*.new "$S"/daemonsets/.*.pending; do [ ! -d "$g" ] || rm -rf "$g"; done
# put PATH B64 [MODE]: write atomically and durably (temporary file, fsync, rename in the same
# directory, fsync of the directory), so a reboot finds the old file or the new one.
put() {
  d=$(dirname "$1"); mkdir -p "$d"
  t=$(mktemp "$d/.dsctl.XXXXXX")
  printf '%s' "$2" | base64 -d > "$t"
  chmod "${3:-0644}" "$t"
  sync "$t"
  mv -f "$t" "$1"
  sync "$d"
}
# record DS REV LIMIT: make the prepared $S/daemonsets/.DS.new the current record of DS at
# revision REV, moving the previous revision into history/ (numbered, newest LIMIT kept).
# The swap is two renames (current aside to .DS.old, .DS.new in place) and a removal; a crash
# between any two leaves a state the recovery above completes.
record() {
  d="$S/daemonsets/$1"; n="$S/daemonsets/.$1.new"; o="$S/daemonsets/.$1.old"
  mkdir -p "$n/history"
  [ -d "$d/history" ] && cp -a "$d/history/." "$n/history/"
  cp "$d/created" "$n/created" 2>/dev/null || date +%s > "$n/created"
  num=$(cat "$d/number" 2>/dev/null || echo 0)
  old=$(cat "$d/revision" 2>/dev/null || true)
  if [ "$old" = "$2" ]; then
    cp "$d/recorded" "$n/recorded" 2>/dev/null || date +%s > "$n/recorded"
  else
    if [ -n "$old" ]; then
      mkdir -p "$n/history/$old"
      for f in spec.json number cause recorded; do [ ! -f "$d/$f" ] || cp "$d/$f" "$n/history/$old/"; done
    fi
    if [ -f "$n/history/$2/pending" ]; then
      # Recorded but never applied (OnDelete): the revision keeps its number. (An earlier
      # applied revision that comes back, as `rollout undo` does, takes the next number.)
      num=$(cat "$n/history/$2/number")
    else
      for h in "$n"/history/*/number; do [ ! -f "$h" ] || [ "$(cat "$h")" -le "$num" ] || num=$(cat "$h"); done
      num=$((num + 1))
    fi
    date +%s > "$n/recorded"
  fi
  echo "$num" > "$n/number"
  echo "$2" > "$n/revision"
  rm -rf "$n/history/$2"
  for h in "$n"/history/*/; do [ ! -d "$h" ] || echo "$(cat "$h/number" 2>/dev/null || echo 0) $h"; done |
    sort -n | head -n "-$3" | while read -r _ h; do rm -rf "$h"; done
  chmod -R go= "$n"
  find "$n" -exec sync {} +
  rm -rf "$o"
  [ ! -d "$d" ] || mv "$d" "$o"
  mv "$n" "$d"
  sync "$S/daemonsets"
  rm -rf "$o"
}
# forget DS: remove the record of DS (renamed away first, so no half-removed record is read).
forget() {
  [ ! -d "$S/daemonsets/$1" ] || mv "$S/daemonsets/$1" "$S/daemonsets/.$1.gone"
  sync "$S/daemonsets"
  rm -rf "$S/daemonsets/.$1.gone"
}
# pending DS REV: move the prepared $S/daemonsets/.DS.pending into DS's history as REV, with
# the next number, without making it current (OnDelete's new revision).
pending() {
  d="$S/daemonsets/$1"; p="$S/daemonsets/.$1.pending"
  if [ ! -d "$d" ] || [ -d "$d/history/$2" ]; then rm -rf "$p"; return 0; fi
  num=$(cat "$d/number" 2>/dev/null || echo 0)
  for h in "$d"/history/*/number; do [ ! -f "$h" ] || [ "$(cat "$h")" -le "$num" ] || num=$(cat "$h"); done
  echo $((num + 1)) > "$p/number"
  date +%s > "$p/recorded"
  : > "$p/pending"
  mkdir -p "$d/history"; mv "$p" "$d/history/$2"
}
# fail UNIT: print why a unit did not start, then stop the script.
fail() {
  echo "$1 did not start:" >&2
  systemctl status --no-pager -n 15 "$1" >&2 || true
  exit 1
}
"#;

/// The script for a host's changes. `holder` names this run in the lock (user, host, pid).
pub fn script(changes: &[Change], lock_timeout_secs: u64, holder: &str) -> String {
    script_with(changes, lock_timeout_secs, holder, None)
}

/// [`script`], which first checks under the lock that the host is still in the state of
/// `token` (the observation's, see `plan_token.rs`) and otherwise changes nothing.
pub fn script_with(
    changes: &[Change],
    lock_timeout_secs: u64,
    holder: &str,
    token: Option<&str>,
) -> String {
    if let Some(refused) = unsafe_state_name(changes) {
        // State paths are built only from validated names: a name read back from a host that
        // could escape the state directory stops the script before it changes anything.
        return format!(
            "echo {} >&2\nexit 1\n",
            sh_quote(&format!(
                "refused: {refused} is not a valid name for a state path"
            ))
        );
    }
    let mut s = format!(
        "LOCK_TIMEOUT={lock_timeout_secs}\nHOLDER={}\nSTATE_DIR={}\nRAN={}\nTOKEN={}\nUNIT_GLOBS={}\n{CANNOT_WRITE_SH}{PRELUDE}{PROJECT_FN}{}{}",
        sh_quote(holder),
        sh_quote(STATE_DIR),
        sh_quote(crate::layout::SCRIPT_RAN),
        sh_quote(token.unwrap_or("")),
        sh_quote(&layout::UNIT_FILE_GLOBS.join(" ")),
        crate::plan_token::STATE_SH,
        crate::plan_token::CHECK_SH,
    );
    let actions = || changes.iter().flat_map(|c| c.actions.iter());
    let mut reload = false;
    for action in actions() {
        if let Action::RemoveUnit { path, unit } = action {
            let _ = writeln!(s, "echo {}", sh_quote(&format!("remove {unit}")));
            let _ = writeln!(
                s,
                "systemctl disable --now {} >/dev/null 2>&1 || systemctl stop {} || true",
                sh_quote(unit),
                sh_quote(unit)
            );
            let _ = writeln!(s, "rm -f {}", sh_quote(path));
            match layout::podman_object_of_service(unit) {
                Some(PodmanObject::Pod(pod)) => writeln!(
                    s,
                    "podman pod rm -f --ignore {} >/dev/null 2>&1 || true",
                    sh_quote(&pod)
                ),
                Some(PodmanObject::Container(container)) => writeln!(
                    s,
                    "podman rm -f --ignore {} >/dev/null 2>&1 || true",
                    sh_quote(&container)
                ),
                None => Ok(()),
            }
            .ok();
            reload = true;
        }
    }
    for action in actions() {
        match action {
            Action::RemoveInstanceDir { path } => {
                let _ = writeln!(s, "rm -rf {}", sh_quote(path));
            }
            Action::RemoveLegacyVolumes { daemonset } => remove_legacy_volumes(&mut s, daemonset),
            Action::DaemonReload => reload = true,
            _ => {}
        }
    }
    for action in actions() {
        if let Action::Project { parent, dir, files } = action {
            let _ = writeln!(s, "echo {}", sh_quote(&format!("write {dir}")));
            let mut line = format!("project {} {}", sh_quote(parent), sh_quote(dir));
            for f in files {
                let _ = write!(
                    line,
                    " {} {:o} {}",
                    sh_quote(&f.path),
                    f.mode,
                    base64::engine::general_purpose::STANDARD.encode(f.value.bytes())
                );
            }
            let _ = writeln!(s, "{line}");
        }
    }
    for action in actions() {
        if let Action::WriteUnit { path, content } = action {
            let _ = writeln!(s, "echo {}", sh_quote(&format!("write {path}")));
            let _ = writeln!(s, "put {} '{}'", sh_quote(path), b64(content));
            reload = true;
        }
    }
    // Reload before any start too: a unit file written by a run that was cut before its reload
    // is otherwise "not found" (Quadlet) or stale.
    reload |= actions().any(|a| matches!(a, Action::Start { .. } | Action::Restart { .. }));
    if reload {
        s.push_str("systemctl daemon-reload\n");
    }
    for action in actions() {
        match action {
            Action::Start { unit, enable } => {
                let u = sh_quote(unit);
                let _ = writeln!(s, "echo {}", sh_quote(&format!("start {unit}")));
                let _ = writeln!(s, "systemctl reset-failed {u} 2>/dev/null || true");
                if *enable {
                    let _ = writeln!(s, "systemctl enable --quiet {u}");
                }
                let _ = writeln!(s, "systemctl start {u} || fail {u}");
            }
            Action::Restart { unit } => {
                let u = sh_quote(unit);
                let _ = writeln!(s, "echo {}", sh_quote(&format!("restart {unit}")));
                let _ = writeln!(s, "systemctl restart {u} || fail {u}");
            }
            _ => {}
        }
    }
    for action in actions() {
        match action {
            Action::RecordState {
                daemonset,
                revision,
                units,
                spec_json,
                cause,
                history_limit,
            } => {
                let new = format!("{}/.{daemonset}.new", layout::DAEMONSETS_DIR);
                let _ = writeln!(s, "rm -rf {n}; mkdir -p {n}/units", n = sh_quote(&new));
                let _ = writeln!(
                    s,
                    "put {} '{}' 0600",
                    sh_quote(&format!("{new}/spec.json")),
                    b64(spec_json)
                );
                let _ = writeln!(
                    s,
                    "put {} '{}' 0600",
                    sh_quote(&format!("{new}/cause")),
                    b64(cause)
                );
                for unit in units {
                    let _ = writeln!(
                        s,
                        "put {} '{}' 0600",
                        sh_quote(&format!("{new}/units/{}", unit.name)),
                        b64(&unit.content)
                    );
                }
                let _ = writeln!(
                    s,
                    "record {} {} {history_limit}",
                    sh_quote(daemonset),
                    sh_quote(revision)
                );
            }
            Action::RecordRevision {
                daemonset,
                revision,
                spec_json,
                cause,
            } => {
                let dir = format!("{}/.{daemonset}.pending", layout::DAEMONSETS_DIR);
                let _ = writeln!(s, "rm -rf {d}; mkdir -p {d}", d = sh_quote(&dir));
                let _ = writeln!(
                    s,
                    "put {} '{}' 0600",
                    sh_quote(&format!("{dir}/spec.json")),
                    b64(spec_json)
                );
                let _ = writeln!(
                    s,
                    "put {} '{}' 0600",
                    sh_quote(&format!("{dir}/cause")),
                    b64(cause)
                );
                let _ = writeln!(s, "pending {} {}", sh_quote(daemonset), sh_quote(revision));
            }
            Action::ForgetState { daemonset } => {
                remove_legacy_volumes(&mut s, daemonset);
                let _ = writeln!(s, "forget {}", sh_quote(daemonset));
                // Its registry credentials go with it (images.rs wrote them).
                let _ = writeln!(s, "rm -f {}", sh_quote(&layout::auth_file(daemonset)));
            }
            _ => {}
        }
    }
    // The host's own time for the script, so dsctl can tell its overhead from the host's work.
    s.push_str("echo \"done $(( $(date +%s%N) - DSCTL_START ))\"\n");
    s
}

/// The first DaemonSet name or revision in the state actions that `layout` would refuse.
fn unsafe_state_name(changes: &[Change]) -> Option<String> {
    changes
        .iter()
        .flat_map(|c| c.actions.iter())
        .find_map(|action| match action {
            Action::RecordState {
                daemonset,
                revision,
                ..
            } if !crate::layout::is_name(daemonset) || !crate::layout::is_revision(revision) => {
                Some(format!("{daemonset:?} at revision {revision:?}"))
            }
            Action::RecordRevision {
                daemonset,
                revision,
                ..
            } if !crate::layout::is_name(daemonset) || !crate::layout::is_revision(revision) => {
                Some(format!("{daemonset:?} at revision {revision:?}"))
            }
            Action::ForgetState { daemonset } if !crate::layout::is_name(daemonset) => {
                Some(format!("{daemonset:?}"))
            }
            _ => None,
        })
}

/// emptyDir volumes of the earlier layout were podman volumes named `dsctl-<ds>_<volume>`.
fn remove_legacy_volumes(s: &mut String, daemonset: &str) {
    let prefix = layout::legacy::empty_dir_volume_prefix(daemonset);
    let _ = writeln!(
        s,
        "for v in $(podman volume ls -q 2>/dev/null); do case $v in {}*) podman volume rm -f \"$v\" >/dev/null ;; esac; done",
        sh_quote(&prefix),
    );
}

/// Records why a rollout halted on this host, next to the DaemonSet's record.
pub fn halted_script(daemonset: &str, why: &str) -> String {
    if !crate::layout::is_name(daemonset) {
        return "exit 1\n".to_string();
    }
    let dir = layout::daemonset_dir(daemonset);
    format!(
        "umask 077\n[ ! -d {d} ] || printf '%s\\n' {w} > {d}/halted\n",
        d = sh_quote(&dir),
        w = sh_quote(why)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ChangeKind;
    use crate::render::UnitFile;

    /// The kubelet's AtomicWriter layout, run by sh in a scratch directory: files under
    /// `..<timestamp>/`, `..data` linking to it, one link per top-level entry; a second write
    /// swaps `..data`, drops the links and payload of keys that went, keeps the modes asked.
    #[test]
    fn projections_are_written_as_the_kubelet_writes_volumes() {
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().join("objects");
        let vol = parent.join("volumes/conf");
        let b = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
        let run = |files: &[(&str, &str, &str)]| {
            let mut line = format!(
                "set -eu\n{PROJECT_FN}project {} {}",
                sh_quote(parent.to_str().unwrap()),
                sh_quote(vol.to_str().unwrap())
            );
            for (path, mode, text) in files {
                line.push_str(&format!(" {} {mode} {}", sh_quote(path), b(text)));
            }
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&line)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let entries = || {
            let mut names: Vec<String> = std::fs::read_dir(&vol)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        run(&[
            ("app.conf", "644", "a=1\n"),
            ("etc/nested", "600", "n"),
            ("old", "644", "o"),
        ]);
        let first = std::fs::read_link(vol.join("..data")).unwrap();
        assert!(first.to_str().unwrap().starts_with(".."), "{first:?}");
        assert_eq!(
            std::fs::read_link(vol.join("app.conf")).unwrap(),
            std::path::Path::new("..data/app.conf")
        );
        assert_eq!(
            std::fs::read_to_string(vol.join("app.conf")).unwrap(),
            "a=1\n"
        );
        assert_eq!(
            std::fs::read_to_string(vol.join("etc/nested")).unwrap(),
            "n"
        );
        assert_eq!(mode(&vol.join("..data/etc/nested")), 0o600);
        assert_eq!(mode(&vol.join("..data/app.conf")), 0o644);
        assert_eq!(mode(&parent), 0o700, "Secrets are root's alone on the host");
        assert_eq!(mode(&vol), 0o755);
        run(&[("app.conf", "640", "a=2\n"), ("etc/nested", "600", "n")]);
        let second = std::fs::read_link(vol.join("..data")).unwrap();
        assert_ne!(first, second);
        assert_eq!(
            std::fs::read_to_string(vol.join("app.conf")).unwrap(),
            "a=2\n"
        );
        assert_eq!(mode(&vol.join("..data/app.conf")), 0o640);
        let names = entries();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(&names[1..], ["..data", "app.conf", "etc"], "{names:?}");
        assert_eq!(
            names[0],
            second.to_str().unwrap(),
            "the old payload is gone"
        );
    }

    #[test]
    fn quoting_survives_every_shell_metacharacter() {
        for value in [
            "plain",
            "it's",
            "$(reboot)",
            "a b",
            "`x`",
            "\\",
            "'\"'",
            "\n;rm -rf /",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", sh_quote(value)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), value);
        }
    }

    fn change(actions: Vec<Action>) -> Change {
        Change {
            daemonset: "web".into(),
            kind: ChangeKind::Create,
            reasons: vec![],
            actions,
            disruptive: false,
        }
    }

    #[test]
    fn orders_removals_writes_reload_starts_then_records() {
        let unit = UnitFile {
            name: "dsctl-web-web.service".into(),
            path: "/etc/systemd/system/dsctl-web-web.service".into(),
            content: "[Unit]\n".into(),
        };
        let s = script(
            &[change(vec![
                Action::RecordState {
                    daemonset: "web".into(),
                    revision: "e1".into(),
                    units: vec![unit.clone()],
                    spec_json: "{}".into(),
                    cause: String::new(),
                    history_limit: 10,
                },
                Action::Start {
                    unit: "dsctl-web-web.service".into(),
                    enable: true,
                },
                Action::WriteUnit {
                    path: unit.path.clone(),
                    content: unit.content.clone(),
                },
                Action::RemoveUnit {
                    path: "/etc/systemd/system/dsctl-web-old.service".into(),
                    unit: "dsctl-web-old.service".into(),
                },
            ])],
            60,
            "me@laptop",
        );
        let at = |needle: &str| {
            s.find(needle)
                .unwrap_or_else(|| panic!("{needle} missing in\n{s}"))
        };
        assert!(at("disable --now") < at("put '/etc/systemd"));
        assert!(at("put '/etc/systemd") < at("daemon-reload"));
        assert!(at("daemon-reload") < at("systemctl start"));
        assert!(at("systemctl start") < at("record 'web' 'e1' 10"));
        assert!(s.contains("flock -w \"$LOCK_TIMEOUT\" 9"));
    }

    #[test]
    fn unit_content_never_reaches_the_shell_unencoded() {
        let evil = "$(touch /tmp/pwned)\n'; reboot; '";
        let s = script(
            &[change(vec![Action::WriteUnit {
                path: "/etc/systemd/system/x.service".into(),
                content: evil.into(),
            }])],
            1,
            "h",
        );
        assert!(!s.contains("touch /tmp/pwned"));
        assert!(s.contains(&b64(evil)));
    }

    /// Runs the scripts for three revisions (and one repeat) against a local state dir.
    #[test]
    fn record_keeps_numbered_history_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_str().unwrap();
        let record = |revision: &str, limit: i64| {
            let action = Action::RecordState {
                daemonset: "web".into(),
                revision: revision.into(),
                units: vec![],
                spec_json: format!("{{\"rev\":\"{revision}\"}}").into(),
                // No change-cause at "c": an empty file, not the mode read as its base64.
                cause: if revision == "c" {
                    String::new()
                } else {
                    format!("cause {revision}")
                },
                history_limit: limit,
            };
            let script = script(&[change(vec![action])], 5, "test").replace(STATE_DIR, state);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .env("DSCTL_STATE_DIR", state)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let read = |path: &str| {
            std::fs::read_to_string(dir.path().join(path)).map(|s| s.trim().to_string())
        };
        record("a", 2);
        record("b", 2);
        record("b", 2);
        record("c", 2);
        assert_eq!(read("daemonsets/web/revision").unwrap(), "c");
        assert_eq!(read("daemonsets/web/cause").unwrap(), "");
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(dir.path().join("daemonsets/web/cause")).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(read("daemonsets/web/number").unwrap(), "3");
        assert_eq!(read("daemonsets/web/history/a/number").unwrap(), "1");
        assert_eq!(read("daemonsets/web/history/b/number").unwrap(), "2");
        assert_eq!(read("daemonsets/web/history/b/cause").unwrap(), "cause b");
        record("d", 2);
        assert!(
            read("daemonsets/web/history/a/number").is_err(),
            "beyond the limit of 2"
        );
        // Undo to b: b becomes the newest revision and leaves history.
        record("b", 2);
        assert_eq!(read("daemonsets/web/number").unwrap(), "5");
        assert!(read("daemonsets/web/history/b/number").is_err());
        assert_eq!(read("daemonsets/web/history/d/number").unwrap(), "4");
    }

    fn record_action(revision: &str) -> Action {
        Action::RecordState {
            daemonset: "web".into(),
            revision: revision.into(),
            units: vec![],
            spec_json: format!("{{\"rev\":\"{revision}\"}}").into(),
            cause: format!("cause {revision}"),
            history_limit: 10,
        }
    }

    /// Runs a script against the state dir `state` in its own process group, with `path`
    /// (if any) in front of PATH; returns whether it succeeded.
    fn run_in(
        state: &std::path::Path,
        script: &str,
        path: Option<(&std::path::Path, &[(&str, String)])>,
    ) -> bool {
        use std::os::unix::process::CommandExt;
        let state = state.to_str().unwrap();
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(script.replace(STATE_DIR, state))
            .env("DSCTL_STATE_DIR", state)
            .process_group(0);
        if let Some((dir, envs)) = path {
            cmd.envs(envs.iter().map(|(k, v)| (k, v)));
            let old = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("{}:{old}", dir.display()));
        }
        cmd.output().unwrap().status.success()
    }

    fn read_in(state: &std::path::Path, path: &str) -> Option<String> {
        std::fs::read_to_string(state.join(path))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The record swap killed (SIGKILL of the whole script) before each of its mv, rm and sync
    /// calls in turn: the next run's recovery always leaves either the old record with its
    /// history or the new one, never none and never a mix, and the rerun completes the swap.
    #[test]
    fn record_swap_survives_a_kill_at_every_step() {
        let shims = tempfile::tempdir().unwrap();
        for tool in ["mv", "rm", "sync"] {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| format!("{d}/{tool}"))
                .find(|p| std::path::Path::new(p).exists())
                .unwrap();
            let shim = shims.path().join(tool);
            // Counts calls in $CRASH_COUNT; at call number $CRASH_AT the process group dies.
            std::fs::write(
                &shim,
                format!(
                    "#!/bin/sh\nn=$(($(/bin/cat \"$CRASH_COUNT\" 2>/dev/null || echo 0) + 1))\necho $n > \"$CRASH_COUNT\"\n[ \"$n\" != \"$CRASH_AT\" ] || kill -9 0\nexec {real} \"$@\"\n"
                ),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut crashed = 0;
        for at in 1.. {
            let dir = tempfile::tempdir().unwrap();
            let state = dir.path();
            assert!(run_in(
                state,
                &script(&[change(vec![record_action("a")])], 5, "t"),
                None
            ));
            let count = state.join("count");
            let envs = [
                ("CRASH_COUNT", count.display().to_string()),
                ("CRASH_AT", at.to_string()),
            ];
            let finished = run_in(
                state,
                &script(&[change(vec![record_action("b")])], 5, "t"),
                Some((shims.path(), &envs)),
            );
            // The next run (any script) recovers first.
            assert!(run_in(state, &script(&[], 5, "t"), None));
            let names: Vec<String> = std::fs::read_dir(state.join("daemonsets"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, ["web"], "kill at call {at}: leftovers");
            match read_in(state, "daemonsets/web/revision").as_deref() {
                Some("a") => {
                    assert_eq!(read_in(state, "daemonsets/web/number").unwrap(), "1");
                    assert_eq!(
                        read_in(state, "daemonsets/web/spec.json").unwrap(),
                        r#"{"rev":"a"}"#
                    );
                }
                Some("b") => {
                    assert_eq!(read_in(state, "daemonsets/web/number").unwrap(), "2");
                    assert_eq!(
                        read_in(state, "daemonsets/web/spec.json").unwrap(),
                        r#"{"rev":"b"}"#
                    );
                    assert_eq!(
                        read_in(state, "daemonsets/web/history/a/number").unwrap(),
                        "1"
                    );
                }
                other => panic!("kill at call {at}: record is {other:?}"),
            }
            assert!(run_in(
                state,
                &script(&[change(vec![record_action("b")])], 5, "t"),
                None
            ));
            assert_eq!(read_in(state, "daemonsets/web/revision").unwrap(), "b");
            assert_eq!(
                read_in(state, "daemonsets/web/history/a/number").unwrap(),
                "1"
            );
            if finished {
                break;
            }
            crashed += 1;
        }
        assert!(crashed >= 8, "only {crashed} kill points");
    }

    #[test]
    fn state_is_private_and_the_lock_is_never_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        std::fs::create_dir_all(state.join("daemonsets")).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "keep").unwrap();
        std::os::unix::fs::symlink(&elsewhere, state.join("lock")).unwrap();
        assert!(run_in(
            &state,
            &script(&[change(vec![record_action("a")])], 5, "t"),
            None
        ));
        let mode = |p: &str| {
            std::fs::symlink_metadata(state.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode(""), 0o700);
        assert_eq!(mode("daemonsets"), 0o700);
        assert_eq!(mode("lock"), 0o600);
        assert!(
            !std::fs::symlink_metadata(state.join("lock"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(mode("daemonsets/web/spec.json"), 0o600);
        assert_eq!(mode("daemonsets/web/number"), 0o600);
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "keep");
    }

    #[test]
    fn forget_removes_the_record_and_refuses_names_that_leave_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        assert!(run_in(
            &state,
            &script(&[change(vec![record_action("a")])], 5, "t"),
            None
        ));
        let victim = dir.path().join("etc");
        std::fs::create_dir_all(&victim).unwrap();
        for evil in ["../../etc", "..", "a/b", "", "-rf", "web\nx"] {
            let s = script(
                &[change(vec![Action::ForgetState {
                    daemonset: evil.into(),
                }])],
                5,
                "t",
            );
            assert!(
                !s.contains("forget") && !s.contains("rm -rf"),
                "{evil:?}:\n{s}"
            );
            assert!(!run_in(&state, &s, None), "{evil:?} must fail");
            assert!(victim.exists());
            assert!(!halted_script(evil, "x").contains("halted"));
        }
        let mut tampered = record_action("a");
        if let Action::RecordState { revision, .. } = &mut tampered {
            *revision = "../x".into();
        }
        assert!(!script(&[change(vec![tampered])], 5, "t").contains("record "));
        let forget = Action::ForgetState {
            daemonset: "web".into(),
        };
        let auth = state.join("auth");
        std::fs::create_dir_all(&auth).unwrap();
        std::fs::write(auth.join("web.json"), "{}").unwrap();
        std::fs::write(auth.join("other.json"), "{}").unwrap();
        assert!(run_in(
            &state,
            &script(&[change(vec![forget])], 5, "t"),
            None
        ));
        assert!(!state.join("daemonsets/web").exists());
        assert!(!auth.join("web.json").exists() && auth.join("other.json").exists());
        assert_eq!(
            std::fs::read_dir(state.join("daemonsets")).unwrap().count(),
            0
        );
    }

    /// OnDelete: a revision recorded without being applied is listed with the next number at
    /// once, nothing current changes, and it keeps that number when it is applied later.
    #[test]
    fn an_on_delete_revision_is_recorded_then_keeps_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_str().unwrap();
        let run = |action: Action| {
            let script = script(&[change(vec![action])], 5, "test").replace(STATE_DIR, state);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let applied = |revision: &str| Action::RecordState {
            daemonset: "web".into(),
            revision: revision.into(),
            units: vec![],
            spec_json: format!("{{\"rev\":\"{revision}\"}}").into(),
            cause: String::new(),
            history_limit: 10,
        };
        let pending = |revision: &str| Action::RecordRevision {
            daemonset: "web".into(),
            revision: revision.into(),
            spec_json: format!("{{\"rev\":\"{revision}\"}}").into(),
            cause: "new image".into(),
        };
        let read = |path: &str| {
            std::fs::read_to_string(dir.path().join(path)).map(|s| s.trim().to_string())
        };
        run(applied("a"));
        // An empty change-cause stays empty (unquoted, `put` read the mode as its content).
        assert_eq!(read("daemonsets/web/cause").unwrap(), "");
        run(pending("b"));
        run(pending("b"));
        assert_eq!(read("daemonsets/web/revision").unwrap(), "a");
        assert_eq!(read("daemonsets/web/number").unwrap(), "1");
        assert_eq!(read("daemonsets/web/history/b/number").unwrap(), "2");
        assert_eq!(
            read("daemonsets/web/history/b/spec.json").unwrap(),
            "{\"rev\":\"b\"}"
        );
        assert_eq!(read("daemonsets/web/history/b/cause").unwrap(), "new image");
        // The instance is deleted and comes back at b.
        run(applied("b"));
        assert_eq!(read("daemonsets/web/revision").unwrap(), "b");
        assert_eq!(read("daemonsets/web/number").unwrap(), "2");
        assert_eq!(read("daemonsets/web/history/a/number").unwrap(), "1");
        assert!(read("daemonsets/web/history/b/number").is_err());
    }
}
