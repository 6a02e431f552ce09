//! `create`, `create-orphan` and `create/:role_name`.

use super::roles::{Role, glob_contains};
use super::store::TokenStore;
use super::ttl::{TtlInput, calculate_ttl};
use super::TokenEntry;
use crate::error::{Error, Result};
use crate::fields::{get_bool, get_duration, get_int, get_str, get_str_list, get_str_map};
use crate::logical::{Request, Response};
use std::time::Duration;

/// Policies no token may be given through the API.
const NON_ASSIGNABLE: &[&str] = &["response-wrapping", "control-group"];

pub(super) enum Kind<'a> {
    Create,
    Orphan,
    Role(&'a str),
}

/// Vault's `policyutil.SanitizePolicies`: trim, lowercase, drop empties,
/// optionally add `default`, de-duplicate and sort; `root` swallows the rest.
pub(crate) fn sanitize_policies(policies: &[String], add_default: bool) -> Vec<String> {
    let mut out: Vec<String> =
        policies.iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()).collect();
    if out.iter().any(|p| p == "root") {
        return vec!["root".into()];
    }
    if add_default {
        out.push("default".into());
    }
    out.sort();
    out.dedup();
    out
}

/// `token-<name>` with everything but `[a-zA-Z0-9-]` replaced by `-` and one
/// trailing `-` trimmed, as Vault does.
fn display_name(name: &str) -> String {
    if name.is_empty() {
        return "token".into();
    }
    let full: String = format!("token-{name}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    full.strip_suffix('-').map(str::to_string).unwrap_or(full)
}

fn check_custom_id(id: &str) -> Result<()> {
    for prefix in ["s.", "b.", "r.", "hvs.", "hvb.", "hvr."] {
        if id.starts_with(prefix) {
            return Err(Error::invalid(format!("custom token ID cannot have the '{prefix}' prefix")));
        }
    }
    if id.contains('.') {
        return Err(Error::invalid("custom token ID cannot have a '.' in the value"));
    }
    Ok(())
}

fn secs(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| d.as_secs())
}

/// The lesser non-zero of two TTLs (Vault's rule for request vs role values).
fn lesser(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, b) => b,
        (a, 0) => a,
        (a, b) => a.min(b),
    }
}

