//! Everything the kv engine keeps in storage: the key names (built only here),
//! the record types, time formatting, and the per-key write locks.
//!
//! # On-disk layout (inside the mount's own encrypted `StorageView`)
//!
//! kv v1:
//! - `v1/<path>`: the secret, a JSON object (the request body as written).
//!
//! kv v2:
//! - `v2/config`: [`MountConfig`] (mount-wide `max_versions`, `cas_required`, ...).
//! - `v2/meta/<path>`: one [`KeyRecord`] per secret: the key's settings, the
//!   index of its versions (created/deleted/destroyed), and a copy of the data of
//!   the current version (`latest`).
//! - `v2/ver/<path>/<n>`: the data of version `n`, a JSON value, for every
//!   version that is neither destroyed nor trimmed away.
//!
//! Why the current version's data is duplicated into the record: reading the
//! latest version is the hot path (clients and agents poll it), and with the copy
//! it costs one storage get and one decryption instead of two. A write still
//! touches two keys (the record and the new version), in one atomic batch, so the
//! copy can never disagree with `v2/ver/...`; older versions are read from their
//! own key (record + version = two gets). Destroying the current version removes
//! both copies in the same batch.
//!
//! The v1 and v2 layouts live under different prefixes so a v2 backend can find
//! v1 keys left by a mount that was tuned from version 1 to 2 (see `upgrade.rs`);
//! paths a user chooses can never collide with `v2/config` or the v2 prefixes.
//! LIST on `metadata/` is a storage list of `v2/meta/<prefix>`; version keys live
//! in their own subtree so they never show up in listings.

use coffer_core::{Error, Result, StorageView, ViewOp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;
use zeroize::Zeroizing;

// ----------------------------------------------------------------- storage keys

pub(crate) const V1_PREFIX: &str = "v1/";

pub(crate) fn v1_key(path: &str) -> String {
    format!("{V1_PREFIX}{path}")
}

pub(crate) const CONFIG_KEY: &str = "v2/config";

pub(crate) fn meta_key(path: &str) -> String {
    format!("v2/meta/{path}")
}

pub(crate) fn version_key(path: &str, version: u64) -> String {
    format!("v2/ver/{path}/{version}")
}

// ----------------------------------------------------------------------- time

/// Wall clock in Unix nanoseconds, with an adjustable offset so tests can
/// move time forward (delete_version_after) without sleeping.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ns: AtomicI64,
}

impl Clock {
    pub(crate) fn now(&self) -> i64 {
        let real = OffsetDateTime::now_utc().unix_timestamp_nanos();
        i64::try_from(real).unwrap_or(i64::MAX).saturating_add(self.offset_ns.load(Ordering::Relaxed))
    }

    #[cfg(test)]
    pub(crate) fn advance(&self, d: std::time::Duration) {
        self.offset_ns.fetch_add(d.as_nanos() as i64, Ordering::Relaxed);
    }
}

/// Go's `time.RFC3339Nano` in UTC: `2024-01-02T03:04:05.123456789Z`, trailing
/// zeros of the fraction dropped (and the dot too when it is zero), exactly as
/// Vault prints times.
pub(crate) fn format_time(ns: i64) -> String {
    coffer_core::util::rfc3339_ns(ns)
}

// -------------------------------------------------------------------- records

/// Mount-wide kv-v2 settings (`<mount>/config`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct MountConfig {
    #[serde(default)]
    pub max_versions: u32,
    #[serde(default)]
    pub cas_required: bool,
    /// Nanoseconds; 0 = off.
    #[serde(default)]
    pub delete_version_after_ns: u64,
    #[serde(default)]
    pub metadata_cas_required: bool,
}

/// Vault keeps 10 versions when neither the key nor the mount says otherwise.
pub(crate) const DEFAULT_MAX_VERSIONS: u32 = 10;

/// One version's entry in a key's index.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct VersionMeta {
    pub created: i64,
    /// Soft-delete time (may lie in the future with delete_version_after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub destroyed: bool,
}

impl VersionMeta {
    pub(crate) fn is_deleted(&self, now: i64) -> bool {
        self.deletion.is_some_and(|d| d <= now)
    }
    /// Not readable: destroyed, or soft-deleted at or before `now`.
    pub(crate) fn is_gone(&self, now: i64) -> bool {
        self.destroyed || self.is_deleted(now)
    }
}

