//! Test harness: a token store over an unsealed in-memory barrier, hooks that
//! record revocations, and a `call` that mimics the core's pipeline (token
//! lookup, use counting, handler, revoke-after-last-use) minus the ACL.

use super::{TokenHooks, TokenStore, UseOutcome};
use crate::backend::{Backend, MountInfo};
use crate::barrier::{Barrier, KeyBytes};
use crate::error::{Error, Result};
use crate::lease::LeaseIndex;
use crate::logical::{Data, Operation, Request, Response};
use crate::view::StorageView;
use async_trait::async_trait;
use coffer_storage::{InmemStorage, Op, Storage, StorageError};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
pub use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
pub struct TestHooks {
    pub revoked: Mutex<Vec<String>>,
    pub fail_revoke: Mutex<bool>,
}

#[async_trait]
impl TokenHooks for TestHooks {
    async fn on_revoke(&self, token_hash: &str) -> Result<()> {
        if *self.fail_revoke.lock() {
            return Err(Error::internal("hook failed"));
        }
        self.revoked.lock().push(token_hash.to_string());
        Ok(())
    }
    async fn policy_exists(&self, name: &str) -> bool {
        matches!(name, "default" | "tc" | "root")
    }
}

/// In-memory storage that counts every call made to it, so a test can say
/// "this touched no storage".
#[derive(Default)]
pub struct CountingStorage {
    inner: InmemStorage,
    calls: AtomicU64,
}

impl CountingStorage {
    /// Calls so far (reads, lists and writes alike).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Storage for CountingStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.count();
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.count();
        self.inner.list(prefix).await
    }
    async fn write(&self, ops: Vec<Op>) -> Result<(), StorageError> {
        self.count();
        self.inner.write(ops).await
    }
    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.count();
        self.inner.keys_with_prefix(prefix).await
    }
    fn kind(&self) -> &'static str {
        "inmem"
    }
}

pub struct Harness {
    pub phys: Arc<CountingStorage>,
    pub barrier: Arc<Barrier>,
    pub store: Arc<TokenStore>,
    /// The lease index the store writes to (`sys/expire/`).
    pub leases: LeaseIndex,
    pub hooks: Arc<TestHooks>,
    pub backend: Arc<dyn Backend>,
    pub root: String,
    pub mount: Arc<MountInfo>,
}

impl Harness {
    pub async fn new() -> Harness {
        let phys = Arc::new(CountingStorage::default());
        let b = Arc::new(Barrier::new(phys.clone()));
        let kek = KeyBytes::random().unwrap();
        b.initialize(&kek, KeyBytes::random().unwrap(), "t".into()).await.unwrap();
        b.unseal(&kek).await.unwrap();
        let hooks = Arc::new(TestHooks::default());
        let leases = LeaseIndex::new(StorageView::new(b.clone(), "sys/expire/"));
        let store = TokenStore::new(StorageView::new(b.clone(), "sys/token/"), leases.clone(), hooks.clone()).await.unwrap();
        let root = store.create_root_token(None).await.unwrap();
        let mount = Arc::new(MountInfo {
            path: "auth/token/".into(),
            kind: "token".into(),
            accessor: "auth_token_1234".into(),
            uuid: "uuid".into(),
            options: BTreeMap::new(),
            default_lease_ttl: Duration::from_secs(2_764_800),
            max_lease_ttl: Duration::from_secs(2_764_800),
        });
        Harness { phys, barrier: b, backend: store.backend(), store, leases, hooks, root, mount }
    }

    /// Run one request as `token` (root when `None`); `sudo` adds sudo as an
    /// ACL would (root always has it).
    pub async fn call_full(&self, token: Option<&str>, sudo: bool, op: Operation, path: &str, body: Value) -> Result<Option<Response>> {
        let token = token.unwrap_or(&self.root).to_string();
        let entry = self.store.lookup(&token).await?.ok_or(Error::InvalidToken)?;
        let caller = Arc::new(self.store.caller(&entry));
        let outcome = self.store.use_token(&entry).await?;
        let data: Data = match body {
            Value::Object(m) => m,
            _ => Data::new(),
        };
        let mut req = Request {
            id: "req".into(),
            operation: op,
            path: format!("auth/token/{path}"),
            rel_path: path.into(),
            data,
            client_token: Some(token),
            has_sudo: sudo || caller.is_root,
            caller: Some(caller),
            wrap_ttl: None,
            mount: self.mount.clone(),
            storage: self.store.view().clone(),
            remote_addr: None,
            headers: vec![],
        };
        let route = self.backend.table().route(path).ok_or_else(|| Error::UnsupportedPath(path.into()))?;
        assert!(route.spec.operations.contains(&op), "{path} does not take {op:?}");
        let res = self.backend.handle(&route, &mut req).await;
        if outcome == UseOutcome::RevokeAfter {
            self.store.revoke_entry(&entry).await?;
        }
        res
    }

    pub async fn call_op(&self, token: Option<&str>, op: Operation, path: &str, body: Value) -> Result<Option<Response>> {
        self.call_full(token, false, op, path, body).await
    }

    pub async fn root_call(&self, path: &str, body: Value) -> Result<Response> {
        self.call_op(None, Operation::Update, path, body).await.map(|r| r.expect("a response body"))
    }

    pub async fn call_as(&self, token: &str, path: &str, body: Value) -> Result<Response> {
        self.call_op(Some(token), Operation::Update, path, body).await.map(|r| r.expect("a response body"))
    }

    pub async fn call_sudo(&self, token: &str, path: &str, body: Value) -> Result<Response> {
        self.call_full(Some(token), true, Operation::Update, path, body).await.map(|r| r.expect("a response body"))
    }

    /// Create a token as root, return the token.
    pub async fn create(&self, body: Value) -> String {
        self.root_call("create", body).await.unwrap().auth.unwrap().client_token
    }

    /// Lookup data of a token, as root.
    pub async fn lookup(&self, token: &str) -> Data {
        self.root_call("lookup", json!({ "token": token })).await.unwrap().data.unwrap()
    }

    /// Does the token authenticate (lookup-self as itself)?
    pub async fn works(&self, token: &str) -> bool {
        match self.call_op(Some(token), Operation::Read, "lookup-self", json!({})).await {
            Ok(_) => true,
            Err(Error::InvalidToken) => false,
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }

    /// All physical keys and values (ciphertext).
    pub async fn physical(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![];
        for k in self.phys.keys_with_prefix("").await.unwrap() {
            let v = self.phys.get(&k).await.unwrap().unwrap_or_default();
            out.push((k, v));
        }
        out
    }
}
