//! TOTP (RFC 6238) over HOTP (RFC 4226) on aws-lc-rs HMAC: the codes an
//! authenticator app shows, base32 secrets and the `otpauth://` enrolment URL.

use crate::error::{Error, Result};
use aws_lc_rs::hmac;
use zeroize::Zeroizing;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// Vault accepts exactly these spellings.
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "SHA1" => Some(Algorithm::Sha1),
            "SHA256" => Some(Algorithm::Sha256),
            "SHA512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
    pub fn code(self) -> u8 {
        match self {
            Algorithm::Sha1 => 1,
            Algorithm::Sha256 => 2,
            Algorithm::Sha512 => 3,
        }
    }
    pub fn from_code(c: u8) -> Option<Algorithm> {
        match c {
            1 => Some(Algorithm::Sha1),
            2 => Some(Algorithm::Sha256),
            3 => Some(Algorithm::Sha512),
            _ => None,
        }
    }
    fn hmac(self) -> hmac::Algorithm {
        match self {
            // TOTP's SHA1 is HMAC-SHA1, which RFC 6238 names and every app uses.
            Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha256 => hmac::HMAC_SHA256,
            Algorithm::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// The parameters a code is computed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub algorithm: Algorithm,
    /// 6 or 8.
    pub digits: u32,
    /// Seconds per time step (> 0).
    pub period: u64,
    /// Time steps accepted either side of the current one (0 or 1).
    pub skew: u64,
}

/// RFC 4226 HOTP value of `counter`, `digits` long (zero-padded).
pub fn hotp(key: &[u8], counter: u64, algorithm: Algorithm, digits: u32) -> Zeroizing<String> {
    let k = hmac::Key::new(algorithm.hmac(), key);
    let tag = hmac::sign(&k, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let off = (mac[mac.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([mac[off] & 0x7f, mac[off + 1], mac[off + 2], mac[off + 3]]);
    let value = bin % 10u32.pow(digits.min(9));
    Zeroizing::new(format!("{value:0width$}", width = digits as usize))
}

/// The TOTP code at unix time `t`.
pub fn totp(key: &[u8], t: u64, p: &Params) -> Zeroizing<String> {
    hotp(key, t / p.period.max(1), p.algorithm, p.digits)
}

/// The time step a `passcode` is valid for at unix time `t` (the current
/// step, or one within `skew` of it), or `None`. Every candidate is computed
/// and compared in constant time, so timing tells nothing of which matched.
pub fn verify(key: &[u8], passcode: &str, t: u64, p: &Params) -> Option<u64> {
    if passcode.len() != p.digits as usize || !passcode.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = t / p.period.max(1);
    let mut found = None;
    for step in now.saturating_sub(p.skew)..=now.saturating_add(p.skew) {
        let code = hotp(key, step, p.algorithm, p.digits);
        if crate::util::ct_eq(code.as_bytes(), passcode.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what `otpauth://` URLs carry).
pub fn base32(data: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(data.len().div_ceil(5) * 8));
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(B32[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
        buf &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(B32[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Random key bytes for a new secret.
pub fn random_key(size: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut key = Zeroizing::new(vec![0u8; size]);
    aws_lc_rs::rand::fill(&mut key).map_err(|_| Error::internal("random source failed"))?;
    Ok(key)
}

/// Go's `url.PathEscape`-style escaping for the label, `url.QueryEscape` for values.
fn escape(s: &str, query: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' if query => out.push('+'),
            b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b',' | b';' if !query => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The enrolment URL, as Vault's (pquerna/otp) key URL:
/// `otpauth://totp/<issuer>:<account>?algorithm=..&digits=..&issuer=..&period=..&secret=..`.
pub fn otpauth_url(issuer: &str, account: &str, key: &[u8], p: &Params) -> Zeroizing<String> {
    let secret = base32(key);
    Zeroizing::new(format!(
        "otpauth://totp/{}:{}?algorithm={}&digits={}&issuer={}&period={}&secret={}",
        escape(issuer, false),
        escape(account, false),
        p.algorithm.as_str(),
        p.digits,
        escape(issuer, true),
        p.period,
        secret.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED1: &[u8] = b"12345678901234567890";
    const SEED256: &[u8] = b"12345678901234567890123456789012";
    const SEED512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn p(algorithm: Algorithm, digits: u32) -> Params {
        Params { algorithm, digits, period: 30, skew: 0 }
    }

    /// RFC 4226 appendix D: HOTP-SHA1, 6 digits, counters 0..9.
    #[test]
    fn rfc4226_hotp_vectors() {
        let want = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (c, w) in want.iter().enumerate() {
            assert_eq!(hotp(SEED1, c as u64, Algorithm::Sha1, 6).as_str(), *w, "counter {c}");
        }
    }

    /// RFC 6238 appendix B: every time and algorithm, 8 digits.
    #[test]
    fn rfc6238_totp_vectors() {
        let rows: &[(u64, &str, &str, &str)] = &[
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, s1, s256, s512) in rows {
            assert_eq!(totp(SEED1, *t, &p(Algorithm::Sha1, 8)).as_str(), *s1, "sha1 t={t}");
            assert_eq!(totp(SEED256, *t, &p(Algorithm::Sha256, 8)).as_str(), *s256, "sha256 t={t}");
            assert_eq!(totp(SEED512, *t, &p(Algorithm::Sha512, 8)).as_str(), *s512, "sha512 t={t}");
            // verify finds the step the code belongs to
            assert_eq!(verify(SEED1, s1, *t, &p(Algorithm::Sha1, 8)), Some(t / 30));
        }
        // 6 digits are the last 6 of the 8 (same truncation, smaller modulus)
        assert_eq!(totp(SEED1, 59, &p(Algorithm::Sha1, 6)).as_str(), "287082");
    }

    #[test]
    fn verify_honours_skew_period_and_shape() {
        let mut params = p(Algorithm::Sha1, 6);
        let t = 1_000_000_000;
        let prev = totp(SEED1, t - 30, &params);
        let next = totp(SEED1, t + 30, &params);
        let far = totp(SEED1, t - 60, &params);
        assert_eq!(verify(SEED1, &prev, t, &params), None, "skew 0: only the current step");
        params.skew = 1;
        assert_eq!(verify(SEED1, &prev, t, &params), Some(t / 30 - 1));
        assert_eq!(verify(SEED1, &next, t, &params), Some(t / 30 + 1));
        assert_eq!(verify(SEED1, &far, t, &params), None, "two steps away");
        let now = totp(SEED1, t, &params);
        assert_eq!(verify(SEED1, &format!("{}0", now.as_str()), t, &params), None, "wrong length");
        assert_eq!(verify(SEED1, "12a456", t, &params), None, "not digits");
        assert_eq!(verify(SEED1, "", t, &params), None);
        params.period = 60;
        assert_eq!(verify(SEED1, &totp(SEED1, t, &params), t + 59 - (t % 60), &params), Some(t / 60));
        // step 0 with skew does not underflow
        assert_eq!(verify(SEED1, &totp(SEED1, 0, &params), 0, &params), Some(0));
    }

    #[test]
    fn base32_matches_rfc4648() {
        let cases: &[(&[u8], &str)] = &[(b"", ""), (b"f", "MY"), (b"fo", "MZXQ"), (b"foo", "MZXW6"), (b"foob", "MZXW6YQ"), (b"fooba", "MZXW6YTB"), (b"foobar", "MZXW6YTBOI")];
        for (i, o) in cases {
            assert_eq!(base32(i).as_str(), *o);
        }
        assert_eq!(base32(SEED1).as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn otpauth_url_is_vaults_shape() {
        let params = Params { algorithm: Algorithm::Sha256, digits: 8, period: 30, skew: 1 };
        let url = otpauth_url("My Org", "e-1", SEED1, &params);
        assert_eq!(url.as_str(), "otpauth://totp/My%20Org:e-1?algorithm=SHA256&digits=8&issuer=My+Org&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(random_key(20).unwrap().len(), 20);
        assert_ne!(random_key(20).unwrap(), random_key(20).unwrap());
    }
}
