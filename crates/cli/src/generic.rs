//! `read`, `write`, `list`, `delete`, `patch` and `unwrap`: the path-level
//! commands, each one request.

use crate::common::{self, Cmd, output_secret, parse_data, sanitize, usage};
use crate::format::{self, Format};
use anyhow::{Context, Result};
use serde_json::{Value, json};

const READ_HELP: &str = "Usage: coffer read [options] PATH

  Reads data from Coffer at the given path. This can be used to read secrets,
  generate dynamic credentials, get configuration details, and more.

  Read a secret from the static secrets engine:

      $ coffer read secret/my-secret

  Extra K=V arguments are sent as query parameters.

Output Options:

  -field=<string>   Print only the field with the given name.
  -format=<string>  Print the output in the given format: table, json, yaml.
                    Env: VAULT_FORMAT.

";

const WRITE_HELP: &str = "Usage: coffer write [options] PATH [DATA K=V...]

  Writes data to Coffer at the given path. The data can be credentials,
  secrets, configuration, or arbitrary data.

  Persist data in the generic secrets engine:

      $ coffer write secret/my-secret foo=bar

  Values can come from a file (@) or stdin (-), so they need not be on the
  command line:

      $ coffer write secret/password value=@password.txt
      $ echo -n \"s3cret\" | coffer write secret/password value=-

  A single \"-\" reads a JSON object of data from stdin:

      $ echo '{\"foo\":\"bar\"}' | coffer write secret/foo -

Command Options:

  -force, -f        Allow the operation to continue with no key=value pairs.

Output Options:

  -field=<string>   Print only the field with the given name.
  -format=<string>  table, json or yaml.

";

const PATCH_HELP: &str = "Usage: coffer patch [options] PATH [DATA K=V...]

  Patches data in Coffer at the given path (HTTP PATCH, JSON merge patch).

      $ coffer patch secret/metadata/my-secret max_versions=5

  Values can come from a file (@) or stdin (-) as with \"coffer write\".

Command Options:

  -force, -f        Allow the operation to continue with no key=value pairs.

Output Options:

  -field=<string>   Print only the field with the given name.
  -format=<string>  table, json or yaml.

";

const LIST_HELP: &str = "Usage: coffer list [options] PATH

  Lists data from Coffer at the given path. This can be used to list keys in a
  given secrets engine.

      $ coffer list secret/my-app/

Output Options:

  -format=<string>  table, json or yaml.

";

const DELETE_HELP: &str = "Usage: coffer delete [options] PATH [K=V...]

  Deletes secrets and configuration from Coffer at the given path.

      $ coffer delete secret/my-secret

  Extra K=V arguments are sent as query parameters.

";

const UNWRAP_HELP: &str = "Usage: coffer unwrap [options] [TOKEN]

  Unwraps a wrapped secret from Coffer by the given token. With no token,
  the token in use by the client (VAULT_TOKEN or ~/.vault-token) is treated
  as the wrapping token.

      $ coffer unwrap 3de9ece1-b347-e143-29b0-dc2dc31caafd

Output Options:

  -field=<string>   Print only the field with the given name.
  -format=<string>  table, json or yaml.

";

fn help(base: &str) -> String {
    format!("{base}{}", crate::client::HTTP_HELP)
}

fn query_of(args: &[String]) -> Result<Vec<(String, String)>> {
    let data = parse_data(args)?;
    let mut q = Vec::new();
    for (k, v) in data {
        match v {
            Value::Array(a) => q.extend(a.into_iter().map(|x| (k.clone(), x.as_str().unwrap_or_default().to_string()))),
            Value::String(s) => q.push((k, s)),
            other => q.push((k, other.to_string())),
        }
    }
    Ok(q)
}

pub fn read(argv: &[String]) -> Result<i32> {
    let Some(c) = common::parse(argv, &help(READ_HELP), &[], &["field"])? else { return Ok(0) };
    if c.args().is_empty() {
        return Err(usage(format!("Not enough arguments (expected 1, got {})", c.args().len())));
    }
    let path = sanitize(&c.args()[0]);
    let query = query_of(&c.args()[1..])?;
    let client = c.client()?;
    let s = client.read(&path, &query).with_context(|| format!("Error reading {path}"))?;
    let Some(s) = s else {
        eprintln!("No value found at {path}");
        return Ok(2);
    };
    output_secret(&c, &s)
}

