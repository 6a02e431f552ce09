//! `secrets enable|disable|list|tune|move` and `auth enable|disable|list|tune`:
//! the two mount tables share their flags and output.

use crate::common::{self, Cmd, usage};
use crate::format::{self, Format};
use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

const SECRETS_HELP: &str = "Usage: coffer secrets <subcommand> [options] [args]

  This command groups subcommands for interacting with secrets engines.

      $ coffer secrets list
      $ coffer secrets enable -path=kv2 -version=2 kv
      $ coffer secrets tune -default-lease-ttl=1h kv2/
      $ coffer secrets move kv2/ team-kv/
      $ coffer secrets disable team-kv/

Subcommands:
    disable    Disable a secrets engine
    enable     Enable a secrets engine
    list       List enabled secrets engines
    move       Move a secrets engine to a new path
    tune       Tune a secrets engine configuration
";

const AUTH_HELP: &str = "Usage: coffer auth <subcommand> [options] [args]

  This command groups subcommands for interacting with auth methods.

      $ coffer auth list
      $ coffer auth enable userpass
      $ coffer auth tune -default-lease-ttl=1h userpass/
      $ coffer auth disable userpass/

Subcommands:
    disable    Disables an auth method
    enable     Enables a new auth method
    list       Lists enabled auth methods
    tune       Tunes an auth method configuration
";

const MOUNT_OPTS: &str = "  -path=<string>                 Where to mount (default: the type).
  -description=<string>          Human-friendly description.
  -default-lease-ttl=<duration>  Default lease TTL.
  -max-lease-ttl=<duration>      Maximum lease TTL.
  -force-no-cache                Disable caching.
  -local                         Not replicated.
  -seal-wrap                     Seal-wrap the mount's data.
  -external-entropy-access       Allow external entropy.
  -options=<key=value>           Engine options; may repeat.
  -version=<int>                 Engine version (kv: 2 for versioned).
  -listing-visibility=<string>   unauth or hidden.
  -audit-non-hmac-request-keys=<string>, -audit-non-hmac-response-keys=<string>,
  -passthrough-request-headers=<string>, -allowed-response-headers=<string>
                                 May repeat.
  -plugin-version=<string>       Plugin version.
";

const BOOLS: &[&str] = &["force-no-cache", "local", "seal-wrap", "external-entropy-access", "detailed"];
const VALUED: &[&str] = &[
    "path",
    "description",
    "default-lease-ttl",
    "max-lease-ttl",
    "options",
    "version",
    "listing-visibility",
    "audit-non-hmac-request-keys",
    "audit-non-hmac-response-keys",
    "passthrough-request-headers",
    "allowed-response-headers",
    "plugin-version",
    "plugin-name",
    "token-type",
    "identity-token-key",
    "user-lockout-threshold",
    "user-lockout-duration",
];

#[derive(Clone, Copy, PartialEq)]
enum Table {
    Secrets,
    Auth,
}

impl Table {
    fn noun(self) -> &'static str {
        match self {
            Table::Secrets => "secrets engine",
            Table::Auth => "auth method",
        }
    }
    fn api(self) -> &'static str {
        match self {
            Table::Secrets => "sys/mounts",
            Table::Auth => "sys/auth",
        }
    }
}

fn h(group: &str, usage_line: &str, body: &str, opts: &str) -> String {
    format!(
        "Usage: coffer {group} {usage_line}\n\n{body}\n{}Output Options:\n\n  -format=<string>  table, json or yaml.\n\n{}",
        if opts.is_empty() { String::new() } else { format!("Command Options:\n\n{opts}\n") },
        crate::client::HTTP_HELP
    )
}

pub fn secrets(argv: &[String]) -> Result<i32> {
    group(argv, Table::Secrets, SECRETS_HELP)
}

pub fn auth(argv: &[String]) -> Result<i32> {
    group(argv, Table::Auth, AUTH_HELP)
}

fn group(argv: &[String], t: Table, help: &str) -> Result<i32> {
    let rest = argv.get(1..).unwrap_or_default();
    let name = if t == Table::Secrets { "secrets" } else { "auth" };
    match argv.first().map(String::as_str) {
        Some("enable") => enable(rest, t),
        Some("disable") => disable(rest, t),
        Some("list") => list(rest, t),
        Some("tune") => tune(rest, t),
        Some("move") if t == Table::Secrets => move_(rest),
        other => common::group_fallback(other, help, name),
    }
}

fn ensure_slash(p: &str) -> String {
    let p = p.trim().trim_start_matches('/');
    if p.ends_with('/') { p.to_string() } else { format!("{p}/") }
}

