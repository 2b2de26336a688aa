//! The inventory loader on arbitrary text: it may refuse anything, but never panic, and every
//! diagnostic it gives must print (spans turned into file:line:column).
#![no_main]

use std::sync::Arc;

use dsctl::diagnostic::SourceFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Arc::new(SourceFile::new("fuzz-inventory.toml", text));
    let (_inventory, diags) = dsctl::load::parse_inventory(&source);
    for d in diags.iter() {
        let _ = d.to_string();
    }
    let mut out = Vec::new();
    let _ = diags.report(&mut out);
});
