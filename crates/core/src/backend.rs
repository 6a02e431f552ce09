//! The contract between the core and every secrets engine / auth method.
//!
//! An engine declares its API as a table of rows ([`Path`]), in the spirit of
//! Vault's `sdk/framework.Path{Operations: {op: handler}}`: each row names its
//! pattern, fields, help and, for each operation it serves, the handler that
//! serves it. A handler is a variant of the backend's own handler enum, so a
//! row cannot name an operation without a handler (the pair is one value) and
//! the backend's [`Backend::serve`] is one exhaustive `match` on that enum: a
//! handler no row names is an unused variant, and there is no string to
//! mistype. [`Paths::new`] compiles the rows into the backend-independent
//! [`PathTable`] the router matches against (and `?help` renders), keeping
//! each row's handlers beside it.
//!
//! Field declarations are checked against what handlers read: in debug
//! builds [`Backend::handle`] runs the handler with its row's fields in scope,
//! and every `crate::fields` accessor called on the request body panics on a
//! name the row does not declare (see `fields::Declared`). Every unit test,
//! black-box test (they run the debug binary) and the table walk in the `coffer`
//! crate (`table_walk.rs`, which drives every row of every mounted backend)
//! therefore proves the tables and the handlers agree.

use crate::error::{Error, Result};
use crate::logical::{Operation, Request, Response};
use crate::mounts::MountEntry;
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

/// One row of an API table as the router, `?help` and the docs see it
/// (built by [`Paths::new`] from a backend's [`Path`] rows).
#[derive(Clone, Debug)]
pub struct PathSpec {
    /// The row's name (tests and docs; nothing dispatches on it).
    pub name: &'static str,
    /// A regex relative to the mount, without anchors; named groups become
    /// route parameters (`data/(?P<path>.+)`).
    pub pattern: &'static str,
    /// The operations the row serves: exactly those its [`Path`] binds to a handler.
    pub operations: Vec<Operation>,
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

/// One row of a backend's API as the backend writes it: the pattern, the
/// fields, and each operation bound to the handler that serves it (`H` is the
/// backend's handler enum). See the module docs.
#[derive(Clone, Debug)]
pub struct Path<H: 'static> {
    pub name: &'static str,
    pub pattern: &'static str,
    pub operations: &'static [(Operation, H)],
    pub existence_check: bool,
    pub canonical: &'static [(&'static str, Canon)],
    pub fields: &'static [FieldSpec],
    pub synopsis: &'static str,
}

/// A row with no existence check and no canonical parameters; chain
/// [`Path::existence_check`] / [`Path::canonical`] for those.
pub const fn path<H>(
    name: &'static str,
    pattern: &'static str,
    operations: &'static [(Operation, H)],
    fields: &'static [FieldSpec],
    synopsis: &'static str,
) -> Path<H> {
    Path { name, pattern, operations, existence_check: false, canonical: &[], fields, synopsis }
}

impl<H> Path<H> {
    /// `update` on a missing object becomes `create` (see [`PathSpec::existence_check`]).
    pub const fn existence_check(mut self) -> Self {
        self.existence_check = true;
        self
    }
    /// See [`PathSpec::canonical`].
    pub const fn canonical(mut self, canonical: &'static [(&'static str, Canon)]) -> Self {
        self.canonical = canonical;
        self
    }
}

/// A backend's compiled table: the [`PathTable`] the router uses, and the
/// handlers of each row. Derefs to the [`PathTable`].
pub struct Paths<H: 'static> {
    table: PathTable,
    handlers: Vec<&'static [(Operation, H)]>,
}

impl<H: Copy + 'static> Paths<H> {
    /// Panics on an invalid pattern or on a row that lists an operation
    /// twice: tables are static program text, checked by the tests.
    pub fn new(rows: Vec<Path<H>>) -> Paths<H> {
        let mut handlers = Vec::with_capacity(rows.len());
        let specs = rows
            .into_iter()
            .map(|r| {
                let ops: Vec<Operation> = r.operations.iter().map(|(op, _)| *op).collect();
                for (i, op) in ops.iter().enumerate() {
                    assert!(!ops[..i].contains(op), "row {}: operation {} bound twice", r.name, op.as_str());
                }
                handlers.push(r.operations);
                PathSpec {
                    name: r.name,
                    pattern: r.pattern,
                    operations: ops,
                    existence_check: r.existence_check,
                    canonical: r.canonical,
                    fields: r.fields,
                    synopsis: r.synopsis,
                }
            })
            .collect();
        Paths { table: PathTable::new(specs), handlers }
    }

    /// The handler the matched row binds to `op`. A `create` is served by the
    /// row's `update` handler unless the row binds `create` itself, as the
    /// core accepts `create` wherever `update` is allowed. The error (405)
    /// only happens for a route of another table or an operation the core
    /// did not check.
    pub fn handler(&self, route: &Route<'_>, op: Operation) -> Result<H> {
        let ops = self.handlers.get(route.index).filter(|_| std::ptr::eq(route.spec, &self.table.specs[route.index]));
        let ops = ops.ok_or_else(|| Error::UnsupportedPath(route.spec.pattern.to_string()))?;
        let find = |want: Operation| ops.iter().find(|(o, _)| *o == want).map(|(_, h)| *h);
        find(op)
            .or_else(|| if op == Operation::Create { find(Operation::Update) } else { None })
            .ok_or_else(|| Error::UnsupportedOperation(route.spec.pattern.to_string()))
    }

    pub fn table(&self) -> &PathTable {
        &self.table
    }
}

