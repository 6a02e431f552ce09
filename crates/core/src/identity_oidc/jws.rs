//! Signing keys and compact JWS: key generation (aws-lc-rs: RSA 2048 for
//! RS256/384/512, P-256/P-384/P-521 for ES256/384/512, Ed25519 for EdDSA),
//! the public JWK of each, signing, and verification of a token against a
//! published JWK set.
//!
//! A private key lives only as PKCS#8 in a zeroizing buffer, serialised into
//! the identity mount's (barrier-encrypted) storage view; `Debug` prints
//! `[redacted]`.

use crate::error::{Error, Result};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

/// The algorithms Vault accepts for a named key, in its order.
pub const ALGORITHMS: &[&str] = &["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"];

/// PKCS#8 bytes of a private key: zeroized on drop, base64 in the stored record.
#[derive(Clone)]
pub struct PrivateKey(pub(crate) Zeroizing<Vec<u8>>);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for PrivateKey {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*self.0));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for PrivateKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)?;
        Ok(PrivateKey(Zeroizing::new(bytes)))
    }
}

/// One generated key: its id, algorithm, private half and public JWK.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SigningKey {
    pub kid: String,
    pub alg: String,
    pub private: PrivateKey,
    /// The public JWK as published in `.well-known/keys`.
    pub public: Value,
}

fn unspecified(what: &str) -> Error {
    Error::internal(format!("oidc: {what}"))
}

/// Generate a key for `alg` (CPU-heavy for RSA: call from a blocking thread).
pub fn generate(alg: &str) -> Result<SigningKey> {
    let kid = crate::util::random_uuid();
    let (private, public) = match alg {
        "RS256" | "RS384" | "RS512" => {
            let kp = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| unspecified("RSA key generation failed"))?;
            let der = kp.as_der().map_err(|_| unspecified("RSA key encoding failed"))?;
            let (n, e) = rsa_public_components(kp.public_key().as_ref()).ok_or_else(|| unspecified("RSA public key encoding"))?;
            let public = json!({"use": "sig", "kty": "RSA", "kid": kid, "alg": alg, "n": B64.encode(n), "e": B64.encode(e)});
            (Zeroizing::new(der.as_ref().to_vec()), public)
        }
        "ES256" | "ES384" | "ES512" => {
            let (signing, crv) = ec_params(alg);
            let kp = EcdsaKeyPair::generate(signing).map_err(|_| unspecified("EC key generation failed"))?;
            let doc = kp.to_pkcs8v1().map_err(|_| unspecified("EC key encoding failed"))?;
            let point = kp.public_key().as_ref();
            // Uncompressed point: 0x04 || X || Y.
            let half = (point.len() - 1) / 2;
            let public = json!({"use": "sig", "kty": "EC", "kid": kid, "crv": crv, "alg": alg,
                "x": B64.encode(&point[1..1 + half]), "y": B64.encode(&point[1 + half..])});
            (Zeroizing::new(doc.as_ref().to_vec()), public)
        }
        "EdDSA" => {
            let kp = Ed25519KeyPair::generate().map_err(|_| unspecified("Ed25519 key generation failed"))?;
            let doc = kp.to_pkcs8v1().map_err(|_| unspecified("Ed25519 key encoding failed"))?;
            let public = json!({"use": "sig", "kty": "OKP", "kid": kid, "crv": "Ed25519", "alg": alg, "x": B64.encode(kp.public_key().as_ref())});
            (Zeroizing::new(doc.as_ref().to_vec()), public)
        }
        other => return Err(Error::invalid(format!("unknown signing algorithm {other:?}"))),
    };
    Ok(SigningKey { kid, alg: alg.to_string(), private: PrivateKey(private), public })
}

fn ec_params(alg: &str) -> (&'static signature::EcdsaSigningAlgorithm, &'static str) {
    match alg {
        "ES384" => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"),
        "ES512" => (&signature::ECDSA_P521_SHA512_FIXED_SIGNING, "P-521"),
        _ => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
    }
}

