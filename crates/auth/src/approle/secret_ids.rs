//! Secret ids: `role/<name>/secret-id` (generate; LIST gives accessors),
//! `role/<name>/custom-secret-id`, `.../secret-id/lookup|destroy`,
//! `.../secret-id-accessor/lookup|destroy`, `tidy/secret-id`, and the atomic
//! claim of one use that a login makes ([`claim`]).
//!
//! # Storage (inside the mount's encrypted view)
//! - `secret_id/<role name>/<salted HMAC of the secret id>`: one
//!   [`SecretIdEntry`] ([`secret_key`]). The secret id itself is never stored:
//!   the entry holds its HMAC (compared in constant time) and its accessor.
//! - `accessor/<salted HMAC of the accessor>`: which role and secret id entry
//!   an accessor names ([`accessor_key`]).

use super::roles::{self, RoleEntry};
use super::salt::Kind;
use super::{AppRole, multierror_500, now_ns};
use coffer_core::barrier::Change;
use coffer_core::cidr::{self, BoundCidr};
use coffer_core::fields::{get_int, get_raw, get_str, get_str_list};
use coffer_core::util::{ct_eq, rfc3339_ns};
use coffer_core::view::ViewOp;
use coffer_core::{Data, Error, Request, Response, Result};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;
use zeroize::Zeroizing;

// ----------------------------------------------------------------- storage keys

const SECRET_PREFIX: &str = "secret_id/";
const ACCESSOR_PREFIX: &str = "accessor/";

fn role_secrets_prefix(role: &str) -> String {
    format!("{SECRET_PREFIX}{role}/")
}

fn secret_key(role: &str, secret_hmac: &str) -> String {
    format!("{SECRET_PREFIX}{role}/{secret_hmac}")
}

fn accessor_key(accessor_hmac: &str) -> String {
    format!("{ACCESSOR_PREFIX}{accessor_hmac}")
}

// --------------------------------------------------------------------- records

/// What is stored per secret id (times in Unix nanoseconds; 0 = never).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct SecretIdEntry {
    /// Hex HMAC of the secret id (the key's last segment too).
    pub(crate) hmac: String,
    pub(crate) accessor: String,
    /// Logins left; 0 = unlimited.
    pub(crate) num_uses: i64,
    pub(crate) ttl: u64,
    pub(crate) creation_ns: i64,
    pub(crate) expiration_ns: i64,
    pub(crate) last_updated_ns: i64,
    pub(crate) metadata: BTreeMap<String, String>,
    /// CIDR blocks as written.
    pub(crate) cidr_list: Vec<String>,
    /// CIDR blocks as written; they replace the role's on the token.
    pub(crate) token_bound_cidrs: Vec<String>,
}

impl SecretIdEntry {
    pub(crate) fn expired(&self, now: i64) -> bool {
        self.expiration_ns != 0 && now >= self.expiration_ns
    }
}

#[derive(Serialize, Deserialize)]
struct AccessorEntry {
    role: String,
    secret_hmac: String,
}

fn parse_entry(bytes: &[u8]) -> Result<SecretIdEntry> {
    serde_json::from_slice(bytes).map_err(|e| Error::internal(format!("approle: unreadable secret id entry: {e}")))
}

fn role_missing(name: &str) -> String {
    format!("role {name:?} does not exist")
}

async fn role_or(b: &AppRole, name: &str, err: impl FnOnce(String) -> Error) -> Result<RoleEntry> {
    roles::load(b, name).await?.ok_or_else(|| err(role_missing(name)))
}

/// The secret id of a request body, moved into a zeroizing string.
fn take_secret_id(data: &Data) -> Result<Zeroizing<String>> {
    match get_str(data, "secret_id")? {
        Some(s) if !s.is_empty() => Ok(Zeroizing::new(s)),
        _ => Err(Error::invalid("missing secret_id")),
    }
}

/// Remove a secret id entry and its accessor index entry together.
async fn remove(b: &AppRole, role: &str, e: &SecretIdEntry) -> Result<()> {
    let acc = b.salt.hmac(Kind::Accessor, &e.accessor).await?;
    b.view.write(vec![ViewOp::Delete(secret_key(role, &e.hmac)), ViewOp::Delete(accessor_key(&acc))]).await
}

