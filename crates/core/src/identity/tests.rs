//! Store invariants through `Core::handle` (the identity mount as clients
//! see it): one alias per mount accessor per entity, no group cycles,
//! merges, persistence across a reload, and the per-entity view.

use crate::core::{Core, CoreConfig, Incoming};
use crate::error::{Error, Result};
use crate::logical::{Data, Operation, Response};
use coffer_storage::InmemStorage;
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) const ROOT: &str = "root-test";

pub(crate) async fn core() -> Arc<Core> {
    let core = Core::new(Arc::new(InmemStorage::new()), CoreConfig::default());
    core.initialize(1, 1, Some(ROOT), true).await.unwrap();
    core
}

pub(crate) async fn call(core: &Core, op: Operation, path: &str, body: Value) -> Result<Response> {
    let data = match body {
        Value::Object(m) => m,
        _ => Data::new(),
    };
    core.handle(Incoming {
        operation: op,
        path: path.into(),
        data,
        token: Some(ROOT.into()),
        wrap_ttl: None,
        remote_addr: Some("127.0.0.1:4000".parse().unwrap()),
        headers: vec![],
    })
    .await
}

pub(crate) async fn write(core: &Core, path: &str, body: Value) -> Result<Option<Data>> {
    call(core, Operation::Update, path, body).await.map(|r| r.data)
}

fn err(r: Result<Option<Data>>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(d) => panic!("expected an error, got {d:?}"),
    }
}

pub(crate) async fn id_of(core: &Core, path: &str, body: Value) -> String {
    write(core, path, body).await.unwrap().unwrap()["id"].as_str().unwrap().to_string()
}

/// A second mount accessor to hang aliases on: the token mount's.
fn token_accessor(core: &Core) -> String {
    let active = core.active().unwrap();
    let router = active.router();
    router.entries().iter().find(|e| e.entry.kind == "token").unwrap().entry.accessor.clone()
}

#[tokio::test]
async fn one_alias_per_mount_accessor_per_entity() {
    let core = core().await;
    let acc = token_accessor(&core);
    let e = id_of(&core, "identity/entity", json!({"name": "alice"})).await;
    let a = write(&core, "identity/entity-alias", json!({"name": "a1", "canonical_id": e, "mount_accessor": acc})).await.unwrap().unwrap();
    assert_eq!(a["canonical_id"], json!(e));
    let again = write(&core, "identity/entity-alias", json!({"name": "a2", "canonical_id": e, "mount_accessor": acc})).await;
    assert_eq!(err(again), "Alias already exists for requested entity and mount accessor");
    // Nothing changed: still one alias.
    let read = call(&core, Operation::Read, &format!("identity/entity/id/{e}"), json!({})).await.unwrap().data.unwrap();
    assert_eq!(read["aliases"].as_array().unwrap().len(), 1);
    // Moving another entity's alias onto alice's mount is refused the same way.
    let b = id_of(&core, "identity/entity", json!({"name": "bob"})).await;
    let other = id_of(&core, "identity/entity", json!({"name": "carol"})).await;
    let bid = write(&core, "identity/entity-alias", json!({"name": "b1", "canonical_id": b, "mount_accessor": acc})).await.unwrap().unwrap()["id"].clone();
    let moved = write(&core, &format!("identity/entity-alias/id/{}", bid.as_str().unwrap()), json!({"canonical_id": e})).await;
    assert_eq!(err(moved), "Alias already exists for requested entity and mount accessor");
    write(&core, &format!("identity/entity-alias/id/{}", bid.as_str().unwrap()), json!({"canonical_id": other})).await.unwrap();
    assert_eq!(write(&core, "identity/entity-alias", json!({"name": "x", "mount_accessor": "nope"})).await.err().map(|e| e.to_string()), Some("invalid mount accessor \"nope\"".into()));
}

