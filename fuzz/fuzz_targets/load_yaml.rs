//! The spec loader on arbitrary yaml text: it may refuse anything, but never panic; every
//! diagnostic it gives must print (spans turned into file:line:column), and what loads must
//! hash and render without a panic, and render every spec that validated.
#![no_main]

use std::sync::Arc;

use dsctl::diagnostic::SourceFile;
use dsctl::inventory::UnitFlavor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Arc::new(SourceFile::new("fuzz.yaml", text));
    let (objects, diags) = dsctl::load::parse_objects(&source);
    for d in diags.iter() {
        let _ = d.to_string();
    }
    let mut out = Vec::new();
    let _ = diags.report(&mut out);
    // A spec that loads goes on to the revision hash and to render (both unit flavours).
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
    // What validates must render: validate catches what apply would refuse (issue 12).
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
});
