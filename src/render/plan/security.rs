//! A container's effective security context as podman options, each with its Quadlet key
//! where Quadlet has one (podman ≥ 4.4: `AddCapability`, `DropCapability`, `NoNewPrivileges`,
//! `ReadOnly`, `SeccompProfile`); the rest go through `PodmanArgs=`.
//!
//! Choices, and why:
//! * Capabilities: drops first, then adds, as the CRI runtimes apply them; `ALL` is podman's
//!   `all`. Quadlet's documented `DropCapability=all` default was never implemented, so only
//!   what the manifest asks for is written, and nothing is implied.
//! * `allowPrivilegeEscalation: false` is `no-new-privileges`.
//! * seccomp: RuntimeDefault is podman's default profile (nothing to write); Unconfined is
//!   `seccomp=unconfined`; Localhost is a file under the kubelet's seccomp root
//!   (`layout::SECCOMP_ROOT`, /var/lib/kubelet/seccomp), as a kubelet reads it.
//! * procMount Unmasked is `unmask=ALL`; Default is podman's masked /proc.
//! * runAsNonRoot without a known uid is checked when the unit starts, on the image's
//!   configured user, with the kubelet's own messages (`verifyRunAsNonRoot`).

use crate::daemonset::{EffectiveSecurity, ProcMount, SeccompProfileType};
use crate::layout;

use super::{Word, fixed, value};

/// One podman option and, where Quadlet has a key for it, that key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityOption {
    pub words: Vec<Word>,
    pub quadlet: Option<(&'static str, String)>,
}

fn keyed(words: &[&str], key: &'static str, val: impl Into<String>) -> SecurityOption {
    SecurityOption {
        words: words.iter().map(|w| fixed(*w)).collect(),
        quadlet: Some((key, val.into())),
    }
}

fn args(words: Vec<Word>) -> SecurityOption {
    SecurityOption {
        words,
        quadlet: None,
    }
}

/// A capability name as podman takes it: `ALL` becomes `all`, `CAP_X` and `X` stay as written
/// in upper case. Anything but letters, digits and `_` is refused (podman would refuse it at
/// start, on every host).
pub fn capability(name: &str) -> Result<String, String> {
    if name.eq_ignore_ascii_case("all") {
        return Ok("all".into());
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("{name:?} is not a capability name"));
    }
    let upper = name.to_ascii_uppercase();
    // podman refuses an unknown one when the container starts, after its host was touched.
    if !LINUX_CAPABILITIES.contains(&upper.strip_prefix("CAP_").unwrap_or(&upper)) {
        return Err(format!(
            "{name:?} is not a Linux capability (capabilities(7), e.g. NET_BIND_SERVICE)"
        ));
    }
    Ok(upper)
}

/// The capabilities of linux/capability.h (0 to CAP_LAST_CAP = 40), without `CAP_`.
const LINUX_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// A localhostProfile as the path podman reads: relative, without `..`, under the seccomp root.
pub fn localhost_profile(profile: &str) -> Result<String, String> {
    if profile.is_empty() {
        return Err("a Localhost seccomp profile needs localhostProfile".into());
    }
    if profile.starts_with('/') || profile.split('/').any(|part| part == "..") {
        return Err(format!(
            "{profile:?} must be a path relative to {} without `..`",
            layout::SECCOMP_ROOT
        ));
    }
    if !super::is_safe_fixed(profile) || profile.contains('%') {
        return Err(format!(
            "{profile:?} holds characters a podman --security-opt cannot carry"
        ));
    }
    Ok(format!("{}/{profile}", layout::SECCOMP_ROOT))
}

fn id(field: &'static str, n: i64) -> Result<u32, (&'static str, String)> {
    u32::try_from(n).map_err(|_| (field, format!("{n} is not a valid user or group id")))
}

