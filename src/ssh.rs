//! The SSH transport (russh + tokio): one authenticated connection per host, reused for every
//! exec and tunnel of a run.
//!
//! - Host keys are checked in `check_server_key`, after the key exchange and before any
//!   authentication, so a refused host never sees a user name, a key or a command.
//! - The key exchange prefers curve25519-sha256 (about 15 ms of client CPU, against about
//!   125 ms for OpenSSH's default sntrup761), and host-key algorithms known for the host come
//!   first, so a server with several host keys shows the one we can check.
//! - Authentication tries the identity files, then each ssh-agent identity.
//! - Commands run under `sh` whatever the login shell, and under `sudo -n` for users other
//!   than root (see `remote_command`).
//! - A ProxyJump bastion is one connection shared by every host behind it (`Connector`); each
//!   target is reached by a direct-tcpip channel over it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::{HashAlg, PublicKey};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, ChannelStream, Disconnect, Preferred, Sig, cipher, kex};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OnceCell;

use crate::known_hosts::{self, HostKeyVerdict, Learned};
use crate::ssh_config::ResolvedHost;

/// Run-wide connection settings (from the command line).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectOptions {
    /// For the TCP connect, and again for the SSH handshake and for authentication; a host's
    /// own `ConnectTimeout` from ~/.ssh/config wins.
    pub connect_timeout: Duration,
    /// Keepalive interval; a host's own `ServerAliveInterval` wins.
    pub keepalive: Duration,
    /// Unanswered keepalives before the connection counts as dead.
    pub keepalive_max: usize,
    /// Learn unknown host keys (OpenSSH's accept-new). A changed key is always refused.
    pub accept_new_host_keys: bool,
    /// How long one collected command ([`Session::exec`]) may run: a hung `podman ps` or
    /// host script is reported as such, and the other hosts finish.
    pub exec_timeout: Duration,
    /// How many bytes of stdout plus stderr one collected command may return: a hostile or
    /// broken host cannot exhaust dsctl's memory.
    pub max_output: usize,
}

/// Default for [`ConnectOptions::exec_timeout`]: generous for an image pull or a slow
/// rollout step, short enough that a cron run never piles onto the next one.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(600);
/// Default for [`ConnectOptions::max_output`]: far above any observation of a real host.
pub const DEFAULT_MAX_OUTPUT: usize = 16 << 20;

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(15),
            keepalive_max: 3,
            accept_new_host_keys: false,
            exec_timeout: DEFAULT_EXEC_TIMEOUT,
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }
}

/// What a remote command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit status; 128 + N when killed by signal N (as a shell reports it).
    pub status: u32,
    /// The signal that killed the command, if one did.
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == 0 && self.signal.is_none()
    }

    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// How [`Session::exec_stream`] attaches to the command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attach {
    /// The caller sends stdin ([`ExecStream::send`], then [`ExecStream::eof`]).
    pub stdin: bool,
    /// Run the command on a pseudo-terminal of this shape (`exec -t`).
    pub pty: Option<Pty>,
}

/// A pseudo-terminal request: `$TERM` and the local terminal's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pty {
    pub term: String,
    pub cols: u32,
    pub rows: u32,
}

/// What a streaming command sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// A command started by [`Session::exec_stream`].
pub struct ExecStream {
    host: String,
    reader: russh::ChannelReadHalf,
    writer: russh::ChannelWriteHalf<client::Msg>,
    exited: Option<u32>,
}

impl ExecStream {
    /// The next piece of output; `None` once the channel closed. Output can follow the exit
    /// status, so read to the end before asking [`ExecStream::status`].
    pub async fn next(&mut self) -> Option<Chunk> {
        loop {
            match self.reader.wait().await? {
                ChannelMsg::Data { data } => return Some(Chunk::Stdout(data.to_vec())),
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    return Some(Chunk::Stderr(data.to_vec()));
                }
                ChannelMsg::ExitStatus { exit_status } => self.exited = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    self.exited = Some(signal_status(&signal_name))
                }
                _ => {}
            }
        }
    }

    /// The exit status once [`ExecStream::next`] gave `None`; `None` when the connection
    /// closed before the command ended (the host went away: see [`ExecStream::closed`]).
    pub fn status(&self) -> Option<u32> {
        self.exited
    }

    /// What to say when [`ExecStream::status`] is `None`.
    pub fn closed(&self) -> String {
        SshError::Closed {
            host: self.host.clone(),
            what: "the command".into(),
        }
        .to_string()
    }

    /// Sends bytes to the command's stdin.
    pub async fn send(&self, data: &[u8]) -> Result<(), SshError> {
        self.writer
            .data(data)
            .await
            .map_err(|source| SshError::Channel {
                host: self.host.clone(),
                what: "sending input".into(),
                source,
            })
    }

    /// Closes the command's stdin.
    pub async fn eof(&self) -> Result<(), SshError> {
        self.writer.eof().await.map_err(|source| SshError::Channel {
            host: self.host.clone(),
            what: "closing input".into(),
            source,
        })
    }

    /// Tells the remote terminal its new size (SIGWINCH).
    pub async fn resize(&self, cols: u32, rows: u32) -> Result<(), SshError> {
        self.writer
            .window_change(cols, rows, 0, 0)
            .await
            .map_err(|source| SshError::Channel {
                host: self.host.clone(),
                what: "resizing the terminal".into(),
                source,
            })
    }
}

