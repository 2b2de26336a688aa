//! What a host holds, read in ONE exec round trip: the script (`scripts/observe.sh`) and a pure
//! parser of its line records into an [`Observation`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::inventory::UnitFlavor;

const SCRIPT: &str = include_str!("scripts/observe.sh");

/// The observe script; `full` adds unit contents and recorded specs (for `diff` and `get`).
/// `known` names the (DaemonSet, revision) pairs whose spec dsctl holds: a record of one of
/// them comes without its spec (a no-op then forks no base64), and
/// [`Observation::restore_known_spec`] puts it back.
pub fn script(full: bool, known: &[(&str, &str)]) -> String {
    script_at(
        full,
        known,
        Paths {
            state_dir: crate::layout::STATE_DIR,
            cache_dir: crate::layout::OBSERVE_CACHE_DIR,
            script_ran: crate::layout::SCRIPT_RAN,
            invocations: crate::layout::SYSTEMD_INVOCATIONS,
            unit_globs: &crate::layout::UNIT_FILE_GLOBS.join(" "),
        },
    )
}

/// The host paths the observe script reads (`layout`'s, or a test's scratch directory).
struct Paths<'a> {
    state_dir: &'a str,
    cache_dir: &'a str,
    script_ran: &'a str,
    invocations: &'a str,
    unit_globs: &'a str,
}

/// The observe script over `paths`.
fn script_at(full: bool, known: &[(&str, &str)], paths: Paths<'_>) -> String {
    let Paths {
        state_dir,
        cache_dir,
        script_ran,
        invocations,
        unit_globs,
    } = paths;
    let known: Vec<String> = known
        .iter()
        .map(|(n, r)| {
            // Validated names and hex revisions: nothing in them needs quoting.
            assert!(crate::layout::is_name(n) && crate::layout::is_name(r));
            format!("{n}:{r}")
        })
        .collect();
    format!(
        "FULL={}\nKNOWN='{}'\nJL={JOURNAL_TAIL_LINES}\nJB={JOURNAL_TAIL_BYTES}\nS={state_dir}\nC={cache_dir}\nRAN={script_ran}\nINV={invocations}\nUNIT_GLOBS='{unit_globs}'\n{}{}{}{SCRIPT}",
        if full { "1" } else { "" },
        known.join(" "),
        crate::plan_token::STATE_SH,
        crate::detached::ALIVE_SH,
        crate::detached::LEFT_RUNS_SH,
    )
}

/// At most this many journal lines of a failed unit travel back, each cut to this many bytes.
pub const JOURNAL_TAIL_LINES: usize = 5;
pub const JOURNAL_TAIL_BYTES: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observation {
    /// The host's clock, in Unix seconds, so ages don't depend on the laptop's clock.
    pub now: u64,
    /// What the host says about itself (see `host_facts.rs`).
    pub host: HostInfo,
    /// `None` when podman is not installed.
    pub podman_version: Option<String>,
    pub quadlet_generator: bool,
    /// `Some(holder)` when another dsctl holds the host's lock.
    pub lock_holder: Option<String>,
    /// DaemonSets that dsctl records as managed on this host.
    pub daemonsets: BTreeMap<String, RecordedDaemonSet>,
    /// Unit files present, by absolute path: their sha256.
    pub unit_files: BTreeMap<String, String>,
    /// Unit files' modification times (Unix seconds) by path: a unit active since before its
    /// file was written runs an older file. A path missing here is taken as fresh.
    pub unit_mtimes: BTreeMap<String, u64>,
    /// Unit file contents by path (only with `full`).
    pub contents: BTreeMap<String, String>,
    pub units: BTreeMap<String, UnitStatus>,
    /// Containers with their revision labels and IDs, from `container` records: observe.sh
    /// prints them only with `full` (`get`, `diff`), as a podman call costs a no-op ~50 ms
    /// of host CPU; an apply reads freshness from systemd and the unit files' mtimes instead.
    /// Where labels are known, the planner checks them too.
    pub containers: BTreeMap<String, ContainerStatus>,
    /// The hash of the state the plan is made from, of its `state` records (`plan_token.rs`).
    pub token: Option<String>,
    /// Host scripts of earlier runs whose connection was lost (`detached.rs`).
    pub left_runs: Vec<crate::detached::LeftRun>,
}

