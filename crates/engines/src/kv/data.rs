//! `<mount>/data/<path>`: read a version, write a new one (check-and-set),
//! merge-patch the latest into a new one, soft-delete the latest.

use super::KvV2;
use super::store::{KeyRecord, MountConfig, Store, VersionMeta, object, reject_dir_write, version_key};
use coffer_core::fields::get_int;
use coffer_core::{Error, Request, Response, Result, ViewOp};
use serde_json::{Map, Value, json};

pub(super) async fn read(b: &KvV2, req: &Request, path: &str) -> Result<Option<Response>> {
    let version = get_int(&req.data, "version")?.unwrap_or(0);
    Ok(match read_version(b, path, version).await? {
        None => None,
        Some(Version::Gone { metadata }) => Some(deleted_read(json!({"data": null, "metadata": metadata}))),
        Some(Version::Live { metadata, data }) => Some(Response::json(json!({"data": data, "metadata": metadata}))),
    })
}

/// A version asked for by `?version=` (0 = current), as the data and subkeys
/// reads see it; `None` when the key or that version does not exist.
pub(super) enum Version {
    /// Soft-deleted or destroyed: only its metadata is shown.
    Gone { metadata: Value },
    Live { metadata: Value, data: Value },
}

pub(super) async fn read_version(b: &KvV2, path: &str, version: i64) -> Result<Option<Version>> {
    let Some(rec) = b.store.record(path).await? else {
        return Ok(None);
    };
    let Some((n, vm)) = rec.resolve(version) else {
        return Ok(None);
    };
    let metadata = rec.version_json(n, vm);
    if vm.is_gone(b.now()) {
        return Ok(Some(Version::Gone { metadata }));
    }
    let data = b.store.data_of(path, &rec, n).await?;
    Ok(Some(Version::Live { metadata, data }))
}

/// Vault's answer for a soft-deleted or destroyed version: 404 with the full
/// envelope (clients print the metadata), not an `{"errors"}` body.
pub(super) fn deleted_read(body: Value) -> Response {
    Response { status: Some(404), ..Response::data(object(body)) }
}

/// The `data` field of a write or patch: an object, or JSON null (Vault
/// accepts and stores it); absent is `no data provided`.
fn data_field(req: &Request) -> Result<Value> {
    match req.data.get("data") {
        None => Err(Error::invalid("no data provided")),
        Some(v @ (Value::Object(_) | Value::Null)) => Ok(v.clone()),
        Some(_) => Err(Error::invalid("data: expected a JSON object")),
    }
}

/// `options.cas`, if given.
fn cas_option(req: &Request) -> Result<Option<i64>> {
    let options = match req.data.get("options") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(Error::invalid("options: expected a JSON object")),
    };
    if matches!(options.get("cas"), None | Some(Value::Null)) {
        return Ok(None);
    }
    get_int(options, "cas").map_err(|_| Error::invalid("error parsing check-and-set parameter"))
}

fn check_cas(cfg: &MountConfig, rec: &KeyRecord, cas: Option<i64>) -> Result<()> {
    match cas {
        Some(c) if c < 0 || c as u64 != rec.current_version => {
            Err(Error::invalid("check-and-set parameter did not match the current version"))
        }
        Some(_) => Ok(()),
        None if cfg.cas_required || rec.cas_required => {
            Err(Error::invalid("check-and-set parameter required for this call"))
        }
        None => Ok(()),
    }
}

pub(super) async fn write(b: &KvV2, req: &Request, path: &str) -> Result<Option<Response>> {
    reject_dir_write(path)?;
    let data = data_field(req)?;
    let cas = cas_option(req)?;
    let _guard = b.locks.lock(path).await;
    let cfg = b.store.config().await?;
    let now = b.now();
    let mut rec = b.store.record(path).await?.unwrap_or_else(|| KeyRecord::new(now));
    check_cas(&cfg, &rec, cas)?;
    // Tests widen the read-check-write window so that a missing lock shows up
    // as a lost update (see `concurrent_cas_zero_writers_exactly_one_wins`).
    #[cfg(test)]
    tokio::task::yield_now().await;
    commit_version(&b.store, path, &cfg, &mut rec, data, now).await
}

