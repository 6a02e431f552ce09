//! `token create|lookup|renew|revoke|capabilities`.

use crate::common::{self, Cmd, output_secret, usage};
use crate::format::{self, Format};
use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

const HELP: &str = "Usage: coffer token <subcommand> [options] [args]

  This command groups subcommands for interacting with tokens.

  Create a token:

      $ coffer token create -policy=my-policy -ttl=1h

  Look up, renew and revoke it:

      $ coffer token lookup 96ddf4bc-d217-f3ba-f9bd-017055595017
      $ coffer token renew 96ddf4bc-d217-f3ba-f9bd-017055595017
      $ coffer token revoke 96ddf4bc-d217-f3ba-f9bd-017055595017

Subcommands:
    capabilities    Print capabilities of a token on a path
    create          Create a new token
    lookup          Display information about a token
    renew           Renew a token lease
    revoke          Revoke a token and its children
";

fn h(usage_line: &str, body: &str, opts: &str) -> String {
    format!(
        "Usage: coffer token {usage_line}\n\n{body}\n{}Output Options:\n\n  -field=<string>   Print only the field with the given name.\n  -format=<string>  table, json or yaml.\n\n{}",
        if opts.is_empty() { String::new() } else { format!("Command Options:\n\n{opts}\n") },
        crate::client::HTTP_HELP
    )
}

pub fn run(argv: &[String]) -> Result<i32> {
    let rest = argv.get(1..).unwrap_or_default();
    match argv.first().map(String::as_str) {
        Some("create") => create(rest),
        Some("lookup") => lookup(rest),
        Some("renew") => renew(rest),
        Some("revoke") => revoke(rest),
        Some("capabilities") => capabilities(rest),
        other => common::group_fallback(other, HELP, "token"),
    }
}

fn create(argv: &[String]) -> Result<i32> {
    let help = h(
        "create [options]",
        "  Creates a new token that can be used for authentication. The new token is\n  a child of the current token unless -orphan is given.\n\n      $ coffer token create -policy=foo -policy=bar -ttl=1h\n      $ coffer token create -period=30m -metadata=team=data\n      $ coffer token create -field=token -policy=app\n",
        "  -policy=<string>            Policy to attach; may repeat.\n  -ttl=<duration>             Initial TTL.\n  -explicit-max-ttl=<duration> Hard max lifetime.\n  -period=<duration>          Periodic token renewal period.\n  -renewable                  Allow renewal (default true).\n  -display-name=<string>      Display name.\n  -metadata=<key=value>       Metadata; may repeat.\n  -orphan                     Create without a parent.\n  -no-default-policy          Do not attach the default policy.\n  -use-limit=<int>            Number of uses.\n  -role=<string>              Token role to create against.\n  -type=<string>              service or batch.\n  -id=<string>                Explicit token id (root only).\n",
    );
    let Some(c) = common::parse(
        argv,
        &help,
        &["renewable", "orphan", "no-default-policy"],
        &["field", "policy", "ttl", "explicit-max-ttl", "period", "display-name", "metadata", "use-limit", "role", "type", "id", "entity-alias"],
    )?
    else {
        return Ok(0);
    };
    c.want_args(0, 0)?;
    let f = &c.f;
    let mut b = Map::new();
    if let Some(v) = f.get("id") {
        b.insert("id".into(), json!(v));
    }
    let mut pols: Vec<String> = Vec::new();
    for p in f.all("policy") {
        pols.extend(p.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
    }
    if !pols.is_empty() {
        b.insert("policies".into(), json!(pols));
    }
    let meta = f.all("metadata");
    if !meta.is_empty() {
        let mut m = Map::new();
        for kv in meta {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(usage(format!("invalid -metadata {kv:?}: format must be key=value")));
            };
            m.insert(k.into(), json!(v));
        }
        b.insert("meta".into(), Value::Object(m));
    }
    for (flag, key) in [("ttl", "ttl"), ("explicit-max-ttl", "explicit_max_ttl"), ("period", "period"), ("display-name", "display_name"), ("type", "type"), ("entity-alias", "entity_alias")] {
        if let Some(v) = f.get(flag) {
            b.insert(key.into(), json!(v));
        }
    }
    if f.bool("no-default-policy") {
        b.insert("no_default_policy".into(), json!(true));
    }
    if let Some(v) = f.get("use-limit") {
        let n: i64 = v.parse().map_err(|_| usage(format!("invalid value {v:?} for flag -use-limit: parse error")))?;
        b.insert("num_uses".into(), json!(n));
    }
    b.insert("renewable".into(), json!(!f.has("renewable") || f.bool("renewable")));
    let path = match (f.get("role"), f.bool("orphan")) {
        (Some(r), _) => format!("auth/token/create/{r}"),
        (None, true) => "auth/token/create-orphan".into(),
        (None, false) => "auth/token/create".into(),
    };
    let client = c.client()?;
    let s = client.write_method("POST", &path, &Value::Object(b)).context("Error creating token")?;
    let Some(s) = s else {
        eprintln!("Error creating token: empty response");
        return Ok(2);
    };
    output_secret(&c, &s)
}

