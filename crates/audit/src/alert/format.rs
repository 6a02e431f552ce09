//! The bodies webhooks are sent: Slack's incoming-webhook message, or
//! Coffer's generic JSON object. Neither carries a token, a secret value or
//! a raw accessor: an alert holds only what [`super::Event`] holds (the
//! accessor as an HMAC), and sample paths.

use super::rule::Format;
use super::window::Alert;
use serde_json::{Value, json};
use std::time::SystemTime;

pub fn rfc3339(t: SystemTime) -> String {
    let odt = time::OffsetDateTime::from(t);
    odt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The request body for a webhook of this format.
pub fn body(alert: &Alert, format: Format) -> Value {
    match format {
        Format::Json => generic(alert),
        Format::Slack => slack(alert),
    }
}

/// `{"rule", "kind", "key", "count", "threshold", "window", "first_time",
/// "last_time", "paths", "display_names", "suppressed"}`.
pub fn generic(a: &Alert) -> Value {
    let key: serde_json::Map<String, Value> = a
        .key
        .iter()
        .map(|(g, v)| (g.as_str().to_string(), json!(v)))
        .collect();
    json!({
        "source": "coffer",
        "rule": a.rule,
        "kind": a.kind.as_str(),
        "key": key,
        "count": a.count,
        "threshold": a.threshold,
        "window": a.window_secs,
        "first_time": rfc3339(a.first),
        "last_time": rfc3339(a.last),
        "paths": a.paths,
        "display_names": a.display_names,
        "suppressed": a.suppressed,
    })
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; backticks would end a code span.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'")
}

fn window_text(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A Slack incoming-webhook message: `text` (the notification) and one
/// section block with the details.
pub fn slack(a: &Alert) -> Value {
    let text = format!(
        "Coffer alert {}: {} {} in {} ({})",
        esc(&a.rule),
        a.count,
        a.kind.describe(),
        window_text(a.window_secs),
        esc(&a.key_text())
    );
    let mut detail = format!(
        "*{text}*\nfirst {} · last {}",
        rfc3339(a.first),
        rfc3339(a.last)
    );
    if !a.paths.is_empty() {
        let paths: Vec<String> = a.paths.iter().map(|p| format!("`{}`", esc(p))).collect();
        detail.push_str(&format!("\npaths: {}", paths.join(", ")));
    }
    if !a.display_names.is_empty() {
        detail.push_str(&format!("\nby: {}", esc(&a.display_names.join(", "))));
    }
    if a.suppressed > 0 {
        detail.push_str(&format!(
            "\n{} more during the cooldown before this alert",
            a.suppressed
        ));
    }
    json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": detail}}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rule::{GroupBy, Kind};
    use std::time::Duration;

    fn alert() -> Alert {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        Alert {
            rule: "denied-burst".into(),
            kind: Kind::Denied,
            key: vec![(GroupBy::RemoteAddress, "10.0.0.1".into())],
            count: 20,
            threshold: 20,
            window_secs: 60,
            first: t,
            last: t + Duration::from_secs(3),
            paths: vec!["secret/<x>".into()],
            display_names: vec!["token".into()],
            suppressed: 2,
        }
    }

    #[test]
    fn generic_json_names_rule_key_count_and_times() {
        let v = generic(&alert());
        assert_eq!(v["rule"], "denied-burst");
        assert_eq!(v["key"]["remote_address"], "10.0.0.1");
        assert_eq!(v["count"], 20);
        assert_eq!(v["window"], 60);
        assert_eq!(v["first_time"], "2027-01-15T08:00:00Z");
        assert_eq!(v["last_time"], "2027-01-15T08:00:03Z");
        assert_eq!(v["paths"][0], "secret/<x>");
    }

    #[test]
    fn slack_has_text_and_escapes_mrkdwn() {
        let v = slack(&alert());
        let text = v["text"].as_str().unwrap();
        assert!(
            text.starts_with(
                "Coffer alert denied-burst: 20 denied requests in 1m (remote_address=10.0.0.1)"
            ),
            "{text}"
        );
        let block = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(block.contains("`secret/&lt;x&gt;`"), "{block}");
        assert_eq!(v["blocks"][0]["text"]["type"], "mrkdwn");
    }
}
