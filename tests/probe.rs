//! Probes through a fake host: `open_tcp`/`open_tcp_to` give in-memory streams served by tiny
//! in-test HTTP responders (or bridged to real loopback listeners), and `exec` runs the probe
//! script with the real `sh`, `timeout` and `base64` and fake `podman` and `systemctl`, so the
//! quoting, the one-exec-per-round batching and the parsing are all exercised. Time is paused
//! (tokio's virtual clock) wherever no real socket is involved.

use std::collections::HashMap;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dsctl::daemonset::DaemonSet;
use dsctl::probe::{
    Address, NotAvailable, ProbeAction, ProbeEvent, ProbeKind, ProbeResult, ProbeTarget, Shortfall,
    probe_once, wait_available,
};
use dsctl::ssh::{ExecOutput, RemoteHost, SshError, StatsSnapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// The fake host.

type Responder = Arc<dyn Fn(usize, &str) -> (u16, String) + Send + Sync>;

#[derive(Clone)]
enum Route {
    /// An HTTP server: (call number, request) → (status, body).
    Http(Responder),
    /// Accepts the connection and says nothing (a TCP port, or a hung HTTP server).
    Silent,
    /// Sends these bytes, then holds the connection open without a word more.
    Stall(&'static str),
    /// A real listener on this machine's loopback.
    Real(u16),
}

#[derive(Default)]
struct Log {
    scripts: Vec<String>,
    tunnels: Vec<(String, u16)>,
    requests: Vec<String>,
}

struct FakeHost {
    routes: Mutex<HashMap<(String, u16), Route>>,
    calls: Arc<Mutex<HashMap<(String, u16), usize>>>,
    log: Arc<Mutex<Log>>,
    /// Fake `podman` and `systemctl`, first on the scripts' PATH.
    bin: tempfile::TempDir,
    /// What the fakes report: `ip-NAME`, `running-NAME`, `active-UNIT`; also files that exec
    /// probes look at.
    state: tempfile::TempDir,
}

const FAKE_PODMAN: &str = r#"#!/bin/sh
# podman exec NAME ARGV... runs ARGV here; container inspect -f FMT NAME reads the state dir.
case "$1" in
  exec) shift 2; exec "$@" ;;
  container)
    case "$4" in
      *Running*) cat "$DSCTL_FAKE_STATE/running-$5" 2>/dev/null || echo true ;;
      *IPAddress*) cat "$DSCTL_FAKE_STATE/ip-$5" 2>/dev/null || { echo "Error: no such container $5" >&2; exit 125; } ;;
    esac ;;
  *) echo "fake podman: unexpected $*" >&2; exit 125 ;;
esac
"#;

const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
[ "$1" = is-active ] || exit 1
s=$(cat "$DSCTL_FAKE_STATE/active-$2" 2>/dev/null || echo active)
echo "$s"
[ "$s" = active ]
"#;

