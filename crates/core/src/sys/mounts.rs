//! `sys/mounts*` and `sys/remount*`: secrets engines (enable, read, disable,
//! tune, list, move). The handlers serve `sys/auth*` too (`auth.rs` has those
//! rows): `Table` says which of the two mount tables a row is about.

use super::{Ctx, H as Sys, injected, obj, sorted};
use crate::backend::{FieldKind, FieldSpec, Path, Route, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Operation, Request, Response};
use crate::mounts::{MountEntry, normalize_mount_path};
use serde_json::{Map, Value, json};

use Operation::{Delete, Read, Update};

/// Which mount table a row serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Table {
    Secret,
    Auth,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    List(Table),
    Read(Table),
    Enable(Table),
    Disable(Table),
    TuneRead(Table),
    Tune(Table),
    Remount,
    RemountStatus,
}

pub(super) const MOUNT_FIELDS: &[FieldSpec] = &[
    field("type", FieldKind::String, "The type of the backend. Example: \"kv\""),
    field("description", FieldKind::String, "User-friendly description for this mount."),
    field("config", FieldKind::Map, "Configuration for this mount, such as default_lease_ttl and max_lease_ttl."),
    field("local", FieldKind::Bool, "Mark the mount as a local mount (not replicated).").default_bool(false),
    field("seal_wrap", FieldKind::Bool, "Whether to turn on seal wrapping for the mount.").default_bool(false),
    field("external_entropy_access", FieldKind::Bool, "Whether to give the mount access to the seal's entropy source.").default_bool(false),
    field("options", FieldKind::Map, "The options to pass into the backend. Should be a json object with string keys and values."),
];

pub(super) const TUNE_FIELDS: &[FieldSpec] = &[
    field("default_lease_ttl", FieldKind::Duration, "The default lease TTL for this mount (\"system\" resets)."),
    field("max_lease_ttl", FieldKind::Duration, "The max lease TTL for this mount (\"system\" resets)."),
    field("description", FieldKind::String, "User-friendly description for this mount."),
    field("options", FieldKind::Map, "Backend options; for kv, {\"version\":\"2\"} upgrades v1 to v2."),
    field("listing_visibility", FieldKind::String, "\"unauth\" or \"hidden\"."),
    field("audit_non_hmac_request_keys", FieldKind::StringList, "Request keys audit devices do not HMAC."),
    field("audit_non_hmac_response_keys", FieldKind::StringList, "Response keys audit devices do not HMAC."),
    field("passthrough_request_headers", FieldKind::StringList, "Request headers passed through to the backend."),
    field("allowed_response_headers", FieldKind::StringList, "Response headers the backend may set."),
    field("token_type", FieldKind::String, "Auth mounts only: default-service, default-batch, service or batch."),
];

const F_REMOUNT: &[FieldSpec] = &[
    field("from", FieldKind::String, "The previous mount point."),
    field("to", FieldKind::String, "The new mount point."),
];

pub(super) fn rows() -> Vec<Path<Sys>> {
    use Table::Secret;
    vec![
        path("mounts", "mounts/?", &[(Read, Sys::Mounts(H::List(Secret)))], &[], "List the currently mounted secrets engines."),
        path(
            "mount-tune",
            "mounts/(?P<path>.+?)/tune/?",
            &[(Read, Sys::Mounts(H::TuneRead(Secret))), (Update, Sys::Mounts(H::Tune(Secret)))],
            TUNE_FIELDS,
            "Tune the configuration of a secrets engine.",
        ),
        path(
            "mount",
            "mounts/(?P<path>.+?)/?",
            &[(Read, Sys::Mounts(H::Read(Secret))), (Update, Sys::Mounts(H::Enable(Secret))), (Delete, Sys::Mounts(H::Disable(Secret)))],
            MOUNT_FIELDS,
            "Enable, read or disable a secrets engine.",
        ),
    ]
}

pub(super) fn remount_rows() -> Vec<Path<Sys>> {
    vec![
        path("remount", "remount", &[(Update, Sys::Mounts(H::Remount))], F_REMOUNT, "Move a secrets engine or auth method to a new path, keeping its data."),
        path("remount-status", "remount/status/(?P<id>.+)", &[(Read, Sys::Mounts(H::RemountStatus))], &[], "Status of a mount move."),
    ]
}

