//! `identity/group-alias*`: the alias of an external group (one per group;
//! a new one replaces the old), unique by (mount accessor, name). A login on
//! that mount that brings the name puts its entity in the group.

use super::store::{Change, Group, GroupAlias};
use super::{Ctx, H as Identity, generated_name, new_id, now};
use crate::backend::{FieldKind, FieldSpec, Path, Route, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Operation, Request, Response};
use serde_json::{Map, Value, json};

use Operation::{Delete, List, Read, Update};

#[derive(Clone, Copy, Debug)]
pub(crate) enum H {
    Create,
    Read,
    Update,
    Delete,
    List,
}

const F_ALIAS: &[FieldSpec] = &[
    field("id", FieldKind::String, "ID of the group alias."),
    field("name", FieldKind::String, "Alias of the group."),
    field("mount_accessor", FieldKind::String, "Mount accessor to which this alias belongs to."),
    field("canonical_id", FieldKind::String, "ID of the group to which this is an alias."),
];

pub(super) fn rows() -> Vec<Path<Identity>> {
    use Identity::GroupAlias as A;
    vec![
        path("group-alias", "group-alias", &[(Update, A(H::Create))], F_ALIAS, "Creates a new group alias, or updates an existing one."),
        path("group-alias-id", "group-alias/id/(?P<id>.+)", &[(Read, A(H::Read)), (Update, A(H::Update)), (Delete, A(H::Delete))], F_ALIAS, "Update, read or delete a group alias using its ID."),
        path("group-alias-id-list", "group-alias/id/?", &[(List, A(H::List))], &[], "List all the group alias IDs."),
    ]
}

/// A group alias object: inside its group (`standalone` false) or on its own.
pub(super) fn render(cx: &Ctx, a: &GroupAlias, standalone: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("canonical_id".into(), json!(a.canonical_id));
    m.insert("creation_time".into(), json!(a.creation_time));
    m.insert("id".into(), json!(a.id));
    m.insert("last_update_time".into(), json!(a.last_update_time));
    m.insert("merged_from_canonical_ids".into(), Value::Null);
    m.insert("metadata".into(), Value::Null);
    m.insert("mount_accessor".into(), json!(a.mount_accessor));
    cx.mount_fields(&a.mount_accessor, &mut m);
    m.insert("name".into(), json!(a.name));
    if standalone {
        m.insert("custom_metadata".into(), Value::Null);
        m.insert("local".into(), json!(false));
        m.insert("namespace_id".into(), json!("root"));
    }
    m
}

pub(super) async fn serve(h: H, cx: &Ctx, route: &Route<'_>, req: &Request) -> Result<Option<Response>> {
    match h {
        H::Read => match cx.store.snapshot().group_alias(route.param("id")) {
            Some((a, _)) => Ok(Some(Response::data(render(cx, &a, true)))),
            None => Err(Error::NotFound),
        },
        H::List => {
            let aliases = cx.store.snapshot().group_aliases();
            let mut info = Map::new();
            for a in &aliases {
                let mut m = Map::new();
                m.insert("canonical_id".into(), json!(a.canonical_id));
                m.insert("custom_metadata".into(), Value::Null);
                m.insert("local".into(), json!(false));
                m.insert("metadata".into(), Value::Null);
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
            write(cx, Some(id).filter(|i| !i.is_empty()), &req.data).await
        }
        H::Update => write(cx, Some(route.param("id").to_string()), &req.data).await,
        H::Delete => {
            let w = cx.store.lock().await;
            let Some((_, g)) = w.snapshot().group_alias(route.param("id")) else { return Ok(None) };
            let mut g = (*g).clone();
            g.alias = None;
            g.last_update_time = now();
            let mut change = Change::default();
            change.put_group(g);
            w.commit(change).await?;
            Ok(None)
        }
    }
}

/// Create or update a group alias (Vault's `handleGroupAliasUpdateCommon`).
/// Without `canonical_id` a new external group is created for it.
async fn write(cx: &Ctx, id: Option<String>, data: &Data) -> Result<Option<Response>> {
    let s = |k| fields::get_str(data, k).map(|v| v.filter(|v: &String| !v.is_empty()));
    let (name, accessor, canonical) = (s("name")?, s("mount_accessor")?, s("canonical_id")?);
    let w = cx.store.lock().await;
    let snap = w.snapshot();
    let t = now();
    let existing = match &id {
        Some(id) => Some(snap.group_alias(id).ok_or_else(|| Error::invalid("invalid group alias ID"))?),
        None => None,
    };
    let accessor = match (accessor, &existing) {
        (Some(a), _) => a,
        (None, Some((a, _))) => a.mount_accessor.clone(),
        (None, None) => return Err(Error::invalid("missing mount_accessor")),
    };
    let name = match (name, &existing) {
        (Some(n), _) => n,
        (None, Some((a, _))) => a.name.clone(),
        (None, None) => return Err(Error::invalid("missing alias name")),
    };
    cx.check_accessor(&accessor)?;
    if let Some((other, _)) = snap.group_alias_by_factors(&accessor, &name)
        && existing.as_ref().is_none_or(|(a, _)| a.id != other.id)
    {
        return Err(Error::invalid("combination of mount and group alias name is already in use"));
    }
    let mut alias = match &existing {
        Some((a, _)) => a.clone(),
        None => GroupAlias { id: new_id(), canonical_id: String::new(), name: String::new(), mount_accessor: String::new(), creation_time: t.clone(), last_update_time: t.clone() },
    };
    let canonical = canonical.or_else(|| existing.as_ref().map(|(_, g)| g.id.clone()));
    let mut group = match &canonical {
        Some(gid) => snap.group(gid).map(|g| (*g).clone()).ok_or_else(|| Error::invalid("invalid group ID given in 'canonical_id'"))?,
        None => Group::new(generated_name("group"), "external".into(), &t),
    };
    if !group.external() {
        return Err(Error::invalid("alias can't be set on an internal group"));
    }
    let mut change = Change::default();
    if let Some((_, old)) = &existing
        && old.id != group.id
    {
        let mut old = (**old).clone();
        old.alias = None;
        change.put_group(old);
    }
    alias.name = name;
    alias.mount_accessor = accessor;
    alias.canonical_id = group.id.clone();
    alias.last_update_time = t.clone();
    group.alias = Some(alias.clone());
    group.last_update_time = t;
    change.put_group(group);
    w.commit(change).await?;
    Ok(Some(Response::json(json!({"canonical_id": alias.canonical_id, "id": alias.id}))))
}
