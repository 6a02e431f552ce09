//! lookup / renew / revoke / accessors / tidy handlers.

use super::store::TokenStore;
use super::ttl::{TtlInput, calculate_ttl};
use super::{REVOCATION_PENDING, TokenEntry, one_error};
use crate::backend::MountInfo;
use crate::error::{Error, Result};
use crate::fields::{get_duration, get_str};
use crate::logical::{Request, Response};
use std::sync::Arc;

fn param(req: &Request, key: &str) -> Result<String> {
    Ok(get_str(&req.data, key)?.unwrap_or_default().trim().to_string())
}

fn client_token(req: &Request) -> Result<&str> {
    req.client_token.as_deref().filter(|t| !t.is_empty()).ok_or(Error::PermissionDenied)
}

/// Vault's answer to a lookup of an unknown token (403 "bad token").
fn bad_token() -> Error {
    Error::Coded(403, "bad token".into())
}

// ----------------------------------------------------------------------------- lookup

/// `lookup {token}`; an empty token looks up the caller, as Vault does.
pub(super) async fn lookup(s: &TokenStore, req: &Request) -> Result<Response> {
    let token = param(req, "token")?;
    if token.is_empty() {
        return lookup_self(s, req).await;
    }
    let e = s.lookup_any(&token).await?.filter(|e| visible(s, e)).ok_or_else(bad_token)?;
    Ok(Response::data(s.lookup_data(&token, &e)))
}

/// Can this entry still be looked up? Used-up tokens are visible only while
/// the request that used them up runs (lookup-self shows `num_uses: -1`).
fn visible(s: &TokenStore, e: &TokenEntry) -> bool {
    e.expire_ns.is_none_or(|at| at > s.now_ns())
}

pub(super) async fn lookup_self(s: &TokenStore, req: &Request) -> Result<Response> {
    let token = client_token(req)?;
    let e = s.lookup_any(token).await?.filter(|e| visible(s, e)).ok_or_else(bad_token)?;
    Ok(Response::data(s.lookup_data(token, &e)))
}

pub(super) async fn lookup_accessor(s: &TokenStore, req: &Request) -> Result<Response> {
    let accessor = param(req, "accessor")?;
    if accessor.is_empty() {
        return Err(one_error("missing accessor"));
    }
    let e = s
        .accessor_any(&accessor)
        .await?
        .filter(|e| visible(s, e) && e.num_uses != REVOCATION_PENDING)
        .ok_or_else(|| one_error("invalid accessor"))?;
    Ok(Response::data(s.lookup_data("", &e)))
}

// ----------------------------------------------------------------------------- renew

/// Renew one token (Vault's `RenewToken` + token store `authRenew`).
async fn renew_entry(
    s: &TokenStore,
    mount: &MountInfo,
    e: &TokenEntry,
    increment: u64,
) -> Result<(Arc<TokenEntry>, Vec<String>)> {
    let now_ns = s.now_ns();
    let Some(expire) = e.expire_ns else { return Err(Error::invalid("lease is not renewable")) };
    if expire <= now_ns {
        return Err(Error::invalid("lease expired"));
    }
    if !e.renewable {
        return Err(Error::invalid("lease is not renewable"));
    }
    // A role's current period / explicit max apply at renewal time.
    let (period, explicit_max) = if e.role.is_empty() {
        (e.period, e.explicit_max_ttl)
    } else {
        let role = s.role(&e.role).await?.ok_or_else(|| {
            Error::internal(format!("original token role {:?} could not be found, not renewing", e.role))
        })?;
        (role.token_period, role.token_explicit_max_ttl)
    };
    let now = now_ns.div_euclid(1_000_000_000);
    let (ttl, warnings) = calculate_ttl(TtlInput {
        increment,
        backend_ttl: e.ttl,
        period,
        explicit_max,
        mount_default: mount.default_lease_ttl.as_secs(),
        mount_max: mount.max_lease_ttl.as_secs(),
        start: e.issue_time_ns.div_euclid(1_000_000_000),
        now,
        ..Default::default()
    })?;
    let mut next = e.clone();
    next.ttl = ttl;
    next.expire_ns = Some(now_ns + (ttl as i64) * 1_000_000_000);
    next.last_renewal_ns = Some(now_ns);
    let e = s.update(e, next).await?;
    Ok((e, warnings))
}

