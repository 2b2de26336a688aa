//! A fleet of fake hosts for driving `apply::run` in process (issue 12, item 10).
//!
//! Each host is a file map plus the set of active services. It answers the driver's four
//! kinds of exec the way a host would: the observe script from its files (in observe.sh's
//! record format), the pull script, the probe script (unit-and-container checks), and the
//! host script, which it carries out step by step, interpreting the script's own commands
//! (`put`, `rm`, `systemctl start|restart|disable`, `record`, `forget`). Any exec can be made
//! to fail, hang (the transport's deadline then ends it, as `ssh::Session` does), drop the
//! connection after N steps, or be "killed" after N steps (it never answers; the test drops
//! the run, as a SIGKILL of dsctl would). Host scripts come through the detached launcher
//! (src/detached.rs): a dropped connection or a killed dsctl cuts the channel but not the
//! script, which finishes and is left for the next observe (a `leftrun` record, removed by the
//! run's ack); only a crash of the host (`Fault::Crash`) stops a script half-way. An outside
//! observer counts, after every step, the hosts without an active instance and the hosts on
//! each revision.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use dsctl::layout::{self, DAEMONSETS_DIR, PodmanObject, QUADLET_DIR, SERVICE_DIR};
use dsctl::ssh::{ExecOutput, RemoteHost, SshError, StatsSnapshot};
use tokio::io::DuplexStream;

/// Which of the driver's execs a script is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Observe,
    Pull,
    Probe,
    Script,
    Halt,
    /// The removal of reported left runs (`detached::ack_script`).
    Ack,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The command exits with this status and stderr, changing nothing.
    Fail(u32, &'static str),
    /// No answer; the transport's deadline ends the exec.
    Hang,
    /// The connection drops after this many steps of the script.
    Drop(usize),
    /// dsctl is killed after this many steps: the exec never answers.
    Kill(usize),
    /// The host's script dies after this many steps (a reboot or an OOM kill), and with it
    /// the connection.
    Crash(usize),
}

/// A fault for the `nth` (from 0) exec of `kind` on a host.
#[derive(Debug, Clone)]
pub struct Rule {
    pub kind: Kind,
    pub nth: usize,
    pub fault: Fault,
}

#[derive(Debug, Default)]
pub struct HostState {
    pub fs: BTreeMap<String, String>,
    pub active: BTreeSet<String>,
    pub execs: Vec<Kind>,
    pub rules: Vec<Rule>,
    /// Revisions whose containers run but are not ready (podman says not running).
    pub unready: BTreeSet<String>,
    /// Images the registry does not have.
    pub missing_images: BTreeSet<String>,
    /// Scripts whose launcher lost its channel, as observe reports them: `ID STATE HOLDER-B64
    /// STDERR-B64`.
    pub left_runs: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub struct World {
    pub hosts: BTreeMap<String, HostState>,
    /// The most hosts seen at once without an active instance of a DaemonSet, by DaemonSet.
    pub max_down: BTreeMap<String, usize>,
    /// The most hosts seen at once running (or recording) a revision, by revision.
    pub max_on: BTreeMap<String, usize>,
    clock: u64,
}

pub type Shared = Arc<Mutex<World>>;

pub fn world(names: &[&str]) -> Shared {
    let mut w = World::default();
    for n in names {
        w.hosts.insert(n.to_string(), HostState::default());
    }
    Arc::new(Mutex::new(w))
}

/// Deadline of the fake transport, as `--exec-timeout` gives `ssh::Session`.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct FakeHost {
    pub name: String,
    pub world: Shared,
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

fn unb64(text: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("the script's base64");
    String::from_utf8(bytes).expect("utf-8 contents")
}

/// The single-quoted words of a line (`'a'\''b'` is one word `a'b`), in order.
fn quoted(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    let mut current: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let word = current.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
                // `'\''` continues the word.
                if chars.peek() == Some(&'\\') {
                    chars.next();
                    chars.next();
                    word.push('\'');
                    continue;
                }
                if chars.peek() != Some(&'\'') {
                    words.push(current.take().unwrap());
                }
            }
            _ => {
                if let Some(w) = current.take() {
                    words.push(w);
                }
            }
        }
    }
    words.extend(current);
    words
}

fn kind_of(script: &str) -> Kind {
    if script.contains("echo \"dsctl-observe 1\"") {
        Kind::Observe
    } else if script.contains("podman pull -q") {
        Kind::Pull
    } else if script.contains("dsctl-probe 1") {
        Kind::Probe
    } else if script.starts_with("umask 077\n") && script.contains("/halted") {
        Kind::Halt
    } else if script.contains("rm -rf \"$S/runs/$id\"") {
        Kind::Ack
    } else {
        Kind::Script
    }
}

