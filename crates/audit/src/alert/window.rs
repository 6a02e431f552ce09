//! Which events raise an alert: per rule and per key (the values of the
//! rule's `group_by`), a sliding window of the last `threshold` matching
//! events; when they all fall within `window`, the rule fires for that key,
//! unless the key is still in its cooldown from the previous alert. A fired
//! key starts counting afresh, so a burst gives exactly one alert per
//! cooldown (by default the window) and a later burst gives the next one.
//!
//! Time is the events' own (`Event::time`), so the evaluator is a plain
//! function of its input and the tests need no clock.

use super::Event;
use super::rule::{GroupBy, Kind, Rule};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Keys one rule tracks at once; past that, idle keys are forgotten and, if
/// none is idle, new keys share one `(other)` key, so memory stays bounded
/// whatever the clients send.
pub const MAX_KEYS: usize = 10_000;
/// Sample paths (and display names) an alert carries.
pub const SAMPLES: usize = 5;
/// Longest sample path kept.
const SAMPLE_LEN: usize = 256;
/// The key that keys beyond [`MAX_KEYS`] share.
pub const OVERFLOW_KEY: &str = "(other)";

/// One alert: the rule, the key and what was counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub rule: String,
    pub kind: Kind,
    /// `(group_by, value)` pairs, in the rule's order.
    pub key: Vec<(GroupBy, String)>,
    /// Matching events in the window when the rule fired.
    pub count: u64,
    pub threshold: u64,
    pub window_secs: u64,
    pub first: SystemTime,
    pub last: SystemTime,
    /// Up to [`SAMPLES`] distinct paths among the counted events.
    pub paths: Vec<String>,
    /// Up to [`SAMPLES`] distinct display names among them.
    pub display_names: Vec<String>,
    /// Matching events for this key during the cooldown before this alert
    /// (counted, not alerted on).
    pub suppressed: u64,
}

impl Alert {
    /// `remote_address=127.0.0.1 path=sys/x`, or `all` with no grouping.
    pub fn key_text(&self) -> String {
        if self.key.is_empty() {
            return "all".into();
        }
        self.key
            .iter()
            .map(|(g, v)| format!("{}={}", g.as_str(), if v.is_empty() { "-" } else { v }))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Default)]
struct KeyState {
    /// Times of the last matching events (at most `threshold`).
    times: VecDeque<SystemTime>,
    paths: Vec<String>,
    names: Vec<String>,
    last_fired: Option<SystemTime>,
    suppressed: u64,
    last_seen: Option<SystemTime>,
}

struct RuleState {
    rule: Arc<Rule>,
    keys: HashMap<String, KeyState>,
}

/// The rules in force and their per-key state.
#[derive(Default)]
pub struct Evaluator {
    rules: Vec<RuleState>,
}

