//! Roles: `role/<name>` (create, update, read, delete) and LIST `role/`.
//! An update merges: fields not sent keep their stored value (Vault's
//! `pathRoleCreateUpdate`), except `role_type`, which falls back to `oidc`
//! when a write omits it (as Vault and OpenBao do).
//!
//! # Storage (inside the mount's encrypted view)
//! - `role/<name>`: one [`Role`] as JSON; keys built only by [`role_key`].

use super::Jwt;
use crate::token_fields::{self, Legacy, TokenSettings};
use coffer_core::fields::{get_bool, get_duration, get_raw, get_str, get_str_list, get_str_map};
use coffer_core::{Data, Error, Request, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const ROLE_PREFIX: &str = "role/";

fn role_key(name: &str) -> String {
    format!("{ROLE_PREFIX}{}", name.to_ascii_lowercase())
}

/// Most entries in `bound_claims`, `claim_mappings` and the URI/audience lists.
pub(crate) const MAX_ROLE_ENTRIES: usize = 256;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Role {
    pub role_type: String,
    pub bound_audiences: Vec<String>,
    pub user_claim: String,
    pub user_claim_json_pointer: bool,
    pub bound_subject: String,
    pub bound_claims: BTreeMap<String, Value>,
    pub bound_claims_type: String,
    pub claim_mappings: BTreeMap<String, String>,
    pub groups_claim: String,
    pub oidc_scopes: Vec<String>,
    pub allowed_redirect_uris: Vec<String>,
    pub callback_mode: String,
    pub clock_skew_leeway: i64,
    pub expiration_leeway: i64,
    pub not_before_leeway: i64,
    pub max_age: u64,
    pub verbose_oidc_logging: bool,
    pub oidc_disable_confirmation: bool,
    pub token: TokenSettings,
    pub legacy: Legacy,
}

pub(crate) async fn load(b: &Jwt, name: &str) -> Result<Option<Role>> {
    b.view.get_json(&role_key(name)).await
}

pub(crate) async fn list(b: &Jwt) -> Result<Option<Response>> {
    Ok(Some(Response::list(b.view.list(ROLE_PREFIX).await?)))
}

pub(crate) async fn delete(b: &Jwt, name: &str) -> Result<Option<Response>> {
    let _g = b.write_lock.lock().await;
    b.view.delete(&role_key(name)).await?;
    Ok(None)
}

fn null_if_empty<T: Serialize>(v: &T, empty: bool) -> Value {
    if empty { Value::Null } else { json!(v) }
}

pub(crate) async fn read(b: &Jwt, name: &str) -> Result<Option<Response>> {
    let Some(r) = load(b, name).await? else { return Ok(None) };
    let mut d: BTreeMap<String, Value> = token_fields::read_data(&r.token, &r.legacy).into_iter().collect();
    let own = [
        ("allowed_redirect_uris", null_if_empty(&r.allowed_redirect_uris, r.allowed_redirect_uris.is_empty())),
        ("bound_audiences", null_if_empty(&r.bound_audiences, r.bound_audiences.is_empty())),
        ("bound_claims", null_if_empty(&r.bound_claims, r.bound_claims.is_empty())),
        ("bound_claims_type", json!(r.bound_claims_type)),
        ("bound_subject", json!(r.bound_subject)),
        ("callback_mode", json!(r.callback_mode)),
        ("claim_mappings", null_if_empty(&r.claim_mappings, r.claim_mappings.is_empty())),
        ("clock_skew_leeway", json!(r.clock_skew_leeway)),
        ("expiration_leeway", json!(r.expiration_leeway)),
        ("groups_claim", json!(r.groups_claim)),
        ("max_age", json!(r.max_age)),
        ("not_before_leeway", json!(r.not_before_leeway)),
        ("oauth2_metadata", Value::Null),
        ("oidc_disable_confirmation", json!(r.oidc_disable_confirmation)),
        ("oidc_scopes", null_if_empty(&r.oidc_scopes, r.oidc_scopes.is_empty())),
        ("role_type", json!(r.role_type)),
        ("token_policies_template_claims", json!(false)),
        ("user_claim", json!(r.user_claim)),
        ("user_claim_json_pointer", json!(r.user_claim_json_pointer)),
        ("verbose_oidc_logging", json!(r.verbose_oidc_logging)),
    ];
    for (k, v) in own {
        d.insert(k.to_string(), v);
    }
    Ok(Some(Response::data(d.into_iter().collect::<Map<_, _>>())))
}

/// A leeway: seconds or a duration string; `-1` (no leeway) is allowed.
fn leeway(data: &Data, key: &str) -> Result<Option<i64>> {
    match get_raw(data, key) {
        Some(Value::Number(n)) if n.as_i64() == Some(-1) => Ok(Some(-1)),
        Some(Value::String(s)) if s.trim() == "-1" => Ok(Some(-1)),
        _ => Ok(get_duration(data, key)?.map(|d| d.as_secs() as i64)),
    }
}

fn bounded<T>(key: &str, v: Option<Vec<T>>) -> Result<Option<Vec<T>>> {
    match v {
        Some(v) if v.len() > MAX_ROLE_ENTRIES => Err(Error::invalid(format!("{key}: more than {MAX_ROLE_ENTRIES} entries"))),
        v => Ok(v),
    }
}

fn apply(data: &Data, r: &mut Role) -> Result<()> {
    // As Vault (and OpenBao): a write that omits role_type makes the role an
    // `oidc` role again, even an update of a `jwt` role.
    r.role_type = get_str(data, "role_type")?.filter(|t| !t.is_empty()).unwrap_or_else(|| "oidc".into());
    match r.role_type.as_str() {
        "jwt" | "oidc" => {}
        other => return Err(Error::invalid(format!("invalid 'role_type': {other}"))),
    }
    let set_s = |k: &str, f: &mut String| -> Result<()> {
        if let Some(v) = get_str(data, k)? {
            *f = v;
        }
        Ok(())
    };
    let set_l = |k: &str, f: &mut Vec<String>| -> Result<()> {
        if let Some(v) = bounded(k, get_str_list(data, k)?)? {
            *f = v;
        }
        Ok(())
    };
    set_l("bound_audiences", &mut r.bound_audiences)?;
    set_s("user_claim", &mut r.user_claim)?;
    set_s("bound_subject", &mut r.bound_subject)?;
    set_s("groups_claim", &mut r.groups_claim)?;
    set_l("oidc_scopes", &mut r.oidc_scopes)?;
    set_l("allowed_redirect_uris", &mut r.allowed_redirect_uris)?;
    set_s("callback_mode", &mut r.callback_mode)?;
    set_s("bound_claims_type", &mut r.bound_claims_type)?;
    if let Some(v) = get_bool(data, "user_claim_json_pointer")? {
        r.user_claim_json_pointer = v;
    }
    if let Some(v) = get_bool(data, "verbose_oidc_logging")? {
        r.verbose_oidc_logging = v;
    }
    if let Some(v) = get_bool(data, "oidc_disable_confirmation")? {
        r.oidc_disable_confirmation = v;
    }
    if get_bool(data, "token_policies_template_claims")? == Some(true) {
        return Err(Error::invalid("token_policies_template_claims: not supported by Coffer"));
    }
    if get_str_list(data, "oauth2_metadata")?.is_some_and(|l| !l.is_empty()) {
        return Err(Error::invalid("oauth2_metadata: not supported by Coffer"));
    }
    if let Some(v) = leeway(data, "clock_skew_leeway")? {
        r.clock_skew_leeway = v;
    }
    if let Some(v) = leeway(data, "expiration_leeway")? {
        r.expiration_leeway = v;
    }
    if let Some(v) = leeway(data, "not_before_leeway")? {
        r.not_before_leeway = v;
    }
    if let Some(v) = get_duration(data, "max_age")? {
        r.max_age = v.as_secs();
    }
    match get_raw(data, "bound_claims") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            if m.len() > MAX_ROLE_ENTRIES {
                return Err(Error::invalid(format!("bound_claims: more than {MAX_ROLE_ENTRIES} entries")));
            }
            r.bound_claims = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        }
        Some(_) => return Err(Error::invalid("bound_claims: expected a map")),
    }
    if let Some(m) = get_str_map(data, "claim_mappings")? {
        if m.len() > MAX_ROLE_ENTRIES {
            return Err(Error::invalid(format!("claim_mappings: more than {MAX_ROLE_ENTRIES} entries")));
        }
        r.claim_mappings = m;
    }
    token_fields::apply(data, &mut r.token, &mut r.legacy)?;
    validate(r)
}