impl<H> std::ops::Deref for Paths<H> {
    type Target = PathTable;
    fn deref(&self) -> &PathTable {
        &self.table
    }
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
    /// Whether any row declares canonical parameters: most tables (kv, token)
    /// have none, and then [`PathTable::canonical_path`] costs no regex pass.
    any_canonical: bool,
}

/// A matched row and its parameters.
#[derive(Debug)]
pub struct Route<'a> {
    pub spec: &'a PathSpec,
    pub params: Vec<(&'a str, String)>,
    /// The row's position in its table (how [`Paths::handler`] finds the row's handlers).
    pub index: usize,
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
        let any_canonical = specs.iter().any(|s| !s.canonical.is_empty());
        PathTable { specs, regexes, any_canonical }
    }

    pub fn specs(&self) -> &[PathSpec] {
        &self.specs
    }

    /// First row whose pattern matches the whole relative path.
    pub fn route<'a>(&'a self, rel_path: &str) -> Option<Route<'a>> {
        for (index, (spec, re)) in self.specs.iter().zip(&self.regexes).enumerate() {
            if let Some(caps) = re.captures(rel_path) {
                let params = re
                    .capture_names()
                    .flatten()
                    .map(|n| (n, caps.name(n).map(|m| m.as_str().to_string()).unwrap_or_default()))
                    .collect();
                return Some(Route { spec, params, index });
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
        if !self.any_canonical {
            return None;
        }
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
    pub fn help(&self, rel_path: &str, backend_help: &str, special: Option<&SpecialPaths>) -> Result<Value> {
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
        let openapi = crate::openapi::help_document(spec, special, crate::core::VERSION);
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

    /// Serve one request: run the handler the matched row binds to the
    /// request's operation (one exhaustive `match` on the backend's handler
    /// enum, from [`Paths::handler`]). `Ok(None)` means success without a
    /// body (204). Called through [`Backend::handle`].
    async fn serve(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>>;

    /// What the core calls: [`Backend::serve`], in debug builds with the
    /// row's declared fields in scope so that reading an undeclared field
    /// through `crate::fields` panics (see the module docs). Not meant to be
    /// overridden.
    async fn handle(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        #[cfg(debug_assertions)]
        {
            let declared = crate::fields::Declared::new(route.spec, &req.data);
            crate::fields::DECLARED.scope(declared, self.serve(route, req)).await
        }
        #[cfg(not(debug_assertions))]
        {
            self.serve(route, req).await
        }
    }

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

/// A mountable type, secrets engine or auth method: builds the backend of
/// each mount of its type and owns everything the type means when a mount is
/// enabled or tuned, so the core knows nothing of any engine (mount-time
/// aliases and default options, which options a tune may change). Data
/// upgrades between versions of a type are the backend's own business (kv's
/// v2 backend converts a v1 layout before its first request).
pub trait BackendFactory: Send + Sync + 'static {
    /// Enabling a mount (`sys/mounts/:path`, `sys/auth/:path`): normalise the
    /// new entry (an alias type becomes the type it stands for, default
    /// options are filled in) or refuse it; an error is the 400 the caller
    /// sees and nothing is mounted.
    fn prepare_mount(&self, _entry: &mut MountEntry) -> Result<()> {
        Ok(())
    }

    /// Tuning a mount's `options`: refuse `requested` (merged into `current`
    /// after this returns) when the type cannot take it; an error is the 400
    /// the caller sees and nothing changes. The backend is rebuilt from the
    /// merged options afterwards.
    fn validate_tune_options(&self, _current: &BTreeMap<String, String>, _requested: &BTreeMap<String, String>) -> Result<()> {
        Ok(())
    }

    /// Build the backend of one mount (at enable, unseal, tune and remount).
    fn build(&self, ctx: MountContext) -> Result<Arc<dyn Backend>>;
}

/// A registered factory (`Core::register_engine("kv", ...)`).
pub type EngineFactory = Arc<dyn BackendFactory>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::Data;

    /// Run a future, turning a panic into its message.
    mod futures_util_free {
        pub async fn catch<T>(f: impl std::future::Future<Output = T> + Send + 'static) -> Result<T, String>
        where
            T: Send + 'static,
        {
            tokio::spawn(f).await.map_err(|e| match e.try_into_panic() {
                Ok(p) => p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default(),
                Err(e) => e.to_string(),
            })
        }
    }

    const DATA_FIELDS: &[FieldSpec] = &[field("data", FieldKind::Map, "the data")];

    #[test]
    fn routes_with_params_and_first_match_wins() {
        let t = PathTable::new(vec![
            PathSpec {
                name: "config",
                pattern: "config",
                operations: vec![Operation::Read],
                existence_check: false,
                canonical: &[],
                fields: &[],
                synopsis: "cfg",
            },
            PathSpec {
                name: "data",
                pattern: "data/(?P<path>.+)",
                operations: vec![Operation::Read],
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
        let help = t.help("data/x", "", None).unwrap();
        assert!(help["help"].as_str().unwrap().contains("data (map)"));
    }

    #[test]
    fn canonical_path_rewrites_only_declared_params() {
        const NAME: &[(&str, Canon)] = &[("name", Canon::TrimLower)];
        const USER: &[(&str, Canon)] = &[("user", Canon::Lower)];
        let row = |name, pattern, canonical| PathSpec {
            name,
            pattern,
            operations: vec![Operation::Read],
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

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum H {
        Get,
        Put,
        Other,
    }

    #[test]
    fn rows_bind_operations_to_handlers() {
        use Operation::{Create, Delete, Read, Update};
        let t = Paths::new(vec![
            path("a", "a", &[(Read, H::Get), (Update, H::Put)], DATA_FIELDS, ""),
            path("b", "b/(?P<x>.+)", &[(Create, H::Other), (Update, H::Put)], &[], "").existence_check(),
        ]);
        let a = t.route("a").unwrap();
        assert_eq!(a.spec.operations, [Read, Update]);
        assert_eq!(t.handler(&a, Read).unwrap(), H::Get);
        assert_eq!(t.handler(&a, Update).unwrap(), H::Put);
        // create falls back to update's handler unless the row binds create itself
        assert_eq!(t.handler(&a, Create).unwrap(), H::Put);
        assert!(matches!(t.handler(&a, Delete), Err(Error::UnsupportedOperation(_))));
        let b = t.route("b/y").unwrap();
        assert!(b.spec.existence_check);
        assert_eq!((t.handler(&b, Create).unwrap(), b.index), (H::Other, 1));
        // a route of another table is refused, not served by the wrong row
        let other = Paths::new(vec![path("z", "a", &[(Read, H::Get)], &[], "")]);
        assert!(t.handler(&other.route("a").unwrap(), Read).is_err());
    }

    #[test]
    #[should_panic(expected = "bound twice")]
    fn an_operation_bound_twice_is_refused() {
        let _ = Paths::new(vec![path("a", "a", &[(Operation::Read, H::Get), (Operation::Read, H::Other)], &[], "")]);
    }

    #[tokio::test]
    #[cfg(debug_assertions)]
    async fn undeclared_field_reads_panic_declared_ones_do_not() {
        use futures_util_free::catch;
        let t = Paths::new(vec![path("a", "a", &[(Operation::Update, H::Put)], DATA_FIELDS, "")]);
        let route = t.route("a").unwrap();
        let mut body = Data::new();
        body.insert("data".into(), json!({"nested": 1}));
        let declared = crate::fields::Declared::new(route.spec, &body);
        // declared: fine; nested objects are the field's own business
        crate::fields::DECLARED
            .scope(declared, async {
                let inner = crate::fields::get_object(&body, "data").unwrap().unwrap();
                assert_eq!(crate::fields::get_int(inner, "nested").unwrap(), Some(1));
                // another map (a copy) is not the request body
                let copy = body.clone();
                assert_eq!(crate::fields::get_str(&copy, "anything").unwrap(), None);
            })
            .await;
        let spec = route.spec.clone();
        let r = catch(async move {
            let declared = crate::fields::Declared::new(&spec, &body);
            crate::fields::DECLARED.scope(declared, async { crate::fields::get_str(&body, "dta").map(|_| ()) }).await
        })
        .await;
        let msg = r.expect_err("an undeclared field read panics");
        assert!(msg.contains("reads field \"dta\""), "{msg}");
    }

    #[test]
    fn special_path_globs() {
        assert!(SpecialPaths::matches(&["login/*", "x"], "login/alice"));
        assert!(SpecialPaths::matches(&["login/*", "x"], "x"));
        assert!(!SpecialPaths::matches(&["login/*", "x"], "xy"));
    }
}
