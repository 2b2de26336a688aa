//! `dsctl exec HOST DAEMONSET [-c C] [-i] [-t] -- CMD…` and `dsctl exec -l SELECTOR DAEMONSET
//! -- CMD…`: the shell around `exec.rs`. One host: stdin, stdout and stderr are attached
//! through the SSH session (with a PTY and the local terminal in raw mode for `-t`) and the
//! command's exit code is dsctl's. Several hosts: the command runs on all at once, each output
//! line prefixed `[host] `, and the exit code is the worst.

use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::cli::ExecArgs;
use crate::command::hosts::{self, Connecting};
use crate::exec::{choose, combined_status, exec_script, find_script, parse_found};
use crate::inventory::Host;
use crate::logs::{LineSplitter, MAX_RECORD, prefix};
use crate::run::EXIT_INVALID;
use crate::ssh::{Attach, Chunk, ExecStream, Pty, Session};

pub fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let mut connect = args.connect.clone();
    let daemonset = match (args.target.as_slice(), &connect.limit) {
        ([host, ds], None) => {
            connect.limit = Some(host.clone());
            ds.clone()
        }
        ([ds], Some(_)) => ds.clone(),
        _ => {
            crate::errln!(
                "error: say where: `dsctl exec HOST DAEMONSET -- CMD…` or `dsctl exec -l SELECTOR DAEMONSET -- CMD…`"
            );
            return Ok(EXIT_INVALID);
        }
    };
    let several = args.connect.limit.is_some();
    if several && (args.stdin || args.tty) {
        crate::errln!("error: -i and -t need one host (`dsctl exec HOST DAEMONSET -it -- CMD`)");
        return Ok(EXIT_INVALID);
    }
    let targets = match hosts::targets(&connect) {
        Ok(hosts) => hosts,
        Err(code) => return Ok(code),
    };
    let connector: Arc<dyn Fn(Host) -> Connecting + Send + Sync> =
        Arc::new(hosts::connector(&connect));
    let runtime = hosts::runtime();
    let code = if several {
        runtime.block_on(on_many(targets, &daemonset, &args, connector))
    } else {
        runtime.block_on(on_one(&targets[0], &daemonset, &args, connector))
    };
    // A read of the local stdin may still be blocked in a thread: do not wait for it.
    runtime.shutdown_background();
    code
}

/// Connects and starts the command in the chosen container.
async fn start(
    host: &Host,
    daemonset: &str,
    args: &ExecArgs,
    connect: &Arc<dyn Fn(Host) -> Connecting + Send + Sync>,
    attach: Attach,
) -> Result<(Session, ExecStream), StartError> {
    let session = connect(host.clone()).await.map_err(StartError::Failed)?;
    let found = session
        .exec(&find_script(daemonset), None)
        .await
        .map_err(|e| StartError::Failed(e.to_string()))?;
    let found = parse_found(&found.stdout_lossy());
    if found.running.is_empty() {
        return Err(StartError::NotHere);
    }
    let chosen =
        choose(&found, args.container.as_deref(), daemonset).map_err(StartError::Failed)?;
    if let Some(note) = &chosen.defaulted {
        crate::errln!("{note}");
    }
    let script = exec_script(
        &chosen.name,
        &args.command,
        args.stdin,
        attach.pty.is_some(),
    );
    let stream = session
        .exec_stream(&script, attach)
        .await
        .map_err(|e| StartError::Failed(e.to_string()))?;
    Ok((session, stream))
}

enum StartError {
    /// The host runs no instance of the DaemonSet (with -l: skipped).
    NotHere,
    Failed(String),
}

async fn on_one(
    host: &Host,
    daemonset: &str,
    args: &ExecArgs,
    connect: Arc<dyn Fn(Host) -> Connecting + Send + Sync>,
) -> anyhow::Result<i32> {
    let terminal = if args.tty { terminal::size() } else { None };
    if args.tty && terminal.is_none() {
        crate::errln!("Unable to use a TTY - input is not a terminal or the right kind of file");
    }
    let attach = Attach {
        stdin: args.stdin || terminal.is_some(),
        pty: terminal.map(|(cols, rows)| Pty {
            term: std::env::var("TERM").unwrap_or_else(|_| "xterm".into()),
            cols,
            rows,
        }),
    };
    let (_session, mut stream) = match start(host, daemonset, args, &connect, attach).await {
        Ok(started) => started,
        Err(StartError::NotHere) => {
            crate::errln!(
                "error: {}: no running container of daemonset {daemonset:?} here",
                host.name
            );
            return Ok(1);
        }
        Err(StartError::Failed(e)) => {
            crate::errln!("error: {}: {e}", host.name);
            return Ok(1);
        }
    };
    let _raw = terminal.and_then(|_| terminal::RawMode::enter());
    if !args.stdin {
        let _ = stream.eof().await;
    }
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 8192];
    let mut reading = args.stdin;
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
    loop {
        tokio::select! {
            chunk = stream.next() => match chunk {
                Some(Chunk::Stdout(data)) => crate::output::print_bytes(&data)?,
                Some(Chunk::Stderr(data)) => crate::output::eprint_bytes(&data),
                None => break,
            },
            read = stdin.read(&mut buf), if reading => match read {
                Ok(0) | Err(_) => {
                    reading = false;
                    let _ = stream.eof().await;
                }
                Ok(n) => {
                    if stream.send(&buf[..n]).await.is_err() {
                        reading = false;
                    }
                }
            },
            _ = winch.recv(), if terminal.is_some() => {
                if let Some((cols, rows)) = terminal::size() {
                    let _ = stream.resize(cols, rows).await;
                }
            }
        }
    }
    match stream.status() {
        Some(status) => Ok(i32::try_from(status).unwrap_or(1)),
        None => {
            drop(_raw);
            crate::errln!("error: {}", stream.closed());
            Ok(1)
        }
    }
}

