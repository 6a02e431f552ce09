//! Alert rules: what they match, how they group, and the limits every rule
//! is checked against, whether it comes from the config file or the API.

use super::Event;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Most webhooks one rule may have.
pub const MAX_WEBHOOKS: usize = 8;
/// Largest threshold.
pub const MAX_THRESHOLD: u64 = 1_000_000;
/// Longest window (and cooldown).
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest time one delivery attempt may take.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Most delivery attempts of one alert.
pub const MAX_ATTEMPTS: u32 = 10;
/// Most deliveries per minute a webhook may be given.
pub const MAX_PER_MINUTE: u32 = 600;
/// Longest rule name.
pub const MAX_NAME: usize = 128;
/// Longest webhook URL.
pub const MAX_URL: usize = 2048;

pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_ATTEMPTS: u32 = 4;
pub const DEFAULT_PER_MINUTE: u32 = 30;

/// What a rule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Requests refused for want of permission (403).
    Denied,
    /// Failed logins.
    LoginFailure,
    /// Any request made with a root token.
    RootToken,
    /// Successful writes and deletes of `sys/policy/*`, `sys/policies/*`.
    PolicyChange,
    /// ... of `sys/auth/*` (enable, disable, tune auth methods).
    AuthChange,
    /// ... of `sys/audit/*` (audit devices) and `sys/audit-alerts/*` (these rules).
    AuditChange,
    /// ... of `sys/mounts/*` and `sys/remount` (secrets engines).
    MountChange,
    /// A successful `sys/seal`.
    Seal,
    /// Any `sys/unseal` request (key shares, wrong keys and resets included).
    Unseal,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::Denied,
        Kind::LoginFailure,
        Kind::RootToken,
        Kind::PolicyChange,
        Kind::AuthChange,
        Kind::AuditChange,
        Kind::MountChange,
        Kind::Seal,
        Kind::Unseal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Denied => "denied",
            Kind::LoginFailure => "login_failure",
            Kind::RootToken => "root_token",
            Kind::PolicyChange => "policy_change",
            Kind::AuthChange => "auth_change",
            Kind::AuditChange => "audit_change",
            Kind::MountChange => "mount_change",
            Kind::Seal => "seal",
            Kind::Unseal => "unseal",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// How the alert text names what was counted.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Denied => "denied requests",
            Kind::LoginFailure => "failed logins",
            Kind::RootToken => "requests with a root token",
            Kind::PolicyChange => "policy changes",
            Kind::AuthChange => "auth method changes",
            Kind::AuditChange => "audit device or alert rule changes",
            Kind::MountChange => "secrets engine changes",
            Kind::Seal => "seals",
            Kind::Unseal => "unseal requests",
        }
    }

    /// The grouping when a rule names none.
    pub fn default_group_by(self) -> &'static [GroupBy] {
        match self {
            Kind::Denied => &[GroupBy::RemoteAddress],
            Kind::LoginFailure => &[GroupBy::Path],
            Kind::RootToken => &[GroupBy::Accessor],
            Kind::PolicyChange | Kind::AuthChange | Kind::AuditChange | Kind::MountChange => {
                &[GroupBy::Path]
            }
            Kind::Seal | Kind::Unseal => &[],
        }
    }

    /// Does the event count for a rule of this kind?
    pub fn matches(self, ev: &Event) -> bool {
        let p = ev.path.as_str();
        let changed = || ev.is_write() && !ev.failed();
        match self {
            Kind::Denied => ev.denied,
            Kind::LoginFailure => ev.login && ev.failed(),
            Kind::RootToken => ev.root,
            Kind::PolicyChange => {
                (p.starts_with("sys/policy/") || p.starts_with("sys/policies/")) && changed()
            }
            Kind::AuthChange => p.starts_with("sys/auth/") && changed(),
            Kind::AuditChange => {
                (p.starts_with("sys/audit/") || p.starts_with("sys/audit-alerts/")) && changed()
            }
            Kind::MountChange => (p.starts_with("sys/mounts/") || p == "sys/remount") && changed(),
            Kind::Seal => p == "sys/seal" && !ev.failed(),
            Kind::Unseal => p == "sys/unseal",
        }
    }
}

/// What a rule keeps separate counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The client's IP address.
    RemoteAddress,
    /// The HMAC of the caller token's accessor.
    Accessor,
    DisplayName,
    /// The mount's routing prefix.
    Mount,
    Path,
    Namespace,
    Operation,
}

