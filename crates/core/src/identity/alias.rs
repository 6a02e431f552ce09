//! `identity/entity-alias*`: entity aliases. One alias per (mount accessor,
//! name) in the store, and at most one alias per mount accessor per entity.

use super::store::{Alias, Change, Entity};
use super::{Ctx, H as Identity, generated_name, new_id, now, opt};
use crate::backend::{FieldKind, FieldSpec, Path, Route, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Operation, Request, Response};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use Operation::{Delete, List, Read, Update};

#[derive(Clone, Copy, Debug)]
pub(crate) enum H {
    Create,
    Read,
    Update,
    Delete,
    List,
}

const F_NAME: FieldSpec = field("name", FieldKind::String, "Name of the alias. Should be the identifier of the client in the authentication source.");
const F_CANONICAL: FieldSpec = field("canonical_id", FieldKind::String, "Entity ID to which this alias belongs to.");
const F_ACCESSOR: FieldSpec = field("mount_accessor", FieldKind::String, "Mount accessor to which this alias belongs to.");
const F_CUSTOM: FieldSpec = field("custom_metadata", FieldKind::Map, "User provided key-value pairs.");
const F_CREATE: &[FieldSpec] = &[field("id", FieldKind::String, "ID of the entity alias. If set, updates the corresponding entity alias."), F_NAME, F_CANONICAL, F_ACCESSOR, F_CUSTOM];
const F_ID: &[FieldSpec] = &[field("id", FieldKind::String, "ID of the alias."), F_NAME, F_CANONICAL, F_ACCESSOR, F_CUSTOM];

pub(super) fn rows() -> Vec<Path<Identity>> {
    use Identity::Alias as A;
    vec![
        path("entity-alias", "entity-alias", &[(Update, A(H::Create))], F_CREATE, "Create a new alias."),
        path("entity-alias-id", "entity-alias/id/(?P<id>.+)", &[(Read, A(H::Read)), (Update, A(H::Update)), (Delete, A(H::Delete))], F_ID, "Update, read or delete an alias ID."),
        path("entity-alias-id-list", "entity-alias/id/?", &[(List, A(H::List))], &[], "List all the alias IDs."),
    ]
}

/// An alias object: inside an entity (`standalone` false) or read on its own
/// (with `namespace_id`).
pub(super) fn render(cx: &Ctx, a: &Alias, standalone: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("canonical_id".into(), json!(a.canonical_id));
    m.insert("creation_time".into(), json!(a.creation_time));
    m.insert("custom_metadata".into(), opt(&a.custom_metadata));
    m.insert("id".into(), json!(a.id));
    m.insert("last_update_time".into(), json!(a.last_update_time));
    m.insert("local".into(), json!(false));
    m.insert("merged_from_canonical_ids".into(), opt(&a.merged_from_canonical_ids));
    m.insert("metadata".into(), opt(&a.metadata));
    m.insert("mount_accessor".into(), json!(a.mount_accessor));
    cx.mount_fields(&a.mount_accessor, &mut m);
    m.insert("name".into(), json!(a.name));
    if standalone {
        m.insert("namespace_id".into(), json!("root"));
    }
    m
}

pub(super) async fn serve(h: H, cx: &Ctx, route: &Route<'_>, req: &Request) -> Result<Option<Response>> {
    match h {
        H::Read => match cx.store.snapshot().alias(route.param("id")) {
            Some((a, _)) => Ok(Some(Response::data(render(cx, &a, true)))),
            None => Err(Error::NotFound),
        },
        H::List => {
            let aliases = cx.store.snapshot().aliases();
            let mut info = Map::new();
            for a in &aliases {
                let mut m = Map::new();
                m.insert("canonical_id".into(), json!(a.canonical_id));
                m.insert("custom_metadata".into(), opt(&a.custom_metadata));
                m.insert("local".into(), json!(false));
                m.insert("metadata".into(), opt(&a.metadata));
                m.insert("mount_accessor".into(), json!(a.mount_accessor));
                cx.mount_fields(&a.mount_accessor, &mut m);
                m.insert("name".into(), json!(a.name));
                info.insert(a.id.clone(), Value::Object(m));
            }
            let keys: Vec<String> = aliases.iter().map(|a| a.id.clone()).collect();
            Ok(Some(Response::json(json!({"keys": keys, "key_info": info}))))
        }
        H::Create => {
            let id = fields::get_str(&req.data, "id")?.unwrap_or_default();
            if !id.is_empty() {
                return update(cx, &id, &req.data).await;
            }
            create(cx, &req.data).await
        }
        H::Update => update(cx, route.param("id"), &req.data).await,
        H::Delete => {
            let w = cx.store.lock().await;
            let Some((a, e)) = w.snapshot().alias(route.param("id")) else { return Ok(None) };
            let mut e = (*e).clone();
            e.aliases.retain(|x| x.id != a.id);
            let mut change = Change::default();
            change.put_entity(e);
            w.commit(change).await?;
            Ok(None)
        }
    }
}

struct Input {
    name: Option<String>,
    canonical_id: Option<String>,
    mount_accessor: Option<String>,
    custom_metadata: Option<BTreeMap<String, String>>,
}

