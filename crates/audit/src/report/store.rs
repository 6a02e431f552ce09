//! `coffer audit report|verify -store s3://bucket/prefix`: the objects of an
//! object-store device's segments, read with the object_store crate. The
//! store is configured as the AWS SDKs are, from the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for an S3-compatible store; an `http://` endpoint is
//! allowed); an endpoint or region given on the command line wins. Segments are read in order of their counter
//! (`{HHMMSS}-{counter:010}.jsonl`), other objects in key order after them.

use futures_util::TryStreamExt;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;

/// Most bytes one segment may have to be read (a device's segments are far smaller).
pub const MAX_OBJECT: u64 = 1 << 30;

/// The segment counter in a key's file name, if it has one.
fn counter(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?.strip_suffix(".jsonl")?;
    let (_, n) = name.rsplit_once('-')?;
    n.parse().ok()
}

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("-store: expected s3://bucket/prefix, found {url:?}"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("-store: the URL names no bucket".into());
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// Where the store is, beyond what the environment says.
#[derive(Debug, Default, Clone, Copy)]
pub struct Location<'a> {
    pub endpoint: Option<&'a str>,
    pub region: Option<&'a str>,
}

/// Call `each` with every object's key and bytes under the URL's prefix, in
/// segment order, until it returns false. Errors name the bucket and key,
/// never a credential.
pub async fn read_objects(
    url: &str,
    at: Location<'_>,
    mut each: impl FnMut(&str, &[u8]) -> bool,
) -> Result<usize, String> {
    let (bucket, prefix) = parse_url(url)?;
    let mut b = AmazonS3Builder::from_env().with_bucket_name(&bucket);
    if let Some(r) = at.region {
        b = b.with_region(r);
    }
    let endpoint = at.endpoint.map(str::to_string).or_else(|| {
        std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok()
    });
    if let Some(e) = endpoint.filter(|e| !e.is_empty()) {
        b = b.with_allow_http(e.starts_with("http://")).with_endpoint(e);
    }
    let store = b.build().map_err(|e| format!("-store: {e}"))?;
    let list_prefix = (!prefix.is_empty()).then(|| Path::from(prefix.as_str()));
    let mut metas: Vec<_> = store
        .list(list_prefix.as_ref())
        .try_collect::<Vec<_>>()
        .await
        .map_err(|e| format!("-store: listing s3://{bucket}/{prefix}: {e}"))?;
    metas.sort_by(|a, b| {
        let (ka, kb) = (a.location.as_ref(), b.location.as_ref());
        (counter(ka).is_none(), counter(ka), ka).cmp(&(counter(kb).is_none(), counter(kb), kb))
    });
    let mut read = 0;
    for m in &metas {
        if m.size > MAX_OBJECT {
            return Err(format!(
                "-store: {} is larger than {MAX_OBJECT} bytes",
                m.location
            ));
        }
        let bytes = store
            .get(&m.location)
            .await
            .map_err(|e| format!("-store: reading {}: {e}", m.location))?
            .bytes()
            .await
            .map_err(|e| format!("-store: reading {}: {e}", m.location))?;
        read += 1;
        if !each(m.location.as_ref(), &bytes) {
            break;
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_counters() {
        assert_eq!(
            parse_url("s3://b/audit/dev/").unwrap(),
            ("b".into(), "audit/dev".into())
        );
        assert_eq!(parse_url("s3://b").unwrap(), ("b".into(), "".into()));
        assert!(parse_url("http://b/x").is_err());
        assert_eq!(counter("p/2026/12/07/101500-0000000042.jsonl"), Some(42));
        assert_eq!(counter("p/notes.txt"), None);
    }
}
