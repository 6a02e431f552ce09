//! The contract between the core and every secrets engine / auth method.
//!
//! An engine declares its API as a table of [`PathSpec`]s (pattern, operations,
//! fields, help), in the spirit of Vault's `sdk/framework`: the table is the
//! engine's readable API, the router matches against it, and `?help` is
//! rendered from it. The engine then implements one `handle` that dispatches
//! on the matched spec's `name`.

use crate::error::{Error, Result};
use crate::logical::{Operation, Request, Response};
use crate::view::StorageView;
use async_trait::async_trait;
use regex::Regex;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Type of a declared field; used for `?help` and for coercion in `fields`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    String,
    Int,
    Bool,
    Duration,
    Map,
    StringList,
    Array,
}

impl FieldKind {
    fn as_str(self) -> &'static str {
        match self {
            FieldKind::String => "string",
            FieldKind::Int => "int",
            FieldKind::Bool => "bool",
            FieldKind::Duration => "duration",
            FieldKind::Map => "map",
            FieldKind::StringList => "comma-string-slice",
            FieldKind::Array => "array",
        }
    }
}

/// One declared field of a row: what `?help` prints and what the OpenAPI
/// document (`crate::openapi`) describes. Build it with [`field`] and the
/// const builder methods: `field("ttl", FieldKind::Duration, "...").required()`.
#[derive(Clone, Copy, Debug)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldKind,
    pub description: &'static str,
    /// The handler refuses a request without it (OpenAPI `required`).
    pub required: bool,
    /// The value the handler uses when the field is absent, as documented.
    pub default: Option<FieldDefault>,
    /// Read from the query string, also on writes (Vault's `Query: true`).
    pub query: bool,
    /// Kept for compatibility; a newer field replaces it.
    pub deprecated: bool,
    /// The only values accepted (OpenAPI `enum`); empty = any.
    pub allowed: &'static [&'static str],
}

/// A documented default value of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldDefault {
    Bool(bool),
    Int(i64),
    Str(&'static str),
}

/// Shorthand for building field tables: `field("ttl", FieldKind::Duration, "...")`.
pub const fn field(name: &'static str, kind: FieldKind, description: &'static str) -> FieldSpec {
    FieldSpec { name, kind, description, required: false, default: None, query: false, deprecated: false, allowed: &[] }
}

impl FieldSpec {
    pub const fn required(mut self) -> FieldSpec {
        self.required = true;
        self
    }
    pub const fn default(mut self, value: FieldDefault) -> FieldSpec {
        self.default = Some(value);
        self
    }
    pub const fn default_bool(self, value: bool) -> FieldSpec {
        self.default(FieldDefault::Bool(value))
    }
    pub const fn default_int(self, value: i64) -> FieldSpec {
        self.default(FieldDefault::Int(value))
    }
    pub const fn default_str(self, value: &'static str) -> FieldSpec {
        self.default(FieldDefault::Str(value))
    }
    pub const fn query(mut self) -> FieldSpec {
        self.query = true;
        self
    }
    pub const fn deprecated(mut self) -> FieldSpec {
        self.deprecated = true;
        self
    }
    pub const fn allowed(mut self, values: &'static [&'static str]) -> FieldSpec {
        self.allowed = values;
        self
    }
}

/// One row of an engine's API table.
#[derive(Clone, Debug)]
pub struct PathSpec {
    /// What `handle` dispatches on.
    pub name: &'static str,
    /// A regex relative to the mount, without anchors; named groups become
    /// route parameters (`data/(?P<path>.+)`).
    pub pattern: &'static str,
    pub operations: &'static [Operation],
    /// `update` on a missing object is turned into `create` (ACL `create` vs
    /// `update`), as Vault's ExistenceCheck does.
    pub existence_check: bool,
    /// Route parameters whose value names an object the handler looks up in a
    /// normalised form (Vault's case-insensitive policy names and usernames).
    /// The core rewrites the request path to that form right after routing, so
    /// the existence check, the ACL and the handler all see the one canonical
    /// path: a policy that denies `users/admin` also denies `users/ADMIN`.
    pub canonical: &'static [(&'static str, Canon)],
    pub fields: &'static [FieldSpec],
    pub synopsis: &'static str,
}