/// `n` and `e` of a PKCS#1 `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }`,
/// without the sign byte DER puts before a high bit.
fn rsa_public_components(der: &[u8]) -> Option<(&[u8], &[u8])> {
    fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&t, rest) = input.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            rest = &rest[n..];
            len
        };
        (rest.len() >= len).then(|| rest.split_at(len))
    }
    let (seq, _) = tlv(der, 0x30)?;
    let (n, rest) = tlv(seq, 0x02)?;
    let (e, _) = tlv(rest, 0x02)?;
    fn strip(mut v: &[u8]) -> &[u8] {
        while v.len() > 1 && v[0] == 0 {
            v = &v[1..];
        }
        v
    }
    Some((strip(n), strip(e)))
}

/// Sign `payload` (the claims' JSON) as a compact JWS with this key.
pub fn sign(key: &SigningKey, payload: &[u8]) -> Result<String> {
    let header = json!({"alg": key.alg, "kid": key.kid});
    let mut input = B64.encode(serde_json::to_vec(&header)?);
    input.push('.');
    input.push_str(&B64.encode(payload));
    let pkcs8 = &*key.private.0;
    let sig: Vec<u8> = match key.alg.as_str() {
        "RS256" | "RS384" | "RS512" => {
            let kp = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| unspecified("stored RSA key rejected"))?;
            let enc: &'static dyn signature::RsaEncoding = match key.alg.as_str() {
                "RS384" => &signature::RSA_PKCS1_SHA384,
                "RS512" => &signature::RSA_PKCS1_SHA512,
                _ => &signature::RSA_PKCS1_SHA256,
            };
            let mut out = vec![0u8; kp.public_modulus_len()];
            kp.sign(enc, &SystemRandom::new(), input.as_bytes(), &mut out).map_err(|_| unspecified("RSA signing failed"))?;
            out
        }
        "ES256" | "ES384" | "ES512" => {
            let kp = EcdsaKeyPair::from_pkcs8(ec_params(&key.alg).0, pkcs8).map_err(|_| unspecified("stored EC key rejected"))?;
            kp.sign(&SystemRandom::new(), input.as_bytes()).map_err(|_| unspecified("EC signing failed"))?.as_ref().to_vec()
        }
        "EdDSA" => {
            let kp = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| unspecified("stored Ed25519 key rejected"))?;
            kp.sign(input.as_bytes()).as_ref().to_vec()
        }
        other => return Err(Error::internal(format!("oidc: unknown algorithm {other:?} on a stored key"))),
    };
    input.push('.');
    input.push_str(&B64.encode(sig));
    Ok(input)
}

/// A compact JWS split and decoded; the error is go-jose's text where it has one.
pub struct Parsed {
    pub alg: String,
    /// `header.payload`, the signed bytes.
    pub signing_input: String,
    pub signature: Vec<u8>,
    pub claims: Map<String, Value>,
}

pub fn parse(raw: &str) -> std::result::Result<Parsed, String> {
    let parts: Vec<&str> = raw.split('.').collect();
    if parts.len() != 3 {
        return Err("go-jose/go-jose: compact JWS format must have three parts".into());
    }
    let decode = |p: &str| B64.decode(p.trim_end_matches('=')).map_err(|e| e.to_string());
    let header: Map<String, Value> = serde_json::from_slice(&decode(parts[0])?).map_err(|e| e.to_string())?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default().to_string();
    if !ALGORITHMS.contains(&alg.as_str()) {
        return Err(format!("go-jose/go-jose: unexpected signature algorithm {alg:?}; expected {ALGORITHMS:?}"));
    }
    let signature = decode(parts[2])?;
    let claims: Map<String, Value> = serde_json::from_slice(&decode(parts[1])?).map_err(|e| e.to_string())?;
    Ok(Parsed { alg, signing_input: format!("{}.{}", parts[0], parts[1]), signature, claims })
}

