//! The one place dsctl writes to stdout and stderr (`out!`, `outln!`, `errln!`).
//!
//! Rust ignores SIGPIPE, so a reader that goes away (`| head -1`, `| grep -q`) turns the next
//! write into EPIPE, and `println!` panics on it ("failed printing to stdout", exit 101). A
//! reader that stopped reading is not a failure of the work, so here EPIPE ends the output
//! quietly: later writes are dropped, [`reader_gone`] tells long-running commands (`logs -f`,
//! `rollout status`) to stop, and the command's own exit code stands (an `apply | head -1`
//! that failed a host still exits 1, which a cron job or `set -o pipefail` relies on). Other
//! write errors (a full disk behind `> file`) are returned. Stderr is treated the same way, so
//! `2>&1 | head` is quiet too. `clippy::print_stdout`/`print_stderr` are denied elsewhere.
//!
//! Text may hold what a host said (stderr, change-cause, lock holder, journal lines), so
//! [`print`] and [`eprint`] strip terminal control from everything through
//! [`host_text::sanitize`]: one place, that no call site can skip. The `_bytes` writers are
//! raw, for `dsctl exec`'s stream (the process's own terminal) and generated documents.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::host_text;

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// Has stdout's reader gone away? Commands that would go on printing stop here.
pub fn reader_gone() -> bool {
    STDOUT_GONE.load(Ordering::Relaxed)
}

/// Writes `text`, stripped of terminal control, to stdout and flushes it (a line of
/// `logs -f` must not wait in a buffer).
pub fn print(text: &str) -> io::Result<()> {
    let text = host_text::sanitize(text);
    write_to(&mut io::stdout().lock(), text.as_bytes(), &STDOUT_GONE)
}

/// Writes raw bytes to stdout: `exec`'s stream and generated documents only.
pub fn print_bytes(bytes: &[u8]) -> io::Result<()> {
    write_to(&mut io::stdout().lock(), bytes, &STDOUT_GONE)
}

/// Writes `text`, stripped of terminal control, to stderr; a closed stderr is ignored
/// (there is nowhere left to say so).
pub fn eprint(text: &str) {
    let text = host_text::sanitize(text);
    let _ = write_to(&mut io::stderr().lock(), text.as_bytes(), &STDERR_GONE);
}

/// Writes raw bytes to stderr: `exec`'s stderr stream only.
pub fn eprint_bytes(bytes: &[u8]) {
    let _ = write_to(&mut io::stderr().lock(), bytes, &STDERR_GONE);
}

fn write_to(w: &mut impl Write, bytes: &[u8], gone: &AtomicBool) -> io::Result<()> {
    if gone.load(Ordering::Relaxed) {
        return Ok(());
    }
    match w.write_all(bytes).and_then(|()| w.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            gone.store(true, Ordering::Relaxed);
            Ok(())
        }
        result => result,
    }
}

/// `print!` to stdout through [`print`]; evaluates to `io::Result<()>`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::print(&format!($($arg)*)) };
}

/// `println!` to stdout through [`print`]; evaluates to `io::Result<()>`.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::print("\n") };
    ($($arg:tt)*) => { $crate::output::print(&format!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` through [`eprint`]: never panics.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::eprint(&format!("{}\n", format_args!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader went away after `room` bytes.
    struct Pipe {
        room: usize,
        kind: io::ErrorKind,
        got: Vec<u8>,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from(self.kind));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_ends_output_quietly_and_is_remembered() {
        let gone = AtomicBool::new(false);
        let mut pipe = Pipe {
            room: 4,
            kind: io::ErrorKind::BrokenPipe,
            got: Vec::new(),
        };
        assert!(write_to(&mut pipe, b"one\n", &gone).is_ok());
        assert!(!gone.load(Ordering::Relaxed));
        assert!(write_to(&mut pipe, b"two\n", &gone).is_ok());
        assert!(gone.load(Ordering::Relaxed));
        pipe.room = 100;
        assert!(write_to(&mut pipe, b"three\n", &gone).is_ok());
        assert_eq!(
            pipe.got, b"one\n",
            "nothing is written after the reader left"
        );
    }

    #[test]
    fn other_write_errors_are_returned() {
        let gone = AtomicBool::new(false);
        let mut disk = Pipe {
            room: 0,
            kind: io::ErrorKind::StorageFull,
            got: Vec::new(),
        };
        let err = write_to(&mut disk, b"x", &gone).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(!gone.load(Ordering::Relaxed));
    }
}
