//! What every end-to-end test needs: the running test fleet (tests/fleet/fleet), the dsctl
//! binary, inventories and specs in a temporary directory, and probes from this machine.
//!
//! The tests share one fleet, so they run one at a time (`serial()`), and each cleans up the
//! DaemonSets it creates.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the fleet for one test.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Clone)]
pub struct FleetHost {
    pub name: String,
    pub address: String,
    pub suite: String,
}

/// The fleet that `tests/fleet/fleet up` brought up (tests/run does that).
pub struct Fleet {
    pub inventory: toml::Table,
    pub hosts: Vec<FleetHost>,
}

impl Fleet {
    pub fn get() -> Fleet {
        let path = repo().join("target/fleet/inventory.toml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; bring the fleet up first: tests/fleet/fleet up 6",
                path.display()
            )
        });
        let inventory: toml::Table = text.parse().expect("fleet inventory parses");
        let hosts = inventory["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| FleetHost {
                name: h["name"].as_str().unwrap().to_string(),
                address: h["address"].as_str().unwrap().to_string(),
                suite: h
                    .get("labels")
                    .and_then(|l| l.get("dsctl.test/suite"))
                    .and_then(|s| s.as_str())
                    .unwrap_or("trixie")
                    .to_string(),
            })
            .collect();
        Fleet { inventory, hosts }
    }

    /// `n` hosts of a suite reserved for tests that break hosts (kill sshd, cut links, fill
    /// disks), beyond the hosts the other tests use, held across processes by a file lock so
    /// that no other test, in this run or another, is on them meanwhile.
    pub fn fault_hosts(&self, suite: &str, n: usize) -> (Vec<FleetHost>, FaultLease) {
        self.fault_hosts_of(&[(suite, n)])
    }

    /// Fault hosts of several suites under one lease (a second lease in one test would
    /// wait for the first forever).
    pub fn fault_hosts_of(&self, wants: &[(&str, usize)]) -> (Vec<FleetHost>, FaultLease) {
        let lease = FaultLease::take();
        let mut all = Vec::new();
        for &(suite, n) in wants {
            let shared = if suite == "bookworm" {
                SHARED_BOOKWORM
            } else {
                SHARED_TRIXIE
            };
            let hosts: Vec<FleetHost> = self
                .hosts
                .iter()
                .filter(|h| h.suite == suite)
                .skip(shared)
                .take(n)
                .cloned()
                .collect();
            assert_eq!(
                hosts.len(),
                n,
                "the fleet needs {n} {suite} fault hosts beyond the first {shared} (tests/run brings them up)"
            );
            all.extend(hosts);
        }
        (all, lease)
    }

    /// The first `n` hosts of a suite (panics if the fleet has fewer).
    pub fn of_suite(&self, suite: &str, n: usize) -> Vec<FleetHost> {
        let hosts: Vec<FleetHost> = self
            .hosts
            .iter()
            .filter(|h| h.suite == suite)
            .take(n)
            .cloned()
            .collect();
        assert_eq!(
            hosts.len(),
            n,
            "the fleet needs {n} {suite} hosts (tests/run brings them up)"
        );
        hosts
    }
}

/// How many hosts of each suite the ordinary tests share; fault hosts come after them.
const SHARED_TRIXIE: usize = 6;
const SHARED_BOOKWORM: usize = 2;

/// An exclusive hold on the fault hosts (an flock on a file beside the fleet's inventory).
#[allow(dead_code)]
pub struct FaultLease(std::fs::File);

#[allow(dead_code)]
impl FaultLease {
    fn take() -> FaultLease {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(repo().join("target/fleet/faults.lock"))
            .expect("open target/fleet/faults.lock");
        // SAFETY: flock on a descriptor this function owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock target/fleet/faults.lock");
        FaultLease(file)
    }
}

/// A scratch directory with an inventory of chosen fleet hosts and spec files.
pub struct Scene {
    pub dir: tempfile::TempDir,
    base: toml::Table,
    owned: std::cell::RefCell<Vec<String>>,
}

impl Drop for Scene {
    /// Deletes the DaemonSets the test owns, also when it panicked, so the next test starts
    /// on clean hosts (with the test's own inventory restored to the fleet's).
    fn drop(&mut self) {
        let owned = self.owned.borrow().clone();
        if !owned.is_empty() {
            self.write_inventory(|_| {});
            let mut args = vec!["delete".to_string(), "ds".to_string()];
            args.extend(owned);
            let _ = Command::new(env!("CARGO_BIN_EXE_dsctl"))
                .args(&args)
                .arg("-i")
                .arg(self.inventory())
                .output();
        }
    }
}

