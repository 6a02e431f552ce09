//! Alert rules over the audit stream, and their webhook deliveries.
//!
//! coffer-core's audit hook turns every response into an [`Event`] and hands
//! it to the [`Engine`] with [`Engine::observe`], a non-blocking `try_send`
//! into a bounded queue: a full queue drops the event and counts
//! `coffer.alerts.dropped`, so nothing here can block or slow a request. One
//! task evaluates the rules ([`window`]: a sliding window and a cooldown per
//! rule and key) and hands each alert to its webhooks ([`deliver`]: one task
//! and one bounded queue per webhook, rate-limited, retried with backoff, each
//! attempt bounded in time). docs/alerts.md is the user's reference.
//!
//! | module      | job                                                        |
//! |-------------|------------------------------------------------------------|
//! | [`rule`]    | rules: kinds, grouping, limits, validation                 |
//! | [`window`]  | windows, cooldowns, keys: which events raise an alert      |
//! | [`format`]  | the Slack and generic JSON bodies                          |
//! | [`deliver`] | webhook deliveries: queue, rate limit, retries             |

pub mod deliver;
pub mod format;
pub mod rule;
pub mod window;

pub use rule::{Format, GroupBy, Kind, Rule, RuleInput, Webhook, WebhookInput};
pub use window::{Alert, Evaluator};

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;
use tokio::sync::mpsc;

/// Events waiting for the rule task; more are dropped (and counted).
pub const EVENT_QUEUE: usize = 4096;

/// Whether the event is a request's or a response's. The core's hook sends
/// response events only (the outcome is what rules judge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EventKind {
    Request,
    #[default]
    Response,
}

/// One audited request as alert rules see it: no token, no secret value, no
/// request or response data. The accessor is an HMAC (or a display name),
/// never the accessor itself.
#[derive(Clone, Debug)]
pub struct Event {
    pub time: SystemTime,
    pub kind: EventKind,
    /// The namespace path (`""` for the root namespace).
    pub namespace: String,
    /// The request path as sent, below `/v1/`.
    pub path: String,
    /// The mount's routing prefix (`secret/`, `auth/userpass/`), if any.
    pub mount_point: String,
    /// The mount's type (`kv`, `userpass`, `system`), if any.
    pub mount_type: String,
    /// `read`, `update`, `create`, `delete`, `list`...
    pub operation: &'static str,
    /// The TCP peer (never a forwarded header).
    pub remote_address: Option<IpAddr>,
    /// `hmac-sha256:<hex>` of the caller's token accessor, or `""` when there
    /// is no valid token.
    pub accessor: String,
    /// The caller token's display name (`root`, `token`, `userpass-alice`).
    pub display_name: String,
    /// The caller's token has the `root` policy.
    pub root: bool,
    /// The request is a login (an unauthenticated write on an auth mount).
    pub login: bool,
    /// The error text of a failed request.
    pub error: Option<String>,
    /// The request was refused for want of permission (403).
    pub denied: bool,
    /// The HTTP status the request gets (`status / 100` is its class).
    pub status: u16,
}

impl Event {
    /// An event with only the time and path set (the rest empty): for tests
    /// and for callers that fill in what they know.
    pub fn at(time: SystemTime, path: &str) -> Event {
        Event {
            time,
            kind: EventKind::Response,
            namespace: String::new(),
            path: path.to_string(),
            mount_point: String::new(),
            mount_type: String::new(),
            operation: "read",
            remote_address: None,
            accessor: String::new(),
            display_name: String::new(),
            root: false,
            login: false,
            error: None,
            denied: false,
            status: 200,
        }
    }

    /// The request wrote or deleted something (create, update, patch, delete).
    pub fn is_write(&self) -> bool {
        matches!(self.operation, "create" | "update" | "patch" | "delete")
    }

    pub fn failed(&self) -> bool {
        self.error.is_some() || self.status >= 400
    }
}

enum Control {
    /// The rules set through the API (all of them: replaces the previous set).
    ApiRules(Vec<Rule>),
}

