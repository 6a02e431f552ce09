//! `<mount>/metadata/<path>`: read, LIST, write (also creates a key without
//! versions), merge-patch, and delete a key with all its versions.

use super::KvV2;
use super::config::{delete_after_field, max_versions_field};
use super::store::{KeyRecord, meta_key, multierror, reject_dir_write, version_key};
use coffer_config::duration::format_go;
use coffer_core::fields::{get_bool, get_int, get_str};
use coffer_core::{Data, Error, Request, Response, Result, ViewOp};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

pub(super) const MAX_CUSTOM_KEYS: usize = 64;
pub(super) const MAX_CUSTOM_KEY_LEN: usize = 128;
pub(super) const MAX_CUSTOM_VALUE_LEN: usize = 512;

pub(super) async fn read(b: &KvV2, path: &str) -> Result<Option<Response>> {
    let Some(rec) = b.store.record(path).await? else {
        return Ok(None);
    };
    let versions: Map<String, Value> = rec
        .versions
        .iter()
        .map(|(n, vm)| {
            (
                n.to_string(),
                json!({
                    "created_time": super::store::format_time(vm.created),
                    "deletion_time": vm.deletion.map(super::store::format_time).unwrap_or_default(),
                    "destroyed": vm.destroyed,
                }),
            )
        })
        .collect();
    Ok(Some(Response::json(json!({
        "cas_required": rec.cas_required,
        "created_time": super::store::format_time(rec.created),
        "current_metadata_version": rec.metadata_version,
        "current_version": rec.current_version,
        "custom_metadata": rec.custom_metadata_json(),
        "delete_version_after": format_go(Duration::from_nanos(rec.delete_version_after_ns)),
        "max_versions": rec.max_versions,
        "metadata_cas_required": rec.metadata_cas_required,
        "oldest_version": rec.oldest_version,
        "updated_time": super::store::format_time(rec.updated),
        "versions": versions,
    }))))
}

/// LIST: immediate children of the prefix, folders ending in `/`. OpenBao's
/// `after` (exclusive) and `limit` paginate.
pub(super) async fn list(b: &KvV2, req: &Request, path: &str) -> Result<Option<Response>> {
    let prefix = if path.is_empty() || path.ends_with('/') { path.to_string() } else { format!("{path}/") };
    let after = get_str(&req.data, "after")?.unwrap_or_default();
    let limit = get_int(&req.data, "limit")?.unwrap_or(0);
    let mut keys = b.store.view.list(&meta_key(&prefix)).await?;
    if !after.is_empty() {
        keys.retain(|k| k.as_str() > after.as_str());
    }
    if limit > 0 {
        keys.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(Some(Response::list(keys)))
}

/// The settings a metadata write or patch may carry, parsed and validated
/// before any lock is taken. `custom_metadata` is `Some(None)` when given as
/// null (clears it on write).
#[derive(Default)]
struct Settings {
    max_versions: Option<u32>,
    cas_required: Option<bool>,
    delete_after: Option<u64>,
    custom_metadata: Option<Option<Map<String, Value>>>,
    metadata_cas_required: Option<bool>,
    metadata_cas: Option<i64>,
}

fn settings(data: &Data) -> Result<Settings> {
    Ok(Settings {
        max_versions: max_versions_field(data)?,
        cas_required: get_bool(data, "cas_required")?,
        delete_after: delete_after_field(data)?,
        custom_metadata: match data.get("custom_metadata") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::Object(m)) => Some(Some(m.clone())),
            Some(_) => return Err(Error::invalid("custom_metadata: expected a map of strings")),
        },
        metadata_cas_required: get_bool(data, "metadata_cas_required")?,
        metadata_cas: get_int(data, "metadata_cas")?,
    })
}

/// A custom_metadata value: a string, or a number/bool taken as its text
/// (as Vault's weak decoding does). `null` is only meaningful in a patch.
fn custom_value(v: &Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(Error::invalid("custom_metadata: expected a map of strings")),
    }
}