#[tokio::test]
async fn group_cycles_are_refused_and_nesting_inherits_policies() {
    let core = core().await;
    let e = id_of(&core, "identity/entity", json!({"name": "alice", "policies": ["ep"]})).await;
    let g1 = id_of(&core, "identity/group", json!({"name": "g1", "policies": ["p1"], "member_entity_ids": [e]})).await;
    let g2 = id_of(&core, "identity/group", json!({"name": "g2", "policies": ["p2"], "member_group_ids": [g1]})).await;
    let g3 = id_of(&core, "identity/group", json!({"name": "g3", "policies": ["p3"], "member_group_ids": [g2]})).await;
    // g1 ⊂ g2 ⊂ g3: making g3 a member of g1 closes the cycle.
    let cyc = write(&core, &format!("identity/group/id/{g1}"), json!({"member_group_ids": [g3]})).await;
    assert_eq!(err(cyc), format!("cyclic relationship detected for member group ID \"{g3}\""));
    let own = write(&core, &format!("identity/group/id/{g1}"), json!({"member_group_ids": [g1]})).await;
    assert!(matches!(own, Err(Error::Coded(500, m)) if m.contains("is same as the ID of the group")));
    let store = core.active().unwrap().identity().clone();
    assert_eq!(store.group_ids_for_entity(&e), vec![g1.clone(), g2.clone(), g3.clone()]);
    let r = store.resolved(&e).unwrap();
    assert_eq!(r.policies, vec!["ep", "p1", "p2", "p3"]);
    assert_eq!(r.vars.groups.len(), 3);
    // A change is seen at once: g2 loses g1, so g2 and g3 are no longer inherited.
    write(&core, &format!("identity/group/id/{g2}"), json!({"member_group_ids": []})).await.unwrap();
    assert_eq!(store.resolved(&e).unwrap().policies, vec!["ep", "p1"]);
    assert_eq!(store.group_ids_for_entity(&e), vec![g1.clone()]);
}

#[tokio::test]
async fn merge_moves_aliases_and_groups_and_refuses_conflicts() {
    let core = core().await;
    let acc = token_accessor(&core);
    let from = id_of(&core, "identity/entity", json!({"name": "from"})).await;
    let to = id_of(&core, "identity/entity", json!({"name": "to"})).await;
    let clash = id_of(&core, "identity/entity", json!({"name": "clash"})).await;
    let fa = write(&core, "identity/entity-alias", json!({"name": "fa", "canonical_id": from, "mount_accessor": acc})).await.unwrap().unwrap()["id"].as_str().unwrap().to_string();
    let g = id_of(&core, "identity/group", json!({"name": "g", "member_entity_ids": [from]})).await;
    write(&core, "identity/entity/merge", json!({"from_entity_ids": [from], "to_entity_id": to})).await.unwrap();
    let store = core.active().unwrap().identity().clone();
    assert!(store.entity(&from).is_none());
    let t = store.entity(&to).unwrap();
    assert_eq!(t.aliases.iter().map(|a| (a.id.clone(), a.canonical_id.clone())).collect::<Vec<_>>(), vec![(fa.clone(), to.clone())]);
    assert_eq!(t.merged_entity_ids, Some(vec![from.clone()]));
    assert_eq!(store.group_ids_for_entity(&to), vec![g]);
    // `clash` has an alias on the same mount: refused, nothing moves.
    let ca = write(&core, "identity/entity-alias", json!({"name": "ca", "canonical_id": clash, "mount_accessor": acc})).await.unwrap().unwrap()["id"].as_str().unwrap().to_string();
    let refused = write(&core, "identity/entity/merge", json!({"from_entity_ids": [clash], "to_entity_id": to, "force": true})).await;
    assert!(err(refused).contains("toEntity and at least one fromEntity have aliases with the same mount accessor"));
    assert!(store.entity(&clash).is_some());
    // Keeping the from-entity's alias resolves it: the to-entity's goes.
    write(&core, "identity/entity/merge", json!({"from_entity_ids": [clash], "to_entity_id": to, "conflicting_alias_ids_to_keep": [ca]})).await.unwrap();
    let t = store.entity(&to).unwrap();
    assert_eq!(t.aliases.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), vec![ca]);
    assert_eq!(write(&core, "identity/entity/merge", json!({"from_entity_ids": [to], "to_entity_id": to})).await.err().map(|e| e.to_string()), Some("to_entity_id should not be present in from_entity_ids".into()));
}

