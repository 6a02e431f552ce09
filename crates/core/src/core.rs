//! The core: seal state, the mount router and lifecycle (init, unseal,
//! seal, mounts). The request pipeline every request goes through is in
//! `pipeline/` (see ARCHITECTURE.md, "The path of one request").

use crate::backend::{Backend, EngineFactory, MountContext, MountInfo};
use crate::barrier::{Barrier, KeyBytes, SEAL_CONFIG_PATH};
use crate::cubbyhole::CubbyholeBackend;
use crate::error::{Error, Result};
use crate::lease::{LeaseIndex, LeaseManager, RevokeMode};
use crate::logical::{Data, Operation, Response, WrapInfo};
use crate::mounts::{AUTH_KEY, MOUNTS_KEY, MountEntry, RouteEntry, Router, effective_ttls};
use crate::policy_store::PolicyStore;
use crate::seal::{self, SealConfig};
use crate::sys::SysBackend;
use crate::token::{InternalCreate, TokenHooks, TokenStore};
use crate::view::StorageView;
use arc_swap::{ArcSwap, ArcSwapOption};
use coffer_storage::Storage;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use zeroize::Zeroizing;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Server-wide settings from the config file or `-dev`.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub default_lease_ttl: Duration,
    pub max_lease_ttl: Duration,
    pub cluster_name: Option<String>,
    pub api_addr: Option<String>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        let d = Duration::from_secs(768 * 3600);
        CoreConfig { default_lease_ttl: d, max_lease_ttl: d, cluster_name: None, api_addr: None }
    }
}

/// A request as the HTTP layer hands it over.
pub struct Incoming {
    pub operation: Operation,
    pub path: String,
    pub data: Data,
    pub token: Option<String>,
    pub wrap_ttl: Option<Duration>,
    pub remote_addr: Option<std::net::SocketAddr>,
    pub headers: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize, Clone)]
struct ClusterInfo {
    name: String,
    id: String,
}

/// What `sys/init` returns.
pub struct InitResult {
    pub keys: Vec<Zeroizing<Vec<u8>>>,
    pub root_token: String,
}

#[derive(Default)]
struct Progress {
    shares: Vec<Zeroizing<Vec<u8>>>,
    nonce: String,
}

/// State that exists only while unsealed. Dropping it stops its tasks.
pub struct Active {
    router: ArcSwap<Router>,
    tokens: Arc<TokenStore>,
    pub(crate) leases: Arc<LeaseManager>,
    policies: Arc<PolicyStore>,
    identity: Arc<crate::identity::IdentityStore>,
    /// Login MFA: methods, enforcements, secrets (in the identity mount's view, below `mfa/`) and pending logins.
    mfa: Arc<crate::mfa::Mfa>,
    cluster: ClusterInfo,
    mounts_lock: tokio::sync::Mutex<()>,
    tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// `sys/remount` results by migration id (moves finish synchronously here).
    pub(crate) migrations: parking_lot::Mutex<HashMap<String, (String, String)>>,
}

impl Active {
    /// The current mount table snapshot (lock-free).
    pub fn router(&self) -> arc_swap::Guard<Arc<Router>> {
        self.router.load()
    }

    pub fn tokens(&self) -> &Arc<TokenStore> {
        &self.tokens
    }

    pub fn leases(&self) -> &Arc<LeaseManager> {
        &self.leases
    }

    pub fn policies(&self) -> &Arc<PolicyStore> {
        &self.policies
    }

    pub fn identity(&self) -> &Arc<crate::identity::IdentityStore> {
        &self.identity
    }

    pub fn mfa(&self) -> &Arc<crate::mfa::Mfa> {
        &self.mfa
    }

    /// The ACL a token with these policies and entity has (token ∪ identity
    /// policies; a disabled entity's token may do nothing), from memory:
    /// what the pipeline's authorize stage judges with, for `sys/` handlers
    /// that judge another token or the caller (capabilities, ui/mounts).
    pub fn effective_acl(&self, policies: &[String], entity_id: &str) -> Arc<coffer_policy::Acl> {
        let resolved = if entity_id.is_empty() { None } else { self.identity.resolved(entity_id) };
        match resolved {
            Some(r) if r.disabled => self.policies.acl_for(&[]),
            r => crate::identity::acl(&self.policies, policies, r.as_ref()),
        }
    }

    /// The source and target of a finished `sys/remount`, by migration id.
    pub(crate) fn migration(&self, id: &str) -> Option<(String, String)> {
        self.migrations.lock().get(id).cloned()
    }

    /// Run a background job (a tidy) owned by this unsealed state: sealing
    /// or shutting down aborts it.
    pub(crate) fn spawn(&self, job: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock();
        tasks.retain(|t| !t.is_finished());
        tasks.push(tokio::spawn(job));
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }
}