/// The rules in force and the task that applies them. Cheap to share.
pub struct Engine {
    events: mpsc::Sender<Event>,
    control: mpsc::UnboundedSender<Control>,
    /// Some rule exists: the hook builds no event otherwise.
    active: Arc<AtomicBool>,
    config_rules: Vec<Arc<Rule>>,
}

impl Engine {
    /// Start the rule task (on the current tokio runtime) with the rules of
    /// the config file. Rules set through the API come later, with
    /// [`Engine::set_api_rules`].
    pub fn start(config_rules: Vec<Rule>) -> Arc<Engine> {
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (control, control_rx) = mpsc::unbounded_channel();
        let config_rules: Vec<Arc<Rule>> = config_rules.into_iter().map(Arc::new).collect();
        let active = Arc::new(AtomicBool::new(!config_rules.is_empty()));
        let task = Task {
            config: config_rules.clone(),
            api: Vec::new(),
            evaluator: Evaluator::default(),
            destinations: HashMap::new(),
            client: deliver::client(),
            active: active.clone(),
        };
        tokio::spawn(task.run(events_rx, control_rx));
        Arc::new(Engine {
            events,
            control,
            active,
            config_rules,
        })
    }

    /// Whether any rule is in force (so building an event is worth it).
    pub fn wants_events(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Hand an event to the rule task without waiting: when the queue is
    /// full the event is dropped and `coffer.alerts.dropped` counts it.
    pub fn observe(&self, event: Event) {
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("coffer.alerts.dropped", "queue" => "events").increment(1);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Replace the rules set through the API (the config file's stay).
    pub fn set_api_rules(&self, rules: Vec<Rule>) {
        if !rules.is_empty() {
            self.active.store(true, Ordering::Relaxed);
        }
        let _ = self.control.send(Control::ApiRules(rules));
    }

    /// The rules of the config file (read-only through the API).
    pub fn config_rules(&self) -> &[Arc<Rule>] {
        &self.config_rules
    }

    /// The config file's rule of that name, if any.
    pub fn config_rule(&self, name: &str) -> Option<&Arc<Rule>> {
        self.config_rules.iter().find(|r| r.name == name)
    }
}

/// The rule task's own state: nothing else touches it, so it needs no lock.
struct Task {
    config: Vec<Arc<Rule>>,
    api: Vec<Arc<Rule>>,
    evaluator: Evaluator,
    /// Each rule's webhooks, by rule name (rebuilt when the rule changes).
    destinations: HashMap<String, (Arc<Rule>, Vec<deliver::Destination>)>,
    client: reqwest::Client,
    active: Arc<AtomicBool>,
}

impl Task {
    async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        self.apply_rules();
        loop {
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    Some(Control::ApiRules(rules)) => {
                        self.api = rules.into_iter().map(Arc::new).collect();
                        self.apply_rules();
                    }
                    None => return,
                },
                e = events.recv() => match e {
                    Some(ev) => self.observe(&ev),
                    None => return,
                },
            }
        }
    }

    fn apply_rules(&mut self) {
        let all: Vec<Arc<Rule>> = self.config.iter().chain(self.api.iter()).cloned().collect();
        self.active.store(!all.is_empty(), Ordering::Relaxed);
        self.destinations
            .retain(|name, (old, _)| all.iter().any(|r| &r.name == name && r == old));
        for r in &all {
            if !self.destinations.contains_key(&r.name) {
                let dests = r
                    .webhooks
                    .iter()
                    .map(|w| deliver::Destination::spawn(self.client.clone(), &r.name, w))
                    .collect();
                self.destinations.insert(r.name.clone(), (r.clone(), dests));
            }
        }
        self.evaluator.set_rules(all);
    }

    fn observe(&mut self, ev: &Event) {
        for alert in self.evaluator.observe(ev) {
            metrics::counter!("coffer.alerts.fired").increment(1);
            tracing::warn!(rule = %alert.rule, kind = alert.kind.as_str(), key = %alert.key_text(), count = alert.count, "audit alert");
            if let Some((_, dests)) = self.destinations.get(&alert.rule) {
                let alert = Arc::new(alert);
                for d in dests {
                    d.send(alert.clone());
                }
            }
        }
    }
}