/// The `config` object and `options` from the tuning flags.
fn config_of(c: &Cmd, t: Table) -> Result<(Map<String, Value>, Map<String, Value>)> {
    let f = &c.f;
    let mut cfg = Map::new();
    for (flag, key) in [("default-lease-ttl", "default_lease_ttl"), ("max-lease-ttl", "max_lease_ttl"), ("listing-visibility", "listing_visibility"), ("plugin-version", "plugin_version")] {
        if let Some(v) = f.get(flag) {
            cfg.insert(key.into(), json!(v));
        }
    }
    if t == Table::Auth
        && let Some(v) = f.get("token-type")
    {
        cfg.insert("token_type".into(), json!(v));
    }
    for (flag, key) in [
        ("audit-non-hmac-request-keys", "audit_non_hmac_request_keys"),
        ("audit-non-hmac-response-keys", "audit_non_hmac_response_keys"),
        ("passthrough-request-headers", "passthrough_request_headers"),
        ("allowed-response-headers", "allowed_response_headers"),
    ] {
        let all = f.all(flag);
        if !all.is_empty() {
            cfg.insert(key.into(), json!(all));
        }
    }
    if f.bool("force-no-cache") {
        cfg.insert("force_no_cache".into(), json!(true));
    }
    let mut opts = Map::new();
    for o in f.all("options") {
        let Some((k, v)) = o.split_once('=') else {
            return Err(usage(format!("invalid -options {o:?}: format must be key=value")));
        };
        opts.insert(k.into(), json!(v));
    }
    if let Some(v) = f.get("version") {
        opts.insert("version".into(), json!(v));
    }
    Ok((cfg, opts))
}

fn enable(argv: &[String], t: Table) -> Result<i32> {
    let group = if t == Table::Secrets { "secrets" } else { "auth" };
    let help = h(
        group,
        "enable [options] TYPE",
        &format!("  Enables a {} of type TYPE at -path (default: TYPE).\n\n      $ coffer {group} enable {}\n", t.noun(), if t == Table::Secrets { "-path=kv2 -version=2 kv" } else { "-path=users userpass" }),
        MOUNT_OPTS,
    );
    let Some(c) = common::parse(argv, &help, BOOLS, VALUED)? else { return Ok(0) };
    c.want_args(1, 1)?;
    let mut typ = c.args()[0].trim().to_string();
    // the success line names the type as given ("kv-v2"), as the Vault CLI's does
    let given = typ.clone();
    let path = ensure_slash(c.f.get("path").unwrap_or(&typ));
    let (cfg, mut opts) = config_of(&c, t)?;
    if t == Table::Secrets && typ == "kv-v2" {
        typ = "kv".into();
        opts.insert("version".into(), json!("2"));
    }
    let mut body = json!({ "type": typ });
    if let Some(d) = c.f.get("description") {
        body["description"] = json!(d);
    }
    if !cfg.is_empty() {
        body["config"] = Value::Object(cfg);
    }
    if !opts.is_empty() {
        body["options"] = Value::Object(opts);
    }
    for (flag, key) in [("local", "local"), ("seal-wrap", "seal_wrap"), ("external-entropy-access", "external_entropy_access")] {
        if c.f.bool(flag) {
            body[key] = json!(true);
        }
    }
    let client = c.client()?;
    let api = format!("{}/{}", t.api(), path.trim_end_matches('/'));
    match t {
        Table::Secrets => {
            client.write_method("POST", &api, &body).context("Error enabling")?;
            println!("Success! Enabled the {given} secrets engine at: {path}");
        }
        Table::Auth => {
            client.write_method("POST", &api, &body).with_context(|| format!("Error enabling {typ} auth"))?;
            println!("Success! Enabled {given} auth method at: {path}");
        }
    }
    Ok(0)
}

fn disable(argv: &[String], t: Table) -> Result<i32> {
    let group = if t == Table::Secrets { "secrets" } else { "auth" };
    let help = h(group, "disable [options] PATH", &format!("  Disables the {} at PATH; its data is removed.\n\n      $ coffer {group} disable my-mount/\n", t.noun()), "");
    let Some(c) = common::parse(argv, &help, &[], &[])? else { return Ok(0) };
    c.want_args(1, 1)?;
    let path = ensure_slash(&c.args()[0]);
    let client = c.client()?;
    client
        .delete(&format!("{}/{}", t.api(), path.trim_end_matches('/')), &[])
        .with_context(|| format!("Error disabling {} at {path}", t.noun()))?;
    match t {
        Table::Secrets => println!("Success! Disabled the secrets engine (if it existed) at: {path}"),
        Table::Auth => println!("Success! Disabled the auth method (if it existed) at: {path}"),
    }
    Ok(0)
}

