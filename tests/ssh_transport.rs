//! The SSH transport against in-process russh servers on 127.0.0.1: host-key checking,
//! authentication, exec, tunnels, connection reuse and ProxyJump.
//!
//! Each fake host runs exec requests with the local `sh -c`, as sshd runs them with the login
//! shell, forwards direct-tcpip channels to local ports, and logs what it was sent, so a test
//! can prove that a refused host saw no authentication and no command.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dsctl::known_hosts;
use dsctl::ssh::{ConnectOptions, Connector, RemoteHost, SshError, connect};
use dsctl::ssh_config::ResolvedHost;
use russh::keys::ssh_key::{LineEnding, PrivateKey, PublicKey};
use russh::keys::{Algorithm, Certificate};
use russh::server::{self, Auth, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelMsg, ChannelOpenFailure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// A fake host.

/// What a fake host was sent.
#[derive(Debug, Default)]
struct Log {
    connections: usize,
    auth_attempts: usize,
    authenticated_as: Vec<String>,
    sessions: usize,
    execs: Vec<String>,
    tunnels: Vec<(String, u32)>,
}

#[derive(Clone, Default)]
struct HostOptions {
    /// Allow direct-tcpip channels (a bastion, or a host probed through a tunnel).
    forward: bool,
    /// Prepended to PATH for commands (a fake `sudo`).
    path_prefix: Option<PathBuf>,
}

struct FakeHost {
    port: u16,
    key: PublicKey,
    log: Arc<Mutex<Log>>,
    task: JoinHandle<()>,
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeHost {
    async fn start(authorized: Vec<PublicKey>, options: HostOptions) -> FakeHost {
        let host_key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
        let key = host_key.public_key().clone();
        let config = Arc::new(server::Config {
            keys: vec![host_key],
            auth_rejection_time: Duration::ZERO,
            auth_rejection_time_initial: Some(Duration::ZERO),
            ..Default::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Log::default()));
        let authorized = Arc::new(authorized);
        let task = {
            let log = log.clone();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    log.lock().unwrap().connections += 1;
                    let connection = Connection {
                        authorized: authorized.clone(),
                        options: options.clone(),
                        log: log.clone(),
                        channels: HashMap::new(),
                    };
                    let config = config.clone();
                    tokio::spawn(async move {
                        if let Ok(session) = server::run_stream(config, tcp, connection).await {
                            let _ = session.await;
                        }
                    });
                }
            })
        };
        FakeHost {
            port,
            key,
            log,
            task,
        }
    }

    fn log<T>(&self, f: impl FnOnce(&Log) -> T) -> T {
        f(&self.log.lock().unwrap())
    }
}

struct Connection {
    authorized: Arc<Vec<PublicKey>>,
    options: HostOptions,
    log: Arc<Mutex<Log>>,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl Connection {
    fn is_authorized(&self, key: &PublicKey) -> bool {
        self.authorized
            .iter()
            .any(|k| k.key_data() == key.key_data())
    }
}

impl server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        self.log.lock().unwrap().auth_attempts += 1;
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, _user: &str, _password: &str) -> Result<Auth, Self::Error> {
        self.log.lock().unwrap().auth_attempts += 1;
        Ok(Auth::reject())
    }

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        self.log.lock().unwrap().auth_attempts += 1;
        Ok(if self.is_authorized(offer.public_key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if !self.is_authorized(key.public_key) {
            return Ok(Auth::reject());
        }
        self.log.lock().unwrap().authenticated_as.push(user.into());
        Ok(Auth::Accept)
    }

    async fn auth_openssh_certificate(
        &mut self,
        _user: &str,
        _certificate: &Certificate,
    ) -> Result<Auth, Self::Error> {
        Ok(Auth::reject())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.log.lock().unwrap().sessions += 1;
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
        let command = String::from_utf8_lossy(command).into_owned();
        self.log.lock().unwrap().execs.push(command.clone());
        let Some(channel) = self.channels.remove(&id) else {
            return session.channel_failure(id);
        };
        session.channel_success(id)?;
        tokio::spawn(run_command(
            channel,
            command,
            self.options.path_prefix.clone(),
        ));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        _originator: &str,
        _originator_port: u32,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.log.lock().unwrap().tunnels.push((host.into(), port));
        if !self.options.forward {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        match TcpStream::connect((host, port as u16)).await {
            Ok(mut tcp) => {
                reply.accept().await;
                tokio::spawn(async move {
                    let mut stream = channel.into_stream();
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut tcp).await;
                });
            }
            Err(_) => reply.reject(ChannelOpenFailure::ConnectFailed).await,
        }
        Ok(())
    }
}

