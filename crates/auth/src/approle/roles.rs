//! Role records: `role/<name>` (create, update, read, delete), LIST `role/`,
//! the per-setting sub-paths (`role/<name>/token-ttl`, ...) and
//! `role/<name>/role-id`.
//!
//! # Storage (inside the mount's encrypted view)
//! - `role/<lowercased name>`: one [`RoleEntry`] as JSON ([`role_key`]).
//! - `role_id/<salted HMAC of the role id>`: the name of the role it belongs
//!   to ([`role_id_key`]): how a login finds its role, and what keeps role ids
//!   unique in the mount. Written in the same storage batch as the role.

use super::salt::Kind;
use super::{AppRole, Setting, multierror_500, secret_ids};
use crate::token_fields::{self, Legacy, TokenSettings, secs, upgrade};
use coffer_core::cidr;
use coffer_core::fields::{get_bool, get_int, get_str, get_str_list};
use coffer_core::view::ViewOp;
use coffer_core::{Data, Error, Request, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// ----------------------------------------------------------------- storage keys

const ROLE_PREFIX: &str = "role/";

fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{name}")
}

fn role_id_key(role_id_hmac: &str) -> String {
    format!("role_id/{role_id_hmac}")
}

// --------------------------------------------------------------------- records

/// What is stored per role.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RoleEntry {
    /// The role id: half of a login's credentials, readable by whoever may
    /// read `role/<name>/role-id`.
    pub(crate) role_id: String,
    pub(crate) bind_secret_id: bool,
    pub(crate) secret_id_num_uses: i64,
    /// Seconds; 0 = secret ids never expire.
    pub(crate) secret_id_ttl: u64,
    /// CIDR blocks as written (Vault keeps `127.0.0.1/32` as is).
    pub(crate) secret_id_bound_cidrs: Vec<String>,
    pub(crate) local_secret_ids: bool,
    pub(crate) token: TokenSettings,
    pub(crate) legacy: Legacy,
}

impl Default for RoleEntry {
    fn default() -> RoleEntry {
        RoleEntry {
            role_id: String::new(),
            bind_secret_id: true,
            secret_id_num_uses: 0,
            secret_id_ttl: 0,
            secret_id_bound_cidrs: Vec::new(),
            local_secret_ids: false,
            token: TokenSettings::default(),
            legacy: Legacy::default(),
        }
    }
}

impl std::fmt::Debug for RoleEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleEntry")
            .field("role_id", &"[redacted]")
            .field("bind_secret_id", &self.bind_secret_id)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// The role-id index entry.
#[derive(Serialize, Deserialize)]
struct RoleIdEntry {
    name: String,
}

pub(crate) async fn load(b: &AppRole, name: &str) -> Result<Option<RoleEntry>> {
    b.view.get_json(&role_key(name)).await
}

/// The role a role id belongs to, with its name.
pub(crate) async fn load_by_role_id(b: &AppRole, role_id: &str) -> Result<Option<(String, RoleEntry)>> {
    let key = role_id_key(&b.salt.hmac(Kind::RoleId, role_id).await?);
    let Some(idx) = b.view.get_json::<RoleIdEntry>(&key).await? else { return Ok(None) };
    let Some(role) = load(b, &idx.name).await? else { return Ok(None) };
    // The index is keyed by the HMAC; the stored id must be the one presented.
    if !coffer_core::util::ct_eq(role.role_id.as_bytes(), role_id.as_bytes()) {
        return Ok(None);
    }
    Ok(Some((idx.name, role)))
}

/// Store `entry` (and, when its role id changed from `old_role_id`, move the
/// index) in one batch. The caller holds the write lock.
async fn store(b: &AppRole, name: &str, entry: &RoleEntry, old_role_id: &str) -> Result<()> {
    validate_constraints(entry)?;
    let mut ops = vec![ViewOp::Put(role_key(name), serde_json::to_vec(entry)?)];
    if entry.role_id != old_role_id {
        let new_key = role_id_key(&b.salt.hmac(Kind::RoleId, &entry.role_id).await?);
        if let Some(other) = b.view.get_json::<RoleIdEntry>(&new_key).await?
            && other.name != name
            && load(b, &other.name).await?.is_some()
        {
            return Err(multierror_500("role_id already in use"));
        }
        if !old_role_id.is_empty() {
            ops.push(ViewOp::Delete(role_id_key(&b.salt.hmac(Kind::RoleId, old_role_id).await?)));
        }
        ops.push(ViewOp::Put(new_key, serde_json::to_vec(&RoleIdEntry { name: name.to_string() })?));
    }
    b.view.write(ops).await
}

