//! Stage 7, register lease: what a response hands out that must be
//! revocable gets its lease here. Today that is the token of a successful
//! login (an auth method returns a [`Login`]; the token store writes the
//! token and its lease index entry in one batch). Secret leases of dynamic
//! secrets (`resp.secret`) are registered here by the issue that brings them.
//!
//! A login that names an alias first goes through the identity store
//! (`IdentityStore::login`): the alias on the login mount's accessor and its
//! entity are found or created, the entity's external group memberships on
//! that mount follow the login's group names, and the token (service or
//! batch) carries the entity id. A disabled entity cannot log in (403, as
//! Vault). The `auth` block shows `identity_policies` and, in `policies`,
//! the union with the token's own (`token_policies`), sorted, as Vault.

use super::context::RequestContext;
use super::namespace::Namespace;
use crate::core::{Active, Core};
use crate::error::{Error, Result};
use crate::logical::{Auth, Login, Response};
use crate::mounts::RouteEntry;
use crate::token::InternalCreate;
use std::sync::Arc;
use std::time::Duration;

impl Core {
    pub(crate) async fn register_lease(&self, ctx: &RequestContext, ns: &Namespace, mount: &RouteEntry, resp: &mut Response) -> Result<()> {
        if let Some(login) = resp.login.take() {
            let path = ctx.request.as_ref().map(|r| r.path.as_str()).unwrap_or(&ctx.path);
            let Some(login) = self.login_mfa(ctx, ns, mount, path, login, resp).await? else { return Ok(()) }; // 6b
            let (auth, mut warnings) = issue_login_token(ns.active(), mount, path, login).await?;
            resp.auth = Some(auth);
            resp.warnings.append(&mut warnings);
        } else if let Some(auth) = resp.auth.as_mut() {
            // A token created or renewed by an entity's token: its auth
            // block shows the identity policies too, as Vault's.
            add_identity_policies(ns.active(), auth);
        }
        Ok(())
    }
}

/// Turn an auth method's [`Login`] into a token: an orphan whose path is
/// the login path, TTL within the mount's limits (Vault's `CalculateTTL`,
/// with its warnings). Service or batch by Vault's rules: a mount tuned
/// `service`/`batch` decides; `default-service` follows the method (batch
/// only if it asks for batch); `default-batch` too (service only if it asks
/// for service).
pub(super) async fn issue_login_token(active: &Arc<Active>, mount: &RouteEntry, path: &str, login: Login) -> Result<(Auth, Vec<String>)> {
    let mut policies: Vec<String> = login.policies.iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()).collect();
    if policies.iter().any(|p| p == "root") {
        return Err(Error::invalid("auth methods cannot create root tokens"));
    }
    if !login.no_default_policy && !policies.iter().any(|p| p == "default") {
        policies.push("default".into());
    }
    policies.sort();
    policies.dedup();
    let (entity, entity_created) = match &login.alias {
        Some(alias) => {
            let found = active.identity().login(&mount.info.accessor, alias, &login.group_aliases).await?;
            (Some(found.entity), found.created)
        }
        None => (None, false),
    };
    if entity.as_ref().is_some_and(|e| e.disabled) {
        return Err(Error::Coded(403, "permission denied".into()));
    }
    let entity_id = entity.map(|e| e.id.clone()).unwrap_or_default();
    let asked = login.token_type.as_str();
    let batch = match mount.entry.config.token_type.as_deref().unwrap_or("default-service") {
        "service" => false,
        "batch" => true,
        "default-batch" => asked != "service",
        _ => asked == "batch",
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (ttl, warnings) = crate::token::calculate_ttl(crate::token::TtlInput {
        backend_ttl: login.ttl.as_secs(),
        period: login.period.as_secs(),
        backend_max: login.max_ttl.as_secs(),
        explicit_max: login.explicit_max_ttl.as_secs(),
        mount_default: mount.info.default_lease_ttl.as_secs(),
        mount_max: mount.info.max_lease_ttl.as_secs(),
        start: now,
        now,
        ..Default::default()
    })?;
    let ttl = Duration::from_secs(ttl);
    let max = if login.max_ttl.is_zero() { mount.info.max_lease_ttl } else { login.max_ttl.min(mount.info.max_lease_ttl) };
    // Periodic tokens renew without bound unless given an explicit max, as in Vault.
    let max_ttl = if login.period.is_zero() { max } else { Duration::ZERO };
    let name = mount.entry.path.trim_end_matches('/').replace('/', "-");
    let display_name = if login.display_name.is_empty() { name } else { format!("{name}-{}", login.display_name) };
    let meta = if login.metadata.is_empty() { None } else { Some(login.metadata) };
    let create = if batch {
        // Never stored; as in Vault, a batch token keeps no use limit, period or max.
        InternalCreate {
            policies,
            path: path.to_string(),
            ttl,
            display_name,
            meta,
            renewable: false,
            batch: true,
            bound_cidrs: login.bound_cidrs,
            entity_id,
            ..Default::default()
        }
    } else {
        InternalCreate {
            policies,
            path: path.to_string(),
            ttl,
            explicit_max_ttl: login.explicit_max_ttl,
            max_ttl,
            period: login.period,
            num_uses: login.num_uses,
            display_name,
            meta,
            renewable: login.renewable,
            parent: None,
            entity_id,
            batch: false,
            bound_cidrs: login.bound_cidrs,
        }
    };
    let (token, entry) = active.tokens().create_internal(create).await?;
    let mut auth = active.tokens().auth_for(&token, &entry);
    auth.entity_created = entity_created;
    add_identity_policies(active, &mut auth);
    Ok((auth, warnings))
}

/// An `auth` block's identity part, as Vault's: `identity_policies` (sorted)
/// and `policies` = token ∪ identity policies (sorted).
pub(crate) fn add_identity_policies(active: &Active, auth: &mut Auth) {
    if auth.entity_id.is_empty() {
        return;
    }
    let Some(r) = active.identity().resolved(&auth.entity_id) else { return };
    if r.policies.is_empty() {
        return;
    }
    let mut identity = r.policies.clone();
    identity.sort();
    let mut all = auth.token_policies.clone();
    all.extend(identity.iter().cloned());
    all.sort();
    all.dedup();
    auth.policies = all;
    auth.identity_policies = identity;
}
