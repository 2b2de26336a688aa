//! `dsctl logs`: the pure part. What runs on each host, how its output is read, and how the
//! hosts' lines are merged into one stream in time order.
//!
//! The logs are read from the journal, not with `podman logs`: dsctl's containers run with
//! `--rm` under the journald log driver (podman's default under systemd), so an exited
//! container is gone from podman but its lines stay in the journal with `CONTAINER_NAME` and
//! `CONTAINER_ID_FULL`. One `journalctl` per host then gives every container of the
//! DaemonSet already in time order, `--since`/`-n` on the host, `-f` across restarts (a
//! restarted container keeps its name), a cursor to resume after a lost connection without
//! a gap or a repeat, and `--previous` with kubectl's meaning: the last *terminated instance*
//! of the container (the newest container ID that is not the running one), not the unit's
//! whole history (`journalctl -u` would mix in systemd's and podman's own lines and every
//! earlier run).
//!
//! Containers are found by label (`podman ps -a --filter label=dsctl.daemonset=<ds>`), so
//! the container names are read from the host, never rebuilt here.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::host_script::sh_quote;
use crate::layout::{LABEL_CONTAINER, LABEL_DAEMONSET, PODMAN, record_units_dir};

/// What the user asked of `dsctl logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub daemonset: String,
    pub container: Option<String>,
    pub follow: bool,
    /// Only lines newer than this many seconds.
    pub since_secs: Option<u64>,
    /// The last N lines per host (`None`: all).
    pub tail: Option<u64>,
    pub previous: bool,
}

/// Lines per host when several hosts are read and `--tail` is not given: kubectl's default
/// with a selector (`kubectl logs -l` shows 10 per pod), so a fleet does not flood the
/// terminal; one host (`--host`) shows all, as `kubectl logs POD` does.
pub const DEFAULT_TAIL_PER_HOST: u64 = 10;

/// `--tail` as given (-1 is kubectl's "all"), with kubectl's default.
pub fn tail_lines(given: Option<i64>, one_host: bool) -> Option<u64> {
    match given {
        Some(n) if n < 0 => None,
        Some(n) => Some(n.unsigned_abs()),
        None if one_host => None,
        None => Some(DEFAULT_TAIL_PER_HOST),
    }
}

/// The journalctl options shared by every mode: JSON (any byte survives), only the fields
/// read here, no pager, and lines per `--tail`/`--since`.
fn journal_options(query: &LogQuery, after_cursor: Option<&str>) -> String {
    let mut o =
        String::from("--no-pager -q -o json --output-fields=MESSAGE,CONTAINER_NAME,PRIORITY");
    match (after_cursor, query.tail) {
        // Resuming: everything after the last line shown, however many.
        (Some(cursor), _) => o.push_str(&format!(" -n all --after-cursor={}", sh_quote(cursor))),
        (None, Some(n)) => o.push_str(&format!(" -n {n}")),
        (None, None) => o.push_str(" -n all"),
    }
    if let (Some(secs), None) = (query.since_secs, after_cursor) {
        o.push_str(&format!(" --since=-{secs}s"));
    }
    if query.follow {
        o.push_str(" -f");
    }
    o
}