async fn renew_response(s: &TokenStore, req: &Request, token: &str, e: Arc<TokenEntry>) -> Result<Response> {
    let increment = get_duration(&req.data, "increment")?.map_or(0, |d| d.as_secs());
    let _g = s.lock_token(&e.hash).await;
    // Re-read under the lock so concurrent renewals do not race.
    let cur = s.load(&e.hash).await?.ok_or_else(|| Error::invalid("token not found"))?;
    let (e, warnings) = renew_entry(s, &req.mount, &cur, increment).await?;
    Ok(Response { auth: Some(s.auth_for(token, &e)), warnings, ..Default::default() })
}

pub(super) async fn renew(s: &TokenStore, req: &Request) -> Result<Response> {
    let token = param(req, "token")?;
    if token.is_empty() {
        return Err(Error::invalid("missing token ID"));
    }
    let e = s.lookup(&token).await?.ok_or_else(|| Error::invalid("token not found"))?;
    renew_response(s, req, &token, e).await
}

pub(super) async fn renew_self(s: &TokenStore, req: &Request) -> Result<Response> {
    let token = client_token(req)?.to_string();
    let e = s.lookup_any(&token).await?.ok_or_else(|| Error::invalid("token not found"))?;
    renew_response(s, req, &token, e).await
}

pub(super) async fn renew_accessor(s: &TokenStore, req: &Request) -> Result<Response> {
    let accessor = param(req, "accessor")?;
    if accessor.is_empty() {
        return Err(one_error("missing accessor"));
    }
    let e = s.lookup_accessor(&accessor).await?.ok_or_else(|| one_error("invalid accessor"))?;
    // The token itself is not known here: `client_token` is "" as in Vault.
    renew_response(s, req, "", e).await
}

// ----------------------------------------------------------------------------- revoke

pub(super) async fn revoke(s: &TokenStore, req: &Request) -> Result<Option<Response>> {
    let token = param(req, "token")?;
    if token.is_empty() {
        return Err(Error::invalid("missing token ID"));
    }
    // Unknown tokens are not an error (Vault answers 204).
    if let Some(e) = s.lookup_any(&token).await? {
        s.revoke_tree(&e.hash).await?;
    }
    Ok(None)
}

pub(super) async fn revoke_self(s: &TokenStore, req: &Request) -> Result<Option<Response>> {
    let token = client_token(req)?;
    if let Some(e) = s.lookup_any(token).await? {
        s.revoke_tree(&e.hash).await?;
    }
    Ok(None)
}

pub(super) async fn revoke_accessor(s: &TokenStore, req: &Request) -> Result<Option<Response>> {
    let accessor = param(req, "accessor")?;
    if accessor.is_empty() {
        return Err(one_error("missing accessor"));
    }
    match s.accessor_any(&accessor).await? {
        Some(e) => {
            s.revoke_tree(&e.hash).await?;
            Ok(None)
        }
        None => Ok(Some(Response::default().with_warning("No token found with this accessor"))),
    }
}

pub(super) async fn revoke_orphan(s: &TokenStore, req: &Request) -> Result<Option<Response>> {
    if !req.has_sudo {
        return Err(Error::invalid("root or sudo privileges required to revoke and orphan"));
    }
    let token = param(req, "token")?;
    if token.is_empty() {
        return Err(Error::invalid("missing token ID"));
    }
    let e = s.lookup_any(&token).await?.ok_or_else(|| Error::invalid("token to revoke not found"))?;
    s.revoke_one(&e.hash, true).await?;
    Ok(None)
}

// ----------------------------------------------------------------------------- accessors, tidy

pub(super) async fn list_accessors(s: &TokenStore) -> Result<Response> {
    Ok(Response::list(s.accessors().await?))
}

/// Starts a background tidy and answers 202 with Vault's warning.
pub(super) fn tidy(s: &TokenStore) -> Response {
    if let Some(me) = s.arc() {
        tokio::spawn(async move {
            match me.tidy().await {
                Ok(()) => tracing::info!("token tidy finished"),
                Err(e) => tracing::warn!(error = %e, "token tidy failed"),
            }
        });
    }
    Response { status: Some(202), ..Default::default() }.with_warning(
        "Tidy operation successfully started. Any information from the operation will be printed to Coffer's server logs.",
    )
}
