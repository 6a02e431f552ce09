//! `sys/internal/specs/openapi`: the OpenAPI document of every mount the
//! caller can see, generated from the mounts' path tables (`openapi.rs`).
//!
//! As in Vault the endpoint is unauthenticated: without a (valid) token the
//! caller sees no mount and gets a document with no paths. A mount is visible
//! to a root token, to anyone when it is listed `unauth`, and otherwise when
//! the caller's ACL grants something at or under it (Vault's `hasMountAccess`,
//! the rule of `sys/internal/ui/mounts`). `generic_mount_paths=true` writes
//! each non-singleton mount as `{<path>_mount_path}`.
//!
//! The five endpoints served before routing (`sys/init`, `seal-status`,
//! `unseal`, `health`, `leader`) are rows of their own table
//! ([`super::sealed_table`]); the document lists them with the rest of
//! `sys/`, as Vault's does.

use crate::backend::{FieldKind, FieldSpec, SpecialPaths, field};
use crate::core::Active;
use crate::error::Result;
use crate::fields;
use crate::logical::{RawResponse, Request, Response};
use crate::openapi::{self, OasMount};
use std::sync::LazyLock;

/// The field of the endpoint's row in the sys table.
pub(super) const FIELDS: &[FieldSpec] = &[field("generic_mount_paths", FieldKind::Bool, "Use generic mount paths").default_bool(false).query()];

static SEALED_SPECIAL: LazyLock<SpecialPaths> = LazyLock::new(|| SpecialPaths { unauthenticated: vec!["*"], root: vec![] });

