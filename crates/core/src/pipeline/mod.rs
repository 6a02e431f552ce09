//! The request pipeline: [`Core::handle`] as a named sequence of stages over
//! one [`RequestContext`], in Vault's order (ARCHITECTURE.md, "The path of
//! one request", states the stages and their invariants):
//!
//! ```text
//!  request stages (each may end the request with an outcome: `?`)
//!   0. seal-exempt?     sys/init, seal-status, unseal, health, leader → 6
//!   1. resolve namespace   sealed → 503; unknown namespace → 404
//!   2. authenticate        token → entry (decides nothing yet)
//!  2b. resolve identity    entry → entity, identity policies (disabled entity → refused in 4)
//!   3. route               mount, then row; unserved is remembered, not answered
//!   4. authorize           token rules, 403-vs-404 refusal, existence check, ACL, num_uses
//!   5. audit request
//!   6. dispatch            backend (or sys, or help)
//!   7. register lease      login → token
//!   8. wrap                response wrapping
//!  final stages (every outcome)
//!   9. audit response      (and the request entry, if stage 5 was not reached)
//!  10. respond             request_id
//! ```
//!
//! [`Core::admit_body`] runs stages 0–4 without the body, in admission mode.

pub mod audit;
mod authenticate;
mod authorize;
pub mod context;
mod dispatch;
mod identity;
mod lease;
mod mfa;
pub mod namespace;
mod route;
mod wrap;

pub use audit::AuditHook;
pub(crate) use mfa::issue_validated;
pub use context::{EntityId, RequestContext, RequestHeaders, Target, TokenState, Unserved};
pub use namespace::Namespace;

use crate::core::{Core, Incoming};
use crate::error::Result;
use crate::logical::{Data, Operation, Response};
use authorize::Mode;
use std::net::SocketAddr;

impl Core {
    /// The single request pipeline: every request, sealed or not, answered or
    /// refused, leaves through stages 9 and 10.
    pub async fn handle(&self, inc: Incoming) -> Result<Response> {
        let started = std::time::Instant::now();
        let mut ctx = RequestContext::new(inc);
        ctx.audit_detail = self.audit_devices_enabled();
        let outcome = self.request_stages(&mut ctx).await;
        let outcome = self.audit_response(&mut ctx, outcome).await; // 9
        crate::metrics::observe_request(&ctx, &outcome, started); // telemetry (docs/metrics.md)
        respond(&mut ctx, outcome) // 10
    }

    /// Stages 0–8. An early `?` is an outcome like any other: it goes on to
    /// the final stages in [`Core::handle`].
    async fn request_stages(&self, ctx: &mut RequestContext) -> Result<Response> {
        if route::seal_exempt(ctx) {
            // 0: no namespace, no token, no router (none exists while sealed).
            self.audit_request(ctx).await?;
            return Ok(self.dispatch(ctx, None, None, None).await?.unwrap_or_else(no_content));
        }
        let ns = self.resolve_namespace(ctx)?; // 1
        authenticate::authenticate(ctx, &ns).await?; // 2
        identity::resolve_identity(ctx, &ns); // 2b
        let mount = route::route_mount(ctx, &ns)?; // 3
        let row = mount.as_ref().and_then(|m| route::route_row(ctx, m.backend.table()));
        self.authorize(ctx, &ns, mount.as_deref(), row.as_ref(), Mode::Serve).await?; // 4
        self.audit_request(ctx).await?; // 5
        let Some(mut resp) = self.dispatch(ctx, Some(&ns), mount.as_deref(), row.as_ref()).await? else {
            return Ok(no_content()); // 6: nothing to lease or wrap
        };
        if let (Target::Row, Some(mount)) = (&ctx.target, mount.as_deref()) {
            self.register_lease(ctx, &ns, mount, &mut resp).await?; // 7
            resp = self.wrap_stage(ctx, &ns, resp).await?; // 8
        }
        Ok(resp)
    }

    /// Would [`Core::handle`] get as far as the backend with this operation,
    /// path, token and headers? The HTTP layer asks before it reads a large
    /// body, so an unauthenticated client cannot make the server buffer and
    /// parse 32 MiB only to be refused. Stages 0–4 without a body, in
    /// admission mode (no use spent, no existence check, no ACL on a served
    /// row, whose parameters the body may decide): `Ok`, or the error
    /// `handle` would return for this request without a body (503 sealed,
    /// 404 unknown namespace, 400 write to a `/` path, 403, 404 no route or
    /// unsupported path, 405).
    pub async fn admit_body(
        &self,
        op: Operation,
        path: &str,
        token: Option<&str>,
        remote: Option<SocketAddr>,
        headers: &[(String, String)],
    ) -> Result<()> {
        let mut ctx = RequestContext::new(Incoming {
            operation: op,
            path: path.to_string(),
            data: Data::new(),
            token: token.map(str::to_string),
            wrap_ttl: None,
            remote_addr: remote,
            headers: headers.to_vec(),
        });
        if route::seal_exempt(&mut ctx) {
            return Ok(());
        }
        let ns = self.resolve_namespace(&mut ctx)?;
        authenticate::authenticate(&mut ctx, &ns).await?;
        identity::resolve_identity(&mut ctx, &ns);
        let mount = route::route_mount(&mut ctx, &ns)?;
        let row = mount.as_ref().and_then(|m| route::route_row(&mut ctx, m.backend.table()));
        self.authorize(&mut ctx, &ns, mount.as_deref(), row.as_ref(), Mode::Admit).await
    }
}

fn no_content() -> Response {
    Response { status: Some(204), ..Default::default() }
}

/// Stage 10: the response carries the request's id (the HTTP layer leaves
/// it out of a wrapped response, as Vault does).
fn respond(ctx: &mut RequestContext, outcome: Result<Response>) -> Result<Response> {
    outcome.map(|mut resp| {
        resp.request_id = ctx.take_id();
        resp
    })
}