fn input(data: &Data) -> Result<Input> {
    let s = |k| fields::get_str(data, k).map(|v| v.filter(|v| !v.is_empty()));
    Ok(Input { name: s("name")?, canonical_id: s("canonical_id")?, mount_accessor: s("mount_accessor")?, custom_metadata: fields::get_str_map(data, "custom_metadata")? })
}

fn ids(a: &Alias) -> Option<Response> {
    Some(Response::json(json!({"canonical_id": a.canonical_id, "id": a.id})))
}

/// `POST entity-alias` without `id`: an alias with these factors is updated
/// (moved to `canonical_id` if given); otherwise one is created, on
/// `canonical_id`'s entity or on a new entity.
async fn create(cx: &Ctx, data: &Data) -> Result<Option<Response>> {
    let inp = input(data)?;
    let (Some(name), Some(accessor)) = (inp.name.clone(), inp.mount_accessor.clone()) else {
        return Err(Error::invalid("'id' or 'mount_accessor' and 'name' must be provided"));
    };
    cx.check_accessor(&accessor)?;
    let w = cx.store.lock().await;
    let snap = w.snapshot();
    let target = match &inp.canonical_id {
        Some(id) => Some(snap.entity(id).map(|e| (*e).clone()).ok_or_else(|| Error::invalid("invalid canonical ID"))?),
        None => None,
    };
    let mut change = Change::default();
    let t = now();
    let existing = snap.alias_by_factors(&accessor, &name);
    let mut alias = match &existing {
        Some((a, _)) => a.clone(),
        None => Alias {
            id: new_id(),
            canonical_id: String::new(),
            name: name.clone(),
            mount_accessor: accessor.clone(),
            metadata: None,
            custom_metadata: None,
            creation_time: t.clone(),
            last_update_time: t.clone(),
            merged_from_canonical_ids: None,
        },
    };
    alias.custom_metadata = Some(inp.custom_metadata.unwrap_or_default());
    alias.last_update_time = t.clone();
    let mut entity = match (target, &existing) {
        (Some(e), _) => e,
        (None, Some((_, owner))) => (**owner).clone(),
        (None, None) => Entity::new(generated_name("entity"), &t),
    };
    if entity.aliases.iter().any(|x| x.mount_accessor == accessor && x.id != alias.id) {
        return Err(Error::invalid("Alias already exists for requested entity and mount accessor"));
    }
    if let Some((_, owner)) = &existing
        && owner.id != entity.id
    {
        let mut old = (**owner).clone();
        old.aliases.retain(|x| x.id != alias.id);
        change.put_entity(old);
    }
    alias.canonical_id = entity.id.clone();
    entity.aliases.retain(|x| x.id != alias.id);
    entity.aliases.push(alias.clone());
    change.put_entity(entity);
    w.commit(change).await?;
    Ok(ids(&alias))
}

/// `entity-alias/id/:id` (or `entity-alias` with `id`): change name, mount,
/// entity or custom metadata; 204 when nothing changes.
async fn update(cx: &Ctx, id: &str, data: &Data) -> Result<Option<Response>> {
    let inp = input(data)?;
    if let Some(acc) = &inp.mount_accessor {
        cx.check_accessor(acc)?;
    }
    let w = cx.store.lock().await;
    let snap = w.snapshot();
    let (mut alias, owner) = snap.alias(id).ok_or_else(|| Error::invalid("invalid alias ID provided"))?;
    let name = inp.name.clone().unwrap_or_else(|| alias.name.clone());
    let accessor = inp.mount_accessor.clone().unwrap_or_else(|| alias.mount_accessor.clone());
    let canonical = inp.canonical_id.clone().unwrap_or_else(|| alias.canonical_id.clone());
    if name == alias.name && accessor == alias.mount_accessor && canonical == alias.canonical_id && inp.custom_metadata.is_none() {
        return Ok(None);
    }
    if let Some((other, _)) = snap.alias_by_factors(&accessor, &name)
        && other.id != alias.id
    {
        return Err(Error::invalid("alias with combination of mount accessor and name already exists"));
    }
    let mut entity = if canonical == owner.id { (*owner).clone() } else { snap.entity(&canonical).map(|e| (*e).clone()).ok_or_else(|| Error::invalid("invalid canonical ID"))? };
    if entity.aliases.iter().any(|x| x.mount_accessor == accessor && x.id != alias.id) {
        return Err(Error::invalid("Alias already exists for requested entity and mount accessor"));
    }
    let mut change = Change::default();
    if entity.id != owner.id {
        let mut old = (*owner).clone();
        old.aliases.retain(|x| x.id != alias.id);
        change.put_entity(old);
    }
    alias.name = name;
    alias.mount_accessor = accessor;
    alias.canonical_id = entity.id.clone();
    alias.custom_metadata = inp.custom_metadata;
    alias.last_update_time = now();
    entity.aliases.retain(|x| x.id != alias.id);
    entity.aliases.push(alias.clone());
    change.put_entity(entity);
    w.commit(change).await?;
    Ok(ids(&alias))
}
