//! `alert "<name>" { ... }`: alert rules on the audit stream (docs/alerts.md).
//!
//! ```hcl
//! alert "denied-burst" {
//!   kind      = "denied"
//!   threshold = 20
//!   window    = "1m"
//!   group_by  = "remote_address"     # or a list: ["remote_address", "path"]
//!   cooldown  = "5m"                 # default: the window
//!   webhook {
//!     url    = "https://hooks.slack.com/services/..."
//!     format = "slack"               # or "json" (the default)
//!   }
//! }
//! ```
//!
//! This file checks the shape (keys, types, durations) with line numbers;
//! what the values mean (known kinds, limits, URLs) is checked by the server
//! with the same code the API uses (`coffer_audit::alert::Rule::build`).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use coffer_hcl::{Entry, Node, Value};

use super::{Block, Decoder};
use crate::error::ConfigError;

/// One `alert` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertConfig {
    /// The block's label: the rule's name.
    pub name: String,
    pub kind: String,
    pub threshold: Option<i64>,
    pub window: Option<Duration>,
    /// `None` when not set (the kind's default grouping).
    pub group_by: Option<Vec<String>>,
    pub cooldown: Option<Duration>,
    pub webhooks: Vec<AlertWebhookConfig>,
    pub line: usize,
}

/// One `webhook { ... }` of an alert. `Debug` does not print the URL (a
/// Slack webhook URL is a secret).
#[derive(Clone, PartialEq, Eq)]
pub struct AlertWebhookConfig {
    pub url: String,
    pub format: Option<String>,
    pub timeout: Option<Duration>,
    pub max_attempts: Option<i64>,
    pub per_minute: Option<i64>,
    pub line: usize,
}

impl fmt::Debug for AlertWebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertWebhookConfig")
            .field("url", &"[redacted]")
            .field("format", &self.format)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("per_minute", &self.per_minute)
            .field("line", &self.line)
            .finish()
    }
}

