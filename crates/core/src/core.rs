//! The core: seal state, the mount router and the one request pipeline every
//! request goes through (see ARCHITECTURE.md, "The path of one request").

use crate::backend::{Backend, EngineFactory, MountContext, MountInfo, SpecialPaths};
use crate::barrier::{Barrier, KeyBytes, SEAL_CONFIG_PATH};
use crate::cubbyhole::CubbyholeBackend;
use crate::error::{Error, Result};
use crate::lease::{LeaseIndex, LeaseManager, RevokeMode};
use crate::logical::{Data, Operation, RawResponse, Request, Response, WrapInfo};
use crate::mounts::{AUTH_KEY, MOUNTS_KEY, MountEntry, RouteEntry, Router, effective_ttls};
use crate::policy_store::PolicyStore;
use crate::seal::{self, SealConfig};
use crate::sys::SysBackend;
use crate::token::{InternalCreate, TokenEntry, TokenHooks, TokenStore, UseOutcome};
use crate::view::StorageView;
use arc_swap::{ArcSwap, ArcSwapOption};
use coffer_policy::{AclRequest, Caps};
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
    pub(crate) router: ArcSwap<Router>,
    pub(crate) tokens: Arc<TokenStore>,
    pub(crate) leases: Arc<LeaseManager>,
    pub(crate) policies: Arc<PolicyStore>,
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
    me: Weak<Core>,
}

