//! The prober's shell: runs probes over a [`RemoteHost`] and waits for an instance to become
//! available.
//!
//! Round trips stay few: in each round, every host-side check that is due (exec probes, the
//! no-probe unit check, container-IP lookups) shares ONE exec, while HTTP and TCP probes open a
//! direct-tcpip channel each, in parallel with it, and need no exec at all when they reach a
//! hostPort or hostNetwork port. A container's IP is looked up once and again only after a
//! probe could not connect to it (the container may have restarted with another address).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::daemonset::DaemonSet;
use crate::probe::http;
use crate::probe::script::{self, CheckOutput, HostCheck};
use crate::probe::target::{self, Address, ProbeAction, ProbeTarget, bracket};
use crate::probe::tracker::{
    Availability, ContainerProbes, ProbeKind, ProbeResult, ProbeState, ProbeTracker, Streak, Timing,
};
use crate::ssh::{RemoteHost, SshError};

/// Seconds an exec round may take beyond its slowest check before dsctl stops waiting.
const EXEC_GRACE: Duration = Duration::from_secs(5);

/// Runs one probe now. An HTTP or TCP probe to the container's IP looks the IP up first (one
/// exec); every other probe is one exec or one tunnel.
pub async fn probe_once<R: RemoteHost>(
    remote: &R,
    target: &ProbeTarget,
    timeout: Duration,
) -> ProbeResult {
    match &target.action {
        ProbeAction::HttpGet { address, .. } | ProbeAction::TcpSocket { address, .. } => {
            let ip = if *address == Address::ContainerIp {
                let lookup = HostCheck::ContainerIp {
                    podman_name: target.podman_name.clone(),
                };
                match run_checks(remote, &[lookup]).await.remove(0) {
                    Ok(out) => match script::container_ip(&out) {
                        Ok(ip) => Some(ip),
                        Err(e) => return ProbeResult::Failure(e),
                    },
                    Err(e) => return ProbeResult::Failure(e),
                }
            } else {
                None
            };
            tunnel_probe(remote, &target.action, ip.as_deref(), timeout)
                .await
                .result
        }
        ProbeAction::Exec { .. } | ProbeAction::Running => {
            let check = host_check(target, timeout).expect("exec and running are host checks");
            let out = run_checks(remote, &[check]).await.remove(0);
            host_result(target, timeout, out)
        }
    }
}

/// What [`wait_available`] reports as it goes (for progress views and logs).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum ProbeEvent {
    /// One probe ran; `at` is when it started, from the start of the wait.
    Probed {
        container: String,
        kind: ProbeKind,
        probe: String,
        at: Duration,
        result: ProbeResult,
    },
    /// A probe's verdict changed.
    Changed {
        container: String,
        kind: ProbeKind,
        state: ProbeState,
    },
    /// Every container is ready; available once this holds for minReadySeconds.
    Ready {
        at: Duration,
    },
    /// A container stopped being ready: minReadySeconds starts again.
    NotReady {
        at: Duration,
    },
    Available {
        at: Duration,
    },
}

/// Why an instance is not available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Shortfall {
    /// A liveness or startup probe reached failureThreshold: the container would be restarted.
    Failed { failures: u32 },
    /// Still failing when the deadline passed.
    Failing { failures: u32 },
    /// Succeeding, but fewer times in a row than successThreshold when the deadline passed.
    TooFewSuccesses { successes: u32, needed: u32 },
    /// The probe had not run when the deadline passed (initialDelaySeconds).
    NotRunYet,
    /// Ready, but not yet for minReadySeconds when the deadline passed.
    NotHeldLongEnough {
        ready_for_secs: u64,
        min_ready_seconds: u64,
    },
    /// The probe cannot run as written (an unknown port name, HTTPS …).
    Unprobeable,
}

/// An instance that did not become available: which probe of which container, and its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct NotAvailable {
    /// `None` when every container is ready and only minReadySeconds is missing.
    pub container: Option<String>,
    pub probe_kind: ProbeKind,
    /// The probe as messages name it (`httpGet :8080/healthz`).
    pub probe: String,
    pub shortfall: Shortfall,
    /// The last failure's output (empty if the probe never failed).
    pub last_output: String,
}