/// Is this line of a host script one of its effectful steps (where a fault can cut it)?
fn is_step(line: &str) -> bool {
    [
        "put '",
        "rm -",
        "systemctl start '",
        "systemctl restart '",
        "systemctl disable --now '",
        "record '",
        "forget '",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

fn is_unit_file(path: &str) -> bool {
    let Some((dir, file)) = path.rsplit_once('/') else {
        return false;
    };
    (dir == SERVICE_DIR && file.ends_with(".service") || dir == QUADLET_DIR)
        && (file.starts_with("dsctl_") || file.starts_with("dsctl-"))
}

fn file_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, f)| f)
}

impl HostState {
    fn unit_file_of_service(&self, service: &str) -> Option<&String> {
        self.fs
            .keys()
            .find(|p| is_unit_file(p) && layout::service_name(file_of(p)) == service)
    }

    fn remove_tree(&mut self, path: &str) {
        let under = format!("{path}/");
        self.fs.retain(|k, _| k != path && !k.starts_with(&under));
    }

    /// The names of the DaemonSets recorded (no hidden `.x.new` dirs).
    fn recorded(&self) -> BTreeSet<String> {
        let prefix = format!("{DAEMONSETS_DIR}/");
        self.fs
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix)?.split('/').next())
            .filter(|n| !n.starts_with('.'))
            .map(str::to_string)
            .collect()
    }

    fn get(&self, path: &str) -> Option<String> {
        self.fs.get(path).map(|s| s.trim().to_string())
    }

    /// The record function of the host script: `.DS.new` becomes the record at `rev`, the
    /// previous revision goes into history with its number.
    fn record(&mut self, ds: &str, rev: &str) {
        let d = format!("{DAEMONSETS_DIR}/{ds}");
        let n = format!("{DAEMONSETS_DIR}/.{ds}.new");
        let old = self.get(&format!("{d}/revision"));
        let mut num: u64 = self
            .get(&format!("{d}/number"))
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        let history: Vec<(String, String)> = self
            .fs
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{d}/history/")))
            .map(|(k, v)| (k.replacen(&d, &n, 1), v.clone()))
            .collect();
        self.fs.extend(history);
        if old.as_deref() != Some(rev) {
            if let Some(old) = &old {
                for f in ["spec.json", "number", "cause"] {
                    if let Some(v) = self.fs.get(&format!("{d}/{f}")).cloned() {
                        self.fs.insert(format!("{n}/history/{old}/{f}"), v);
                    }
                }
            }
            let hist_max = self
                .fs
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{n}/history/")) && k.ends_with("/number"))
                .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
                .max()
                .unwrap_or(0);
            num = num.max(hist_max) + 1;
        }
        self.fs.insert(format!("{n}/number"), format!("{num}\n"));
        self.fs.insert(format!("{n}/revision"), format!("{rev}\n"));
        self.remove_tree(&format!("{n}/history/{rev}"));
        self.remove_tree(&d);
        let moved: Vec<(String, String)> = self
            .fs
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{n}/")))
            .map(|(k, v)| (k.replacen(&n, &d, 1), v.clone()))
            .collect();
        self.remove_tree(&n);
        self.fs.extend(moved);
    }
}

/// What one exec produced.
struct Ran {
    status: u32,
    stdout: String,
    stderr: String,
}

