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
pub use file::{permission_warnings, FileOptions, FileStorage, WriteStats, DB_FILE_NAME, MAX_GROUP_BATCHES};
pub use inmem::InmemStorage;

use async_trait::async_trait;

/// One step of an atomic batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put(String, Vec<u8>),
    Delete(String),
    /// A precondition, not a mutation: the key must hold exactly these bytes
    /// (`None`: must be absent) at this point of the batch, or the whole
    /// batch is refused with [`StorageError::Conflict`] and nothing of it is
    /// applied. This is the compare-and-swap that single-use objects are
    /// claimed with (a wrapping token's response, later secret-id uses, TOTP
    /// codes, OIDC states): of two claims racing for one object, exactly one
    /// batch applies. A replicated backend evaluates it when it applies the
    /// log entry, so the guarantee holds across nodes too.
    Expect(String, Option<Vec<u8>>),
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error("storage is closed")]
    Closed,
    /// An [`Op::Expect`] of the batch did not hold; nothing was applied.
    #[error("storage conflict: the value changed concurrently")]
    Conflict,
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
    /// A failed [`Op::Expect`] answers [`StorageError::Conflict`] and applies
    /// nothing of the batch.
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

/// Do the batch's [`Op::Expect`]s hold? Each is judged against the state the
/// batch itself has produced up to that point, falling back to `current`
/// (the stored value) for keys the batch has not touched yet. Shared by the
/// backends, so every one of them reads a batch's preconditions alike.
pub fn expectations_hold<E>(
    ops: &[Op],
    mut current: impl FnMut(&str) -> Result<Option<Vec<u8>>, E>,
) -> Result<bool, E> {
    let mut staged: std::collections::HashMap<&str, Option<&[u8]>> = std::collections::HashMap::new();
    for op in ops {
        match op {
            Op::Put(k, v) => {
                staged.insert(k, Some(v));
            }
            Op::Delete(k) => {
                staged.insert(k, None);
            }
            Op::Expect(k, want) => {
                let holds = match staged.get(k.as_str()) {
                    Some(now) => *now == want.as_deref(),
                    None => current(k)?.as_deref() == want.as_deref(),
                };
                if !holds {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// Does the batch carry any precondition? (Plain batches skip the check.)
pub fn has_expectations(ops: &[Op]) -> bool {
    ops.iter().any(|op| matches!(op, Op::Expect(..)))
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

    /// [`Op::Expect`] as every backend must implement it (called from each
    /// backend's tests).
    pub(crate) async fn expect_semantics(s: &dyn Storage) {
        s.put("k", b"1".to_vec()).await.unwrap();
        // Holds: the batch applies.
        s.write(vec![Op::Expect("k".into(), Some(b"1".to_vec())), Op::Put("k".into(), b"2".to_vec())]).await.unwrap();
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"2"[..]));
        // Fails: nothing of the batch applies, not even the ops before it.
        let r = s
            .write(vec![
                Op::Put("other".into(), b"x".to_vec()),
                Op::Expect("k".into(), Some(b"1".to_vec())),
                Op::Delete("k".into()),
            ])
            .await;
        assert!(matches!(r, Err(StorageError::Conflict)), "{r:?}");
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(s.get("other").await.unwrap(), None);
        // Absence, and the batch's own earlier writes, count.
        s.write(vec![Op::Expect("new".into(), None), Op::Put("new".into(), b"n".to_vec()), Op::Expect("new".into(), Some(b"n".to_vec()))])
            .await
            .unwrap();
        let r = s.write(vec![Op::Expect("new".into(), None), Op::Put("new".into(), b"m".to_vec())]).await;
        assert!(matches!(r, Err(StorageError::Conflict)));
        assert_eq!(s.get("new").await.unwrap().as_deref(), Some(&b"n"[..]));
    }

    /// Many claims race for one value: exactly one take succeeds.
    pub(crate) async fn racing_claims_have_one_winner(s: std::sync::Arc<dyn Storage>) {
        for round in 0..20 {
            let key = format!("once/{round}");
            s.put(&key, format!("v{round}").into_bytes()).await.unwrap();
            let mut tasks = Vec::new();
            for _ in 0..16 {
                let s = s.clone();
                let key = key.clone();
                tasks.push(tokio::spawn(async move {
                    let Some(v) = s.get(&key).await.unwrap() else { return false };
                    match s.write(vec![Op::Expect(key.clone(), Some(v)), Op::Delete(key)]).await {
                        Ok(()) => true,
                        Err(StorageError::Conflict) => false,
                        Err(e) => panic!("{e}"),
                    }
                }));
            }
            let mut winners = 0;
            for t in tasks {
                winners += t.await.unwrap() as usize;
            }
            assert_eq!(winners, 1, "round {round}");
        }
    }

    #[test]
    fn children_groups_folders() {
        let keys = ["a/b", "a/c/d", "a/c/e", "a/z", "b"];
        assert_eq!(children_of("a/", keys.iter().copied()), vec!["b", "c/", "z"]);
        assert_eq!(children_of("", keys.iter().copied()), vec!["a/", "b"]);
    }
}
