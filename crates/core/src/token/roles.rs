//! `roles/:role_name` (create/update, read, delete) and `LIST roles`.

use super::create::sanitize_policies;
use super::store::{ROLE_PREFIX, TokenStore, role_key};
use crate::cidr::{self, BoundCidr};
use crate::error::{Error, Result};
use crate::fields::{get_bool, get_duration, get_int, get_str, get_str_list};
use crate::logical::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Role {
    pub name: String,
    pub allowed_policies: Vec<String>,
    pub disallowed_policies: Vec<String>,
    pub allowed_policies_glob: Vec<String>,
    pub disallowed_policies_glob: Vec<String>,
    pub orphan: bool,
    pub renewable: bool,
    pub path_suffix: String,
    pub allowed_entity_aliases: Option<Vec<String>>,
    /// Seconds.
    pub token_explicit_max_ttl: u64,
    /// Seconds.
    pub token_period: u64,
    pub token_no_default_policy: bool,
    pub token_num_uses: i64,
    /// `service`, `default-service`, `batch`, `default-batch`.
    pub token_type: String,
    /// Client addresses the role's tokens are bound to; empty = not bound.
    #[serde(default)]
    pub token_bound_cidrs: Vec<BoundCidr>,
    /// Set while the list was last written under the deprecated name
    /// `bound_cidrs` alone: reads then show both names, as Vault's do.
    #[serde(default)]
    pub legacy_bound_cidrs: bool,
}

impl Role {
    fn new(name: &str) -> Role {
        Role {
            name: name.to_string(),
            allowed_policies: vec![],
            disallowed_policies: vec![],
            allowed_policies_glob: vec![],
            disallowed_policies_glob: vec![],
            orphan: false,
            renewable: true,
            path_suffix: String::new(),
            allowed_entity_aliases: None,
            token_explicit_max_ttl: 0,
            token_period: 0,
            token_no_default_policy: false,
            token_num_uses: 0,
            token_type: "default-service".into(),
            token_bound_cidrs: vec![],
            legacy_bound_cidrs: false,
        }
    }

    /// Does the role set its own policy rules (instead of "subset of parent")?
    pub fn restricts_policies(&self) -> bool {
        !(self.allowed_policies.is_empty()
            && self.disallowed_policies.is_empty()
            && self.allowed_policies_glob.is_empty()
            && self.disallowed_policies_glob.is_empty())
    }
}

/// `*`-wildcard match (ryanuber/go-glob semantics: `*` matches any run of characters).
fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || !s[first.len()..].ends_with(last) || s.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

pub(crate) fn glob_contains(patterns: &[String], s: &str) -> bool {
    patterns.iter().any(|p| glob_match(p, s))
}