fn lookup(argv: &[String]) -> Result<i32> {
    let help = h(
        "lookup [options] [TOKEN | ACCESSOR]",
        "  Displays information about a token or accessor. With no argument, looks\n  up the token in use.\n\n      $ coffer token lookup\n      $ coffer token lookup 96ddf4bc-d217-f3ba-f9bd-017055595017\n      $ coffer token lookup -accessor 9793c9b3-e04a-46f3-e7b8-748d7da248da\n",
        "  -accessor         Treat the argument as an accessor.\n",
    );
    let Some(c) = common::parse(argv, &help, &["accessor"], &["field"])? else { return Ok(0) };
    c.want_args(0, 1)?;
    let client = c.client()?;
    let s = match (c.args().first(), c.f.bool("accessor")) {
        (None, true) => return Err(usage("Not enough arguments (expected 1, got 0)")),
        (None, false) => client.read("auth/token/lookup-self", &[]),
        (Some(a), true) => client.write("auth/token/lookup-accessor", &json!({ "accessor": a })),
        (Some(t), false) => client.write("auth/token/lookup", &json!({ "token": t })),
    }
    .context("Error looking up token")?;
    finish(&c, s, "Error looking up token: empty response")
}

fn finish(c: &Cmd, s: Option<Value>, empty: &str) -> Result<i32> {
    match s {
        Some(s) => output_secret(c, &s),
        None => {
            eprintln!("{empty}");
            Ok(2)
        }
    }
}

fn renew(argv: &[String]) -> Result<i32> {
    let help = h(
        "renew [options] [TOKEN]",
        "  Renews a token's lease, extending the amount of time it can be used. With\n  no argument, renews the token in use.\n\n      $ coffer token renew\n      $ coffer token renew -increment=30m 96ddf4bc-d217-f3ba-f9bd-017055595017\n",
        "  -accessor             Treat the argument as an accessor.\n  -increment=<duration> Requested extension (alias -i).\n",
    );
    let Some(c) = common::parse(argv, &help, &["accessor"], &["field", "increment", "i"])? else { return Ok(0) };
    c.want_args(0, 1)?;
    let inc = c.f.get("increment").or(c.f.get("i"));
    let mut body = Map::new();
    if let Some(i) = inc {
        body.insert("increment".into(), json!(i));
    }
    let client = c.client()?;
    let path = match (c.args().first(), c.f.bool("accessor")) {
        (None, _) => "auth/token/renew-self",
        (Some(a), true) => {
            body.insert("accessor".into(), json!(a));
            "auth/token/renew-accessor"
        }
        (Some(t), false) => {
            body.insert("token".into(), json!(t));
            "auth/token/renew"
        }
    };
    let s = client.write(path, &Value::Object(body)).context("Error renewing token")?;
    finish(&c, s, "Error renewing token: empty response")
}