/// Vault's limits on custom_metadata: at most 64 keys, keys 1..=128 bytes,
/// values 1..=512 bytes. Errors name the key, never the value.
pub(super) fn validate_custom_metadata(m: &BTreeMap<String, String>) -> Result<()> {
    const PREFIX: &str = "custom_metadata validation failed: ";
    if m.len() > MAX_CUSTOM_KEYS {
        return Err(Error::invalid(multierror(&[format!(
            "{PREFIX}payload must contain at most {MAX_CUSTOM_KEYS} keys, provided {}",
            m.len()
        )])));
    }
    let mut errs = Vec::new();
    for (k, v) in m {
        if k.is_empty() || k.len() > MAX_CUSTOM_KEY_LEN {
            errs.push(format!(
                "{PREFIX}length of key {k:?} is {} but must be 0 < len(key) <= {MAX_CUSTOM_KEY_LEN}",
                k.len()
            ));
        }
        if v.is_empty() || v.len() > MAX_CUSTOM_VALUE_LEN {
            errs.push(format!(
                "{PREFIX}length of value for key {k:?} is {} but must be 0 < len(value) <= {MAX_CUSTOM_VALUE_LEN}",
                v.len()
            ));
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(Error::invalid(multierror(&errs))) }
}

fn check_metadata_cas(required_by_mount: bool, rec: Option<&KeyRecord>, cas: Option<i64>) -> Result<()> {
    let current = rec.map_or(0, |r| r.metadata_version);
    let required = required_by_mount || rec.is_some_and(|r| r.metadata_cas_required);
    match cas {
        Some(c) if c < 0 || c as u64 != current => {
            Err(Error::invalid("metadata check-and-set parameter does not match the current version"))
        }
        Some(_) => Ok(()),
        None if required => Err(Error::invalid("metadata check-and-set parameter required for this call")),
        None => Ok(()),
    }
}

/// Applies the scalar settings; custom_metadata is handled by the caller
/// (replace on write, merge on patch).
fn apply(rec: &mut KeyRecord, s: &Settings) {
    if let Some(v) = s.max_versions {
        rec.max_versions = v;
    }
    if let Some(v) = s.cas_required {
        rec.cas_required = v;
    }
    if let Some(v) = s.delete_after {
        rec.delete_version_after_ns = v;
    }
    if let Some(v) = s.metadata_cas_required {
        rec.metadata_cas_required = v;
    }
}

pub(super) async fn write(b: &KvV2, req: &Request, path: &str) -> Result<Option<Response>> {
    reject_dir_write(path)?;
    let s = settings(&req.data)?;
    let custom = match &s.custom_metadata {
        None => None,
        Some(None) => Some(BTreeMap::new()),
        Some(Some(m)) => {
            let m = m.iter().map(|(k, v)| Ok((k.clone(), custom_value(v)?))).collect::<Result<BTreeMap<_, _>>>()?;
            validate_custom_metadata(&m)?;
            Some(m)
        }
    };
    let _guard = b.locks.lock(path).await;
    let cfg = b.store.config().await?;
    let now = b.now();
    let existing = b.store.record(path).await?;
    check_metadata_cas(cfg.metadata_cas_required, existing.as_ref(), s.metadata_cas)?;
    let mut rec = match existing {
        Some(mut rec) => {
            rec.updated = now;
            rec.metadata_version += 1;
            rec
        }
        None => KeyRecord { metadata_version: 1, ..KeyRecord::new(now) },
    };
    apply(&mut rec, &s);
    if let Some(m) = custom {
        rec.custom_metadata = m;
    }
    b.store.save_record(path, &rec).await?;
    Ok(None)
}

pub(super) async fn patch(b: &KvV2, req: &Request, path: &str) -> Result<Option<Response>> {
    reject_dir_write(path)?;
    let s = settings(&req.data)?;
    let _guard = b.locks.lock(path).await;
    let cfg = b.store.config().await?;
    let Some(mut rec) = b.store.record(path).await? else {
        return Err(Error::NotFound);
    };
    check_metadata_cas(cfg.metadata_cas_required, Some(&rec), s.metadata_cas)?;
    apply(&mut rec, &s);
    match &s.custom_metadata {
        None => {}
        Some(None) => rec.custom_metadata.clear(),
        Some(Some(patch)) => {
            let mut merged = rec.custom_metadata.clone();
            for (k, v) in patch {
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), custom_value(v)?);
                }
            }
            validate_custom_metadata(&merged)?;
            rec.custom_metadata = merged;
        }
    }
    rec.updated = b.now();
    rec.metadata_version += 1;
    b.store.save_record(path, &rec).await?;
    Ok(None)
}