impl GroupBy {
    pub const ALL: &'static [GroupBy] = &[
        GroupBy::RemoteAddress,
        GroupBy::Accessor,
        GroupBy::DisplayName,
        GroupBy::Mount,
        GroupBy::Path,
        GroupBy::Namespace,
        GroupBy::Operation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::RemoteAddress => "remote_address",
            GroupBy::Accessor => "accessor",
            GroupBy::DisplayName => "display_name",
            GroupBy::Mount => "mount",
            GroupBy::Path => "path",
            GroupBy::Namespace => "namespace",
            GroupBy::Operation => "operation",
        }
    }

    pub fn parse(s: &str) -> Option<GroupBy> {
        GroupBy::ALL.iter().copied().find(|g| g.as_str() == s)
    }

    /// The event's value for this grouping.
    pub fn value(self, ev: &Event) -> String {
        match self {
            GroupBy::RemoteAddress => ev.remote_address.map(|a| a.to_string()).unwrap_or_default(),
            GroupBy::Accessor => ev.accessor.clone(),
            GroupBy::DisplayName => ev.display_name.clone(),
            GroupBy::Mount => ev.mount_point.clone(),
            GroupBy::Path => ev.path.clone(),
            GroupBy::Namespace => ev.namespace.clone(),
            GroupBy::Operation => ev.operation.to_string(),
        }
    }
}

/// The body a webhook is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A Slack incoming webhook: `{"text": ..., "blocks": [...]}`.
    Slack,
    /// Coffer's own JSON object (docs/alerts.md).
    Json,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Slack => "slack",
            Format::Json => "json",
        }
    }
}

/// One destination of a rule's alerts. The URL may carry a secret (a Slack
/// webhook URL is one): it is never logged, `Debug` leaves it out, and the
/// API shows [`Webhook::redacted_url`] only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    pub format: Format,
    /// Seconds one delivery attempt may take.
    pub timeout_secs: u64,
    pub max_attempts: u32,
    pub per_minute: u32,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.redacted_url())
            .field("format", &self.format)
            .field("timeout_secs", &self.timeout_secs)
            .field("max_attempts", &self.max_attempts)
            .field("per_minute", &self.per_minute)
            .finish()
    }
}

impl Webhook {
    /// Scheme, host and port only: `https://hooks.slack.com/…`. Path, query
    /// and user info (where webhook secrets live) are left out.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// The text [`Webhook::redacted_url`] shows instead of the secret part.
pub const REDACTED: &str = "…";

pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}/{REDACTED}", u.scheme()),
                None => format!("{}://{host}/{REDACTED}", u.scheme()),
            }
        }
        Err(_) => REDACTED.to_string(),
    }
}

/// One alert rule, checked (see [`Rule::build`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub kind: Kind,
    pub threshold: u64,
    pub window_secs: u64,
    /// Empty: one count for the whole server.
    pub group_by: Vec<GroupBy>,
    /// After an alert for a key, no other alert for that key until this has
    /// passed (default: the window), so a burst gives one alert.
    pub cooldown_secs: u64,
    pub webhooks: Vec<Webhook>,
}

/// A rule as written, before it is checked (from the config file or the API).
#[derive(Clone, Debug, Default)]
pub struct RuleInput {
    pub name: String,
    pub kind: String,
    pub threshold: Option<i64>,
    pub window: Option<Duration>,
    /// `None`: the kind's default; `["none"]` or empty: no grouping.
    pub group_by: Option<Vec<String>>,
    pub cooldown: Option<Duration>,
    pub webhooks: Vec<WebhookInput>,
}

#[derive(Clone, Default)]
pub struct WebhookInput {
    pub url: String,
    pub format: Option<String>,
    pub timeout: Option<Duration>,
    pub max_attempts: Option<i64>,
    pub per_minute: Option<i64>,
}

/// A config file's `alert` block as the rule it asks for (the server checks
/// it with [`Rule::build`], as the API checks its rules).
impl From<&coffer_config::AlertConfig> for RuleInput {
    fn from(a: &coffer_config::AlertConfig) -> RuleInput {
        RuleInput {
            name: a.name.clone(),
            kind: a.kind.clone(),
            threshold: a.threshold,
            window: a.window,
            group_by: a.group_by.clone(),
            cooldown: a.cooldown,
            webhooks: a
                .webhooks
                .iter()
                .map(|w| WebhookInput {
                    url: w.url.clone(),
                    format: w.format.clone(),
                    timeout: w.timeout,
                    max_attempts: w.max_attempts,
                    per_minute: w.per_minute,
                })
                .collect(),
        }
    }
}

