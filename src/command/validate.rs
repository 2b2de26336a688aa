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
    let checked = load::check_daemonsets(&args.specs.files);
    diags.extend(checked.diagnostics);
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
    // Which files are valid, also when others are not: valid ones on stdout, the others
    // named in the closing line on stderr.
    let mut invalid = Vec::new();
    for (file, ok) in &checked.files {
        // A file may hold several DaemonSets (YAML documents): each is named.
        let in_file: Vec<_> = checked
            .daemonsets
            .iter()
            .filter(|ds| std::sync::Arc::ptr_eq(&ds.source, file))
            .collect();
        let objects: Vec<_> = checked
            .objects
            .iter()
            .filter(|o| std::sync::Arc::ptr_eq(&o.source, file))
            .collect();
        if !ok || (in_file.is_empty() && objects.is_empty()) {
            invalid.push(file.name().to_string());
            continue;
        }
        for ds in in_file {
            crate::outln!("{}: valid ({})", ds.value.name(), file.name())?;
        }
        for object in objects {
            crate::outln!("{}: valid ({})", object.value.key(), file.name())?;
        }
    }
    if diags.has_errors() {
        if invalid.is_empty() {
            crate::errln!("invalid: {}", diags.summary());
        } else {
            crate::errln!("invalid: {} (in {})", diags.summary(), invalid.join(", "));
        }
        return Ok(EXIT_INVALID);
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