/// The host's own facts, as the observe script reports them; `host_facts.rs` makes them the
/// downward API's values and the well-known node labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostInfo {
    /// The address the SSH connection reached (`$SSH_CONNECTION`'s third field).
    pub server_ip: Option<IpAddr>,
    /// Global addresses by interface (`ip -o addr show scope global`).
    pub addresses: Vec<(String, IpAddr)>,
    /// `uname -s`.
    pub kernel: Option<String>,
    /// `uname -m`.
    pub machine: Option<String>,
    /// `nproc`.
    pub cpus: Option<u32>,
    /// MemTotal from /proc/meminfo, in KiB.
    pub memory_kib: Option<u64>,
    /// The size of the file system under /var/lib/containers, in KiB.
    pub storage_kib: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecordedDaemonSet {
    pub revision: Option<String>,
    /// Unix seconds of the first install.
    pub created: u64,
    /// Unix seconds when the current revision was recorded.
    pub updated: u64,
    /// The revision's number in this DaemonSet's history (1, 2, …), as `rollout history` shows.
    pub number: u64,
    /// Its change-cause (the `kubernetes.io/change-cause` annotation).
    pub cause: String,
    /// Why the last rollout halted on this host, until a later apply records it again.
    pub halted: Option<String>,
    /// Earlier revisions kept on the host, by revision hash.
    pub history: BTreeMap<String, HistoryEntry>,
    /// The unit files dsctl wrote last, by file name: their sha256.
    pub units: BTreeMap<String, String>,
    /// The DaemonSet as last applied, JSON.
    pub spec_json: Option<String>,
}

impl RecordedDaemonSet {
    /// Did this host's gate fail for `revision`, the one it runs now? Such a host stays
    /// unavailable for the rollout budget, run after run, so that a failing revision never
    /// creeps one host further per cron run: the marker goes when a later apply records the
    /// DaemonSet again (another revision, or a repair), or `rollout resume|undo` lifts it.
    pub fn halted_at(&self, revision: &str) -> bool {
        self.halted.is_some() && self.revision.as_deref() == Some(revision)
    }
}

/// An earlier revision, kept on the host up to revisionHistoryLimit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub number: u64,
    /// Unix seconds when it became current.
    pub recorded: u64,
    pub cause: String,
    /// Its DaemonSet, JSON (only with `full`).
    pub spec_json: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnitStatus {
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub unit_file_state: String,
    pub restarts: u32,
    /// Unix seconds when the unit last became active.
    pub active_since: Option<u64>,
    /// The unit's file changed since systemd loaded it (`NeedDaemonReload`).
    pub need_daemon_reload: bool,
    /// The main process's exit code (`ExecMainStatus`), reported for a failed unit.
    pub exit_status: Option<i32>,
    /// The last lines of a failed unit's journal (an init container's output), bounded.
    pub journal_tail: Option<String>,
}

