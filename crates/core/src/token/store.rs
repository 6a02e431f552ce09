//! The token store: hashing, storage layout, lookup cache, use counting,
//! revocation of trees, and the expiry sweeper.
//!
//! Storage layout inside the view (`sys/token/`), built only by the `*_key`
//! functions below:
//! - `salt`                                 the HMAC key (32 random bytes)
//! - `id/<hash>`                            [`TokenEntry`] JSON
//! - `accessor/<hash(accessor)>`            [`AccessorEntry`] JSON
//! - `parent/<parent hash>/<child hash>`    empty marker: walk a tree without a scan
//! - `expiry/<hour>/<unix secs>-<hash>`     empty marker: the sweeper lists only due hours
//! - `role/<name>`                          [`super::roles::Role`] JSON
//!
//! Every token except root tokens (path `auth/token/root`, as Vault) also has
//! a lease index entry (`crate::lease`), written and deleted in the same
//! batch as its `id/` record.
//!
//! Batch tokens (`super::batch`) have none of this: they are never stored,
//! never cached and never indexed. Creating one touches no storage; checking
//! one decrypts it and, for a non-orphan, looks its parent up (cache first).

use super::batch;
use super::roles::Role;
use super::ttl::format_rfc3339_nano;
use super::{InternalCreate, REVOCATION_PENDING, TokenBackend, TokenEntry, TokenHooks, UseOutcome};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::lease::{LeaseEntry, LeaseIndex};
use crate::logical::{Auth, Caller};
use crate::view::{Batch, StorageView, ViewOp};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Prefix of service tokens (Vault ≥ 1.10 / OpenBao docs).
pub const SERVICE_PREFIX: &str = "hvs.";
/// Random body length of tokens and accessors (base62 characters).
const RANDOM_LEN: usize = 24;
/// Entries kept in the lookup cache.
const CACHE_CAPACITY: usize = 16_384;
/// How often the sweeper looks for expired tokens.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Stripes of the per-token mutation lock.
const STRIPES: usize = 64;
/// Creation path of root tokens (init, generate-root, `-dev`). As in Vault,
/// they are not registered as leases.
pub(crate) const ROOT_TOKEN_PATH: &str = "auth/token/root";
/// Domain separation of the HMAC that names a token's lease.
const LEASE_ID_CONTEXT: &[u8] = b"coffer lease id\0";
/// Lease entries written per storage batch when indexing existing tokens.
pub(crate) const INDEX_BATCH: usize = 512;

const SALT_KEY: &str = "salt";
fn id_key(hash: &str) -> String {
    format!("id/{hash}")
}
fn accessor_key(accessor_hash: &str) -> String {
    format!("accessor/{accessor_hash}")
}
fn parent_prefix(parent: &str) -> String {
    format!("parent/{parent}/")
}
fn parent_key(parent: &str, child: &str) -> String {
    format!("parent/{parent}/{child}")
}
const EXPIRY_PREFIX: &str = "expiry/";
fn expiry_hour(unix_secs: i64) -> String {
    format!("{:012}", unix_secs.max(0) / 3600)
}
fn expiry_key(expire_ns: i64, hash: &str) -> String {
    let secs = expire_ns.div_euclid(1_000_000_000);
    format!("{EXPIRY_PREFIX}{}/{:016}-{hash}", expiry_hour(secs), secs.max(0))
}
pub(super) fn role_key(name: &str) -> String {
    format!("role/{name}")
}
pub(super) const ROLE_PREFIX: &str = "role/";

/// Value of an accessor index entry.
#[derive(Serialize, Deserialize)]
struct AccessorEntry {
    accessor: String,
    token_hash: String,
}

/// Lookup cache: hash → entry. A single-node cache, kept coherent by updating
/// or invalidating it on every write/revoke of a token *after* the storage
/// write. A replicated storage backend (raft) must also invalidate entries
/// when it applies writes made by another node.
struct Cache {
    map: RwLock<HashMap<String, Arc<TokenEntry>>>,
    /// Bumped (under the write lock) by every mutation; a reader that missed
    /// only inserts what it read if no mutation happened meanwhile, so a
    /// revoked token can never be resurrected by a slow reader.
    generation: AtomicU64,
}

impl Cache {
    fn get(&self, hash: &str) -> Option<Arc<TokenEntry>> {
        self.map.read().get(hash).cloned()
    }
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
    fn fill(&self, generation: u64, entry: Arc<TokenEntry>) {
        let mut map = self.map.write();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        Self::insert_bounded(&mut map, entry);
    }
    fn set(&self, entry: Arc<TokenEntry>) {
        let mut map = self.map.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        Self::insert_bounded(&mut map, entry);
    }
    fn remove(&self, hash: &str) {
        let mut map = self.map.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove(hash);
    }
    fn insert_bounded(map: &mut HashMap<String, Arc<TokenEntry>>, entry: Arc<TokenEntry>) {
        if map.len() >= CACHE_CAPACITY && !map.contains_key(&entry.hash) {
            // Evict an arbitrary entry; the cache is an optimisation only.
            if let Some(k) = map.keys().next().cloned() {
                map.remove(&k);
            }
        }
        map.insert(entry.hash.clone(), entry);
    }
}

pub struct TokenStore {
    view: StorageView,
    /// Where each token's lease entry goes, in the token's own write batches.
    leases: LeaseIndex,
    hooks: Arc<dyn TokenHooks>,
    key: hmac::Key,
    rng: SystemRandom,
    cache: Cache,
    /// Serialises read-modify-write of one token (use counting, renew, revoke).
    stripes: Vec<tokio::sync::Mutex<()>>,
    /// Tokens found expired by `lookup` and queued for background revocation.
    pending: Mutex<HashSet<String>>,
    me: Weak<TokenStore>,
    /// Test hook: nanoseconds added to the wall clock.
    clock_skew_ns: AtomicI64,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore").field("view", &self.view).finish_non_exhaustive()
    }
}

