//! Stages 5 and 9, audit request and audit response: the hooks the Audit
//! issue's devices plug into. No device exists yet, so the list is empty and
//! both stages cost one atomic load.
//!
//! The invariant they keep: every request that reaches [`Core::handle`]
//! yields exactly one request entry and then exactly one response entry,
//! whatever its outcome (success, error, denial, sealed, not found,
//! unknown namespace, seal-exempt endpoints). A request that ends before
//! stage 5 gets its request entry from stage 9, just before its response
//! entry. As in Vault, a hook that fails fails the request: a failed request
//! entry stops the request before dispatch, a failed response entry replaces
//! the answer with the hook's error.

use super::context::RequestContext;
use crate::core::Core;
use crate::error::Result;
use crate::logical::Response;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// An audit device as the pipeline sees it.
#[async_trait::async_trait]
pub trait AuditHook: Send + Sync + 'static {
    async fn log_request(&self, ctx: &RequestContext) -> Result<()>;
    async fn log_response(&self, ctx: &RequestContext, outcome: &Result<Response>) -> Result<()>;
}

/// The hooks in force (swapped whole when a device is enabled or disabled).
#[derive(Default)]
pub(crate) struct AuditHooks(ArcSwap<Vec<Arc<dyn AuditHook>>>);

impl AuditHooks {
    pub(crate) fn add(&self, hook: Arc<dyn AuditHook>) {
        self.0.rcu(|hooks| {
            let mut next = Vec::clone(hooks);
            next.push(hook.clone());
            next
        });
    }
}

impl Core {
    /// Register an audit hook: it sees every request from now on (the Audit
    /// issue turns `sys/audit` devices into these).
    pub fn add_audit_hook(&self, hook: Arc<dyn AuditHook>) {
        self.audit.add(hook);
    }

    /// Stage 5.
    pub(crate) async fn audit_request(&self, ctx: &mut RequestContext) -> Result<()> {
        ctx.request_audited = true;
        let hooks = self.audit.0.load();
        for h in hooks.iter() {
            h.log_request(ctx).await?;
        }
        Ok(())
    }

    /// Stage 9 (every outcome passes here).
    pub(crate) async fn audit_response(&self, ctx: &mut RequestContext, mut outcome: Result<Response>) -> Result<Response> {
        let hooks = self.audit.0.load();
        if hooks.is_empty() {
            ctx.request_audited = true;
            return outcome;
        }
        if !ctx.request_audited {
            ctx.request_audited = true;
            for h in hooks.iter() {
                if let Err(e) = h.log_request(ctx).await {
                    outcome = Err(e);
                }
            }
        }
        for h in hooks.iter() {
            if let Err(e) = h.log_response(ctx, &outcome).await {
                outcome = Err(e);
            }
        }
        outcome
    }
}