pub struct Core {
    cfg: CoreConfig,
    barrier: Arc<Barrier>,
    factories: RwLock<HashMap<String, EngineFactory>>,
    auth_factories: RwLock<HashMap<String, EngineFactory>>,
    progress: tokio::sync::Mutex<Progress>,
    lifecycle: tokio::sync::Mutex<()>,
    active: ArcSwapOption<Active>,
    /// Audit hooks (pipeline stages 5 and 9).
    pub(crate) audit: crate::pipeline::audit::AuditHooks,
    /// Alert rules on the audit stream (`alerts.rs`), once the server enables them.
    pub(crate) alerts: std::sync::OnceLock<Arc<crate::alerts::Alerts>>,
    me: Weak<Core>,
}

fn now_rfc3339() -> String {
    crate::util::rfc3339_now()
}

impl Core {
    pub fn new(physical: Arc<dyn Storage>, cfg: CoreConfig) -> Arc<Core> {
        Arc::new_cyclic(|me| Core {
            cfg,
            barrier: Arc::new(Barrier::new(physical)),
            factories: RwLock::new(HashMap::new()),
            auth_factories: RwLock::new(HashMap::new()),
            progress: tokio::sync::Mutex::new(Progress::default()),
            lifecycle: tokio::sync::Mutex::new(()),
            active: ArcSwapOption::empty(),
            audit: Default::default(),
            alerts: Default::default(),
            me: me.clone(),
        })
    }

    /// Make a secrets engine type mountable (`kv`, later `database`, `pki`...).
    /// One factory may be registered under several types (its aliases).
    pub fn register_engine(&self, kind: &str, factory: EngineFactory) {
        self.factories.write().insert(kind.to_string(), factory);
    }

    /// Make an auth method type enableable under `sys/auth` (`userpass`, ...).
    pub fn register_auth(&self, kind: &str, factory: EngineFactory) {
        self.auth_factories.write().insert(kind.to_string(), factory);
    }

    /// The factory registered for a secrets engine (or, with `is_auth`, an
    /// auth method) type.
    pub(crate) fn factory(&self, kind: &str, is_auth: bool) -> Option<EngineFactory> {
        let registry = if is_auth { &self.auth_factories } else { &self.factories };
        registry.read().get(kind).cloned()
    }

    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    pub fn barrier(&self) -> &Arc<Barrier> {
        &self.barrier
    }

    pub fn active(&self) -> Result<Arc<Active>> {
        self.active.load_full().ok_or(Error::Sealed)
    }

    pub fn is_sealed(&self) -> bool {
        self.active.load().is_none()
    }