impl TokenStore {
    /// `view` is the barrier view the core gives the token store
    /// (`sys/token/`). Creates or loads the random salt key kept there.
    /// `leases` is the lease index, on the same barrier.
    pub async fn new(view: StorageView, leases: LeaseIndex, hooks: Arc<dyn TokenHooks>) -> Result<Arc<TokenStore>> {
        let rng = SystemRandom::new();
        let salt: Zeroizing<Vec<u8>> = match view.get(SALT_KEY).await? {
            Some(s) if s.len() == 32 => s,
            Some(_) => return Err(Error::internal("token store salt has an unexpected length")),
            None => {
                let mut s = Zeroizing::new(vec![0u8; 32]);
                rng.fill(&mut s).map_err(|_| Error::internal("random generator failed"))?;
                view.put(SALT_KEY, &s).await?;
                s
            }
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, &salt);
        Ok(Arc::new_cyclic(|me| TokenStore {
            view,
            leases,
            hooks,
            key,
            rng,
            cache: Cache { map: RwLock::new(HashMap::new()), generation: AtomicU64::new(0) },
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            pending: Mutex::new(HashSet::new()),
            me: me.clone(),
            clock_skew_ns: AtomicI64::new(0),
        }))
    }

    /// Salted HMAC-SHA256 (hex) of a token: its storage key and cubbyhole id.
    pub fn hash(&self, token: &str) -> String {
        hex::encode(hmac::sign(&self.key, token.as_bytes()).as_ref())
    }

    pub(super) fn view(&self) -> &StorageView {
        &self.view
    }

    /// The lease id of a token: `<creation path>/h<hex>`, where the hex is a
    /// keyed HMAC of its hash (so the id reveals neither the token nor its
    /// storage key). `None` for root tokens, which have no lease.
    pub(crate) fn lease_id(&self, e: &TokenEntry) -> Option<String> {
        if e.path == ROOT_TOKEN_PATH {
            return None;
        }
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(LEASE_ID_CONTEXT);
        ctx.update(e.hash.as_bytes());
        let suffix = hex::encode(ctx.sign().as_ref());
        Some(format!("{}/h{suffix}", e.path.trim_end_matches('/')))
    }

    fn lease_entry(&self, e: &TokenEntry) -> Option<LeaseEntry> {
        self.lease_id(e).map(|id| LeaseEntry::token(id, e.path.clone(), e.issue_time_ns, e.hash.clone()))
    }

    pub(super) fn hooks(&self) -> &Arc<dyn TokenHooks> {
        &self.hooks
    }

    pub fn backend(self: &Arc<Self>) -> Arc<dyn Backend> {
        Arc::new(TokenBackend::new(self.clone()))
    }

    // ------------------------------------------------------------------ time

    pub(crate) fn now_ns(&self) -> i64 {
        let real = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
        real + self.clock_skew_ns.load(Ordering::Relaxed)
    }

    /// Tests: move this store's clock forward.
    #[cfg(test)]
    pub(crate) fn advance_clock(&self, d: Duration) {
        self.clock_skew_ns.fetch_add(d.as_nanos() as i64, Ordering::Relaxed);
    }

    // ------------------------------------------------------------------ random

