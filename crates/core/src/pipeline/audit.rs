//! Stages 5 and 9, audit request and audit response: the enabled audit
//! devices (`crate::audit`) and the registered hooks see every request.
//!
//! The invariant they keep: every request that reaches [`Core::handle`]
//! yields exactly one request entry and then exactly one response entry,
//! whatever its outcome (success, error, denial, sealed, not found,
//! unknown namespace). A request that ends before stage 5 gets its request
//! entry from stage 9, just before its response entry, with the error.
//! Devices leave out the paths OpenBao does not audit: the seal-exempt
//! endpoints (`sys/init`, `seal-status`, `unseal`, `health`, `leader`) and
//! [`NOT_AUDITED`] (`sys/seal`, `sys/step-down`, rekey, raft join and
//! bootstrap; unauthenticated `sys/metrics`, `sys/pprof/*`,
//! `sys/in-flight-req`); hooks see every request.
//!
//! Fail-closed, Vault's rule: when at least one device is enabled, a
//! request whose request entry NO device recorded is refused before
//! dispatch (500 `internal error`, nothing changed); one failing device
//! among several does not block. A response entry no device recorded turns
//! the answer into the same 500 (the change, if any, has happened: Vault
//! does the same). Each device write is bounded by
//! [`crate::audit::WRITE_TIMEOUT`], so a hung device cannot hang the server.
//! With no device enabled requests are served (Vault).
//!
//! Hooks ([`AuditHook`], e.g. the alerts feed) are not devices: they are
//! called for every request, their errors are logged and never fail it.

use super::context::{RequestContext, Target};
use crate::audit::entry::Raw;
use crate::audit::filter::Subject;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::logical::Response;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// A hook on the audit stages as the pipeline sees it.
#[async_trait::async_trait]
pub trait AuditHook: Send + Sync + 'static {
    async fn log_request(&self, ctx: &RequestContext) -> Result<()>;
    async fn log_response(&self, ctx: &RequestContext, outcome: &Result<Response>) -> Result<()>;
}

/// The hooks and the devices in force.
#[derive(Default)]
pub(crate) struct AuditHooks {
    hooks: ArcSwap<Vec<Arc<dyn AuditHook>>>,
    pub(crate) devices: crate::audit::Devices,
    /// `sys/config/auditing/request-headers`.
    pub(crate) headers: crate::audit::headers::AuditedHeaders,
}

impl AuditHooks {
    pub(crate) fn add(&self, hook: Arc<dyn AuditHook>) {
        self.hooks.rcu(|hooks| {
            let mut next = Vec::clone(hooks);
            next.push(hook.clone());
            next
        });
    }
}

/// Paths OpenBao leaves out of its audit log besides the seal-exempt ones
/// (its docs' list; `sys/metrics` only when asked without a token).
const NOT_AUDITED: &[&str] = &[
    "sys/seal",
    "sys/step-down",
    "sys/rekey/init",
    "sys/rekey/update",
    "sys/rekey/verify",
    "sys/rekey-recovery-key/init",
    "sys/rekey-recovery-key/update",
    "sys/rekey-recovery-key/verify",
    "sys/storage/raft/bootstrap",
    "sys/storage/raft/join",
    "sys/internal/ui/feature-flags",
];

/// Devices leave this request out entirely.
fn not_audited(ctx: &RequestContext) -> bool {
    if matches!(ctx.target, Target::SealExempt) {
        return true;
    }
    let p = ctx.path.trim_end_matches('/');
    NOT_AUDITED.contains(&p)
        || (ctx.client_token.is_none()
            && (p == "sys/metrics" || p == "sys/in-flight-req" || p.starts_with("sys/pprof")))
}

fn refused() -> Error {
    Error::internal("no audit device recorded the request entry")
}

/// What a device's filter sees of the request.
fn subject(ctx: &RequestContext) -> Subject<'_> {
    let (mount_point, mount_type) = match ctx.mount.as_ref() {
        Some(m) => (m.prefix.as_str(), m.entry.kind.as_str()),
        None => ("", ""),
    };
    Subject {
        mount_point,
        mount_type,
        namespace: "",
        operation: ctx.operation().as_str(),
        path: &ctx.path,
    }
}