/// The entry of a secret id of `role`, if it exists and has not expired
/// (an expired one is removed). Reads only: spends no use.
pub(crate) async fn find(b: &AppRole, role: &str, secret_id: &str) -> Result<Option<SecretIdEntry>> {
    let h = b.salt.hmac(Kind::SecretId, secret_id).await?;
    find_by_hmac(b, role, &h).await
}

async fn find_by_hmac(b: &AppRole, role: &str, h: &str) -> Result<Option<SecretIdEntry>> {
    let Some(bytes) = b.view.get(&secret_key(role, h)).await? else { return Ok(None) };
    let e = parse_entry(&bytes)?;
    if !ct_eq(e.hmac.as_bytes(), h.as_bytes()) {
        return Ok(None);
    }
    if e.expired(now_ns()) {
        remove(b, role, &e).await?;
        return Ok(None);
    }
    Ok(Some(e))
}

/// The outcome of claiming one use of a secret id.
pub(crate) enum Claim {
    /// One use is now spent (the entry as it was before); `last` when it was
    /// the final one and the entry is gone.
    Claimed { entry: SecretIdEntry, last: bool },
    Missing,
    Expired,
}

/// Spend one use of the secret id whose HMAC is `h`, atomically (a
/// compare-and-swap on its entry): of concurrent logins with the last use,
/// exactly one gets `Claimed`. Runs before any token is issued.
pub(crate) async fn claim(b: &AppRole, role: &str, h: &str) -> Result<Claim> {
    let key = secret_key(role, h);
    let now = now_ns();
    let out = b
        .view
        .update(&key, |cur| {
            let Some(bytes) = cur else { return Ok((Change::Keep, Claim::Missing)) };
            let mut e = parse_entry(bytes)?;
            if !ct_eq(e.hmac.as_bytes(), h.as_bytes()) {
                return Ok((Change::Keep, Claim::Missing));
            }
            if e.expired(now) {
                return Ok((Change::Delete, Claim::Expired));
            }
            match e.num_uses {
                0 => Ok((Change::Keep, Claim::Claimed { entry: e, last: false })),
                1 => Ok((Change::Delete, Claim::Claimed { entry: e, last: true })),
                _ => {
                    let before = e.clone();
                    e.num_uses -= 1;
                    e.last_updated_ns = now;
                    Ok((Change::Put(serde_json::to_vec(&e)?), Claim::Claimed { entry: before, last: false }))
                }
            }
        })
        .await?;
    Ok(out)
}

/// After a claim removed an entry (last use or expired): its accessor goes too.
pub(crate) async fn forget_accessor(b: &AppRole, accessor: &str) -> Result<()> {
    let acc = b.salt.hmac(Kind::Accessor, accessor).await?;
    b.view.delete(&accessor_key(&acc)).await
}

/// Every secret id of a deleted role.
pub(crate) async fn delete_all_for_role(b: &AppRole, role: &str) -> Result<()> {
    for h in b.view.list(&role_secrets_prefix(role)).await? {
        if let Some(bytes) = b.view.take(&secret_key(role, &h)).await?
            && let Ok(e) = parse_entry(&bytes)
        {
            forget_accessor(b, &e.accessor).await?;
        }
    }
    Ok(())
}

// --------------------------------------------------------------- field parsing

/// `metadata`: a JSON object of strings given as a string (what hvac sends),
/// or `k=v,k2=v2`.
fn parse_metadata(data: &Data) -> Result<BTreeMap<String, String>> {
    let raw = match get_raw(data, "metadata") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => {
            return Err(Error::invalid("Field validation failed: error converting input for field \"metadata\": expected a string"));
        }
    };
    let bad = || Error::invalid("failed to parse metadata: failed to parse the input: invalid <key,value> format");
    if raw.is_empty() {
        return Ok(BTreeMap::new());
    }
    if raw.starts_with('{') {
        let v: serde_json::Map<String, Value> = serde_json::from_str(&raw).map_err(|_| bad())?;
        return v
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(bad()),
            })
            .collect();
    }
    raw.split(',')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
            _ => Err(bad()),
        })
        .collect()
}

