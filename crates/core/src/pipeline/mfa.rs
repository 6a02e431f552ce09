//! Stage 6b, login MFA (between dispatch and register lease): a successful
//! login whose entity falls under a login enforcement (`identity/mfa/
//! login-enforcement/*`: by the auth mount's accessor or type, the entity, or
//! one of its groups) gets no token yet. With `X-Vault-MFA` headers the
//! passcodes are checked on the spot (single phase: a failure is 403
//! `permission denied`); without them the login is parked and the answer is
//! Vault's two-phase one (200, `auth.mfa_requirement`, no token, a warning).
//! `sys/mfa/validate` then claims the parked login, checks the passcodes and
//! issues its token through [`issue_validated`], the same issuing code as
//! stage 7.

use super::context::RequestContext;
use super::namespace::Namespace;
use crate::core::{Active, Core};
use crate::error::{Error, Result};
use crate::logical::{Auth, Login, Response};
use crate::mfa::Pending;
use crate::mounts::RouteEntry;
use std::sync::Arc;

impl Core {
    /// `Some(login)`: issue its token now (no enforcement applies, or the
    /// headers met them all). `None`: the login was parked and `resp` is the
    /// two-phase answer.
    pub(crate) async fn login_mfa(&self, ctx: &RequestContext, ns: &Namespace, mount: &RouteEntry, path: &str, login: Login, resp: &mut Response) -> Result<Option<Login>> {
        let active = ns.active();
        let mfa = active.mfa();
        // Most servers have no enforcement: then a login costs nothing more here.
        let all = mfa.enforcements().await?;
        if all.is_empty() {
            return Ok(Some(login));
        }
        // MFA is tied to an entity: a login without an identity alias has none.
        let Some(alias) = &login.alias else { return Ok(Some(login)) };
        let entity = active.identity().login(&mount.info.accessor, alias, &login.group_aliases).await?.entity;
        if entity.disabled {
            return Ok(Some(login)); // stage 7 refuses it (403)
        }
        let snap = active.identity().snapshot();
        let mut groups = snap.direct_group_ids(&entity.id);
        groups.extend(snap.inherited_group_ids(&entity.id));
        let applicable: Vec<_> = all.iter().filter(|e| e.applicable(&mount.info.accessor, &mount.entry.kind, &entity.id, &groups)).cloned().collect();
        if applicable.is_empty() {
            return Ok(Some(login));
        }
        let headers = &ctx.headers().mfa;
        if !headers.is_empty() {
            mfa.check_headers(&entity.id, &applicable, headers.iter().map(String::as_str)).await?;
            return Ok(Some(login));
        }
        let pending = Pending { login, entity_id: entity.id.clone(), enforcements: applicable, login_path: path.to_string(), mount_path: mount.prefix.clone() };
        *resp = mfa.park(pending).await?;
        Ok(None)
    }
}

/// Issue the token of a login that passed `sys/mfa/validate`, as stage 7
/// would have at login (its auth mount, its login path).
pub(crate) async fn issue_validated(active: &Arc<Active>, pending: Pending) -> Result<(Auth, Vec<String>)> {
    let router = active.router();
    let mount = router
        .entries()
        .iter()
        .find(|e| e.prefix == pending.mount_path)
        .cloned()
        .ok_or_else(|| Error::invalid("the auth method of this login is no longer enabled"))?;
    super::lease::issue_login_token(active, &mount, &pending.login_path, pending.login).await
}
