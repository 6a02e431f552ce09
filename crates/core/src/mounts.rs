//! Mount tables (secrets engines and auth methods) and the router that maps a
//! request path to the backend mounted at its longest matching prefix.
//!
//! The tables are persisted under the barrier at `core/mounts` and
//! `core/auth`. At runtime the router is an immutable snapshot swapped
//! atomically on every mount change, so the hot path takes no lock.

use crate::backend::{Backend, MountInfo, SpecialPaths};
use crate::error::{Error, Result};
use crate::view::StorageView;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const MOUNTS_KEY: &str = "core/mounts";
pub const AUTH_KEY: &str = "core/auth";

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MountConfig {
    /// Seconds; 0 = system default.
    #[serde(default)]
    pub default_lease_ttl: u64,
    #[serde(default)]
    pub max_lease_ttl: u64,
    #[serde(default)]
    pub force_no_cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing_visibility: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit_non_hmac_request_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit_non_hmac_response_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passthrough_request_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_response_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

/// One row of a mount table as persisted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MountEntry {
    /// Path relative to its table, with trailing `/` (`secret/`, `userpass/`).
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    pub accessor: String,
    pub uuid: String,
    #[serde(default)]
    pub config: MountConfig,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub local: bool,
    #[serde(default)]
    pub seal_wrap: bool,
    #[serde(default)]
    pub external_entropy_access: bool,
}

impl MountEntry {
    pub fn new(path: &str, kind: &str, description: &str, auth: bool) -> MountEntry {
        let short = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let accessor = if auth { format!("auth_{kind}_{short}") } else { format!("{kind}_{short}") };
        MountEntry {
            path: path.to_string(),
            kind: kind.to_string(),
            description: description.to_string(),
            accessor,
            uuid: uuid::Uuid::new_v4().to_string(),
            config: MountConfig::default(),
            options: None,
            local: false,
            seal_wrap: false,
            external_entropy_access: false,
        }
    }

    /// The mount object of `sys/mounts` / `sys/auth` responses.
    pub fn to_json(&self, version: &str) -> Value {
        let mut config = Map::new();
        config.insert("default_lease_ttl".into(), json!(self.config.default_lease_ttl));
        config.insert("force_no_cache".into(), json!(self.config.force_no_cache));
        config.insert("max_lease_ttl".into(), json!(self.config.max_lease_ttl));
        if let Some(v) = &self.config.listing_visibility {
            config.insert("listing_visibility".into(), json!(v));
        }
        for (k, v) in [
            ("audit_non_hmac_request_keys", &self.config.audit_non_hmac_request_keys),
            ("audit_non_hmac_response_keys", &self.config.audit_non_hmac_response_keys),
            ("passthrough_request_headers", &self.config.passthrough_request_headers),
            ("allowed_response_headers", &self.config.allowed_response_headers),
        ] {
            if !v.is_empty() {
                config.insert(k.into(), json!(v));
            }
        }
        if let Some(t) = &self.config.token_type {
            config.insert("token_type".into(), json!(t));
        }
        let mut m = json!({
            "accessor": self.accessor,
            "config": config,
            "description": self.description,
            "external_entropy_access": self.external_entropy_access,
            "local": self.local,
            "options": self.options,
            "plugin_version": "",
            "running_plugin_version": format!("v{version}+builtin.coffer"),
            "running_sha256": "",
            "seal_wrap": self.seal_wrap,
            "type": self.kind,
            "uuid": self.uuid,
        });
        // Built-in plugins report a deprecation status; the core's own
        // backends (system, cubbyhole, token, identity) do not.
        if !matches!(self.kind.as_str(), "system" | "cubbyhole" | "token" | "identity") {
            m["deprecation_status"] = json!("supported");
        }
        m
    }
}

/// A live mount: the persisted entry plus its backend and storage view.
pub struct RouteEntry {
    /// Full routing prefix (`secret/`, `auth/token/`).
    pub prefix: String,
    pub entry: MountEntry,
    pub info: Arc<MountInfo>,
    pub backend: Arc<dyn Backend>,
    pub storage: StorageView,
    pub special: SpecialPaths,
    pub is_auth: bool,
}

/// Immutable routing snapshot: entries sorted by prefix length, longest first.
#[derive(Default)]
pub struct Router {
    entries: Vec<Arc<RouteEntry>>,
}

impl Router {
    pub fn new(mut entries: Vec<Arc<RouteEntry>>) -> Router {
        entries.sort_by(|a, b| b.prefix.len().cmp(&a.prefix.len()).then(a.prefix.cmp(&b.prefix)));
        Router { entries }
    }

    /// The mount serving `path` (longest prefix). A path equal to a mount
    /// without its trailing slash (`secret`) routes to that mount too.
    pub fn lookup(&self, path: &str) -> Option<&Arc<RouteEntry>> {
        self.entries.iter().find(|e| {
            path.starts_with(&e.prefix) || (path.len() + 1 == e.prefix.len() && e.prefix.starts_with(path))
        })
    }

    pub fn entries(&self) -> &[Arc<RouteEntry>] {
        &self.entries
    }

    /// Is there a mount at, above or below `prefix`? (Vault refuses
    /// overlapping mounts with 409.)
    pub fn conflict(&self, prefix: &str) -> Option<&Arc<RouteEntry>> {
        self.entries.iter().find(|e| prefix.starts_with(&e.prefix) || e.prefix.starts_with(prefix))
    }
}

/// Effective TTLs of a mount given the system defaults.
pub fn effective_ttls(cfg: &MountConfig, sys_default: Duration, sys_max: Duration) -> (Duration, Duration) {
    let max = if cfg.max_lease_ttl > 0 { Duration::from_secs(cfg.max_lease_ttl) } else { sys_max };
    let default = if cfg.default_lease_ttl > 0 { Duration::from_secs(cfg.default_lease_ttl) } else { sys_default };
    (default.min(max), max)
}

/// Normalise a user-supplied mount path: trim slashes, add one trailing
/// slash, refuse empty, `..` and reserved prefixes.
pub fn normalize_mount_path(p: &str) -> Result<String> {
    let t = p.trim_matches('/');
    if t.is_empty() {
        return Err(Error::invalid("path cannot be empty"));
    }
    if t.split('/').any(|s| s.is_empty() || s == ".." || s == ".") {
        return Err(Error::invalid(format!("invalid mount path {p:?}")));
    }
    Ok(format!("{t}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_path_normalisation() {
        assert_eq!(normalize_mount_path("/kv/").unwrap(), "kv/");
        assert_eq!(normalize_mount_path("a/b").unwrap(), "a/b/");
        assert!(normalize_mount_path("").is_err());
        assert!(normalize_mount_path("a/../b").is_err());
        assert!(normalize_mount_path("a//b").is_err());
    }

    #[test]
    fn ttl_defaults() {
        let sys = (Duration::from_secs(100), Duration::from_secs(1000));
        let mut c = MountConfig::default();
        assert_eq!(effective_ttls(&c, sys.0, sys.1), sys);
        c.max_lease_ttl = 50;
        assert_eq!(effective_ttls(&c, sys.0, sys.1), (Duration::from_secs(50), Duration::from_secs(50)));
    }
}