pub(super) async fn serve(h: H, cx: &Ctx, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
    let (core, active) = (&cx.core, &cx.active);
    match h {
        H::List(table) => {
            let router = active.router();
            let mut m = Map::new();
            for e in router.entries().iter().filter(|e| e.is_auth == (table == Table::Auth)) {
                m.insert(e.entry.path.clone(), e.entry.to_json(crate::core::VERSION));
            }
            Ok(injected(sorted(m)))
        }
        H::Read(table) => {
            let is_auth = table == Table::Auth;
            let path = normalize_mount_path(route.param("path"))?;
            let full = if is_auth { format!("auth/{path}") } else { path.clone() };
            let router = active.router();
            let e = router
                .entries()
                .iter()
                .find(|e| e.prefix == full)
                .ok_or_else(|| Error::invalid(format!("No {} engine at path \"{path}\"", if is_auth { "auth" } else { "secret" })))?;
            Ok(injected(obj(e.entry.to_json(crate::core::VERSION))))
        }
        H::Disable(table) => {
            let path = normalize_mount_path(route.param("path"))?;
            core.unmount(&path, table == Table::Auth).await?;
            Ok(None)
        }
        H::Enable(table) => {
            let is_auth = table == Table::Auth;
            let path = normalize_mount_path(route.param("path"))?;
            let entry = mount_entry_from(&path, &req.data, is_auth)?;
            core.mount(entry, is_auth).await?;
            Ok(None)
        }
        H::TuneRead(table) | H::Tune(table) => {
            let path = normalize_mount_path(route.param("path"))?;
            // `sys/mounts/auth/x/tune` tunes the auth mount too, as in Vault.
            let full = if table == Table::Auth { format!("auth/{path}") } else { path.clone() };
            if let H::TuneRead(_) = h {
                let router = active.router();
                let e = router
                    .entries()
                    .iter()
                    .find(|e| e.prefix == full)
                    .ok_or_else(|| Error::invalid(format!("cannot fetch sysview for path \"{path}\"")))?;
                let mut m = Map::new();
                m.insert("default_lease_ttl".into(), json!(e.info.default_lease_ttl.as_secs()));
                m.insert("description".into(), json!(e.entry.description));
                m.insert("force_no_cache".into(), json!(e.entry.config.force_no_cache));
                m.insert("max_lease_ttl".into(), json!(e.info.max_lease_ttl.as_secs()));
                if let Some(o) = &e.entry.options {
                    m.insert("options".into(), json!(o));
                }
                if let Some(t) = &e.entry.config.token_type {
                    m.insert("token_type".into(), json!(t));
                }
                if let Some(v) = &e.entry.config.listing_visibility {
                    m.insert("listing_visibility".into(), json!(v));
                }
                return Ok(injected(m));
            }
            let data = &req.data;
            let sys_max = core.config().max_lease_ttl;
            let is_auth = full.starts_with("auth/");
            core.update_mount(&full, |e| {
                let factory = core.factory(&e.kind, is_auth);
                tune_entry(e, data, sys_max, is_auth, factory.as_deref())
            })
            .await?;
            Ok(None)
        }
        H::Remount => {
            let from = normalize_mount_path(&fields::get_str(&req.data, "from")?.unwrap_or_default())?;
            let to = normalize_mount_path(&fields::get_str(&req.data, "to")?.unwrap_or_default())?;
            let id = core.remount(&from, &to).await?;
            let mut m = Map::new();
            m.insert("migration_id".into(), json!(id));
            Ok(Some(Response {
                data: Some(m),
                inject_data: true,
                warnings: vec!["Mount move has been queued. Progress will be reported in Coffer's server log, tagged with the returned migration_id".into()],
                ..Default::default()
            }))
        }
        H::RemountStatus => {
            let id = route.param("id");
            let Some((from, to)) = active.migration(id) else { return Ok(None) };
            Ok(Some(Response::json(json!({
                "migration_id": id,
                "migration_info": {"source_mount": from, "target_mount": to, "status": "success"},
            }))))
        }
    }
}

fn ttl_secs(v: Option<&Value>, key: &str) -> Result<Option<u64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "system" => Ok(Some(0)),
        Some(v) => coffer_config::duration::from_json(v)
            .map(|d| Some(d.as_secs()))
            .map_err(|e| Error::invalid(format!("{key}: {e}"))),
    }
}

