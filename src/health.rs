//! The health gate of a rollout wave: a DaemonSet's instance on a host is available once its
//! probes pass and have held for minReadySeconds (see `probe.rs`).

use tokio::time::Instant;

use crate::daemonset::DaemonSet;
use crate::ssh::RemoteHost;

/// Waits until the DaemonSet's instance on this host is available, or `until` passes.
pub async fn wait_available<R: RemoteHost>(
    remote: &R,
    ds: &DaemonSet,
    until: Instant,
) -> Result<(), String> {
    let units: Vec<String> = ds
        .pod_spec()
        .containers
        .iter()
        .map(|c| format!("dsctl-{}-{}", ds.name(), c.name))
        .collect();
    let mut script = String::from("set -e\n");
    for unit in &units {
        script.push_str(&format!(
            "systemctl is-active --quiet {unit}.service || {{ echo \"{unit}.service is $(systemctl is-active {unit}.service)\" >&2; exit 1; }}\n\
             [ \"$(podman container inspect -f '{{{{.State.Running}}}}' {unit} 2>/dev/null)\" = true ] || {{ echo \"container {unit} is not running\" >&2; exit 1; }}\n"
        ));
    }
    let min_ready = std::time::Duration::from_secs(ds.spec.min_ready_seconds.max(0) as u64);
    let mut ready_since: Option<Instant> = None;
    loop {
        let out = remote
            .exec(&script, None)
            .await
            .map_err(|e| e.to_string())?;
        if out.status == 0 {
            let since = *ready_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= min_ready {
                return Ok(());
            }
        } else {
            ready_since = None;
            if Instant::now() >= until {
                return Err(format!(
                    "daemonset/{} not available before the progress deadline: {}",
                    ds.name(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
