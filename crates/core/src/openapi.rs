//! Vault's OpenAPI document, generated from the path tables.
//!
//! A pure function of the mounted tables: `sys/internal/specs/openapi`
//! (`sys_openapi.rs`) gathers the mounts the caller can see and calls
//! [`document`]; `?help` on a path calls [`help_document`] for its row. The
//! shape follows Vault's `sdk/framework` generator (OpenAPI 3.0.2):
//!
//! - each row's pattern is expanded into OpenAPI paths: literals are kept, a
//!   named group `(?P<name>...)` becomes `{name}`, an optional part `(...)?`
//!   and an alternation `a|b` give one path per choice, a trailing optional
//!   `/` is dropped; a pattern using anything else outside a named group
//!   (`.*`, classes, repetitions) cannot be a path and is listed as its
//!   anchored regex with no operations, as Vault does;
//! - `read` → `get` (with an optional `list` query parameter when the row also
//!   lists), `list` alone → `get` with a required `list=true`, `update`
//!   (else `create`) → `post`, `patch` → `patch`, `delete` → `delete`;
//! - operation ids `<prefix>-<verb>-<path words>` (`kv-read-data-path`,
//!   `userpass-write-user...`), the prefix being the mount type (none for
//!   `sys/` and for `?help`); request bodies as `components.schemas`
//!   entries named after the operation id (`KvWriteDataPathRequest`);
//! - `x-vault-sudo` / `x-vault-unauthenticated` from the backend's special
//!   paths, `x-vault-createSupported` when the row has `create`.
//!
//! Coffer also declares what its responses look like (JSON objects, empty
//! 204s, and a `default` error response with Vault's `{"errors": [...]}`),
//! which Vault leaves out; docs/openapi.md lists the differences.

use crate::backend::{FieldDefault, FieldKind, FieldSpec, PathSpec, PathTable, SpecialPaths};
use crate::logical::Operation;
use regex_syntax::ast::{self, Ast};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// The OpenAPI version of the document (Vault's `OASVersion`).
pub const OAS_VERSION: &str = "3.0.2";

/// One mount as the document sees it.
pub struct OasMount<'a> {
    /// Full routing prefix: `secret/`, `auth/userpass/`, `sys/`.
    pub prefix: &'a str,
    /// Mount type: `kv`, `userpass`, `token`, `system`, `cubbyhole`.
    pub kind: &'a str,
    pub is_auth: bool,
    pub table: &'a PathTable,
    pub special: &'a SpecialPaths,
}

/// The `info` block, as Vault's (with Coffer's name and version).
pub fn info(version: &str) -> Value {
    json!({
        "title": "Coffer API",
        "description": "HTTP API that gives you full access to Coffer. All API routes are prefixed with `/v1/`.",
        "version": version,
        "license": {"name": "Mozilla Public License 2.0", "url": "https://www.mozilla.org/en-US/MPL/2.0"},
    })
}

