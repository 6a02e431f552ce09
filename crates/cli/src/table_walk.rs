//! The table walk: every row of every path table in the tree is driven once,
//! per operation, through the real pipeline (`Core::handle` with a root
//! token) on a server wired like `coffer server` (every engine and auth type
//! registered, one mount of each, kv in both versions). It proves, for every
//! table:
//! - every operation a row lists is served by a handler: the answer is never
//!   405 (`UnsupportedOperation`) nor 404 unsupported path (rows bind their
//!   operations to handlers, so a row without one does not compile; this
//!   shows the binding is what the router serves);
//! - every field a handler reads is declared in its row: in debug builds
//!   (tests) reading an undeclared field through `coffer_core::fields`
//!   panics, so the walk fails on the first handler that does.
//!
//! Each row is driven with an empty body, which reaches every field read a
//! handler makes before its first validation error; the unit and black-box
//! suites (which run the debug binary, where the same check is on) cover the
//! reads behind those errors.

use coffer_core::{Core, CoreConfig, Error, Incoming, Operation, PathTable};
use coffer_storage::InmemStorage;
use regex_syntax::hir::{Class, Hir, HirKind};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

const ROOT: &str = "root-walk";

/// A path that `pattern` matches: each named parameter filled (`x`...),
/// optional parts left out unless they hold a parameter, unbounded ones
/// taken once.
fn sample(pattern: &str) -> String {
    fn has_capture(h: &Hir) -> bool {
        match h.kind() {
            HirKind::Capture(_) => true,
            HirKind::Repetition(r) => has_capture(&r.sub),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(has_capture),
            _ => false,
        }
    }
    fn emit(h: &Hir, forced: bool, out: &mut String) {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(l) => out.push_str(std::str::from_utf8(&l.0).expect("utf-8 pattern")),
            HirKind::Class(Class::Unicode(c)) => {
                let r = c.ranges();
                out.push(if r.iter().any(|r| r.start() <= 'x' && 'x' <= r.end()) { 'x' } else { r[0].start() });
            }
            HirKind::Class(Class::Bytes(c)) => {
                let r = c.ranges();
                out.push(if r.iter().any(|r| r.start() <= b'x' && b'x' <= r.end()) { 'x' } else { r[0].start() as char });
            }
            HirKind::Repetition(r) => {
                let n = if forced || has_capture(&r.sub) || r.max.is_none() { r.min.max(1) } else { r.min };
                let n = r.max.map_or(n, |m| n.min(m));
                for _ in 0..n {
                    emit(&r.sub, forced, out);
                }
            }
            HirKind::Capture(c) => emit(&c.sub, true, out),
            HirKind::Concat(v) => v.iter().for_each(|h| emit(h, forced, out)),
            HirKind::Alternation(v) => emit(&v[0], forced, out),
        }
    }
    let hir = regex_syntax::parse(pattern).unwrap_or_else(|e| panic!("pattern {pattern:?}: {e}"));
    let mut out = String::new();
    emit(&hir, false, &mut out);
    out
}

async fn call(core: &Core, token: &str, op: Operation, path: &str) -> Result<coffer_core::Response, Error> {
    core.handle(Incoming {
        operation: op,
        path: path.to_string(),
        data: Default::default(),
        token: Some(token.to_string()),
        wrap_ttl: None,
        remote_addr: Some("127.0.0.1:40000".parse().unwrap()),
        headers: vec![],
    })
    .await
}