/// Removes the record and the data of every version, in one batch.
pub(super) async fn delete(b: &KvV2, path: &str) -> Result<Option<Response>> {
    if path.is_empty() || path.ends_with('/') {
        return Ok(None);
    }
    let _guard = b.locks.lock(path).await;
    let Some(rec) = b.store.record(path).await? else {
        return Ok(None);
    };
    let mut ops: Vec<ViewOp> = rec
        .versions
        .iter()
        .filter(|(_, vm)| !vm.destroyed)
        .map(|(n, _)| ViewOp::Delete(version_key(path, *n)))
        .collect();
    ops.push(ViewOp::Delete(meta_key(path)));
    b.store.view.write(ops).await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Harness;
    use super::*;
    use coffer_core::Operation::*;

    #[tokio::test]
    async fn read_fields() {
        let h = Harness::v2().await;
        h.ok(Update, "data/k", json!({"data": {"a": "1"}})).await;
        h.ok(Update, "data/k", json!({"data": {"a": "2"}})).await;
        let md = h.data(Read, "metadata/k", json!({})).await;
        assert_eq!(md["current_version"], 2);
        assert_eq!(md["cas_required"], false);
        assert_eq!(md["delete_version_after"], "0s");
        assert_eq!(md["max_versions"], 0);
        assert_eq!(md["oldest_version"], 0);
        assert_eq!(md["current_metadata_version"], 0);
        assert_eq!(md["metadata_cas_required"], false);
        assert_eq!(md["custom_metadata"], Value::Null);
        let versions = md["versions"].as_object().unwrap();
        assert_eq!(versions.keys().collect::<Vec<_>>(), ["1", "2"]);
        for v in versions.values() {
            assert_eq!(v["deletion_time"], "");
            assert_eq!(v["destroyed"], false);
        }
        assert_eq!(md["created_time"], md["versions"]["1"]["created_time"]);
        assert_eq!(md["updated_time"], md["versions"]["2"]["created_time"]);
        assert!(h.ok(Read, "metadata/none", json!({})).await.is_none());
        assert!(h.ok(Read, "metadata/", json!({})).await.is_none());
    }

    #[tokio::test]
    async fn list_children_and_pagination() {
        let h = Harness::v2().await;
        for p in ["dir/a", "dir/b", "dir/sub/c", "top"] {
            h.ok(Update, &format!("data/{p}"), json!({"data": {"x": "1"}})).await;
        }
        h.ok(Update, "metadata/dir/pre", json!({"max_versions": 1})).await;
        assert_eq!(h.keys("metadata/", json!({})).await, ["dir/", "top"]);
        assert_eq!(h.keys("metadata/dir", json!({})).await, ["a", "b", "pre", "sub/"]);
        assert_eq!(h.keys("metadata/dir/", json!({"after": "a", "limit": 2})).await, ["b", "pre"]);
        assert!(h.keys("metadata/nothing", json!({})).await.is_empty());
        assert!(h.keys("metadata/top", json!({})).await.is_empty(), "a key is not a folder");
    }

    #[tokio::test]
    async fn write_precreates_and_custom_metadata_shows_on_reads() {
        let h = Harness::v2().await;
        assert_eq!(h.effective_op(Update, "metadata/p").await, Create);
        assert!(h.ok(Update, "metadata/p", json!({"custom_metadata": {"owner": "team-a", "n": 3}})).await.is_none());
        let md = h.data(Read, "metadata/p", json!({})).await;
        assert_eq!(md["custom_metadata"], json!({"n": "3", "owner": "team-a"}));
        assert_eq!((md["current_version"].as_u64(), md["versions"].clone()), (Some(0), json!({})));
        assert_eq!(md["current_metadata_version"], 1);
        // no version yet: data read is a plain 404
        assert!(h.ok(Read, "data/p", json!({})).await.is_none());
        let w = h.data(Update, "data/p", json!({"data": {"a": "1"}})).await;
        assert_eq!(w["custom_metadata"]["owner"], "team-a");
        let r = h.data(Read, "data/p", json!({})).await;
        assert_eq!(r["metadata"]["custom_metadata"]["owner"], "team-a");
        // other settings are kept by a write that does not name them; custom_metadata is replaced
        h.ok(Update, "metadata/p", json!({"max_versions": 4, "cas_required": true})).await;
        h.ok(Update, "metadata/p", json!({"custom_metadata": {"z": "1"}})).await;
        let md = h.data(Read, "metadata/p", json!({})).await;
        assert_eq!((md["max_versions"].as_u64(), md["cas_required"].as_bool()), (Some(4), Some(true)));
        assert_eq!(md["custom_metadata"], json!({"z": "1"}));
        assert_eq!(md["current_metadata_version"], 3, "data writes do not count");
        assert_ne!(md["updated_time"], md["created_time"]);
        // {} and null clear it
        h.ok(Update, "metadata/p", json!({"custom_metadata": {}})).await;
        assert_eq!(h.data(Read, "metadata/p", json!({})).await["custom_metadata"], Value::Null);
        h.ok(Update, "metadata/p", json!({"custom_metadata": {"a": "b"}})).await;
        h.ok(Update, "metadata/p", json!({"custom_metadata": null})).await;
        assert_eq!(h.data(Read, "metadata/p", json!({})).await["custom_metadata"], Value::Null);
        assert_eq!(h.data(Read, "metadata/p", json!({})).await["current_version"], 1);
    }

    #[tokio::test]
    async fn custom_metadata_limits() {
        let h = Harness::v2().await;
        let many: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(
            h.bad_request(Update, "metadata/m", json!({"custom_metadata": many})).await,
            "1 error occurred:\n\t* custom_metadata validation failed: payload must contain at most 64 keys, provided 65\n\n"
        );
        let ok: Map<String, Value> = (0..64).map(|i| (format!("k{i}"), json!("v"))).collect();
        h.ok(Update, "metadata/m", json!({"custom_metadata": ok})).await;

        let long_key = "k".repeat(129);
        let secretish = "S3CRET".repeat(100);
        let e = h
            .bad_request(Update, "metadata/m", json!({"custom_metadata": {long_key.clone(): "v", "x": secretish, "": "e"}}))
            .await;
        assert!(e.starts_with("3 errors occurred:\n"), "{e}");
        assert!(e.contains("length of key \"\" is 0 but must be 0 < len(key) <= 128"), "{e}");
        assert!(e.contains(&format!("length of key \"{long_key}\" is 129")), "{e}");
        assert!(e.contains("length of value for key \"x\" is 600 but must be 0 < len(value) <= 512"), "{e}");
        assert!(!e.contains("S3CRET"), "values are never echoed");
        let e = h.bad_request(Update, "metadata/m", json!({"custom_metadata": {"e": ""}})).await;
        assert!(e.contains("length of value for key \"e\" is 0"), "{e}");
        assert_eq!(
            h.bad_request(Update, "metadata/m", json!({"custom_metadata": {"a": {"x": 1}}})).await,
            "custom_metadata: expected a map of strings"
        );
        assert_eq!(
            h.bad_request(Update, "metadata/m", json!({"custom_metadata": "x"})).await,
            "custom_metadata: expected a map of strings"
        );
        assert_eq!(h.bad_request(Update, "metadata/m", json!({"max_versions": -1})).await, "max_versions: cannot be negative");
        assert!(h.bad_request(Update, "metadata/m", json!({"delete_version_after": "-1h"})).await.starts_with("delete_version_after:"));
        assert!(h.bad_request(Update, "metadata/m", json!({"delete_version_after": "abc"})).await.starts_with("delete_version_after:"));
        assert!(h.bad_request(Update, "metadata/m", json!({"cas_required": "abc"})).await.starts_with("cas_required:"));
        // nothing of the rejected writes stuck
        assert_eq!(h.data(Read, "metadata/m", json!({})).await["custom_metadata"].as_object().unwrap().len(), 64);
    }

    #[tokio::test]
    async fn patch_merges() {
        let h = Harness::v2().await;
        h.ok(Update, "data/p", json!({"data": {"a": "1"}})).await;
        h.ok(Update, "metadata/p", json!({"max_versions": 5, "custom_metadata": {"a": "1", "b": "2"}})).await;
        assert!(h.ok(Patch, "metadata/p", json!({"custom_metadata": {"b": null, "c": "3"}})).await.is_none());
        let md = h.data(Read, "metadata/p", json!({})).await;
        assert_eq!(md["custom_metadata"], json!({"a": "1", "c": "3"}));
        assert_eq!(md["max_versions"], 5);
        h.ok(Patch, "metadata/p", json!({"delete_version_after": "1h", "cas_required": true})).await;
        let md = h.data(Read, "metadata/p", json!({})).await;
        assert_eq!((md["delete_version_after"].as_str(), md["cas_required"].as_bool()), (Some("1h0m0s"), Some(true)));
        assert_eq!(md["custom_metadata"], json!({"a": "1", "c": "3"}));
        assert!(h.bad_request(Patch, "metadata/p", json!({"custom_metadata": {"a": ""}})).await.contains("length of value"));
        h.ok(Patch, "metadata/p", json!({"custom_metadata": null})).await;
        assert_eq!(h.data(Read, "metadata/p", json!({})).await["custom_metadata"], Value::Null);
        assert!(matches!(h.call(Patch, "metadata/none", json!({"max_versions": 1})).await, Err(Error::NotFound)));
    }

    #[tokio::test]
    async fn metadata_check_and_set() {
        let h = Harness::v2().await;
        h.ok(Update, "metadata/c", json!({"metadata_cas_required": true})).await;
        let mismatch = "metadata check-and-set parameter does not match the current version";
        let required = "metadata check-and-set parameter required for this call";
        assert_eq!(h.bad_request(Update, "metadata/c", json!({"max_versions": 3})).await, required);
        assert_eq!(h.bad_request(Update, "metadata/c", json!({"max_versions": 3, "metadata_cas": 0})).await, mismatch);
        h.ok(Update, "metadata/c", json!({"max_versions": 3, "metadata_cas": 1})).await;
        assert_eq!(h.bad_request(Patch, "metadata/c", json!({"max_versions": 4})).await, required);
        h.ok(Patch, "metadata/c", json!({"max_versions": 4, "metadata_cas": 2})).await;
        assert_eq!(h.data(Read, "metadata/c", json!({})).await["current_metadata_version"], 3);
        // mount-wide requirement
        h.ok(Update, "config", json!({"metadata_cas_required": true})).await;
        assert_eq!(h.bad_request(Update, "metadata/other", json!({})).await, required);
        h.ok(Update, "metadata/other", json!({"metadata_cas": 0})).await;
    }

    #[tokio::test]
    async fn delete_removes_everything() {
        let h = Harness::v2().await;
        h.ok(Update, "data/md/gone", json!({"data": {"a": "1"}})).await;
        h.ok(Update, "data/md/gone", json!({"data": {"a": "2"}})).await;
        h.ok(Update, "data/md/stay", json!({"data": {"a": "1"}})).await;
        assert!(h.ok(Delete, "metadata/md/gone", json!({})).await.is_none());
        assert!(h.ok(Read, "data/md/gone", json!({})).await.is_none());
        assert!(h.ok(Read, "metadata/md/gone", json!({})).await.is_none());
        assert_eq!(h.keys("metadata/md", json!({})).await, ["stay"]);
        let left = h.storage.keys_recursive("v2/").await.unwrap();
        assert!(left.iter().all(|k| !k.contains("gone")), "{left:?}");
        assert!(h.ok(Delete, "metadata/md/none", json!({})).await.is_none());
        // a new write starts again at version 1
        assert_eq!(h.data(Update, "data/md/gone", json!({"data": {}})).await["version"], 1);
    }

    #[tokio::test]
    async fn max_versions_trims_oldest() {
        let h = Harness::v2().await;
        h.ok(Update, "data/t", json!({"data": {"i": 1}})).await;
        h.ok(Update, "metadata/t", json!({"max_versions": 2})).await;
        assert_eq!(h.data(Read, "metadata/t", json!({})).await["oldest_version"], 0);
        h.ok(Update, "data/t", json!({"data": {"i": 2}})).await;
        let md = h.data(Read, "metadata/t", json!({})).await;
        assert_eq!(md["oldest_version"], 1, "set once the key is full, before trimming");
        assert_eq!(md["versions"].as_object().unwrap().len(), 2);
        for i in 3..=4 {
            h.ok(Update, "data/t", json!({"data": {"i": i}})).await;
        }
        let md = h.data(Read, "metadata/t", json!({})).await;
        assert_eq!(md["current_version"], 4);
        assert_eq!(md["oldest_version"], 3);
        assert_eq!(md["versions"].as_object().unwrap().keys().collect::<Vec<_>>(), ["3", "4"]);
        assert!(h.ok(Read, "data/t", json!({"version": 1})).await.is_none());
        assert!(h.ok(Read, "data/t", json!({"version": 2})).await.is_none());
        assert_eq!(h.data(Read, "data/t", json!({"version": 3})).await["data"], json!({"i": 3}));
        for v in [1, 2] {
            assert!(h.storage.get(&version_key("t", v)).await.unwrap().is_none(), "version {v} data deleted");
        }
        // undelete/destroy of trimmed versions are no-ops
        h.ok(Update, "undelete/t", json!({"versions": [1]})).await;
        assert!(h.ok(Read, "data/t", json!({"version": 1})).await.is_none());
    }

    #[tokio::test]
    async fn max_versions_defaults_and_overrides() {
        let h = Harness::v2().await;
        // default 10
        for _ in 0..12 {
            h.ok(Update, "data/d", json!({"data": {}})).await;
        }
        let md = h.data(Read, "metadata/d", json!({})).await;
        assert_eq!((md["oldest_version"].as_u64(), md["versions"].as_object().unwrap().len()), (Some(3), 10));
        // a key may keep more than the default
        h.ok(Update, "metadata/big", json!({"max_versions": 15})).await;
        for _ in 0..12 {
            h.ok(Update, "data/big", json!({"data": {}})).await;
        }
        let md = h.data(Read, "metadata/big", json!({})).await;
        assert_eq!((md["oldest_version"].as_u64(), md["versions"].as_object().unwrap().len()), (Some(0), 12));
        // the mount's setting; lowering a key's limit trims on its next write only
        h.ok(Update, "config", json!({"max_versions": 2})).await;
        for _ in 0..3 {
            h.ok(Update, "data/m", json!({"data": {}})).await;
        }
        let md = h.data(Read, "metadata/m", json!({})).await;
        assert_eq!(md["versions"].as_object().unwrap().keys().collect::<Vec<_>>(), ["2", "3"]);
        h.ok(Update, "metadata/big", json!({"max_versions": 3})).await;
        assert_eq!(h.data(Read, "metadata/big", json!({})).await["versions"].as_object().unwrap().len(), 12);
        h.ok(Update, "data/big", json!({"data": {}})).await;
        let md = h.data(Read, "metadata/big", json!({})).await;
        assert_eq!(md["oldest_version"], 11);
        assert_eq!(md["versions"].as_object().unwrap().keys().collect::<Vec<_>>(), ["11", "12", "13"]);
    }
}
