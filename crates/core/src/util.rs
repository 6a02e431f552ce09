//! Small shared helpers: time formatting like Go's RFC3339Nano, random ids,
//! constant-time comparison.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;

/// Go's `time.RFC3339Nano` rendering in UTC (trailing zeros trimmed, as Go does).
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{nanos:09}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// [`rfc3339`] of a Unix time in nanoseconds (out-of-range values render as the epoch).
pub fn rfc3339_ns(unix_ns: i64) -> String {
    rfc3339(OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ns)).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

pub fn rfc3339_now() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` random base62 characters from the system RNG (rejection sampling, no bias).
pub fn random_base62(n: usize) -> String {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        // AWS-LC aborts rather than fail; see seal.rs.
        rng.fill(&mut buf).expect("system random source");
        for b in buf {
            if b < 248 {
                out.push(BASE62[(b % 62) as usize] as char);
                if out.len() == n {
                    break;
                }
            }
        }
    }
    out
}

/// Constant-time equality for secrets (tokens, HMACs, key shares).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A random (v4) UUID string for request ids. Request ids are not secrets
/// (they appear in responses and logs), so they come from a per-thread
/// splitmix64 generator seeded once from the system RNG: AWS-LC's DRBG cost
/// several percent of a kv read in profiles, and `Uuid::new_v4` a syscall.
pub fn random_uuid() -> String {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            // AWS-LC aborts rather than fail; see seal.rs.
            SystemRandom::new().fill(&mut seed).expect("system random source");
            u64::from_le_bytes(seed)
        });
    }
    let next = || {
        STATE.with(|s| {
            let x = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            s.set(x);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&next().to_le_bytes());
    b[8..].copy_from_slice(&next().to_le_bytes());
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_like_go() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_450_000).unwrap();
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.12345Z");
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn base62_shape() {
        let s = random_base62(24);
        assert_eq!(s.len(), 24);
        assert!(s.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(s, random_base62(24));
    }

    #[test]
    fn ct() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
