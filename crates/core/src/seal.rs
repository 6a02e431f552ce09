//! The Shamir seal: the unseal key (the KEK that wraps the root key) is split
//! into `shares` pieces of which `threshold` rebuild it.
//!
//! Share encoding follows Vault's: the y-values followed by the x-coordinate
//! as the last byte, so a share of a 32-byte key is 33 bytes. With one share
//! the share is the key itself (as in Vault).

use crate::barrier::KeyBytes;
use crate::error::{Error, Result};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use vsss_rs::Gf256;
use zeroize::Zeroizing;

/// Persisted (in the clear) at `core/seal-config`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SealConfig {
    #[serde(rename = "type")]
    pub kind: String,
    pub secret_shares: u8,
    pub secret_threshold: u8,
}

impl SealConfig {
    /// Vault's validation rules for `sys/init`.
    pub fn shamir(shares: i64, threshold: i64) -> Result<SealConfig> {
        if shares < 1 {
            return Err(Error::invalid("invalid seal configuration: shares must be at least one"));
        }
        if threshold < 1 {
            return Err(Error::invalid("invalid seal configuration: threshold must be at least one"));
        }
        if shares > 255 {
            return Err(Error::invalid("invalid seal configuration: shares must be less than 256"));
        }
        if threshold > shares {
            return Err(Error::invalid("invalid seal configuration: threshold cannot be larger than shares"));
        }
        if shares > 1 && threshold == 1 {
            return Err(Error::invalid(
                "invalid seal configuration: threshold must be greater than one for multiple shares",
            ));
        }
        Ok(SealConfig { kind: "shamir".into(), secret_shares: shares as u8, secret_threshold: threshold as u8 })
    }
}

/// aws-lc-rs's system RNG presented as a `rand_core` RNG for vsss-rs.
struct AwsRng(SystemRandom);

impl rand_core::TryRng for AwsRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> std::result::Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> std::result::Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Infallible> {
        // AWS-LC's RAND_bytes aborts the process rather than fail, so this
        // cannot be reached with an error in practice.
        self.0.fill(dst).expect("system random source");
        Ok(())
    }
}

impl rand_core::TryCryptoRng for AwsRng {}

/// Split `key` into shares (Vault encoding).
pub fn split(key: &KeyBytes, shares: u8, threshold: u8) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    if shares == 1 {
        return Ok(vec![Zeroizing::new(key.0.to_vec())]);
    }
    let raw = Gf256::split_bytes(threshold as usize, shares as usize, key.0, AwsRng(SystemRandom::new()))
        .map_err(|e| Error::internal(format!("shamir split failed: {e:?}")))?;
    Ok(raw
        .into_iter()
        .map(|s| {
            // vsss-rs: [x, y...] -> Vault: [y..., x]
            let s = Zeroizing::new(s);
            let mut v = Zeroizing::new(Vec::with_capacity(s.len()));
            v.extend_from_slice(&s[1..]);
            v.push(s[0]);
            v
        })
        .collect())
}

/// Rebuild the key from shares. Wrong shares give a wrong key, which the
/// caller detects when the root key fails to decrypt.
pub fn combine(shares: &[Zeroizing<Vec<u8>>]) -> Result<KeyBytes> {
    if shares.len() == 1 {
        return KeyBytes::from_slice(&shares[0]).ok_or_else(|| Error::invalid("invalid key length"));
    }
    let converted: Vec<Vec<u8>> = shares
        .iter()
        .map(|s| {
            let mut v = Vec::with_capacity(s.len());
            if let Some((x, ys)) = s.split_last() {
                v.push(*x);
                v.extend_from_slice(ys);
            }
            v
        })
        .collect();
    let converted = Zeroizing::new(converted);
    let mut ids: Vec<u8> = converted.iter().filter_map(|s| s.first().copied()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != converted.len() {
        return Err(Error::invalid("duplicate unseal key share"));
    }
    let key = Zeroizing::new(
        Gf256::combine_bytes(&*converted).map_err(|_| Error::invalid("failed to combine unseal key shares"))?,
    );
    KeyBytes::from_slice(&key).ok_or_else(|| Error::invalid("invalid key length"))
}

/// Decode a share given as hex or base64 (`sys/unseal` accepts both).
pub fn decode_share(s: &str) -> Result<Zeroizing<Vec<u8>>> {
    use base64::Engine;
    let s = s.trim();
    if let Ok(b) = hex::decode(s)
        && (16..=33).contains(&b.len())
    {
        return Ok(Zeroizing::new(b));
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map(Zeroizing::new)
        .map_err(|_| Error::invalid("'key' must be a valid hex or base64 string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_combine_any_threshold_subset() {
        let key = KeyBytes::random().unwrap();
        let shares = split(&key, 5, 3).unwrap();
        assert_eq!(shares.len(), 5);
        assert!(shares.iter().all(|s| s.len() == 33));
        let pick = vec![shares[4].clone(), shares[0].clone(), shares[2].clone()];
        assert_eq!(combine(&pick).unwrap().0, key.0);
        // Two shares of a 3-threshold split give a different (wrong) key.
        let two = vec![shares[1].clone(), shares[3].clone()];
        assert_ne!(combine(&two).map(|k| k.0).unwrap_or([0; 32]), key.0);
    }

    #[test]
    fn single_share_is_the_key() {
        let key = KeyBytes::random().unwrap();
        let shares = split(&key, 1, 1).unwrap();
        assert_eq!(&shares[0][..], &key.0[..]);
        assert_eq!(combine(&shares).unwrap().0, key.0);
    }

    #[test]
    fn config_validation() {
        assert!(SealConfig::shamir(5, 3).is_ok());
        assert!(SealConfig::shamir(3, 5).is_err());
        assert!(SealConfig::shamir(3, 1).is_err());
        assert!(SealConfig::shamir(0, 0).is_err());
        assert!(SealConfig::shamir(256, 3).is_err());
    }

    #[test]
    fn decode_hex_and_base64() {
        let raw = vec![7u8; 33];
        assert_eq!(&decode_share(&hex::encode(&raw)).unwrap()[..], &raw[..]);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert_eq!(&decode_share(&b64).unwrap()[..], &raw[..]);
        assert!(decode_share("not valid!!").is_err());
    }
}