fn times(n: u32) -> String {
    if n == 1 {
        "1 time".into()
    } else {
        format!("{n} times")
    }
}

impl std::fmt::Display for NotAvailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(container) = &self.container {
            write!(f, "container {container}: ")?;
        }
        let (kind, probe, out) = (self.probe_kind, &self.probe, &self.last_output);
        match &self.shortfall {
            Shortfall::Failed { failures } => write!(
                f,
                "{kind} {probe} failed {} (failureThreshold): {out}",
                times(*failures)
            ),
            Shortfall::Failing { failures } => {
                write!(f, "{kind} {probe} failed {}: {out}", times(*failures))
            }
            Shortfall::TooFewSuccesses { successes, needed } => {
                write!(
                    f,
                    "{kind} {probe} succeeded {} in a row, successThreshold is {needed}",
                    times(*successes)
                )?;
                if !out.is_empty() {
                    write!(f, "; last failure: {out}")?;
                }
                Ok(())
            }
            Shortfall::NotRunYet => write!(f, "{kind} {probe} had not run yet"),
            Shortfall::NotHeldLongEnough {
                ready_for_secs,
                min_ready_seconds,
            } => write!(
                f,
                "ready for {ready_for_secs}s, but minReadySeconds is {min_ready_seconds}"
            ),
            Shortfall::Unprobeable => write!(f, "{kind} cannot run: {out}"),
        }
    }
}

/// One container being watched.
struct Watched {
    name: String,
    podman_name: String,
    startup: Option<ProbeTarget>,
    /// The readinessProbe, or the unit-and-container check without one.
    readiness: ProbeTarget,
    liveness: Option<ProbeTarget>,
    probes: ContainerProbes,
    /// The container's IP, once looked up.
    ip: Option<String>,
}

impl Watched {
    fn target(&self, kind: ProbeKind) -> &ProbeTarget {
        match kind {
            ProbeKind::Startup => self.startup.as_ref(),
            ProbeKind::Readiness => Some(&self.readiness),
            ProbeKind::Liveness => self.liveness.as_ref(),
        }
        .expect("only configured probes are due")
    }

    fn tracker(&self, kind: ProbeKind) -> &ProbeTracker {
        self.probes
            .tracker(kind)
            .expect("only configured probes are tracked")
    }
}

fn watch(ds: &DaemonSet) -> Result<Vec<Watched>, NotAvailable> {
    let mut watched = Vec::new();
    for c in &ds.pod_spec().containers {
        let resolve = |kind: ProbeKind, probe: &Option<crate::daemonset::Probe>| {
            probe
                .as_ref()
                .map(|p| {
                    target::resolve(ds, c, p)
                        .map(|t| (t, Timing::of(p)))
                        .map_err(|e| NotAvailable {
                            container: Some(c.name.clone()),
                            probe_kind: kind,
                            probe: String::new(),
                            shortfall: Shortfall::Unprobeable,
                            last_output: e.to_string(),
                        })
                })
                .transpose()
        };
        let startup = resolve(ProbeKind::Startup, &c.startup_probe)?;
        let readiness = resolve(ProbeKind::Readiness, &c.readiness_probe)?
            .unwrap_or_else(|| (target::running_check(ds, c), Timing::running_check()));
        let liveness = resolve(ProbeKind::Liveness, &c.liveness_probe)?;
        let probes = ContainerProbes::new(
            startup.as_ref().map(|s| s.1),
            readiness.1,
            liveness.as_ref().map(|l| l.1),
        );
        watched.push(Watched {
            name: c.name.clone(),
            podman_name: readiness.0.podman_name.clone(),
            startup: startup.map(|s| s.0),
            readiness: readiness.0,
            liveness: liveness.map(|l| l.0),
            probes,
            ip: None,
        });
    }
    Ok(watched)
}

