//! [`LeaseManager`]: lookup, list, renew, revoke (one, a prefix, forced) and
//! tidy over the index, dispatching to each lease's [`LeaseOwner`].

use super::index::TOKENS_INDEXED_KEY;
use super::token::TokenLeases;
use super::{LeaseEntry, LeaseIndex, LeaseInfo, LeaseKind, LeaseOwner};
use crate::error::{Error, Result};
use crate::logical::Response;
use crate::token::TokenStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// Pages of the background indexing: the first two hex digits of a token hash.
const INDEX_PAGES: u16 = 256;
/// Wait before retrying a page whose storage read or write failed.
const INDEX_RETRY: Duration = Duration::from_secs(5);

/// How to revoke (`sync` and `revoke-force` of `sys/leases/*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeMode {
    /// Revoke now; an owner's error fails the request.
    Sync,
    /// Expire now and let the owner's expiry mechanism revoke (`sync=false`).
    Lazy,
    /// Revoke now, ignoring owner errors: the index entry goes regardless.
    Force,
}

/// Where the indexing of existing tokens stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Indexing {
    Running,
    Done,
    /// Sealed before it finished; the next unseal starts it again.
    Stopped,
}

/// What one tidy run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TidyReport {
    pub scanned: usize,
    /// Entries whose token (or secret) no longer exists, removed.
    pub removed: usize,
}

pub struct LeaseManager {
    index: LeaseIndex,
    tokens: TokenLeases,
    tidying: AtomicBool,
    /// `true` once every stored token has its index entry: at once when the
    /// storage's marker says so, else when the background indexing started
    /// by [`index_existing_tokens`](Self::index_existing_tokens) is done.
    /// Until then every operation that reads the index waits for it, so none
    /// misses a lease that is not indexed yet.
    indexed: watch::Sender<Indexing>,
    /// Tests: the background indexing takes one permit per page.
    #[cfg(test)]
    gate: parking_lot::Mutex<Option<Arc<tokio::sync::Semaphore>>>,
}

impl std::fmt::Debug for LeaseManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseManager").field("index", &self.index).finish_non_exhaustive()
    }
}

impl LeaseManager {
    /// `index` must be the one the token store writes to.
    pub fn new(index: LeaseIndex, tokens: Arc<TokenStore>) -> Arc<LeaseManager> {
        Arc::new(LeaseManager {
            index,
            tokens: TokenLeases { store: tokens },
            tidying: AtomicBool::new(false),
            indexed: watch::channel(Indexing::Running).0,
            #[cfg(test)]
            gate: parking_lot::Mutex::new(None),
        })
    }

    /// Whether every stored token is known to have its index entry.
    pub fn is_indexed(&self) -> bool {
        *self.indexed.borrow() == Indexing::Done
    }

    /// Wait until the index is complete (see `indexed`). Immediate on any
    /// storage whose tokens were all indexed before (the marker), which is
    /// every storage written by a version with leases.
    /// A seal during the wait ends it with [`Error::Sealed`].
    pub async fn wait_indexed(&self) -> Result<()> {
        let mut rx = self.indexed.subscribe();
        // The sender lives in `self`, so it cannot close while we wait.
        let state = rx.wait_for(|s| *s != Indexing::Running).await.map(|s| *s).unwrap_or(Indexing::Stopped);
        match state {
            Indexing::Done => Ok(()),
            _ => Err(Error::Sealed),
        }
    }

    pub fn index(&self) -> &LeaseIndex {
        &self.index
    }

    fn owner(&self, e: &LeaseEntry) -> &dyn LeaseOwner {
        match e.kind {
            LeaseKind::Token { .. } => &self.tokens,
        }
    }

    /// A lease and its live state; `None` if unknown (or its owner is gone).
    pub async fn lookup(&self, lease_id: &str) -> Result<Option<LeaseInfo>> {
        self.wait_indexed().await?;
        let Some(entry) = self.index.get(lease_id).await? else { return Ok(None) };
        Ok(self.owner(&entry).state(&entry).await?.map(|state| LeaseInfo { entry, state }))
    }