/// Counters a run reports per host (`--stats`), so the one-round-trip claim can be checked.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU32,
    execs: AtomicU32,
    tunnels: AtomicU32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// SSH connections opened (a bastion's connection is counted on the bastion).
    pub connections: u32,
    /// Exec round trips.
    pub execs: u32,
    /// direct-tcpip channels opened.
    pub tunnels: u32,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections: self.connections.load(Ordering::Relaxed),
            execs: self.execs.load(Ordering::Relaxed),
            tunnels: self.tunnels.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {host} ({addr}): {source}")]
    Connect {
        host: String,
        addr: String,
        source: std::io::Error,
    },
    #[error("{host}: the command did not finish within its deadline of {}s (hung host?)", after.as_secs_f32())]
    ExecTimeout { host: String, after: Duration },
    #[error("{host}: the command's output exceeded {limit} bytes; stopped reading it")]
    OutputTooLarge { host: String, limit: usize },
    #[error("{host} ({addr}): {stage} timed out after {}s", after.as_secs_f32())]
    Timeout {
        host: String,
        addr: String,
        stage: &'static str,
        after: Duration,
    },
    #[error(
        "host key for {host} ({addr}) is not in {files}; refusing to connect \
         (use --accept-new-host-keys to learn it; the host offered {offered})"
    )]
    HostKeyUnknown {
        host: String,
        addr: String,
        files: String,
        offered: String,
    },
    #[error(
        "HOST KEY CHANGED for {host} ({addr}): the host offered {offered}, but {at} holds \
         another {known} key for it; possible man-in-the-middle; refusing to connect \
         (if the host was reinstalled, delete that line and run with --accept-new-host-keys)"
    )]
    HostKeyChanged {
        host: String,
        addr: String,
        at: known_hosts::Location,
        known: String,
        offered: String,
    },
    #[error("host key for {host} ({addr}) is revoked ({at}); refusing to connect")]
    HostKeyRevoked {
        host: String,
        addr: String,
        at: known_hosts::Location,
    },
    #[error("{host}: {source}")]
    KnownHosts {
        host: String,
        source: known_hosts::KnownHostsError,
    },
    #[error(
        "authentication as {user}@{host} ({addr}) failed; tried: {}",
        tried_list(tried)
    )]
    Auth {
        host: String,
        addr: String,
        user: String,
        tried: Vec<String>,
    },
    #[error("SSH handshake with {host} ({addr}) failed: {source}")]
    Handshake {
        host: String,
        addr: String,
        source: russh::Error,
    },
    #[error("{host}: {what}: {source}")]
    Channel {
        host: String,
        what: String,
        source: russh::Error,
    },
    #[error("{host}: the connection closed before {what} finished")]
    Closed { host: String, what: String },
    #[error("{host}: the command is {len} bytes, too long for one argument; send data on stdin")]
    CommandTooLong { host: String, len: usize },
    #[error(
        "{host}: `sudo -n` as {user} failed: {message} (dsctl needs passwordless sudo for users other than root)"
    )]
    Sudo {
        host: String,
        user: String,
        message: String,
    },
    #[error("{host}: through the bastion: {source}")]
    Jump { host: String, source: Arc<SshError> },
}

fn tried_list(tried: &[String]) -> String {
    if tried.is_empty() {
        "nothing (no identity file found and no ssh-agent key)".into()
    } else {
        tried.join("; ")
    }
}

/// What the apply driver needs from a host, so it can be tested without SSH.
pub trait RemoteHost: Send + Sync {
    type Tunnel: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// The inventory name.
    fn name(&self) -> &str;

