//! What Vault HMACs in an entry, and how: `HMAC-SHA256(key = the device's
//! salt, msg = value)` rendered `hmac-sha256:<lowercase hex>`
//! (vault-api.md §3.2).
//!
//! The deep walk over `request.data` and `response.data` replaces every
//! string (in maps and lists, at any depth) by its HMAC; map keys, numbers,
//! booleans and nulls stay clear, as do strings that parse as RFC 3339
//! timestamps (OpenBao) and everything under a key the mount lists in its
//! `audit_non_hmac_request_keys` / `audit_non_hmac_response_keys`. Maps are
//! rebuilt with sorted keys, as Go's JSON encoder writes them.

use aws_lc_rs::hmac;
use serde_json::{Map, Value};

/// One device's HMAC key.
pub(crate) struct Salter {
    key: hmac::Key,
}

impl Salter {
    pub(crate) fn new(salt: &[u8]) -> Salter {
        Salter {
            key: hmac::Key::new(hmac::HMAC_SHA256, salt),
        }
    }

    /// `hmac-sha256:<hex>` of `input` (what `sys/audit-hash` answers).
    pub(crate) fn hash(&self, input: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let tag = hmac::sign(&self.key, input.as_bytes());
        // One allocation of the final size: entries hash every string they carry.
        let mut out = String::with_capacity(12 + 64);
        out.push_str("hmac-sha256:");
        for b in tag.as_ref() {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
        out
    }

    /// Replace a string member `key` of `obj` by its HMAC, if present.
    pub(crate) fn hash_member(&self, obj: &mut Map<String, Value>, key: &str) {
        if let Some(Value::String(s)) = obj.get_mut(key) {
            *s = self.hash(s);
        }
    }

    /// The deep walk (see the module doc). `clear_keys`: the mount's
    /// non-HMAC keys, matched on the immediate key at any depth.
    pub(crate) fn hash_data(&self, v: &mut Value, clear_keys: &[String]) {
        match v {
            Value::String(s) => {
                if !is_rfc3339(s) {
                    *s = self.hash(s);
                }
            }
            Value::Array(items) => {
                for i in items {
                    self.hash_data(i, clear_keys);
                }
            }
            Value::Object(m) => {
                let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                for (k, mut val) in entries {
                    if !clear_keys.iter().any(|c| c == &k) {
                        self.hash_data(&mut val, clear_keys);
                    }
                    m.insert(k, val);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// Go's encoder writes map keys sorted; `log_raw` data keeps that order too.
pub(crate) fn sort_deep(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(sort_deep),
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut val) in entries {
                sort_deep(&mut val);
                m.insert(k, val);
            }
        }
        _ => {}
    }
}

/// OpenBao leaves strings that parse as RFC 3339 times clear (Vault: values
/// that are `time.Time`, which reach the walk as such strings).
fn is_rfc3339(s: &str) -> bool {
    // Cheap shape test first: most strings are not times.
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') {
        return false;
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hmac_matches_a_known_vector() {
        // HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog"): RFC 4231-style vector.
        let s = Salter::new(b"key");
        assert_eq!(
            s.hash("The quick brown fox jumps over the lazy dog"),
            "hmac-sha256:f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn deep_walk_hashes_every_string_but_keys_times_and_clear_keys() {
        let s = Salter::new(b"salt");
        let mut v = json!({
            "z": "secret",
            "n": 5,
            "b": true,
            "nil": null,
            "list": ["a", 1, {"inner": "b"}],
            "when": "2024-05-01T10:00:00.123456789Z",
            "not_a_time": "2024-05-01",
            "plain": {"x": "clear", "deep": ["kept"]},
        });
        s.hash_data(&mut v, &["plain".to_string()]);
        assert_eq!(v["z"], json!(s.hash("secret")));
        assert_eq!(v["n"], json!(5));
        assert_eq!(v["b"], json!(true));
        assert_eq!(v["nil"], Value::Null);
        assert_eq!(v["list"], json!([s.hash("a"), 1, {"inner": s.hash("b")}]));
        assert_eq!(v["when"], json!("2024-05-01T10:00:00.123456789Z"));
        assert_eq!(v["not_a_time"], json!(s.hash("2024-05-01")));
        assert_eq!(v["plain"], json!({"x": "clear", "deep": ["kept"]}));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "maps come out sorted");
    }

    #[test]
    fn another_salt_gives_another_hash() {
        assert_ne!(Salter::new(b"a").hash("x"), Salter::new(b"b").hash("x"));
        assert!(Salter::new(b"a").hash("x").starts_with("hmac-sha256:"));
        assert_eq!(Salter::new(b"a").hash("x").len(), "hmac-sha256:".len() + 64);
    }
}
