//! HCL1 parser (server config files and ACL policies): never panics, and a
//! parsed tree converts to JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(node) = coffer_hcl::parse(s) {
            let _ = node.to_json();
        }
    }
});
