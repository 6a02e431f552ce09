//! The lease index's storage layout, inside the view the core gives it
//! (`sys/expire/`), built only by the functions below:
//! - `id/<lease id>`          [`LeaseEntry`] JSON. Lease ids contain their
//!   creation path, so a storage list of `id/<prefix>` is `LIST
//!   sys/leases/lookup/<prefix>` and revoking a prefix reads one key range.
//! - `meta/tokens-indexed`    marker: tokens stored before leases existed
//!   have been given their index entries (see `LeaseManager::index_existing_tokens`;
//!   until it exists, the manager's operations wait for the background indexing).

use super::LeaseEntry;
use crate::error::{Error, Result};
use crate::view::{StorageView, ViewOp};

const ID_PREFIX: &str = "id/";
pub(super) const TOKENS_INDEXED_KEY: &str = "meta/tokens-indexed";

fn lease_key(lease_id: &str) -> String {
    format!("{ID_PREFIX}{lease_id}")
}

/// Does this id (or prefix) have a `.` or `..` segment? Such a key never
/// reaches storage.
fn relative(id: &str) -> bool {
    id.split('/').any(|s| s == "." || s == "..")
}

/// Could this string be a stored lease id (or a prefix of one)?
fn well_formed(id: &str) -> bool {
    !id.starts_with('/') && !relative(id)
}

/// Storage of lease entries. Cheap to clone; the token store holds one to
/// put its index entries into its own write batches.
#[derive(Clone, Debug)]
pub struct LeaseIndex {
    view: StorageView,
}

impl LeaseIndex {
    pub fn new(view: StorageView) -> LeaseIndex {
        LeaseIndex { view }
    }

    pub(crate) fn view(&self) -> &StorageView {
        &self.view
    }

    /// The write that records `e` (for a caller's batch).
    pub(crate) fn put_op(&self, e: &LeaseEntry) -> Result<ViewOp> {
        Ok(ViewOp::Put(lease_key(&e.lease_id), serde_json::to_vec(e)?))
    }

    /// The write that forgets a lease (for a caller's batch).
    pub(crate) fn delete_op(&self, lease_id: &str) -> ViewOp {
        ViewOp::Delete(lease_key(lease_id))
    }

    /// The entry of a lease id; `None` if there is none. An id with a `.` or
    /// `..` segment is refused with Vault's storage error (400).
    pub async fn get(&self, lease_id: &str) -> Result<Option<LeaseEntry>> {
        if relative(lease_id) {
            return Err(Error::invalid(format!("failed to read lease entry {lease_id}: relative paths not supported")));
        }
        if lease_id.is_empty() || lease_id.ends_with('/') || lease_id.starts_with('/') {
            return Ok(None);
        }
        self.view.get_json(&lease_key(lease_id)).await
    }

    #[cfg(test)]
    pub(crate) async fn put(&self, e: &LeaseEntry) -> Result<()> {
        self.view.write(vec![self.put_op(e)?]).await
    }

    pub(crate) async fn delete(&self, lease_id: &str) -> Result<()> {
        if !well_formed(lease_id) {
            return Ok(());
        }
        self.view.write(vec![self.delete_op(lease_id)]).await
    }

    /// Immediate children of `prefix` (`""` or ending in `/`): lease id
    /// suffixes, and folders with a trailing `/`. Sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        if !well_formed(prefix) {
            return Ok(Vec::new());
        }
        self.view.list(&lease_key(prefix)).await
    }

    /// Every lease id below `prefix` (`""` or ending in `/`), at any depth.
    pub async fn ids_under(&self, prefix: &str) -> Result<Vec<String>> {
        if !well_formed(prefix) {
            return Ok(Vec::new());
        }
        Ok(self
            .view
            .keys_recursive(&lease_key(prefix))
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(ID_PREFIX).map(str::to_string))
            .collect())
    }

    pub(super) async fn has_marker(&self, key: &str) -> Result<bool> {
        Ok(self.view.get(key).await?.is_some())
    }

    pub(super) async fn set_marker(&self, key: &str) -> Result<()> {
        self.view.put(key, b"1").await
    }
}