/// The options for `sec`, in a fixed order. Errors name the securityContext field (relative
/// to the container's `securityContext`, or the pod's for the groups) and the reason.
pub fn security_options(
    sec: &EffectiveSecurity,
) -> Result<Vec<SecurityOption>, (&'static str, String)> {
    let mut out = Vec::new();
    if sec.privileged {
        out.push(args(vec![fixed("--privileged")]));
    }
    if sec.read_only_root_filesystem {
        out.push(keyed(&["--read-only"], "ReadOnly", "true"));
    }
    match (sec.run_as_user, sec.run_as_group) {
        (Some(u), g) => {
            let mut user = id("runAsUser", u)?.to_string();
            if let Some(g) = g {
                user = format!("{user}:{}", id("runAsGroup", g)?);
            }
            out.push(args(vec![fixed("--user"), fixed(user)]));
        }
        (None, Some(_)) => {
            return Err((
                "runAsGroup",
                "runAsGroup without runAsUser cannot be expressed with podman's --user, which takes the group only after a user".into(),
            ));
        }
        (None, None) => {}
    }
    for g in &sec.supplemental_groups {
        let g = id("supplementalGroups", *g)?;
        out.push(args(vec![fixed(format!("--group-add={g}"))]));
    }
    let caps = |names: &[String]| {
        names
            .iter()
            .map(|n| capability(n))
            .collect::<Result<Vec<_>, _>>()
    };
    let drop = caps(&sec.capabilities.drop).map_err(|r| ("capabilities.drop", r))?;
    let add = caps(&sec.capabilities.add).map_err(|r| ("capabilities.add", r))?;
    if !drop.is_empty() {
        let words: Vec<Word> = drop
            .iter()
            .map(|c| fixed(format!("--cap-drop={c}")))
            .collect();
        out.push(SecurityOption {
            words,
            quadlet: Some(("DropCapability", drop.join(" "))),
        });
    }
    if !add.is_empty() {
        let words: Vec<Word> = add
            .iter()
            .map(|c| fixed(format!("--cap-add={c}")))
            .collect();
        out.push(SecurityOption {
            words,
            quadlet: Some(("AddCapability", add.join(" "))),
        });
    }
    if !sec.allow_privilege_escalation {
        out.push(keyed(
            &["--security-opt=no-new-privileges"],
            "NoNewPrivileges",
            "true",
        ));
    }
    if let Some(profile) = &sec.seccomp_profile {
        match profile.kind {
            SeccompProfileType::RuntimeDefault => {}
            SeccompProfileType::Unconfined => out.push(keyed(
                &["--security-opt=seccomp=unconfined"],
                "SeccompProfile",
                "unconfined",
            )),
            SeccompProfileType::Localhost => {
                let path = localhost_profile(profile.localhost_profile.as_deref().unwrap_or(""))
                    .map_err(|r| ("seccompProfile.localhostProfile", r))?;
                out.push(SecurityOption {
                    words: vec![fixed(format!("--security-opt=seccomp={path}"))],
                    quadlet: Some(("SeccompProfile", path)),
                });
            }
        }
    }
    if sec.proc_mount == ProcMount::Unmasked {
        out.push(args(vec![fixed("--security-opt=unmask=ALL")]));
    }
    Ok(out)
}

/// The kubelet's check (`verifyRunAsNonRoot`) on the image's configured user, as an
/// `ExecStartPre=` argv: the image is pulled first unless the policy is Never (podman run
/// would pull it next anyway), then its `User` must be a numeric non-zero uid.
/// `$0` is podman, `$1` the image, `$2` the container's name for the message, `$3` `never`
/// or `pull`.
/// One line, so that `systemctl status` shows the message rather than the script.
const RUN_AS_NON_ROOT_CHECK: &str = concat!(
    r#"p=$0; i=$1; "$p" image exists "$i" || { [ "$3" != never ] && "$p" pull -q "$i" >/dev/null; } || { echo "image $i is not present" >&2; exit 1; }; "#,
    r#"u=$("$p" image inspect --format '{{.Config.User}}' "$i") || exit 1; u=${u%%:*}; "#,
    r#"case "$u" in ""|0) echo "container $2 has runAsNonRoot and image will run as root" >&2; exit 1;; "#,
    r#"*[!0-9]*) echo "container $2 has runAsNonRoot and image has non-numeric user ($u), cannot verify user is non-root" >&2; exit 1;; esac"#,
);

