//! Where each audit device's hash chain lives between starts: under the
//! barrier at `core/audit-chain/<hex of the device path>/`:
//! - `key`: the device's Ed25519 signing key (PKCS#8 v1), generated the
//!   first time the path is enabled with the chain on;
//! - `point`: the [`ResumePoint`] (next seq, hash of the last mark line,
//!   latest checkpoint), rewritten with every mark line, never per entry.
//!
//! Disabling a device keeps both: enabling the same path again continues the
//! same chain with the same key (its first line is a signed `resume` that
//! names the last stored mark), so the files of all its lives verify as one
//! chain and a gap between them is visible as a restart, not as a new chain
//! that could have replaced the old one. A crash loses nothing stored: the
//! next start resumes from the last mark, and the lines written after it are
//! reported by `coffer audit verify` as an unsigned branch.
//!
//! The path is hex-encoded so any device path is one safe storage segment.

use crate::barrier::Barrier;
use crate::error::{Error, Result};
use crate::view::StorageView;
use coffer_audit::Options;
use coffer_audit::chain::{
    ChainOptions, ChainState, Checkpoint, CheckpointStore, ResumePoint, SigningKey,
};
use std::sync::Arc;

const PREFIX: &str = "core/audit-chain/";
const KEY: &str = "key";
const POINT: &str = "point";

fn view(barrier: &Arc<Barrier>, path: &str) -> StorageView {
    let path = path.trim_end_matches('/');
    StorageView::new(
        barrier.clone(),
        format!("{PREFIX}{}/", hex::encode(path.as_bytes())),
    )
}

/// The chain state a device enabled at `path` with `options` starts from,
/// or `None` when its option `chain` is false (plain Vault lines). Creates
/// the key on first use. A bad chain option is a 400.
pub(crate) async fn device_chain(
    barrier: &Arc<Barrier>,
    path: &str,
    options: &Options,
) -> Result<Option<ChainState>> {
    let opts = ChainOptions::from_options(options).map_err(Error::invalid)?;
    if !opts.enabled {
        return Ok(None);
    }
    let v = view(barrier, path);
    let key = match v.get(KEY).await? {
        Some(pkcs8) => SigningKey::from_pkcs8(&pkcs8).map_err(Error::internal)?,
        None => {
            let (key, pkcs8) = SigningKey::generate().map_err(Error::internal)?;
            v.put(KEY, &pkcs8).await?;
            key
        }
    };
    let resume = v
        .get_json::<ResumePoint>(POINT)
        .await?
        .unwrap_or_else(ResumePoint::genesis);
    Ok(Some(ChainState {
        key,
        resume,
        store: Arc::new(BarrierStore { view: v }),
        options: opts,
    }))
}

/// Saves a device's [`ResumePoint`] under the barrier.
struct BarrierStore {
    view: StorageView,
}

#[async_trait::async_trait]
impl CheckpointStore for BarrierStore {
    async fn save(&self, point: &ResumePoint) -> std::result::Result<(), String> {
        self.view
            .put_json(POINT, point)
            .await
            .map_err(|e| e.to_string())
    }
}

/// What `sys/audit-checkpoint/:path` publishes.
pub(crate) struct Published {
    pub public_key: Vec<u8>,
    pub key_id: String,
    pub checkpoint: Option<Checkpoint>,
}