impl World {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        1_700_000_000 + self.clock
    }

    /// The outside observer, after every step of every host.
    fn observe_fleet(&mut self) {
        let mut down: BTreeMap<String, usize> = BTreeMap::new();
        let mut on: BTreeMap<String, usize> = BTreeMap::new();
        for h in self.hosts.values() {
            let mut revs: BTreeSet<String> = BTreeSet::new();
            let mut up: BTreeSet<String> = BTreeSet::new();
            for s in &h.active {
                if let Some(PodmanObject::Container(c)) = layout::podman_object_of_service(s)
                    && let Some(rev) = layout::revision_of_unit_file(&c)
                {
                    revs.insert(rev.to_string());
                    if !h.unready.contains(rev) {
                        up.extend(layout::owner_of_unit_file(&c).map(str::to_string));
                    }
                }
            }
            for ds in h.recorded() {
                if let Some(rev) = h.get(&format!("{DAEMONSETS_DIR}/{ds}/revision")) {
                    revs.insert(rev);
                }
                if !up.contains(&ds) {
                    *down.entry(ds).or_default() += 1;
                }
            }
            for rev in revs {
                *on.entry(rev).or_default() += 1;
            }
        }
        for (ds, n) in down {
            let m = self.max_down.entry(ds).or_default();
            *m = (*m).max(n);
        }
        for (rev, n) in on {
            let m = self.max_on.entry(rev).or_default();
            *m = (*m).max(n);
        }
    }

    fn observe_output(&mut self, host: &str, full: bool) -> String {
        let now = self.tick();
        let h = &self.hosts[host];
        let mut o = String::from("dsctl-observe 1\nhostip 192.0.2.1\nuname Linux x86_64\n");
        o += &format!("cpus 2\nmemtotal 4000000\nstorage 9000000\nnow {now}\n");
        o += "podman 5.4.2\nquadlet yes\nlock free\n";
        let mut services: BTreeSet<String> = BTreeSet::new();
        for ds in h.recorded() {
            let d = format!("{DAEMONSETS_DIR}/{ds}");
            let get = |f: &str| h.get(&format!("{d}/{f}"));
            o += &format!(
                "ds {ds} {} 0 0 {} {}\n",
                get("revision").unwrap_or("-".into()),
                get("number").unwrap_or("0".into()),
                b64(&h.fs.get(&format!("{d}/cause")).cloned().unwrap_or_default())
            );
            let hist: BTreeSet<String> =
                h.fs.keys()
                    .filter_map(|k| k.strip_prefix(&format!("{d}/history/"))?.split('/').next())
                    .map(str::to_string)
                    .collect();
            for rev in hist {
                let hd = format!("{d}/history/{rev}");
                o += &format!(
                    "dshist {ds} {rev} {} 0 \n",
                    h.get(&format!("{hd}/number")).unwrap_or("0".into())
                );
                if let (true, Some(spec)) = (full, h.fs.get(&format!("{hd}/spec.json"))) {
                    o += &format!("dshistspec {ds} {rev} {}\n", b64(spec));
                }
            }
            for (k, v) in h.fs.range(format!("{d}/units/")..) {
                let Some(file) = k.strip_prefix(&format!("{d}/units/")) else {
                    break;
                };
                o += &format!("dsunit {ds} {file} {}\n", dsctl::plan::content_sha(v));
                services.insert(layout::service_name(file));
            }
            if let Some(why) = h.fs.get(&format!("{d}/halted")) {
                o += &format!("dshalted {ds} {}\n", b64(why));
            }
            if let Some(spec) = h.fs.get(&format!("{d}/spec.json")) {
                o += &format!("dsspec {ds} {}\n", b64(spec));
            }
        }
        for (path, content) in h.fs.iter().filter(|(p, _)| is_unit_file(p)) {
            o += &format!("file {path} {}\n", dsctl::plan::content_sha(content));
            if full {
                o += &format!("content {path} {}\n", b64(content));
            }
            services.insert(layout::service_name(file_of(path)));
        }
        for s in &services {
            let loaded = h.unit_file_of_service(s).is_some();
            let active = h.active.contains(s);
            o += &format!(
                "prop Id={s}\nprop LoadState={}\nprop ActiveState={}\nprop SubState={}\n\
                 prop UnitFileState=generated\nprop NRestarts=0\nprop NeedDaemonReload=no\nunitend\n",
                if loaded { "loaded" } else { "not-found" },
                if active { "active" } else { "inactive" },
                if active { "running" } else { "dead" },
            );
        }
        for s in &h.active {
            if let Some(PodmanObject::Container(c)) = layout::podman_object_of_service(s) {
                let rev = layout::revision_of_unit_file(&c).unwrap_or_default();
                let ds = layout::owner_of_unit_file(&c).unwrap_or_default();
                let container = c
                    .strip_prefix(&format!("{}{ds}_{rev}_", layout::PREFIX))
                    .unwrap_or_default();
                let state = if h.unready.contains(rev) {
                    "exited"
                } else {
                    "running"
                };
                o += &format!(
                    "container\t{c}\t{state}\timg\t{rev}\t{ds}\t{container}\t{}{ds}_{rev}\n",
                    layout::PREFIX
                );
            }
        }
        for (id, rest) in &h.left_runs {
            o += &format!("leftrun {id} {rest}\n");
        }
        o + "end\n"
    }

    fn probe_output(&self, host: &str, script: &str) -> String {
        let h = &self.hosts[host];
        let mut o = String::from("dsctl-probe 1\n");
        for (i, line) in script.lines().filter(|l| l.starts_with("( ")).enumerate() {
            let words = quoted(line);
            if line.contains("systemctl is-active") {
                // words: the unit, then the inspect format, then the container.
                let unit = &words[0];
                let container = &words[2];
                let active = h.active.contains(unit);
                let rev = layout::revision_of_unit_file(container).unwrap_or_default();
                let running = active && !h.unready.contains(rev);
                let out = format!(
                    "{}\n{}\n",
                    if active { "active" } else { "inactive" },
                    if running { "true" } else { "false" }
                );
                o += &format!("check {i} {} {}\n", u32::from(!running), b64(&out));
            } else {
                o += &format!("check {i} 1 {}\n", b64("unsupported by the fake"));
            }
        }
        o
    }

    fn pull(&self, host: &str, script: &str) -> Ran {
        let h = &self.hosts[host];
        let mut stderr = String::new();
        for line in script.lines().filter(|l| l.starts_with("get '")) {
            let image = &quoted(line)[0];
            if h.missing_images.contains(image) {
                stderr += &format!("pulling image {image} failed: manifest unknown\n");
            }
        }
        Ran {
            status: u32::from(!stderr.is_empty()),
            stdout: String::new(),
            stderr,
        }
    }

    /// Carries out the host script's top-level commands, at most `limit` effectful steps.
    /// `None` when the limit cut it.
    fn run_script(&mut self, host: &str, script: &str, limit: usize) -> Option<Ran> {
        let mut steps = 0;
        let mut ran = Ran {
            status: 0,
            stdout: String::new(),
            stderr: String::new(),
        };
        for line in script.lines() {
            let words = quoted(line);
            let effect = is_step(line);
            if effect {
                if steps == limit {
                    return None;
                }
                steps += 1;
            }
            let h = self.hosts.get_mut(host).unwrap();
            if line.starts_with("put '") {
                // put 'PATH' 'BASE64' [MODE]
                h.fs.insert(words[0].clone(), unb64(&words[1]));
            } else if line.starts_with("rm -rf '") || line.starts_with("rm -f '") {
                h.remove_tree(&words[0]);
            } else if line.starts_with("systemctl disable --now '") {
                h.active.remove(&words[0]);
            } else if line.starts_with("systemctl start '")
                || line.starts_with("systemctl restart '")
            {
                let unit = &words[0];
                if h.unit_file_of_service(unit).is_some() {
                    h.active.insert(unit.clone());
                } else {
                    ran.status = 1;
                    ran.stderr += &format!("{unit} did not start:\nUnit {unit} not found.\n");
                    return Some(ran);
                }
            } else if line.starts_with("record '") {
                h.record(&words[0], &words[1]);
            } else if line.starts_with("forget '") {
                h.remove_tree(&format!("{DAEMONSETS_DIR}/{}", words[0]));
            } else if line.starts_with("echo '") && line.ends_with(">&2") {
                ran.stderr += &format!("{}\n", words[0]);
            } else if line == "exit 1" {
                ran.status = 1;
                return Some(ran);
            } else if line.starts_with("echo \"done ") {
                ran.stdout += "done 1000000\n";
            }
            if effect {
                self.observe_fleet();
            }
        }
        Some(ran)
    }

    fn halt(&mut self, host: &str, script: &str) {
        let words = quoted(script);
        let (dir, why) = (&words[0], &words[2]);
        let h = self.hosts.get_mut(host).unwrap();
        if h.fs.keys().any(|k| k.starts_with(&format!("{dir}/"))) {
            h.fs.insert(format!("{dir}/halted"), format!("{why}\n"));
        }
    }
}

