//! `identity/group*`: internal groups (members set by hand, nested through
//! `member_group_ids`, cycles refused) and external groups (members set by
//! logins, through the group's alias).

use super::store::{Change, Group, Snapshot, multi};
use super::{Ctx, H as Identity, clean_policies, generated_name, list_or_null, now, opt};
use crate::backend::{FieldKind, FieldSpec, Path, Route, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Operation, Request, Response};
use serde_json::{Map, Value, json};
use std::sync::Arc;

use Operation::{Delete, List, Read, Update};

#[derive(Clone, Copy, Debug)]
pub(crate) enum H {
    Write,
    ReadId,
    UpdateId,
    DeleteId,
    ReadName,
    WriteName,
    DeleteName,
    ListId,
    ListName,
}

const F_TYPE: FieldSpec = field("type", FieldKind::String, "Type of the group, 'internal' or 'external'. Defaults to 'internal'");
const F_META: FieldSpec = field("metadata", FieldKind::Map, "Metadata to be associated with the group.");
const F_POLICIES: FieldSpec = field("policies", FieldKind::StringList, "Policies to be tied to the group.");
const F_MEMBER_GROUPS: FieldSpec = field("member_group_ids", FieldKind::StringList, "Group IDs to be assigned as group members.");
const F_MEMBER_ENTITIES: FieldSpec = field("member_entity_ids", FieldKind::StringList, "Entity IDs to be assigned as group members.");
const F_GROUP: &[FieldSpec] = &[
    field("id", FieldKind::String, "ID of the group. If set, updates the corresponding existing group."),
    field("name", FieldKind::String, "Name of the group."),
    F_TYPE,
    F_META,
    F_POLICIES,
    F_MEMBER_GROUPS,
    F_MEMBER_ENTITIES,
];

pub(super) fn rows() -> Vec<Path<Identity>> {
    use Identity::Group as G;
    vec![
        path("group", "group", &[(Update, G(H::Write))], F_GROUP, "Create a new group."),
        path("group-id", "group/id/(?P<id>.+)", &[(Read, G(H::ReadId)), (Update, G(H::UpdateId)), (Delete, G(H::DeleteId))], F_GROUP, "Update or delete an existing group using its ID."),
        path("group-id-list", "group/id/?", &[(List, G(H::ListId))], &[], "List all the group IDs."),
        path("group-name", "group/name/(?P<name>.+)", &[(Read, G(H::ReadName)), (Update, G(H::WriteName)), (Delete, G(H::DeleteName))], F_GROUP, "Update, read or delete a group using its name."),
        path("group-name-list", "group/name/?", &[(List, G(H::ListName))], &[], "List all the group names."),
    ]
}