/// The script one host runs: list the DaemonSet's containers by label (a `C name container`
/// line each, so the client can name them), then `exec journalctl` on them. With
/// `after_cursor` it resumes where a lost connection stopped. Exits 3 with a message when the
/// host has no such container.
pub fn host_script(query: &LogQuery, after_cursor: Option<&str>) -> String {
    let mut filters = format!(
        "--filter label={}",
        sh_quote(&format!("{LABEL_DAEMONSET}={}", query.daemonset))
    );
    // Only containers of the pod spec: a pod's infra container has no container label.
    match &query.container {
        Some(c) => filters.push_str(&format!(
            " --filter label={}",
            sh_quote(&format!("{LABEL_CONTAINER}={c}"))
        )),
        None => filters.push_str(&format!(" --filter label={LABEL_CONTAINER}")),
    }
    let format = sh_quote(&format!(
        "{{{{.Names}}}} {{{{index .Labels \"{LABEL_CONTAINER}\"}}}} {{{{.ID}}}} {{{{.State}}}}"
    ));
    let what = match &query.container {
        Some(c) => format!("container {c} of daemonset {}", query.daemonset),
        None => format!("container of daemonset {}", query.daemonset),
    };
    let options = journal_options(query, after_cursor);
    let only = match &query.container {
        Some(c) => format!(
            "case $n in *_{c}|*-{c}) ;; *) continue ;; esac; ",
            c = sh_quote(c)
        ),
        None => String::new(),
    };
    let units = sh_quote(&record_units_dir(&query.daemonset));
    let select = if query.previous {
        // The newest container ID in the journal that is not the running one: the last
        // instance that terminated (the running one, if any, is the current instance).
        "  running=$(podman inspect --format '{{if .State.Running}}{{.ID}}{{end}}' \"$name\" 2>/dev/null || true)
  prev=$(journalctl -r -q -o cat --output-fields=CONTAINER_ID_FULL CONTAINER_NAME=\"$name\" \\
    | awk -v r=\"$running\" '$0 != \"\" && $0 != r { print; exit }')
  if [ -n \"$prev\" ]; then set -- \"$@\" CONTAINER_ID_FULL=\"$prev\"; fi"
            .to_string()
    } else {
        "  set -- \"$@\" CONTAINER_NAME=\"$name\"".to_string()
    };
    let none_left = if query.previous {
        format!("previous terminated {what}")
    } else {
        what.clone()
    };
    format!(
        r#"set -eu
podman() {{ {PODMAN} "$@"; }}
found=$(podman ps -a {filters} --format {format})
if [ -z "$found" ]; then
  # Between a crash and its restart a --rm container is gone from podman, but its lines are
  # in the journal under its name: the stem of its unit file in the host's record.
  for f in {units}/*; do
    [ -f "$f" ] || continue
    # The pod's own unit runs no container of the spec; a container is the last `_` part.
    case $f in *.pod|*-pod.service) continue ;; esac
    n=${{f##*/}}; n=${{n%.*}}; {only}found="$found$n ${{n##*_}} - gone
"
  done
  found=$(printf '%s' "$found")
fi
if [ -z "$found" ]; then echo "no {what} here" >&2; exit 3; fi
printf '%s\n' "$found" | while read -r name container id state; do printf 'C %s %s\n' "$name" "$container"; done
set --
for name in $(printf '%s\n' "$found" | cut -d' ' -f1); do
{select}
done
if [ $# -eq 0 ]; then echo "no {none_left} here" >&2; exit 3; fi
exec journalctl {options} "$@"
"#
    )
}

/// One line of a host's output, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A container the host found: its podman name and its name in the pod spec.
    Container {
        name: String,
        container: String,
    },
    Entry(Entry),
    /// Not something this reader knows (journalctl's own remarks); skipped.
    Other,
}

/// One journal entry of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `__REALTIME_TIMESTAMP`: microseconds since the epoch, on the host's clock.
    pub micros: u64,
    pub cursor: String,
    /// The podman container name.
    pub container_name: String,
    /// The line, without its newline (any bytes: journald stores non-UTF-8 as an array).
    pub message: Vec<u8>,
}

#[derive(Deserialize)]
struct JournalJson {
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: String,
    #[serde(rename = "__CURSOR")]
    cursor: String,
    #[serde(rename = "CONTAINER_NAME", default)]
    container_name: Option<String>,
    #[serde(rename = "MESSAGE", default)]
    message: Option<Message>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Message {
    Text(String),
    Bytes(Vec<u8>),
}

pub fn parse_record(line: &[u8]) -> Record {
    if let Some(rest) = line.strip_prefix(b"C ") {
        let text = String::from_utf8_lossy(rest);
        let mut parts = text.split_whitespace();
        if let (Some(name), Some(container)) = (parts.next(), parts.next()) {
            return Record::Container {
                name: name.to_string(),
                container: container.to_string(),
            };
        }
        return Record::Other;
    }
    let Ok(json) = serde_json::from_slice::<JournalJson>(line) else {
        return Record::Other;
    };
    let Ok(micros) = json.realtime.parse() else {
        return Record::Other;
    };
    let mut message = match json.message {
        Some(Message::Text(t)) => t.into_bytes(),
        Some(Message::Bytes(b)) => b,
        None => Vec::new(),
    };
    // conmon stores a whole line with its newline (a partial line without).
    if message.last() == Some(&b'\n') {
        message.pop();
    }
    Record::Entry(Entry {
        micros,
        cursor: json.cursor,
        container_name: json.container_name.unwrap_or_default(),
        message,
    })
}

/// Splits a byte stream into lines, holding at most `max` bytes of an unfinished line: a
/// longer one is handed out in pieces, so one endless line cannot grow memory.
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max: usize,
}