/// Waits until every container of `ds` on `remote` is ready and has stayed ready for
/// spec.minReadySeconds, running each container's startup, readiness and liveness probes on
/// their schedules (time counts from this call, which the caller makes right after starting
/// the new instance). A liveness or startup probe reaching failureThreshold fails the wait at
/// once; otherwise it fails when `deadline` passes, naming the probe that was short.
pub async fn wait_available<R: RemoteHost>(
    remote: &R,
    ds: &DaemonSet,
    deadline: Instant,
    mut on_event: impl FnMut(ProbeEvent),
) -> Result<(), NotAvailable> {
    let start = Instant::now();
    let mut watched = watch(ds)?;
    let mut availability = Availability::new(ds.spec.min_ready_seconds);
    let mut was_ready = false;
    loop {
        let now = start.elapsed();
        if availability.is_available(now) {
            on_event(ProbeEvent::Available { at: now });
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(shortfall(&watched, &availability, now));
        }
        let due: Vec<(usize, ProbeKind)> = watched
            .iter()
            .enumerate()
            .flat_map(|(i, w)| w.probes.due(now).into_iter().map(move |k| (i, k)))
            .collect();
        if due.is_empty() {
            let next = watched
                .iter()
                .filter_map(|w| w.probes.next_due())
                .chain(availability.available_at())
                .min();
            let wake = next.map_or(deadline, |d| (start + d).min(deadline));
            tokio::time::sleep_until(wake).await;
            continue;
        }
        let results = round(remote, &mut watched, &due).await;
        for ((i, kind), result) in due.iter().copied().zip(results) {
            let w = &mut watched[i];
            on_event(ProbeEvent::Probed {
                container: w.name.clone(),
                kind,
                probe: w.target(kind).describe(),
                at: now,
                result: result.clone(),
            });
            if let Some(state) = w.probes.observe(kind, now, &result) {
                on_event(ProbeEvent::Changed {
                    container: w.name.clone(),
                    kind,
                    state,
                });
            }
        }
        if let Some(w) = watched.iter().find(|w| w.probes.failed().is_some()) {
            let tracker = w.probes.failed().expect("found above");
            let failures = match tracker.streak() {
                Streak::Failures(n) => n,
                _ => tracker.timing().failure_threshold,
            };
            return Err(NotAvailable {
                container: Some(w.name.clone()),
                probe_kind: tracker.kind(),
                probe: w.target(tracker.kind()).describe(),
                shortfall: Shortfall::Failed { failures },
                last_output: tracker.last_failure().unwrap_or_default().to_string(),
            });
        }
        let ready = watched.iter().all(|w| w.probes.is_ready());
        availability.observe(now, ready);
        if ready != was_ready {
            on_event(if ready {
                ProbeEvent::Ready { at: now }
            } else {
                ProbeEvent::NotReady { at: now }
            });
            was_ready = ready;
        }
    }
}

/// Whether every container of `ds` is ready now: ONE round of their readiness probes (the
/// unit-and-container check without one), the host-side ones sharing one exec, with no
/// waiting for periodSeconds or thresholds. For an instance that has been running (a host in
/// sync), before a rollout counts it available.
pub async fn ready_now<R: RemoteHost>(remote: &R, ds: &DaemonSet) -> Result<(), String> {
    let mut watched = watch(ds).map_err(|e| e.to_string())?;
    let due: Vec<(usize, ProbeKind)> = (0..watched.len())
        .map(|i| (i, ProbeKind::Readiness))
        .collect();
    let results = round(remote, &mut watched, &due).await;
    for (w, result) in watched.iter().zip(results) {
        if let ProbeResult::Failure(e) = result {
            return Err(format!(
                "container {}: readiness {} failed: {e}",
                w.name,
                w.readiness.describe()
            ));
        }
    }
    Ok(())
}