impl Scene {
    pub fn new(fleet: &Fleet, hosts: &[FleetHost]) -> Scene {
        let mut base = fleet.inventory.clone();
        let chosen: Vec<toml::Value> = base["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| hosts.iter().any(|c| c.name == h["name"].as_str().unwrap()))
            .cloned()
            .collect();
        base.insert("hosts".into(), toml::Value::Array(chosen));
        let scene = Scene {
            dir: tempfile::tempdir().unwrap(),
            base,
            owned: Default::default(),
        };
        scene.write_inventory(|_| {});
        scene
    }

    /// The DaemonSets this test creates: leftovers are deleted now, and again when the scene
    /// is dropped.
    pub fn own(&self, names: &[&str]) {
        self.owned
            .borrow_mut()
            .extend(names.iter().map(|n| n.to_string()));
        let mut args = vec!["delete", "ds"];
        args.extend(names);
        self.dsctl(&args);
    }

    pub fn inventory(&self) -> PathBuf {
        self.dir.path().join("inventory.toml")
    }

    /// Rewrites the inventory; `edit` gets each host's table.
    pub fn write_inventory(&self, edit: impl Fn(&mut toml::Table)) {
        let mut inv = self.base.clone();
        for host in inv.get_mut("hosts").unwrap().as_array_mut().unwrap() {
            edit(host.as_table_mut().unwrap());
        }
        std::fs::write(self.inventory(), toml::to_string(&inv).unwrap()).unwrap();
    }

    pub fn spec(&self, file: &str, text: &str) -> PathBuf {
        let dir = self.dir.path().join("specs");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `dsctl ARGS… -i <this inventory>`.
    pub fn dsctl(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_dsctl"))
            .args(args)
            .arg("-i")
            .arg(self.inventory())
            .output()
            .unwrap();
        eprintln!(
            "$ dsctl {}\n--- exit {:?}\n{}{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

pub fn label(host: &mut toml::Table, key: &str, value: &str) {
    let labels = host
        .entry("labels")
        .or_insert_with(|| toml::Value::Table(Default::default()));
    labels
        .as_table_mut()
        .unwrap()
        .insert(key.into(), value.into());
}

pub fn taint(host: &mut toml::Table, key: &str, effect: &str) {
    let mut t = toml::Table::new();
    t.insert("key".into(), key.into());
    t.insert("effect".into(), effect.into());
    host.insert(
        "taints".into(),
        toml::Value::Array(vec![toml::Value::Table(t)]),
    );
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a command on a fleet host (tests/fleet/fleet exec), as root, bypassing dsctl.
pub fn on_host(host: &str, script: &str) -> Output {
    Command::new(repo().join("tests/fleet/fleet"))
        .args(["exec", host, "--", "sh", "-c", script])
        .output()
        .unwrap()
}

/// An HTTP GET from this machine: (status, body), or None when nothing answers.
pub fn http_get(address: &str, port: u16, path: &str) -> Option<(u16, String)> {
    http_get_within(address, port, path, Duration::from_secs(3))
}

/// `http_get` that gives up after `timeout` to connect and again to read.
pub fn http_get_within(
    address: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Option<(u16, String)> {
    http_fetch(address, port, path, timeout).ok()
}

/// An HTTP GET, or why it got no answer (refused, timed out connecting or reading, …): the
/// observer names the cause, so a slow host is told apart from one that is down.
pub fn http_fetch(
    address: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let addr = format!("{address}:{port}")
        .parse()
        .map_err(|e| format!("address: {e}"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {}", e.kind()))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")
        .map_err(|e| format!("send: {}", e.kind()))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read: {}", e.kind()))?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "no HTTP status in {:?}",
                response.chars().take(40).collect::<String>()
            )
        })?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// How long an observer's check waits for its answer (see [`Observer`]).
const CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

/// An outside observer of a rollout: polls every host's service from this machine until
/// finished, all hosts at once each round (one thread a host, started together), so a round
/// is one moment. A check that gets no 200 within 1.5 s counts the host as down in that
/// round. Not 1 s: the kernel resends an unanswered SYN after 1 s, so a 1 s timeout gave a
/// lost SYN no second try (seen under load: a connect timed out at 1 s on a host whose
/// container had come back and passed its readiness probe just before). Not
/// much longer: one host that hangs would stretch its round over the next wave, and count two
/// hosts that were never down together. Hosts in `exclude` (cut off by the test itself) are
/// not counted.
pub struct Observer {
    stop: Arc<AtomicBool>,
    worst: Arc<Mutex<Observed>>,
    rounds: Arc<AtomicUsize>,
    excluded: Arc<Mutex<BTreeSet<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What an `Observer` saw.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The most hosts down in one round, which (each with why), and when that round's checks
    /// were sent (a check that times out is still the state of that moment).
    pub worst: usize,
    pub which: Vec<String>,
    pub at: Option<SystemTime>,
    pub rounds: usize,
}

impl Observer {
    pub fn start(hosts: &[FleetHost], port: u16, path: &str) -> Observer {
        let stop = Arc::new(AtomicBool::new(false));
        let worst = Arc::new(Mutex::new(Observed::default()));
        let rounds = Arc::new(AtomicUsize::new(0));
        let excluded: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let thread = std::thread::spawn({
            let (stop, worst, rounds, excluded, hosts) = (
                stop.clone(),
                worst.clone(),
                rounds.clone(),
                excluded.clone(),
                hosts.to_vec(),
            );
            let path = path.to_string();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let skip = excluded.lock().unwrap().clone();
                    let checks: Vec<_> = hosts
                        .iter()
                        .filter(|h| !skip.contains(&h.name))
                        .map(|h| {
                            let (name, address, path) =
                                (h.name.clone(), h.address.clone(), path.clone());
                            std::thread::spawn(move || {
                                let why = match http_fetch(&address, port, &path, CHECK_TIMEOUT) {
                                    Ok((200, _)) => None,
                                    Ok((status, _)) => Some(format!("status {status}")),
                                    Err(e) => Some(e),
                                };
                                (name, why)
                            })
                        })
                        .collect();
                    let at = SystemTime::now();
                    let down: Vec<(String, String)> = checks
                        .into_iter()
                        .filter_map(|c| c.join().ok())
                        .filter_map(|(name, why)| Some((name, why?)))
                        .collect();
                    // A host excluded while this round ran is not counted either.
                    let skip = excluded.lock().unwrap().clone();
                    let down: Vec<String> = down
                        .into_iter()
                        .filter(|(n, _)| !skip.contains(n))
                        .map(|(n, why)| format!("{n} ({why})"))
                        .collect();
                    let mut w = worst.lock().unwrap();
                    if down.len() > w.worst {
                        *w = Observed {
                            worst: down.len(),
                            which: down,
                            at: Some(at),
                            rounds: 0,
                        };
                    }
                    drop(w);
                    rounds.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        Observer {
            stop,
            worst,
            rounds,
            excluded,
            thread: Some(thread),
        }
    }

    pub fn exclude(&self, host: &str) {
        self.excluded.lock().unwrap().insert(host.to_string());
    }

    pub fn finish(mut self) -> Observed {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        Observed {
            rounds: self.rounds.load(Ordering::Relaxed),
            ..self.worst.lock().unwrap().clone()
        }
    }
}

/// maxSurge = 1 with maxUnavailable = 0 and no hostPort: the readiness probe reaches the
/// container's own IP through the SSH connection. `extra` is appended (a `[dsctl]` table, say).
pub fn surge_spec(name: &str, tag: &str, extra: &str) -> String {
    format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "{name}"
[spec]
minReadySeconds = 1
[spec.selector.matchLabels]
app = "{name}"
[spec.updateStrategy]
type = "RollingUpdate"
rollingUpdate = {{ maxUnavailable = 0, maxSurge = 1 }}
[spec.template.metadata.labels]
app = "{name}"
[[spec.template.spec.containers]]
name = "web"
image = "localhost/dsctl-test/web:{tag}"
imagePullPolicy = "IfNotPresent"
[[spec.template.spec.containers.ports]]
containerPort = 8080
[spec.template.spec.containers.readinessProbe]
httpGet = {{ path = "/healthz", port = 8080 }}
periodSeconds = 1
failureThreshold = 2
{extra}
"#
    )
}

/// Polls `check` until it holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A DaemonSet of the fleet's test web image on `host_port`, optionally with a nodeSelector.
pub fn web_spec(
    name: &str,
    image_tag: &str,
    host_port: u16,
    node_selector: &[(&str, &str)],
) -> String {
    let selector: String = node_selector
        .iter()
        .map(|(k, v)| format!("\"{k}\" = \"{v}\"\n"))
        .collect();
    format!(
        r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "{name}"
[spec.selector.matchLabels]
app = "{name}"
[spec.template.metadata.labels]
app = "{name}"
[spec.template.spec.nodeSelector]
{selector}
[[spec.template.spec.containers]]
name = "web"
image = "localhost/dsctl-test/web:{image_tag}"
imagePullPolicy = "Never"
[[spec.template.spec.containers.ports]]
containerPort = 8080
hostPort = {host_port}
"#
    )
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
