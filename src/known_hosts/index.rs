//! known_hosts read once per run, not once per host: the entries are parsed when a file
//! changes (its length or modification time) and indexed by literal host name, so a lookup
//! costs the same with 10 lines or 10,000. Without it, N connections parsed and scanned N
//! lines each (N² work: minutes at 10,000 hosts). Lines with wildcards, negations or hashed
//! names cannot be indexed and are matched one by one, as OpenSSH does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use russh::keys::ssh_key::known_hosts::HostPatterns;

use super::{Entry, KnownHostsError, host_port, load};

/// The entries of some known_hosts files, with an index by literal host name.
#[derive(Debug, Default)]
pub struct Index {
    entries: Vec<Entry>,
    literal: HashMap<String, Vec<usize>>,
    scanned: Vec<usize>,
}

impl Index {
    pub fn new(entries: Vec<Entry>) -> Index {
        let mut index = Index::default();
        for (i, entry) in entries.iter().enumerate() {
            match literal_names(entry) {
                Some(names) => {
                    for name in names {
                        index.literal.entry(name).or_default().push(i);
                    }
                }
                None => index.scanned.push(i),
            }
        }
        index.entries = entries;
        index
    }

    /// The entries that may concern `host:port`, in file order: a superset of those that
    /// match it (`check` matches them again), so verdicts are exactly those of a full scan.
    pub fn for_host(&self, host: &str, port: u16) -> Vec<Entry> {
        let name = host_port(host, port);
        let mut hits: Vec<usize> = self.literal.get(&name).cloned().unwrap_or_default();
        hits.extend(&self.scanned);
        hits.sort_unstable();
        hits.dedup();
        hits.into_iter().map(|i| self.entries[i].clone()).collect()
    }
}

/// An entry's names when every pattern is a plain name (lowercased, as `glob` compares).
fn literal_names(entry: &Entry) -> Option<Vec<String>> {
    let HostPatterns::Patterns(patterns) = &entry.patterns else {
        return None;
    };
    patterns
        .iter()
        .map(|p| (!p.contains(['*', '?', '!'])).then(|| p.to_ascii_lowercase()))
        .collect()
}

type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(paths: &[PathBuf]) -> Stamp {
    paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

/// Files, their stamp when read, and their index.
type Cached = (Vec<PathBuf>, Stamp, Arc<Index>);

static CACHE: Mutex<Vec<Cached>> = Mutex::new(Vec::new());

/// The index of `paths`, parsed again only when one of them changed since it was last read
/// (a key learned by `learn` changes the file, so the next lookup sees it).
pub fn load_indexed(paths: &[PathBuf]) -> Result<Arc<Index>, KnownHostsError> {
    let now = stamp(paths);
    // Held while parsing: 64 connections starting at once parse the file once, not 64 times.
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, index)) = cache.iter().find(|(p, s, _)| p == paths && *s == now) {
        return Ok(index.clone());
    }
    let index = Arc::new(Index::new(load(paths)?));
    cache.retain(|(p, _, _)| p != paths);
    cache.push((paths.to_vec(), now, index.clone()));
    Ok(index)
}

/// The entries of `paths` that may concern `host:port` (see [`Index::for_host`]).
pub fn load_for(paths: &[PathBuf], host: &str, port: u16) -> Result<Vec<Entry>, KnownHostsError> {
    Ok(load_indexed(paths)?.for_host(host, port))
}

#[cfg(test)]
mod tests {
    use super::super::{HostKeyVerdict, check, entry_line, parse};
    use super::*;
    use russh::keys::Algorithm;
    use russh::keys::ssh_key::PrivateKey;

    fn key() -> russh::keys::ssh_key::PublicKey {
        PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
            .unwrap()
            .public_key()
            .clone()
    }

    #[test]
    fn the_index_gives_the_verdicts_of_a_full_scan() {
        let (a, b, c) = (key(), key(), key());
        let line = |k: &russh::keys::ssh_key::PublicKey| {
            entry_line("x", 22, k)
                .split_once(' ')
                .unwrap()
                .1
                .to_string()
        };
        let text = format!(
            "10.0.0.1 {}\n[10.0.0.2]:2222 {}\n10.0.1.* {}\n!10.0.1.9,10.0.1.? {}\nHost.Example,10.0.0.3 {}\n@revoked 10.0.0.4 {}\n10.0.0.4 {}\n",
            line(&a),
            line(&b),
            line(&c),
            line(&a),
            line(&b),
            line(&a),
            line(&a),
        );
        let (entries, _) = parse(&text, std::path::Path::new("kh"));
        let index = Index::new(entries.clone());
        let hosts = [
            ("10.0.0.1", 22),
            ("10.0.0.2", 2222),
            ("10.0.0.2", 22),
            ("10.0.1.5", 22),
            ("10.0.1.9", 22),
            ("host.example", 22),
            ("10.0.0.3", 22),
            ("10.0.0.4", 22),
            ("10.9.9.9", 22),
        ];
        for (host, port) in hosts {
            for k in [&a, &b, &c] {
                assert_eq!(
                    check(&index.for_host(host, port), host, port, k),
                    check(&entries, host, port, k),
                    "{host}:{port}"
                );
            }
        }
        assert_eq!(
            check(&index.for_host("10.0.0.1", 22), "10.0.0.1", 22, &a),
            HostKeyVerdict::Known
        );
        // Only what may match is handed out: the literal line and the pattern lines.
        assert_eq!(index.for_host("10.0.0.1", 22).len(), 3);
    }

    #[test]
    fn a_changed_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let (a, b) = (key(), key());
        std::fs::write(&path, format!("{}\n", entry_line("10.0.0.1", 22, &a))).unwrap();
        let paths = vec![path.clone()];
        let first = load_indexed(&paths).unwrap();
        assert!(
            Arc::ptr_eq(&first, &load_indexed(&paths).unwrap()),
            "cached"
        );
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&entry_line("10.0.0.2", 22, &b));
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        let entries = load_for(&paths, "10.0.0.2", 22).unwrap();
        assert_eq!(check(&entries, "10.0.0.2", 22, &b), HostKeyVerdict::Known);
    }
}
