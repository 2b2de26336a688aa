//! How to reach a host: inventory settings first, then OpenSSH's own resolution (`ssh -G`, so
//! ~/.ssh/config with Match and Include applies), then defaults.
//!
//! `parse_ssh_g`, `parse_proxy_jump` and `resolve` are pure; `resolve_host` runs `ssh -G` (when
//! the `ssh` binary exists) for the host and for its bastion.
//!
//! Limits, said plainly: only the first hop of a ProxyJump chain is used (dsctl tunnels through
//! one bastion) and a ProxyCommand is not run, each leaving a note in `ResolvedHost::notes`;
//! known_hosts paths containing spaces cannot be told apart in `ssh -G` output (set
//! `known_hosts` in the inventory instead).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::inventory::Host;

/// Everything `ssh.rs` needs to open a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedHost {
    /// The inventory name, for messages.
    pub name: String,
    /// Where to connect (ssh's `HostName`).
    pub hostname: String,
    pub port: u16,
    pub user: String,
    /// Private keys to try in order, before the agent's.
    pub identity_files: Vec<PathBuf>,
    /// Checked in order; an unknown key is learned into the first.
    pub known_hosts: Vec<PathBuf>,
    /// The name looked up in known_hosts (`HostKeyAlias`, else `hostname`).
    pub host_key_name: String,
    /// The ssh-agent socket, if any.
    pub agent_socket: Option<PathBuf>,
    /// The bastion to tunnel through.
    pub jump: Option<Box<ResolvedHost>>,
    pub connect_timeout: Option<Duration>,
    pub server_alive_interval: Option<Duration>,
    /// Settings dsctl saw but does not apply.
    pub notes: Vec<String>,
}

/// The settings read from `ssh -G` output; every field is what OpenSSH would use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SshG {
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<String>,
    pub user_known_hosts: Vec<String>,
    pub global_known_hosts: Vec<String>,
    pub proxy_jump: Option<String>,
    pub proxy_command: Option<String>,
    pub host_key_alias: Option<String>,
    pub identity_agent: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub server_alive_interval: Option<Duration>,
}

/// `[user@]host[:port]`: one hop of a ProxyJump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// What `resolve` needs from the process environment, passed in so it stays pure.
#[derive(Debug, Clone, PartialEq)]
pub struct Env {
    pub user: String,
    pub home: PathBuf,
    pub ssh_auth_sock: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{host}: invalid ProxyJump {value:?}: {reason}")]
    ProxyJump {
        host: String,
        value: String,
        reason: String,
    },
    #[error("{host}: invalid address {address:?}: an address may not start with '-'")]
    Address { host: String, address: String },
    #[error("{host}: `ssh -G {address}` failed: {message}")]
    SshG {
        host: String,
        address: String,
        message: String,
    },
}

/// Reads `ssh -G` output: one `keyword value` per line, keywords in lower case.
pub fn parse_ssh_g(output: &str) -> SshG {
    let mut g = SshG::default();
    for line in output.lines() {
        let Some((keyword, value)) = line.trim().split_once(' ') else {
            continue;
        };
        let value = value.trim();
        let optional = |v: &str| (!v.eq_ignore_ascii_case("none")).then(|| v.to_string());
        let seconds = |v: &str| {
            v.parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
        };
        match keyword.to_ascii_lowercase().as_str() {
            "user" => g.user = Some(value.to_string()),
            "hostname" => g.hostname = Some(value.to_string()),
            "port" => g.port = value.parse().ok(),
            // One line per file; the value is the rest of the line, spaces included.
            "identityfile" => g.identity_files.push(value.to_string()),
            "userknownhostsfile" => {
                g.user_known_hosts = value.split_whitespace().map(String::from).collect()
            }
            "globalknownhostsfile" => {
                g.global_known_hosts = value.split_whitespace().map(String::from).collect()
            }
            "proxyjump" => g.proxy_jump = optional(value),
            "proxycommand" => g.proxy_command = optional(value),
            "hostkeyalias" => g.host_key_alias = optional(value),
            "identityagent" => g.identity_agent = Some(value.to_string()),
            "connecttimeout" => g.connect_timeout = seconds(value),
            "serveraliveinterval" => g.server_alive_interval = seconds(value),
            _ => {}
        }
    }
    g
}

