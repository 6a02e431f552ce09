//! The request pipeline's invariants, through the public API only
//! (`Core::handle`, `Core::admit_body`, `Core::add_audit_hook`).

use coffer_core::pipeline::{AuditHook, RequestContext};
use coffer_core::{Core, CoreConfig, Data, Error, Incoming, Operation, Response, Result};
use coffer_storage::InmemStorage;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const ROOT: &str = "root-test";

fn peer() -> Option<SocketAddr> {
    Some("127.0.0.1:40000".parse().unwrap())
}

async fn core() -> Arc<Core> {
    let core = Core::new(Arc::new(InmemStorage::new()), CoreConfig::default());
    core.initialize(1, 1, Some(ROOT), true).await.unwrap();
    core
}

fn incoming(op: Operation, path: &str, token: Option<&str>, body: Value, headers: &[(&str, &str)]) -> Incoming {
    Incoming {
        operation: op,
        path: path.into(),
        data: match body {
            Value::Object(m) => m,
            _ => Data::new(),
        },
        token: token.map(str::to_string),
        wrap_ttl: None,
        remote_addr: peer(),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

async fn root(core: &Core, op: Operation, path: &str, body: Value) -> Response {
    core.handle(incoming(op, path, Some(ROOT), body, &[])).await.unwrap_or_else(|e| panic!("{path}: {e:?}"))
}

/// A token with only the default policy and `uses` uses.
async fn limited(core: &Core, uses: i64) -> String {
    let r = root(core, Operation::Update, "auth/token/create", json!({"policies": ["default"], "num_uses": uses})).await;
    r.auth.unwrap().client_token
}

async fn uses_left(core: &Core, token: &str) -> i64 {
    let d = root(core, Operation::Update, "auth/token/lookup", json!({"token": token})).await.data.unwrap();
    d["num_uses"].as_i64().unwrap()
}

#[derive(Default)]
struct Recorder {
    entries: Mutex<Vec<(&'static str, String, bool)>>,
}

#[async_trait::async_trait]
impl AuditHook for Recorder {
    async fn log_request(&self, ctx: &RequestContext) -> Result<()> {
        self.entries.lock().push(("request", ctx.id().to_string(), true));
        Ok(())
    }
    async fn log_response(&self, ctx: &RequestContext, outcome: &Result<Response>) -> Result<()> {
        self.entries.lock().push(("response", ctx.id().to_string(), outcome.is_ok()));
        Ok(())
    }
}

/// The Audit issue's premise: every request, whatever its outcome, yields
/// exactly one request entry and then one response entry, with one id.
#[tokio::test]
async fn every_outcome_yields_one_request_and_one_response_entry() {
    let core = core().await;
    let rec = Arc::new(Recorder::default());
    core.add_audit_hook(rec.clone());
    let weak = limited(&core, 0).await;
    rec.entries.lock().clear();

    let ns = [("x-vault-namespace", "hotpass/dev")];
    let mut wrapped = incoming(Operation::Read, "cubbyhole/a", Some(ROOT), json!({}), &[]);
    wrapped.wrap_ttl = Some(Duration::from_secs(60));
    let cases: Vec<(&str, Incoming, bool)> = vec![
        ("seal-exempt", incoming(Operation::Read, "sys/seal-status", None, json!({}), &[]), true),
        ("write, 204", incoming(Operation::Update, "cubbyhole/a", Some(ROOT), json!({"k": "v"}), &[]), true),
        ("read", incoming(Operation::Read, "cubbyhole/a", Some(ROOT), json!({}), &[]), true),
        ("wrapped", wrapped, true),
        ("help", incoming(Operation::Help, "sys/mounts", Some(ROOT), json!({}), &[]), true),
        ("unauthenticated path", incoming(Operation::Read, "sys/internal/ui/mounts", None, json!({}), &[]), true),
        ("400 trailing slash", incoming(Operation::Update, "cubbyhole/", Some(ROOT), json!({"k": "v"}), &[]), false),
        ("400 backend error", incoming(Operation::Update, "cubbyhole/b", Some(ROOT), json!({}), &[]), false),
        ("404 no mount", incoming(Operation::Read, "nomount/x", Some(ROOT), json!({}), &[]), false),
        ("403 no mount, no token", incoming(Operation::Read, "nomount/x", None, json!({}), &[]), false),
        ("404 no row", incoming(Operation::Read, "sys/no-such-row", Some(ROOT), json!({}), &[]), false),
        ("403 no token", incoming(Operation::Read, "sys/mounts", None, json!({}), &[]), false),
        ("403 bad token", incoming(Operation::Read, "sys/mounts", Some("bogus"), json!({}), &[]), false),
        ("403 ACL", incoming(Operation::Read, "sys/mounts", Some(&weak), json!({}), &[]), false),
        ("404 namespace", incoming(Operation::Read, "sys/mounts", Some(ROOT), json!({}), &ns), false),
    ];
    for (name, inc, ok) in cases {
        let r = core.handle(inc).await;
        assert_eq!(r.is_ok(), ok, "{name}: {r:?}");
        let entries = std::mem::take(&mut *rec.entries.lock());
        assert_eq!(entries.len(), 2, "{name}: {entries:?}");
        assert_eq!((entries[0].0, entries[1].0), ("request", "response"), "{name}");
        assert_eq!(entries[0].1, entries[1].1, "{name}: one id");
        assert_eq!(entries[1].2, ok, "{name}: the response entry sees the outcome");
        if let Ok(resp) = r {
            assert_eq!(resp.request_id, entries[0].1, "{name}: the response carries the audited id");
        }
    }

    // Sealed: refused with 503, and still audited once each.
    core.seal().await.unwrap();
    for (path, ok) in [("cubbyhole/a", false), ("sys/seal-status", true), ("sys/leader", false)] {
        let r = core.handle(incoming(Operation::Read, path, Some(ROOT), json!({}), &[])).await;
        assert_eq!(r.is_ok(), ok, "{path}: {r:?}");
        if path == "cubbyhole/a" {
            assert!(matches!(r, Err(Error::Sealed)));
        }
        let entries = std::mem::take(&mut *rec.entries.lock());
        assert_eq!(entries.iter().map(|e| e.0).collect::<Vec<_>>(), ["request", "response"], "sealed {path}");
    }
}

/// A hook is not an audit device: one that fails does not stop the request
/// (it is logged), and it still sees the response entry.
#[tokio::test]
async fn a_failing_hook_does_not_stop_the_request() {
    struct Refuse(Mutex<usize>);
    #[async_trait::async_trait]
    impl AuditHook for Refuse {
        async fn log_request(&self, _: &RequestContext) -> Result<()> {
            Err(Error::internal("hook unavailable"))
        }
        async fn log_response(&self, _: &RequestContext, _: &Result<Response>) -> Result<()> {
            *self.0.lock() += 1;
            Err(Error::internal("hook unavailable"))
        }
    }
    let core = core().await;
    let hook = Arc::new(Refuse(Mutex::new(0)));
    core.add_audit_hook(hook.clone());
    let r = core.handle(incoming(Operation::Update, "cubbyhole/x", Some(ROOT), json!({"k": "v"}), &[])).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(*hook.0.lock(), 1);
    let r = core.handle(incoming(Operation::Read, "nomount/x", None, json!({}), &[])).await;
    assert!(r.is_err());
    assert_eq!(*hook.0.lock(), 2, "one response entry for a request that ended before stage 5 too");
}

/// Fail-closed with real file devices: when the only device cannot write,
/// a request is refused before dispatch (nothing stored); a second healthy
/// device keeps requests going; with the device writable again they pass.
#[tokio::test]
async fn no_device_recording_the_request_refuses_it() {
    let core = core().await;
    let base = std::env::temp_dir().join(format!("coffer-pipeline-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (d1, d2) = (base.join("one"), base.join("two"));
    std::fs::create_dir_all(&d1).unwrap();
    std::fs::create_dir_all(&d2).unwrap();
    let enable = |path: &str, file: std::path::PathBuf| {
        incoming(Operation::Update, &format!("sys/audit/{path}"), Some(ROOT), json!({"type": "file", "options": {"file_path": file.to_str().unwrap()}}), &[])
    };
    core.handle(enable("one", d1.join("a.log"))).await.unwrap();
    // Its directory becomes a file: the device cannot reopen its log.
    std::fs::remove_dir_all(&d1).unwrap();
    std::fs::write(&d1, b"x").unwrap();
    core.reopen_audit_devices().await;
    let r = core.handle(incoming(Operation::Update, "cubbyhole/x", Some(ROOT), json!({"k": "v"}), &[])).await;
    assert!(matches!(r, Err(Error::Internal(_))), "{r:?}");
    std::fs::remove_file(&d1).unwrap();
    let r = core.handle(incoming(Operation::Read, "cubbyhole/x", Some(ROOT), json!({}), &[])).await;
    assert!(r.as_ref().map(|r| r.data.is_none()).unwrap_or(false), "nothing was stored: {r:?}");
    // Two devices, one broken: requests go on and the healthy one records them.
    core.handle(enable("two", d2.join("b.log"))).await.unwrap();
    std::fs::remove_dir_all(&d1).unwrap();
    std::fs::write(&d1, b"x").unwrap();
    core.reopen_audit_devices().await;
    core.handle(incoming(Operation::Update, "cubbyhole/y", Some(ROOT), json!({"k": "v"}), &[])).await.unwrap();
    let log = std::fs::read_to_string(d2.join("b.log")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"path\":\"cubbyhole/y\"") && l.contains("\"type\":\"response\"")), "{log}");
    let _ = std::fs::remove_file(&d1);
    let _ = std::fs::remove_dir_all(&base);
}

/// `admit_body` is the pipeline's first stages without a body: whenever it
/// refuses, `Core::handle` refuses the same request (without a body) with
/// the same error, and it never spends a token use.
#[tokio::test]
async fn admission_refuses_exactly_as_the_pipeline_and_spends_nothing() {
    let core = core().await;
    let weak = limited(&core, 50).await;
    let tokens: [Option<&str>; 4] = [None, Some("bogus"), Some(&weak), Some(ROOT)];
    let ns = [("x-vault-namespace", "ns1")];
    type Case<'a> = (Operation, &'a str, &'a [(&'a str, &'a str)]);
    let requests: &[Case] = &[
        (Operation::Update, "nomount/x", &[]),
        (Operation::Update, "sys/no-such-row", &[]),
        (Operation::Patch, "sys/mounts", &[]),
        (Operation::Update, "cubbyhole/", &[]),
        (Operation::Update, "cubbyhole/x", &[]),
        (Operation::Update, "sys/mounts/foo", &[]),
        (Operation::Update, "sys/wrapping/lookup", &[]),
        (Operation::Update, "cubbyhole/x", &ns),
        (Operation::Update, "sys/unseal", &[]),
    ];
    let mut refused = 0;
    for token in tokens {
        for (op, path, headers) in requests {
            let hdrs: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let before = uses_left(&core, &weak).await;
            let admitted = core.admit_body(*op, path, token, peer(), &hdrs).await;
            assert_eq!(uses_left(&core, &weak).await, before, "admission spent a use: {op:?} {path} {token:?}");
            let Err(e) = admitted else { continue };
            refused += 1;
            let handled = core.handle(incoming(*op, path, token, json!({}), headers)).await;
            let h = handled.err().unwrap_or_else(|| panic!("{op:?} {path} {token:?}: admission refused {e:?}, handle served it"));
            assert_eq!(format!("{e:?}"), format!("{h:?}"), "{op:?} {path} {token:?}");
        }
    }
    assert!(refused >= 20, "{refused}");
    // Admitted: a served row with a valid token, an unauthenticated row, a seal-exempt endpoint.
    for (path, token) in [("cubbyhole/x", ROOT), ("sys/wrapping/lookup", "bogus"), ("sys/unseal", "bogus")] {
        assert!(core.admit_body(Operation::Update, path, Some(token), peer(), &[]).await.is_ok(), "{path}");
    }
    // Sealed: 503 before anything else.
    core.seal().await.unwrap();
    assert!(matches!(core.admit_body(Operation::Update, "cubbyhole/x", Some(ROOT), peer(), &[]).await, Err(Error::Sealed)));
}

/// Only the root namespace exists: `X-Vault-Namespace` naming it is the
/// root; anything else is 404 before the token is looked at; a namespace
/// path prefix is just an unknown mount (OpenBao's answers).
#[tokio::test]
async fn the_root_namespace_is_the_only_one() {
    let core = core().await;
    for h in ["root", "/", "", "root/"] {
        let r = core.handle(incoming(Operation::Read, "sys/mounts", Some(ROOT), json!({}), &[("X-Vault-Namespace", h)])).await;
        assert!(r.is_ok(), "{h:?}: {r:?}");
    }
    for token in [Some(ROOT), None, Some("bogus")] {
        let r = core.handle(incoming(Operation::Read, "sys/mounts", token, json!({}), &[("X-Vault-Namespace", "ns1")])).await;
        assert!(matches!(&r, Err(Error::Coded(404, m)) if m == "namespace not found"), "{r:?}");
    }
    let r = core.handle(incoming(Operation::Read, "ns1/sys/mounts", Some(ROOT), json!({}), &[])).await;
    assert!(matches!(&r, Err(Error::NoRoute(p)) if p == "ns1/sys/mounts"), "{r:?}");
    let r = core.handle(incoming(Operation::Read, "ns1/sys/mounts", None, json!({}), &[])).await;
    assert!(matches!(&r, Err(Error::Coded(403, _))), "{r:?}");
}