/// How [`PathSpec::canonical`] normalises one route parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canon {
    /// Lower-cased, char by char (Go's `strings.ToLower`): userpass usernames.
    Lower,
    /// Surrounding whitespace trimmed, then lower-cased (Vault's policy-name
    /// sanitising: `" Root "` names the `root` policy).
    TrimLower,
}

impl Canon {
    pub fn apply(self, value: &str) -> String {
        let value = match self {
            Canon::Lower => value,
            Canon::TrimLower => value.trim(),
        };
        value.chars().flat_map(char::to_lowercase).collect()
    }
}

/// A compiled API table.
pub struct PathTable {
    specs: Vec<PathSpec>,
    regexes: Vec<Regex>,
}

/// A matched row and its parameters.
#[derive(Debug)]
pub struct Route<'a> {
    pub spec: &'a PathSpec,
    pub params: Vec<(&'a str, String)>,
}

impl Route<'_> {
    pub fn name(&self) -> &'static str {
        self.spec.name
    }
    /// A named capture; empty when the group did not participate.
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

impl PathTable {
    /// Panics on an invalid pattern: tables are static program text, so a bad
    /// regex is a programming error caught by each engine's tests.
    pub fn new(specs: Vec<PathSpec>) -> PathTable {
        let regexes = specs
            .iter()
            .map(|s| Regex::new(&format!("^(?:{})$", s.pattern)).expect("valid path pattern"))
            .collect();
        PathTable { specs, regexes }
    }

    pub fn specs(&self) -> &[PathSpec] {
        &self.specs
    }

    /// First row whose pattern matches the whole relative path.
    pub fn route<'a>(&'a self, rel_path: &str) -> Option<Route<'a>> {
        for (spec, re) in self.specs.iter().zip(&self.regexes) {
            if let Some(caps) = re.captures(rel_path) {
                let params = re
                    .capture_names()
                    .flatten()
                    .map(|n| (n, caps.name(n).map(|m| m.as_str().to_string()).unwrap_or_default()))
                    .collect();
                return Some(Route { spec, params });
            }
        }
        None
    }

    /// The canonical form of `rel_path` when the row it matches declares
    /// [`PathSpec::canonical`] parameters and one of them is not canonical yet;
    /// `None` when the path is already canonical (or matches no row). The
    /// caller routes the returned path again: it may match another row (a
    /// policy name of only spaces becomes the list path, as in OpenBao).
    pub fn canonical_path(&self, rel_path: &str) -> Option<String> {
        let (spec, re) = self.specs.iter().zip(&self.regexes).find(|(_, re)| re.is_match(rel_path))?;
        if spec.canonical.is_empty() {
            return None;
        }
        let caps = re.captures(rel_path)?;
        let mut spans: Vec<(std::ops::Range<usize>, String)> = spec
            .canonical
            .iter()
            .filter_map(|(name, canon)| caps.name(name).map(|m| (m.range(), canon.apply(m.as_str()))))
            .collect();
        spans.sort_by_key(|(r, _)| r.start);
        let mut out = String::with_capacity(rel_path.len());
        let mut at = 0;
        for (range, value) in spans {
            if range.start < at {
                continue; // nested groups: the outer one was rewritten already
            }
            out.push_str(&rel_path[at..range.start]);
            out.push_str(&value);
            at = range.end;
        }
        out.push_str(&rel_path[at..]);
        (out != rel_path).then_some(out)
    }

    /// The `?help` body for a path: `{"help": "...", "openapi": {...}}`.
    pub fn help(&self, rel_path: &str, backend_help: &str) -> Result<Value> {
        let route = self.route(rel_path).ok_or_else(|| Error::UnsupportedPath(rel_path.to_string()))?;
        let spec = route.spec;
        let mut text = format!(
            "Request:        {rel_path}\nMatching Route: ^{}$\n\n{}\n",
            spec.pattern, spec.synopsis
        );
        if !spec.fields.is_empty() {
            text.push_str("\n## PARAMETERS\n");
            for f in spec.fields {
                text.push_str(&format!("\n    {} ({})\n\n        {}\n", f.name, f.kind.as_str(), f.description));
            }
        }
        if !backend_help.is_empty() {
            text.push_str("\n## DESCRIPTION\n\n");
            text.push_str(backend_help);
            text.push('\n');
        }
        // The row's part of the OpenAPI document, relative to the mount (as Vault's `?help`).
        let openapi = crate::openapi::help_document(spec, crate::core::VERSION);
        Ok(json!({"help": text, "openapi": openapi}))
    }
}

