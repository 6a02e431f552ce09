//! `operator init|unseal|seal|rotate|key-status`.

use crate::common::{self, usage};
use crate::format::{self, Format};
use crate::status::{seal_status_json, seal_status_rows};
use anyhow::{Context, Result};
use serde_json::{Value, json};

const HELP: &str = "Usage: coffer operator <subcommand> [options] [args]

  This command groups subcommands for operators interacting with Coffer.

      $ coffer operator init -key-shares=5 -key-threshold=3
      $ coffer operator unseal            # prompts for a key without echo
      $ coffer operator seal
      $ coffer operator rotate
      $ coffer operator key-status

Subcommands:
    init          Initializes a server
    key-status    Provides information about the active encryption key
    rotate        Rotates the underlying encryption key
    seal          Seals the server
    unseal        Unseals the server
";

fn h(u: &str, body: &str, opts: &str) -> String {
    format!(
        "Usage: coffer operator {u}\n\n{body}\n{}Output Options:\n\n  -format=<string>  table, json or yaml.\n\n{}",
        if opts.is_empty() { String::new() } else { format!("Command Options:\n\n{opts}\n") },
        crate::client::HTTP_HELP
    )
}

pub fn run(argv: &[String]) -> Result<i32> {
    let rest = argv.get(1..).unwrap_or_default();
    match argv.first().map(String::as_str) {
        Some("init") => init(rest),
        Some("unseal") => unseal(rest),
        Some("seal") => seal(rest),
        Some("rotate") => rotate(rest),
        Some("key-status") => key_status(rest),
        other => common::group_fallback(other, HELP, "operator"),
    }
}

fn init(argv: &[String]) -> Result<i32> {
    let help = h(
        "init [options]",
        "  Initializes a server: generates the root key, splits it into key shares\n  (Shamir) and returns the shares and the initial root token. This happens\n  once per cluster.\n\n      $ coffer operator init\n      $ coffer operator init -key-shares=3 -key-threshold=2\n      $ coffer operator init -status   # exit 0 if initialized, 2 if not\n",
        "  -key-shares=<int>      Number of key shares (default 5).\n  -key-threshold=<int>   Shares needed to unseal (default 3).\n  -status                Print the initialization status only.\n",
    );
    let Some(c) = common::parse(argv, &help, &["status"], &["key-shares", "n", "key-threshold", "t", "pgp-keys", "root-token-pgp-key", "recovery-shares", "recovery-threshold", "recovery-pgp-keys", "stored-shares"])? else {
        return Ok(0);
    };
    c.want_args(0, 0)?;
    let client = c.client()?;
    if c.f.bool("status") {
        let s = client.read("sys/init", &[]).context("Error checking init status")?.unwrap_or(Value::Null);
        if s.get("initialized").and_then(Value::as_bool).unwrap_or(false) {
            println!("Coffer is initialized");
            return Ok(0);
        }
        println!("Coffer is not initialized");
        return Ok(2);
    }
    let num = |names: [&str; 2], d: i64| -> Result<i64> {
        match c.f.get(names[0]).or(c.f.get(names[1])) {
            Some(v) => v.parse().map_err(|_| usage(format!("invalid value {v:?} for flag -{}: parse error", names[0]))),
            None => Ok(d),
        }
    };
    let shares = num(["key-shares", "n"], 5)?;
    let threshold = num(["key-threshold", "t"], 3)?;
    let mut body = json!({ "secret_shares": shares, "secret_threshold": threshold });
    if let Some(v) = c.f.get("recovery-shares") {
        body["recovery_shares"] = json!(v.parse::<i64>().map_err(|_| usage("invalid value for flag -recovery-shares"))?);
    }
    if let Some(v) = c.f.get("recovery-threshold") {
        body["recovery_threshold"] = json!(v.parse::<i64>().map_err(|_| usage("invalid value for flag -recovery-threshold"))?);
    }
    for (flag, key) in [("pgp-keys", "pgp_keys"), ("recovery-pgp-keys", "recovery_pgp_keys")] {
        if let Some(v) = c.f.get(flag) {
            body[key] = json!(v.split(',').map(str::trim).collect::<Vec<_>>());
        }
    }
    if let Some(v) = c.f.get("root-token-pgp-key") {
        body["root_token_pgp_key"] = json!(v);
    }
    let (_, r) = client.raw("PUT", "sys/init", &[], Some(&body)).context("Error initializing")?;
    let keys = r.get("keys").cloned().unwrap_or(Value::Null);
    let keys_b64 = r.get("keys_base64").cloned().unwrap_or(Value::Null);
    let out = json!({
        "unseal_keys_b64": keys_b64,
        "unseal_keys_hex": keys,
        "unseal_shares": shares,
        "unseal_threshold": threshold,
        "recovery_keys_b64": r.get("recovery_keys_base64").cloned().unwrap_or(Value::Null),
        "recovery_keys_hex": r.get("recovery_keys").cloned().unwrap_or(Value::Null),
        "recovery_keys_shares": body.get("recovery_shares").cloned().unwrap_or(json!(0)),
        "recovery_keys_threshold": body.get("recovery_threshold").cloned().unwrap_or(json!(0)),
        "root_token": r.get("root_token").cloned().unwrap_or(json!("")),
    });
    format::print_struct(c.format, &out, || {
        let mut s = String::new();
        for (i, k) in keys_b64.as_array().cloned().unwrap_or_default().iter().enumerate() {
            s.push_str(&format!("Unseal Key {}: {}\n", i + 1, k.as_str().unwrap_or_default()));
        }
        s.push_str(&format!("\nInitial Root Token: {}\n\n", out["root_token"].as_str().unwrap_or_default()));
        s.push_str(&format!(
            "Coffer initialized with {shares} key shares and a key threshold of {threshold}. Please securely
distribute the key shares printed above. When Coffer is re-sealed,
restarted, or stopped, you must supply at least {threshold} of these keys to unseal it
before it can start servicing requests.

Coffer does not store the generated root key. Without at least {threshold} keys to
reconstruct the root key, Coffer will remain permanently sealed!

Coffer cannot generate new unseal keys from a quorum of existing ones yet
(rekey): keep these key shares safe.
"
        ));
        s
    });
    Ok(0)
}

