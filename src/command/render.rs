//! `dsctl render -f PATH… -i INV [--host NAME] [--templates DIR]`: the units `apply` would write,
//! offline. For each host and each DaemonSet that should run there, a `# ---- HOST: PATH` line
//! and then the unit.
//!
//! The unit flavour is the host's `unit_flavor` from the inventory, else a `podman run` service.
//! `apply` asks the host's podman for its version instead (Quadlet pods from 5.0); `render` has no
//! host to ask, so set `unit_flavor = "quadlet"` in the inventory to see Quadlet files.
//! Likewise the downward API has only the inventory's facts (the name, an address given as an
//! IP): a value that needs what apply learns from the host (its CPUs, memory, or an address
//! given as a name) is an error here, and the well-known arch label is not set.

use anyhow::Context;

use crate::EXIT_INVALID;
use crate::cli::RenderArgs;
use crate::command::hosts;
use crate::eligibility::node_should_run_daemon_pod;
use crate::host_facts::HostFacts;
use crate::inventory::UnitFlavor;
use crate::render::render_daemonset;
use crate::revision::revision;

pub fn run(args: RenderArgs) -> anyhow::Result<i32> {
    let daemonsets = match hosts::specs(&args.specs.files) {
        Ok(specs) => specs,
        Err(code) => return Ok(code),
    };
    let all = match hosts::inventory(&args.inventory.inventory) {
        Ok(hosts) => hosts,
        Err(code) => return Ok(code),
    };
    let templates = match hosts::templates(args.templates.as_deref()) {
        Ok(templates) => templates,
        Err(code) => return Ok(code),
    };
    let mut hosts = all.clone();
    if let Some(name) = &args.host {
        hosts.retain(|h| &h.name == name);
        if hosts.is_empty() {
            let known: Vec<String> = all.into_iter().map(|h| h.name).collect();
            crate::errln!(
                "error: no host named {name:?} in {} (hosts: {})",
                args.inventory.inventory.display(),
                known.join(", ")
            );
            return Ok(EXIT_INVALID);
        }
    }

    let mut out = String::new();
    for host in &hosts {
        let flavor = host.settings.unit_flavor.unwrap_or(UnitFlavor::Service);
        let facts = HostFacts::offline(host);
        let mut any = false;
        for ds in &daemonsets {
            if !node_should_run_daemon_pod(ds, host).should_run {
                continue;
            }
            any = true;
            let units = render_daemonset(ds, &revision(ds), &facts, flavor, &templates)
                .with_context(|| {
                    format!(
                        "rendering DaemonSet {:?} for host {:?}",
                        ds.name(),
                        host.name
                    )
                })?;
            for unit in units {
                out.push_str(&format!("# ---- {}: {}\n", host.name, unit.path));
                out.push_str(&unit.content);
                if !unit.content.ends_with('\n') {
                    out.push('\n');
                }
                out.push('\n');
            }
        }
        if !any && args.host.is_some() {
            crate::errln!(
                "host {:?} runs none of these DaemonSets (see `dsctl explain`)",
                host.name
            );
        }
    }

    crate::output::print(&out).context("writing the units")?;
    Ok(0)
}