/// Runs `command` like sshd: `sh -c`, stdin from the channel, stdout and stderr back, then
/// the exit status, EOF and close.
async fn run_command(channel: Channel<Msg>, command: String, path_prefix: Option<PathBuf>) {
    let (mut reader, writer) = channel.split();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(&command);
    if let Some(prefix) = path_prefix {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", prefix.display()));
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Channel input goes through an unbounded queue, as sshd buffers it: blocking russh's
    // session loop on a full stdin pipe would stall the window adjustments our output needs.
    let (queue, mut queued) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let feed = tokio::spawn(async move {
        while let Some(data) = queued.recv().await {
            if stdin.write_all(&data).await.is_err() {
                break;
            }
        }
    });
    let input = async move {
        while let Some(message) = reader.wait().await {
            match message {
                ChannelMsg::Data { data } => {
                    let _ = queue.send(data.to_vec());
                }
                ChannelMsg::Eof => break,
                _ => {}
            }
        }
    };
    let output = async {
        let _ = tokio::join!(writer.data(stdout), writer.extended_data(1, stderr));
    };
    let ((), ()) = tokio::join!(input, output);
    let status = child.wait().await.unwrap();
    feed.abort();
    let _ = writer
        .exit_status(status.code().unwrap_or(255) as u32)
        .await;
    let _ = writer.eof().await;
    let _ = writer.close().await;
}

// ---------------------------------------------------------------------------------------------
// The client side.

struct Client {
    dir: tempfile::TempDir,
    key: PrivateKey,
    identity: PathBuf,
    known_hosts: PathBuf,
}

impl Client {
    fn new() -> Client {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
        let identity = dir.path().join("id_ed25519");
        write_private(&identity, &key);
        let known_hosts = dir.path().join("known_hosts");
        Client {
            dir,
            key,
            identity,
            known_hosts,
        }
    }

    fn public(&self) -> PublicKey {
        self.key.public_key().clone()
    }

    /// Records `host`'s real key, as a provisioning step would.
    fn trust(&self, host: &FakeHost) {
        self.trust_key(host.port, &host.key);
    }

    fn trust_key(&self, port: u16, key: &PublicKey) {
        let line = known_hosts::entry_line("127.0.0.1", port, key);
        let mut text = std::fs::read_to_string(&self.known_hosts).unwrap_or_default();
        text.push_str(&line);
        text.push('\n');
        std::fs::write(&self.known_hosts, text).unwrap();
    }

    fn target(&self, name: &str, port: u16) -> ResolvedHost {
        ResolvedHost {
            name: name.into(),
            hostname: "127.0.0.1".into(),
            port,
            user: "root".into(),
            identity_files: vec![self.identity.clone()],
            known_hosts: vec![self.known_hosts.clone()],
            host_key_name: "127.0.0.1".into(),
            agent_socket: None,
            jump: None,
            connect_timeout: Some(Duration::from_secs(5)),
            server_alive_interval: None,
            notes: Vec::new(),
        }
    }
}

/// Writes a private key as OpenSSH does (mode 0600: ssh-add refuses anything looser).
fn write_private(path: &Path, key: &PrivateKey) {
    std::fs::write(path, key.to_openssh(LineEnding::LF).unwrap().as_bytes()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn options() -> ConnectOptions {
    ConnectOptions::default()
}

fn accept_new() -> ConnectOptions {
    ConnectOptions {
        accept_new_host_keys: true,
        ..ConnectOptions::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_returns_stdout_stderr_and_exit_status() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    client.trust(&host);
    let session = connect(&client.target("node-1", host.port), &options())
        .await
        .unwrap();

    let out = session
        .exec("echo out; echo err >&2; exit 3", None)
        .await
        .unwrap();
    assert_eq!(out.stdout_lossy(), "out\n");
    assert_eq!(out.stderr_lossy(), "err\n");
    assert_eq!(out.status, 3);
    assert!(!out.success());

    let ok = session.exec("true", None).await.unwrap();
    assert!(ok.success());
    assert_eq!(host.log(|l| l.authenticated_as.clone()), vec!["root"]);
    // Root's scripts go to `sh -s` on stdin, whatever the login shell.
    assert_eq!(host.log(|l| l.execs[0].clone()), "sh -s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_reaches_the_command_and_large_data_flows_both_ways() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    client.trust(&host);
    let session = connect(&client.target("node-1", host.port), &options())
        .await
        .unwrap();

    let out = session
        .exec("tr a-z A-Z", Some(b"hello stdin\n"))
        .await
        .unwrap();
    assert_eq!(out.stdout_lossy(), "HELLO STDIN\n");

    // Larger than the channel window (2 MiB) in both directions at once.
    let big: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let out = session.exec("cat", Some(&big)).await.unwrap();
    assert_eq!(out.stdout.len(), big.len());
    assert!(out.stdout == big);

    // A command that ignores its input still finishes.
    let out = session.exec("echo ignored", Some(&big)).await.unwrap();
    assert_eq!(out.stdout_lossy(), "ignored\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_scripts_travel_on_stdin_and_cannot_eat_themselves() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    client.trust(&host);
    let session = connect(&client.target("node-1", host.port), &options())
        .await
        .unwrap();
    // 300 KiB: more than Linux allows in one argument.
    let filler = format!(": '{}'\n", "x".repeat(1000)).repeat(300);
    let script = format!("{filler}cat\necho \"it's done\"");
    let out = session.exec(&script, None).await.unwrap();
    assert_eq!(out.stdout_lossy(), "it's done\n");
    assert!(out.success(), "{}", out.stderr_lossy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_is_refused_before_anything_is_sent() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    let err = connect(&client.target("node-3", host.port), &options())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SshError::HostKeyUnknown { .. }), "{err:?}");
    assert!(
        message.starts_with(&format!(
            "host key for node-3 (127.0.0.1:{}) is not in {}; refusing to connect (use --accept-new-host-keys to learn it",
            host.port,
            client.known_hosts.display()
        )),
        "{message}"
    );
    assert!(message.contains("ssh-ed25519 SHA256:"), "{message}");
    assert_eq!(
        host.log(|l| (l.auth_attempts, l.sessions, l.execs.len())),
        (0, 0, 0)
    );
    assert!(
        !client.known_hosts.exists(),
        "nothing learned without the flag"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_even_with_accept_new() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    let impostor = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
    client.trust_key(host.port, impostor.public_key());
    let before = std::fs::read_to_string(&client.known_hosts).unwrap();

    let err = connect(&client.target("node-3", host.port), &accept_new())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SshError::HostKeyChanged { .. }), "{err:?}");
    assert!(
        message.starts_with("HOST KEY CHANGED for node-3"),
        "{message}"
    );
    assert!(
        message.contains(&format!("{} line 1", client.known_hosts.display())),
        "{message}"
    );
    assert!(
        message.contains("possible man-in-the-middle; refusing"),
        "{message}"
    );
    assert_eq!(host.log(|l| (l.auth_attempts, l.sessions)), (0, 0));
    assert_eq!(
        std::fs::read_to_string(&client.known_hosts).unwrap(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_new_learns_the_key_and_the_next_connect_is_strict() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    let target = client.target("node-3", host.port);

    let session = connect(&target, &accept_new()).await.unwrap();
    assert!(session.exec("true", None).await.unwrap().success());
    let text = std::fs::read_to_string(&client.known_hosts).unwrap();
    assert_eq!(
        text,
        format!(
            "{}\n",
            known_hosts::entry_line("127.0.0.1", host.port, &host.key)
        )
    );
    assert!(text.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", host.port)));

    // Without the flag now, and learned only once.
    let again = connect(&target, &options()).await.unwrap();
    assert!(again.exec("true", None).await.unwrap().success());
    connect(&target, &accept_new()).await.unwrap();
    assert_eq!(std::fs::read_to_string(&client.known_hosts).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_key_is_an_auth_error_naming_what_was_tried() {
    let client = Client::new();
    let someone_else = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
    let host = FakeHost::start(
        vec![someone_else.public_key().clone()],
        HostOptions::default(),
    )
    .await;
    client.trust(&host);
    let mut target = client.target("node-4", host.port);
    target
        .identity_files
        .push(client.dir.path().join("missing_key"));
    let err = connect(&target, &options()).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SshError::Auth { .. }), "{err:?}");
    assert!(
        message.starts_with(&format!(
            "authentication as root@node-4 (127.0.0.1:{}) failed; tried: ",
            host.port
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("{} (rejected)", client.identity.display())),
        "{message}"
    );
    assert!(message.contains("missing_key (no such file)"), "{message}");
    assert_eq!(host.log(|l| l.sessions), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passphrase_protected_key_points_at_ssh_agent() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    client.trust(&host);
    let locked = client.dir.path().join("id_locked");
    let encrypted = client.key.encrypt(&mut rand::rng(), "secret").unwrap();
    write_private(&locked, &encrypted);
    let mut target = client.target("node-5", host.port);
    target.identity_files = vec![locked.clone()];
    let err = connect(&target, &options()).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "{} (passphrase-protected: load it into ssh-agent with `ssh-add {}`)",
            locked.display(),
            locked.display()
        )),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_agent_identities_are_tried_after_identity_files() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    client.trust(&host);
    let socket = client.dir.path().join("agent.sock");
    let agent = tokio::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut agent) = agent else {
        eprintln!("ssh-agent is not installed; skipping");
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let added = tokio::process::Command::new("ssh-add")
        .arg(&client.identity)
        .env("SSH_AUTH_SOCK", &socket)
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(added.success());

    let mut target = client.target("node-6", host.port);
    target.identity_files = vec![client.dir.path().join("missing_key")];
    target.agent_socket = Some(socket.clone());
    let session = connect(&target, &options()).await.unwrap();
    assert!(session.exec("true", None).await.unwrap().success());
    agent.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_refused_quickly() {
    let client = Client::new();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let err = connect(&client.target("node-7", port), &options())
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to node-7 (127.0.0.1:{port}): ")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_never_answers_times_out() {
    let client = Client::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let mut target = client.target("node-8", port);
    target.connect_timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let err = connect(&target, &options()).await.unwrap_err();
    assert!(
        matches!(
            err,
            SshError::Timeout {
                stage: "SSH handshake",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("node-8 (127.0.0.1:{port}): SSH handshake timed out after 0.3s")
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    silent.abort();
}

/// A one-shot HTTP server on 127.0.0.1 that answers every request with `body`.
async fn http_server(body: &'static str) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 1024];
                let _ = tcp.read(&mut request).await;
                let response = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, task)
}

async fn http_get(session: &impl RemoteHost, port: u16) -> String {
    let mut stream = session.open_tcp(port).await.unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_tcp_reaches_the_hosts_local_port() {
    let client = Client::new();
    let host = FakeHost::start(
        vec![client.public()],
        HostOptions {
            forward: true,
            ..Default::default()
        },
    )
    .await;
    client.trust(&host);
    let (http_port, http) = http_server("hello from the host").await;
    let session = connect(&client.target("node-1", host.port), &options())
        .await
        .unwrap();
    let response = http_get(&session, http_port).await;
    assert!(response.starts_with("HTTP/1.0 200 OK"), "{response}");
    assert!(response.ends_with("hello from the host"), "{response}");
    assert_eq!(
        host.log(|l| l.tunnels.clone()),
        vec![("127.0.0.1".to_string(), u32::from(http_port))]
    );
    assert_eq!(session.stats().tunnels, 1);

    // A port nobody listens on is a channel error, and the session stays usable.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let Err(err) = session.open_tcp(closed).await else {
        panic!("a tunnel to a closed port opened");
    };
    assert!(
        err.to_string()
            .starts_with(&format!("node-1: opening a tunnel to 127.0.0.1:{closed}: ")),
        "{err}"
    );
    assert!(session.exec("true", None).await.unwrap().success());
    http.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_serves_many_execs_also_concurrently() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    client.trust(&host);
    let session = Arc::new(
        connect(&client.target("node-1", host.port), &options())
            .await
            .unwrap(),
    );
    for i in 0..5 {
        let out = session.exec(&format!("echo {i}"), None).await.unwrap();
        assert_eq!(out.stdout_lossy(), format!("{i}\n"));
    }
    // Fewer than sshd's default MaxSessions (10) channels at once.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let session = session.clone();
        tasks.spawn(async move { (i, session.exec(&format!("echo {i}"), None).await.unwrap()) });
    }
    while let Some(done) = tasks.join_next().await {
        let (i, out) = done.unwrap();
        assert_eq!(out.stdout_lossy(), format!("{i}\n"));
    }
    let stats = session.stats();
    assert_eq!((stats.connections, stats.execs, stats.tunnels), (1, 13, 0));
    assert_eq!(host.log(|l| (l.connections, l.execs.len())), (1, 13));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_jump_shares_one_bastion_connection() {
    let client = Client::new();
    let bastion = FakeHost::start(
        vec![client.public()],
        HostOptions {
            forward: true,
            ..Default::default()
        },
    )
    .await;
    let first = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    let second = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    for host in [&bastion, &first, &second] {
        client.trust(host);
    }
    let mut bastion_target = client.target("bastion jump", bastion.port);
    bastion_target.user = "jumper".into();
    let behind = |name: &str, port| {
        let mut target = client.target(name, port);
        target.jump = Some(Box::new(bastion_target.clone()));
        target
    };

    let connector = Connector::new(options());
    let (target_a, target_b) = (behind("node-a", first.port), behind("node-b", second.port));
    let (a, b) = tokio::join!(connector.connect(&target_a), connector.connect(&target_b));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.exec("echo a", None).await.unwrap().stdout_lossy(), "a\n");
    assert_eq!(b.exec("echo b", None).await.unwrap().stdout_lossy(), "b\n");

    assert_eq!(bastion.log(|l| l.connections), 1, "one bastion connection");
    assert_eq!(bastion.log(|l| l.authenticated_as.clone()), vec!["jumper"]);
    let mut tunnels = bastion.log(|l| l.tunnels.clone());
    tunnels.sort();
    let mut want = vec![
        ("127.0.0.1".to_string(), u32::from(first.port)),
        ("127.0.0.1".to_string(), u32::from(second.port)),
    ];
    want.sort();
    assert_eq!(tunnels, want);
    assert_eq!(bastion.log(|l| l.execs.len()), 0);
    assert_eq!(first.log(|l| l.connections), 1);
    assert_eq!(a.stats().connections, 1);
    let bastions = connector.bastion_stats();
    assert_eq!(bastions.len(), 1);
    assert_eq!(bastions[0].0, format!("jumper@127.0.0.1:{}", bastion.port));
    assert_eq!((bastions[0].1.connections, bastions[0].1.tunnels), (1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_bastion_fails_every_host_behind_it_with_one_attempt() {
    let client = Client::new();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let target = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    client.trust(&target);
    let mut host = client.target("node-a", target.port);
    host.jump = Some(Box::new(client.target("bastion gone", closed)));
    let connector = Connector::new(options());
    for _ in 0..2 {
        let err = connector.connect(&host).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("node-a: through the bastion: cannot connect to bastion gone"),
            "{err}"
        );
    }
    assert_eq!(target.log(|l| l.connections), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_key_refused_behind_a_bastion_is_still_refused() {
    let client = Client::new();
    let bastion = FakeHost::start(
        vec![client.public()],
        HostOptions {
            forward: true,
            ..Default::default()
        },
    )
    .await;
    let target = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    client.trust(&bastion);
    let mut host = client.target("node-a", target.port);
    host.jump = Some(Box::new(client.target("bastion", bastion.port)));
    let err = connect(&host, &options()).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyUnknown { .. }), "{err:?}");
    assert_eq!(target.log(|l| l.auth_attempts), 0);
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_root_users_go_through_sudo_n() {
    let client = Client::new();
    let bin = client.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // A stand-in for sudo: checks the flags dsctl must pass, then runs the command.
    write_executable(
        &bin.join("sudo"),
        "#!/bin/sh\n[ \"$1\" = -n ] && [ \"$2\" = -- ] || { echo \"sudo: bad flags $*\" >&2; exit 2; }\nshift 2\nexec \"$@\"\n",
    );
    let host = FakeHost::start(
        vec![client.public()],
        HostOptions {
            path_prefix: Some(bin.clone()),
            ..Default::default()
        },
    )
    .await;
    client.trust(&host);
    let mut target = client.target("node-9", host.port);
    target.user = "deploy".into();
    let session = connect(&target, &options()).await.unwrap();
    let out = session.exec("echo as root", None).await.unwrap();
    assert_eq!(out.stdout_lossy(), "as root\n");
    let out = session.exec("cat", Some(b"data")).await.unwrap();
    assert_eq!(out.stdout_lossy(), "data");
    assert_eq!(
        host.log(|l| l.execs.clone()),
        vec![
            "sudo -n -- sh -s".to_string(),
            "sudo -n -- sh -c 'cat'".to_string()
        ]
    );
    assert_eq!(host.log(|l| l.authenticated_as.clone()), vec!["deploy"]);

    // A sudo that wants a password is a clear error, not a failed script.
    write_executable(
        &bin.join("sudo"),
        "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n",
    );
    let err = session.exec("true", None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "node-9: `sudo -n` as deploy failed: a password is required \
         (dsctl needs passwordless sudo for users other than root)"
    );
}

/// Interop with a real OpenSSH sshd, run by hand or on the test fleet:
///
/// ```text
/// DSCTL_INTEROP_SSHD=10.213.0.2:22 DSCTL_INTEROP_KEY=~/.ssh/id_ed25519 [DSCTL_INTEROP_USER=root] \
///   cargo test --test ssh_transport -- --ignored openssh_interop
/// ```
///
/// Learns the host key into an empty known_hosts (after checking that it is refused first),
/// then runs commands, stdin, a large script and a tunnel to sshd's own port over one
/// connection. With `ssh-keyscan` installed it also checks an RSA-only known_hosts (rsa-sha2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real sshd: set DSCTL_INTEROP_SSHD and DSCTL_INTEROP_KEY"]
async fn openssh_interop() {
    let addr = std::env::var("DSCTL_INTEROP_SSHD").expect("DSCTL_INTEROP_SSHD=host:port");
    let key = std::env::var("DSCTL_INTEROP_KEY").expect("DSCTL_INTEROP_KEY=private key path");
    let user = std::env::var("DSCTL_INTEROP_USER").unwrap_or_else(|_| "root".into());
    let (hostname, port) = addr.rsplit_once(':').expect("host:port");
    let port: u16 = port.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known_hosts");
    let target = ResolvedHost {
        name: "interop".into(),
        hostname: hostname.into(),
        port,
        user: user.clone(),
        identity_files: vec![dsctl::ssh_config::expand_tilde(
            &key,
            Path::new(&std::env::var("HOME").unwrap_or_default()),
        )],
        known_hosts: vec![known.clone()],
        host_key_name: hostname.into(),
        agent_socket: None,
        jump: None,
        connect_timeout: Some(Duration::from_secs(10)),
        server_alive_interval: None,
        notes: Vec::new(),
    };

    let err = connect(&target, &options()).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyUnknown { .. }), "{err}");
    let started = Instant::now();
    let session = connect(&target, &accept_new()).await.unwrap();
    eprintln!("connect + auth: {:?}", started.elapsed());
    let learned = std::fs::read_to_string(&known).unwrap();
    assert!(
        learned.contains("ssh-ed25519"),
        "ed25519 preferred: {learned}"
    );

    let out = session
        .exec("id -u; echo err >&2; exit 7", None)
        .await
        .unwrap();
    assert_eq!(
        (
            out.stdout_lossy().as_str(),
            out.stderr_lossy().as_str(),
            out.status
        ),
        ("0\n", "err\n", 7)
    );
    let out = session
        .exec("wc -c", Some(&vec![b'x'; 5 * 1024 * 1024]))
        .await
        .unwrap();
    assert_eq!(out.stdout_lossy().trim(), (5 * 1024 * 1024).to_string());
    let script = format!("{}echo done", ": 'padding'\n".repeat(20_000));
    assert_eq!(
        session.exec(&script, None).await.unwrap().stdout_lossy(),
        "done\n"
    );
    let started = Instant::now();
    for _ in 0..10 {
        assert!(session.exec("true", None).await.unwrap().success());
    }
    eprintln!("10 execs on one connection: {:?}", started.elapsed());
    let mut tunnel = session.open_tcp(port).await.unwrap();
    let mut banner = [0u8; 8];
    tunnel.read_exact(&mut banner).await.unwrap();
    assert_eq!(&banner, b"SSH-2.0-");
    assert_eq!(session.stats().connections, 1);
    session.close().await;

    // A changed key is refused: swap in a random one.
    let impostor = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
    std::fs::write(
        &known,
        known_hosts::entry_line(hostname, port, impostor.public_key()) + "\n",
    )
    .unwrap();
    let err = connect(&target, &accept_new()).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyChanged { .. }), "{err}");

    // Known only by its RSA host key: the rsa-sha2 host-key algorithms must be negotiated.
    let scan = tokio::process::Command::new("ssh-keyscan")
        .args(["-t", "rsa", "-p", &port.to_string(), hostname])
        .stderr(Stdio::null())
        .output()
        .await;
    if let Some(scan) = scan
        .ok()
        .filter(|s| s.status.success() && !s.stdout.is_empty())
    {
        std::fs::write(&known, &scan.stdout).unwrap();
        let session = connect(&target, &options()).await.unwrap();
        assert!(session.exec("true", None).await.unwrap().success());
    } else {
        eprintln!("ssh-keyscan gave no RSA key; skipping the RSA host-key check");
    }
}

/// A command that never returns ends at the session's deadline, naming the host, and the
/// session still serves the next command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_command_is_reported_within_its_deadline() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    client.trust(&host);
    let opts = ConnectOptions {
        exec_timeout: Duration::from_millis(500),
        ..options()
    };
    let session = connect(&client.target("node-1", host.port), &opts)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let err = session.exec("sleep 1000", None).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, SshError::ExecTimeout { .. }), "{err}");
    assert!(err.to_string().contains("node-1"), "{err}");
    assert!(session.exec("true", None).await.unwrap().success());
}

/// Endless output stops at the cap instead of growing dsctl's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_output_stops_at_the_cap() {
    let client = Client::new();
    let host = FakeHost::start(vec![client.public()], HostOptions::default()).await;
    client.trust(&host);
    let opts = ConnectOptions {
        max_output: 1 << 20,
        ..options()
    };
    let session = connect(&client.target("node-1", host.port), &opts)
        .await
        .unwrap();
    let err = session.exec("yes", None).await.unwrap_err();
    assert!(
        matches!(err, SshError::OutputTooLarge { limit, .. } if limit == 1 << 20),
        "{err}"
    );
    let err = session.exec("yes >&2", None).await.unwrap_err();
    assert!(matches!(err, SshError::OutputTooLarge { .. }), "{err}");
    // Output below the cap is whole.
    let out = session
        .exec("head -c 1000000 /dev/zero", None)
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 1_000_000);
}
