//! A backend's window onto the barrier: every key it reads or writes is put
//! below its own prefix, so it cannot see or touch another mount's data.

use crate::barrier::{Barrier, BarrierOp};
use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use zeroize::Zeroizing;

#[derive(Clone)]
pub struct StorageView {
    barrier: Arc<Barrier>,
    prefix: String,
}

impl std::fmt::Debug for StorageView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StorageView({})", self.prefix)
    }
}

/// Reject keys that could be read as escaping the view: empty segments,
/// `.`/`..` segments and a leading `/`.
fn check_key(key: &str) -> Result<()> {
    if key.starts_with('/') || key.split('/').any(|s| s == ".." || s == ".") {
        return Err(Error::invalid(format!("invalid storage key {key:?}")));
    }
    Ok(())
}

impl StorageView {
    pub fn new(barrier: Arc<Barrier>, prefix: impl Into<String>) -> StorageView {
        StorageView { barrier, prefix: prefix.into() }
    }

    /// A view below this one (`prefix/sub/`).
    pub fn sub(&self, sub: &str) -> StorageView {
        StorageView { barrier: self.barrier.clone(), prefix: format!("{}{}", self.prefix, sub) }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The barrier below this view (for values sealed outside storage).
    pub(crate) fn barrier(&self) -> &Arc<Barrier> {
        &self.barrier
    }

    fn full(&self, key: &str) -> Result<String> {
        check_key(key)?;
        Ok(format!("{}{}", self.prefix, key))
    }

    pub async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.barrier.get(&self.full(key)?).await
    }

    pub async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.barrier.put(&self.full(key)?, value).await
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.barrier.delete(&self.full(key)?).await
    }

    /// Atomically read and delete `key` (see [`Barrier::take`]): the claim of
    /// a single-use object. Of concurrent callers exactly one gets `Some`.
    pub async fn take(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.barrier.take(&self.full(key)?).await
    }

    /// [`StorageView::take`] of a JSON record.
    pub async fn take_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.take(key).await? {
            None => Ok(None),
            // The same bound as get_json: a wrapped response of the deepest
            // request must still unwrap.
            Some(bytes) => Ok(Some(crate::json::from_stored(&bytes)?)),
        }
    }

    /// Atomic read-modify-write of `key` (see [`Barrier::update`]), e.g. a
    /// use counter that concurrent requests decrement.
    pub async fn update<R>(
        &self,
        key: &str,
        f: impl FnMut(Option<&[u8]>) -> Result<(crate::barrier::Change, R)>,
    ) -> Result<R> {
        self.barrier.update(&self.full(key)?, f).await
    }

    /// Immediate children of `prefix` (relative), folders with trailing `/`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        if !prefix.is_empty() {
            check_key(prefix.trim_end_matches('/'))?;
        }
        self.barrier.list(&format!("{}{}", self.prefix, prefix)).await
    }

    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            // Bounded by the same ceiling the edge applies (plus record headroom),
            // so whatever a request stored reads back.
            Some(bytes) => Ok(Some(crate::json::from_stored(&bytes)?)),
        }
    }

    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = Zeroizing::new(serde_json::to_vec(value)?);
        self.put(key, &bytes).await
    }

    /// Apply several puts/deletes (keys relative to this view) atomically.
    pub async fn write(&self, ops: Vec<ViewOp>) -> Result<()> {
        let mut batch = Batch::new();
        batch.add(self, ops)?;
        batch.commit().await
    }

    fn barrier_op(&self, op: ViewOp) -> Result<BarrierOp> {
        Ok(match op {
            ViewOp::Put(k, v) => BarrierOp::Put(self.full(&k)?, v),
            ViewOp::Delete(k) => BarrierOp::Delete(self.full(&k)?),
        })
    }

    /// Delete every key below this view (used when a mount is disabled).
    pub async fn clear(&self) -> Result<()> {
        let keys = self.barrier.keys_with_prefix(&self.prefix).await?;
        for chunk in keys.chunks(512) {
            self.barrier.write(chunk.iter().map(|k| BarrierOp::Delete(k.clone())).collect()).await?;
        }
        Ok(())
    }

    /// Every key below `prefix` (relative to the view), recursively.
    pub async fn keys_recursive(&self, prefix: &str) -> Result<Vec<String>> {
        let full = format!("{}{}", self.prefix, prefix);
        Ok(self
            .barrier
            .keys_with_prefix(&full)
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_string))
            .collect())
    }
}

