//! `<mount>/config`: mount-wide max_versions, cas_required,
//! delete_version_after (and OpenBao's metadata_cas_required).
//! A write changes only the fields it names.

use super::KvV2;
use coffer_config::duration::format_go;
use coffer_core::fields::{get_bool, get_duration, get_int};
use coffer_core::{Data, Error, Request, Response, Result};
use serde_json::json;
use std::time::Duration;

pub(super) async fn read(b: &KvV2) -> Result<Option<Response>> {
    let cfg = b.store.config().await?;
    Ok(Some(Response::json(json!({
        "cas_required": cfg.cas_required,
        "delete_version_after": format_go(Duration::from_nanos(cfg.delete_version_after_ns)),
        "max_versions": cfg.max_versions,
        "metadata_cas_required": cfg.metadata_cas_required,
    }))))
}

/// `max_versions` as a u32. Vault stores a negative value as a huge unsigned
/// one; Coffer refuses it instead.
pub(super) fn max_versions_field(data: &Data) -> Result<Option<u32>> {
    match get_int(data, "max_versions")? {
        None => Ok(None),
        Some(n) if n < 0 => Err(Error::invalid("max_versions: cannot be negative")),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| Error::invalid("max_versions: too large")),
    }
}

pub(super) fn delete_after_field(data: &Data) -> Result<Option<u64>> {
    Ok(get_duration(data, "delete_version_after")?.map(|d| d.as_nanos() as u64))
}

pub(super) async fn write(b: &KvV2, req: &Request) -> Result<Option<Response>> {
    let max_versions = max_versions_field(&req.data)?;
    let cas_required = get_bool(&req.data, "cas_required")?;
    let delete_after = delete_after_field(&req.data)?;
    let metadata_cas_required = get_bool(&req.data, "metadata_cas_required")?;
    // One writer at a time so two partial updates cannot lose each other's fields.
    let _guard = b.locks.lock(super::store::CONFIG_KEY).await;
    let mut cfg = b.store.config().await?;
    if let Some(v) = max_versions {
        cfg.max_versions = v;
    }
    if let Some(v) = cas_required {
        cfg.cas_required = v;
    }
    if let Some(v) = delete_after {
        cfg.delete_version_after_ns = v;
    }
    if let Some(v) = metadata_cas_required {
        cfg.metadata_cas_required = v;
    }
    b.store.put_config(&cfg).await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Harness;
    use coffer_core::Operation::*;
    use serde_json::json;

    #[tokio::test]
    async fn defaults_partial_writes_and_errors() {
        let h = Harness::v2().await;
        assert_eq!(
            h.data(Read, "config", json!({})).await,
            json!({"cas_required": false, "delete_version_after": "0s", "max_versions": 0, "metadata_cas_required": false})
        );
        assert!(h.ok(Update, "config", json!({"max_versions": 2, "delete_version_after": "1h"})).await.is_none());
        h.ok(Update, "config", json!({"cas_required": "true"})).await;
        let cfg = h.data(Read, "config", json!({})).await;
        assert_eq!(cfg["max_versions"], 2);
        assert_eq!(cfg["delete_version_after"], "1h0m0s");
        assert_eq!(cfg["cas_required"], true);
        h.ok(Update, "config", json!({"delete_version_after": 0, "cas_required": false})).await;
        let cfg = h.data(Read, "config", json!({})).await;
        assert_eq!((cfg["delete_version_after"].as_str(), cfg["max_versions"].as_i64()), (Some("0s"), Some(2)));

        assert_eq!(h.bad_request(Update, "config", json!({"max_versions": -1})).await, "max_versions: cannot be negative");
        assert!(h.bad_request(Update, "config", json!({"max_versions": "x"})).await.starts_with("max_versions:"));
        assert!(h.bad_request(Update, "config", json!({"delete_version_after": "-1s"})).await.starts_with("delete_version_after:"));
        assert!(h.bad_request(Update, "config", json!({"cas_required": "maybe"})).await.starts_with("cas_required:"));
        // a rejected write changed nothing
        assert_eq!(h.data(Read, "config", json!({})).await["max_versions"], 2);
    }
}
