//! Simulated fleet: N in-process SSH hosts (russh servers, one per loopback address across
//! 127.0.0.0/8) that answer dsctl's observe and host scripts like real converged hosts, so
//! dsctl's own cost per host is measured apart from sshd's and from host work.
//!
//! ```sh
//! cargo run --release --example simfleet -- bench --hosts 10000     # no-op + rollout figures
//! cargo run --release --example simfleet -- serve --hosts 1000 --dir /tmp/sim   # until SIGTERM
//! ```
//!
//! Each host's state is a `dsctl::sim` observation: the observe answer is it, printed as
//! observe.sh prints; a host script that names a known revision converges the host to that
//! revision through the planner's own actions (what the real script does, minus the host
//! work); image pulls, halt markers and exec probes succeed; tunnels answer HTTP 200.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dsctl::daemonset::DaemonSet;
use dsctl::inventory::{Host, UnitFlavor};
use dsctl::observe::Observation;
use dsctl::render::Templates;
use dsctl::{known_hosts, load, sim};
use russh::keys::Algorithm;
use russh::keys::ssh_key::{LineEnding, PrivateKey};
use russh::server::{self, Auth, Msg, Session};
use russh::{Channel, ChannelId, ChannelMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Counts the live heap of this process (the simulator's, or the `handshake` child's), so a
/// session's own bytes can be told apart from allocator slack in RSS.
struct Counting;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Live bytes by the allocation's size class: index k holds sizes in [2^k, 2^(k+1)).
static BY_SIZE: [std::sync::atomic::AtomicUsize; 32] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; 32];

fn size_class(size: usize) -> usize {
    (usize::BITS - 1 - size.max(1).leading_zeros()).min(31) as usize
}

// SAFETY: every call is passed through to the system allocator unchanged; only counted.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        BY_SIZE[size_class(layout.size())].fetch_add(layout.size(), Relaxed);
        // SAFETY: as GlobalAlloc::alloc.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        BY_SIZE[size_class(layout.size())]
            .fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: as GlobalAlloc::dealloc.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The port every simulated host listens on, at its own loopback address.
const PORT: u16 = 2740;

/// The DaemonSet every host runs: the test fleet's web image, readiness-gated through the
/// tunnel, rolled out 10% at a time.
const SPEC: &str = r#"apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "sw-sim"
[spec.selector.matchLabels]
app = "sw-sim"
[spec.updateStrategy]
type = "RollingUpdate"
rollingUpdate = { maxUnavailable = "10%" }
[spec.template.metadata.labels]
app = "sw-sim"
[[spec.template.spec.containers]]
name = "web"
image = "localhost/dsctl-test/web:1"
imagePullPolicy = "Never"
env = [ { name = "VERSION", value = "v1" } ]
[[spec.template.spec.containers.ports]]
containerPort = 8080
hostPort = 8740
[spec.template.spec.containers.readinessProbe]
httpGet = { path = "/healthz", port = 8080 }
periodSeconds = 1
"#;

fn usage() -> ! {
    eprintln!(
        "usage: simfleet bench --hosts N [--dsctl PATH] [--parallel P] [--runs R]\n       \
         simfleet serve --hosts N --dir DIR\n       simfleet handshake --inventory FILE [--parallel P]"
    );
    std::process::exit(2)
}

struct Args {
    mode: String,
    hosts: usize,
    dir: Option<PathBuf>,
    dsctl: PathBuf,
    parallel: usize,
    runs: usize,
    inventory: Option<PathBuf>,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| usage());
    let mut a = Args {
        mode,
        hosts: 1000,
        dir: None,
        dsctl: PathBuf::from("target/release/dsctl"),
        parallel: 64,
        runs: 3,
        inventory: None,
    };
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--hosts" => a.hosts = value.parse().unwrap_or_else(|_| usage()),
            "--dir" => a.dir = Some(value.into()),
            "--dsctl" => a.dsctl = value.into(),
            "--parallel" => a.parallel = value.parse().unwrap_or_else(|_| usage()),
            "--runs" => a.runs = value.parse().unwrap_or_else(|_| usage()),
            "--inventory" => a.inventory = Some(value.into()),
            _ => usage(),
        }
    }
    a
}