/// Appends `data` as the next version of `rec`, trims versions beyond
/// max_versions, and stores record and version in one atomic batch.
/// Caller holds the key's lock.
pub(super) async fn commit_version(
    store: &Store,
    path: &str,
    cfg: &MountConfig,
    rec: &mut KeyRecord,
    data: Value,
    now: i64,
) -> Result<Option<Response>> {
    let n = rec.current_version + 1;
    let delete_after = rec.effective_delete_after(cfg);
    let deletion = (delete_after > 0).then(|| now.saturating_add(i64::try_from(delete_after).unwrap_or(i64::MAX)));
    let vm = VersionMeta { created: now, deletion, destroyed: false };
    rec.versions.insert(n, vm.clone());
    rec.current_version = n;
    rec.updated = now;

    let mut ops: Vec<ViewOp> = Vec::new();
    let max = u64::from(rec.effective_max_versions(cfg));
    // Vault moves oldest_version as soon as the key holds max_versions
    // versions (3 versions with max 3 → oldest 1), before anything is trimmed.
    if max > 0 && n >= max {
        let oldest = n - max + 1;
        if oldest > rec.oldest_version {
            let trimmed: Vec<u64> = rec.versions.range(..oldest).map(|(v, _)| *v).collect();
            for v in trimmed {
                if let Some(old) = rec.versions.remove(&v)
                    && !old.destroyed
                {
                    ops.push(ViewOp::Delete(version_key(path, v)));
                }
            }
            rec.oldest_version = oldest;
        }
    }
    ops.push(Store::put_version_op(path, n, &data)?);
    rec.latest = Some(super::store::Inline { d: data });
    ops.push(Store::put_record_op(path, rec)?);
    store.view.write(ops).await?;
    Ok(Some(Response::json(rec.version_json(n, &vm))))
}