impl FakeHost {
    fn new() -> FakeHost {
        let bin = tempfile::tempdir().unwrap();
        for (name, text) in [("podman", FAKE_PODMAN), ("systemctl", FAKE_SYSTEMCTL)] {
            let path = bin.path().join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        FakeHost {
            routes: Mutex::default(),
            calls: Arc::default(),
            log: Arc::default(),
            bin,
            state: tempfile::tempdir().unwrap(),
        }
    }

    fn route(&self, host: &str, port: u16, route: Route) -> &Self {
        self.routes
            .lock()
            .unwrap()
            .insert((host.to_string(), port), route);
        self
    }

    fn http(
        &self,
        host: &str,
        port: u16,
        f: impl Fn(usize) -> (u16, &'static str) + Send + Sync + 'static,
    ) -> &Self {
        self.route(
            host,
            port,
            Route::Http(Arc::new(move |n, _| {
                let (status, body) = f(n);
                (status, body.to_string())
            })),
        )
    }

    fn set(&self, file: &str, value: &str) {
        std::fs::write(self.state.path().join(file), value).unwrap();
    }

    fn path(&self, file: &str) -> PathBuf {
        self.state.path().join(file)
    }

    fn execs(&self) -> usize {
        self.log.lock().unwrap().scripts.len()
    }

    fn tunnels(&self) -> Vec<(String, u16)> {
        self.log.lock().unwrap().tunnels.clone()
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().requests.clone()
    }

    fn refused(host: &str, port: u16) -> SshError {
        SshError::Channel {
            host: "node-1".into(),
            what: format!("opening a tunnel to {host}:{port}"),
            source: russh::Error::ChannelOpenFailure(russh::ChannelOpenFailure::ConnectFailed),
        }
    }

    /// Opens a stream as sshd's direct-tcpip would: an error if nothing accepts.
    #[allow(clippy::result_large_err)] // the trait's own error type
    fn open(&self, host: &str, port: u16) -> Result<DuplexStream, SshError> {
        self.log
            .lock()
            .unwrap()
            .tunnels
            .push((host.to_string(), port));
        let route = self
            .routes
            .lock()
            .unwrap()
            .get(&(host.to_string(), port))
            .cloned();
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        match route {
            None => return Err(Self::refused(host, port)),
            Some(Route::Http(respond)) => {
                let n = {
                    let mut calls = self.calls.lock().unwrap();
                    let n = calls.entry((host.to_string(), port)).or_default();
                    *n += 1;
                    *n - 1
                };
                let log = self.log.clone();
                tokio::spawn(serve_http(theirs, n, respond, log));
            }
            Some(Route::Silent) => {
                tokio::spawn(async move {
                    let mut theirs = theirs;
                    let mut sink = Vec::new();
                    let _ = theirs.read_to_end(&mut sink).await;
                });
            }
            Some(Route::Stall(bytes)) => {
                tokio::spawn(async move {
                    let mut theirs = theirs;
                    let _ = theirs.write_all(bytes.as_bytes()).await;
                    let mut sink = Vec::new();
                    let _ = theirs.read_to_end(&mut sink).await;
                });
            }
            Some(Route::Real(real)) => {
                let tcp = std::net::TcpStream::connect(("127.0.0.1", real))
                    .map_err(|_| Self::refused(host, port))?;
                tcp.set_nonblocking(true).unwrap();
                let mut tcp = tokio::net::TcpStream::from_std(tcp).unwrap();
                tokio::spawn(async move {
                    let mut theirs = theirs;
                    let _ = tokio::io::copy_bidirectional(&mut theirs, &mut tcp).await;
                });
            }
        }
        Ok(ours)
    }
}

async fn serve_http(mut stream: DuplexStream, n: usize, respond: Responder, log: Arc<Mutex<Log>>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(k) => request.extend_from_slice(&buf[..k]),
        }
    }
    let request = String::from_utf8_lossy(&request).into_owned();
    let (status, body) = respond(n, &request);
    log.lock().unwrap().requests.push(request);
    let response = format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

impl RemoteHost for FakeHost {
    type Tunnel = DuplexStream;

    fn name(&self) -> &str {
        "node-1"
    }