fn main() {
    raise_nofile();
    let a = args();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    match a.mode.as_str() {
        "serve" => {
            let dir = a.dir.clone().unwrap_or_else(|| usage());
            runtime.block_on(async {
                let fleet = Fleet::start(a.hosts, &dir).await;
                println!(
                    "ready {} hosts; inventory {}",
                    a.hosts,
                    fleet.inventory.display()
                );
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("signal");
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            });
        }
        "handshake" => {
            let inventory = a.inventory.clone().unwrap_or_else(|| usage());
            runtime.block_on(handshakes(&inventory, a.parallel));
        }
        "bench" => bench(&runtime, &a),
        _ => usage(),
    }
}

/// 10,000 hosts need about 10,000 descriptors on each side (children inherit the limit).
fn raise_nofile() {
    let want = libc::rlimit {
        rlim_cur: 1 << 20,
        rlim_max: 1 << 20,
    };
    // SAFETY: setrlimit/getrlimit only read and write the struct passed.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_NOFILE, &want) != 0 {
            let mut have = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut have);
            have.rlim_cur = have.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &have);
        }
    }
}

fn address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        10 + (i / 40_000) as u8,
        ((i / 200) % 200) as u8,
        (i % 200 + 1) as u8,
    )
}

/// A host's spec for a revision: v1 is [`SPEC`], v2 differs in one env value.
fn spec_text(version: &str) -> String {
    SPEC.replace("value = \"v1\"", &format!("value = \"{version}\""))
}

/// One simulated host.
struct SimHost {
    host: Host,
    state: Mutex<Observation>,
}

/// What every host shares: the specs it may be told to converge to, by revision.
struct Shared {
    specs: Vec<(String, DaemonSet)>,
    templates: Templates,
}

