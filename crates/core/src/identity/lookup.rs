//! `identity/lookup/entity` and `identity/lookup/group`: find one by exactly
//! one of name, id, alias id, or alias name + mount accessor (204 when none
//! matches).

use super::{Ctx, H as Identity};
use crate::backend::{FieldKind, FieldSpec, Path, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Operation::Update, Request, Response};

#[derive(Clone, Copy, Debug)]
pub(crate) enum H {
    Entity,
    Group,
}

const F_LOOKUP: &[FieldSpec] = &[
    field("type", FieldKind::String, "Type of lookup (deprecated; the parameters decide)."),
    field("name", FieldKind::String, "Name of the entity or group."),
    field("id", FieldKind::String, "ID of the entity or group."),
    field("alias_id", FieldKind::String, "ID of the alias."),
    field("alias_name", FieldKind::String, "Name of the alias. Requires alias_mount_accessor."),
    field("alias_mount_accessor", FieldKind::String, "Mount accessor of the alias. Requires alias_name."),
];

pub(super) fn rows() -> Vec<Path<Identity>> {
    vec![
        path("lookup-entity", "lookup/entity", &[(Update, Identity::Lookup(H::Entity))], F_LOOKUP, "Query entities based on various properties."),
        path("lookup-group", "lookup/group", &[(Update, Identity::Lookup(H::Group))], F_LOOKUP, "Query groups based on various properties."),
    ]
}

enum Query {
    Name(String),
    Id(String),
    AliasId(String),
    Alias(String, String),
}

fn query(data: &Data) -> Result<Query> {
    let s = |k| fields::get_str(data, k).map(|v| v.filter(|v: &String| !v.is_empty()));
    let _ = fields::get_str(data, "type")?;
    let (name, id, alias_id, alias_name, alias_acc) = (s("name")?, s("id")?, s("alias_id")?, s("alias_name")?, s("alias_mount_accessor")?);
    let given = [name.is_some(), id.is_some(), alias_id.is_some(), alias_name.is_some() || alias_acc.is_some()].iter().filter(|b| **b).count();
    if given == 0 {
        return Err(Error::invalid("query parameter not supplied"));
    }
    if given > 1 {
        return Err(Error::invalid("query parameter conflict; please supply distinct set of query parameters"));
    }
    Ok(match (name, id, alias_id, alias_name, alias_acc) {
        (Some(n), ..) => Query::Name(n),
        (_, Some(i), ..) => Query::Id(i),
        (_, _, Some(a), ..) => Query::AliasId(a),
        (_, _, _, Some(n), Some(a)) => Query::Alias(a, n),
        _ => return Err(Error::invalid("both 'alias_name' and 'alias_mount_accessor' needs to be set")),
    })
}

pub(super) async fn serve(h: H, cx: &Ctx, req: &Request) -> Result<Option<Response>> {
    let q = query(&req.data)?;
    let snap = cx.store.snapshot();
    match h {
        H::Entity => {
            let e = match q {
                Query::Name(n) => snap.entity_by_name(&n),
                Query::Id(i) => snap.entity(&i),
                Query::AliasId(a) => snap.alias(&a).map(|(_, e)| e),
                Query::Alias(acc, n) => snap.alias_by_factors(&acc, &n).map(|(_, e)| e),
            };
            Ok(e.map(|e| Response::data(super::entity::render(cx, &snap, &e))))
        }
        H::Group => {
            let g = match q {
                Query::Name(n) => snap.group_by_name(&n),
                Query::Id(i) => snap.group(&i),
                Query::AliasId(a) => snap.group_alias(&a).map(|(_, g)| g),
                Query::Alias(acc, n) => snap.group_alias_by_factors(&acc, &n).map(|(_, g)| g),
            };
            Ok(g.map(|g| Response::data(super::group::render(cx, &snap, &g))))
        }
    }
}
