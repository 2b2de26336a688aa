//! The inventory loader on arbitrary text (see `dsctl_fuzz::inventory_text`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dsctl_fuzz::inventory_text(data));