/// Paths (relative to the mount, `*` suffix = prefix) that skip token checks
/// or that require `sudo`.
#[derive(Clone, Debug, Default)]
pub struct SpecialPaths {
    pub unauthenticated: Vec<&'static str>,
    pub root: Vec<&'static str>,
}

impl SpecialPaths {
    pub fn matches(list: &[&'static str], rel_path: &str) -> bool {
        list.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => rel_path.starts_with(prefix),
            None => *p == rel_path,
        })
    }
}

/// What a backend knows about the mount it serves.
#[derive(Clone, Debug)]
pub struct MountInfo {
    /// `secret/`, `auth/token/`, `sys/`.
    pub path: String,
    /// `kv`, `token`, `system`, `cubbyhole`, ...
    pub kind: String,
    pub accessor: String,
    pub uuid: String,
    pub options: BTreeMap<String, String>,
    /// Effective TTLs (mount tune, else system).
    pub default_lease_ttl: Duration,
    pub max_lease_ttl: Duration,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn table(&self) -> &PathTable;

    fn special_paths(&self) -> SpecialPaths {
        SpecialPaths::default()
    }

    /// Backend-level description for `?help`.
    fn help(&self) -> &'static str {
        ""
    }

    /// Serve one request. `Ok(None)` means success without a body (204).
    async fn handle(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>>;

    /// For specs with `existence_check`: does the target object exist?
    async fn exists(&self, _route: &Route<'_>, _req: &Request) -> Result<bool> {
        Ok(true)
    }
}

/// A request as the core would hand it to the backend mounted with `mount` /
/// `storage`, for [`serve_direct`]: no token, no caller, and a LIST path ending
/// in `/` (the core adds it). `body` must be a JSON object or null.
pub fn direct_request(op: Operation, mount: &Arc<MountInfo>, storage: &StorageView, rel_path: &str, body: Value) -> Request {
    let data = match body {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => panic!("request body must be an object, got {other}"),
    };
    let mut rel = rel_path.to_string();
    if op == Operation::List && !rel.is_empty() && !rel.ends_with('/') {
        rel.push('/');
    }
    Request {
        id: "req-direct".into(),
        operation: op,
        path: format!("{}{rel}", mount.path),
        rel_path: rel,
        data,
        client_token: None,
        caller: None,
        has_sudo: false,
        wrap_ttl: None,
        mount: mount.clone(),
        storage: storage.clone(),
        remote_addr: None,
        headers: Vec::new(),
    }
}

/// Route `req` inside one backend and serve it, without tokens or ACLs: the
/// table lookup (404 unsupported path), the operation check (405), the
/// existence check (update → create). Engine unit tests drive backends
/// through this so they see the same routing the core applies.
pub async fn serve_direct(backend: &dyn Backend, req: &mut Request) -> Result<Option<Response>> {
    let table = backend.table();
    if let Some(canonical) = table.canonical_path(&req.rel_path) {
        req.path = format!("{}{canonical}", req.mount.path);
        req.rel_path = canonical;
    }
    let route = table.route(&req.rel_path).ok_or_else(|| Error::UnsupportedPath(req.rel_path.clone()))?;
    if !route.spec.operations.contains(&req.operation) {
        return Err(Error::UnsupportedOperation(req.rel_path.clone()));
    }
    if req.operation == Operation::Update && route.spec.existence_check && !backend.exists(&route, req).await? {
        req.operation = Operation::Create;
    }
    backend.handle(&route, req).await
}

