//! The spec loader on arbitrary toml text (see `dsctl_fuzz::spec_text`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dsctl_fuzz::spec_text("fuzz.toml", data));