    /// Runs the script at once (blocking): under paused time the virtual clock stands still
    /// while it runs, as if the host answered instantly.
    fn exec(
        &self,
        script: &str,
        _stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<ExecOutput, SshError>> + Send {
        self.log.lock().unwrap().scripts.push(script.to_string());
        let path = format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("PATH", path)
            .env("DSCTL_FAKE_STATE", self.state.path())
            .env("TMPDIR", self.state.path())
            .output()
            .unwrap();
        let result = Ok(ExecOutput {
            status: out.status.code().unwrap_or(255) as u32,
            signal: None,
            stdout: out.stdout,
            stderr: out.stderr,
        });
        async move { result }
    }

    fn open_tcp(&self, port: u16) -> impl Future<Output = Result<DuplexStream, SshError>> + Send {
        let result = self.open("127.0.0.1", port);
        async move { result }
    }

    fn open_tcp_to(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<DuplexStream, SshError>> + Send {
        let result = self.open(host, port);
        async move { result }
    }

    fn stats(&self) -> StatsSnapshot {
        let log = self.log.lock().unwrap();
        StatsSnapshot {
            connections: 1,
            execs: log.scripts.len() as u32,
            tunnels: log.tunnels.len() as u32,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Specs and helpers.

/// The podman name of `container` in `ds`'s pod (layout.rs).
fn podman_name(ds: &DaemonSet, container: &str) -> String {
    let rev = dsctl::revision::revision(ds);
    dsctl::layout::Instance::new(ds.name(), &rev).container_name(container)
}

/// A DaemonSet `web` with `containers` (TOML under `[[spec.template.spec.containers]]`).
fn ds(min_ready: i64, pod_extra: &str, containers: &str) -> DaemonSet {
    let text = format!(
        r#"
apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "web"
[spec]
minReadySeconds = {min_ready}
[spec.selector.matchLabels]
app = "web"
[spec.template.metadata.labels]
app = "web"
[spec.template.spec]
{pod_extra}
{containers}
"#
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// One container `web` with a named port `http` (80, published on hostPort 8080) and a named
/// port `admin` (9000, not published), plus `probes` (TOML tables of the container).
fn web(min_ready: i64, probes: &str) -> DaemonSet {
    ds(
        min_ready,
        "",
        &format!(
            r#"
[[spec.template.spec.containers]]
name = "web"
image = "nginx"
ports = [
  {{ name = "http", containerPort = 80, hostPort = 8080 }},
  {{ name = "admin", containerPort = 9000 }},
]
{probes}
"#
        ),
    )
}

struct Waited {
    result: Result<(), NotAvailable>,
    elapsed: Duration,
    events: Vec<ProbeEvent>,
}

async fn wait(host: &FakeHost, ds: &DaemonSet, deadline_secs: u64) -> Waited {
    let start = Instant::now();
    let mut events = Vec::new();
    let result = wait_available(host, ds, start + Duration::from_secs(deadline_secs), |e| {
        events.push(e)
    })
    .await;
    Waited {
        result,
        elapsed: start.elapsed(),
        events,
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// When each probe of `kind` ran, in seconds.
fn probe_times(events: &[ProbeEvent], kind: ProbeKind) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            ProbeEvent::Probed { kind: k, at, .. } if *k == kind => Some(at.as_secs()),
            _ => None,
        })
        .collect()
}

fn milestones(events: &[ProbeEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ProbeEvent::Ready { at } => Some(format!("ready@{}", at.as_secs())),
            ProbeEvent::NotReady { at } => Some(format!("notready@{}", at.as_secs())),
            ProbeEvent::Available { at } => Some(format!("available@{}", at.as_secs())),
            _ => None,
        })
        .collect()
}

fn ok(_: usize) -> (u16, &'static str) {
    (200, "ok")
}

// ---------------------------------------------------------------------------------------------
// wait_available.

#[tokio::test(start_paused = true)]
async fn http_200_on_a_host_port_is_available_with_no_exec() {
    let host = FakeHost::new();
    host.http("127.0.0.1", 8080, ok);
    let ds = web(
        0,
        "readinessProbe = { httpGet = { path = \"/healthz\", port = 80 } }",
    );
    let w = wait(&host, &ds, 60).await;
    assert_eq!(w.result, Ok(()));
    assert_eq!(w.elapsed, Duration::ZERO);
    assert_eq!(milestones(&w.events), ["ready@0", "available@0"]);
    assert_eq!(host.execs(), 0, "a hostPort probe needs no exec");
    assert_eq!(host.tunnels(), [("127.0.0.1".to_string(), 8080)]);
    let request = &host.requests()[0];
    assert!(
        request.starts_with("GET /healthz HTTP/1.1\r\n"),
        "{request}"
    );
    for header in [
        "Host: 127.0.0.1:8080\r\n",
        "User-Agent: dsctl-probe\r\n",
        "Connection: close\r\n",
    ] {
        assert!(request.contains(header), "{header:?} missing in {request}");
    }
}

/// The rollout driver runs one wait per host in its own task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_can_run_in_a_spawned_task() {
    let host = Arc::new(FakeHost::new());
    host.http("127.0.0.1", 8080, ok);
    let ds = web(0, "readinessProbe = { httpGet = { port = 80 } }");
    let task = {
        let host = host.clone();
        tokio::spawn(async move {
            let mut events = 0;
            let result =
                wait_available(&*host, &ds, Instant::now() + secs(10), |_| events += 1).await;
            (result, events)
        })
    };
    let (result, events) = task.await.unwrap();
    assert_eq!(result, Ok(()));
    assert_eq!(events, 4, "probed, changed, ready, available");
}

#[tokio::test(start_paused = true)]
async fn http_404_halts_at_the_deadline_naming_the_status_and_body() {
    let host = FakeHost::new();
    host.http("127.0.0.1", 8080, |_| (404, "Not Found"));
    let ds = web(
        0,
        "readinessProbe = { httpGet = { path = \"/healthz\", port = \"http\" }, periodSeconds = 2 }",
    );
    let w = wait(&host, &ds, 7).await;
    let err = w.result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "container web: readiness probe httpGet :8080/healthz failed 4 times: HTTP 404, body: 'Not Found'"
    );
    assert_eq!(err.shortfall, Shortfall::Failing { failures: 4 });
    assert_eq!(err.last_output, "HTTP 404, body: 'Not Found'");
    assert_eq!(probe_times(&w.events, ProbeKind::Readiness), [0, 2, 4, 6]);
    assert_eq!(w.elapsed, secs(7), "gives up at the deadline, not before");
}

#[tokio::test(start_paused = true)]
async fn a_named_port_without_host_port_goes_to_the_container_ip_looked_up_once() {
    let host = FakeHost::new();
    host.http("10.88.0.7", 9000, ok);
    let ds = web(
        0,
        "readinessProbe = { httpGet = { port = \"admin\" }, periodSeconds = 1, successThreshold = 3 }",
    );
    host.set(&format!("ip-{}", podman_name(&ds, "web")), "\n 10.88.0.7\n");
    let w = wait(&host, &ds, 60).await;
    assert_eq!(w.result, Ok(()));
    assert_eq!(w.elapsed, secs(2));
    assert_eq!(host.execs(), 1, "the IP is looked up once");
    assert_eq!(host.tunnels(), vec![("10.88.0.7".to_string(), 9000); 3]);
    assert!(host.requests()[0].contains("Host: 10.88.0.7:9000\r\n"));
}

#[tokio::test(start_paused = true)]
async fn a_container_ip_that_stops_answering_is_looked_up_again() {
    let host = FakeHost::new();
    // The old address refuses (no route); the container came back at another one.
    host.http("10.88.0.8", 9000, ok);
    let ds = web(
        0,
        "readinessProbe = { tcpSocket = { port = 9000 }, periodSeconds = 1 }",
    );
    let ip_key = format!("ip-{}", podman_name(&ds, "web"));
    host.set(&ip_key, "10.88.0.7");
    let flip = {
        let path = host.path(&ip_key);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            std::fs::write(path, "10.88.0.8").unwrap();
        })
    };
    let w = wait(&host, &ds, 60).await;
    flip.await.unwrap();
    assert_eq!(w.result, Ok(()));
    assert_eq!(w.elapsed, secs(1));
    assert_eq!(host.execs(), 2);
    assert_eq!(
        host.tunnels(),
        [
            ("10.88.0.7".to_string(), 9000),
            ("10.88.0.8".to_string(), 9000)
        ]
    );
    let ProbeEvent::Probed { result, .. } = &w.events[0] else {
        panic!("{:?}", w.events)
    };
    assert_eq!(
        result,
        &ProbeResult::Failure(
            "10.88.0.7:9000: connection refused (nothing accepts connections there, as seen from the host)".into()
        )
    );
}

#[tokio::test(start_paused = true)]
async fn an_unknown_port_name_or_https_fails_at_once() {
    let host = FakeHost::new();
    for (probe, want) in [
        (
            "readinessProbe = { httpGet = { port = \"metrics\" } }",
            "container web: readiness probe cannot run: port \"metrics\" is not one of the container's named ports (http, admin)",
        ),
        (
            "livenessProbe = { httpGet = { port = 80, scheme = \"HTTPS\" } }",
            "container web: liveness probe cannot run: httpGet scheme HTTPS is not supported over the SSH tunnel yet; use scheme HTTP, tcpSocket, or an exec probe",
        ),
    ] {
        let w = wait(&host, &web(0, probe), 60).await;
        let err = w.result.unwrap_err();
        assert_eq!(err.to_string(), want);
        assert_eq!(err.shortfall, Shortfall::Unprobeable);
        assert_eq!(w.elapsed, Duration::ZERO);
    }
    assert_eq!(host.execs() + host.tunnels().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_exec_readiness_probe_becomes_ready_when_its_command_succeeds() {
    let host = FakeHost::new();
    let ready = host.path("ready");
    let ds = web(
        0,
        &format!(
            "readinessProbe = {{ exec = {{ command = [\"test\", \"-f\", {:?}] }}, periodSeconds = 1 }}",
            ready.display().to_string()
        ),
    );
    let flip = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        std::fs::write(ready, "").unwrap();
    });
    let w = wait(&host, &ds, 60).await;
    flip.await.unwrap();
    assert_eq!(w.result, Ok(()));
    assert_eq!(probe_times(&w.events, ProbeKind::Readiness), [0, 1, 2, 3]);
    assert_eq!(host.execs(), 4, "one exec per round");
    assert!(host.scripts_contain(&format!(
        "podman exec '{}' 'test' '-f'",
        podman_name(&ds, "web")
    )));
}

impl FakeHost {
    fn scripts_contain(&self, text: &str) -> bool {
        self.log
            .lock()
            .unwrap()
            .scripts
            .iter()
            .all(|s| s.contains(text))
    }
}

#[tokio::test(start_paused = true)]
async fn success_threshold_two_needs_two_successes_in_a_row() {
    let host = FakeHost::new();
    // ok, fail, ok, ok: ready only after the fourth probe.
    host.http("127.0.0.1", 8080, |n| {
        if n == 1 { (500, "flap") } else { (200, "ok") }
    });
    let ds = web(
        0,
        "readinessProbe = { httpGet = { port = 80 }, periodSeconds = 3, successThreshold = 2 }",
    );
    let w = wait(&host, &ds, 60).await;
    assert_eq!(w.result, Ok(()));
    assert_eq!(probe_times(&w.events, ProbeKind::Readiness), [0, 3, 6, 9]);
    assert_eq!(milestones(&w.events), ["ready@9", "available@9"]);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_before_the_success_threshold_says_how_far_it_got() {
    let host = FakeHost::new();
    host.http("127.0.0.1", 8080, |n| {
        if n == 0 {
            (503, "warming up")
        } else {
            (200, "ok")
        }
    });
    let ds = web(
        0,
        "readinessProbe = { httpGet = { port = 80 }, periodSeconds = 1, successThreshold = 5 }",
    );
    let err = wait(&host, &ds, 3).await.result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "container web: readiness probe httpGet :8080/ succeeded 2 times in a row, successThreshold is 5; \
         last failure: HTTP 503, body: 'warming up'"
    );
}

#[tokio::test(start_paused = true)]
async fn liveness_reaching_its_failure_threshold_fails_the_wait_at_once() {
    let host = FakeHost::new();
    host.http("127.0.0.1", 8080, ok);
    let ds = web(
        30,
        r#"readinessProbe = { httpGet = { port = 80 }, periodSeconds = 1 }
livenessProbe = { exec = { command = ["sh", "-c", "echo database unreachable >&2; exit 2"] }, periodSeconds = 2, failureThreshold = 3 }"#,
    );
    let w = wait(&host, &ds, 60).await;
    let err = w.result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "container web: liveness probe exec [sh -c echo database unreachable >&2; exit 2] failed 3 times \
         (failureThreshold): exit 2: database unreachable"
    );
    assert_eq!(err.probe_kind, ProbeKind::Liveness);
    assert_eq!(err.shortfall, Shortfall::Failed { failures: 3 });
    assert_eq!(w.elapsed, secs(4));
    assert_eq!(probe_times(&w.events, ProbeKind::Liveness), [0, 2, 4]);
}

#[tokio::test(start_paused = true)]
async fn min_ready_seconds_needs_readiness_held_without_a_break() {
    let host = FakeHost::new();
    // Ready at 0 and 1, a failure at 2, ready again from 3: available at 3 + 3.
    host.http("127.0.0.1", 8080, |n| {
        if n == 2 { (500, "") } else { (200, "") }
    });
    let ds = web(
        3,
        "readinessProbe = { httpGet = { port = 80 }, periodSeconds = 1, failureThreshold = 1 }",
    );
    let w = wait(&host, &ds, 60).await;
    assert_eq!(w.result, Ok(()));
    assert_eq!(
        milestones(&w.events),
        ["ready@0", "notready@2", "ready@3", "available@6"]
    );
    assert_eq!(w.elapsed, secs(6));
}

#[tokio::test(start_paused = true)]
async fn min_ready_seconds_is_waited_for_between_probes() {
    let host = FakeHost::new();
    host.http("127.0.0.1", 8080, ok);
    // A long period: availability does not wait for the next probe.
    let ds = web(
        5,
        "readinessProbe = { httpGet = { port = 80 }, periodSeconds = 60 }",
    );
    let w = wait(&host, &ds, 100).await;
    assert_eq!(w.result, Ok(()));
    assert_eq!(w.elapsed, secs(5));
    assert_eq!(host.tunnels().len(), 1);

    let err = wait(
        &host,
        &web(30, "readinessProbe = { httpGet = { port = 80 } }"),
        4,
    )
    .await
    .result
    .unwrap_err();
    assert_eq!(err.to_string(), "ready for 4s, but minReadySeconds is 30");
    assert_eq!(err.container, None);
}

#[tokio::test(start_paused = true)]
async fn a_probe_still_in_its_initial_delay_at_the_deadline_has_not_run() {
    let host = FakeHost::new();
    host.http("127.0.0.1", 8080, ok);
    let ds = web(
        0,
        "readinessProbe = { httpGet = { port = 80 }, initialDelaySeconds = 30 }",
    );
    let w = wait(&host, &ds, 10).await;
    assert_eq!(
        w.result.unwrap_err().to_string(),
        "container web: readiness probe httpGet :8080/ had not run yet"
    );
    assert_eq!(w.elapsed, secs(10));
    assert!(host.tunnels().is_empty());
}

#[tokio::test(start_paused = true)]
async fn without_readiness_probe_the_unit_and_container_decide_in_one_exec() {
    let host = FakeHost::new();
    let name = podman_name(&web(0, ""), "web");
    let w = wait(&host, &web(0, ""), 60).await;
    assert_eq!(w.result, Ok(()));
    assert_eq!(host.execs(), 1);
    assert!(host.scripts_contain(&format!("systemctl is-active '{name}.service'")));
    assert!(host.scripts_contain(&format!(
        "podman container inspect -f '{{{{.State.Running}}}}' '{name}'"
    )));

    let host = FakeHost::new();
    host.set(&format!("active-{name}.service"), "failed");
    host.set(&format!("running-{name}"), "false");
    let w = wait(&host, &web(0, ""), 3).await;
    assert_eq!(
        w.result.unwrap_err().to_string(),
        format!(
            "container web: readiness probe {name}.service active and container running failed 3 times: \
             unit {name}.service is failed; container: not running"
        )
    );
    assert_eq!(host.execs(), 3, "checked every second");
}

#[tokio::test(start_paused = true)]
async fn the_startup_probe_gates_readiness_and_liveness() {
    let host = FakeHost::new();
    host.http("127.0.0.1", 8080, ok);
    let started = host.path("started");
    let ds = web(
        0,
        &format!(
            r#"startupProbe = {{ exec = {{ command = ["test", "-f", {:?}] }}, periodSeconds = 2, failureThreshold = 10 }}
readinessProbe = {{ httpGet = {{ port = 80 }}, periodSeconds = 1 }}
livenessProbe = {{ tcpSocket = {{ port = 80 }}, initialDelaySeconds = 1 }}"#,
            started.display().to_string()
        ),
    );
    let flip = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        std::fs::write(started, "").unwrap();
    });
    let w = wait(&host, &ds, 60).await;
    flip.await.unwrap();
    assert_eq!(w.result, Ok(()));
    assert_eq!(probe_times(&w.events, ProbeKind::Startup), [0, 2, 4]);
    // Right after the startup probe succeeded; liveness too, its initial delay being over.
    assert_eq!(probe_times(&w.events, ProbeKind::Readiness), [4]);
    assert_eq!(probe_times(&w.events, ProbeKind::Liveness), [4]);
    assert_eq!(milestones(&w.events), ["ready@4", "available@4"]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_startup_probe_fails_the_wait() {
    let host = FakeHost::new();
    let ds = web(
        0,
        "startupProbe = { exec = { command = [\"false\"] }, periodSeconds = 1, failureThreshold = 2 }",
    );
    let w = wait(&host, &ds, 60).await;
    assert_eq!(
        w.result.unwrap_err().to_string(),
        "container web: startup probe exec [false] failed 2 times (failureThreshold): exit 1"
    );
    assert_eq!(w.elapsed, secs(1));
}

#[tokio::test(start_paused = true)]
async fn all_containers_share_one_exec_per_round_and_all_must_be_ready() {
    let host = FakeHost::new();
    host.route("127.0.0.1", 9100, Route::Silent);
    let flag = host.path("sidecar-ready");
    let ds = ds(
        0,
        "hostNetwork = true",
        &format!(
            r#"
[[spec.template.spec.containers]]
name = "agent"
image = "agent"
readinessProbe = {{ exec = {{ command = ["true"] }}, periodSeconds = 1 }}
livenessProbe = {{ tcpSocket = {{ port = 9100 }}, periodSeconds = 1 }}
[[spec.template.spec.containers]]
name = "sidecar"
image = "sidecar"
readinessProbe = {{ exec = {{ command = ["test", "-f", {:?}] }}, periodSeconds = 1 }}
"#,
            flag.display().to_string()
        ),
    );
    let flip = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        std::fs::write(flag, "").unwrap();
    });
    let w = wait(&host, &ds, 60).await;
    flip.await.unwrap();
    assert_eq!(w.result, Ok(()));
    assert_eq!(w.elapsed, secs(2));
    assert_eq!(
        host.execs(),
        3,
        "rounds at 0, 1 and 2: one exec each for both containers"
    );
    assert!(host.scripts_contain(&format!(
        "podman exec '{}' 'true'",
        podman_name(&ds, "agent")
    )));
    assert!(host.scripts_contain(&format!(
        "podman exec '{}' 'test' '-f'",
        podman_name(&ds, "sidecar")
    )));
    // hostNetwork: the tcpSocket liveness probe goes to the host's loopback.
    assert_eq!(host.tunnels(), vec![("127.0.0.1".to_string(), 9100); 3]);
}