    pub fn storage_type(&self) -> &'static str {
        self.barrier.physical().kind()
    }

    pub async fn seal_config(&self) -> Result<Option<SealConfig>> {
        match self.barrier.physical().get(SEAL_CONFIG_PATH).await? {
            None => Ok(None),
            Some(b) => Ok(Some(
                serde_json::from_slice(&b).map_err(|_| Error::internal("corrupt seal configuration"))?,
            )),
        }
    }

    pub async fn is_initialized(&self) -> Result<bool> {
        Ok(self.seal_config().await?.is_some())
    }

    // ---------------------------------------------------------------- init / seal

    /// `sys/init`. With `stay_unsealed` (dev mode) the core is left unsealed.
    pub async fn initialize(&self, shares: i64, threshold: i64, root_token_id: Option<&str>, stay_unsealed: bool) -> Result<InitResult> {
        let _g = self.lifecycle.lock().await;
        if self.is_initialized().await? {
            return Err(Error::invalid("Vault is already initialized"));
        }
        let cfg = SealConfig::shamir(shares, threshold)?;
        let kek = KeyBytes::random()?;
        self.barrier.initialize(&kek, KeyBytes::random()?, now_rfc3339()).await?;
        self.barrier.unseal(&kek).await?;
        let active = self.setup_active().await?;
        let root_token = active.tokens.create_root_token(root_token_id).await?;
        let keys = seal::split(&kek, cfg.secret_shares, cfg.secret_threshold)?;
        // Written last: a crash before this point leaves the server uninitialised.
        self.barrier.physical().put(SEAL_CONFIG_PATH, serde_json::to_vec(&cfg)?).await?;
        if stay_unsealed {
            self.active.store(Some(active));
        } else {
            drop(active);
            self.barrier.persist_and_seal().await;
        }
        Ok(InitResult { keys, root_token })
    }

    /// `sys/unseal` with one share (or a reset). Returns the seal status.
    pub async fn submit_unseal_key(&self, key: Option<&str>, reset: bool) -> Result<Value> {
        let _g = self.lifecycle.lock().await;
        let Some(cfg) = self.seal_config().await? else {
            return Err(Error::invalid("Vault is not initialized"));
        };
        if reset {
            if !self.is_sealed() {
                return Err(Error::invalid("vault is unsealed"));
            }
            *self.progress.lock().await = Progress::default();
            drop(_g);
            return self.seal_status().await;
        }
        let Some(key) = key else {
            return Err(Error::invalid("'key' must be specified in request body as JSON, or 'reset' set to true"));
        };
        if !self.is_sealed() {
            drop(_g);
            return self.seal_status().await;
        }
        let share = seal::decode_share(key)?;
        let mut progress = self.progress.lock().await;
        if progress.shares.iter().any(|s| crate::util::ct_eq(s, &share)) {
            return Err(Error::invalid("given key has already been provided during this generation operation"));
        }
        if progress.nonce.is_empty() {
            progress.nonce = uuid::Uuid::new_v4().to_string();
        }
        progress.shares.push(share);
        if progress.shares.len() >= cfg.secret_threshold as usize {
            let shares = std::mem::take(&mut progress.shares);
            progress.nonce.clear();
            let kek = match seal::combine(&shares) {
                Ok(k) => k,
                Err(_) => return Err(Error::invalid("failed to unseal: the unseal key shares do not reconstruct the key")),
            };
            if self.barrier.unseal(&kek).await.is_err() {
                return Err(Error::invalid(
                    "Error unsealing: cipher: message authentication failed (the unseal key is wrong)",
                ));
            }
            match self.setup_active().await {
                Ok(active) => self.active.store(Some(active)),
                Err(e) => {
                    self.barrier.seal();
                    return Err(e);
                }
            }
        }
        drop(progress);
        drop(_g);
        self.seal_status().await
    }

    /// `sys/seal` (and shutdown): drop the unsealed state (its tasks stop),
    /// store the barrier's encryption count (best effort), drop every key.
    pub async fn seal(&self) -> Result<()> {
        let _g = self.lifecycle.lock().await;
        self.active.store(None);
        self.barrier.persist_and_seal().await;
        *self.progress.lock().await = Progress::default();
        Ok(())
    }

    pub async fn seal_status(&self) -> Result<Value> {
        let cfg = self.seal_config().await?;
        let progress = self.progress.lock().await;
        let (t, n) = cfg.as_ref().map(|c| (c.secret_threshold, c.secret_shares)).unwrap_or((0, 0));
        let mut v = json!({
            "type": "shamir",
            "initialized": cfg.is_some(),
            "sealed": self.is_sealed(),
            "t": t,
            "n": n,
            "progress": progress.shares.len(),
            "nonce": progress.nonce,
            "recovery_seal": false,
            "version": VERSION,
            "build_date": "",
            "migration": false,
            "storage_type": self.storage_type(),
        });
        if let Some(a) = self.active.load_full() {
            v["cluster_name"] = json!(a.cluster.name);
            v["cluster_id"] = json!(a.cluster.id);
        }
        Ok(v)
    }

    /// `sys/health` status code and body.
    pub async fn health(&self, q: &Data) -> Result<(u16, Value)> {
        let code = |name: &str, default: u16| -> Result<u16> {
            match crate::fields::get_int(q, name) {
                Ok(None) => Ok(default),
                Ok(Some(c)) if (1..=999).contains(&c) => Ok(c as u16),
                _ => Err(Error::invalid(format!("unable to parse {name}"))),
            }
        };
        let standbyok = crate::fields::get_bool(q, "standbyok")
            .map_err(|_| Error::invalid("bad value for standbyok parameter"))?
            .unwrap_or(false);
        let _ = crate::fields::get_bool(q, "perfstandbyok")
            .map_err(|_| Error::invalid("bad value for perfstandbyok parameter"))?;
        let active_code = code("activecode", 200)?;
        let _standby = code("standbycode", 429)?;
        let _dr = code("drsecondarycode", 472)?;
        let _perf = code("performancestandbycode", 473)?;
        let _haun = code("haunhealthycode", 474)?;
        let _removed = code("removedcode", 530)?;
        let sealed_code = code("sealedcode", 503)?;
        let uninit_code = code("uninitcode", 501)?;
        let _ = standbyok; // single node: never a standby
        let initialized = self.is_initialized().await?;
        let sealed = self.is_sealed();
        let status = if !initialized {
            uninit_code
        } else if sealed {
            sealed_code
        } else {
            active_code
        };
        let mut body = json!({
            "initialized": initialized,
            "sealed": sealed,
            "standby": false,
            "performance_standby": false,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": time::OffsetDateTime::now_utc().unix_timestamp(),
            "version": VERSION,
            "enterprise": false,
            "echo_duration_ms": 0,
            "clock_skew_ms": 0,
        });
        if let Some(a) = self.active.load_full() {
            body["cluster_name"] = json!(a.cluster.name);
            body["cluster_id"] = json!(a.cluster.id);
        }
        Ok((status, body))
    }

    // ---------------------------------------------------------------- setup

    async fn setup_active(&self) -> Result<Arc<Active>> {
        let b = self.barrier.clone();
        let cluster = match StorageView::new(b.clone(), "core/").get_json::<ClusterInfo>("cluster").await? {
            Some(c) => c,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                let c = ClusterInfo {
                    name: self.cfg.cluster_name.clone().unwrap_or_else(|| format!("vault-cluster-{}", &id[..8])),
                    id,
                };
                StorageView::new(b.clone(), "core/").put_json("cluster", &c).await?;
                c
            }
        };
        let policies = PolicyStore::load(StorageView::new(b.clone(), "sys/policy/")).await?;
        let hooks = Arc::new(CoreHooks { core: self.me.clone(), policies: Arc::downgrade(&policies) });
        let lease_index = LeaseIndex::new(StorageView::new(b.clone(), "sys/expire/"));
        let tokens = TokenStore::new(StorageView::new(b.clone(), "sys/token/"), lease_index.clone(), hooks).await?;
        let leases = LeaseManager::new(lease_index, tokens.clone());
        leases.index_existing_tokens().await?;

        let core_view = StorageView::new(b.clone(), "");
        let mut mounts: Vec<MountEntry> = core_view.get_json(MOUNTS_KEY).await?.unwrap_or_default();
        let mut auths: Vec<MountEntry> = core_view.get_json(AUTH_KEY).await?.unwrap_or_default();
        if mounts.is_empty() {
            let mut cubby = MountEntry::new("cubbyhole/", "cubbyhole", "per-token private secret storage", false);
            cubby.local = true;
            let mut sys = MountEntry::new("sys/", "system", "system endpoints used for control, policy and debugging", false);
            sys.seal_wrap = true;
            sys.config.passthrough_request_headers = vec!["Accept".into()];
            mounts = vec![cubby, identity_mount(), sys];
            core_view.put_json(MOUNTS_KEY, &mounts).await?;
        } else if !mounts.iter().any(|m| m.kind == "identity") {
            // A table written before the identity store existed gains its mount.
            mounts.push(identity_mount());
            mounts.sort_by(|a, b| a.path.cmp(&b.path));
            core_view.put_json(MOUNTS_KEY, &mounts).await?;
        }
        let identity_uuid = mounts.iter().find(|m| m.kind == "identity").map(|m| m.uuid.clone()).unwrap_or_default();
        let identity = crate::identity::IdentityStore::load(StorageView::new(b.clone(), format!("logical/{identity_uuid}/"))).await?;
        let mfa = Arc::new(crate::mfa::Mfa::new(StorageView::new(b.clone(), format!("logical/{identity_uuid}/mfa/"))));
        if auths.is_empty() {
            let mut t = MountEntry::new("token/", "token", "token based credentials", true);
            t.config.token_type = Some("default-service".into());
            auths = vec![t];
            core_view.put_json(AUTH_KEY, &auths).await?;
        }
        let active = Arc::new(Active {
            router: ArcSwap::from_pointee(Router::default()),
            tokens,
            leases,
            policies,
            identity,
            mfa,
            cluster,
            mounts_lock: tokio::sync::Mutex::new(()),
            tasks: parking_lot::Mutex::new(Vec::new()),
            migrations: parking_lot::Mutex::new(HashMap::new()),
        });
        let mut entries = Vec::new();
        for m in &mounts {
            match self.build_route(&active, m.clone(), false) {
                Ok(r) => entries.push(r),
                Err(e) => tracing::error!(mount = %m.path, error = %e, "cannot start mount; skipped"),
            }
        }
        for m in &auths {
            match self.build_route(&active, m.clone(), true) {
                Ok(r) => entries.push(r),
                Err(e) => tracing::error!(mount = %m.path, error = %e, "cannot start auth mount; skipped"),
            }
        }
        active.router.store(Arc::new(Router::new(entries)));
        active.tasks.lock().push(active.tokens.spawn_expiry());
        active.tasks.lock().push(self.barrier.spawn_rotation());
        self.load_alert_rules().await;
        // The audit device table (and the config file's devices): an unseal
        // that cannot open any of its devices fails, as in Vault.
        self.audit.headers.load(&self.barrier).await?;
        self.audit.devices.load(&self.barrier).await?;
        Ok(active)
    }

    /// Instantiate the backend for a mount entry.
    pub(crate) fn build_route(&self, active: &Arc<Active>, entry: MountEntry, is_auth: bool) -> Result<Arc<RouteEntry>> {
        let prefix = if is_auth { format!("auth/{}", entry.path) } else { entry.path.clone() };
        let view_prefix = match entry.kind.as_str() {
            "system" => "sys/".to_string(),
            "token" => "sys/token/".to_string(),
            _ if is_auth => format!("auth/{}/", entry.uuid),
            _ => format!("logical/{}/", entry.uuid),
        };
        let storage = StorageView::new(self.barrier.clone(), view_prefix);
        let (default_ttl, max_ttl) = effective_ttls(&entry.config, self.cfg.default_lease_ttl, self.cfg.max_lease_ttl);
        let info = Arc::new(MountInfo {
            path: prefix.clone(),
            kind: entry.kind.clone(),
            accessor: entry.accessor.clone(),
            uuid: entry.uuid.clone(),
            options: entry.options.clone().unwrap_or_default(),
            default_lease_ttl: default_ttl,
            max_lease_ttl: max_ttl,
        });
        let backend: Arc<dyn Backend> = match entry.kind.as_str() {
            "system" => Arc::new(SysBackend::new(self.me.clone())),
            "cubbyhole" => Arc::new(CubbyholeBackend::new()),
            "identity" => Arc::new(crate::identity::IdentityBackend::new(active.identity.clone(), self.me.clone())),
            "token" => active.tokens.backend(),
            kind => {
                let f = self
                    .factory(kind, is_auth)
                    .ok_or_else(|| Error::invalid(format!("plugin not found in the catalog: {kind}")))?;
                f.build(MountContext { mount: info.clone(), storage: storage.clone() })?
            }
        };
        let special = backend.special_paths();
        Ok(Arc::new(RouteEntry { prefix, entry, info, backend, storage, special, is_auth }))
    }

    // ---------------------------------------------------------------- mounts

    /// Persist the current tables from the router snapshot.
    async fn persist_tables(&self, router: &Router) -> Result<()> {
        let mut mounts = Vec::new();
        let mut auths = Vec::new();
        for e in router.entries() {
            if e.is_auth { auths.push(e.entry.clone()) } else { mounts.push(e.entry.clone()) }
        }
        mounts.sort_by(|a, b| a.path.cmp(&b.path));
        auths.sort_by(|a, b| a.path.cmp(&b.path));
        let v = StorageView::new(self.barrier.clone(), "");
        v.write(vec![
            crate::view::ViewOp::Put(MOUNTS_KEY.into(), serde_json::to_vec(&mounts)?),
            crate::view::ViewOp::Put(AUTH_KEY.into(), serde_json::to_vec(&auths)?),
        ])
        .await
    }

    /// Mount a secrets engine or auth method. `entry.path` is relative to its table.
    pub async fn mount(&self, mut entry: MountEntry, is_auth: bool) -> Result<()> {
        let active = self.active()?;
        let _g = active.mounts_lock.lock().await;
        // The type's own normalisation (aliases, default options) or refusal.
        if let Some(f) = self.factory(&entry.kind, is_auth) {
            f.prepare_mount(&mut entry)?;
        }
        let prefix = if is_auth { format!("auth/{}", entry.path) } else { entry.path.clone() };
        if !is_auth {
            for reserved in ["sys/", "auth/", "cubbyhole/", "identity/"] {
                if prefix.starts_with(reserved) || reserved.starts_with(&prefix) {
                    return Err(Error::invalid(format!("cannot mount '{}' of type '{}' at '{}': reserved path", entry.path, entry.kind, entry.path)));
                }
            }
            if matches!(entry.kind.as_str(), "system" | "cubbyhole" | "token" | "identity") {
                return Err(Error::invalid(format!("cannot mount '{}' of type '{}'", entry.path, entry.kind)));
            }
        } else if matches!(entry.kind.as_str(), "token") {
            return Err(Error::invalid("token credential backend cannot be instantiated"));
        }
        let router = active.router.load_full();
        if let Some(c) = router.conflict(&prefix) {
            return Err(Error::Conflict(format!("path is already in use at {}", c.prefix)));
        }
        let route = self.build_route(&active, entry, is_auth)?;
        let mut entries = router.entries().to_vec();
        entries.push(route);
        let next = Router::new(entries);
        self.persist_tables(&next).await?;
        active.router.store(Arc::new(next));
        Ok(())
    }

    /// Unmount and delete all data of the mount.
    pub async fn unmount(&self, path: &str, is_auth: bool) -> Result<()> {
        let active = self.active()?;
        let _g = active.mounts_lock.lock().await;
        let prefix = if is_auth { format!("auth/{path}") } else { path.to_string() };
        let router = active.router.load_full();
        let Some(found) = router.entries().iter().find(|e| e.prefix == prefix).cloned() else {
            // Vault: unmounting a path that is not mounted succeeds.
            return Ok(());
        };
        if matches!(found.entry.kind.as_str(), "system" | "cubbyhole" | "token" | "identity") {
            return Err(Error::invalid(format!("cannot unmount \"{}\"", path)));
        }
        // As Vault does: every lease issued under the mount (for an auth method, every token
        // its logins created, with their children) is revoked first; if that fails the mount
        // stays, so nothing is left that outlives its issuer.
        active.leases.revoke_prefix(&prefix, RevokeMode::Sync).await?;
        let entries: Vec<_> = router.entries().iter().filter(|e| e.prefix != prefix).cloned().collect();
        let next = Router::new(entries);
        self.persist_tables(&next).await?;
        active.router.store(Arc::new(next));
        found.storage.clear().await?;
        Ok(())
    }

    /// Move a mount to another path (`sys/remount`). Data is stored by the
    /// mount's uuid, so only the table entry changes. Paths are full routing
    /// prefixes with a trailing `/` (`kv/`, `auth/userpass/`).
    pub async fn remount(&self, from: &str, to: &str) -> Result<String> {
        let active = self.active()?;
        let _g = active.mounts_lock.lock().await;
        let router = active.router.load_full();
        let Some(found) = router.entries().iter().find(|e| e.prefix == from).cloned() else {
            return Err(Error::invalid(format!("no matching mount at \"{from}\"")));
        };
        if matches!(found.entry.kind.as_str(), "system" | "cubbyhole" | "token" | "identity") {
            return Err(Error::invalid(format!("cannot remount \"{from}\"")));
        }
        let to_auth = to.starts_with("auth/");
        let reserved = ["sys/", "cubbyhole/", "identity/"].iter().any(|r| to.starts_with(r));
        if to_auth != found.is_auth || reserved || to == "auth/" {
            return Err(Error::invalid(format!("cannot remount to destination {to}")));
        }
        if let Some(c) = router.entries().iter().find(|e| e.prefix != from && (to.starts_with(&e.prefix) || e.prefix.starts_with(to))) {
            return Err(Error::invalid(format!("path already in use at \"{}\"", c.prefix)));
        }
        // Leases (login tokens) issued under the old path are revoked, as OpenBao does: their
        // ids name a path that no longer exists.
        active.leases.revoke_prefix(from, RevokeMode::Sync).await?;
        let mut entry = found.entry.clone();
        entry.path = if found.is_auth { to.trim_start_matches("auth/").to_string() } else { to.to_string() };
        let route = self.build_route(&active, entry, found.is_auth)?;
        let entries: Vec<_> = router.entries().iter().map(|e| if e.prefix == from { route.clone() } else { e.clone() }).collect();
        let next = Router::new(entries);
        self.persist_tables(&next).await?;
        active.router.store(Arc::new(next));
        let id = uuid::Uuid::new_v4().to_string();
        active.migrations.lock().insert(id.clone(), (from.to_string(), to.to_string()));
        Ok(id)
    }

    /// Replace a mount's entry (tune) and rebuild its backend.
    pub async fn update_mount(&self, prefix: &str, f: impl FnOnce(&mut MountEntry) -> Result<()>) -> Result<()> {
        let active = self.active()?;
        let _g = active.mounts_lock.lock().await;
        let router = active.router.load_full();
        let Some(found) = router.entries().iter().find(|e| e.prefix == prefix).cloned() else {
            return Err(Error::invalid(format!("no mount at {prefix}")));
        };
        let mut entry = found.entry.clone();
        f(&mut entry)?;
        let route = self.build_route(&active, entry, found.is_auth)?;
        let entries: Vec<_> =
            router.entries().iter().map(|e| if e.prefix == prefix { route.clone() } else { e.clone() }).collect();
        let next = Router::new(entries);
        self.persist_tables(&next).await?;
        active.router.store(Arc::new(next));
        Ok(())
    }

    // ---------------------------------------------------------------- requests
    // `Core::handle`, the one request pipeline, is in `pipeline/`.

    /// The cubbyhole storage of one token (by token hash).
    pub fn cubbyhole_view(&self, active: &Active, token_hash: &str) -> Result<StorageView> {
        let router = active.router.load();
        let e = router
            .entries()
            .iter()
            .find(|e| e.entry.kind == "cubbyhole")
            .ok_or_else(|| Error::internal("no cubbyhole mount"))?;
        Ok(e.storage.sub(&format!("{token_hash}/")))
    }

    /// Response wrapping: store the response in a new single-use token's
    /// cubbyhole and answer with `wrap_info` only.
    pub async fn wrap(&self, active: &Arc<Active>, resp: Response, ttl: Duration, creation_path: &str) -> Result<Response> {
        if ttl.is_zero() {
            return Ok(resp);
        }
        let (token, entry) = active
            .tokens
            .create_internal(InternalCreate::wrapping(ttl, creation_path))
            .await?;
        let caller = active.tokens.caller(&entry);
        let creation_time = now_rfc3339();
        let record = crate::wrapping::WrappedRecord::from_response(&resp, creation_path, &creation_time, ttl.as_secs());
        self.cubbyhole_view(active, &caller.token_hash)?.put_json("response", &record).await?;
        Ok(Response {
            wrap_info: Some(WrapInfo {
                token,
                accessor: caller.accessor.clone(),
                ttl: ttl.as_secs(),
                creation_time,
                creation_path: creation_path.to_string(),
                wrapped_accessor: resp.auth.as_ref().map(|a| a.accessor.clone()).filter(|a| !a.is_empty()),
            }),
            ..Default::default()
        })
    }
}