impl Core {
    /// Register an audit hook: it sees every request from now on. Hooks
    /// never fail a request (see the module doc).
    pub fn add_audit_hook(&self, hook: Arc<dyn AuditHook>) {
        self.audit.add(hook);
    }

    /// SIGHUP: every audit device reopens what it can (a rotated file).
    pub async fn reopen_audit_devices(&self) {
        self.audit.devices.reopen_all().await;
    }

    /// The config file's audit settings (declared devices, the API switch);
    /// declared devices are enabled at the next unseal.
    pub fn set_audit_settings(&self, s: crate::audit::AuditSettings) {
        self.audit.devices.set_settings(s);
    }

    /// The request headers audit entries show (lower-case names): the HTTP
    /// layer hands these to the core besides the ones the pipeline reads.
    pub fn audited_header_names(&self) -> Arc<Vec<String>> {
        self.audit.headers.names()
    }

    /// Any device enabled (the stages then build entries)?
    pub(crate) fn audit_devices_enabled(&self) -> bool {
        !self.audit.devices.is_empty()
    }

    async fn hooks_request(&self, ctx: &RequestContext) {
        for h in self.audit.hooks.load().iter() {
            if let Err(e) = h.log_request(ctx).await {
                tracing::warn!(error = %e, "audit hook failed on a request entry");
            }
        }
    }

    /// The request entry on every device: `false` when devices exist and
    /// none recorded it.
    async fn devices_request(&self, ctx: &mut RequestContext, error: Option<&Error>) -> bool {
        if self.audit.devices.is_empty() || not_audited(ctx) {
            return true;
        }
        let raw = Raw::request(ctx, error, &self.audit.headers);
        ctx.audit_data = raw
            .value
            .get("request")
            .and_then(|r| r.get("data"))
            .cloned();
        let (n, ok) = self.audit.devices.log(raw, &subject(ctx), "request").await;
        n == 0 || ok > 0
    }

    /// Stage 5.
    pub(crate) async fn audit_request(&self, ctx: &mut RequestContext) -> Result<()> {
        ctx.request_audited = true;
        ctx.audit_dispatched = true;
        self.hooks_request(ctx).await;
        if self.devices_request(ctx, None).await {
            Ok(())
        } else {
            Err(refused())
        }
    }

    /// Stage 9 (every outcome passes here).
    pub(crate) async fn audit_response(
        &self,
        ctx: &mut RequestContext,
        mut outcome: Result<Response>,
    ) -> Result<Response> {
        if !ctx.request_audited {
            ctx.request_audited = true;
            self.hooks_request(ctx).await;
            // The request has already failed; a device that cannot record
            // its request entry changes nothing more.
            let _ = self.devices_request(ctx, outcome.as_ref().err()).await;
        }
        for h in self.audit.hooks.load().iter() {
            if let Err(e) = h.log_response(ctx, &outcome).await {
                tracing::warn!(error = %e, "audit hook failed on a response entry");
            }
        }
        if self.audit.devices.is_empty() || not_audited(ctx) {
            return outcome;
        }
        let login_name = self.login_display_name(ctx, &outcome).await;
        let raw = Raw::response(ctx, &outcome, login_name.as_deref(), &self.audit.headers);
        let (n, ok) = self
            .audit
            .devices
            .log(raw, &subject(ctx), "response")
            .await;
        if n > 0 && ok == 0 && outcome.is_ok() {
            outcome = Err(refused());
        }
        outcome
    }

    /// A login's response entry describes the new token, display name
    /// included (the `auth` block of the response has none).
    async fn login_display_name(
        &self,
        ctx: &RequestContext,
        outcome: &Result<Response>,
    ) -> Option<String> {
        let auth = outcome.as_ref().ok()?.auth.as_ref()?;
        if !ctx.unauthenticated || auth.client_token.is_empty() {
            return None;
        }
        let active = self.active().ok()?;
        let entry = active.tokens().lookup(&auth.client_token).await.ok()??;
        Some(entry.display_name.clone())
    }
}
