//! `dsctl explain -f PATH… -i INV [-o table|json]`: where each DaemonSet runs and why,
//! worked out offline from the specs and the inventory (no SSH).
//!
//! Problems in the files are printed to stderr and exit 2, as `validate` does; warnings go to
//! stderr too, so that stdout holds only the report (`-o json` stays machine-readable).

use std::io::Write;

use anyhow::Context;

use crate::EXIT_INVALID;
use crate::cli::{ExplainArgs, TableOrJson};
use crate::daemonset::DaemonSet;
use crate::diagnostic::Diagnostics;
use crate::explain::{explain, render_table};
use crate::load;

pub fn run(args: ExplainArgs) -> anyhow::Result<i32> {
    let mut warnings = Diagnostics::new();
    let specs = match load::daemonsets(&args.specs.files) {
        Ok(specs) => specs,
        Err(diags) => return Ok(invalid(diags)),
    };
    warnings.extend(specs.warnings);
    let inventory = match load::inventory_with_warnings(&args.inventory.inventory) {
        Ok((inventory, found)) => {
            warnings.extend(found);
            inventory
        }
        Err(diags) => return Ok(invalid(diags)),
    };
    warnings.eprint();

    let daemonsets: Vec<DaemonSet> = specs.daemonsets.into_iter().map(|l| l.value).collect();
    let report = explain(&daemonsets, &inventory.value.hosts())?;

    let text = match args.output {
        TableOrJson::Json => {
            let mut json =
                serde_json::to_string_pretty(&report).context("serializing the report")?;
            json.push('\n');
            json
        }
        TableOrJson::Table => render_table(&report),
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // A reader that stopped early (`| head`) is not a failure of explain.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        result => result.context("writing the report").map(|()| 0),
    }
}

/// Print every problem and say how many; the caller exits with [`EXIT_INVALID`].
fn invalid(diags: Diagnostics) -> i32 {
    diags.eprint();
    eprintln!("invalid: {}", diags.summary());
    EXIT_INVALID
}
