//! Output the way the Vault CLI prints it: `table` (columns separated by four
//! spaces, Go `%v` values), `json` (Go's indented encoding: secret fields in
//! the api.Secret order, map keys sorted, `<>&` escaped) and `yaml` (keys
//! sorted), plus `-field` extraction.

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};
use std::io::{IsTerminal, Write};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Table,
    Json,
    Yaml,
    Raw,
}

/// `-format` flag, else `VAULT_FORMAT`/`COFFER_FORMAT`, else table.
pub fn from_flag(flag: Option<&str>) -> Result<Format> {
    let s = flag.map(str::to_string).or_else(|| crate::client::env("FORMAT")).unwrap_or_else(|| "table".into());
    Ok(match s.to_ascii_lowercase().as_str() {
        "table" | "" => Format::Table,
        "json" => Format::Json,
        "yaml" | "yml" => Format::Yaml,
        "raw" => Format::Raw,
        other => bail!("Invalid output format: {other}"),
    })
}

/// Recursively sort object keys (Go marshals maps in key order).
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Go's `json.MarshalIndent(v, "", "  ")`, HTML-escaped like encoding/json.
pub fn go_json(v: &Value) -> String {
    let s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    s.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

fn field(m: &Value, k: &str, default: Value) -> Value {
    match m.get(k) {
        Some(v) => sorted(v),
        None => default,
    }
}

/// A server response re-shaped as the Go `api.Secret` struct marshals it.
pub fn secret_json(s: &Value) -> Value {
    let mut out = Map::new();
    out.insert("request_id".into(), field(s, "request_id", json!("")));
    out.insert("lease_id".into(), field(s, "lease_id", json!("")));
    out.insert("lease_duration".into(), field(s, "lease_duration", json!(0)));
    out.insert("renewable".into(), field(s, "renewable", json!(false)));
    out.insert("data".into(), field(s, "data", Value::Null));
    out.insert("warnings".into(), field(s, "warnings", Value::Null));
    if let Some(w) = s.get("wrap_info").filter(|w| w.is_object()) {
        let mut wm = Map::new();
        for (k, d) in [
            ("token", json!("")),
            ("accessor", json!("")),
            ("ttl", json!(0)),
            ("creation_time", json!("")),
            ("creation_path", json!("")),
            ("wrapped_accessor", json!("")),
        ] {
            wm.insert(k.into(), field(w, k, d));
        }
        out.insert("wrap_info".into(), Value::Object(wm));
    }
    if let Some(a) = s.get("auth").filter(|a| a.is_object()) {
        let mut am = Map::new();
        for (k, d) in [
            ("client_token", json!("")),
            ("accessor", json!("")),
            ("policies", Value::Null),
            ("token_policies", Value::Null),
            ("identity_policies", Value::Null),
            ("metadata", Value::Null),
            ("orphan", json!(false)),
            ("entity_id", json!("")),
            ("lease_duration", json!(0)),
            ("renewable", json!(false)),
            ("mfa_requirement", Value::Null),
        ] {
            am.insert(k.into(), field(a, k, d));
        }
        out.insert("auth".into(), Value::Object(am));
    }
    Value::Object(out)
}

/// Go's `fmt.Sprintf("%v", v)` for a decoded JSON value.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            format!("map[{}]", keys.iter().map(|k| format!("{k}:{}", go_value(&m[*k]))).collect::<Vec<_>>().join(" "))
        }
    }
}

/// Go's `%q` of a string list: `["a" "b"]` (Vault prints policies this way).
pub fn go_quoted_list(v: Option<&Value>) -> String {
    let items: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|x| serde_json::to_string(&x.as_str().unwrap_or_default()).unwrap_or_default()).collect())
        .unwrap_or_default();
    format!("[{}]", items.join(" "))
}

/// Vault's `humanDuration`: Go duration text without trailing zero units.
pub fn human_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let neg = secs < 0;
    let s = secs.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out = format!("{h}h{m}m{sec}s");
    } else if m > 0 {
        out = format!("{m}m{sec}s");
    } else {
        out.push_str(&format!("{sec}s"));
    }
    if out.ends_with("m0s") {
        out.truncate(out.len() - 2);
    }
    if let Some(i) = out.find("h0m") {
        out = format!("{}{}", &out[..i + 1], &out[i + 3..]);
    }
    if neg { format!("-{out}") } else { out }
}

