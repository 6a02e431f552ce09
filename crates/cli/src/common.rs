//! What every client command shares: flag parsing (command flags + HTTP
//! options + output options), `-h`, usage errors, and Vault's `key=value`
//! argument parsing with `key=-` (stdin) and `key=@file` values.

use crate::client::{self, Client};
use crate::flags::{self, Flags};
use crate::format::{self, Format};
use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value};
use std::io::Read;

/// A usage mistake: printed as is, exit code 1.
#[derive(Debug)]
pub struct Usage(pub String);
impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Usage {}

/// The arms every command group shares: `-h` prints the group's help (exit
/// 0), no subcommand prints it to stderr (exit 127, as Vault does), anything
/// else is a usage error naming the group.
pub fn group_fallback(sub: Option<&str>, help: &str, group: &str) -> anyhow::Result<i32> {
    match sub {
        Some("-h" | "-help" | "--help") => {
            print!("{help}");
            Ok(0)
        }
        None => {
            eprint!("{help}");
            Ok(127)
        }
        Some(other) => Err(usage(format!("Unknown subcommand: {group} {other}"))),
    }
}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(msg.into()))
}

pub struct Cmd {
    pub f: Flags,
    pub format: Format,
}

impl Cmd {
    pub fn args(&self) -> &[String] {
        &self.f.args
    }
    pub fn client(&self) -> Result<Client> {
        Client::from_flags(&self.f)
    }
    /// Exactly `n` positional arguments, with Vault's messages.
    pub fn want_args(&self, min: usize, max: usize) -> Result<()> {
        let n = self.f.args.len();
        if n < min {
            return Err(usage(format!("Not enough arguments (expected {min}, got {n})")));
        }
        if n > max {
            return Err(usage(format!("Too many arguments (expected {max}, got {n})")));
        }
        Ok(())
    }
}

pub fn wants_help(argv: &[String]) -> bool {
    // Go's flag package treats -h/-help anywhere among the leading flags as help
    for a in argv {
        if a == "-h" || a == "-help" || a == "--help" {
            return true;
        }
        if !a.starts_with('-') || a == "-" || a == "--" {
            return false;
        }
    }
    false
}

/// Parse `argv` for a client command. `None` means `-h` was printed.
pub fn parse(argv: &[String], help: &str, bools: &[&str], valued: &[&str]) -> Result<Option<Cmd>> {
    if wants_help(argv) {
        print!("{help}");
        if !help.contains("HTTP Options") && !help.starts_with("Usage: coffer") {
            // command groups have no HTTP options
        }
        return Ok(None);
    }
    let mut b: Vec<&str> = client::HTTP_BOOLS.to_vec();
    b.extend_from_slice(bools);
    let mut v: Vec<&str> = client::HTTP_VALUED.to_vec();
    v.push("format");
    v.extend_from_slice(valued);
    let f = flags::parse_go(argv, &b, &v).map_err(|e| usage(e.to_string()))?;
    let format = format::from_flag(f.get("format")).map_err(|e| usage(e.to_string()))?;
    Ok(Some(Cmd { f, format }))
}

/// Reads stdin once (a second `-` gets an error, like Vault).
pub struct Stdin {
    used: bool,
}

impl Stdin {
    pub fn new() -> Stdin {
        Stdin { used: false }
    }
    pub fn read(&mut self) -> Result<String> {
        if self.used {
            bail!("stdin already consumed");
        }
        self.used = true;
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| anyhow!("error reading stdin: {e}"))?;
        Ok(s)
    }
}

fn merge(into: &mut Map<String, Value>, k: String, v: Value) {
    match into.get_mut(&k) {
        None => {
            into.insert(k, v);
        }
        Some(Value::Array(a)) => a.push(v),
        Some(old) => {
            let prev = old.take();
            *old = Value::Array(vec![prev, v]);
        }
    }
}

fn read_json_obj(text: &str, what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => bail!("{what}: expected a JSON object"),
        Err(e) => bail!("{what}: invalid JSON: line {} column {}", e.line(), e.column()),
    }
}

/// Vault's `parseArgsData`: `k=v`, `k=-` (stdin), `k=@file`, `@file.json`,
/// `-` (a JSON object on stdin). Repeated keys become lists.
/// Errors name the argument, never a value read from stdin or a file.
pub fn parse_kv(args: &[String], stdin: &mut Stdin) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for a in args {
        if a == "-" {
            let text = stdin.read()?;
            for (k, v) in read_json_obj(&text, "stdin")? {
                merge(&mut out, k, v);
            }
            continue;
        }
        if let Some(file) = a.strip_prefix('@') {
            let text = std::fs::read_to_string(file).map_err(|e| anyhow!("error reading {file:?}: {e}"))?;
            for (k, v) in read_json_obj(&text, file)? {
                merge(&mut out, k, v);
            }
            continue;
        }
        let Some((k, v)) = a.split_once('=') else {
            bail!("invalid key/value pair {a:?}: format must be key=value");
        };
        let value = if v == "-" {
            stdin.read()?
        } else if let Some(file) = v.strip_prefix('@') {
            std::fs::read_to_string(file).map_err(|e| anyhow!("error reading file {file:?} for key {k:?}: {e}"))?
        } else if let Some(rest) = v.strip_prefix("\\@") {
            format!("@{rest}")
        } else {
            v.to_string()
        };
        merge(&mut out, k.to_string(), Value::String(value));
    }
    Ok(out)
}

/// `parse_kv` with Vault's error prefix, as a usage error (exit 1).
pub fn parse_data(args: &[String]) -> Result<Map<String, Value>> {
    let mut stdin = Stdin::new();
    parse_kv(args, &mut stdin).map_err(|e| usage(format!("Failed to parse K=V data: {e}")))
}

/// Strip a leading `/` and `v1/`-less path, as Vault's `sanitizePath`.
pub fn sanitize(p: &str) -> String {
    p.trim().trim_start_matches('/').trim_end_matches('/').to_string()
}

/// Print the secret, or only `-field` of it. Returns the exit code.
pub fn output_secret(c: &Cmd, s: &Value) -> Result<i32> {
    if let Some(field) = c.f.get("field") {
        return format::print_field(c.format, field, format::secret_field(s, field));
    }
    format::print_secret(c.format, s)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kv_args() {
        let dir = std::env::temp_dir().join(format!("coffer-kv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("v.txt");
        std::fs::write(&f, "from-file\n").unwrap();
        let args = vec!["a=1".to_string(), format!("b=@{}", f.display()), "a=2".into(), "c=\\@x".into(), "d=x=y".into()];
        let m = parse_kv(&args, &mut Stdin::new()).unwrap();
        assert_eq!(Value::Object(m), json!({"a": ["1", "2"], "b": "from-file\n", "c": "@x", "d": "x=y"}));
        let e = parse_kv(&["nope".into()], &mut Stdin::new()).unwrap_err();
        assert_eq!(e.to_string(), "invalid key/value pair \"nope\": format must be key=value");
        let mut s = Stdin { used: true };
        assert!(parse_kv(&["k=-".into()], &mut s).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