    /// `LIST sys/leases/lookup/<prefix>`: the children of `prefix` (a `/` is
    /// added when missing).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.wait_indexed().await?;
        self.index.list(&dir(prefix)).await
    }

    pub async fn renew(&self, lease_id: &str, increment: Duration) -> Result<Response> {
        let info = self.lookup(lease_id).await?.ok_or_else(|| Error::invalid("lease not found"))?;
        info.state.check_renewable()?;
        self.owner(&info.entry).renew(&info.entry, increment).await
    }

    /// Revoke one lease. An unknown id is not an error (Vault answers 204).
    pub async fn revoke(&self, lease_id: &str, mode: RevokeMode) -> Result<()> {
        self.wait_indexed().await?;
        match self.index.get(lease_id).await? {
            Some(e) => self.revoke_entry(&e, mode).await,
            None => Ok(()),
        }
    }

    async fn revoke_entry(&self, e: &LeaseEntry, mode: RevokeMode) -> Result<()> {
        let owner = self.owner(e);
        match mode {
            RevokeMode::Lazy => return owner.expire_now(e).await,
            RevokeMode::Sync => owner.revoke(e).await?,
            RevokeMode::Force => {
                if let Err(err) = owner.revoke(e).await {
                    tracing::warn!(lease_id = %e.lease_id, error = %err, "revocation failed, but in force mode so removing the lease anyway");
                }
            }
        }
        // The owner normally removed it in its own batch; make sure.
        self.index.delete(&e.lease_id).await?;
        tracing::debug!(lease_id = %e.lease_id, "lease revoked");
        Ok(())
    }

    /// Revoke every lease under `prefix`. Without a trailing `/` the prefix
    /// is first tried as one lease id, as Vault does; then as a folder, so
    /// `auth/userpass/login/al` does not touch `alice`'s leases.
    pub async fn revoke_prefix(&self, prefix: &str, mode: RevokeMode) -> Result<()> {
        self.wait_indexed().await?;
        if !prefix.ends_with('/')
            && let Some(e) = self.index.get(prefix).await?
        {
            return self.revoke_entry(&e, mode).await.map_err(|err| wrap(prefix, None, err));
        }
        let prefix = dir(prefix);
        let ids = self.index.ids_under(&prefix).await?;
        let total = ids.len();
        for (i, id) in ids.iter().enumerate() {
            // Revoking a token tree may already have removed later ids.
            let Some(e) = self.index.get(id).await? else { continue };
            self.revoke_entry(&e, mode).await.map_err(|err| wrap(id, Some((i + 1, total)), err))?;
        }
        Ok(())
    }

    /// Remove index entries whose owner is gone (a token revoked by an older
    /// version, a crash mid-way through a forced revoke). One run at a time.
    pub async fn tidy(&self) -> Result<TidyReport> {
        if self.tidying.swap(true, Ordering::AcqRel) {
            tracing::warn!("tidy operation on leases is already in progress");
            return Ok(TidyReport::default());
        }
        let res = self.tidy_inner().await;
        self.tidying.store(false, Ordering::Release);
        res
    }

    async fn tidy_inner(&self) -> Result<TidyReport> {
        self.wait_indexed().await?;
        let mut report = TidyReport::default();
        for id in self.index.ids_under("").await? {
            let Some(e) = self.index.get(&id).await? else { continue };
            report.scanned += 1;
            if self.owner(&e).state(&e).await?.is_none() {
                self.index.delete(&id).await?;
                report.removed += 1;
            }
        }
        Ok(report)
    }

    /// Leases whose revocation failed for good. There are none: a token's
    /// failed revocation stays with the token store, whose sweeper and tidy
    /// retry it, and there are no secret leases yet.
    pub fn irrevocable(&self) -> Vec<LeaseEntry> {
        Vec::new()
    }

    /// Give tokens stored before the lease index existed their entries, once
    /// per storage (a marker records it). With the marker (every storage
    /// written since leases exist) this is one read. Without it, the
    /// indexing runs in the background, page by page of token hashes
    /// ([`TokenStore::index_leases_page`]), so unseal does not wait for a
    /// scan of every token; lease operations wait for it instead
    /// ([`wait_indexed`](Self::wait_indexed)), token lookups and expiry do
    /// not (they never read the index). The task holds the manager weakly:
    /// sealing drops the manager and ends it, and the next unseal starts
    /// over (pages already done are skipped quickly: their entries exist).
    pub async fn index_existing_tokens(self: &Arc<Self>) -> Result<()> {
        if self.index.has_marker(TOKENS_INDEXED_KEY).await? {
            self.indexed.send_replace(Indexing::Done);
            return Ok(());
        }
        self.indexed.send_replace(Indexing::Running);
        tokio::spawn(Self::index_in_background(Arc::downgrade(self)));
        Ok(())
    }

    async fn index_in_background(me: Weak<LeaseManager>) {
        let mut written = 0;
        let mut page = 0;
        while page <= INDEX_PAGES {
            #[cfg(test)]
            Self::gate_wait(&me).await;
            let Some(m) = me.upgrade() else { return };
            let step = if page < INDEX_PAGES {
                m.tokens.store.index_leases_page(&m.index, &format!("{page:02x}")).await.map(|n| written += n)
            } else {
                m.index.set_marker(TOKENS_INDEXED_KEY).await
            };
            match step {
                Ok(()) => page += 1,
                Err(Error::Sealed) => {
                    m.indexed.send_replace(Indexing::Stopped);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "indexing the leases of existing tokens failed; retrying");
                    drop(m);
                    tokio::time::sleep(INDEX_RETRY).await;
                }
            }
        }
        if let Some(m) = me.upgrade() {
            m.indexed.send_replace(Indexing::Done);
        }
        tracing::info!(count = written, "indexed the leases of existing tokens");
    }

    /// Tests: wait for the gate without holding the manager.
    #[cfg(test)]
    async fn gate_wait(me: &Weak<LeaseManager>) {
        let gate = me.upgrade().and_then(|m| m.gate.lock().clone());
        if let Some(g) = gate
            && let Ok(p) = g.acquire().await
        {
            p.forget();
        }
    }
}