/// A detached launch: its run id and holder, read from the launcher's command.
struct Launched {
    id: String,
    holder: String,
}

impl Launched {
    fn of(command: &str) -> Option<Launched> {
        let var = |name: &str| {
            command
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
        };
        let holder = var("HOLDER")?;
        Some(Launched {
            id: var("ID")?,
            holder: quoted(&holder).concat(),
        })
    }
}

enum Answer {
    Now(Result<ExecOutput, SshError>),
    Hang,
    Never,
}

impl FakeHost {
    fn answer(&self, script: &str, launched: Option<Launched>) -> Answer {
        let mut w = self.world.lock().unwrap();
        let kind = kind_of(script);
        let h = w.hosts.get_mut(&self.name).expect("a host of the world");
        let nth = h.execs.iter().filter(|k| **k == kind).count();
        h.execs.push(kind);
        let fault = h
            .rules
            .iter()
            .find(|r| r.kind == kind && r.nth == nth)
            .map(|r| r.fault.clone());
        let (limit, after) = match fault {
            Some(Fault::Fail(status, stderr)) => {
                return Answer::Now(Ok(ExecOutput {
                    status,
                    signal: None,
                    stdout: Vec::new(),
                    stderr: stderr.as_bytes().to_vec(),
                }));
            }
            Some(Fault::Hang) => return Answer::Hang,
            Some(Fault::Drop(n)) => (n, Some(false)),
            Some(Fault::Kill(n)) => (n, Some(true)),
            Some(Fault::Crash(n)) => (n, Some(false)),
            None => (usize::MAX, None),
        };
        let steps = script.lines().filter(|l| is_step(l)).count();
        if let (Kind::Script, Some(launched), Some(killed), true) =
            (kind, &launched, after, steps > limit)
        {
            // The channel is cut after `limit` steps; the detached script is not, unless the
            // host crashed under it.
            let crashed = matches!(fault, Some(Fault::Crash(_)));
            let ran = w.run_script(&self.name, script, if crashed { limit } else { usize::MAX });
            let state = ran
                .as_ref()
                .map_or("killed".to_string(), |r| r.status.to_string());
            let stderr = ran.map(|r| r.stderr).unwrap_or_default();
            let left = format!("{state} {} {}", b64(&launched.holder), b64(&stderr));
            let h = w.hosts.get_mut(&self.name).expect("a host of the world");
            h.left_runs.insert(launched.id.clone(), left);
            return if killed {
                Answer::Never
            } else {
                Answer::Now(Err(SshError::Closed {
                    host: self.name.clone(),
                    what: "the command".into(),
                }))
            };
        }
        let ran = match kind {
            // Only a host script has steps; any other exec is cut before it answers.
            _ if kind != Kind::Script && after.is_some() => None,
            Kind::Observe => Some(Ran {
                status: 0,
                stdout: w.observe_output(&self.name, script.starts_with("FULL=1")),
                stderr: String::new(),
            }),
            Kind::Pull => Some(w.pull(&self.name, script)),
            Kind::Probe => Some(Ran {
                status: 0,
                stdout: w.probe_output(&self.name, script),
                stderr: String::new(),
            }),
            Kind::Ack => {
                let h = w.hosts.get_mut(&self.name).expect("a host of the world");
                for id in quoted(script) {
                    h.left_runs.remove(&id);
                }
                Some(Ran {
                    status: 0,
                    stdout: String::new(),
                    stderr: String::new(),
                })
            }
            Kind::Halt => {
                w.halt(&self.name, script);
                Some(Ran {
                    status: 0,
                    stdout: String::new(),
                    stderr: String::new(),
                })
            }
            Kind::Script => w.run_script(&self.name, script, limit),
        };
        match (ran, after) {
            // The script finished within its steps: the fault came too late to matter.
            (Some(ran), _) => Answer::Now(Ok(ExecOutput {
                status: ran.status,
                signal: None,
                stdout: ran.stdout.into_bytes(),
                stderr: ran.stderr.into_bytes(),
            })),
            (None, Some(true)) => Answer::Never,
            (None, _) => Answer::Now(Err(SshError::Closed {
                host: self.name.clone(),
                what: "the command".into(),
            })),
        }
    }
}