async fn root(core: &Core, path: &str, body: serde_json::Value) -> coffer_core::Response {
    let data = body.as_object().cloned().unwrap_or_default();
    let inc = Incoming {
        operation: Operation::Update,
        path: path.into(),
        data,
        token: Some(ROOT.into()),
        wrap_ttl: None,
        remote_addr: Some("127.0.0.1:40000".parse().unwrap()),
        headers: vec![],
    };
    core.handle(inc).await.unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Drive `op` on every row of `table` under `prefix`; returns the rows walked.
async fn walk(core: &Core, key: &str, what: &str, prefix: &str, table: &PathTable) -> usize {
    for (i, spec) in table.specs().iter().enumerate() {
        let rel = sample(spec.pattern);
        let routed = table.route(&rel).map(|r| r.index);
        assert_eq!(routed, Some(i), "{what}: the sample {rel:?} of row {} routes to another row", spec.name);
        for &op in &spec.operations {
            // A fresh root child per call: some rows revoke the caller (revoke-self) or seal.
            let token = root(core, "auth/token/create", json!({"policies": ["root"]})).await.auth.unwrap().client_token;
            let path = format!("{prefix}{rel}");
            match call(core, &token, op, &path).await {
                Err(Error::UnsupportedOperation(p)) => panic!("{what}: row {} answers 405 for {} ({p})", spec.name, op.as_str()),
                Err(Error::UnsupportedPath(p)) => panic!("{what}: row {} answers unsupported path for {} ({p})", spec.name, op.as_str()),
                Err(Error::NoRoute(p)) => panic!("{what}: {p} is not routed"),
                _ => {}
            }
            if core.is_sealed() {
                core.submit_unseal_key(Some(key), false).await.unwrap();
                assert!(!core.is_sealed());
            }
        }
    }
    table.specs().len()
}

#[tokio::test]
async fn every_row_of_every_table_is_served_and_reads_only_declared_fields() {
    let core = crate::server::new_core(Arc::new(InmemStorage::new()), CoreConfig::default());
    let init = core.initialize(1, 1, Some(ROOT), true).await.unwrap();
    let key = hex_key(&init.keys[0]);
    root(&core, "sys/mounts/kv1", json!({"type": "kv"})).await;
    root(&core, "sys/mounts/kv2", json!({"type": "kv", "options": {"version": "2"}})).await;
    root(&core, "sys/auth/userpass", json!({"type": "userpass"})).await;

    let mut kinds = BTreeSet::new();
    let mut rows = 0;
    let mounts: Vec<(String, String, bool)> = {
        let active = core.active().unwrap();
        active.router().entries().iter().map(|e| (e.prefix.clone(), e.entry.kind.clone(), e.info.options.get("version").is_some_and(|v| v == "2"))).collect()
    };
    for (prefix, kind, v2) in mounts {
        // The backend is looked up again for each mount: sealing rebuilds them.
        let backend = core.active().unwrap().router().entries().iter().find(|e| e.prefix == prefix).unwrap().backend.clone();
        let what = if kind == "kv" { format!("kv v{}", if v2 { 2 } else { 1 }) } else { kind.clone() };
        rows += walk(&core, &key, &what, &prefix, backend.table()).await;
        kinds.insert(what);
    }
    rows += walk(&core, &key, "sys (sealed-exempt)", "sys/", coffer_core::sys::sealed_table()).await;
    let want: BTreeSet<String> = ["system", "cubbyhole", "identity", "token", "kv v1", "kv v2", "userpass"].map(String::from).into();
    assert_eq!(kinds, want, "every backend type is walked");
    // 77 rows today; a lower bound so that adding rows needs no edit here.
    assert!(rows >= 70, "walked {rows} rows");
}

fn hex_key(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn samples_match_their_patterns() {
    for p in ["users/?", "mounts/(?P<path>.+?)/tune/?", "tools/random(?P<rest>(/[^/]+){0,2})", "tools/hash(/(?P<alg>.+))?", "data|metadata", ".*", r"create/(?P<role_name>\w(?:[\w\-.]*\w)?)"] {
        let s = sample(p);
        let re = regex::Regex::new(&format!("^(?:{p})$")).unwrap();
        assert!(re.is_match(&s), "{p} -> {s:?}");
        assert!(!s.ends_with('/'), "{p} -> {s:?}");
    }
}