/// The `identity/` mount, as OpenBao lists it.
fn identity_mount() -> MountEntry {
    let mut m = MountEntry::new("identity/", "identity", "identity store", false);
    m.config.passthrough_request_headers = vec!["Authorization".into()];
    m
}

/// The core's side of the token store callbacks.
struct CoreHooks {
    core: Weak<Core>,
    policies: Weak<PolicyStore>,
}

#[async_trait::async_trait]
impl TokenHooks for CoreHooks {
    async fn on_revoke(&self, token_hash: &str) -> Result<()> {
        let Some(core) = self.core.upgrade() else { return Ok(()) };
        let Some(active) = core.active.load_full() else {
            // During setup (before the router exists) there is nothing mounted to clean.
            return Ok(());
        };
        core.cubbyhole_view(&active, token_hash)?.clear().await
    }

    async fn policy_exists(&self, name: &str) -> bool {
        self.policies.upgrade().map(|p| p.exists(name)).unwrap_or(false)
    }

    fn identity_policies(&self, entity_id: &str) -> Vec<String> {
        let Some(active) = self.core.upgrade().and_then(|c| c.active.load_full()) else { return Vec::new() };
        active.identity.resolved(entity_id).map(|r| r.policies.clone()).unwrap_or_default()
    }
}

/// The pipeline's bound-CIDR check, end to end through [`Core::handle`]
/// (the token handlers' own tests call the backend directly).
#[cfg(test)]
mod bound_cidr_tests {
    use super::*;
    use coffer_storage::InmemStorage;

