//! `sys/`: the system backend. Its API table is below; the handlers reach
//! into the core (mounts, policies, tokens, barrier) through a weak handle.
//! The five endpoints that must answer while sealed (`init`, `seal-status`,
//! `unseal`, `health`, `leader`) are served by [`handle_unauthenticated`]
//! before routing, since no router exists while sealed.

use crate::backend::{Backend, Canon, FieldKind, PathSpec, PathTable, Route, SpecialPaths, field};
use crate::core::{Active, Core, Incoming};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Operation, RawResponse, Request, Response};
use crate::mounts::{MountEntry, normalize_mount_path};
use async_trait::async_trait;
use serde_json::{Map, Value, json};
use std::sync::{Arc, LazyLock, Weak};

use Operation::{Delete, List, Read, Update};

const MOUNT_FIELDS: &[crate::backend::FieldSpec] = &[
    field("type", FieldKind::String, "The type of the backend. Example: \"kv\""),
    field("description", FieldKind::String, "User-friendly description for this mount."),
    field("config", FieldKind::Map, "Configuration for this mount, such as default_lease_ttl and max_lease_ttl."),
    field("local", FieldKind::Bool, "Mark the mount as a local mount (not replicated).").default_bool(false),
    field("seal_wrap", FieldKind::Bool, "Whether to turn on seal wrapping for the mount.").default_bool(false),
    field("options", FieldKind::Map, "The options to pass into the backend. Should be a json object with string keys and values."),
];

const TUNE_FIELDS: &[crate::backend::FieldSpec] = &[
    field("default_lease_ttl", FieldKind::Duration, "The default lease TTL for this mount (\"system\" resets)."),
    field("max_lease_ttl", FieldKind::Duration, "The max lease TTL for this mount (\"system\" resets)."),
    field("description", FieldKind::String, "User-friendly description for this mount."),
    field("options", FieldKind::Map, "Backend options; for kv, {\"version\":\"2\"} upgrades v1 to v2."),
    field("listing_visibility", FieldKind::String, "\"unauth\" or \"hidden\"."),
];