/// A mutation for [`StorageView::write`].
pub enum ViewOp {
    Put(String, Vec<u8>),
    Delete(String),
}

/// Writes to several views of one barrier, applied as one atomic storage
/// batch: a token record and its lease index entry are written (and deleted)
/// together, so neither can exist without the other after a crash.
#[derive(Default)]
pub struct Batch {
    barrier: Option<Arc<Barrier>>,
    ops: Vec<BarrierOp>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Add `ops`, their keys relative to `view` (checked like every view key).
    pub fn add(&mut self, view: &StorageView, ops: impl IntoIterator<Item = ViewOp>) -> Result<()> {
        match &self.barrier {
            Some(b) if !Arc::ptr_eq(b, &view.barrier) => {
                return Err(Error::internal("a storage batch cannot span two barriers"));
            }
            Some(_) => {}
            None => self.barrier = Some(view.barrier.clone()),
        }
        // All or nothing: a bad key leaves the batch as it was.
        let ops = ops.into_iter().map(|op| view.barrier_op(op)).collect::<Result<Vec<_>>>()?;
        self.ops.extend(ops);
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        match self.barrier {
            Some(b) if !self.ops.is_empty() => b.write(self.ops).await,
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::barrier::KeyBytes;
    use coffer_storage::InmemStorage;

    #[tokio::test]
    async fn views_are_isolated() {
        let b = Arc::new(Barrier::new(Arc::new(InmemStorage::new())));
        let kek = KeyBytes::random().unwrap();
        b.initialize(&kek, KeyBytes::random().unwrap(), "t".into()).await.unwrap();
        b.unseal(&kek).await.unwrap();
        let a = StorageView::new(b.clone(), "logical/a/");
        let c = StorageView::new(b.clone(), "logical/c/");
        a.put("k", b"1").await.unwrap();
        assert!(c.get("k").await.unwrap().is_none());
        assert!(a.get("../c/k").await.is_err());
        assert!(a.put("/abs", b"x").await.is_err());
        a.put("dir/x", b"2").await.unwrap();
        assert_eq!(a.list("").await.unwrap(), vec!["dir/", "k"]);
        a.clear().await.unwrap();
        assert!(a.list("").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_batch_spans_views_of_one_barrier_only() {
        let b = Arc::new(Barrier::new(Arc::new(InmemStorage::new())));
        let kek = KeyBytes::random().unwrap();
        b.initialize(&kek, KeyBytes::random().unwrap(), "t".into()).await.unwrap();
        b.unseal(&kek).await.unwrap();
        let a = StorageView::new(b.clone(), "sys/token/");
        let c = StorageView::new(b.clone(), "sys/expire/");
        let mut batch = Batch::new();
        batch.add(&a, [ViewOp::Put("id/x".into(), b"1".to_vec())]).unwrap();
        batch.add(&c, [ViewOp::Put("id/p/x".into(), b"2".to_vec())]).unwrap();
        // Keys are checked as in a single view; a bad one adds nothing.
        assert!(batch.add(&c, [ViewOp::Delete("../token/id/x".into())]).is_err());
        batch.commit().await.unwrap();
        assert_eq!(a.get("id/x").await.unwrap().unwrap().as_slice(), b"1");
        assert_eq!(c.get("id/p/x").await.unwrap().unwrap().as_slice(), b"2");
        let other = Arc::new(Barrier::new(Arc::new(InmemStorage::new())));
        let mut batch = Batch::new();
        batch.add(&a, [ViewOp::Delete("id/x".into())]).unwrap();
        assert!(batch.add(&StorageView::new(other, "x/"), [ViewOp::Delete("k".into())]).is_err());
    }
}