impl UnitStatus {
    pub fn is_active(&self) -> bool {
        self.active_state == "active"
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContainerStatus {
    pub state: String,
    pub image: String,
    pub revision: Option<String>,
    /// Its DaemonSet and pod-spec container name (the dsctl.daemonset, dsctl.container labels).
    pub daemonset: Option<String>,
    pub container: Option<String>,
    /// The podman pod it is a member of, if any.
    pub pod: Option<String>,
    /// podman's short container ID (`get pods -o wide`, `describe ds`).
    pub id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ObserveError {
    #[error("the host did not run the observe script (no header); output began: {0:?}")]
    NoHeader(String),
    #[error("observe output ended early (no end marker): the script was interrupted")]
    Truncated,
    #[error("observe output line {line}: {message}")]
    Malformed { line: usize, message: String },
}

impl Observation {
    /// Puts back the spec of a record whose revision the observe script was told is known
    /// (see [`script`]): `known` gives that (revision, spec JSON) as dsctl holds it, and is
    /// called only for a record that came without its spec.
    pub fn restore_known_spec(&mut self, name: &str, known: impl FnOnce() -> (String, String)) {
        if let Some(record) = self.daemonsets.get_mut(name)
            && record.spec_json.is_none()
            && record.revision.is_some()
        {
            let (revision, spec_json) = known();
            if record.revision.as_deref() == Some(revision.as_str()) {
                record.spec_json = Some(spec_json);
            }
        }
    }

    /// Whether the DaemonSet has an available instance here: units recorded, and every one
    /// active (its pod, each app container, and each init container, which as a oneshot with
    /// RemainAfterExit reads active (exited) once it succeeded; a failed init reads failed).
    pub fn instance_active(&self, ds: &str) -> bool {
        self.daemonsets.get(ds).is_some_and(|r| {
            !r.units.is_empty()
                && r.units.keys().all(|f| {
                    self.units
                        .get(&crate::layout::service_name(f))
                        .is_some_and(UnitStatus::is_active)
                })
        })
    }

    /// The unit flavour this host supports: Quadlet pods (`.pod`, `Pod=`) need podman ≥ 5.0
    /// and its generator; 4.4–4.9 have Quadlet without pods and take the service flavour.
    pub fn detected_flavor(&self) -> UnitFlavor {
        let quadlet_capable = self
            .podman_version
            .as_deref()
            .and_then(parse_major_minor)
            .is_some_and(|v| v >= (5, 0));
        if quadlet_capable && self.quadlet_generator {
            UnitFlavor::Quadlet
        } else {
            UnitFlavor::Service
        }
    }
}

fn parse_major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some((major, minor))
}

/// Parses the observe script's output.
pub fn parse(output: &str) -> Result<Observation, ObserveError> {
    let mut lines = output.lines().enumerate();
    match lines.next() {
        Some((_, "dsctl-observe 1")) => {}
        _ => return Err(ObserveError::NoHeader(output.chars().take(200).collect())),
    }
    let mut obs = Observation::default();
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    let mut ended = false;
    let mut state = crate::plan_token::StateHasher::default();
    // Inside `units` … `unitsend`: systemctl's own Key=Value lines, an empty line after each unit.
    let mut in_units = false;
    for (index, line) in lines {
        let malformed = |message: &str| ObserveError::Malformed {
            line: index + 1,
            message: message.to_string(),
        };
        if in_units {
            if line.is_empty() || line == "unitsend" {
                if let Some(id) = props.remove("Id") {
                    obs.units.insert(id, unit_status(&props));
                }
                props.clear();
                in_units = line.is_empty();
            } else {
                let (key, value) = line
                    .split_once('=')
                    .ok_or_else(|| malformed("a unit property needs key=value"))?;
                props.insert(key.to_string(), value.to_string());
            }
            continue;
        }
        let (kind, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        match kind {
            "now" => obs.now = rest.trim().parse().map_err(|_| malformed("bad clock"))?,
            // Host facts: a value the host could not give is left unknown, never an error.
            "hostip" => obs.host.server_ip = rest.trim().parse().ok(),
            "hostaddr" => {
                if let Some((iface, addr)) = rest.split_once(' ')
                    && let Ok(ip) = addr.trim().parse()
                {
                    let iface = iface.split('@').next().unwrap_or(iface);
                    obs.host.addresses.push((iface.to_string(), ip));
                }
            }
            "uname" => {
                let mut words = rest.split_whitespace();
                obs.host.kernel = words.next().map(str::to_string);
                obs.host.machine = words.next().map(str::to_string);
            }
            "cpus" => obs.host.cpus = rest.trim().parse().ok().filter(|n| *n > 0),
            "memtotal" => obs.host.memory_kib = rest.trim().parse().ok().filter(|n| *n > 0),
            "storage" => obs.host.storage_kib = rest.trim().parse().ok().filter(|n| *n > 0),
            "podman" => {
                obs.podman_version = (rest != "-" && !rest.is_empty()).then(|| rest.to_string())
            }
            "quadlet" => obs.quadlet_generator = rest == "yes",
            "lock" => {
                obs.lock_holder = match rest.split_once(' ') {
                    Some(("held", holder)) => Some(holder.trim().to_string()),
                    None if rest == "held" => Some(String::new()),
                    _ => None,
                }
            }
            "ds" => {
                let f: Vec<&str> = rest.split(' ').collect();
                let [name, revision, created, updated, number, cause] = f[..] else {
                    return Err(malformed("ds needs 6 fields"));
                };
                let rec = obs.daemonsets.entry(name.to_string()).or_default();
                rec.revision = (revision != "-").then(|| revision.to_string());
                rec.created = created.parse().unwrap_or(0);
                rec.updated = updated.parse().unwrap_or(0);
                rec.number = number.parse().unwrap_or(0);
                rec.cause = decode_base64(cause).ok_or_else(|| malformed("cause is not base64"))?;
            }
            "dshalted" => {
                let (name, b64) = rest
                    .split_once(' ')
                    .ok_or_else(|| malformed("dshalted needs 2 fields"))?;
                let why = decode_base64(b64).ok_or_else(|| malformed("dshalted is not base64"))?;
                obs.daemonsets.entry(name.to_string()).or_default().halted = Some(why);
            }
            "dshist" => {
                let f: Vec<&str> = rest.split(' ').collect();
                let [name, revision, number, recorded, cause] = f[..] else {
                    return Err(malformed("dshist needs 5 fields"));
                };
                let entry = obs
                    .daemonsets
                    .entry(name.to_string())
                    .or_default()
                    .history
                    .entry(revision.to_string())
                    .or_default();
                entry.number = number.parse().unwrap_or(0);
                entry.recorded = recorded.parse().unwrap_or(0);
                entry.cause =
                    decode_base64(cause).ok_or_else(|| malformed("cause is not base64"))?;
            }
            "dshistspec" => {
                let f: Vec<&str> = rest.split(' ').collect();
                let [name, revision, b64] = f[..] else {
                    return Err(malformed("dshistspec needs 3 fields"));
                };
                let json =
                    decode_base64(b64).ok_or_else(|| malformed("dshistspec is not base64"))?;
                let rec = obs.daemonsets.entry(name.to_string()).or_default();
                rec.history
                    .entry(revision.to_string())
                    .or_default()
                    .spec_json = Some(json);
            }
            "dsunit" => {
                let f: Vec<&str> = rest.split(' ').collect();
                let [name, file, sha] = f[..] else {
                    return Err(malformed("dsunit needs 3 fields"));
                };
                obs.daemonsets
                    .entry(name.to_string())
                    .or_default()
                    .units
                    .insert(file.to_string(), sha.to_string());
            }
            "dsspec" => {
                let (name, b64) = rest
                    .split_once(' ')
                    .ok_or_else(|| malformed("dsspec needs 2 fields"))?;
                let json = decode_base64(b64).ok_or_else(|| malformed("dsspec is not base64"))?;
                obs.daemonsets
                    .entry(name.to_string())
                    .or_default()
                    .spec_json = Some(json);
            }
            "file" => {
                let (path, sha) = rest
                    .rsplit_once(' ')
                    .ok_or_else(|| malformed("file needs 2 fields"))?;
                obs.unit_files.insert(path.to_string(), sha.to_string());
            }
            "filetime" => {
                let (path, secs) = rest
                    .rsplit_once(' ')
                    .ok_or_else(|| malformed("filetime needs 2 fields"))?;
                let secs = secs.parse().map_err(|_| malformed("bad file time"))?;
                obs.unit_mtimes.insert(path.to_string(), secs);
            }
            "units" => in_units = true,
            "content" => {
                let (path, b64) = rest.split_once(' ').unwrap_or((rest, ""));
                let text = decode_base64(b64).ok_or_else(|| malformed("content is not base64"))?;
                obs.contents.insert(path.to_string(), text);
            }
            "prop" => {
                let (key, value) = rest
                    .split_once('=')
                    .ok_or_else(|| malformed("prop needs key=value"))?;
                props.insert(key.to_string(), value.to_string());
            }
            "journal" => {
                let (id, b64) = rest.split_once(' ').unwrap_or((rest, ""));
                let text = decode_base64(b64).ok_or_else(|| malformed("journal is not base64"))?;
                if let Some(unit) = obs.units.get_mut(id) {
                    unit.journal_tail = Some(bounded_tail(&text));
                }
            }
            "unitend" => {
                if let Some(id) = props.remove("Id") {
                    obs.units.insert(id, unit_status(&props));
                }
                props.clear();
            }
            "container" => {
                let f: Vec<&str> = rest.split('\t').collect();
                let (name, state, image) = match f[..] {
                    [n, s, i, ..] => (n, s, i),
                    _ => return Err(malformed("container needs 4 fields")),
                };
                let field = |i: usize| {
                    f.get(i)
                        .filter(|r| !r.is_empty() && **r != "<no value>")
                        .map(|r| r.to_string())
                };
                obs.containers.insert(
                    name.to_string(),
                    ContainerStatus {
                        state: state.to_string(),
                        image: image.to_string(),
                        revision: field(3),
                        daemonset: field(4),
                        container: field(5),
                        pod: field(6),
                        id: field(7),
                    },
                );
            }
            "state" => state.line(rest),
            "leftrun" => obs
                .left_runs
                .push(crate::detached::parse_left_run(rest).map_err(|e| malformed(&e))?),
            "end" => ended = true,
            "" => {}
            _ => return Err(malformed(&format!("unknown record {kind:?}"))),
        }
    }
    if !ended {
        return Err(ObserveError::Truncated);
    }
    obs.token = Some(state.token());
    Ok(obs)
}

/// The journal tail as the host sent it, held to the bounds again (a host is not trusted to).
fn bounded_tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(JOURNAL_TAIL_LINES);
    let mut tail: String = lines[start..].join("\n");
    if tail.len() > JOURNAL_TAIL_BYTES {
        let mut cut = tail.len() - JOURNAL_TAIL_BYTES;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = tail[cut..].to_string();
    }
    tail.chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect()
}

fn unit_status(props: &BTreeMap<String, String>) -> UnitStatus {
    let get = |k: &str| props.get(k).cloned().unwrap_or_default();
    UnitStatus {
        load_state: get("LoadState"),
        active_state: get("ActiveState"),
        sub_state: get("SubState"),
        unit_file_state: get("UnitFileState"),
        restarts: get("NRestarts").parse().unwrap_or(0),
        active_since: get("ActiveEnterTimestamp")
            .trim_start_matches('@')
            .parse()
            .ok()
            .filter(|t| *t > 0),
        need_daemon_reload: get("NeedDaemonReload") == "yes",
        exit_status: get("ExecMainStatus").parse().ok(),
        journal_tail: None,
    }
}

/// Standard base64 (as coreutils' `base64 -w0` writes it) to UTF-8 text.
fn decode_base64(text: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "dsctl-observe 1
hostip 10.213.0.11
hostaddr podman0 10.88.0.1
hostaddr eth0 10.213.0.11
hostaddr eth0@if7 fd00::11
uname Linux x86_64
cpus 2
memtotal 24683652
storage 264212084
now 1700000000
podman 5.4.2
quadlet yes
lock free
ds web 0123456789 1690000000 1695000000 2 aW1hZ2UgMg==
dshist web 99aa 1 1680000000 
dsunit web dsctl-web-web.container aaaa
file /etc/containers/systemd/dsctl-web-web.container aaaa
prop Id=dsctl-web-web.service
prop LoadState=loaded
prop ActiveState=active
prop SubState=running
prop UnitFileState=generated
prop NRestarts=2
prop ActiveEnterTimestamp=@1699999990
unitend
unitend
container\tdsctl-web-web\trunning\tlocalhost/dsctl-test/web:1\t0123456789
filetime /etc/containers/systemd/dsctl-web-web.container 1699999980
units
Id=dsctl_web_0a1-pod.service
ActiveState=active
ActiveEnterTimestamp=@1699999991

Id=dsctl_web_0a1_app.service
ActiveState=failed
NeedDaemonReload=yes
unitsend
end
";

    #[test]
    fn parses_every_record_kind() {
        let obs = parse(SAMPLE).unwrap();
        assert_eq!(obs.now, 1_700_000_000);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            obs.host,
            HostInfo {
                server_ip: Some(ip("10.213.0.11")),
                addresses: vec![
                    ("podman0".into(), ip("10.88.0.1")),
                    ("eth0".into(), ip("10.213.0.11")),
                    ("eth0".into(), ip("fd00::11")),
                ],
                kernel: Some("Linux".into()),
                machine: Some("x86_64".into()),
                cpus: Some(2),
                memory_kib: Some(24_683_652),
                storage_kib: Some(264_212_084),
            }
        );
        assert_eq!(obs.podman_version.as_deref(), Some("5.4.2"));
        assert_eq!(obs.detected_flavor(), UnitFlavor::Quadlet);
        assert_eq!(obs.lock_holder, None);
        let web = &obs.daemonsets["web"];
        assert_eq!(web.revision.as_deref(), Some("0123456789"));
        assert_eq!(web.created, 1_690_000_000);
        assert_eq!(web.updated, 1_695_000_000);
        assert_eq!((web.number, web.cause.as_str()), (2, "image 2"));
        assert_eq!(web.history["99aa"].number, 1);
        assert_eq!(web.history["99aa"].cause, "");
        assert_eq!(web.units["dsctl-web-web.container"], "aaaa");
        assert_eq!(
            obs.unit_files["/etc/containers/systemd/dsctl-web-web.container"],
            "aaaa"
        );
        let unit = &obs.units["dsctl-web-web.service"];
        assert!(unit.is_active());
        assert_eq!(unit.restarts, 2);
        assert_eq!(unit.active_since, Some(1_699_999_990));
        assert_eq!(
            obs.containers["dsctl-web-web"].revision.as_deref(),
            Some("0123456789")
        );
        assert_eq!(
            obs.unit_mtimes["/etc/containers/systemd/dsctl-web-web.container"],
            1_699_999_980
        );
        // systemctl's own lines between `units` and `unitsend`, one block per unit.
        let pod = &obs.units["dsctl_web_0a1-pod.service"];
        assert_eq!(
            (pod.is_active(), pod.active_since),
            (true, Some(1_699_999_991))
        );
        let app = &obs.units["dsctl_web_0a1_app.service"];
        assert_eq!(
            (app.active_state.as_str(), app.need_daemon_reload),
            ("failed", true)
        );
        assert_eq!(obs.units.len(), 3);
    }

    /// The real script under `sh`, against a state directory and unit files in a scratch
    /// directory, with every program it may call behind a stub that logs the call (podman,
    /// systemctl and ip fake answers; the rest run the real program): a no-op forks only ip
    /// and stat once the cache holds the rest, a changed file is hashed again, what could
    /// change a unit's state asks systemd again, and the token is what the host script
    /// computes under the lock.
    #[test]
    fn a_no_op_forks_only_ip_and_stat_and_its_token_is_the_scripts() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (bin, state, units) = (root.join("bin"), root.join("state"), root.join("units"));
        let ds = state.join("daemonsets/web");
        for d in [&bin, &units, &ds.join("units")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let log = root.join("calls");
        let stub = |name: &str, body: &str| {
            let path = bin.join(name);
            std::fs::write(
                &path,
                format!("#!/bin/sh\necho {name} >> '{}'\n{body}\n", log.display()),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        stub("podman", "echo podman version 5.4.2");
        // systemd's answer, from a file the test rewrites.
        let answer = root.join("systemctl-answer");
        let active = "Id=dsctl_web_0a1_app.service\nLoadState=loaded\nActiveState=active\nActiveEnterTimestamp=@100\nNeedDaemonReload=no\n";
        std::fs::write(&answer, active).unwrap();
        stub(
            "systemctl",
            &format!("exec /bin/cat '{}'", answer.display()),
        );
        stub(
            "ip",
            "echo '2: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0'",
        );
        for real in [
            "stat",
            "sha256sum",
            "base64",
            "df",
            "uname",
            "nproc",
            "awk",
            "mkdir",
            "mv",
            "cat",
            "head",
            "tail",
            "tr",
            "flock",
            "date",
            "rm",
            "journalctl",
        ] {
            let found = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
                .iter()
                .map(|d| std::path::Path::new(d).join(real))
                .find(|p| p.exists());
            if let Some(path) = found {
                stub(real, &format!("exec {} \"$@\"", path.display()));
            }
        }
        let unit = units.join("dsctl_web_0a1_app.container");
        std::fs::write(&unit, "[Container]\n").unwrap();
        std::fs::write(
            ds.join("units/dsctl_web_0a1_app.container"),
            "[Container]\n",
        )
        .unwrap();
        std::fs::write(ds.join("revision"), "0a1\n").unwrap();
        std::fs::write(ds.join("spec.json"), "{}").unwrap();
        std::fs::write(ds.join("cause"), "").unwrap();
        let globs = format!("{}/dsctl_*.container", units.display());
        let (cache, invocations) = (root.join("cache"), root.join("invocations"));
        let ran = cache.join("script-ran");
        std::fs::create_dir_all(&invocations).unwrap();
        let invocation = invocations.join("invocation:dsctl_web_0a1_app.service");
        std::os::unix::fs::symlink("0123abcd", &invocation).unwrap();
        let run = |known: &[(&str, &str)]| {
            let text = script_at(
                false,
                known,
                Paths {
                    state_dir: state.to_str().unwrap(),
                    cache_dir: cache.to_str().unwrap(),
                    script_ran: ran.to_str().unwrap(),
                    invocations: invocations.to_str().unwrap(),
                    unit_globs: &globs,
                },
            );
            std::fs::write(&log, "").unwrap();
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&text)
                .env("PATH", &bin)
                .env("SSH_CONNECTION", "10.0.0.1 5000 10.0.0.2 22")
                .output()
                .unwrap();
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let obs = parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
            (obs, std::fs::read_to_string(&log).unwrap())
        };
        use crate::plan::content_sha;
        let sha = content_sha("[Container]\n");
        let (first, calls) = run(&[]);
        for learned in ["podman", "df", "nproc", "sha256sum"] {
            assert!(
                calls.lines().any(|c| c == learned),
                "the first run learns: {calls}"
            );
        }
        assert_eq!(first.podman_version.as_deref(), Some("5.4.2"));
        assert_eq!(first.unit_files[&unit.display().to_string()], sha);
        assert_eq!(
            first.daemonsets["web"].units["dsctl_web_0a1_app.container"],
            sha
        );
        assert_eq!(first.daemonsets["web"].revision.as_deref(), Some("0a1"));
        assert_eq!(first.daemonsets["web"].spec_json.as_deref(), Some("{}"));
        assert!(first.unit_mtimes.contains_key(&unit.display().to_string()));
        assert!(
            first.now > 1_600_000_000,
            "the clock from /proc/self: {}",
            first.now
        );
        assert_eq!(first.host.server_ip, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(
            first.host.addresses,
            vec![("eth0".to_string(), "10.0.0.2".parse().unwrap())]
        );
        assert!(first.units["dsctl_web_0a1_app.service"].is_active());
        // The token is dsctl_token's, computed as the host script does (real programs).
        let token = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "S='{}'\nUNIT_GLOBS='{globs}'\n{}dsctl_token\n",
                state.display(),
                crate::plan_token::STATE_SH
            ))
            .output()
            .unwrap();
        let token = String::from_utf8(token.stdout).unwrap();
        assert_eq!(first.token.as_deref(), Some(token.trim()));

        let (second, calls) = run(&[]);
        assert_eq!(calls, "ip\nstat\nbase64\n", "an unknown spec is read");
        assert_eq!(
            (&second.unit_files, &second.daemonsets, &second.token),
            (&first.unit_files, &first.daemonsets, &first.token)
        );
        assert_eq!(
            (&second.podman_version, &second.host, &second.units),
            (&first.podman_version, &first.host, &first.units)
        );

        let (mut third, calls) = run(&[("web", "0a1")]);
        assert_eq!(calls, "ip\nstat\n", "a no-op");
        assert_eq!(third.daemonsets["web"].spec_json, None);
        third.restore_known_spec("web", || ("0a1".into(), "{}".into()));
        assert_eq!(third.daemonsets, first.daemonsets);
        let mut other = third.clone();
        other.daemonsets.get_mut("web").unwrap().spec_json = None;
        other.restore_known_spec("web", || ("0b2".into(), "{\"x\":1}".into()));
        assert_eq!(
            other.daemonsets["web"].spec_json, None,
            "another revision's spec"
        );

        std::fs::write(&unit, "[Container]\nImage=x\n").unwrap();
        let (fourth, calls) = run(&[("web", "0a1")]);
        assert_eq!(
            calls, "ip\nstat\nsha256sum\nmkdir\nmv\nsystemctl\nmkdir\nmv\n",
            "an edited file is hashed again, and systemd asked again"
        );
        assert_eq!(
            fourth.unit_files[&unit.display().to_string()],
            content_sha("[Container]\nImage=x\n")
        );
        assert_ne!(fourth.token, first.token);

        // What makes the cached unit states void: each asks systemd again, once.
        let systemd_asked = |what: &str| {
            let (obs, calls) = run(&[("web", "0a1")]);
            assert!(calls.contains("systemctl"), "{what}: {calls}");
            assert_eq!(
                run(&[("web", "0a1")]).1,
                "ip\nstat\n",
                "{what}, then a no-op"
            );
            obs
        };
        std::fs::write(&ran, "").unwrap();
        systemd_asked("a host script ran");
        std::fs::remove_file(&invocation).unwrap();
        std::fs::write(&answer, active.replace("=active", "=inactive")).unwrap();
        // A unit that is not active is never cached: systemd is asked every time.
        for _ in 0..2 {
            let (stopped, calls) = run(&[("web", "0a1")]);
            assert!(calls.contains("systemctl"), "the unit stopped: {calls}");
            assert!(!stopped.units["dsctl_web_0a1_app.service"].is_active());
        }
        std::os::unix::fs::symlink("4567ef01", &invocation).unwrap();
        std::fs::write(&answer, active).unwrap();
        systemd_asked("the unit started again");
        std::fs::write(
            &answer,
            active.replace("NeedDaemonReload=no", "NeedDaemonReload=yes"),
        )
        .unwrap();
        std::fs::write(&ran, "x").unwrap();
        for _ in 0..2 {
            assert!(
                run(&[("web", "0a1")]).1.contains("systemctl"),
                "reload pending"
            );
        }
    }

    /// A host without `ip`, `nproc` or SSH_CONNECTION (sudo drops it) still observes.
    #[test]
    fn missing_host_facts_are_unknown() {
        let text = "dsctl-observe 1\nhostip \nuname Linux\ncpus \nmemtotal \nstorage \nend\n";
        let obs = parse(text).unwrap();
        assert_eq!(
            obs.host,
            HostInfo {
                kernel: Some("Linux".into()),
                ..Default::default()
            }
        );
    }

    #[test]
    fn truncated_output_is_an_error_not_an_empty_host() {
        let cut = &SAMPLE[..SAMPLE.rfind("\nend\n").unwrap()];
        assert_eq!(parse(cut), Err(ObserveError::Truncated));
        assert!(matches!(
            parse("sh: podman: not found\n"),
            Err(ObserveError::NoHeader(_))
        ));
    }

    #[test]
    fn flavor_follows_podman_version() {
        let cases = [
            (Some("4.3.1"), true, UnitFlavor::Service),
            (Some("4.4.0"), true, UnitFlavor::Service),
            (Some("4.9.4"), true, UnitFlavor::Service),
            (Some("5.0.0"), true, UnitFlavor::Quadlet),
            (Some("5.4.2"), false, UnitFlavor::Service),
            (Some("5.4.2-dev"), true, UnitFlavor::Quadlet),
            (None, true, UnitFlavor::Service),
        ];
        for (version, generator, want) in cases {
            let obs = Observation {
                podman_version: version.map(str::to_string),
                quadlet_generator: generator,
                ..Default::default()
            };
            assert_eq!(obs.detected_flavor(), want, "{version:?} {generator}");
        }
    }

    #[test]
    fn failed_init_reload_and_pod_member_records() {
        let long = "x".repeat(3000);
        let tail = format!("1\n2\n3\n4\n5\n6\nbad \x1b[31m{long}");
        let text = format!(
            "dsctl-observe 1\nprop Id=dsctl_web_0a1_init.service\nprop ActiveState=failed\nprop ExecMainStatus=3\nprop NeedDaemonReload=yes\nunitend\nunitend\njournal dsctl_web_0a1_init.service {}\ncontainer\tdsctl_web_0a1_app\tcreated\timg\t0a1\tweb\tapp\tdsctl_web_0a1\t3f2a1b9c0d1e\nend\n",
            {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(tail.as_bytes())
            }
        );
        let obs = parse(&text).unwrap();
        let init = &obs.units["dsctl_web_0a1_init.service"];
        assert_eq!(init.exit_status, Some(3));
        assert!(init.need_daemon_reload);
        let got = init.journal_tail.as_deref().unwrap();
        assert!(
            got.len() <= JOURNAL_TAIL_BYTES && !got.contains('\x1b'),
            "{got:?}"
        );
        let c = &obs.containers["dsctl_web_0a1_app"];
        assert_eq!(
            (
                c.daemonset.as_deref(),
                c.container.as_deref(),
                c.pod.as_deref()
            ),
            (Some("web"), Some("app"), Some("dsctl_web_0a1"))
        );
        assert_eq!(c.id.as_deref(), Some("3f2a1b9c0d1e"));
        assert!(script(false, &[]).contains("S=/var/lib/dsctl\n"));
    }

    #[test]
    fn token_and_left_runs() {
        let text = "dsctl-observe 1\nstate /u/a 1:2:3:4.5\nstate ds web 0a1 1 -\nleftrun r-1 0 aAo= \nleftrun r-2 running  \nend\n";
        let obs = parse(text).unwrap();
        // What `printf '/u/a 1:2:3:4.5\nds web 0a1 1 -\n' | sha256sum` prints.
        assert_eq!(
            obs.token.as_deref(),
            Some(crate::plan::content_sha("/u/a 1:2:3:4.5\nds web 0a1 1 -\n").as_str())
        );
        assert_eq!(obs.left_runs.len(), 2);
        assert_eq!(obs.left_runs[0].holder, "h");
        assert_eq!(obs.left_runs[1].state, crate::detached::LeftState::Running);
        // No state at all (a host dsctl never touched) is a state too, and is checked.
        let obs = parse("dsctl-observe 1\nend\n").unwrap();
        assert_eq!(
            obs.token.as_deref(),
            Some(crate::plan::content_sha("").as_str())
        );
        assert!(parse("dsctl-observe 1\nleftrun ../x 0\nend\n").is_err());
    }

    #[test]
    fn lock_holder_and_contents() {
        let text = "dsctl-observe 1\nlock held alice@laptop pid 42\ncontent /etc/x aGVsbG8K\ndsspec web e30=\ndshalted web aGVsbG8K\nend\n";
        let obs = parse(text).unwrap();
        assert_eq!(obs.lock_holder.as_deref(), Some("alice@laptop pid 42"));
        assert_eq!(obs.contents["/etc/x"], "hello\n");
        assert_eq!(obs.daemonsets["web"].spec_json.as_deref(), Some("{}"));
        assert_eq!(obs.daemonsets["web"].halted.as_deref(), Some("hello\n"));
    }

    #[test]
    fn a_halted_marker_holds_only_the_revision_the_host_runs() {
        let record = |revision: &str, halted: bool| RecordedDaemonSet {
            revision: Some(revision.into()),
            halted: halted.then(|| "readiness probe failed".to_string()),
            ..Default::default()
        };
        for (r, want, why) in [
            (record("0bad", true), true, "halted at the desired revision"),
            (
                record("0bad", false),
                false,
                "recorded again since: no marker",
            ),
            (
                record("0old", true),
                false,
                "reverted or another revision: not this rollout's",
            ),
        ] {
            assert_eq!(r.halted_at("0bad"), want, "{why}");
        }
        assert!(!RecordedDaemonSet::default().halted_at("0bad"));
    }
}
