//! The device's two background tasks: the uploader (seals segments that
//! grew old, uploads sealed ones in counter order, backs off while the
//! store is unreachable) and the retention sweep.

use super::Inner;
use super::spool::Sealed;
use ::object_store::ObjectStore;
use ::object_store::ObjectStoreExt;
use ::object_store::path::Path;
use chrono::Utc;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Upload until the device closes and the spool is empty.
pub(super) async fn upload_loop(inner: Arc<Inner>) {
    let mut backoff = BACKOFF_START;
    // how often an idle current segment is checked for age
    let tick = inner
        .limits
        .segment_max_age
        .clamp(Duration::from_millis(20), Duration::from_secs(1));
    loop {
        let closing = inner.closing.load(Ordering::SeqCst);
        if let Err(e) = inner
            .spool_io(move |spool| {
                if closing {
                    spool.seal()
                } else {
                    spool.seal_if_old()
                }
            })
            .await
        {
            tracing::warn!(spool = %inner.label, error = %e, "audit spool: cannot seal the current segment");
        }
        match upload_all(&inner).await {
            Ok(()) => {
                backoff = BACKOFF_START;
                if closing {
                    return;
                }
                tokio::select! {
                    _ = inner.wake.notified() => {}
                    _ = inner.closed.notified() => {}
                    _ = tokio::time::sleep(tick) => {}
                }
            }
            Err(()) => {
                // new segments do not cut the wait short (that would hammer
                // an unreachable store); closing does
                tokio::select! {
                    _ = inner.closed.notified() => {}
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Upload every sealed segment, oldest first; stop at the first failure so
/// the bucket never has a gap before a later segment.
async fn upload_all(inner: &Arc<Inner>) -> Result<(), ()> {
    let sealed = match inner.spool_io(|spool| spool.sealed()).await {
        Ok(sealed) => sealed,
        Err(e) => {
            tracing::warn!(spool = %inner.label, error = %e, "audit spool: cannot list segments");
            return Err(());
        }
    };
    for segment in sealed {
        if let Err(e) = upload_one(inner, &segment).await {
            metrics::counter!("coffer.audit.upload_failures", "device" => inner.label.clone())
                .increment(1);
            tracing::warn!(spool = %inner.label, segment = segment.counter, error = %e, "audit segment upload failed; it stays in the spool");
            return Err(());
        }
    }
    Ok(())
}

async fn upload_one(inner: &Arc<Inner>, segment: &Sealed) -> Result<(), String> {
    let key = inner.key(segment);
    let path = segment.path.clone();
    let body = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("reading the segment: {e}"))?;
    inner
        .store
        .put(&key, body)
        .await
        .map_err(|e| e.to_string())?;
    let done = segment.clone();
    inner
        .spool_io(move |spool| spool.remove(&done))
        .await
        .map_err(|e| format!("removing the uploaded segment: {e}"))
}

/// Delete the device's segments older than `retention` from the bucket,
/// every `retention / 4` (between 1 s and 1 h).
pub(super) async fn retention_loop(inner: Arc<Inner>, retention: Duration) {
    let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        tokio::time::sleep(every).await;
        match sweep(&inner, retention).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(spool = %inner.label, deleted = n, "audit retention: deleted old segments")
            }
            Err(e) => {
                tracing::warn!(spool = %inner.label, error = %e, "audit retention sweep failed")
            }
        }
    }
}

async fn sweep(inner: &Inner, retention: Duration) -> Result<usize, ::object_store::Error> {
    let cutoff = Utc::now() - retention;
    // list from the prefix's directory: object_store lists whole path
    // segments, and a prefix may end inside one ("audit-")
    let list_from = match inner.prefix.rfind('/') {
        Some(i) => Some(Path::parse(&inner.prefix[..i])?),
        None => None,
    };
    let mut old = Vec::new();
    let mut listing = inner.store.plain().list(list_from.as_ref());
    while let Some(meta) = listing.next().await {
        let meta = meta?;
        let key = meta.location.as_ref();
        let ours = key
            .strip_prefix(inner.prefix.as_str())
            .is_some_and(is_segment_key);
        if ours && meta.last_modified < cutoff {
            old.push(meta.location);
        }
    }
    for location in &old {
        inner.store.plain().delete(location).await?;
    }
    Ok(old.len())
}

/// `YYYY/MM/DD/HHMMSS-NNNNNNNNNN.jsonl`: only the device's own objects are
/// ever deleted, whatever else shares the prefix.
fn is_segment_key(rest: &str) -> bool {
    let shape = b"dddd/dd/dd/dddddd-dddddddddd.jsonl";
    rest.len() == shape.len()
        && rest.bytes().zip(shape.iter()).all(|(c, &s)| {
            if s == b'd' {
                c.is_ascii_digit()
            } else {
                c == s
            }
        })
}

#[cfg(test)]
mod tests {
    use super::is_segment_key;

    #[test]
    fn segment_keys() {
        assert!(is_segment_key("2026/12/07/154700-0000000042.jsonl"));
        assert!(!is_segment_key("2026/12/07/154700-0000000042.json"));
        assert!(!is_segment_key("2026/12/07/154700-000000004x.jsonl"));
        assert!(!is_segment_key("notes.txt"));
    }
}