/// What is missing when the deadline passes: the first container (in spec order) that is not
/// ready, by its startup probe until it has started, then by its readiness probe.
fn shortfall(watched: &[Watched], availability: &Availability, now: Duration) -> NotAvailable {
    let Some(w) = watched.iter().find(|w| !w.probes.is_ready()) else {
        let since = availability.ready_since().unwrap_or(now);
        return NotAvailable {
            container: None,
            probe_kind: ProbeKind::Readiness,
            probe: String::new(),
            shortfall: Shortfall::NotHeldLongEnough {
                ready_for_secs: now.saturating_sub(since).as_secs(),
                min_ready_seconds: availability.min_ready().as_secs(),
            },
            last_output: String::new(),
        };
    };
    let kind = if w.probes.started() {
        ProbeKind::Readiness
    } else {
        ProbeKind::Startup
    };
    let tracker = w.tracker(kind);
    let shortfall = match tracker.streak() {
        Streak::Failures(failures) => Shortfall::Failing { failures },
        Streak::Successes(successes) => Shortfall::TooFewSuccesses {
            successes,
            needed: tracker.timing().success_threshold,
        },
        Streak::None => Shortfall::NotRunYet,
    };
    NotAvailable {
        container: Some(w.name.clone()),
        probe_kind: kind,
        probe: w.target(kind).describe(),
        shortfall,
        last_output: tracker.last_failure().unwrap_or_default().to_string(),
    }
}

/// Where a host check's result goes.
enum Slot {
    /// The due probe at this index.
    Probe(usize),
    /// The IP lookup of this container.
    Lookup(usize),
}

/// A tunnel probe of the round.
struct TunnelJob {
    due_index: usize,
    container: usize,
    action: ProbeAction,
    timeout: Duration,
}

/// Runs the due probes: the host checks in one exec, the tunnel probes beside it.
async fn round<R: RemoteHost>(
    remote: &R,
    watched: &mut [Watched],
    due: &[(usize, ProbeKind)],
) -> Vec<ProbeResult> {
    let mut results: Vec<Option<ProbeResult>> = vec![None; due.len()];
    let mut slots = Vec::new();
    let mut checks = Vec::new();
    let mut jobs = Vec::new();
    for (j, &(i, kind)) in due.iter().enumerate() {
        let w = &watched[i];
        let target = w.target(kind);
        let timeout = w.tracker(kind).timing().timeout;
        if let Some(check) = host_check(target, timeout) {
            slots.push(Slot::Probe(j));
            checks.push(check);
            continue;
        }
        let needs_ip = matches!(
            &target.action,
            ProbeAction::HttpGet {
                address: Address::ContainerIp,
                ..
            } | ProbeAction::TcpSocket {
                address: Address::ContainerIp,
                ..
            }
        );
        if needs_ip
            && w.ip.is_none()
            && !slots
                .iter()
                .any(|s| matches!(s, Slot::Lookup(c) if *c == i))
        {
            slots.push(Slot::Lookup(i));
            checks.push(HostCheck::ContainerIp {
                podman_name: w.podman_name.clone(),
            });
        }
        jobs.push(TunnelJob {
            due_index: j,
            container: i,
            action: target.action.clone(),
            timeout,
        });
    }

    let lookups = slots.iter().any(|s| matches!(s, Slot::Lookup(_)));
    let mut lookup_errors: Vec<Option<String>> = vec![None; watched.len()];
    let (host_outputs, tunnel_outcomes) = if lookups {
        // The tunnels need the addresses: the host checks go first.
        let host_outputs = run_checks(remote, &checks).await;
        for (slot, out) in slots.iter().zip(&host_outputs) {
            if let Slot::Lookup(i) = slot {
                match out.clone().and_then(|o| script::container_ip(&o)) {
                    Ok(ip) => watched[*i].ip = Some(ip),
                    Err(e) => lookup_errors[*i] = Some(e),
                }
            }
        }
        let outcomes = join_all(tunnels(remote, watched, &jobs, &lookup_errors)).await;
        (host_outputs, outcomes)
    } else {
        tokio::join!(
            run_checks(remote, &checks),
            join_all(tunnels(remote, watched, &jobs, &lookup_errors))
        )
    };

    for (slot, out) in slots.iter().zip(host_outputs) {
        if let Slot::Probe(j) = slot {
            let (i, kind) = due[*j];
            let w = &watched[i];
            let timeout = w.tracker(kind).timing().timeout;
            results[*j] = Some(host_result(w.target(kind), timeout, out));
        }
    }
    for (job, outcome) in jobs.iter().zip(tunnel_outcomes) {
        // An address that refused us may be stale: look it up again next time.
        if outcome.unreachable {
            watched[job.container].ip = None;
        }
        results[job.due_index] = Some(outcome.result);
    }
    results
        .into_iter()
        .map(|r| r.expect("every due probe has a result"))
        .collect()
}