/// The whole document for `mounts`. With `generic_mount_paths` every mount but
/// the singletons (`sys/`, `identity/`, `cubbyhole/`, `auth/token/`) is
/// written `{<path>_mount_path}` with a path parameter defaulting to the path.
pub fn document(mounts: &[OasMount<'_>], version: &str, generic_mount_paths: bool) -> Value {
    let mut ordered: Vec<&OasMount<'_>> = mounts.iter().collect();
    ordered.sort_by(|a, b| a.prefix.cmp(b.prefix));
    let mut paths = BTreeMap::new();
    let mut schemas = BTreeMap::new();
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for m in ordered {
        let seen = kinds.entry(m.kind).or_insert(0);
        *seen += 1;
        let name = m.prefix.strip_prefix("auth/").filter(|_| m.is_auth).unwrap_or(m.prefix).trim_end_matches('/');
        // Vault gives two mounts of one type the same operation ids, which makes
        // the document invalid (ids must be unique): later mounts get their path.
        let id_prefix = match (m.kind, *seen) {
            ("system", _) => String::new(),
            (kind, 1) => kind.to_string(),
            (kind, _) => hyphenate([kind, name]),
        };
        let tag = if m.kind == "system" {
            "system"
        } else if m.is_auth {
            "auth"
        } else {
            "secrets"
        };
        let singleton = matches!(m.kind, "system" | "identity" | "cubbyhole" | "token");
        let (shown, mount_param) = if generic_mount_paths && !singleton {
            // Vault writes `-` as `_` in the parameter name (`up-abc` → `{up_abc_mount_path}`).
            let param = format!("{}_mount_path", name.replace('-', "_"));
            let shown = if m.is_auth { format!("auth/{{{param}}}/") } else { format!("{{{param}}}/") };
            let p = json!({
                "name": param,
                "description": "Path that the backend was mounted at",
                "in": "path",
                "schema": {"type": "string", "default": name},
                "required": true,
            });
            (shown, Some(p))
        } else {
            (m.prefix.to_string(), None)
        };
        let ctx = Ctx { special: Some(m.special), id_prefix: &id_prefix, tag: Some(tag) };
        for spec in m.table.specs() {
            for (path, mut item) in row_items(spec, &ctx, &mut schemas) {
                let key = format!("/{shown}{path}");
                if paths.contains_key(&key) {
                    continue; // an earlier row serves this path (the router's first match)
                }
                if let (Some(p), Some(obj)) = (&mount_param, item.as_object_mut()) {
                    let params = obj.entry("parameters").or_insert_with(|| json!([]));
                    if let Some(list) = params.as_array_mut() {
                        list.push(p.clone());
                    }
                }
                paths.insert(key, item);
            }
        }
    }
    json!({
        "openapi": OAS_VERSION,
        "info": info(version),
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// The part of the document for one row, relative to its mount, without
/// operation-id prefix or tags; with the mount's special paths (when given)
/// it carries `x-vault-sudo` / `x-vault-unauthenticated` as the whole
/// document does: the `openapi` block of `?help`.
pub fn help_document(spec: &PathSpec, special: Option<&SpecialPaths>, version: &str) -> Value {
    let mut schemas = BTreeMap::new();
    let ctx = Ctx { special, id_prefix: "", tag: None };
    let mut paths = BTreeMap::new();
    for (path, item) in row_items(spec, &ctx, &mut schemas) {
        paths.entry(format!("/{path}")).or_insert(item);
    }
    json!({
        "openapi": OAS_VERSION,
        "info": info(version),
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

struct Ctx<'a> {
    special: Option<&'a SpecialPaths>,
    id_prefix: &'a str,
    tag: Option<&'a str>,
}

/// The OpenAPI paths (relative to the mount) of one row, with their items.
fn row_items(spec: &PathSpec, ctx: &Ctx<'_>, schemas: &mut BTreeMap<String, Value>) -> Vec<(String, Value)> {
    match expand_pattern(spec.pattern) {
        Some(paths) => paths.into_iter().map(|p| {
            let item = path_item(spec, &p, ctx, schemas);
            (p, item)
        }).collect(),
        // Not expressible as a path: listed as is, with no operations (as Vault).
        None => vec![(format!("^{}$", spec.pattern), json!({"description": clean(spec.synopsis)}))],
    }
}

/// The `{name}` parameters of an expanded path, in order.
fn path_params(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push(&after[..close]);
        rest = &after[close + 1..];
    }
    out
}

fn path_item(spec: &PathSpec, path: &str, ctx: &Ctx<'_>, schemas: &mut BTreeMap<String, Value>) -> Value {
    let mut item = Map::new();
    item.insert("description".into(), json!(clean(spec.synopsis)));
    let in_path = path_params(path);
    let find = |name: &str| spec.fields.iter().find(|f| f.name == name);

    let mut params: Vec<Value> = Vec::new();
    for name in &in_path {
        let f = find(name);
        let mut schema = Map::new();
        schema.insert("type".into(), json!(f.map(|f| base_type(f.kind)).unwrap_or("string")));
        if let Some(f) = f {
            add_constraints(&mut schema, f);
        }
        params.push(json!({
            "name": name,
            "description": clean(f.map(|f| f.description).unwrap_or("")),
            "in": "path",
            "schema": schema,
            "required": true,
        }));
    }
    params.sort_by_key(|p| p["name"].as_str().unwrap_or("").to_lowercase());
    // Query fields: parameters of GET and DELETE (Coffer reads the query string
    // only for those, as Vault); a write takes them in its body.
    let mut query: Vec<Value> = spec
        .fields
        .iter()
        .filter(|f| f.query && !in_path.contains(&f.name))
        .map(|f| {
            let mut p = json!({"name": f.name, "description": clean(f.description), "in": "query", "schema": field_schema(f, false)});
            if f.deprecated {
                p["deprecated"] = json!(true);
            }
            p
        })
        .collect();
    query.sort_by_key(|p| p["name"].as_str().unwrap_or("").to_lowercase());
    if !params.is_empty() {
        item.insert("parameters".into(), Value::Array(params));
    }
    if let Some(special) = ctx.special {
        if SpecialPaths::matches(&special.root, path) {
            item.insert("x-vault-sudo".into(), json!(true));
        }
        if SpecialPaths::matches(&special.unauthenticated, path) {
            item.insert("x-vault-unauthenticated".into(), json!(true));
        }
    }
    let has = |op: Operation| spec.operations.contains(&op);
    if has(Operation::Create) {
        item.insert("x-vault-createSupported".into(), json!(true));
    }

    let body: Vec<&FieldSpec> = spec.fields.iter().filter(|f| !in_path.contains(&f.name)).collect();
    let mut operation = |verb: &str, method: &str| -> Value {
        let id = hyphenate([ctx.id_prefix, verb, &hyphenate(path.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))]);
        let mut op = Map::new();
        op.insert("summary".into(), json!(clean(spec.synopsis)));
        op.insert("operationId".into(), json!(id));
        if let Some(tag) = ctx.tag {
            op.insert("tags".into(), json!([tag]));
        }
        if (method == "post" || method == "patch")
            && let Some(schema) = body_schema(&body)
        {
            let name = format!("{}Request", title_case(&id));
            schemas.insert(name.clone(), schema);
            let media = if method == "patch" { "application/merge-patch+json" } else { "application/json" };
            op.insert("requestBody".into(), json!({
                "required": true,
                "content": {media: {"schema": {"$ref": format!("#/components/schemas/{name}")}}},
            }));
        }
        if (method == "get" || method == "delete") && !query.is_empty() {
            op.insert("parameters".into(), Value::Array(query.clone()));
        }
        op.insert("responses".into(), responses(method));
        Value::Object(op)
    };
    let with_list = |mut get: Value, list: Value| {
        if let Some(a) = get.as_object_mut().and_then(|o| o.entry("parameters").or_insert_with(|| json!([])).as_array_mut()) {
            a.insert(0, list);
        }
        get
    };
    if has(Operation::Read) {
        let mut get = operation("read", "get");
        if has(Operation::List) {
            let list = json!({"name": "list", "description": "Return a list if `true`", "in": "query", "schema": {"type": "string"}});
            get = with_list(get, list);
        }
        item.insert("get".into(), get);
    } else if has(Operation::List) {
        let list = json!({
            "name": "list", "description": "Must be set to `true`", "in": "query", "required": true,
            "schema": {"type": "string", "enum": ["true"]},
        });
        item.insert("get".into(), with_list(operation("list", "get"), list));
    }
    if has(Operation::Update) {
        item.insert("post".into(), operation("write", "post"));
    } else if has(Operation::Create) {
        item.insert("post".into(), operation("create", "post"));
    }
    if has(Operation::Patch) {
        item.insert("patch".into(), operation("patch", "patch"));
    }
    if has(Operation::Delete) {
        item.insert("delete".into(), operation("delete", "delete"));
    }
    Value::Object(item)
}

/// Coffer answers a request with a JSON object (200), nothing (204), or an
/// error `{"errors": [...]}` with a 4xx/5xx status.
fn responses(method: &str) -> Value {
    let mut r = Map::new();
    r.insert("200".into(), json!({"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}));
    if method != "get" {
        r.insert("204".into(), json!({"description": "empty body"}));
    }
    r.insert("default".into(), json!({
        "description": "error",
        "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"errors": {"type": "array", "items": {"type": "string"}}},
        }}},
    }));
    Value::Object(r)
}

fn body_schema(fields: &[&FieldSpec]) -> Option<Value> {
    if fields.is_empty() {
        return None;
    }
    let mut props = BTreeMap::new();
    let mut required: Vec<&str> = Vec::new();
    for f in fields {
        if f.required {
            required.push(f.name);
        }
        props.insert(f.name, field_schema(f, true));
    }
    required.sort_unstable();
    let mut s = json!({"type": "object", "properties": props});
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    Some(s)
}

/// Vault's `convertType`, for Coffer's field kinds.
fn base_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::String => "string",
        FieldKind::Int | FieldKind::Duration => "integer",
        FieldKind::Bool => "boolean",
        FieldKind::Map => "object",
        FieldKind::StringList | FieldKind::Array => "array",
    }
}

fn field_schema(f: &FieldSpec, with_description: bool) -> Value {
    let mut s = Map::new();
    s.insert("type".into(), json!(base_type(f.kind)));
    if with_description && !f.description.is_empty() {
        s.insert("description".into(), json!(clean(f.description)));
    }
    match f.kind {
        FieldKind::Duration => {
            s.insert("format".into(), json!("seconds"));
        }
        FieldKind::Map => {
            s.insert("format".into(), json!("map"));
        }
        FieldKind::StringList => {
            s.insert("items".into(), json!({"type": "string"}));
        }
        // Any JSON values (Vault's TypeSlice says objects; Coffer's handlers check the items).
        FieldKind::Array => {
            s.insert("items".into(), json!({}));
        }
        _ => {}
    }
    add_constraints(&mut s, f);
    if with_description && f.deprecated {
        s.insert("deprecated".into(), json!(true));
    }
    Value::Object(s)
}

fn add_constraints(s: &mut Map<String, Value>, f: &FieldSpec) {
    if !f.allowed.is_empty() {
        s.insert("enum".into(), json!(f.allowed));
    }
    if let Some(d) = f.default {
        s.insert("default".into(), match d {
            FieldDefault::Bool(b) => json!(b),
            FieldDefault::Int(i) => json!(i),
            FieldDefault::Str(t) => json!(t),
        });
    }
}

/// Trim and collapse runs of whitespace (Vault's `cleanString`).
fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Join the non-empty parts with `-`, lower-cased.
fn hyphenate<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-").to_lowercase()
}

/// `kv-write-data-path` → `KvWriteDataPath`.
fn title_case(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(first) => first.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// Where the document would misdescribe `table` (empty when it is faithful): a
/// documented path that routes to another row or to none (the path `{name}`
/// parameters filled with `x1`), or a row left with no path of its own
/// (every one of its paths documented for an earlier row, which the router
/// would pick first). A row whose pattern is no path (`.*`) is listed as its
/// regex and not checked. Engine tests call it on their tables.
pub fn table_problems(table: &PathTable) -> Vec<String> {
    let mut problems = Vec::new();
    let mut documented = std::collections::HashSet::new();
    for spec in table.specs() {
        let Some(paths) = expand_pattern(spec.pattern) else { continue };
        let mut own = false;
        for p in paths {
            if !documented.insert(p.clone()) {
                continue;
            }
            let concrete = path_params(&p).iter().fold(p.clone(), |acc, name| acc.replace(&format!("{{{name}}}"), "x1"));
            match table.route(&concrete) {
                Some(r) if std::ptr::eq(r.spec, spec) => own = true,
                Some(r) => problems.push(format!("/{p}: documented for row {:?}, served by row {:?}", spec.name, r.spec.name)),
                None => problems.push(format!("/{p}: documented for row {:?}, routes nowhere", spec.name)),
            }
        }
        if !own {
            problems.push(format!("row {:?} ({}) has no documented path of its own", spec.name, spec.pattern));
        }
    }
    problems
}

/// The OpenAPI paths a row's pattern stands for, or `None` when the pattern
/// uses regex features outside named groups that no path can express.
pub fn expand_pattern(pattern: &str) -> Option<Vec<String>> {
    let ast = ast::parse::Parser::new().parse(pattern).ok()?;
    let start = vec![Collector::default()];
    let done = collect(&ast, start)?;
    let mut out: Vec<String> = Vec::new();
    for c in done {
        // A variant that ends right after an optional `/` (`mounts/?`) is the
        // same endpoint as the one without it; an empty path names nothing.
        if c.slash_at == c.path.len() {
            continue;
        }
        if !out.contains(&c.path) {
            out.push(c.path);
        }
    }
    Some(out)
}

#[derive(Clone, Default)]
struct Collector {
    path: String,
    /// Length of `path` just after an optional `/` was appended (0: none).
    slash_at: usize,
}

fn collect(node: &Ast, mut acc: Vec<Collector>) -> Option<Vec<Collector>> {
    match node {
        Ast::Empty(_) | Ast::Flags(_) | Ast::Assertion(_) => Some(acc),
        Ast::Literal(lit) => {
            for c in &mut acc {
                c.path.push(lit.c);
            }
            Some(acc)
        }
        Ast::Concat(concat) => {
            for child in &concat.asts {
                acc = collect(child, acc)?;
            }
            Some(acc)
        }
        Ast::Alternation(alt) => {
            let mut all = Vec::new();
            for child in &alt.asts {
                all.extend(collect(child, acc.clone())?);
            }
            Some(all)
        }
        Ast::Repetition(rep) if matches!(rep.op.kind, ast::RepetitionKind::ZeroOrOne) => {
            let mut with = collect(&rep.ast, acc.clone())?;
            if matches!(&*rep.ast, Ast::Literal(l) if l.c == '/') {
                for c in &mut with {
                    c.slash_at = c.path.len();
                }
            }
            acc.extend(with);
            Some(acc)
        }
        Ast::Group(group) => match &group.kind {
            ast::GroupKind::CaptureName { name, .. } => {
                for c in &mut acc {
                    c.path.push('{');
                    c.path.push_str(&name.name);
                    c.path.push('}');
                }
                Some(acc)
            }
            ast::GroupKind::CaptureIndex(_) | ast::GroupKind::NonCapturing(_) => collect(&group.ast, acc),
        },
        // `.`, classes, `*`, `+`, `{n,m}` outside a named group.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::field;

    fn expand(p: &str) -> Vec<String> {
        expand_pattern(p).unwrap_or_else(|| vec!["<none>".into()])
    }

    #[test]
    fn patterns_expand_like_vaults() {
        assert_eq!(expand("mounts/?"), ["mounts"]);
        assert_eq!(expand("mounts/(?P<path>.+?)/tune/?"), ["mounts/{path}/tune"]);
        assert_eq!(expand("data/(?P<path>.*)"), ["data/{path}"]);
        assert_eq!(expand("tools/hash(/(?P<alg>.+))?"), ["tools/hash", "tools/hash/{alg}"]);
        assert_eq!(expand("leases/lookup/(?P<prefix>.+?)?"), ["leases/lookup/", "leases/lookup/{prefix}"]);
        assert_eq!(expand("data|metadata"), ["data", "metadata"]);
        assert_eq!(expand(r"roles/(?P<role_name>\w(?:[\w\-.]*\w)?)"), ["roles/{role_name}"]);
        assert_eq!(expand(r"a(?:/b)?\.c"), ["a.c", "a/b.c"]);
        assert_eq!(expand(".*"), ["<none>"]);
        assert_eq!(expand("x/[a-z]+"), ["<none>"]);
    }

    const F: &[FieldSpec] = &[
        field("name", FieldKind::String, "The  name.\n  Example: \"ops\""),
        field("ttl", FieldKind::Duration, "TTL.").default_int(0),
        field("policy", FieldKind::String, "Rules.").required(),
        field("renewable", FieldKind::Bool, "Renewable.").default_bool(true),
        field("type", FieldKind::String, "Type.").allowed(&["service", "batch"]),
        field("generic", FieldKind::Bool, "Query flag.").query(),
        field("old", FieldKind::StringList, "Old.").deprecated(),
    ];

    fn row(pattern: &'static str, operations: &'static [Operation]) -> PathSpec {
        PathSpec { name: "r", pattern, operations: operations.to_vec(), existence_check: false, canonical: &[], fields: F, synopsis: "Do  things.\n" }
    }

    #[test]
    fn a_row_becomes_path_items_with_typed_bodies() {
        use Operation::*;
        let table = PathTable::new(vec![
            row("policies/acl/?", &[List]),
            row("policies/acl/(?P<name>.+)", &[Read, Update, Delete, Create]),
            row("login/(?P<name>.+)", &[Update]),
            row(".*", &[Read]),
        ]);
        let special = SpecialPaths { unauthenticated: vec!["login/*"], root: vec!["policies/acl/*"] };
        let m = OasMount { prefix: "auth/up/", kind: "userpass", is_auth: true, table: &table, special: &special };
        let doc = document(&[m], "9.9.9", false);
        assert_eq!(doc["openapi"], "3.0.2");
        assert_eq!(doc["info"]["version"], "9.9.9");
        let paths = doc["paths"].as_object().unwrap();
        let keys: Vec<&str> = paths.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["/auth/up/^.*$", "/auth/up/login/{name}", "/auth/up/policies/acl", "/auth/up/policies/acl/{name}"]);

        let list = &paths["/auth/up/policies/acl"];
        assert_eq!(list["get"]["operationId"], "userpass-list-policies-acl");
        assert_eq!(list["get"]["parameters"][0]["required"], true);
        assert!(list.get("x-vault-sudo").is_none(), "policies/acl/* does not cover policies/acl");

        let item = &paths["/auth/up/policies/acl/{name}"];
        assert_eq!(item["description"], "Do things.");
        assert_eq!(item["x-vault-sudo"], true);
        assert_eq!(item["x-vault-createSupported"], true);
        assert_eq!(item["parameters"].as_array().unwrap().len(), 1);
        assert_eq!(item["parameters"][0]["name"], "name");
        assert_eq!(item["parameters"][0]["description"], "The name. Example: \"ops\"");
        assert_eq!(item["parameters"][0]["in"], "path");
        let q = json!({"name": "generic", "description": "Query flag.", "in": "query", "schema": {"type": "boolean"}});
        assert_eq!(item["get"]["parameters"], json!([q]));
        assert_eq!(item["delete"]["parameters"], json!([q]));
        assert_eq!(item["get"]["operationId"], "userpass-read-policies-acl-name");
        assert_eq!(item["post"]["operationId"], "userpass-write-policies-acl-name");
        assert_eq!(item["delete"]["operationId"], "userpass-delete-policies-acl-name");
        assert_eq!(item["get"]["tags"], json!(["auth"]));
        assert!(item["delete"]["responses"]["204"].is_object());
        let r = item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap();
        assert_eq!(r, "#/components/schemas/UserpassWritePoliciesAclNameRequest");
        let body = &doc["components"]["schemas"]["UserpassWritePoliciesAclNameRequest"];
        assert_eq!(body["required"], json!(["policy"]));
        let props = body["properties"].as_object().unwrap();
        assert!(!props.contains_key("name"), "path fields are not body fields");
        assert_eq!(props["generic"]["type"], "boolean", "a write takes query fields in its body");
        assert_eq!(props["ttl"], json!({"type": "integer", "description": "TTL.", "format": "seconds", "default": 0}));
        assert_eq!(props["renewable"]["default"], true);
        assert_eq!(props["type"]["enum"], json!(["service", "batch"]));
        assert_eq!(props["old"], json!({"type": "array", "description": "Old.", "items": {"type": "string"}, "deprecated": true}));

        let login = &paths["/auth/up/login/{name}"];
        assert_eq!(login["x-vault-unauthenticated"], true);
        assert_eq!(login["post"]["operationId"], "userpass-write-login-name");
        assert!(paths["/auth/up/^.*$"].get("get").is_none(), "an unexpressible pattern has no operations");
    }

    #[test]
    fn generic_mount_paths_and_unique_ids_for_two_mounts_of_a_type() {
        use Operation::*;
        let table = PathTable::new(vec![row("data/(?P<name>.+)", &[Read, List])]);
        let special = SpecialPaths::default();
        let a = OasMount { prefix: "secret/", kind: "kv", is_auth: false, table: &table, special: &special };
        let b = OasMount { prefix: "kv-2/", kind: "kv", is_auth: false, table: &table, special: &special };
        let c = OasMount { prefix: "cubbyhole/", kind: "cubbyhole", is_auth: false, table: &table, special: &special };
        let doc = document(&[a, b, c], "1", true);
        let paths = doc["paths"].as_object().unwrap();
        let item = &paths["/{secret_mount_path}/data/{name}"];
        assert_eq!(item["parameters"][1], json!({
            "name": "secret_mount_path", "description": "Path that the backend was mounted at", "in": "path",
            "schema": {"type": "string", "default": "secret"}, "required": true,
        }));
        assert_eq!(item["get"]["parameters"][0]["name"], "list");
        assert!(item["get"]["parameters"][0].get("required").is_none());
        assert!(paths.contains_key("/cubbyhole/data/{name}"), "singleton mounts keep their path");
        // In path order the first kv mount keeps Vault's id, the next one gets its path in it.
        assert_eq!(paths["/{kv_2_mount_path}/data/{name}"]["get"]["operationId"], "kv-read-data-name");
        assert_eq!(paths["/{kv_2_mount_path}/data/{name}"]["parameters"][1]["schema"]["default"], "kv-2");
        assert_eq!(item["get"]["operationId"], "kv-secret-read-data-name");
    }

    #[test]
    fn table_problems_finds_shadowed_and_unroutable_rows() {
        use Operation::*;
        let ok = PathTable::new(vec![row("a/?", &[List]), row("a/(?P<name>.+)", &[Read]), row(".*", &[Read])]);
        assert!(table_problems(&ok).is_empty(), "{:?}", table_problems(&ok));
        // `b/{x}` is served by the first row; `c{rest}` routes nowhere once filled in.
        let bad = PathTable::new(vec![row("b/(?P<y>.+)", &[Read]), row("b/(?P<x>[a-z0-9]+)", &[Read]), row("c(?P<rest>(/[^/]+){0,2})", &[Read])]);
        let p = table_problems(&bad);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].contains("/b/{x}: documented for row"), "{p:?}");
        assert!(p[3].contains("has no documented path"), "{p:?}");
    }

    #[test]
    fn help_document_is_relative_without_prefix() {
        let spec = row("tools/hash(/(?P<name>.+))?", &[Operation::Update]);
        let doc = help_document(&spec, None, "1");
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(paths.keys().collect::<Vec<_>>(), ["/tools/hash", "/tools/hash/{name}"]);
        assert_eq!(paths["/tools/hash"]["post"]["operationId"], "write-tools-hash");
        assert!(paths["/tools/hash"]["post"].get("tags").is_none());
    }
}