#[tokio::test]
async fn the_store_survives_a_seal_and_unseal() {
    let storage = Arc::new(InmemStorage::new());
    let core = Core::new(storage.clone(), CoreConfig::default());
    let init = core.initialize(1, 1, Some(ROOT), false).await.unwrap();
    let key = hex::encode(&*init.keys[0]);
    core.submit_unseal_key(Some(&key), false).await.unwrap();
    let e = id_of(&core, "identity/entity", json!({"name": "alice", "policies": ["p"]})).await;
    let g = id_of(&core, "identity/group", json!({"name": "g", "member_entity_ids": [e]})).await;
    core.seal().await.unwrap();
    core.submit_unseal_key(Some(&key), false).await.unwrap();
    let store = core.active().unwrap().identity().clone();
    assert_eq!(store.entity(&e).unwrap().policies, vec!["p"]);
    assert_eq!(store.group_ids_for_entity(&e), vec![g]);
}

/// A minimal auth method for the login tests: `login/<name>` (unauthenticated)
/// logs in as alias `<name>` with the groups named in `groups`.
mod fake_auth {
    use crate::backend::{Backend, BackendFactory, FieldKind, FieldSpec, MountContext, PathTable, Paths, Route, SpecialPaths, field, path};
    use crate::error::Result;
    use crate::logical::{Login, LoginAlias, Operation, Request, Response};
    use std::sync::{Arc, LazyLock};

    #[derive(Clone, Copy, Debug)]
    enum H {
        Login,
    }
    const F: &[FieldSpec] = &[field("groups", FieldKind::StringList, "groups"), field("batch", FieldKind::Bool, "batch token")];
    static TABLE: LazyLock<Paths<H>> = LazyLock::new(|| Paths::new(vec![path("login", "login/(?P<name>.+)", &[(Operation::Update, H::Login)], F, "log in")]));
    struct Fake;
    #[async_trait::async_trait]
    impl Backend for Fake {
        fn table(&self) -> &PathTable {
            &TABLE
        }
        fn special_paths(&self) -> SpecialPaths {
            SpecialPaths { unauthenticated: vec!["login/*"], root: vec![] }
        }
        async fn serve(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
            let H::Login = TABLE.handler(route, req.operation)?;
            let groups = crate::fields::get_str_list(&req.data, "groups")?.unwrap_or_default();
            let batch = crate::fields::get_bool(&req.data, "batch")?.unwrap_or(false);
            let name = route.param("name").to_string();
            let login = Login {
                policies: vec!["tp".into()],
                display_name: name.clone(),
                renewable: true,
                token_type: if batch { "batch" } else { "default" }.into(),
                alias: Some(LoginAlias { name, metadata: Default::default() }),
                group_aliases: groups,
                ..Default::default()
            };
            Ok(Some(Response { login: Some(login), ..Default::default() }))
        }
    }
    pub struct Factory;
    impl BackendFactory for Factory {
        fn build(&self, _ctx: MountContext) -> Result<Arc<dyn Backend>> {
            Ok(Arc::new(Fake))
        }
    }
}

pub(crate) async fn login_core() -> (Arc<Core>, String) {
    let core = core().await;
    core.register_auth("fake", Arc::new(fake_auth::Factory));
    write(&core, "sys/auth/fake", json!({"type": "fake"})).await.unwrap();
    let acc = {
        let active = core.active().unwrap();
        let router = active.router();
        router.entries().iter().find(|e| e.entry.kind == "fake").unwrap().entry.accessor.clone()
    };
    (core, acc)
}

pub(crate) async fn login(core: &Core, name: &str, body: Value) -> crate::logical::Auth {
    let data = match body {
        Value::Object(m) => m,
        _ => Data::new(),
    };
    let r = core
        .handle(Incoming { operation: Operation::Update, path: format!("auth/fake/login/{name}"), data, token: None, wrap_ttl: None, remote_addr: Some("127.0.0.1:4000".parse().unwrap()), headers: vec![] })
        .await
        .unwrap();
    r.auth.unwrap()
}