/// The tunnel probes of a round, each with the container's IP if it needs one.
fn tunnels<'a, R: RemoteHost>(
    remote: &'a R,
    watched: &[Watched],
    jobs: &'a [TunnelJob],
    lookup_errors: &[Option<String>],
) -> Vec<impl Future<Output = TunnelOutcome> + use<'a, R>> {
    jobs.iter()
        .map(|job| {
            let needs_ip = matches!(
                &job.action,
                ProbeAction::HttpGet {
                    address: Address::ContainerIp,
                    ..
                } | ProbeAction::TcpSocket {
                    address: Address::ContainerIp,
                    ..
                }
            );
            let ip = if needs_ip {
                match (&watched[job.container].ip, &lookup_errors[job.container]) {
                    (Some(ip), _) => Ok(Some(ip.clone())),
                    (None, Some(e)) => Err(e.clone()),
                    (None, None) => Err("the container's IP address is unknown".to_string()),
                }
            } else {
                Ok(None)
            };
            async move {
                match ip {
                    Ok(ip) => tunnel_probe(remote, &job.action, ip.as_deref(), job.timeout).await,
                    Err(e) => TunnelOutcome {
                        result: ProbeResult::Failure(e),
                        unreachable: true,
                    },
                }
            }
        })
        .collect()
}

/// The host-side check a probe needs, if it is run by exec.
fn host_check(target: &ProbeTarget, timeout: Duration) -> Option<HostCheck> {
    match &target.action {
        ProbeAction::Exec { argv } => Some(HostCheck::Exec {
            podman_name: target.podman_name.clone(),
            argv: argv.clone(),
            timeout,
        }),
        ProbeAction::Running => Some(HostCheck::Running {
            podman_name: target.podman_name.clone(),
            unit: target.unit.clone(),
        }),
        ProbeAction::HttpGet { .. } | ProbeAction::TcpSocket { .. } => None,
    }
}

fn host_result(
    target: &ProbeTarget,
    timeout: Duration,
    out: Result<CheckOutput, String>,
) -> ProbeResult {
    match (out, &target.action) {
        (Err(e), _) => ProbeResult::Failure(e),
        (Ok(out), ProbeAction::Running) => script::running_result(&out, &target.unit),
        (Ok(out), _) => script::exec_result(&out, timeout),
    }
}

/// Runs `checks` in one exec; every check fails with the reason if the exec does.
async fn run_checks<R: RemoteHost>(
    remote: &R,
    checks: &[HostCheck],
) -> Vec<Result<CheckOutput, String>> {
    if checks.is_empty() {
        return Vec::new();
    }
    let limit = checks
        .iter()
        .map(HostCheck::time_limit)
        .max()
        .unwrap_or_default()
        + EXEC_GRACE;
    let text = script::script(checks);
    let failed = |why: String| checks.iter().map(|_| Err(why.clone())).collect();
    match tokio::time::timeout(limit, remote.exec(&text, None)).await {
        Err(_) => failed(format!(
            "no answer from the host within {}s",
            limit.as_secs()
        )),
        Ok(Err(e)) => failed(e.to_string()),
        Ok(Ok(out)) => script::parse(&out.stdout_lossy(), checks.len())
            .into_iter()
            .map(|r| {
                r.map_err(|e| {
                    let stderr = script::shown(&out.stderr_lossy());
                    if stderr.is_empty() {
                        e
                    } else {
                        format!("{e}: {stderr}")
                    }
                })
            })
            .collect(),
    }
}

struct TunnelOutcome {
    result: ProbeResult,
    /// The tunnel did not open: nothing accepted the connection at that address.
    unreachable: bool,
}