struct Fleet {
    inventory: PathBuf,
    spec_v1: PathBuf,
    spec_v2: PathBuf,
    hosts: Arc<std::collections::HashMap<IpAddr, Arc<SimHost>>>,
    /// The revisions of `spec_v1` and `spec_v2`.
    revisions: [String; 2],
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    /// Writes the inventory, keys, known_hosts and specs into `dir`, and serves `n` hosts
    /// converged at v1 (every fourth one a podman 4 host with the service flavour).
    async fn start(n: usize, dir: &Path) -> Fleet {
        std::fs::create_dir_all(dir).expect("dir");
        let host_key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).expect("key");
        let client_key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).expect("key");
        let identity = dir.join("id_ed25519");
        std::fs::write(
            &identity,
            client_key
                .to_openssh(LineEnding::LF)
                .expect("openssh")
                .as_bytes(),
        )
        .expect("write key");
        std::fs::set_permissions(
            &identity,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod key");
        let known = dir.join("known_hosts");
        let inventory = dir.join("inventory.toml");
        let spec_v1 = dir.join("sw-sim-v1.toml");
        let spec_v2 = dir.join("sw-sim-v2.toml");
        std::fs::write(&spec_v1, spec_text("v1")).expect("spec");
        std::fs::write(&spec_v2, spec_text("v2")).expect("spec");
        let mut known_text = String::new();
        let mut inv = format!(
            "[defaults]\nuser = \"root\"\nport = {PORT}\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\n",
            identity.display(),
            known.display()
        );
        for i in 0..n {
            let addr = address(i);
            known_text.push_str(&known_hosts::entry_line(
                &addr.to_string(),
                PORT,
                host_key.public_key(),
            ));
            known_text.push('\n');
            inv.push_str(&format!(
                "[[hosts]]\nname = \"sim-{i:05}\"\naddress = \"{addr}\"\n"
            ));
        }
        std::fs::write(&known, known_text).expect("known_hosts");
        std::fs::write(&inventory, inv).expect("inventory");

        let load = |p: &Path| {
            load::daemonsets(&[p.to_path_buf()])
                .unwrap_or_else(|_| panic!("{} loads", p.display()))
                .daemonsets
                .remove(0)
                .value
        };
        let (v1, v2) = (load(&spec_v1), load(&spec_v2));
        let shared = Arc::new(Shared {
            specs: vec![
                (dsctl::revision::revision(&v1), v1.clone()),
                (dsctl::revision::revision(&v2), v2),
            ],
            templates: Templates::embedded(),
        });
        let hosts = load::inventory_with_warnings(&inventory)
            .unwrap_or_else(|_| panic!("inventory loads"))
            .0
            .value
            .hosts();
        let config = Arc::new(server::Config {
            keys: vec![host_key],
            auth_rejection_time: Duration::ZERO,
            auth_rejection_time_initial: Some(Duration::ZERO),
            inactivity_timeout: None,
            ..Default::default()
        });
        let now = unix_now();
        let mut by_address = std::collections::HashMap::with_capacity(n);
        for (i, host) in hosts.into_iter().enumerate() {
            let addr = address(i);
            let flavor = if i % 4 == 3 {
                UnitFlavor::Service
            } else {
                UnitFlavor::Quadlet
            };
            let mut state = sim::fresh(IpAddr::V4(addr), flavor, now);
            let create = sim::plan(std::slice::from_ref(&v1), &host, &state, &shared.templates)
                .expect("plan");
            sim::apply(&mut state, &create);
            by_address.insert(
                IpAddr::V4(addr),
                Arc::new(SimHost {
                    host,
                    state: Mutex::new(state),
                }),
            );
        }
        // One listener for every address (a socket bound to the wildcard address takes
        // connections to all of 127.0.0.0/8), each connection served as the host whose
        // address it reached: 10,000 listeners would need 10,000 descriptors more.
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT))
                .await
                .unwrap_or_else(|e| panic!("bind port {PORT}: {e}"));
        let by_address = Arc::new(by_address);
        let hosts = by_address.clone();
        let revisions = [shared.specs[0].0.clone(), shared.specs[1].0.clone()];
        let tasks = vec![tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Some(sim_host) = tcp
                    .local_addr()
                    .ok()
                    .and_then(|a| by_address.get(&a.ip()).cloned())
                else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let handler = Connection {
                    host: sim_host,
                    shared: shared.clone(),
                    channels: Default::default(),
                };
                let config = config.clone();
                tokio::spawn(async move {
                    if let Ok(session) = server::run_stream(config, tcp, handler).await {
                        let _ = session.await;
                    }
                });
            }
        })];
        Fleet {
            inventory,
            spec_v1,
            spec_v2,
            hosts,
            revisions,
            _tasks: tasks,
        }
    }

    /// How many hosts do not record `revision` (a rollout to it left them behind).
    fn not_on(&self, revision: &str) -> usize {
        self.hosts
            .values()
            .filter(|h| {
                let state = h.state.lock().expect("state lock");
                state
                    .daemonsets
                    .values()
                    .all(|r| r.revision.as_deref() != Some(revision))
            })
            .count()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct Connection {
    host: Arc<SimHost>,
    shared: Arc<Shared>,
    channels: std::collections::HashMap<ChannelId, Channel<Msg>>,
}

impl server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        _offer: server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(Auth::Accept)
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        _key: server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        id: ChannelId,
        command: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(channel) = self.channels.remove(&id) else {
            return session.channel_failure(id);
        };
        session.channel_success(id)?;
        let command = String::from_utf8_lossy(command).into_owned();
        tokio::spawn(answer(
            channel,
            command,
            self.host.clone(),
            self.shared.clone(),
        ));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        _host: &str,
        _port: u32,
        _originator: &str,
        _originator_port: u32,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        tokio::spawn(async move {
            let mut stream = channel.into_stream();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .await;
            let _ = stream.shutdown().await;
        });
        Ok(())
    }
}

/// Reads the script (stdin to `sh -s` or to a detached launcher, or `sh -c`'s argument),
/// answers it, and exits.
async fn answer(channel: Channel<Msg>, command: String, host: Arc<SimHost>, shared: Arc<Shared>) {
    let (mut reader, writer) = channel.split();
    let mut script = Vec::new();
    if command.ends_with("sh -s") || dsctl::detached::is_launcher(&command) {
        while let Some(message) = reader.wait().await {
            match message {
                ChannelMsg::Data { data } => script.extend_from_slice(&data),
                ChannelMsg::Eof => break,
                _ => {}
            }
        }
    } else {
        script = command.into_bytes();
    }
    let script = String::from_utf8_lossy(&script);
    let output = respond(&script, &host, &shared);
    let _ = writer.data(output.as_bytes()).await;
    let _ = writer.exit_status(0).await;
    let _ = writer.eof().await;
    let _ = writer.close().await;
}

