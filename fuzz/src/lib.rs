//! What every fuzz target checks, one function per loader; the targets only pick the file
//! name (and so the format) the text is parsed as.

use std::sync::Arc;

use dsctl::diagnostic::{Diagnostics, SourceFile};
use dsctl::inventory::UnitFlavor;

/// Spec text named `name` (`.toml` or `.yaml`): the loader may refuse anything but never
/// panic; every diagnostic must print (spans turned into file:line:column); what loads must
/// hash and render without a panic, and every spec that validated must render (validate
/// catches what apply would refuse).
pub fn spec_text(name: &str, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Arc::new(SourceFile::new(name, text));
    let (objects, diags) = dsctl::load::parse_bound(&source);
    print_all(&diags);
    let templates = dsctl::render::Templates::embedded();
    let host = dsctl::host_facts::HostFacts {
        node_name: "node-1".into(),
        host_ips: vec!["10.213.0.11".parse().unwrap()],
        arch: Some("amd64".into()),
        os: Some("linux".into()),
        cpus: Some(2),
        memory_bytes: Some(1 << 30),
        ephemeral_storage_bytes: Some(10 << 30),
    };
    let valid = !diags.has_errors();
    for object in &objects {
        let revision = dsctl::revision::revision(&object.value);
        for flavor in [UnitFlavor::Service, UnitFlavor::Quadlet] {
            let rendered =
                dsctl::render::render_daemonset(&object.value, &revision, &host, flavor, &templates);
            if valid && let Err(e) = rendered {
                panic!("validated, then render refused it ({flavor:?}): {e}");
            }
        }
    }
}

/// Inventory text: the loader may refuse anything but never panic, and every diagnostic
/// must print.
pub fn inventory_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Arc::new(SourceFile::new("fuzz-inventory.toml", text));
    let (_inventory, diags) = dsctl::load::parse_inventory(&source);
    print_all(&diags);
}

fn print_all(diags: &Diagnostics) {
    for d in diags.iter() {
        let _ = d.to_string();
    }
    let mut out = Vec::new();
    let _ = diags.report(&mut out);
}