/// Parses `[user@]host[:port]`, `[user@][v6addr]:port` or `ssh://[user@]host[:port]`; a comma
/// list yields its first hop and a note. `none` means no jump.
pub fn parse_proxy_jump(value: &str) -> Result<Option<(JumpSpec, Option<String>)>, String> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (first, note) = match value.split_once(',') {
        Some((first, _)) => (
            first.trim(),
            Some(format!(
                "ProxyJump {value}: dsctl tunnels through the first hop only ({first})"
            )),
        ),
        None => (value, None),
    };
    let hop = first.strip_prefix("ssh://").unwrap_or(first);
    let (user, host_port) = match hop.rsplit_once('@') {
        Some((user, rest)) if !user.is_empty() => (Some(user.to_string()), rest),
        Some(_) => return Err("empty user before '@'".into()),
        None => (None, hop),
    };
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("missing ']'")?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(format!("unexpected {after:?} after ']'")),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    if host.starts_with('-') {
        return Err("a host may not start with '-'".into());
    }
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or(format!("bad port {p:?}"))
        })
        .transpose()?;
    let spec = JumpSpec {
        user,
        host: host.to_string(),
        port,
    };
    Ok(Some((spec, note)))
}

/// Combines the inventory host, its `ssh -G` settings (None when ssh is not installed) and the
/// environment. `exists` filters the default identity files, as OpenSSH skips missing ones.
/// The jump, if any, is left unresolved here: see `resolve_jump`.
pub fn resolve(
    host: &Host,
    ssh_g: Option<&SshG>,
    env: &Env,
    exists: &dyn Fn(&Path) -> bool,
) -> Result<(ResolvedHost, Option<JumpSpec>), ConfigError> {
    let s = &host.settings;
    let g = ssh_g.cloned().unwrap_or_default();
    let mut notes = Vec::new();
    let hostname = g.hostname.clone().unwrap_or_else(|| host.address.clone());
    let identity_files = match &s.identity_file {
        // Named in the inventory: use it alone, and let a missing file be a clear error later.
        Some(path) => vec![expand_tilde(&path.to_string_lossy(), &env.home)],
        None => candidates(
            &g.identity_files,
            env,
            exists,
            &["id_ed25519", "id_ecdsa", "id_rsa"],
        ),
    };
    let known_hosts = match &s.known_hosts {
        Some(path) => vec![expand_tilde(&path.to_string_lossy(), &env.home)],
        None if ssh_g.is_some() => g
            .user_known_hosts
            .iter()
            .chain(&g.global_known_hosts)
            .map(|p| expand_tilde(p, &env.home))
            .collect(),
        None => vec![env.home.join(".ssh/known_hosts")],
    };
    let jump_value = s.proxy_jump.clone().or(g.proxy_jump.clone());
    let jump = match jump_value.as_deref().map(parse_proxy_jump).transpose() {
        Ok(parsed) => parsed.flatten().map(|(spec, note)| {
            notes.extend(note);
            spec
        }),
        Err(reason) => {
            return Err(ConfigError::ProxyJump {
                host: host.name.clone(),
                value: jump_value.unwrap_or_default(),
                reason,
            });
        }
    };
    if let Some(command) = &g.proxy_command
        && jump.is_none()
    {
        notes.push(format!(
            "ProxyCommand {command:?} is not supported; connecting directly"
        ));
    }
    let resolved = ResolvedHost {
        name: host.name.clone(),
        host_key_name: g.host_key_alias.clone().unwrap_or_else(|| hostname.clone()),
        hostname,
        port: s.port.or(g.port).unwrap_or(22),
        user: s
            .user
            .clone()
            .or(g.user.clone())
            .unwrap_or_else(|| env.user.clone()),
        identity_files,
        known_hosts,
        agent_socket: agent_socket(g.identity_agent.as_deref(), env),
        jump: None,
        connect_timeout: g.connect_timeout,
        server_alive_interval: g.server_alive_interval,
        notes,
    };
    Ok((resolved, jump))
}

