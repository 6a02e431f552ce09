//! Login end to end inside the backend (no HTTP): what the [`Login`] carries
//! for the identity stage (alias name and metadata, group aliases), with an
//! Ed25519 key made here and JWTs signed by jsonwebtoken.

use super::jwt_factory;
use base64::Engine;
use coffer_core::logical::Login;
use coffer_core::{Error, Operation, Result};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

struct Harness {
    mount: crate::testutil::Harness,
    signing: EncodingKey,
    public_pem: String,
}

impl Harness {
    async fn new() -> Harness {
        let mount = crate::testutil::Harness::mount("jwt", jwt_factory(), Duration::from_secs(3600)).await;
        // An Ed25519 key pair; its SubjectPublicKeyInfo is a fixed prefix and the 32-byte key.
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
        spki.extend_from_slice(pair.public_key().as_ref());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&spki);
        let public_pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        let signing = EncodingKey::from_ed_der(pkcs8.as_ref());
        Harness { mount, signing, public_pem }
    }

    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Option<coffer_core::Response>> {
        self.mount.call(op, path, body).await
    }

    fn sign(&self, claims: Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.signing).unwrap()
    }

    async fn login(&self, claims: Value) -> Result<Login> {
        let r = self.call(Operation::Update, "login", json!({"role": "r", "jwt": self.sign(claims)})).await?;
        Ok(r.and_then(|r| r.login).expect("a Login"))
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn the_login_names_the_alias_its_metadata_and_the_groups() {
    let h = Harness::new().await;
    h.call(Operation::Update, "config", json!({"jwt_validation_pubkeys": [h.public_pem]})).await.unwrap();
    h.call(
        Operation::Create,
        "role/r",
        json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": "aud1", "groups_claim": "/org/teams",
               "claim_mappings": {"/org/name": "org", "missing": "never"}, "token_policies": "p1"}),
    )
    .await
    .unwrap();
    let l = h
        .login(json!({"sub": "octocat", "aud": "aud1", "exp": now() + 60, "org": {"name": "octo", "teams": ["ops", "dev", "ops"]}}))
        .await
        .unwrap();
    let alias = l.alias.expect("an alias");
    assert_eq!(alias.name, "octocat");
    // As OpenBao: the alias metadata is the token's, role included.
    assert_eq!(alias.metadata, BTreeMap::from([("org".to_string(), "octo".to_string()), ("role".to_string(), "r".to_string())]));
    assert_eq!(l.metadata, BTreeMap::from([("org".to_string(), "octo".to_string()), ("role".to_string(), "r".to_string())]));
    assert_eq!(l.group_aliases, ["ops", "dev"], "deduplicated, in claim order");
    assert_eq!(l.display_name, "octocat");
    assert_eq!(l.policies, ["p1"]);

    // A groups claim that is missing, or holds a non-string, refuses the login.
    let e = h.login(json!({"sub": "octocat", "aud": "aud1", "exp": now() + 60})).await.unwrap_err();
    assert!(matches!(&e, Error::InvalidRequest(m) if m == "\"/org/teams\" claim not found in token"), "{e:?}");
    let e = h.login(json!({"sub": "o", "aud": "aud1", "exp": now() + 60, "org": {"teams": [1]}})).await.unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)));
}

#[tokio::test]
async fn a_token_over_the_size_cap_is_refused_before_parsing() {
    let h = Harness::new().await;
    h.call(Operation::Update, "config", json!({"jwt_validation_pubkeys": [h.public_pem]})).await.unwrap();
    h.call(Operation::Create, "role/r", json!({"role_type": "jwt", "user_claim": "sub", "bound_subject": "s"})).await.unwrap();
    let big = h.sign(json!({"sub": "s", "exp": now() + 60, "pad": "x".repeat(super::keys::MAX_JWT_BYTES)}));
    let e = h.call(Operation::Update, "login", json!({"role": "r", "jwt": big})).await.unwrap_err();
    assert!(e.to_string().contains("token larger than"), "{e}");
}
