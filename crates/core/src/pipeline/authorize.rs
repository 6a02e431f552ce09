//! Stage 4, authorize: does this caller get past the route stage's answer?
//!
//! One place for every decision that needs the token and the route together:
//! - `?help`: any valid token may ask (no ACL).
//! - an unserved request (no mount, no row, no such operation): the refusal
//!   rule below;
//! - a served row: a token unless the path is unauthenticated (a login);
//!   then the existence check (update → create when the object is missing),
//!   the ACL on the full canonical path (root-protected paths need sudo),
//!   and `num_uses` accounting.
//!
//! Refusal rule, as in Vault: the 404/405 of an unserved request comes only
//! after the token and the ACL: no valid token, or an ACL that does not reach
//! the path, gets 403, so nobody maps mounts or endpoints they may not use.
//! A request that presented a valid token spends one of its uses whether it
//! is denied, refused or served; on its last use a denied or refused request
//! revokes the token at once, a served one right after dispatch.

use super::context::{RequestContext, Target, TokenState};
use super::namespace::Namespace;
use crate::backend::{Route, SpecialPaths};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::logical::{Operation, Request};
use crate::mounts::RouteEntry;
use crate::token::UseOutcome;
use coffer_policy::{AclRequest, Caps};
use std::sync::Arc;

/// What the stage may do besides deciding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The request goes on to dispatch: build the backend's request, run the
    /// existence check and the ACL, spend a use.
    Serve,
    /// [`Core::admit_body`]: decide what can be decided without the body
    /// (token and route, and the refusal rule of an unserved request);
    /// spend nothing, read no storage beyond the token lookup. A served row
    /// is admitted once the token is right: its ACL may depend on the body's
    /// parameters, so the full pipeline judges it after the body is read.
    Admit,
}

/// A token used from outside its bound CIDRs: Vault's and OpenBao's plain
/// 403 `permission denied` (their token check's own error, not the ACL
/// denial's multierror text).
fn cidr_denied() -> Error {
    Error::Coded(403, "permission denied".into())
}

/// No token on a path that needs one.
fn no_token() -> Error {
    Error::Coded(403, "permission denied".into())
}

const WRAPPING_TOKEN_INVALID: &str = "wrapping token is not valid or does not exist";

/// `sys/wrapping/unwrap` and `rewrap`: the client token may be the wrapping token itself.
fn is_wrapping_token_use(path: &str) -> bool {
    matches!(path, "sys/wrapping/unwrap" | "sys/wrapping/rewrap")
}

/// The ACL capability an operation needs.
fn capability_of(op: Operation) -> Caps {
    match op {
        Operation::Create => Caps::CREATE,
        Operation::Read => Caps::READ,
        Operation::Update => Caps::UPDATE,
        Operation::Patch => Caps::PATCH,
        Operation::Delete => Caps::DELETE,
        Operation::List => Caps::LIST,
        Operation::Help | Operation::Header => Caps::READ,
    }
}

impl Core {
    pub(crate) async fn authorize(
        &self,
        ctx: &mut RequestContext,
        ns: &Namespace,
        mount: Option<&RouteEntry>,
        row: Option<&Route<'_>>,
        mode: Mode,
    ) -> Result<()> {
        match ctx.target {
            Target::Help => match ctx.token {
                TokenState::Valid(_) => Ok(()),
                TokenState::OutsideBoundCidrs | TokenState::EntityDisabled => Err(cidr_denied()),
                _ => Err(Error::InvalidToken),
            },
            Target::Unserved(why) => {
                let not_served = ctx.unserved_error(why);
                Err(refuse(ctx, ns, mode, not_served).await)
            }
            Target::Row => match (mount, row) {
                (Some(mount), Some(row)) => authorize_row(ctx, ns, mount, row, mode).await,
                _ => Err(Error::internal("pipeline: a row without its mount")),
            },
            Target::SealExempt | Target::Pending => Err(Error::internal("pipeline: authorize before route")),
        }
    }
}

/// The answer to an unserved request (see the module's refusal rule).
async fn refuse(ctx: &RequestContext, ns: &Namespace, mode: Mode, not_served: Error) -> Error {
    if ctx.unauthenticated {
        return not_served;
    }
    let entry = match &ctx.token {
        TokenState::Valid(e) => e,
        TokenState::OutsideBoundCidrs | TokenState::EntityDisabled => return cidr_denied(),
        TokenState::Invalid => return Error::InvalidToken,
        TokenState::Absent | TokenState::Unchecked => return no_token(),
    };
    let acl = super::identity::acl(ns, &entry.policies, ctx.identity.as_ref());
    let res = acl.check_ref(&AclRequest {
        op: capability_of(ctx.operation),
        path: &ctx.acl_path,
        data: Some(&ctx.data),
        wrap_ttl: ctx.headers.wrap_ttl,
    });
    if mode == Mode::Serve {
        match ns.tokens().use_token(entry).await {
            Ok(UseOutcome::RevokeAfter) => {
                if let Err(e) = ns.tokens().revoke_entry(entry).await {
                    return e;
                }
            }
            Ok(_) => {}
            Err(e) => return e,
        }
    }
    if res.allowed { not_served } else { Error::PermissionDenied }
}

