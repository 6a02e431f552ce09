//! identity/oidc through `Core::handle`: tokens for a logged-in entity, the
//! published JWKS that verifies them, rotation and expiry, and Vault's refusals.

use super::*;
use crate::core::{Core, Incoming};
use crate::identity::tests::{as_token, call, login, login_core, write};
use crate::logical::{Data, Operation};
use base64::Engine;

fn err<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(d) => panic!("expected an error, got {d:?}"),
    }
}

/// GET without a token (the unauthenticated documents).
async fn anonymous(core: &Core, path: &str) -> Value {
    let r = core
        .handle(Incoming { operation: Operation::Read, path: path.into(), data: Data::new(), token: None, wrap_ttl: None, remote_addr: Some("127.0.0.1:4000".parse().unwrap()), headers: vec![] })
        .await
        .unwrap();
    serde_json::from_slice(&r.raw.expect("a raw JSON body").body).unwrap()
}

async fn jwks(core: &Core) -> Vec<Value> {
    anonymous(core, "identity/oidc/.well-known/keys").await["keys"].as_array().unwrap().clone()
}

fn kids(keys: &[Value]) -> Vec<String> {
    keys.iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

async fn introspect(core: &Core, token: &str) -> Value {
    let r = call(core, Operation::Update, "identity/oidc/introspect", json!({"token": token})).await.unwrap();
    serde_json::from_slice(&r.raw.unwrap().body).unwrap()
}

fn store(core: &Core) -> Store {
    Store::new(core.active().unwrap().identity().view().clone(), None)
}

/// A key `k` (allowed for every client), a role `r` on it, and a logged-in entity's token.
async fn setup(core: &Core, alg: &str) -> crate::logical::Auth {
    write(core, "identity/oidc/config", json!({"issuer": "https://127.0.0.1:8200"})).await.unwrap();
    write(core, "identity/oidc/key/k", json!({"algorithm": alg, "allowed_client_ids": "*"})).await.unwrap();
    write(core, "identity/oidc/role/r", json!({"key": "k", "ttl": "1h"})).await.unwrap();
    // the fake login's token policy may ask for identity tokens
    write(core, "sys/policies/acl/tp", json!({"policy": r#"path "identity/oidc/token/*" { capabilities = ["read"] }"#})).await.unwrap();
    login(core, "alice", json!({})).await
}

async fn id_token(core: &Core, token: &str) -> Data {
    as_token(core, token, Operation::Read, "identity/oidc/token/r").await.unwrap().data.unwrap()
}

#[tokio::test]
async fn a_signed_token_verifies_against_the_published_jwks_for_every_algorithm() {
    let (core, _) = login_core().await;
    for alg in jws::ALGORITHMS {
        let auth = setup(&core, alg).await;
        let data = id_token(&core, &auth.client_token).await;
        let role = call(&core, Operation::Read, "identity/oidc/role/r", json!({})).await.unwrap().data.unwrap();
        assert_eq!(data["client_id"], role["client_id"]);
        assert_eq!(data["ttl"], 3600);
        let tok = data["token"].as_str().unwrap();
        let parsed = jws::parse(tok).unwrap();
        assert_eq!(parsed.alg, *alg);
        let keys = jwks(&core).await;
        assert!(keys.iter().any(|k| jws::verify(&parsed, k)), "{alg}: no published key verifies the token");
        let c = &parsed.claims;
        assert_eq!(c["iss"], "https://127.0.0.1:8200/v1/identity/oidc");
        assert_eq!(c["sub"], auth.entity_id.as_str());
        assert_eq!(c["aud"], role["client_id"]);
        assert_eq!(c["namespace"], "root");
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 3600);
        assert_eq!(introspect(&core, tok).await, json!({"active": true}));
        // the header names the signing key
        let header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tok.split('.').next().unwrap()).unwrap()).unwrap();
        assert!(kids(&keys).contains(&header["kid"].as_str().unwrap().to_string()));
    }
}

#[tokio::test]
async fn rotation_keeps_the_previous_key_verifiable_until_its_verification_ttl() {
    let (core, _) = login_core().await;
    let auth = setup(&core, "RS256").await;
    let tok = id_token(&core, &auth.client_token).await["token"].as_str().unwrap().to_string();
    let before = kids(&jwks(&core).await);
    assert_eq!(before.len(), 2, "current and next are published");
    write(&core, "identity/oidc/key/k/rotate", json!({"verification_ttl": "2h"})).await.unwrap();
    let after = kids(&jwks(&core).await);
    assert_eq!(after.len(), 3, "previous, current, next");
    assert!(before.iter().all(|k| after.contains(k)));
    assert_eq!(introspect(&core, &tok).await, json!({"active": true}));
    // the new token is signed by the key that was `next`
    let tok2 = id_token(&core, &auth.client_token).await["token"].as_str().unwrap().to_string();
    assert_ne!(tok2.split('.').next(), tok.split('.').next());
    // an hour on, still there; past two hours the rotated-out key is gone
    let s = store(&core);
    keys::expire(&s, now_unix() + 3600).await.unwrap();
    assert_eq!(kids(&jwks(&core).await).len(), 3);
    keys::expire(&s, now_unix() + 2 * 3600 + 5).await.unwrap();
    let later = kids(&jwks(&core).await);
    assert_eq!(later.len(), 2);
    assert!(!later.contains(&before[0]) || !later.contains(&before[1]));
    assert_eq!(introspect(&core, &tok).await, json!({"active": false, "error": "unable to validate the token signature"}));
    assert_eq!(introspect(&core, &tok2).await, json!({"active": true}));
}

#[tokio::test]
async fn a_due_key_is_rotated_by_the_periodic_pass() {
    let (core, _) = login_core().await;
    setup(&core, "EdDSA").await;
    let s = store(&core);
    let k0 = s.get_key("k").await.unwrap().unwrap();
    keys::rotate_due(&s, now_unix()).await.unwrap();
    assert_eq!(s.get_key("k").await.unwrap().unwrap().signing_key.unwrap().kid, k0.signing_key.as_ref().unwrap().kid, "not due yet");
    keys::rotate_due(&s, k0.next_rotation + 1).await.unwrap();
    let k1 = s.get_key("k").await.unwrap().unwrap();
    assert_eq!(k1.signing_key.as_ref().unwrap().kid, k0.next_signing_key.as_ref().unwrap().kid);
    assert_eq!(k1.next_rotation, k0.next_rotation + 1 + DAY as i64);
    let old = k1.key_ring.iter().find(|e| e.key_id == k0.signing_key.as_ref().unwrap().kid).unwrap();
    assert_eq!(old.expire_at, Some(k0.next_rotation + 1 + DAY as i64));
}

#[tokio::test]
async fn a_key_in_use_cannot_be_deleted_and_the_default_key_never() {
    let (core, _) = login_core().await;
    setup(&core, "ES256").await;
    write(&core, "identity/oidc/role/r2", json!({"key": "k"})).await.unwrap();
    let e = err(call(&core, Operation::Delete, "identity/oidc/key/k", json!({})).await);
    assert_eq!(e, r#"unable to delete key "k" because it is currently referenced by these roles: r, r2"#);
    assert!(call(&core, Operation::Read, "identity/oidc/key/k", json!({})).await.is_ok(), "still there");
    let e = err(call(&core, Operation::Delete, "identity/oidc/key/default", json!({})).await);
    assert_eq!(e, r#"deletion of key "default" not allowed"#);
    for r in ["r", "r2"] {
        call(&core, Operation::Delete, &format!("identity/oidc/role/{r}"), json!({})).await.unwrap();
    }
    call(&core, Operation::Delete, "identity/oidc/key/k", json!({})).await.unwrap();
    assert!(matches!(call(&core, Operation::Read, "identity/oidc/key/k", json!({})).await, Err(Error::NotFound)));
    assert!(jwks(&core).await.is_empty());
    assert!(store(&core).list_public().await.unwrap().is_empty(), "public keys of a deleted key are removed");
    let keys = call(&core, Operation::List, "identity/oidc/key/", json!({})).await.unwrap().data.unwrap();
    assert_eq!(keys["keys"], json!(["default"]));
}

#[tokio::test]
async fn a_client_id_the_key_does_not_allow_and_a_token_without_entity_are_refused() {
    let (core, _) = login_core().await;
    let auth = setup(&core, "RS256").await;
    write(&core, "identity/oidc/key/k2", json!({})).await.unwrap();
    write(&core, "identity/oidc/role/r", json!({"key": "k2", "client_id": "cid"})).await.unwrap();
    let e = err(as_token(&core, &auth.client_token, Operation::Read, "identity/oidc/token/r").await);
    assert_eq!(e, r#"the key "k2" does not list the client ID of the role "r" as an allowed client ID"#);
    write(&core, "identity/oidc/key/k2", json!({"allowed_client_ids": ["other", "cid"]})).await.unwrap();
    let data = id_token(&core, &auth.client_token).await;
    assert_eq!(data["client_id"], "cid");
    // the root token has no entity
    let e = err(call(&core, Operation::Read, "identity/oidc/token/r", json!({})).await);
    assert_eq!(e, "no entity associated with the request's token");
    let e = err(call(&core, Operation::Read, "identity/oidc/token/nope", json!({})).await);
    assert_eq!(e, r#"role "nope" not found"#);
    // introspect with the wrong audience
    let r = call(&core, Operation::Update, "identity/oidc/introspect", json!({"token": data["token"], "client_id": "x"})).await.unwrap();
    let v: Value = serde_json::from_slice(&r.raw.unwrap().body).unwrap();
    assert_eq!(v["error"], "error validating claims: go-jose/go-jose/jwt: validation failed, invalid audience claim (aud)");
}

#[tokio::test]
async fn role_templates_fill_entity_and_group_claims() {
    let (core, _) = login_core().await;
    let auth = setup(&core, "RS256").await;
    write(&core, "identity/group", json!({"name": "eng", "member_entity_ids": [auth.entity_id]})).await.unwrap();
    let t = r#"{"groups": {{identity.entity.groups.names}}, "name": {{identity.entity.name}}, "iat": 1}"#;
    let e = err(write(&core, "identity/oidc/role/r", json!({"key": "k", "template": t})).await);
    assert!(e.starts_with(r#"top level key "iat" not allowed. Restricted keys: iat, aud, exp"#), "{e}");
    let t = r#"{"groups": {{identity.entity.groups.names}}, "name": {{identity.entity.name}}}"#;
    // base64 is accepted too, as in Vault
    let b64 = base64::engine::general_purpose::STANDARD.encode(t);
    write(&core, "identity/oidc/role/r", json!({"key": "k", "template": b64})).await.unwrap();
    let role = call(&core, Operation::Read, "identity/oidc/role/r", json!({})).await.unwrap().data.unwrap();
    assert_eq!(role["template"], t);
    let data = id_token(&core, &auth.client_token).await;
    let p = jws::parse(data["token"].as_str().unwrap()).unwrap();
    assert_eq!(p.claims["groups"], json!(["eng"]));
    let entity = core.active().unwrap().identity().entity(&auth.entity_id).unwrap();
    assert_eq!(p.claims["name"], entity.name.as_str());
    // a disabled entity's token is not active
    write(&core, &format!("identity/entity/id/{}", auth.entity_id), json!({"disabled": true})).await.unwrap();
    assert_eq!(introspect(&core, data["token"].as_str().unwrap()).await["error"], "entity is disabled");
}

#[tokio::test]
async fn refused_writes_change_nothing() {
    let (core, _) = login_core().await;
    for (body, msg) in [
        (json!({"algorithm": "HS256"}), r#"unknown signing algorithm "HS256""#),
        (json!({"rotation_period": "30s"}), "rotation_period must be at least one minute"),
        (json!({"rotation_period": "1m", "verification_ttl": "11m"}), "verification_ttl cannot be longer than 10x rotation_period"),
    ] {
        assert_eq!(err(write(&core, "identity/oidc/key/bad", body).await), msg);
        assert!(matches!(call(&core, Operation::Read, "identity/oidc/key/bad", json!({})).await, Err(Error::NotFound)));
    }
    write(&core, "identity/oidc/key/k", json!({"verification_ttl": "1h"})).await.unwrap();
    for (body, msg) in [
        (json!({}), "the key parameter is required"),
        (json!({"key": "nope"}), r#"cannot find key "nope""#),
        (json!({"key": "k", "ttl": "2h"}), "a role's token ttl cannot be longer than the verification_ttl of the key it references"),
        (json!({"key": "k", "template": "{bad"}), "error parsing template JSON: "),
    ] {
        let e = err(write(&core, "identity/oidc/role/r", body).await);
        assert!(e.starts_with(msg), "{e}");
        assert!(matches!(call(&core, Operation::Read, "identity/oidc/role/r", json!({})).await, Err(Error::NotFound)));
    }
    let e = err(write(&core, "identity/oidc/config", json!({"issuer": "https://example.com/path"})).await);
    assert!(e.starts_with("invalid issuer"), "{e}");
    let c = call(&core, Operation::Read, "identity/oidc/config", json!({})).await.unwrap().data.unwrap();
    assert_eq!(c["issuer"], "");
    let e = err(write(&core, "identity/oidc/key/nope/rotate", json!({})).await);
    assert_eq!(e, r#"no named key found at "nope""#);
}

#[tokio::test]
async fn the_documents_are_served_without_a_token() {
    let (core, _) = login_core().await;
    let d = anonymous(&core, "identity/oidc/.well-known/openid-configuration").await;
    assert_eq!(d["issuer"], "/v1/identity/oidc");
    write(&core, "identity/oidc/config", json!({"issuer": "http://127.0.0.1:8200"})).await.unwrap();
    let d = anonymous(&core, "identity/oidc/.well-known/openid-configuration").await;
    assert_eq!(d["jwks_uri"], "http://127.0.0.1:8200/v1/identity/oidc/.well-known/keys");
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(jws::ALGORITHMS));
    assert_eq!(jwks(&core).await, Vec::<Value>::new());
    // the rest needs a token
    let r = core
        .handle(Incoming { operation: Operation::Read, path: "identity/oidc/config".into(), data: Data::new(), token: None, wrap_ttl: None, remote_addr: Some("127.0.0.1:4000".parse().unwrap()), headers: vec![] })
        .await;
    assert_eq!(err(r), "permission denied");
}

#[tokio::test]
async fn a_stored_private_key_never_shows_in_debug_output() {
    let (core, _) = login_core().await;
    setup(&core, "EdDSA").await;
    let k = store(&core).get_key("k").await.unwrap().unwrap();
    let pkcs8 = base64::engine::general_purpose::STANDARD.encode(&*k.signing_key.as_ref().unwrap().private.0);
    assert!(serde_json::to_string(&k).unwrap().contains(&pkcs8), "the record (inside the barrier) holds it");
    assert!(!format!("{k:?}").contains(&pkcs8));
    assert!(format!("{k:?}").contains("[redacted]"));
}

/// JWKS reads (which drop expired public keys) running while keys are being
/// created never delete the public half of a key not yet recorded in its ring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_reads_during_key_creation_keep_every_public_key() {
    let (core, _) = login_core().await;
    let creators: Vec<_> = (0..3)
        .map(|i| {
            let core = core.clone();
            tokio::spawn(async move { write(&core, &format!("identity/oidc/key/race{i}"), json!({"algorithm": "RS256"})).await.unwrap() })
        })
        .collect();
    // parses (so introspect reaches the key set), verifies under no key
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let forged = format!("{}.{}.{}", b64(br#"{"alg":"RS256"}"#), b64(b"{}"), b64(b"sig"));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (core, done) = (core.clone(), done.clone());
        tokio::spawn(async move {
            // bounded: stops with the creators, or after 2000 rounds
            for _ in 0..2000 {
                if done.load(std::sync::atomic::Ordering::Acquire) {
                    break;
                }
                let r = call(&core, Operation::Update, "identity/oidc/introspect", json!({"token": forged})).await.unwrap();
                let v: Value = serde_json::from_slice(&r.raw.unwrap().body).unwrap();
                assert_eq!(v["error"], "unable to validate the token signature");
                tokio::task::yield_now().await;
            }
        })
    };
    for c in creators {
        c.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    reader.await.unwrap();
    let s = store(&core);
    for i in 0..3 {
        let k = s.get_key(&format!("race{i}")).await.unwrap().unwrap();
        for e in &k.key_ring {
            assert!(s.get_public(&e.key_id).await.unwrap().is_some(), "race{i}: public key {} was deleted", e.key_id);
        }
    }
}
