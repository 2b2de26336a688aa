//! Where a probe connects and what it runs, resolved against the spec (pure).
//!
//! A host's view of the container decides the address, as the kubelet's `podIP:port` would:
//! - hostNetwork: the container shares the host's stack, so 127.0.0.1:port;
//! - a port with a hostPort: 127.0.0.1:hostPort (or its hostIP when it binds one address);
//! - otherwise the container's own IP on podman's network, looked up on the host.
//!
//! An httpGet/tcpSocket `host` overrides the address, as in Kubernetes.

use serde::Serialize;

use crate::daemonset::{Container, DaemonSet, Probe, Protocol};
use crate::int_or_string::IntOrString;
use crate::layout::Instance;
use crate::revision::revision;

/// The address a tunnel probe connects to, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "ip", rename_all = "camelCase")]
pub enum Address {
    /// The host's 127.0.0.1 (hostNetwork, or a hostPort bound to every address).
    Loopback,
    /// A fixed address: the probe's `host`, or the hostIP a hostPort is bound to.
    Ip(String),
    /// The container's IP on its podman network, looked up when the probe runs.
    ContainerIp,
}

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ProbeAction {
    HttpGet {
        address: Address,
        port: u16,
        path: String,
        /// The probe's httpHeaders, in order.
        headers: Vec<(String, String)>,
    },
    TcpSocket {
        address: Address,
        port: u16,
    },
    Exec {
        argv: Vec<String>,
    },
    /// No readinessProbe: the unit is active and the container is running.
    Running,
}

/// A resolved probe of one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeTarget {
    /// The container's name in the spec.
    pub container: String,
    /// The podman container name, `dsctl-<ds>-<container>`.
    pub podman_name: String,
    /// The systemd unit, `dsctl-<ds>-<container>.service`.
    pub unit: String,
    pub action: ProbeAction,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("the probe has no handler: set one of httpGet, tcpSocket or exec")]
    NoHandler,
    #[error("the probe has more than one handler: keep one of httpGet, tcpSocket and exec")]
    SeveralHandlers,
    #[error("gRPC probes are not supported; use exec with a gRPC health client, or tcpSocket")]
    Grpc,
    #[error(
        "httpGet scheme HTTPS is not supported over the SSH tunnel yet; \
         use scheme HTTP, tcpSocket, or an exec probe"
    )]
    Https,
    #[error("httpGet scheme {0:?} is not HTTP or HTTPS")]
    Scheme(String),
    #[error("port {0} is not a port number")]
    BadPort(i64),
    #[error(
        "port {name:?} is not one of the container's named ports ({})",
        known_names(known)
    )]
    UnknownPortName { name: String, known: Vec<String> },
    #[error("exec command is empty")]
    EmptyCommand,
    #[error("httpGet {what} {value:?} holds a line break or control character")]
    ControlCharacter { what: &'static str, value: String },
}

fn known_names(known: &[String]) -> String {
    if known.is_empty() {
        "it names none".into()
    } else {
        known.join(", ")
    }
}

impl ProbeTarget {
    /// How messages name the probe: `httpGet :8080/healthz`, `tcpSocket 10.0.0.5:53`,
    /// `exec [cat /tmp/ready]`.
    pub fn describe(&self) -> String {
        let at = |address: &Address, port: u16| match address {
            Address::Loopback | Address::ContainerIp => format!(":{port}"),
            Address::Ip(ip) => format!("{}:{port}", bracket(ip)),
        };
        match &self.action {
            ProbeAction::HttpGet {
                address,
                port,
                path,
                ..
            } => format!("httpGet {}{path}", at(address, *port)),
            ProbeAction::TcpSocket { address, port } => format!("tcpSocket {}", at(address, *port)),
            ProbeAction::Exec { argv } => format!("exec [{}]", argv.join(" ")),
            ProbeAction::Running => format!("{} active and container running", self.unit),
        }
    }
}