/// A mount as the Go `MountOutput` struct marshals it.
fn mount_output(m: &Value) -> Value {
    let g = |k: &str, d: Value| m.get(k).cloned().unwrap_or(d);
    let cfg = m.get("config").cloned().unwrap_or(json!({}));
    let mut c = Map::new();
    c.insert("default_lease_ttl".into(), cfg.get("default_lease_ttl").cloned().unwrap_or(json!(0)));
    c.insert("max_lease_ttl".into(), cfg.get("max_lease_ttl").cloned().unwrap_or(json!(0)));
    c.insert("force_no_cache".into(), cfg.get("force_no_cache").cloned().unwrap_or(json!(false)));
    for k in [
        "audit_non_hmac_request_keys",
        "audit_non_hmac_response_keys",
        "listing_visibility",
        "passthrough_request_headers",
        "allowed_response_headers",
        "token_type",
        "allowed_managed_keys",
        "user_lockout_config",
        "plugin_version",
    ] {
        if let Some(v) = cfg.get(k).filter(|v| !(v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(|a| a.is_empty()))) {
            c.insert(k.into(), v.clone());
        }
    }
    json!({
        "uuid": g("uuid", json!("")),
        "type": g("type", json!("")),
        "description": g("description", json!("")),
        "accessor": g("accessor", json!("")),
        "config": Value::Object(c),
        "options": format::sorted(&g("options", Value::Null)),
        "local": g("local", json!(false)),
        "seal_wrap": g("seal_wrap", json!(false)),
        "external_entropy_access": g("external_entropy_access", json!(false)),
        "plugin_version": g("plugin_version", json!("")),
        "running_plugin_version": g("running_plugin_version", json!("")),
        "running_sha256": g("running_sha256", json!("")),
        "deprecation_status": g("deprecation_status", json!("")),
    })
}

/// Vault prints raw seconds, "system" for 0, and n/a for the built-in mounts.
fn ttl_cell(typ: &Value, v: Option<&Value>) -> String {
    if matches!(typ.as_str(), Some("cubbyhole" | "system" | "identity")) {
        return "n/a".into();
    }
    match v.and_then(Value::as_i64) {
        Some(0) | None => "system".into(),
        Some(n) => n.to_string(),
    }
}

fn na(s: &str) -> String {
    if s.is_empty() { "n/a".into() } else { s.to_string() }
}

fn list(argv: &[String], t: Table) -> Result<i32> {
    let group = if t == Table::Secrets { "secrets" } else { "auth" };
    let help = h(group, "list [options]", &format!("  Lists the enabled {}s.\n\n      $ coffer {group} list\n      $ coffer {group} list -detailed\n", t.noun()), "  -detailed         Print more columns.\n");
    let Some(c) = common::parse(argv, &help, &["detailed"], &[])? else { return Ok(0) };
    c.want_args(0, 0)?;
    let client = c.client()?;
    let what = if t == Table::Secrets { "Error listing secrets engines" } else { "Error listing enabled authentications" };
    let s = client.read(t.api(), &[]).context(what)?.unwrap_or(Value::Null);
    let data = s.get("data").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut out = Map::new();
    let mut paths: Vec<&String> = data.keys().collect();
    paths.sort();
    for p in &paths {
        out.insert((*p).clone(), mount_output(&data[*p]));
    }
    let detailed = c.f.bool("detailed");
    format::print_struct(c.format, &Value::Object(out.clone()), || {
        let mut rows: Vec<Vec<String>> = Vec::new();
        if detailed {
            let mut head: Vec<String> = ["Path", "Plugin", "Accessor", "Default TTL", "Max TTL"].iter().map(|s| s.to_string()).collect();
            if t == Table::Auth {
                head.push("Token Type".into());
            } else {
                head.push("Force No Cache".into());
            }
            head.extend(["Replication", "Seal Wrap", "External Entropy Access", "Options", "Description", "UUID", "Version", "Running Version", "Running SHA256", "Deprecation Status"].iter().map(|s| s.to_string()));
            rows.push(head.clone());
            rows.push(head.iter().map(|h| "-".repeat(h.len())).collect());
            for p in &paths {
                let m = &out[*p];
                let cfg = &m["config"];
                let mut r = vec![(*p).clone(), format::go_value(&m["type"]), format::go_value(&m["accessor"]), ttl_cell(&m["type"], cfg.get("default_lease_ttl")), ttl_cell(&m["type"], cfg.get("max_lease_ttl"))];
                if t == Table::Auth {
                    r.push(na(cfg.get("token_type").and_then(Value::as_str).unwrap_or("")));
                } else {
                    r.push(format::go_value(&cfg["force_no_cache"]));
                }
                let opts = if m["options"].is_null() { "map[]".to_string() } else { format::go_value(&m["options"]) };
                r.extend([
                    if m["local"].as_bool().unwrap_or(false) { "local".into() } else { "replicated".into() },
                    format::go_value(&m["seal_wrap"]),
                    format::go_value(&m["external_entropy_access"]),
                    opts,
                    na(m["description"].as_str().unwrap_or("")),
                    format::go_value(&m["uuid"]),
                    na(m["plugin_version"].as_str().unwrap_or("")),
                    na(m["running_plugin_version"].as_str().unwrap_or("")),
                    na(m["running_sha256"].as_str().unwrap_or("")),
                    na(m["deprecation_status"].as_str().unwrap_or("")),
                ]);
                rows.push(r);
            }
        } else {
            let mut head = vec!["Path".to_string(), "Type".into(), "Accessor".into(), "Description".into()];
            if t == Table::Auth {
                head.push("Version".into());
            }
            rows.push(head.clone());
            rows.push(head.iter().map(|h| "-".repeat(h.len())).collect());
            for p in &paths {
                let m = &out[*p];
                let mut r = vec![(*p).clone(), format::go_value(&m["type"]), format::go_value(&m["accessor"]), na(m["description"].as_str().unwrap_or(""))];
                if t == Table::Auth {
                    r.push(na(m["plugin_version"].as_str().unwrap_or("")));
                }
                rows.push(r);
            }
        }
        format::columns(&rows)
    });
    Ok(0)
}