    /// Runs a POSIX sh script as root (see `remote_command`), with `stdin` fed to it.
    fn exec(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<ExecOutput, SshError>> + Send;

    /// A byte stream to the host's 127.0.0.1:`port`.
    fn open_tcp(&self, port: u16) -> impl Future<Output = Result<Self::Tunnel, SshError>> + Send;

    /// A byte stream to `host:port` as the host sees it (a container's own IP, a hostIP).
    fn open_tcp_to(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Self::Tunnel, SshError>> + Send;

    fn stats(&self) -> StatsSnapshot;
}

/// An authenticated connection to one host.
pub struct Session {
    name: String,
    addr: String,
    user: String,
    handle: Handle<HostKeyCheck>,
    stats: Arc<Stats>,
    exec_timeout: Duration,
    max_output: usize,
    /// Keeps the bastion's connection open while this session uses its tunnel.
    _via: Option<Arc<Session>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Largest script passed as a command-line argument (Linux caps one argument at 128 KiB).
const MAX_ARGUMENT: usize = 120 * 1024;

/// The command line sent for `script`.
///
/// Without stdin data the script travels on stdin to `sh -s`: no size limit, no quoting, and
/// nothing in the host's process list. It is wrapped in `{ …; } </dev/null` so the shell
/// parses all of it before running any of it, and no command in it can read the rest of the
/// script as its input. With stdin data the script must be an argument: `sh -c '<quoted>'`.
/// `sh` is named explicitly so the login shell (bash, zsh, fish) does not matter; non-root
/// users go through `sudo -n`, which fails at once instead of prompting.
pub fn remote_command(script: &str, user: &str, has_stdin: bool) -> String {
    let sudo = if user == "root" { "" } else { "sudo -n -- " };
    if has_stdin {
        format!("{sudo}sh -c {}", sh_quote(script))
    } else {
        format!("{sudo}sh -s")
    }
}

/// What is written to `sh -s` when the script travels on stdin.
fn script_on_stdin(script: &str) -> Vec<u8> {
    format!("{{\n{script}\n}} </dev/null\n").into_bytes()
}

fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `sudo -n`'s own refusals (exit 1, a `sudo: ` message), told apart from the script's errors.
pub fn sudo_failure(output: &ExecOutput) -> Option<String> {
    const REFUSALS: [&str; 5] = [
        "a password is required",
        "a terminal is required",
        "you must have a tty",
        "is not in the sudoers file",
        "is not allowed to execute",
    ];
    let stderr = output.stderr_lossy();
    let first = stderr.lines().next()?;
    (output.status == 1
        && first.starts_with("sudo: ")
        && REFUSALS.iter().any(|r| first.contains(r)))
    .then(|| first.trim_start_matches("sudo: ").trim().to_string())
}

/// The shell's status for a command killed by `signal` (Linux numbering).
fn signal_status(signal: &Sig) -> u32 {
    128 + match signal {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(_) => 127,
    }
}

impl Session {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Runs `script` with `sh` as root (directly, or through `sudo -n`), feeds it `stdin`, and
    /// collects everything until the channel closes: output can follow the exit status.
    /// Bounded by the session's deadline and output cap (the channel is closed on either).
    pub async fn exec(&self, script: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, SshError> {
        match tokio::time::timeout(self.exec_timeout, self.exec_unbounded(script, stdin)).await {
            Ok(result) => result,
            Err(_) => Err(SshError::ExecTimeout {
                host: self.name.clone(),
                after: self.exec_timeout,
            }),
        }
    }

    async fn exec_unbounded(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, SshError> {
        self.stats.execs.fetch_add(1, Ordering::Relaxed);
        let command = remote_command(script, &self.user, stdin.is_some());
        if command.len() > MAX_ARGUMENT {
            return Err(SshError::CommandTooLong {
                host: self.name.clone(),
                len: command.len(),
            });
        }
        let input: Cow<[u8]> = match stdin {
            Some(data) => Cow::Borrowed(data),
            None => Cow::Owned(script_on_stdin(script)),
        };
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| self.channel_error("opening a session channel", e))?;
        channel
            .exec(true, command)
            .await
            .map_err(|e| self.channel_error("starting the command", e))?;
        let (mut reader, writer) = channel.split();

        // Write stdin while reading output: a command that does not read its input must not
        // block us on the channel window, and output must not pile up while we write.
        let send = async {
            writer.data(&input[..]).await?;
            writer.eof().await
        };
        tokio::pin!(send);
        let mut sent = false;
        let mut out = ExecOutput::default();
        let mut status = None;
        let mut refused = false;
        loop {
            tokio::select! {
                result = &mut send, if !sent => {
                    sent = true;
                    if let Err(e) = result {
                        // The command exited without reading everything; its status says more.
                        tracing::debug!("{}: stdin not fully sent: {e}", self.name);
                    }
                }
                message = reader.wait() => match message {
                    Some(ChannelMsg::Data { data }) => {
                        if let Some(e) = self.over_cap(&out, data.len()) {
                            return Err(e);
                        }
                        out.stdout.extend_from_slice(&data)
                    }
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                        if let Some(e) = self.over_cap(&out, data.len()) {
                            return Err(e);
                        }
                        out.stderr.extend_from_slice(&data)
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        status = Some(signal_status(&signal_name));
                        out.signal = Some(format!("{signal_name:?}"));
                    }
                    Some(ChannelMsg::Failure) => refused = true,
                    Some(_) => {}
                    None => break,
                },
            }
        }
        if refused && status.is_none() {
            return Err(SshError::Channel {
                host: self.name.clone(),
                what: "starting the command".into(),
                source: russh::Error::RequestDenied,
            });
        }
        out.status = status.ok_or_else(|| SshError::Closed {
            host: self.name.clone(),
            what: "the command".into(),
        })?;
        if self.user != "root"
            && let Some(message) = sudo_failure(&out)
        {
            return Err(SshError::Sudo {
                host: self.name.clone(),
                user: self.user.clone(),
                message,
            });
        }
        Ok(out)
    }

    fn over_cap(&self, out: &ExecOutput, more: usize) -> Option<SshError> {
        (out.stdout.len() + out.stderr.len() + more > self.max_output).then(|| {
            SshError::OutputTooLarge {
                host: self.name.clone(),
                limit: self.max_output,
            }
        })
    }

    /// Starts `script` and hands back its output as it arrives ([`ExecStream::next`]), for
    /// commands whose output is unbounded (`logs -f`) or interactive (`exec -it`): nothing is
    /// collected here, and a caller that reads slowly slows the host down (russh's channel
    /// buffer is bounded, and the SSH window is not refilled past it), so memory stays flat
    /// however much the host prints.
    ///
    /// Without `attach.stdin` the script travels on stdin as in [`Session::exec`]; with it, the
    /// script is an argument and the caller feeds stdin through [`ExecStream::send`].
    pub async fn exec_stream(&self, script: &str, attach: Attach) -> Result<ExecStream, SshError> {
        self.stats.execs.fetch_add(1, Ordering::Relaxed);
        let command = remote_command(script, &self.user, attach.stdin);
        if command.len() > MAX_ARGUMENT {
            return Err(SshError::CommandTooLong {
                host: self.name.clone(),
                len: command.len(),
            });
        }
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| self.channel_error("opening a session channel", e))?;
        if let Some(pty) = &attach.pty {
            channel
                .request_pty(false, &pty.term, pty.cols, pty.rows, 0, 0, &[])
                .await
                .map_err(|e| self.channel_error("asking for a terminal", e))?;
        }
        channel
            .exec(true, command)
            .await
            .map_err(|e| self.channel_error("starting the command", e))?;
        let (reader, writer) = channel.split();
        if !attach.stdin {
            writer
                .data(&script_on_stdin(script)[..])
                .await
                .map_err(|e| self.channel_error("sending the script", e))?;
            writer
                .eof()
                .await
                .map_err(|e| self.channel_error("sending the script", e))?;
        }
        Ok(ExecStream {
            host: self.name.clone(),
            reader,
            writer,
            exited: None,
        })
    }

    /// A byte stream to the host's own 127.0.0.1:`port`, inside this connection.
    pub async fn open_tcp(&self, port: u16) -> Result<ChannelStream<client::Msg>, SshError> {
        self.tunnel("127.0.0.1", port).await
    }

    /// A direct-tcpip channel to `host:port` as seen from this host.
    async fn tunnel(&self, host: &str, port: u16) -> Result<ChannelStream<client::Msg>, SshError> {
        self.stats.tunnels.fetch_add(1, Ordering::Relaxed);
        let channel = self
            .handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(|e| self.channel_error(&format!("opening a tunnel to {host}:{port}"), e))?;
        Ok(channel.into_stream())
    }

    /// Says goodbye to the server; dropping a session closes it too, less politely.
    pub async fn close(&self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "dsctl done", "en")
            .await;
    }

    fn channel_error(&self, what: &str, source: russh::Error) -> SshError {
        if self.handle.is_closed() {
            SshError::Closed {
                host: self.name.clone(),
                what: what.into(),
            }
        } else {
            SshError::Channel {
                host: self.name.clone(),
                what: what.into(),
                source,
            }
        }
    }
}

impl RemoteHost for Session {
    type Tunnel = ChannelStream<client::Msg>;