// ---------------------------------------------------------------------------------------------
// probe_once.

fn target(action: ProbeAction) -> ProbeTarget {
    ProbeTarget {
        container: "web".into(),
        podman_name: "dsctl-web-web".into(),
        unit: "dsctl-web-web.service".into(),
        action,
    }
}

fn tcp(address: Address, port: u16) -> ProbeTarget {
    target(ProbeAction::TcpSocket { address, port })
}

#[tokio::test]
async fn tcp_probes_need_the_far_end_to_accept() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let host = FakeHost::new();
    host.route("127.0.0.1", 5432, Route::Real(open));
    host.route("127.0.0.1", 5433, Route::Real(closed));
    let accept = tokio::spawn(async move { listener.accept().await.is_ok() });
    assert_eq!(
        probe_once(&host, &tcp(Address::Loopback, 5432), secs(1)).await,
        ProbeResult::Success
    );
    assert!(accept.await.unwrap(), "the listener saw the connection");
    assert_eq!(
        probe_once(&host, &tcp(Address::Loopback, 5433), secs(1)).await,
        ProbeResult::Failure(
            "127.0.0.1:5433: connection refused (nothing accepts connections there, as seen from the host)".into()
        )
    );
    assert_eq!(host.execs(), 0);
}

#[tokio::test]
async fn http_probes_reach_a_real_server_through_the_tunnel() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        for status in ["204 No Content", "301 Moved", "500 Internal Server Error"] {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let body = "x".repeat(if status.starts_with('5') { 1000 } else { 0 });
            let response = format!("HTTP/1.0 {status}\r\n\r\n{body}");
            let _ = tcp.write_all(response.as_bytes()).await;
        }
    });
    let host = FakeHost::new();
    host.route("10.1.2.3", 80, Route::Real(port));
    let get = target(ProbeAction::HttpGet {
        address: Address::Ip("10.1.2.3".into()),
        port: 80,
        path: "/".into(),
        headers: vec![("X-Probe".into(), "yes".into())],
    });
    assert_eq!(probe_once(&host, &get, secs(2)).await, ProbeResult::Success);
    assert_eq!(
        probe_once(&host, &get, secs(2)).await,
        ProbeResult::Success,
        "3xx counts"
    );
    assert_eq!(
        probe_once(&host, &get, secs(2)).await,
        ProbeResult::Failure(format!("HTTP 500, body: '{}…'", "x".repeat(200)))
    );
    server.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out_after_timeout_seconds() {
    let host = FakeHost::new();
    host.route("127.0.0.1", 8080, Route::Silent);
    let get = target(ProbeAction::HttpGet {
        address: Address::Loopback,
        port: 8080,
        path: "/healthz".into(),
        headers: vec![],
    });
    let start = Instant::now();
    assert_eq!(
        probe_once(&host, &get, secs(3)).await,
        ProbeResult::Failure("127.0.0.1:8080: timed out after 3s waiting for the response".into())
    );
    assert_eq!(start.elapsed(), secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_failing_server_that_keeps_the_connection_open_is_judged_by_its_status() {
    let host = FakeHost::new();
    host.route(
        "127.0.0.1",
        8080,
        Route::Stall("HTTP/1.1 503 Busy\r\n\r\nwarming up"),
    );
    host.route(
        "127.0.0.1",
        8081,
        Route::Stall("HTTP/1.1 200 OK\r\nServer: x"),
    );
    let get = |port| {
        target(ProbeAction::HttpGet {
            address: Address::Loopback,
            port,
            path: "/".into(),
            headers: vec![],
        })
    };
    assert_eq!(
        probe_once(&host, &get(8080), secs(2)).await,
        ProbeResult::Failure("HTTP 503, body: 'warming up'".into())
    );
    // Headers that never end are a timeout, whatever the status line said.
    assert_eq!(
        probe_once(&host, &get(8081), secs(2)).await,
        ProbeResult::Failure("127.0.0.1:8081: timed out after 2s waiting for the response".into())
    );
}

#[tokio::test]
async fn exec_probes_report_exit_code_and_output() {
    let host = FakeHost::new();
    let exec = |argv: &[&str]| {
        target(ProbeAction::Exec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
        })
    };
    assert_eq!(
        probe_once(&host, &exec(&["true"]), secs(1)).await,
        ProbeResult::Success
    );
    assert_eq!(
        probe_once(
            &host,
            &exec(&["sh", "-c", "echo \"not ready: $0\"; exit 3", "it's"]),
            secs(1)
        )
        .await,
        ProbeResult::Failure("exit 3: not ready: it's".into())
    );
    let started = std::time::Instant::now();
    assert_eq!(
        probe_once(&host, &exec(&["sleep", "10"]), secs(1)).await,
        ProbeResult::Failure("timed out after 1s".into())
    );
    assert!(started.elapsed() < secs(5), "timeout runs on the host");
    assert_eq!(host.execs(), 3);
    assert_eq!(host.tunnels().len(), 0);
}

#[tokio::test]
async fn a_container_ip_probe_looks_the_address_up_first() {
    let host = FakeHost::new();
    host.set("ip-dsctl-web-web", "10.88.0.3");
    host.http("10.88.0.3", 9000, ok);
    assert_eq!(
        probe_once(&host, &tcp(Address::ContainerIp, 9000), secs(1)).await,
        ProbeResult::Success
    );
    // Not running: podman knows no such container.
    let gone = FakeHost::new();
    assert_eq!(
        probe_once(&gone, &tcp(Address::ContainerIp, 9000), secs(1)).await,
        ProbeResult::Failure(
            "cannot look up the container's IP address: Error: no such container dsctl-web-web"
                .into()
        )
    );
    assert!(gone.tunnels().is_empty());
}

// ---------------------------------------------------------------------------------------------
// A real OpenSSH sshd.

/// HTTP and TCP probes through dsctl's own SSH session to a real sshd (by hand, or on the test
/// fleet), against a throwaway `python3 -m http.server` started on the host's loopback:
///
/// ```text
/// DSCTL_INTEROP_SSHD=10.213.0.2:22 DSCTL_INTEROP_KEY=~/.ssh/id_ed25519 [DSCTL_INTEROP_USER=root] \
///   cargo test --test probe -- --ignored real_sshd
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real sshd: set DSCTL_INTEROP_SSHD and DSCTL_INTEROP_KEY"]
async fn probes_through_a_real_sshd() {
    let addr = std::env::var("DSCTL_INTEROP_SSHD").expect("DSCTL_INTEROP_SSHD=host:port");
    let key = std::env::var("DSCTL_INTEROP_KEY").expect("DSCTL_INTEROP_KEY=private key path");
    let user = std::env::var("DSCTL_INTEROP_USER").unwrap_or_else(|_| "root".into());
    let (hostname, port) = addr.rsplit_once(':').expect("host:port");
    let dir = tempfile::tempdir().unwrap();
    let target_host = dsctl::ssh_config::ResolvedHost {
        name: "interop".into(),
        hostname: hostname.into(),
        port: port.parse().unwrap(),
        user,
        identity_files: vec![dsctl::ssh_config::expand_tilde(
            &key,
            std::path::Path::new(&std::env::var("HOME").unwrap_or_default()),
        )],
        known_hosts: vec![dir.path().join("known_hosts")],
        host_key_name: hostname.into(),
        agent_socket: None,
        jump: None,
        connect_timeout: Some(Duration::from_secs(10)),
        server_alive_interval: None,
        notes: Vec::new(),
    };
    let options = dsctl::ssh::ConnectOptions {
        accept_new_host_keys: true,
        ..Default::default()
    };
    let session = dsctl::ssh::connect(&target_host, &options).await.unwrap();

    // Two free ports on the host: one gets an HTTP server, the other stays closed.
    let free = "python3 -c 'import socket\nfor _ in (1, 2):\n s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'";
    let ports = session.exec(free, None).await.unwrap().stdout_lossy();
    let ports: Vec<u16> = ports
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let (open, closed) = (ports[0], ports[1]);
    let start = format!(
        "cd /tmp && setsid timeout 60 python3 -m http.server --bind 127.0.0.1 {open} \
         >/dev/null 2>&1 </dev/null & echo $!; \
         for _ in $(seq 50); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {open}))' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
    );
    let started = session.exec(&start, None).await.unwrap();
    assert!(started.success(), "{}", started.stderr_lossy());
    let pid = started.stdout_lossy().trim().to_string();

    let get = |address: Address, port: u16, path: &str| {
        target(ProbeAction::HttpGet {
            address,
            port,
            path: path.into(),
            headers: vec![],
        })
    };
    let t = secs(2);
    assert_eq!(
        probe_once(&session, &tcp(Address::Loopback, open), t).await,
        ProbeResult::Success
    );
    assert_eq!(
        probe_once(&session, &get(Address::Loopback, open, "/"), t).await,
        ProbeResult::Success
    );
    assert_eq!(
        probe_once(
            &session,
            &get(Address::Ip("127.0.0.1".into()), open, "/"),
            t
        )
        .await,
        ProbeResult::Success,
        "open_tcp_to"
    );
    let ProbeResult::Failure(missing) =
        probe_once(&session, &get(Address::Loopback, open, "/no-such-file"), t).await
    else {
        panic!("a 404 succeeded");
    };
    assert!(missing.starts_with("HTTP 404, body: "), "{missing}");
    // sshd reports a refused connect as a channel open failure, not as an open channel.
    assert_eq!(
        probe_once(&session, &tcp(Address::Loopback, closed), t).await,
        ProbeResult::Failure(format!(
            "127.0.0.1:{closed}: connection refused (nothing accepts connections there, as seen from the host)"
        ))
    );
    assert!(session.stats().tunnels >= 5);
    let _ = session.exec(&format!("kill {pid}"), None).await;
    session.close().await;
}