impl RemoteHost for FakeHost {
    type Tunnel = DuplexStream;

    fn name(&self) -> &str {
        &self.name
    }

    fn exec(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<ExecOutput, SshError>> + Send {
        // A detached launch (src/detached.rs) runs its stdin with the same output and exit
        // code as the script run in the channel: the fake runs the script itself.
        let launched = stdin
            .filter(|_| script.contains("\nSHA="))
            .map(|s| String::from_utf8_lossy(s).into_owned());
        let answer = self.answer(
            launched.as_deref().unwrap_or(script),
            Launched::of(script).filter(|_| launched.is_some()),
        );
        let host = self.name.clone();
        async move {
            match answer {
                Answer::Now(result) => result,
                Answer::Hang => {
                    tokio::time::sleep(EXEC_TIMEOUT).await;
                    Err(SshError::ExecTimeout {
                        host,
                        after: EXEC_TIMEOUT,
                    })
                }
                Answer::Never => std::future::pending().await,
            }
        }
    }

    fn open_tcp(&self, port: u16) -> impl Future<Output = Result<DuplexStream, SshError>> + Send {
        self.open_tcp_to("127.0.0.1", port)
    }

    fn open_tcp_to(
        &self,
        host: &str,
        _port: u16,
    ) -> impl Future<Output = Result<DuplexStream, SshError>> + Send {
        let err = SshError::Closed {
            host: host.to_string(),
            what: "a tunnel (the fake hosts have none)".into(),
        };
        async move { Err(err) }
    }

    fn stats(&self) -> StatsSnapshot {
        let w = self.world.lock().unwrap();
        StatsSnapshot {
            connections: 1,
            execs: w.hosts[&self.name].execs.len() as u32,
            tunnels: 0,
        }
    }
}
