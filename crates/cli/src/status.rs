//! `status`, `version` and `print token`.

use crate::common::{self, usage};
use crate::format::{self, Format};
use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

const STATUS_HELP: &str = "Usage: coffer status [options]

  Prints the current state of Coffer including whether it is sealed and if HA
  mode is enabled. This command prints regardless of whether Coffer is sealed.

  The exit code reflects the seal status:

      - 0 - unsealed
      - 1 - error
      - 2 - sealed

      $ coffer status

Output Options:

  -format=<string>  table, json or yaml.

";

/// The `sys/seal-status` answer as the Go SealStatusResponse marshals it,
/// plus `ha_enabled` (and leader fields) from `sys/leader`.
pub fn seal_status_json(st: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    let get = |k: &str, d: Value| st.get(k).cloned().unwrap_or(d);
    m.insert("type".into(), get("type", json!("")));
    m.insert("initialized".into(), get("initialized", json!(false)));
    m.insert("sealed".into(), get("sealed", json!(false)));
    m.insert("t".into(), get("t", json!(0)));
    m.insert("n".into(), get("n", json!(0)));
    m.insert("progress".into(), get("progress", json!(0)));
    m.insert("nonce".into(), get("nonce", json!("")));
    m.insert("version".into(), get("version", json!("")));
    m.insert("commit_date".into(), get("commit_date", json!("")));
    m.insert("migration".into(), get("migration", json!(false)));
    for k in ["cluster_name", "cluster_id"] {
        if let Some(v) = st.get(k).filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
            m.insert(k.into(), v.clone());
        }
    }
    m.insert("recovery_seal".into(), get("recovery_seal", json!(false)));
    for k in ["recovery_seal_type", "storage_type"] {
        if let Some(v) = st.get(k).filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
            m.insert(k.into(), v.clone());
        }
    }
    m.insert("build_date".into(), get("build_date", json!("")));
    if let Some(w) = st.get("warnings").filter(|w| w.as_array().is_some_and(|a| !a.is_empty())) {
        m.insert("warnings".into(), w.clone());
    }
    m
}

/// Table rows of a seal status (shared with `operator unseal`).
pub fn seal_status_rows(st: &Value) -> Vec<Vec<String>> {
    let s = |k: &str| st.get(k).map(format::go_value).unwrap_or_default();
    let recovery = st.get("recovery_seal").and_then(Value::as_bool).unwrap_or(false);
    let mut rows = vec![
        vec!["Seal Type".into(), s("type")],
        vec!["Initialized".into(), s("initialized")],
        vec!["Sealed".into(), s("sealed")],
        vec![if recovery { "Total Recovery Shares" } else { "Total Shares" }.into(), s("n")],
        vec!["Threshold".into(), s("t")],
    ];
    if st.get("sealed").and_then(Value::as_bool).unwrap_or(false) {
        rows.push(vec!["Unseal Progress".into(), format!("{}/{}", s("progress"), s("t"))]);
        rows.push(vec!["Unseal Nonce".into(), if s("nonce").is_empty() { "n/a".into() } else { s("nonce") }]);
    }
    if st.get("migration").and_then(Value::as_bool).unwrap_or(false) {
        rows.push(vec!["Seal Migration in Progress".into(), "true".into()]);
    }
    rows.push(vec!["Version".into(), s("version")]);
    for (label, k) in [("Build Date", "build_date"), ("Storage Type", "storage_type"), ("Cluster Name", "cluster_name"), ("Cluster ID", "cluster_id")] {
        let v = s(k);
        if !v.is_empty() && v != "<nil>" {
            rows.push(vec![label.into(), v]);
        }
    }
    rows
}

pub fn status(argv: &[String]) -> Result<i32> {
    let Some(c) = common::parse(argv, &format!("{STATUS_HELP}{}", crate::client::HTTP_HELP), &[], &[])? else { return Ok(0) };
    c.want_args(0, 0)?;
    let client = c.client()?;
    let st = match client.read("sys/seal-status", &[]) {
        Ok(Some(v)) => v,
        Ok(None) => {
            eprintln!("Error checking seal status: no seal status returned");
            return Ok(1);
        }
        Err(e) => {
            eprintln!("Error checking seal status: {e:#}");
            return Ok(1);
        }
    };
    let sealed = st.get("sealed").and_then(Value::as_bool).unwrap_or(true);
    let mut out = seal_status_json(&st);
    let mut rows = seal_status_rows(&st);
    // sys/leader answers while sealed too; HA details only when HA is on
    let leader = client.read("sys/leader", &[]).ok().flatten();
    let ha = leader.as_ref().and_then(|l| l.get("ha_enabled")).and_then(Value::as_bool).unwrap_or(false);
    out.insert("ha_enabled".into(), json!(ha));
    rows.push(vec!["HA Enabled".into(), ha.to_string()]);
    if ha && let Some(l) = &leader {
        for k in ["is_self", "active_time", "leader_address", "leader_cluster_address", "raft_committed_index", "raft_applied_index"] {
            if let Some(v) = l.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
        let is_self = l.get("is_self").and_then(Value::as_bool).unwrap_or(false);
        rows.push(vec!["HA Mode".into(), if is_self { "active" } else { "standby" }.into()]);
        if let Some(a) = l.get("leader_address").and_then(Value::as_str).filter(|_| !is_self) {
            rows.push(vec!["Active Node Address".into(), a.into()]);
        }
    }
    format::print_struct(c.format, &Value::Object(out), || format::key_value_table(rows));
    Ok(if sealed { 2 } else { 0 })
}

pub fn version(argv: &[String]) -> Result<i32> {
    if common::wants_help(argv) {
        print!("Usage: coffer version\n\n  Prints the version of this Coffer CLI.\n\n      $ coffer version\n\n");
        return Ok(0);
    }
    if !argv.is_empty() {
        return Err(usage(format!("Too many arguments (expected 0, got {})", argv.len())));
    }
    println!("Coffer v{}", env!("CARGO_PKG_VERSION"));
    Ok(0)
}

const PRINT_HELP: &str = "Usage: coffer print <subcommand>

  Prints runtime configuration of the CLI.

      $ coffer print token

Subcommands:
    token    Prints the token the CLI would use (VAULT_TOKEN or ~/.vault-token)
";

pub fn print(argv: &[String]) -> Result<i32> {
    match argv.first().map(String::as_str) {
        Some("token") => {
            if common::wants_help(&argv[1..]) {
                print!("Usage: coffer print token\n\n  Prints the token the CLI would send: VAULT_TOKEN (or COFFER_TOKEN),\n  else the one stored by \"coffer login\" in ~/.vault-token.\n\n      $ coffer print token\n\n");
                return Ok(0);
            }
            if argv.len() > 1 {
                return Err(usage(format!("Too many arguments (expected 0, got {})", argv.len() - 1)));
            }
            let t = match crate::client::env("TOKEN") {
                Some(t) => Some(t),
                None => crate::token_helper::get().context("Error getting token")?,
            };
            println!("{}", t.unwrap_or_default());
            Ok(0)
        }
        None | Some("-h" | "-help" | "--help") => {
            print!("{PRINT_HELP}");
            Ok(if argv.is_empty() { 127 } else { 0 })
        }
        Some(other) => Err(usage(format!("Unknown subcommand: print {other}"))),
    }
}

#[allow(dead_code)]
pub fn is_table(f: Format) -> bool {
    f == Format::Table
}