    pub(super) fn random_base62(&self, len: usize) -> Result<String> {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut out = String::with_capacity(len);
        let mut buf = Zeroizing::new([0u8; 64]);
        while out.len() < len {
            self.rng.fill(&mut buf[..]).map_err(|_| Error::internal("random generator failed"))?;
            // Rejection sampling: 248 = 4 * 62, so `b % 62` stays uniform.
            for &b in buf.iter().filter(|b| **b < 248) {
                if out.len() == len {
                    break;
                }
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------------ reads

    /// Read an entry by hash (cache, then storage), whatever its state.
    pub(crate) async fn load(&self, hash: &str) -> Result<Option<Arc<TokenEntry>>> {
        if let Some(e) = self.cache.get(hash) {
            return Ok(Some(e));
        }
        let generation = self.cache.generation();
        match self.view.get_json::<TokenEntry>(&id_key(hash)).await? {
            None => Ok(None),
            Some(e) => {
                let e = Arc::new(e);
                self.cache.fill(generation, e.clone());
                Ok(Some(e))
            }
        }
    }

    fn is_expired(&self, e: &TokenEntry, now_ns: i64) -> bool {
        e.expire_ns.is_some_and(|at| at <= now_ns)
    }

    /// A usable entry: not pending revocation, not expired (an expired one is
    /// queued for revocation in the background).
    fn usable(&self, e: Arc<TokenEntry>) -> Option<Arc<TokenEntry>> {
        if e.num_uses == REVOCATION_PENDING {
            return None;
        }
        if self.is_expired(&e, self.now_ns()) {
            self.revoke_in_background(&e.hash);
            return None;
        }
        Some(e)
    }

    /// Hot path, once per authenticated request: `None` if unknown, revoked,
    /// used up or expired. One HMAC plus a cache hit, or one storage read.
    /// A batch token: one decryption plus, for a non-orphan, its parent's lookup.
    pub async fn lookup(&self, token: &str) -> Result<Option<Arc<TokenEntry>>> {
        if token.is_empty() {
            return Ok(None);
        }
        if batch::is_batch(token) {
            return self.lookup_batch(token).await;
        }
        Ok(self.load(&self.hash(token)).await?.and_then(|e| self.usable(e)))
    }

    /// Like [`lookup`](Self::lookup) but also returns used-up and expired
    /// entries (for the handlers that serve the request using the last use).
    /// A batch token has no such state: it is valid or it is nothing.
    pub(super) async fn lookup_any(&self, token: &str) -> Result<Option<Arc<TokenEntry>>> {
        if token.is_empty() {
            return Ok(None);
        }
        if batch::is_batch(token) {
            return self.lookup_batch(token).await;
        }
        self.load(&self.hash(token)).await
    }

    /// The entry a batch token carries, if it opens under this cluster's
    /// keyring, has not expired, and (non-orphans) its parent is usable: a
    /// non-orphan batch token dies with its parent, as in Vault. Anything
    /// else, however malformed, is `None`, like an unknown token.
    async fn lookup_batch(&self, token: &str) -> Result<Option<Arc<TokenEntry>>> {
        let Some(mut e) = self.open_batch(token) else { return Ok(None) };
        if self.is_expired(&e, self.now_ns()) {
            return Ok(None);
        }
        if let Some(parent) = &e.parent
            && self.load(parent).await?.and_then(|p| self.usable(p)).is_none()
        {
            return Ok(None);
        }
        e.hash = self.hash(token);
        Ok(Some(Arc::new(e)))
    }

    fn open_batch(&self, token: &str) -> Option<TokenEntry> {
        let sealed = batch::sealed_bytes(token)?;
        let plain = self.view.barrier().open_detached(batch::AAD, &sealed)?;
        batch::decode(&plain)
    }

    /// Entry behind an accessor, whatever its state.
    pub(super) async fn accessor_any(&self, accessor: &str) -> Result<Option<Arc<TokenEntry>>> {
        if accessor.is_empty() {
            return Ok(None);
        }
        let Some(a) = self.view.get_json::<AccessorEntry>(&accessor_key(&self.hash(accessor))).await? else {
            return Ok(None);
        };
        let Some(e) = self.load(&a.token_hash).await? else { return Ok(None) };
        // The index is keyed by a hash; make sure it points at this accessor.
        if !bool::from(e.accessor.as_bytes().ct_eq(accessor.as_bytes())) {
            return Ok(None);
        }
        Ok(Some(e))
    }

    pub async fn lookup_accessor(&self, accessor: &str) -> Result<Option<Arc<TokenEntry>>> {
        Ok(self.accessor_any(accessor).await?.and_then(|e| self.usable(e)))
    }

    /// All accessors (for `LIST accessors`), sorted.
    pub(super) async fn accessors(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for k in self.view.list("accessor/").await? {
            if let Some(a) = self.view.get_json::<AccessorEntry>(&accessor_key(&k)).await? {
                out.push(a.accessor);
            }
        }
        out.sort();
        Ok(out)
    }

    pub(super) async fn role(&self, name: &str) -> Result<Option<Role>> {
        if name.is_empty() {
            return Ok(None);
        }
        self.view.get_json(&role_key(name)).await
    }

    /// Serialise read-modify-write of one token with every other mutation of it.
    pub(super) async fn lock_token(&self, hash: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.stripe(hash).lock().await
    }

    pub(super) fn arc(&self) -> Option<Arc<TokenStore>> {
        self.me.upgrade()
    }

    fn stripe(&self, hash: &str) -> &tokio::sync::Mutex<()> {
        let idx = hash.bytes().take(4).fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize));
        &self.stripes[idx % STRIPES]
    }

    // ------------------------------------------------------------------ writes

    /// Persist a changed entry (and move its expiry marker), then update the cache.
    pub(super) async fn update(&self, old: &TokenEntry, new: TokenEntry) -> Result<Arc<TokenEntry>> {
        let mut ops = vec![ViewOp::Put(id_key(&new.hash), serde_json::to_vec(&new)?)];
        if old.expire_ns != new.expire_ns {
            if let Some(at) = old.expire_ns {
                ops.push(ViewOp::Delete(expiry_key(at, &old.hash)));
            }
            if let Some(at) = new.expire_ns {
                ops.push(ViewOp::Put(expiry_key(at, &new.hash), Vec::new()));
            }
        }
        if old.parent != new.parent {
            if let Some(p) = &old.parent {
                ops.push(ViewOp::Delete(parent_key(p, &old.hash)));
            }
            if let Some(p) = &new.parent {
                ops.push(ViewOp::Put(parent_key(p, &new.hash), Vec::new()));
            }
        }
        self.view.write(ops).await?;
        let new = Arc::new(new);
        self.cache.set(new.clone());
        Ok(new)
    }

    /// Store a new token. Fails if a token with this id exists.
    pub(super) async fn insert(&self, token: &str, mut e: TokenEntry) -> Result<Arc<TokenEntry>> {
        e.hash = self.hash(token);
        let _g = self.stripe(&e.hash).lock().await;
        if self.view.get(&id_key(&e.hash)).await?.is_some() {
            return Err(Error::invalid("cannot create a token with a duplicate ID"));
        }
        let acc = AccessorEntry { accessor: e.accessor.clone(), token_hash: e.hash.clone() };
        let mut ops = vec![
            ViewOp::Put(id_key(&e.hash), serde_json::to_vec(&e)?),
            ViewOp::Put(accessor_key(&self.hash(&e.accessor)), serde_json::to_vec(&acc)?),
        ];
        if let Some(p) = &e.parent {
            ops.push(ViewOp::Put(parent_key(p, &e.hash), Vec::new()));
        }
        if let Some(at) = e.expire_ns {
            ops.push(ViewOp::Put(expiry_key(at, &e.hash), Vec::new()));
        }
        let mut batch = Batch::new();
        batch.add(&self.view, ops)?;
        if let Some(lease) = self.lease_entry(&e) {
            batch.add(self.leases.view(), [self.leases.put_op(&lease)?])?;
        }
        batch.commit().await?;
        let e = Arc::new(e);
        self.cache.set(e.clone());
        Ok(e)
    }

    /// Mint a batch token for `e` (its parent, policies, path, names, creation
    /// time and TTL; nothing else is kept). Touches no storage. The entry
    /// returned is the one the token decodes to, so a lookup shows the same.
    pub(super) fn create_batch(&self, e: &TokenEntry) -> Result<(Zeroizing<String>, Arc<TokenEntry>)> {
        let plain = batch::encode(e)?;
        let mut entry = batch::decode(&plain).ok_or_else(|| Error::internal("batch token does not decode"))?;
        let sealed = self.view.barrier().seal_detached(batch::AAD, &plain)?;
        let token = batch::token_string(&sealed);
        entry.hash = self.hash(&token);
        Ok((token, Arc::new(entry)))
    }

    /// A fresh service token and accessor.
    pub(super) fn new_token(&self) -> Result<(Zeroizing<String>, String)> {
        let token = Zeroizing::new(format!("{SERVICE_PREFIX}{}", self.random_base62(RANDOM_LEN)?));
        Ok((token, self.random_base62(RANDOM_LEN)?))
    }

    /// Called before a request is served: enforces `num_uses`.
    pub async fn use_token(&self, entry: &Arc<TokenEntry>) -> Result<UseOutcome> {
        if entry.num_uses == 0 {
            return Ok(UseOutcome::Continue);
        }
        let _g = self.stripe(&entry.hash).lock().await;
        // Re-read under the stripe lock: concurrent uses must not both pass.
        let Some(cur) = self.load(&entry.hash).await? else { return Err(Error::InvalidToken) };
        match cur.num_uses {
            0 => Ok(UseOutcome::Continue),
            n if n < 0 => Err(Error::InvalidToken),
            n => {
                let mut next = (*cur).clone();
                next.num_uses = if n == 1 { REVOCATION_PENDING } else { n - 1 };
                self.update(&cur, next).await?;
                Ok(if n == 1 { UseOutcome::RevokeAfter } else { UseOutcome::Continue })
            }
        }
    }

    // ------------------------------------------------------------------ revocation

    /// Revoke a token and its whole tree of descendants.
    pub async fn revoke_entry(&self, entry: &TokenEntry) -> Result<()> {
        self.revoke_tree(&entry.hash).await
    }

    /// Post-order walk through the `parent/` index: children go first, so a
    /// failure leaves the remaining tree reachable from its root.
    pub(crate) async fn revoke_tree(&self, root: &str) -> Result<()> {
        let mut stack = vec![(root.to_string(), false)];
        let mut seen = HashSet::new();
        while let Some((hash, expanded)) = stack.pop() {
            if expanded {
                self.revoke_one(&hash, false).await?;
                continue;
            }
            if !seen.insert(hash.clone()) {
                continue; // corrupt index; never loop
            }
            stack.push((hash.clone(), true));
            for child in self.view.list(&parent_prefix(&hash)).await? {
                if !child.ends_with('/') {
                    stack.push((child, false));
                }
            }
        }
        Ok(())
    }

    /// Revoke one token. With `orphan_children`, its children are made orphans
    /// first (revoke-orphan). Idempotent: a missing entry is not an error.
    pub(super) async fn revoke_one(&self, hash: &str, orphan_children: bool) -> Result<()> {
        // 1. Mark it used up so it stops working at once, even if a hook fails.
        let entry = {
            let _g = self.stripe(hash).lock().await;
            let Some(e) = self.load(hash).await? else {
                self.cache.remove(hash);
                return Ok(());
            };
            if e.num_uses != REVOCATION_PENDING {
                let mut pending = (*e).clone();
                pending.num_uses = REVOCATION_PENDING;
                self.update(&e, pending).await?
            } else {
                e
            }
        };
        if orphan_children {
            for child in self.view.list(&parent_prefix(hash)).await? {
                if child.ends_with('/') {
                    continue;
                }
                let _g = self.stripe(&child).lock().await;
                match self.load(&child).await? {
                    Some(c) => {
                        let mut next = (*c).clone();
                        next.parent = None;
                        self.update(&c, next).await?;
                    }
                    None => self.view.delete(&parent_key(hash, &child)).await?,
                }
            }
        }
        // 2. Let the core destroy what hangs off the token (cubbyhole, leases).
        self.hooks.on_revoke(hash).await?;
        // 3. Delete the record, its index entries and its lease, together.
        let mut ops = vec![
            ViewOp::Delete(id_key(hash)),
            ViewOp::Delete(accessor_key(&self.hash(&entry.accessor))),
        ];
        if let Some(p) = &entry.parent {
            ops.push(ViewOp::Delete(parent_key(p, hash)));
        }
        if let Some(at) = entry.expire_ns {
            ops.push(ViewOp::Delete(expiry_key(at, hash)));
        }
        let mut batch = Batch::new();
        batch.add(&self.view, ops)?;
        if let Some(id) = self.lease_id(&entry) {
            batch.add(self.leases.view(), [self.leases.delete_op(&id)])?;
        }
        batch.commit().await?;
        self.cache.remove(hash);
        tracing::debug!(accessor = %entry.accessor, "token revoked");
        Ok(())
    }

    /// Make a token expire now (lazy revocation through `sys/leases`): it
    /// stops working at once and the sweeper revokes its tree within a
    /// sweep interval. A missing token is not an error.
    pub(crate) async fn expire_now(&self, hash: &str) -> Result<()> {
        let _g = self.stripe(hash).lock().await;
        let Some(cur) = self.load(hash).await? else { return Ok(()) };
        let now = self.now_ns();
        if cur.expire_ns.is_some_and(|at| at <= now) {
            return Ok(());
        }
        let mut next = (*cur).clone();
        next.expire_ns = Some(now);
        self.update(&cur, next).await?;
        Ok(())
    }

    /// Give the stored tokens whose hash starts with `hash_prefix` (token
    /// hashes are lowercase hex, so 256 two-digit prefixes cover them all)
    /// the lease index entries they lack (tokens created before the lease
    /// index existed), [`INDEX_BATCH`] entries to a storage batch. Returns how
    /// many were written. Memory is one page of hashes and one batch.
    ///
    /// Safe beside live traffic: a token created meanwhile writes its own
    /// entry (the same bytes); a token revoked between its read here and this
    /// batch's commit would keep a dangling entry, so each written token is
    /// read again from storage after the commit and its entry removed if the
    /// record is gone (a revocation committed after ours deletes the entry
    /// itself, in its own batch).
    pub(crate) async fn index_leases_page(&self, leases: &LeaseIndex, hash_prefix: &str) -> Result<usize> {
        let hashes: Vec<String> = self
            .view
            .keys_recursive(&id_key(hash_prefix))
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix("id/").map(str::to_string))
            .collect();
        let mut n = 0;
        for chunk in hashes.chunks(INDEX_BATCH) {
            let mut batch = Batch::new();
            let mut written = Vec::new();
            for hash in chunk {
                // Storage, not the cache: the cache may briefly outlive a revocation.
                let Some(e) = self.view.get_json::<TokenEntry>(&id_key(hash)).await? else { continue };
                let Some(lease) = self.lease_entry(&e) else { continue };
                if leases.get(&lease.lease_id).await?.is_some() {
                    continue;
                }
                batch.add(leases.view(), [leases.put_op(&lease)?])?;
                written.push((e.hash.clone(), lease.lease_id));
            }
            if written.is_empty() {
                continue;
            }
            batch.commit().await?;
            let mut dangling = Vec::new();
            for (hash, id) in written {
                if self.view.get(&id_key(&hash)).await?.is_some() {
                    n += 1;
                } else {
                    dangling.push(leases.delete_op(&id));
                }
            }
            if !dangling.is_empty() {
                leases.view().write(dangling).await?;
            }
        }
        Ok(n)
    }

