//! Server config files (HCL and JSON): errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = coffer_config::parse_str(s, "fuzz.hcl", false);
        let _ = coffer_config::parse_str(s, "fuzz.json", true);
    }
});