fn net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Is every block of `inner` inside some block of `outer`?
fn subset(outer: &[String], inner: &[String]) -> bool {
    let outer: Vec<IpNet> = outer.iter().filter_map(|s| net(s)).collect();
    inner.iter().all(|s| net(s).is_some_and(|n| outer.iter().any(|o| o.contains(&n))))
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn go_quoted(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" "))
}

// -------------------------------------------------------------------- handlers

/// `role/<name>/secret-id` (generated) and `role/<name>/custom-secret-id`.
pub(crate) async fn generate(b: &AppRole, req: &mut Request, name: &str, custom: bool) -> Result<Option<Response>> {
    let d = &req.data;
    let secret = if custom { take_secret_id(d)? } else { Zeroizing::new(uuid::Uuid::new_v4().to_string()) };
    let role = role_or(b, name, |m| Error::Coded(404, m)).await?;
    let metadata = parse_metadata(d)?;
    let cidr_list = roles::cidr_blocks(d, "cidr_list")?.unwrap_or_default();
    if !role.secret_id_bound_cidrs.is_empty() && !subset(&role.secret_id_bound_cidrs, &cidr_list) {
        return Err(multierror_500(format!(
            "failed to verify subset relationship between CIDR blocks on the role {} and CIDR blocks on the secret ID {}",
            go_quoted(&role.secret_id_bound_cidrs),
            go_quoted(&cidr_list)
        )));
    }
    let token_bound_cidrs = get_str_list(d, "token_bound_cidrs")?.unwrap_or_default();
    if let Some(bad) = token_bound_cidrs.iter().find(|s| !s.contains('/') || BoundCidr::parse(s).is_err()) {
        return Err(multierror_500(format!("failed to validate token CIDR blocks: invalid CIDR address: {bad}")));
    }
    let role_tb = cidr::to_strings(&role.token.bound_cidrs);
    if !role_tb.is_empty() && !subset(&role_tb, &token_bound_cidrs) {
        return Err(multierror_500(format!(
            "failed to verify subset relationship between the token bound CIDRs on the role {} and the token bound CIDRs on the secret ID {}",
            go_quoted(&role_tb),
            go_quoted(&token_bound_cidrs)
        )));
    }
    let mut num_uses = role.secret_id_num_uses;
    if let Some(n) = get_int(d, "num_uses")? {
        if n < 0 {
            return Err(Error::invalid("num_uses cannot be negative"));
        }
        if role.secret_id_num_uses > 0 && (n == 0 || n > role.secret_id_num_uses) {
            return Err(Error::invalid("num_uses cannot be higher than the role's secret_id_num_uses"));
        }
        num_uses = n;
    }
    let mut ttl = role.secret_id_ttl;
    if let Some(t) = crate::token_fields::secs(d, "ttl")? {
        if role.secret_id_ttl > 0 && (t == 0 || t > role.secret_id_ttl) {
            return Err(Error::invalid("ttl cannot be longer than the role's secret_id_ttl"));
        }
        ttl = t;
    }
    let now = now_ns();
    let expiration_ns = if ttl == 0 { 0 } else { now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX / 2).saturating_mul(1_000_000_000)) };
    let accessor = uuid::Uuid::new_v4().to_string();
    let h = b.salt.hmac(Kind::SecretId, &secret).await?;
    let entry = SecretIdEntry {
        hmac: h.clone(),
        accessor: accessor.clone(),
        num_uses,
        ttl,
        creation_ns: now,
        expiration_ns,
        last_updated_ns: now,
        metadata,
        cidr_list,
        token_bound_cidrs,
    };
    // The accessor first: an entry is never without one (a crash in between
    // leaves a dangling accessor, which tidy removes).
    let acc_key = accessor_key(&b.salt.hmac(Kind::Accessor, &accessor).await?);
    b.view.put_json(&acc_key, &AccessorEntry { role: name.to_string(), secret_hmac: h.clone() }).await?;
    let bytes = serde_json::to_vec(&entry)?;
    let created = b
        .view
        .update(&secret_key(name, &h), |cur| Ok(if cur.is_some() { (Change::Keep, false) } else { (Change::Put(bytes.clone()), true) }))
        .await?;
    if !created {
        b.view.delete(&acc_key).await?;
        return Err(multierror_500("failed to store secret_id: SecretID is already registered"));
    }
    Ok(Some(Response::json(json!({
        "secret_id": secret.as_str(),
        "secret_id_accessor": accessor,
        "secret_id_num_uses": num_uses,
        "secret_id_ttl": ttl,
    }))))
}

