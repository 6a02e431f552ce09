//! The key/value secrets engine, versions 1 and 2 (vault-api.md §7).
//!
//! A mount of type `kv` reads `options.version` ("1", the default, or "2") and
//! builds one of two backends. This file is the whole API at a glance: the two
//! path tables and the dispatch from a matched row to its handler. Handlers live
//! one file per resource; storage keys and records live in `store.rs` (which
//! also documents the on-disk layout).
//!
//! Checked against OpenBao 2.7 (`bao server -dev`): response fields, the 404
//! with a full body for deleted versions, error strings, and the 404-with-hint
//! answers for paths outside the v2 API. Deliberate differences:
//! - a negative `max_versions` (mount or key) is a 400; Vault stores it as
//!   4294967295. A negative `delete_version_after` in `config` is a 400 too.
//! - kv v1: a negative `ttl` in the data is reported as lease_duration 0 (Vault
//!   reports the negative number); the lease duration is never negative.
//! - PATCH of a version whose data is JSON null merges into `{}` (OpenBao
//!   answers 500).
//! - OpenBao's metadata check-and-set (`metadata_cas`, `metadata_cas_required`)
//!   is enforced whenever the key or the mount requires it, and a given
//!   `metadata_cas` must match; OpenBao's handling of the mount-level flag
//!   and of `metadata_cas: 0` looked inconsistent when probed.
//! - Field type errors use Coffer's wording (`max_versions: expected an
//!   integer`) rather than Go's mapstructure text.

mod config;
mod data;
mod metadata;
mod store;
mod subkeys;
mod upgrade;
mod v1;
mod versions;

#[cfg(test)]
mod testutil;

use async_trait::async_trait;
use coffer_core::{
    Backend, EngineFactory, Error, FieldKind, MountContext, MountInfo, Operation, PathSpec, PathTable, Request,
    Response, Result, Route, field,
};
use std::sync::{Arc, LazyLock};
use store::{Clock, KeyLocks, Store};

use Operation::{Create, Delete, List, Patch, Read, Update};

/// Builds the kv backend a mount asks for. Registered by the core for type
/// `kv` (and `kv-v2`, which the core maps to `kv` with version "2").
pub fn kv_factory() -> EngineFactory {
    Arc::new(|ctx: MountContext| -> Result<Arc<dyn Backend>> {
        match ctx.mount.options.get("version").map(|v| v.trim()) {
            None | Some("") | Some("1") => Ok(Arc::new(KvV1::new(ctx))),
            Some("2") => Ok(Arc::new(KvV2::new(ctx))),
            Some(other) => Err(Error::invalid(format!("kv: unsupported version {other:?} (expected \"1\" or \"2\")"))),
        }
    })
}

// ------------------------------------------------------------------- kv v1

static V1_TABLE: LazyLock<PathTable> = LazyLock::new(|| {
    PathTable::new(vec![PathSpec {
        name: "kv",
        pattern: "(?P<path>.*)",
        operations: &[Read, Create, Update, Delete, List],
        existence_check: true,
        canonical: &[],
        fields: &[],
        synopsis: "Pass-through secret storage: read, write, delete and list the JSON object stored at a path. \
                   A `ttl` (or `lease`) key in the data is returned as the lease duration hint.",
    }])
});

const V1_HELP: &str = "The kv backend (version 1) stores arbitrary JSON objects at arbitrary paths, \
without versioning. Writing replaces the whole object.";

/// kv version 1: one unversioned JSON object per path.
pub struct KvV1 {
    mount: Arc<MountInfo>,
}

impl KvV1 {
    fn new(ctx: MountContext) -> KvV1 {
        KvV1 { mount: ctx.mount }
    }
}

#[async_trait]
impl Backend for KvV1 {
    fn table(&self) -> &PathTable {
        &V1_TABLE
    }

    fn help(&self) -> &'static str {
        V1_HELP
    }

    async fn handle(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        let path = route.param("path");
        match req.operation {
            Read => v1::read(&self.mount, req, path).await,
            Create | Update => v1::write(req, path).await,
            Delete => v1::delete(req, path).await,
            List => v1::list(req, path).await,
            _ => Err(Error::UnsupportedOperation(req.rel_path.clone())),
        }
    }

    async fn exists(&self, route: &Route<'_>, req: &Request) -> Result<bool> {
        v1::exists(req, route.param("path")).await
    }
}

// ------------------------------------------------------------------- kv v2

const F_DATA: &[coffer_core::FieldSpec] = &[
    field("path", FieldKind::String, "Location of the secret."),
    field("version", FieldKind::Int, "Version to read; 0 or absent reads the current version."),
    field("data", FieldKind::Map, "The secret's contents (a JSON object)."),
    field("options", FieldKind::Map, "Write options; `cas` (int) is the check-and-set version."),
];

