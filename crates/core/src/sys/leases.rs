//! `sys/leases/*`: request fields and Vault's answers, over the lease
//! manager (`crate::lease`).

use super::{Ctx, H as Sys};
use crate::backend::{FieldKind, FieldSpec, Path, Route, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::lease::RevokeMode;
use crate::logical::{Data, Operation::{List, Read, Update}, RawResponse, Request, Response};
use serde_json::{Value, json};

/// Vault returns at most this many irrevocable leases unless `limit=none`.
const MAX_IRREVOCABLE_LISTED: usize = 10_000;

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    LookupList,
    Lookup,
    Renew,
    Revoke,
    RevokeForce,
    RevokePrefix,
    Tidy,
    Count,
    List,
}

const F_LEASE_ID: &[FieldSpec] = &[field("lease_id", FieldKind::String, "The lease identifier.")];
const F_LEASE_PREFIX: &[FieldSpec] = &[field("prefix", FieldKind::String, "The path to list leases under, e.g. \"auth/userpass/login/\".")];
const F_LEASE_RENEW: &[FieldSpec] = &[
    field("url_lease_id", FieldKind::String, "The lease identifier (in the path)."),
    field("lease_id", FieldKind::String, "The lease identifier; wins over the one in the path."),
    field("increment", FieldKind::Duration, "The desired increment, in seconds or a duration string."),
];
const F_LEASE_REVOKE: &[FieldSpec] = &[
    field("url_lease_id", FieldKind::String, "The lease identifier (in the path)."),
    field("lease_id", FieldKind::String, "The lease identifier; wins over the one in the path."),
    field("sync", FieldKind::Bool, "Revoke now and answer 204 (default), or queue it and answer 202.").default_bool(true),
];
const F_LEASE_REVOKE_PREFIX: &[FieldSpec] = &[
    field("prefix", FieldKind::String, "The prefix of the leases to revoke, e.g. \"auth/userpass/\"."),
    field("sync", FieldKind::Bool, "Revoke now and answer 204 (default), or queue it and answer 202.").default_bool(true),
];
const F_LEASE_COUNT: &[FieldSpec] = &[
    field("type", FieldKind::String, "Type of leases: only \"irrevocable\" is served."),
    field("include_child_namespaces", FieldKind::Bool, "Include child namespaces (there are none)."),
];
const F_LEASE_LIST: &[FieldSpec] = &[
    field("type", FieldKind::String, "Type of leases: only \"irrevocable\" is served."),
    field("include_child_namespaces", FieldKind::Bool, "Include child namespaces (there are none)."),
    field("limit", FieldKind::String, "Maximum number of leases returned (default 10000), or \"none\"."),
];

pub(super) fn rows() -> Vec<Path<Sys>> {
    use Sys::Leases as L;
    vec![
        path("leases-lookup-list", "leases/lookup/(?P<prefix>.+?)?", &[(List, L(H::LookupList))], F_LEASE_PREFIX, "List lease ids under a prefix (sudo)."),
        path("leases-lookup", "leases/lookup", &[(Update, L(H::Lookup))], F_LEASE_ID, "Look up a lease: issue and expiry times, TTL, renewable."),
        path("leases-renew", "leases/renew(/(?P<url_lease_id>.+))?", &[(Update, L(H::Renew))], F_LEASE_RENEW, "Renew a lease (tokens are renewed through auth/token/renew*)."),
        path("leases-revoke", "leases/revoke(/(?P<url_lease_id>.+))?", &[(Update, L(H::Revoke))], F_LEASE_REVOKE, "Revoke a lease; a token lease revokes the token and its children."),
        path("leases-revoke-force", "leases/revoke-force/(?P<prefix>.+)", &[(Update, L(H::RevokeForce))], F_LEASE_PREFIX, "Revoke every lease under a prefix, ignoring revocation errors (sudo)."),
        path("leases-revoke-prefix", "leases/revoke-prefix/(?P<prefix>.+)", &[(Update, L(H::RevokePrefix))], F_LEASE_REVOKE_PREFIX, "Revoke every lease under a prefix (sudo)."),
        path("leases-tidy", "leases/tidy", &[(Update, L(H::Tidy))], &[], "Remove lease entries whose token no longer exists."),
        path("leases-count", "leases/count", &[(Read, L(H::Count))], F_LEASE_COUNT, "Count irrevocable leases."),
        path("leases-list", "leases", &[(Read, L(H::List))], F_LEASE_LIST, "List irrevocable leases (sudo)."),
    ]
}