fn mount_entry_from(path: &str, data: &Data, is_auth: bool) -> Result<MountEntry> {
    let kind = fields::get_str(data, "type")?.filter(|t| !t.is_empty()).ok_or_else(|| Error::invalid("backend type must be specified as a string"))?;
    let description = fields::get_str(data, "description")?.unwrap_or_default();
    let mut entry = MountEntry::new(path, &kind, &description, is_auth);
    entry.local = fields::get_bool(data, "local")?.unwrap_or(false);
    entry.seal_wrap = fields::get_bool(data, "seal_wrap")?.unwrap_or(false);
    entry.external_entropy_access = fields::get_bool(data, "external_entropy_access")?.unwrap_or(false);
    entry.options = fields::get_str_map(data, "options")?;
    if is_auth && entry.options.is_none() {
        // Vault stores an empty options map for auth methods enabled through the API.
        entry.options = Some(Default::default());
    }
    if let Some(cfg) = fields::get_object(data, "config")? {
        if let Some(s) = ttl_secs(cfg.get("default_lease_ttl"), "default_lease_ttl")? {
            entry.config.default_lease_ttl = s;
        }
        if let Some(s) = ttl_secs(cfg.get("max_lease_ttl"), "max_lease_ttl")? {
            entry.config.max_lease_ttl = s;
        }
        entry.config.force_no_cache = fields::get_bool(cfg, "force_no_cache")?.unwrap_or(false);
        entry.config.listing_visibility = fields::get_str(cfg, "listing_visibility")?.filter(|s| !s.is_empty());
        entry.config.audit_non_hmac_request_keys = fields::get_str_list(cfg, "audit_non_hmac_request_keys")?.unwrap_or_default();
        entry.config.audit_non_hmac_response_keys = fields::get_str_list(cfg, "audit_non_hmac_response_keys")?.unwrap_or_default();
        entry.config.passthrough_request_headers = fields::get_str_list(cfg, "passthrough_request_headers")?.unwrap_or_default();
        entry.config.allowed_response_headers = fields::get_str_list(cfg, "allowed_response_headers")?.unwrap_or_default();
        if is_auth {
            entry.config.token_type = fields::get_str(cfg, "token_type")?.map(token_type_value).transpose()?;
        }
    }
    if is_auth && entry.config.token_type.is_none() {
        entry.config.token_type = Some("default-service".into());
    }
    if entry.config.max_lease_ttl > 0 && entry.config.default_lease_ttl > entry.config.max_lease_ttl {
        return Err(Error::invalid("given default lease TTL greater than given max lease TTL"));
    }
    Ok(entry)
}

/// An auth mount's `token_type` as Vault accepts it (`""` is `default-service`).
fn token_type_value(t: String) -> Result<String> {
    match t.as_str() {
        "" => Ok("default-service".into()),
        "default-service" | "default-batch" | "service" | "batch" => Ok(t),
        _ => Err(Error::invalid("invalid value for 'token_type'")),
    }
}

fn tune_entry(e: &mut MountEntry, data: &Data, sys_max: std::time::Duration, is_auth: bool, factory: Option<&dyn crate::backend::BackendFactory>) -> Result<()> {
    let mut cfg = e.config.clone();
    if let Some(s) = ttl_secs(fields::get_raw(data, "default_lease_ttl"), "default_lease_ttl")? {
        cfg.default_lease_ttl = s;
    }
    if let Some(s) = ttl_secs(fields::get_raw(data, "max_lease_ttl"), "max_lease_ttl")? {
        cfg.max_lease_ttl = s;
    }
    let max = if cfg.max_lease_ttl > 0 { cfg.max_lease_ttl } else { sys_max.as_secs() };
    if cfg.default_lease_ttl > max {
        return Err(Error::invalid("default lease TTL cannot be greater than max lease TTL"));
    }
    if let Some(d) = fields::get_str(data, "description")? {
        e.description = d;
    }
    if let Some(v) = fields::get_str(data, "listing_visibility")? {
        if !matches!(v.as_str(), "" | "unauth" | "hidden") {
            return Err(Error::invalid(format!("invalid listing_visibility {v}")));
        }
        cfg.listing_visibility = Some(v).filter(|s| !s.is_empty());
    }
    if let Some(v) = fields::get_str_list(data, "audit_non_hmac_request_keys")? {
        cfg.audit_non_hmac_request_keys = v;
    }
    if let Some(v) = fields::get_str_list(data, "audit_non_hmac_response_keys")? {
        cfg.audit_non_hmac_response_keys = v;
    }
    if let Some(v) = fields::get_str_list(data, "passthrough_request_headers")? {
        cfg.passthrough_request_headers = v;
    }
    if let Some(v) = fields::get_str_list(data, "allowed_response_headers")? {
        cfg.allowed_response_headers = v;
    }
    if let Some(t) = fields::get_str(data, "token_type")? {
        // Vault's checks and texts: auth mounts only, never the token store
        // (its tokens' type is the request's or the role's).
        if !is_auth {
            return Err(Error::invalid("'token_type' can only be modified on auth mounts"));
        }
        if e.kind == "token" {
            return Err(Error::invalid("'token_type' cannot be set for 'token' or 'ns_token' auth mounts"));
        }
        cfg.token_type = Some(token_type_value(t)?);
    }
    if let Some(opts) = fields::get_str_map(data, "options")? {
        let cur = e.options.get_or_insert_with(Default::default);
        // What the options mean is the type's business (kv: `version`).
        if let Some(f) = factory {
            f.validate_tune_options(cur, &opts)?;
        }
        for (k, v) in opts {
            cur.insert(k, v);
        }
    }
    e.config = cfg;
    Ok(())
}