    const ROOT: &str = "root-test";

    async fn core() -> Arc<Core> {
        let core = Core::new(Arc::new(InmemStorage::new()), CoreConfig::default());
        core.initialize(1, 1, Some(ROOT), true).await.unwrap();
        core
    }

    async fn call(core: &Core, token: &str, from: &str, op: Operation, path: &str, body: Value) -> Result<Response> {
        let data = match body {
            Value::Object(m) => m,
            _ => Data::new(),
        };
        core.handle(Incoming {
            operation: op,
            path: path.into(),
            data,
            token: Some(token.into()),
            wrap_ttl: None,
            remote_addr: Some(std::net::SocketAddr::new(from.parse().unwrap(), 40000)),
            headers: vec![],
        })
        .await
    }

    async fn root(core: &Core, path: &str, body: Value) -> Response {
        call(core, ROOT, "127.0.0.1", Operation::Update, path, body).await.unwrap()
    }

    async fn token_from(core: &Core, role: &str, body: Value) -> String {
        root(core, &format!("auth/token/create/{role}"), body).await.auth.unwrap().client_token
    }

    fn denied(r: Result<Response>) -> bool {
        matches!(r, Err(Error::Coded(403, m)) if m == "permission denied")
    }

    #[tokio::test]
    async fn a_bound_token_works_only_from_its_addresses() {
        let core = core().await;
        root(&core, "sys/policies/acl/mk", json!({"policy": "path \"auth/token/create\" { capabilities = [\"update\"] }"})).await;
        let cidrs = "10.0.0.0/8, fd00::/8, 127.0.0.1";
        root(&core, "auth/token/roles/ci", json!({"allowed_policies": ["default", "mk"], "token_bound_cidrs": cidrs})).await;
        root(&core, "auth/token/roles/nu", json!({"allowed_policies": ["default", "mk"], "token_bound_cidrs": cidrs, "token_num_uses": 3})).await;
        let t = token_from(&core, "ci", json!({"policies": ["mk"]})).await;
        let lookup = |from: &'static str| call(&core, &t, from, Operation::Read, "auth/token/lookup-self", json!({}));
        for ok in ["10.1.2.3", "127.0.0.1", "fd00::5", "::ffff:10.9.9.9"] {
            let d = lookup(ok).await.unwrap_or_else(|e| panic!("{ok}: {e:?}")).data.unwrap();
            assert_eq!(d["bound_cidrs"], json!(["10.0.0.0/8", "fd00::/8", "127.0.0.1"]));
        }
        let limited = token_from(&core, "nu", json!({"policies": ["mk"]})).await;
        for t in [&t, &limited] {
            for bad in ["127.0.0.2", "11.0.0.1", "::1", "fe80::1", "192.168.0.1"] {
            for (op, path) in [
                (Operation::Read, "auth/token/lookup-self"),
                (Operation::Update, "auth/token/renew-self"),
                (Operation::Update, "auth/token/revoke-self"),
                (Operation::Update, "auth/token/create"),
                (Operation::Read, "cubbyhole/x"),
                (Operation::Help, "sys/mounts"),
            ] {
                    assert!(denied(call(&core, t, bad, op, path, json!({})).await), "{bad} {path}");
                }
            }
        }
        // None of that used a use up or revoked anything.
        let d = root(&core, "auth/token/lookup", json!({"token": limited})).await.data.unwrap();
        assert_eq!(d["num_uses"], 3);
        assert!(call(&core, &t, "10.0.0.1", Operation::Read, "auth/token/lookup-self", json!({})).await.is_ok());
        // A child created from an allowed address inherits the binding.
        let child = call(&core, &t, "10.0.0.1", Operation::Update, "auth/token/create", json!({"policies": ["default"]})).await.unwrap();
        let child = child.auth.unwrap().client_token;
        assert!(denied(call(&core, &child, "127.0.0.2", Operation::Read, "auth/token/lookup-self", json!({})).await));
        assert!(call(&core, &child, "127.0.0.1", Operation::Read, "auth/token/lookup-self", json!({})).await.is_ok());
    }