/// The current version's data, wrapped so that a stored JSON `null` secret
/// (Vault accepts `{"data": null}`) is distinguishable from "no copy".
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Inline {
    pub d: Value,
}

/// Everything about one kv-v2 secret except the data of non-current versions.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct KeyRecord {
    pub created: i64,
    pub updated: i64,
    #[serde(default)]
    pub current_version: u64,
    /// 0 until max_versions first trims something (as Vault reports it).
    #[serde(default)]
    pub oldest_version: u64,
    /// 0 = use the mount's setting.
    #[serde(default)]
    pub max_versions: u32,
    #[serde(default)]
    pub cas_required: bool,
    #[serde(default)]
    pub delete_version_after_ns: u64,
    #[serde(default)]
    pub custom_metadata: BTreeMap<String, String>,
    /// OpenBao's metadata check-and-set counter (bumped by metadata writes).
    #[serde(default)]
    pub metadata_version: u64,
    #[serde(default)]
    pub metadata_cas_required: bool,
    #[serde(default)]
    pub versions: BTreeMap<u64, VersionMeta>,
    /// Copy of the data of `current_version` (absent when it is destroyed or
    /// there is no version yet). See the module docs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<Inline>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("current_version", &self.current_version)
            .field("oldest_version", &self.oldest_version)
            .field("versions", &self.versions)
            .field("latest", &self.latest.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl KeyRecord {
    pub(crate) fn new(now: i64) -> KeyRecord {
        KeyRecord { created: now, updated: now, ..Default::default() }
    }

    pub(crate) fn custom_metadata_json(&self) -> Value {
        if self.custom_metadata.is_empty() {
            Value::Null
        } else {
            Value::Object(self.custom_metadata.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect())
        }
    }

    /// `{created_time, custom_metadata, deletion_time, destroyed, version}`: the
    /// body of a write and the `metadata` of a data read.
    pub(crate) fn version_json(&self, version: u64, vm: &VersionMeta) -> Value {
        json!({
            "created_time": format_time(vm.created),
            "custom_metadata": self.custom_metadata_json(),
            "deletion_time": vm.deletion.map(format_time).unwrap_or_default(),
            "destroyed": vm.destroyed,
            "version": version,
        })
    }

    /// The version a read asks for (`version` ≤ 0 means the current one), if it
    /// is still in the index.
    pub(crate) fn resolve(&self, requested: i64) -> Option<(u64, &VersionMeta)> {
        let n = if requested <= 0 { self.current_version } else { requested as u64 };
        if n == 0 || n < self.oldest_version {
            return None;
        }
        self.versions.get(&n).map(|vm| (n, vm))
    }

    /// Max versions in force for this key: its own, else the mount's, else 10.
    pub(crate) fn effective_max_versions(&self, cfg: &MountConfig) -> u32 {
        if self.max_versions > 0 {
            self.max_versions
        } else if cfg.max_versions > 0 {
            cfg.max_versions
        } else {
            DEFAULT_MAX_VERSIONS
        }
    }

    /// delete_version_after in force (ns, 0 = off): the key's value capped by
    /// the mount's, else the mount's.
    pub(crate) fn effective_delete_after(&self, cfg: &MountConfig) -> u64 {
        match (self.delete_version_after_ns, cfg.delete_version_after_ns) {
            (0, m) => m,
            (k, 0) => k,
            (k, m) => k.min(m),
        }
    }
}

// ---------------------------------------------------------------- store access

/// Typed reads and batched writes over the mount's view.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    pub view: StorageView,
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(v)?)
}

impl Store {
    pub(crate) async fn config(&self) -> Result<MountConfig> {
        Ok(self.view.get_json(CONFIG_KEY).await?.unwrap_or_default())
    }

    pub(crate) async fn put_config(&self, cfg: &MountConfig) -> Result<()> {
        self.view.put_json(CONFIG_KEY, cfg).await
    }

    pub(crate) async fn record(&self, path: &str) -> Result<Option<KeyRecord>> {
        self.view.get_json(&meta_key(path)).await
    }

    /// Data of one version from its own key (`None` if destroyed/trimmed).
    pub(crate) async fn version_data(&self, path: &str, version: u64) -> Result<Option<Value>> {
        self.view.get_json(&version_key(path, version)).await
    }