    fn revoke_in_background(&self, hash: &str) {
        if !self.pending.lock().insert(hash.to_string()) {
            return;
        }
        let (Some(me), Ok(rt)) = (self.me.upgrade(), tokio::runtime::Handle::try_current()) else {
            self.pending.lock().remove(hash);
            return;
        };
        let hash = hash.to_string();
        rt.spawn(async move {
            if let Err(e) = me.revoke_tree(&hash).await {
                tracing::warn!(error = %e, "revoking an expired token failed; the sweeper will retry");
            }
            me.pending.lock().remove(&hash);
        });
    }

    /// One sweep: revoke every token (tree) whose expiry has passed. Lists
    /// only the hour buckets that are due, never the whole token set.
    pub(crate) async fn sweep(&self) -> Result<usize> {
        let now_ns = self.now_ns();
        let now_secs = now_ns.div_euclid(1_000_000_000);
        let now_hour = expiry_hour(now_secs);
        let mut revoked = 0;
        for hour in self.view.list(EXPIRY_PREFIX).await? {
            let hour = hour.trim_end_matches('/');
            if hour > now_hour.as_str() {
                break; // sorted: later buckets are not due
            }
            let bucket = format!("{EXPIRY_PREFIX}{hour}/");
            for name in self.view.list(&bucket).await? {
                let Some((secs, hash)) = name.split_once('-') else { continue };
                if secs.parse::<i64>().map_or(true, |s| s > now_secs) {
                    break;
                }
                match self.load(hash).await? {
                    Some(e) if self.is_expired(&e, now_ns) => {
                        self.revoke_tree(hash).await?;
                        revoked += 1;
                    }
                    Some(_) => {} // renewed, or due later this second
                    None => self.view.delete(&format!("{bucket}{name}")).await?,
                }
            }
        }
        Ok(revoked)
    }

