//! Strict host-key checking against OpenSSH known_hosts files.
//!
//! ssh-key parses each line (markers, patterns, `[host]:port`, hashed names); matching and the
//! verdict follow OpenSSH: negated patterns veto, `@revoked` refuses, and a host already known
//! under some key but presenting another one is a changed key, whatever its type. That is
//! stricter than OpenSSH's accept-new for a new key *type*, on purpose: `ssh.rs` orders the
//! host-key algorithms so a genuine server shows the type we know. `@cert-authority` lines are
//! ignored, because dsctl does not ask for host certificates.
//!
//! `check` is pure; `load` and `learn` are the file I/O around it.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::known_hosts::{Entry as ParsedEntry, HostPatterns, Marker};
use russh::keys::ssh_key::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

mod index;
pub use index::{Index, load_for, load_indexed};

/// One key line of a known_hosts file, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub at: Location,
    pub marker: Option<Marker>,
    pub patterns: HostPatterns,
    pub key: PublicKey,
}

/// A file and a 1-based line number, for messages a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.path.display(), self.line)
    }
}

/// What the known_hosts files say about a host's key.
#[derive(Debug, Clone, PartialEq)]
pub enum HostKeyVerdict {
    /// A line for this host holds exactly this key.
    Known,
    /// No line names this host.
    Unknown,
    /// The host is known under another key; `at` is the first such line.
    Changed { at: Location, known: Algorithm },
    /// An `@revoked` line matching this host holds this key.
    Revoked { at: Location },
}

/// The outcome of `learn`, decided again under the file lock.
#[derive(Debug, Clone, PartialEq)]
pub enum Learned {
    Added,
    /// Another process (or task) wrote the same key first.
    AlreadyPresent,
    /// Meanwhile the file gained a different key for this host: never overwrite it.
    Conflict(HostKeyVerdict),
}

#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error("cannot read known_hosts file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot add a host key to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The name OpenSSH looks up and writes: `host`, or `[host]:port` off port 22.
pub fn host_port(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_ascii_lowercase()
    } else {
        format!("[{}]:{port}", host.to_ascii_lowercase())
    }
}

/// The line `learn` appends: `name keytype base64` (no comment).
pub fn entry_line(host: &str, port: u16, key: &PublicKey) -> String {
    let openssh = key.to_openssh().unwrap_or_default();
    let mut fields = openssh.split(' ');
    let (kind, blob) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
    format!("{} {kind} {blob}", host_port(host, port))
}

/// Parses a known_hosts text; returns the entries and the lines that could not be parsed
/// (unknown key types, garbage), which OpenSSH skips too.
pub fn parse(text: &str, path: &Path) -> (Vec<Entry>, Vec<Location>) {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let at = Location {
            path: path.to_path_buf(),
            line: index + 1,
        };
        // Same trimming as ssh-key's own iterator, but keeping line numbers; ssh-key splits
        // on single spaces while OpenSSH accepts any run of blanks.
        let line = raw.split_once('#').map_or(raw, |(l, _)| l);
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            continue;
        }
        match line.parse::<ParsedEntry>() {
            Ok(e) => entries.push(Entry {
                at,
                marker: e.marker().copied(),
                patterns: e.host_patterns().clone(),
                key: e.public_key().clone(),
            }),
            Err(_) => skipped.push(at),
        }
    }
    (entries, skipped)
}

/// Decides whether `key` may be trusted for `host:port`.
pub fn check(known: &[Entry], host: &str, port: u16, key: &PublicKey) -> HostKeyVerdict {
    let name = host_port(host, port);
    let for_host: Vec<&Entry> = known.iter().filter(|e| e.matches(&name)).collect();
    if let Some(e) = for_host
        .iter()
        .find(|e| e.marker == Some(Marker::Revoked) && same_key(&e.key, key))
    {
        return HostKeyVerdict::Revoked { at: e.at.clone() };
    }
    let plain: Vec<&&Entry> = for_host.iter().filter(|e| e.marker.is_none()).collect();
    if plain.iter().any(|e| same_key(&e.key, key)) {
        return HostKeyVerdict::Known;
    }
    // Prefer pointing at a line of the same key type: that is the line to look at.
    let changed = plain
        .iter()
        .find(|e| e.key.algorithm() == key.algorithm())
        .or_else(|| plain.first());
    match changed {
        Some(e) => HostKeyVerdict::Changed {
            at: e.at.clone(),
            known: e.key.algorithm(),
        },
        None => HostKeyVerdict::Unknown,
    }
}