fn revoke(argv: &[String]) -> Result<i32> {
    let help = h(
        "revoke [options] [TOKEN | ACCESSOR]",
        "  Revokes authentication tokens and their children. By default the token\n  and all its children are revoked.\n\n      $ coffer token revoke 96ddf4bc-d217-f3ba-f9bd-017055595017\n      $ coffer token revoke -self\n      $ coffer token revoke -mode=orphan 96ddf4bc-d217-f3ba-f9bd-017055595017\n      $ coffer token revoke -accessor 9793c9b3-e04a-46f3-e7b8-748d7da248da\n",
        "  -accessor         Treat the argument as an accessor.\n  -self             Revoke the token in use.\n  -mode=<string>    \"orphan\" keeps the children.\n",
    );
    let Some(c) = common::parse(argv, &help, &["accessor", "self"], &["mode"])? else { return Ok(0) };
    c.want_args(0, 1)?;
    let is_self = c.f.bool("self");
    let accessor = c.f.bool("accessor");
    let mode = c.f.get("mode").unwrap_or("");
    if is_self && !c.args().is_empty() {
        return Err(usage("Too many arguments (expected 0, got 1)"));
    }
    if !is_self && c.args().is_empty() {
        return Err(usage("Not enough arguments (expected 1 or -self, got 0)"));
    }
    if is_self && accessor {
        return Err(usage("Cannot use -self with -accessor!"));
    }
    if !mode.is_empty() && mode != "orphan" && mode != "path" {
        return Err(usage(format!("Invalid mode: {mode}")));
    }
    let client = c.client()?;
    let res = if is_self {
        client.write("auth/token/revoke-self", &json!({}))
    } else if accessor {
        client.write("auth/token/revoke-accessor", &json!({ "accessor": c.args()[0] }))
    } else if mode == "orphan" {
        client.write("auth/token/revoke-orphan", &json!({ "token": c.args()[0] }))
    } else {
        client.write("auth/token/revoke", &json!({ "token": c.args()[0] }))
    };
    res.context("Error revoking token")?;
    println!("Success! Revoked token (if it existed)");
    Ok(0)
}

fn capabilities(argv: &[String]) -> Result<i32> {
    let help = h(
        "capabilities [options] [TOKEN] PATH",
        "  Fetches the capabilities of a token for a given path. With only a path,\n  the token in use is checked.\n\n      $ coffer token capabilities secret/foo\n      $ coffer token capabilities 96ddf4bc-d217-f3ba-f9bd-017055595017 secret/foo\n",
        "  -accessor         Treat the first argument as an accessor.\n",
    );
    let Some(c) = common::parse(argv, &help, &["accessor"], &[])? else { return Ok(0) };
    c.want_args(1, 2)?;
    let client = c.client()?;
    let (path, res) = match (c.args(), c.f.bool("accessor")) {
        ([p], false) => (p.clone(), client.write("sys/capabilities-self", &json!({ "paths": [p], "path": p }))),
        ([a, p], true) => (p.clone(), client.write("sys/capabilities-accessor", &json!({ "accessor": a, "paths": [p], "path": p }))),
        ([t, p], false) => (p.clone(), client.write("sys/capabilities", &json!({ "token": t, "paths": [p], "path": p }))),
        _ => return Err(usage("Not enough arguments (expected 2, got 1)")),
    };
    let s = res.context("Error listing capabilities")?.unwrap_or(Value::Null);
    let d = s.get("data").cloned().unwrap_or(Value::Null);
    let caps = d.get(&path).or(d.get("capabilities")).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut names: Vec<String> = caps.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    names.sort();
    format::print_struct(c.format, &json!(names), || format!("{}\n", names.join(", ")));
    let _ = Format::Table;
    Ok(0)
}
