//! `login`: a role id (and, when the role binds one, a secret id) → a
//! [`Login`](coffer_core::logical::Login); the core issues the token.
//!
//! Order, as in Vault: the role (by role id), then the secret id (unknown,
//! expired or wrong: one 400 `invalid role or secret ID`), then the secret
//! id's `cidr_list` and the role's `secret_id_bound_cidrs` against the TCP
//! peer. Only then is one use claimed — atomically, before the token exists —
//! so a login refused for its address spends nothing, and of N concurrent
//! logins with the last use exactly one gets a token. The role's (or the
//! secret id's) `token_bound_cidrs` go on the token; the core enforces them on
//! every use, and, as in Vault, not at login.

use super::secret_ids::{self, Claim};
use super::salt::Kind;
use super::{AppRole, roles};
use coffer_core::fields::get_str;
use coffer_core::logical::LoginAlias;
use coffer_core::{Error, Request, Response, Result, cidr};
use std::collections::BTreeMap;
use std::net::IpAddr;
use zeroize::Zeroizing;

pub(crate) const INVALID: &str = "invalid role or secret ID";

fn invalid() -> Error {
    Error::invalid(INVALID)
}

/// Is `ip` inside one of these CIDR blocks (stored as written)?
fn inside(blocks: &[String], ip: Option<IpAddr>) -> bool {
    let parsed: Vec<_> = blocks.iter().filter_map(|b| cidr::BoundCidr::parse(b).ok()).collect();
    cidr::allows(&parsed, ip)
}

fn unauthorized(ip: Option<IpAddr>, on: &str) -> Error {
    let addr = ip.map(|i| i.to_string()).unwrap_or_default();
    Error::invalid(format!("source address {addr:?} unauthorized by CIDR restrictions on the {on}"))
}

