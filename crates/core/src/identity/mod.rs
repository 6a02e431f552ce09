//! `identity/`: Vault's identity store, mounted at setup like cubbyhole
//! (type `identity`, cannot be disabled or moved). One file per resource,
//! each with its rows and handlers, as `sys/` is:
//!
//! - `store.rs`: the [`IdentityStore`] (in-memory indexes loaded at unseal,
//!   persisted in the mount's storage view; the per-entity view the request
//!   path reads, [`Resolved`]).
//! - `entity.rs`: `entity`, `entity/id/*`, `entity/name/*`, `batch-delete`, `merge`.
//! - `alias.rs`: `entity-alias`, `entity-alias/id/*`.
//! - `group.rs`: `group`, `group/id/*`, `group/name/*`.
//! - `group_alias.rs`: `group-alias`, `group-alias/id/*`.
//! - `lookup.rs`: `lookup/entity`, `lookup/group`.
//! - `login.rs`: what a login does to the store (entity and alias found or
//!   created, external group memberships set).
//!
//! Another resource (login MFA's `mfa/*`, `oidc/*`) joins this table the way
//! `sys/`'s resources do: a variant of [`H`] wrapping its own handler enum
//! (`H::Mfa(crate::mfa::H)`), its rows (built with `Identity::Mfa(..)`
//! handlers, `use crate::identity::H as Identity`) appended to the list in
//! `TABLE`, and one arm in `IdentityBackend::serve`.

mod alias;
mod entity;
mod group;
mod group_alias;
mod login;
mod lookup;
pub mod store;

pub use login::LoginIdentity;
pub use store::{Alias, Entity, Group, GroupAlias, IdentityStore, Resolved};

use crate::backend::{Backend, PathTable, Paths, Route};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::logical::{Request, Response};
use crate::mounts::Router;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::sync::{Arc, LazyLock, Weak};

/// A handler of `identity/`: the resource that serves it and its own handler.
#[derive(Clone, Copy, Debug)]
pub(crate) enum H {
    Entity(entity::H),
    Alias(alias::H),
    Group(group::H),
    GroupAlias(group_alias::H),
    Lookup(lookup::H),
    Mfa(crate::mfa::H),
    Oidc(crate::identity_oidc::H),
}

static TABLE: LazyLock<Paths<H>> = LazyLock::new(|| {
    let rows = [
        entity::rows(),
        alias::rows(),
        group::rows(),
        group_alias::rows(),
        lookup::rows(),
        crate::mfa_rows!(H::Mfa),
        crate::identity_oidc::rows(),
    ];
    Paths::new(rows.into_iter().flatten().collect())
});

/// What a handler works with: the store and the mount table (alias mount
/// accessors are checked against it and rendered with its paths).
pub(crate) struct Ctx {
    pub(crate) store: Arc<IdentityStore>,
    pub(crate) router: Arc<Router>,
}

impl Ctx {
    /// `(mount path, mount type)` of the mount with this accessor.
    pub(crate) fn mount(&self, accessor: &str) -> Option<(String, String)> {
        self.router.entries().iter().find(|e| e.entry.accessor == accessor).map(|e| (e.prefix.clone(), e.entry.kind.clone()))
    }
    pub(crate) fn check_accessor(&self, accessor: &str) -> Result<()> {
        match self.mount(accessor) {
            Some(_) => Ok(()),
            None => Err(Error::invalid(format!("invalid mount accessor {accessor:?}"))),
        }
    }
    /// The `mount_path` / `mount_type` pair of an alias object.
    pub(crate) fn mount_fields(&self, accessor: &str, m: &mut serde_json::Map<String, Value>) {
        let (path, kind) = self.mount(accessor).unwrap_or_default();
        m.insert("mount_path".into(), json!(path));
        m.insert("mount_type".into(), json!(kind));
    }
}

pub struct IdentityBackend {
    store: Arc<IdentityStore>,
    core: Weak<Core>,
    oidc: crate::identity_oidc::Oidc,
}

impl IdentityBackend {
    pub(crate) fn new(store: Arc<IdentityStore>, core: Weak<Core>) -> IdentityBackend {
        let api_addr = core.upgrade().and_then(|c| c.config().api_addr.clone());
        let oidc = crate::identity_oidc::Oidc::new(store.view().clone(), api_addr.as_deref());
        IdentityBackend { store, core, oidc }
    }
}

#[async_trait]
impl Backend for IdentityBackend {
    fn table(&self) -> &PathTable {
        &TABLE
    }

    fn help(&self) -> &'static str {
        "The identity store: entities, their aliases, groups and group aliases."
    }

    fn special_paths(&self) -> crate::backend::SpecialPaths {
        crate::backend::SpecialPaths { unauthenticated: crate::identity_oidc::UNAUTHENTICATED.to_vec(), root: Vec::new() }
    }

    async fn exists(&self, route: &Route<'_>, req: &Request) -> Result<bool> {
        match TABLE.handler(route, req.operation)? {
            H::Oidc(h) => crate::identity_oidc::exists(&self.oidc, h, route.param("name")).await,
            _ => Ok(true),
        }
    }

    async fn serve(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        let handler = TABLE.handler(route, req.operation)?;
        let core = self.core.upgrade().ok_or(Error::Sealed)?;
        let active = core.active()?;
        let router = Arc::clone(&*active.router());
        let cx = Ctx { store: self.store.clone(), router };
        match handler {
            H::Entity(h) => entity::serve(h, &cx, route, req).await,
            H::Alias(h) => alias::serve(h, &cx, route, req).await,
            H::Group(h) => group::serve(h, &cx, route, req).await,
            H::GroupAlias(h) => group_alias::serve(h, &cx, route, req).await,
            H::Lookup(h) => lookup::serve(h, &cx, req).await,
            H::Mfa(h) => active.mfa().serve(h, route, req, &cx).await,
            H::Oidc(h) => crate::identity_oidc::serve(h, &self.oidc, &*self.store, route.param("name"), req).await,
        }
    }
}

/// The ACL of a token with these policies and (maybe) a resolved entity:
/// token ∪ identity policies, rendered for the entity's template variables.
pub fn acl(store: &crate::policy_store::PolicyStore, policies: &[String], identity: Option<&Arc<Resolved>>) -> Arc<coffer_policy::Acl> {
    match identity {
        None => store.acl_for(policies),
        Some(r) if r.policies.is_empty() => store.acl_for_identity(policies, Some(&r.vars)),
        Some(r) => store.acl_for_identity(&r.effective(policies), Some(&r.vars)),
    }
}

/// Fresh ids and times.
pub(crate) fn new_id() -> String {
    crate::util::random_uuid()
}
pub(crate) fn now() -> String {
    crate::util::rfc3339_now()
}
/// A generated name, as OpenBao names them (`entity_1a2b3c4d.root`): a
/// short random hex, then the namespace.
pub(crate) fn generated_name(kind: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{kind}_{}.root", &id[..8])
}

/// Policy names as Vault keeps them on entities and groups: trimmed, empty
/// ones dropped, duplicates removed (first kept).
pub(crate) fn clean_policies(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for p in v {
        let p = p.trim().to_string();
        if !p.is_empty() && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// `null` for an absent value, as Vault renders nil slices and maps.
pub(crate) fn opt<T: serde::Serialize>(v: &Option<T>) -> Value {
    match v {
        Some(v) => json!(v),
        None => Value::Null,
    }
}
pub(crate) fn list_or_null(v: &[String]) -> Value {
    if v.is_empty() { Value::Null } else { json!(v) }
}

#[cfg(test)]
pub(crate) mod tests;