/// `[v6]` for IPv6 addresses, as in URLs and Host headers.
pub(crate) fn bracket(ip: &str) -> String {
    if ip.contains(':') && !ip.starts_with('[') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

fn names(ds: &DaemonSet, container: &Container) -> (String, String) {
    let revision = revision(ds);
    let instance = Instance::new(ds.name(), &revision);
    (
        instance.container_name(&container.name),
        instance.container_service(&container.name),
    )
}

/// The readiness stand-in for a container without a readinessProbe.
pub fn running_check(ds: &DaemonSet, container: &Container) -> ProbeTarget {
    let (podman_name, unit) = names(ds, container);
    ProbeTarget {
        container: container.name.clone(),
        podman_name,
        unit,
        action: ProbeAction::Running,
    }
}

/// Resolves `probe` of `container` (one of `ds`'s containers) to what runs and where.
pub fn resolve(
    ds: &DaemonSet,
    container: &Container,
    probe: &Probe,
) -> Result<ProbeTarget, ProbeError> {
    let handlers = usize::from(probe.http_get.is_some())
        + usize::from(probe.tcp_socket.is_some())
        + usize::from(probe.exec.is_some());
    if probe.grpc.is_some() {
        return Err(ProbeError::Grpc);
    }
    match handlers {
        0 => return Err(ProbeError::NoHandler),
        1 => {}
        _ => return Err(ProbeError::SeveralHandlers),
    }
    let host_network = ds.pod_spec().host_network;
    let action = if let Some(http) = &probe.http_get {
        match http.scheme.as_deref() {
            None | Some("HTTP") => {}
            Some("HTTPS") => return Err(ProbeError::Https),
            Some(other) => return Err(ProbeError::Scheme(other.into())),
        }
        let port = container_port(container, &http.port)?;
        let (address, port) = address(container, host_network, http.host.as_deref(), port);
        let path = if http.path.starts_with('/') {
            http.path.clone()
        } else {
            format!("/{}", http.path)
        };
        no_control("path", &path)?;
        if let Some(host) = &http.host {
            no_control("host", host)?;
        }
        let mut headers = Vec::with_capacity(http.http_headers.len());
        for h in &http.http_headers {
            no_control("header name", &h.name)?;
            no_control("header value", &h.value)?;
            headers.push((h.name.clone(), h.value.clone()));
        }
        ProbeAction::HttpGet {
            address,
            port,
            path,
            headers,
        }
    } else if let Some(tcp) = &probe.tcp_socket {
        let port = container_port(container, &tcp.port)?;
        let (address, port) = address(container, host_network, tcp.host.as_deref(), port);
        ProbeAction::TcpSocket { address, port }
    } else {
        let argv = probe
            .exec
            .as_ref()
            .map(|e| e.command.clone())
            .unwrap_or_default();
        if argv.is_empty() {
            return Err(ProbeError::EmptyCommand);
        }
        ProbeAction::Exec { argv }
    };
    let (podman_name, unit) = names(ds, container);
    Ok(ProbeTarget {
        container: container.name.clone(),
        podman_name,
        unit,
        action,
    })
}

fn no_control(what: &'static str, value: &str) -> Result<(), ProbeError> {
    if value.chars().any(char::is_control) {
        Err(ProbeError::ControlCharacter {
            what,
            value: value.into(),
        })
    } else {
        Ok(())
    }
}

/// The container port a probe names: a number, or the name of one of the container's ports
/// (the kubelet's `findPortByName`).
fn container_port(container: &Container, port: &IntOrString) -> Result<u16, ProbeError> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => container
            .ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port)
            .ok_or_else(|| ProbeError::UnknownPortName {
                name: name.clone(),
                known: container
                    .ports
                    .iter()
                    .filter_map(|p| p.name.clone())
                    .collect(),
            })?,
    };
    u16::try_from(number)
        .ok()
        .filter(|p| *p != 0)
        .ok_or(ProbeError::BadPort(number))
}