/// Paths answered by the core itself, sealed or not, without a token.
const SEAL_EXEMPT: &[&str] = &["sys/init", "sys/seal-status", "sys/unseal", "sys/health", "sys/leader"];

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
            mounts = vec![cubby, sys];
            core_view.put_json(MOUNTS_KEY, &mounts).await?;
        }
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

    /// The single request pipeline.
    pub async fn handle(&self, inc: Incoming) -> Result<Response> {
        if SEAL_EXEMPT.contains(&inc.path.as_str()) {
            return crate::sys::handle_unauthenticated(self, inc).await;
        }
        let active = self.active()?;
        check_namespace(&inc.headers)?;
        if matches!(inc.operation, Operation::Update | Operation::Create) && inc.path.ends_with('/') {
            // Vault's router refuses these for every mount.
            return Err(Error::invalid("cannot write to a path ending in '/'"));
        }
        let router = active.router.load();
        let Some(route_entry) = router.lookup(&inc.path).cloned() else {
            drop(router);
            return Err(self.refuse(&active, &inc, &inc.path, false, Error::NoRoute(inc.path.clone())).await);
        };
        drop(router);
        let rel_path = inc.path.get(route_entry.prefix.len()..).unwrap_or("").to_string();
        let backend = route_entry.backend.clone();
        let table = backend.table();

        if inc.operation == Operation::Help {
            self.require_valid_token(&active, &inc).await?;
            let help = table.help(&rel_path, backend.help())?;
            return Ok(Response { raw: Some(RawResponse::json(200, &help)), ..Default::default() });
        }

        // A name the handler would normalise (policy names, usernames) is normalised here, before
        // the existence check and the ACL, so they judge the object the handler acts on.
        let (rel_path, path) = match table.canonical_path(&rel_path) {
            Some(canonical) => (canonical.clone(), format!("{}{canonical}", route_entry.prefix)),
            None => (rel_path, inc.path.clone()),
        };
        let unauthenticated = SpecialPaths::matches(&route_entry.special.unauthenticated, &rel_path);
        let Some(route) = table.route(&rel_path) else {
            return Err(self.refuse(&active, &inc, &path, unauthenticated, Error::UnsupportedPath(rel_path)).await);
        };
        let wanted = match inc.operation {
            Operation::Create => Operation::Update,
            op => op,
        };
        if !route.spec.operations.contains(&wanted) && !route.spec.operations.contains(&inc.operation) {
            return Err(self.refuse(&active, &inc, &path, unauthenticated, Error::UnsupportedOperation(rel_path)).await);
        }
        let mut req = Request {
            id: crate::util::random_uuid(),
            operation: inc.operation,
            path,
            rel_path: rel_path.clone(),
            data: inc.data,
            client_token: inc.token.clone(),
            caller: None,
            has_sudo: false,
            wrap_ttl: inc.wrap_ttl,
            mount: route_entry.info.clone(),
            storage: route_entry.storage.clone(),
            remote_addr: inc.remote_addr,
            headers: inc.headers,
        };

        // The token is resolved first (backends' existence checks may need
        // the caller, e.g. cubbyhole), then the existence check decides
        // create vs update, then the ACL runs on the final operation.
        let mut entry = None;
        if let Some(token) = inc.token.as_deref() {
            match active.tokens.lookup(token).await? {
                Some(e) if e.usable_from(inc.remote_addr.map(|a| a.ip())) => {
                    req.caller = Some(Arc::new(active.tokens.caller(&e)));
                    entry = Some(e);
                }
                // Bound to other client addresses: before any use is counted;
                // an unauthenticated path (a login) just goes on without it,
                // as for an unknown token.
                Some(_) if unauthenticated => {}
                Some(_) => return Err(cidr_denied()),
                None if unauthenticated => {}
                None => return Err(Error::InvalidToken),
            }
        } else if !unauthenticated {
            return Err(Error::Coded(403, "permission denied".into()));
        }
        if req.operation == Operation::Update && route.spec.existence_check && !backend.exists(&route, &req).await? {
            req.operation = Operation::Create;
        }
        let mut revoke_after: Option<Arc<TokenEntry>> = None;
        if let Some(entry) = entry {
            revoke_after = self.authorize(&active, &mut req, &route_entry, unauthenticated, &entry).await?;
        }

        let result = backend.handle(&route, &mut req).await;
        if let Some(entry) = revoke_after {
            active.tokens.revoke_entry(&entry).await?;
        }
        let mut resp = match result? {
            Some(r) => r,
            None => return Ok(Response { status: Some(204), ..Default::default() }),
        };
        if let Some(login) = resp.login.take() {
            let (auth, mut warnings) = self.issue_login_token(&active, &route_entry, &req.path, login).await?;
            resp.auth = Some(auth);
            resp.warnings.append(&mut warnings);
        }
        resp.request_id = std::mem::take(&mut req.id);
        let wrap = req.wrap_ttl.or(resp.force_wrap_ttl);
        if let Some(ttl) = wrap
            && resp.raw.is_none()
            && resp.wrap_info.is_none()
        {
            resp = self.wrap(&active, resp, ttl, &inc.path).await?;
        }
        Ok(resp)
    }

    /// Run the ACL check for a resolved token. Returns the token to revoke
    /// after the request when its last use was consumed.
    async fn authorize(
        &self,
        active: &Arc<Active>,
        req: &mut Request,
        route_entry: &RouteEntry,
        unauthenticated: bool,
        entry: &Arc<TokenEntry>,
    ) -> Result<Option<Arc<TokenEntry>>> {
        let Some(caller) = req.caller.clone() else { return Ok(None) };
        let acl = active.policies.acl_for(&caller.policies);
        let op = capability_of(req.operation);
        let res = acl.check_ref(&AclRequest { op, path: &req.path, data: Some(&req.data), wrap_ttl: req.wrap_ttl });
        let root_protected = SpecialPaths::matches(&route_entry.special.root, &req.rel_path);
        if !unauthenticated && (!res.allowed || (root_protected && !res.sudo)) {
            // A denied request still presented the token, and Vault counts
            // every such request against `num_uses`: otherwise a limited
            // token could probe paths forever. On its last use it is revoked
            // at once (there is no request to finish first).
            if let UseOutcome::RevokeAfter = active.tokens.use_token(entry).await? {
                active.tokens.revoke_entry(entry).await?;
            }
            // Wrapping-TTL violations are denials too (OpenBao answers 403).
            return Err(Error::PermissionDenied);
        }
        req.has_sudo = res.sudo || acl.is_root();
        if unauthenticated {
            return Ok(None);
        }
        Ok(match active.tokens.use_token(entry).await? {
            UseOutcome::RevokeAfter => Some(entry.clone()),
            _ => None,
        })
    }

    /// The answer to a request that names no route, no row of its mount, or
    /// an operation its row lacks. As in Vault, the token and the ACL come
    /// first: a caller without a valid token, or whose policies do not reach
    /// the path, gets 403, so nobody learns which mounts and endpoints exist
    /// beyond what they may use; the request spends one of the token's uses
    /// either way. Only a caller the ACL lets through (or a request on an
    /// unauthenticated path, such as a login) sees `not_served`.
    async fn refuse(&self, active: &Arc<Active>, inc: &Incoming, path: &str, unauthenticated: bool, not_served: Error) -> Error {
        if unauthenticated {
            return not_served;
        }
        let Some(token) = inc.token.as_deref() else {
            return Error::Coded(403, "permission denied".into());
        };
        let entry = match active.tokens.lookup(token).await {
            Ok(Some(e)) if e.usable_from(inc.remote_addr.map(|a| a.ip())) => e,
            Ok(Some(_)) => return cidr_denied(),
            Ok(None) => return Error::InvalidToken,
            Err(e) => return e,
        };
        let caller = active.tokens.caller(&entry);
        let acl = active.policies.acl_for(&caller.policies);
        let res = acl.check_ref(&AclRequest {
            op: capability_of(inc.operation),
            path,
            data: Some(&inc.data),
            wrap_ttl: inc.wrap_ttl,
        });
        match active.tokens.use_token(&entry).await {
            Ok(UseOutcome::RevokeAfter) => {
                if let Err(e) = active.tokens.revoke_entry(&entry).await {
                    return e;
                }
            }
            Ok(_) => {}
            Err(e) => return e,
        }
        if res.allowed { not_served } else { Error::PermissionDenied }
    }

    /// Turn an auth method's [`Login`] into a token: an orphan whose path is
    /// the login path, TTL within the mount's limits (Vault's `CalculateTTL`,
    /// with its warnings). Service or batch by Vault's rules: a mount tuned
    /// `service`/`batch` decides; `default-service` follows the method (batch
    /// only if it asks for batch); `default-batch` too (service only if it asks
    /// for service).
    async fn issue_login_token(
        &self,
        active: &Arc<Active>,
        mount: &RouteEntry,
        path: &str,
        login: crate::logical::Login,
    ) -> Result<(crate::logical::Auth, Vec<String>)> {
        let mut policies: Vec<String> = login.policies.iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()).collect();
        if policies.iter().any(|p| p == "root") {
            return Err(Error::invalid("auth methods cannot create root tokens"));
        }
        if !login.no_default_policy && !policies.iter().any(|p| p == "default") {
            policies.push("default".into());
        }
        policies.sort();
        policies.dedup();
        let asked = login.token_type.as_str();
        let batch = match mount.entry.config.token_type.as_deref().unwrap_or("default-service") {
            "service" => false,
            "batch" => true,
            "default-batch" => asked != "service",
            _ => asked == "batch",
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (ttl, warnings) = crate::token::calculate_ttl(crate::token::TtlInput {
            backend_ttl: login.ttl.as_secs(),
            period: login.period.as_secs(),
            backend_max: login.max_ttl.as_secs(),
            explicit_max: login.explicit_max_ttl.as_secs(),
            mount_default: mount.info.default_lease_ttl.as_secs(),
            mount_max: mount.info.max_lease_ttl.as_secs(),
            start: now,
            now,
            ..Default::default()
        })?;
        let ttl = Duration::from_secs(ttl);
        let max = if login.max_ttl.is_zero() { mount.info.max_lease_ttl } else { login.max_ttl.min(mount.info.max_lease_ttl) };
        // Periodic tokens renew without bound unless given an explicit max, as in Vault.
        let max_ttl = if login.period.is_zero() { max } else { Duration::ZERO };
        let name = mount.entry.path.trim_end_matches('/').replace('/', "-");
        let display_name = if login.display_name.is_empty() { name } else { format!("{name}-{}", login.display_name) };
        let meta = if login.metadata.is_empty() { None } else { Some(login.metadata) };
        let create = if batch {
            // Never stored; as in Vault, a batch token keeps no use limit, period or max.
            InternalCreate {
                policies,
                path: path.to_string(),
                ttl,
                display_name,
                meta,
                renewable: false,
                batch: true,
                bound_cidrs: login.bound_cidrs,
                ..Default::default()
            }
        } else {
            InternalCreate {
                policies,
                path: path.to_string(),
                ttl,
                explicit_max_ttl: login.explicit_max_ttl,
                max_ttl,
                period: login.period,
                num_uses: login.num_uses,
                display_name,
                meta,
                renewable: login.renewable,
                parent: None,
                entity_id: String::new(),
                batch: false,
                bound_cidrs: login.bound_cidrs,
            }
        };
        let (token, entry) = active.tokens.create_internal(create).await?;
        Ok((active.tokens.auth_for(&token, &entry), warnings))
    }

    /// For `?help`: any valid token may ask (no ACL check).
    async fn require_valid_token(&self, active: &Arc<Active>, inc: &Incoming) -> Result<()> {
        let token = inc.token.as_deref().ok_or(Error::InvalidToken)?;
        let entry = active.tokens.lookup(token).await?.ok_or(Error::InvalidToken)?;
        if !entry.usable_from(inc.remote_addr.map(|a| a.ip())) {
            return Err(cidr_denied());
        }
        Ok(())
    }

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