    fn name(&self) -> &str {
        &self.name
    }

    fn exec(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<ExecOutput, SshError>> + Send {
        Session::exec(self, script, stdin)
    }

    fn open_tcp(&self, port: u16) -> impl Future<Output = Result<Self::Tunnel, SshError>> + Send {
        Session::open_tcp(self, port)
    }

    fn open_tcp_to(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Self::Tunnel, SshError>> + Send {
        self.tunnel(host, port)
    }

    fn stats(&self) -> StatsSnapshot {
        Session::stats(self)
    }
}

type BastionSlot = Arc<OnceCell<Result<Arc<Session>, Arc<SshError>>>>;

/// Opens sessions and shares one connection per bastion among the hosts behind it. A failed
/// bastion is remembered for the run, so 64 hosts behind a dead bastion wait for one timeout,
/// not 64.
#[derive(Debug, Default)]
pub struct Connector {
    opts: ConnectOptions,
    bastions: Mutex<HashMap<String, BastionSlot>>,
}

impl Connector {
    pub fn new(opts: ConnectOptions) -> Self {
        Connector {
            opts,
            bastions: Mutex::default(),
        }
    }

    /// Connects and authenticates to `target`, through its bastion if it has one.
    pub async fn connect(&self, target: &ResolvedHost) -> Result<Session, SshError> {
        for note in &target.notes {
            tracing::warn!("{}: {note}", target.name);
        }
        let via = match &target.jump {
            Some(bastion) => {
                Some(
                    self.bastion(bastion)
                        .await
                        .map_err(|source| SshError::Jump {
                            host: target.name.clone(),
                            source,
                        })?,
                )
            }
            None => None,
        };
        connect_via(target, &self.opts, via).await
    }

    /// The counters of each bastion connection, by `user@host:port`.
    pub fn bastion_stats(&self) -> Vec<(String, StatsSnapshot)> {
        let slots = self.bastions.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats: Vec<_> = slots
            .iter()
            .filter_map(|(key, slot)| match slot.get() {
                Some(Ok(session)) => Some((key.clone(), session.stats())),
                _ => None,
            })
            .collect();
        stats.sort_by(|a, b| a.0.cmp(&b.0));
        stats
    }

    async fn bastion(&self, bastion: &ResolvedHost) -> Result<Arc<Session>, Arc<SshError>> {
        let key = format!("{}@{}:{}", bastion.user, bastion.hostname, bastion.port);
        // A second try only if the shared connection died since it was opened.
        for _ in 0..2 {
            let slot = {
                let mut slots = self.bastions.lock().unwrap_or_else(|e| e.into_inner());
                slots.entry(key.clone()).or_default().clone()
            };
            let result = slot
                .get_or_init(|| async {
                    for note in &bastion.notes {
                        tracing::warn!("{}: {note}", bastion.name);
                    }
                    connect_via(bastion, &self.opts, None)
                        .await
                        .map(Arc::new)
                        .map_err(Arc::new)
                })
                .await
                .clone();
            match result {
                Ok(session) if session.is_closed() => {
                    let mut slots = self.bastions.lock().unwrap_or_else(|e| e.into_inner());
                    if slots.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                        slots.remove(&key);
                    }
                }
                other => return other,
            }
        }
        Err(Arc::new(SshError::Closed {
            host: bastion.name.clone(),
            what: "opening a tunnel".into(),
        }))
    }
}

/// Connects to one host with a fresh `Connector` (its bastion is not shared).
pub async fn connect(target: &ResolvedHost, opts: &ConnectOptions) -> Result<Session, SshError> {
    Connector::new(opts.clone()).connect(target).await
}

/// `host:port`, bracketing IPv6 addresses.
fn display_addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

async fn connect_via(
    target: &ResolvedHost,
    opts: &ConnectOptions,
    via: Option<Arc<Session>>,
) -> Result<Session, SshError> {
    let name = target.name.clone();
    let addr = display_addr(&target.hostname, target.port);
    let timeout = target.connect_timeout.unwrap_or(opts.connect_timeout);
    let timed_out = |stage| SshError::Timeout {
        host: name.clone(),
        addr: addr.clone(),
        stage,
        after: timeout,
    };
    let known = known_hosts::load_for(&target.known_hosts, &target.host_key_name, target.port)
        .map_err(|source| SshError::KnownHosts {
            host: name.clone(),
            source,
        })?;
    let config = Arc::new(client_config(target, opts, &known));
    let check = HostKeyCheck {
        host: name.clone(),
        addr: addr.clone(),
        key_name: target.host_key_name.clone(),
        port: target.port,
        known,
        files: target.known_hosts.clone(),
        accept_new: opts.accept_new_host_keys,
    };
    let handshake_error = |e: CheckError| match e {
        CheckError::Refused(e) => e,
        CheckError::Ssh(source) => SshError::Handshake {
            host: name.clone(),
            addr: addr.clone(),
            source,
        },
    };
    let mut handle = match &via {
        None => {
            let tcp = tokio::time::timeout(
                timeout,
                tokio::net::TcpStream::connect((target.hostname.as_str(), target.port)),
            )
            .await
            .map_err(|_| timed_out("TCP connect"))?
            .map_err(|source| SshError::Connect {
                host: name.clone(),
                addr: addr.clone(),
                source,
            })?;
            let _ = tcp.set_nodelay(true);
            tokio::time::timeout(timeout, client::connect_stream(config, tcp, check))
                .await
                .map_err(|_| timed_out("SSH handshake"))?
                .map_err(handshake_error)?
        }
        Some(bastion) => {
            let stream =
                tokio::time::timeout(timeout, bastion.tunnel(&target.hostname, target.port))
                    .await
                    .map_err(|_| timed_out("opening the tunnel through the bastion"))??;
            tokio::time::timeout(timeout, client::connect_stream(config, stream, check))
                .await
                .map_err(|_| timed_out("SSH handshake"))?
                .map_err(handshake_error)?
        }
    };
    tokio::time::timeout(timeout, authenticate(&mut handle, target, &addr))
        .await
        .map_err(|_| timed_out("authentication"))??;
    let stats = Arc::new(Stats::default());
    stats.connections.fetch_add(1, Ordering::Relaxed);
    tracing::debug!("{name}: connected to {}@{addr}", target.user);
    Ok(Session {
        name,
        addr,
        user: target.user.clone(),
        handle,
        stats,
        exec_timeout: opts.exec_timeout,
        max_output: opts.max_output,
        _via: via,
    })
}

fn client_config(
    target: &ResolvedHost,
    opts: &ConnectOptions,
    known: &[known_hosts::Entry],
) -> client::Config {
    let cheap = [kex::CURVE25519, kex::CURVE25519_PRE_RFC_8731];
    let mut kex_order: Vec<kex::Name> = cheap.to_vec();
    kex_order.extend(
        Preferred::DEFAULT
            .kex
            .iter()
            .filter(|k| !cheap.contains(k))
            .copied(),
    );
    let key = known_hosts::preferred_algorithms(
        known,
        &target.host_key_name,
        target.port,
        &Preferred::DEFAULT.key,
    );
    // AES-GCM first: an AEAD that both ends run in hardware (AES-NI), cheaper for sshd than
    // chacha20-poly1305; the rest of the default order follows.
    let mut cipher_order = vec![cipher::AES_256_GCM];
    cipher_order.extend(
        Preferred::DEFAULT
            .cipher
            .iter()
            .filter(|c| **c != cipher::AES_256_GCM)
            .copied(),
    );
    client::Config {
        preferred: Preferred {
            kex: Cow::Owned(kex_order),
            key: Cow::Owned(key),
            cipher: Cow::Owned(cipher_order),
            ..Preferred::DEFAULT
        },
        keepalive_interval: Some(target.server_alive_interval.unwrap_or(opts.keepalive)),
        keepalive_max: opts.keepalive_max,
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    }
}

/// The russh client handler: decides on the host key, nothing else.
struct HostKeyCheck {
    host: String,
    addr: String,
    key_name: String,
    port: u16,
    known: Vec<known_hosts::Entry>,
    files: Vec<PathBuf>,
    accept_new: bool,
}

#[derive(Debug)]
enum CheckError {
    Ssh(russh::Error),
    Refused(SshError),
}

impl From<russh::Error> for CheckError {
    fn from(e: russh::Error) -> Self {
        CheckError::Ssh(e)
    }
}

impl client::Handler for HostKeyCheck {
    type Error = CheckError;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, CheckError> {
        // Host certificates are never requested (Preferred::host_key_certificates is empty).
        let PublicKeyOrCertificate::PublicKey { key, .. } = offered else {
            return Ok(false);
        };
        let verdict = known_hosts::check(&self.known, &self.key_name, self.port, key);
        let verdict = match verdict {
            HostKeyVerdict::Unknown if self.accept_new => self.learn(key).await?,
            other => other,
        };
        match verdict {
            HostKeyVerdict::Known => Ok(true),
            refused => Err(CheckError::Refused(self.refusal(refused, key))),
        }
    }
}

impl HostKeyCheck {
    /// Appends the key to the first known_hosts file; the verdict under the file lock wins.
    async fn learn(&self, key: &PublicKey) -> Result<HostKeyVerdict, CheckError> {
        let Some(path) = self.files.first().cloned() else {
            return Ok(HostKeyVerdict::Unknown);
        };
        let (name, port, key) = (self.key_name.clone(), self.port, key.clone());
        let fingerprint = known_hosts::fingerprint(&key);
        let learned =
            tokio::task::spawn_blocking(move || known_hosts::learn(&path, &name, port, &key))
                .await
                .map_err(|e| CheckError::Ssh(russh::Error::IO(std::io::Error::other(e))))?
                .map_err(|source| {
                    CheckError::Refused(SshError::KnownHosts {
                        host: self.host.clone(),
                        source,
                    })
                })?;
        match learned {
            Learned::Added => {
                tracing::warn!(
                    "{}: learned host key {fingerprint} for {} into {}",
                    self.host,
                    known_hosts::host_port(&self.key_name, self.port),
                    self.files[0].display()
                );
                Ok(HostKeyVerdict::Known)
            }
            Learned::AlreadyPresent => Ok(HostKeyVerdict::Known),
            Learned::Conflict(verdict) => Ok(verdict),
        }
    }