// --------------------------------------------------------------- field parsing

/// Vault's rule: a role that does not bind a secret id must bind something else.
fn validate_constraints(e: &RoleEntry) -> Result<()> {
    if !e.bind_secret_id && e.secret_id_bound_cidrs.is_empty() && e.token.bound_cidrs.is_empty() {
        return Err(multierror_500("at least one constraint should be enabled on the role"));
    }
    Ok(())
}

/// `secret_id_bound_cidrs` must be CIDR blocks (`10.0.0.0/8`, not a bare
/// address); kept as written.
pub(crate) fn cidr_blocks(data: &Data, key: &str) -> Result<Option<Vec<String>>> {
    let Some(list) = get_str_list(data, key)? else { return Ok(None) };
    for s in &list {
        if !s.contains('/') || cidr::BoundCidr::parse(s).is_err() {
            return Err(multierror_500(format!("failed to validate CIDR blocks: invalid CIDR address: {s}")));
        }
    }
    Ok(Some(list))
}

fn secret_id_num_uses(data: &Data) -> Result<Option<i64>> {
    match get_int(data, "secret_id_num_uses")? {
        Some(n) if n < 0 => Err(Error::invalid("secret_id_num_uses cannot be negative")),
        other => Ok(other),
    }
}

/// approle's deprecated `period` beside `token_period`.
fn apply_period(data: &Data, e: &mut RoleEntry) -> Result<()> {
    upgrade(secs(data, "period")?, secs(data, "token_period")?, &mut e.token.period, &mut e.legacy.period);
    if e.token.token_type == "batch" && e.token.period != 0 {
        return Err(Error::invalid("'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens"));
    }
    Ok(())
}

/// The deprecated `bound_cidr_list` beside `secret_id_bound_cidrs`.
fn apply_secret_id_cidrs(data: &Data, e: &mut RoleEntry) -> Result<()> {
    let mut legacy = false;
    upgrade(cidr_blocks(data, "bound_cidr_list")?, cidr_blocks(data, "secret_id_bound_cidrs")?, &mut e.secret_id_bound_cidrs, &mut legacy);
    Ok(())
}

/// Apply every field of a `role/<name>` write to `e` (a copy: on error the
/// caller stores nothing).
fn apply_role_fields(data: &Data, e: &mut RoleEntry, creating: bool) -> Result<()> {
    token_fields::apply(data, &mut e.token, &mut e.legacy)?;
    apply_period(data, e)?;
    if let Some(v) = get_bool(data, "bind_secret_id")? {
        e.bind_secret_id = v;
    }
    if let Some(v) = secret_id_num_uses(data)? {
        e.secret_id_num_uses = v;
    }
    if let Some(v) = secs(data, "secret_id_ttl")? {
        e.secret_id_ttl = v;
    }
    apply_secret_id_cidrs(data, e)?;
    if let Some(v) = get_bool(data, "local_secret_ids")? {
        if !creating && v != e.local_secret_ids {
            return Err(Error::invalid("local_secret_ids can only be modified during role creation"));
        }
        e.local_secret_ids = v;
    }
    match get_str(data, "role_id")? {
        Some(id) if id.is_empty() => return Err(Error::invalid("invalid role_id supplied, or failed to generate a role_id")),
        Some(id) => e.role_id = id,
        None if creating => e.role_id = uuid::Uuid::new_v4().to_string(),
        None => {}
    }
    Ok(())
}

/// `null` for an empty list, as Vault's sub-path reads show it.
fn list_or_null(v: Vec<String>) -> Value {
    if v.is_empty() { Value::Null } else { Value::from(v) }
}

/// The `data` of a role read: the token fields and approle's own.
fn read_data(e: &RoleEntry) -> Data {
    let mut d = token_fields::read_data(&e.token, &e.legacy);
    d.insert("bind_secret_id".into(), Value::from(e.bind_secret_id));
    d.insert("local_secret_ids".into(), Value::from(e.local_secret_ids));
    d.insert("secret_id_bound_cidrs".into(), list_or_null(e.secret_id_bound_cidrs.clone()));
    d.insert("secret_id_num_uses".into(), Value::from(e.secret_id_num_uses));
    d.insert("secret_id_ttl".into(), Value::from(e.secret_id_ttl));
    // Go's sorted map order.
    let mut sorted: Vec<(String, Value)> = d.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.into_iter().collect()
}