pub(crate) async fn as_token(core: &Core, token: &str, op: Operation, path: &str) -> Result<Response> {
    core.handle(Incoming { operation: op, path: path.into(), data: Data::new(), token: Some(token.into()), wrap_ttl: None, remote_addr: Some("127.0.0.1:4000".parse().unwrap()), headers: vec![] }).await
}

#[tokio::test]
async fn a_login_finds_or_creates_its_entity_and_alias() {
    let (core, acc) = login_core().await;
    let first = login(&core, "alice", json!({})).await;
    assert!(!first.entity_id.is_empty());
    let store = core.active().unwrap().identity().clone();
    let e = store.entity(&first.entity_id).unwrap();
    assert!(e.name.starts_with("entity_") && e.name.len() == "entity_12345678.root".len(), "{}", e.name);
    assert_eq!((e.aliases.len(), e.aliases[0].name.as_str(), e.aliases[0].mount_accessor.as_str()), (1, "alice", acc.as_str()));
    // The second login reuses them; a batch token carries the entity too.
    assert_eq!(login(&core, "alice", json!({})).await.entity_id, first.entity_id);
    let b = login(&core, "alice", json!({"batch": true})).await;
    assert_eq!((b.token_type.as_str(), b.entity_id.as_str()), ("batch", first.entity_id.as_str()));
    let looked = as_token(&core, &b.client_token, Operation::Read, "auth/token/lookup-self").await.unwrap().data.unwrap();
    assert_eq!(looked["entity_id"], json!(first.entity_id));
    assert_eq!(store.snapshot().entities().len(), 1);
    // A child token carries its parent's entity.
    write(&core, "sys/policies/acl/tp", json!({"policy": "path \"auth/token/create\" { capabilities = [\"update\"] }"})).await.unwrap();
    let child = core
        .handle(Incoming { operation: Operation::Update, path: "auth/token/create".into(), data: Data::new(), token: Some(first.client_token.clone()), wrap_ttl: None, remote_addr: Some("127.0.0.1:4000".parse().unwrap()), headers: vec![] })
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(child.entity_id, first.entity_id);
}

#[tokio::test]
async fn a_login_sets_external_group_memberships_to_its_groups() {
    let (core, acc) = login_core().await;
    let devs = id_of(&core, "identity/group", json!({"name": "devs", "type": "external", "policies": ["dp"]})).await;
    let ops = id_of(&core, "identity/group", json!({"name": "ops", "type": "external"})).await;
    write(&core, "identity/group-alias", json!({"name": "developers", "mount_accessor": acc, "canonical_id": devs})).await.unwrap();
    write(&core, "identity/group-alias", json!({"name": "operators", "mount_accessor": acc, "canonical_id": ops})).await.unwrap();
    let a = login(&core, "bob", json!({"groups": ["developers", "operators", "unknown"]})).await;
    let store = core.active().unwrap().identity().clone();
    let mut got = store.group_ids_for_entity(&a.entity_id);
    got.sort();
    let mut want = vec![devs.clone(), ops.clone()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!((a.identity_policies.clone(), a.token_policies.clone()), (vec!["dp".to_string()], vec!["default".to_string(), "tp".to_string()]));
    assert_eq!(a.policies, vec!["default", "dp", "tp"]);
    // The next login brings only `operators`: exactly that membership remains.
    login(&core, "bob", json!({"groups": ["operators"]})).await;
    assert_eq!(store.group_ids_for_entity(&a.entity_id), vec![ops]);
    // A manual (internal) group membership is left alone by logins.
    let internal = id_of(&core, "identity/group", json!({"name": "staff", "member_entity_ids": [a.entity_id]})).await;
    login(&core, "bob", json!({})).await;
    assert_eq!(store.group_ids_for_entity(&a.entity_id), vec![internal]);
}
