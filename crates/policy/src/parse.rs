//! Policy documents -> [`Policy`].

use std::collections::HashMap;
use std::time::Duration;

use coffer_hcl::{Entry, Node, Value};

use crate::Caps;

/// A parsed policy. `raw` is the text exactly as given.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub name: String,
    pub raw: String,
    /// Path rules in source order (a pattern may repeat; the ACL merges them).
    pub rules: Vec<PathRule>,
}

/// One `path "pattern" { ... }` stanza.
#[derive(Clone, Debug, PartialEq)]
pub struct PathRule {
    /// The pattern as written, minus one leading `/` (trailing `*` kept).
    pub pattern: String,
    /// Line of the pattern in the source.
    pub line: usize,
    /// Capabilities; if DENY is present it is the only bit.
    pub caps: Caps,
    /// Keys lowercased; an empty list means "any value".
    pub allowed_parameters: HashMap<String, Vec<serde_json::Value>>,
    pub denied_parameters: HashMap<String, Vec<serde_json::Value>>,
    pub required_parameters: Vec<String>,
    pub min_wrapping_ttl: Option<Duration>,
    pub max_wrapping_ttl: Option<Duration>,
    /// Contains `{{...}}`: matched only once rendered for an identity
    /// ([`crate::Acl::for_identity`]); without one, or when a parameter does
    /// not render, the rule matches nothing.
    pub templated: bool,
}

/// Why a policy document was rejected. Displays like Vault:
/// `failed to parse policy: line 3: invalid key "capabilites" in path "a"`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("failed to parse policy: line {line}: {message}")]
pub struct PolicyError {
    pub line: usize,
    pub message: String,
}

fn perr<T>(line: usize, message: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError { line, message: message.into() })
}

/// Parse a policy document, HCL1 or JSON (JSON if it starts with `{`).
/// `name` is stored as given (callers lowercase it).
pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
    let root = coffer_hcl::parse_any(text).map_err(|e| PolicyError {
        line: e.line,
        message: format!("column {}: {}", e.col, e.message),
    })?;
    let mut rules = Vec::new();
    for e in object_entries(&root, "policy")? {
        match e.key.as_str() {
            "name" => {}
            "path" => {
                for (pattern, line, body) in path_stanzas(e)? {
                    rules.push(parse_rule(pattern, line, body)?);
                }
            }
            other => return perr(e.line, format!("invalid key {other:?}")),
        }
    }
    Ok(Policy { name: name.to_string(), raw: text.to_string(), rules })
}

/// An object's entries; a list of objects (HCL1 JSON form) is flattened.
fn object_entries<'a>(n: &'a Node, what: &str) -> Result<Vec<&'a Entry>, PolicyError> {
    match &n.value {
        Value::Object(es) => Ok(es.iter().collect()),
        Value::List(items) => {
            let mut out = Vec::new();
            for i in items {
                match &i.value {
                    Value::Object(es) => out.extend(es.iter()),
                    v => return perr(i.line, format!("{what}: expected an object, found {}", v.type_name())),
                }
            }
            Ok(out)
        }
        v => perr(n.line, format!("{what}: expected an object, found {}", v.type_name())),
    }
}

/// `path` entry -> (pattern, line, body) for each stanza it holds.
fn path_stanzas(e: &Entry) -> Result<Vec<(&str, usize, &Node)>, PolicyError> {
    let mut out = Vec::new();
    for p in object_entries(&e.value, "path")? {
        out.push((p.key.as_str(), p.line, &p.value));
    }
    Ok(out)
}