/// A TTL-looking value (seconds as number or numeric string) as a duration.
pub fn human_duration_value(v: &Value) -> String {
    match v {
        Value::Number(n) => n.as_i64().map(human_duration).unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.parse::<i64>().map(human_duration).unwrap_or_else(|_| s.clone()),
        other => go_value(other),
    }
}

fn looks_like_duration(k: &str) -> bool {
    k == "period" || k.ends_with("_period") || k == "ttl" || k.ends_with("_ttl")
}

/// columnize with Vault's settings: columns joined by four spaces, the last
/// column unpadded, empty cells shown as "n/a".
pub fn columns(rows: &[Vec<String>]) -> String {
    let ncol = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncol];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                line.push_str(c);
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 4));
            } else {
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn cell(v: &Value) -> String {
    let s = go_value(v);
    if s.is_empty() { "n/a".into() } else { s }
}

/// "Key / Value" table rows of a map, sorted, durations humanised.
pub fn kv_rows(m: &Map<String, Value>) -> Vec<Vec<String>> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let v = &m[k];
            let s = if looks_like_duration(k) && !v.is_null() { human_duration_value(v) } else { cell(v) };
            vec![k.clone(), s]
        })
        .collect()
}

pub fn key_value_table(rows: Vec<Vec<String>>) -> String {
    let mut all = vec![vec!["Key".to_string(), "Value".to_string()], vec!["---".to_string(), "-----".to_string()]];
    all.extend(rows);
    columns(&all)
}

/// The rows Vault's table formatter prints for a secret.
pub fn secret_rows(s: &Value, with_data: bool) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let lease = s.get("lease_duration").and_then(Value::as_i64).unwrap_or(0);
    let lease_id = s.get("lease_id").and_then(Value::as_str).unwrap_or("");
    if lease > 0 {
        if !lease_id.is_empty() {
            rows.push(vec!["lease_id".into(), lease_id.into()]);
            rows.push(vec!["lease_duration".into(), human_duration(lease)]);
            rows.push(vec!["lease_renewable".into(), go_value(s.get("renewable").unwrap_or(&json!(false)))]);
        } else {
            rows.push(vec!["refresh_interval".into(), human_duration(lease)]);
        }
    }
    if let Some(a) = s.get("auth").filter(|a| a.is_object()) {
        let dur = a.get("lease_duration").and_then(Value::as_i64).unwrap_or(0);
        rows.push(vec!["token".into(), a.get("client_token").map(cell).unwrap_or_default()]);
        rows.push(vec!["token_accessor".into(), a.get("accessor").map(cell).unwrap_or_default()]);
        rows.push(vec!["token_duration".into(), if dur == 0 { "∞".into() } else { human_duration(dur) }]);
        rows.push(vec!["token_renewable".into(), go_value(a.get("renewable").unwrap_or(&json!(false)))]);
        rows.push(vec!["token_policies".into(), go_quoted_list(a.get("token_policies"))]);
        rows.push(vec!["identity_policies".into(), go_quoted_list(a.get("identity_policies"))]);
        rows.push(vec!["policies".into(), go_quoted_list(a.get("policies"))]);
        if let Some(m) = a.get("metadata").and_then(Value::as_object) {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                rows.push(vec![format!("token_meta_{k}"), cell(&m[k])]);
            }
        }
    }
    if let Some(w) = s.get("wrap_info").filter(|w| w.is_object()) {
        rows.push(vec!["wrapping_token:".into(), w.get("token").map(cell).unwrap_or_default()]);
        rows.push(vec!["wrapping_accessor:".into(), w.get("accessor").map(cell).unwrap_or_default()]);
        rows.push(vec!["wrapping_token_ttl:".into(), human_duration(w.get("ttl").and_then(Value::as_i64).unwrap_or(0))]);
        rows.push(vec!["wrapping_token_creation_time:".into(), w.get("creation_time").map(go_value).unwrap_or_default()]);
        rows.push(vec!["wrapping_token_creation_path:".into(), w.get("creation_path").map(go_value).unwrap_or_default()]);
        if let Some(wa) = w.get("wrapped_accessor").and_then(Value::as_str).filter(|x| !x.is_empty()) {
            rows.push(vec!["wrapped_accessor:".into(), wa.into()]);
        }
    }
    if with_data && let Some(d) = s.get("data").and_then(Value::as_object) {
        rows.extend(kv_rows(d));
    }
    rows
}

