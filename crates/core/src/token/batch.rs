//! Batch tokens: never stored. The token string carries its own entry,
//! sealed by the barrier (`Barrier::seal_detached`: a subkey of each keyring
//! term, AES-256-GCM-SIV), so it verifies on this cluster only, cannot be
//! forged or altered, and keeps working across `sys/rotate` and seal/unseal
//! for as long as the keyring holds its term.
//!
//! Token: `hvb.` + base64url (no padding) of the sealed bytes. Vault issues
//! `hvb.` (the pair of its `hvs.` service tokens, which Coffer issues too);
//! OpenBao 2.x issues the legacy `b.`. Both accept both, and so does Coffer.
//! Sealed plaintext
//! (format 1, all integers LEB128 varints, strings length-prefixed UTF-8):
//!
//! ```text
//! flags u8            bit 0: has parent, bit 1: has meta, bit 2: has bound CIDRs
//! [parent 32 bytes]   the parent token's storage hash (raw), if bit 0
//! creation_time       unix seconds
//! ttl                 seconds
//! path, display_name, role, entity_id
//! policies            count, then each string
//! [meta]              count, then key, value pairs, if bit 1
//! [bound CIDRs]       count, then each in display form (`10.0.0.0/8`, `::1`), if bit 2
//! ```
//!
//! Bit 2 came later: a token without it (every token minted before) decodes
//! as before, with no binding; a server that predates it refuses a token
//! that has it (an unknown flag), so a binding is never silently dropped.
//!
//! Decoding reads only authenticated bytes, and still treats them as
//! untrusted: every length is bounded by what is left, trailing bytes are
//! refused, arithmetic is checked. Anything wrong is "not a token".

use super::TokenEntry;
use crate::cidr::BoundCidr;
use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Prefix of the batch tokens Coffer issues (Vault's, paired with `hvs.`).
pub const BATCH_PREFIX: &str = "hvb.";
/// The legacy prefix OpenBao issues; accepted, as Vault and OpenBao do.
pub const LEGACY_BATCH_PREFIX: &str = "b.";
/// The barrier context of batch tokens (associated data).
pub(super) const AAD: &[u8] = b"coffer batch token";
/// Longer strings are not batch tokens (bounds the work one header can cause).
const MAX_TOKEN_LEN: usize = 16 * 1024;
const HAS_PARENT: u8 = 1;
const HAS_META: u8 = 2;
const HAS_CIDRS: u8 = 4;
const NS: i64 = 1_000_000_000;

/// Does this token name a batch token (by its prefix)?
pub fn is_batch(token: &str) -> bool {
    token.starts_with(BATCH_PREFIX) || token.starts_with(LEGACY_BATCH_PREFIX)
}

/// The sealed bytes inside a batch token string; `None` if it is not one.
pub(super) fn sealed_bytes(token: &str) -> Option<Vec<u8>> {
    let body = token.strip_prefix(BATCH_PREFIX).or_else(|| token.strip_prefix(LEGACY_BATCH_PREFIX))?;
    if body.len() > MAX_TOKEN_LEN {
        return None;
    }
    URL_SAFE_NO_PAD.decode(body).ok()
}

/// The token string of sealed bytes.
pub(super) fn token_string(sealed: &[u8]) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(BATCH_PREFIX.len() + sealed.len() * 4 / 3 + 4));
    s.push_str(BATCH_PREFIX);
    URL_SAFE_NO_PAD.encode_string(sealed, &mut s);
    s
}