impl Evaluator {
    /// Put a new rule set in force. A rule whose definition did not change
    /// keeps its windows and cooldowns; a changed or new one starts empty.
    pub fn set_rules(&mut self, rules: Vec<Arc<Rule>>) {
        let mut old: HashMap<String, RuleState> = self
            .rules
            .drain(..)
            .map(|s| (s.rule.name.clone(), s))
            .collect();
        self.rules = rules
            .into_iter()
            .map(|rule| match old.remove(&rule.name) {
                Some(s) if s.rule == rule => s,
                _ => RuleState {
                    rule,
                    keys: HashMap::new(),
                },
            })
            .collect();
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Count one event against every rule; the alerts it raises.
    pub fn observe(&mut self, ev: &Event) -> Vec<Alert> {
        let mut out = Vec::new();
        for st in &mut self.rules {
            if !st.rule.kind.matches(ev) {
                continue;
            }
            if let Some(a) = st.observe(ev) {
                out.push(a);
            }
        }
        out
    }
}

fn key_of(rule: &Rule, ev: &Event) -> (String, Vec<(GroupBy, String)>) {
    let parts: Vec<(GroupBy, String)> = rule.group_by.iter().map(|g| (*g, g.value(ev))).collect();
    // The text form is only a map key: the NUL separator cannot occur in a value that matters.
    let text = parts
        .iter()
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join("\0");
    (text, parts)
}

fn since(later: SystemTime, earlier: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or(Duration::ZERO)
}

impl RuleState {
    fn observe(&mut self, ev: &Event) -> Option<Alert> {
        let rule = self.rule.clone();
        let window = rule.window();
        let (mut key, mut parts) = key_of(&rule, ev);
        if !self.keys.contains_key(&key) && self.keys.len() >= MAX_KEYS {
            self.forget_idle(ev.time);
            if self.keys.len() >= MAX_KEYS {
                key = OVERFLOW_KEY.to_string();
                parts = rule
                    .group_by
                    .iter()
                    .map(|g| (*g, OVERFLOW_KEY.to_string()))
                    .collect();
            }
        }
        let st = self.keys.entry(key).or_default();
        st.last_seen = Some(ev.time);
        // The window slides: events older than `window` before this one leave it.
        while st
            .times
            .front()
            .is_some_and(|t| since(ev.time, *t) > window)
        {
            st.times.pop_front();
        }
        st.times.push_back(ev.time);
        while st.times.len() as u64 > rule.threshold {
            st.times.pop_front();
        }
        if st.paths.len() < SAMPLES && !st.paths.iter().any(|p| p == &ev.path) {
            st.paths.push(ev.path.chars().take(SAMPLE_LEN).collect());
        }
        if !ev.display_name.is_empty()
            && st.names.len() < SAMPLES
            && !st.names.contains(&ev.display_name)
        {
            st.names.push(ev.display_name.clone());
        }
        if (st.times.len() as u64) < rule.threshold {
            return None;
        }
        if st
            .last_fired
            .is_some_and(|t| since(ev.time, t) < rule.cooldown())
        {
            st.suppressed += 1;
            return None;
        }
        let alert = Alert {
            rule: rule.name.clone(),
            kind: rule.kind,
            key: parts,
            count: st.times.len() as u64,
            threshold: rule.threshold,
            window_secs: rule.window_secs,
            first: st.times.front().copied().unwrap_or(ev.time),
            last: ev.time,
            paths: std::mem::take(&mut st.paths),
            display_names: std::mem::take(&mut st.names),
            suppressed: std::mem::take(&mut st.suppressed),
        };
        st.times.clear();
        st.last_fired = Some(ev.time);
        Some(alert)
    }