pub(super) async fn handle_create(store: &TokenStore, req: &Request, kind: Kind<'_>) -> Result<Response> {
    let d = &req.data;
    let role: Option<Role> = match kind {
        Kind::Role(name) => {
            Some(store.role(name).await?.ok_or_else(|| Error::invalid(format!("unknown role {name}")))?)
        }
        _ => None,
    };

    let caller = req.caller.as_ref().ok_or(Error::PermissionDenied)?;
    // A batch token has no record to hang children on (Vault's text).
    if caller.token_type == "batch" {
        return Err(Error::invalid("batch tokens cannot create more tokens"));
    }
    let parent = store
        .load(&caller.token_hash)
        .await?
        .ok_or_else(|| Error::invalid("parent token lookup failed: no parent found"))?;
    // A token with limited uses could escape its limit through children.
    if parent.num_uses != 0 {
        return Err(Error::invalid("restricted use token cannot generate child tokens"));
    }
    let is_sudo = req.has_sudo;

    // ---- parse input (errors name the field, never echo the id)
    let id = get_str(d, "id")?.unwrap_or_default();
    let policies_in = get_str_list(d, "policies")?.unwrap_or_default();
    let meta = get_str_map(d, "meta")?;
    let no_parent = get_bool(d, "no_parent")?.unwrap_or(false);
    let no_default = get_bool(d, "no_default_policy")?.unwrap_or(false);
    let renewable_in = get_bool(d, "renewable")?.unwrap_or(true);
    let ttl_in = match get_duration(d, "ttl")? {
        Some(t) => Some(t),
        None => get_duration(d, "lease")?,
    };
    let explicit_in = get_duration(d, "explicit_max_ttl")?;
    let period_in = get_duration(d, "period")?;
    let num_uses_in = get_int(d, "num_uses")?.unwrap_or(0);
    let display = get_str(d, "display_name")?.unwrap_or_default();
    let token_type = get_str(d, "type")?.unwrap_or_default();
    if get_str(d, "entity_alias")?.is_some_and(|a| !a.is_empty()) {
        return Err(Error::invalid("entity_alias is not supported by this server"));
    }

    // ---- token type, as Vault: a role's `batch`/`service` wins over the
    // request, `default-batch` applies when the request names none.
    let mut type_str = token_type.as_str();
    match role.as_ref().map(|r| r.token_type.as_str()) {
        Some("batch") => type_str = "batch",
        Some("service") => type_str = "service",
        Some("default-batch") if type_str.is_empty() => type_str = "batch",
        _ => {}
    }
    let batch = match type_str {
        "" | "service" => false,
        "batch" => {
            // Batch tokens are never stored, so nothing could count uses or renew them.
            let bad = if secs(explicit_in) > 0 {
                Some("explicit_max_ttl")
            } else if num_uses_in != 0 {
                Some("num_uses")
            } else if secs(period_in) > 0 {
                Some("period")
            } else {
                None
            };
            if let Some(field) = bad {
                return Err(Error::invalid(format!("batch tokens cannot have {field:?} set")));
            }
            true
        }
        _ => return Err(Error::invalid("invalid 'token_type' value")),
    };
    if num_uses_in < 0 {
        return Err(Error::invalid("number of uses cannot be negative"));
    }

    // ---- custom id (a batch token's value is its sealed entry: the id is
    // not used, as in Vault, and a warning says so)
    let mut warnings = Vec::new();
    if !id.is_empty() {
        if !is_sudo {
            return Err(Error::invalid("root or sudo privileges required to specify token id"));
        }
        if batch {
            warnings.push("A batch token's value is generated: the custom ID given was not used".to_string());
        } else {
            check_custom_id(&id)?;
        }
    }

    // ---- parent / orphan
    let orphan = match (&kind, &role) {
        (_, Some(r)) => r.orphan,
        (Kind::Orphan, _) => true,
        _ if no_parent => {
            if !is_sudo {
                return Err(Error::invalid("root or sudo privileges required to create orphan token"));
            }
            true
        }
        _ => false,
    };

    // ---- policies
    let mut add_default = false;
    let requested: Vec<String> = match &role {
        Some(r) if r.restricts_policies() => role_policies(r, &policies_in, &parent.policies, no_default)?,
        _ if policies_in.is_empty() => sanitize_policies(&parent.policies, false),
        _ if !is_sudo => {
            let want = sanitize_policies(&policies_in, false);
            let have = sanitize_policies(&parent.policies, false);
            if !want.iter().all(|p| have.contains(p)) {
                return Err(Error::invalid("child policies must be subset of parent"));
            }
            add_default = !no_default && parent.policies.iter().any(|p| p == "default");
            want
        }
        _ => {
            add_default = !no_default;
            policies_in.clone()
        }
    };
    let mut policies = sanitize_policies(&requested, add_default);
    if no_default || role.as_ref().is_some_and(|r| r.token_no_default_policy) {
        policies.retain(|p| p != "default");
    }
    if let Some(p) = policies.iter().find(|p| NON_ASSIGNABLE.contains(&p.as_str())) {
        return Err(Error::invalid(format!("cannot assign policy {p:?}")));
    }
    let is_root = policies.iter().any(|p| p == "root");
    if is_root && !parent.is_root() {
        return Err(Error::invalid("root tokens may not be created without parent token being root"));
    }
    if is_root && batch {
        // A batch token cannot be revoked, so it must never be root.
        return Err(Error::invalid("batch tokens cannot be root tokens"));
    }

    // ---- periods and TTLs
    let mut period = secs(period_in);
    if period > 0 && !is_sudo {
        return Err(Error::invalid("root or sudo privileges required to create periodic token"));
    }
    let mut explicit_max = secs(explicit_in);
    let mut num_uses = num_uses_in;
    let mut renewable = renewable_in;
    if let Some(r) = &role {
        // A role's period, explicit max and use limit shape service tokens
        // only (Vault ignores them for batch tokens, which cannot carry them).
        if !batch {
            period = lesser(period, r.token_period);
            explicit_max = lesser(explicit_max, r.token_explicit_max_ttl);
            if r.token_num_uses > 0 {
                num_uses = lesser(num_uses as u64, r.token_num_uses as u64) as i64;
            }
        }
        renewable = renewable && r.renewable;
    }
    let mut ttl = secs(ttl_in);
    let now_ns = store.now_ns();
    let now = now_ns.div_euclid(1_000_000_000);
    if period > 0 || ttl > 0 || !is_root {
        let (t, mut w) = calculate_ttl(TtlInput {
            backend_ttl: ttl,
            period,
            explicit_max,
            mount_default: req.mount.default_lease_ttl.as_secs(),
            mount_max: req.mount.max_lease_ttl.as_secs(),
            start: now,
            now,
            ..Default::default()
        })?;
        ttl = t;
        warnings.append(&mut w);
    } else if explicit_max > 0 {
        ttl = explicit_max.min(req.mount.max_lease_ttl.as_secs().max(1));
    }
    // A non-expiring root token is not advertised as renewable (renewing it
    // is refused anyway); a batch token is never renewable.
    if ttl == 0 || batch {
        renewable = false;
    }

    // ---- bound CIDRs, as Vault: a role's own list; without a role a child
    // keeps its parent's (a role without a list binds nothing: roles may
    // widen on purpose); a token that never expires is not bound.
    let bound_cidrs = match &role {
        _ if ttl == 0 => Vec::new(),
        Some(r) => r.token_bound_cidrs.clone(),
        None if !orphan => parent.bound_cidrs.clone(),
        None => Vec::new(),
    };

    // ---- path
    let mut path = match &kind {
        Kind::Create => format!("{}create", req.mount.path),
        Kind::Orphan => format!("{}create-orphan", req.mount.path),
        Kind::Role(name) => format!("{}create/{name}", req.mount.path),
    };
    if let Some(r) = &role
        && !r.path_suffix.is_empty()
    {
        path = format!("{path}/{}", r.path_suffix);
    }

    let mut entry = TokenEntry {
        hash: String::new(),
        accessor: String::new(),
        parent: (!orphan).then(|| parent.hash.clone()),
        policies,
        path,
        meta,
        display_name: display_name(&display),
        num_uses,
        creation_time: now,
        issue_time_ns: now_ns,
        creation_ttl: ttl,
        ttl,
        explicit_max_ttl: explicit_max,
        max_ttl: 0,
        period,
        renewable,
        token_type: if batch { "batch" } else { "service" }.into(),
        role: role.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
        expire_ns: (ttl > 0).then(|| now_ns + (ttl as i64) * 1_000_000_000),
        last_renewal_ns: None,
        // A child carries its parent's entity (and so its identity
        // policies); an orphan does not, as in Vault.
        entity_id: if orphan { String::new() } else { parent.entity_id.clone() },
        bound_cidrs,
    };
    let (token, entry) = if batch {
        // Never stored: the token carries its entry (no storage touched).
        store.create_batch(&entry)?
    } else {
        let (generated, accessor) = store.new_token()?;
        let token = if id.is_empty() { generated } else { zeroize::Zeroizing::new(id) };
        entry.accessor = accessor;
        let entry = store.insert(&token, entry).await?;
        (token, entry)
    };

    for p in &entry.policies {
        if p != "root" && !store.hooks().policy_exists(p).await {
            warnings.push(format!("Policy {p:?} does not exist"));
        }
    }
    Ok(Response { auth: Some(store.auth_for(&token, &entry)), warnings, ..Default::default() })
}

