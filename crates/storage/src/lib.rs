//! Physical storage: the bottom layer of Coffer.
//!
//! Everything here sees only opaque keys and (already encrypted) values; the
//! barrier in `coffer-core` sits above. Backends:
//! - [`InmemStorage`]: a `BTreeMap` behind a lock, for `server -dev` and tests.
//! - [`FileStorage`]: redb, durable, with group commit (see `file.rs`).
//!
//! Writes are expressed as ordered batches ([`Op`]) applied atomically, so a
//! replicated backend (raft) can ship one batch as one log entry.

mod file;
mod inmem;
pub use file::{FileOptions, FileStorage, WriteStats, DB_FILE_NAME, MAX_GROUP_BATCHES};
pub use inmem::InmemStorage;

use async_trait::async_trait;

/// One mutation inside an atomic batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put(String, Vec<u8>),
    Delete(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error("storage is closed")]
    Closed,
}

/// The physical storage contract.
///
/// Keys are `/`-separated strings. `list(prefix)` returns the immediate
/// children of `prefix` relative to it: leaf keys as their last segment and
/// "folders" as `name/`, sorted and de-duplicated (Vault's `physical.List`).
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Apply `ops` atomically and in order. When this returns `Ok`, the batch
    /// is durable (for durable backends): it survives a crash of the process.
    async fn write(&self, ops: Vec<Op>) -> Result<(), StorageError>;
    /// Every key (full key, not relative) that starts with `prefix`, sorted.
    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Short name for seal-status / metrics: "inmem", "file", "raft".
    fn kind(&self) -> &'static str;

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        self.write(vec![Op::Put(key.to_string(), value)]).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.write(vec![Op::Delete(key.to_string())]).await
    }
}

/// Turn a sorted iterator of full keys under `prefix` into the immediate
/// children listing that [`Storage::list`] returns. Shared by backends.
pub fn children_of<'a>(prefix: &str, keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keys {
        let Some(rest) = k.strip_prefix(prefix) else { continue };
        if rest.is_empty() {
            continue;
        }
        let child = match rest.find('/') {
            Some(i) => &rest[..=i],
            None => rest,
        };
        if out.last().map(|l| l.as_str()) != Some(child) {
            out.push(child.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_groups_folders() {
        let keys = ["a/b", "a/c/d", "a/c/e", "a/z", "b"];
        assert_eq!(children_of("a/", keys.iter().copied()), vec!["b", "c/", "z"]);
        assert_eq!(children_of("", keys.iter().copied()), vec!["a/", "b"]);
    }
}
