//! `policy list|read|write|delete|fmt` over `sys/policies/acl`.

use crate::common;
use crate::format::{self, Format};
use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};

const HELP: &str = "Usage: coffer policy <subcommand> [options] [args]

  This command groups subcommands for interacting with policies.

      $ coffer policy list
      $ coffer policy read my-policy
      $ coffer policy write my-policy /tmp/policy.hcl
      $ coffer policy delete my-policy

Subcommands:
    delete    Deletes a policy by name
    fmt       Formats a policy on disk
    list      Lists the installed policies
    read      Prints the contents of a policy
    write     Uploads a named policy from a file
";

fn h(usage_line: &str, body: &str) -> String {
    format!("Usage: coffer policy {usage_line}\n\n{body}\nOutput Options:\n\n  -format=<string>  table, json or yaml.\n\n{}", crate::client::HTTP_HELP)
}

pub fn run(argv: &[String]) -> Result<i32> {
    let rest = argv.get(1..).unwrap_or_default();
    match argv.first().map(String::as_str) {
        Some("list") => list(rest),
        Some("read") => read(rest),
        Some("write") => write(rest),
        Some("delete") => delete(rest),
        Some("fmt") => fmt(rest),
        other => common::group_fallback(other, HELP, "policy"),
    }
}

fn list(argv: &[String]) -> Result<i32> {
    let Some(c) = common::parse(argv, &h("list [options]", "  Lists the names of the policies that are installed.\n\n      $ coffer policy list\n"), &[], &[])? else {
        return Ok(0);
    };
    c.want_args(0, 0)?;
    let client = c.client()?;
    let s = client.list("sys/policies/acl").context("Error listing policies")?;
    let keys: Vec<Value> = s.and_then(|s| s.get("data").and_then(|d| d.get("keys")).and_then(Value::as_array).cloned()).unwrap_or_default();
    format::print_struct(c.format, &Value::Array(keys.clone()), || keys.iter().map(|k| format!("{}\n", format::go_value(k))).collect());
    Ok(0)
}

fn read(argv: &[String]) -> Result<i32> {
    let Some(c) = common::parse(argv, &h("read [options] [NAME]", "  Prints the contents and metadata of the policy named NAME.\n\n      $ coffer policy read my-policy\n"), &[], &[])? else {
        return Ok(0);
    };
    c.want_args(1, 1)?;
    let name = c.args()[0].trim().to_lowercase();
    let client = c.client()?;
    let s = client.read(&format!("sys/policies/acl/{name}"), &[]).with_context(|| format!("Error reading policy named {name}"))?;
    let Some(text) = s.and_then(|s| s.get("data").and_then(|d| d.get("policy")).and_then(Value::as_str).map(str::to_string)) else {
        eprintln!("No policy named: {name}");
        return Ok(2);
    };
    match c.format {
        Format::Table | Format::Raw => println!("{}", text.trim()),
        _ => format::print_struct(c.format, &json!({ "policy": text }), String::new),
    }
    Ok(0)
}

fn read_source(src: &str) -> Result<String> {
    if src == "-" {
        common::Stdin::new().read()
    } else {
        std::fs::read_to_string(src).map_err(|e| anyhow!("Error opening policy file {src:?}: {e}"))
    }
}

fn write(argv: &[String]) -> Result<i32> {
    let Some(c) = common::parse(
        argv,
        &h(
            "write [options] NAME PATH",
            "  Uploads a policy with name NAME from the contents of a local file PATH or\n  stdin (\"-\").\n\n      $ coffer policy write my-policy /tmp/policy.hcl\n      $ cat my-policy.hcl | coffer policy write my-policy -\n",
        ),
        &[],
        &[],
    )?
    else {
        return Ok(0);
    };
    c.want_args(2, 2)?;
    let name = c.args()[0].trim().to_lowercase();
    let text = read_source(&c.args()[1])?;
    let client = c.client()?;
    client.write(&format!("sys/policies/acl/{name}"), &json!({ "policy": text })).context("Error uploading policy")?;
    println!("Success! Uploaded policy: {name}");
    Ok(0)
}

fn delete(argv: &[String]) -> Result<i32> {
    let Some(c) = common::parse(argv, &h("delete [options] NAME", "  Deletes the policy named NAME. Deleting a policy that does not exist\n  succeeds.\n\n      $ coffer policy delete my-policy\n"), &[], &[])? else {
        return Ok(0);
    };
    c.want_args(1, 1)?;
    let name = c.args()[0].trim().to_lowercase();
    let client = c.client()?;
    client.delete(&format!("sys/policies/acl/{name}"), &[]).with_context(|| format!("Error deleting {name}"))?;
    println!("Success! Deleted policy: {name}");
    Ok(0)
}

fn fmt(argv: &[String]) -> Result<i32> {
    let help = "Usage: coffer policy fmt [options] PATH

  Formats a local policy file (HCL) in place: one path block per stanza,
  two-space indentation, attributes as `key = value`. The file is checked to
  be a valid policy first; nothing is written when it is not.

      $ coffer policy fmt my-policy.hcl

";
    let Some(c) = common::parse(argv, help, &[], &[])? else { return Ok(0) };
    c.want_args(1, 1)?;
    let path = &c.args()[0];
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("Error opening policy file: {e}"))?;
    let node = coffer_hcl::parse(&text).map_err(|e| anyhow!("Error parsing policy: {e}"))?;
    coffer_policy::parse("fmt", &text).map_err(|e| anyhow!("Error parsing policy: {e}"))?;
    let out = hcl_format(&node.to_json());
    std::fs::write(path, out).map_err(|e| anyhow!("Error writing policy file: {e}"))?;
    println!("Success! Formatted policy: {path}");
    Ok(0)
}

/// Canonical HCL for a policy's JSON form: `path "x" { key = value }` blocks.
fn hcl_format(v: &Value) -> String {
    let mut out = String::new();
    let Some(top) = v.as_object() else { return out };
    for (k, val) in top {
        match (k.as_str(), val) {
            ("path", pv @ (Value::Object(_) | Value::Array(_))) => {
                let groups: Vec<&serde_json::Map<String, Value>> = match pv {
                    Value::Array(a) => a.iter().filter_map(Value::as_object).collect(),
                    Value::Object(o) => vec![o],
                    _ => vec![],
                };
                for (p, body) in groups.into_iter().flatten() {
                    // a path may be given more than once: the parser returns a list
                    let bodies: Vec<&Value> = match body {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for b in bodies {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        out.push_str(&format!("path {} {{\n", serde_json::to_string(p).unwrap_or_default()));
                        if let Some(attrs) = b.as_object() {
                            block_body(attrs, 1, &mut out);
                        }
                        out.push_str("}\n");
                    }
                }
            }
            (k, v) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!("{k} = {}\n", hcl_value(v, 0)));
            }
        }
    }
    out
}

fn block_body(attrs: &serde_json::Map<String, Value>, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let width = attrs.iter().filter(|(_, v)| !v.is_object()).map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in attrs {
        if let Value::Object(inner) = v {
            out.push_str(&format!("{pad}{k} {{\n"));
            block_body(inner, depth + 1, out);
            out.push_str(&format!("{pad}}}\n"));
        } else {
            out.push_str(&format!("{pad}{k:width$} = {}\n", hcl_value(v, depth)));
        }
    }
}

fn hcl_value(v: &Value, _depth: usize) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(|x| hcl_value(x, 0)).collect::<Vec<_>>().join(", ")),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}