/// Everything an engine gets when it is mounted.
pub struct MountContext {
    pub mount: Arc<MountInfo>,
    pub storage: StorageView,
}

/// Builds a backend for a mount. Registered per engine type (`kv`, ...).
pub type EngineFactory = Arc<dyn Fn(MountContext) -> Result<Arc<dyn Backend>> + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    const DATA_FIELDS: &[FieldSpec] = &[field("data", FieldKind::Map, "the data")];

    #[test]
    fn routes_with_params_and_first_match_wins() {
        let t = PathTable::new(vec![
            PathSpec {
                name: "config",
                pattern: "config",
                operations: &[Operation::Read],
                existence_check: false,
                canonical: &[],
                fields: &[],
                synopsis: "cfg",
            },
            PathSpec {
                name: "data",
                pattern: "data/(?P<path>.+)",
                operations: &[Operation::Read],
                existence_check: false,
                canonical: &[],
                fields: DATA_FIELDS,
                synopsis: "data",
            },
        ]);
        assert_eq!(t.route("config").unwrap().name(), "config");
        let r = t.route("data/a/b").unwrap();
        assert_eq!((r.name(), r.param("path")), ("data", "a/b"));
        assert!(t.route("data/").is_none());
        assert!(t.route("configx").is_none());
        let help = t.help("data/x", "").unwrap();
        assert!(help["help"].as_str().unwrap().contains("data (map)"));
    }

    #[test]
    fn canonical_path_rewrites_only_declared_params() {
        const NAME: &[(&str, Canon)] = &[("name", Canon::TrimLower)];
        const USER: &[(&str, Canon)] = &[("user", Canon::Lower)];
        let row = |name, pattern, canonical| PathSpec {
            name,
            pattern,
            operations: &[Operation::Read],
            existence_check: false,
            canonical,
            fields: &[],
            synopsis: "",
        };
        let t = PathTable::new(vec![
            row("list", "policies/?", &[]),
            row("policy", "policies/(?P<name>.+)", NAME),
            row("pw", "users/(?P<user>[A-Za-z]+)/(?P<field>[A-Za-z]+)", USER),
            row("kv", "data/(?P<path>.+)", &[]),
        ]);
        let c = |p: &str| t.canonical_path(p);
        assert_eq!(c("policies/admin"), None, "already canonical");
        assert_eq!(c("policies/ADMIN").as_deref(), Some("policies/admin"));
        assert_eq!(c("policies/ Team/Admin \t").as_deref(), Some("policies/team/admin"));
        assert_eq!(c("policies/a B").as_deref(), Some("policies/a b"), "inner space kept");
        assert_eq!(c("policies/ÉTÉ").as_deref(), Some("policies/été"));
        // Only spaces: the canonical path is the list row's (OpenBao answers 405 there for a write).
        assert_eq!(c("policies/  ").as_deref(), Some("policies/"));
        assert_eq!(t.route("policies/").unwrap().name(), "list");
        // Undeclared parameters and rows are left alone.
        assert_eq!(c("users/Alice/Password").as_deref(), Some("users/alice/Password"));
        assert_eq!(c("data/Mixed/Case"), None);
        assert_eq!(c("nothing/here"), None);
    }

    #[test]
    fn special_path_globs() {
        assert!(SpecialPaths::matches(&["login/*", "x"], "login/alice"));
        assert!(SpecialPaths::matches(&["login/*", "x"], "x"));
        assert!(!SpecialPaths::matches(&["login/*", "x"], "xy"));
    }
}