pub fn warnings_text(s: &Value) -> Option<String> {
    let w = s.get("warnings")?.as_array()?;
    if w.is_empty() {
        return None;
    }
    let mut out = String::from("WARNING! The following warnings were returned from Coffer:\n\n");
    for x in w {
        out.push_str(&format!("  * {}\n\n", x.as_str().unwrap_or_default()));
    }
    Some(out)
}

/// Print a whole secret in the chosen format (`vault read` and friends).
pub fn print_secret(fmt: Format, s: &Value) -> Result<()> {
    match fmt {
        Format::Json => println!("{}", go_json(&secret_json(s))),
        Format::Yaml => print!("{}", yaml(&sorted(&secret_json(s)))),
        Format::Table | Format::Raw => {
            let rows = secret_rows(s, true);
            if !rows.is_empty() {
                print!("{}", key_value_table(rows));
            }
            if let Some(w) = warnings_text(s) {
                if rows_empty_and_no_data(s) {
                    print!("{w}");
                } else {
                    print!("\n{w}");
                }
            }
        }
    }
    Ok(())
}

fn rows_empty_and_no_data(s: &Value) -> bool {
    secret_rows(s, true).is_empty()
}

/// Any JSON value in the chosen format (`status`, `list`, `policy list`...);
/// `table` is provided by the caller.
pub fn print_value(fmt: Format, v: &Value, table: impl FnOnce() -> String) {
    match fmt {
        Format::Json => println!("{}", go_json(&sorted(v))),
        Format::Yaml => print!("{}", yaml(&sorted(v))),
        Format::Table | Format::Raw => print!("{}", table()),
    }
}

/// Like `print_value` but keeps the object's field order in JSON (Go structs).
pub fn print_struct(fmt: Format, v: &Value, table: impl FnOnce() -> String) {
    match fmt {
        Format::Json => println!("{}", go_json(v)),
        Format::Yaml => print!("{}", yaml(&sorted(v))),
        Format::Table | Format::Raw => print!("{}", table()),
    }
}

/// `-field=name` on a secret: the value Vault's `PrintRawField` would print.
pub fn secret_field(s: &Value, name: &str) -> Option<Value> {
    if let Some(a) = s.get("auth").filter(|a| a.is_object()) {
        let v = match name {
            "token" => a.get("client_token").cloned(),
            "token_accessor" => a.get("accessor").cloned(),
            "token_duration" => Some(json!(human_duration(a.get("lease_duration").and_then(Value::as_i64).unwrap_or(0)))),
            "token_renewable" => a.get("renewable").cloned(),
            "token_policies" => a.get("token_policies").cloned(),
            "identity_policies" => a.get("identity_policies").cloned(),
            "policies" => a.get("policies").cloned(),
            n => n.strip_prefix("token_meta_").and_then(|k| a.get("metadata").and_then(|m| m.get(k)).cloned()),
        };
        if v.is_some() {
            return v;
        }
    }
    if let Some(w) = s.get("wrap_info").filter(|w| w.is_object()) {
        let v = match name {
            "wrapping_token" => w.get("token").cloned(),
            "wrapping_accessor" => w.get("accessor").cloned(),
            "wrapping_token_ttl" => Some(json!(human_duration(w.get("ttl").and_then(Value::as_i64).unwrap_or(0)))),
            "wrapping_token_creation_time" => w.get("creation_time").cloned(),
            "wrapping_token_creation_path" => w.get("creation_path").cloned(),
            "wrapped_accessor" => w.get("wrapped_accessor").cloned(),
            _ => None,
        };
        if v.is_some() {
            return v;
        }
    }
    match name {
        "refresh_interval" | "lease_duration" => return s.get("lease_duration").cloned(),
        "lease_id" => return s.get("lease_id").cloned(),
        "lease_renewable" => return s.get("renewable").cloned(),
        _ => {}
    }
    s.get("data").and_then(|d| d.get(name)).cloned().filter(|v| !v.is_null())
}

