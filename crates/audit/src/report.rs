//! `coffer audit report`: the daily review of audit logs. Reads Vault-format
//! entry lines (a device's `prefix` before the JSON and the chain's extra
//! `chain` member are allowed; `type: "checkpoint"` lines are skipped) and
//! sums up, from the response entries: denials by accessor and path, logins
//! (success and failure by mount and display name), root-token use, and
//! policy and mount changes. Renders as a table or as JSON. [`store`] reads
//! an object-store device's segments instead of files.

pub mod store;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Sample paths kept per root-token accessor.
const SAMPLES: usize = 5;
/// Changes listed in full (more are counted).
const MAX_CHANGES: usize = 10_000;

/// One change to policies or mounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub time: String,
    pub operation: String,
    pub path: String,
    pub display_name: String,
    pub accessor: String,
    pub remote_address: String,
}

#[derive(Default, Debug)]
struct RootUse {
    count: u64,
    paths: Vec<String>,
}

/// The report being built, line by line.
#[derive(Default, Debug)]
pub struct Report {
    since: Option<OffsetDateTime>,
    /// Lines read (every kind).
    pub lines: u64,
    pub requests: u64,
    pub responses: u64,
    pub checkpoints: u64,
    /// Lines that are not an audit entry (or have no readable time).
    pub malformed: u64,
    /// Response entries older than `since`.
    pub before_since: u64,
    denials: BTreeMap<(String, String, String), u64>,
    logins: BTreeMap<(String, String), (u64, u64)>,
    root: BTreeMap<(String, String), RootUse>,
    policy_changes: Vec<Change>,
    mount_changes: Vec<Change>,
    changes_left_out: u64,
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

fn has_root(v: &Value) -> bool {
    ["policies", "token_policies"].iter().any(|k| {
        v.get(*k)
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|p| p.as_str() == Some("root")))
    })
}

impl Report {
    pub fn new(since: Option<OffsetDateTime>) -> Report {
        Report {
            since,
            ..Default::default()
        }
    }