/// Only the root namespace exists: a request that names any other (in
/// `X-Vault-Namespace`) gets OpenBao's 404 `namespace not found` before
/// anything else, token or not, rather than an answer from the root that a
/// client confined to, say, `hotpass/dev` would take for its own namespace's.
/// `root`, `/` and the empty string name the root, as in OpenBao.
fn check_namespace(headers: &[(String, String)]) -> Result<()> {
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("x-vault-namespace") {
            let ns = v.trim().trim_matches('/');
            if !ns.is_empty() && ns != "root" {
                return Err(Error::Coded(404, "namespace not found".into()));
            }
        }
    }
    Ok(())
}

/// The ACL capability an operation needs.
fn capability_of(op: Operation) -> Caps {
    match op {
        Operation::Create => Caps::CREATE,
        Operation::Read => Caps::READ,
        Operation::Update => Caps::UPDATE,
        Operation::Patch => Caps::PATCH,
        Operation::Delete => Caps::DELETE,
        Operation::List => Caps::LIST,
        Operation::Help | Operation::Header => Caps::READ,
    }
}

/// A token used from outside its bound CIDRs: Vault's and OpenBao's plain
/// 403 `permission denied` (their token check's own error, not the ACL
/// denial's multierror text).
fn cidr_denied() -> Error {
    Error::Coded(403, "permission denied".into())
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