/// `default` with the algorithms of this host's known keys moved to the front, so that a
/// server with several host keys shows the one we can check (OpenSSH does the same).
pub fn preferred_algorithms(
    known: &[Entry],
    host: &str,
    port: u16,
    default: &[Algorithm],
) -> Vec<Algorithm> {
    let name = host_port(host, port);
    let known_algs: Vec<Algorithm> = known
        .iter()
        .filter(|e| e.marker.is_none() && e.matches(&name))
        .map(|e| e.key.algorithm())
        .collect();
    let is_known = |a: &Algorithm| {
        known_algs.iter().any(|k| match (k, a) {
            // A known ssh-rsa key is shown as rsa-sha2-512/256 (or legacy ssh-rsa).
            (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
            (k, a) => k == a,
        })
    };
    let (mut first, rest): (Vec<Algorithm>, Vec<Algorithm>) =
        default.iter().cloned().partition(is_known);
    first.extend(rest);
    first
}

/// A key's fingerprint as OpenSSH prints it (`SHA256:…`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

impl Entry {
    /// OpenSSH's `match_hostname`: any negated pattern that matches vetoes the line.
    fn matches(&self, name: &str) -> bool {
        match &self.patterns {
            HostPatterns::HashedName { salt, hash } => {
                let Ok(mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(salt) else {
                    return false;
                };
                mac.chain_update(name.as_bytes()).verify_slice(hash).is_ok()
            }
            HostPatterns::Patterns(patterns) => {
                let mut matched = false;
                for pattern in patterns {
                    let (negated, pattern) = match pattern.strip_prefix('!') {
                        Some(p) => (true, p),
                        None => (false, pattern.as_str()),
                    };
                    if glob(&pattern.to_ascii_lowercase(), name) {
                        if negated {
                            return false;
                        }
                        matched = true;
                    }
                }
                matched
            }
        }
    }
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

/// `*` and `?` wildcards, everything else literal (brackets included), as OpenSSH.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Reads every file in order; a missing file is empty, as for OpenSSH.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Entry>, KnownHostsError> {
    let mut entries = Vec::new();
    for path in paths {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(KnownHostsError::Read {
                    path: path.clone(),
                    source,
                });
            }
        };
        let (parsed, skipped) = parse(&text, path);
        for at in skipped {
            tracing::debug!("known_hosts: skipping unparsable {at}");
        }
        entries.extend(parsed);
    }
    Ok(entries)
}