    /// Read one line of an audit log.
    pub fn add_line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        self.lines += 1;
        // A device's `prefix` comes before the JSON object.
        let Some(start) = line.find('{') else {
            self.malformed += 1;
            return;
        };
        let Ok(v) = serde_json::from_str::<Value>(&line[start..]) else {
            self.malformed += 1;
            return;
        };
        match s(&v, &["type"]) {
            "checkpoint" => self.checkpoints += 1,
            "request" => self.requests += 1,
            "response" => self.response(&v),
            _ => self.malformed += 1,
        }
    }

    fn response(&mut self, v: &Value) {
        let Ok(time) = OffsetDateTime::parse(s(v, &["time"]), &Rfc3339) else {
            self.malformed += 1;
            return;
        };
        if self.since.is_some_and(|since| time < since) {
            self.before_since += 1;
            return;
        }
        self.responses += 1;
        let req = v.get("request").unwrap_or(&Value::Null);
        let auth = v.get("auth").unwrap_or(&Value::Null);
        let path = s(req, &["path"]).to_string();
        let op = s(req, &["operation"]).to_string();
        let error = s(v, &["error"]);
        let accessor = s(auth, &["accessor"]).to_string();
        let display = s(auth, &["display_name"]).to_string();
        if error.contains("permission denied") {
            *self
                .denials
                .entry((accessor.clone(), display.clone(), path.clone()))
                .or_default() += 1;
        }
        if let Some(mount) = login_mount(&path, &op, s(req, &["mount_point"])) {
            let entry = if error.is_empty() {
                let name = s(v, &["response", "auth", "display_name"]);
                let e = self.logins.entry((mount, name.to_string())).or_default();
                &mut e.0
            } else {
                // A failed login has no token: name it by the path's user, if any.
                let name = path.split_once("/login/").map(|(_, u)| u).unwrap_or("");
                let e = self.logins.entry((mount, name.to_string())).or_default();
                &mut e.1
            };
            *entry += 1;
        }
        if has_root(auth) {
            let r = self
                .root
                .entry((accessor.clone(), display.clone()))
                .or_default();
            r.count += 1;
            if r.paths.len() < SAMPLES && !r.paths.contains(&path) {
                r.paths.push(path.clone());
            }
        }
        let write = matches!(op.as_str(), "create" | "update" | "delete" | "patch");
        if write && error.is_empty() {
            let policy = path.starts_with("sys/policy/") || path.starts_with("sys/policies/");
            let mount = [
                "sys/mounts/",
                "sys/auth/",
                "sys/audit/",
                "sys/audit-alerts/",
            ]
            .iter()
            .any(|p| path.starts_with(p))
                || path == "sys/remount";
            if policy || mount {
                let c = Change {
                    time: s(v, &["time"]).to_string(),
                    operation: op,
                    path,
                    display_name: display,
                    accessor,
                    remote_address: s(req, &["remote_address"]).to_string(),
                };
                let list = if policy {
                    &mut self.policy_changes
                } else {
                    &mut self.mount_changes
                };
                if list.len() < MAX_CHANGES {
                    list.push(c);
                } else {
                    self.changes_left_out += 1;
                }
            }
        }
    }

    /// The report as JSON (docs/alerts.md, "The daily review").
    pub fn to_json(&self) -> Value {
        let mut denials: Vec<_> = self.denials.iter().collect();
        denials.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let change = |c: &Change| {
            json!({"time": c.time, "operation": c.operation, "path": c.path, "display_name": c.display_name,
                   "accessor": c.accessor, "remote_address": c.remote_address})
        };
        json!({
            "since": self.since.and_then(|t| t.format(&Rfc3339).ok()),
            "lines": self.lines,
            "requests": self.requests,
            "responses": self.responses,
            "skipped": {"checkpoints": self.checkpoints, "malformed": self.malformed, "before_since": self.before_since},
            "denials": denials.iter().map(|((a, d, p), n)| json!({"accessor": a, "display_name": d, "path": p, "count": n})).collect::<Vec<_>>(),
            "denials_total": self.denials.values().sum::<u64>(),
            "logins": self.logins.iter().map(|((m, d), (ok, bad))| json!({"mount": m, "display_name": d, "success": ok, "failure": bad})).collect::<Vec<_>>(),
            "root_token_use": self.root.iter().map(|((a, d), r)| json!({"accessor": a, "display_name": d, "count": r.count, "paths": r.paths})).collect::<Vec<_>>(),
            "policy_changes": self.policy_changes.iter().map(change).collect::<Vec<_>>(),
            "mount_changes": self.mount_changes.iter().map(change).collect::<Vec<_>>(),
            "changes_left_out": self.changes_left_out,
        })
    }

    /// The report as aligned text tables.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Audit report{}: {} response entries ({} lines; skipped {} checkpoints, {} malformed, {} before --since)\n",
            self.since.and_then(|t| t.format(&Rfc3339).ok()).map(|t| format!(" since {t}")).unwrap_or_default(),
            self.responses,
            self.lines,
            self.checkpoints,
            self.malformed,
            self.before_since
        ));
        let mut denials: Vec<_> = self.denials.iter().collect();
        denials.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        section(
            &mut out,
            "Denied requests by accessor and path",
            &["COUNT", "ACCESSOR", "DISPLAY NAME", "PATH"],
            denials
                .iter()
                .map(|((a, d, p), n)| vec![n.to_string(), short(a), dash(d), p.clone()])
                .collect(),
        );
        section(
            &mut out,
            "Logins",
            &["MOUNT", "DISPLAY NAME", "SUCCESS", "FAILURE"],
            self.logins
                .iter()
                .map(|((m, d), (ok, bad))| {
                    vec![m.clone(), dash(d), ok.to_string(), bad.to_string()]
                })
                .collect(),
        );
        section(
            &mut out,
            "Root token use",
            &["COUNT", "ACCESSOR", "DISPLAY NAME", "PATHS"],
            self.root
                .iter()
                .map(|((a, d), r)| vec![r.count.to_string(), short(a), dash(d), r.paths.join(", ")])
                .collect(),
        );
        let rows = |list: &[Change]| -> Vec<Vec<String>> {
            list.iter()
                .map(|c| {
                    vec![
                        c.time.clone(),
                        c.operation.clone(),
                        c.path.clone(),
                        dash(&c.display_name),
                        dash(&c.remote_address),
                    ]
                })
                .collect()
        };
        let cols = ["TIME", "OPERATION", "PATH", "BY", "FROM"];
        section(
            &mut out,
            "Policy changes",
            &cols,
            rows(&self.policy_changes),
        );
        section(
            &mut out,
            "Mount, auth method and audit device changes",
            &cols,
            rows(&self.mount_changes),
        );
        out
    }
}