// ----------------------------------------------------------------------------- encoding

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// The plaintext a batch token carries for `e`. Only the fields a batch token
/// has are kept: no accessor, uses, period, explicit max or renewal state.
pub(super) fn encode(e: &TokenEntry) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(128));
    let parent = match &e.parent {
        Some(p) => {
            let raw = hex::decode(p).map_err(|_| Error::internal("parent token hash is not hex"))?;
            let raw: [u8; 32] = raw.try_into().map_err(|_| Error::internal("parent token hash has an unexpected length"))?;
            Some(raw)
        }
        None => None,
    };
    let creation = u64::try_from(e.creation_time).map_err(|_| Error::internal("creation time before 1970"))?;
    let flags = (if parent.is_some() { HAS_PARENT } else { 0 })
        | (if e.meta.is_some() { HAS_META } else { 0 })
        | (if e.bound_cidrs.is_empty() { 0 } else { HAS_CIDRS });
    out.push(flags);
    if let Some(p) = parent {
        out.extend_from_slice(&p);
    }
    put_varint(&mut out, creation);
    put_varint(&mut out, e.ttl);
    put_str(&mut out, &e.path);
    put_str(&mut out, &e.display_name);
    put_str(&mut out, &e.role);
    put_str(&mut out, &e.entity_id);
    put_varint(&mut out, e.policies.len() as u64);
    for p in &e.policies {
        put_str(&mut out, p);
    }
    if let Some(m) = &e.meta {
        put_varint(&mut out, m.len() as u64);
        for (k, v) in m {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
    }
    if !e.bound_cidrs.is_empty() {
        put_varint(&mut out, e.bound_cidrs.len() as u64);
        for c in &e.bound_cidrs {
            put_str(&mut out, &c.to_string());
        }
    }
    Ok(out)
}

/// A bounds-checked reader over authenticated plaintext.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return None; // more than 64 bits
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    /// A count of items that each take at least one byte.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.buf.len()).then_some(n)
    }
    fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.varint()?).ok()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// The entry a batch token's plaintext describes (`hash` left empty), or