/// Appends `key` for `host:port` to `path` under an exclusive lock, after checking the file
/// again under that lock, so concurrent learners neither duplicate a line nor let a second,
/// different key in.
pub fn learn(
    path: &Path,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<Learned, KnownHostsError> {
    let write_err = |source| KnownHostsError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(write_err)?;
    }
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(write_err)?;
    file.lock().map_err(write_err)?;
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).map_err(write_err)?;
    file.read_to_string(&mut text).map_err(write_err)?;
    let (entries, _) = parse(&text, path);
    match check(&entries, host, port, key) {
        HostKeyVerdict::Known => return Ok(Learned::AlreadyPresent),
        HostKeyVerdict::Unknown => {}
        other => return Ok(Learned::Conflict(other)),
    }
    let separator = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    let line = format!("{separator}{}\n", entry_line(host, port, key));
    file.write_all(line.as_bytes()).map_err(write_err)?;
    file.sync_data().map_err(write_err)?;
    Ok(Learned::Added)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::ssh_key::{EcdsaCurve, HashAlg};

    // Fixed public keys (public halves only; no secrets in the tests).
    const ED_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB9dG4kjRhQTtWTVzd2t27+t0DEHBPW7iOD23TUiYLio";
    const ED_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEGSIg0kcZc4pS7yCQ1OMzHMoAW/Y23bVjx7RiDYBo8NHoISxujaIFguCWCR9mOShIw2YDTYzlMfijxYG/+kMxQ=";

    fn key(s: &str) -> PublicKey {
        s.parse().unwrap()
    }

    fn entries(text: &str) -> Vec<Entry> {
        let (entries, skipped) = parse(text, Path::new("kh"));
        assert!(skipped.is_empty(), "unparsed: {skipped:?}");
        entries
    }

    fn changed(line: usize, known: Algorithm) -> HostKeyVerdict {
        HostKeyVerdict::Changed {
            at: Location {
                path: "kh".into(),
                line,
            },
            known,
        }
    }

    /// `[node-9]:2222` hashed by `ssh-keygen -H` (HMAC-SHA1 keyed by a random salt).
    const HASHED_NODE_9_2222: &str = "|1|oZ0g8XwKjtj+BlAYE+HpaswQwG4=|yEg9Fc122kMV+FHZyNqjVuLcdbE=";

    #[test]
    fn verdicts() {
        use HostKeyVerdict::{Known, Unknown};
        let hashed = format!("{HASHED_NODE_9_2222} {ED_A}\n");
        let p256 = Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        };
        let revoked_at_2 = HostKeyVerdict::Revoked {
            at: Location {
                path: "kh".into(),
                line: 2,
            },
        };
        // (what, known_hosts, host, port, presented key, verdict)
        #[rustfmt::skip]
        let cases: Vec<(&str, String, &str, u16, &str, HostKeyVerdict)> = vec![
            ("plain name", format!("node-1 {ED_A}"), "node-1", 22, ED_A, Known),
            ("case-insensitive", format!("Node-1 {ED_A}"), "NODE-1", 22, ED_A, Known),
            ("not listed", format!("node-1 {ED_A}"), "node-2", 22, ED_A, Unknown),
            ("empty file", String::new(), "node-1", 22, ED_A, Unknown),
            ("same type, other key", format!("node-1 {ED_A}"), "node-1", 22, ED_B, changed(1, Algorithm::Ed25519)),
            ("other type only", format!("node-1 {ECDSA}"), "node-1", 22, ED_A, changed(1, p256)),
            ("points at same-type line", format!("node-1 {ECDSA}\nnode-1 {ED_A}"), "node-1", 22, ED_B,
                changed(2, Algorithm::Ed25519)),
            ("one of several keys", format!("node-1 {ECDSA}\nnode-1 {ED_A}"), "node-1", 22, ED_A, Known),
            ("list of names", format!("a,node-1,10.0.0.1 {ED_A}"), "10.0.0.1", 22, ED_A, Known),
            ("port form", format!("[node-1]:2222 {ED_A}"), "node-1", 2222, ED_A, Known),
            ("port form needs the port", format!("[node-1]:2222 {ED_A}"), "node-1", 22, ED_A, Unknown),
            ("bare name is port 22 only", format!("node-1 {ED_A}"), "node-1", 2222, ED_A, Unknown),
            ("wildcard", format!("*.fleet {ED_A}"), "n1.fleet", 22, ED_A, Known),
            ("question mark", format!("node-? {ED_A}"), "node-7", 22, ED_A, Known),
            ("wildcard in port form", format!("[10.0.0.*]:2222 {ED_A}"), "10.0.0.9", 2222, ED_A, Known),
            ("negation vetoes", format!("*.fleet,!bad.fleet {ED_A}"), "bad.fleet", 22, ED_A, Unknown),
            ("hashed name", hashed.clone(), "node-9", 2222, ED_A, Known),
            ("hashed name, other host", hashed.clone(), "node-8", 2222, ED_A, Unknown),
            ("hashed name, changed", hashed, "node-9", 2222, ED_B, changed(1, Algorithm::Ed25519)),
            ("revoked", format!("node-1 {ED_A}\n@revoked * {ED_A}"), "node-1", 22, ED_A, revoked_at_2),
            ("revoked other key is no match", format!("@revoked * {ED_B}"), "node-1", 22, ED_A, Unknown),
            ("cert-authority ignored", format!("@cert-authority * {ED_A}"), "node-1", 22, ED_A, Unknown),
            ("comments and blanks", format!("# fleet\n\n node-1 {ED_A} # by hand\n"), "node-1", 22, ED_A, Known),
            ("comment field", format!("node-1 {ED_A} root@node-1"), "node-1", 22, ED_A, Known),
            ("tabs and runs of blanks", format!("node-1\t{}", ED_A.replace(' ', "   ")), "node-1", 22, ED_A, Known),
        ];
        for (what, text, host, port, presented, want) in cases {
            let got = check(&entries(&text), host, port, &key(presented));
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn unparsable_lines_are_skipped_with_their_line_numbers() {
        let text = format!("garbage\nnode-1 ssh-foo AAAA\nnode-1 {ED_A}\n");
        let (entries, skipped) = parse(&text, Path::new("kh"));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].at.line, 3);
        assert_eq!(
            skipped.iter().map(|l| l.line).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    #[test]
    fn entry_lines_round_trip() {
        for (host, port, want_name) in [
            ("node-1", 22, "node-1"),
            ("10.0.0.3", 2222, "[10.0.0.3]:2222"),
        ] {
            let line = entry_line(host, port, &key(ED_A));
            assert_eq!(line, format!("{want_name} {ED_A}"));
            assert_eq!(
                check(&entries(&line), host, port, &key(ED_A)),
                HostKeyVerdict::Known
            );
        }
    }

    #[test]
    fn known_types_are_preferred() {
        let default = [
            Algorithm::Ed25519,
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            },
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha512),
            },
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha256),
            },
        ];
        let known = entries(&format!("node-1 {ECDSA}"));
        assert_eq!(
            preferred_algorithms(&known, "node-1", 22, &default),
            vec![
                default[1].clone(),
                default[0].clone(),
                default[2].clone(),
                default[3].clone()
            ]
        );
        assert_eq!(
            preferred_algorithms(&known, "node-2", 22, &default),
            default.to_vec()
        );
    }

    #[test]
    fn globs() {
        for (pattern, text, want) in [
            ("*", "anything", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*.*.fleet", "x.y.fleet", true),
            ("[h]:22", "[h]:22", true),
            ("", "", true),
            ("", "x", false),
        ] {
            assert_eq!(glob(pattern, text), want, "{pattern} vs {text}");
        }
    }

    #[test]
    fn learn_appends_once_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        assert_eq!(
            learn(&path, "node-1", 2222, &key(ED_A)).unwrap(),
            Learned::Added
        );
        assert_eq!(
            learn(&path, "node-1", 2222, &key(ED_A)).unwrap(),
            Learned::AlreadyPresent
        );
        assert!(matches!(
            learn(&path, "node-1", 2222, &key(ED_B)).unwrap(),
            Learned::Conflict(HostKeyVerdict::Changed { .. })
        ));
        assert_eq!(
            learn(&path, "node-2", 22, &key(ED_B)).unwrap(),
            Learned::Added
        );
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("[node-1]:2222 {ED_A}\nnode-2 {ED_B}\n"));
        let loaded = load(&[path.clone(), dir.path().join("missing")]).unwrap();
        assert_eq!(
            check(&loaded, "node-2", 22, &key(ED_B)),
            HostKeyVerdict::Known
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "known_hosts must not be group/world writable"
            );
        }
    }

    #[test]
    fn learn_adds_a_newline_when_the_file_lacks_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        fs::write(&path, format!("node-1 {ED_A}")).unwrap();
        assert_eq!(
            learn(&path, "node-2", 22, &key(ED_B)).unwrap(),
            Learned::Added
        );
        let loaded = load(std::slice::from_ref(&path)).unwrap();
        assert_eq!(loaded.len(), 2);
    }

    #[test]
    fn fingerprints_look_like_openssh() {
        assert!(fingerprint(&key(ED_A)).starts_with("SHA256:"));
    }
}
