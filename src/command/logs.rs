//! `dsctl logs DAEMONSET [-c C] [--host H | -l SEL] [-f] [--since D] [--tail N] [--timestamps]
//! [--previous]`: the shell around `logs.rs`. One task per host streams `journalctl` over
//! that host's SSH connection into one bounded channel; the merger prints in time order.
//! With `-f`, a host whose connection drops is said so on stderr and reconnected with backoff,
//! resuming after the last line it showed (journal cursor), while the other hosts go on.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::cli::LogsArgs;
use crate::command::hosts::{self, Connecting};
use crate::inventory::Host;
use crate::logs::{
    self, Line, LineSplitter, LogQuery, MAX_RECORD, Merge, Record, backoff, host_script, prefix,
    rfc3339,
};
use crate::run::EXIT_INVALID;
use crate::ssh::{Attach, Chunk};

/// Lines kept per host while waiting for the others (the merge's memory bound).
const MERGE_CAP: usize = 1024;
/// How long `-f` holds a line for an older one from another host.
const FOLLOW_WINDOW: Duration = Duration::from_millis(150);
/// Exit status of the host script when the host runs no container of the DaemonSet.
const NONE_HERE: u32 = 3;

enum Event {
    Line(Line),
    /// A host's container names (in the pod spec), as it listed them.
    Containers(usize, BTreeSet<String>),
    /// The host's stream stopped for now (it is being reconnected).
    Paused(usize, String),
    Resumed(usize, String),
    Done(usize, HostEnd),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostEnd {
    Read,
    NoContainer,
    Failed,
}

pub fn run(args: LogsArgs) -> anyhow::Result<i32> {
    let mut connect = args.connect.clone();
    if let Some(host) = &args.host {
        connect.limit = Some(host.clone());
    }
    let targets = match hosts::targets(&connect) {
        Ok(hosts) => hosts,
        Err(code) => return Ok(code),
    };
    let since_secs = match args.since.as_deref().map(logs::parse_duration).transpose() {
        Ok(s) => s,
        Err(e) => {
            crate::errln!("error: --since: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    let query = LogQuery {
        daemonset: args.daemonset.clone(),
        container: args.container.clone(),
        follow: args.follow,
        since_secs,
        tail: logs::tail_lines(args.tail, args.host.is_some()),
        previous: args.previous,
    };
    let print = Printer {
        hosts: targets.iter().map(|h| h.name.clone()).collect(),
        show_host: args.host.is_none(),
        one_container: args.container.is_some(),
        timestamps: args.timestamps,
    };
    let connector: Arc<dyn Fn(Host) -> Connecting + Send + Sync> =
        Arc::new(hosts::connector(&connect));
    hosts::runtime().block_on(stream(targets, query, connector, print))
}

struct Printer {
    hosts: Vec<String>,
    show_host: bool,
    /// `-c` was given: no container prefix.
    one_container: bool,
    timestamps: bool,
}

impl Printer {
    fn line(&self, line: &Line, containers: &BTreeSet<String>) -> std::io::Result<()> {
        let show_container = !self.one_container && containers.len() > 1;
        let mut text = prefix(
            &self.hosts[line.host],
            &line.container,
            self.show_host,
            show_container,
        )
        .into_bytes();
        if self.timestamps {
            text.extend_from_slice(rfc3339(line.micros).as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(&line.message);
        text.push(b'\n');
        // Journal lines are host text: through `print`, which strips terminal control.
        crate::output::print(&String::from_utf8_lossy(&text))
    }
}

async fn stream(
    targets: Vec<Host>,
    query: LogQuery,
    connector: Arc<dyn Fn(Host) -> Connecting + Send + Sync>,
    print: Printer,
) -> anyhow::Result<i32> {
    let n = targets.len();
    let (tx, mut rx) = mpsc::channel(MERGE_CAP);
    let query = Arc::new(query);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, host) in targets.into_iter().enumerate() {
        tasks.spawn(read_host(
            index,
            host,
            query.clone(),
            connector.clone(),
            tx.clone(),
        ));
    }
    drop(tx);
    let mut merge = Merge::new(n, MERGE_CAP, query.follow.then_some(FOLLOW_WINDOW));
    let mut containers: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
    let mut ends: Vec<Option<HostEnd>> = vec![None; n];
    let mut open = true;
    loop {
        while let Some(line) = merge.pop(Instant::now()) {
            print.line(&line, &containers[line.host])?;
            if crate::output::reader_gone() {
                return Ok(0);
            }
        }
        if !open && merge.is_empty() {
            break;
        }
        let deadline = merge.next_deadline();
        let event = tokio::select! {
            event = rx.recv(), if open => event,
            () = sleep_until(deadline), if deadline.is_some() => continue,
        };
        match event {
            None => {
                open = false;
                for host in 0..n {
                    merge.pause(host);
                }
            }
            Some(Event::Line(line)) => merge.push(line, Instant::now()),
            Some(Event::Containers(host, names)) => containers[host] = names,
            Some(Event::Paused(host, why)) => {
                merge.pause(host);
                crate::errln!("{}", logs::about(&print.hosts[host], &why));
            }
            Some(Event::Resumed(host, why)) => {
                merge.resume(host);
                crate::errln!("{}", logs::about(&print.hosts[host], &why));
            }
            Some(Event::Done(host, end)) => {
                merge.pause(host);
                ends[host] = Some(end);
            }
        }
    }
    tasks.shutdown().await;
    let failed = ends.contains(&Some(HostEnd::Failed));
    if !ends.contains(&Some(HostEnd::Read)) && !failed {
        crate::errln!(
            "error: no {}container of daemonset {:?} on the targeted hosts",
            if query.previous {
                "previous terminated "
            } else {
                ""
            },
            query.daemonset
        );
        return Ok(1);
    }
    Ok(i32::from(failed))
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(at) = deadline {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Streams one host's lines into `tx`; with `-f`, reconnects after a drop and resumes after
/// the last line sent.
async fn read_host(
    index: usize,
    host: Host,
    query: Arc<LogQuery>,
    connect: Arc<dyn Fn(Host) -> Connecting + Send + Sync>,
    tx: mpsc::Sender<Event>,
) {
    let mut cursor: Option<String> = None;
    let mut failures = 0u32;
    let mut lost = false;
    loop {
        let attempt = read_once(
            index,
            &host,
            &query,
            &connect,
            cursor.as_deref(),
            &mut lost,
            &tx,
        );
        let (end, last) = match attempt.await {
            Attempt::Ended(end, last) => (Some(end), last),
            Attempt::Lost(why, last, connected) => {
                if connected {
                    failures = 0;
                }
                if !query.follow {
                    crate::errln!("{}", logs::about(&host.name, &why));
                    (Some(HostEnd::Failed), last)
                } else {
                    if !lost {
                        lost = true;
                        let text = format!("{why}; reconnecting");
                        if tx.send(Event::Paused(index, text)).await.is_err() {
                            return;
                        }
                    }
                    (None, last)
                }
            }
        };
        if last.is_some() {
            cursor = last;
        }
        if let Some(end) = end {
            let _ = tx.send(Event::Done(index, end)).await;
            return;
        }
        tokio::time::sleep(backoff(failures)).await;
        failures += 1;
    }
}

enum Attempt {
    Ended(HostEnd, Option<String>),
    /// The connection failed or dropped: the message, the last cursor, and whether the
    /// command had started (so the backoff starts over).
    Lost(String, Option<String>, bool),
}

async fn read_once(
    index: usize,
    host: &Host,
    query: &LogQuery,
    connect: &Arc<dyn Fn(Host) -> Connecting + Send + Sync>,
    cursor: Option<&str>,
    lost: &mut bool,
    tx: &mpsc::Sender<Event>,
) -> Attempt {
    let session = match connect(host.clone()).await {
        Ok(s) => s,
        Err(e) => return Attempt::Lost(e, None, false),
    };
    let script = host_script(query, cursor);
    let mut stream = match session.exec_stream(&script, Attach::default()).await {
        Ok(s) => s,
        Err(e) => return Attempt::Lost(e.to_string(), None, true),
    };
    if *lost {
        *lost = false;
        let _ = tx.send(Event::Resumed(index, "reconnected".into())).await;
    }
    let mut names: HashMap<String, String> = HashMap::new();
    let mut containers = BTreeSet::new();
    let mut announced = false;
    let mut last: Option<String> = None;
    let mut splitter = LineSplitter::new(MAX_RECORD);
    let mut stderr = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Chunk::Stderr(data) => {
                if stderr.len() < 4096 {
                    stderr.extend_from_slice(&data);
                }
            }
            Chunk::Stdout(data) => {
                let mut lines = Vec::new();
                splitter.feed(&data, |l| lines.push(logs::parse_record(l)));
                for record in lines {
                    match record {
                        Record::Container { name, container } => {
                            containers.insert(container.clone());
                            names.insert(name, container);
                        }
                        Record::Entry(entry) => {
                            if !announced {
                                announced = true;
                                let event = Event::Containers(index, containers.clone());
                                if tx.send(event).await.is_err() {
                                    return Attempt::Ended(HostEnd::Read, last);
                                }
                            }
                            let container = names
                                .get(&entry.container_name)
                                .cloned()
                                .unwrap_or(entry.container_name);
                            last = Some(entry.cursor);
                            let line = Line {
                                host: index,
                                container,
                                micros: entry.micros,
                                message: entry.message,
                            };
                            if tx.send(Event::Line(line)).await.is_err() {
                                return Attempt::Ended(HostEnd::Read, last);
                            }
                        }
                        Record::Other => {}
                    }
                }
            }
        }
    }
    let said = String::from_utf8_lossy(&stderr).trim().to_string();
    match stream.status() {
        Some(0) => Attempt::Ended(HostEnd::Read, last),
        Some(NONE_HERE) => {
            tracing::info!("{}: {said}", host.name);
            Attempt::Ended(HostEnd::NoContainer, last)
        }
        Some(status) => {
            crate::errln!(
                "{}: reading the journal failed (exit {status}): {said}",
                host.name
            );
            Attempt::Ended(HostEnd::Failed, last)
        }
        None => Attempt::Lost(stream.closed(), last, true),
    }
}