fn data(v: Value) -> Option<Response> {
    Some(Response::json(v))
}

// -------------------------------------------------------------------- handlers

pub(crate) async fn list(b: &AppRole) -> Result<Option<Response>> {
    Ok(Some(Response::list(b.view.list(ROLE_PREFIX).await?)))
}

pub(crate) async fn read(b: &AppRole, name: &str) -> Result<Option<Response>> {
    let Some(e) = load(b, name).await? else { return Ok(None) };
    Ok(Some(Response::data(read_data(&e))))
}

pub(crate) async fn write(b: &AppRole, req: &mut Request, name: &str) -> Result<Option<Response>> {
    let _guard = b.write_lock.lock().await;
    let existing = load(b, name).await?;
    let creating = existing.is_none();
    let mut e = existing.unwrap_or_default();
    let old_role_id = e.role_id.clone();
    apply_role_fields(&req.data, &mut e, creating)?;
    store(b, name, &e, &old_role_id).await?;
    Ok(None)
}

/// Deleting a role deletes its role-id index entry and every secret id of it.
pub(crate) async fn delete(b: &AppRole, name: &str) -> Result<Option<Response>> {
    let _guard = b.write_lock.lock().await;
    let Some(e) = load(b, name).await? else { return Ok(None) };
    let mut ops = vec![ViewOp::Delete(role_key(name))];
    if !e.role_id.is_empty() {
        ops.push(ViewOp::Delete(role_id_key(&b.salt.hmac(Kind::RoleId, &e.role_id).await?)));
    }
    b.view.write(ops).await?;
    secret_ids::delete_all_for_role(b, name).await?;
    Ok(None)
}

pub(crate) async fn read_setting(b: &AppRole, name: &str, s: Setting) -> Result<Option<Response>> {
    let Some(e) = load(b, name).await? else { return Ok(None) };
    let t = &e.token;
    Ok(match s {
        Setting::Policies => {
            let mut d = json!({"token_policies": t.policies});
            if e.legacy.policies && !t.policies.is_empty() {
                d["policies"] = json!(t.policies);
            }
            data(d)
        }
        Setting::SecretIdNumUses => data(json!({"secret_id_num_uses": e.secret_id_num_uses})),
        Setting::SecretIdTtl => data(json!({"secret_id_ttl": e.secret_id_ttl})),
        Setting::TokenTtl => data(json!({"token_ttl": t.ttl})),
        Setting::TokenMaxTtl => data(json!({"token_max_ttl": t.max_ttl})),
        Setting::TokenNumUses => data(json!({"token_num_uses": t.num_uses})),
        Setting::BindSecretId => data(json!({"bind_secret_id": e.bind_secret_id})),
        Setting::SecretIdBoundCidrs => data(json!({"secret_id_bound_cidrs": list_or_null(e.secret_id_bound_cidrs.clone())})),
        // OpenBao shows the deprecated field itself, which is always migrated
        // into secret_id_bound_cidrs: null, with the deprecation warning.
        Setting::BoundCidrList => data(json!({"bound_cidr_list": null}))
            .map(|r| r.with_warning("The \"bound_cidr_list\" field is deprecated and will be removed. Please use \"secret_id_bound_cidrs\" instead.")),
        Setting::TokenBoundCidrs => data(json!({"token_bound_cidrs": list_or_null(cidr::to_strings(&t.bound_cidrs))})),
        Setting::Period => {
            let mut d = json!({"token_period": t.period});
            if e.legacy.period && t.period > 0 {
                d["period"] = json!(t.period);
            }
            data(d)
        }
        Setting::LocalSecretIds => data(json!({"local_secret_ids": e.local_secret_ids})),
    })
}

fn missing(field: &str) -> Error {
    Error::invalid(format!("missing {field}"))
}

/// OpenBao answers an update of an unknown role's setting or role id with the
/// bytes of `unsupported path` (a 404). The row does serve the operation, so
/// this is a coded error with that text, not `Error::UnsupportedPath`.
fn no_such_role() -> Error {
    Error::Coded(404, "1 error occurred:\n\t* unsupported path\n\n".into())
}

