//! The signing key and the JWT the `jwt-login` workload logs in with: an ES256 (P-256)
//! key generated per run with aws-lc-rs, its public key as the PEM a jwt mount's
//! `jwt_validation_pubkeys` takes, and one compact JWS with a long expiry.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, a 65-byte
/// uncompressed point in the BIT STRING); the point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl SigningKey {
    pub fn generate() -> anyhow::Result<SigningKey> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| anyhow::anyhow!("generating the ES256 key"))?;
        Ok(SigningKey { pair, rng: SystemRandom::new() })
    }

    /// The public key as a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo).
    pub fn public_pem(&self) -> String {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.pair.public_key().as_ref());
        let b64 = STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// A compact JWS (`ES256`) over `claims`.
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "typ": "JWT"}).to_string());
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{body}");
        let sig = self.pair.sign(&self.rng, input.as_bytes()).map_err(|_| anyhow::anyhow!("signing the JWT"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }
}

/// A random lower-case hex suffix for mount paths (`bench-approle-1f2e3d4c`), so a run
/// never collides with a mount someone else made.
pub fn random_suffix() -> anyhow::Result<String> {
    let mut b = [0u8; 4];
    SystemRandom::new().fill(&mut b).map_err(|_| anyhow::anyhow!("reading random bytes"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    #[test]
    fn signed_token_verifies_with_the_published_key() {
        let key = SigningKey::generate().unwrap();
        let jwt = key.sign(&json!({"sub": "bench", "aud": "coffer-bench"})).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        // The PEM's DER is the SPKI prefix and the key's point, and verifies the signature.
        let pem = key.public_pem();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(b64).unwrap();
        assert_eq!(&der[..P256_SPKI_PREFIX.len()], &P256_SPKI_PREFIX);
        let point = &der[P256_SPKI_PREFIX.len()..];
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let msg = format!("{}.{}", parts[0], parts[1]);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(msg.as_bytes(), &sig).unwrap();
        assert!(UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(b"tampered", &sig).is_err());
        assert_eq!(random_suffix().unwrap().len(), 8);
    }
}