async fn authorize_row(ctx: &mut RequestContext, ns: &Namespace, mount: &RouteEntry, row: &Route<'_>, mode: Mode) -> Result<()> {
    // An unusable token on an unauthenticated path (a login) is ignored,
    // as an unknown one is; elsewhere it is refused before any use is
    // counted.
    let entry = match &ctx.token {
        TokenState::Valid(e) => Some(e.clone()),
        _ if ctx.unauthenticated => None,
        TokenState::OutsideBoundCidrs | TokenState::EntityDisabled => return Err(cidr_denied()),
        // Vault checks the token of an unwrap or rewrap as a wrapping token
        // before anything else: a spent or unknown one is a 400 (hvac's
        // InvalidRequest), not the token check's 403.
        TokenState::Invalid if is_wrapping_token_use(&ctx.path) => return Err(Error::invalid(WRAPPING_TOKEN_INVALID)),
        TokenState::Invalid => return Err(Error::InvalidToken),
        TokenState::Absent | TokenState::Unchecked => return Err(no_token()),
    };
    if mode == Mode::Admit {
        return Ok(());
    }
    let mut req = Request {
        // The id moves with the request (`RequestContext::id` reads it there).
        id: std::mem::take(&mut ctx.id),
        operation: ctx.operation,
        path: std::mem::take(&mut ctx.acl_path),
        rel_path: std::mem::take(&mut ctx.rel_path),
        data: std::mem::take(&mut ctx.data),
        client_token: ctx.client_token.clone(),
        caller: entry.as_ref().map(|e| Arc::new(ns.tokens().caller(e))),
        has_sudo: false,
        wrap_ttl: ctx.headers.wrap_ttl,
        mount: mount.info.clone(),
        storage: mount.storage.clone(),
        remote_addr: ctx.remote_addr,
        headers: std::mem::take(&mut ctx.raw_headers),
    };
    // After the caller is known (existence checks may need it, e.g.
    // cubbyhole), before the ACL, which judges the final operation.
    let checked = if req.operation == Operation::Update && row.spec.existence_check {
        match mount.backend.exists(row, &req).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                req.operation = Operation::Create;
                Ok(())
            }
            Err(e) => Err(e),
        }
    } else {
        Ok(())
    };
    // The request is kept in the context whatever happens (audit sees it).
    let outcome = match (checked, &entry) {
        (Err(e), _) => Err(e),
        (Ok(()), None) => {
            // No token: only an unauthenticated path gets here (a login).
            ctx.audit_policy.allowed = Some(true);
            Ok(())
        }
        (Ok(()), Some(entry)) => check_acl(ctx, ns, mount, &mut req, entry).await,
    };
    ctx.request = Some(req);
    outcome
}

/// The ACL and the use count for an authenticated request on a row.
async fn check_acl(ctx: &mut RequestContext, ns: &Namespace, mount: &RouteEntry, req: &mut Request, entry: &Arc<crate::token::TokenEntry>) -> Result<()> {
    // Borrowed from the cached entry (and the entity's cached union with
    // its identity policies): the cache lookups allocate nothing.
    let acl = super::identity::acl(ns, &entry.policies, ctx.identity.as_ref());
    let res = acl.check_ref(&AclRequest { op: capability_of(req.operation), path: &req.path, data: Some(&req.data), wrap_ttl: req.wrap_ttl });
    let root_protected = SpecialPaths::matches(&mount.special.root, &req.rel_path);
    let allowed = ctx.unauthenticated || (res.allowed && (!root_protected || res.sudo));
    ctx.audit_policy.allowed = Some(allowed);
    if ctx.audit_detail && allowed {
        ctx.audit_policy.granting = res.granting_policies().map(str::to_string).collect();
    }
    if !ctx.unauthenticated && (!res.allowed || (root_protected && !res.sudo)) {
        // A denied request still presented the token, and Vault counts
        // every such request against `num_uses`: otherwise a limited token
        // could probe paths forever. On its last use it is revoked at once
        // (there is no request to finish first).
        if let UseOutcome::RevokeAfter = ns.tokens().use_token(entry).await? {
            ns.tokens().revoke_entry(entry).await?;
        }
        // Wrapping-TTL violations are denials too (OpenBao answers 403).
        return Err(Error::PermissionDenied);
    }
    req.has_sudo = res.sudo || acl.is_root();
    if ctx.unauthenticated {
        return Ok(());
    }
    if let UseOutcome::RevokeAfter = ns.tokens().use_token(entry).await? {
        ctx.revoke_after = Some(entry.clone());
    }
    Ok(())
}
