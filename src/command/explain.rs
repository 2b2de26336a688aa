//! `dsctl explain -f PATH… -i INV [-o table|json]`: where each DaemonSet runs and why,
//! worked out offline from the specs and the inventory (no SSH).
//!
//! Problems in the files are printed to stderr and exit 2, as `validate` does; warnings go to
//! stderr too, so that stdout holds only the report (`-o json` stays machine-readable).

use anyhow::Context;

use crate::cli::{ExplainArgs, TableOrJson};
use crate::command::hosts;
use crate::explain::{explain, render_table};

pub fn run(args: ExplainArgs) -> anyhow::Result<i32> {
    // Placement does not depend on the containers: errors there only warn here.
    let daemonsets = match crate::load::daemonsets_for_placement(&args.specs.files) {
        Ok(specs) => {
            specs.warnings.eprint();
            specs
                .daemonsets
                .into_iter()
                .map(|l| l.value)
                .collect::<Vec<_>>()
        }
        Err(diags) => return Ok(hosts::invalid(diags)),
    };
    let inventory = match hosts::inventory(&args.inventory.inventory) {
        Ok(hosts) => hosts,
        Err(code) => return Ok(code),
    };
    let report = explain(&daemonsets, &inventory)?;

    let text = match args.output {
        TableOrJson::Json => {
            let mut json =
                serde_json::to_string_pretty(&report).context("serializing the report")?;
            json.push('\n');
            json
        }
        TableOrJson::Table => render_table(&report),
    };
    crate::output::print(&text).context("writing the report")?;
    Ok(0)
}
