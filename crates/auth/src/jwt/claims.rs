//! Claim checks after the signature (Vault's order): `iss`, `sub`, `aud`,
//! then the times (`exp`, `nbf`, `iat`, with the role's leeways), then the
//! role's `bound_claims`; then what the login takes from the claims: the
//! user claim (alias name), `claim_mappings` (metadata) and `groups_claim`.
//!
//! Claim names starting with `/` are JSON pointers (RFC 6901) into the
//! claims: `/kubernetes.io/namespace`.

use super::role::Role;
use serde_json::Value;
use std::collections::BTreeMap;

/// A claim by name, or by JSON pointer when it starts with `/`.
pub(crate) fn get<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') { claims.pointer(name) } else { claims.get(name) }
}

/// Vault's string form of a scalar claim value (strings as they are, numbers
/// and booleans printed); objects, arrays and null have none.
pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn num(claims: &Value, name: &str) -> Option<i64> {
    match claims.get(name)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    }
}

/// Vault's leeway rule: 0 means the default, a negative value means none.
fn leeway(v: i64, default: i64) -> i64 {
    match v {
        0 => default,
        v if v < 0 => 0,
        v => v,
    }
}

pub(crate) const DEFAULT_CLOCK_SKEW: i64 = 60;
pub(crate) const DEFAULT_EXP_LEEWAY: i64 = 150;
pub(crate) const DEFAULT_NBF_LEEWAY: i64 = 150;

/// The registered claims. Errors are the text after `error validating token: `.
pub(crate) fn validate_registered(claims: &Value, role: &Role, bound_issuer: &str, now: i64) -> Result<(), String> {
    if !claims.is_object() {
        return Err("the claims are not a JSON object".into());
    }
    if !bound_issuer.is_empty() && claims.get("iss").and_then(Value::as_str) != Some(bound_issuer) {
        return Err("invalid issuer (iss) claim".into());
    }
    if !role.bound_subject.is_empty() && claims.get("sub").and_then(Value::as_str) != Some(role.bound_subject.as_str()) {
        return Err("invalid subject (sub) claim".into());
    }
    let aud: Vec<&str> = match claims.get("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err("invalid audience (aud) claim: not a string or a list of strings".into()),
    };
    if role.bound_audiences.is_empty() {
        if !aud.is_empty() {
            return Err("audience claim found in JWT but no audiences bound to the role".into());
        }
    } else if !aud.iter().any(|a| role.bound_audiences.iter().any(|b| b == a)) {
        return Err("invalid audience (aud) claim: audience claim does not match any expected audience".into());
    }
    validate_times(claims, role, now)
}

/// `exp`, `nbf` and `iat` with the role's leeways (the JWT login and the OIDC
/// ID token alike). Errors are the text after `error validating token: `.
pub(crate) fn validate_times(claims: &Value, role: &Role, now: i64) -> Result<(), String> {
    let skew = leeway(role.clock_skew_leeway, DEFAULT_CLOCK_SKEW);
    if let Some(exp) = num(claims, "exp")
        && now > exp.saturating_add(skew).saturating_add(leeway(role.expiration_leeway, DEFAULT_EXP_LEEWAY))
    {
        return Err("invalid expiration time (exp) claim: token is expired".into());
    }
    if let Some(nbf) = num(claims, "nbf")
        && now < nbf.saturating_sub(skew).saturating_sub(leeway(role.not_before_leeway, DEFAULT_NBF_LEEWAY))
    {
        return Err("invalid not before (nbf) claim: token not yet valid".into());
    }
    if let Some(iat) = num(claims, "iat")
        && now < iat.saturating_sub(skew)
    {
        return Err("invalid issued at (iat) claim: token issued in the future".into());
    }
    Ok(())
}

