//! Stage 1, resolve namespace, and the namespace handle through which the
//! later stages reach the router, the token store and the policy store.
//!
//! Only the root namespace exists. The handle is a thin view of the
//! unsealed state today; the Namespaces issue makes it carry its own mount
//! table, tokens and policies without the stages changing.

use super::context::RequestContext;
use crate::core::{Active, Core};
use crate::error::{Error, Result};
use crate::mounts::Router;
use crate::policy_store::PolicyStore;
use crate::token::TokenStore;
use std::sync::Arc;

/// One namespace's stores.
#[derive(Clone)]
pub struct Namespace {
    active: Arc<Active>,
}

impl Namespace {
    /// The root namespace of the unsealed core.
    pub(crate) fn root(active: Arc<Active>) -> Namespace {
        Namespace { active }
    }
    /// `root` (Vault's id and name of the root namespace).
    pub fn id(&self) -> &str {
        "root"
    }
    /// The namespace's path, with a trailing `/`; empty for the root.
    pub fn path(&self) -> &str {
        ""
    }
    /// The mount table snapshot (lock-free).
    pub fn router(&self) -> arc_swap::Guard<Arc<Router>> {
        self.active.router()
    }
    pub fn tokens(&self) -> &Arc<TokenStore> {
        self.active.tokens()
    }
    pub fn policies(&self) -> &Arc<PolicyStore> {
        self.active.policies()
    }
    /// The identity store: entities, aliases, groups (`entity(id)`,
    /// `group_ids_for_entity(id)`, the per-entity view the identity stage reads).
    pub fn identity(&self) -> &Arc<crate::identity::IdentityStore> {
        self.active.identity()
    }
    /// The unsealed state it lives in (wrapping and login tokens still take it).
    pub(crate) fn active(&self) -> &Arc<Active> {
        &self.active
    }
}

/// Is this `X-Vault-Namespace` value the root? `root`, `/` and the empty
/// string are, as in OpenBao (surrounding `/` and spaces ignored).
fn names_root(header: &str) -> bool {
    let ns = header.trim().trim_matches('/');
    ns.is_empty() || ns == "root"
}

impl Core {
    /// Stage 1. Sealed: 503 (there is no namespace to run in). A namespace
    /// named by `X-Vault-Namespace` other than the root: OpenBao's 404
    /// `namespace not found`, before the token is even looked at, rather than
    /// an answer from the root that a client confined to, say, `hotpass/dev`
    /// would take for its own namespace's.
    ///
    /// A namespace given as a path prefix (`ns1/secret/data/x`) is resolved
    /// here too once namespaces exist (the longest known namespace prefix is
    /// taken off the path); an unknown prefix stays part of the path, so it
    /// is an unknown mount, as in OpenBao (`tests/test_namespace_header.py`).
    pub(crate) fn resolve_namespace(&self, ctx: &mut RequestContext) -> Result<Namespace> {
        let active = self.active()?;
        if let Some(h) = &ctx.headers.namespace
            && !names_root(h)
        {
            return Err(Error::Coded(404, "namespace not found".into()));
        }
        let ns = Namespace::root(active);
        ctx.namespace = Some(ns.clone());
        Ok(ns)
    }
}

#[cfg(test)]
mod tests {
    use super::names_root;

    #[test]
    fn root_by_name() {
        for h in ["", "root", "/", "root/", " root ", "/root/"] {
            assert!(names_root(h), "{h:?}");
        }
        for h in ["hotpass", "hotpass/dev", "foo/", "Root2", "ROOT", "root/x"] {
            assert!(!names_root(h), "{h:?}");
        }
    }
}