/// The auth mount of a login request (`auth/<mount>/login[/...]`).
fn login_mount(path: &str, op: &str, mount_point: &str) -> Option<String> {
    if !matches!(op, "update" | "create") {
        return None;
    }
    let rest = path.strip_prefix("auth/")?;
    let (mount, tail) = rest.split_once('/')?;
    if mount == "token" || !(tail == "login" || tail.starts_with("login/")) {
        return None;
    }
    Some(if mount_point.is_empty() {
        format!("auth/{mount}/")
    } else {
        mount_point.to_string()
    })
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// Accessors are long HMACs: the table shows enough to tell them apart.
fn short(a: &str) -> String {
    if a.is_empty() {
        return "-".into();
    }
    let n: String = a.chars().take(28).collect();
    if n.len() < a.len() {
        format!("{n}…")
    } else {
        n
    }
}

fn section(out: &mut String, title: &str, cols: &[&str], rows: Vec<Vec<String>>) {
    out.push_str(&format!("\n{title}\n"));
    if rows.is_empty() {
        out.push_str("  (none)\n");
        return;
    }
    let mut width: Vec<usize> = cols.iter().map(|c| c.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut l = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            let pad = width[i] - c.chars().count();
            l.push(' ');
            l.push_str(c);
            if i + 1 < cells.len() {
                l.push_str(&" ".repeat(pad + 1));
            }
        }
        l.push('\n');
        l
    };
    out.push_str(&line(cols.iter().map(|c| c.to_string()).collect()));
    for r in rows {
        out.push_str(&line(r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENIED: &str = r#"{"time":"2026-12-07T10:00:00.123456Z","type":"response","auth":{"accessor":"hmac-sha256:aa","display_name":"token","policies":["default"]},"request":{"operation":"read","path":"secret/data/x","remote_address":"127.0.0.1"},"error":"1 error occurred:\n\t* permission denied\n\n"}"#;

    #[test]
    fn counts_denials_logins_root_and_changes() {
        let mut r = Report::new(None);
        r.add_line(DENIED);
        r.add_line(&format!("coffer-prefix{DENIED}"));
        r.add_line(r#"{"time":"2026-12-07T10:00:01Z","type":"request","request":{"path":"x"}}"#);
        r.add_line(r#"{"type":"checkpoint","seq":10}"#);
        r.add_line(r#"{"time":"2026-12-07T10:00:02Z","type":"response","auth":{"policies":["root"],"display_name":"root","accessor":"hmac-sha256:rr"},"request":{"operation":"update","path":"sys/policies/acl/p","remote_address":"127.0.0.1"},"chain":{"seq":3,"prev":"sha256:00"}}"#);
        r.add_line(r#"{"time":"2026-12-07T10:00:03Z","type":"response","auth":{},"request":{"operation":"update","path":"auth/userpass/login/alice","mount_point":"auth/userpass/"},"response":{"auth":{"display_name":"userpass-alice"}}}"#);
        r.add_line(r#"{"time":"2026-12-07T10:00:04Z","type":"response","auth":{},"request":{"operation":"update","path":"auth/userpass/login/bob"},"error":"invalid username or password"}"#);
        r.add_line("not json");
        let v = r.to_json();
        assert_eq!(v["responses"], 5);
        assert_eq!(v["skipped"]["checkpoints"], 1);
        assert_eq!(v["skipped"]["malformed"], 1);
        assert_eq!(v["denials"][0]["count"], 2);
        assert_eq!(v["denials"][0]["path"], "secret/data/x");
        assert_eq!(v["logins"].as_array().unwrap().len(), 2);
        assert_eq!(
            v["logins"][0],
            json!({"mount":"auth/userpass/","display_name":"bob","success":0,"failure":1})
        );
        assert_eq!(v["logins"][1]["display_name"], "userpass-alice");
        assert_eq!(v["root_token_use"][0]["count"], 1);
        assert_eq!(v["policy_changes"][0]["path"], "sys/policies/acl/p");
        let t = r.to_table();
        assert!(
            t.contains("Denied requests by accessor and path") && t.contains("secret/data/x"),
            "{t}"
        );
    }

    #[test]
    fn since_leaves_older_entries_out() {
        let since = OffsetDateTime::parse("2026-12-07T11:00:00Z", &Rfc3339).unwrap();
        let mut r = Report::new(Some(since));
        r.add_line(DENIED);
        assert_eq!(r.to_json()["responses"], 0);
        assert_eq!(r.to_json()["skipped"]["before_since"], 1);
    }
}