/// Vault's `ryanuber/go-glob`: `*` matches any run of characters (`/` too).
pub(crate) fn glob(pattern: &str, s: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == s;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// Every bound claim must be present and match one of its values (a list
/// claim matches when any element does). Errors are the text after
/// `error validating claims: `.
pub(crate) fn validate_bound(claims: &Value, role: &Role) -> Result<(), String> {
    let is_glob = role.bound_claims_type == "glob";
    for (name, expected) in &role.bound_claims {
        let Some(actual) = get(claims, name) else { return Err(format!("claim {name:?} is missing")) };
        let expected: Vec<&Value> = match expected {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        let actual: Vec<&Value> = match actual {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        let matched = actual.iter().any(|a| {
            expected.iter().any(|e| match (scalar(a), scalar(e)) {
                (Some(a), Some(e)) if is_glob => glob(&e, &a),
                (Some(a), Some(e)) => a == e,
                _ => false,
            })
        });
        if !matched {
            return Err(format!("claim {name:?} does not match any associated bound claim values"));
        }
    }
    Ok(())
}

/// The user claim's value: the alias name and display name.
pub(crate) fn user(claims: &Value, role: &Role) -> Result<String, String> {
    let v = if role.user_claim_json_pointer { claims.pointer(&role.user_claim) } else { claims.get(&role.user_claim) };
    let Some(v) = v else { return Err(format!("claim {:?} not found in token", role.user_claim)) };
    match scalar(v) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(format!("claim {:?} could not be converted to string", role.user_claim)),
    }
}

/// `claim_mappings`: claim -> metadata key. A mapped claim that is absent is
/// skipped; one that is not a scalar is an error.
pub(crate) fn metadata(claims: &Value, role: &Role) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for (claim, key) in &role.claim_mappings {
        let Some(v) = get(claims, claim) else { continue };
        let Some(s) = scalar(v) else { return Err(format!("error converting claim {claim:?} to string")) };
        m.insert(key.clone(), s);
    }
    Ok(m)
}

/// Most groups one login may bring (the rest is refused, not truncated).
pub(crate) const MAX_GROUPS: usize = 256;

/// `groups_claim`: a list of strings (or one string) naming external groups.
pub(crate) fn groups(claims: &Value, role: &Role) -> Result<Vec<String>, String> {
    if role.groups_claim.is_empty() {
        return Ok(Vec::new());
    }
    let Some(v) = get(claims, &role.groups_claim) else { return Err(format!("{:?} claim not found in token", role.groups_claim)) };
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    if items.len() > MAX_GROUPS {
        return Err(format!("{:?} claim has more than {MAX_GROUPS} groups", role.groups_claim));
    }
    let mut out = Vec::new();
    for i in items {
        match i {
            Value::String(s) if !s.is_empty() => {
                if !out.contains(s) {
                    out.push(s.clone())
                }
            }
            Value::String(_) => {}
            _ => return Err(format!("unable to convert group {i} to string")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_as_go_glob() {
        assert!(glob("repo:org/*:ref:refs/heads/main", "repo:org/a/b:ref:refs/heads/main"));
        assert!(glob("*", ""));
        assert!(glob("a*", "a"));
        assert!(glob("*b", "ab"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXcYb"));
        assert!(!glob("ab*ba", "aba"), "prefix and suffix may not overlap");
        assert!(!glob("abc", "abcd"));
    }

    fn role(v: Value) -> Role {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn bound_claims_match_lists_pointers_and_scalars() {
        let c = json!({"groups": ["a", "b"], "kubernetes.io": {"namespace": "prod"}, "n": 3, "ok": true});
        let r = role(json!({"bound_claims": {"groups": ["x", "b"], "/kubernetes.io/namespace": "prod", "n": 3, "ok": "true"}}));
        validate_bound(&c, &r).unwrap();
        let r = role(json!({"bound_claims": {"/kubernetes.io/namespace": "dev"}}));
        assert_eq!(validate_bound(&c, &r).unwrap_err(), "claim \"/kubernetes.io/namespace\" does not match any associated bound claim values");
        let r = role(json!({"bound_claims": {"missing": "x"}}));
        assert_eq!(validate_bound(&c, &r).unwrap_err(), "claim \"missing\" is missing");
        // A nested object never matches a string.
        let r = role(json!({"bound_claims": {"kubernetes.io": "prod"}}));
        assert!(validate_bound(&c, &r).is_err());
    }

    #[test]
    fn times_use_the_leeways() {
        let r = role(json!({"bound_audiences": ["a"]}));
        let now = 1_000_000;
        let c = |exp: i64, nbf: i64| json!({"aud": "a", "exp": exp, "nbf": nbf});
        validate_registered(&c(now - 200, now), &r, "", now).unwrap();
        assert!(validate_registered(&c(now - 211, now), &r, "", now).unwrap_err().contains("expired"));
        validate_registered(&c(now + 10, now + 200), &r, "", now).unwrap();
        assert!(validate_registered(&c(now + 10, now + 211), &r, "", now).unwrap_err().contains("not yet valid"));
        let strict = role(json!({"bound_audiences": ["a"], "clock_skew_leeway": -1, "expiration_leeway": -1, "not_before_leeway": -1}));
        assert!(validate_registered(&c(now - 1, now), &strict, "", now).is_err());
        assert!(validate_registered(&c(now + 1, now + 1), &strict, "", now).is_err());
    }

    #[test]
    fn audience_rules() {
        let none = role(json!({}));
        assert_eq!(
            validate_registered(&json!({"aud": "x"}), &none, "", 0).unwrap_err(),
            "audience claim found in JWT but no audiences bound to the role"
        );
        validate_registered(&json!({}), &none, "", 0).unwrap();
        let r = role(json!({"bound_audiences": ["b", "c"]}));
        validate_registered(&json!({"aud": ["a", "c"]}), &r, "", 0).unwrap();
        assert!(validate_registered(&json!({"aud": ["a"]}), &r, "", 0).is_err());
        assert!(validate_registered(&json!({}), &r, "", 0).is_err());
    }
}
