//! Store invariants through `Core::handle` (the identity mount as clients
//! see it): one alias per mount accessor per entity, no group cycles,
//! merges, persistence across a reload, and the per-entity view.

use crate::core::{Core, CoreConfig, Incoming};
use crate::error::{Error, Result};
use crate::logical::{Data, Operation, Response};
use coffer_storage::InmemStorage;
use serde_json::{Value, json};
use std::sync::Arc;

const ROOT: &str = "root-test";

async fn core() -> Arc<Core> {
    let core = Core::new(Arc::new(InmemStorage::new()), CoreConfig::default());
    core.initialize(1, 1, Some(ROOT), true).await.unwrap();
    core
}

async fn call(core: &Core, op: Operation, path: &str, body: Value) -> Result<Response> {
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

async fn write(core: &Core, path: &str, body: Value) -> Result<Option<Data>> {
    call(core, Operation::Update, path, body).await.map(|r| r.data)
}

fn err(r: Result<Option<Data>>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(d) => panic!("expected an error, got {d:?}"),
    }
}

async fn id_of(core: &Core, path: &str, body: Value) -> String {
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