/// `None` if the plaintext is malformed.
pub(super) fn decode(plain: &[u8]) -> Option<TokenEntry> {
    let mut r = Reader { buf: plain };
    let flags = r.byte()?;
    if flags & !(HAS_PARENT | HAS_META | HAS_CIDRS) != 0 {
        return None;
    }
    let parent = if flags & HAS_PARENT != 0 { Some(hex::encode(r.take(32)?)) } else { None };
    let creation_time = i64::try_from(r.varint()?).ok()?;
    let ttl = r.varint()?;
    let path = r.string()?;
    let display_name = r.string()?;
    let role = r.string()?;
    let entity_id = r.string()?;
    let n = r.count()?;
    let mut policies = Vec::with_capacity(n);
    for _ in 0..n {
        policies.push(r.string()?);
    }
    let meta = if flags & HAS_META != 0 {
        let n = r.count()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = r.string()?;
            m.insert(k, r.string()?);
        }
        Some(m)
    } else {
        None
    };
    let mut bound_cidrs = Vec::new();
    if flags & HAS_CIDRS != 0 {
        let n = r.count()?;
        for _ in 0..n {
            bound_cidrs.push(BoundCidr::parse(&r.string()?).ok()?);
        }
        if bound_cidrs.is_empty() {
            return None; // the flag says there are some
        }
    }
    if !r.buf.is_empty() {
        return None;
    }
    // Whole seconds, as Vault: issued at creation_time, expires ttl later.
    let issue_time_ns = creation_time.checked_mul(NS)?;
    let expire_ns = i64::try_from(ttl).ok()?.checked_mul(NS)?.checked_add(issue_time_ns)?;
    Some(TokenEntry {
        hash: String::new(),
        accessor: String::new(),
        parent,
        policies,
        path,
        meta,
        display_name,
        num_uses: 0,
        creation_time,
        issue_time_ns,
        creation_ttl: ttl,
        ttl,
        explicit_max_ttl: 0,
        period: 0,
        renewable: false,
        token_type: "batch".into(),
        role,
        expire_ns: Some(expire_ns),
        last_renewal_ns: None,
        entity_id,
        max_ttl: 0,
        bound_cidrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Decoding only ever sees authenticated bytes, but it still treats them as
        /// untrusted: any input gives an entry or `None`, never a panic, and a
        /// valid encoding with one byte changed or cut short never decodes to the
        /// same entry.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn a_changed_or_cut_encoding_is_not_the_same_entry(at in 0usize..4096, flip in 1u8..=255, cut in proptest::prelude::any::<bool>()) {
            let e = sample(true, true);
            let good = encode(&e).unwrap();
            let at = at % good.len();
            let mut bad = good.to_vec();
            if cut { bad.truncate(at) } else { bad[at] ^= flip }
            if let Some(d) = decode(&bad) {
                proptest::prop_assert_ne!(serde_json::to_value(&d).unwrap(), serde_json::to_value(&e).unwrap());
            }
        }
    }

    fn sample(parent: bool, meta: bool) -> TokenEntry {
        let mut e = decode(&encode(&base()).unwrap()).unwrap();
        e.parent = parent.then(|| "ab".repeat(32));
        e.meta = meta.then(|| BTreeMap::from([("team".to_string(), "data".to_string()), ("é".to_string(), String::new())]));
        e
    }

    fn base() -> TokenEntry {
        TokenEntry {
            hash: String::new(),
            accessor: String::new(),
            parent: None,
            policies: vec!["default".into(), "tc".into()],
            path: "auth/token/create/r1/v1".into(),
            meta: None,
            display_name: "token-ci".into(),
            num_uses: 0,
            creation_time: 1_795_900_000,
            issue_time_ns: 1_795_900_000 * NS,
            creation_ttl: 3600,
            ttl: 3600,
            explicit_max_ttl: 0,
            period: 0,
            renewable: false,
            token_type: "batch".into(),
            role: "r1".into(),
            expire_ns: Some((1_795_900_000 + 3600) * NS),
            last_renewal_ns: None,
            entity_id: String::new(),
            max_ttl: 0,
            bound_cidrs: vec![],
        }
    }

    fn cidrs(xs: &[&str]) -> Vec<BoundCidr> {
        xs.iter().map(|s| BoundCidr::parse(s).unwrap()).collect()
    }

    /// Format 1 as minted before bound CIDRs existed: flags 0, creation
    /// 1_795_900_000, ttl 3600, path, display name, role, entity id, policies.
    fn pre_cidr_plaintext() -> Vec<u8> {
        [
            &[0x00, 0xe0, 0x84, 0xad, 0xd8, 0x06, 0x90, 0x1c][..],
            b"\x14auth/token/create/r1",
            b"\x08token-ci",
            b"\x02r1",
            b"\x00",
            b"\x01\x07default",
        ]
        .concat()
    }

    #[test]
    fn bound_cidrs_roundtrip_and_old_tokens_still_decode() {
        // An old token: no binding, and re-encoding an unbound entry gives the same bytes.
        let old = decode(&pre_cidr_plaintext()).expect("a pre-CIDR batch token decodes");
        assert!(old.bound_cidrs.is_empty());
        assert_eq!((old.path.as_str(), old.role.as_str(), old.ttl), ("auth/token/create/r1", "r1", 3600));
        assert_eq!(old.policies, ["default"]);
        assert_eq!(encode(&old).unwrap().to_vec(), pre_cidr_plaintext(), "unbound tokens keep the old layout");
        // A bound one, with parent and meta too, IPv4 and IPv6, single hosts shown bare.
        for (p, m) in [(false, false), (true, true)] {
            let mut e = sample(p, m);
            e.bound_cidrs = cidrs(&["10.0.0.0/8", "127.0.0.1/32", "fd00::/8", "::1"]);
            let plain = encode(&e).unwrap();
            assert_eq!(plain[0] & HAS_CIDRS, HAS_CIDRS);
            let d = decode(&plain).unwrap();
            assert_eq!(d, e);
            assert_eq!(crate::cidr::to_strings(&d.bound_cidrs), ["10.0.0.0/8", "127.0.0.1", "fd00::/8", "::1"]);
            for n in 0..plain.len() {
                assert!(decode(&plain[..n]).is_none(), "truncated to {n}");
            }
        }
        // The flag with an empty list, or a list entry that is not a CIDR: not a token.
        let mut empty = pre_cidr_plaintext();
        empty[0] = HAS_CIDRS;
        empty.push(0);
        assert!(decode(&empty).is_none());
        let mut junk = pre_cidr_plaintext();
        junk[0] = HAS_CIDRS;
        junk.extend_from_slice(b"\x01\x03bad");
        assert!(decode(&junk).is_none());
        junk.truncate(junk.len() - 5);
        junk.extend_from_slice(b"\x01\x0a10.0.0.0/8");
        assert_eq!(crate::cidr::to_strings(&decode(&junk).unwrap().bound_cidrs), ["10.0.0.0/8"]);
    }

    #[test]
    fn encode_decode_roundtrip() {
        assert_eq!(decode(&encode(&base()).unwrap()).unwrap(), base());
        for (p, m) in [(false, false), (true, false), (false, true), (true, true)] {
            let e = sample(p, m);
            let plain = encode(&e).unwrap();
            assert_eq!(decode(&plain).unwrap(), e, "parent {p} meta {m}");
        }
        // Meta present but empty stays `{}` (not null), as a lookup shows it.
        let mut e = base();
        e.meta = Some(BTreeMap::new());
        assert_eq!(decode(&encode(&e).unwrap()).unwrap().meta, Some(BTreeMap::new()));
        // Times come from creation_time + ttl, in whole seconds.
        let d = decode(&encode(&base()).unwrap()).unwrap();
        assert_eq!((d.issue_time_ns, d.expire_ns), (1_795_900_000 * NS, Some(1_795_903_600 * NS)));
        // Small: a typical token stays in the same size class as OpenBao's.
        let plain = encode(&sample(true, false)).unwrap();
        assert!(plain.len() < 120, "{}", plain.len());
    }

    #[test]
    fn varints_are_bounded() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = vec![];
            put_varint(&mut out, v);
            assert_eq!(Reader { buf: &out }.varint(), Some(v));
        }
        // 11 continuation bytes, or a 10th byte carrying more than the 64th bit: refused.
        assert_eq!(Reader { buf: &[0xff; 11] }.varint(), None);
        assert_eq!(Reader { buf: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02] }.varint(), None);
        assert_eq!(Reader { buf: &[0x80] }.varint(), None);
    }

    #[test]
    fn malformed_plaintexts_are_refused_without_panicking() {
        let good = encode(&sample(true, true)).unwrap();
        // Every truncation and every extension.
        for n in 0..good.len() {
            assert!(decode(&good[..n]).is_none(), "truncated to {n}");
        }
        let mut longer = good.to_vec();
        longer.push(0);
        assert!(decode(&longer).is_none());
        // Unknown flags.
        for flag in [0x08, 0x80] {
            let mut bad = good.to_vec();
            bad[0] |= flag;
            assert!(decode(&bad).is_none());
        }
        // Every single-byte value at every position: never a panic.
        for i in 0..good.len() {
            for b in [0u8, 1, 0x7f, 0x80, 0xfe, 0xff] {
                let mut t = good.to_vec();
                t[i] = b;
                let _ = decode(&t);
            }
        }
        // Huge counts and lengths, invalid UTF-8, overflowing times.
        let mut huge = vec![0u8];
        put_varint(&mut huge, 1);
        put_varint(&mut huge, 1);
        put_varint(&mut huge, u64::MAX);
        assert!(decode(&huge).is_none());
        let mut utf = vec![0u8, 1, 1, 2, 0xff, 0xfe, 0, 0, 0, 0];
        assert!(decode(&utf).is_none());
        utf[4] = b'a';
        utf[5] = b'b';
        assert!(decode(&utf).is_some());
        let mut far = vec![0u8];
        put_varint(&mut far, i64::MAX as u64);
        put_varint(&mut far, 1);
        far.extend_from_slice(&[0, 0, 0, 0, 0]);
        assert!(decode(&far).is_none(), "creation time overflows nanoseconds");
    }

    #[test]
    fn token_strings() {
        let t = token_string(&[0xfb, 0xff, 0x00, 0x01]);
        assert_eq!(t.as_str(), "hvb.-_8AAQ");
        assert_eq!(sealed_bytes(&t).unwrap(), vec![0xfb, 0xff, 0x00, 0x01]);
        assert_eq!(sealed_bytes("b.-_8AAQ").unwrap(), vec![0xfb, 0xff, 0x00, 0x01]);
        assert!(is_batch("b.x") && is_batch("hvb.x") && !is_batch("hvs.x") && !is_batch("s.x") && !is_batch("bx"));
        for bad in ["b.-_8AAQ==", "hvb.-_8AAQ==", "b.!!!!", "b.a", "hvs.-_8AAQ", "-_8AAQ", "hvb.+/8AAQ", "hvb-_8AAQ"] {
            assert!(sealed_bytes(bad).is_none(), "{bad}");
        }
        assert_eq!(sealed_bytes("b.").unwrap(), Vec::<u8>::new());
        assert_eq!(sealed_bytes("hvb.").unwrap(), Vec::<u8>::new());
        assert!(sealed_bytes(&format!("b.{}", "A".repeat(MAX_TOKEN_LEN + 4))).is_none());
    }
}