const F_REMOUNT: &[crate::backend::FieldSpec] = &[
    field("from", FieldKind::String, "The previous mount point."),
    field("to", FieldKind::String, "The new mount point."),
];
const F_RANDOM: &[crate::backend::FieldSpec] = &[
    field("bytes", FieldKind::Int, "Number of bytes (default 32, at most 131072).").default_int(32),
    field("format", FieldKind::String, "hex or base64 (default).").default_str("base64"),
];
const F_HASH: &[crate::backend::FieldSpec] = &[
    field("input", FieldKind::String, "Base64-encoded input."),
    field("algorithm", FieldKind::String, "sha2-224, sha2-256 (default), sha2-384, sha2-512, sha3-256, sha3-384, sha3-512.").default_str("sha2-256"),
    field("format", FieldKind::String, "hex (default) or base64.").default_str("hex"),
];
const F_ROTATE_CONFIG: &[crate::backend::FieldSpec] = &[
    field("enabled", FieldKind::Bool, "Whether the barrier key rotates automatically (default true)."),
    field("max_operations", FieldKind::Int, "Encryptions under one key term before it rotates (1000000 to 3865470566, the default)."),
    field("interval", FieldKind::Duration, "Age of the active key term at which it rotates: 0 (never, the default) or at least 24h."),
];
const F_POLICY: &[crate::backend::FieldSpec] = &[field("policy", FieldKind::String, "The rules of the policy (HCL or JSON), optionally base64-encoded.")];
const F_CAPS: &[crate::backend::FieldSpec] = &[field("token", FieldKind::String, "Token to check."), field("paths", FieldKind::StringList, "Paths to check.")];
const F_CAPS_SELF: &[crate::backend::FieldSpec] = &[field("paths", FieldKind::StringList, "Paths to check.")];
const F_CAPS_ACC: &[crate::backend::FieldSpec] = &[field("accessor", FieldKind::String, "Accessor of the token to check."), field("paths", FieldKind::StringList, "Paths to check.")];
const F_WRAP_TOKEN: &[crate::backend::FieldSpec] = &[field("token", FieldKind::String, "The wrapping token (for unwrap: else the request token is used).")];
const F_LEASE_ID: &[crate::backend::FieldSpec] = &[field("lease_id", FieldKind::String, "The lease identifier.")];
const F_LEASE_PREFIX: &[crate::backend::FieldSpec] = &[field("prefix", FieldKind::String, "The path to list leases under, e.g. \"auth/userpass/login/\".")];
const F_LEASE_RENEW: &[crate::backend::FieldSpec] = &[
    field("url_lease_id", FieldKind::String, "The lease identifier (in the path)."),
    field("lease_id", FieldKind::String, "The lease identifier; wins over the one in the path."),
    field("increment", FieldKind::Duration, "The desired increment, in seconds or a duration string."),
];
const F_LEASE_REVOKE: &[crate::backend::FieldSpec] = &[
    field("url_lease_id", FieldKind::String, "The lease identifier (in the path)."),
    field("lease_id", FieldKind::String, "The lease identifier; wins over the one in the path."),
    field("sync", FieldKind::Bool, "Revoke now and answer 204 (default), or queue it and answer 202.").default_bool(true),
];
const F_LEASE_REVOKE_PREFIX: &[crate::backend::FieldSpec] = &[
    field("prefix", FieldKind::String, "The prefix of the leases to revoke, e.g. \"auth/userpass/\"."),
    field("sync", FieldKind::Bool, "Revoke now and answer 204 (default), or queue it and answer 202.").default_bool(true),
];
const F_LEASE_COUNT: &[crate::backend::FieldSpec] = &[
    field("type", FieldKind::String, "Type of leases: only \"irrevocable\" is served."),
    field("include_child_namespaces", FieldKind::Bool, "Include child namespaces (there are none)."),
];
const F_LEASE_LIST: &[crate::backend::FieldSpec] = &[
    field("type", FieldKind::String, "Type of leases: only \"irrevocable\" is served."),
    field("include_child_namespaces", FieldKind::Bool, "Include child namespaces (there are none)."),
    field("limit", FieldKind::String, "Maximum number of leases returned (default 10000), or \"none\"."),
];

/// Policy names are case-insensitive and trimmed (Vault's policy store
/// sanitises them); the ACL sees the sanitised name, as in OpenBao.
const POLICY_NAME: &[(&str, Canon)] = &[("name", Canon::TrimLower)];