fn parse_rule(pattern: &str, line: usize, body: &Node) -> Result<PathRule, PolicyError> {
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
    let ctx = format!("in path {pattern:?}");
    if pattern.contains("+*") {
        return perr(line, format!("invalid use of wildcards ('+*' is forbidden) {ctx}"));
    }
    // Vault checks only that `{{` and `}}` balance; parameters are resolved
    // (or not: the rule then matches nothing) when the ACL is built.
    let Ok(templated) = crate::template::validate(pattern) else {
        return perr(line, format!("path {pattern:?}: failed to validate policy templating: unbalanced templating characters"));
    };
    let mut rule = PathRule {
        pattern: pattern.to_string(),
        line,
        caps: Caps::NONE,
        allowed_parameters: HashMap::new(),
        denied_parameters: HashMap::new(),
        required_parameters: Vec::new(),
        min_wrapping_ttl: None,
        max_wrapping_ttl: None,
        templated,
    };
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut capabilities: Vec<(String, usize)> = Vec::new();
    let mut legacy: Option<(String, usize)> = None;
    for e in object_entries(body, &format!("path {pattern:?}"))? {
        if let Some(prev) = seen.insert(e.key.as_str(), e.line) {
            // allowed/denied parameter blocks may be split; everything else once
            if !matches!(e.key.as_str(), "allowed_parameters" | "denied_parameters") {
                return perr(e.line, format!("duplicate key {:?} {ctx} (first on line {prev})", e.key));
            }
        }
        match e.key.as_str() {
            "capabilities" => {
                for (s, l) in string_list(&e.value, "capabilities", &ctx)? {
                    capabilities.push((s.to_string(), l));
                }
            }
            "policy" => {
                let Some(s) = e.value.as_str() else {
                    return perr(e.value.line, format!("policy must be a string {ctx}"));
                };
                legacy = Some((s.to_string(), e.value.line));
            }
            "allowed_parameters" => param_map(&e.value, &mut rule.allowed_parameters, "allowed_parameters", &ctx)?,
            "denied_parameters" => param_map(&e.value, &mut rule.denied_parameters, "denied_parameters", &ctx)?,
            "required_parameters" => {
                for (s, _) in string_list(&e.value, "required_parameters", &ctx)? {
                    rule.required_parameters.push(s.to_string());
                }
            }
            "min_wrapping_ttl" => rule.min_wrapping_ttl = Some(duration(&e.value, "min_wrapping_ttl", &ctx)?),
            "max_wrapping_ttl" => rule.max_wrapping_ttl = Some(duration(&e.value, "max_wrapping_ttl", &ctx)?),
            "comment" | "mfa_methods" | "control_group" | "pagination_limit" | "list_scan_response_keys_filter_path" => {}
            "expiration" => return perr(e.line, format!("\"expiration\" is not supported {ctx}")),
            other => return perr(e.line, format!("invalid key {other:?} {ctx}")),
        }
    }

    // Legacy `policy = "..."` adds to the capabilities, as in Vault.
    if let Some((p, l)) = legacy {
        let add: &[&str] = match p.as_str() {
            "deny" => &["deny"],
            "read" => &["read", "list"],
            "write" => &["create", "read", "update", "delete", "list"],
            "sudo" => &["create", "read", "update", "delete", "list", "sudo"],
            _ => return perr(l, format!("invalid policy {p:?} {ctx}")),
        };
        capabilities.extend(add.iter().map(|s| (s.to_string(), l)));
    }
    for (c, l) in &capabilities {
        match Caps::from_name(c) {
            Some(Caps::DENY) => {
                rule.caps = Caps::DENY;
                break;
            }
            Some(cap) => rule.caps |= cap,
            None => return perr(*l, format!("invalid capability {c:?} {ctx}")),
        }
    }
    if let (Some(min), Some(max)) = (rule.min_wrapping_ttl, rule.max_wrapping_ttl)
        && !min.is_zero()
        && !max.is_zero()
        && max < min
    {
        return perr(line, format!("max_wrapping_ttl cannot be less than min_wrapping_ttl {ctx}"));
    }
    Ok(rule)
}

fn string_list<'a>(n: &'a Node, key: &str, ctx: &str) -> Result<Vec<(&'a str, usize)>, PolicyError> {
    let Value::List(items) = &n.value else {
        return perr(n.line, format!("{key} must be a list of strings {ctx}"));
    };
    items
        .iter()
        .map(|i| match &i.value {
            Value::String(s) => Ok((s.as_str(), i.line)),
            v => perr(i.line, format!("{key} must be a list of strings, found {} {ctx}", v.type_name())),
        })
        .collect()
}

fn param_map(
    n: &Node,
    into: &mut HashMap<String, Vec<serde_json::Value>>,
    key: &str,
    ctx: &str,
) -> Result<(), PolicyError> {
    for e in object_entries(n, key)? {
        let values = match &e.value.value {
            Value::List(items) => items.iter().map(Node::to_json).collect(),
            Value::Object(_) => return perr(e.value.line, format!("{key}: values of {:?} must be a list {ctx}", e.key)),
            _ => vec![e.value.to_json()],
        };
        into.entry(e.key.to_lowercase()).or_default().extend(values);
    }
    Ok(())
}

fn duration(n: &Node, key: &str, ctx: &str) -> Result<Duration, PolicyError> {
    let bad = || perr(n.line, format!("{key}: invalid duration {} {ctx}", n.to_json()));
    match &n.value {
        Value::Int(i) if *i >= 0 => Ok(Duration::from_secs(*i as u64)),
        Value::Float(f) if *f >= 0.0 && *f < 1e15 => Ok(Duration::from_secs(*f as u64)),
        Value::String(s) => parse_duration(s).map_or_else(bad, Ok),
        _ => bad(),
    }
}

/// Vault's `ParseDurationSecond`: bare integer = seconds, else Go duration
/// syntax plus `d` days (the server-wide parser in coffer-config). Sub-second
/// parts are truncated; empty or negative is no duration.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    coffer_config::duration::parse(s).ok().map(|d| Duration::from_secs(d.as_secs()))
}