/// Batch tokens through the token store and the `auth/token/` handlers.
#[cfg(test)]
mod store_tests {
    use super::super::testutil::*;
    use super::*;
    use crate::error::Error;
    use crate::logical::{Auth, Operation};
    use crate::token::format_rfc3339_nano;
    use std::time::Duration;

    async fn create(h: &Harness, as_token: Option<&str>, path: &str, body: Value) -> Auth {
        let t = as_token.unwrap_or(&h.root).to_string();
        h.call_as(&t, path, body).await.unwrap().auth.unwrap()
    }

    async fn batch(h: &Harness, body: Value) -> String {
        let mut body = body;
        body["type"] = json!("batch");
        create(h, None, "create", body).await.client_token
    }

    fn err(r: crate::error::Result<impl std::fmt::Debug>) -> String {
        r.unwrap_err().to_string()
    }

    #[tokio::test]
    async fn created_and_checked_without_touching_storage() {
        let h = Harness::new().await;
        assert!(h.store.lookup(&h.root).await.unwrap().is_some()); // the parent, now cached
        let before = h.physical().await;
        let calls = h.phys.calls();
        let r = h
            .root_call("create", json!({"type": "batch", "policies": ["default", "tc"], "ttl": "1h", "meta": {"team": "data"}}))
            .await
            .unwrap();
        let auth = r.auth.unwrap();
        let t = auth.client_token.clone();
        for _ in 0..3 {
            assert!(h.store.lookup(&t).await.unwrap().is_some());
        }
        assert!(h.works(&t).await);
        assert_eq!(h.phys.calls(), calls, "creating or checking a batch token touched storage");
        // Nothing was written: not the token, not an index entry, not a lease.
        assert_eq!(h.physical().await, before);
        assert!(h.leases.view().keys_recursive("").await.unwrap().iter().all(|k| !k.contains(&h.store.hash(&t))));
        // Its shape: Vault's prefix, base64url, the same size class (~130-200 chars).
        assert!(t.starts_with("hvb."), "{t}");
        assert!(t[4..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{t}");
        assert!((100..220).contains(&t.len()), "{}", t.len());
        assert_eq!((auth.accessor.as_str(), auth.renewable, auth.orphan, auth.num_uses), ("", false, false, 0));
        assert_eq!((auth.token_type.as_str(), auth.lease_duration), ("batch", 3600));
        assert_eq!(auth.policies, ["default", "tc"]);
        assert_eq!(auth.metadata.unwrap()["team"], "data");
        // Two tokens for the same request differ.
        assert_ne!(batch(&h, json!({"policies": ["default"]})).await, batch(&h, json!({"policies": ["default"]})).await);
    }

    #[tokio::test]
    async fn lookup_shows_vaults_batch_fields() {
        let h = Harness::new().await;
        let t = batch(&h, json!({"policies": ["tc"], "ttl": "1h", "display_name": "ci-job", "meta": {"a": "b"}})).await;
        let expect = |d: &crate::logical::Data| {
            assert_eq!(d["id"], json!(t));
            assert_eq!(d["accessor"], "");
            assert_eq!(d["type"], "batch");
            assert_eq!(d["orphan"], false);
            assert_eq!(d["renewable"], false);
            assert_eq!(d["num_uses"], 0);
            assert_eq!(d["explicit_max_ttl"], 0);
            assert_eq!(d["creation_ttl"], 3600);
            assert!((3599..=3600).contains(&d["ttl"].as_i64().unwrap()), "{}", d["ttl"]);
            assert_eq!(d["display_name"], "token-ci-job");
            assert_eq!(d["path"], "auth/token/create");
            assert_eq!(d["policies"], json!(["default", "tc"]));
            assert_eq!(d["meta"], json!({"a": "b"}));
            assert_eq!(d["entity_id"], "");
            // Whole seconds, as Vault: issue_time is creation_time.
            let created = d["creation_time"].as_i64().unwrap();
            assert_eq!(d["issue_time"], json!(format_rfc3339_nano(created * NS)));
            assert_eq!(d["expire_time"], json!(format_rfc3339_nano((created + 3600) * NS)));
            for k in ["period", "last_renewal", "last_renewal_time", "role"] {
                assert!(!d.contains_key(k), "{k}");
            }
        };
        expect(&h.lookup(&t).await);
        let me = h.call_op(Some(&t), Operation::Read, "lookup-self", json!({})).await.unwrap().unwrap().data.unwrap();
        expect(&me);
        // The TTL counts down.
        h.store.advance_clock(Duration::from_secs(600));
        let ttl = h.lookup(&t).await["ttl"].as_i64().unwrap();
        assert!((2999..=3000).contains(&ttl), "{ttl}");
        // OpenBao's legacy prefix works too, and is what the lookup echoes.
        let legacy = format!("b.{}", &t[4..]);
        assert_eq!(h.lookup(&legacy).await["id"], json!(legacy));
    }

    #[tokio::test]
    async fn tampered_truncated_and_foreign_tokens_are_simply_invalid() {
        let h = Harness::new().await;
        let t = batch(&h, json!({"policies": ["default"]})).await;
        assert!(h.works(&t).await);
        let body = t[4..].to_string();
        // Every character changed, one at a time.
        for (i, c) in body.char_indices() {
            let other = if c == 'A' { 'B' } else { 'A' };
            let bad = format!("hvb.{}{other}{}", &body[..i], &body[i + 1..]);
            assert!(h.store.lookup(&bad).await.unwrap().is_none(), "changed at {i}");
        }
        // Every truncation, and extensions.
        for n in 0..t.len() {
            assert!(h.store.lookup(&t[..n]).await.unwrap().is_none(), "truncated to {n}");
        }
        for bad in [format!("{t}A"), format!("{t}AA"), format!("{t}=="), format!("{t}.ns1"), format!("s.{body}"), format!("hvs.{body}"), format!("hvb{body}")] {
            assert!(h.store.lookup(&bad).await.unwrap().is_none(), "{bad}");
        }
        // Garbage of every kind: never an error, never a panic.
        let long = format!("hvb.{}", "A".repeat(50_000));
        for bad in ["b.", "hvb.", "b.!!!!", "hvb.!!!!", "b.AAAA", "hvb.AAAAAQ", "hvb.é", "hvb.\u{0}", "b. ", long.as_str()] {
            assert!(h.store.lookup(bad).await.unwrap().is_none(), "{bad:?}");
            assert!(!h.works(bad).await);
            let e = h.root_call("lookup", json!({"token": bad})).await.unwrap_err();
            assert!(matches!(&e, Error::Coded(403, m) if m == "bad token"), "{e:?}");
        }
        // A token from another cluster (other barrier keys) is unknown here.
        let other = Harness::new().await;
        let foreign = batch(&other, json!({"policies": ["default"]})).await;
        assert!(other.works(&foreign).await);
        assert!(!h.works(&foreign).await);
        assert!(h.store.lookup(&foreign).await.unwrap().is_none());
        // Errors never carry the token.
        let e = h.call_as(&t, "renew-self", json!({})).await.unwrap_err();
        assert!(!format!("{e} {e:?}").contains(&body));
    }

    #[tokio::test]
    async fn expired_batch_tokens_stop_working() {
        let h = Harness::new().await;
        let t = batch(&h, json!({"policies": ["default"], "ttl": "2s"})).await;
        assert!(h.works(&t).await);
        h.store.advance_clock(Duration::from_secs(3));
        assert!(!h.works(&t).await);
        let e = h.root_call("lookup", json!({"token": t})).await.unwrap_err();
        assert!(matches!(&e, Error::Coded(403, m) if m == "bad token"), "{e:?}");
        assert_eq!(err(h.root_call("renew", json!({"token": t})).await), "token not found");
        // Revoking an expired (unknown) token is not an error, as for any unknown token.
        assert!(h.call_op(None, Operation::Update, "revoke", json!({"token": t})).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn old_tokens_survive_a_keyring_rotation() {
        let h = Harness::new().await;
        let old = batch(&h, json!({"policies": ["default"]})).await;
        h.barrier.rotate("t2".into()).await.unwrap();
        let new = batch(&h, json!({"policies": ["default"]})).await;
        assert!(h.works(&old).await && h.works(&new).await);
        let term = |t: &str| u32::from_be_bytes(sealed_bytes(t).unwrap()[1..5].try_into().unwrap());
        assert_eq!((term(&old), term(&new)), (1, 2));
        // Sealed: nothing verifies (the core answers 503 before asking anyway).
        h.barrier.seal();
        assert!(h.store.lookup(&new).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn non_orphans_die_with_their_parent_orphans_do_not() {
        let h = Harness::new().await;
        let parent = h.create(json!({"policies": ["default", "tc"], "ttl": "1h"})).await;
        let child = create(&h, Some(&parent), "create", json!({"type": "batch", "policies": ["tc"], "ttl": "10h"})).await;
        assert!(!child.orphan);
        assert_eq!(child.lease_duration, 36000, "not capped by the parent's TTL (Vault)");
        let orphan = create(&h, Some(&parent), "create-orphan", json!({"type": "batch"})).await;
        assert!(orphan.orphan);
        assert_eq!(h.lookup(&orphan.client_token).await["path"], "auth/token/create-orphan");
        // Without sudo no_parent is refused, as for service tokens.
        let e = err(h.call_as(&parent, "create", json!({"type": "batch", "no_parent": true})).await);
        assert_eq!(e, "root or sudo privileges required to create orphan token");
        assert!(h.works(&child.client_token).await);
        h.call_op(None, Operation::Update, "revoke", json!({"token": parent})).await.unwrap();
        assert!(!h.works(&child.client_token).await);
        assert!(h.works(&orphan.client_token).await);
        // A parent that expires takes its batch children with it at once (no sweep needed).
        let p2 = h.create(json!({"policies": ["default"], "ttl": "2s"})).await;
        let c2 = create(&h, Some(&p2), "create", json!({"type": "batch", "ttl": "1h"})).await.client_token;
        assert!(h.works(&c2).await);
        h.store.advance_clock(Duration::from_secs(3));
        assert!(!h.works(&c2).await);
    }

    #[tokio::test]
    async fn renew_revoke_and_children_are_refused_with_vaults_text() {
        let h = Harness::new().await;
        let t = batch(&h, json!({"policies": ["default"], "ttl": "1h"})).await;
        for (as_token, path, body) in [
            (None, "renew", json!({"token": t})),
            (Some(t.as_str()), "renew-self", json!({})),
            (Some(t.as_str()), "renew-self", json!({"increment": "2h"})),
        ] {
            let e = h.call_op(as_token, Operation::Update, path, body).await.unwrap_err();
            assert!(matches!(&e, Error::InvalidRequest(m) if m == "batch tokens cannot be renewed"), "{path}: {e:?}");
        }
        for (as_token, path, body) in [
            (None, "revoke", json!({"token": t})),
            (Some(t.as_str()), "revoke-self", json!({})),
            (None, "revoke-orphan", json!({"token": t})),
        ] {
            let e = h.call_op(as_token, Operation::Update, path, body).await.unwrap_err();
            assert!(matches!(&e, Error::InvalidRequest(m) if m == "batch tokens cannot be revoked"), "{path}: {e:?}");
        }
        for path in ["create", "create-orphan"] {
            for body in [json!({}), json!({"type": "batch"}), json!({"type": "service", "policies": ["default"]})] {
                assert_eq!(err(h.call_as(&t, path, body).await), "batch tokens cannot create more tokens");
            }
        }
        // Nothing happened to it.
        assert!(h.works(&t).await);
        assert_eq!(h.lookup(&t).await["creation_ttl"], 3600);
        assert!(h.hooks.revoked.lock().is_empty());
    }

    #[tokio::test]
    async fn request_options_a_batch_token_cannot_honour() {
        let h = Harness::new().await;
        // renewable is ignored (never renewable); a custom id is not used, with a warning.
        let r = h.root_call("create", json!({"type": "batch", "policies": ["default"], "renewable": true, "id": "my-id"})).await.unwrap();
        assert!(!r.auth.as_ref().unwrap().renewable);
        assert!(r.auth.as_ref().unwrap().client_token.starts_with("hvb."));
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(h.store.lookup("my-id").await.unwrap().is_none());
        // A custom id is still for sudo callers only, and a b. id is fine since it is not used.
        let r = h.root_call("create", json!({"type": "batch", "policies": ["default"], "id": "hvb.custom"})).await.unwrap();
        assert!(r.auth.unwrap().client_token != "hvb.custom");
        let t = h.create(json!({"policies": ["default", "tc"]})).await;
        assert_eq!(err(h.call_as(&t, "create", json!({"type": "batch", "id": "x"})).await), "root or sudo privileges required to specify token id");
        // Zero period / explicit max are fine.
        let a = create(&h, None, "create", json!({"type": "batch", "policies": ["default"], "period": "0", "explicit_max_ttl": "0s"})).await;
        assert_eq!(a.lease_duration, 2_764_800);
        // TTL rules as for service tokens, with the same warning.
        let r = h.root_call("create", json!({"type": "batch", "policies": ["default"], "ttl": "10000h"})).await.unwrap();
        assert_eq!(r.auth.unwrap().lease_duration, 2_764_800);
        assert!(r.warnings[0].contains(r#"max_ttl of "768h""#), "{:?}", r.warnings);
        let r = h.root_call("create", json!({"type": "batch", "policies": ["default"], "lease": "30m"})).await.unwrap();
        assert_eq!(r.auth.unwrap().lease_duration, 1800);
    }

    #[tokio::test]
    async fn roles_choose_the_type() {
        let h = Harness::new().await;
        let role = |name: &str, body: Value| {
            let h = &h;
            let name = name.to_string();
            async move { h.call_op(None, Operation::Update, &format!("roles/{name}"), body).await.unwrap() }
        };
        role("rb", json!({"token_type": "batch", "orphan": true, "renewable": false, "allowed_policies": ["tc"], "path_suffix": "v1x", "token_num_uses": 3})).await;
        role("rdb", json!({"token_type": "default-batch", "allowed_policies": ["tc"], "token_period": "1h", "token_explicit_max_ttl": "30m"})).await;
        role("rs", json!({"token_type": "service", "allowed_policies": ["tc"]})).await;
        // batch role: batch even when service is asked for; orphan; the role's use limit does not apply.
        for body in [json!({}), json!({"type": "service"})] {
            let a = create(&h, None, "create/rb", body).await;
            assert_eq!((a.token_type.as_str(), a.orphan, a.num_uses), ("batch", true, 0));
            let d = h.lookup(&a.client_token).await;
            assert_eq!((d["path"].clone(), d["role"].clone()), (json!("auth/token/create/rb/v1x"), json!("rb")));
            for _ in 0..4 {
                assert!(h.works(&a.client_token).await);
            }
        }
        assert_eq!(err(h.root_call("create/rb", json!({"num_uses": 2})).await), "batch tokens cannot have \"num_uses\" set");
        // default-batch: batch unless service is asked for; the role's period/explicit max do not apply.
        let a = create(&h, None, "create/rdb", json!({"ttl": "2h"})).await;
        assert_eq!((a.token_type.as_str(), a.orphan, a.lease_duration), ("batch", false, 7200));
        let a = create(&h, None, "create/rdb", json!({"type": "service"})).await;
        assert_eq!((a.token_type.as_str(), a.lease_duration), ("service", 1800));
        assert_eq!(err(h.root_call("create/rdb", json!({"period": "1h"})).await), "batch tokens cannot have \"period\" set");
        // service role: service even when batch is asked for.
        let a = create(&h, None, "create/rs", json!({"type": "batch"})).await;
        assert_eq!(a.token_type, "service");
        assert!(!a.accessor.is_empty());
    }

    #[tokio::test]
    async fn internal_batch_tokens_for_logins() {
        let h = Harness::new().await;
        let before = h.phys.calls();
        let (t, e) = h
            .store
            .create_internal(crate::token::InternalCreate {
                policies: vec!["default".into(), "tc".into()],
                path: "auth/userpass/login/alice".into(),
                ttl: Duration::from_secs(600),
                display_name: "userpass-alice".into(),
                batch: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(h.phys.calls(), before);
        assert!(t.starts_with("hvb.") && e.orphan() && e.token_type == "batch" && !e.renewable);
        assert_eq!(h.lookup(&t).await["path"], "auth/userpass/login/alice");
        let refused = |p: crate::token::InternalCreate| {
            let h = &h;
            async move { h.store.create_internal(crate::token::InternalCreate { batch: true, ttl: Duration::from_secs(60), ..p }).await.is_err() }
        };
        assert!(refused(crate::token::InternalCreate { num_uses: 2, ..Default::default() }).await);
        assert!(refused(crate::token::InternalCreate { period: Duration::from_secs(60), ..Default::default() }).await);
        assert!(refused(crate::token::InternalCreate { policies: vec!["root".into()], ..Default::default() }).await);
        assert!(h.store.create_internal(crate::token::InternalCreate { batch: true, ..Default::default() }).await.is_err());
    }
}