static TABLE: LazyLock<PathTable> = LazyLock::new(|| {
    let p = |name, pattern, operations, fields, synopsis| PathSpec {
        name,
        pattern,
        operations,
        existence_check: false,
        canonical: &[],
        fields,
        synopsis,
    };
    PathTable::new(vec![
        p("seal", "seal", &[Update], &[], "Seal the server: drop all keys from memory."),
        p("mounts", "mounts/?", &[Read], &[], "List the currently mounted secrets engines."),
        p("mount-tune", "mounts/(?P<path>.+?)/tune/?", &[Read, Update], TUNE_FIELDS, "Tune the configuration of a secrets engine."),
        p("mount", "mounts/(?P<path>.+?)/?", &[Read, Update, Delete], MOUNT_FIELDS, "Enable, read or disable a secrets engine."),
        p("auths", "auth/?", &[Read], &[], "List the currently enabled auth methods."),
        p("auth-tune", "auth/(?P<path>.+?)/tune/?", &[Read, Update], TUNE_FIELDS, "Tune the configuration of an auth method."),
        p("auth", "auth/(?P<path>.+?)/?", &[Read, Update, Delete], MOUNT_FIELDS, "Enable, read or disable an auth method."),
        p("policy-list", "policy/?", &[Read, List], &[], "List the configured ACL policies (legacy endpoint)."),
        PathSpec { canonical: POLICY_NAME, ..p("policy", "policy/(?P<name>.+)", &[Read, Update, Delete], F_POLICY, "Read, write or delete an ACL policy (legacy endpoint).") },
        p("acl-list", "policies/acl/?", &[List], &[], "List the configured ACL policies."),
        PathSpec { canonical: POLICY_NAME, ..p("acl", "policies/acl/(?P<name>.+)", &[Read, Update, Delete], F_POLICY, "Read, write or delete an ACL policy.") },
        p("capabilities", "capabilities", &[Update], F_CAPS, "Capabilities of a token on paths."),
        p("capabilities-self", "capabilities-self", &[Update], F_CAPS_SELF, "Capabilities of the calling token on paths."),
        p("capabilities-accessor", "capabilities-accessor", &[Update], F_CAPS_ACC, "Capabilities of a token, by accessor, on paths."),
        p("ui-mounts", "internal/ui/mounts", &[Read], &[], "Mounts visible to the caller."),
        p("ui-mount", "internal/ui/mounts/(?P<path>.+)", &[Read], &[], "The mount that serves a path (used by clients to detect kv v2)."),
        p("openapi", "internal/specs/openapi", &[Read, Update], crate::sys_openapi::FIELDS, "Generate an OpenAPI 3 document of all mounted paths."),
        p("remount", "remount", &[Update], F_REMOUNT, "Move a secrets engine or auth method to a new path, keeping its data."),
        p("remount-status", "remount/status/(?P<id>.+)", &[Read], &[], "Status of a mount move."),
        p("key-status", "key-status", &[Read], &[], "Information about the barrier encryption key."),
        p("rotate", "rotate", &[Update], &[], "Rotate the barrier encryption key: a new key term for new writes."),
        p("rotate-keyring", "rotate/keyring", &[Update], &[], "Rotate the barrier encryption key (OpenBao's name for sys/rotate; its CLI calls it)."),
        p("rotate-root", "rotate/root", &[Update], &[], "Rotate the root key that encrypts the keyring; unseal keys and data keys stay."),
        p("rotate-config", "rotate/config", &[Read, Update], F_ROTATE_CONFIG, "Configure automatic rotation of the barrier encryption key."),
        p("rotate-keyring-config", "rotate/keyring/config", &[Read, Update], F_ROTATE_CONFIG, "Configure automatic rotation of the barrier encryption key (OpenBao's name)."),
        p("tools-random", "tools/random(/(?P<source>[^/]+))?(/(?P<urlbytes>[^/]+))?", &[Update], F_RANDOM, "Random bytes from the server's entropy source."),
        p("tools-hash", "tools/hash(/(?P<alg>.+))?", &[Update], F_HASH, "Hash of base64-encoded input."),
        p("wrap", "wrapping/wrap", &[Update], &[], "Response-wrap an arbitrary JSON object."),
        p("unwrap", "wrapping/unwrap", &[Update], F_WRAP_TOKEN, "Unwrap a response-wrapping token."),
        p("wrap-lookup", "wrapping/lookup", &[Read, Update], F_WRAP_TOKEN, "Look up the properties of a wrapping token."),
        p("rewrap", "wrapping/rewrap", &[Update], F_WRAP_TOKEN, "Rotate a wrapping token, keeping its wrapped response."),
        p("leases-lookup-list", "leases/lookup/(?P<prefix>.+?)?", &[List], F_LEASE_PREFIX, "List lease ids under a prefix (sudo)."),
        p("leases-lookup", "leases/lookup", &[Update], F_LEASE_ID, "Look up a lease: issue and expiry times, TTL, renewable."),
        p("leases-renew", "leases/renew(/(?P<url_lease_id>.+))?", &[Update], F_LEASE_RENEW, "Renew a lease (tokens are renewed through auth/token/renew*)."),
        p("leases-revoke", "leases/revoke(/(?P<url_lease_id>.+))?", &[Update], F_LEASE_REVOKE, "Revoke a lease; a token lease revokes the token and its children."),
        p("leases-revoke-force", "leases/revoke-force/(?P<prefix>.+)", &[Update], F_LEASE_PREFIX, "Revoke every lease under a prefix, ignoring revocation errors (sudo)."),
        p("leases-revoke-prefix", "leases/revoke-prefix/(?P<prefix>.+)", &[Update], F_LEASE_REVOKE_PREFIX, "Revoke every lease under a prefix (sudo)."),
        p("leases-tidy", "leases/tidy", &[Update], &[], "Remove lease entries whose token no longer exists."),
        p("leases-count", "leases/count", &[Read], F_LEASE_COUNT, "Count irrevocable leases."),
        p("leases-list", "leases", &[Read], F_LEASE_LIST, "List irrevocable leases (sudo)."),
    ])
});