    /// Drop keys that can neither fire nor be in a cooldown any more.
    fn forget_idle(&mut self, now: SystemTime) {
        let keep = self.rule.window().max(self.rule.cooldown());
        self.keys
            .retain(|_, st| st.last_seen.is_some_and(|t| since(now, t) <= keep));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rule::{RuleInput, WebhookInput};
    use std::net::{IpAddr, Ipv4Addr};

    fn rule(
        kind: &str,
        threshold: i64,
        window: u64,
        cooldown: Option<u64>,
        group_by: Option<&[&str]>,
    ) -> Arc<Rule> {
        Arc::new(
            Rule::build(RuleInput {
                name: format!("{kind}-rule"),
                kind: kind.into(),
                threshold: Some(threshold),
                window: Some(Duration::from_secs(window)),
                cooldown: cooldown.map(Duration::from_secs),
                group_by: group_by.map(|g| g.iter().map(|s| s.to_string()).collect()),
                webhooks: vec![WebhookInput {
                    url: "http://127.0.0.1:9/x".into(),
                    ..Default::default()
                }],
            })
            .unwrap(),
        )
    }

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn denied(at_ms: u64, ip: u8, path: &str) -> Event {
        let mut e = Event::at(t0() + Duration::from_millis(at_ms), path);
        e.denied = true;
        e.status = 403;
        e.remote_address = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip)));
        e
    }

    fn eval(rules: Vec<Arc<Rule>>) -> Evaluator {
        let mut e = Evaluator::default();
        e.set_rules(rules);
        e
    }

    #[test]
    fn a_burst_gives_one_alert_per_window() {
        let mut ev = eval(vec![rule("denied", 5, 60, None, None)]);
        let mut alerts = Vec::new();
        for i in 0..50 {
            alerts.extend(ev.observe(&denied(i * 100, 1, &format!("secret/{}", i % 3))));
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let a = &alerts[0];
        assert_eq!((a.count, a.threshold, a.suppressed), (5, 5, 0));
        assert_eq!(a.key_text(), "remote_address=10.0.0.1");
        assert_eq!(a.paths, vec!["secret/0", "secret/1", "secret/2"]);
        assert_eq!(a.first, t0());
        assert_eq!(a.last, t0() + Duration::from_millis(400));
        // After the cooldown (60 s from the alert), the next burst alerts again
        // and says how many it held back.
        let mut later = Vec::new();
        for i in 0..5 {
            later.extend(ev.observe(&denied(61_000 + i * 100, 1, "secret/x")));
        }
        assert_eq!(later.len(), 1, "{later:?}");
        assert_eq!(
            later[0].suppressed, 41,
            "events 9..50 of the first burst were held back"
        );
    }

    #[test]
    fn below_the_threshold_within_the_window_nothing_fires() {
        let mut ev = eval(vec![rule("denied", 3, 10, None, None)]);
        // Two events every 11 seconds: never three within 10 s.
        let mut n = 0;
        for i in 0..20u64 {
            n += ev.observe(&denied(i * 6_000, 1, "p")).len();
        }
        assert_eq!(n, 0);
        // Three within 10 s do.
        assert!(ev.observe(&denied(200_000, 1, "p")).is_empty());
        assert!(ev.observe(&denied(205_000, 1, "p")).is_empty());
        assert_eq!(ev.observe(&denied(209_999, 1, "p")).len(), 1);
    }

    #[test]
    fn keys_are_counted_apart() {
        let mut ev = eval(vec![rule("denied", 3, 60, None, None)]);
        let mut n = 0;
        for i in 0..6u64 {
            n += ev.observe(&denied(i, (i % 2) as u8, "p")).len();
        }
        assert_eq!(n, 2, "three each from two addresses: one alert each");
        // Without grouping the six are one count: two alerts? No: one, then the cooldown.
        let mut ev = eval(vec![rule("denied", 3, 60, None, Some(&["none"]))]);
        let fired: Vec<Alert> = (0..6u64)
            .flat_map(|i| ev.observe(&denied(i, (i % 2) as u8, "p")))
            .collect();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].key_text(), "all");
    }

    #[test]
    fn group_by_several_fields_and_cooldown_shorter_than_window() {
        let mut ev = eval(vec![rule(
            "denied",
            2,
            60,
            Some(5),
            Some(&["remote_address", "path"]),
        )]);
        let mut fired = Vec::new();
        for i in 0..4u64 {
            fired.extend(ev.observe(&denied(i * 1000, 1, "a")));
            fired.extend(ev.observe(&denied(i * 1000, 1, "b")));
        }
        assert_eq!(fired.len(), 2);
        assert_eq!(fired[0].key_text(), "remote_address=10.0.0.1 path=a");
        // 6 s later (past the 5 s cooldown) two more fire again.
        fired.clear();
        fired.extend(ev.observe(&denied(9000, 1, "a")));
        fired.extend(ev.observe(&denied(9100, 1, "a")));
        assert_eq!(fired.len(), 1);
    }

    #[test]
    fn events_of_other_kinds_do_not_count() {
        let mut ev = eval(vec![
            rule("denied", 1, 60, None, None),
            rule("root_token", 1, 60, None, None),
        ]);
        let mut ok = Event::at(t0(), "secret/x");
        ok.accessor = "hmac-sha256:ab".into();
        assert!(ev.observe(&ok).is_empty());
        ok.root = true;
        let a = ev.observe(&ok);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, Kind::RootToken);
        assert_eq!(a[0].key_text(), "accessor=hmac-sha256:ab");
    }

    #[test]
    fn unchanged_rules_keep_their_state_changed_ones_restart() {
        let r = rule("denied", 1, 60, None, None);
        let mut ev = eval(vec![r.clone()]);
        assert_eq!(ev.observe(&denied(0, 1, "p")).len(), 1);
        ev.set_rules(vec![r.clone()]);
        assert!(
            ev.observe(&denied(10, 1, "p")).is_empty(),
            "still in its cooldown"
        );
        let changed = rule("denied", 1, 30, None, None);
        ev.set_rules(vec![changed]);
        assert_eq!(
            ev.observe(&denied(20, 1, "p")).len(),
            1,
            "a changed rule starts afresh"
        );
    }

    #[test]
    fn keys_are_bounded() {
        let mut ev = eval(vec![rule("denied", 2, 60, None, Some(&["path"]))]);
        for i in 0..MAX_KEYS as u64 {
            ev.observe(&denied(i, 1, &format!("p{i}")));
        }
        // All keys are live: newcomers share the overflow key and still alert.
        let a: Vec<Alert> = (0..2u64)
            .flat_map(|i| ev.observe(&denied(20_000 + i, 1, &format!("new{i}"))))
            .collect();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].key_text(), format!("path={OVERFLOW_KEY}"));
        assert!(ev.rules[0].keys.len() <= MAX_KEYS + 1);
        // Once they are idle (past window and cooldown), they are forgotten.
        ev.observe(&denied(500_000, 1, "late"));
        assert!(ev.rules[0].keys.len() < 10);
    }
}
