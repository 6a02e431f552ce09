//! `identity/oidc/*`: Vault's identity tokens. Named keys (`keys.rs`), roles,
//! the issuer config, signed ID tokens for the caller's entity, their
//! introspection, and the two unauthenticated documents a verifier reads
//! (`.well-known/openid-configuration`, `.well-known/keys`).
//!
//! Rows join the identity table as `identity::H::Oidc(H)`; everything is kept
//! in the identity mount's storage view (barrier-encrypted) under
//! `oidc_tokens/` (Vault's layout): `config`, `named_keys/<name>` (with the
//! private keys), `public_keys/<kid>`, `roles/<name>`. Writes are serialised
//! by one lock per [`Oidc`]; its periodic task (stopped when the `Oidc`, and so
//! the active state, is dropped) rotates keys whose `rotation_period` has
//! passed and expires public keys past their `verification_ttl`.

pub mod jws;
pub mod keys;
pub mod template;

use crate::backend::{FieldKind, FieldSpec, Path, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Operation::*, RawResponse, Request, Response};
use crate::view::StorageView;
use crate::identity::H as Identity;
use keys::{DAY, DEFAULT_KEY, NamedKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use template::EntityData;

pub(crate) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

const ISSUER_PATH: &str = "identity/oidc";
const RESERVED_CLAIMS: &[&str] = &["iat", "aud", "exp", "iss", "sub", "namespace", "nonce", "auth_time", "at_hash", "c_hash"];
/// How often the periodic task looks for due rotations and expired keys.
const TICK: std::time::Duration = std::time::Duration::from_secs(10);

/// Unauthenticated paths (relative to `identity/`), as Vault's identity store declares them.
pub const UNAUTHENTICATED: &[&str] = &["oidc/.well-known/*"];

// ---------------------------------------------------------------- storage

fn key_key(name: &str) -> String {
    format!("oidc_tokens/named_keys/{name}")
}
fn public_key(kid: &str) -> String {
    format!("oidc_tokens/public_keys/{kid}")
}
fn role_key(name: &str) -> String {
    format!("oidc_tokens/roles/{name}")
}
const CONFIG_KEY: &str = "oidc_tokens/config";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub issuer: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Role {
    /// Seconds.
    pub token_ttl: u64,
    pub key: String,
    #[serde(default)]
    pub template: String,
    pub client_id: String,
}

/// The records of one identity mount's view.
#[derive(Clone)]
pub struct Store {
    view: StorageView,
    /// The server's `api_addr` (the issuer when none is configured).
    api_addr: String,
}

impl Store {
    pub fn new(view: StorageView, api_addr: Option<&str>) -> Store {
        Store { view, api_addr: api_addr.unwrap_or_default().trim_end_matches('/').to_string() }
    }
    pub async fn get_key(&self, name: &str) -> Result<Option<NamedKey>> {
        self.view.get_json(&key_key(name)).await
    }
    pub async fn put_key(&self, name: &str, k: &NamedKey) -> Result<()> {
        self.view.put_json(&key_key(name), k).await
    }
    pub async fn list_keys(&self) -> Result<Vec<String>> {
        self.view.list("oidc_tokens/named_keys/").await
    }
    pub async fn put_public(&self, k: &jws::SigningKey) -> Result<()> {
        self.view.put_json(&public_key(&k.kid), &k.public).await
    }
    pub async fn get_public(&self, kid: &str) -> Result<Option<Value>> {
        self.view.get_json(&public_key(kid)).await
    }
    pub async fn delete_public(&self, kid: &str) -> Result<()> {
        self.view.delete(&public_key(kid)).await
    }
    pub async fn list_public(&self) -> Result<Vec<String>> {
        self.view.list("oidc_tokens/public_keys/").await
    }
    pub async fn get_role(&self, name: &str) -> Result<Option<Role>> {
        self.view.get_json(&role_key(name)).await
    }
    pub async fn list_roles(&self) -> Result<Vec<String>> {
        self.view.list("oidc_tokens/roles/").await
    }
    pub async fn config(&self) -> Result<Config> {
        Ok(self.view.get_json(CONFIG_KEY).await?.unwrap_or_default())
    }
    /// `<issuer or api_addr>/v1/identity/oidc`.
    pub async fn effective_issuer(&self) -> Result<String> {
        let c = self.config().await?;
        let base = if c.issuer.is_empty() { self.api_addr.as_str() } else { c.issuer.as_str() };
        Ok(format!("{base}/v1/{ISSUER_PATH}"))
    }
}

// ---------------------------------------------------------------- state

/// The OIDC state of one identity mount: its store, the writers' lock and
/// the periodic rotation task (aborted on drop).
pub struct Oidc {
    store: Store,
    lock: Arc<tokio::sync::Mutex<()>>,
    default_ready: AtomicBool,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Oidc {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Oidc {
    /// Starts the periodic task when called inside a runtime.
    pub fn new(view: StorageView, api_addr: Option<&str>) -> Oidc {
        let store = Store::new(view, api_addr);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let task = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let (store, lock) = (store.clone(), lock.clone());
            rt.spawn(async move {
                let mut tick = tokio::time::interval(TICK);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let _g = lock.lock().await;
                    if let Err(e) = keys::rotate_due(&store, now_unix()).await {
                        tracing::warn!(error = %e, "oidc: periodic key rotation failed");
                    }
                }
            })
        });
        Oidc { store, lock, default_ready: AtomicBool::new(false), task }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The JWKS verifiers see: expired keys dropped first, under the lock.
    pub async fn published(&self) -> Result<Vec<Value>> {
        let _g = self.lock.lock().await;
        keys::expire(&self.store, now_unix()).await?;
        keys::jwks(&self.store).await
    }

    /// The default key exists from the start (config only), as in Vault.
    async fn ensure_default(&self) -> Result<()> {
        if self.default_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let _g = self.lock.lock().await;
        if self.store.get_key(DEFAULT_KEY).await?.is_none() {
            self.store.put_key(DEFAULT_KEY, &NamedKey::default_key()).await?;
        }
        self.default_ready.store(true, Ordering::Release);
        Ok(())
    }
}

/// The identity the token endpoints read: an entity by id (template data, disabled?).
pub trait Entities: Send + Sync {
    fn entity(&self, id: &str) -> Option<(EntityData, bool)>;
}

impl Entities for crate::identity::IdentityStore {
    fn entity(&self, id: &str) -> Option<(EntityData, bool)> {
        let e = crate::identity::IdentityStore::entity(self, id)?;
        let snap = self.snapshot();
        let groups = self
            .group_ids_for_entity(id)
            .into_iter()
            .filter_map(|gid| snap.group(&gid))
            .map(|g| template::GroupData { id: g.id.clone(), name: g.name.clone(), metadata: g.metadata.clone() })
            .collect();
        let aliases = e
            .aliases
            .iter()
            .map(|a| template::AliasData {
                mount_accessor: a.mount_accessor.clone(),
                id: a.id.clone(),
                name: a.name.clone(),
                metadata: a.metadata.clone(),
                custom_metadata: a.custom_metadata.clone(),
            })
            .collect();
        Some((EntityData { id: e.id.clone(), name: e.name.clone(), metadata: e.metadata.clone(), aliases, groups }, e.disabled))
    }
}

// ---------------------------------------------------------------- rows

#[derive(Clone, Copy, Debug)]
pub enum H {
    ReadConfig,
    WriteConfig,
    WriteKey,
    ReadKey,
    DeleteKey,
    ListKeys,
    RotateKey,
    WriteRole,
    ReadRole,
    DeleteRole,
    ListRoles,
    Token,
    Introspect,
    Discovery,
    PublicKeys,
}

const F_CONFIG: &[FieldSpec] = &[field("issuer", FieldKind::String, "Issuer URL to be used in the iss claim of the token. If not set, the server's api_addr is used.")];
const F_NAME: &[FieldSpec] = &[field("name", FieldKind::String, "Name of the key or role")];
const F_KEY: &[FieldSpec] = &[
    field("name", FieldKind::String, "Name of the key"),
    field("rotation_period", FieldKind::Duration, "How often to generate a new keypair.").default_int(86400),
    field("verification_ttl", FieldKind::Duration, "How long the public portion of a key stays available for verification after being rotated.").default_int(86400),
    field("algorithm", FieldKind::String, "Signing algorithm to use. This will default to RS256.").default_str("RS256").allowed(jws::ALGORITHMS),
    field("allowed_client_ids", FieldKind::StringList, "Role client ids allowed to use this key for signing. If empty no roles are allowed. If \"*\" all roles are allowed."),
];
const F_ROTATE: &[FieldSpec] = &[
    field("name", FieldKind::String, "Name of the key"),
    field("verification_ttl", FieldKind::Duration, "Overrides the key's verification_ttl for the key rotated out."),
];
const F_ROLE: &[FieldSpec] = &[
    field("name", FieldKind::String, "Name of the role"),
    field("key", FieldKind::String, "The OIDC key to use for generating tokens. The specified key must already exist.").required(),
    field("template", FieldKind::String, "The template string to use for generating tokens. This may be in string-ified JSON or base64 format."),
    field("ttl", FieldKind::Duration, "TTL of the tokens generated against the role.").default_int(86400),
    field("client_id", FieldKind::String, "Optional client_id"),
];
const F_INTROSPECT: &[FieldSpec] = &[
    field("token", FieldKind::String, "Token to verify"),
    field("client_id", FieldKind::String, "Optional client_id to verify"),
];

/// Vault's `framework.GenericNameRegex`.
macro_rules! name {
    ($p:literal, $s:literal) => {
        concat!($p, r"(?P<name>\w(([\w.-]+)?\w)?)", $s)
    };
}

/// The rows, joined into the identity table (`identity::H::Oidc`).
pub(crate) fn rows() -> Vec<Path<Identity>> {
    use Identity::Oidc as O;
    vec![
        path("oidc-config", r"oidc/config/?", &[(Read, O(H::ReadConfig)), (Update, O(H::WriteConfig))], F_CONFIG, "OIDC configuration"),
        path("oidc-key-rotate", name!("oidc/key/", r"/rotate/?"), &[(Update, O(H::RotateKey))], F_ROTATE, "Rotate a named OIDC key."),
        path("oidc-key", name!("oidc/key/", ""), &[(Update, O(H::WriteKey)), (Read, O(H::ReadKey)), (Delete, O(H::DeleteKey))], F_KEY, "CRUD operations for OIDC keys.").existence_check(),
        path("oidc-keys", r"oidc/key/?", &[(List, O(H::ListKeys))], &[], "List OIDC keys"),
        path("oidc-discovery", r"oidc/\.well-known/openid-configuration/?", &[(Read, O(H::Discovery))], &[], "Query OIDC configurations"),
        path("oidc-public-keys", r"oidc/\.well-known/keys/?", &[(Read, O(H::PublicKeys))], &[], "Retrieve public keys"),
        path("oidc-token", name!("oidc/token/", ""), &[(Read, O(H::Token))], F_NAME, "Generate an OIDC token"),
        path("oidc-role", name!("oidc/role/", ""), &[(Update, O(H::WriteRole)), (Read, O(H::ReadRole)), (Delete, O(H::DeleteRole))], F_ROLE, "CRUD operations on OIDC Roles").existence_check(),
        path("oidc-roles", r"oidc/role/?", &[(List, O(H::ListRoles))], &[], "List configured OIDC roles"),
        path("oidc-introspect", r"oidc/introspect/?", &[(Update, O(H::Introspect))], F_INTROSPECT, "Verify the authenticity of an OIDC token"),
    ]
}

/// The existence check of the key and role rows (update → create).
pub async fn exists(oidc: &Oidc, h: H, name: &str) -> Result<bool> {
    oidc.ensure_default().await?;
    match h {
        H::WriteKey => Ok(oidc.store.get_key(name).await?.is_some()),
        H::WriteRole => Ok(oidc.store.get_role(name).await?.is_some()),
        _ => Ok(true),
    }
}

// ---------------------------------------------------------------- handlers

fn secs(d: std::time::Duration) -> u64 {
    d.as_secs()
}

pub async fn serve(h: H, oidc: &Oidc, entities: &dyn Entities, name: &str, req: &Request) -> Result<Option<Response>> {
    oidc.ensure_default().await?;
    let s = &oidc.store;
    let d = &req.data;
    match h {
        H::ReadConfig => {
            let c = s.config().await?;
            let mut r = Response::json(json!({"issuer": c.issuer}));
            if c.issuer.is_empty() && s.api_addr.is_empty() {
                r = r.with_warning(r#"Both "issuer" and OpenBao's "api_addr" are empty. The issuer claim in generated tokens will not be network reachable."#);
            }
            Ok(Some(r))
        }
        H::WriteConfig => {
            let Some(issuer) = fields::get_str(d, "issuer")? else { return Ok(None) };
            if !issuer.is_empty() && !valid_issuer(&issuer) {
                return Err(Error::invalid("invalid issuer, which must include only a scheme, host, and optional port (e.g. https://example.com:8200)"));
            }
            let _g = oidc.lock.lock().await;
            s.view.put_json(CONFIG_KEY, &Config { issuer: issuer.clone() }).await?;
            if issuer.is_empty() {
                return Ok(None);
            }
            let mut r = Response::default();
            r.warnings.push(r#"If "issuer" is set explicitly, all tokens must be validated against that address, including those issued by secondary clusters. Setting issuer to "" will restore the default behavior of using the cluster's api_addr as the issuer."#.into());
            Ok(Some(r))
        }
        H::WriteKey => write_key(oidc, name, req).await,
        H::ReadKey => {
            let k = s.get_key(name).await?.ok_or(Error::NotFound)?;
            Ok(Some(Response::json(json!({
                "algorithm": k.algorithm, "allowed_client_ids": k.allowed_client_ids,
                "rotation_period": k.rotation_period, "verification_ttl": k.verification_ttl,
            }))))
        }
        H::DeleteKey => {
            if name == DEFAULT_KEY {
                return Err(Error::invalid(format!("deletion of key {DEFAULT_KEY:?} not allowed")));
            }
            let _g = oidc.lock.lock().await;
            let users = roles_using(s, name).await?;
            if !users.is_empty() {
                let names: Vec<&str> = users.iter().map(|(n, _)| n.as_str()).collect();
                return Err(Error::invalid(format!("unable to delete key {name:?} because it is currently referenced by these roles: {}", names.join(", "))));
            }
            s.view.delete(&key_key(name)).await?;
            keys::expire(s, now_unix()).await?;
            Ok(None)
        }
        H::ListKeys => list(s.list_keys().await?),
        H::RotateKey => {
            let ttl = fields::get_duration(d, "verification_ttl")?.map(secs);
            let _g = oidc.lock.lock().await;
            let mut k = s.get_key(name).await?.ok_or_else(|| Error::invalid(format!("no named key found at {name:?}")))?;
            k.rotate(s, ttl, now_unix()).await?;
            s.put_key(name, &k).await?;
            Ok(None)
        }
        H::WriteRole => write_role(oidc, name, req).await,
        H::ReadRole => {
            let r = s.get_role(name).await?.ok_or(Error::NotFound)?;
            Ok(Some(Response::json(json!({"client_id": r.client_id, "key": r.key, "template": r.template, "ttl": r.token_ttl}))))
        }
        H::DeleteRole => {
            let _g = oidc.lock.lock().await;
            s.view.delete(&role_key(name)).await?;
            Ok(None)
        }
        H::ListRoles => list(s.list_roles().await?),
        H::Token => token(s, entities, name, req).await,
        H::Introspect => {
            let raw = fields::get_str(d, "token")?.unwrap_or_default();
            let client_id = fields::get_str(d, "client_id")?.unwrap_or_default();
            let err = introspect(oidc, entities, &raw, &client_id, now_unix()).await?;
            let body = match err {
                None => json!({"active": true}),
                Some(e) => json!({"active": false, "error": e}),
            };
            Ok(Some(raw_json(&body)))
        }
        H::Discovery => {
            let iss = s.effective_issuer().await?;
            let body = json!({
                "issuer": iss, "jwks_uri": format!("{iss}/.well-known/keys"),
                "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": jws::ALGORITHMS,
            });
            Ok(Some(raw_json(&body)))
        }
        H::PublicKeys => Ok(Some(raw_json(&json!({"keys": oidc.published().await?})))),
    }
}

fn raw_json(v: &Value) -> Response {
    Response { raw: Some(RawResponse::json(200, v)), ..Default::default() }
}

fn list(mut keys: Vec<String>) -> Result<Option<Response>> {
    if keys.is_empty() {
        return Err(Error::NotFound);
    }
    keys.sort();
    Ok(Some(Response::list(keys)))
}

/// Scheme (http/https), host, optional port, and nothing else.
fn valid_issuer(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else { return false };
    if scheme != "http" && scheme != "https" || rest.is_empty() {
        return false;
    }
    !rest.contains(['/', '?', '#', '@', ' ']) && !rest.starts_with(':')
}

async fn roles_using(s: &Store, key: &str) -> Result<Vec<(String, Role)>> {
    let mut out = Vec::new();
    for name in s.list_roles().await? {
        if let Some(r) = s.get_role(&name).await?
            && r.key == key
        {
            out.push((name, r));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

async fn write_key(oidc: &Oidc, name: &str, req: &Request) -> Result<Option<Response>> {
    let (s, d) = (&oidc.store, &req.data);
    let _g = oidc.lock.lock().await;
    let existing = s.get_key(name).await?;
    let creating = existing.is_none();
    let mut k = existing.unwrap_or(NamedKey {
        algorithm: String::new(),
        verification_ttl: 0,
        rotation_period: 0,
        key_ring: Vec::new(),
        signing_key: None,
        next_signing_key: None,
        next_rotation: 0,
        allowed_client_ids: Vec::new(),
    });
    if let Some(p) = fields::get_duration(d, "rotation_period")? {
        k.rotation_period = secs(p);
    } else if creating {
        k.rotation_period = DAY;
    }
    if k.rotation_period < 60 {
        return Err(Error::invalid("rotation_period must be at least one minute"));
    }
    if let Some(v) = fields::get_duration(d, "verification_ttl")? {
        k.verification_ttl = secs(v);
    } else if creating {
        k.verification_ttl = DAY;
    }
    if k.verification_ttl > 10 * k.rotation_period {
        return Err(Error::invalid("verification_ttl cannot be longer than 10x rotation_period"));
    }
    if !creating {
        for (_, role) in roles_using(s, name).await? {
            if role.token_ttl > k.verification_ttl {
                return Err(Error::invalid(format!(
                    "unable to update key {name:?} because it is currently referenced by one or more roles with a token ttl greater than {} seconds",
                    k.verification_ttl
                )));
            }
        }
    }
    if let Some(ids) = fields::get_str_list(d, "allowed_client_ids")? {
        k.allowed_client_ids = ids;
    }
    let previous = k.algorithm.clone();
    if let Some(a) = fields::get_str(d, "algorithm")? {
        k.algorithm = a;
    } else if creating {
        k.algorithm = "RS256".into();
    }
    if !jws::ALGORITHMS.contains(&k.algorithm.as_str()) {
        return Err(Error::invalid(format!("unknown signing algorithm {:?}", k.algorithm)));
    }
    let next = now_unix() + k.rotation_period as i64;
    if k.next_rotation == 0 || next < k.next_rotation {
        k.next_rotation = next;
    }
    if k.algorithm != previous {
        k.generate_current(s).await?;
        k.generate_next(s).await?;
    }
    s.put_key(name, &k).await?;
    Ok(None)
}

async fn write_role(oidc: &Oidc, name: &str, req: &Request) -> Result<Option<Response>> {
    use base64::Engine;
    let (s, d) = (&oidc.store, &req.data);
    let _g = oidc.lock.lock().await;
    let existing = s.get_role(name).await?;
    let creating = existing.is_none();
    let mut r = existing.unwrap_or(Role { token_ttl: 0, key: String::new(), template: String::new(), client_id: String::new() });
    if let Some(k) = fields::get_str(d, "key")? {
        r.key = k;
    }
    if r.key.is_empty() {
        return Err(Error::invalid("the key parameter is required"));
    }
    if let Some(t) = fields::get_str(d, "template")? {
        r.template = t;
    }
    if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(r.template.as_bytes())
        && let Ok(text) = String::from_utf8(decoded)
    {
        r.template = text;
    }
    if !r.template.is_empty() {
        let populated = template::populate(&r.template, &EntityData::default(), now_unix()).map_err(|e| Error::invalid(format!("error parsing template: {e}")))?;
        let parsed: Map<String, Value> = serde_json::from_str(&populated).map_err(|e| Error::invalid(format!("error parsing template JSON: {}", go_json_error(&e))))?;
        if let Some(k) = parsed.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
            return Err(Error::invalid(format!("top level key {k:?} not allowed. Restricted keys: {}", RESERVED_CLAIMS.join(", "))));
        }
    }
    if let Some(ttl) = fields::get_duration(d, "ttl")? {
        r.token_ttl = secs(ttl);
    } else if creating {
        r.token_ttl = DAY;
    }
    let mut key = s.get_key(&r.key).await?.ok_or_else(|| Error::invalid(format!("cannot find key {:?}", r.key)))?;
    if r.key == DEFAULT_KEY && key.signing_key.is_none() {
        key.generate_current(s).await?;
        key.generate_next(s).await?;
        s.put_key(DEFAULT_KEY, &key).await?;
    }
    if r.token_ttl > key.verification_ttl {
        return Err(Error::invalid("a role's token ttl cannot be longer than the verification_ttl of the key it references"));
    }
    if let Some(c) = fields::get_str(d, "client_id")? {
        r.client_id = c;
    }
    if r.client_id.is_empty() {
        r.client_id = crate::util::random_base62(26);
    }
    s.view.put_json(&role_key(name), &r).await?;
    Ok(None)
}

/// serde_json's message in the shape Go's encoding/json gives for the common case.
fn go_json_error(e: &serde_json::Error) -> String {
    e.to_string()
}

async fn token(s: &Store, entities: &dyn Entities, name: &str, req: &Request) -> Result<Option<Response>> {
    let role = s.get_role(name).await?.ok_or_else(|| Error::invalid(format!("role {name:?} not found")))?;
    let key = s.get_key(&role.key).await?.ok_or_else(|| Error::invalid(format!("key {:?} not found", role.key)))?;
    if !key.allows(&role.client_id) {
        return Err(Error::invalid(format!("the key {:?} does not list the client ID of the role {name:?} as an allowed client ID", role.key)));
    }
    let entity_id = req.caller.as_ref().map(|c| c.entity_id.clone()).unwrap_or_default();
    if entity_id.is_empty() {
        return Err(Error::invalid("no entity associated with the request's token"));
    }
    let mut warnings = Vec::new();
    let mut ttl = role.token_ttl;
    if ttl > key.verification_ttl {
        ttl = key.verification_ttl;
        warnings.push(format!("a role's token ttl cannot be longer than the verification_ttl of the key it references, setting token ttl to {ttl}"));
    }
    let (entity, _) = entities.entity(&entity_id).ok_or_else(|| Error::internal(format!("error loading entity ID {entity_id:?}")))?;
    let now = now_unix();
    let payload = claims(&s.effective_issuer().await?, &entity, &role, now, ttl);
    let signed = key.sign(&serde_json::to_vec(&payload)?)?;
    let mut r = Response::json(json!({"client_id": role.client_id, "token": signed, "ttl": role.token_ttl}));
    r.warnings = warnings;
    Ok(Some(r))
}

/// The ID token's claims: the required ones, then the role template's
/// (reserved names ignored; a template that fails to render adds nothing, as in Vault).
fn claims(issuer: &str, entity: &EntityData, role: &Role, now: i64, ttl: u64) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("iss".into(), json!(issuer));
    out.insert("namespace".into(), json!("root"));
    out.insert("sub".into(), json!(entity.id));
    out.insert("aud".into(), json!(role.client_id));
    out.insert("exp".into(), json!(now + ttl as i64));
    out.insert("iat".into(), json!(now));
    match template::populate(&role.template, entity, now) {
        Ok(t) if !t.is_empty() => match serde_json::from_str::<Map<String, Value>>(&t) {
            Ok(extra) => {
                for (k, v) in extra {
                    if !RESERVED_CLAIMS.contains(&k.as_str()) {
                        out.insert(k, v);
                    }
                }
            }
            Err(e) => tracing::warn!(role_key = %role.key, error = %e, "oidc: rendered template is not a JSON object"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "oidc: error populating token template"),
    }
    out
}

/// `None` when the token is active; else go-jose's / Vault's reason.
async fn introspect(oidc: &Oidc, entities: &dyn Entities, raw: &str, client_id: &str, now: i64) -> Result<Option<String>> {
    let s = &oidc.store;
    let parsed = match jws::parse(raw) {
        Ok(p) => p,
        Err(e) => return Ok(Some(format!("error parsing token: {e}"))),
    };
    if !oidc.published().await?.iter().any(|k| jws::verify(&parsed, k)) {
        return Ok(Some("unable to validate the token signature".into()));
    }
    let c = &parsed.claims;
    let iss = s.effective_issuer().await?;
    let invalid = |m: &str| Ok(Some(format!("error validating claims: go-jose/go-jose/jwt: validation failed, {m}")));
    if c.get("iss").and_then(Value::as_str) != Some(iss.as_str()) {
        return invalid("invalid issuer claim (iss)");
    }
    if !client_id.is_empty() {
        let ok = match c.get("aud") {
            Some(Value::String(a)) => a == client_id,
            Some(Value::Array(v)) => v.iter().any(|a| a.as_str() == Some(client_id)),
            _ => false,
        };
        if !ok {
            return invalid("invalid audience claim (aud)");
        }
    }
    const LEEWAY: i64 = 60;
    let num = |k: &str| c.get(k).and_then(Value::as_f64).map(|f| f as i64);
    if num("nbf").is_some_and(|nbf| now + LEEWAY < nbf) {
        return invalid("token not valid yet (nbf)");
    }
    if num("exp").is_some_and(|exp| now - LEEWAY > exp) {
        return invalid("token is expired (exp)");
    }
    if num("iat").is_some_and(|iat| now + LEEWAY < iat) {
        return Ok(Some("error validating claims: go-jose/go-jose/jwt: validation field, token issued in the future (iat)".into()));
    }
    let sub = c.get("sub").and_then(Value::as_str).unwrap_or_default();
    Ok(match entities.entity(sub) {
        None => Some("entity was not found".into()),
        Some((_, true)) => Some("entity is disabled".into()),
        Some(_) => None,
    })
}

#[cfg(test)]
mod tests;
