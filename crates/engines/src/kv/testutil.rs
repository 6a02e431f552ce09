//! Test harness: a real barrier over in-memory storage, a kv backend built by
//! the factory (or directly, to share a test clock), and a `call` that does
//! what the core does before `handle`: route, check the operation, and turn
//! `update` into `create` through the existence check.

use super::store::Clock;
use super::{KvV2, kv_factory};
use coffer_core::barrier::{Barrier, KeyBytes};
use coffer_core::{Backend, Error, MountContext, MountInfo, Operation, Request, Response, Result, StorageView};
use coffer_storage::InmemStorage;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Harness {
    pub backend: Arc<dyn Backend>,
    pub mount: Arc<MountInfo>,
    pub storage: StorageView,
    pub clock: Arc<Clock>,
}

pub(crate) async fn unsealed_view() -> StorageView {
    let barrier = Arc::new(Barrier::new(Arc::new(InmemStorage::new())));
    let kek = KeyBytes::random().unwrap();
    barrier.initialize(&kek, KeyBytes::random().unwrap(), "t0".into()).await.unwrap();
    barrier.unseal(&kek).await.unwrap();
    StorageView::new(barrier, "logical/kv-test/")
}

fn mount_info(version: &str, default_ttl: Duration) -> Arc<MountInfo> {
    let mut options = BTreeMap::new();
    options.insert("version".to_string(), version.to_string());
    Arc::new(MountInfo {
        path: "secret/".into(),
        kind: "kv".into(),
        accessor: "kv_test".into(),
        uuid: "00000000-0000-0000-0000-000000000000".into(),
        options,
        default_lease_ttl: default_ttl,
        max_lease_ttl: default_ttl,
    })
}

const SYSTEM_DEFAULT_TTL: Duration = Duration::from_secs(2_764_800);

impl Harness {
    pub(crate) async fn v1() -> Harness {
        Self::v1_with_ttl(SYSTEM_DEFAULT_TTL).await
    }

    pub(crate) async fn v1_with_ttl(ttl: Duration) -> Harness {
        let storage = unsealed_view().await;
        let mount = mount_info("1", ttl);
        let backend = kv_factory().build(MountContext { mount: mount.clone(), storage: storage.clone() }).unwrap();
        Harness { backend, mount, storage, clock: Arc::new(Clock::default()) }
    }

    pub(crate) async fn v2() -> Harness {
        Self::v2_on(unsealed_view().await)
    }

    /// A v2 backend over an existing view (e.g. one written by a v1 backend).
    pub(crate) fn v2_on(storage: StorageView) -> Harness {
        let mount = mount_info("2", SYSTEM_DEFAULT_TTL);
        let clock = Arc::new(Clock::default());
        let ctx = MountContext { mount: mount.clone(), storage: storage.clone() };
        let backend: Arc<dyn Backend> = Arc::new(KvV2::with_clock(ctx, clock.clone()));
        Harness { backend, mount, storage, clock }
    }

    pub(crate) fn request(&self, op: Operation, rel_path: &str, body: Value) -> Request {
        coffer_core::backend::direct_request(op, &self.mount, &self.storage, rel_path, body)
    }

    /// The operation the core would hand to `handle` (update → create when
    /// the object does not exist).
    pub(crate) async fn effective_op(&self, op: Operation, rel_path: &str) -> Operation {
        let req = self.request(op, rel_path, Value::Null);
        let route = self.backend.table().route(rel_path).expect("route");
        if op == Operation::Update && route.spec.existence_check && !self.backend.exists(&route, &req).await.unwrap() {
            Operation::Create
        } else {
            op
        }
    }

    pub(crate) async fn call(&self, op: Operation, rel_path: &str, body: Value) -> Result<Option<Response>> {
        let mut req = self.request(op, rel_path, body);
        coffer_core::backend::serve_direct(self.backend.as_ref(), &mut req).await
    }

    /// A call that must succeed.
    pub(crate) async fn ok(&self, op: Operation, rel_path: &str, body: Value) -> Option<Response> {
        match self.call(op, rel_path, body).await {
            Ok(r) => r,
            Err(e) => panic!("{op:?} {rel_path}: unexpected error: {e}"),
        }
    }

    /// A call that must fail; its message.
    pub(crate) async fn err(&self, op: Operation, rel_path: &str, body: Value) -> String {
        match self.call(op, rel_path, body).await {
            Ok(_) => panic!("{op:?} {rel_path}: expected an error"),
            Err(e) => e.to_string(),
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

    /// The `data` of a call that must succeed with a body.
    pub(crate) async fn data(&self, op: Operation, rel_path: &str, body: Value) -> Value {
        let r = self.ok(op, rel_path, body).await.unwrap_or_else(|| panic!("{op:?} {rel_path}: no response"));
        assert_eq!(r.status, None, "{op:?} {rel_path}: unexpected status");
        Value::Object(r.data.expect("data"))
    }

    /// LIST keys; empty when the backend answered with no keys.
    pub(crate) async fn keys(&self, rel_path: &str, body: Value) -> Vec<String> {
        let r = self.ok(Operation::List, rel_path, body).await;
        r.and_then(|r| r.data)
            .and_then(|d| d.get("keys").cloned())
            .map(|k| serde_json::from_value(k).unwrap())
            .unwrap_or_default()
    }
}