/// journald's own line limit is 48 KiB; a JSON record of one is at most a few times that.
pub const MAX_RECORD: usize = 1 << 20;

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        LineSplitter {
            partial: Vec::new(),
            max,
        }
    }

    /// Feeds `data`, calling `line` for every complete line (without its newline).
    pub fn feed(&mut self, mut data: &[u8], mut line: impl FnMut(&[u8])) {
        while let Some(end) = data.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                line(&data[..end]);
            } else {
                self.partial.extend_from_slice(&data[..end]);
                line(&self.partial);
                self.partial.clear();
            }
            data = &data[end + 1..];
        }
        self.partial.extend_from_slice(data);
        if self.partial.len() >= self.max {
            line(&self.partial);
            self.partial.clear();
        }
    }
}

/// A line ready to print: which host and container, when, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub host: usize,
    pub container: String,
    pub micros: u64,
    pub message: Vec<u8>,
}

/// Merges the hosts' lines into one stream in time order, with bounded memory.
///
/// Each host's own lines come in order. A line is released when it is the oldest of all and
/// every host still sending has a line waiting (so nothing older can come: an exact k-way
/// merge). Two rules keep a quiet or flooding host from holding the rest: when a host has
/// `cap` lines waiting, the oldest line goes out anyway (memory stays at most `cap` lines per
/// host); and when following, a line goes out once it has waited `window`, since a quiet
/// host may never send again. Arrival time is used for that wait, not the line's timestamp,
/// so clock skew between hosts delays nothing.
#[derive(Debug)]
pub struct Merge {
    waiting: Vec<VecDeque<(Line, Instant)>>,
    sending: Vec<bool>,
    cap: usize,
    window: Option<Duration>,
}

impl Merge {
    pub fn new(hosts: usize, cap: usize, window: Option<Duration>) -> Self {
        Merge {
            waiting: (0..hosts).map(|_| VecDeque::new()).collect(),
            sending: vec![true; hosts],
            cap: cap.max(1),
            window,
        }
    }

    pub fn push(&mut self, line: Line, now: Instant) {
        let host = line.host;
        self.waiting[host].push_back((line, now));
    }

    /// The host sends no more (it finished, or it is being reconnected: then its lines are
    /// no longer waited for, and [`Merge::resume`] waits for them again).
    pub fn pause(&mut self, host: usize) {
        self.sending[host] = false;
    }

    pub fn resume(&mut self, host: usize) {
        self.sending[host] = true;
    }

    /// The next line to print, if one may go out at `now`.
    pub fn pop(&mut self, now: Instant) -> Option<Line> {
        let oldest = (0..self.waiting.len())
            .filter_map(|h| self.waiting[h].front().map(|(l, _)| (l.micros, h)))
            .min()?
            .1;
        let complete =
            (0..self.waiting.len()).all(|h| !self.sending[h] || !self.waiting[h].is_empty());
        let full = self.waiting.iter().any(|w| w.len() >= self.cap);
        let (_, arrived) = self.waiting[oldest].front()?;
        let waited = self
            .window
            .is_some_and(|w| now.saturating_duration_since(*arrived) >= w);
        if complete || full || waited {
            return self.waiting[oldest].pop_front().map(|(l, _)| l);
        }
        None
    }

    /// When the oldest waiting line may go out by the window rule (the follow loop sleeps
    /// until then).
    pub fn next_deadline(&self) -> Option<Instant> {
        let window = self.window?;
        self.waiting
            .iter()
            .filter_map(|w| w.front().map(|(_, at)| *at + window))
            .min()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.iter().all(VecDeque::is_empty)
    }
}

