//! Stage 2b, resolve identity (right after authenticate): the token's
//! entity, from the identity store's in-memory view (no storage read).
//!
//! - A token whose entity is disabled becomes [`TokenState::EntityDisabled`]:
//!   the authorize stage refuses it (403 `permission denied`, as Vault), on
//!   every path, before a use is counted.
//! - Otherwise the entity's [`Resolved`] view is kept in the context: the
//!   authorize stage compiles the ACL from the token's policies ∪ the
//!   entity's and its groups' (direct and inherited) policies, with the
//!   entity's template variables. The view is derived anew after any change
//!   to entities or groups, so policies are never frozen at login.
//! - A token whose entity no longer exists keeps its own policies only.

use super::context::{EntityId, RequestContext, TokenState};
use super::namespace::Namespace;
use crate::identity::Resolved;
use coffer_policy::Acl;
use std::sync::Arc;

pub(crate) fn resolve_identity(ctx: &mut RequestContext, ns: &Namespace) {
    let TokenState::Valid(entry) = &ctx.token else { return };
    if entry.entity_id.is_empty() {
        return;
    }
    let Some(resolved) = ns.identity().resolved(&entry.entity_id) else { return };
    ctx.entity = Some(EntityId(resolved.entity_id.clone()));
    if resolved.disabled {
        ctx.token = TokenState::EntityDisabled;
        return;
    }
    ctx.identity = Some(resolved);
}

/// The ACL of a token with these policies and (maybe) an entity.
pub(crate) fn acl(ns: &Namespace, policies: &[String], identity: Option<&Arc<Resolved>>) -> Arc<Acl> {
    crate::identity::acl(ns.policies(), policies, identity)
}

#[cfg(test)]
mod tests {
    use crate::core::Incoming;
    use crate::error::Error;
    use crate::identity::tests::{as_token, id_of, login, login_core, write};
    use crate::logical::{Data, Operation};
    use serde_json::json;

    #[tokio::test]
    async fn identity_policies_apply_at_once_and_a_disabled_entity_is_refused() {
        let (core, _) = login_core().await;
        write(&core, "sys/policies/acl/reader", json!({"policy": "path \"cubbyhole/*\" { capabilities = [\"read\", \"create\", \"update\"] }\npath \"sys/mounts\" { capabilities = [\"read\"] }"})).await.unwrap();
        let a = login(&core, "carol", json!({})).await;
        let t = a.client_token.clone();
        let read_mounts = || as_token(&core, &t, Operation::Read, "sys/mounts");
        assert!(matches!(read_mounts().await, Err(Error::PermissionDenied)));
        // Through a nested group: entity ∈ inner ⊂ outer, outer has the policy.
        let inner = id_of(&core, "identity/group", json!({"name": "inner", "member_entity_ids": [a.entity_id]})).await;
        let outer = id_of(&core, "identity/group", json!({"name": "outer", "policies": ["reader"], "member_group_ids": [inner]})).await;
        assert!(read_mounts().await.is_ok(), "the group policy applies to the existing token");
        let looked = as_token(&core, &t, Operation::Read, "auth/token/lookup-self").await.unwrap().data.unwrap();
        assert_eq!(looked["identity_policies"], json!(["reader"]));
        write(&core, &format!("identity/group/id/{outer}"), json!({"policies": []})).await.unwrap();
        assert!(matches!(read_mounts().await, Err(Error::PermissionDenied)), "and is gone once removed");
        // The entity's own policies, the same way.
        write(&core, &format!("identity/entity/id/{}", a.entity_id), json!({"policies": ["reader"]})).await.unwrap();
        assert!(read_mounts().await.is_ok());
        // Disabled: every request with the token is refused, and logins too.
        write(&core, &format!("identity/entity/id/{}", a.entity_id), json!({"disabled": true})).await.unwrap();
        for (op, path) in [(Operation::Read, "sys/mounts"), (Operation::Read, "auth/token/lookup-self"), (Operation::Read, "nothing/here")] {
            assert!(matches!(as_token(&core, &t, op, path).await, Err(Error::Coded(403, m)) if m == "permission denied"), "{path}");
        }
        let refused = core
            .handle(Incoming { operation: Operation::Update, path: "auth/fake/login/carol".into(), data: Data::new(), token: None, wrap_ttl: None, remote_addr: Some("127.0.0.1:4000".parse().unwrap()), headers: vec![] })
            .await;
        assert!(matches!(refused, Err(Error::Coded(403, _))));
        write(&core, &format!("identity/entity/id/{}", a.entity_id), json!({"disabled": false})).await.unwrap();
        assert!(read_mounts().await.is_ok(), "re-enabled: the token works again");
    }

    /// The request path of a token with an entity (its groups' policies, a
    /// nested group) reads no storage: a batch token (itself storage-free)
    /// whose ACL comes from its entity's groups.
    #[tokio::test]
    async fn an_entity_token_is_judged_without_touching_storage() {
        use crate::token::testutil::CountingStorage;
        use std::sync::Arc;
        let phys = Arc::new(CountingStorage::default());
        let core = crate::core::Core::new(phys.clone(), crate::core::CoreConfig::default());
        core.initialize(1, 1, Some(crate::identity::tests::ROOT), true).await.unwrap();
        core.register_auth("fake", Arc::new(crate::identity::tests::fake_auth::Factory));
        write(&core, "sys/auth/fake", json!({"type": "fake"})).await.unwrap();
        write(&core, "sys/policies/acl/reader", json!({"policy": "path \"sys/mounts\" { capabilities = [\"read\"] }"})).await.unwrap();
        let a = login(&core, "dave", json!({"batch": true})).await;
        let inner = id_of(&core, "identity/group", json!({"name": "inner", "member_entity_ids": [a.entity_id]})).await;
        id_of(&core, "identity/group", json!({"name": "outer", "policies": ["reader"], "member_group_ids": [inner]})).await;
        as_token(&core, &a.client_token, Operation::Read, "sys/mounts").await.unwrap();
        let before = phys.calls();
        for _ in 0..20 {
            as_token(&core, &a.client_token, Operation::Read, "sys/mounts").await.unwrap();
        }
        assert_eq!(phys.calls() - before, 0, "storage calls on the request path");
    }
}
