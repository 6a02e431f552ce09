//! ACL policy documents come from API callers: parsing and compiling them
//! must never panic, and a compiled ACL must answer any path.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (text, path) = s.split_once('\0').unwrap_or((s, "secret/data/x"));
    if let Ok(p) = coffer_policy::parse("fuzz", text) {
        let acl = coffer_policy::Acl::new(&[Arc::new(p)]);
        let _ = acl.capabilities(path);
        let _ = acl.has_any_under(path);
    }
});