pub(super) async fn serve(h: H, cx: &Ctx, route: &Route<'_>, req: &Request) -> Result<Option<Response>> {
    let active = &cx.active;
    let leases = active.leases();
    match h {
        H::Lookup => {
            let id = lease_id(req, "")?;
            let info = leases.lookup(&id).await?.ok_or_else(|| Error::invalid("invalid lease"))?;
            Ok(Some(Response::data(info.to_data())))
        }
        H::LookupList => Ok(Some(Response::list(leases.list(route.param("prefix")).await?))),
        H::Renew => {
            // Fields are validated before anything else, as Vault's framework does.
            let increment = fields::get_duration(&req.data, "increment")?.unwrap_or_default();
            let id = lease_id(req, route.param("url_lease_id"))?;
            leases.renew(&id, increment).await.map(Some)
        }
        H::Revoke => {
            let mode = sync_mode(req)?;
            let id = lease_id(req, route.param("url_lease_id"))?;
            leases.revoke(&id, mode).await?;
            Ok(done(mode))
        }
        H::RevokePrefix => {
            let mode = sync_mode(req)?;
            leases.revoke_prefix(route.param("prefix"), mode).await?;
            Ok(done(mode))
        }
        H::RevokeForce => {
            leases.revoke_prefix(route.param("prefix"), RevokeMode::Force).await?;
            Ok(None)
        }
        H::Tidy => {
            let me = leases.clone();
            active.spawn(async move {
                match me.tidy().await {
                    Ok(r) => tracing::info!(scanned = r.scanned, removed = r.removed, "lease tidy finished"),
                    Err(e) => tracing::warn!(error = %e, "lease tidy failed"),
                }
            });
            Ok(Some(Response { status: Some(202), ..Default::default() }.with_warning(
                "Tidy operation successfully started. Any information from the operation will be printed to Coffer's server logs.",
            )))
        }
        H::Count => {
            fields::get_bool(&req.data, "include_child_namespaces")?;
            if !irrevocable_type(req)? {
                return Ok(None);
            }
            let n = leases.irrevocable().len();
            Ok(Some(Response::data(obj(json!({"counts": {}, "lease_count": n})))))
        }
        H::List => {
            fields::get_bool(&req.data, "include_child_namespaces")?;
            if !irrevocable_type(req)? {
                return Ok(None);
            }
            let limit = limit(req)?;
            let listed: Vec<Value> = leases
                .irrevocable()
                .iter()
                .take(limit.unwrap_or(usize::MAX))
                .map(|e| json!({"lease_id": e.lease_id}))
                .collect();
            Ok(Some(Response::data(obj(json!({"lease_count": listed.len(), "leases": listed})))))
        }
    }
}

fn obj(v: Value) -> Data {
    match v {
        Value::Object(m) => m,
        _ => Data::new(),
    }
}

/// The lease id from the body, else from the URL (`sys/leases/revoke/<id>`).
/// A non-string `lease_id` is refused with Vault's text.
fn lease_id(req: &Request, from_url: &str) -> Result<String> {
    let id = match fields::get_raw(&req.data, "lease_id") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(Error::invalid("invalid lease ID")),
    };
    let id = if id.is_empty() { from_url.to_string() } else { id };
    if id.is_empty() {
        return Err(Error::invalid("lease_id must be specified"));
    }
    Ok(id)
}

/// `sync` (default true): revoke now and answer 204, or queue and answer 202.
fn sync_mode(req: &Request) -> Result<RevokeMode> {
    Ok(if fields::get_bool(&req.data, "sync")?.unwrap_or(true) { RevokeMode::Sync } else { RevokeMode::Lazy })
}

fn done(mode: RevokeMode) -> Option<Response> {
    match mode {
        // Vault's 202 here has an empty body.
        RevokeMode::Lazy => Some(Response {
            raw: Some(RawResponse { status: 202, content_type: "application/json".into(), body: Vec::new() }),
            ..Default::default()
        }),
        _ => None,
    }
}

/// `sys/leases` and `sys/leases/count` serve only `type=irrevocable` (any
/// case); anything else is a 404 with no error text, as in Vault.
fn irrevocable_type(req: &Request) -> Result<bool> {
    Ok(fields::get_str(&req.data, "type")?.is_some_and(|t| t.eq_ignore_ascii_case("irrevocable")))
}

/// `limit`: empty → Vault's default, `none` → everything, else a positive
/// integer. Vault answers a bad limit with a 500 and Go's parse error; so
/// does Coffer, as clients may match on it.
fn limit(req: &Request) -> Result<Option<usize>> {
    let raw = fields::get_str(&req.data, "limit")?.unwrap_or_default();
    if raw.is_empty() {
        return Ok(Some(MAX_IRREVOCABLE_LISTED));
    }
    if raw.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let n: i64 = raw.parse().map_err(|e: std::num::ParseIntError| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => "value out of range",
            _ => "invalid syntax",
        };
        Error::Coded(500, format!("1 error occurred:\n\t* invalid 'limit' provided: strconv.Atoi: parsing {raw:?}: {why}\n\n"))
    })?;
    if n < 1 {
        return Err(Error::Coded(500, "1 error occurred:\n\t* limit must be 'none' or a positive integer\n\n".into()));
    }
    Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
}