/// What a converged host that does every step successfully prints for `script`.
fn respond(script: &str, host: &SimHost, shared: &Shared) -> String {
    let mut state = host.state.lock().expect("state lock");
    state.now = unix_now();
    if script.contains("dsctl-observe 1") {
        return sim::records(&state);
    }
    if !script.contains("STATE_DIR=") {
        return String::new();
    }
    // A host script: it converges to the named revision that is not the one recorded now
    // (an update or a revert names both), or re-converges the recorded one (a heal).
    let recorded = state
        .daemonsets
        .values()
        .find_map(|r| r.revision.clone())
        .unwrap_or_default();
    let named: Vec<&(String, DaemonSet)> = shared
        .specs
        .iter()
        .filter(|(rev, _)| script.contains(rev.as_str()))
        .collect();
    let Some((_, target)) = named
        .iter()
        .find(|(rev, _)| *rev != recorded)
        .or_else(|| named.first())
    else {
        return String::new();
    };
    let started = Instant::now();
    if let Ok(changes) = sim::plan(
        std::slice::from_ref(target),
        &host.host,
        &state,
        &shared.templates,
    ) {
        sim::apply(&mut state, &changes);
    }
    format!("done {}\n", started.elapsed().as_nanos())
}

/// Connects to every host of `inventory` as dsctl does (settings through `ssh -G`, strict
/// known_hosts), then exits: the handshake's share of dsctl's cost.
async fn handshakes(inventory: &Path, parallel: usize) {
    let hosts = load::inventory_with_warnings(inventory)
        .unwrap_or_else(|_| panic!("inventory loads"))
        .0
        .value
        .hosts();
    let connector = Arc::new(dsctl::ssh::Connector::new(Default::default()));
    let limit = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for host in hosts {
        let (connector, limit) = (connector.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.expect("open");
            let target = dsctl::ssh_config::resolve_host(&host)
                .await
                .map_err(|e| e.to_string())?;
            connector.connect(&target).await.map_err(|e| e.to_string())
        }));
    }
    let mut sessions = Vec::new();
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(s)) => sessions.push(s),
            _ => failed += 1,
        }
    }
    use std::sync::atomic::Ordering::Relaxed;
    let live = LIVE.load(Relaxed);
    eprintln!(
        "handshake: {} sessions held; heap live {:.1} MiB ({:.1} KiB per session), peak {:.1} MiB",
        sessions.len(),
        mib(live),
        live as f64 / 1024.0 / sessions.len().max(1) as f64,
        mib(PEAK.load(Relaxed)),
    );
    let classes: Vec<String> = BY_SIZE
        .iter()
        .enumerate()
        .map(|(k, b)| (k, b.load(Relaxed)))
        .filter(|(_, b)| *b > live / 50)
        .map(|(k, b)| {
            format!(
                "{}–{} B: {:.1} MiB",
                1usize << k,
                (1usize << (k + 1)) - 1,
                mib(b)
            )
        })
        .collect();
    eprintln!(
        "handshake: live heap by allocation size: {}",
        classes.join(", ")
    );
    if failed > 0 {
        eprintln!("handshake: {failed} hosts failed");
        std::process::exit(1);
    }
}

/// What one child process cost.
#[derive(Clone, Copy)]
struct Cost {
    wall: f64,
    cpu: f64,
    user: f64,
    sys: f64,
    max_rss_mib: f64,
    code: i32,
}

/// Runs `cmd` to its end (stderr, the progress lines, to `log`) and reads its rusage.
fn measure(cmd: &mut std::process::Command, log: std::fs::File) -> Cost {
    let started = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for this child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for.
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    std::mem::forget(child);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let (user, sys) = (secs(usage.ru_utime), secs(usage.ru_stime));
    Cost {
        wall: started.elapsed().as_secs_f64(),
        cpu: user + sys,
        user,
        sys,
        max_rss_mib: usage.ru_maxrss as f64 / 1024.0,
        code: libc::WEXITSTATUS(status),
    }
}

