//! `sys/`: the system backend, one file per resource, each with its own rows
//! (pattern, fields, operations bound to handlers) and the handlers behind
//! them, like an engine's folder:
//!
//! - `seal.rs`: `seal`, and the five endpoints that must answer while sealed
//!   (`init`, `seal-status`, `unseal`, `health`, `leader`), which have a table
//!   of their own served by [`handle_unauthenticated`] before routing, since
//!   no router exists while sealed.
//! - `mounts.rs` / `auth.rs`: secrets engines and auth methods (enable, read,
//!   disable, tune, list; `remount`). Both tables share the handlers.
//! - `policies.rs`: ACL policies (`policies/acl/*` and the legacy `policy/*`).
//! - `capabilities.rs`: `capabilities`, `capabilities-self`, `capabilities-accessor`.
//! - `internal.rs`: `internal/ui/mounts*`.
//! - `rotate.rs`: the barrier key (`key-status`, `rotate*`).
//! - `tools.rs`, `wrapping.rs`, `leases.rs`, `metrics.rs` (telemetry, built by `crate::metrics`).
//! - `audit.rs`: audit devices (`audit`, `audit/*`, `audit-hash/*`) and
//!   audited request headers (`config/auditing/request-headers[/*]`).
//! - `tools.rs`, `wrapping.rs`, `leases.rs`.
//!
//! This file joins the resources' rows into the one table the router matches
//! (in the order below: first match wins) and sends each matched row's
//! handler to its resource; the handlers reach the core (mounts, policies,
//! tokens, barrier) through a weak handle and the active state's methods.

mod audit_checkpoint;
mod alerts;
mod audit;
mod auth;
mod capabilities;
mod internal;
mod leases;
mod metrics;
mod mfa;
mod mounts;
mod openapi;
mod policies;
mod rotate;
mod seal;
mod tools;
mod wrapping;

pub use seal::{handle_unauthenticated, sealed_table};

use crate::backend::{Backend, PathTable, Paths, Route, SpecialPaths};
use crate::core::{Active, Core};
use crate::error::{Error, Result};
use crate::logical::{Data, Request, Response};
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::sync::{Arc, LazyLock, Weak};

/// A handler of `sys/`: the resource that serves it and its own handler.
#[derive(Clone, Copy, Debug)]
enum H {
    Seal(seal::H),
    Audit(audit::H),
    Mounts(mounts::H),
    Policies(policies::H),
    Capabilities(capabilities::H),
    Internal(internal::H),
    Rotate(rotate::H),
    Tools(tools::H),
    Wrapping(wrapping::H),
    Leases(leases::H),
    Mfa(mfa::H),
    Metrics(metrics::H),
    AuditCheckpoint(audit_checkpoint::H),
    Alerts(alerts::H),
}

static TABLE: LazyLock<Paths<H>> = LazyLock::new(|| {
    let rows = [
        seal::rows(),
        mounts::rows(),
        auth::rows(),
        policies::rows(),
        capabilities::rows(),
        internal::rows(),
        mounts::remount_rows(),
        rotate::rows(),
        tools::rows(),
        wrapping::rows(),
        leases::rows(),
        mfa::rows(),
        metrics::rows(),
        audit_checkpoint::rows(),
        alerts::rows(),
        audit::rows(),
    ];
    Paths::new(rows.into_iter().flatten().collect())
});

/// What a `sys/` handler works with: the core and its unsealed state.
struct Ctx {
    core: Arc<Core>,
    active: Arc<Active>,
}

pub struct SysBackend {
    core: Weak<Core>,
}

impl SysBackend {
    pub fn new(core: Weak<Core>) -> Self {
        SysBackend { core }
    }

    fn ctx(&self) -> Result<Ctx> {
        let core = self.core.upgrade().ok_or(Error::Sealed)?;
        let active = core.active()?;
        Ok(Ctx { core, active })
    }
}

#[async_trait]
impl Backend for SysBackend {
    fn table(&self) -> &PathTable {
        &TABLE
    }

    fn special_paths(&self) -> SpecialPaths {
        SpecialPaths {
            unauthenticated: vec!["wrapping/lookup", "mfa/validate", "internal/ui/mounts", "internal/ui/mounts/*", "internal/specs/openapi"],
            root: vec!["auth/*", "remount", "audit", "audit/*", "audit-checkpoint/*", "raw", "raw/*", "rotate", "rotate/keyring", "rotate/root", "seal", "leases/revoke-prefix/*", "leases/revoke-force/*", "leases/lookup/*", "leases", "audit-alerts/*", "config/auditing/*"],
        }
    }

    async fn serve(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        let handler = TABLE.handler(route, req.operation)?;
        let cx = self.ctx()?;
        match handler {
            H::Seal(h) => seal::serve(h, &cx).await,
            H::Mounts(h) => mounts::serve(h, &cx, route, req).await,
            H::Policies(h) => policies::serve(h, &cx, route, req).await,
            H::Capabilities(h) => capabilities::serve(h, &cx, req).await,
            H::Internal(h) => internal::serve(h, &cx, route, req).await,
            H::Rotate(h) => rotate::serve(h, &cx, req).await,
            H::Tools(h) => tools::serve(h, route, req),
            H::Wrapping(h) => wrapping::serve(h, &cx, req).await,
            H::Leases(h) => leases::serve(h, &cx, route, req).await,
            H::Mfa(h) => mfa::serve(h, &cx, req).await,
            H::Metrics(h) => metrics::serve(h, &cx, req).await,
            H::AuditCheckpoint(h) => audit_checkpoint::serve(h, &cx, route).await,
            H::Alerts(h) => alerts::serve(h, &cx, route, req).await,
            H::Audit(h) => audit::serve(h, &cx, route, req).await,
        }
    }
}

/// A response whose data the HTTP layer also copies to the top level (the
/// legacy `sys/` shape clients still read).
fn injected(data: Data) -> Option<Response> {
    Some(Response { data: Some(data), inject_data: true, ..Default::default() })
}

fn obj(v: Value) -> Data {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn sorted(m: Map<String, Value>) -> Map<String, Value> {
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The joined table routes each resource's paths to that resource (the
    /// order of the resources keeps the first-match results of the single
    /// table this replaced).
    #[test]
    fn rows_route_to_their_resource() {
        let r = |p: &str| TABLE.route(p).map(|r| r.name());
        assert_eq!(r("mounts"), Some("mounts"));
        assert_eq!(r("mounts/kv/tune"), Some("mount-tune"));
        assert_eq!(r("mounts/kv/"), Some("mount"));
        assert_eq!(r("auth/userpass/tune"), Some("auth-tune"));
        assert_eq!(r("auth/userpass"), Some("auth"));
        assert_eq!(r("policies/acl/x"), Some("acl"));
        assert_eq!(r("policy"), Some("policy-list"));
        assert_eq!(r("leases/lookup"), Some("leases-lookup"));
        assert_eq!(r("leases/lookup/auth/"), Some("leases-lookup-list"));
        assert_eq!(r("leases"), Some("leases-list"));
        assert_eq!(r("tools/random/hex/16"), Some("tools-random"));
        assert_eq!(r("rotate/keyring/config"), Some("rotate-keyring-config"));
        assert_eq!(r("remount/status/x"), Some("remount-status"));
        assert_eq!(r("init"), None, "served before routing, from its own table");
        assert_eq!(r("nothing"), None);
    }
}
