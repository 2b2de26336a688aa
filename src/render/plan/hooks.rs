//! `lifecycle.postStart` and `preStop` as commands systemd runs around the container:
//! postStart as `ExecStartPost=` (after podman reports the container started, as the kubelet
//! runs it right after the container's start), preStop as an `ExecStop=` before the stop.
//!
//! * exec runs `podman exec` in the container.
//! * httpGet is a GET from the host with curl (the hosts' curl; `-k` because the kubelet does
//!   not verify a hook's certificate either), to `host`, else 127.0.0.1 with hostNetwork,
//!   else the container's address on its podman network. A status of 400 or more fails the
//!   hook, as in the kubelet.
//! * sleep sleeps on the host.
//!
//! A failed postStart fails the start, and systemd restarts the container, as the kubelet
//! kills a container whose postStart hook fails. preStop is bounded by the grace period
//! (`timeout`) and its failure does not keep the container from stopping; unlike the kubelet,
//! the time the hook takes is not taken off the grace period that the stop then has.

use crate::daemonset::{Container, LifecycleHandler};
use crate::int_or_string::IntOrString;
use crate::layout;

use super::{Word, fixed, value};

const HTTP_HOOK: &str = concat!(
    r#"p=$0; ctr=$1; host=$2; url=$3; shift 4; "#,
    r#"[ -n "$host" ] || host=$("$p" inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$ctr" | cut -d' ' -f1); "#,
    r#"[ -n "$host" ] || { echo "no address for container $ctr" >&2; exit 1; }; "#,
    r#"case "$host" in *:*) host="[$host]";; esac; "#,
    r#"exec curl -fsSk -o /dev/null --max-time 30 "$@" "$(printf "$url" "$host")""#,
);

/// The argv of one hook for the container named `container` (its podman name).
pub fn hook_argv(
    handler: &LifecycleHandler,
    c: &Container,
    container: &str,
    host_network: bool,
) -> Result<Vec<Word>, String> {
    if let Some(exec) = &handler.exec {
        let mut argv = vec![fixed(layout::PODMAN), fixed("exec"), value(container)];
        argv.extend(exec.command.iter().map(|a| value(a.clone())));
        return Ok(argv);
    }
    if let Some(sleep) = &handler.sleep {
        let secs =
            u64::try_from(sleep.seconds).map_err(|_| "sleep.seconds must not be negative")?;
        return Ok(vec![fixed("/bin/sleep"), fixed(secs.to_string())]);
    }
    if let Some(http) = &handler.http_get {
        let port = match &http.port {
            IntOrString::Int(n) => *n,
            IntOrString::String(name) => c
                .ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port)
                .ok_or_else(|| format!("httpGet.port: no container port named {name:?}"))?,
        };
        let scheme = match http.scheme.as_deref().unwrap_or("HTTP") {
            "HTTP" => "http",
            "HTTPS" => "https",
            other => {
                return Err(format!(
                    "httpGet.scheme {other:?} is neither HTTP nor HTTPS"
                ));
            }
        };
        let path = if http.path.starts_with('/') {
            http.path.clone()
        } else {
            format!("/{}", http.path)
        };
        // printf's format: only the host is substituted; a `%` in the path is kept.
        let url = format!("{scheme}://%s:{port}{}", path.replace('%', "%%"));
        let host = match http.host.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => h.to_string(),
            None if host_network => "127.0.0.1".to_string(),
            None => String::new(),
        };
        let mut argv = vec![
            fixed("/bin/sh"),
            fixed("-c"),
            value(HTTP_HOOK),
            fixed(layout::PODMAN),
            value(container),
            value(host),
            value(url),
        ];
        for h in &http.http_headers {
            argv.push(fixed("-H"));
            argv.push(value(format!("{}: {}", h.name, h.value)));
        }
        return Ok(argv);
    }
    Err("the hook has no exec, httpGet or sleep handler".into())
}

/// A preStop hook bounded by the grace period.
pub fn bounded(argv: Vec<Word>, grace_secs: u64) -> Vec<Word> {
    let mut out = vec![
        fixed("/usr/bin/timeout"),
        fixed(grace_secs.max(1).to_string()),
    ];
    out.extend(argv);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(hook: &str) -> (Container, LifecycleHandler) {
        let text = format!(
            "name = \"c\"\nimage = \"i\"\nports = [{{ containerPort = 8080, name = \"http\" }}]\nlifecycle = {{ postStart = {hook} }}\n"
        );
        let c: Container = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let h = c.lifecycle.clone().unwrap().post_start.unwrap();
        (c, h)
    }

    fn words(argv: &[Word]) -> Vec<&str> {
        argv.iter().map(Word::as_str).collect()
    }

    #[test]
    fn hooks_table() {
        let cases: Vec<(&str, bool, Vec<&str>)> = vec![
            (
                "{ exec = { command = [\"/bin/sh\", \"-c\", \"echo hi > /tmp/x\"] } }",
                false,
                vec![
                    "/usr/bin/podman",
                    "exec",
                    "ctr",
                    "/bin/sh",
                    "-c",
                    "echo hi > /tmp/x",
                ],
            ),
            (
                "{ sleep = { seconds = 5 } }",
                false,
                vec!["/bin/sleep", "5"],
            ),
        ];
        for (hook, host_network, want) in cases {
            let (c, h) = container(hook);
            assert_eq!(
                words(&hook_argv(&h, &c, "ctr", host_network).unwrap()),
                want,
                "{hook}"
            );
        }
        let (c, h) = container(
            "{ httpGet = { path = \"/ready\", port = \"http\", scheme = \"HTTPS\", httpHeaders = [{ name = \"X-A\", value = \"b\" }] } }",
        );
        let argv = hook_argv(&h, &c, "ctr", true).unwrap();
        assert_eq!(
            words(&argv)[3..],
            [
                "/usr/bin/podman",
                "ctr",
                "127.0.0.1",
                "https://%s:8080/ready",
                "-H",
                "X-A: b"
            ]
        );
        let argv = hook_argv(&h, &c, "ctr", false).unwrap();
        assert_eq!(
            words(&argv)[5],
            "",
            "the container's address is found at run time"
        );
        assert_eq!(
            words(&bounded(vec![fixed("/bin/true")], 30)),
            ["/usr/bin/timeout", "30", "/bin/true"]
        );
    }
}