/// The public key and latest checkpoint of the chain at `path`, if that path
/// ever had one.
pub(crate) async fn published(barrier: &Arc<Barrier>, path: &str) -> Result<Option<Published>> {
    let v = view(barrier, path);
    let Some(pkcs8) = v.get(KEY).await? else {
        return Ok(None);
    };
    let key = SigningKey::from_pkcs8(&pkcs8).map_err(Error::internal)?;
    let checkpoint = v
        .get_json::<ResumePoint>(POINT)
        .await?
        .and_then(|p| p.checkpoint);
    Ok(Some(Published {
        public_key: key.public_key().to_vec(),
        key_id: key.key_id().to_string(),
        checkpoint,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::barrier::KeyBytes;
    use coffer_audit::chain::verify::Verifier;
    use coffer_audit::{Device, Sink, SinkError};
    use coffer_storage::InmemStorage;

    #[derive(Default)]
    struct Lines(parking_lot::Mutex<Vec<u8>>);

    #[async_trait::async_trait]
    impl Sink for Lines {
        async fn write(&self, line: &[u8]) -> std::result::Result<(), SinkError> {
            let mut l = self.0.lock();
            l.extend_from_slice(line);
            l.push(b'\n');
            Ok(())
        }
    }

    async fn barrier() -> Arc<Barrier> {
        let b = Arc::new(Barrier::new(Arc::new(InmemStorage::new())));
        let kek = KeyBytes::random().unwrap();
        b.initialize(&kek, KeyBytes::random().unwrap(), "t".into())
            .await
            .unwrap();
        b.unseal(&kek).await.unwrap();
        b
    }

    use coffer_audit::options as opts;

    async fn run(b: &Arc<Barrier>, sink: &Arc<Lines>, path: &str, n: usize) {
        let state = device_chain(b, path, &opts(&[("checkpoint_entries", "3")]))
            .await
            .unwrap()
            .unwrap();
        let d = Device::with_chain(sink.clone(), state);
        for i in 0..n {
            d.write(format!(r#"{{"type":"request","n":{i}}}"#).as_bytes())
                .await
                .unwrap();
        }
        d.close().await;
    }

    /// Two lives of a device (disable + enable, or a restart) write one
    /// chain with one key; the published checkpoint is the last one written
    /// and judges the tail.
    #[tokio::test]
    async fn the_chain_continues_across_enables_and_is_published() {
        let b = barrier().await;
        assert!(published(&b, "file").await.unwrap().is_none());
        let sink = Arc::new(Lines::default());
        run(&b, &sink, "file/", 4).await;
        let first = published(&b, "file").await.unwrap().unwrap();
        run(&b, &sink, "file", 2).await;
        let p = published(&b, "file").await.unwrap().unwrap();
        assert_eq!(p.key_id, first.key_id, "same key after re-enable");
        let cp = p.checkpoint.clone().unwrap();
        assert!(cp.signature_ok(&p.public_key));
        assert_ne!(Some(cp.clone()), first.checkpoint);

        let text = sink.0.lock().clone();
        let mut v = Verifier::new(vec![p.public_key.clone()], Some(cp.clone()));
        assert!(v.read("log", text.as_slice()).unwrap());
        let r = v.finish();
        assert!(r.intact() && r.warnings.is_empty(), "{r:?}");
        assert_eq!((r.entries, r.resumes), (6, 2));

        // Another path has its own key; the key is stored under the barrier, encrypted.
        run(&b, &Arc::new(Lines::default()), "other", 1).await;
        assert_ne!(
            published(&b, "other").await.unwrap().unwrap().key_id,
            p.key_id
        );
        let raw = b
            .physical()
            .get(&format!("{PREFIX}{}/key", hex::encode("file")))
            .await
            .unwrap()
            .unwrap();
        assert!(
            !raw.windows(p.public_key.len())
                .any(|w| w == p.public_key.as_slice())
        );

        // The tail cut against the published checkpoint.
        let end = text[..text.len() - 1]
            .iter()
            .rposition(|&c| c == b'\n')
            .unwrap()
            + 1;
        let cut = &text[..end];
        let mut v = Verifier::new(vec![p.public_key], Some(cp));
        v.read("log", cut).unwrap();
        assert!(!v.finish().intact());
    }

    #[tokio::test]
    async fn chain_false_and_bad_options() {
        let b = barrier().await;
        assert!(
            device_chain(&b, "plain", &opts(&[("chain", "false")]))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            published(&b, "plain").await.unwrap().is_none(),
            "no key for a plain device"
        );
        let e = device_chain(&b, "x", &opts(&[("checkpoint_entries", "0")]))
            .await
            .err()
            .unwrap();
        assert!(matches!(e, Error::InvalidRequest(_)));
        assert!(
            published(&b, "x").await.unwrap().is_none(),
            "a refused enable stores nothing"
        );
    }
}