impl Decoder<'_> {
    pub(super) fn alert(&self, b: &Block) -> Result<AlertConfig, ConfigError> {
        let scope_text = format!("alert {:?}", b.kind);
        let scope = Some(scope_text.as_str());
        let mut a = AlertConfig {
            name: b.kind.to_string(),
            kind: String::new(),
            threshold: None,
            window: None,
            group_by: None,
            cooldown: None,
            webhooks: Vec::new(),
            line: b.line,
        };
        let mut seen = HashMap::new();
        for e in b.body {
            if e.key == "webhook" {
                self.webhooks(scope, e, &mut a.webhooks)?;
                continue;
            }
            self.once(&mut seen, scope, e)?;
            match e.key.as_str() {
                "kind" => a.kind = self.string(scope, e)?,
                "threshold" => a.threshold = Some(self.int(scope, e, "an integer count")?),
                "window" => a.window = Some(self.duration(scope, e)?),
                "cooldown" => a.cooldown = Some(self.duration(scope, e)?),
                "group_by" => a.group_by = Some(self.string_or_list(scope, e)?),
                _ => return Err(self.unknown(scope, e, &[])),
            }
        }
        if a.kind.is_empty() {
            return Err(self.invalid(b.line, "kind", format!("{scope_text}: kind is required")));
        }
        if a.webhooks.is_empty() {
            return Err(self.invalid(
                b.line,
                "webhook",
                format!("{scope_text}: at least one webhook {{ url = \"...\" }} block is required"),
            ));
        }
        Ok(a)
    }

    fn webhooks(
        &self,
        scope: Option<&str>,
        e: &Entry,
        out: &mut Vec<AlertWebhookConfig>,
    ) -> Result<(), ConfigError> {
        let shape = || {
            self.bad(
                scope,
                e,
                "expected a block: webhook { url = \"...\" format = \"slack\" }",
            )
        };
        let bodies: Vec<&Node> = match &e.value.value {
            Value::Object(_) => vec![&e.value],
            Value::List(items) => items.iter().collect(),
            _ => return Err(shape()),
        };
        let inner_text = format!("{} webhook", scope.unwrap_or("alert"));
        let inner = Some(inner_text.as_str());
        for body in bodies {
            let Value::Object(entries) = &body.value else {
                return Err(shape());
            };
            let mut w = AlertWebhookConfig {
                url: String::new(),
                format: None,
                timeout: None,
                max_attempts: None,
                per_minute: None,
                line: body.line,
            };
            let mut seen = HashMap::new();
            for opt in entries {
                self.once(&mut seen, inner, opt)?;
                match opt.key.as_str() {
                    "url" => w.url = self.string(inner, opt)?,
                    "format" => w.format = Some(self.string(inner, opt)?),
                    "timeout" => w.timeout = Some(self.duration(inner, opt)?),
                    "max_attempts" => w.max_attempts = Some(self.int(inner, opt, "an integer")?),
                    "per_minute" => w.per_minute = Some(self.int(inner, opt, "an integer")?),
                    _ => return Err(self.unknown(inner, opt, &[])),
                }
            }
            if w.url.is_empty() {
                return Err(self.invalid(
                    body.line,
                    "url",
                    format!("{inner_text}: url is required"),
                ));
            }
            out.push(w);
        }
        Ok(())
    }

    /// `"a"`, `"a,b"` or `["a", "b"]`.
    fn string_or_list(&self, scope: Option<&str>, e: &Entry) -> Result<Vec<String>, ConfigError> {
        match &e.value.value {
            Value::String(s) => Ok(s
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()),
            Value::List(items) => items
                .iter()
                .map(|n| match &n.value {
                    Value::String(s) => Ok(s.trim().to_string()),
                    _ => Err(self.bad(scope, e, "expected a string or a list of strings")),
                })
                .collect(),
            _ => Err(self.bad(scope, e, "expected a string or a list of strings")),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_str;

    const BASE: &str = "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n}\n";

    #[test]
    fn alert_blocks_decode_with_their_webhooks() {
        let src = format!(
            "{BASE}alert \"denied-burst\" {{\n  kind = \"denied\"\n  threshold = 20\n  window = \"1m\"\n  group_by = [\"remote_address\", \"path\"]\n  webhook {{\n    url = \"https://hooks.slack.com/services/T/B/SECRET\"\n    format = \"slack\"\n  }}\n  webhook {{\n    url = \"http://127.0.0.1:9000/a\"\n    timeout = \"2s\"\n  }}\n}}\nalert \"root\" {{\n  kind = \"root_token\"\n  webhook {{\n    url = \"http://127.0.0.1:9000/b\"\n  }}\n}}\n"
        );
        let c = parse_str(&src, "c.hcl", false).unwrap();
        assert_eq!(c.alerts.len(), 2);
        let a = &c.alerts[0];
        assert_eq!(
            (a.name.as_str(), a.kind.as_str(), a.threshold),
            ("denied-burst", "denied", Some(20))
        );
        assert_eq!(a.window, Some(std::time::Duration::from_secs(60)));
        assert_eq!(
            a.group_by.as_deref(),
            Some(&["remote_address".to_string(), "path".to_string()][..])
        );
        assert_eq!(a.webhooks.len(), 2);
        assert_eq!(a.webhooks[0].format.as_deref(), Some("slack"));
        assert_eq!(
            a.webhooks[1].timeout,
            Some(std::time::Duration::from_secs(2))
        );
        assert!(
            !format!("{c:?}").contains("SECRET"),
            "Debug must not print webhook URLs"
        );
        assert_eq!(c.alerts[1].group_by, None);
    }

    #[test]
    fn alert_json_shape_decodes_too() {
        let src = r#"{"storage":{"inmem":{}},"listener":{"tcp":{"tls_disable":true}},
            "alert":{"x":{"kind":"seal","group_by":"none","webhook":[{"url":"http://127.0.0.1:1/"}]}}}"#;
        let c = parse_str(src, "c.json", true).unwrap();
        assert_eq!(
            c.alerts[0].group_by.as_deref(),
            Some(&["none".to_string()][..])
        );
    }

    #[test]
    fn bad_alert_blocks_name_line_and_key() {
        let bad = |body: &str| {
            let src = format!("{BASE}alert \"a\" {{\n{body}\n}}\n");
            parse_str(&src, "c.hcl", false).unwrap_err().to_string()
        };
        let e = bad("  kind = \"denied\"\n  tresh = 1\n  webhook {\n url = \"http://x/\"\n }");
        assert!(e.contains("c.hcl:7") && e.contains("tresh"), "{e}");
        let e = bad("  kind = \"denied\"");
        assert!(e.contains("webhook"), "{e}");
        let e =
            bad("  kind = \"denied\"\n  window = \"soon\"\n  webhook {\n url = \"http://x/\"\n }");
        assert!(e.contains("window"), "{e}");
        let e = bad("  webhook {\n url = \"http://x/\"\n }");
        assert!(e.contains("kind is required"), "{e}");
        let e = bad("  kind = \"denied\"\n  webhook {\n format = \"slack\"\n }");
        assert!(e.contains("url is required"), "{e}");
        let src = format!(
            "{BASE}alert \"a\" {{\n kind = \"seal\"\n webhook {{\n url = \"http://x/\"\n }}\n}}\nalert \"a\" {{\n kind = \"seal\"\n webhook {{\n url = \"http://x/\"\n }}\n}}\n"
        );
        let e = parse_str(&src, "c.hcl", false).unwrap_err().to_string();
        assert!(e.contains("more than once"), "{e}");
    }
}