pub(super) fn render(cx: &Ctx, snap: &Snapshot, g: &Group) -> Data {
    let alias = match &g.alias {
        Some(a) => Value::Object(super::group_alias::render(cx, a, false)),
        None => json!({}),
    };
    let v = json!({
        "alias": alias,
        "creation_time": g.creation_time,
        "id": g.id,
        "last_update_time": g.last_update_time,
        "member_entity_ids": if g.entity_ids_set { json!(g.member_entity_ids) } else { list_or_null(&g.member_entity_ids) },
        "member_group_ids": if g.group_ids_set { json!(g.member_group_ids) } else { list_or_null(&g.member_group_ids) },
        "metadata": opt(&g.metadata),
        "modify_index": g.modify_index,
        "name": g.name,
        "namespace_id": "root",
        "parent_group_ids": list_or_null(&snap.parent_group_ids(&g.id)),
        "policies": list_or_null(&g.policies),
        "type": g.kind,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn read(cx: &Ctx, snap: &Snapshot, g: Option<Arc<Group>>) -> Result<Option<Response>> {
    match g {
        Some(g) => Ok(Some(Response::data(render(cx, snap, &g)))),
        None => Err(Error::NotFound),
    }
}

pub(super) async fn serve(h: H, cx: &Ctx, route: &Route<'_>, req: &Request) -> Result<Option<Response>> {
    let snap = cx.store.snapshot();
    match h {
        H::ReadId => read(cx, &snap, snap.group(route.param("id"))),
        H::ReadName => read(cx, &snap, snap.group_by_name(route.param("name"))),
        H::ListId => {
            let groups = snap.groups();
            let mut info = Map::new();
            for g in &groups {
                let mut m = obj(json!({"name": g.name, "num_member_entities": g.member_entity_ids.len(), "num_parent_groups": snap.parent_group_ids(&g.id).len()}));
                if let Some(a) = &g.alias {
                    let mut am = Map::new();
                    am.insert("id".into(), json!(a.id));
                    am.insert("mount_accessor".into(), json!(a.mount_accessor));
                    cx.mount_fields(&a.mount_accessor, &mut am);
                    am.insert("name".into(), json!(a.name));
                    m.insert("alias".into(), Value::Object(am));
                }
                info.insert(g.id.clone(), Value::Object(m));
            }
            let keys: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
            Ok(Some(Response::json(json!({"keys": keys, "key_info": info}))))
        }
        H::ListName => {
            let mut keys: Vec<String> = snap.groups().iter().map(|g| g.name.clone()).collect();
            keys.sort();
            Ok(Some(Response::list(keys)))
        }
        H::Write => {
            let id = fields::get_str(&req.data, "id")?.unwrap_or_default();
            let name = fields::get_str(&req.data, "name")?.unwrap_or_default();
            if !id.is_empty() {
                write(cx, Some(id), None, &req.data).await
            } else {
                write(cx, None, Some(name).filter(|n| !n.is_empty()), &req.data).await
            }
        }
        H::UpdateId => write(cx, Some(route.param("id").to_string()), None, &req.data).await,
        H::WriteName => write(cx, None, Some(route.param("name").to_string()), &req.data).await,
        H::DeleteId => delete(cx, route.param("id")).await,
        H::DeleteName => match snap.group_by_name(route.param("name")) {
            Some(g) => delete(cx, &g.id).await,
            None => Ok(None),
        },
    }
}

/// Create (200 `{id, name}`) or update (204), Vault's `handleGroupUpdateCommon`.
async fn write(cx: &Ctx, id: Option<String>, by_name: Option<String>, data: &Data) -> Result<Option<Response>> {
    let name = fields::get_str(data, "name")?.filter(|n| !n.is_empty()).or(by_name.clone());
    let kind = fields::get_str(data, "type")?.filter(|t| !t.is_empty());
    let metadata = fields::get_str_map(data, "metadata")?;
    let policies = fields::get_str_list(data, "policies")?;
    let member_groups = fields::get_str_list(data, "member_group_ids")?;
    let member_entities = fields::get_str_list(data, "member_entity_ids")?;
    if let Some(k) = &kind
        && k != "internal"
        && k != "external"
    {
        return Err(Error::invalid(format!("invalid group type {k:?}")));
    }
    let w = cx.store.lock().await;
    let snap = w.snapshot();
    let existing = match (&id, &by_name) {
        (Some(id), _) => Some(snap.group(id).ok_or_else(|| Error::invalid("invalid group ID"))?),
        (None, Some(n)) => snap.group_by_name(n),
        (None, None) => None,
    };
    let created = existing.is_none();
    let t = now();
    let mut g = match existing {
        Some(g) => (*g).clone(),
        None => Group::new(String::new(), kind.clone().unwrap_or_else(|| "internal".into()), &t),
    };
    if let Some(k) = &kind
        && *k != g.kind
    {
        return Err(Error::invalid("group type cannot be changed"));
    }
    if let Some(n) = name {
        if let Some(other) = snap.group_by_name(&n)
            && other.id != g.id
        {
            return Err(Error::invalid("group name is already in use"));
        }
        g.name = n;
    } else if g.name.is_empty() {
        g.name = generated_name("group");
    }
    if let Some(m) = metadata {
        g.metadata = Some(m);
    }
    if let Some(p) = policies {
        g.policies = clean_policies(p);
    }
    if let Some(members) = member_entities {
        if g.external() {
            return Err(Error::invalid("member entities can't be set manually for external groups"));
        }
        let members = clean_policies(members);
        if let Some(bad) = members.iter().find(|m| snap.entity(m).is_none()) {
            return Err(multi(400, &format!("invalid entity ID {bad:?}")));
        }
        g.member_entity_ids = members;
        g.entity_ids_set = true;
    }
    if let Some(members) = member_groups {
        if g.external() {
            return Err(Error::invalid("member groups can't be set for external groups"));
        }
        let members = clean_policies(members);
        for m in &members {
            if *m == g.id {
                return Err(multi(400, &format!("member group ID {m:?} is same as the ID of the group")));
            }
            if snap.group(m).is_none() {
                return Err(multi(400, &format!("invalid member group ID {m:?}")));
            }
        }
        if !created && let Some(via) = snap.cycle_through(&g.id, &members) {
            return Err(Error::invalid(format!("cyclic relationship detected for member group ID {via:?}")));
        }
        g.member_group_ids = members;
        g.group_ids_set = true;
    }
    g.last_update_time = t;
    let (gid, gname) = (g.id.clone(), g.name.clone());
    let mut change = Change::default();
    change.put_group(g);
    w.commit(change).await?;
    if created {
        Ok(Some(Response::json(json!({"id": gid, "name": gname}))))
    } else {
        Ok(None)
    }
}

/// Delete a group (and its alias); groups that list it as a member drop it.
async fn delete(cx: &Ctx, id: &str) -> Result<Option<Response>> {
    let w = cx.store.lock().await;
    let snap = w.snapshot();
    if snap.group(id).is_none() {
        return Ok(None);
    }
    let mut change = Change::default();
    for parent in snap.parent_group_ids(id) {
        if let Some(p) = snap.group(&parent) {
            let mut p = (*p).clone();
            p.member_group_ids.retain(|m| m != id);
            p.group_ids_set = true;
            p.last_update_time = now();
            change.put_group(p);
        }
    }
    change.delete_group(id);
    w.commit(change).await?;
    Ok(None)
}
