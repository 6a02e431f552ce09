//! Alerts on the audit stream, on the core's side: the audit hook that turns
//! every response into a `coffer_audit::alert::Event` for the alert engine,
//! and the rules set through the API (`sys/audit-alerts/rules/*`, served by
//! `sys/alerts.rs`), kept under the barrier and put in force at unseal.
//!
//! The hook is not an audit device: it records nothing, never fails and
//! never waits (the engine's `observe` is a `try_send`), so it can neither
//! refuse nor slow a request. docs/alerts.md is the user's reference.

use crate::core::Core;
use crate::error::{Error, Result};
use crate::logical::Response;
use crate::pipeline::{AuditHook, RequestContext};
use crate::view::StorageView;
use coffer_audit::alert::{Engine, Event, EventKind, Rule};
use std::sync::Arc;
use std::time::SystemTime;

/// Where the API's rules live (barrier-encrypted; one record per rule).
pub(crate) const RULES_PREFIX: &str = "sys/audit-alerts/rules/";
/// Most rules the API keeps (the config file's are not counted).
pub const MAX_API_RULES: usize = 256;

/// The alert engine and the key accessors are HMAC'd with.
pub struct Alerts {
    engine: Arc<Engine>,
    /// A key of this process only: the same accessor gives the same value
    /// until the server restarts, and the accessor itself never leaves.
    key: aws_lc_rs::hmac::Key,
}

impl Alerts {
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    fn accessor_hmac(&self, accessor: &str) -> String {
        if accessor.is_empty() {
            return String::new();
        }
        let tag = aws_lc_rs::hmac::sign(&self.key, accessor.as_bytes());
        format!("hmac-sha256:{}", hex::encode(tag.as_ref()))
    }

    /// The event of one finished request.
    fn event(&self, ctx: &RequestContext, outcome: &Result<Response>) -> Event {
        let caller = ctx.caller();
        let (status, error, denied) = match outcome {
            Ok(r) => (r.status.unwrap_or(200), None, false),
            Err(e) => {
                let status = status_of(e);
                let denied =
                    matches!(e, Error::PermissionDenied | Error::InvalidToken) || status == 403;
                (status, Some(e.to_string()), denied)
            }
        };
        let mount = ctx.mount();
        let operation = ctx.operation();
        let login = ctx.unauthenticated
            && mount.is_some_and(|m| m.is_auth)
            && matches!(
                operation,
                crate::logical::Operation::Update | crate::logical::Operation::Create
            );
        Event {
            time: SystemTime::now(),
            kind: EventKind::Response,
            namespace: ctx
                .namespace()
                .map(|n| n.path().to_string())
                .unwrap_or_default(),
            path: ctx.path().to_string(),
            mount_point: mount.map(|m| m.prefix.clone()).unwrap_or_default(),
            mount_type: mount.map(|m| m.entry.kind.clone()).unwrap_or_default(),
            operation: operation.as_str(),
            remote_address: ctx.remote_addr().map(|a| a.ip()),
            accessor: caller
                .map(|c| self.accessor_hmac(&c.accessor))
                .unwrap_or_default(),
            display_name: caller.map(|c| c.display_name.clone()).unwrap_or_default(),
            root: caller.is_some_and(|c| c.policies.iter().any(|p| p == "root")),
            login,
            error,
            denied,
            status,
        }
    }
}

/// The status the HTTP layer gives an error (coffer-http's mapping, which
/// the core cannot call; only the class matters to rules).
fn status_of(e: &Error) -> u16 {
    match e {
        Error::PermissionDenied | Error::InvalidToken => 403,
        Error::InvalidRequest(_) => 400,
        Error::NotFound | Error::NoRoute(_) | Error::UnsupportedPath(_) => 404,
        Error::UnsupportedOperation(_) => 405,
        Error::Conflict(_) => 409,
        Error::Sealed => 503,
        Error::Internal(_) => 500,
        Error::Coded(c, _) => *c,
    }
}

/// The audit hook: one event per response, handed over without waiting.
struct Hook(Arc<Alerts>);

#[async_trait::async_trait]
impl AuditHook for Hook {
    async fn log_request(&self, _ctx: &RequestContext) -> Result<()> {
        Ok(())
    }

    async fn log_response(&self, ctx: &RequestContext, outcome: &Result<Response>) -> Result<()> {
        if self.0.engine.wants_events() {
            self.0.engine.observe(self.0.event(ctx, outcome));
        }
        Ok(())
    }
}

