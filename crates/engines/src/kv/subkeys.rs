//! `<mount>/subkeys/<path>?version=&depth=`: the shape of a version's data with
//! every leaf (and every empty object) replaced by null, so a caller can see
//! which keys exist without read access to the values.

use super::KvV2;
use super::data::{Version, deleted_read, read_version};
use coffer_core::fields::get_int;
use coffer_core::{Request, Response, Result};
use serde_json::{Map, Value, json};

pub(super) async fn read(b: &KvV2, req: &Request, path: &str) -> Result<Option<Response>> {
    let version = get_int(&req.data, "version")?.unwrap_or(0);
    let depth = get_int(&req.data, "depth")?.unwrap_or(0);
    let (metadata, data) = match read_version(b, path, version).await? {
        None => return Ok(None),
        Some(Version::Gone { metadata }) => {
            return Ok(Some(deleted_read(json!({"metadata": metadata, "subkeys": null}))));
        }
        Some(Version::Live { metadata, data }) => (metadata, data),
    };
    let subkeys = match &data {
        Value::Object(m) => Value::Object(shape(m, depth, 1)),
        _ => Value::Null,
    };
    Ok(Some(Response::json(json!({"metadata": metadata, "subkeys": subkeys}))))
}

/// `depth` 0 means unlimited; a negative depth behaves like 1, as in Vault.
fn shape(m: &Map<String, Value>, depth: i64, level: i64) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| {
            let child = match v {
                Value::Object(inner) if !inner.is_empty() && (depth == 0 || level < depth) => {
                    Value::Object(shape(inner, depth, level + 1))
                }
                _ => Value::Null,
            };
            (k.clone(), child)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Harness;
    use coffer_core::Operation::*;
    use serde_json::{Value, json};

    #[tokio::test]
    async fn shapes_and_depth() {
        let h = Harness::v2().await;
        let data = json!({"a": 1, "e": {}, "l": [{"x": 1}], "n": {"x": {"y": {"z": 1}}, "k": "v"}});
        h.ok(Update, "data/s", json!({"data": data})).await;
        let all = json!({"a": null, "e": null, "l": null, "n": {"k": null, "x": {"y": {"z": null}}}});
        let r = h.data(Read, "subkeys/s", json!({})).await;
        assert_eq!(r["subkeys"], all);
        assert_eq!(r["metadata"]["version"], 1);
        assert_eq!(h.data(Read, "subkeys/s", json!({"depth": 0})).await["subkeys"], all);
        let top = json!({"a": null, "e": null, "l": null, "n": null});
        assert_eq!(h.data(Read, "subkeys/s", json!({"depth": 1})).await["subkeys"], top);
        assert_eq!(h.data(Read, "subkeys/s", json!({"depth": -3})).await["subkeys"], top);
        assert_eq!(
            h.data(Read, "subkeys/s", json!({"depth": "2"})).await["subkeys"],
            json!({"a": null, "e": null, "l": null, "n": {"k": null, "x": null}})
        );
        assert!(h.bad_request(Read, "subkeys/s", json!({"depth": "x"})).await.starts_with("depth:"));
    }

    #[tokio::test]
    async fn versions_missing_and_deleted() {
        let h = Harness::v2().await;
        h.ok(Update, "data/s", json!({"data": {"a": {"b": 1}}})).await;
        h.ok(Update, "data/s", json!({"data": {"c": 1}})).await;
        assert_eq!(h.data(Read, "subkeys/s", json!({"version": 1})).await["subkeys"], json!({"a": {"b": null}}));
        assert!(h.ok(Read, "subkeys/s", json!({"version": 5})).await.is_none());
        assert!(h.ok(Read, "subkeys/none", json!({})).await.is_none());
        assert!(h.ok(Read, "subkeys/", json!({})).await.is_none());
        h.ok(Delete, "data/s", json!({})).await;
        let r = h.ok(Read, "subkeys/s", json!({})).await.unwrap();
        assert_eq!(r.status, Some(404));
        let body = Value::Object(r.data.unwrap());
        assert_eq!(body["subkeys"], Value::Null);
        assert_ne!(body["metadata"]["deletion_time"], "");
        // null data has null subkeys
        h.ok(Update, "data/n", json!({"data": null})).await;
        assert_eq!(h.data(Read, "subkeys/n", json!({})).await["subkeys"], Value::Null);
    }
}