fn tune(argv: &[String], t: Table) -> Result<i32> {
    let group = if t == Table::Secrets { "secrets" } else { "auth" };
    let help = h(group, "tune [options] PATH", &format!("  Tunes the configuration of the {} at PATH.\n\n      $ coffer {group} tune -default-lease-ttl=72h -max-lease-ttl=768h my-mount/\n", t.noun()), MOUNT_OPTS);
    let Some(c) = common::parse(argv, &help, BOOLS, VALUED)? else { return Ok(0) };
    c.want_args(1, 1)?;
    let path = ensure_slash(&c.args()[0]);
    let (cfg, opts) = config_of(&c, t)?;
    let mut body = Value::Object(cfg);
    if let Some(d) = c.f.get("description") {
        body["description"] = json!(d);
    }
    if !opts.is_empty() {
        body["options"] = Value::Object(opts);
    }
    let api = match t {
        Table::Secrets => format!("sys/mounts/{}/tune", path.trim_end_matches('/')),
        Table::Auth => format!("sys/mounts/auth/{}/tune", path.trim_end_matches('/')),
    };
    let client = c.client()?;
    client.write_method("POST", &api, &body).with_context(|| format!("Error tuning {} {path}", t.noun()))?;
    match t {
        Table::Secrets => println!("Success! Tuned the secrets engine at: {path}"),
        Table::Auth => println!("Success! Tuned the auth method at: {path}"),
    }
    Ok(0)
}

fn move_(argv: &[String]) -> Result<i32> {
    let help = h("secrets", "move [options] SOURCE DESTINATION", "  Moves an existing secrets engine to a new path. Its data and configuration\n  move with it; leases issued under the old path are revoked.\n\n      $ coffer secrets move secret/ generic/\n", "");
    let Some(c) = common::parse(argv, &help, &[], &[])? else { return Ok(0) };
    c.want_args(2, 2)?;
    let from = ensure_slash(&c.args()[0]);
    let to = ensure_slash(&c.args()[1]);
    let client = c.client()?;
    let s = client
        .write_method("POST", "sys/remount", &json!({ "from": from, "to": to }))
        .with_context(|| format!("Error moving secrets engine {from} to {to}"))?;
    let id = s.as_ref().and_then(|s| s.get("data").and_then(|d| d.get("migration_id")).or(s.get("migration_id"))).and_then(Value::as_str).map(str::to_string);
    match id {
        Some(id) => {
            println!("Started moving secrets engine {from} to {to}, with migration ID {id}");
            // the remount runs in the background: poll its status
            for _ in 0..600 {
                let st = client.read(&format!("sys/remount/status/{id}"), &[]).with_context(|| format!("Error checking migration status of secrets engine {from} to {to}"))?;
                let status = st
                    .as_ref()
                    .and_then(|s| s.get("data"))
                    .and_then(|d| d.get("migration_info"))
                    .and_then(|m| m.get("status"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if status == "success" {
                    println!("Success! Finished moving secrets engine {from} to {to}, with migration ID {id}");
                    return Ok(0);
                }
                if status == "failure" {
                    eprintln!("Failure! Error encountered moving secrets engine {from} to {to}, with migration ID {id}");
                    return Ok(2);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            eprintln!("Timed out waiting for migration {id}");
            Ok(2)
        }
        None => {
            println!("Success! Moved secrets engine {from} to {to}");
            Ok(0)
        }
    }
}

#[allow(dead_code)]
fn _unused(f: Format) -> Format {
    f
}
