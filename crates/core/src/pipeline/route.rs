//! Stage 3, route: the mount, then the row of its path table.
//!
//! In two steps because the row ([`Route`]) borrows the mount's path table:
//! the frame holds the mount while the row is in use.

use super::context::{RequestContext, Target, Unserved};
use super::namespace::Namespace;
use crate::backend::{PathTable, Route, SpecialPaths};
use crate::error::{Error, Result};
use crate::logical::Operation;
use crate::mounts::RouteEntry;
use std::sync::Arc;

/// The seal-exempt endpoints (see [`Target::SealExempt`]).
const SEAL_EXEMPT: &[&str] = &["sys/init", "sys/seal-status", "sys/unseal", "sys/health", "sys/leader"];

/// Before anything else: is this one of the endpoints `sys` answers sealed
/// or not, without namespace or token?
pub(crate) fn seal_exempt(ctx: &mut RequestContext) -> bool {
    if SEAL_EXEMPT.contains(&ctx.path.as_str()) {
        ctx.target = Target::SealExempt;
        return true;
    }
    false
}

/// Step 1: the longest-prefix mount (a lock-free router snapshot). A write
/// to a path ending in `/` is refused first, for every mount, as Vault's
/// router does. A `?help` request stops here ([`Target::Help`]). Names a
/// row canonicalises (policy names, usernames) are rewritten in the path
/// now, so the existence check, the ACL and the handler all judge the one
/// canonical name.
pub(crate) fn route_mount(ctx: &mut RequestContext, ns: &Namespace) -> Result<Option<Arc<RouteEntry>>> {
    if matches!(ctx.operation, Operation::Update | Operation::Create) && ctx.path.ends_with('/') {
        return Err(Error::invalid("cannot write to a path ending in '/'"));
    }
    let Some(mount) = ns.router().lookup(&ctx.path).cloned() else {
        ctx.target = Target::Unserved(Unserved::NoMount);
        ctx.acl_path = ctx.path.clone();
        return Ok(None);
    };
    let rel_path = ctx.path.get(mount.prefix.len()..).unwrap_or("");
    if ctx.operation == Operation::Help {
        ctx.rel_path = rel_path.to_string();
        ctx.target = Target::Help;
    } else {
        match mount.backend.table().canonical_path(rel_path) {
            Some(canonical) => {
                ctx.acl_path = format!("{}{canonical}", mount.prefix);
                ctx.rel_path = canonical;
            }
            None => {
                ctx.rel_path = rel_path.to_string();
                ctx.acl_path = ctx.path.clone();
            }
        }
        ctx.unauthenticated = SpecialPaths::matches(&mount.special.unauthenticated, &ctx.rel_path);
    }
    ctx.mount = Some(mount.clone());
    Ok(Some(mount))
}

/// Step 2: the row that serves the path and the operation (`create` is
/// served by a row that lists `update`). No row: 404 unsupported path; an
/// operation the row lacks: 405; both only once the authorize stage lets
/// the caller see them ([`Target::Unserved`]).
pub(crate) fn route_row<'t>(ctx: &mut RequestContext, table: &'t PathTable) -> Option<Route<'t>> {
    if !matches!(ctx.target, Target::Pending) {
        return None;
    }
    let Some(row) = table.route(&ctx.rel_path) else {
        ctx.target = Target::Unserved(Unserved::NoRow);
        return None;
    };
    let wanted = match ctx.operation {
        Operation::Create => Operation::Update,
        op => op,
    };
    if !row.spec.operations.contains(&wanted) && !row.spec.operations.contains(&ctx.operation) {
        ctx.target = Target::Unserved(Unserved::NoOperation);
        return None;
    }
    ctx.target = Target::Row;
    Some(row)
}