enum Out {
    Line(usize, bool, Vec<u8>),
    Status(u32),
}

async fn on_many(
    targets: Vec<Host>,
    daemonset: &str,
    args: &ExecArgs,
    connect: Arc<dyn Fn(Host) -> Connecting + Send + Sync>,
) -> anyhow::Result<i32> {
    let names: Vec<String> = targets.iter().map(|h| h.name.clone()).collect();
    let (tx, mut rx) = mpsc::channel(1024);
    let args = Arc::new(ExecArgs {
        target: args.target.clone(),
        command: args.command.clone(),
        container: args.container.clone(),
        stdin: false,
        tty: false,
        connect: args.connect.clone(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (index, host) in targets.into_iter().enumerate() {
        let (tx, args, connect, ds) = (
            tx.clone(),
            args.clone(),
            connect.clone(),
            daemonset.to_string(),
        );
        tasks.spawn(async move {
            let status = match start(&host, &ds, &args, &connect, Attach::default()).await {
                Ok((_session, mut stream)) => {
                    let mut out = LineSplitter::new(MAX_RECORD);
                    let mut err = LineSplitter::new(MAX_RECORD);
                    while let Some(chunk) = stream.next().await {
                        let (splitter, is_err, data) = match chunk {
                            Chunk::Stdout(d) => (&mut out, false, d),
                            Chunk::Stderr(d) => (&mut err, true, d),
                        };
                        let mut lines = Vec::new();
                        splitter.feed(&data, |l| lines.push(l.to_vec()));
                        for line in lines {
                            if tx.send(Out::Line(index, is_err, line)).await.is_err() {
                                return;
                            }
                        }
                    }
                    stream.status().unwrap_or_else(|| {
                        crate::errln!("{}", stream.closed());
                        1
                    })
                }
                Err(StartError::NotHere) => return,
                Err(StartError::Failed(e)) => {
                    crate::errln!("{}: {e}", host.name);
                    1
                }
            };
            let _ = tx.send(Out::Status(status)).await;
        });
    }
    drop(tx);
    let mut statuses = Vec::new();
    while let Some(out) = rx.recv().await {
        match out {
            Out::Line(host, is_err, line) => {
                let mut text = prefix(&names[host], "", true, false).into_bytes();
                text.extend_from_slice(&line);
                text.push(b'\n');
                if is_err {
                    crate::output::eprint_bytes(&text);
                } else {
                    crate::output::print_bytes(&text)?;
                    if crate::output::reader_gone() {
                        break;
                    }
                }
            }
            Out::Status(s) => statuses.push(s),
        }
    }
    tasks.shutdown().await;
    if statuses.is_empty() && !crate::output::reader_gone() {
        crate::errln!("error: no targeted host runs daemonset {daemonset:?}");
        return Ok(1);
    }
    Ok(i32::try_from(combined_status(&statuses)).unwrap_or(1))
}

/// The local terminal: its size, and raw mode while a remote PTY is attached.
mod terminal {
    /// (columns, rows) of the terminal on stdin, if stdin is one.
    pub fn size() -> Option<(u32, u32)> {
        // SAFETY: TIOCGWINSZ fills a winsize struct we own; isatty only reads the fd.
        unsafe {
            if libc::isatty(libc::STDIN_FILENO) != 1 {
                return None;
            }
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) != 0 {
                return None;
            }
            Some((u32::from(ws.ws_col.max(1)), u32::from(ws.ws_row.max(1))))
        }
    }

    /// Raw mode on stdin (keys go to the remote PTY as typed, ^C included); restored on drop.
    pub struct RawMode(libc::termios);

    impl RawMode {
        pub fn enter() -> Option<RawMode> {
            // SAFETY: tcgetattr/tcsetattr on stdin with a termios struct we own.
            unsafe {
                let mut saved: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                    return None;
                }
                let mut raw = saved;
                libc::cfmakeraw(&mut raw);
                if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                    return None;
                }
                Some(RawMode(saved))
            }
        }
    }

    impl Drop for RawMode {
        fn drop(&mut self) {
            // SAFETY: restores the attributes read in `enter`.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0);
            }
        }
    }
}