/// Update one setting.
pub(crate) async fn write_setting(b: &AppRole, req: &mut Request, name: &str, s: Setting) -> Result<Option<Response>> {
    let _guard = b.write_lock.lock().await;
    let Some(mut e) = load(b, name).await? else { return Err(no_such_role()) };
    let d = &req.data;
    match s {
        Setting::Policies => token_fields::apply_policies(d, &mut e.token, &mut e.legacy)?,
        Setting::SecretIdNumUses => e.secret_id_num_uses = secret_id_num_uses(d)?.ok_or_else(|| missing("secret_id_num_uses"))?,
        Setting::SecretIdTtl => e.secret_id_ttl = secs(d, "secret_id_ttl")?.ok_or_else(|| missing("secret_id_ttl"))?,
        Setting::TokenTtl => {
            let v = secs(d, "token_ttl")?.ok_or_else(|| missing("token_ttl"))?;
            if e.token.max_ttl > 0 && v > e.token.max_ttl {
                return Err(Error::invalid("token_ttl should not be greater than token_max_ttl"));
            }
            e.token.ttl = v;
            e.legacy.ttl = false;
        }
        Setting::TokenMaxTtl => {
            let v = secs(d, "token_max_ttl")?.ok_or_else(|| missing("token_max_ttl"))?;
            if v > 0 && e.token.ttl > v {
                return Err(Error::invalid("token_max_ttl should be greater than token_ttl"));
            }
            e.token.max_ttl = v;
            e.legacy.max_ttl = false;
        }
        Setting::TokenNumUses => {
            let v = get_int(d, "token_num_uses")?.ok_or_else(|| missing("token_num_uses"))?;
            // OpenBao stores a negative value here; Coffer refuses it as role writes do.
            if v < 0 {
                return Err(Error::invalid("'token_num_uses' cannot be negative"));
            }
            if v != 0 && e.token.token_type == "batch" {
                return Err(Error::invalid(
                    "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count",
                ));
            }
            e.token.num_uses = v;
        }
        Setting::BindSecretId => e.bind_secret_id = get_bool(d, "bind_secret_id")?.ok_or_else(|| missing("bind_secret_id"))?,
        Setting::SecretIdBoundCidrs | Setting::BoundCidrList => {
            let key = if s == Setting::BoundCidrList { "bound_cidr_list" } else { "secret_id_bound_cidrs" };
            match cidr_blocks(d, key)? {
                Some(v) if !v.is_empty() => e.secret_id_bound_cidrs = v,
                _ => return Err(missing("bound_cidr_list")),
            }
        }
        Setting::TokenBoundCidrs => {
            if let Some(list) = cidr::get_list(d, "token_bound_cidrs")? {
                e.token.bound_cidrs = list.map_err(|err| Error::invalid(format!("token_bound_cidrs: {err}")))?;
                e.legacy.bound_cidrs = false;
            }
        }
        Setting::Period => {
            if get_str(d, "period")?.is_none() && get_str(d, "token_period")?.is_none() {
                return Err(missing("token_period"));
            }
            apply_period(d, &mut e)?;
        }
        // Read only (no row binds a write to it).
        Setting::LocalSecretIds => return Err(Error::UnsupportedOperation(req.rel_path.clone())),
    }
    let role_id = e.role_id.clone();
    store(b, name, &e, &role_id).await?;
    Ok(None)
}

/// Reset one setting to its default. An unknown role is a 204, as in Vault.
pub(crate) async fn delete_setting(b: &AppRole, name: &str, s: Setting) -> Result<Option<Response>> {
    let _guard = b.write_lock.lock().await;
    let Some(mut e) = load(b, name).await? else { return Ok(None) };
    match s {
        Setting::Policies => {
            e.token.policies.clear();
            e.legacy.policies = false;
        }
        Setting::SecretIdNumUses => e.secret_id_num_uses = 0,
        Setting::SecretIdTtl => e.secret_id_ttl = 0,
        Setting::TokenTtl => {
            e.token.ttl = 0;
            e.legacy.ttl = false;
        }
        Setting::TokenMaxTtl => {
            e.token.max_ttl = 0;
            e.legacy.max_ttl = false;
        }
        Setting::TokenNumUses => e.token.num_uses = 0,
        Setting::BindSecretId => e.bind_secret_id = true,
        // The constraint rule applies (OpenBao skips it for bound-cidr-list: a
        // role could be left with no binding at all).
        Setting::SecretIdBoundCidrs | Setting::BoundCidrList => e.secret_id_bound_cidrs.clear(),
        Setting::TokenBoundCidrs => {
            e.token.bound_cidrs.clear();
            e.legacy.bound_cidrs = false;
        }
        Setting::Period => {
            e.token.period = 0;
            e.legacy.period = false;
        }
        Setting::LocalSecretIds => return Ok(None),
    }
    let role_id = e.role_id.clone();
    store(b, name, &e, &role_id).await?;
    Ok(None)
}