pub(crate) async fn login(b: &AppRole, req: &mut Request) -> Result<Option<Response>> {
    // Vault answers a missing role_id with a plain 500.
    let role_id = match get_str(&req.data, "role_id")? {
        Some(r) if !r.is_empty() => Zeroizing::new(r),
        _ => return Err(Error::Coded(500, "missing role_id".into())),
    };
    let secret_id = get_str(&req.data, "secret_id")?.map(Zeroizing::new);
    let ip = req.remote_addr.map(|a| a.ip());
    let Some((name, role)) = roles::load_by_role_id(b, &role_id).await? else { return Err(invalid()) };

    let mut metadata = BTreeMap::new();
    let mut token = role.token.clone();
    if role.bind_secret_id {
        let secret_id = match &secret_id {
            Some(s) if !s.is_empty() => s,
            _ => return Err(Error::invalid("missing secret_id")),
        };
        // A read first: the address checks spend nothing.
        let Some(entry) = secret_ids::find(b, &name, secret_id).await? else { return Err(invalid()) };
        if !entry.cidr_list.is_empty() && !inside(&entry.cidr_list, ip) {
            return Err(unauthorized(ip, "secret ID"));
        }
        if !role.secret_id_bound_cidrs.is_empty() && !inside(&role.secret_id_bound_cidrs, ip) {
            return Err(unauthorized(ip, "role"));
        }
        let h = b.salt.hmac(Kind::SecretId, secret_id).await?;
        let entry = match secret_ids::claim(b, &name, &h).await? {
            Claim::Claimed { entry, last } => {
                if last {
                    secret_ids::forget_accessor(b, &entry.accessor).await?;
                }
                entry
            }
            Claim::Expired => {
                secret_ids::forget_accessor(b, &entry.accessor).await?;
                return Err(invalid());
            }
            Claim::Missing => return Err(invalid()),
        };
        metadata.extend(entry.metadata);
        if !entry.token_bound_cidrs.is_empty() {
            // Validated when the secret id was created.
            token.bound_cidrs = entry
                .token_bound_cidrs
                .iter()
                .map(|s| cidr::BoundCidr::parse(s).map_err(|e| Error::internal(format!("approle: stored token_bound_cidrs: {e}"))))
                .collect::<Result<_>>()?;
        }
    } else if !role.secret_id_bound_cidrs.is_empty() && !inside(&role.secret_id_bound_cidrs, ip) {
        return Err(unauthorized(ip, "role"));
    }
    metadata.insert("role_name".to_string(), name.clone());
    // As in Vault: the alias is the role id, with the role's name as metadata;
    // the token's display name is the mount's alone.
    let alias = LoginAlias {
        name: role.role_id.clone(),
        metadata: BTreeMap::from([("role_name".to_string(), name.clone())]),
    };
    Ok(Some(Response { login: Some(token.login("", metadata, Some(alias))), ..Default::default() }))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Harness, harness};
    use super::*;
    use coffer_core::Operation::{Delete, Update};
    use coffer_core::logical::Login;
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::time::Duration;

    async fn setup(h: &Harness, role: &str, body: Value) -> String {
        h.ok(Update, &format!("role/{role}"), body).await;
        h.read(&format!("role/{role}/role-id")).await.unwrap()["role_id"].as_str().unwrap().to_string()
    }

    async fn secret(h: &Harness, role: &str, body: Value) -> String {
        let d = h.ok(Update, &format!("role/{role}/secret-id"), body).await.unwrap().data.unwrap();
        d["secret_id"].as_str().unwrap().to_string()
    }

    async fn login(h: &Harness, role_id: &str, secret_id: Option<&str>) -> Result<Login> {
        let mut body = json!({"role_id": role_id});
        if let Some(s) = secret_id {
            body["secret_id"] = json!(s);
        }
        Ok(h.call(Update, "login", body).await?.and_then(|r| r.login).expect("a Login"))
    }

    async fn uses_left(h: &Harness, sid: &str) -> Value {
        h.ok(Update, "role/r/secret-id/lookup", json!({"secret_id": sid})).await.unwrap().data.unwrap()["secret_id_num_uses"].clone()
    }

    fn err(r: Result<Login>) -> (u16, String) {
        match r {
            Err(Error::InvalidRequest(m)) => (400, m),
            Err(Error::Coded(c, m)) => (c, m),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn success_carries_role_settings_metadata_and_alias() {
        let h = harness().await;
        let rid = setup(&h, "ci", json!({"token_policies": "a,b", "token_ttl": "1h", "token_num_uses": 5})).await;
        let sid = secret(&h, "ci", json!({"metadata": "{\"job\":\"42\"}"})).await;
        let l = login(&h, &rid, Some(&sid)).await.unwrap();
        assert_eq!(l.policies, ["a", "b"]);
        assert_eq!(l.ttl, Duration::from_secs(3600));
        assert_eq!(l.num_uses, 5);
        assert_eq!(l.display_name, "", "the token is named after the mount alone, as OpenBao");
        assert_eq!(l.metadata, BTreeMap::from([("job".into(), "42".into()), ("role_name".into(), "ci".into())]));
        let alias = l.alias.unwrap();
        assert_eq!(alias.name, rid);
        assert_eq!(alias.metadata["role_name"], "ci");
    }

    #[tokio::test]
    async fn refusals_spend_nothing_and_issue_nothing() {
        let mut h = harness().await;
        let rid = setup(&h, "r", json!({"secret_id_num_uses": 2})).await;
        let sid = secret(&h, "r", json!({"cidr_list": "10.0.0.0/8"})).await;
        assert_eq!(err(login(&h, &rid, Some("wrong")).await), (400, INVALID.into()));
        assert_eq!(err(login(&h, "wrong-role", Some(&sid)).await), (400, INVALID.into()));
        assert_eq!(err(login(&h, &rid, None).await), (400, "missing secret_id".into()));
        assert_eq!(err(h.call(Update, "login", json!({})).await.map(|_| Login::default())), (500, "missing role_id".into()));
        assert_eq!(err(login(&h, &rid, Some(&sid)).await), (400, "source address \"127.0.0.1\" unauthorized by CIDR restrictions on the secret ID".into()));
        assert_eq!(uses_left(&h, &sid).await, 2, "no use spent by refused logins");
        h.remote_addr = Some("10.1.2.3:4000".parse().unwrap());
        login(&h, &rid, Some(&sid)).await.unwrap();
        assert_eq!(uses_left(&h, &sid).await, 1);
        login(&h, &rid, Some(&sid)).await.unwrap();
        assert_eq!(err(login(&h, &rid, Some(&sid)).await), (400, INVALID.into()), "past its uses");
        assert!(h.ok(Update, "role/r/secret-id/lookup", json!({"secret_id": sid})).await.is_none(), "gone");
        assert!(h.list("role/r/secret-id").await.is_empty(), "and its accessor with it");
    }

    #[tokio::test]
    async fn role_cidrs_deleted_roles_and_expiry() {
        let mut h = harness().await;
        let rid = setup(&h, "r", json!({"secret_id_bound_cidrs": "10.0.0.0/8"})).await;
        let sid = secret(&h, "r", json!({})).await;
        assert_eq!(err(login(&h, &rid, Some(&sid)).await).1, "source address \"127.0.0.1\" unauthorized by CIDR restrictions on the role");
        h.remote_addr = Some("10.9.9.9:1".parse().unwrap());
        login(&h, &rid, Some(&sid)).await.unwrap();
        h.ok(Delete, "role/r", Value::Null).await;
        assert_eq!(err(login(&h, &rid, Some(&sid)).await), (400, INVALID.into()), "role deleted");

        let rid = setup(&h, "e", json!({})).await;
        let sid = secret(&h, "e", json!({"ttl": 1})).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(err(login(&h, &rid, Some(&sid)).await), (400, INVALID.into()), "expired");
        assert!(h.list("role/e/secret-id").await.is_empty(), "an expired secret id is removed");
    }

    #[tokio::test]
    async fn without_bind_secret_id_the_address_is_the_credential() {
        let mut h = harness().await;
        let rid = setup(&h, "r", json!({"bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.0/8", "token_bound_cidrs": "10.0.0.0/8"})).await;
        let l = login(&h, &rid, None).await.unwrap();
        // token_bound_cidrs are not checked at login (OpenBao); they bind the token.
        assert_eq!(cidr::to_strings(&l.bound_cidrs), ["10.0.0.0/8"]);
        login(&h, &rid, Some("anything")).await.unwrap();
        h.remote_addr = Some("192.168.0.1:1".parse().unwrap());
        assert_eq!(err(login(&h, &rid, None).await).1, "source address \"192.168.0.1\" unauthorized by CIDR restrictions on the role");
    }

    #[tokio::test]
    async fn a_secret_ids_token_bound_cidrs_replace_the_roles() {
        let h = harness().await;
        let rid = setup(&h, "r", json!({"token_bound_cidrs": "10.0.0.0/8"})).await;
        let sid = secret(&h, "r", json!({"token_bound_cidrs": "10.1.0.0/16"})).await;
        assert_eq!(cidr::to_strings(&login(&h, &rid, Some(&sid)).await.unwrap().bound_cidrs), ["10.1.0.0/16"]);
        let sid = secret(&h, "r", json!({})).await;
        assert_eq!(cidr::to_strings(&login(&h, &rid, Some(&sid)).await.unwrap().bound_cidrs), ["10.0.0.0/8"]);
    }

    /// N concurrent logins with a single-use secret id: exactly one Login.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_logins_claim_a_single_use_once() {
        let h = Arc::new(harness().await);
        let rid = setup(&h, "r", json!({"secret_id_num_uses": 1})).await;
        /// 16 logins at once with one fresh secret id; how many got a Login.
        async fn successes(h: &Arc<Harness>, rid: &str) -> usize {
            let sid = secret(h, "r", json!({})).await;
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (h, rid, sid) = (h.clone(), rid.to_string(), sid.clone());
                    tokio::spawn(async move { login(&h, &rid, Some(&sid)).await.is_ok() })
                })
                .collect();
            let mut ok = 0;
            for t in tasks {
                ok += usize::from(tokio::time::timeout(Duration::from_secs(20), t).await.unwrap().unwrap());
            }
            ok
        }
        for round in 0..5 {
            assert_eq!(successes(&h, &rid).await, 1, "round {round}");
        }
        // And with three uses: exactly three.
        h.ok(Update, "role/r", json!({"secret_id_num_uses": 3})).await;
        assert_eq!(successes(&h, &rid).await, 3);
    }

    #[tokio::test]
    async fn errors_never_echo_the_secret_id() {
        let h = harness().await;
        let rid = setup(&h, "r", json!({})).await;
        let needle = "Secret-Needle-77aa";
        for r in [login(&h, &rid, Some(needle)).await, login(&h, "nope", Some(needle)).await] {
            let e = r.unwrap_err();
            assert!(!e.to_string().contains(needle) && !format!("{e:?}").contains(needle));
        }
    }
}