/// Policy rules of a role that sets allowed/disallowed policies (Vault's
/// `handleCreateCommon`): policies are checked against the role, not the parent.
fn role_policies(r: &Role, requested: &[String], parent: &[String], no_default: bool) -> Result<Vec<String>> {
    let add_default = !no_default
        && !r.token_no_default_policy
        && !r.disallowed_policies.iter().any(|p| p == "default")
        && !glob_contains(&r.disallowed_policies_glob, "default");
    let mut out = if requested.is_empty() { Vec::new() } else { sanitize_policies(requested, add_default) };
    if !r.allowed_policies.is_empty() || !r.allowed_policies_glob.is_empty() {
        let allowed = sanitize_policies(&r.allowed_policies, add_default);
        if out.is_empty() {
            out = allowed;
        } else {
            let globs = sanitize_policies(&r.allowed_policies_glob, false);
            if !out.iter().all(|p| allowed.contains(p) || glob_contains(&globs, p)) {
                return Err(Error::invalid(format!(
                    "token policies ({}) must be subset of the role's allowed policies ({}) or glob policies ({})",
                    go_list(&out),
                    go_list(&allowed),
                    go_list(&globs)
                )));
            }
        }
    } else if out.is_empty() {
        out = sanitize_policies(parent, add_default);
    }
    for p in &out {
        if r.disallowed_policies.contains(p) || glob_contains(&r.disallowed_policies_glob, p) {
            return Err(Error::invalid(format!("token policy {p:?} is disallowed by this role")));
        }
    }
    Ok(out)
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn sanitize_and_display_name() {
        let s = |v: &[&str], d| sanitize_policies(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), d);
        assert_eq!(s(&["Default", "A ", " b", ""], false), vec!["a", "b", "default"]);
        assert_eq!(s(&["x"], true), vec!["default", "x"]);
        assert_eq!(s(&["root", "default"], true), vec!["root"]);
        assert_eq!(display_name("My Job!!"), "token-My-Job-");
        assert_eq!(display_name("ci-job"), "token-ci-job");
        assert_eq!(display_name(""), "token");
    }

    #[tokio::test]
    async fn create_with_options_and_lookup_fields() {
        let h = Harness::new().await;
        let r = h.root_call("create", json!({"policies": ["p1"], "ttl": "1h", "explicit_max_ttl": "2h",
            "num_uses": 5, "display_name": "ci-job", "meta": {"team": "data"}})).await.unwrap();
        let auth = r.auth.clone().unwrap();
        assert!(auth.client_token.starts_with("hvs.") && auth.client_token.len() == 28, "{}", auth.client_token.len());
        assert_eq!(auth.accessor.len(), 24);
        assert_eq!(auth.policies, vec!["default", "p1"]);
        assert_eq!(auth.token_policies, auth.policies);
        assert_eq!((auth.lease_duration, auth.renewable, auth.orphan, auth.num_uses), (3600, true, false, 5));
        assert_eq!(auth.metadata.unwrap()["team"], "data");
        assert_eq!(auth.token_type, "service");
        // p1 is unknown to the test hooks.
        assert_eq!(r.warnings, vec![r#"Policy "p1" does not exist"#]);

        let d = h.lookup(&auth.client_token).await;
        for k in ["accessor", "creation_time", "creation_ttl", "display_name", "entity_id", "explicit_max_ttl",
            "id", "issue_time", "num_uses", "orphan", "path", "policies", "renewable", "ttl", "expire_time", "meta", "type"] {
            assert!(d.contains_key(k), "missing {k}");
        }
        assert_eq!(d["id"], json!(auth.client_token));
        assert_eq!(d["display_name"], "token-ci-job");
        assert_eq!(d["explicit_max_ttl"], 7200);
        assert_eq!(d["creation_ttl"], 3600);
        assert!((3599..=3600).contains(&d["ttl"].as_i64().unwrap()));
        assert!(d["creation_time"].is_i64());
        assert!(d["expire_time"].as_str().unwrap().ends_with('Z'));
        assert!(d["issue_time"].as_str().unwrap().contains('T'));
        assert_eq!(d["path"], "auth/token/create");
        assert_eq!(d["type"], "service");
        assert_eq!(d["renewable"], true);
        assert!(!d.contains_key("period") && !d.contains_key("last_renewal"));
    }

    #[tokio::test]
    async fn root_children_and_ttl_caps() {
        let h = Harness::new().await;
        // Inherits root, never expires, not renewable.
        let a = h.root_call("create", json!({})).await.unwrap().auth.unwrap();
        assert_eq!((a.policies.clone(), a.lease_duration, a.renewable), (vec!["root".to_string()], 0, false));
        let d = h.lookup(&a.client_token).await;
        assert_eq!((d["ttl"].clone(), d["expire_time"].clone()), (json!(0), json!(null)));
        // root + default → root only
        let a = h.root_call("create", json!({"policies": ["root", "default"]})).await.unwrap().auth.unwrap();
        assert_eq!(a.policies, vec!["root"]);
        // root with explicit max and no ttl → explicit max, no warning
        let r = h.root_call("create", json!({"explicit_max_ttl": "1h"})).await.unwrap();
        assert_eq!((r.auth.unwrap().lease_duration, r.warnings.len()), (3600, 0));
        // ttl above explicit max → capped with Vault's warning
        let r = h.root_call("create", json!({"policies": ["default"], "ttl": "2h", "explicit_max_ttl": "1h"})).await.unwrap();
        assert_eq!(r.auth.unwrap().lease_duration, 3600);
        assert_eq!(r.warnings, vec![r#"TTL of "2h" exceeded the effective max_ttl of "1h"; TTL value is capped accordingly"#]);
        // default ttl comes from the mount; capped by the mount max
        let r = h.root_call("create", json!({"policies": ["default"]})).await.unwrap();
        assert_eq!(r.auth.unwrap().lease_duration, 2_764_800);
        let r = h.root_call("create", json!({"policies": ["default"], "ttl": "10000h"})).await.unwrap();
        assert_eq!(r.auth.unwrap().lease_duration, 2_764_800);
        assert!(r.warnings[0].contains(r#"max_ttl of "768h""#));
        // periodic, capped period
        let r = h.root_call("create", json!({"policies": ["default"], "period": "1h", "explicit_max_ttl": "30m"})).await.unwrap();
        assert_eq!(r.auth.unwrap().lease_duration, 1800);
        assert!(r.warnings[0].starts_with("period of \"1h\" exceeded"));
        // no_default_policy
        let a = h.root_call("create", json!({"policies": ["default"], "no_default_policy": true})).await.unwrap();
        assert!(a.auth.unwrap().policies.is_empty());
        // renewable=false
        let a = h.root_call("create", json!({"policies": ["default"], "renewable": false})).await.unwrap();
        assert!(!a.auth.unwrap().renewable);
    }

    #[tokio::test]
    async fn validation_errors() {
        let h = Harness::new().await;
        for (body, msg) in [
            (json!({"ttl": "5x"}), "ttl:"),
            (json!({"num_uses": -1}), "number of uses cannot be negative"),
            (json!({"type": "bogus"}), "invalid 'token_type' value"),
            (json!({"type": "batch"}), "batch tokens cannot be root tokens"),
            (json!({"type": "batch", "policies": ["default"], "num_uses": 2}), "batch tokens cannot have \"num_uses\" set"),
            (json!({"type": "batch", "policies": ["default"], "num_uses": -1}), "batch tokens cannot have \"num_uses\" set"),
            (json!({"type": "batch", "policies": ["default"], "period": "1h"}), "batch tokens cannot have \"period\" set"),
            (json!({"type": "batch", "policies": ["default"], "explicit_max_ttl": "1h", "num_uses": 2}), "batch tokens cannot have \"explicit_max_ttl\" set"),
            (json!({"type": "batch", "policies": ["default"], "explicit_max_ttl": "0s", "num_uses": 2}), "batch tokens cannot have \"num_uses\" set"),
            (json!({"type": "Batch"}), "invalid 'token_type' value"),
            (json!({"id": "a.b"}), "custom token ID cannot have a '.' in the value"),
            (json!({"id": "s.abc"}), "custom token ID cannot have the 's.' prefix"),
            (json!({"id": "hvs.abc"}), "custom token ID cannot have the 'hvs.' prefix"),
            (json!({"policies": ["response-wrapping"]}), "cannot assign policy \"response-wrapping\""),
            (json!({"meta": "x"}), "meta:"),
            (json!({"renewable": "maybe"}), "renewable:"),
        ] {
            let e = h.root_call("create", body.clone()).await.unwrap_err();
            assert!(matches!(e, Error::InvalidRequest(_)), "{body}: {e:?}");
            assert!(e.to_string().contains(msg), "{body}: {e}");
        }
        // custom id works once, then duplicate; the id never appears in the error
        let a = h.root_call("create", json!({"id": "my-custom-tok", "policies": ["default"]})).await.unwrap();
        assert_eq!(a.auth.unwrap().client_token, "my-custom-tok");
        let e = h.root_call("create", json!({"id": "my-custom-tok"})).await.unwrap_err().to_string();
        assert_eq!(e, "cannot create a token with a duplicate ID");
    }

    #[tokio::test]
    async fn non_root_rules() {
        let h = Harness::new().await;
        let t = h.create(json!({"policies": ["default", "tc"]})).await;
        let call = |body| h.call_as(&t, "create", body);
        let err = |r: Result<Response>| r.unwrap_err().to_string();
        assert_eq!(err(call(json!({"policies": ["root"]})).await), "child policies must be subset of parent");
        assert_eq!(err(call(json!({"policies": ["other"]})).await), "child policies must be subset of parent");
        assert_eq!(err(call(json!({"no_parent": true})).await), "root or sudo privileges required to create orphan token");
        assert_eq!(err(call(json!({"period": "1h"})).await), "root or sudo privileges required to create periodic token");
        assert_eq!(err(call(json!({"id": "custom2"})).await), "root or sudo privileges required to specify token id");
        // subset ok; default added because the parent has it
        let a = call(json!({"policies": ["tc"]})).await.unwrap().auth.unwrap();
        assert_eq!(a.policies, vec!["default", "tc"]);
        assert!(!a.orphan);
        // inherit
        let a = call(json!({})).await.unwrap().auth.unwrap();
        assert_eq!(a.policies, vec!["default", "tc"]);
        let a = call(json!({"no_default_policy": true})).await.unwrap().auth.unwrap();
        assert_eq!(a.policies, vec!["tc"]);
        // create-orphan needs no sudo
        let a = h.call_as(&t, "create-orphan", json!({"policies": ["default"]})).await.unwrap().auth.unwrap();
        assert!(a.orphan);
        assert_eq!(h.lookup(&a.client_token).await["path"], "auth/token/create-orphan");
        // no_parent with sudo (root)
        let a = h.root_call("create", json!({"policies": ["default"], "no_parent": true})).await.unwrap().auth.unwrap();
        assert!(a.orphan);
        assert_eq!(h.lookup(&a.client_token).await["orphan"], true);
        // sudo but not root cannot mint root tokens
        let e = h.call_sudo(&t, "create", json!({"policies": ["root"]})).await.unwrap_err().to_string();
        assert_eq!(e, "root tokens may not be created without parent token being root");
    }

    #[tokio::test]
    async fn restricted_use_token_cannot_create_children() {
        let h = Harness::new().await;
        let t = h.create(json!({"policies": ["root"], "num_uses": 5})).await;
        let e = h.call_as(&t, "create", json!({})).await.unwrap_err().to_string();
        assert_eq!(e, "restricted use token cannot generate child tokens");
    }
}