    #[tokio::test]
    async fn unbound_non_expiring_and_unauthenticated_cases() {
        let core = core().await;
        // No binding: usable from anywhere.
        root(&core, "auth/token/roles/free", json!({"allowed_policies": ["default"]})).await;
        let t = token_from(&core, "free", json!({})).await;
        assert!(call(&core, &t, "203.0.113.9", Operation::Read, "auth/token/lookup-self", json!({})).await.is_ok());
        // A role with a binding but a root (non-expiring) token: not bound, as in Vault.
        root(&core, "auth/token/roles/r10", json!({"token_bound_cidrs": ["10.0.0.0/8"]})).await;
        let forever = token_from(&core, "r10", json!({})).await;
        let d = call(&core, &forever, "127.0.0.1", Operation::Read, "auth/token/lookup-self", json!({})).await.unwrap().data.unwrap();
        assert!(!d.contains_key("bound_cidrs"), "{d:?}");
        // The same role with a TTL: bound, even for a root token.
        let expiring = token_from(&core, "r10", json!({"ttl": "1h"})).await;
        assert!(denied(call(&core, &expiring, "127.0.0.1", Operation::Read, "auth/token/lookup-self", json!({})).await));
        assert!(call(&core, &expiring, "10.0.0.1", Operation::Read, "auth/token/lookup-self", json!({})).await.is_ok());
        // Another token may still look it up (and sees the binding).
        let d = root(&core, "auth/token/lookup", json!({"token": expiring})).await.data.unwrap();
        assert_eq!(d["bound_cidrs"], json!(["10.0.0.0/8"]));
        // An unknown client address is refused.
        let r = core
            .handle(Incoming {
                operation: Operation::Read,
                path: "auth/token/lookup-self".into(),
                data: Data::new(),
                token: Some(expiring.clone()),
                wrap_ttl: None,
                remote_addr: None,
                headers: vec![],
            })
            .await;
        assert!(denied(r));
        // Batch tokens are bound the same way.
        root(&core, "auth/token/roles/b", json!({"token_type": "batch", "orphan": true, "renewable": false, "allowed_policies": ["default"], "token_bound_cidrs": ["127.0.0.1/32"]})).await;
        let b = token_from(&core, "b", json!({})).await;
        assert!(b.starts_with("hvb."));
        let d = call(&core, &b, "127.0.0.1", Operation::Read, "auth/token/lookup-self", json!({})).await.unwrap().data.unwrap();
        assert_eq!(d["bound_cidrs"], json!(["127.0.0.1"]));
        assert!(denied(call(&core, &b, "127.0.0.2", Operation::Read, "auth/token/lookup-self", json!({})).await));
    }
}