/// The start-time runAsNonRoot check, when the uid is not known at render time.
/// `None` when no check is needed (runAsNonRoot unset, or runAsUser given: a uid of 0 with
/// runAsNonRoot is a validation error).
pub fn run_as_non_root_check(
    sec: &EffectiveSecurity,
    image: &str,
    container: &str,
    never_pull: bool,
) -> Option<Vec<Word>> {
    if !sec.run_as_non_root || sec.run_as_user.is_some() {
        return None;
    }
    Some(vec![
        fixed("/bin/sh"),
        fixed("-c"),
        value(RUN_AS_NON_ROOT_CHECK),
        fixed(layout::PODMAN),
        value(image),
        value(container),
        fixed(if never_pull { "never" } else { "pull" }),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemonset::{Capabilities, SeccompProfile};

    /// podman knows the names of capability.h, with or without `CAP_`, in any case; anything
    /// else fails at the container's start, so it is refused here (and so at validate).
    #[test]
    fn capability_names_table() {
        for (name, want) in [
            ("NET_BIND_SERVICE", Ok("NET_BIND_SERVICE")),
            ("net_admin", Ok("NET_ADMIN")),
            ("CAP_SYS_TIME", Ok("CAP_SYS_TIME")),
            ("ALL", Ok("all")),
            ("CHECKPOINT_RESTORE", Ok("CHECKPOINT_RESTORE")),
            ("NET_MAGIC", Err("not a Linux capability")),
            ("CAP_", Err("not a Linux capability")),
            ("NET-ADMIN", Err("not a capability name")),
            ("", Err("not a capability name")),
        ] {
            match (capability(name), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{name}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{name}: {got}"),
                (got, want) => panic!("{name}: {got:?}, want {want:?}"),
            }
        }
    }

    fn sec() -> EffectiveSecurity {
        EffectiveSecurity {
            allow_privilege_escalation: true,
            proc_mount: ProcMount::Default,
            ..Default::default()
        }
    }

    fn render(s: &EffectiveSecurity) -> (Vec<String>, Vec<String>) {
        let opts = security_options(s).expect("valid");
        let podman = opts
            .iter()
            .flat_map(|o| o.words.iter().map(|w| w.as_str().to_string()))
            .collect();
        let quadlet = opts
            .iter()
            .map(|o| match &o.quadlet {
                Some((k, v)) => format!("{k}={v}"),
                None => format!(
                    "PodmanArgs={}",
                    o.words
                        .iter()
                        .map(Word::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            })
            .collect();
        (podman, quadlet)
    }

    /// Each field: the podman words of the service flavour and the Quadlet lines.
    #[test]
    fn options_and_quadlet_keys_per_field() {
        let caps = |add: &[&str], drop: &[&str]| Capabilities {
            add: add.iter().map(|s| s.to_string()).collect(),
            drop: drop.iter().map(|s| s.to_string()).collect(),
        };
        let seccomp = |kind, p: Option<&str>| SeccompProfile {
            kind,
            localhost_profile: p.map(str::to_string),
        };
        let cases: Vec<(&str, EffectiveSecurity, &[&str], &[&str])> = vec![
            ("nothing", sec(), &[], &[]),
            (
                "drop ALL",
                EffectiveSecurity {
                    capabilities: caps(&[], &["ALL"]),
                    ..sec()
                },
                &["--cap-drop=all"],
                &["DropCapability=all"],
            ),
            (
                "drop ALL add two",
                EffectiveSecurity {
                    capabilities: caps(&["NET_BIND_SERVICE", "cap_chown"], &["all"]),
                    ..sec()
                },
                &[
                    "--cap-drop=all",
                    "--cap-add=NET_BIND_SERVICE",
                    "--cap-add=CAP_CHOWN",
                ],
                &[
                    "DropCapability=all",
                    "AddCapability=NET_BIND_SERVICE CAP_CHOWN",
                ],
            ),
            (
                "no privilege escalation",
                EffectiveSecurity {
                    allow_privilege_escalation: false,
                    ..sec()
                },
                &["--security-opt=no-new-privileges"],
                &["NoNewPrivileges=true"],
            ),
            (
                "read-only root",
                EffectiveSecurity {
                    read_only_root_filesystem: true,
                    ..sec()
                },
                &["--read-only"],
                &["ReadOnly=true"],
            ),
            (
                "user and group",
                EffectiveSecurity {
                    run_as_user: Some(65534),
                    run_as_group: Some(65534),
                    ..sec()
                },
                &["--user", "65534:65534"],
                &["PodmanArgs=--user 65534:65534"],
            ),
            (
                "groups",
                EffectiveSecurity {
                    supplemental_groups: vec![10, 2000],
                    ..sec()
                },
                &["--group-add=10", "--group-add=2000"],
                &["PodmanArgs=--group-add=10", "PodmanArgs=--group-add=2000"],
            ),
            (
                "seccomp RuntimeDefault",
                EffectiveSecurity {
                    seccomp_profile: Some(seccomp(SeccompProfileType::RuntimeDefault, None)),
                    ..sec()
                },
                &[],
                &[],
            ),
            (
                "seccomp Unconfined",
                EffectiveSecurity {
                    seccomp_profile: Some(seccomp(SeccompProfileType::Unconfined, None)),
                    ..sec()
                },
                &["--security-opt=seccomp=unconfined"],
                &["SeccompProfile=unconfined"],
            ),
            (
                "seccomp Localhost",
                EffectiveSecurity {
                    seccomp_profile: Some(seccomp(
                        SeccompProfileType::Localhost,
                        Some("profiles/audit.json"),
                    )),
                    ..sec()
                },
                &["--security-opt=seccomp=/var/lib/kubelet/seccomp/profiles/audit.json"],
                &["SeccompProfile=/var/lib/kubelet/seccomp/profiles/audit.json"],
            ),
            (
                "procMount Unmasked",
                EffectiveSecurity {
                    proc_mount: ProcMount::Unmasked,
                    ..sec()
                },
                &["--security-opt=unmask=ALL"],
                &["PodmanArgs=--security-opt=unmask=ALL"],
            ),
            (
                "privileged",
                EffectiveSecurity {
                    privileged: true,
                    ..sec()
                },
                &["--privileged"],
                &["PodmanArgs=--privileged"],
            ),
        ];
        for (name, s, podman, quadlet) in cases {
            let (p, q) = render(&s);
            assert_eq!(p, podman, "{name}: podman options");
            assert_eq!(q, quadlet, "{name}: Quadlet lines");
        }
    }

    #[test]
    fn refusals_name_the_field() {
        let seccomp = |p: &str| EffectiveSecurity {
            seccomp_profile: Some(SeccompProfile {
                kind: SeccompProfileType::Localhost,
                localhost_profile: Some(p.into()),
            }),
            ..sec()
        };
        let cases: Vec<(EffectiveSecurity, &str, &str)> = vec![
            (
                EffectiveSecurity {
                    run_as_group: Some(5),
                    ..sec()
                },
                "runAsGroup",
                "cannot be expressed",
            ),
            (
                seccomp("../x.json"),
                "seccompProfile.localhostProfile",
                "relative",
            ),
            (
                seccomp("/etc/x.json"),
                "seccompProfile.localhostProfile",
                "relative",
            ),
            (
                seccomp(""),
                "seccompProfile.localhostProfile",
                "needs localhostProfile",
            ),
            (
                EffectiveSecurity {
                    capabilities: Capabilities {
                        add: vec!["NET ADMIN".into()],
                        drop: vec![],
                    },
                    ..sec()
                },
                "capabilities.add",
                "not a capability name",
            ),
        ];
        for (s, field, reason) in cases {
            let (f, r) = security_options(&s).expect_err(field);
            assert_eq!(f, field);
            assert!(r.contains(reason), "{r}");
            assert!(!r.contains("privileged") && !r.contains("remove"), "{r}");
        }
    }

    #[test]
    fn run_as_non_root_is_checked_at_start_only_when_the_uid_is_unknown() {
        let non_root = |uid: Option<i64>| EffectiveSecurity {
            run_as_non_root: true,
            run_as_user: uid,
            ..sec()
        };
        assert_eq!(run_as_non_root_check(&sec(), "img", "c", false), None);
        assert_eq!(
            run_as_non_root_check(&non_root(Some(1000)), "img", "c", false),
            None
        );
        let check = run_as_non_root_check(&non_root(None), "img:1", "agent", true).expect("check");
        let words: Vec<&str> = check.iter().map(Word::as_str).collect();
        assert_eq!(words[0], "/bin/sh");
        assert_eq!(&words[3..], ["/usr/bin/podman", "img:1", "agent", "never"]);
        assert!(words[2].contains("image will run as root"));
        assert!(words[2].contains("non-numeric user"));
    }
}
