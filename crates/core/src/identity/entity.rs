//! `identity/entity*`: entities (create/update by name or id, read, delete,
//! list), `entity/batch-delete` and `entity/merge`.

use super::store::{Change, Entity, Snapshot};
use super::{Ctx, H as Identity, clean_policies, generated_name, now, opt};
use crate::backend::{FieldKind, FieldSpec, Path, Route, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Operation, Request, Response};
use serde_json::{Map, Value, json};

use Operation::{Delete, List, Read, Update};

#[derive(Clone, Copy, Debug)]
pub(crate) enum H {
    /// `POST entity`: create, or update by `id` or by `name`.
    Write,
    ReadId,
    UpdateId,
    DeleteId,
    ReadName,
    WriteName,
    DeleteName,
    ListId,
    ListName,
    BatchDelete,
    Merge,
}

const F_NAME: FieldSpec = field("name", FieldKind::String, "Name of the entity.");
const F_ID: FieldSpec = field("id", FieldKind::String, "ID of the entity. If set, updates the corresponding existing entity.");
const F_META: FieldSpec = field("metadata", FieldKind::Map, "Metadata to be associated with the entity.");
const F_POLICIES: FieldSpec = field("policies", FieldKind::StringList, "Policies to be tied to the entity.");
const F_DISABLED: FieldSpec = field("disabled", FieldKind::Bool, "If set true, tokens tied to this identity will not be able to be used (but will not be revoked).");
const F_ENTITY: &[FieldSpec] = &[F_ID, F_NAME, F_META, F_POLICIES, F_DISABLED];
const F_ENTITY_ID: &[FieldSpec] = &[field("id", FieldKind::String, "ID of the entity."), F_NAME, F_META, F_POLICIES, F_DISABLED];
const F_ENTITY_NAME: &[FieldSpec] = &[field("name", FieldKind::String, "Name of the entity."), F_ID, F_META, F_POLICIES, F_DISABLED];
const F_BATCH: &[FieldSpec] = &[field("entity_ids", FieldKind::StringList, "Entity IDs to delete.")];
const F_MERGE: &[FieldSpec] = &[
    field("from_entity_ids", FieldKind::StringList, "Entity IDs which need to get merged."),
    field("to_entity_id", FieldKind::String, "Entity ID into which all the other entities need to get merged."),
    field("force", FieldKind::Bool, "Setting this will follow the 'mine' strategy for merging MFA secrets."),
    field("conflicting_alias_ids_to_keep", FieldKind::StringList, "Alias IDs to keep in case of conflicting aliases."),
];

pub(super) fn rows() -> Vec<Path<Identity>> {
    use Identity::Entity as E;
    vec![
        path("entity", "entity", &[(Update, E(H::Write))], F_ENTITY, "Create a new entity."),
        path("entity-id", "entity/id/(?P<id>.+)", &[(Read, E(H::ReadId)), (Update, E(H::UpdateId)), (Delete, E(H::DeleteId))], F_ENTITY_ID, "Update, read or delete an entity using entity ID."),
        path("entity-id-list", "entity/id/?", &[(List, E(H::ListId))], &[], "List all the entity IDs."),
        path("entity-name", "entity/name/(?P<name>.+)", &[(Read, E(H::ReadName)), (Update, E(H::WriteName)), (Delete, E(H::DeleteName))], F_ENTITY_NAME, "Update, read or delete an entity using entity name."),
        path("entity-name-list", "entity/name/?", &[(List, E(H::ListName))], &[], "List all the entity names."),
        path("entity-batch-delete", "entity/batch-delete", &[(Update, E(H::BatchDelete))], F_BATCH, "Delete all of the entities provided."),
        path("entity-merge", "entity/merge/?", &[(Update, E(H::Merge))], F_MERGE, "Merge two or more entities together."),
    ]
}

