//! `dsctl validate -f PATH… [-i INV]`: check specs (and an inventory) offline.
//!
//! Exit 0 when everything is valid (warnings go to stderr), otherwise print every error and
//! exit 2.

use crate::EXIT_INVALID;
use crate::cli::ValidateArgs;
use crate::diagnostic::Diagnostics;
use crate::load;

pub fn run(args: ValidateArgs) -> anyhow::Result<i32> {
    let mut diags = Diagnostics::new();
    let mut valid = Vec::new();
    match load::daemonsets(&args.specs.files) {
        Ok(specs) => {
            diags.extend(specs.warnings);
            valid = specs.daemonsets;
        }
        Err(found) => diags.extend(found),
    }
    let mut inventory = None;
    if let Some(path) = &args.inventory {
        match load::inventory_with_warnings(path) {
            Ok((loaded, warnings)) => {
                diags.extend(warnings);
                inventory = Some(loaded);
            }
            Err(found) => diags.extend(found),
        }
    }
    diags.eprint();
    if diags.has_errors() {
        crate::errln!("invalid: {}", diags.summary());
        return Ok(EXIT_INVALID);
    }
    for ds in &valid {
        crate::outln!("{}: valid ({})", ds.value.name(), ds.source.name())?;
    }
    if let Some(inventory) = inventory {
        crate::outln!(
            "inventory: valid, {} hosts ({})",
            inventory.value.hosts.len(),
            inventory.source.name()
        )?;
    }
    Ok(0)
}