/// Does the token verify under this public JWK?
pub fn verify(parsed: &Parsed, jwk: &Value) -> bool {
    let field = |k: &str| jwk.get(k).and_then(Value::as_str).and_then(|s| B64.decode(s).ok());
    if jwk.get("alg").and_then(Value::as_str) != Some(parsed.alg.as_str()) {
        return false;
    }
    let msg = parsed.signing_input.as_bytes();
    let sig = parsed.signature.as_slice();
    match parsed.alg.as_str() {
        "RS256" | "RS384" | "RS512" => {
            let (Some(n), Some(e)) = (field("n"), field("e")) else { return false };
            let params = match parsed.alg.as_str() {
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                _ => &signature::RSA_PKCS1_2048_8192_SHA256,
            };
            signature::RsaPublicKeyComponents { n: &n, e: &e }.verify(params, msg, sig).is_ok()
        }
        "ES256" | "ES384" | "ES512" => {
            let (Some(x), Some(y)) = (field("x"), field("y")) else { return false };
            let alg: &'static signature::EcdsaVerificationAlgorithm = match parsed.alg.as_str() {
                "ES384" => &signature::ECDSA_P384_SHA384_FIXED,
                "ES512" => &signature::ECDSA_P521_SHA512_FIXED,
                _ => &signature::ECDSA_P256_SHA256_FIXED,
            };
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            signature::UnparsedPublicKey::new(alg, &point).verify(msg, sig).is_ok()
        }
        "EdDSA" => {
            let Some(x) = field("x") else { return false };
            signature::UnparsedPublicKey::new(&signature::ED25519, &x).verify(msg, sig).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies_against_its_published_jwk() {
        for alg in ALGORITHMS {
            let k = generate(alg).unwrap();
            assert_eq!(k.public["alg"], *alg);
            assert_eq!(k.public["kid"], k.kid.as_str());
            assert!(k.public.get("d").is_none(), "{alg}: no private part in the JWK");
            let tok = sign(&k, br#"{"sub":"x"}"#).unwrap();
            let p = parse(&tok).unwrap();
            assert_eq!(p.claims["sub"], "x");
            assert!(verify(&p, &k.public), "{alg}");
            // another key of the same algorithm does not verify it
            let other = generate(alg).unwrap();
            assert!(!verify(&p, &other.public), "{alg}: a foreign key verifies");
            // a changed payload does not verify
            let mut parts: Vec<String> = tok.split('.').map(String::from).collect();
            parts[1] = B64.encode(br#"{"sub":"y"}"#);
            assert!(!verify(&parse(&parts.join(".")).unwrap(), &k.public), "{alg}: tampered payload");
        }
    }

    #[test]
    fn rsa_modulus_is_2048_bits_and_exponent_65537() {
        let k = generate("RS256").unwrap();
        let n = B64.decode(k.public["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        assert_eq!(k.public["e"], "AQAB");
        let p = generate("ES384").unwrap();
        assert_eq!((p.public["crv"].as_str(), B64.decode(p.public["x"].as_str().unwrap()).unwrap().len()), (Some("P-384"), 48));
    }

    #[test]
    fn private_key_round_trips_and_never_debug_prints() {
        let k = generate("ES256").unwrap();
        let stored = serde_json::to_string(&k).unwrap();
        let back: SigningKey = serde_json::from_str(&stored).unwrap();
        assert_eq!(&*back.private.0, &*k.private.0);
        assert!(format!("{k:?}").contains("[redacted]"));
        let tok = sign(&back, b"{}").unwrap();
        assert!(verify(&parse(&tok).unwrap(), &k.public));
    }

    #[test]
    fn malformed_tokens_are_refused_with_go_jose_text() {
        assert_eq!(parse("abc").err().unwrap(), "go-jose/go-jose: compact JWS format must have three parts");
        assert!(parse("a.b.c").is_err());
        let none = format!("{}.{}.", B64.encode(br#"{"alg":"none"}"#), B64.encode(b"{}"));
        assert!(parse(&none).err().unwrap().contains("unexpected signature algorithm"));
    }
}
