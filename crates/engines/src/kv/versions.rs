//! `<mount>/delete/<path>`, `undelete/<path>`, `destroy/<path>` with
//! `{"versions": [..]}`. Versions that do not exist (or were trimmed) are
//! ignored, as in Vault; so is a missing key.

use super::KvV2;
use super::store::{Store, reject_dir_write, version_key};
use coffer_core::fields::get_str_list;
use coffer_core::{Error, Request, Response, Result, ViewOp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    Delete,
    Undelete,
    Destroy,
}

fn versions_field(req: &Request, action: Action) -> Result<Vec<u64>> {
    let list = get_str_list(&req.data, "versions")
        .map_err(|_| Error::invalid("versions: expected a list of version numbers"))?
        .unwrap_or_default();
    if list.is_empty() {
        // Vault's wording differs by endpoint; clients match on it loosely, keep it exact.
        return Err(Error::invalid(match action {
            Action::Destroy => "no version number provided",
            _ => "No version number provided",
        }));
    }
    list.iter()
        .map(|s| s.parse::<u64>().map_err(|_| Error::invalid("versions: expected a list of version numbers")))
        .collect()
}

pub(super) async fn apply(b: &KvV2, req: &Request, path: &str, action: Action) -> Result<Option<Response>> {
    reject_dir_write(path)?;
    let versions = versions_field(req, action)?;
    let _guard = b.locks.lock(path).await;
    let now = b.now();
    let Some(mut rec) = b.store.record(path).await? else {
        return Ok(None);
    };
    let mut ops = Vec::new();
    let mut changed = false;
    for v in versions {
        let Some(vm) = rec.versions.get_mut(&v) else { continue };
        match action {
            // Already deleted (or destroyed) versions keep their deletion time.
            Action::Delete if !vm.is_gone(now) => {
                vm.deletion = Some(now);
                changed = true;
            }
            // Also cancels a pending delete_version_after deletion.
            Action::Undelete if !vm.destroyed && vm.deletion.is_some() => {
                vm.deletion = None;
                changed = true;
            }
            Action::Destroy if !vm.destroyed => {
                vm.destroyed = true;
                ops.push(ViewOp::Delete(version_key(path, v)));
                if v == rec.current_version {
                    rec.latest = None;
                }
                changed = true;
            }
            _ => {}
        }
    }
    if changed {
        ops.push(Store::put_record_op(path, &rec)?);
        b.store.view.write(ops).await?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::store::version_key;
    use super::super::testutil::Harness;
    use coffer_core::Operation::*;
    use serde_json::{Value, json};

    async fn status(h: &Harness, version: u64) -> Option<u16> {
        match h.ok(Read, "data/k", json!({"version": version})).await {
            None => Some(0),
            Some(r) => r.status.or(Some(200)),
        }
    }

    #[tokio::test]
    async fn delete_undelete_specific_versions() {
        let h = Harness::v2().await;
        for i in 0..3 {
            h.ok(Update, "data/k", json!({"data": {"i": i}})).await;
        }
        assert!(h.ok(Update, "delete/k", json!({"versions": [1, 2, 99]})).await.is_none());
        assert_eq!(status(&h, 1).await, Some(404));
        assert_eq!(status(&h, 2).await, Some(404));
        assert_eq!(status(&h, 3).await, Some(200));
        h.ok(Update, "undelete/k", json!({"versions": "1"})).await;
        let r = h.data(Read, "data/k", json!({"version": 1})).await;
        assert_eq!(r["data"], json!({"i": 0}));
        assert_eq!(r["metadata"]["deletion_time"], "");
        assert_eq!(status(&h, 2).await, Some(404));
        // missing keys are fine
        assert!(h.ok(Update, "delete/none", json!({"versions": [1]})).await.is_none());
        assert!(h.ok(Update, "undelete/none", json!({"versions": [1]})).await.is_none());
        assert!(h.ok(Update, "destroy/none", json!({"versions": [1]})).await.is_none());
    }

    #[tokio::test]
    async fn destroy_is_permanent() {
        let h = Harness::v2().await;
        h.ok(Update, "data/k", json!({"data": {"a": "1"}})).await;
        h.ok(Update, "data/k", json!({"data": {"a": "2"}})).await;
        h.ok(Update, "destroy/k", json!({"versions": [1]})).await;
        h.ok(Update, "undelete/k", json!({"versions": [1]})).await;
        let r = h.ok(Read, "data/k", json!({"version": 1})).await.unwrap();
        assert_eq!(r.status, Some(404));
        let body = Value::Object(r.data.unwrap());
        assert_eq!(body["data"], Value::Null);
        assert_eq!(body["metadata"]["destroyed"], true);
        assert!(h.storage.get(&version_key("k", 1)).await.unwrap().is_none(), "data removed from storage");
        let md = h.data(Read, "metadata/k", json!({})).await;
        assert_eq!(md["versions"]["1"]["destroyed"], true);
        assert_eq!(md["versions"]["2"]["destroyed"], false);

        // destroying the current version drops the inline copy too
        h.ok(Update, "destroy/k", json!({"versions": [2]})).await;
        let r = h.ok(Read, "data/k", json!({})).await.unwrap();
        assert_eq!((r.status, r.data.unwrap()["data"].clone()), (Some(404), Value::Null));
        let rec = h.storage.get(&super::super::store::meta_key("k")).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&rec).contains("\"2\"}"), "no copy of the data left");
        assert!(!String::from_utf8_lossy(&rec).contains("latest"));
        // delete on a destroyed version changes nothing
        h.ok(Update, "delete/k", json!({"versions": [2]})).await;
        assert_eq!(h.data(Read, "metadata/k", json!({})).await["versions"]["2"]["deletion_time"], "");
    }

    #[tokio::test]
    async fn version_list_errors() {
        let h = Harness::v2().await;
        assert_eq!(h.bad_request(Update, "delete/k", json!({})).await, "No version number provided");
        assert_eq!(h.bad_request(Update, "undelete/k", json!({"versions": []})).await, "No version number provided");
        assert_eq!(h.bad_request(Update, "destroy/k", json!({})).await, "no version number provided");
        assert_eq!(
            h.bad_request(Update, "delete/k", json!({"versions": ["x"]})).await,
            "versions: expected a list of version numbers"
        );
        assert_eq!(
            h.bad_request(Update, "destroy/k", json!({"versions": [{"a": 1}]})).await,
            "versions: expected a list of version numbers"
        );
        // GET is not an operation of delete/ (405 from the core)
        assert!(h.call(Read, "delete/k", json!({})).await.is_err());
    }
}