    /// The data of `version` of `rec`, from the inline copy when it is the
    /// current version. A version the index says is live but whose data is
    /// missing is storage corruption, not a client error.
    pub(crate) async fn data_of(&self, path: &str, rec: &KeyRecord, version: u64) -> Result<Value> {
        if version == rec.current_version
            && let Some(inline) = &rec.latest
        {
            return Ok(inline.d.clone());
        }
        self.version_data(path, version)
            .await?
            .ok_or_else(|| Error::internal(format!("kv: data of version {version} missing from storage")))
    }

    pub(crate) fn put_record_op(path: &str, rec: &KeyRecord) -> Result<ViewOp> {
        Ok(ViewOp::Put(meta_key(path), encode(rec)?))
    }

    pub(crate) fn put_version_op(path: &str, version: u64, data: &Value) -> Result<ViewOp> {
        let bytes = Zeroizing::new(encode(data)?);
        Ok(ViewOp::Put(version_key(path, version), bytes.to_vec()))
    }

    pub(crate) async fn save_record(&self, path: &str, rec: &KeyRecord) -> Result<()> {
        self.view.write(vec![Self::put_record_op(path, rec)?]).await
    }
}

// ---------------------------------------------------------------------- locks

/// Serialises writers of the same key without one global lock: the key's hash
/// picks one of N mutexes. Readers never lock; every write is one atomic batch,
/// so a reader sees either the old record or the new one.
pub(crate) struct KeyLocks {
    stripes: Box<[tokio::sync::Mutex<()>]>,
}

impl KeyLocks {
    pub(crate) fn new(n: usize) -> KeyLocks {
        KeyLocks { stripes: (0..n.max(1)).map(|_| tokio::sync::Mutex::new(())).collect() }
    }

    pub(crate) async fn lock(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let i = (h.finish() % self.stripes.len() as u64) as usize;
        self.stripes[i].lock().await
    }
}

// --------------------------------------------------------------------- errors

/// Vault's `multierror` text, which its kv engine returns for validation
/// failures: `1 error occurred:\n\t* msg\n\n`.
pub(crate) fn multierror(errs: &[String]) -> String {
    let mut s = if errs.len() == 1 {
        "1 error occurred:\n".to_string()
    } else {
        format!("{} errors occurred:\n", errs.len())
    };
    for e in errs {
        s.push_str("\t* ");
        s.push_str(e);
        s.push('\n');
    }
    s.push('\n');
    s
}

/// Writes to a "directory" are refused, as Vault's router does.
pub(crate) fn reject_dir_write(path: &str) -> Result<()> {
    if path.is_empty() || path.ends_with('/') {
        return Err(Error::invalid("cannot write to a path ending in '/'"));
    }
    Ok(())
}

pub(crate) fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_like_go_rfc3339nano() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_500_000_000), "1970-01-01T00:00:01.5Z");
        assert_eq!(format_time(1_764_357_515_977_679_583), "2025-11-28T19:18:35.977679583Z");
        assert_eq!(format_time(1_764_357_515_000_000_010), "2025-11-28T19:18:35.00000001Z");
    }

    #[test]
    fn effective_settings() {
        let mut rec = KeyRecord::default();
        let mut cfg = MountConfig::default();
        assert_eq!(rec.effective_max_versions(&cfg), 10);
        cfg.max_versions = 3;
        assert_eq!(rec.effective_max_versions(&cfg), 3);
        rec.max_versions = 15;
        assert_eq!(rec.effective_max_versions(&cfg), 15);
        assert_eq!(rec.effective_delete_after(&cfg), 0);
        cfg.delete_version_after_ns = 100;
        assert_eq!(rec.effective_delete_after(&cfg), 100);
        rec.delete_version_after_ns = 200;
        assert_eq!(rec.effective_delete_after(&cfg), 100);
        rec.delete_version_after_ns = 50;
        assert_eq!(rec.effective_delete_after(&cfg), 50);
        cfg.delete_version_after_ns = 0;
        assert_eq!(rec.effective_delete_after(&cfg), 50);
    }

    #[test]
    fn multierror_format() {
        assert_eq!(multierror(&["a".into()]), "1 error occurred:\n\t* a\n\n");
        assert_eq!(multierror(&["a".into(), "b".into()]), "2 errors occurred:\n\t* a\n\t* b\n\n");
    }

    #[test]
    fn record_debug_redacts_data() {
        let rec = KeyRecord { latest: Some(Inline { d: json!({"pw": "hunter2"}) }), ..Default::default() };
        let s = format!("{rec:?}");
        assert!(!s.contains("hunter2") && s.contains("[redacted]"), "{s}");
    }
}