/// An HTTP or TCP probe through a direct-tcpip channel; `ip` is the container's IP when the
/// probe targets it.
async fn tunnel_probe<R: RemoteHost>(
    remote: &R,
    action: &ProbeAction,
    ip: Option<&str>,
    timeout: Duration,
) -> TunnelOutcome {
    let (address, port, http) = match action {
        ProbeAction::HttpGet {
            address,
            port,
            path,
            headers,
        } => (address, *port, Some((path, headers))),
        ProbeAction::TcpSocket { address, port } => (address, *port, None),
        ProbeAction::Exec { .. } | ProbeAction::Running => unreachable!("not a tunnel probe"),
    };
    let host = match address {
        Address::Loopback => None,
        Address::Ip(ip) => Some(ip.as_str()),
        Address::ContainerIp => ip,
    };
    let shown = format!("{}:{port}", bracket(host.unwrap_or("127.0.0.1")));
    let mut stage = "connecting";
    let mut opened = false;
    let mut received = Vec::new();
    let attempt = async {
        let mut stream = match host {
            None => remote.open_tcp(port).await,
            Some(host) => remote.open_tcp_to(host, port).await,
        }
        .map_err(|e| tunnel_error(&shown, &e))?;
        opened = true;
        let Some((path, headers)) = http else {
            return Ok(());
        };
        stage = "sending the request";
        stream
            .write_all(&http::request(&shown, path, headers))
            .await
            .map_err(|e| format!("{shown}: sending the request failed: {e}"))?;
        stage = "waiting for the response";
        let response = read_response(&mut stream, &mut received)
            .await
            .map_err(|e| format!("{shown}: {e}"))?;
        if response.is_success() {
            Ok(())
        } else {
            Err(response.summary())
        }
    };
    let outcome = tokio::time::timeout(timeout, attempt).await;
    let result = match outcome {
        Ok(Ok(())) => ProbeResult::Success,
        Ok(Err(why)) => ProbeResult::Failure(why),
        // A failing server that keeps the connection open: its status and body so far say more
        // than the timeout.
        Err(_) if received.windows(4).any(|w| w == b"\r\n\r\n") => match http::finish(&received) {
            Ok(response) if !response.is_success() => ProbeResult::Failure(response.summary()),
            _ => ProbeResult::Failure(format!(
                "{shown}: timed out after {}s reading the response",
                timeout.as_secs_f32()
            )),
        },
        Err(_) => ProbeResult::Failure(format!(
            "{shown}: timed out after {}s {stage}",
            timeout.as_secs_f32()
        )),
    };
    TunnelOutcome {
        unreachable: !opened,
        result,
    }
}

/// Reads into `bytes` until the response can be judged (see [`http::parse`]).
async fn read_response<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    bytes: &mut Vec<u8>,
) -> Result<http::Response, String> {
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if bytes.is_empty() => return Err(format!("reading the response failed: {e}")),
            // Cut off after some bytes: judge what arrived.
            Err(_) => 0,
        };
        if n == 0 {
            return http::finish(bytes);
        }
        bytes.extend_from_slice(&buf[..n]);
        match http::parse(bytes) {
            http::Parsed::Incomplete => continue,
            http::Parsed::Done(response) => return Ok(response),
            http::Parsed::Invalid(e) => return Err(e),
        }
    }
}

/// A tunnel that did not open, said in terms of the probe.
fn tunnel_error(shown: &str, e: &SshError) -> String {
    use russh::ChannelOpenFailure as F;
    match e {
        SshError::Channel {
            source: russh::Error::ChannelOpenFailure(F::ConnectFailed),
            ..
        } => format!(
            "{shown}: connection refused (nothing accepts connections there, as seen from the host)"
        ),
        SshError::Channel {
            source: russh::Error::ChannelOpenFailure(F::AdministrativelyProhibited),
            ..
        } => format!(
            "{shown}: the host's sshd refuses TCP forwarding, which HTTP and TCP probes need \
             (AllowTcpForwarding in sshd_config)"
        ),
        other => format!("{shown}: cannot open a tunnel: {other}"),
    }
}

/// Awaits every future, polling them together (the results in order).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}
