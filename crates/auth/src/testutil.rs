//! Test harness shared by the auth methods' unit tests: a real barrier over
//! in-memory storage, a backend built by the method's factory on a mount of
//! its own, and a `call` that does what the core does before `handle`
//! (route, check the operation, turn `update` into `create` through the
//! existence check).

use coffer_core::barrier::{Barrier, KeyBytes};
use coffer_core::{Backend, EngineFactory, Error, MountContext, MountInfo, Operation, Request, Response, Result, StorageView};
use coffer_storage::{InmemStorage, Storage};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Harness {
    pub backend: Arc<dyn Backend>,
    pub mount: Arc<MountInfo>,
    pub storage: StorageView,
    pub physical: Arc<InmemStorage>,
    pub remote_addr: Option<SocketAddr>,
}

impl Harness {
    /// A backend of type `kind` mounted at `auth/<kind>/`, with these mount TTLs.
    pub(crate) async fn mount(kind: &str, factory: EngineFactory, lease_ttl: Duration) -> Harness {
        let physical = Arc::new(InmemStorage::new());
        let barrier = Arc::new(Barrier::new(physical.clone()));
        let kek = KeyBytes::random().unwrap();
        barrier.initialize(&kek, KeyBytes::random().unwrap(), "t0".into()).await.unwrap();
        barrier.unseal(&kek).await.unwrap();
        let storage = StorageView::new(barrier, format!("auth/{kind}-test/"));
        let mount = Arc::new(MountInfo {
            path: format!("auth/{kind}/"),
            kind: kind.into(),
            accessor: format!("auth_{kind}_test"),
            uuid: "00000000-0000-0000-0000-000000000001".into(),
            options: BTreeMap::new(),
            default_lease_ttl: lease_ttl,
            max_lease_ttl: lease_ttl,
        });
        let backend = factory.build(MountContext { mount: mount.clone(), storage: storage.clone() }).unwrap();
        Harness { backend, mount, storage, physical, remote_addr: Some("127.0.0.1:40000".parse().unwrap()) }
    }

    /// Vault's default mount TTL (768h), as a dev server has it.
    pub(crate) async fn with_default_ttls(kind: &str, factory: EngineFactory) -> Harness {
        Harness::mount(kind, factory, Duration::from_secs(2_764_800)).await
    }

    pub(crate) fn request(&self, op: Operation, rel_path: &str, body: Value) -> Request {
        let mut req = coffer_core::backend::direct_request(op, &self.mount, &self.storage, rel_path, body);
        req.remote_addr = self.remote_addr;
        req
    }

    /// The operation the core would hand to `handle` for an `update`.
    pub(crate) async fn effective_op(&self, rel_path: &str) -> Operation {
        let req = self.request(Operation::Update, rel_path, Value::Null);
        let route = self.backend.table().route(rel_path).expect("route");
        if route.spec.existence_check && !self.backend.exists(&route, &req).await.unwrap() {
            Operation::Create
        } else {
            Operation::Update
        }
    }

    pub(crate) async fn call(&self, op: Operation, rel_path: &str, body: Value) -> Result<Option<Response>> {
        let mut req = self.request(op, rel_path, body);
        if op == Operation::Update
            && let Some(route) = self.backend.table().route(rel_path)
            && route.spec.existence_check
            && !self.backend.exists(&route, &req).await?
        {
            req.operation = Operation::Create;
        }
        coffer_core::backend::serve_direct(self.backend.as_ref(), &mut req).await
    }

    pub(crate) async fn ok(&self, op: Operation, rel_path: &str, body: Value) -> Option<Response> {
        match self.call(op, rel_path, body).await {
            Ok(r) => r,
            Err(e) => panic!("{op:?} {rel_path}: unexpected error: {e}"),
        }
    }

    /// A call that must fail: its status and message as the HTTP layer maps them.
    pub(crate) async fn err(&self, op: Operation, rel_path: &str, body: Value) -> (u16, String) {
        match self.call(op, rel_path, body).await {
            Err(Error::InvalidRequest(m)) => (400, m),
            Err(Error::Coded(c, m)) => (c, m),
            Err(e @ Error::UnsupportedPath(_)) => (404, e.to_string()),
            Err(e) => panic!("{op:?} {rel_path}: unexpected error kind {e:?}"),
            Ok(_) => panic!("{op:?} {rel_path}: expected an error, got success"),
        }
    }

    /// A call that must fail with a 400; its message.
    pub(crate) async fn bad_request(&self, op: Operation, rel_path: &str, body: Value) -> String {
        match self.call(op, rel_path, body).await {
            Err(Error::InvalidRequest(m)) => m,
            Err(e) => panic!("{op:?} {rel_path}: expected a 400, got {e:?}"),
            Ok(_) => panic!("{op:?} {rel_path}: expected a 400, got success"),
        }
    }

    /// The `data` of a read; `None` when the backend answered without a body (404).
    pub(crate) async fn read(&self, rel_path: &str) -> Option<Value> {
        self.ok(Operation::Read, rel_path, Value::Null).await.map(|r| Value::Object(r.data.expect("data")))
    }

    /// The `keys` of a LIST (empty when there are none).
    pub(crate) async fn list(&self, rel_path: &str) -> Vec<String> {
        let r = self.ok(Operation::List, rel_path, Value::Null).await;
        r.and_then(|r| r.data)
            .and_then(|d| d.get("keys").cloned())
            .map(|k| serde_json::from_value(k).unwrap())
            .unwrap_or_default()
    }

    /// Every value below the mount's view, decrypted.
    pub(crate) async fn logical_values(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for k in self.storage.keys_recursive("").await.unwrap() {
            let v = self.storage.get(&k).await.unwrap().unwrap();
            out.push((k, v.to_vec()));
        }
        out
    }

    /// Every key and value in physical storage, as stored (encrypted).
    pub(crate) async fn physical_values(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for k in self.physical.keys_with_prefix("").await.unwrap() {
            let v = self.physical.get(&k).await.unwrap().unwrap_or_default();
            out.push((k, v));
        }
        out
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
