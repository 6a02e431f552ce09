//! Upgrading a mount from kv v1 to v2 (a mount tuned with `options.version`
//! 1 → 2 is rebuilt by the core as a v2 backend over the same storage).
//!
//! Every v1 key (`v1/<path>`) becomes version 1 of a v2 secret at the same
//! path. Each key is converted in one atomic batch that also deletes the v1
//! key, so an interrupted upgrade resumes where it stopped and a key is never
//! converted twice. The v2 backend runs this once, before serving its first
//! request; the request waits for it.

use super::store::{Inline, KeyRecord, Store, V1_PREFIX, VersionMeta};
use super::v1::v1_path;
use coffer_core::{Result, ViewOp};
use serde_json::Value;

pub(super) async fn upgrade_v1_keys(store: &Store, now: i64) -> Result<usize> {
    let keys = store.view.keys_recursive(V1_PREFIX).await?;
    let mut converted = 0;
    for key in keys {
        let Some(path) = v1_path(&key) else { continue };
        let Some(data) = store.view.get_json::<Value>(&key).await? else { continue };
        let mut ops = Vec::with_capacity(3);
        if store.record(path).await?.is_none() {
            let mut rec = KeyRecord::new(now);
            rec.current_version = 1;
            rec.versions.insert(1, VersionMeta { created: now, deletion: None, destroyed: false });
            ops.push(Store::put_version_op(path, 1, &data)?);
            rec.latest = Some(Inline { d: data });
            ops.push(Store::put_record_op(path, &rec)?);
            converted += 1;
        } else {
            // Only possible if v1 and v2 data were both written under this
            // mount; the v2 secret wins and the stale v1 copy is dropped.
            tracing::warn!(path, "kv upgrade: a v2 secret already exists; dropping the v1 copy");
        }
        ops.push(ViewOp::Delete(key));
        store.view.write(ops).await?;
    }
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Harness;
    use coffer_core::Operation::*;
    use serde_json::json;

    #[tokio::test]
    async fn v1_keys_become_version_1() {
        let h1 = Harness::v1().await;
        h1.ok(Update, "app/db", json!({"user": "u", "pw": "p"})).await;
        h1.ok(Update, "app/nested/x", json!({"n": {"deep": [1, 2]}})).await;
        h1.ok(Update, "top", json!({"k": "v"})).await;

        // the same storage, now served by a v2 backend (mount tuned to version 2)
        let h2 = Harness::v2_on(h1.storage.clone());
        let r = h2.data(Read, "data/app/db", json!({})).await;
        assert_eq!(r["data"], json!({"user": "u", "pw": "p"}));
        assert_eq!(r["metadata"]["version"], 1);
        assert_eq!(h2.data(Read, "data/app/nested/x", json!({})).await["data"], json!({"n": {"deep": [1, 2]}}));
        assert_eq!(h2.keys("metadata/", json!({})).await, ["app/", "top"]);
        assert_eq!(h2.keys("metadata/app", json!({})).await, ["db", "nested/"]);
        let md = h2.data(Read, "metadata/top", json!({})).await;
        assert_eq!((md["current_version"].as_u64(), md["versions"].as_object().unwrap().len()), (Some(1), 1));
        // no v1 keys left, and the secret keeps versioning from 1
        assert!(h2.storage.keys_recursive("v1/").await.unwrap().is_empty());
        assert_eq!(h2.data(Update, "data/top", json!({"data": {"k": "v2"}, "options": {"cas": 1}})).await["version"], 2);

        // a second backend over the same storage (e.g. after a restart) finds nothing to do
        let h3 = Harness::v2_on(h1.storage.clone());
        assert_eq!(h3.data(Read, "data/top", json!({})).await["metadata"]["version"], 2);
        assert_eq!(h3.data(Read, "data/top", json!({"version": 1})).await["data"], json!({"k": "v"}));
    }

    #[tokio::test]
    async fn existence_check_runs_the_upgrade_first() {
        let h1 = Harness::v1().await;
        h1.ok(Update, "k", json!({"a": "1"})).await;
        let h2 = Harness::v2_on(h1.storage.clone());
        assert_eq!(h2.effective_op(Update, "data/k").await, Update);
    }
}