impl fmt::Debug for WebhookInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookInput")
            .field("url", &redact_url(&self.url))
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// A valid rule name: 1 to 128 of `A-Z a-z 0-9 . _ -`, not starting with a dot.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Rule {
    /// Check a rule and fill in its defaults. The error names the setting
    /// (never a URL: it may be secret).
    pub fn build(input: RuleInput) -> Result<Rule, String> {
        if !valid_name(&input.name) {
            return Err(format!(
                "invalid rule name {:?}: 1 to {MAX_NAME} letters, digits, '.', '_' or '-'",
                input.name.chars().take(MAX_NAME + 1).collect::<String>()
            ));
        }
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        let kind = Kind::parse(input.kind.trim()).ok_or_else(|| {
            format!(
                "kind: expected one of {}, found {:?}",
                names.join(", "),
                input.kind
            )
        })?;
        let threshold = match input.threshold {
            None => 1,
            Some(n) if n >= 1 && n as u64 <= MAX_THRESHOLD => n as u64,
            Some(n) => {
                return Err(format!(
                    "threshold: must be between 1 and {MAX_THRESHOLD}, found {n}"
                ));
            }
        };
        let window = input.window.unwrap_or(DEFAULT_WINDOW);
        if window < Duration::from_secs(1) || window > MAX_WINDOW {
            return Err(format!(
                "window: must be between 1s and {}h",
                MAX_WINDOW.as_secs() / 3600
            ));
        }
        let cooldown = input.cooldown.unwrap_or(window);
        if cooldown > MAX_WINDOW {
            return Err(format!(
                "cooldown: must be at most {}h",
                MAX_WINDOW.as_secs() / 3600
            ));
        }
        let group_by = match input.group_by {
            None => kind.default_group_by().to_vec(),
            Some(list) => {
                let mut out = Vec::new();
                for g in list.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
                    if g == "none" {
                        continue;
                    }
                    let gb = GroupBy::parse(g).ok_or_else(|| {
                        let names: Vec<&str> = GroupBy::ALL.iter().map(|g| g.as_str()).collect();
                        format!(
                            "group_by: expected none or any of {}, found {g:?}",
                            names.join(", ")
                        )
                    })?;
                    if !out.contains(&gb) {
                        out.push(gb);
                    }
                }
                out
            }
        };
        if input.webhooks.is_empty() {
            return Err("webhook: at least one webhook is required".into());
        }
        if input.webhooks.len() > MAX_WEBHOOKS {
            return Err(format!("webhook: at most {MAX_WEBHOOKS} per rule"));
        }
        let webhooks = input
            .webhooks
            .into_iter()
            .enumerate()
            .map(|(i, w)| webhook(i, w))
            .collect::<Result<_, _>>()?;
        Ok(Rule {
            name: input.name,
            kind,
            threshold,
            window_secs: window.as_secs(),
            group_by,
            cooldown_secs: cooldown.as_secs(),
            webhooks,
        })
    }

    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }

    pub fn cooldown(&self) -> Duration {
        Duration::from_secs(self.cooldown_secs)
    }

    /// The rule as the API shows it: webhook URLs redacted.
    pub fn to_redacted_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "kind": self.kind.as_str(),
            "threshold": self.threshold,
            "window": self.window_secs,
            "cooldown": self.cooldown_secs,
            "group_by": self.group_by.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "webhooks": self.webhooks.iter().map(|w| serde_json::json!({
                "url": w.redacted_url(),
                "format": w.format.as_str(),
                "timeout": w.timeout_secs,
                "max_attempts": w.max_attempts,
                "per_minute": w.per_minute,
            })).collect::<Vec<_>>(),
        })
    }
}