fn dir(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") }
}

/// Vault's wording for a failed revocation within a prefix. The owner's own
/// error (an internal one stays internal) is kept.
fn wrap(id: &str, pos: Option<(usize, usize)>, err: Error) -> Error {
    let at = pos.map(|(i, n)| format!(" ({i} / {n})")).unwrap_or_default();
    match err {
        Error::InvalidRequest(m) => Error::invalid(format!("failed to revoke {id:?}{at}: {m}")),
        Error::Internal(m) => Error::internal(format!("failed to revoke {id:?}{at}: {m}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logical::Operation;
    use crate::token::InternalCreate;
    use crate::token::testutil::*;
    use crate::view::StorageView;

    struct H {
        h: Harness,
        leases: Arc<LeaseManager>,
    }

    impl H {
        async fn new() -> H {
            let h = Harness::new().await;
            let leases = LeaseManager::new(h.leases.clone(), h.store.clone());
            leases.index_existing_tokens().await.unwrap();
            leases.wait_indexed().await.unwrap();
            H { h, leases }
        }

        /// A login token as the core issues one (orphan, path = login path).
        async fn login(&self, path: &str, ttl_secs: u64) -> String {
            let (token, _) = self
                .h
                .store
                .create_internal(InternalCreate {
                    policies: vec!["default".into(), "tc".into()],
                    path: path.into(),
                    ttl: Duration::from_secs(ttl_secs),
                    ..Default::default()
                })
                .await
                .unwrap();
            token
        }

        /// A child token created by `parent` through auth/token/create.
        async fn child(&self, parent: &str) -> String {
            self.h.call_as(parent, "create", json!({"policies": ["default"], "ttl": "1h"})).await.unwrap().auth.unwrap().client_token
        }

        async fn lease_id(&self, token: &str) -> String {
            let e = self.h.store.lookup(token).await.unwrap().expect("live token");
            self.h.store.lease_id(&e).expect("token has a lease")
        }

        /// Every lease id in the index.
        async fn all(&self) -> Vec<String> {
            let mut ids = self.leases.index().ids_under("").await.unwrap();
            ids.sort();
            ids
        }
    }

    #[tokio::test]
    async fn created_tokens_are_listed_and_looked_up() {
        let t = H::new().await;
        let tok = t.h.create(json!({"policies": ["default"], "ttl": "1h"})).await;
        let id = t.lease_id(&tok).await;
        // Vault's form: <creation path>/h<64 hex>, naming neither the token nor its hash.
        let suffix = id.strip_prefix("auth/token/create/h").expect("lease id under the creation path");
        assert!(suffix.len() == 64 && suffix.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert!(!id.contains(&tok) && !id.contains(&t.h.store.hash(&tok)));
        // The root token has no lease (as Vault's init root token).
        assert_eq!(t.all().await, vec![id.clone()]);
        assert_eq!(t.leases.list("").await.unwrap(), vec!["auth/"]);
        assert_eq!(t.leases.list("auth/token").await.unwrap(), vec!["create/"]);
        assert_eq!(t.leases.list("auth/token/create/").await.unwrap(), vec![suffix_of(&id)]);

        let info = t.leases.lookup(&id).await.unwrap().unwrap();
        let d = info.to_data();
        assert_eq!((d["id"].clone(), d["path"].clone(), d["renewable"].clone()), (json!(id), json!("auth/token/create"), json!(true)));
        assert!((3599..=3600).contains(&d["ttl"].as_i64().unwrap()), "{d:?}");
        assert_eq!(d["issue_time"], t.h.lookup(&tok).await["issue_time"]);
        assert_eq!(d["expire_time"], t.h.lookup(&tok).await["expire_time"]);
        assert_eq!(d["last_renewal"], Value::Null);
        // A token renewal shows in the lease (the token record is the source of truth).
        t.h.root_call("renew", json!({"token": tok, "increment": "2h"})).await.unwrap();
        let d = t.leases.lookup(&id).await.unwrap().unwrap().to_data();
        assert!(d["last_renewal"].is_string());
        assert!((7199..=7200).contains(&d["ttl"].as_i64().unwrap()));

        // A root-policy token without a TTL has a lease that never expires.
        let forever = t.h.create(json!({})).await;
        let d = t.leases.lookup(&t.lease_id(&forever).await).await.unwrap().unwrap().to_data();
        assert_eq!((d["expire_time"].clone(), d["ttl"].clone(), d["renewable"].clone()), (Value::Null, json!(0), json!(false)));
    }

    fn suffix_of(id: &str) -> String {
        id.rsplit('/').next().unwrap().to_string()
    }

    #[tokio::test]
    async fn index_entry_is_written_and_deleted_with_the_token_record() {
        let t = H::new().await;
        let tok = t.h.create(json!({"policies": ["default"], "ttl": "1h"})).await;
        let id = t.lease_id(&tok).await;
        let hash = t.h.store.hash(&tok);
        // Physically: the token record and the lease entry, both encrypted, keys without the token.
        let keys: Vec<String> = t.h.physical().await.into_iter().map(|(k, _)| k).collect();
        assert!(keys.contains(&format!("sys/token/id/{hash}")));
        assert!(keys.contains(&format!("sys/expire/id/{id}")), "{keys:?}");
        let raw = t.h.physical().await.into_iter().find(|(k, _)| k.starts_with("sys/expire/id/")).unwrap().1;
        assert!(!raw.windows(hash.len()).any(|w| w == hash.as_bytes()), "lease entry stored in clear");

        t.h.call_op(None, Operation::Update, "revoke", json!({"token": tok})).await.unwrap();
        assert!(t.leases.lookup(&id).await.unwrap().is_none());
        let keys: Vec<String> = t.h.physical().await.into_iter().map(|(k, _)| k).collect();
        assert!(!keys.iter().any(|k| k.starts_with("sys/expire/id/")), "{keys:?}");
    }

    #[tokio::test]
    async fn revoking_a_token_lease_revokes_the_token_tree() {
        let t = H::new().await;
        let parent = t.h.create(json!({"policies": ["default", "tc"], "ttl": "1h"})).await;
        let child = t.child(&parent).await;
        let other = t.h.create(json!({"policies": ["default"], "ttl": "1h"})).await;
        let id = t.lease_id(&parent).await;
        t.leases.revoke(&id, RevokeMode::Sync).await.unwrap();
        assert!(!t.h.works(&parent).await && !t.h.works(&child).await);
        assert!(t.h.works(&other).await);
        assert_eq!(t.all().await, vec![t.lease_id(&other).await]);
        // Unknown ids are no-ops, never errors.
        for unknown in [id.as_str(), "nope", "/x", "a..b", ""] {
            t.leases.revoke(unknown, RevokeMode::Sync).await.unwrap();
            assert!(t.leases.lookup(unknown).await.unwrap().is_none());
        }
        // Relative ids never reach storage: Vault's 400.
        for bad in ["../sys/token/salt", "a/./b"] {
            let e = t.leases.revoke(bad, RevokeMode::Lazy).await.unwrap_err();
            assert_eq!(e.to_string(), format!("failed to read lease entry {bad}: relative paths not supported"));
            assert!(matches!(t.leases.lookup(bad).await, Err(Error::InvalidRequest(_))));
        }
        assert!(t.leases.list("../").await.unwrap().is_empty());
        assert!(t.h.works(&other).await);
    }

    #[tokio::test]
    async fn revoke_prefix_revokes_exactly_the_logins_below_it_and_their_children() {
        let t = H::new().await;
        let alice = t.login("auth/userpass/login/alice", 3600).await;
        let alice2 = t.login("auth/userpass/login/alice", 3600).await;
        let bob = t.login("auth/userpass/login/bob", 3600).await;
        let kid = t.child(&alice).await;
        let elsewhere = t.login("auth/userpass2/login/alice", 3600).await;
        let alicia = t.login("auth/userpass/login/alicia", 3600).await;
        let plain = t.h.create(json!({"policies": ["default"], "ttl": "1h"})).await;
        assert_eq!(t.leases.list("auth/userpass/login").await.unwrap(), vec!["alice/", "alicia/", "bob/"]);

        // Without a trailing slash a prefix is a path segment: "alice" is not "alicia".
        t.leases.revoke_prefix("auth/userpass/login/alice", RevokeMode::Sync).await.unwrap();
        assert!(!t.h.works(&alice).await && !t.h.works(&alice2).await && !t.h.works(&kid).await);
        assert!(t.h.works(&alicia).await && t.h.works(&bob).await);

        t.leases.revoke_prefix("auth/userpass/", RevokeMode::Sync).await.unwrap();
        for gone in [&bob, &alicia] {
            assert!(!t.h.works(gone).await);
        }
        for kept in [&elsewhere, &plain] {
            assert!(t.h.works(kept).await);
        }
        assert_eq!(t.all().await, {
            let mut v = vec![t.lease_id(&elsewhere).await, t.lease_id(&plain).await];
            v.sort();
            v
        });
        // A prefix that is one lease id revokes just that lease.
        let id = t.lease_id(&plain).await;
        t.leases.revoke_prefix(&id, RevokeMode::Sync).await.unwrap();
        assert!(!t.h.works(&plain).await && t.h.works(&elsewhere).await);
        // Nothing under the prefix: fine.
        t.leases.revoke_prefix("auth/none", RevokeMode::Sync).await.unwrap();
    }

    #[tokio::test]
    async fn lazy_revoke_hands_the_token_to_the_sweeper() {
        let t = H::new().await;
        let tok = t.login("auth/userpass/login/alice", 3600).await;
        let kid = t.child(&tok).await;
        let id = t.lease_id(&tok).await;
        t.leases.revoke(&id, RevokeMode::Lazy).await.unwrap();
        // Stops working at once; the sweeper (or the lookup) revokes the tree.
        assert!(t.h.store.lookup(&tok).await.unwrap().is_none());
        t.h.store.sweep().await.unwrap();
        for _ in 0..100 {
            if t.leases.lookup(&id).await.unwrap().is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(t.leases.lookup(&id).await.unwrap().is_none());
        assert!(!t.h.works(&kid).await);
        assert!(t.all().await.is_empty());
    }

    #[tokio::test]
    async fn expiry_removes_the_entry() {
        let t = H::new().await;
        let short = t.login("auth/userpass/login/alice", 2).await;
        let long = t.login("auth/userpass/login/bob", 3600).await;
        let (short_id, long_id) = (t.lease_id(&short).await, t.lease_id(&long).await);
        t.h.store.advance_clock(Duration::from_secs(3));
        // Expired, not yet swept: still indexed, no longer renewable.
        let d = t.leases.lookup(&short_id).await.unwrap().unwrap().to_data();
        assert_eq!(d["renewable"], false);
        assert_eq!(t.leases.renew(&short_id, Duration::ZERO).await.unwrap_err().to_string(), "lease expired");
        t.h.store.sweep().await.unwrap();
        assert!(t.leases.lookup(&short_id).await.unwrap().is_none());
        assert_eq!(t.all().await, vec![long_id]);
    }

    #[tokio::test]
    async fn renewing_a_token_lease_is_refused_as_in_vault() {
        let t = H::new().await;
        let tok = t.h.create(json!({"policies": ["default"], "ttl": "1h"})).await;
        let id = t.lease_id(&tok).await;
        let e = t.leases.renew(&id, Duration::from_secs(60)).await.unwrap_err();
        assert!(matches!(&e, Error::InvalidRequest(m) if m == "tokens cannot be renewed through this endpoint"), "{e:?}");
        let nr = t.h.create(json!({"policies": ["default"], "ttl": "1h", "renewable": false})).await;
        let e = t.leases.renew(&t.lease_id(&nr).await, Duration::ZERO).await.unwrap_err();
        assert_eq!(e.to_string(), "lease is not renewable");
        let forever = t.h.create(json!({})).await;
        let e = t.leases.renew(&t.lease_id(&forever).await, Duration::ZERO).await.unwrap_err();
        assert_eq!(e.to_string(), "lease is not renewable");
        assert_eq!(t.leases.renew("nope", Duration::ZERO).await.unwrap_err().to_string(), "lease not found");
        // Nothing changed.
        let d = t.h.lookup(&tok).await;
        assert!(d.get("last_renewal").is_none());
    }

    #[tokio::test]
    async fn wrapping_tokens_have_leases_under_the_wrapped_path() {
        let t = H::new().await;
        let (wt, _) = t.h.store.create_internal(InternalCreate::wrapping(Duration::from_secs(300), "secret/data/app")).await.unwrap();
        let id = t.lease_id(&wt).await;
        assert!(id.starts_with("secret/data/app/h"));
        let d = t.leases.lookup(&id).await.unwrap().unwrap().to_data();
        assert_eq!((d["path"].clone(), d["renewable"].clone()), (json!("secret/data/app"), json!(false)));
    }

    #[tokio::test]
    async fn the_index_survives_a_restart() {
        let t = H::new().await;
        let a = t.login("auth/userpass/login/alice", 3600).await;
        let b = t.h.create(json!({"policies": ["default"], "ttl": "1h"})).await;
        let before = t.all().await;
        let index = LeaseIndex::new(StorageView::new(t.h.barrier.clone(), "sys/expire/"));
        let store = TokenStore::new(StorageView::new(t.h.barrier.clone(), "sys/token/"), index.clone(), t.h.hooks.clone())
            .await
            .unwrap();
        let again = LeaseManager::new(index, store.clone());
        again.index_existing_tokens().await.unwrap();
        assert!(again.is_indexed(), "the marker is there: nothing to index, nothing to wait for");
        let mut after = again.index().ids_under("").await.unwrap();
        after.sort();
        assert_eq!(after, before);
        let id = t.lease_id(&a).await;
        assert_eq!(again.lookup(&id).await.unwrap().unwrap().entry.path, "auth/userpass/login/alice");
        again.revoke_prefix("auth/", RevokeMode::Sync).await.unwrap();
        assert!(store.lookup(&a).await.unwrap().is_none() && store.lookup(&b).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn tokens_from_before_the_index_are_indexed_once() {
        let t = H::new().await;
        let a = t.login("auth/userpass/login/alice", 3600).await;
        let b = t.h.create(json!({"policies": ["default"], "ttl": "1h"})).await;
        let ids = t.all().await;
        // As stored by a version without leases: token records, no index, no marker.
        t.h.leases.view().clear().await.unwrap();
        assert!(t.all().await.is_empty());
        t.leases.index_existing_tokens().await.unwrap();
        t.leases.wait_indexed().await.unwrap();
        assert_eq!(t.all().await, ids);
        assert!(t.leases.lookup(&t.lease_id(&a).await).await.unwrap().is_some());
        // The marker makes later unseals skip the scan.
        t.leases.index().delete(&t.lease_id(&b).await).await.unwrap();
        t.leases.index_existing_tokens().await.unwrap();
        assert_eq!(t.all().await.len(), 1);
    }

    #[tokio::test]
    async fn tidy_drops_entries_whose_token_is_gone() {
        let t = H::new().await;
        let a = t.h.create(json!({"policies": ["default"], "ttl": "1h"})).await;
        let b = t.h.create(json!({"policies": ["default"], "ttl": "1h"})).await;
        let (ida, idb) = (t.lease_id(&a).await, t.lease_id(&b).await);
        // A dangling entry (e.g. left by a forced revoke of a token that then vanished).
        let e = t.leases.index().get(&ida).await.unwrap().unwrap();
        t.h.call_op(None, Operation::Update, "revoke", json!({"token": a})).await.unwrap();
        t.leases.index().put(&e).await.unwrap();
        assert!(t.leases.lookup(&ida).await.unwrap().is_none(), "no owner: not a lease");
        assert_eq!(t.leases.tidy().await.unwrap(), TidyReport { scanned: 2, removed: 1 });
        assert_eq!(t.all().await, vec![idb]);
    }

    #[tokio::test]
    async fn force_removes_the_lease_when_revocation_fails() {
        let t = H::new().await;
        let tok = t.login("auth/userpass/login/alice", 3600).await;
        let id = t.lease_id(&tok).await;
        *t.h.hooks.fail_revoke.lock() = true;
        let e = t.leases.revoke_prefix("auth/userpass", RevokeMode::Sync).await.unwrap_err();
        assert!(e.to_string().contains(&format!("failed to revoke {id:?} (1 / 1)")), "{e}");
        assert!(t.leases.lookup(&id).await.unwrap().is_some(), "a failed revoke keeps the lease");
        assert!(!t.h.works(&tok).await, "...but the token no longer works");
        t.leases.revoke_prefix("auth/userpass", RevokeMode::Force).await.unwrap();
        assert!(t.all().await.is_empty());
        // The token store still finishes the revocation later.
        *t.h.hooks.fail_revoke.lock() = false;
        t.h.store.tidy().await.unwrap();
        assert!(t.h.store.load(&t.h.store.hash(&tok)).await.unwrap().is_none());
    }

    /// Pre-index data (token records, no lease entries, no marker), many
    /// tokens: indexing runs in the background while requests are served;
    /// lease operations issued meanwhile wait and miss nothing; expiry goes on;
    /// the finished index holds exactly the live tokens' leases.
    #[tokio::test]
    async fn indexing_runs_in_the_background_and_lease_operations_wait_for_it() {
        const USERS: usize = 20;
        const PER_USER: usize = 60;
        let t = H::new().await;
        let mut by_user: Vec<Vec<String>> = vec![Vec::new(); USERS];
        for i in 0..USERS * PER_USER {
            by_user[i % USERS].push(t.login(&format!("auth/userpass/login/user{}", i % USERS), 3600).await);
        }
        // Token trees: a child of user3's first login, and short-lived logins that expire during the indexing.
        let kid = t.child(&by_user[3][0]).await;
        let mut short = Vec::new();
        for i in 0..40 {
            short.push(t.login(&format!("auth/userpass/login/short{i}"), 2).await);
        }
        let mut live_ids = Vec::new();
        for tok in by_user.iter().flatten().filter(|_| true) {
            live_ids.push(t.lease_id(tok).await);
        }
        let kid_id = t.lease_id(&kid).await;
        let probe = by_user[5].last().unwrap().clone();
        let probe_id = t.lease_id(&probe).await;
        t.h.leases.view().clear().await.unwrap();

        // A restart over that storage, with the background indexing held after its first page.
        let leases = LeaseManager::new(t.h.leases.clone(), t.h.store.clone());
        let gate = Arc::new(tokio::sync::Semaphore::new(1));
        *leases.gate.lock() = Some(gate.clone());
        leases.index_existing_tokens().await.unwrap();
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert!(!leases.is_indexed());
        // Served at once: tokens work without the index.
        assert!(t.h.works(&probe).await && t.h.works(&kid).await);
        // Lease operations wait for the index instead of missing what it lacks.
        let (l, p) = (leases.clone(), probe_id.clone());
        let lookup = tokio::spawn(async move { l.lookup(&p).await });
        let l = leases.clone();
        let revoke = tokio::spawn(async move { l.revoke_prefix("auth/userpass/login/user3", RevokeMode::Sync).await });
        let l = leases.clone();
        let listed = tokio::spawn(async move { l.list("auth/userpass/login/user7/").await });
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert!(!lookup.is_finished() && !revoke.is_finished() && !listed.is_finished());
        // Expiry does not wait: the sweeper revokes the expired logins (and nothing else).
        t.h.store.advance_clock(Duration::from_secs(3));
        t.h.store.sweep().await.unwrap();
        for tok in &short {
            assert!(t.h.store.load(&t.h.store.hash(tok)).await.unwrap().is_none());
        }
        assert!(t.h.works(&probe).await);

        gate.add_permits(1_000);
        let info = lookup.await.unwrap().unwrap().expect("a lease indexed after the lookup was asked for");
        assert_eq!(info.entry.path, "auth/userpass/login/user5");
        revoke.await.unwrap().unwrap();
        assert_eq!(listed.await.unwrap().unwrap().len(), PER_USER);
        assert!(leases.is_indexed());
        // user3's logins and the child of one of them are gone; everyone else's are kept.
        for tok in by_user[3].iter().chain([&kid]) {
            assert!(!t.h.works(tok).await);
        }
        assert!(t.h.works(&by_user[4][0]).await);
        let mut expect: Vec<String> = live_ids.into_iter().filter(|id| !id.starts_with("auth/userpass/login/user3/")).collect();
        expect.sort();
        let mut all = leases.index().ids_under("").await.unwrap();
        all.sort();
        assert!(!all.contains(&kid_id));
        assert_eq!(all, expect, "exactly the live tokens' leases, none dangling, none missing");
        // Done once: the marker is written, so a later restart waits for nothing.
        let again = LeaseManager::new(t.h.leases.clone(), t.h.store.clone());
        again.index_existing_tokens().await.unwrap();
        assert!(again.is_indexed());
    }

    /// Sealing (the manager dropped) during the background indexing ends it;
    /// the next start indexes what is left.
    #[tokio::test]
    async fn indexing_interrupted_by_a_seal_resumes_at_the_next_start() {
        let t = H::new().await;
        let mut toks = Vec::new();
        for i in 0..300 {
            toks.push(t.login(&format!("auth/userpass/login/u{}", i % 7), 3600).await);
        }
        let ids = t.all().await;
        t.h.leases.view().clear().await.unwrap();
        let first = LeaseManager::new(t.h.leases.clone(), t.h.store.clone());
        let gate = Arc::new(tokio::sync::Semaphore::new(3));
        *first.gate.lock() = Some(gate.clone());
        first.index_existing_tokens().await.unwrap();
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        let weak = Arc::downgrade(&first);
        drop(first);
        gate.add_permits(1_000);
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(weak.upgrade().is_none(), "the indexing task does not keep a sealed manager alive");
        assert!(t.all().await.len() < ids.len(), "interrupted part-way");
        let second = LeaseManager::new(t.h.leases.clone(), t.h.store.clone());
        second.index_existing_tokens().await.unwrap();
        second.wait_indexed().await.unwrap();
        assert_eq!(t.all().await, ids);
        assert!(second.lookup(&t.lease_id(&toks[0]).await).await.unwrap().is_some());
    }
}