/// The prefix of a line: `[host] `, `[host/container] `, `[container] `, or nothing.
pub fn prefix(host: &str, container: &str, show_host: bool, show_container: bool) -> String {
    match (show_host, show_container) {
        (true, true) => format!("[{host}/{container}] "),
        (true, false) => format!("[{host}] "),
        (false, true) => format!("[{container}] "),
        (false, false) => String::new(),
    }
}

/// A message about a host, `host: …`, unless it already starts with the host's name (SSH
/// errors name their host).
pub fn about(host: &str, message: &str) -> String {
    if message.starts_with(host) {
        message.to_string()
    } else {
        format!("{host}: {message}")
    }
}

/// `--since 5m`: kubectl's durations (Go's: `1h30m`, `90s`, `2.5h`), in whole seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a duration (like 30s, 5m, 1h30m)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(total.ceil() as u64)
}

/// RFC 3339 in UTC with nanoseconds, as `kubectl logs --timestamps` prints it.
pub fn rfc3339(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let nanos = (micros % 1_000_000) * 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How long to wait before reconnecting after `failures` failed attempts: 1, 2, 4 … 30 s.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(5)).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> LogQuery {
        LogQuery {
            daemonset: "web".into(),
            container: None,
            follow: false,
            since_secs: None,
            tail: None,
            previous: false,
        }
    }

    #[test]
    fn tail_defaults_as_kubectl() {
        for (given, one_host, want) in [
            (None, true, None),
            (None, false, Some(10)),
            (Some(-1), false, None),
            (Some(0), false, Some(0)),
            (Some(5), true, Some(5)),
        ] {
            assert_eq!(tail_lines(given, one_host), want, "{given:?} {one_host}");
        }
    }

    #[test]
    fn journal_options_per_mode() {
        let mut q = query();
        assert!(journal_options(&q, None).ends_with(" -n all"));
        q.tail = Some(10);
        q.since_secs = Some(300);
        q.follow = true;
        assert!(journal_options(&q, None).ends_with(" -n 10 --since=-300s -f"));
        // A resumed stream takes everything after the cursor, whatever --tail/--since said.
        assert!(
            journal_options(&q, Some("s=1;i=2")).ends_with(" -n all --after-cursor='s=1;i=2' -f")
        );
    }

    #[test]
    fn the_host_script_selects_by_label_and_runs_in_sh() {
        let mut q = query();
        q.container = Some("app".into());
        let script = host_script(&q, None);
        assert!(script.contains("--filter label='dsctl.daemonset=web'"));
        assert!(script.contains("--filter label='dsctl.container=app'"));
        assert!(script.contains("CONTAINER_NAME=\"$name\""));
        assert!(host_script(&query(), None).contains("--filter label=dsctl.container "));
        q.previous = true;
        assert!(host_script(&q, None).contains("CONTAINER_ID_FULL=\"$prev\""));
        for script in [host_script(&q, None), host_script(&query(), Some("c'x"))] {
            let status = std::process::Command::new("sh")
                .args(["-n", "-c", &script])
                .status()
                .unwrap();
            assert!(status.success(), "{script}");
        }
    }

    #[test]
    fn records_of_a_host() {
        assert_eq!(
            parse_record(b"C dsctl_web_0a1b_app app"),
            Record::Container {
                name: "dsctl_web_0a1b_app".into(),
                container: "app".into()
            }
        );
        let line = br#"{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1796166306167629","CONTAINER_NAME":"dsctl_web_0a1b_app","MESSAGE":"talk 71\n","PRIORITY":"6"}"#;
        assert_eq!(
            parse_record(line),
            Record::Entry(Entry {
                micros: 1_796_166_306_167_629,
                cursor: "s=1;i=2".into(),
                container_name: "dsctl_web_0a1b_app".into(),
                message: b"talk 71".to_vec(),
            })
        );
        // journald gives non-UTF-8 messages as byte arrays.
        let binary = br#"{"__CURSOR":"c","__REALTIME_TIMESTAMP":"1","MESSAGE":[255,104,10]}"#;
        let Record::Entry(e) = parse_record(binary) else {
            panic!("an entry");
        };
        assert_eq!(e.message, vec![255, b'h']);
        assert_eq!(parse_record(b"-- No entries --"), Record::Other);
        assert_eq!(parse_record(b"C lonely"), Record::Other);
    }

    #[test]
    fn lines_are_split_across_chunks_and_bounded() {
        let mut lines = Vec::new();
        let mut s = LineSplitter::new(8);
        s.feed(b"ab", |l| lines.push(l.to_vec()));
        s.feed(b"c\nde\nf", |l| lines.push(l.to_vec()));
        s.feed(b"0123456789\n", |l| lines.push(l.to_vec()));
        assert_eq!(
            lines,
            vec![b"abc".to_vec(), b"de".to_vec(), b"f0123456789".to_vec(),]
        );
        let mut long = Vec::new();
        let mut s = LineSplitter::new(4);
        s.feed(b"abcdefgh", |l| long.push(l.len()));
        assert_eq!(
            long,
            vec![8],
            "an unfinished line is handed out once it reaches max"
        );
    }

    fn line(host: usize, micros: u64) -> Line {
        Line {
            host,
            container: "c".into(),
            micros,
            message: Vec::new(),
        }
    }

    fn drain(m: &mut Merge, now: Instant) -> Vec<(usize, u64)> {
        std::iter::from_fn(|| m.pop(now))
            .map(|l| (l.host, l.micros))
            .collect()
    }

    #[test]
    fn merge_is_exact_while_every_host_has_a_line() {
        let t = Instant::now();
        let mut m = Merge::new(2, 100, None);
        m.push(line(0, 1), t);
        m.push(line(0, 5), t);
        assert_eq!(
            drain(&mut m, t),
            vec![],
            "host 1 may still send something older"
        );
        m.push(line(1, 3), t);
        assert_eq!(drain(&mut m, t), vec![(0, 1), (1, 3)]);
        m.pause(1);
        assert_eq!(
            drain(&mut m, t),
            vec![(0, 5)],
            "a finished host is not waited for"
        );
        assert!(m.is_empty());
    }

    #[test]
    fn merge_memory_is_bounded_per_host() {
        let t = Instant::now();
        let mut m = Merge::new(2, 3, None);
        for i in 0..3 {
            m.push(line(0, i), t);
        }
        assert_eq!(
            drain(&mut m, t),
            vec![(0, 0)],
            "a full host lets its oldest go"
        );
    }

    #[test]
    fn following_does_not_wait_on_a_quiet_host_longer_than_the_window() {
        let t = Instant::now();
        let w = Duration::from_millis(200);
        let mut m = Merge::new(2, 100, Some(w));
        m.push(line(0, 10), t);
        assert_eq!(drain(&mut m, t), vec![]);
        assert_eq!(m.next_deadline(), Some(t + w));
        m.push(line(0, 20), t + Duration::from_millis(100));
        assert_eq!(drain(&mut m, t + w), vec![(0, 10)]);
        assert_eq!(drain(&mut m, t + w + w), vec![(0, 20)]);
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix("node-1", "app", true, true), "[node-1/app] ");
        assert_eq!(prefix("node-1", "app", true, false), "[node-1] ");
        assert_eq!(prefix("node-1", "app", false, true), "[app] ");
        assert_eq!(prefix("node-1", "app", false, false), "");
    }

    #[test]
    fn messages_name_their_host_once() {
        assert_eq!(about("node-3", "node-3: closed"), "node-3: closed");
        assert_eq!(about("node-3", "reconnected"), "node-3: reconnected");
    }

    #[test]
    fn durations_as_kubectl_takes_them() {
        for (text, secs) in [
            ("30s", Ok(30)),
            ("5m", Ok(300)),
            ("1h30m", Ok(5400)),
            ("1.5h", Ok(5400)),
            ("500ms", Ok(1)),
        ] {
            assert_eq!(parse_duration(text), secs, "{text}");
        }
        for bad in ["", "5", "m", "5d", "-5m", "5 m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_in_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_796_166_306_167_629),
            "2026-12-01T23:05:06.167629000Z"
        );
        assert_eq!(
            rfc3339(951_825_600_000_001),
            "2000-02-29T12:00:00.000001000Z"
        );
    }

    #[test]
    fn backoff_grows_to_thirty_seconds() {
        let secs: Vec<u64> = (0..8).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