fn webhook(i: usize, w: WebhookInput) -> Result<Webhook, String> {
    let at = format!("webhook {}", i + 1);
    let url = w.url.trim().to_string();
    if url.is_empty() {
        return Err(format!("{at}: url is required"));
    }
    if url.len() > MAX_URL {
        return Err(format!("{at}: url is longer than {MAX_URL} bytes"));
    }
    if url.contains(REDACTED) {
        return Err(format!(
            "{at}: url is a redacted one (as the API shows it); give the whole URL"
        ));
    }
    let parsed = reqwest::Url::parse(&url).map_err(|_| format!("{at}: url is not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{at}: url must be an http:// or https:// URL with a host"
        ));
    }
    let format = match w.format.as_deref().map(str::trim) {
        None | Some("json") => Format::Json,
        Some("slack") => Format::Slack,
        Some(other) => {
            return Err(format!(
                "{at}: format: expected \"slack\" or \"json\", found {other:?}"
            ));
        }
    };
    let timeout = w.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout < Duration::from_secs(1) || timeout > MAX_TIMEOUT {
        return Err(format!(
            "{at}: timeout: must be between 1s and {}s",
            MAX_TIMEOUT.as_secs()
        ));
    }
    let max_attempts = match w.max_attempts {
        None => DEFAULT_ATTEMPTS,
        Some(n) if n >= 1 && n <= MAX_ATTEMPTS as i64 => n as u32,
        Some(n) => {
            return Err(format!(
                "{at}: max_attempts: must be between 1 and {MAX_ATTEMPTS}, found {n}"
            ));
        }
    };
    let per_minute = match w.per_minute {
        None => DEFAULT_PER_MINUTE,
        Some(n) if n >= 1 && n <= MAX_PER_MINUTE as i64 => n as u32,
        Some(n) => {
            return Err(format!(
                "{at}: per_minute: must be between 1 and {MAX_PER_MINUTE}, found {n}"
            ));
        }
    };
    Ok(Webhook {
        url,
        format,
        timeout_secs: timeout.as_secs(),
        max_attempts,
        per_minute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str) -> RuleInput {
        RuleInput {
            name: "r1".into(),
            kind: kind.into(),
            webhooks: vec![WebhookInput {
                url: "https://hooks.example.com/services/T0/B0/SECRET".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        let r = Rule::build(input("denied")).unwrap();
        assert_eq!((r.threshold, r.window_secs, r.cooldown_secs), (1, 60, 60));
        assert_eq!(r.group_by, vec![GroupBy::RemoteAddress]);
        assert_eq!(r.webhooks[0].format, Format::Json);
        assert_eq!(r.webhooks[0].max_attempts, DEFAULT_ATTEMPTS);
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        let mut i = input("nope");
        assert!(Rule::build(i.clone()).unwrap_err().starts_with("kind:"));
        i.kind = "denied".into();
        i.threshold = Some(0);
        assert!(
            Rule::build(i.clone())
                .unwrap_err()
                .starts_with("threshold:")
        );
        i.threshold = None;
        i.group_by = Some(vec!["token".into()]);
        assert!(Rule::build(i.clone()).unwrap_err().starts_with("group_by:"));
        i.group_by = Some(vec!["none".into()]);
        assert!(Rule::build(i.clone()).unwrap().group_by.is_empty());
        i.webhooks[0].url = "ftp://x/y".into();
        let e = Rule::build(i.clone()).unwrap_err();
        assert!(e.starts_with("webhook 1: url"), "{e}");
        i.webhooks.clear();
        assert!(Rule::build(i.clone()).is_err());
        let mut n = input("denied");
        n.name = "a/b".into();
        assert!(Rule::build(n).unwrap_err().starts_with("invalid rule name"));
    }

    #[test]
    fn urls_never_show_their_secret_part() {
        let r = Rule::build(input("denied")).unwrap();
        let shown = r.to_redacted_json().to_string();
        assert!(
            !shown.contains("SECRET") && shown.contains("https://hooks.example.com/"),
            "{shown}"
        );
        assert!(!format!("{r:?}").contains("SECRET"));
        assert_eq!(
            redact_url("http://u:pw@127.0.0.1:8080/x?y=z"),
            "http://127.0.0.1:8080/…"
        );
        let mut i = input("denied");
        i.webhooks[0].url = "https://hooks.example.com/…".into();
        assert!(Rule::build(i).unwrap_err().contains("redacted"));
    }

    #[test]
    fn kinds_match_their_events() {
        let t = std::time::SystemTime::now();
        let mut e = Event::at(t, "sys/policies/acl/p");
        e.operation = "update";
        assert!(Kind::PolicyChange.matches(&e));
        e.status = 400;
        assert!(
            !Kind::PolicyChange.matches(&e),
            "a failed change is no change"
        );
        let mut e = Event::at(t, "sys/policies/acl/p");
        assert!(!Kind::PolicyChange.matches(&e), "a read is no change");
        e.path = "sys/audit-hash/file".into();
        e.operation = "update";
        assert!(!Kind::AuditChange.matches(&e));
        e.path = "sys/audit/file".into();
        assert!(Kind::AuditChange.matches(&e));
        let mut l = Event::at(t, "auth/userpass/login/alice");
        l.login = true;
        assert!(!Kind::LoginFailure.matches(&l));
        l.error = Some("invalid username or password".into());
        l.status = 400;
        assert!(Kind::LoginFailure.matches(&l));
    }
}