/// Serve `GET`/`POST sys/internal/specs/openapi`.
pub(super) fn handle(active: &Active, req: &Request) -> Result<Option<Response>> {
    let generic = fields::get_bool(&req.data, "generic_mount_paths")?.unwrap_or(false);
    let router = active.router();
    let caller = req.caller.as_deref();
    let acl = caller.filter(|c| !c.is_root).map(|c| active.effective_acl(&c.policies, &c.entity_id));
    let mut mounts = Vec::new();
    let mut sys_visible = false;
    for e in router.entries() {
        let visible = caller.is_some_and(|c| c.is_root)
            || e.entry.config.listing_visibility.as_deref() == Some("unauth")
            || acl.as_ref().is_some_and(|a| a.has_any_under(&e.prefix));
        if !visible {
            continue;
        }
        sys_visible |= e.prefix == "sys/";
        mounts.push(OasMount { prefix: &e.prefix, kind: &e.entry.kind, is_auth: e.is_auth, table: e.backend.table(), special: &e.special });
    }
    if sys_visible {
        mounts.push(OasMount { prefix: "sys/", kind: "system", is_auth: false, table: super::sealed_table(), special: &SEALED_SPECIAL });
    }
    let doc = openapi::document(&mounts, crate::core::VERSION, generic);
    Ok(Some(Response { raw: Some(RawResponse::json(200, &doc)), ..Default::default() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::PathTable;
    use crate::logical::Operation;
    use crate::core::{Core, CoreConfig, Incoming};
    use crate::logical::Data;
    use coffer_storage::InmemStorage;
    use serde_json::{Value, json};
    use std::collections::BTreeSet;
    use std::sync::Arc;

    const ROOT: &str = "root-openapi";

    async fn core() -> Arc<Core> {
        let core = Core::new(Arc::new(InmemStorage::new()), CoreConfig::default());
        core.initialize(1, 1, Some(ROOT), true).await.unwrap();
        core
    }

    async fn call(core: &Core, token: Option<&str>, op: Operation, path: &str, body: Value) -> Response {
        let data = match body {
            Value::Object(m) => m,
            _ => Data::new(),
        };
        let inc = Incoming { operation: op, path: path.into(), data, token: token.map(String::from), wrap_ttl: None, remote_addr: None, headers: vec![] };
        core.handle(inc).await.unwrap_or_else(|e| panic!("{path}: {e:?}"))
    }

    fn body(r: &Response) -> Value {
        serde_json::from_slice(&r.raw.as_ref().expect("a raw JSON body").body).unwrap()
    }

    fn path_keys(doc: &Value) -> BTreeSet<String> {
        doc["paths"].as_object().unwrap().keys().cloned().collect()
    }

    /// Every row of every mount a root token sees is in the document, and nothing else.
    #[tokio::test]
    async fn document_lists_every_row_of_every_mount_and_nothing_else() {
        let core = core().await;
        let doc = body(&call(&core, Some(ROOT), Operation::Read, "sys/internal/specs/openapi", json!({})).await);
        assert_eq!(doc["openapi"], "3.0.2");
        assert_eq!(doc["info"]["version"], crate::core::VERSION);

        let active = core.active().unwrap();
        let router = active.router();
        let mut want = BTreeSet::new();
        let mut tables: Vec<(String, &PathTable)> = vec![("sys/".into(), crate::sys::sealed_table())];
        for e in router.entries() {
            tables.push((e.prefix.clone(), e.backend.table()));
        }
        assert!(tables.iter().any(|(p, _)| p == "auth/token/") && tables.iter().any(|(p, _)| p == "cubbyhole/"));
        for (prefix, table) in &tables {
            let problems = openapi::table_problems(table);
            assert!(problems.is_empty(), "{prefix}: {problems:?}");
            for spec in table.specs() {
                let paths = openapi::expand_pattern(spec.pattern).unwrap_or_else(|| vec![format!("^{}$", spec.pattern)]);
                assert!(!paths.is_empty(), "{prefix}{}: no path", spec.pattern);
                for p in paths {
                    want.insert(format!("/{prefix}{p}"));
                }
            }
        }
        assert_eq!(path_keys(&doc), want);
        for p in ["/sys/mounts/{path}/tune", "/sys/init", "/sys/internal/specs/openapi", "/auth/token/create", "/cubbyhole/{path}", "/sys/tools/random/{source}/{urlbytes}"] {
            assert!(want.contains(p), "{p}");
        }
        let me = &doc["paths"]["/sys/internal/specs/openapi"];
        assert_eq!(me["x-vault-unauthenticated"], true);
        assert_eq!(me["get"]["parameters"][0]["name"], "generic_mount_paths");
        assert_eq!(doc["paths"]["/sys/seal"]["x-vault-sudo"], true);
    }

    #[tokio::test]
    async fn visibility_follows_the_callers_acl() {
        let core = core().await;
        // No token: the endpoint is unauthenticated, but the caller sees no mount (as OpenBao).
        let doc = body(&call(&core, None, Operation::Read, "sys/internal/specs/openapi", json!({})).await);
        assert!(doc["paths"].as_object().unwrap().is_empty(), "{}", doc["paths"]);

        call(&core, Some(ROOT), Operation::Update, "sys/policies/acl/p1", json!({"policy": "path \"sys/capabilities-self\" { capabilities = [\"update\"] }"})).await;
        let t = call(&core, Some(ROOT), Operation::Update, "auth/token/create", json!({"policies": ["p1"], "no_default_policy": true})).await;
        let token = t.auth.unwrap().client_token;
        let doc = body(&call(&core, Some(&token), Operation::Read, "sys/internal/specs/openapi", json!({})).await);
        let keys = path_keys(&doc);
        assert!(keys.contains("/sys/capabilities-self") && keys.contains("/sys/init"), "{keys:?}");
        assert!(keys.iter().all(|k| k.starts_with("/sys/")), "only sys/ is reachable: {keys:?}");
    }

    #[tokio::test]
    async fn help_returns_the_rows_part_of_the_document() {
        let core = core().await;
        let help = body(&call(&core, Some(ROOT), Operation::Help, "sys/mounts/foo/tune", json!({})).await);
        assert!(help["help"].as_str().unwrap().contains("Matching Route: ^mounts/(?P<path>.+?)/tune/?$"));
        let paths = help["openapi"]["paths"].as_object().unwrap();
        assert_eq!(paths.keys().collect::<Vec<_>>(), ["/mounts/{path}/tune"]);
        let post = &paths["/mounts/{path}/tune"]["post"];
        assert_eq!(post["operationId"], "write-mounts-path-tune");
        let schema = &help["openapi"]["components"]["schemas"]["WriteMountsPathTuneRequest"];
        assert_eq!(schema["properties"]["default_lease_ttl"]["type"], "integer");
        // The mount's special paths reach ?help too: sys/seal needs sudo.
        let help = body(&call(&core, Some(ROOT), Operation::Help, "sys/seal", json!({})).await);
        assert_eq!(help["openapi"]["paths"]["/seal"]["x-vault-sudo"], true, "{}", help["openapi"]);
    }

    #[tokio::test]
    async fn generic_mount_paths_keeps_singletons() {
        let core = core().await;
        // The core alone mounts only singletons (sys/, cubbyhole/, auth/token/): they keep their path.
        let doc = body(&call(&core, Some(ROOT), Operation::Read, "sys/internal/specs/openapi", json!({"generic_mount_paths": "true"})).await);
        let keys = path_keys(&doc);
        assert!(keys.contains("/cubbyhole/{path}") && keys.contains("/auth/token/create") && keys.contains("/sys/mounts"), "{keys:?}");
        assert!(!doc.to_string().contains("_mount_path}"), "no generic mount parameter for singletons");
    }
}
