//! Setup for the login workloads (approle-login, jwt-login) and the entity workloads
//! (kv2-read-templated, kv2-read-entity-plain), and removal of the identity entities
//! their logins create (an entity outlives its auth mount, so teardown deletes it).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use hyper::Method;
use serde_json::{Value, json};

use crate::client::{ApiClient, Target, vault_errors};
use crate::jwt::{SigningKey, random_suffix};
use crate::setup::Cleanup;
use crate::workload::{APPROLE_ROLE, ENTITY_USER, JWT_AUDIENCE, JWT_ISSUER, JWT_ROLE, JWT_SUBJECT, Targets};

/// The minted JWT stays valid this long (a run never outlasts it).
const JWT_LIFETIME_SECS: u64 = 24 * 3600;
/// Password of the entity workloads' user (a throwaway, made and removed by the run).
const ENTITY_PASSWORD: &str = "coffer-bench-entity-password";

/// Enable an auth method of `kind` at `bench-<kind>-<random>`; it is disabled at teardown.
async fn enable_auth(api: &mut ApiClient, cleanup: &mut Cleanup, kind: &str) -> anyhow::Result<String> {
    let mount = format!("bench-{kind}-{}", random_suffix()?);
    let (status, value) = api.call(Method::POST, &format!("sys/auth/{mount}"), Some(&json!({"type": kind}))).await?;
    if !(200..300).contains(&status) {
        bail!("enabling auth/{mount}/ ({kind}): HTTP {status}: {}", vault_errors(&value));
    }
    cleanup.auth_mounts.push(mount.clone());
    Ok(mount)
}

/// approle-login: a role issuing `default` tokens and one secret id with unlimited uses.
pub async fn setup_approle(api: &mut ApiClient, cleanup: &mut Cleanup, targets: &mut Targets) -> anyhow::Result<()> {
    let mount = enable_auth(api, cleanup, "approle").await?;
    api.ok(
        Method::POST,
        &format!("auth/{mount}/role/{APPROLE_ROLE}"),
        Some(&json!({"token_policies": ["default"], "token_ttl": "10m", "secret_id_num_uses": 0, "secret_id_ttl": "0"})),
    )
    .await
    .context("creating the approle role")?;
    let role_id = api.ok(Method::GET, &format!("auth/{mount}/role/{APPROLE_ROLE}/role-id"), None).await?;
    let role_id = str_at(&role_id, "/data/role_id", "role-id")?;
    let secret = api.ok(Method::POST, &format!("auth/{mount}/role/{APPROLE_ROLE}/secret-id"), Some(&json!({}))).await?;
    targets.secret_id = str_at(&secret, "/data/secret_id", "secret-id")?;
    // An approle login's entity alias is named by the role id.
    cleanup.entity_aliases.push((mount.clone(), role_id.clone()));
    targets.role_id = role_id;
    targets.approle_mount = mount;
    Ok(())
}

/// jwt-login: a jwt mount that validates with `jwt_validation_pubkeys` (the key this run
/// generated), a role bound to the audience, and one token minted with a long expiry.
pub async fn setup_jwt(api: &mut ApiClient, cleanup: &mut Cleanup, targets: &mut Targets) -> anyhow::Result<()> {
    let key = SigningKey::generate()?;
    let mount = enable_auth(api, cleanup, "jwt").await?;
    api.ok(
        Method::POST,
        &format!("auth/{mount}/config"),
        Some(&json!({"jwt_validation_pubkeys": [key.public_pem()], "bound_issuer": JWT_ISSUER})),
    )
    .await
    .context("configuring the jwt mount")?;
    api.ok(
        Method::POST,
        &format!("auth/{mount}/role/{JWT_ROLE}"),
        Some(&json!({
            "role_type": "jwt", "bound_audiences": [JWT_AUDIENCE], "user_claim": "sub",
            "token_policies": ["default"], "token_ttl": "10m",
        })),
    )
    .await
    .context("creating the jwt role")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| anyhow!("clock before 1970"))?.as_secs();
    targets.jwt = key.sign(&json!({
        "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": JWT_SUBJECT,
        "iat": now, "nbf": now.saturating_sub(60), "exp": now + JWT_LIFETIME_SECS,
    }))?;
    cleanup.entity_aliases.push((mount.clone(), JWT_SUBJECT.to_string()));
    targets.jwt_mount = mount;
    Ok(())
}

/// The entity workloads' load token: a userpass user with `policies`, logged in once.
/// Returns the token; its entity id goes into `targets`.
pub async fn setup_entity_token(
    target: &Target,
    api: &mut ApiClient,
    cleanup: &mut Cleanup,
    targets: &mut Targets,
    policies: &[&str],
) -> anyhow::Result<String> {
    let mount = enable_auth(api, cleanup, "userpass").await?;
    api.ok(
        Method::POST,
        &format!("auth/{mount}/users/{ENTITY_USER}"),
        Some(&json!({"password": ENTITY_PASSWORD, "token_policies": policies, "token_ttl": "24h"})),
    )
    .await
    .context("creating the entity workloads' user")?;
    let mut anon = ApiClient::new(target, None)?;
    let login = anon
        .ok(Method::POST, &format!("auth/{mount}/login/{ENTITY_USER}"), Some(&json!({"password": ENTITY_PASSWORD})))
        .await
        .context("logging in the entity workloads' user")?;
    let token = str_at(&login, "/auth/client_token", "userpass login")?;
    cleanup.revoke_tokens.push(token.clone());
    let entity = login.pointer("/auth/entity_id").and_then(Value::as_str).unwrap_or("");
    if entity.is_empty() {
        bail!("the userpass login returned no entity_id: the server has no identity store, which the entity workloads need");
    }
    cleanup.entities.push(entity.to_string());
    targets.entity_id = entity.to_string();
    Ok(token)
}

/// Delete the entities setup's logins made (known ids, and those found by alias while
/// the auth mount still exists). A server without an identity store has none: a failed
/// lookup is not an error.
pub async fn delete_entities(api: &mut ApiClient, cleanup: &Cleanup) -> anyhow::Result<()> {
    let mut ids = cleanup.entities.clone();
    if !cleanup.entity_aliases.is_empty() {
        let (status, auths) = api.call(Method::GET, "sys/auth", None).await?;
        if (200..300).contains(&status) {
            for (mount, alias) in &cleanup.entity_aliases {
                let Some(accessor) = auths.pointer(&format!("/data/{mount}~1/accessor")).and_then(Value::as_str) else {
                    continue;
                };
                let body = json!({"alias_name": alias, "alias_mount_accessor": accessor});
                let (status, found) = api.call(Method::POST, "identity/lookup/entity", Some(&body)).await?;
                if let (200, Some(id)) = (status, found.pointer("/data/id").and_then(Value::as_str))
                    && !ids.iter().any(|x| x == id)
                {
                    ids.push(id.to_string());
                }
            }
        }
    }
    for id in ids {
        api.ok(Method::DELETE, &format!("identity/entity/id/{id}"), None).await.context("deleting an entity the run created")?;
    }
    Ok(())
}

fn str_at(v: &Value, pointer: &str, what: &str) -> anyhow::Result<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{what}: response has no {pointer}"))
}