fn write_like(argv: &[String], help_text: &str, patch: bool) -> Result<i32> {
    let Some(c) = common::parse(argv, &help(help_text), &["force", "f"], &["field"])? else { return Ok(0) };
    if c.args().is_empty() {
        return Err(usage(format!("Not enough arguments (expected 1, got {})", c.args().len())));
    }
    let path = sanitize(&c.args()[0]);
    let data = parse_data(&c.args()[1..])?;
    if data.is_empty() && !(c.f.bool("force") || c.f.bool("f")) {
        return Err(usage("Must supply data or use -force"));
    }
    let client = c.client()?;
    let body = Value::Object(data);
    let res = if patch { client.patch(&path, &body) } else { client.write(&path, &body) };
    let s = res.with_context(|| format!("Error writing data to {path}"))?;
    finish_write(&c, &path, s)
}

/// Vault prints "Success! Data written to: ..." only for an empty response in table format.
pub fn finish_write(c: &Cmd, path: &str, s: Option<Value>) -> Result<i32> {
    match s {
        None => {
            if c.format == Format::Table {
                println!("Success! Data written to: {path}");
            }
            Ok(0)
        }
        Some(s) => output_secret(c, &s),
    }
}

pub fn write(argv: &[String]) -> Result<i32> {
    write_like(argv, WRITE_HELP, false)
}

pub fn patch(argv: &[String]) -> Result<i32> {
    write_like(argv, PATCH_HELP, true)
}

pub fn list(argv: &[String]) -> Result<i32> {
    let Some(c) = common::parse(argv, &help(LIST_HELP), &["detailed"], &[])? else { return Ok(0) };
    c.want_args(1, 1)?;
    let path = sanitize(&c.args()[0]);
    let client = c.client()?;
    let s = client.list(&path).with_context(|| format!("Error listing {path}"))?;
    print_list(&c, &path, s)
}

/// Vault's `OutputList`: keys under a "Keys" header, or the keys array in json/yaml.
pub fn print_list(c: &Cmd, path: &str, s: Option<Value>) -> Result<i32> {
    let keys = s.as_ref().and_then(|s| s.get("data")).and_then(|d| d.get("keys")).and_then(Value::as_array).cloned();
    let Some(keys) = keys.filter(|k| !k.is_empty()) else {
        eprintln!("No value found at {path}");
        return Ok(2);
    };
    print_keys(c.format, &keys);
    if c.format == Format::Table
        && let Some(w) = s.as_ref().and_then(format::warnings_text)
    {
        print!("\n{w}");
    }
    Ok(0)
}

pub fn print_keys(fmt: Format, keys: &[Value]) {
    format::print_struct(fmt, &Value::Array(keys.to_vec()), || {
        let mut rows = vec![vec!["Keys".to_string()], vec!["----".to_string()]];
        rows.extend(keys.iter().map(|k| vec![format::go_value(k)]));
        format::columns(&rows)
    });
}

pub fn delete(argv: &[String]) -> Result<i32> {
    let Some(c) = common::parse(argv, &help(DELETE_HELP), &[], &[])? else { return Ok(0) };
    if c.args().is_empty() {
        return Err(usage(format!("Not enough arguments (expected 1, got {})", c.args().len())));
    }
    let path = sanitize(&c.args()[0]);
    let query = query_of(&c.args()[1..])?;
    let client = c.client()?;
    let s = client.delete(&path, &query).with_context(|| format!("Error deleting {path}"))?;
    match s {
        Some(s) if c.format != Format::Table => output_secret(&c, &s),
        _ => {
            if c.format == Format::Table {
                println!("Success! Data deleted (if it existed) at: {path}");
            }
            Ok(0)
        }
    }
}

pub fn unwrap(argv: &[String]) -> Result<i32> {
    let Some(c) = common::parse(argv, &help(UNWRAP_HELP), &[], &["field"])? else { return Ok(0) };
    c.want_args(0, 1)?;
    let mut client = c.client()?;
    // Go's Logical().Unwrap: a given token is sent in the body, or used as the
    // client token when there is none
    let body = match c.args().first().map(|t| t.trim().to_string()) {
        Some(t) if client.token().is_none() => {
            client.set_token(Some(t));
            json!({})
        }
        Some(t) if Some(t.as_str()) != client.token() => json!({ "token": t }),
        _ => json!({}),
    };
    let s = client.write("sys/wrapping/unwrap", &body).context("Error unwrapping")?;
    let Some(s) = s else {
        eprintln!("Could not find wrapped response");
        return Ok(2);
    };
    output_secret(&c, &s)
}