const F_VERSIONS: &[coffer_core::FieldSpec] = &[
    field("path", FieldKind::String, "Location of the secret."),
    field("versions", FieldKind::Array, "The versions to act on."),
];

const F_METADATA: &[coffer_core::FieldSpec] = &[
    field("path", FieldKind::String, "Location of the secret."),
    field("max_versions", FieldKind::Int, "Versions to keep; 0 uses the mount's setting."),
    field("cas_required", FieldKind::Bool, "Require `options.cas` on every data write of this key."),
    field("delete_version_after", FieldKind::Duration, "Soft-delete each new version after this long (capped by the mount's setting); 0s turns it off."),
    field("custom_metadata", FieldKind::Map, "Version-independent string key/value pairs (at most 64 keys; key ≤ 128 bytes, value ≤ 512 bytes)."),
    field("metadata_cas_required", FieldKind::Bool, "Require `metadata_cas` on every metadata write of this key (OpenBao)."),
    field("metadata_cas", FieldKind::Int, "Metadata check-and-set: the expected current metadata version (OpenBao)."),
    field("after", FieldKind::String, "LIST: only keys after this one."),
    field("limit", FieldKind::Int, "LIST: at most this many keys."),
];

const F_CONFIG: &[coffer_core::FieldSpec] = &[
    field("max_versions", FieldKind::Int, "Versions to keep per key; 0 keeps 10."),
    field("cas_required", FieldKind::Bool, "Require `options.cas` on every data write."),
    field("delete_version_after", FieldKind::Duration, "Soft-delete each new version after this long; 0s turns it off."),
    field("metadata_cas_required", FieldKind::Bool, "Require `metadata_cas` on every metadata write (OpenBao)."),
];

const F_SUBKEYS: &[coffer_core::FieldSpec] = &[
    field("path", FieldKind::String, "Location of the secret."),
    field("version", FieldKind::Int, "Version to read; 0 or absent reads the current version."),
    field("depth", FieldKind::Int, "How many levels of nesting to show; 0 shows all."),
];

static V2_TABLE: LazyLock<PathTable> = LazyLock::new(|| {
    PathTable::new(vec![
        PathSpec {
            name: "config",
            pattern: "config",
            operations: &[Read, Update],
            existence_check: false,
            canonical: &[],
            fields: F_CONFIG,
            synopsis: "Configure the mount: max_versions, cas_required, delete_version_after.",
        },
        PathSpec {
            name: "data",
            pattern: "data/(?P<path>.*)",
            operations: &[Read, Create, Update, Patch, Delete],
            existence_check: true,
            canonical: &[],
            fields: F_DATA,
            synopsis: "Read a version, write a new version (optionally check-and-set), merge-patch the \
                       latest version into a new one, or soft-delete the latest version.",
        },
        PathSpec {
            name: "delete",
            pattern: "delete/(?P<path>.*)",
            operations: &[Update],
            existence_check: false,
            canonical: &[],
            fields: F_VERSIONS,
            synopsis: "Soft-delete versions (their data stays until destroyed).",
        },
        PathSpec {
            name: "undelete",
            pattern: "undelete/(?P<path>.*)",
            operations: &[Update],
            existence_check: false,
            canonical: &[],
            fields: F_VERSIONS,
            synopsis: "Undo the soft deletion of versions.",
        },
        PathSpec {
            name: "destroy",
            pattern: "destroy/(?P<path>.*)",
            operations: &[Update],
            existence_check: false,
            canonical: &[],
            fields: F_VERSIONS,
            synopsis: "Permanently remove the data of versions.",
        },
        PathSpec {
            name: "metadata",
            pattern: "metadata/(?P<path>.*)",
            operations: &[Read, Create, Update, Patch, Delete, List],
            existence_check: true,
            canonical: &[],
            fields: F_METADATA,
            synopsis: "Read or configure a key's metadata (also creates a key without versions), list keys, \
                       or delete a key with all its versions.",
        },
        PathSpec {
            name: "subkeys",
            pattern: "subkeys/(?P<path>.*)",
            operations: &[Read],
            existence_check: false,
            canonical: &[],
            fields: F_SUBKEYS,
            synopsis: "The structure of a version's data with every leaf value replaced by null.",
        },
        // What Vault answers for everything else: 404 with a hint, not "unsupported path".
        PathSpec {
            name: "section-root",
            pattern: "data|metadata",
            operations: &[Read, Create, Update, Patch, Delete, List],
            existence_check: false,
            canonical: &[],
            fields: &[],
            synopsis: "The roots of data/ and metadata/ only support LIST on metadata/.",
        },
        PathSpec {
            name: "invalid",
            pattern: ".*",
            operations: &[Read, Create, Update, Patch, Delete, List],
            existence_check: false,
            canonical: &[],
            fields: &[],
            synopsis: "Not a kv-v2 endpoint: use data/, metadata/, delete/, undelete/, destroy/, subkeys/ or config.",
        },
    ])
});