/// Print a field value raw; a newline only when stdout is a terminal (as Vault).
pub fn print_field(fmt: Format, name: &str, v: Option<Value>) -> Result<i32> {
    let Some(v) = v else {
        eprintln!("Field {name:?} not present in secret");
        return Ok(1);
    };
    let text = match fmt {
        Format::Json => go_json(&sorted(&v)),
        Format::Yaml => yaml(&sorted(&v)),
        _ => go_value(&v),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if std::io::stdout().is_terminal() && !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(0)
}

// ------------------------------------------------------------------ yaml

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_string(s),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(m) if m.is_empty() => "{}".into(),
        _ => unreachable!("containers are not scalars"),
    }
}

fn yaml_string(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let special = matches!(
        lower.as_str(),
        "" | "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | ".inf" | "-.inf" | ".nan"
    );
    let first = s.chars().next().unwrap_or(' ');
    let numeric_like = first.is_ascii_digit() || ((first == '-' || first == '+' || first == '.') && s.len() > 1);
    let needs = special
        || numeric_like
        || "-?:,[]{}#&*!|>'\"%@` ".contains(first)
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || s.chars().any(|c| c.is_control());
    if needs { serde_json::to_string(s).unwrap_or_default() } else { s.to_string() }
}

fn is_container(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty()) || matches!(v, Value::Object(m) if !m.is_empty())
}

/// YAML in the shape Go's yaml.v2 writes (lists not indented under a key).
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    yaml_into(v, 0, &mut out);
    out
}

fn yaml_into(v: &Value, ind: usize, out: &mut String) {
    let pad = " ".repeat(ind);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                out.push_str(&format!("{pad}{}:", yaml_string(k)));
                if let Value::Array(a) = x
                    && !a.is_empty()
                {
                    out.push('\n');
                    yaml_into(x, ind, out);
                } else if is_container(x) {
                    out.push('\n');
                    yaml_into(x, ind + 2, out);
                } else {
                    out.push_str(&format!(" {}\n", yaml_scalar(x)));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for x in a {
                if is_container(x) {
                    let mut inner = String::new();
                    yaml_into(x, ind + 2, &mut inner);
                    let inner = inner.trim_start().to_string();
                    out.push_str(&format!("{pad}- {inner}"));
                } else {
                    out.push_str(&format!("{pad}- {}\n", yaml_scalar(x)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", yaml_scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_vault() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(3600), "1h");
        assert_eq!(human_duration(2764800), "768h");
        assert_eq!(human_duration(90), "1m30s");
        assert_eq!(human_duration(60), "1m");
        assert_eq!(human_duration(3660), "1h1m");
        assert_eq!(human_duration(3661), "1h1m1s");
    }

    #[test]
    fn go_values() {
        assert_eq!(go_value(&json!({"b": 1, "a": [true, null]})), "map[a:[true <nil>] b:1]");
        assert_eq!(go_quoted_list(Some(&json!(["default"]))), "[\"default\"]");
        assert_eq!(go_quoted_list(None), "[]");
    }

    #[test]
    fn table_columns() {
        let t = key_value_table(vec![vec!["a".into(), "1".into()], vec!["long_key".into(), "".into()]]);
        assert_eq!(t, "Key         Value\n---         -----\na           1\nlong_key\n");
    }

    #[test]
    fn yaml_shapes() {
        let v = sorted(&json!({"b": {"x": "1", "t": "2026-01-01T00:00:00Z"}, "a": ["p", "q"], "e": {}, "n": null}));
        assert_eq!(yaml(&v), "a:\n- p\n- q\nb:\n  t: \"2026-01-01T00:00:00Z\"\n  x: \"1\"\ne: {}\n\"n\": null\n");
    }

    #[test]
    fn json_escapes_html() {
        assert_eq!(go_json(&json!({"a": "<&>"})), "{\n  \"a\": \"\\u003c\\u0026\\u003e\"\n}");
    }
}