pub struct SysBackend {
    core: Weak<Core>,
}

impl SysBackend {
    pub fn new(core: Weak<Core>) -> Self {
        SysBackend { core }
    }

    fn core(&self) -> Result<(Arc<Core>, Arc<Active>)> {
        let core = self.core.upgrade().ok_or(Error::Sealed)?;
        let active = core.active()?;
        Ok((core, active))
    }
}

fn injected(data: Data) -> Option<Response> {
    Some(Response { data: Some(data), inject_data: true, ..Default::default() })
}

fn obj(v: Value) -> Data {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[async_trait]
impl Backend for SysBackend {
    fn table(&self) -> &PathTable {
        &TABLE
    }

    fn special_paths(&self) -> SpecialPaths {
        SpecialPaths {
            unauthenticated: vec!["wrapping/lookup", "internal/ui/mounts", "internal/ui/mounts/*", "internal/specs/openapi"],
            root: vec!["auth/*", "remount", "audit", "audit/*", "raw", "raw/*", "rotate", "rotate/keyring", "rotate/root", "seal", "leases/revoke-prefix/*", "leases/revoke-force/*", "leases/lookup/*", "leases"],
        }
    }

    async fn handle(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        let (core, active) = self.core()?;
        match route.name() {
            "seal" => {
                core.seal().await?;
                Ok(None)
            }
            "mounts" | "auths" => {
                let auth = route.name() == "auths";
                let router = active.router.load();
                let mut m = Map::new();
                for e in router.entries().iter().filter(|e| e.is_auth == auth) {
                    m.insert(e.entry.path.clone(), e.entry.to_json(crate::core::VERSION));
                }
                Ok(injected(sorted(m)))
            }
            "mount" | "auth" => {
                let is_auth = route.name() == "auth";
                let path = normalize_mount_path(route.param("path"))?;
                match req.operation {
                    Read => {
                        let full = if is_auth { format!("auth/{path}") } else { path.clone() };
                        let router = active.router.load();
                        let e = router
                            .entries()
                            .iter()
                            .find(|e| e.prefix == full)
                            .ok_or_else(|| Error::invalid(format!("No {} engine at path \"{path}\"", if is_auth { "auth" } else { "secret" })))?;
                        Ok(injected(obj(e.entry.to_json(crate::core::VERSION))))
                    }
                    Delete => {
                        core.unmount(&path, is_auth).await?;
                        Ok(None)
                    }
                    _ => {
                        let entry = mount_entry_from(&path, &req.data, is_auth)?;
                        core.mount(entry, is_auth).await?;
                        Ok(None)
                    }
                }
            }
            "mount-tune" | "auth-tune" => {
                let is_auth = route.name() == "auth-tune";
                let path = normalize_mount_path(route.param("path"))?;
                let full = if is_auth || path.starts_with("auth/") {
                    if is_auth { format!("auth/{path}") } else { path.clone() }
                } else {
                    path.clone()
                };
                if req.operation == Read {
                    let router = active.router.load();
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
                let data = req.data.clone();
                let sys_max = core.config().max_lease_ttl;
                let is_auth = full.starts_with("auth/");
                core.update_mount(&full, |e| tune_entry(e, &data, sys_max, is_auth)).await?;
                Ok(None)
            }
            "policy-list" | "acl-list" => {
                let mut names = active.policies.list().await?;
                names.push("root".into());
                names.sort();
                if route.name() == "policy-list" && req.operation == Read {
                    let mut m = Map::new();
                    m.insert("keys".into(), json!(names));
                    m.insert("policies".into(), json!(names));
                    return Ok(injected(m));
                }
                Ok(Some(Response::list(names)))
            }
            "policy" | "acl" => {
                let legacy = route.name() == "policy";
                // Already trimmed and lower-cased by the core (POLICY_NAME).
                let name = route.param("name").to_string();
                match req.operation {
                    Read => {
                        let text = if name == "root" {
                            Some(String::new())
                        } else {
                            active.policies.get_raw(&name).await?
                        };
                        let Some(text) = text else { return Ok(None) };
                        let mut m = Map::new();
                        m.insert("name".into(), json!(name));
                        m.insert(if legacy { "rules" } else { "policy" }.into(), json!(text));
                        Ok(if legacy { injected(m) } else { Some(Response::data(m)) })
                    }
                    Delete => {
                        active.policies.delete(&name).await?;
                        Ok(None)
                    }
                    _ => {
                        let key = if legacy && req.data.contains_key("rules") && !req.data.contains_key("policy") { "rules" } else { "policy" };
                        let raw = fields::get_str(&req.data, key)?
                            .filter(|p| !p.is_empty())
                            .ok_or_else(|| Error::invalid("'policy' parameter not supplied or empty"))?;
                        let text = decode_maybe_base64(&raw);
                        active.policies.put(&name, &text).await?;
                        Ok(None)
                    }
                }
            }
            "capabilities" | "capabilities-self" | "capabilities-accessor" => {
                let paths = match fields::get_str_list(&req.data, "paths")? {
                    Some(p) if !p.is_empty() => p,
                    _ => fields::get_str(&req.data, "path")?.map(|p| vec![p]).unwrap_or_default(),
                };
                if paths.is_empty() {
                    return Err(Error::invalid("missing paths"));
                }
                let policies = match route.name() {
                    "capabilities-self" => req.caller.as_ref().map(|c| c.policies.clone()).ok_or(Error::PermissionDenied)?,
                    "capabilities" => {
                        let token = fields::get_str(&req.data, "token")?.unwrap_or_default();
                        let entry = active.tokens.lookup(&token).await?.ok_or_else(|| Error::invalid("1 error occurred:\n\t* invalid token\n\n"))?;
                        active.tokens.caller(&entry).policies
                    }
                    _ => {
                        let acc = fields::get_str(&req.data, "accessor")?.unwrap_or_default();
                        let entry = active.tokens.lookup_accessor(&acc).await?.ok_or_else(|| Error::invalid("invalid accessor"))?;
                        active.tokens.caller(&entry).policies
                    }
                };
                let acl = active.policies.acl_for(&policies);
                let mut m = Map::new();
                for p in &paths {
                    let caps = acl.capabilities(p.trim_start_matches('/'));
                    if paths.len() == 1 {
                        m.insert("capabilities".into(), json!(caps));
                    }
                    m.insert(p.clone(), json!(caps));
                }
                Ok(injected(m))
            }
            "ui-mounts" => {
                let router = active.router.load();
                let mut secret = Map::new();
                let mut auth = Map::new();
                let is_root = req.caller.as_ref().is_some_and(|c| c.is_root);
                let acl = req.caller.as_ref().map(|c| active.policies.acl_for(&c.policies));
                for e in router.entries() {
                    let visible = e.entry.config.listing_visibility.as_deref() == Some("unauth")
                        || is_root
                        || acl.as_ref().is_some_and(|a| a.capabilities(&e.prefix) != ["deny"]);
                    if !visible {
                        continue;
                    }
                    let mut v = e.entry.to_json(crate::core::VERSION);
                    if let Value::Object(ref mut o) = v {
                        o.remove("uuid");
                    }
                    if e.is_auth { auth.insert(e.entry.path.clone(), v) } else { secret.insert(e.entry.path.clone(), v) };
                }
                let mut m = Map::new();
                m.insert("auth".into(), Value::Object(sorted(auth)));
                m.insert("secret".into(), Value::Object(sorted(secret)));
                Ok(Some(Response::data(m)))
            }
            "openapi" => crate::sys_openapi::handle(&active, req),
            "ui-mount" => {
                // Vault allows any token that has some capability under the
                // mount (clients use this to detect kv v2 before any read).
                let Some(caller) = req.caller.clone() else { return Err(Error::PermissionDenied) };
                let path = route.param("path");
                let router = active.router.load();
                let Some(e) = router.lookup(path).or_else(|| router.lookup(&format!("{path}/"))) else {
                    return Err(Error::invalid(format!("no mount found for path \"{path}\"")));
                };
                if !caller.is_root && !active.policies.acl_for(&caller.policies).has_any_under(&e.prefix) {
                    return Err(Error::PermissionDenied);
                }
                let mut v = obj(e.entry.to_json(crate::core::VERSION));
                v.insert("path".into(), json!(e.prefix.strip_prefix("auth/").filter(|_| e.is_auth).unwrap_or(&e.prefix)));
                Ok(Some(Response::data(v)))
            }
            "remount" => {
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
            "remount-status" => {
                let id = route.param("id");
                let Some((from, to)) = active.migrations.lock().get(id).cloned() else { return Ok(None) };
                Ok(Some(Response::json(json!({
                    "migration_id": id,
                    "migration_info": {"source_mount": from, "target_mount": to, "status": "success"},
                }))))
            }
            "key-status" => {
                let (term, install_time, encryptions) = core.barrier().key_status()?;
                Ok(injected(obj(json!({"term": term, "install_time": install_time, "encryptions": encryptions}))))
            }
            "rotate" | "rotate-keyring" => {
                core.barrier().rotate(crate::util::rfc3339_now()).await?;
                Ok(None)
            }
            "rotate-root" => {
                core.barrier().rotate_root().await?;
                tracing::info!("root key rotated");
                Ok(None)
            }
            "rotate-config" | "rotate-keyring-config" => crate::sys_rotate::config(&core, req).await,
            "wrap" => {
                if req.data.is_empty() {
                    return Err(Error::invalid("empty request body"));
                }
                // The core wraps the response with the request's X-Vault-Wrap-TTL.
                if req.wrap_ttl.is_none() {
                    return Err(Error::invalid("endpoint requires response wrapping to be used"));
                }
                Ok(Some(Response::data(req.data.clone())))
            }
            "tools-random" => crate::sys_tools::random(&[route.param("source"), route.param("urlbytes")].iter().filter(|p| !p.is_empty()).map(|p| format!("/{p}")).collect::<String>(), req),
            "tools-hash" => crate::sys_tools::hash(route.param("alg"), req),
            "unwrap" | "wrap-lookup" | "rewrap" => crate::sys_wrapping::handle(&core, &active, route.name(), req).await,
            name if name.starts_with("leases") => crate::sys_leases::handle(&active, route, req).await,
            other => Err(Error::UnsupportedPath(other.to_string())),
        }
    }
}

fn sorted(m: Map<String, Value>) -> Map<String, Value> {
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().collect()
}

/// Vault accepts policy text base64-encoded too.
fn decode_maybe_base64(raw: &str) -> String {
    use base64::Engine;
    let t = raw.trim();
    if !t.is_empty()
        && !t.contains(char::is_whitespace)
        && !t.contains('{')
        && !t.contains('"')
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(t)
        && let Ok(s) = String::from_utf8(bytes)
    {
        return s;
    }
    raw.to_string()
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

fn tune_entry(e: &mut MountEntry, data: &Data, sys_max: std::time::Duration, is_auth: bool) -> Result<()> {
    let mut cfg = e.config.clone();
    if let Some(s) = ttl_secs(data.get("default_lease_ttl"), "default_lease_ttl")? {
        cfg.default_lease_ttl = s;
    }
    if let Some(s) = ttl_secs(data.get("max_lease_ttl"), "max_lease_ttl")? {
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
        if e.kind == "kv"
            && let Some(v) = opts.get("version")
        {
            let old = cur.get("version").cloned().unwrap_or_else(|| "1".into());
            if v != "1" && v != "2" {
                return Err(Error::invalid(format!("invalid kv version {v:?}")));
            }
            if old == "2" && v == "1" {
                return Err(Error::invalid("cannot downgrade mount from version 2"));
            }
        }
        for (k, v) in opts {
            cur.insert(k, v);
        }
    }
    e.config = cfg;
    Ok(())
}

/// `sys/init`, `sys/seal-status`, `sys/unseal`, `sys/health`, `sys/leader`:
/// plain JSON bodies (no envelope), no token, served sealed or not.
pub async fn handle_unauthenticated(core: &Core, inc: Incoming) -> Result<Response> {
    let raw = |status: u16, v: Value| Ok(Response { raw: Some(RawResponse::json(status, &v)), ..Default::default() });
    match (inc.path.as_str(), inc.operation) {
        ("sys/init", Read) => raw(200, json!({"initialized": core.is_initialized().await?})),
        ("sys/init", Update | Operation::Create) => {
            for k in ["recovery_shares", "recovery_threshold", "recovery_pgp_keys"] {
                if inc.data.get(k).is_some_and(|v| !v.is_null() && v != &json!(0)) {
                    return Err(Error::invalid("parameters recovery_shares,recovery_threshold not applicable to seal type shamir"));
                }
            }
            if inc.data.get("pgp_keys").is_some_and(|v| !v.is_null()) || inc.data.get("root_token_pgp_key").is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
                return Err(Error::invalid("PGP-encrypted key shares are not supported by Coffer yet"));
            }
            let shares = fields::get_int(&inc.data, "secret_shares")?.unwrap_or(0);
            let threshold = fields::get_int(&inc.data, "secret_threshold")?.unwrap_or(0);
            let res = core.initialize(shares, threshold, None, false).await?;
            use base64::Engine;
            let keys: Vec<String> = res.keys.iter().map(hex::encode).collect();
            let keys_b64: Vec<String> = res.keys.iter().map(|k| base64::engine::general_purpose::STANDARD.encode(&k[..])).collect();
            raw(200, json!({"keys": keys, "keys_base64": keys_b64, "root_token": res.root_token}))
        }
        ("sys/seal-status", Read) => raw(200, core.seal_status().await?),
        ("sys/unseal", Update | Operation::Create) => {
            let reset = fields::get_bool(&inc.data, "reset")?.unwrap_or(false);
            let key = fields::get_str(&inc.data, "key")?.filter(|k| !k.is_empty());
            let v = core.submit_unseal_key(key.as_deref(), reset).await?;
            raw(200, v)
        }
        ("sys/health", Read | Operation::Header) => {
            let (status, body) = core.health(&inc.data).await?;
            raw(status, body)
        }
        ("sys/leader", Read) => {
            if core.is_sealed() {
                return Err(Error::Sealed);
            }
            raw(200, json!({"ha_enabled": false}))
        }
        (p, _) => Err(Error::UnsupportedOperation(p.trim_start_matches("sys/").to_string())),
    }
}