fn dedup_lower(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in v.into_iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn path_suffix_ok(s: &str) -> bool {
    // Vault: \w[\w-.]+\w, and no "..".
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<char> = s.chars().collect();
    chars.len() >= 3
        && word(chars[0])
        && word(chars[chars.len() - 1])
        && chars.iter().all(|&c| word(c) || c == '-' || c == '.')
        && !s.contains("..")
}

pub(super) async fn write(s: &TokenStore, name: &str, req: &Request) -> Result<Option<Response>> {
    let d = &req.data;
    let mut role = s.role(name).await?.unwrap_or_else(|| Role::new(name));
    let mut warnings = Vec::new();

    if let Some(v) = get_str_list(d, "allowed_policies")? {
        role.allowed_policies = sanitize_policies(&v, false);
    }
    if let Some(v) = get_str_list(d, "disallowed_policies")? {
        role.disallowed_policies = dedup_lower(v);
    }
    if let Some(v) = get_str_list(d, "allowed_policies_glob")? {
        role.allowed_policies_glob = dedup_lower(v);
    }
    if let Some(v) = get_str_list(d, "disallowed_policies_glob")? {
        role.disallowed_policies_glob = dedup_lower(v);
    }
    if let Some(v) = get_bool(d, "orphan")? {
        role.orphan = v;
    }
    if let Some(v) = get_bool(d, "renewable")? {
        role.renewable = v;
    }
    if let Some(v) = get_str(d, "path_suffix")? {
        let v = v.trim().to_string();
        if !v.is_empty() && !path_suffix_ok(&v) {
            return Err(Error::invalid(r"given role path suffix contains invalid characters; must match \w[\w-.]+\w"));
        }
        role.path_suffix = v;
    }
    // token_bound_cidrs wins over the deprecated bound_cidrs (which is then
    // not even parsed), with Vault's warning and error texts.
    match cidr::get_list(d, "token_bound_cidrs")? {
        Some(list) => {
            role.token_bound_cidrs =
                list.map_err(|e| Error::invalid(format!("error parsing role fields: token_bound_cidrs: {e}")))?;
            role.legacy_bound_cidrs = false;
            if d.get("bound_cidrs").is_some_and(|v| !v.is_null()) {
                warnings.push(
                    "Both 'token_bound_cidrs' and deprecated 'bound_cidrs' value supplied, ignoring the deprecated value"
                        .to_string(),
                );
            }
        }
        None => {
            if let Some(list) = cidr::get_list(d, "bound_cidrs")? {
                role.token_bound_cidrs = list.map_err(|e| Error::invalid(format!("error parsing bound_cidrs: {e}")))?;
                role.legacy_bound_cidrs = true;
            }
        }
    }
    if let Some(v) = get_str_list(d, "allowed_entity_aliases")? {
        role.allowed_entity_aliases = Some(v);
    }
    // token_* fields win over their deprecated names, with Vault's warnings.
    let period = get_duration(d, "token_period")?;
    let old_period = get_duration(d, "period")?;
    match (period, old_period) {
        (Some(p), old) => {
            if old.is_some() {
                warnings.push("Both 'token_period' and deprecated 'period' value supplied, ignoring the deprecated value".to_string());
            }
            role.token_period = p.as_secs();
        }
        (None, Some(p)) => role.token_period = p.as_secs(),
        (None, None) => {}
    }
    let emt = get_duration(d, "token_explicit_max_ttl")?;
    let old_emt = get_duration(d, "explicit_max_ttl")?;
    match (emt, old_emt) {
        (Some(t), old) => {
            if old.is_some() {
                warnings.push(
                    "Both 'token_explicit_max_ttl' and deprecated 'explicit_max_ttl' value supplied, ignoring the deprecated value"
                        .to_string(),
                );
            }
            role.token_explicit_max_ttl = t.as_secs();
        }
        (None, Some(t)) => role.token_explicit_max_ttl = t.as_secs(),
        (None, None) => {}
    }
    if let Some(v) = get_bool(d, "token_no_default_policy")? {
        role.token_no_default_policy = v;
    }
    if let Some(v) = get_int(d, "token_num_uses")? {
        if v < 0 {
            return Err(Error::invalid("token_num_uses cannot be negative"));
        }
        role.token_num_uses = v;
    }
    if let Some(v) = get_str(d, "token_type")? {
        let v = if v.is_empty() { "default-service".to_string() } else { v.to_lowercase() };
        if !matches!(v.as_str(), "service" | "batch" | "default-service" | "default-batch") {
            return Err(Error::invalid(format!("invalid 'token_type' value {v:?}")));
        }
        role.token_type = v;
    }
    // Vault's checks, in its order: what a batch token could not honour.
    if role.token_type == "batch" {
        if !role.orphan {
            return Err(Error::invalid("'token_type' cannot be 'batch' when role is set to generate non-orphan tokens"));
        }
        if role.token_period != 0 {
            return Err(Error::invalid("'token_type' cannot be 'batch' when role is set to generate periodic tokens"));
        }
        if role.renewable {
            return Err(Error::invalid("'token_type' cannot be 'batch' when role is set to generate renewable tokens"));
        }
        if role.token_explicit_max_ttl != 0 {
            return Err(Error::invalid(
                "'token_type' cannot be 'batch' when role is set to generate tokens with an explicit max TTL",
            ));
        }
    }

    s.view().put_json(&role_key(name), &role).await?;
    if warnings.is_empty() {
        Ok(None)
    } else {
        Ok(Some(Response { warnings, ..Default::default() }))
    }
}

pub(super) async fn read(s: &TokenStore, name: &str) -> Result<Response> {
    let r = s.role(name).await?.ok_or(Error::NotFound)?;
    let mut d = crate::logical::Data::new();
    d.insert("allowed_entity_aliases".into(), r.allowed_entity_aliases.as_ref().map_or(Value::Null, |v| json!(v)));
    d.insert("allowed_policies".into(), json!(r.allowed_policies));
    d.insert("allowed_policies_glob".into(), json!(r.allowed_policies_glob));
    // Only when set, as Vault; the deprecated name only while it was the one used.
    let cidrs = cidr::to_strings(&r.token_bound_cidrs);
    if r.legacy_bound_cidrs && !cidrs.is_empty() {
        d.insert("bound_cidrs".into(), json!(cidrs));
    }
    d.insert("disallowed_policies".into(), json!(r.disallowed_policies));
    d.insert("disallowed_policies_glob".into(), json!(r.disallowed_policies_glob));
    // Deprecated names, kept at zero like Vault once the token_* ones exist.
    d.insert("explicit_max_ttl".into(), json!(0));
    d.insert("name".into(), json!(r.name));
    d.insert("orphan".into(), json!(r.orphan));
    d.insert("path_suffix".into(), json!(r.path_suffix));
    d.insert("period".into(), json!(0));
    d.insert("renewable".into(), json!(r.renewable));
    if !cidrs.is_empty() {
        d.insert("token_bound_cidrs".into(), json!(cidrs));
    }
    d.insert("token_explicit_max_ttl".into(), json!(r.token_explicit_max_ttl));
    d.insert("token_no_default_policy".into(), json!(r.token_no_default_policy));
    if r.token_num_uses > 0 {
        d.insert("token_num_uses".into(), json!(r.token_num_uses));
    }
    d.insert("token_period".into(), json!(r.token_period));
    d.insert("token_type".into(), json!(r.token_type));
    Ok(Response::data(d))
}

pub(super) async fn delete(s: &TokenStore, name: &str) -> Result<()> {
    s.view().delete(&role_key(name)).await
}

pub(super) async fn list(s: &TokenStore) -> Result<Response> {
    let keys = s.view().list(ROLE_PREFIX).await?.into_iter().filter(|k| !k.ends_with('/')).collect();
    Ok(Response::list(keys))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::logical::Operation;

    #[tokio::test]
    async fn bound_cidrs_stored_read_back_and_given_to_tokens() {
        let h = Harness::new().await;
        let read = |name: &'static str| {
            let h = &h;
            async move { h.call_op(None, Operation::Read, &format!("roles/{name}"), json!({})).await.unwrap().unwrap().data.unwrap() }
        };
        // Display form: single hosts bare, host bits kept, IPv6, IPv4-mapped as IPv4.
        let w = h
            .call_op(None, Operation::Create, "roles/c", json!({"token_bound_cidrs": "127.0.0.1, ::1/128, 10.1.2.3/8, 1.2.3.4/32, ::ffff:10.0.0.0/104"}))
            .await
            .unwrap();
        assert!(w.is_none());
        let d = read("c").await;
        assert_eq!(d["token_bound_cidrs"], json!(["127.0.0.1", "::1", "10.1.2.3/8", "1.2.3.4", "10.0.0.0/8"]));
        assert!(!d.contains_key("bound_cidrs"));
        // Keys stay in Vault's (sorted) order.
        let keys: Vec<&String> = d.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        // Tokens of the role carry them (a lookup shows them); a root token that never expires does not.
        let a = h.root_call("create/c", json!({"ttl": "1h"})).await.unwrap().auth.unwrap();
        assert_eq!(h.lookup(&a.client_token).await["bound_cidrs"], d["token_bound_cidrs"]);
        let a = h.root_call("create/c", json!({})).await.unwrap().auth.unwrap();
        assert!(!h.lookup(&a.client_token).await.contains_key("bound_cidrs"));
        // The deprecated name alone: both names on read.
        h.call_op(None, Operation::Create, "roles/old", json!({"bound_cidrs": ["127.0.0.1/32"]})).await.unwrap();
        let d = read("old").await;
        assert_eq!((d["bound_cidrs"].clone(), d["token_bound_cidrs"].clone()), (json!(["127.0.0.1"]), json!(["127.0.0.1"])));
        // The new name then retires it; an empty list clears (and the field disappears).
        h.call_op(None, Operation::Update, "roles/old", json!({"token_bound_cidrs": "10.0.0.0/8"})).await.unwrap();
        let d = read("old").await;
        assert!(!d.contains_key("bound_cidrs"));
        assert_eq!(d["token_bound_cidrs"], json!(["10.0.0.0/8"]));
        h.call_op(None, Operation::Update, "roles/old", json!({"token_bound_cidrs": []})).await.unwrap();
        assert!(!read("old").await.contains_key("token_bound_cidrs"));
        // Both names: the new one wins with Vault's warning, the deprecated one is not even parsed.
        let r = h
            .call_op(None, Operation::Create, "roles/both", json!({"bound_cidrs": ["bad"], "token_bound_cidrs": ["10.0.0.0/8"]}))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.warnings, ["Both 'token_bound_cidrs' and deprecated 'bound_cidrs' value supplied, ignoring the deprecated value"]);
        let d = read("both").await;
        assert!(!d.contains_key("bound_cidrs"));
        assert_eq!(d["token_bound_cidrs"], json!(["10.0.0.0/8"]));
    }

    #[tokio::test]
    async fn invalid_bound_cidrs_change_nothing() {
        let h = Harness::new().await;
        h.call_op(None, Operation::Create, "roles/keep", json!({"token_bound_cidrs": ["10.0.0.0/8"], "allowed_policies": ["a"]})).await.unwrap();
        let before = h.store.role("keep").await.unwrap();
        for (body, msg) in [
            (json!({"token_bound_cidrs": ["bad"]}), r#"error parsing role fields: token_bound_cidrs: error parsing address "bad": not an IP address or CIDR block"#),
            (json!({"token_bound_cidrs": "10.0.0.0/33"}), r#"error parsing role fields: token_bound_cidrs: error parsing address "10.0.0.0/33""#),
            (json!({"token_bound_cidrs": "1.2.3.4, , 5.6.7.8"}), r#"error parsing role fields: token_bound_cidrs: error parsing address """#),
            (json!({"token_bound_cidrs": ["::1/129"], "allowed_policies": ["b"]}), "error parsing role fields: token_bound_cidrs: error parsing address"),
            (json!({"bound_cidrs": ["x"]}), r#"error parsing bound_cidrs: error parsing address "x": not an IP address or CIDR block"#),
        ] {
            for name in ["keep", "fresh"] {
                let e = h.call_op(None, Operation::Update, &format!("roles/{name}"), body.clone()).await.unwrap_err();
                assert!(matches!(&e, Error::InvalidRequest(m) if m.starts_with(msg)), "{body}: {e:?}");
            }
        }
        assert_eq!(h.store.role("keep").await.unwrap(), before);
        assert!(h.store.role("fresh").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn children_inherit_the_parents_binding_unless_a_role_decides() {
        let h = Harness::new().await;
        h.call_op(None, Operation::Create, "roles/bound", json!({"token_bound_cidrs": ["127.0.0.1"], "allowed_policies": ["tc", "default"]})).await.unwrap();
        h.call_op(None, Operation::Create, "roles/open", json!({"allowed_policies": ["tc", "default"]})).await.unwrap();
        let parent = h.root_call("create/bound", json!({"policies": ["tc"]})).await.unwrap().auth.unwrap().client_token;
        let cidrs = |t: String| {
            let h = &h;
            async move { h.lookup(&t).await.get("bound_cidrs").cloned() }
        };
        let child = h.call_as(&parent, "create", json!({"policies": ["tc"]})).await.unwrap().auth.unwrap().client_token;
        assert_eq!(cidrs(child).await, Some(json!(["127.0.0.1"])));
        let batch = h.call_as(&parent, "create", json!({"policies": ["tc"], "type": "batch"})).await.unwrap().auth.unwrap().client_token;
        assert_eq!(cidrs(batch).await, Some(json!(["127.0.0.1"])));
        // Orphans do not inherit; a role's own (empty) list wins over the parent's.
        let orphan = h.call_sudo(&parent, "create-orphan", json!({"policies": ["tc"]})).await.unwrap().auth.unwrap().client_token;
        assert_eq!(cidrs(orphan).await, None);
        let via_role = h.call_as(&parent, "create/open", json!({"policies": ["tc"]})).await.unwrap().auth.unwrap().client_token;
        assert_eq!(cidrs(via_role).await, None);
    }

    #[test]
    fn globs_and_suffix() {
        assert!(glob_match("p*", "pa"));
        assert!(glob_match("*-ro", "kv-ro"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxc"));
        assert!(!glob_match("ab*ba", "aba"));
        assert!(glob_match("x", "x") && !glob_match("x", "xy"));
        assert!(path_suffix_ok("ab-c") && path_suffix_ok("v1.2"));
        assert!(!path_suffix_ok("a/b") && !path_suffix_ok("a..b") && !path_suffix_ok("ab"));
    }

    #[tokio::test]
    async fn role_crud_and_list() {
        let h = Harness::new().await;
        let w = h
            .call_op(None, Operation::Create, "roles/r1", json!({"allowed_policies": ["tc"], "orphan": true, "token_period": "1h"}))
            .await
            .unwrap();
        assert!(w.is_none());
        let d = h.call_op(None, Operation::Read, "roles/r1", json!({})).await.unwrap().unwrap().data.unwrap();
        assert_eq!(d["name"], "r1");
        assert_eq!(d["allowed_policies"], json!(["tc"]));
        assert_eq!(d["orphan"], true);
        assert_eq!(d["token_period"], 3600);
        assert_eq!(d["token_type"], "default-service");
        assert_eq!(d["renewable"], true);
        assert_eq!(d["allowed_entity_aliases"], json!(null));
        assert!(!d.contains_key("token_num_uses"));
        // update keeps unspecified fields
        h.call_op(None, Operation::Update, "roles/r1", json!({"renewable": false})).await.unwrap();
        let d = h.call_op(None, Operation::Read, "roles/r1", json!({})).await.unwrap().unwrap().data.unwrap();
        assert_eq!((d["renewable"].clone(), d["orphan"].clone()), (json!(false), json!(true)));
        let l = h.call_op(None, Operation::List, "roles/", json!({})).await.unwrap().unwrap().data.unwrap();
        assert_eq!(l["keys"], json!(["r1"]));
        // warnings and validation
        let r = h.call_op(None, Operation::Create, "roles/r3", json!({"period": "1h", "token_period": "2h"})).await.unwrap().unwrap();
        assert_eq!(r.warnings, vec!["Both 'token_period' and deprecated 'period' value supplied, ignoring the deprecated value"]);
        for (body, msg) in [
            (json!({"token_type": "batch"}), "'token_type' cannot be 'batch' when role is set to generate non-orphan tokens"),
            (json!({"token_type": "batch", "orphan": true, "renewable": false, "token_period": "1h"}), "'token_type' cannot be 'batch' when role is set to generate periodic tokens"),
            (json!({"token_type": "batch", "orphan": true}), "'token_type' cannot be 'batch' when role is set to generate renewable tokens"),
            (json!({"token_type": "batch", "orphan": true, "renewable": false, "token_explicit_max_ttl": "1h"}), "'token_type' cannot be 'batch' when role is set to generate tokens with an explicit max TTL"),
            (json!({"token_type": "weird"}), "invalid 'token_type' value \"weird\""),
            (json!({"path_suffix": "a/b"}), "given role path suffix contains invalid characters"),
        ] {
            let e = h.call_op(None, Operation::Create, "roles/bad", body).await.unwrap_err().to_string();
            assert!(e.starts_with(msg), "{e}");
        }
        assert!(h.store.role("bad").await.unwrap().is_none());
        // delete
        assert!(h.call_op(None, Operation::Delete, "roles/r1", json!({})).await.unwrap().is_none());
        assert!(matches!(h.call_op(None, Operation::Read, "roles/r1", json!({})).await, Err(Error::NotFound)));
    }

    #[tokio::test]
    async fn create_from_roles() {
        let h = Harness::new().await;
        h.call_op(None, Operation::Update, "roles/r1", json!({"allowed_policies": ["tc"], "orphan": true, "token_period": "1h"}))
            .await
            .unwrap();
        let r = h.root_call("create/r1", json!({"policies": ["tc"]})).await.unwrap();
        let a = r.auth.unwrap();
        assert_eq!((a.orphan, a.lease_duration), (true, 3600));
        assert_eq!(a.policies, vec!["default", "tc"]);
        let d = h.lookup(&a.client_token).await;
        assert_eq!((d["path"].clone(), d["role"].clone(), d["period"].clone()), (json!("auth/token/create/r1"), json!("r1"), json!(3600)));
        let a = h.root_call("create/r1", json!({})).await.unwrap().auth.unwrap();
        assert_eq!(a.policies, vec!["default", "tc"]);
        let e = h.root_call("create/r1", json!({"policies": ["root"]})).await.unwrap_err().to_string();
        assert_eq!(e, r#"token policies (["root"]) must be subset of the role's allowed policies (["default" "tc"]) or glob policies ([])"#);
        let e = h.root_call("create/nope", json!({})).await.unwrap_err().to_string();
        assert_eq!(e, "unknown role nope");

        // glob, suffix, explicit max, num uses, no default, not renewable
        h.call_op(None, Operation::Update, "roles/r4", json!({"path_suffix": "ab-c", "token_explicit_max_ttl": "2h",
            "token_num_uses": 3, "disallowed_policies": ["x"], "allowed_policies_glob": ["p*"],
            "token_no_default_policy": true, "renewable": false})).await.unwrap();
        let r = h.root_call("create/r4", json!({"policies": ["pa"]})).await.unwrap();
        let a = r.auth.unwrap();
        assert_eq!((a.policies.clone(), a.lease_duration, a.renewable, a.num_uses, a.orphan), (vec!["pa".to_string()], 7200, false, 3, false));
        assert!(r.warnings[0].starts_with(r#"TTL of "768h" exceeded the effective max_ttl of "2h""#));
        assert_eq!(h.lookup(&a.client_token).await["path"], "auth/token/create/r4/ab-c");
        let e = h.root_call("create/r4", json!({"policies": ["x"]})).await.unwrap_err().to_string();
        assert!(e.starts_with("token policies ([\"x\"]) must be subset"), "{e}");

        // disallowed only: parent's policies otherwise
        h.call_op(None, Operation::Update, "roles/r5", json!({"disallowed_policies": ["x"]})).await.unwrap();
        let e = h.root_call("create/r5", json!({"policies": ["x"]})).await.unwrap_err().to_string();
        assert_eq!(e, "token policy \"x\" is disallowed by this role");
        let a = h.root_call("create/r5", json!({"policies": ["y"]})).await.unwrap().auth.unwrap();
        assert_eq!(a.policies, vec!["default", "y"]);
        let a = h.root_call("create/r5", json!({})).await.unwrap().auth.unwrap();
        assert_eq!(a.policies, vec!["root"]);
    }

    #[tokio::test]
    async fn role_renewal_uses_role_period() {
        let h = Harness::new().await;
        h.call_op(None, Operation::Update, "roles/p", json!({"token_period": "10m", "allowed_policies": ["default"]})).await.unwrap();
        let a = h.root_call("create/p", json!({})).await.unwrap().auth.unwrap();
        h.call_op(None, Operation::Update, "roles/p", json!({"token_period": "20m"})).await.unwrap();
        let r = h.root_call("renew", json!({"token": a.client_token, "increment": "1h"})).await.unwrap();
        assert_eq!(r.auth.unwrap().lease_duration, 1200);
        h.call_op(None, Operation::Delete, "roles/p", json!({})).await.unwrap();
        let e = h.root_call("renew", json!({"token": a.client_token})).await.unwrap_err();
        assert!(matches!(e, Error::Internal(_)), "{e:?}");
    }
}