/// LIST `role/<name>/secret-id`: the accessors.
pub(crate) async fn list(b: &AppRole, name: &str) -> Result<Option<Response>> {
    role_or(b, name, Error::InvalidRequest).await?;
    let mut accessors = Vec::new();
    for h in b.view.list(&role_secrets_prefix(name)).await? {
        if let Some(bytes) = b.view.get(&secret_key(name, &h)).await? {
            accessors.push(parse_entry(&bytes)?.accessor);
        }
    }
    accessors.sort();
    Ok(Some(Response::list(accessors)))
}

/// What a lookup shows: never the secret id, nor its HMAC.
fn lookup_data(e: &SecretIdEntry) -> Value {
    json!({
        "cidr_list": e.cidr_list,
        "creation_time": rfc3339_ns(e.creation_ns),
        "expiration_time": if e.expiration_ns == 0 { "0001-01-01T00:00:00Z".to_string() } else { rfc3339_ns(e.expiration_ns) },
        "last_updated_time": rfc3339_ns(e.last_updated_ns),
        "metadata": e.metadata,
        "secret_id_accessor": e.accessor,
        "secret_id_num_uses": e.num_uses,
        "secret_id_ttl": e.ttl,
        "token_bound_cidrs": e.token_bound_cidrs,
    })
}

/// Unknown, expired or another role's: 204, as Vault.
pub(crate) async fn lookup(b: &AppRole, req: &mut Request, name: &str) -> Result<Option<Response>> {
    let secret = take_secret_id(&req.data)?;
    role_or(b, name, multierror_500).await?;
    Ok(find(b, name, &secret).await?.map(|e| Response::json(lookup_data(&e))))
}

pub(crate) async fn destroy(b: &AppRole, req: &mut Request, name: &str) -> Result<Option<Response>> {
    let secret = take_secret_id(&req.data)?;
    role_or(b, name, multierror_500).await?;
    let h = b.salt.hmac(Kind::SecretId, &secret).await?;
    if let Some(bytes) = b.view.take(&secret_key(name, &h)).await? {
        forget_accessor(b, &parse_entry(&bytes)?.accessor).await?;
    }
    Ok(None)
}

fn take_accessor(data: &Data) -> Result<String> {
    match get_str(data, "secret_id_accessor")? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::invalid("missing secret_id_accessor")),
    }
}

fn no_accessor(acc: &str) -> String {
    format!("failed to find accessor entry for secret_id_accessor: {acc:?}")
}

async fn accessor_entry(b: &AppRole, acc: &str) -> Result<Option<AccessorEntry>> {
    b.view.get_json(&accessor_key(&b.salt.hmac(Kind::Accessor, acc).await?)).await
}

/// An unknown accessor is Vault's 404 with the error in `data`; another
/// role's is a 204.
pub(crate) async fn accessor_lookup(b: &AppRole, req: &mut Request, name: &str) -> Result<Option<Response>> {
    let acc = take_accessor(&req.data)?;
    role_or(b, name, multierror_500).await?;
    let Some(idx) = accessor_entry(b, &acc).await? else {
        return Ok(Some(Response { status: Some(404), ..Response::json(json!({"error": no_accessor(&acc)})) }));
    };
    if idx.role != name {
        return Ok(None);
    }
    Ok(find_by_hmac(b, name, &idx.secret_hmac).await?.map(|e| Response::json(lookup_data(&e))))
}

pub(crate) async fn accessor_destroy(b: &AppRole, req: &mut Request, name: &str) -> Result<Option<Response>> {
    let acc = take_accessor(&req.data)?;
    role_or(b, name, multierror_500).await?;
    let Some(idx) = accessor_entry(b, &acc).await? else { return Err(multierror_500(no_accessor(&acc))) };
    if idx.role != name {
        return Err(Error::Coded(403, "invalid secret id accessor".into()));
    }
    let acc_key = accessor_key(&b.salt.hmac(Kind::Accessor, &acc).await?);
    b.view.write(vec![ViewOp::Delete(secret_key(name, &idx.secret_hmac)), ViewOp::Delete(acc_key)]).await?;
    Ok(None)
}

