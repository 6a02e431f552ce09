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
    Backend, BackendFactory, EngineFactory, Error, FieldKind, MountContext, MountInfo, Operation, PathTable, Paths,
    Request, Response, Result, Route, field, mounts::MountEntry, path,
};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};
use store::{Clock, KeyLocks, Store};

use Operation::{Create, Delete, List, Patch, Read, Update};

/// The mount types the kv factory serves: `kv`; `kv-v2`, which is kv with
/// `version` "2" (the mount is stored as `kv`); and `generic`, Vault's old
/// name for kv version 1, which keeps its type (OpenBao shows `generic` in
/// `sys/mounts`) and takes no `version` option.
pub const KV_TYPES: &[&str] = &["kv", "kv-v2", "generic"];

/// Builds the kv backend a mount asks for (register it under every type in
/// [`KV_TYPES`]).
pub fn kv_factory() -> EngineFactory {
    Arc::new(KvFactory)
}

/// kv's mount-time rules and its two backends.
struct KvFactory;

impl BackendFactory for KvFactory {
    fn prepare_mount(&self, entry: &mut MountEntry) -> Result<()> {
        let opts = entry.options.get_or_insert_with(Default::default);
        match entry.kind.as_str() {
            "kv-v2" => {
                entry.kind = "kv".into();
                opts.insert("version".into(), "2".into());
            }
            // OpenBao's text; the options stay as given (`{}` when none).
            "generic" if opts.contains_key("version") => {
                return Err(Error::invalid("secrets engine \"generic\" does not allow setting a version"));
            }
            "generic" => {}
            _ => {
                opts.entry("version".into()).or_insert_with(|| "1".into());
            }
        }
        Ok(())
    }

    /// `version` may go from 1 to 2 (the v2 backend then converts the v1
    /// keys before its first request), never back.
    fn validate_tune_options(&self, current: &BTreeMap<String, String>, requested: &BTreeMap<String, String>) -> Result<()> {
        if let Some(v) = requested.get("version") {
            let old = current.get("version").map_or("1", String::as_str);
            if v != "1" && v != "2" {
                return Err(Error::invalid(format!("invalid kv version {v:?}")));
            }
            if old == "2" && v == "1" {
                return Err(Error::invalid("cannot downgrade mount from version 2"));
            }
        }
        Ok(())
    }

    fn build(&self, ctx: MountContext) -> Result<Arc<dyn Backend>> {
        match ctx.mount.options.get("version").map(|v| v.trim()) {
            None | Some("") | Some("1") => Ok(Arc::new(KvV1::new(ctx))),
            Some("2") => Ok(Arc::new(KvV2::new(ctx))),
            Some(other) => Err(Error::invalid(format!("kv: unsupported version {other:?} (expected \"1\" or \"2\")"))),
        }
    }
}

// ------------------------------------------------------------------- kv v1

/// The handlers of kv v1.
#[derive(Clone, Copy, Debug)]
enum V1 {
    Read,
    Write,
    Delete,
    List,
}

