//! Day-2 commands on the fleet: `logs` (merged, `-f` on 4 hosts through a dropped host,
//! `--previous` after a crash) and `exec` (exit codes, stdin, a TTY, several hosts).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use crate::harness::*;

/// A DaemonSet whose container `talk` prints `<tag> N` every `period` seconds, and whose
/// container `quiet` prints to stderr every 2 s.
fn talker(name: &str, tag: &str, period: &str) -> String {
    format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "{name}"
[spec.selector.matchLabels]
app = "{name}"
[spec.template.metadata.labels]
app = "{name}"
[spec.template.spec]
terminationGracePeriodSeconds = 2
[[spec.template.spec.containers]]
name = "talk"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
command = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo \"{tag} $i\"; sleep {period}; done"]
[[spec.template.spec.containers]]
name = "quiet"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
command = ["sh", "-c", "while :; do echo murmur >&2; sleep 2; done"]
"#
    )
}

/// `dsctl ARGS` with the scene's inventory in DSCTL_INVENTORY (exec's `-i` is stdin).
fn dsctl_cmd(scene: &Scene, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsctl"));
    cmd.args(args).env("DSCTL_INVENTORY", scene.inventory());
    cmd
}

/// Ends the child (one we started) by its id when the test ends.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts sshd again on a host whose sshd the test stopped, whatever happens in between.
struct SshdBack(String);

impl Drop for SshdBack {
    fn drop(&mut self) {
        on_host(&self.0, "systemctl start ssh");
    }
}

fn lines_of(read: impl std::io::Read + Send + 'static) -> mpsc::Receiver<(Instant, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(read).lines() {
            let Ok(line) = line else { return };
            if tx.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    rx
}