/// What [`tidy_now`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Tidied {
    pub(crate) expired: usize,
    pub(crate) orphaned: usize,
    pub(crate) dangling_accessors: usize,
}

/// Remove expired secret ids, those of deleted roles, and accessor entries
/// whose secret id is gone.
pub(crate) async fn tidy_now(b: &AppRole) -> Result<Tidied> {
    let mut t = Tidied::default();
    let now = now_ns();
    for key in b.view.keys_recursive(SECRET_PREFIX).await? {
        let Some((role, _)) = key.strip_prefix(SECRET_PREFIX).and_then(|r| r.split_once('/')) else { continue };
        let role_exists = roles::load(b, role).await?.is_some();
        let Some(bytes) = b.view.get(&key).await? else { continue };
        let Ok(e) = parse_entry(&bytes) else { continue };
        if !role_exists || e.expired(now) {
            remove(b, role, &e).await?;
            if role_exists { t.expired += 1 } else { t.orphaned += 1 }
        }
    }
    for key in b.view.keys_recursive(ACCESSOR_PREFIX).await? {
        let Some(idx) = b.view.get_json::<AccessorEntry>(&key).await? else { continue };
        if b.view.get(&secret_key(&idx.role, &idx.secret_hmac)).await?.is_none() {
            b.view.delete(&key).await?;
            t.dangling_accessors += 1;
        }
    }
    Ok(t)
}

