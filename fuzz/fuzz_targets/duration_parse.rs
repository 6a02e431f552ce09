//! Durations arrive in request bodies (ttl, max_ttl, ...) and headers
//! (X-Vault-Wrap-TTL): parse never panics, and what parses formats back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(d) = coffer_config::duration::parse(s) {
            let _ = coffer_config::duration::format_go(d);
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
            let _ = coffer_config::duration::from_json(&v);
        }
    }
});
