//! `dsctl exec`: the pure part. Which container of the instance a command runs in, and the
//! scripts that find it and run the command (`podman exec`).
//!
//! The running containers are found by label, as `logs` finds them; without `-c`, the first
//! container of the applied spec (read from the host's record) is chosen and named on stderr,
//! as kubectl does ("Defaulted container …").

use crate::host_script::sh_quote;
use crate::layout::{LABEL_CONTAINER, LABEL_DAEMONSET, PODMAN, spec_file};

/// The line that separates the container list from the recorded spec in the find output.
const SPEC_MARK: &str = "--- spec";

/// Lists the DaemonSet's running containers (`C name container`), then the recorded spec.
pub fn find_script(daemonset: &str) -> String {
    let filter = sh_quote(&format!("{LABEL_DAEMONSET}={daemonset}"));
    let format = sh_quote(&format!(
        "C {{{{.Names}}}} {{{{index .Labels \"{LABEL_CONTAINER}\"}}}}"
    ));
    format!(
        "{PODMAN} ps --filter label={filter} --filter label={LABEL_CONTAINER} --filter status=running --format {format}\n\
         echo '{SPEC_MARK}'\n\
         cat {} 2>/dev/null || true\n",
        sh_quote(&spec_file(daemonset))
    )
}

/// What [`find_script`] found on a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// (podman name, container name in the pod spec) of each running container.
    pub running: Vec<(String, String)>,
    /// The containers of the applied spec, in order (empty when the host keeps no record).
    pub spec_order: Vec<String>,
}

pub fn parse_found(output: &str) -> Found {
    let (list, spec) = output.split_once(SPEC_MARK).unwrap_or((output, ""));
    let running = list
        .lines()
        .filter_map(|l| {
            let mut parts = l.strip_prefix("C ")?.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect();
    let spec_order = serde_json::from_str::<serde_json::Value>(spec.trim())
        .ok()
        .and_then(|v| {
            v.pointer("/spec/template/spec/containers")?
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| Some(c.get("name")?.as_str()?.to_string()))
                        .collect()
                })
        })
        .unwrap_or_default();
    Found {
        running,
        spec_order,
    }
}

/// The container to run in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The podman name.
    pub name: String,
    /// Said on stderr when the container was chosen by default among several.
    pub defaulted: Option<String>,
}

/// Picks the container: the one asked for, else the only one, else the spec's first.
pub fn choose(found: &Found, requested: Option<&str>, daemonset: &str) -> Result<Chosen, String> {
    let names: Vec<&str> = found.running.iter().map(|(_, c)| c.as_str()).collect();
    if found.running.is_empty() {
        return Err(format!(
            "no running container of daemonset {daemonset:?} here"
        ));
    }
    let pick = |container: &str| {
        found
            .running
            .iter()
            .find(|(_, c)| c == container)
            .map(|(n, _)| n.clone())
    };
    if let Some(want) = requested {
        return pick(want)
            .map(|name| Chosen {
                name,
                defaulted: None,
            })
            .ok_or_else(|| {
                format!(
                    "container {want:?} of daemonset {daemonset:?} is not running here (running: {})",
                    names.join(", ")
                )
            });
    }
    if let [(name, _)] = found.running.as_slice() {
        return Ok(Chosen {
            name: name.clone(),
            defaulted: None,
        });
    }
    let first = found
        .spec_order
        .iter()
        .find_map(|c| pick(c).map(|n| (c, n)));
    let (container, name) = match first {
        Some((c, n)) => (c.clone(), n),
        None => {
            let (n, c) = &found.running[0];
            (c.clone(), n.clone())
        }
    };
    Ok(Chosen {
        name,
        defaulted: Some(format!(
            "Defaulted container {container:?} out of: {}",
            names.join(", ")
        )),
    })
}

/// `podman exec` of `command` in the container, each argument quoted: what the user typed
/// after `--` reaches the container's argv unchanged.
pub fn exec_script(container: &str, command: &[String], stdin: bool, tty: bool) -> String {
    let mut script = format!("exec {PODMAN} exec");
    if stdin {
        script.push_str(" -i");
    }
    if tty {
        script.push_str(" -t");
    }
    script.push(' ');
    script.push_str(&sh_quote(container));
    for arg in command {
        script.push(' ');
        script.push_str(&sh_quote(arg));
    }
    script
}

/// The exit code of `exec` on several hosts: 0 when every host's command succeeded, else the
/// largest status (the caller counts a host where it could not run as 1).
pub fn combined_status(statuses: &[u32]) -> u32 {
    statuses.iter().copied().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(running: &[(&str, &str)], order: &[&str]) -> Found {
        Found {
            running: running
                .iter()
                .map(|(n, c)| (n.to_string(), c.to_string()))
                .collect(),
            spec_order: order.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn find_output_is_parsed() {
        let out = "C dsctl_web_0a_app app\nC dsctl_web_0a_side side\n--- spec\n\
                   {\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"side\"},{\"name\":\"app\"}]}}}}\n";
        assert_eq!(
            parse_found(out),
            found(
                &[("dsctl_web_0a_app", "app"), ("dsctl_web_0a_side", "side")],
                &["side", "app"]
            )
        );
        assert_eq!(parse_found("--- spec\n"), Found::default());
    }

    #[test]
    fn containers_are_chosen_as_kubectl_does() {
        let two = found(&[("n-app", "app"), ("n-side", "side")], &["side", "app"]);
        for (found, requested, want) in [
            (&two, Some("app"), Ok(("n-app", false))),
            (&two, None, Ok(("n-side", true))),
            (
                &found(&[("n-app", "app")], &["side", "app"]),
                None,
                Ok(("n-app", false)),
            ),
            (
                &found(&[("n-b", "b"), ("n-a", "a")], &[]),
                None,
                Ok(("n-b", true)),
            ),
            (&two, Some("nope"), Err("is not running here")),
            (&found(&[], &["app"]), None, Err("no running container")),
        ] {
            let got = choose(found, requested, "web");
            match want {
                Ok((name, defaulted)) => {
                    let chosen = got.unwrap();
                    assert_eq!(chosen.name, name);
                    assert_eq!(chosen.defaulted.is_some(), defaulted);
                }
                Err(text) => assert!(got.unwrap_err().contains(text)),
            }
        }
    }

    #[test]
    fn commands_reach_podman_exec_unchanged() {
        let script = exec_script(
            "dsctl_web_0a_app",
            &["sh".into(), "-c".into(), "echo 'a b' $HOME; exit 3".into()],
            true,
            false,
        );
        assert_eq!(
            script,
            "exec /usr/bin/podman exec -i 'dsctl_web_0a_app' 'sh' '-c' 'echo '\\''a b'\\'' $HOME; exit 3'"
        );
        assert!(exec_script("c", &["true".into()], false, true).contains(" exec -t 'c'"));
    }

    #[test]
    fn statuses_combine_to_the_worst() {
        assert_eq!(combined_status(&[]), 0);
        assert_eq!(combined_status(&[0, 0]), 0);
        assert_eq!(combined_status(&[0, 3, 1]), 3);
    }
}