/// Seconds since the epoch of an RFC 3339 UTC time as `--timestamps` prints it.
fn epoch_of(stamp: &str) -> Option<f64> {
    let (date, time) = stamp.strip_suffix('Z')?.split_once('T')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let (hms, frac) = time.split_once('.')?;
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2];
    Some(secs as f64 + format!("0.{frac}").parse::<f64>().ok()?)
}

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn logs_follow_four_hosts_within_a_second_and_through_a_dropped_host() {
    let _serial = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 4);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["d2-follow"]);
    let spec = scene.spec("follow.toml", &talker("d2-follow", "tick", "0.5"));
    assert!(
        scene
            .dsctl(&["apply", "-f", path_str(&spec)])
            .status
            .success()
    );

    // The merged, non-following form first: every host, container prefixes, exit 0.
    assert!(eventually(Duration::from_secs(20), || {
        let out = scene.dsctl(&["logs", "d2-follow", "--tail", "3"]);
        let text = stdout(&out);
        out.status.success()
            && hosts
                .iter()
                .all(|h| text.contains(&format!("[{}/talk] tick", h.name)))
            && text.contains("/quiet] murmur")
    }));

    let mut child = dsctl_cmd(
        &scene,
        &[
            "logs",
            "d2-follow",
            "-c",
            "talk",
            "-f",
            "--tail",
            "0",
            "--timestamps",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let out = lines_of(child.stdout.take().unwrap());
    let err = lines_of(child.stderr.take().unwrap());
    let _child = Kill(child);

    // Every host's new lines arrive within a second of being logged.
    let mut seen = std::collections::BTreeMap::new();
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        let Ok((_, line)) = out.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        let arrived = now_epoch();
        let (host, rest) = line[1..].split_once("] ").expect("a [host] prefix");
        let stamp = rest.split(' ').next().unwrap();
        let logged = epoch_of(stamp).unwrap_or_else(|| panic!("a timestamp in {line:?}"));
        assert!(
            arrived - logged < 1.0,
            "{line:?} arrived {:.2}s after it was logged",
            arrived - logged
        );
        *seen.entry(host.to_string()).or_insert(0) += 1;
        if seen.len() == hosts.len() && seen.values().all(|n| *n >= 3) {
            break;
        }
    }
    for h in &hosts {
        assert!(
            seen.get(&h.name).copied().unwrap_or(0) >= 3,
            "{}: {seen:?}",
            h.name
        );
    }

    // node 3 drops: sshd stopped, and the one connection serving this follow cut (by its
    // sshd's pid, found from our own journalctl).
    let dropped = &hosts[2].name;
    let _back = SshdBack(dropped.clone());
    let cut = on_host(
        dropped,
        "systemctl stop ssh; for p in $(pgrep -f 'journalctl.*d2-follow'); do \
           s=$p; while [ \"$s\" -gt 1 ]; do s=$(awk '{print $4}' /proc/$s/stat); \
             case $(cat /proc/$s/comm) in sshd*) kill $s; break;; esac; done; done",
    );
    assert!(cut.status.success(), "{}", stderr(&cut));
    let said = |rx: &mpsc::Receiver<(Instant, String)>, what: &str, within: u64| {
        let until = Instant::now() + Duration::from_secs(within);
        while Instant::now() < until {
            if let Ok((_, line)) = rx.recv_timeout(Duration::from_millis(500)) {
                eprintln!("stderr: {line}");
                if line.starts_with(&format!("{dropped}: ")) && line.contains(what) {
                    return true;
                }
            }
        }
        false
    };
    assert!(said(&err, "reconnecting", 20), "the drop is said");
    // The others keep going meanwhile.
    let others: Vec<String> = out
        .try_iter()
        .chain(std::iter::from_fn(|| out.recv_timeout(Duration::from_secs(2)).ok()).take(6))
        .map(|(_, l)| l)
        .collect();
    assert!(
        others
            .iter()
            .any(|l| l.starts_with(&format!("[{}]", hosts[0].name))),
        "{others:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    on_host(dropped, "systemctl start ssh");
    assert!(said(&err, "reconnected", 40), "the host is picked up again");
    // Lines of the others queued meanwhile come first; within 20 s one of node 3's must.
    let until = Instant::now() + Duration::from_secs(20);
    let mut back = false;
    while !back && Instant::now() < until {
        if let Ok((_, l)) = out.recv_timeout(Duration::from_secs(1)) {
            back = l.starts_with(&format!("[{dropped}]"));
        }
    }
    assert!(back, "{dropped}'s lines come again");
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn logs_previous_shows_the_crashed_containers_last_lines() {
    let _serial = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 1);
    let host = &hosts[0].name;
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["d2-crash"]);
    let spec = scene.spec(
        "crash.toml",
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "d2-crash"
[spec.selector.matchLabels]
app = "d2-crash"
[spec.template.metadata.labels]
app = "d2-crash"
[[spec.template.spec.containers]]
name = "crash"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
command = ["sh", "-c", "echo \"run $RANDOM$RANDOM\"; sleep 4; echo 'last words'; exit 3"]
"#,
    );
    scene.dsctl(&["apply", "-f", path_str(&spec)]);
    let runs = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("run "))
            .map(str::to_string)
            .collect()
    };
    let running = || {
        !stdout(&on_host(
            host,
            "podman ps --filter label=dsctl.daemonset=d2-crash --filter label=dsctl.container=crash -q",
        ))
        .trim()
        .is_empty()
    };
    let previous = || {
        let out = scene.dsctl(&["logs", "d2-crash", "--host", host, "--previous"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    // Between a crash and its restart (systemd waits 10 s; podman has removed the --rm
    // container): the instance that just crashed.
    let mut all = Vec::new();
    assert!(eventually(Duration::from_secs(60), || {
        all = runs(&stdout(&scene.dsctl(&["logs", "d2-crash", "--host", host])));
        all.len() >= 2 && !running()
    }));
    let gap = previous();
    assert!(gap.contains("last words"), "{gap}");
    assert_eq!(runs(&gap), vec![all.last().unwrap().clone()], "{gap}");

    // While the next instance runs: the one before it, not the running one.
    assert!(eventually(Duration::from_secs(30), || {
        all = runs(&stdout(&scene.dsctl(&["logs", "d2-crash", "--host", host])));
        running() && all.len() >= 3
    }));
    let during = previous();
    assert!(during.contains("last words"), "{during}");
    assert_eq!(runs(&during), vec![all[all.len() - 2].clone()], "{during}");
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn exec_passes_exit_codes_stdin_and_a_tty() {
    let _serial = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 2);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["d2-exec"]);
    let spec = scene.spec("exec.toml", &talker("d2-exec", "x", "5"));
    assert!(
        scene
            .dsctl(&["apply", "-f", path_str(&spec)])
            .status
            .success()
    );
    let h = hosts[0].name.as_str();

    let out = dsctl_cmd(
        &scene,
        &[
            "exec",
            h,
            "d2-exec",
            "--",
            "sh",
            "-c",
            "echo out 'a  b'; echo err >&2; exit 7",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out), "out a  b\n");
    assert!(stderr(&out).contains("err"));
    assert!(
        stderr(&out).contains("Defaulted container \"talk\""),
        "{}",
        stderr(&out)
    );

    let mut child = dsctl_cmd(
        &scene,
        &[
            "exec",
            h,
            "d2-exec",
            "-c",
            "quiet",
            "-i",
            "--",
            "sh",
            "-c",
            "read x; echo got $x; exit 4",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(stdout(&out), "got hello\n");

    // -it under a pseudo-terminal (util-linux script): the command sees a terminal of the
    // outer size, and its exit code comes back through script's.
    let bin = env!("CARGO_BIN_EXE_dsctl");
    let inner = format!(
        "stty cols 91 rows 17; {bin} exec {h} d2-exec -it -- sh -c 'tty; stty size; exit 5'"
    );
    let out = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .env("DSCTL_INVENTORY", scene.inventory())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("17 91"), "{text}");

    // Several hosts: every line prefixed, the worst exit code.
    let out = dsctl_cmd(
        &scene,
        &[
            "exec",
            "-l",
            "dsctl.test/suite=trixie",
            "d2-exec",
            "--",
            "sh",
            "-c",
            "echo hi; exit 2",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    for host in &hosts {
        assert!(
            stdout(&out).contains(&format!("[{}] hi", host.name)),
            "{}",
            stdout(&out)
        );
    }

    // In a pipe: `| head -1` ends logs -f and exec quietly.
    for args in [
        vec!["logs", "d2-exec", "-f"],
        vec![
            "exec",
            "-l",
            "dsctl.test/suite=trixie",
            "d2-exec",
            "--",
            "sh",
            "-c",
            "yes | head -100000",
        ],
        vec!["get", "pods"],
        vec!["get", "ds"],
        vec!["rollout", "history", "d2-exec"],
    ] {
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let out = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "timeout 30 {bin} {} | head -1; echo \"exit=${{PIPESTATUS[0]}}\" >&2",
                    quoted.join(" ")
                ),
            ])
            .env("DSCTL_INVENTORY", scene.inventory())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert!(err.contains("exit=0"), "{args:?}: {err}");
        assert_eq!(stdout(&out).lines().count(), 1, "{args:?}");
    }
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn max_unreachable_holds_disruptive_waves_and_metrics_are_written() {
    let _serial = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 2);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["d2-mu"]);
    let v1 = scene.spec("mu.toml", &talker("d2-mu", "v1", "5"));
    assert!(
        scene
            .dsctl(&["apply", "-f", path_str(&v1)])
            .status
            .success()
    );
    let revision = || {
        let out = scene.dsctl(&["get", "pods", "d2-mu", "-o", "json"]);
        let pods: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        pods["pods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["revision"].as_str().unwrap_or("-").to_string())
            .collect::<Vec<_>>()
    };
    let before = revision();

    // One more host that refuses connections.
    let inventory = std::fs::read_to_string(scene.inventory()).unwrap();
    std::fs::write(
        scene.inventory(),
        format!("{inventory}\n[[hosts]]\nname = \"d2-gone\"\naddress = \"127.0.0.1\"\nport = 1\n"),
    )
    .unwrap();
    let v2 = scene.spec("mu.toml", &talker("d2-mu", "v2", "5"));
    let metrics = scene.dir.path().join("dsctl.prom");
    let out = scene.dsctl(&[
        "apply",
        "-f",
        path_str(&v2),
        "--max-unreachable",
        "0",
        "--metrics-file",
        path_str(&metrics),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("1 of 3 hosts unreachable (d2-gone), more than --max-unreachable 0"),
        "{text}"
    );
    scene.write_inventory(|_| {});
    assert_eq!(revision(), before, "no instance was touched");
    let prom = std::fs::read_to_string(&metrics).unwrap();
    for line in [
        "dsctl_hosts{state=\"unreachable\"} 1",
        "dsctl_hosts{state=\"drifted\"} 2",
        "dsctl_last_run_exit_code 1",
    ] {
        assert!(prom.contains(line), "{line} in\n{prom}");
    }

    // Within the limit the refusal is not made (maxUnavailable's budget decides as usual:
    // here the unreachable host uses it up, so the update is held back, not refused).
    std::fs::write(
        scene.inventory(),
        format!("{inventory}\n[[hosts]]\nname = \"d2-gone\"\naddress = \"127.0.0.1\"\nport = 1\n"),
    )
    .unwrap();
    let out = scene.dsctl(&["apply", "-f", path_str(&v2), "--max-unreachable", "50%"]);
    assert_eq!(out.status.code(), Some(1));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!text.contains("more than --max-unreachable"), "{text}");
    assert!(text.contains("held back"), "{text}");
    scene.write_inventory(|_| {});
}

#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn on_delete_records_the_new_revision_at_once_and_restarts_nothing() {
    let _serial = serial();
    let fleet = Fleet::get();
    let hosts = vec![
        fleet.of_suite("trixie", 1).remove(0),
        fleet.of_suite("bookworm", 1).remove(0),
    ];
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["d2-ondelete"]);
    let spec = |tag: &str| {
        format!(
            "{}\n[spec.updateStrategy]\ntype = \"OnDelete\"\n",
            talker("d2-ondelete", tag, "5")
        )
    };
    let v1 = scene.spec("od.toml", &spec("v1"));
    assert!(
        scene
            .dsctl(&["apply", "-f", path_str(&v1)])
            .status
            .success()
    );
    let pods = || -> Vec<(String, String, u64)> {
        let out = scene.dsctl(&["get", "pods", "d2-ondelete", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["pods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["host"].as_str().unwrap().to_string(),
                    p["revision"].as_str().unwrap_or("-").to_string(),
                    p["restarts"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    let before = pods();
    let started = |h: &str| {
        stdout(&on_host(
            h,
            "podman ps --filter label=dsctl.daemonset=d2-ondelete --format '{{.ID}}' | sort",
        ))
    };
    let ids: Vec<String> = hosts.iter().map(|h| started(&h.name)).collect();

    let v2 = scene.spec("od.toml", &spec("v2"));
    let out = scene.dsctl(&["apply", "-f", path_str(&v2)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let history = stdout(&scene.dsctl(&["rollout", "history", "d2-ondelete"]));
    let rows: Vec<&str> = history
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 2, "two revisions at once:\n{history}");
    assert_eq!(pods(), before, "every instance keeps revision 1");
    let after: Vec<String> = hosts.iter().map(|h| started(&h.name)).collect();
    assert_eq!(after, ids, "no container was restarted");
    // Applying again records nothing new.
    let again = scene.dsctl(&["apply", "-f", path_str(&v2)]);
    assert!(again.status.success());
    assert!(!stdout(&again).contains("recorded"), "{}", stdout(&again));

    // A deleted instance comes back at revision 2, numbered 2.
    let h = &hosts[0].name;
    assert!(
        scene
            .dsctl(&["delete", "pod", h, "d2-ondelete"])
            .status
            .success()
    );
    assert!(
        scene
            .dsctl(&["apply", "-f", path_str(&v2)])
            .status
            .success()
    );
    let now = pods();
    let mine = now.iter().find(|p| &p.0 == h).unwrap();
    let other = now.iter().find(|p| &p.0 != h).unwrap();
    assert_ne!(mine.1, before[0].1, "{now:?}");
    assert_eq!(other.1, before.iter().find(|p| p.0 == other.0).unwrap().1);
    let history = stdout(&scene.dsctl(&["rollout", "history", "d2-ondelete"]));
    assert!(
        history
            .lines()
            .any(|l| l.starts_with("2 ") && l.contains(&mine.1)),
        "{history}"
    );
}

/// Runs dsctl to the end with its stdout thrown away; (exit code, peak RSS in KiB).
fn peak_rss(scene: &Scene, args: &[&str]) -> (i32, i64) {
    let child = dsctl_cmd(scene, args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 on our own child, with structs we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid);
        usage
    };
    std::mem::forget(child);
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

/// 100 MB printed on each of two hosts streams through with flat memory (nothing collected).
#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn a_hundred_megabytes_stream_through_in_flat_memory() {
    let _serial = serial();
    let fleet = Fleet::get();
    let hosts = fleet.of_suite("trixie", 2);
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["d2-flood"]);
    let spec = scene.spec("flood.toml", &talker("d2-flood", "f", "5"));
    assert!(
        scene
            .dsctl(&["apply", "-f", path_str(&spec)])
            .status
            .success()
    );
    let flood = "i=0; while [ $i -lt 1000 ]; do head -c 100000 /dev/zero | tr '\\0' x | fold -w 999; i=$((i+1)); done";
    let small = peak_rss(
        &scene,
        &[
            "exec",
            "-l",
            "dsctl.test/suite=trixie",
            "d2-flood",
            "--",
            "sh",
            "-c",
            "echo hi",
        ],
    );
    let (code, big) = peak_rss(
        &scene,
        &[
            "exec",
            "-l",
            "dsctl.test/suite=trixie",
            "d2-flood",
            "--",
            "sh",
            "-c",
            flood,
        ],
    );
    assert_eq!(code, 0);
    eprintln!(
        "peak RSS: {} KiB for a line, {big} KiB for 2 x 100 MB",
        small.1
    );
    assert!(
        big < small.1 + 64 * 1024,
        "memory grew with the output: {big} KiB"
    );
}

/// Lines of the flood below, each 1000 bytes with its newline: 100 MB.
const FLOOD_LINES: u64 = 100_000;

/// Prints FLOOD_LINES numbered lines of 1000 bytes, then `flood done`, on the container's
/// stdout (PID 1's, so they go through conmon into the journal as the container's own), in
/// 100 bursts of 1 MB a second apart.
const FLOOD: &str = "i=0; while [ $i -lt 100 ]; do awk -v b=$i 'BEGIN { s = sprintf(\"%0985d\", 0); for (j = 1; j <= 1000; j++) printf \"flood %07d %s\\n\", b * 1000 + j, s }'; sleep 1; i=$((i+1)); done > /proc/1/fd/1; echo 'flood done' > /proc/1/fd/1";

/// What `logs -f` delivered of one flood, and what it cost.
struct Followed {
    lines: u64,
    bytes: u64,
    /// Line numbers that did not follow the one before (lost or reordered lines).
    gaps: u64,
    seconds: f64,
    peak_rss_kib: i64,
}

/// `dsctl logs DS --host H -f --tail 0` while the host's container prints the flood: counts
/// what arrives until `flood done` (or a quiet minute), then ends dsctl and reads its peak RSS.
fn follow_flood(scene: &Scene, host: &str, ds: &str) -> Followed {
    let mut child = dsctl_cmd(scene, &["logs", ds, "--host", host, "-f", "--tail", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    // Attached once the container's own heartbeat comes through.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, line) = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("logs -f shows the heartbeat within a minute");
        if line.contains("ready ") {
            break;
        }
    }
    let trigger = dsctl_cmd(scene, &["exec", host, ds, "--", "sh", "-c", FLOOD])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _trigger = Kill(trigger);
    let started = Instant::now();
    let (mut count, mut bytes, mut gaps, mut last) = (0u64, 0u64, 0u64, 0u64);
    // Until `flood done`, or a minute without a line (the rest was dropped).
    while let Ok((_, line)) = lines.recv_timeout(Duration::from_secs(60)) {
        let Some((_, rest)) = line.split_once("flood ") else {
            continue;
        };
        if rest == "done" {
            break;
        }
        let n: u64 = rest[..7].parse().unwrap();
        gaps += u64::from(n != last + 1);
        last = n;
        count += 1;
        bytes += rest.len() as u64 + "flood \n".len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    let pid = child.id() as libc::pid_t;
    child.kill().unwrap();
    let mut status = 0;
    // SAFETY: wait4 on our own child (killed above), with structs we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid);
        usage
    };
    std::mem::forget(child);
    Followed {
        lines: count,
        bytes,
        gaps,
        seconds,
        peak_rss_kib: usage.ru_maxrss,
    }
}

/// The fault host's journald as the fleet set it up again (its runtime journal, 8 MB),
/// whatever happens in the test.
struct JournalBack(String);

impl Drop for JournalBack {
    fn drop(&mut self) {
        on_host(
            &self.0,
            "rm -f /run/systemd/journald.conf.d/zz-dd-flood.conf; systemctl restart systemd-journald",
        );
    }
}

/// 100 MB printed by a container goes through `dsctl logs -f` itself, on a Debian 13 host
/// (Quadlet) and a Debian 12 host (podman-run services): every line arrives in order, since
/// dsctl's units raise journald's per-unit rate limit out of reach (its default, 10000 lines
/// per 30 s, dropped 90% of such a flood), and dsctl's peak RSS stays flat: within 32 MiB of
/// what a one-line `logs` takes. On fault hosts: the fleet's journald keeps 8 MB
/// (`RuntimeMaxUse=8M`), which the flood outruns while the reader lags (node-7 lost 29% of
/// it so), so the test gives the journal 400 MB for its run.
#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn logs_streams_a_hundred_megabytes_at_flat_memory() {
    let _serial = serial();
    let fleet = Fleet::get();
    let (hosts, _lease) = fleet.fault_hosts_of(&[("trixie", 1), ("bookworm", 1)]);
    let mut _journals = Vec::new();
    for host in &hosts {
        _journals.push(JournalBack(host.name.clone()));
        let out = on_host(
            &host.name,
            "mkdir -p /run/systemd/journald.conf.d && \
             printf '[Journal]\\nRuntimeMaxUse=400M\\nRuntimeMaxFileSize=32M\\n' \
               > /run/systemd/journald.conf.d/zz-dd-flood.conf && \
             systemctl restart systemd-journald",
        );
        assert!(out.status.success(), "{}: {}", host.name, stderr(&out));
    }
    let scene = Scene::new(&fleet, &hosts);
    scene.own(&["dd-flood"]);
    let spec = scene.spec(
        "dd-flood.toml",
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "dd-flood"
[spec.selector.matchLabels]
app = "dd-flood"
[spec.template.metadata.labels]
app = "dd-flood"
[spec.template.spec]
terminationGracePeriodSeconds = 2
[[spec.template.spec.containers]]
name = "talk"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
command = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo \"ready $i\"; sleep 1; done"]
"#,
    );
    assert!(
        scene
            .dsctl(&["apply", "-f", path_str(&spec)])
            .status
            .success()
    );
    for host in &hosts {
        // systemd hands a unit's limit to journald through /run/systemd/units/ (only when it
        // is not 0, which means journald's default).
        let limit = stdout(&on_host(
            &host.name,
            "readlink /run/systemd/units/log-rate-limit-burst:dsctl_dd-flood_*_talk.service",
        ));
        assert_eq!(limit.trim(), "1000000", "{}", host.name);
        let (_, small) = peak_rss(
            &scene,
            &["logs", "dd-flood", "--host", &host.name, "--tail", "1"],
        );
        let got = follow_flood(&scene, &host.name, "dd-flood");
        eprintln!(
            "{} ({}): {} lines, {} bytes in {:.1} s ({:.1} MB/s), {} gaps; peak RSS {} KiB \
             (one line: {small} KiB)",
            host.name,
            host.suite,
            got.lines,
            got.bytes,
            got.seconds,
            got.bytes as f64 / 1e6 / got.seconds,
            got.gaps,
            got.peak_rss_kib
        );
        assert_eq!((got.lines, got.gaps), (FLOOD_LINES, 0), "{}", host.name);
        assert_eq!(got.bytes, FLOOD_LINES * 1000, "{}", host.name);
        assert!(
            got.peak_rss_kib < small + 32 * 1024,
            "{}: memory grew with the output: {} KiB (one line: {small} KiB)",
            host.name,
            got.peak_rss_kib
        );
    }
}

/// `get pods -o wide`, `get ds -o wide` and `describe ds` on a Debian 13 and a Debian 12 host
/// (and a third host the nodeSelector leaves out): the container IDs are podman's, the
/// address is the host's, and describe places every host with the reason and lists the
/// events the hosts recorded.
#[test]
#[ignore = "needs the test fleet (tests/run)"]
fn get_wide_and_describe_read_the_hosts() {
    let _serial = serial();
    let fleet = Fleet::get();
    let mut hosts = fleet.of_suite("trixie", 2);
    hosts.extend(fleet.of_suite("bookworm", 1));
    let (on, off) = ([&hosts[0], &hosts[2]], &hosts[1]);
    let scene = Scene::new(&fleet, &hosts);
    scene.write_inventory(|h| {
        if on.iter().any(|o| o.name == h["name"].as_str().unwrap()) {
            label(h, "dd-describe", "yes");
        }
    });
    scene.own(&["dd-describe"]);
    let spec = scene.spec(
        "dd-describe.toml",
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "dd-describe"
labels = { team = "day2" }
[spec.selector.matchLabels]
app = "dd-describe"
[spec.template.metadata.labels]
app = "dd-describe"
[spec.template.spec]
nodeSelector = { dd-describe = "yes" }
terminationGracePeriodSeconds = 2
[[spec.template.spec.initContainers]]
name = "prep"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
command = ["sh", "-c", "true"]
[[spec.template.spec.containers]]
name = "web"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
ports = [{ containerPort = 8080, hostPort = 8701 }]
env = [{ name = "NODE", valueFrom = { fieldRef = { fieldPath = "spec.nodeName" } } }]
"#,
    );
    assert!(
        scene
            .dsctl(&["apply", "-f", path_str(&spec)])
            .status
            .success()
    );
    let wide = stdout(&scene.dsctl(&["get", "pods", "dd-describe", "-o", "wide"]));
    let rows: Vec<Vec<&str>> = wide
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "HOST",
            "DAEMONSET",
            "READY",
            "STATE",
            "REVISION",
            "RESTARTS",
            "AGE",
            "ADDRESS",
            "CONTAINERS",
            "CONTAINER",
            "IDS"
        ]
    );
    assert_eq!(rows.len(), 3, "{wide}");
    for host in on {
        let row = rows.iter().find(|r| r[0] == host.name).expect(&wide);
        let id = stdout(&on_host(
            &host.name,
            "podman ps --filter label=dsctl.daemonset=dd-describe --filter label=dsctl.container=web --format '{{.ID}}'",
        ));
        assert_eq!(
            (row[2], row[3], row[7], row[8], row[9]),
            ("1/1", "running", host.address.as_str(), "web", id.trim()),
            "{} ({}): {wide}",
            host.name,
            host.suite
        );
    }
    let ds = stdout(&scene.dsctl(&["get", "ds", "dd-describe", "-o", "wide"]));
    let row: Vec<&str> = ds.lines().nth(1).expect(&ds).split_whitespace().collect();
    assert_eq!(row[..6], ["dd-describe", "2", "2", "2", "2", "2"], "{ds}");
    assert_eq!(
        row[row.len() - 3..],
        ["web", "localhost/dsctl-test/web:1", "app=dd-describe"],
        "{ds}"
    );

    let out = scene.dsctl(&["describe", "ds", "dd-describe"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // Compared with runs of blanks squashed: the alignment is the unit tests' business.
    let squashed: String = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect();
    for want in [
        "Name: dd-describe\n",
        "Selector: app=dd-describe\n",
        "Node-Selector: dd-describe=yes\n",
        "Labels: team=day2\n",
        "Desired Number of Nodes Scheduled: 2\n",
        "Number of Nodes Scheduled with Available Pods: 2\n",
        "Pods Status: 2 Running / 0 Waiting / 0 Succeeded / 0 Failed\n",
        "Rollout: complete: 2 of 2 updated hosts are available\n",
        "Init Containers:\nprep:\n",
        "Host Port: 8701/TCP\n",
        "Environment: NODE (v1:spec.nodeName)\n",
    ] {
        assert!(squashed.contains(want), "{want:?} not in:\n{text}");
    }
    let placement = text.split("Placement:\n").nth(1).unwrap();
    for host in on {
        assert!(
            placement.lines().any(|l| l.split_whitespace().take(3).eq([
                host.name.as_str(),
                "yes",
                "running"
            ])),
            "{}: {placement}",
            host.name
        );
    }
    assert!(
        placement.lines().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.len() > 4
                && cells[..3] == [off.name.as_str(), "no", "-"]
                && l.contains("dd-describe")
        }),
        "{}: {placement}",
        off.name
    );
    let events = text.split("Events:\n").nth(1).unwrap();
    for host in on {
        assert!(
            events
                .lines()
                .any(|l| l.contains("Installed") && l.contains(&host.name)),
            "{events}"
        );
        assert!(
            events
                .lines()
                .any(|l| l.contains("RevisionRecorded") && l.contains(&host.name)),
            "{events}"
        );
    }
}