pub(crate) async fn read_role_id(b: &AppRole, name: &str) -> Result<Option<Response>> {
    let Some(e) = load(b, name).await? else { return Ok(None) };
    Ok(data(json!({"role_id": e.role_id})))
}

/// A custom role id; unique in the mount.
pub(crate) async fn write_role_id(b: &AppRole, req: &mut Request, name: &str) -> Result<Option<Response>> {
    let id = match get_str(&req.data, "role_id")? {
        Some(id) if !id.is_empty() => id,
        _ => return Err(missing("role_id")),
    };
    let _guard = b.write_lock.lock().await;
    let Some(mut e) = load(b, name).await? else { return Err(no_such_role()) };
    let old = std::mem::replace(&mut e.role_id, id);
    store(b, name, &e, &old).await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::harness;
    use coffer_core::Operation::{Delete, List, Read, Update};
    use serde_json::{Value, json};

    #[tokio::test]
    async fn crud_and_exact_read_shape() {
        let h = harness().await;
        assert!(h.ok(Update, "role/r1", json!({"token_policies": "a,b", "secret_id_ttl": "10m", "secret_id_num_uses": 3, "token_ttl": "1h"})).await.is_none());
        // What OpenBao 2.7 answers for the same write.
        assert_eq!(
            h.read("role/r1").await.unwrap(),
            json!({"bind_secret_id": true, "local_secret_ids": false, "secret_id_bound_cidrs": null, "secret_id_num_uses": 3,
                   "secret_id_ttl": 600, "token_bound_cidrs": [], "token_explicit_max_ttl": 0, "token_max_ttl": 0,
                   "token_no_default_policy": false, "token_num_uses": 0, "token_period": 0, "token_policies": ["a", "b"],
                   "token_strictly_bind_ip": false, "token_ttl": 3600, "token_type": "default"})
        );
        let keys: Vec<String> = h.read("role/r1").await.unwrap().as_object().unwrap().keys().cloned().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        let rid = h.read("role/r1/role-id").await.unwrap()["role_id"].as_str().unwrap().to_string();
        assert_eq!(rid.len(), 36, "a uuid");
        h.ok(Update, "role/R2", json!({})).await;
        assert_eq!(h.list("role").await, ["r1", "r2"]);
        h.ok(Delete, "role/r1", Value::Null).await;
        assert!(h.read("role/r1").await.is_none());
        assert!(h.read("role/r1/role-id").await.is_none());
        assert_eq!(h.list("role").await, ["r2"]);
        assert!(h.ok(Delete, "role/nobody", Value::Null).await.is_none());
    }

    #[tokio::test]
    async fn role_ids_are_unique_per_mount() {
        let h = harness().await;
        h.ok(Update, "role/a", json!({"role_id": "shared-id"})).await;
        assert_eq!(h.err(Update, "role/b", json!({"role_id": "shared-id"})).await, (500, "1 error occurred:\n\t* role_id already in use\n\n".into()));
        assert!(h.read("role/b").await.is_none(), "nothing stored");
        h.ok(Update, "role/b", json!({})).await;
        assert_eq!(h.err(Update, "role/b/role-id", json!({"role_id": "shared-id"})).await.0, 500);
        assert_eq!(h.err(Update, "role/b/role-id", json!({})).await, (400, "missing role_id".into()));
        assert_eq!(h.err(Update, "role/b", json!({"role_id": ""})).await.1, "invalid role_id supplied, or failed to generate a role_id");
        // Moving a role id frees the old one.
        h.ok(Update, "role/a/role-id", json!({"role_id": "new-id"})).await;
        h.ok(Update, "role/b/role-id", json!({"role_id": "shared-id"})).await;
        assert_eq!(h.read("role/b/role-id").await.unwrap()["role_id"], "shared-id");
        // Deleting a role frees its id too.
        h.ok(Delete, "role/a", Value::Null).await;
        h.ok(Update, "role/c", json!({"role_id": "new-id"})).await;
    }

    #[tokio::test]
    async fn a_role_without_a_secret_id_needs_another_binding() {
        let h = harness().await;
        let want = (500, "1 error occurred:\n\t* at least one constraint should be enabled on the role\n\n".to_string());
        assert_eq!(h.err(Update, "role/r", json!({"bind_secret_id": false})).await, want);
        assert!(h.read("role/r").await.is_none());
        h.ok(Update, "role/r", json!({"bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.1/32"})).await;
        assert_eq!(h.err(Delete, "role/r/secret-id-bound-cidrs", Value::Null).await, want);
        assert_eq!(h.err(Delete, "role/r/bound-cidr-list", Value::Null).await, want);
        assert_eq!(h.read("role/r/secret-id-bound-cidrs").await.unwrap(), json!({"secret_id_bound_cidrs": ["127.0.0.1/32"]}));
        h.ok(Update, "role/r", json!({"token_bound_cidrs": "10.0.0.0/8"})).await;
        h.ok(Delete, "role/r/secret-id-bound-cidrs", Value::Null).await;
        assert_eq!(h.err(Delete, "role/r/token-bound-cidrs", Value::Null).await, want);
        h.ok(Delete, "role/r/bind-secret-id", Value::Null).await;
        assert_eq!(h.read("role/r/bind-secret-id").await.unwrap(), json!({"bind_secret_id": true}));
    }

    #[tokio::test]
    async fn settings_sub_paths() {
        let h = harness().await;
        h.ok(Update, "role/r", json!({})).await;
        for (sub, field, value, want) in [
            ("secret-id-num-uses", "secret_id_num_uses", json!(5), json!(5)),
            ("secret-id-ttl", "secret_id_ttl", json!("1m"), json!(60)),
            ("token-max-ttl", "token_max_ttl", json!("2h"), json!(7200)),
            ("token-ttl", "token_ttl", json!("1h"), json!(3600)),
            ("token-num-uses", "token_num_uses", json!(4), json!(4)),
            ("bind-secret-id", "bind_secret_id", json!(false), json!(false)),
        ] {
            if sub == "bind-secret-id" {
                h.ok(Update, "role/r/token-bound-cidrs", json!({"token_bound_cidrs": "127.0.0.1"})).await;
            }
            assert_eq!(h.err(Update, &format!("role/r/{sub}"), json!({})).await, (400, format!("missing {field}")), "{sub}");
            h.ok(Update, &format!("role/r/{sub}"), json!({field: value})).await;
            assert_eq!(h.read(&format!("role/r/{sub}")).await.unwrap(), json!({field: want}), "{sub}");
            assert_eq!(h.read("role/r").await.unwrap()[field], want, "{sub}");
        }
        assert_eq!(h.err(Update, "role/r/token-ttl", json!({"token_ttl": "3h"})).await.1, "token_ttl should not be greater than token_max_ttl");
        assert_eq!(h.err(Update, "role/r/token-max-ttl", json!({"token_max_ttl": "1m"})).await.1, "token_max_ttl should be greater than token_ttl");
        assert_eq!(h.err(Update, "role/r/secret-id-num-uses", json!({"secret_id_num_uses": -1})).await.1, "secret_id_num_uses cannot be negative");
        assert_eq!(h.err(Update, "role/r/token-num-uses", json!({"token_num_uses": -2})).await.1, "'token_num_uses' cannot be negative");
        h.ok(Update, "role/r/policies", json!({"policies": "X,y"})).await;
        assert_eq!(h.read("role/r/policies").await.unwrap(), json!({"policies": ["x", "y"], "token_policies": ["x", "y"]}));
        h.ok(Delete, "role/r/policies", Value::Null).await;
        assert_eq!(h.read("role/r/policies").await.unwrap(), json!({"token_policies": []}));
        h.ok(Update, "role/r/period", json!({"period": "1h"})).await;
        assert_eq!(h.read("role/r/period").await.unwrap(), json!({"period": 3600, "token_period": 3600}));
        assert_eq!(h.read("role/r").await.unwrap()["period"], 3600);
        h.ok(Update, "role/r/period", json!({"token_period": "2h"})).await;
        assert_eq!(h.read("role/r/period").await.unwrap(), json!({"token_period": 7200}));
        h.ok(Update, "role/r/secret-id-bound-cidrs", json!({"secret_id_bound_cidrs": "10.0.0.0/8"})).await;
        assert_eq!(h.read("role/r/bound-cidr-list").await.unwrap(), json!({"bound_cidr_list": null}));
        h.ok(Update, "role/r/bound-cidr-list", json!({"bound_cidr_list": "10.1.0.0/16"})).await;
        assert_eq!(h.read("role/r/secret-id-bound-cidrs").await.unwrap(), json!({"secret_id_bound_cidrs": ["10.1.0.0/16"]}));
        assert_eq!(h.err(Update, "role/r/secret-id-bound-cidrs", json!({"secret_id_bound_cidrs": ""})).await.1, "missing bound_cidr_list");
        assert_eq!(h.read("role/r/local-secret-ids").await.unwrap(), json!({"local_secret_ids": false}));
        // Deletes reset to the defaults.
        for sub in ["secret-id-num-uses", "secret-id-ttl", "token-ttl", "token-max-ttl", "token-num-uses", "period"] {
            h.ok(Delete, &format!("role/r/{sub}"), Value::Null).await;
        }
        let d = h.read("role/r").await.unwrap();
        for f in ["secret_id_num_uses", "secret_id_ttl", "token_ttl", "token_max_ttl", "token_num_uses", "token_period"] {
            assert_eq!(d[f], 0, "{f}");
        }
        // Unknown role: reads 404, updates `unsupported path`, deletes 204.
        assert!(h.read("role/nope/token-ttl").await.is_none());
        assert_eq!(h.err(Update, "role/nope/token-ttl", json!({"token_ttl": 1})).await.0, 404);
        assert!(h.ok(Delete, "role/nope/token-ttl", Value::Null).await.is_none());
        assert!(matches!(h.call(List, "role/r/token-ttl", Value::Null).await, Err(coffer_core::Error::UnsupportedPath(_))));
        assert!(matches!(h.call(Read, "role/r/secret-id", Value::Null).await, Err(coffer_core::Error::UnsupportedOperation(_))));
    }

    #[tokio::test]
    async fn invalid_fields_are_refused_and_change_nothing() {
        let h = harness().await;
        h.ok(Update, "role/r", json!({"token_max_ttl": "1h"})).await;
        let before = h.read("role/r").await.unwrap();
        for (body, want) in [
            (json!({"secret_id_num_uses": -1}), (400, "secret_id_num_uses cannot be negative")),
            (json!({"token_ttl": "2h"}), (400, "'token_ttl' cannot be greater than 'token_max_ttl'")),
            (json!({"secret_id_bound_cidrs": "bad"}), (500, "1 error occurred:\n\t* failed to validate CIDR blocks: invalid CIDR address: bad\n\n")),
            (json!({"secret_id_bound_cidrs": "10.0.0.0/8,127.0.0.1"}), (500, "1 error occurred:\n\t* failed to validate CIDR blocks: invalid CIDR address: 127.0.0.1\n\n")),
            (json!({"local_secret_ids": true}), (400, "local_secret_ids can only be modified during role creation")),
            (json!({"token_type": "batch", "period": "1h"}), (400, "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens")),
        ] {
            assert_eq!(h.err(Update, "role/r", body.clone()).await, (want.0, want.1.to_string()), "{body}");
        }
        assert_eq!(h.read("role/r").await.unwrap(), before);
        // Both period names: token_period wins, and period is echoed.
        h.ok(Update, "role/r", json!({"period": "1h", "token_period": "2h"})).await;
        let d = h.read("role/r").await.unwrap();
        assert_eq!((d["period"].clone(), d["token_period"].clone()), (json!(7200), json!(7200)));
    }

    #[tokio::test]
    async fn role_names_are_case_insensitive() {
        let h = harness().await;
        h.ok(Update, "role/Mixed", json!({"token_policies": "p"})).await;
        assert_eq!(h.list("role").await, ["mixed"]);
        assert_eq!(h.read("role/MIXED").await.unwrap()["token_policies"], json!(["p"]));
    }
}
