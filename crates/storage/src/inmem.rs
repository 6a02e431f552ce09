//! In-memory storage for `server -dev` and tests. Not durable by design.

use crate::{children_of, Op, Storage, StorageError};
use async_trait::async_trait;
use parking_lot::RwLock;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct InmemStorage {
    map: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl InmemStorage {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Storage for InmemStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.map.read().get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let map = self.map.read();
        let keys = map
            .range(prefix.to_string()..)
            .map(|(k, _)| k.as_str())
            .take_while(|k| k.starts_with(prefix));
        Ok(children_of(prefix, keys))
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), StorageError> {
        let mut map = self.map.write();
        // Preconditions first, under the same lock as the writes: a batch
        // whose expectation fails changes nothing.
        if crate::has_expectations(&ops)
            && !crate::expectations_hold(&ops, |k| Ok::<_, StorageError>(map.get(k).cloned()))?
        {
            return Err(StorageError::Conflict);
        }
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    map.insert(k, v);
                }
                Op::Delete(k) => {
                    map.remove(&k);
                }
                Op::Expect(..) => {}
            }
        }
        Ok(())
    }

    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let map = self.map.read();
        Ok(map
            .range(prefix.to_string()..)
            .map(|(k, _)| k.clone())
            .take_while(|k| k.starts_with(prefix))
            .collect())
    }

    fn kind(&self) -> &'static str {
        "inmem"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batch_and_list() {
        let s = InmemStorage::new();
        s.write(vec![
            Op::Put("x/a".into(), b"1".to_vec()),
            Op::Put("x/b/c".into(), b"2".to_vec()),
            Op::Put("y".into(), b"3".to_vec()),
            Op::Delete("y".into()),
        ])
        .await
        .unwrap();
        assert_eq!(s.get("x/a").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(s.get("y").await.unwrap(), None);
        assert_eq!(s.list("x/").await.unwrap(), vec!["a", "b/"]);
        assert_eq!(s.keys_with_prefix("x/").await.unwrap(), vec!["x/a", "x/b/c"]);
    }

    #[tokio::test]
    async fn a_failed_expectation_applies_nothing() {
        crate::tests::expect_semantics(&InmemStorage::new()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_claims_have_one_winner() {
        crate::tests::racing_claims_have_one_winner(std::sync::Arc::new(InmemStorage::new())).await;
    }
}