impl Core {
    /// Start the alert engine with the config file's rules and feed it every
    /// response from now on (the server calls this once, before unseal, on a
    /// tokio runtime). Rules stored through the API are put in force at
    /// each unseal.
    pub fn enable_alerts(&self, config_rules: Vec<Rule>) -> Result<Arc<Alerts>> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = aws_lc_rs::hmac::Key::generate(aws_lc_rs::hmac::HMAC_SHA256, &rng)
            .map_err(|_| Error::internal("cannot make the alert HMAC key"))?;
        let alerts = Arc::new(Alerts {
            engine: Engine::start(config_rules),
            key,
        });
        if self.alerts.set(alerts.clone()).is_err() {
            return Err(Error::internal("alerts are already enabled"));
        }
        self.add_audit_hook(Arc::new(Hook(alerts.clone())));
        Ok(alerts)
    }

    /// The alert engine, if the server enabled alerts.
    pub fn alerts(&self) -> Option<&Arc<Alerts>> {
        self.alerts.get()
    }

    pub(crate) fn alert_rules_view(&self) -> StorageView {
        StorageView::new(self.barrier().clone(), RULES_PREFIX)
    }

    /// The rules stored through the API, by name (a record that no longer
    /// reads as a rule is skipped and logged by name).
    pub(crate) async fn stored_alert_rules(&self) -> Result<Vec<Rule>> {
        let view = self.alert_rules_view();
        let mut out = Vec::new();
        for name in view.list("").await? {
            match view.get_json::<Rule>(&name).await {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(_) => {
                    tracing::error!(rule = %name, "stored alert rule cannot be read; skipped")
                }
            }
        }
        Ok(out)
    }

    /// Put the stored rules in force (at unseal, and after each API change).
    /// Failing to read them never stops an unseal: it is logged.
    pub(crate) async fn load_alert_rules(&self) {
        let Some(alerts) = self.alerts.get() else {
            return;
        };
        match self.stored_alert_rules().await {
            Ok(rules) => alerts.engine.set_api_rules(rules),
            Err(e) => tracing::error!(error = %e, "cannot load the alert rules"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{CoreConfig, Incoming};
    use crate::logical::{Data, Operation};
    use coffer_audit::alert::{RuleInput, WebhookInput};

    fn incoming(op: Operation, path: &str, token: Option<&str>) -> Incoming {
        Incoming {
            operation: op,
            path: path.into(),
            data: Data::new(),
            token: token.map(str::to_string),
            wrap_ttl: None,
            remote_addr: Some("127.0.0.7:5000".parse().unwrap()),
            headers: vec![],
        }
    }

    /// A hook that records the events the alert hook would send, to check
    /// what the event holds without a webhook.
    struct Capture(Arc<Alerts>, parking_lot::Mutex<Vec<Event>>);

    #[async_trait::async_trait]
    impl AuditHook for Capture {
        async fn log_request(&self, _ctx: &RequestContext) -> Result<()> {
            Ok(())
        }
        async fn log_response(
            &self,
            ctx: &RequestContext,
            outcome: &Result<Response>,
        ) -> Result<()> {
            self.1.lock().push(self.0.event(ctx, outcome));
            Ok(())
        }
    }

    #[tokio::test]
    async fn events_carry_what_rules_need_and_no_accessor() {
        let core = Core::new(
            Arc::new(coffer_storage::InmemStorage::new()),
            CoreConfig::default(),
        );
        let rule = Rule::build(RuleInput {
            name: "d".into(),
            kind: "denied".into(),
            webhooks: vec![WebhookInput {
                url: "http://127.0.0.1:9/x".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
        let alerts = core.enable_alerts(vec![rule]).unwrap();
        assert!(alerts.engine().wants_events());
        let cap = Arc::new(Capture(alerts.clone(), Default::default()));
        core.add_audit_hook(cap.clone());
        let init = core.initialize(1, 1, Some("root-tok"), true).await.unwrap();
        let root = init.root_token;
        core.handle(incoming(Operation::Read, "sys/mounts", Some(&root)))
            .await
            .unwrap();
        assert!(
            core.handle(incoming(Operation::Read, "sys/mounts", Some("bogus")))
                .await
                .is_err()
        );
        let ev = cap.1.lock().clone();
        assert_eq!(ev.len(), 2);
        assert!(ev[0].root && !ev[0].denied && ev[0].status == 200);
        assert_eq!(ev[0].display_name, "token"); // a chosen root token id: dev mode's name
        assert_eq!(ev[0].mount_point, "sys/");
        assert_eq!(ev[0].remote_address, Some("127.0.0.7".parse().unwrap()));
        let accessor = core
            .active()
            .unwrap()
            .tokens()
            .lookup(&root)
            .await
            .unwrap()
            .unwrap()
            .accessor
            .clone();
        assert!(ev[0].accessor.starts_with("hmac-sha256:") && !ev[0].accessor.contains(&accessor));
        assert!(ev[1].denied && ev[1].status == 403 && ev[1].accessor.is_empty() && !ev[1].root);
        // The seal-exempt endpoints pass the hooks too (sys/unseal, sys/seal-status).
        core.handle(incoming(Operation::Read, "sys/seal-status", None))
            .await
            .unwrap();
        assert_eq!(cap.1.lock().last().unwrap().path, "sys/seal-status");
        // sys/seal (a sudo row) and sys/unseal (seal-exempt) reach stage 9 too.
        core.handle(incoming(Operation::Update, "sys/seal", Some(&root)))
            .await
            .unwrap();
        let seal = cap.1.lock().last().unwrap().clone();
        assert!(seal.path == "sys/seal" && seal.status < 400 && seal.root);
        assert!(core.is_sealed());
        assert!(
            core.handle(incoming(Operation::Update, "sys/unseal", None))
                .await
                .is_err()
        );
        let unseal = cap.1.lock().last().unwrap().clone();
        assert!(unseal.path == "sys/unseal" && unseal.status == 400);
    }
}