    /// Background sweeper revoking expired tokens; the core aborts the handle
    /// on seal and shutdown.
    pub fn spawn_expiry(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(store) = me.upgrade() else { return };
                if let Err(e) = store.sweep().await {
                    tracing::warn!(error = %e, "token expiry sweep failed");
                }
            }
        })
    }

    /// `tidy`: drop index entries that point at nothing, revoke tokens whose
    /// parent is gone. A full scan, run in the background.
    pub(crate) async fn tidy(&self) -> Result<()> {
        for k in self.view.list("accessor/").await? {
            if let Some(a) = self.view.get_json::<AccessorEntry>(&accessor_key(&k)).await?
                && self.load(&a.token_hash).await?.is_none()
            {
                self.view.delete(&accessor_key(&k)).await?;
            }
        }
        for parent in self.view.list("parent/").await? {
            let parent = parent.trim_end_matches('/');
            if self.load(parent).await?.is_some() {
                continue;
            }
            for child in self.view.list(&parent_prefix(parent)).await? {
                match self.load(&child).await? {
                    Some(_) => self.revoke_tree(&child).await?,
                    None => self.view.delete(&parent_key(parent, &child)).await?,
                }
            }
        }
        // Tokens stuck half-revoked (a hook failed) are retried.
        for hash in self.view.list("id/").await? {
            if let Some(e) = self.load(&hash).await?
                && e.num_uses == REVOCATION_PENDING
            {
                self.revoke_tree(&hash).await?;
            }
        }
        self.sweep().await?;
        Ok(())
    }

    // ------------------------------------------------------------------ for the core

    pub fn caller(&self, entry: &TokenEntry) -> Caller {
        Caller {
            token_hash: entry.hash.clone(),
            accessor: entry.accessor.clone(),
            policies: entry.policies.clone(),
            display_name: entry.display_name.clone(),
            num_uses: entry.num_uses,
            is_root: entry.is_root(),
            orphan: entry.orphan(),
            entity_id: entry.entity_id.clone(),
            token_type: entry.token_type.clone(),
        }
    }

    /// The `auth` block of a response for this token.
    pub fn auth_for(&self, token: &str, entry: &TokenEntry) -> Auth {
        Auth {
            client_token: token.to_string(),
            accessor: entry.accessor.clone(),
            policies: entry.policies.clone(),
            token_policies: entry.policies.clone(),
            identity_policies: Vec::new(),
            metadata: entry.meta.clone(),
            lease_duration: entry.ttl,
            renewable: entry.renewable,
            entity_id: entry.entity_id.clone(),
            token_type: entry.token_type.clone(),
            orphan: entry.orphan(),
            mfa_requirement: None,
            num_uses: entry.num_uses,
            entity_created: false,
        }
    }

    /// A root token for init / `-dev-root-token-id`: policies `["root"]`, no
    /// TTL, path `auth/token/root`. `id` lets dev mode choose it; such a
    /// token is named `token`, as Vault's dev mode names the root token it
    /// creates with the chosen id (init's own is named `root`).
    pub async fn create_root_token(&self, id: Option<&str>) -> Result<String> {
        let (token, accessor) = self.new_token()?;
        let display_name = match id {
            Some(id) if !id.is_empty() => "token",
            _ => "root",
        };
        let token: Zeroizing<String> = match id {
            Some(id) if !id.is_empty() => Zeroizing::new(id.to_string()),
            _ => token,
        };
        let now = self.now_ns();
        let e = TokenEntry {
            hash: String::new(),
            accessor,
            parent: None,
            policies: vec!["root".into()],
            path: "auth/token/root".into(),
            meta: None,
            display_name: display_name.into(),
            num_uses: 0,
            creation_time: now.div_euclid(1_000_000_000),
            issue_time_ns: now,
            creation_ttl: 0,
            ttl: 0,
            explicit_max_ttl: 0,
            max_ttl: 0,
            period: 0,
            renewable: false,
            token_type: "service".into(),
            role: String::new(),
            expire_ns: None,
            last_renewal_ns: None,
            entity_id: String::new(),
            bound_cidrs: Vec::new(),
        };
        self.insert(&token, e).await?;
        Ok(token.to_string())
    }

    /// Token creation for the core (response wrapping) and auth methods
    /// (logins). TTLs are taken as given; the caller has applied its limits.
    pub async fn create_internal(&self, p: InternalCreate) -> Result<(String, Arc<TokenEntry>)> {
        if p.num_uses < 0 {
            return Err(Error::invalid("number of uses cannot be negative"));
        }
        if p.batch {
            if p.num_uses != 0 || !p.period.is_zero() || !p.explicit_max_ttl.is_zero() {
                return Err(Error::internal("batch tokens have no use limit, period or explicit max TTL"));
            }
            if p.ttl.as_secs() == 0 {
                return Err(Error::internal("batch tokens must expire (a TTL of at least one second)"));
            }
            let now = self.now_ns().div_euclid(1_000_000_000);
            let e = TokenEntry {
                hash: String::new(),
                accessor: String::new(),
                parent: p.parent,
                policies: super::create::sanitize_policies(&p.policies, false),
                path: p.path,
                meta: p.meta,
                display_name: p.display_name,
                num_uses: 0,
                creation_time: now,
                issue_time_ns: now * 1_000_000_000,
                creation_ttl: p.ttl.as_secs(),
                ttl: p.ttl.as_secs(),
                explicit_max_ttl: 0,
                max_ttl: 0,
                period: 0,
                renewable: false,
                token_type: "batch".into(),
                role: String::new(),
                expire_ns: None,
                last_renewal_ns: None,
                entity_id: p.entity_id,
                bound_cidrs: p.bound_cidrs,
            };
            if e.policies.iter().any(|p| p == "root") {
                return Err(Error::invalid("batch tokens cannot be root tokens"));
            }
            let (token, e) = self.create_batch(&e)?;
            return Ok((token.to_string(), e));
        }
        let (token, accessor) = self.new_token()?;
        let now = self.now_ns();
        // A periodic token's first TTL is its period unless the caller capped it.
        let ttl = if p.ttl.is_zero() { p.period } else { p.ttl };
        let e = TokenEntry {
            hash: String::new(),
            accessor,
            parent: p.parent,
            policies: super::create::sanitize_policies(&p.policies, false),
            path: p.path,
            meta: p.meta,
            display_name: p.display_name,
            num_uses: p.num_uses,
            creation_time: now.div_euclid(1_000_000_000),
            issue_time_ns: now,
            creation_ttl: ttl.as_secs(),
            ttl: ttl.as_secs(),
            explicit_max_ttl: p.explicit_max_ttl.as_secs(),
            max_ttl: p.max_ttl.as_secs(),
            period: p.period.as_secs(),
            renewable: p.renewable && !ttl.is_zero(),
            token_type: "service".into(),
            role: String::new(),
            expire_ns: (!ttl.is_zero()).then(|| now + ttl.as_nanos() as i64),
            last_renewal_ns: None,
            entity_id: p.entity_id,
            // A token that never expires is not bound (Vault).
            bound_cidrs: if ttl.is_zero() { Vec::new() } else { p.bound_cidrs },
        };
        let e = self.insert(&token, e).await?;
        Ok((token.to_string(), e))
    }

    /// The `data` of a lookup response. `id` is the token when the caller
    /// presented it, `""` for lookups by accessor.
    pub(super) fn lookup_data(&self, id: &str, e: &TokenEntry) -> crate::logical::Data {
        use serde_json::{Value, json};
        let now = self.now_ns();
        let mut d = crate::logical::Data::new();
        // Keys in the order Vault prints them (alphabetical).
        d.insert("accessor".into(), json!(e.accessor));
        if !e.bound_cidrs.is_empty() {
            d.insert("bound_cidrs".into(), json!(crate::cidr::to_strings(&e.bound_cidrs)));
        }
        d.insert("creation_time".into(), json!(e.creation_time));
        d.insert("creation_ttl".into(), json!(e.creation_ttl));
        d.insert("display_name".into(), json!(e.display_name));
        d.insert("entity_id".into(), json!(e.entity_id));
        d.insert(
            "expire_time".into(),
            e.expire_ns.map_or(Value::Null, |at| Value::String(format_rfc3339_nano(at))),
        );
        d.insert("explicit_max_ttl".into(), json!(e.explicit_max_ttl));
        d.insert("id".into(), json!(id));
        d.insert("issue_time".into(), json!(format_rfc3339_nano(e.issue_time_ns)));
        if let Some(at) = e.last_renewal_ns {
            d.insert("last_renewal".into(), json!(format_rfc3339_nano(at)));
            d.insert("last_renewal_time".into(), json!(at.div_euclid(1_000_000_000)));
        }
        d.insert("meta".into(), e.meta.as_ref().map_or(Value::Null, |m| json!(m)));
        d.insert("num_uses".into(), json!(e.num_uses));
        d.insert("orphan".into(), json!(e.orphan()));
        d.insert("path".into(), json!(e.path));
        if e.period > 0 {
            d.insert("period".into(), json!(e.period));
        }
        d.insert("policies".into(), json!(e.policies));
        let live = e.expire_ns.is_some_and(|at| at > now);
        d.insert("renewable".into(), json!(e.renewable && live));
        if !e.role.is_empty() {
            d.insert("role".into(), json!(e.role));
        }
        let ttl = e.expire_ns.map_or(0, |at| ((at - now).max(0)) / 1_000_000_000);
        d.insert("ttl".into(), json!(ttl));
        d.insert("type".into(), json!(e.token_type));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::cidr::BoundCidr;
    use crate::logical::Operation;

    #[tokio::test]
    async fn stored_form_has_no_plaintext_token() {
        let h = Harness::new().await;
        let t = h.create(json!({"policies": ["default"], "id": "plainly-visible-custom-id"})).await;
        let t2 = h.create(json!({"policies": ["default"]})).await;
        for tok in [&t, &t2, &h.root] {
            // Neither physical keys nor ciphertexts contain it...
            for (k, v) in h.physical().await {
                assert!(!k.contains(tok.as_str()), "token in key {k}");
                assert!(!v.windows(tok.len()).any(|w| w == tok.as_bytes()), "token in value at {k}");
            }
            // ...nor any decrypted record (token store or lease index): only its salted hash is kept.
            for view in [h.store.view(), h.leases.view()] {
                for k in view.keys_recursive("").await.unwrap() {
                    assert!(!k.contains(tok.as_str()));
                    let v = view.get(&k).await.unwrap().unwrap();
                    assert!(!v.windows(tok.len()).any(|w| w == tok.as_bytes()), "token in record {k}");
                }
            }
        }
        // The hash is a keyed HMAC, not a bare SHA-256 of the token.
        let e = h.store.lookup(&t2).await.unwrap().unwrap();
        assert_eq!(e.hash, h.store.hash(&t2));
        assert_eq!(e.hash.len(), 64);
        assert_ne!(e.hash, hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, t2.as_bytes())));
        // Debug never shows the hash (the cubbyhole id) or the token.
        let dbg = format!("{e:?}");
        assert!(!dbg.contains(&e.hash) && dbg.contains("[redacted]"), "{dbg}");
    }

    #[tokio::test]
    async fn entries_round_trip_with_and_without_bound_cidrs() {
        let h = Harness::new().await;
        let plain = (*h.store.lookup(&h.root).await.unwrap().unwrap()).clone();
        // Unbound: the stored JSON has no `bound_cidrs` key, so records written
        // before the field existed and after it look alike, and both load.
        let v = serde_json::to_value(&plain).unwrap();
        assert!(v.get("bound_cidrs").is_none(), "{v}");
        assert_eq!(serde_json::from_value::<TokenEntry>(v).unwrap(), plain);
        // Bound: kept in display form and parsed back.
        let mut bound = plain.clone();
        bound.bound_cidrs = ["10.0.0.0/8", "127.0.0.1/32", "fd00::/8"].iter().map(|c| BoundCidr::parse(c).unwrap()).collect();
        let v = serde_json::to_value(&bound).unwrap();
        assert_eq!(v["bound_cidrs"], json!(["10.0.0.0/8", "127.0.0.1", "fd00::/8"]));
        assert_eq!(serde_json::from_value::<TokenEntry>(v).unwrap(), bound);
        // Through the store: a bound token, reloaded from storage by a fresh store, keeps its binding.
        h.call_op(None, Operation::Create, "roles/b", json!({"token_bound_cidrs": ["10.0.0.0/8"], "allowed_policies": ["default"]}))
            .await
            .unwrap();
        let t = h.root_call("create/b", json!({})).await.unwrap().auth.unwrap().client_token;
        let again = TokenStore::new(h.store.view().clone(), h.leases.clone(), h.hooks.clone()).await.unwrap();
        let e = again.lookup(&t).await.unwrap().unwrap();
        assert_eq!(crate::cidr::to_strings(&e.bound_cidrs), ["10.0.0.0/8"]);
        assert!(!e.usable_from(Some("127.0.0.1".parse().unwrap())));
        assert!(e.usable_from(Some("10.1.1.1".parse().unwrap())));
    }

    #[tokio::test]
    async fn tokens_and_salt_survive_a_restart() {
        let h = Harness::new().await;
        let t = h.create(json!({"policies": ["default"]})).await;
        let again = TokenStore::new(h.store.view().clone(), h.leases.clone(), h.hooks.clone()).await.unwrap();
        assert_eq!(again.hash(&t), h.store.hash(&t));
        assert!(again.lookup(&t).await.unwrap().is_some());
        assert!(again.lookup("hvs.nope").await.unwrap().is_none());
        assert!(again.lookup("").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn root_token_and_internal_tokens() {
        let h = Harness::new().await;
        assert!(h.root.starts_with("hvs.") && h.root.len() == 28);
        let id = h.store.create_root_token(Some("dev-root")).await.unwrap();
        assert_eq!(id, "dev-root");
        let e = h.store.lookup("dev-root").await.unwrap().unwrap();
        assert_eq!((e.policies.clone(), e.path.as_str(), e.ttl, e.expire_ns), (vec!["root".to_string()], "auth/token/root", 0, None));
        assert!(h.store.caller(&e).is_root && h.store.caller(&e).orphan);
        // Same id twice is refused.
        assert!(h.store.create_root_token(Some("dev-root")).await.is_err());

        let (wt, we) = h
            .store
            .create_internal(InternalCreate::wrapping(Duration::from_secs(300), "sys/wrapping/wrap"))
            .await
            .unwrap();
        assert!(wt.starts_with("hvs."));
        assert_eq!((we.policies.clone(), we.num_uses, we.orphan(), we.ttl), (vec!["response-wrapping".to_string()], 1, true, 300));
        assert_eq!(we.path, "sys/wrapping/wrap");
        let auth = h.store.auth_for(&wt, &we);
        assert_eq!((auth.client_token, auth.lease_duration, auth.renewable), (wt.clone(), 300, false));
        // Single use: the first use asks for revocation after the request.
        let e = h.store.lookup(&wt).await.unwrap().unwrap();
        assert_eq!(h.store.use_token(&e).await.unwrap(), UseOutcome::RevokeAfter);
        assert!(h.store.lookup(&wt).await.unwrap().is_none(), "used-up token must not authenticate");
        assert!(h.store.use_token(&e).await.is_err());
        h.store.revoke_entry(&e).await.unwrap();
        assert!(h.store.lookup_accessor(&e.accessor).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn expired_tokens_stop_working_and_their_trees_are_revoked() {
        let h = Harness::new().await;
        let parent = h.create(json!({"policies": ["default", "tc"], "ttl": "2s"})).await;
        let child = h.call_as(&parent, "create", json!({"policies": ["default"], "ttl": "1h"})).await.unwrap().auth.unwrap();
        let long = h.create(json!({"policies": ["default"], "ttl": "1h"})).await;
        assert!(h.works(&parent).await);
        h.store.advance_clock(Duration::from_secs(3));
        // Stops at expiry, even before any sweep.
        assert!(h.store.lookup(&parent).await.unwrap().is_none());
        assert!(h.store.lookup_accessor(h.lookup(&long).await["accessor"].as_str().unwrap()).await.unwrap().is_some());
        // The sweep revokes the expired token and its child (which had not expired).
        h.store.sweep().await.unwrap();
        for _ in 0..50 {
            if h.store.load(&h.store.hash(&parent)).await.unwrap().is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(h.store.load(&h.store.hash(&parent)).await.unwrap().is_none());
        assert!(!h.works(&child.client_token).await);
        assert!(h.works(&long).await);
        let revoked = h.hooks.revoked.lock().clone();
        assert!(revoked.contains(&h.store.hash(&parent)) && revoked.contains(&h.store.hash(&child.client_token)));
        // The expiry index holds only the live token now.
        let idx = h.store.view().keys_recursive(EXPIRY_PREFIX).await.unwrap();
        assert_eq!(idx.len(), 1, "{idx:?}");
        assert!(idx[0].ends_with(&h.store.hash(&long)));
    }

    #[tokio::test]
    async fn renewal_moves_the_expiry_index_entry() {
        let h = Harness::new().await;
        let t = h.create(json!({"policies": ["default"], "ttl": "2s"})).await;
        h.root_call("renew", json!({"token": t, "increment": "1h"})).await.unwrap();
        let idx = h.store.view().keys_recursive(EXPIRY_PREFIX).await.unwrap();
        assert_eq!(idx.len(), 1);
        h.store.advance_clock(Duration::from_secs(5));
        assert_eq!(h.store.sweep().await.unwrap(), 0);
        assert!(h.works(&t).await);
    }

    #[tokio::test]
    async fn background_sweeper_revokes_expired_tokens() {
        let h = Harness::new().await;
        let t = h.create(json!({"policies": ["default"], "ttl": "1s"})).await;
        let hash = h.store.hash(&t);
        let task = h.store.spawn_expiry();
        // Never looked up after expiry: only the sweeper can find it.
        let deadline = std::time::Instant::now() + Duration::from_secs(6);
        while h.store.view().get(&id_key(&hash)).await.unwrap().is_some() {
            assert!(std::time::Instant::now() < deadline, "sweeper did not revoke the token");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        task.abort();
        assert_eq!(h.hooks.revoked.lock().clone(), vec![hash]);
    }

    #[tokio::test]
    async fn cache_never_serves_a_revoked_token() {
        let h = Harness::new().await;
        let t = h.create(json!({"policies": ["default"]})).await;
        assert!(h.store.lookup(&t).await.unwrap().is_some()); // now cached
        let e = h.store.lookup(&t).await.unwrap().unwrap();
        h.store.revoke_entry(&e).await.unwrap();
        assert!(h.store.lookup(&t).await.unwrap().is_none());
        // A reader that missed before a mutation does not fill the cache.
        let gen_before = h.store.cache.generation();
        h.store.cache.remove("x");
        h.store.cache.fill(gen_before, e.clone());
        assert!(h.store.cache.get(&e.hash).is_none());
    }

    #[tokio::test]
    async fn failed_hook_leaves_token_unusable_and_tidy_finishes_the_job() {
        let h = Harness::new().await;
        let t = h.create(json!({"policies": ["default"]})).await;
        *h.hooks.fail_revoke.lock() = true;
        let e = h.store.lookup(&t).await.unwrap().unwrap();
        assert!(h.store.revoke_entry(&e).await.is_err());
        assert!(h.store.lookup(&t).await.unwrap().is_none(), "half-revoked token must not work");
        *h.hooks.fail_revoke.lock() = false;
        h.store.tidy().await.unwrap();
        assert!(h.store.load(&e.hash).await.unwrap().is_none());
        assert_eq!(h.hooks.revoked.lock().clone(), vec![e.hash.clone()]);
    }

    #[tokio::test]
    async fn tidy_revokes_children_of_missing_parents_and_drops_dangling_accessors() {
        let h = Harness::new().await;
        let parent = h.create(json!({"policies": ["default", "tc"]})).await;
        let child = h.call_as(&parent, "create", json!({"policies": ["default"]})).await.unwrap().auth.unwrap();
        // Simulate a crash that lost the parent's record but not the indexes.
        let ph = h.store.hash(&parent);
        h.store.view().delete(&id_key(&ph)).await.unwrap();
        h.store.cache.remove(&ph);
        h.store.tidy().await.unwrap();
        assert!(!h.works(&child.client_token).await);
        let accessors = h.store.accessors().await.unwrap();
        assert_eq!(accessors.len(), 1, "only root's accessor is left: {accessors:?}");
    }

    #[test]
    fn base62_tokens_are_well_formed() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let h = Harness::new().await;
            let mut seen = HashSet::new();
            for _ in 0..200 {
                let (t, a) = h.store.new_token().unwrap();
                assert!(t.starts_with(SERVICE_PREFIX) && t.len() == 4 + RANDOM_LEN);
                assert!(t[4..].chars().all(|c| c.is_ascii_alphanumeric()));
                assert!(a.len() == RANDOM_LEN && a.chars().all(|c| c.is_ascii_alphanumeric()));
                assert!(seen.insert(t.to_string()) && seen.insert(a));
            }
        });
    }
}