/// Vault's checks of a whole role, after the merge.
fn validate(r: &mut Role) -> Result<()> {
    if r.bound_claims_type.is_empty() {
        r.bound_claims_type = "string".into();
    }
    if r.callback_mode.is_empty() {
        r.callback_mode = "client".into();
    }
    if r.callback_mode != "client" {
        return Err(Error::invalid(format!("callback_mode: only \"client\" is supported, got {:?}", r.callback_mode)));
    }
    match r.bound_claims_type.as_str() {
        "string" => {}
        "glob" => {
            for v in r.bound_claims.values() {
                let all_strings = match v {
                    Value::String(_) => true,
                    Value::Array(a) => a.iter().all(Value::is_string),
                    _ => false,
                };
                if !all_strings {
                    return Err(Error::invalid(format!("claim is not a string: {v}")));
                }
            }
        }
        other => return Err(Error::invalid(format!("invalid 'bound_claims_type': {other}"))),
    }
    for v in r.bound_claims.values() {
        let ok = match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
            Value::Array(a) => a.iter().all(|i| matches!(i, Value::String(_) | Value::Number(_) | Value::Bool(_))),
            _ => false,
        };
        if !ok {
            return Err(Error::invalid(format!("claim is not a string or list: {v}")));
        }
    }
    let mut targets = std::collections::BTreeSet::new();
    for target in r.claim_mappings.values() {
        if target == "role" {
            return Err(Error::invalid("metadata key \"role\" is reserved and may not be a mapping destination"));
        }
        if !targets.insert(target.as_str()) {
            return Err(Error::invalid(format!("multiple keys are mapped to metadata key {target:?}")));
        }
    }
    if r.user_claim.is_empty() {
        return Err(Error::invalid("a user claim must be defined on the role"));
    }
    if r.role_type == "jwt" {
        if r.bound_audiences.is_empty() && r.bound_subject.is_empty() && r.bound_claims.is_empty() && r.token.bound_cidrs.is_empty() {
            return Err(Error::invalid("must have at least one bound constraint when creating/updating a role"));
        }
    } else if r.allowed_redirect_uris.is_empty() {
        return Err(Error::invalid("'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified."));
    }
    Ok(())
}

pub(crate) async fn write(b: &Jwt, req: &mut Request, name: &str) -> Result<Option<Response>> {
    let _g = b.write_lock.lock().await;
    let mut r = load(b, name).await?.unwrap_or_default();
    apply(&req.data, &mut r)?;
    b.view.put_json(&role_key(name), &r).await?;
    Ok(None)
}