fn self_cpu() -> f64 {
    // SAFETY: as above.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_utime.tv_sec as f64
        + usage.ru_utime.tv_usec as f64 / 1e6
        + usage.ru_stime.tv_sec as f64
        + usage.ru_stime.tv_usec as f64 / 1e6
}

fn median(mut costs: Vec<Cost>) -> Cost {
    costs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    costs[costs.len() / 2]
}

fn bench(runtime: &tokio::runtime::Runtime, a: &Args) {
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("dsctl-simfleet-{}", a.hosts)));
    let built = Instant::now();
    let fleet = runtime.block_on(Fleet::start(a.hosts, &dir));
    eprintln!(
        "simfleet: {} hosts serving on 127.10.0.0/15 port {PORT} ({:.1} s to set up)",
        a.hosts,
        built.elapsed().as_secs_f64()
    );
    let me = std::env::current_exe().expect("self");
    let parallel = a.parallel.to_string();
    let apply = |spec: &Path| {
        let mut cmd = std::process::Command::new(&a.dsctl);
        cmd.arg("apply")
            .arg("-f")
            .arg(spec)
            .arg("-i")
            .arg(&fleet.inventory)
            .args(["--parallel", &parallel]);
        cmd
    };
    let run = |name: &str, cmd: &mut std::process::Command| {
        let sim_before = self_cpu();
        let log_path = dir.join(format!("{}.log", name.replace([' ', '/'], "-")));
        let log = std::fs::File::create(&log_path).expect("log");
        let cost = measure(cmd, log);
        let sim = self_cpu() - sim_before;
        eprintln!(
            "{name}: exit {}, wall {:.2} s, dsctl cpu {:.2} s (user {:.2}, sys {:.2}), peak RSS {:.1} MiB; simulated hosts' cpu {:.2} s",
            cost.code, cost.wall, cost.cpu, cost.user, cost.sys, cost.max_rss_mib, sim
        );
        cost
    };
    let handshake = median(
        (0..a.runs)
            .map(|_| {
                run(
                    "handshake only",
                    std::process::Command::new(&me)
                        .arg("handshake")
                        .arg("--inventory")
                        .arg(&fleet.inventory)
                        .args(["--parallel", &parallel]),
                )
            })
            .collect(),
    );
    let noop = median(
        (0..a.runs)
            .map(|_| run("no-op apply", &mut apply(&fleet.spec_v1)))
            .collect(),
    );
    let rollout = run("rollout v1→v2 (10% waves)", &mut apply(&fleet.spec_v2));
    let behind_v2 = fleet.not_on(&fleet.revisions[1]);
    let back = run("rollout v2→v1 (10% waves)", &mut apply(&fleet.spec_v1));
    let behind_v1 = fleet.not_on(&fleet.revisions[0]);
    let n = a.hosts as f64;
    let ms = |s: f64| s * 1000.0 / n;
    println!(
        "| {} hosts | wall | dsctl CPU | CPU per host | beyond handshake per host | peak RSS |",
        a.hosts
    );
    println!("|---|---|---|---|---|---|");
    for (name, c) in [
        ("handshake only (connect + auth)", handshake),
        ("no-op apply (median)", noop),
        ("rollout v1→v2", rollout),
        ("rollout v2→v1", back),
    ] {
        println!(
            "| {name} | {:.2} s | {:.2} s | {:.3} ms | {:.3} ms | {:.1} MiB |",
            c.wall,
            c.cpu,
            ms(c.cpu),
            ms(c.cpu - handshake.cpu),
            c.max_rss_mib
        );
    }
    if [noop, rollout, back].iter().any(|c| c.code != 0) || handshake.code != 0 {
        eprintln!("simfleet: a run failed");
        std::process::exit(1);
    }
    // A rollout that exits 0 must have converged every host (the simulated hosts' own state).
    if behind_v2 + behind_v1 > 0 {
        eprintln!(
            "simfleet: hosts left behind: {behind_v2} not on v2 after v1→v2, {behind_v1} not on v1 after v2→v1"
        );
        std::process::exit(1);
    }
}