/// `tidy/secret-id`: Vault's 202 with its warning. The work is bounded by the
/// number of stored secret ids and done before answering.
pub(crate) async fn tidy(b: &AppRole) -> Result<Option<Response>> {
    let t = tidy_now(b).await?;
    tracing::info!(expired = t.expired, orphaned = t.orphaned, dangling_accessors = t.dangling_accessors, "approle: tidied secret ids");
    Ok(Some(Response {
        status: Some(202),
        warnings: vec![
            "Tidy operation successfully started. Any information from the operation will be printed to OpenBao's server logs.".into(),
        ],
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Harness, contains, harness};
    use super::*;
    use coffer_core::Operation::{Delete, List, Update};
    use serde_json::Value;

    async fn generate_sid(h: &Harness, role: &str, body: Value) -> (String, String) {
        let r = h.ok(Update, &format!("role/{role}/secret-id"), body).await.unwrap().data.unwrap();
        (r["secret_id"].as_str().unwrap().to_string(), r["secret_id_accessor"].as_str().unwrap().to_string())
    }

    #[tokio::test]
    async fn generate_lookup_list_destroy() {
        let h = harness().await;
        h.ok(Update, "role/r", json!({"secret_id_ttl": "10m", "secret_id_num_uses": 3})).await;
        let r = h.ok(Update, "role/r/secret-id", json!({"metadata": "{\"a\":\"b\"}"})).await.unwrap().data.unwrap();
        assert_eq!(r["secret_id_num_uses"], 3);
        assert_eq!(r["secret_id_ttl"], 600);
        let (sid, acc) = (r["secret_id"].as_str().unwrap().to_string(), r["secret_id_accessor"].as_str().unwrap().to_string());
        let d = h.ok(Update, "role/r/secret-id/lookup", json!({"secret_id": sid})).await.unwrap().data.unwrap();
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        assert_eq!(keys, ["cidr_list", "creation_time", "expiration_time", "last_updated_time", "metadata", "secret_id_accessor", "secret_id_num_uses", "secret_id_ttl", "token_bound_cidrs"]);
        assert_eq!(d["metadata"], json!({"a": "b"}));
        assert_eq!(d["secret_id_accessor"], acc.as_str());
        assert!(!Value::Object(d.clone()).to_string().contains(&sid), "a lookup never shows the secret id");
        let d2 = h.ok(Update, "role/r/secret-id-accessor/lookup", json!({"secret_id_accessor": acc})).await.unwrap().data.unwrap();
        assert_eq!(d, d2);
        let (_, acc2) = generate_sid(&h, "r", json!({})).await;
        let mut want = vec![acc.clone(), acc2.clone()];
        want.sort();
        assert_eq!(h.list("role/r/secret-id").await, want);
        h.ok(Update, "role/r/secret-id/destroy", json!({"secret_id": sid})).await;
        assert!(h.ok(Update, "role/r/secret-id/lookup", json!({"secret_id": sid})).await.is_none(), "204 once destroyed");
        assert_eq!(h.list("role/r/secret-id").await, std::slice::from_ref(&acc2));
        h.ok(Update, "role/r/secret-id-accessor/destroy", json!({"secret_id_accessor": acc2})).await;
        assert!(h.list("role/r/secret-id").await.is_empty());
        assert_eq!(h.err(Update, "role/r/secret-id-accessor/destroy", json!({"secret_id_accessor": acc2})).await.0, 500);
        let r = h.ok(Update, "role/r/secret-id-accessor/lookup", json!({"secret_id_accessor": "nope"})).await.unwrap();
        assert_eq!(r.status, Some(404));
        assert_eq!(r.data.unwrap()["error"], "failed to find accessor entry for secret_id_accessor: \"nope\"");
        // Missing fields and unknown roles.
        assert_eq!(h.err(Update, "role/r/secret-id/lookup", json!({})).await, (400, "missing secret_id".into()));
        assert_eq!(h.err(Update, "role/r/secret-id/destroy", json!({})).await, (400, "missing secret_id".into()));
        assert_eq!(h.err(Update, "role/r/secret-id-accessor/lookup", json!({})).await, (400, "missing secret_id_accessor".into()));
        assert_eq!(h.err(Update, "role/nope/secret-id", json!({})).await, (404, "role \"nope\" does not exist".into()));
        assert_eq!(h.err(List, "role/nope/secret-id", Value::Null).await, (400, "role \"nope\" does not exist".into()));
        assert_eq!(h.err(Update, "role/nope/secret-id/lookup", json!({"secret_id": "x"})).await.0, 500);
    }

    #[tokio::test]
    async fn another_roles_secret_ids_are_out_of_reach() {
        let h = harness().await;
        h.ok(Update, "role/a", json!({})).await;
        h.ok(Update, "role/b", json!({})).await;
        let (sid, acc) = generate_sid(&h, "a", json!({})).await;
        assert!(h.ok(Update, "role/b/secret-id/lookup", json!({"secret_id": sid})).await.is_none());
        assert!(h.ok(Update, "role/b/secret-id-accessor/lookup", json!({"secret_id_accessor": acc})).await.is_none());
        assert_eq!(h.err(Update, "role/b/secret-id-accessor/destroy", json!({"secret_id_accessor": acc})).await, (403, "invalid secret id accessor".into()));
        h.ok(Update, "role/b/secret-id/destroy", json!({"secret_id": sid})).await;
        assert!(h.ok(Update, "role/a/secret-id/lookup", json!({"secret_id": sid})).await.is_some(), "still there");
    }

    #[tokio::test]
    async fn limits_from_the_role() {
        let h = harness().await;
        h.ok(Update, "role/r", json!({"secret_id_ttl": "1m", "secret_id_num_uses": 2, "secret_id_bound_cidrs": "127.0.0.0/8", "token_bound_cidrs": "127.0.0.0/8"})).await;
        for (body, want) in [
            (json!({"num_uses": -1}), (400, "num_uses cannot be negative".to_string())),
            (json!({"num_uses": 3}), (400, "num_uses cannot be higher than the role's secret_id_num_uses".into())),
            (json!({"num_uses": 0}), (400, "num_uses cannot be higher than the role's secret_id_num_uses".into())),
            (json!({"ttl": "1h"}), (400, "ttl cannot be longer than the role's secret_id_ttl".into())),
            (json!({"cidr_list": "10.0.0.0/8"}), (500, "1 error occurred:\n\t* failed to verify subset relationship between CIDR blocks on the role [\"127.0.0.0/8\"] and CIDR blocks on the secret ID [\"10.0.0.0/8\"]\n\n".into())),
            (json!({"cidr_list": "127.0.0.1"}), (500, "1 error occurred:\n\t* failed to validate CIDR blocks: invalid CIDR address: 127.0.0.1\n\n".into())),
            (json!({"token_bound_cidrs": "10.1.1.1/32"}), (500, "1 error occurred:\n\t* failed to verify subset relationship between the token bound CIDRs on the role [\"127.0.0.0/8\"] and the token bound CIDRs on the secret ID [\"10.1.1.1/32\"]\n\n".into())),
            (json!({"token_bound_cidrs": "127.0.0.1"}), (500, "1 error occurred:\n\t* failed to validate token CIDR blocks: invalid CIDR address: 127.0.0.1\n\n".into())),
            (json!({"metadata": "notjson"}), (400, "failed to parse metadata: failed to parse the input: invalid <key,value> format".into())),
            (json!({"metadata": {"a": "b"}}), (400, "Field validation failed: error converting input for field \"metadata\": expected a string".into())),
        ] {
            assert_eq!(h.err(Update, "role/r/secret-id", body.clone()).await, want, "{body}");
        }
        assert!(h.list("role/r/secret-id").await.is_empty(), "nothing was created");
        let r = h.ok(Update, "role/r/secret-id", json!({"num_uses": 1, "ttl": "30s", "cidr_list": "127.0.0.1/32", "token_bound_cidrs": "127.0.0.1/32", "metadata": "k=v"})).await.unwrap().data.unwrap();
        assert_eq!((r["secret_id_num_uses"].clone(), r["secret_id_ttl"].clone()), (json!(1), json!(30)));
    }

    #[tokio::test]
    async fn custom_secret_ids_are_unique_per_role() {
        let h = harness().await;
        h.ok(Update, "role/r", json!({})).await;
        h.ok(Update, "role/s", json!({})).await;
        let r = h.ok(Update, "role/r/custom-secret-id", json!({"secret_id": "my-custom-secret-1234"})).await.unwrap().data.unwrap();
        assert_eq!(r["secret_id"], "my-custom-secret-1234");
        assert_eq!(h.err(Update, "role/r/custom-secret-id", json!({"secret_id": "my-custom-secret-1234"})).await, (500, "1 error occurred:\n\t* failed to store secret_id: SecretID is already registered\n\n".into()));
        assert_eq!(h.list("role/r/secret-id").await.len(), 1, "the refused one left no accessor");
        h.ok(Update, "role/s/custom-secret-id", json!({"secret_id": "my-custom-secret-1234"})).await;
        assert_eq!(h.err(Update, "role/r/custom-secret-id", json!({})).await, (400, "missing secret_id".into()));
    }

    #[tokio::test]
    async fn secret_ids_are_stored_only_as_hmacs() {
        let h = harness().await;
        h.ok(Update, "role/r", json!({})).await;
        let needle = "Custom-Secret-Needle-5e1f";
        h.ok(Update, "role/r/custom-secret-id", json!({"secret_id": needle})).await;
        let (generated, _) = generate_sid(&h, "r", json!({})).await;
        for (k, v) in h.logical_values().await {
            for s in [needle, generated.as_str()] {
                assert!(!k.contains(s) && !contains(&v, s.as_bytes()), "secret id in clear at {k}");
            }
        }
        for (k, v) in h.physical_values().await {
            assert!(!k.contains(needle) && !contains(&v, needle.as_bytes()), "plaintext in physical {k}");
        }
    }

    #[tokio::test]
    async fn deleting_a_role_destroys_its_secret_ids_and_tidy_cleans_up() {
        let h = harness().await;
        h.ok(Update, "role/r", json!({})).await;
        let (sid, _) = generate_sid(&h, "r", json!({})).await;
        h.ok(Delete, "role/r", Value::Null).await;
        h.ok(Update, "role/r", json!({})).await;
        assert!(h.ok(Update, "role/r/secret-id/lookup", json!({"secret_id": sid})).await.is_none(), "not revived by a new role of the same name");
        assert!(h.list("role/r/secret-id").await.is_empty());
        assert!(!h.logical_values().await.iter().any(|(k, _)| k.starts_with(ACCESSOR_PREFIX)));

        // Expired secret ids and a dangling accessor are tidied.
        let (_, _) = generate_sid(&h, "r", json!({"ttl": 1})).await;
        h.storage.put("accessor/deadbeef", br#"{"role":"r","secret_hmac":"00"}"#).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let r = h.ok(Update, "tidy/secret-id", json!({})).await.unwrap();
        assert_eq!(r.status, Some(202));
        assert!(h.list("role/r/secret-id").await.is_empty());
        let left: Vec<String> = h.logical_values().await.into_iter().map(|(k, _)| k).filter(|k| !k.starts_with("role")).collect();
        assert_eq!(left, ["salt"], "only the salt is left");
    }
}
