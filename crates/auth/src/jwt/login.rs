//! `login`: check a JWT against the config and a role and hand the core a
//! [`Login`](coffer_core::logical::Login): alias = the user claim, alias
//! metadata = `claim_mappings`, group aliases = `groups_claim`.
//!
//! Order (Vault's `pathLogin`, as OpenBao answers): a config exists, `role`
//! (or `default_role`), the role exists and is a `jwt` role, `jwt` is
//! present, the client address is inside
//! `token_bound_cidrs` (403 otherwise, before any key is fetched), the
//! signature, the registered claims, `bound_claims`, then the identity.

use super::{Jwt, claims, config, keys, role};
use coffer_core::fields::get_str;
use coffer_core::logical::LoginAlias;
use coffer_core::{Error, Request, Response, Result};

pub(crate) async fn login(b: &Jwt, req: &mut Request) -> Result<Option<Response>> {
    let Some(cfg) = config::load(b).await? else { return Err(Error::invalid("could not load configuration")) };
    let role_name = get_str(&req.data, "role")?.filter(|r| !r.is_empty()).unwrap_or_else(|| cfg.default_role.clone());
    if role_name.is_empty() {
        return Err(Error::invalid("missing role"));
    }
    let Some(role) = role::load(b, &role_name).await? else {
        return Err(Error::invalid(format!("role {role_name:?} could not be found")));
    };
    if role.role_type == "oidc" {
        return Err(Error::invalid("role with oidc role_type is not allowed"));
    }
    let token = get_str(&req.data, "jwt")?.unwrap_or_default();
    if token.is_empty() {
        return Err(Error::invalid("missing token"));
    }
    if !coffer_core::cidr::allows(&role.token.bound_cidrs, req.remote_addr.map(|a| a.ip())) {
        return Err(Error::Coded(403, "permission denied".into()));
    }
    let all = keys::verify(&b.keys, &cfg.source(), &token, &cfg.algs())
        .await
        .map_err(|e| Error::invalid(format!("error validating token: {e}")))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    claims::validate_registered(&all, &role, &cfg.bound_issuer, now).map_err(|e| Error::invalid(format!("error validating token: {e}")))?;
    let login = from_claims(&all, &role_name, &role).map_err(Error::invalid)?;
    Ok(Some(Response { login: Some(login), ..Default::default() }))
}

/// What every login of a jwt/oidc mount takes from claims whose signature and
/// registered claims are already checked (the JWT login here, the OIDC
/// callback in oidc.rs): `bound_claims`, then the identity — alias = the user
/// claim, alias metadata = `claim_mappings`, group aliases = `groups_claim` —
/// and the [`Login`](coffer_core::logical::Login) built from the role's token
/// settings. Errors are the message for the client.
pub(crate) fn from_claims(all: &serde_json::Value, role_name: &str, role: &role::Role) -> std::result::Result<coffer_core::logical::Login, String> {
    claims::validate_bound(all, role).map_err(|e| format!("error validating claims: {e}"))?;
    let user = claims::user(all, role)?;
    let mapped = claims::metadata(all, role)?;
    let groups = claims::groups(all, role)?;
    let mut metadata = mapped;
    metadata.insert("role".into(), role_name.to_string());
    // As OpenBao: the alias carries the role too (token and alias metadata are the same).
    let mut login = role.token.login(&user, metadata.clone(), Some(LoginAlias { name: user.clone(), metadata }));
    login.group_aliases = groups;
    Ok(login)
}