const V2_HELP: &str = "The kv backend (version 2) stores versioned secrets: every write creates a new \
version, old versions can be read, soft-deleted, undeleted and destroyed, and per-key metadata \
controls how many versions are kept, check-and-set and automatic deletion.";

/// kv version 2: versioned secrets with metadata.
pub struct KvV2 {
    store: Store,
    locks: KeyLocks,
    clock: Arc<Clock>,
    /// Converts v1-layout keys left by a mount tuned from version 1, once,
    /// before the first request is served.
    upgraded: tokio::sync::OnceCell<()>,
}

/// Enough stripes that unrelated keys rarely share a lock.
const LOCK_STRIPES: usize = 256;

impl KvV2 {
    fn new(ctx: MountContext) -> KvV2 {
        Self::with_clock(ctx, Arc::new(Clock::default()))
    }

    fn with_clock(ctx: MountContext, clock: Arc<Clock>) -> KvV2 {
        KvV2 {
            store: Store { view: ctx.storage },
            locks: KeyLocks::new(LOCK_STRIPES),
            clock,
            upgraded: tokio::sync::OnceCell::new(),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    async fn ready(&self) -> Result<()> {
        self.upgraded
            .get_or_try_init(|| async {
                let n = upgrade::upgrade_v1_keys(&self.store, self.now()).await?;
                if n > 0 {
                    tracing::info!(keys = n, "kv: upgraded v1 keys to v2");
                }
                Ok::<(), Error>(())
            })
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl Backend for KvV2 {
    fn table(&self) -> &PathTable {
        &V2_TABLE
    }

    fn help(&self) -> &'static str {
        V2_HELP
    }

    async fn handle(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        self.ready().await?;
        let path = route.param("path");
        let op = req.operation;
        match (route.name(), op) {
            ("config", Read) => config::read(self).await,
            ("config", _) => config::write(self, req).await,
            ("data", Read) => data::read(self, req, path).await,
            ("data", Create | Update) => data::write(self, req, path).await,
            ("data", Patch) => data::patch(self, req, path).await,
            ("data", Delete) => data::delete_latest(self, path).await,
            ("delete", _) => versions::apply(self, req, path, versions::Action::Delete).await,
            ("undelete", _) => versions::apply(self, req, path, versions::Action::Undelete).await,
            ("destroy", _) => versions::apply(self, req, path, versions::Action::Destroy).await,
            ("metadata", Read) => metadata::read(self, path).await,
            ("metadata", List) => metadata::list(self, req, path).await,
            ("metadata", Create | Update) => metadata::write(self, req, path).await,
            ("metadata", Patch) => metadata::patch(self, req, path).await,
            ("metadata", Delete) => metadata::delete(self, path).await,
            ("subkeys", _) => subkeys::read(self, req, path).await,
            ("section-root", _) => Ok(Some(not_found_hint(
                "Non-listing operations on the root of a K/V v2 mount are not supported.".into(),
            ))),
            ("invalid", _) => Ok(Some(not_found_hint(format!(
                "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API \
                 endpoints to use. If using the OpenBao CLI, use 'bao kv {}' for this operation.",
                cli_verb(op)
            )))),
            _ => Err(Error::UnsupportedOperation(req.rel_path.clone())),
        }
    }

    async fn exists(&self, route: &Route<'_>, _req: &Request) -> Result<bool> {
        self.ready().await?;
        match route.name() {
            "data" | "metadata" => Ok(self.store.record(route.param("path")).await?.is_some()),
            _ => Ok(true),
        }
    }
}

/// Vault's answer to a path that is not part of the kv-v2 API: 404 with a
/// warning and no data (the Go client and CLI print the warning).
fn not_found_hint(warning: String) -> Response {
    Response { status: Some(404), warnings: vec![warning], ..Default::default() }
}

fn cli_verb(op: Operation) -> &'static str {
    match op {
        Create | Update => "put",
        Patch => "patch",
        Delete => "delete",
        List => "list",
        _ => "get",
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn v2_routes() {
        let t = &*V2_TABLE;
        let r = |p: &str| t.route(p).map(|r| (r.name(), r.param("path").to_string()));
        assert_eq!(r("config"), Some(("config", String::new())));
        assert_eq!(r("data/a/b"), Some(("data", "a/b".into())));
        assert_eq!(r("data/"), Some(("data", String::new())));
        assert_eq!(r("metadata/a/"), Some(("metadata", "a/".into())));
        assert_eq!(r("data"), Some(("section-root", String::new())));
        assert_eq!(r("metadata"), Some(("section-root", String::new())));
        assert_eq!(r("config/x").unwrap().0, "invalid");
        assert_eq!(r("").unwrap().0, "invalid");
        assert_eq!(r("foo").unwrap().0, "invalid");
        assert_eq!(r("subkeys/x"), Some(("subkeys", "x".into())));
        assert!(!t.route("data/x").unwrap().spec.operations.contains(&List));
    }

    #[test]
    fn v1_routes_everything() {
        let r = V1_TABLE.route("a/b/c").unwrap();
        assert_eq!((r.name(), r.param("path")), ("kv", "a/b/c"));
        assert_eq!(V1_TABLE.route("").unwrap().param("path"), "");
        assert!(!V1_TABLE.route("x").unwrap().spec.operations.contains(&Patch));
    }
}

#[cfg(test)]
mod backend_tests {
    use super::testutil::{Harness, unsealed_view};
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn ctx(storage: coffer_core::StorageView, version: Option<&str>) -> MountContext {
        let mut options = BTreeMap::new();
        if let Some(v) = version {
            options.insert("version".to_string(), v.to_string());
        }
        MountContext {
            mount: Arc::new(MountInfo {
                path: "kv/".into(),
                kind: "kv".into(),
                accessor: "kv_x".into(),
                uuid: "u".into(),
                options,
                default_lease_ttl: Duration::from_secs(60),
                max_lease_ttl: Duration::from_secs(60),
            }),
            storage,
        }
    }

    #[tokio::test]
    async fn factory_picks_version() {
        let view = unsealed_view().await;
        let f = kv_factory();
        let is_v2 = |b: &Arc<dyn Backend>| b.table().route("config").is_some_and(|r| r.name() == "config");
        assert!(!is_v2(&f(ctx(view.clone(), None)).unwrap()));
        assert!(!is_v2(&f(ctx(view.clone(), Some("1"))).unwrap()));
        assert!(is_v2(&f(ctx(view.clone(), Some("2"))).unwrap()));
        let err = f(ctx(view, Some("3"))).err().expect("version 3 is refused").to_string();
        assert!(err.contains("unsupported version"), "{err}");
    }

    #[tokio::test]
    async fn non_api_paths_answer_404_with_a_hint() {
        let h = Harness::v2().await;
        for (op, path, verb) in [
            (Read, "foo", "get"),
            (Read, "", "get"),
            (Update, "foo", "put"),
            (Delete, "foo", "delete"),
            (Patch, "foo", "patch"),
            (List, "", "list"),
            (List, "foo", "list"),
            (Read, "config/x", "get"),
        ] {
            let r = h.ok(op, path, json!({})).await.unwrap();
            assert_eq!(r.status, Some(404), "{op:?} {path}");
            assert!(r.data.is_none());
            assert!(r.warnings[0].starts_with("Invalid path for a versioned K/V secrets engine."), "{:?}", r.warnings);
            assert!(r.warnings[0].ends_with(&format!("use 'bao kv {verb}' for this operation.")), "{:?}", r.warnings);
        }
        for path in ["data", "metadata"] {
            let r = h.ok(Read, path, json!({})).await.unwrap();
            assert_eq!(r.status, Some(404));
            assert_eq!(r.warnings, ["Non-listing operations on the root of a K/V v2 mount are not supported."]);
        }
        // LIST on the metadata root is the real listing
        h.ok(Update, "data/a", json!({"data": {}})).await;
        assert_eq!(h.keys("metadata", json!({})).await, ["a"]);
    }

    #[tokio::test]
    async fn v1_and_v2_layouts_do_not_collide() {
        // A v1 path that looks like a v2 storage key stays a v1 secret.
        let h = Harness::v1().await;
        h.ok(Update, "v2/config", json!({"max_versions": 1})).await;
        h.ok(Update, "config", json!({"x": 1})).await;
        let keys = h.storage.keys_recursive("").await.unwrap();
        assert_eq!(keys, ["v1/config", "v1/v2/config"]);
    }
}

#[cfg(test)]
mod openapi_tests {
    /// Every row of both tables gets a path of its own in the OpenAPI document
    /// (sys/internal/specs/openapi), and each documented path routes back to its row.
    #[test]
    fn the_openapi_document_describes_every_row() {
        for (name, table) in [("v1", &*super::V1_TABLE), ("v2", &*super::V2_TABLE)] {
            let problems = coffer_core::openapi::table_problems(table);
            assert!(problems.is_empty(), "kv {name}: {problems:?}");
        }
    }
}