/// The bastion's settings: the hop's own user and port first, then `ssh -G` for the bastion,
/// then the target's identity and known_hosts files (one fleet key and one known_hosts file
/// for both is the common case). A bastion's own ProxyJump is not followed.
pub fn resolve_jump(
    spec: &JumpSpec,
    ssh_g: Option<&SshG>,
    target: &ResolvedHost,
    env: &Env,
    exists: &dyn Fn(&Path) -> bool,
) -> ResolvedHost {
    let g = ssh_g.cloned().unwrap_or_default();
    let hostname = g.hostname.clone().unwrap_or_else(|| spec.host.clone());
    let mut identity_files = candidates(&g.identity_files, env, exists, &[]);
    for file in &target.identity_files {
        if !identity_files.contains(file) {
            identity_files.push(file.clone());
        }
    }
    let mut notes = Vec::new();
    if g.proxy_jump.is_some() {
        notes.push(format!(
            "bastion {}: its own ProxyJump is not followed (one hop only)",
            spec.host
        ));
    }
    ResolvedHost {
        name: format!("bastion {}", spec.host),
        host_key_name: g.host_key_alias.clone().unwrap_or_else(|| hostname.clone()),
        hostname,
        port: spec.port.or(g.port).unwrap_or(22),
        user: spec
            .user
            .clone()
            .or(g.user.clone())
            .unwrap_or_else(|| env.user.clone()),
        identity_files,
        known_hosts: target.known_hosts.clone(),
        agent_socket: agent_socket(g.identity_agent.as_deref(), env)
            .or(target.agent_socket.clone()),
        jump: None,
        connect_timeout: g.connect_timeout.or(target.connect_timeout),
        server_alive_interval: g.server_alive_interval.or(target.server_alive_interval),
        notes,
    }
}

/// Existing files among ssh's list, or among `~/.ssh/<fallback>` without ssh.
fn candidates(
    listed: &[String],
    env: &Env,
    exists: &dyn Fn(&Path) -> bool,
    fallback: &[&str],
) -> Vec<PathBuf> {
    let all: Vec<PathBuf> = if listed.is_empty() {
        fallback
            .iter()
            .map(|f| env.home.join(".ssh").join(f))
            .collect()
    } else {
        listed.iter().map(|p| expand_tilde(p, &env.home)).collect()
    };
    all.into_iter().filter(|p| exists(p)).collect()
}

/// OpenSSH's IdentityAgent: unset or `SSH_AUTH_SOCK` means the environment's socket, `none`
/// disables the agent, `$VAR` is not expanded here (ssh -G already did), anything else is a path.
fn agent_socket(identity_agent: Option<&str>, env: &Env) -> Option<PathBuf> {
    match identity_agent {
        None | Some("SSH_AUTH_SOCK") | Some("$SSH_AUTH_SOCK") => env.ssh_auth_sock.clone(),
        Some(v) if v.eq_ignore_ascii_case("none") => None,
        Some(path) => Some(expand_tilde(path, &env.home)),
    }
}

/// `~` and `~/…` become the home directory; other paths are kept.
pub fn expand_tilde(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix('~') {
        Some("") => home.to_path_buf(),
        Some(rest) if rest.starts_with('/') => home.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(path),
    }
}

impl Env {
    /// $USER (else $LOGNAME, else "root"), $HOME and $SSH_AUTH_SOCK.
    pub fn from_process() -> Env {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Env {
            user: var("USER")
                .or_else(|| var("LOGNAME"))
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_else(|| "root".into()),
            home: var("HOME").map(PathBuf::from).unwrap_or_else(|| "/".into()),
            ssh_auth_sock: var("SSH_AUTH_SOCK").map(PathBuf::from),
        }
    }
}