pub(super) async fn serve(h: H, cx: &Ctx, route: &Route<'_>, req: &Request) -> Result<Option<Response>> {
    let snap = cx.store.snapshot();
    match h {
        H::ReadId => read(cx, &snap, snap.entity(route.param("id"))),
        H::ReadName => read(cx, &snap, snap.entity_by_name(route.param("name"))),
        H::ListId => {
            let entities = snap.entities();
            let mut info = Map::new();
            for e in &entities {
                let mut m = Map::new();
                m.insert("name".into(), json!(e.name));
                if !e.aliases.is_empty() {
                    let aliases: Vec<Value> = e
                        .aliases
                        .iter()
                        .map(|a| {
                            let mut am = Map::new();
                            am.insert("id".into(), json!(a.id));
                            am.insert("mount_accessor".into(), json!(a.mount_accessor));
                            cx.mount_fields(&a.mount_accessor, &mut am);
                            am.insert("name".into(), json!(a.name));
                            Value::Object(am)
                        })
                        .collect();
                    m.insert("aliases".into(), Value::Array(aliases));
                }
                info.insert(e.id.clone(), Value::Object(m));
            }
            let keys: Vec<String> = entities.iter().map(|e| e.id.clone()).collect();
            Ok(Some(Response::json(json!({"keys": keys, "key_info": info}))))
        }
        H::ListName => {
            let mut keys: Vec<String> = snap.entities().iter().map(|e| e.name.clone()).collect();
            keys.sort();
            Ok(Some(Response::list(keys)))
        }
        H::Write => {
            let id = fields::get_str(&req.data, "id")?.unwrap_or_default();
            let name = fields::get_str(&req.data, "name")?.unwrap_or_default();
            write(cx, Target::from(id, name), &req.data).await
        }
        H::UpdateId => write(cx, Target::Id(route.param("id").to_string()), &req.data).await,
        H::WriteName => write(cx, Target::Name(route.param("name").to_string()), &req.data).await,
        H::DeleteId => delete(cx, vec![route.param("id").to_string()]).await,
        H::DeleteName => {
            let Some(e) = snap.entity_by_name(route.param("name")) else { return Ok(None) };
            delete(cx, vec![e.id.clone()]).await
        }
        H::BatchDelete => {
            let ids = fields::get_str_list(&req.data, "entity_ids")?.unwrap_or_default();
            if ids.is_empty() {
                return Err(Error::invalid("missing entity ids to delete"));
            }
            delete(cx, ids).await
        }
        H::Merge => merge(cx, &req.data).await,
    }
}

