//! kv v1: `GET/PUT/DELETE/LIST <mount>/<path>`, the request body is the secret.
//!
//! Reads carry a lease-duration hint, as Vault's passthrough backend does: the
//! `ttl` key of the data (else `lease`) parsed as a duration, else the mount's
//! default lease TTL. No lease is created (`lease_id` is empty).

use super::store::{V1_PREFIX, reject_dir_write, v1_key};
use coffer_config::duration::{self, DurationErrorKind};
use coffer_core::{Data, Error, LeaseInfo, MountInfo, Request, Response, Result};
use serde_json::Value;

pub(super) async fn read(mount: &MountInfo, req: &Request, path: &str) -> Result<Option<Response>> {
    let Some(data) = req.storage.get_json::<Data>(&v1_key(path)).await? else {
        return Ok(None);
    };
    let lease_duration = ttl_hint(&data).unwrap_or(mount.default_lease_ttl.as_secs());
    Ok(Some(Response {
        secret: Some(LeaseInfo { lease_id: String::new(), renewable: false, lease_duration }),
        ..Response::data(data)
    }))
}

/// The TTL hint stored in the data, in seconds. Vault falls back to the mount
/// default when the value does not parse; a negative value (which Vault
/// reports as a negative lease_duration) is reported as 0.
fn ttl_hint(data: &Data) -> Option<u64> {
    let raw = data.get("ttl").or_else(|| data.get("lease"))?;
    let parsed = match raw {
        Value::Number(n) if n.as_i64().is_some_and(|i| i < 0) => return Some(0),
        other => duration::from_json(other),
    };
    match parsed {
        Ok(d) => Some(d.as_secs()),
        Err(e) if e.kind() == DurationErrorKind::Negative => Some(0),
        Err(_) => None,
    }
}

pub(super) async fn write(req: &Request, path: &str) -> Result<Option<Response>> {
    reject_dir_write(path)?;
    if req.data.is_empty() {
        return Err(Error::invalid("missing data fields"));
    }
    req.storage.put_json(&v1_key(path), &req.data).await?;
    Ok(None)
}

pub(super) async fn delete(req: &Request, path: &str) -> Result<Option<Response>> {
    if path.is_empty() || path.ends_with('/') {
        return Ok(None);
    }
    req.storage.delete(&v1_key(path)).await?;
    Ok(None)
}

pub(super) async fn list(req: &Request, path: &str) -> Result<Option<Response>> {
    let prefix = if path.is_empty() || path.ends_with('/') { path.to_string() } else { format!("{path}/") };
    let keys = req.storage.list(&v1_key(&prefix)).await?;
    Ok(Some(Response::list(keys)))
}

pub(super) async fn exists(req: &Request, path: &str) -> Result<bool> {
    if path.is_empty() || path.ends_with('/') {
        return Ok(false);
    }
    Ok(req.storage.get(&v1_key(path)).await?.is_some())
}

/// Every v1 path stored in a view (for the v1 → v2 upgrade).
pub(super) fn v1_path(storage_key: &str) -> Option<&str> {
    storage_key.strip_prefix(V1_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Harness;
    use super::*;
    use coffer_core::Operation::*;
    use serde_json::json;

    #[tokio::test]
    async fn crud_list_and_ttl_hint() {
        let h = Harness::v1().await;
        assert!(h.ok(Update, "app/db", json!({"user": "u", "pw": "p"})).await.is_none());
        h.ok(Update, "app/api", json!({"k": "v"})).await;
        h.ok(Update, "top", json!({"k": "v"})).await;
        let r = h.ok(Read, "app/db", json!({})).await.unwrap();
        assert_eq!(Value::Object(r.data.clone().unwrap()), json!({"user": "u", "pw": "p"}));
        let lease = r.secret.unwrap();
        assert_eq!((lease.lease_id.as_str(), lease.renewable, lease.lease_duration), ("", false, 2_764_800));
        assert_eq!(h.keys("", json!({})).await, vec!["app/", "top"]);
        assert_eq!(h.keys("app", json!({})).await, vec!["api", "db"]);
        assert_eq!(h.keys("app/", json!({})).await, vec!["api", "db"]);
        assert!(h.ok(Delete, "app/db", json!({})).await.is_none());
        assert!(h.ok(Read, "app/db", json!({})).await.is_none());
        assert_eq!(h.keys("app/", json!({})).await, vec!["api"]);
        assert!(h.keys("nothing/", json!({})).await.is_empty());
        // deleting something missing is fine
        assert!(h.ok(Delete, "missing", json!({})).await.is_none());
    }

    #[tokio::test]
    async fn overwrite_replaces_and_create_vs_update() {
        let h = Harness::v1().await;
        assert_eq!(h.effective_op(Update, "p").await, Create);
        h.ok(Update, "p", json!({"a": "1", "b": "2"})).await;
        assert_eq!(h.effective_op(Update, "p").await, Update);
        h.ok(Update, "p", json!({"c": 3, "n": {"x": [1, null]}})).await;
        let r = h.ok(Read, "p", json!({})).await.unwrap();
        assert_eq!(Value::Object(r.data.unwrap()), json!({"c": 3, "n": {"x": [1, null]}}));
    }

    #[tokio::test]
    async fn write_errors() {
        let h = Harness::v1().await;
        assert_eq!(h.err(Update, "p", json!({})).await, "missing data fields");
        assert_eq!(h.err(Update, "dir/", json!({"a": 1})).await, "cannot write to a path ending in '/'");
        assert!(h.call(Patch, "p", json!({"a": 1})).await.is_err(), "PATCH is not a kv-v1 operation");
    }

    #[test]
    fn ttl_hints_like_vault() {
        let hint = |v: Value| ttl_hint(v.as_object().unwrap());
        assert_eq!(hint(json!({"ttl": "1h"})), Some(3600));
        assert_eq!(hint(json!({"ttl": "30"})), Some(30));
        assert_eq!(hint(json!({"ttl": 3600})), Some(3600));
        assert_eq!(hint(json!({"ttl": "0"})), Some(0));
        assert_eq!(hint(json!({"lease": "2h"})), Some(7200));
        assert_eq!(hint(json!({"ttl": "3h", "lease": "1h"})), Some(10800));
        assert_eq!(hint(json!({"ttl": "10000h"})), Some(36_000_000));
        assert_eq!(hint(json!({"ttl": "bad"})), None);
        assert_eq!(hint(json!({"ttl": "-5s"})), Some(0));
        assert_eq!(hint(json!({"ttl": -5})), Some(0));
        assert_eq!(hint(json!({"x": "1"})), None);
    }

    #[tokio::test]
    async fn read_uses_mount_default_ttl_and_data_ttl() {
        let h = Harness::v1_with_ttl(std::time::Duration::from_secs(3600)).await;
        h.ok(Update, "a", json!({"x": "1"})).await;
        h.ok(Update, "b", json!({"x": "1", "ttl": "30m"})).await;
        h.ok(Update, "c", json!({"x": "1", "ttl": "nonsense"})).await;
        let ttl = |r: Option<Response>| r.unwrap().secret.unwrap().lease_duration;
        assert_eq!(ttl(h.ok(Read, "a", json!({})).await), 3600);
        assert_eq!(ttl(h.ok(Read, "b", json!({})).await), 1800);
        assert_eq!(ttl(h.ok(Read, "c", json!({})).await), 3600);
    }
}