pub(super) async fn patch(b: &KvV2, req: &Request, path: &str) -> Result<Option<Response>> {
    reject_dir_write(path)?;
    let patch = data_field(req)?;
    let cas = cas_option(req)?;
    let _guard = b.locks.lock(path).await;
    let cfg = b.store.config().await?;
    let now = b.now();
    let Some(mut rec) = b.store.record(path).await? else {
        return Err(Error::NotFound);
    };
    let Some((n, vm)) = rec.resolve(0) else {
        return Err(Error::NotFound);
    };
    if vm.is_gone(now) {
        // Vault answers with the latest version's metadata and a 404.
        return Ok(Some(deleted_read(rec.version_json(n, vm))));
    }
    check_cas(&cfg, &rec, cas)?;
    let mut current = b.store.data_of(path, &rec, n).await?;
    merge_patch(&mut current, patch);
    commit_version(&b.store, path, &cfg, &mut rec, current, now).await
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` removes a
/// key, anything else replaces.
pub(super) fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in patch {
        if v.is_null() {
            t.remove(&k);
        } else {
            merge_patch(t.entry(k).or_insert(Value::Null), v);
        }
    }
}

pub(super) async fn delete_latest(b: &KvV2, path: &str) -> Result<Option<Response>> {
    let _guard = b.locks.lock(path).await;
    let now = b.now();
    let Some(mut rec) = b.store.record(path).await? else {
        return Ok(None);
    };
    let current = rec.current_version;
    match rec.versions.get_mut(&current) {
        Some(vm) if !vm.is_gone(now) => vm.deletion = Some(now),
        _ => return Ok(None),
    }
    b.store.save_record(path, &rec).await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Harness;
    use super::*;
    use coffer_core::Operation::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn write_then_read_versions() {
        let h = Harness::v2().await;
        assert_eq!(h.effective_op(Update, "data/app").await, Create);
        let w1 = h.data(Update, "data/app", json!({"data": {"v": "one"}})).await;
        assert_eq!(h.effective_op(Update, "data/app").await, Update);
        assert_eq!(w1["version"], 1);
        assert_eq!(w1["deletion_time"], "");
        assert_eq!(w1["destroyed"], false);
        assert_eq!(w1["custom_metadata"], Value::Null);
        assert!(w1["created_time"].as_str().unwrap().ends_with('Z'));
        let w2 = h.data(Update, "data/app", json!({"data": {"v": "two", "n": {"x": [1, 2.5, true, null]}}})).await;
        assert_eq!(w2["version"], 2);

        let latest = h.data(Read, "data/app", json!({})).await;
        assert_eq!(latest["data"], json!({"v": "two", "n": {"x": [1, 2.5, true, null]}}));
        assert_eq!(latest["metadata"], w2);
        let v1 = h.data(Read, "data/app", json!({"version": "1"})).await;
        assert_eq!(v1["data"], json!({"v": "one"}));
        assert_eq!(v1["metadata"], w1);
        // 0 and negative mean "current", as in Vault
        assert_eq!(h.data(Read, "data/app", json!({"version": 0})).await["metadata"]["version"], 2);
        assert_eq!(h.data(Read, "data/app", json!({"version": -1})).await["metadata"]["version"], 2);
        // unknown version / key / empty path: Ok(None) = 404 {"errors":[]}
        assert!(h.ok(Read, "data/app", json!({"version": 7})).await.is_none());
        assert!(h.ok(Read, "data/nope", json!({})).await.is_none());
        assert!(h.ok(Read, "data/", json!({})).await.is_none());
        assert!(h.bad_request(Read, "data/app", json!({"version": "abc"})).await.starts_with("version:"));
    }

    #[tokio::test]
    async fn write_errors_and_null_data() {
        let h = Harness::v2().await;
        assert_eq!(h.bad_request(Update, "data/a", json!({"options": {}})).await, "no data provided");
        assert_eq!(h.bad_request(Update, "data/a", json!({"data": "str"})).await, "data: expected a JSON object");
        assert_eq!(h.bad_request(Update, "data/a", json!({"data": {}, "options": "x"})).await, "options: expected a JSON object");
        assert_eq!(
            h.bad_request(Update, "data/a", json!({"data": {}, "options": {"cas": "x"}})).await,
            "error parsing check-and-set parameter"
        );
        assert_eq!(h.bad_request(Update, "data/dir/", json!({"data": {}})).await, "cannot write to a path ending in '/'");
        assert!(h.ok(Read, "data/a", json!({})).await.is_none(), "rejected writes store nothing");
        // Vault accepts {"data": null} and {"data": {}}
        h.ok(Update, "data/a", json!({"data": {}})).await;
        h.ok(Update, "data/a", json!({"data": null})).await;
        assert_eq!(h.data(Read, "data/a", json!({})).await["data"], Value::Null);
        assert_eq!(h.data(Read, "data/a", json!({"version": 1})).await["data"], json!({}));
        // data LIST is not an operation of data/ (the core answers 405)
        assert!(matches!(h.call(List, "data/", json!({})).await, Err(Error::UnsupportedOperation(_))));
    }

    #[tokio::test]
    async fn cas_rules() {
        let h = Harness::v2().await;
        h.ok(Update, "data/k", json!({"data": {"a": "1"}, "options": {"cas": 0}})).await;
        let mismatch = "check-and-set parameter did not match the current version";
        assert_eq!(h.bad_request(Update, "data/k", json!({"data": {"a": "x"}, "options": {"cas": 0}})).await, mismatch);
        assert_eq!(h.bad_request(Update, "data/k", json!({"data": {"a": "x"}, "options": {"cas": 5}})).await, mismatch);
        assert_eq!(h.bad_request(Update, "data/k", json!({"data": {"a": "x"}, "options": {"cas": -1}})).await, mismatch);
        assert_eq!(h.data(Update, "data/k", json!({"data": {"a": "2"}, "options": {"cas": 1}})).await["version"], 2);
        assert_eq!(h.data(Read, "data/k", json!({})).await["data"], json!({"a": "2"}));
        // cas: null is "not given"
        h.ok(Update, "data/k", json!({"data": {"a": "3"}, "options": {"cas": null}})).await;

        // required by the key's metadata
        h.ok(Update, "metadata/k", json!({"cas_required": true})).await;
        let required = "check-and-set parameter required for this call";
        assert_eq!(h.bad_request(Update, "data/k", json!({"data": {"a": "4"}})).await, required);
        assert_eq!(h.data(Update, "data/k", json!({"data": {"a": "4"}, "options": {"cas": 3}})).await["version"], 4);

        // required by the mount config, for new keys too
        h.ok(Update, "config", json!({"cas_required": true})).await;
        assert_eq!(h.bad_request(Update, "data/new", json!({"data": {"a": "1"}})).await, required);
        assert_eq!(h.data(Update, "data/new", json!({"data": {"a": "1"}, "options": {"cas": 0}})).await["version"], 1);

        // a soft-deleted key still has a current version
        h.ok(Delete, "data/new", json!({})).await;
        assert_eq!(h.bad_request(Update, "data/new", json!({"data": {}, "options": {"cas": 0}})).await, mismatch);
        h.ok(Update, "data/new", json!({"data": {}, "options": {"cas": 1}})).await;
    }

    #[tokio::test]
    async fn concurrent_cas_zero_writers_exactly_one_wins() {
        let h = Arc::new(Harness::v2().await);
        let mut tasks = Vec::new();
        for i in 0..16 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move {
                h.call(Update, "data/race", json!({"data": {"writer": i}, "options": {"cas": 0}})).await
            }));
        }
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => wins += 1,
                Err(Error::InvalidRequest(m)) => assert!(m.contains("did not match"), "{m}"),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(wins, 1);
        let md = h.data(Read, "metadata/race", json!({})).await;
        assert_eq!(md["current_version"], 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_lose_no_versions() {
        let h = Arc::new(Harness::v2().await);
        h.ok(Update, "metadata/busy", json!({"max_versions": 100})).await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move { h.ok(Update, "data/busy", json!({"data": {"i": i}})).await }));
        }
        let mut seen: Vec<i64> = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap().unwrap().data.unwrap()["version"].as_i64().unwrap());
        }
        seen.sort();
        assert_eq!(seen, (1..=40).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn soft_deleted_read_is_404_with_metadata() {
        let h = Harness::v2().await;
        h.ok(Update, "data/s", json!({"data": {"a": "1"}})).await;
        assert!(h.ok(Delete, "data/s", json!({})).await.is_none());
        let r = h.ok(Read, "data/s", json!({})).await.unwrap();
        assert_eq!(r.status, Some(404));
        let body = Value::Object(r.data.unwrap());
        assert_eq!(body["data"], Value::Null);
        assert_eq!(body["metadata"]["version"], 1);
        assert_eq!(body["metadata"]["destroyed"], false);
        let deleted_at = body["metadata"]["deletion_time"].as_str().unwrap().to_string();
        assert!(!deleted_at.is_empty());
        // deleting again keeps the first deletion time
        h.clock.advance(Duration::from_secs(5));
        h.ok(Delete, "data/s", json!({})).await;
        let r = h.ok(Read, "data/s", json!({})).await.unwrap();
        assert_eq!(r.data.unwrap()["metadata"]["deletion_time"], deleted_at);
        // deleting a missing key is a no-op
        assert!(h.ok(Delete, "data/missing", json!({})).await.is_none());
    }

    #[tokio::test]
    async fn patch_is_json_merge_patch() {
        let h = Harness::v2().await;
        h.ok(Update, "data/p", json!({"data": {"keep": "k", "drop": "d", "nest": {"a": "1", "b": "2"}, "l": [1]}})).await;
        let w = h
            .data(Patch, "data/p", json!({"data": {"drop": null, "new": "n", "nest": {"b": "3", "a": null}, "l": {"q": 1}, "absent": null}}))
            .await;
        assert_eq!(w["version"], 2);
        assert_eq!(
            h.data(Read, "data/p", json!({})).await["data"],
            json!({"keep": "k", "nest": {"b": "3"}, "l": {"q": 1}, "new": "n"})
        );
        // the old version is untouched
        assert_eq!(h.data(Read, "data/p", json!({"version": 1})).await["data"]["drop"], "d");
        assert_eq!(h.bad_request(Patch, "data/p", json!({})).await, "no data provided");
        assert_eq!(h.data(Patch, "data/p", json!({"data": {}})).await["version"], 3);
    }

    #[tokio::test]
    async fn patch_missing_deleted_and_cas() {
        let h = Harness::v2().await;
        assert!(matches!(h.call(Patch, "data/none", json!({"data": {"a": 1}})).await, Err(Error::NotFound)));
        h.ok(Update, "metadata/pre", json!({"max_versions": 3})).await;
        assert!(matches!(h.call(Patch, "data/pre", json!({"data": {"a": 1}})).await, Err(Error::NotFound)));

        h.ok(Update, "data/p", json!({"data": {"a": "1"}})).await;
        let mismatch = "check-and-set parameter did not match the current version";
        assert_eq!(h.bad_request(Patch, "data/p", json!({"data": {"a": "2"}, "options": {"cas": 9}})).await, mismatch);
        assert_eq!(h.data(Patch, "data/p", json!({"data": {"a": "2"}, "options": {"cas": 1}})).await["version"], 2);
        h.ok(Update, "config", json!({"cas_required": true})).await;
        assert_eq!(
            h.bad_request(Patch, "data/p", json!({"data": {"a": "3"}})).await,
            "check-and-set parameter required for this call"
        );
        h.ok(Update, "config", json!({"cas_required": false})).await;

        h.ok(Delete, "data/p", json!({})).await;
        let r = h.ok(Patch, "data/p", json!({"data": {"a": "3"}})).await.unwrap();
        assert_eq!(r.status, Some(404));
        let body = r.data.unwrap();
        assert_eq!(body["version"], 2);
        assert_ne!(body["deletion_time"], "");
        assert_eq!(h.data(Read, "metadata/p", json!({})).await["current_version"], 2, "nothing written");
    }

    #[test]
    fn merge_patch_rfc7386_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
            (Value::Null, json!({"a": 1}), json!({"a": 1})),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, patch.clone());
            assert_eq!(target, want, "patch {patch}");
        }
    }

    #[tokio::test]
    async fn delete_version_after_applies_and_expires() {
        let h = Harness::v2().await;
        h.ok(Update, "metadata/d", json!({"delete_version_after": "2s"})).await;
        let w = h.data(Update, "data/d", json!({"data": {"a": "1"}})).await;
        assert_ne!(w["deletion_time"], "");
        assert_eq!(h.data(Read, "data/d", json!({})).await["data"], json!({"a": "1"}));
        h.clock.advance(Duration::from_secs(3));
        let r = h.ok(Read, "data/d", json!({})).await.unwrap();
        assert_eq!(r.status, Some(404));
        assert_eq!(r.data.unwrap()["metadata"]["deletion_time"], w["deletion_time"]);

        // the mount's value caps the key's
        h.ok(Update, "config", json!({"delete_version_after": "1h"})).await;
        h.ok(Update, "metadata/e", json!({"delete_version_after": "2h"})).await;
        let w = h.data(Update, "data/e", json!({"data": {}})).await;
        let created = time::OffsetDateTime::parse(w["created_time"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        let deleted = time::OffsetDateTime::parse(w["deletion_time"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(deleted - created, time::Duration::hours(1));
        // ... and applies alone when the key has none
        let w = h.data(Update, "data/f", json!({"data": {}})).await;
        assert_ne!(w["deletion_time"], "");
    }
}