/// The entity object of a read (and of `lookup/entity`).
pub(super) fn render(cx: &Ctx, snap: &Snapshot, e: &Entity) -> Data {
    let aliases: Vec<Value> = e.aliases.iter().map(|a| Value::Object(super::alias::render(cx, a, false))).collect();
    let direct = snap.direct_group_ids(&e.id);
    let inherited = snap.inherited_group_ids(&e.id);
    let mut all = direct.clone();
    all.extend(inherited.iter().cloned());
    let v = json!({
        "aliases": aliases,
        "creation_time": e.creation_time,
        "direct_group_ids": direct,
        "disabled": e.disabled,
        "group_ids": all,
        "id": e.id,
        "inherited_group_ids": inherited,
        "last_update_time": e.last_update_time,
        "merged_entity_ids": opt(&e.merged_entity_ids),
        "metadata": opt(&e.metadata),
        "name": e.name,
        "namespace_id": "root",
        "policies": e.policies,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn read(cx: &Ctx, snap: &Snapshot, e: Option<std::sync::Arc<Entity>>) -> Result<Option<Response>> {
    match e {
        Some(e) => Ok(Some(Response::data(render(cx, snap, &e)))),
        None => Err(Error::NotFound),
    }
}

/// Which entity a write addresses.
enum Target {
    /// Must exist.
    Id(String),
    /// Created when missing.
    Name(String),
    New,
}

impl Target {
    fn from(id: String, name: String) -> Target {
        if !id.is_empty() {
            Target::Id(id)
        } else if !name.is_empty() {
            Target::Name(name)
        } else {
            Target::New
        }
    }
}

/// Create (200 with `id`, `name`, `aliases: null`) or update (204), Vault's
/// `handleEntityUpdateCommon`.
async fn write(cx: &Ctx, target: Target, data: &Data) -> Result<Option<Response>> {
    let name = fields::get_str(data, "name")?.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let metadata = fields::get_str_map(data, "metadata")?;
    let policies = fields::get_str_list(data, "policies")?;
    let disabled = fields::get_bool(data, "disabled")?;
    let w = cx.store.lock().await;
    let snap = w.snapshot();
    let existing = match &target {
        Target::Id(id) => Some(snap.entity(id).ok_or_else(|| Error::invalid("entity not found from id"))?),
        Target::Name(n) => snap.entity_by_name(n),
        Target::New => None,
    };
    let name = name.or(match &target {
        Target::Name(n) => Some(n.clone()),
        _ => None,
    });
    let created = existing.is_none();
    let mut e = match existing {
        Some(e) => (*e).clone(),
        None => Entity::new(String::new(), &now()),
    };
    if let Some(n) = name {
        if let Some(other) = snap.entity_by_name(&n)
            && other.id != e.id
        {
            return Err(Error::invalid("entity name is already in use"));
        }
        e.name = n;
    } else if e.name.is_empty() {
        e.name = generated_name("entity");
    }
    if let Some(m) = metadata {
        e.metadata = Some(m);
    }
    if let Some(p) = policies {
        e.policies = clean_policies(p);
    }
    if let Some(d) = disabled {
        e.disabled = d;
    }
    if !created {
        e.last_update_time = now();
    }
    let (id, name) = (e.id.clone(), e.name.clone());
    let mut change = Change::default();
    change.put_entity(e);
    w.commit(change).await?;
    if created {
        Ok(Some(Response::json(json!({"id": id, "name": name, "aliases": null}))))
    } else {
        Ok(None)
    }
}

/// Delete entities (unknown ids are ignored): their aliases go with them,
/// and the groups that list them drop them.
async fn delete(cx: &Ctx, ids: Vec<String>) -> Result<Option<Response>> {
    let w = cx.store.lock().await;
    let snap = w.snapshot();
    let ids: Vec<String> = ids.into_iter().filter(|id| snap.entity(id).is_some()).collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let mut change = Change::default();
    for g in snap.groups() {
        if g.member_entity_ids.iter().any(|m| ids.contains(m)) {
            let mut g = (*g).clone();
            g.member_entity_ids.retain(|m| !ids.contains(m));
            g.entity_ids_set = true;
            g.last_update_time = now();
            change.put_group(g);
        }
    }
    for id in &ids {
        change.delete_entity(id);
    }
    w.commit(change).await?;
    Ok(None)
}

/// `entity/merge`: the from-entities' aliases and group memberships move to
/// the to-entity and the from-entities are deleted. Aliases on a mount the
/// to-entity already has an alias on are refused, unless exactly one
/// from-entity is given and `conflicting_alias_ids_to_keep` names which alias
/// of each conflicting pair stays (the other is deleted).
async fn merge(cx: &Ctx, data: &Data) -> Result<Option<Response>> {
    let from = fields::get_str_list(data, "from_entity_ids")?.unwrap_or_default();
    let to = fields::get_str(data, "to_entity_id")?.unwrap_or_default();
    let _force = fields::get_bool(data, "force")?;
    let keep = fields::get_str_list(data, "conflicting_alias_ids_to_keep")?.unwrap_or_default();
    if to.is_empty() {
        return Err(Error::invalid("missing entity id to merge to"));
    }
    if from.is_empty() {
        return Err(Error::invalid("missing entity ids to merge from"));
    }
    if from.contains(&to) {
        return Err(Error::invalid("to_entity_id should not be present in from_entity_ids"));
    }
    let w = cx.store.lock().await;
    let snap = w.snapshot();
    let mut target = snap.entity(&to).map(|e| (*e).clone()).ok_or_else(|| Error::invalid("entity id to merge to is invalid"))?;
    let mut sources = Vec::new();
    for id in &from {
        if sources.iter().any(|s: &Entity| &s.id == id) {
            continue;
        }
        sources.push(snap.entity(id).map(|e| (*e).clone()).ok_or_else(|| Error::invalid("entity id to merge from is invalid"))?);
    }
    // Conflicts: an alias of a from-entity on a mount the to-entity has one on.
    let mut clashes = Vec::new();
    for s in &sources {
        for a in &s.aliases {
            if let Some(t) = target.aliases.iter().find(|t| t.mount_accessor == a.mount_accessor) {
                clashes.push((a.mount_accessor.clone(), s.id.clone(), t.id.clone(), a.id.clone()));
            }
        }
    }
    let resolvable = sources.len() == 1 && clashes.iter().all(|(_, _, t, f)| keep.contains(t) ^ keep.contains(f));
    if !clashes.is_empty() && !resolvable {
        let mut msg = format!(
            "{} errors occurred:\n\t* toEntity and at least one fromEntity have aliases with the same mount accessor, repeat the merge request specifying exactly one fromEntity, clashes: \n",
            clashes.len() + 1
        );
        for (acc, fid, tid, fa) in &clashes {
            msg.push_str(&format!("\t* mountAccessor: {acc}, toEntity ID: {to}, fromEntity ID: {fid}, conflicting toEntity alias ID: {tid}, conflicting fromEntity alias ID: {fa}\n"));
        }
        msg.push('\n');
        return Err(Error::invalid(msg));
    }
    let t = now();
    let mut change = Change::default();
    for s in &sources {
        for mut a in s.aliases.clone() {
            if let Some((_, _, tid, _)) = clashes.iter().find(|(_, _, _, fa)| *fa == a.id) {
                if keep.contains(tid) {
                    continue; // the to-entity's alias stays; this one goes
                }
                target.aliases.retain(|x| &x.id != tid);
            }
            a.canonical_id = target.id.clone();
            a.merged_from_canonical_ids.get_or_insert_with(Vec::new).push(s.id.clone());
            a.last_update_time = t.clone();
            target.aliases.push(a);
        }
        target.merged_entity_ids.get_or_insert_with(Vec::new).push(s.id.clone());
        change.delete_entity(&s.id);
    }
    let from_ids: Vec<&str> = sources.iter().map(|s| s.id.as_str()).collect();
    for g in snap.groups() {
        if g.member_entity_ids.iter().any(|m| from_ids.contains(&m.as_str())) {
            let mut g = (*g).clone();
            g.member_entity_ids.retain(|m| !from_ids.contains(&m.as_str()));
            g.entity_ids_set = true;
            if !g.member_entity_ids.contains(&target.id) {
                g.member_entity_ids.push(target.id.clone());
            }
            g.last_update_time = t.clone();
            change.put_group(g);
        }
    }
    change.put_entity(target);
    w.commit(change).await?;
    Ok(None)
}