/// Where the host reaches `container_port` of the container.
fn address(
    container: &Container,
    host_network: bool,
    host: Option<&str>,
    container_port: u16,
) -> (Address, u16) {
    let published = container.ports.iter().find(|p| {
        p.container_port == i64::from(container_port)
            && p.protocol == Protocol::TCP
            && p.host_port().is_some()
    });
    let (mut address, port) = if host_network {
        (Address::Loopback, container_port)
    } else if let Some(p) = published
        && let Some(host_port) = p.host_port().and_then(|hp| u16::try_from(hp).ok())
    {
        let address = match p.host_ip.as_deref() {
            None | Some("" | "0.0.0.0" | "::" | "[::]") => Address::Loopback,
            Some(ip) => Address::Ip(ip.trim_start_matches('[').trim_end_matches(']').into()),
        };
        (address, host_port)
    } else {
        (Address::ContainerIp, container_port)
    };
    if let Some(host) = host.filter(|h| !h.is_empty()) {
        address = Address::Ip(host.trim_start_matches('[').trim_end_matches(']').into());
    }
    (address, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(pod: &str) -> DaemonSet {
        let mut ds: DaemonSet = toml::from_str(
            r#"
apiVersion = "apps/v1"
kind = "DaemonSet"
[metadata]
name = "web"
[spec.selector.matchLabels]
app = "web"
[spec.template.metadata.labels]
app = "web"
[[spec.template.spec.containers]]
name = "placeholder"
image = "placeholder"
"#,
        )
        .unwrap();
        ds.spec.template.spec = toml::from_str(pod).unwrap();
        ds
    }

    fn resolved(pod: &str, probe: &str) -> Result<ProbeTarget, ProbeError> {
        let ds = ds(pod);
        let probe: Probe = toml::from_str(probe).unwrap();
        resolve(&ds, &ds.pod_spec().containers[0], &probe)
    }

    const PORTS: &str = r#"
[[containers]]
name = "nginx"
image = "nginx"
[[containers.ports]]
name = "http"
containerPort = 80
hostPort = 8080
[[containers.ports]]
name = "admin"
containerPort = 9000
[[containers.ports]]
name = "local"
containerPort = 9100
hostPort = 9101
hostIP = "127.0.0.2"
[[containers.ports]]
name = "any"
containerPort = 9200
hostPort = 9201
hostIP = "0.0.0.0"
[[containers.ports]]
name = "dns"
containerPort = 53
hostPort = 5353
protocol = "UDP"
"#;

    fn http(address: Address, port: u16, path: &str) -> ProbeAction {
        ProbeAction::HttpGet {
            address,
            port,
            path: path.into(),
            headers: vec![],
        }
    }

    #[test]
    fn addresses_follow_the_hosts_view_of_the_port() {
        let host_net = format!("hostNetwork = true\n{PORTS}");
        let cases: Vec<(&str, &str, &str, ProbeAction)> = vec![
            (
                "hostPort by number",
                PORTS,
                "httpGet = { port = 80, path = \"/healthz\" }",
                http(Address::Loopback, 8080, "/healthz"),
            ),
            (
                "hostPort by name",
                PORTS,
                "httpGet = { port = \"http\" }",
                http(Address::Loopback, 8080, "/"),
            ),
            (
                "no hostPort: the container's IP",
                PORTS,
                "httpGet = { port = \"admin\", path = \"ready\" }",
                http(Address::ContainerIp, 9000, "/ready"),
            ),
            (
                "a port not listed at all",
                PORTS,
                "tcpSocket = { port = 7000 }",
                ProbeAction::TcpSocket {
                    address: Address::ContainerIp,
                    port: 7000,
                },
            ),
            (
                "hostIP bound to one address",
                PORTS,
                "tcpSocket = { port = \"local\" }",
                ProbeAction::TcpSocket {
                    address: Address::Ip("127.0.0.2".into()),
                    port: 9101,
                },
            ),
            (
                "hostIP 0.0.0.0 is every address",
                PORTS,
                "tcpSocket = { port = \"any\" }",
                ProbeAction::TcpSocket {
                    address: Address::Loopback,
                    port: 9201,
                },
            ),
            (
                "a UDP hostPort does not carry TCP",
                PORTS,
                "tcpSocket = { port = 53 }",
                ProbeAction::TcpSocket {
                    address: Address::ContainerIp,
                    port: 53,
                },
            ),
            (
                "hostNetwork: loopback and the container port",
                &host_net,
                "httpGet = { port = \"admin\" }",
                http(Address::Loopback, 9000, "/"),
            ),
            (
                "hostNetwork ignores hostPort",
                &host_net,
                "tcpSocket = { port = 80 }",
                ProbeAction::TcpSocket {
                    address: Address::Loopback,
                    port: 80,
                },
            ),
            (
                "host overrides the address",
                PORTS,
                "httpGet = { port = 80, host = \"10.1.2.3\" }",
                http(Address::Ip("10.1.2.3".into()), 8080, "/"),
            ),
            (
                "host overrides for tcp",
                PORTS,
                "tcpSocket = { port = 9000, host = \"fd00::5\" }",
                ProbeAction::TcpSocket {
                    address: Address::Ip("fd00::5".into()),
                    port: 9000,
                },
            ),
            (
                "exec",
                PORTS,
                "exec = { command = [\"cat\", \"/tmp/ready file\"] }",
                ProbeAction::Exec {
                    argv: vec!["cat".into(), "/tmp/ready file".into()],
                },
            ),
        ];
        for (name, pod, probe, want) in cases {
            let got = resolved(pod, probe).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got.action, want, "{name}");
            let rev = revision(&ds(pod));
            let instance = Instance::new("web", &rev);
            assert_eq!(got.podman_name, instance.container_name("nginx"), "{name}");
            assert_eq!(got.unit, instance.container_service("nginx"), "{name}");
        }
    }

    #[test]
    fn headers_are_kept_in_order() {
        let got = resolved(
            PORTS,
            "httpGet = { port = 80, httpHeaders = [{ name = \"Host\", value = \"web.local\" }, { name = \"X-Probe\", value = \"1\" }] }",
        )
        .unwrap();
        let ProbeAction::HttpGet { headers, .. } = got.action else {
            panic!("{got:?}")
        };
        assert_eq!(
            headers,
            vec![
                ("Host".to_string(), "web.local".to_string()),
                ("X-Probe".to_string(), "1".to_string())
            ]
        );
    }

    #[test]
    fn unusable_probes_are_errors() {
        let cases: Vec<(&str, &str, &str)> = vec![
            (
                "httpGet = { port = \"metrics\" }",
                PORTS,
                "port \"metrics\" is not one of the container's named ports (http, admin, local, any, dns)",
            ),
            (
                "tcpSocket = { port = \"x\" }",
                "[[containers]]\nname = \"a\"\nimage = \"i\"",
                "port \"x\" is not one of the container's named ports (it names none)",
            ),
            (
                "tcpSocket = { port = 70000 }",
                PORTS,
                "port 70000 is not a port number",
            ),
            (
                "tcpSocket = { port = 0 }",
                PORTS,
                "port 0 is not a port number",
            ),
            (
                "httpGet = { port = 80, scheme = \"HTTPS\" }",
                PORTS,
                "httpGet scheme HTTPS is not supported over the SSH tunnel yet; use scheme HTTP, tcpSocket, or an exec probe",
            ),
            (
                "httpGet = { port = 80, scheme = \"FTP\" }",
                PORTS,
                "httpGet scheme \"FTP\" is not HTTP or HTTPS",
            ),
            (
                "httpGet = { port = 80, path = \"/a\\r\\nX: y\" }",
                PORTS,
                "httpGet path \"/a\\r\\nX: y\" holds a line break or control character",
            ),
            ("exec = { command = [] }", PORTS, "exec command is empty"),
            (
                "periodSeconds = 3",
                PORTS,
                "the probe has no handler: set one of httpGet, tcpSocket or exec",
            ),
            (
                "exec = { command = [\"true\"] }\ntcpSocket = { port = 80 }",
                PORTS,
                "the probe has more than one handler: keep one of httpGet, tcpSocket and exec",
            ),
            (
                "grpc = { port = 80 }",
                PORTS,
                "gRPC probes are not supported; use exec with a gRPC health client, or tcpSocket",
            ),
        ];
        for (probe, pod, want) in cases {
            let err = resolved(pod, probe).unwrap_err();
            assert_eq!(err.to_string(), want, "{probe}");
        }
    }

    #[test]
    fn descriptions_name_the_probe() {
        let d = |probe: &str| resolved(PORTS, probe).unwrap().describe();
        assert_eq!(
            d("httpGet = { port = \"http\", path = \"/healthz\" }"),
            "httpGet :8080/healthz"
        );
        assert_eq!(
            d("tcpSocket = { port = 9000, host = \"fd00::5\" }"),
            "tcpSocket [fd00::5]:9000"
        );
        assert_eq!(
            d("exec = { command = [\"cat\", \"/tmp/ready\"] }"),
            "exec [cat /tmp/ready]"
        );
        let ds = ds(PORTS);
        assert_eq!(
            running_check(&ds, &ds.pod_spec().containers[0]).describe(),
            format!(
                "{} active and container running",
                Instance::new("web", &revision(&ds)).container_service("nginx")
            )
        );
    }
}