    fn refusal(&self, verdict: HostKeyVerdict, key: &PublicKey) -> SshError {
        let offered = format!(
            "{} {}",
            key.algorithm().as_str(),
            known_hosts::fingerprint(key)
        );
        let (host, addr) = (self.host.clone(), self.addr.clone());
        match verdict {
            HostKeyVerdict::Changed { at, known } => SshError::HostKeyChanged {
                host,
                addr,
                at,
                known: known.as_str().to_string(),
                offered,
            },
            HostKeyVerdict::Revoked { at } => SshError::HostKeyRevoked { host, addr, at },
            HostKeyVerdict::Unknown | HostKeyVerdict::Known => SshError::HostKeyUnknown {
                host,
                addr,
                files: self
                    .files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                offered,
            },
        }
    }
}

/// Identity files first, then every ssh-agent identity, until one is accepted.
async fn authenticate(
    handle: &mut Handle<HostKeyCheck>,
    target: &ResolvedHost,
    addr: &str,
) -> Result<(), SshError> {
    let user = target.user.as_str();
    let ssh_error = |source| SshError::Handshake {
        host: target.name.clone(),
        addr: addr.into(),
        source,
    };
    let mut tried = Vec::new();
    let mut offered: Vec<PublicKey> = Vec::new();
    for path in &target.identity_files {
        let shown = path.display();
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(key) => key,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                tried.push(format!(
                    "{shown} (passphrase-protected: load it into ssh-agent with `ssh-add {shown}`)"
                ));
                continue;
            }
            Err(russh::keys::Error::IO(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                tried.push(format!("{shown} (no such file)"));
                continue;
            }
            Err(e) => {
                tried.push(format!("{shown} (unreadable: {e})"));
                continue;
            }
        };
        offered.push(key.public_key().clone());
        let hash = rsa_hash(handle, key.algorithm().is_rsa())
            .await
            .map_err(ssh_error)?;
        let result = handle
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(ssh_error)?;
        if result.success() {
            return Ok(());
        }
        tried.push(format!("{shown} (rejected)"));
    }
    if let Some(socket) = &target.agent_socket {
        match AgentClient::connect_uds(socket).await {
            Ok(mut agent) => {
                if let Some(binding) = handle.agent_session_binding() {
                    // Older agents do not know session-bind; plain keys work without it.
                    let _ = agent.bind_session(binding, false).await;
                }
                match agent.request_identities().await {
                    Ok(identities) => {
                        for identity in identities {
                            let key = identity.public_key().into_owned();
                            if offered.iter().any(|k| k.key_data() == key.key_data()) {
                                continue;
                            }
                            let shown = format!(
                                "agent key {} {}",
                                key.algorithm().as_str(),
                                identity.comment()
                            );
                            let hash = rsa_hash(handle, key.algorithm().is_rsa())
                                .await
                                .map_err(ssh_error)?;
                            match handle
                                .authenticate_publickey_with(user, key, hash, &mut agent)
                                .await
                            {
                                Ok(result) if result.success() => return Ok(()),
                                Ok(_) => tried.push(format!("{shown} (rejected)")),
                                Err(e) => tried.push(format!("{shown} ({e})")),
                            }
                        }
                    }
                    Err(e) => tried.push(format!("ssh-agent at {} ({e})", socket.display())),
                }
            }
            Err(e) => tried.push(format!(
                "ssh-agent at {} (cannot connect: {e})",
                socket.display()
            )),
        }
    }
    Err(SshError::Auth {
        host: target.name.clone(),
        addr: addr.into(),
        user: user.into(),
        tried,
    })
}

/// rsa-sha2-512/256 as the server advertises; rsa-sha2-256 if it says nothing (every OpenSSH
/// since 7.2 accepts it, and 8.8+ refuses SHA-1 `ssh-rsa`).
async fn rsa_hash(
    handle: &Handle<HostKeyCheck>,
    is_rsa: bool,
) -> Result<Option<HashAlg>, russh::Error> {
    if !is_rsa {
        return Ok(None);
    }
    Ok(handle
        .best_supported_rsa_hash()
        .await?
        .unwrap_or(Some(HashAlg::Sha256)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(status: u32, stderr: &str) -> ExecOutput {
        ExecOutput {
            status,
            stderr: stderr.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn remote_commands() {
        for (script, user, has_stdin, want) in [
            ("echo hi", "root", false, "sh -s"),
            ("echo hi", "deploy", false, "sudo -n -- sh -s"),
            ("cat > /x", "root", true, "sh -c 'cat > /x'"),
            (
                "echo 'a b'",
                "deploy",
                true,
                r"sudo -n -- sh -c 'echo '\''a b'\'''",
            ),
        ] {
            assert_eq!(remote_command(script, user, has_stdin), want, "{script}");
        }
    }

    #[test]
    fn quoting_survives_a_real_shell() {
        let tricky = "a'b\"c$HOME`x`\\n;|&*\n end";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", sh_quote(tricky)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), tricky);
    }

    #[test]
    fn scripts_on_stdin_are_parsed_whole_before_they_run() {
        // `cat` would otherwise swallow the rest of the script as its input.
        let script = "cat\necho after";
        let mut child = std::process::Command::new("sh")
            .arg("-s")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&script_on_stdin(script))
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "after\n");
    }

    #[test]
    fn sudo_refusals() {
        for (status, stderr, want) in [
            (
                1,
                "sudo: a password is required\n",
                Some("a password is required"),
            ),
            (
                1,
                "sudo: sorry, you must have a tty to run sudo\n",
                Some("sorry, you must have a tty to run sudo"),
            ),
            (
                1,
                "sudo: deploy is not in the sudoers file.\n",
                Some("deploy is not in the sudoers file."),
            ),
            (1, "systemctl: unit not found\n", None),
            (2, "sudo: a password is required\n", None),
            (1, "sudo: something the script printed\n", None),
            (0, "", None),
        ] {
            assert_eq!(
                sudo_failure(&output(status, stderr)).as_deref(),
                want,
                "{stderr}"
            );
        }
    }

    #[test]
    fn signals_map_to_shell_statuses() {
        assert_eq!(signal_status(&Sig::KILL), 137);
        assert_eq!(signal_status(&Sig::TERM), 143);
    }

    #[test]
    fn addresses_for_messages() {
        assert_eq!(display_addr("10.0.0.3", 22), "10.0.0.3:22");
        assert_eq!(display_addr("fd00::3", 2222), "[fd00::3]:2222");
    }

    #[test]
    fn curve25519_comes_first() {
        let target = ResolvedHost {
            name: "n".into(),
            hostname: "n".into(),
            port: 22,
            user: "root".into(),
            identity_files: vec![],
            known_hosts: vec![],
            host_key_name: "n".into(),
            agent_socket: None,
            jump: None,
            connect_timeout: None,
            server_alive_interval: Some(Duration::from_secs(5)),
            notes: vec![],
        };
        let config = client_config(&target, &ConnectOptions::default(), &[]);
        assert_eq!(config.preferred.kex[0], kex::CURVE25519);
        assert!(
            config
                .preferred
                .kex
                .contains(&kex::EXTENSION_SUPPORT_AS_CLIENT)
        );
        assert!(
            config
                .preferred
                .kex
                .contains(&kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT)
        );
        // A hardware AEAD first; every default cipher stays offered, once.
        assert_eq!(config.preferred.cipher[0], cipher::AES_256_GCM);
        assert!(config.preferred.cipher.contains(&cipher::CHACHA20_POLY1305));
        assert_eq!(
            config.preferred.cipher.len(),
            Preferred::DEFAULT.cipher.len()
        );
        assert_eq!(config.keepalive_interval, Some(Duration::from_secs(5)));
    }
}