static V1_TABLE: LazyLock<Paths<V1>> = LazyLock::new(|| {
    Paths::new(vec![
        path(
            "kv",
            "(?P<path>.*)",
            &[(Read, V1::Read), (Create, V1::Write), (Update, V1::Write), (Delete, V1::Delete), (List, V1::List)],
            &[],
            "Pass-through secret storage: read, write, delete and list the JSON object stored at a path. \
             A `ttl` (or `lease`) key in the data is returned as the lease duration hint.",
        )
        .existence_check(),
    ])
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

    async fn serve(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        let path = route.param("path");
        match V1_TABLE.handler(route, req.operation)? {
            V1::Read => v1::read(&self.mount, req, path).await,
            V1::Write => v1::write(req, path).await,
            V1::Delete => v1::delete(req, path).await,
            V1::List => v1::list(req, path).await,
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

/// The handlers of kv v2.
#[derive(Clone, Copy, Debug)]
enum V2 {
    ConfigRead,
    ConfigWrite,
    DataRead,
    DataWrite,
    DataPatch,
    DataDelete,
    Delete,
    Undelete,
    Destroy,
    MetadataRead,
    MetadataList,
    MetadataWrite,
    MetadataPatch,
    MetadataDelete,
    Subkeys,
    SectionRoot,
    Invalid,
}

/// Every operation bound to one handler: the rows that answer Vault's 404 hints.
const fn every_op(h: V2) -> [(Operation, V2); 6] {
    [(Read, h), (Create, h), (Update, h), (Patch, h), (Delete, h), (List, h)]
}
const SECTION_ROOT_OPS: &[(Operation, V2)] = &every_op(V2::SectionRoot);
const INVALID_OPS: &[(Operation, V2)] = &every_op(V2::Invalid);

static V2_TABLE: LazyLock<Paths<V2>> = LazyLock::new(|| {
    Paths::new(vec![
        path(
            "config",
            "config",
            &[(Read, V2::ConfigRead), (Update, V2::ConfigWrite)],
            F_CONFIG,
            "Configure the mount: max_versions, cas_required, delete_version_after.",
        ),
        path(
            "data",
            "data/(?P<path>.*)",
            &[(Read, V2::DataRead), (Create, V2::DataWrite), (Update, V2::DataWrite), (Patch, V2::DataPatch), (Delete, V2::DataDelete)],
            F_DATA,
            "Read a version, write a new version (optionally check-and-set), merge-patch the \
             latest version into a new one, or soft-delete the latest version.",
        )
        .existence_check(),
        path("delete", "delete/(?P<path>.*)", &[(Update, V2::Delete)], F_VERSIONS, "Soft-delete versions (their data stays until destroyed)."),
        path("undelete", "undelete/(?P<path>.*)", &[(Update, V2::Undelete)], F_VERSIONS, "Undo the soft deletion of versions."),
        path("destroy", "destroy/(?P<path>.*)", &[(Update, V2::Destroy)], F_VERSIONS, "Permanently remove the data of versions."),
        path(
            "metadata",
            "metadata/(?P<path>.*)",
            &[
                (Read, V2::MetadataRead),
                (Create, V2::MetadataWrite),
                (Update, V2::MetadataWrite),
                (Patch, V2::MetadataPatch),
                (Delete, V2::MetadataDelete),
                (List, V2::MetadataList),
            ],
            F_METADATA,
            "Read or configure a key's metadata (also creates a key without versions), list keys, \
             or delete a key with all its versions.",
        )
        .existence_check(),
        path("subkeys", "subkeys/(?P<path>.*)", &[(Read, V2::Subkeys)], F_SUBKEYS, "The structure of a version's data with every leaf value replaced by null."),
        // What Vault answers for everything else: 404 with a hint, not "unsupported path".
        path(
            "section-root",
            "data|metadata",
            SECTION_ROOT_OPS,
            &[],
            "The roots of data/ and metadata/ only support LIST on metadata/.",
        ),
        path(
            "invalid",
            ".*",
            INVALID_OPS,
            &[],
            "Not a kv-v2 endpoint: use data/, metadata/, delete/, undelete/, destroy/, subkeys/ or config.",
        ),
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

    async fn serve(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        self.ready().await?;
        let path = route.param("path");
        let op = req.operation;
        match V2_TABLE.handler(route, op)? {
            V2::ConfigRead => config::read(self).await,
            V2::ConfigWrite => config::write(self, req).await,
            V2::DataRead => data::read(self, req, path).await,
            V2::DataWrite => data::write(self, req, path).await,
            V2::DataPatch => data::patch(self, req, path).await,
            V2::DataDelete => data::delete_latest(self, path).await,
            V2::Delete => versions::apply(self, req, path, versions::Action::Delete).await,
            V2::Undelete => versions::apply(self, req, path, versions::Action::Undelete).await,
            V2::Destroy => versions::apply(self, req, path, versions::Action::Destroy).await,
            V2::MetadataRead => metadata::read(self, path).await,
            V2::MetadataList => metadata::list(self, req, path).await,
            V2::MetadataWrite => metadata::write(self, req, path).await,
            V2::MetadataPatch => metadata::patch(self, req, path).await,
            V2::MetadataDelete => metadata::delete(self, path).await,
            V2::Subkeys => subkeys::read(self, req, path).await,
            V2::SectionRoot => Ok(Some(not_found_hint(
                "Non-listing operations on the root of a K/V v2 mount are not supported.".into(),
            ))),
            V2::Invalid => Ok(Some(not_found_hint(format!(
                "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API \
                 endpoints to use. If using the OpenBao CLI, use 'bao kv {}' for this operation.",
                cli_verb(op)
            )))),
        }
    }

    /// The rows with an existence check (`data/`, `metadata/`) both ask
    /// whether the key has a record.
    async fn exists(&self, route: &Route<'_>, _req: &Request) -> Result<bool> {
        self.ready().await?;
        Ok(self.store.record(route.param("path")).await?.is_some())
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
        assert!(!is_v2(&f.build(ctx(view.clone(), None)).unwrap()));
        assert!(!is_v2(&f.build(ctx(view.clone(), Some("1"))).unwrap()));
        assert!(is_v2(&f.build(ctx(view.clone(), Some("2"))).unwrap()));
        let err = f.build(ctx(view, Some("3"))).err().expect("version 3 is refused").to_string();
        assert!(err.contains("unsupported version"), "{err}");
    }

    #[test]
    fn mount_time_types_and_options() {
        let f = kv_factory();
        let prepared = |kind: &str, opts: Option<&[(&str, &str)]>| {
            let mut e = MountEntry::new("x/", kind, "", false);
            e.options = opts.map(|o| o.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
            f.prepare_mount(&mut e).map(|_| (e.kind.clone(), e.options.clone().unwrap_or_default()))
        };
        let v = |n: &str| BTreeMap::from([("version".to_string(), n.to_string())]);
        assert_eq!(prepared("kv", None).unwrap(), ("kv".into(), v("1")));
        assert_eq!(prepared("kv", Some(&[("version", "2")])).unwrap(), ("kv".into(), v("2")));
        assert_eq!(prepared("kv-v2", None).unwrap(), ("kv".into(), v("2")));
        // generic: kv v1 under its own name, with no version (as OpenBao shows it)
        assert_eq!(prepared("generic", None).unwrap(), ("generic".into(), BTreeMap::new()));
        let e = prepared("generic", Some(&[("version", "1")])).unwrap_err().to_string();
        assert_eq!(e, "secrets engine \"generic\" does not allow setting a version");
        // tune: 1 -> 2 upgrades, 2 -> 1 and unknown versions are refused
        assert!(f.validate_tune_options(&v("1"), &v("2")).is_ok());
        assert!(f.validate_tune_options(&BTreeMap::new(), &v("2")).is_ok());
        assert!(f.validate_tune_options(&v("2"), &v("1")).unwrap_err().to_string().contains("cannot downgrade"));
        assert!(f.validate_tune_options(&v("1"), &v("3")).unwrap_err().to_string().contains("invalid kv version"));
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
        for (name, table) in [("v1", super::V1_TABLE.table()), ("v2", super::V2_TABLE.table())] {
            let problems = coffer_core::openapi::table_problems(table);
            assert!(problems.is_empty(), "kv {name}: {problems:?}");
        }
    }
}