fn print_seal_status(c: &common::Cmd, client: &crate::client::Client, st: &Value) {
    let mut out = seal_status_json(st);
    let mut rows = seal_status_rows(st);
    let leader = client.read("sys/leader", &[]).ok().flatten();
    let ha = leader.as_ref().and_then(|l| l.get("ha_enabled")).and_then(Value::as_bool).unwrap_or(false);
    out.insert("ha_enabled".into(), json!(ha));
    rows.push(vec!["HA Enabled".into(), ha.to_string()]);
    format::print_struct(c.format, &Value::Object(out), || format::key_value_table(rows));
}

fn unseal(argv: &[String]) -> Result<i32> {
    let help = h(
        "unseal [options] [KEY]",
        "  Provides a portion of the root key to unseal the server. With no KEY, the\n  key is read from the terminal without echo, so it stays out of the shell\n  history and the process list. Run it once per key until the threshold is\n  reached.\n\n      $ coffer operator unseal\n      Unseal Key (will be hidden):\n\n      $ coffer operator unseal -reset   # discard the keys given so far\n",
        "  -reset            Discard previously-supplied unseal keys.\n  -migrate          Seal migration.\n",
    );
    let Some(c) = common::parse(argv, &help, &["reset", "migrate"], &[])? else { return Ok(0) };
    c.want_args(0, 1)?;
    let client = c.client()?;
    let body = if c.f.bool("reset") {
        json!({ "reset": true })
    } else {
        let key = match c.args().first() {
            Some(k) => k.trim().to_string(),
            None => crate::login::prompt_hidden("Unseal Key (will be hidden): ").context("Error unsealing: error reading key")?,
        };
        if key.is_empty() {
            return Err(usage("Error unsealing: no key given"));
        }
        let mut b = json!({ "key": key });
        if c.f.bool("migrate") {
            b["migrate"] = json!(true);
        }
        b
    };
    let (_, st) = client.raw("PUT", "sys/unseal", &[], Some(&body)).context("Error unsealing")?;
    print_seal_status(&c, &client, &st);
    Ok(0)
}

fn seal(argv: &[String]) -> Result<i32> {
    let help = h("seal [options]", "  Seals the server: the in-memory root key is thrown away and every request\n  but status/unseal is refused until it is unsealed again. Needs sudo.\n\n      $ coffer operator seal\n", "");
    let Some(c) = common::parse(argv, &help, &[], &[])? else { return Ok(0) };
    c.want_args(0, 0)?;
    c.client()?.raw("PUT", "sys/seal", &[], Some(&json!({}))).context("Error sealing")?;
    println!("Success! Coffer is sealed.");
    Ok(0)
}

fn key_status_out(c: &common::Cmd, s: &Value) {
    let d = s.get("data").cloned().unwrap_or_else(|| s.clone());
    let out = json!({
        "term": d.get("term").cloned().unwrap_or(json!(0)),
        "install_time": d.get("install_time").cloned().unwrap_or(json!("")),
        "encryptions": d.get("encryptions").cloned().unwrap_or(json!(0)),
    });
    format::print_struct(c.format, &out, || {
        let rows = vec![
            vec!["Key Term".to_string(), format::go_value(&out["term"])],
            vec!["Install Time".into(), short_time(out["install_time"].as_str().unwrap_or(""))],
            vec!["Encryption Count".into(), format::go_value(&out["encryptions"])],
        ];
        format::columns(&rows)
    });
}

/// Go's `time.RFC822` ("02 Jan 06 15:04 UTC") for an RFC 3339 UTC time.
fn short_time(t: &str) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let p = |a: usize, b: usize| t.get(a..b).and_then(|s| s.parse::<usize>().ok());
    match (p(0, 4), p(5, 7), p(8, 10), t.get(11..16)) {
        (Some(y), Some(m), Some(d), Some(hm)) if (1..=12).contains(&m) => format!("{d:02} {} {:02} {hm} UTC", MONTHS[m - 1], y % 100),
        _ => t.to_string(),
    }
}

fn key_status(argv: &[String]) -> Result<i32> {
    let help = h("key-status [options]", "  Provides information about the active encryption key: its term and install\n  time, and the number of encryptions done with it.\n\n      $ coffer operator key-status\n", "");
    let Some(c) = common::parse(argv, &help, &[], &[])? else { return Ok(0) };
    c.want_args(0, 0)?;
    let s = c.client()?.read("sys/key-status", &[]).context("Error reading key status")?.unwrap_or(Value::Null);
    key_status_out(&c, &s);
    Ok(0)
}

fn rotate(argv: &[String]) -> Result<i32> {
    let help = h("rotate [options]", "  Rotates the barrier encryption key: new data is written with a new key\n  term, old data stays readable. Needs sudo.\n\n      $ coffer operator rotate\n", "");
    let Some(c) = common::parse(argv, &help, &[], &[])? else { return Ok(0) };
    c.want_args(0, 0)?;
    let client = c.client()?;
    client.write("sys/rotate", &json!({})).context("Error rotating key")?;
    let s = client.read("sys/key-status", &[]).context("Error reading key status")?.unwrap_or(Value::Null);
    if c.format == Format::Table {
        println!("Success! Rotated key\n");
    }
    key_status_out(&c, &s);
    Ok(0)
}