/// Runs `ssh -G` for an address, with the inventory's user and port so that `Match user`
/// and `Match localport`-style rules see them. `Ok(None)` when ssh is not installed.
pub async fn ssh_g(
    name: &str,
    address: &str,
    user: Option<&str>,
    port: Option<u16>,
) -> Result<Option<SshG>, ConfigError> {
    if address.starts_with('-') {
        return Err(ConfigError::Address {
            host: name.into(),
            address: address.into(),
        });
    }
    let mut args: Vec<OsString> = vec!["-G".into()];
    if let Some(user) = user {
        args.extend(["-l".into(), user.into()]);
    }
    if let Some(port) = port {
        args.extend(["-p".into(), port.to_string().into()]);
    }
    args.extend(["--".into(), address.into()]);
    let output = tokio::process::Command::new("ssh")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::SshG {
                host: name.into(),
                address: address.into(),
                message: e.to_string(),
            });
        }
    };
    if !output.status.success() {
        return Err(ConfigError::SshG {
            host: name.into(),
            address: address.into(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(Some(parse_ssh_g(&String::from_utf8_lossy(&output.stdout))))
}

/// Resolves a host (and its bastion) the way `ssh HOST` would, inventory values first.
pub async fn resolve_host(host: &Host) -> Result<ResolvedHost, ConfigError> {
    let env = Env::from_process();
    let exists = |p: &Path| p.is_file();
    let s = &host.settings;
    let g = ssh_g(&host.name, &host.address, s.user.as_deref(), s.port).await?;
    let (mut resolved, jump) = resolve(host, g.as_ref(), &env, &exists)?;
    if let Some(spec) = jump {
        let g = ssh_g(&host.name, &spec.host, spec.user.as_deref(), spec.port).await?;
        resolved.jump = Some(Box::new(resolve_jump(
            &spec,
            g.as_ref(),
            &resolved,
            &env,
            &exists,
        )));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::HostSettings;

    const SSH_G: &str = "host n3
user deploy
hostname 10.0.0.3
port 2222
hostkeyalias n3alias
identityfile /keys/my key
identityfile ~/.ssh/id_ed25519
identityfile ~/.ssh/id_rsa
userknownhostsfile /home/me/.ssh/known_hosts /home/me/.ssh/known_hosts2
globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2
proxyjump ops@bastion:2200,second
connecttimeout 7
serveraliveinterval 0
identityagent none
";

    fn env() -> Env {
        Env {
            user: "me".into(),
            home: "/home/me".into(),
            ssh_auth_sock: Some("/run/agent.sock".into()),
        }
    }

    fn host(settings: HostSettings) -> Host {
        Host {
            name: "node-3".into(),
            address: "n3".into(),
            settings,
            labels: Default::default(),
            taints: Vec::new(),
        }
    }

    fn every_file_exists(_: &Path) -> bool {
        true
    }

    #[test]
    fn parses_ssh_g_output() {
        let g = parse_ssh_g(SSH_G);
        assert_eq!(
            g,
            SshG {
                user: Some("deploy".into()),
                hostname: Some("10.0.0.3".into()),
                port: Some(2222),
                identity_files: vec![
                    "/keys/my key".into(),
                    "~/.ssh/id_ed25519".into(),
                    "~/.ssh/id_rsa".into()
                ],
                user_known_hosts: vec![
                    "/home/me/.ssh/known_hosts".into(),
                    "/home/me/.ssh/known_hosts2".into()
                ],
                global_known_hosts: vec![
                    "/etc/ssh/ssh_known_hosts".into(),
                    "/etc/ssh/ssh_known_hosts2".into()
                ],
                proxy_jump: Some("ops@bastion:2200,second".into()),
                proxy_command: None,
                host_key_alias: Some("n3alias".into()),
                identity_agent: Some("none".into()),
                connect_timeout: Some(Duration::from_secs(7)),
                server_alive_interval: None,
            }
        );
    }

    #[test]
    fn none_values_are_unset() {
        let g = parse_ssh_g(
            "proxyjump none\nproxycommand none\nconnecttimeout none\nhostkeyalias none\n",
        );
        assert_eq!(g, SshG::default());
    }

    #[test]
    fn proxy_jump_forms() {
        let spec = |user: Option<&str>, host: &str, port: Option<u16>| JumpSpec {
            user: user.map(String::from),
            host: host.into(),
            port,
        };
        for (value, want) in [
            ("bastion", spec(None, "bastion", None)),
            ("ops@bastion", spec(Some("ops"), "bastion", None)),
            ("bastion:2200", spec(None, "bastion", Some(2200))),
            (
                "ops@10.0.0.1:2200",
                spec(Some("ops"), "10.0.0.1", Some(2200)),
            ),
            (
                "ssh://ops@bastion:2200",
                spec(Some("ops"), "bastion", Some(2200)),
            ),
            ("[fd00::1]:2200", spec(None, "fd00::1", Some(2200))),
            ("ops@[fd00::1]", spec(Some("ops"), "fd00::1", None)),
            ("a.b@c@bastion", spec(Some("a.b@c"), "bastion", None)),
        ] {
            let (got, note) = parse_proxy_jump(value).unwrap().unwrap();
            assert_eq!(got, want, "{value}");
            assert_eq!(note, None, "{value}");
        }
        let (first, note) = parse_proxy_jump("a@one:1, two").unwrap().unwrap();
        assert_eq!(first, spec(Some("a"), "one", Some(1)));
        assert!(note.unwrap().contains("first hop only"));
        assert_eq!(parse_proxy_jump("none").unwrap(), None);
        assert_eq!(parse_proxy_jump("").unwrap(), None);
        for bad in [
            "@bastion",
            "bastion:x",
            "bastion:0",
            "bastion:70000",
            "[::1",
            ":22",
            "-oProxyCommand=x",
        ] {
            assert!(parse_proxy_jump(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_g_fills_what_the_inventory_leaves_out() {
        let g = parse_ssh_g(SSH_G);
        let (r, jump) = resolve(
            &host(HostSettings::default()),
            Some(&g),
            &env(),
            &every_file_exists,
        )
        .unwrap();
        assert_eq!(r.hostname, "10.0.0.3");
        assert_eq!(r.host_key_name, "n3alias");
        assert_eq!(r.port, 2222);
        assert_eq!(r.user, "deploy");
        assert_eq!(
            r.identity_files,
            vec![
                PathBuf::from("/keys/my key"),
                "/home/me/.ssh/id_ed25519".into(),
                "/home/me/.ssh/id_rsa".into()
            ]
        );
        assert_eq!(r.known_hosts.len(), 4);
        assert_eq!(r.known_hosts[0], PathBuf::from("/home/me/.ssh/known_hosts"));
        assert_eq!(r.agent_socket, None, "IdentityAgent none");
        assert_eq!(r.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(
            jump,
            Some(JumpSpec {
                user: Some("ops".into()),
                host: "bastion".into(),
                port: Some(2200)
            })
        );
        assert!(
            r.notes.iter().any(|n| n.contains("first hop only")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn inventory_values_win() {
        let g = parse_ssh_g(SSH_G);
        let settings = HostSettings {
            user: Some("root".into()),
            port: Some(22),
            identity_file: Some("~/fleet/id".into()),
            known_hosts: Some("fleet/known_hosts".into()),
            proxy_jump: Some("none".into()),
            unit_flavor: None,
        };
        let (r, jump) = resolve(&host(settings), Some(&g), &env(), &|_| false).unwrap();
        assert_eq!((r.user.as_str(), r.port), ("root", 22));
        // Named explicitly: kept even if missing, so connect can say so.
        assert_eq!(r.identity_files, vec![PathBuf::from("/home/me/fleet/id")]);
        assert_eq!(r.known_hosts, vec![PathBuf::from("fleet/known_hosts")]);
        assert_eq!(jump, None);
    }

    #[test]
    fn defaults_without_ssh() {
        let only_ed25519 = |p: &Path| p.ends_with("id_ed25519");
        let (r, jump) =
            resolve(&host(HostSettings::default()), None, &env(), &only_ed25519).unwrap();
        assert_eq!(r.hostname, "n3");
        assert_eq!(r.host_key_name, "n3");
        assert_eq!(r.user, "me");
        assert_eq!(r.port, 22);
        assert_eq!(
            r.identity_files,
            vec![PathBuf::from("/home/me/.ssh/id_ed25519")]
        );
        assert_eq!(
            r.known_hosts,
            vec![PathBuf::from("/home/me/.ssh/known_hosts")]
        );
        assert_eq!(r.agent_socket, Some(PathBuf::from("/run/agent.sock")));
        assert_eq!(r.connect_timeout, None);
        assert_eq!(jump, None);
    }

    #[test]
    fn invalid_inventory_jump_is_an_error_naming_the_host() {
        let settings = HostSettings {
            proxy_jump: Some("bastion:nope".into()),
            ..Default::default()
        };
        let err = resolve(&host(settings), None, &env(), &every_file_exists).unwrap_err();
        assert!(
            err.to_string().starts_with("node-3: invalid ProxyJump"),
            "{err}"
        );
    }

    #[test]
    fn proxy_command_is_noted() {
        let g = parse_ssh_g("proxycommand nc %h %p\n");
        let (r, _) = resolve(
            &host(HostSettings::default()),
            Some(&g),
            &env(),
            &every_file_exists,
        )
        .unwrap();
        assert!(
            r.notes.iter().any(|n| n.contains("ProxyCommand")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn bastion_settings() {
        let (target, _) = resolve(
            &host(HostSettings {
                identity_file: Some("/fleet/id".into()),
                known_hosts: Some("/fleet/kh".into()),
                ..Default::default()
            }),
            None,
            &env(),
            &every_file_exists,
        )
        .unwrap();
        let spec = JumpSpec {
            user: None,
            host: "bastion".into(),
            port: Some(2200),
        };
        let g = parse_ssh_g(
            "user jumper\nhostname 10.9.9.9\nport 22\nidentityfile ~/.ssh/jump\nproxyjump other\n",
        );
        let b = resolve_jump(&spec, Some(&g), &target, &env(), &every_file_exists);
        assert_eq!(b.hostname, "10.9.9.9");
        assert_eq!(b.port, 2200, "the hop's port wins over ssh -G");
        assert_eq!(b.user, "jumper");
        assert_eq!(
            b.identity_files,
            vec![PathBuf::from("/home/me/.ssh/jump"), "/fleet/id".into()]
        );
        assert_eq!(b.known_hosts, vec![PathBuf::from("/fleet/kh")]);
        assert!(b.notes[0].contains("not followed"));
    }

    #[test]
    fn tilde_expansion() {
        let home = Path::new("/home/me");
        for (path, want) in [
            ("~", "/home/me"),
            ("~/.ssh/id", "/home/me/.ssh/id"),
            ("~other/x", "~other/x"),
            ("/abs", "/abs"),
            ("rel/x", "rel/x"),
        ] {
            assert_eq!(expand_tilde(path, home), PathBuf::from(want), "{path}");
        }
    }

    #[tokio::test]
    async fn ssh_g_wrapper_passes_user_and_port() {
        match ssh_g("t", "example.invalid", Some("alice"), Some(2200)).await {
            Ok(Some(g)) => {
                assert_eq!(g.user.as_deref(), Some("alice"));
                assert_eq!(g.port, Some(2200));
            }
            Ok(None) => crate::errln!("ssh is not installed; skipping"),
            Err(e) => panic!("{e}"),
        }
        assert!(matches!(
            ssh_g("t", "-oProxyCommand=x", None, None).await,
            Err(ConfigError::Address { .. })
        ));
    }
}
