//! lookup / renew / revoke / accessors / tidy handlers.

use super::store::TokenStore;
use super::ttl::{TtlInput, calculate_ttl};
use super::{REVOCATION_PENDING, TokenEntry, one_error};
use crate::backend::MountInfo;
use crate::error::{Error, Result};
use crate::fields::{get_duration, get_str};
use crate::logical::{Request, Response};
use std::sync::Arc;

fn param(req: &Request, key: &str) -> Result<String> {
    Ok(get_str(&req.data, key)?.unwrap_or_default().trim().to_string())
}

fn client_token(req: &Request) -> Result<&str> {
    req.client_token.as_deref().filter(|t| !t.is_empty()).ok_or(Error::PermissionDenied)
}

/// Vault's answer to a lookup of an unknown token (403 "bad token").
fn bad_token() -> Error {
    Error::Coded(403, "bad token".into())
}

/// Batch tokens have no record to renew or revoke: they live until they
/// expire (or their parent goes). Vault's texts.
fn refuse_batch(e: &TokenEntry, what: &str) -> Result<()> {
    if e.token_type == "batch" {
        return Err(Error::invalid(format!("batch tokens cannot be {what}")));
    }
    Ok(())
}

// ----------------------------------------------------------------------------- lookup

/// `lookup {token}`; an empty token looks up the caller, as Vault does.
pub(super) async fn lookup(s: &TokenStore, req: &Request) -> Result<Response> {
    let token = param(req, "token")?;
    if token.is_empty() {
        return lookup_self(s, req).await;
    }
    let e = s.lookup_any(&token).await?.filter(|e| visible(s, e)).ok_or_else(bad_token)?;
    Ok(Response::data(with_identity(s, &e, s.lookup_data(&token, &e))))
}

/// Vault's lookups show the entity's identity policies (its own, then its
/// groups') when there are any, with `external_namespace_policies`.
fn with_identity(s: &TokenStore, e: &TokenEntry, mut d: crate::logical::Data) -> crate::logical::Data {
    if !e.entity_id.is_empty() {
        let policies = s.hooks().identity_policies(&e.entity_id);
        if !policies.is_empty() {
            d.insert("identity_policies".into(), serde_json::json!(policies));
            d.insert("external_namespace_policies".into(), serde_json::json!({}));
        }
    }
    d
}

/// Can this entry still be looked up? Used-up tokens are visible only while
/// the request that used them up runs (lookup-self shows `num_uses: -1`).
fn visible(s: &TokenStore, e: &TokenEntry) -> bool {
    e.expire_ns.is_none_or(|at| at > s.now_ns())
}

pub(super) async fn lookup_self(s: &TokenStore, req: &Request) -> Result<Response> {
    let token = client_token(req)?;
    let e = s.lookup_any(token).await?.filter(|e| visible(s, e)).ok_or_else(bad_token)?;
    Ok(Response::data(with_identity(s, &e, s.lookup_data(token, &e))))
}

pub(super) async fn lookup_accessor(s: &TokenStore, req: &Request) -> Result<Response> {
    let accessor = param(req, "accessor")?;
    if accessor.is_empty() {
        return Err(one_error("missing accessor"));
    }
    let e = s
        .accessor_any(&accessor)
        .await?
        .filter(|e| visible(s, e) && e.num_uses != REVOCATION_PENDING)
        .ok_or_else(|| one_error("invalid accessor"))?;
    Ok(Response::data(with_identity(s, &e, s.lookup_data("", &e))))
}

// ----------------------------------------------------------------------------- renew

/// Renew one token (Vault's `RenewToken` + token store `authRenew`).
async fn renew_entry(
    s: &TokenStore,
    mount: &MountInfo,
    e: &TokenEntry,
    increment: u64,
) -> Result<(Arc<TokenEntry>, Vec<String>)> {
    let now_ns = s.now_ns();
    let Some(expire) = e.expire_ns else { return Err(Error::invalid("lease is not renewable")) };
    if expire <= now_ns {
        return Err(Error::invalid("lease expired"));
    }
    if !e.renewable {
        return Err(Error::invalid("lease is not renewable"));
    }
    // A role's current period / explicit max apply at renewal time.
    let (period, explicit_max) = if e.role.is_empty() {
        (e.period, e.explicit_max_ttl)
    } else {
        let role = s.role(&e.role).await?.ok_or_else(|| {
            Error::internal(format!("original token role {:?} could not be found, not renewing", e.role))
        })?;
        (role.token_period, role.token_explicit_max_ttl)
    };
    // A login token also stays within its auth mount's max TTL.
    let explicit_max = match (explicit_max, e.max_ttl) {
        (0, m) | (m, 0) => m,
        (a, b) => a.min(b),
    };
    let now = now_ns.div_euclid(1_000_000_000);
    let (ttl, warnings) = calculate_ttl(TtlInput {
        increment,
        backend_ttl: e.ttl,
        period,
        explicit_max,
        mount_default: mount.default_lease_ttl.as_secs(),
        mount_max: mount.max_lease_ttl.as_secs(),
        start: e.issue_time_ns.div_euclid(1_000_000_000),
        now,
        ..Default::default()
    })?;
    let mut next = e.clone();
    next.ttl = ttl;
    next.expire_ns = Some(now_ns + (ttl as i64) * 1_000_000_000);
    next.last_renewal_ns = Some(now_ns);
    let e = s.update(e, next).await?;
    Ok((e, warnings))
}

async fn renew_response(s: &TokenStore, req: &Request, token: &str, e: Arc<TokenEntry>) -> Result<Response> {
    refuse_batch(&e, "renewed")?;
    let increment = get_duration(&req.data, "increment")?.map_or(0, |d| d.as_secs());
    let _g = s.lock_token(&e.hash).await;
    // Re-read under the lock so concurrent renewals do not race.
    let cur = s.load(&e.hash).await?.ok_or_else(|| Error::invalid("token not found"))?;
    let (e, warnings) = renew_entry(s, &req.mount, &cur, increment).await?;
    Ok(Response { auth: Some(s.auth_for(token, &e)), warnings, ..Default::default() })
}

pub(super) async fn renew(s: &TokenStore, req: &Request) -> Result<Response> {
    let token = param(req, "token")?;
    if token.is_empty() {
        return Err(Error::invalid("missing token ID"));
    }
    let e = s.lookup(&token).await?.ok_or_else(|| Error::invalid("token not found"))?;
    renew_response(s, req, &token, e).await
}

pub(super) async fn renew_self(s: &TokenStore, req: &Request) -> Result<Response> {
    let token = client_token(req)?.to_string();
    let e = s.lookup_any(&token).await?.ok_or_else(|| Error::invalid("token not found"))?;
    renew_response(s, req, &token, e).await
}

pub(super) async fn renew_accessor(s: &TokenStore, req: &Request) -> Result<Response> {
    let accessor = param(req, "accessor")?;
    if accessor.is_empty() {
        return Err(one_error("missing accessor"));
    }
    let e = s.lookup_accessor(&accessor).await?.ok_or_else(|| one_error("invalid accessor"))?;
    // The token itself is not known here: `client_token` is "" as in Vault.
    renew_response(s, req, "", e).await
}

// ----------------------------------------------------------------------------- revoke

pub(super) async fn revoke(s: &TokenStore, req: &Request) -> Result<Option<Response>> {
    let token = param(req, "token")?;
    if token.is_empty() {
        return Err(Error::invalid("missing token ID"));
    }
    // Unknown tokens are not an error (Vault answers 204).
    if let Some(e) = s.lookup_any(&token).await? {
        refuse_batch(&e, "revoked")?;
        s.revoke_tree(&e.hash).await?;
    }
    Ok(None)
}

pub(super) async fn revoke_self(s: &TokenStore, req: &Request) -> Result<Option<Response>> {
    let token = client_token(req)?;
    if let Some(e) = s.lookup_any(token).await? {
        refuse_batch(&e, "revoked")?;
        s.revoke_tree(&e.hash).await?;
    }
    Ok(None)
}

pub(super) async fn revoke_accessor(s: &TokenStore, req: &Request) -> Result<Option<Response>> {
    let accessor = param(req, "accessor")?;
    if accessor.is_empty() {
        return Err(one_error("missing accessor"));
    }
    match s.accessor_any(&accessor).await? {
        Some(e) => {
            s.revoke_tree(&e.hash).await?;
            Ok(None)
        }
        None => Ok(Some(Response::default().with_warning("No token found with this accessor"))),
    }
}

pub(super) async fn revoke_orphan(s: &TokenStore, req: &Request) -> Result<Option<Response>> {
    if !req.has_sudo {
        return Err(Error::invalid("root or sudo privileges required to revoke and orphan"));
    }
    let token = param(req, "token")?;
    if token.is_empty() {
        return Err(Error::invalid("missing token ID"));
    }
    let e = s.lookup_any(&token).await?.ok_or_else(|| Error::invalid("token to revoke not found"))?;
    refuse_batch(&e, "revoked")?;
    s.revoke_one(&e.hash, true).await?;
    Ok(None)
}

// ----------------------------------------------------------------------------- accessors, tidy

pub(super) async fn list_accessors(s: &TokenStore) -> Result<Response> {
    Ok(Response::list(s.accessors().await?))
}

/// Starts a background tidy and answers 202 with Vault's warning.
pub(super) fn tidy(s: &TokenStore) -> Response {
    if let Some(me) = s.arc() {
        tokio::spawn(async move {
            match me.tidy().await {
                Ok(()) => tracing::info!("token tidy finished"),
                Err(e) => tracing::warn!(error = %e, "token tidy failed"),
            }
        });
    }
    Response { status: Some(202), ..Default::default() }.with_warning(
        "Tidy operation successfully started. Any information from the operation will be printed to Coffer's server logs.",
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::logical::Operation;
    use std::time::Duration;

    #[tokio::test]
    async fn lookup_self_accessor_and_unknown() {
        let h = Harness::new().await;
        let r = h.root_call("create", json!({"policies": ["default"], "ttl": "1h"})).await.unwrap();
        let a = r.auth.unwrap();
        let me = h.call_op(Some(&a.client_token), Operation::Read, "lookup-self", json!({})).await.unwrap().unwrap().data.unwrap();
        assert_eq!(me["id"], json!(a.client_token));
        // lookup-self also answers POST
        let me2 = h.call_as(&a.client_token, "lookup-self", json!({})).await.unwrap().data.unwrap();
        assert_eq!(me2["accessor"], me["accessor"]);
        // lookup without a token is lookup-self (root here)
        let root = h.root_call("lookup", json!({})).await.unwrap().data.unwrap();
        assert_eq!((root["policies"].clone(), root["path"].clone(), root["expire_time"].clone()),
            (json!(["root"]), json!("auth/token/root"), json!(null)));
        assert_eq!(root["orphan"], true);
        // GET lookup?token=
        let via_get = h.call_op(None, Operation::Read, "lookup", json!({"token": a.client_token})).await.unwrap().unwrap();
        assert_eq!(via_get.data.unwrap()["accessor"], json!(a.accessor));
        let via = h.root_call("lookup-accessor", json!({"accessor": a.accessor})).await.unwrap().data.unwrap();
        assert_eq!(via["id"], "");
        assert_eq!((via["policies"].clone(), via["display_name"].clone()), (me["policies"].clone(), me["display_name"].clone()));

        let e = h.root_call("lookup", json!({"token": "s.doesnotexist00000000000"})).await.unwrap_err();
        assert!(matches!(&e, Error::Coded(403, m) if m == "bad token"), "{e:?}");
        assert!(!e.to_string().contains("doesnotexist"));
        let e = h.root_call("lookup-accessor", json!({"accessor": "nope"})).await.unwrap_err().to_string();
        assert_eq!(e, "1 error occurred:\n\t* invalid accessor\n\n");
        let e = h.root_call("lookup-accessor", json!({})).await.unwrap_err().to_string();
        assert_eq!(e, "1 error occurred:\n\t* missing accessor\n\n");
    }

    #[tokio::test]
    async fn renew_caps_and_errors() {
        let h = Harness::new().await;
        let a = h.root_call("create", json!({"policies": ["default"], "ttl": "10m", "explicit_max_ttl": "1h"})).await.unwrap().auth.unwrap();
        let t = a.client_token.clone();
        let r = h.root_call("renew", json!({"token": t, "increment": "30m"})).await.unwrap();
        let auth = r.auth.unwrap();
        assert_eq!((auth.client_token.as_str(), auth.lease_duration), (t.as_str(), 1800));
        let d = h.lookup(&t).await;
        assert!(d["last_renewal"].is_string() && d["last_renewal_time"].is_i64());
        assert!((1799..=1800).contains(&d["ttl"].as_i64().unwrap()));
        assert_eq!(d["creation_ttl"], 600);
        let r = h.call_as(&t, "renew-self", json!({"increment": 600})).await.unwrap();
        assert_eq!(r.auth.unwrap().lease_duration, 600);
        // No increment: the current lease TTL again.
        let r = h.call_as(&t, "renew-self", json!({})).await.unwrap();
        assert_eq!(r.auth.unwrap().lease_duration, 600);
        let r = h.call_as(&t, "renew-self", json!({"increment": "5h"})).await.unwrap();
        let got = r.auth.unwrap().lease_duration;
        assert!((3599..=3600).contains(&got), "{got}");
        assert!(r.warnings[0].starts_with("TTL of \"5h\" exceeded the effective max_ttl of"), "{:?}", r.warnings);
        // renew-accessor: client_token is ""
        let r = h.root_call("renew-accessor", json!({"accessor": a.accessor, "increment": 60})).await.unwrap();
        let auth = r.auth.unwrap();
        assert_eq!((auth.client_token.as_str(), auth.lease_duration, auth.accessor.as_str()), ("", 60, a.accessor.as_str()));
        // Past the explicit max nothing is left to renew.
        h.store.advance_clock(Duration::from_secs(3590));
        let r = h.root_call("renew", json!({"token": t, "increment": "1h"})).await;
        // The 60 s lease above has expired by now: the token is gone.
        assert_eq!(r.unwrap_err().to_string(), "token not found");

        // Periodic: the increment is ignored, TTL resets to the period.
        let p = h.create(json!({"policies": ["default"], "period": "30m"})).await;
        assert_eq!(h.lookup(&p).await["period"], 1800);
        let r = h.root_call("renew", json!({"token": p, "increment": "5h"})).await.unwrap();
        assert_eq!(r.auth.unwrap().lease_duration, 1800);

        // Not renewable / never-expiring root / missing / unknown.
        let nr = h.create(json!({"policies": ["default"], "ttl": "10m", "renewable": false})).await;
        let e = h.root_call("renew", json!({"token": nr})).await.unwrap_err();
        assert!(matches!(&e, Error::InvalidRequest(m) if m == "lease is not renewable"), "{e:?}");
        assert_eq!(h.lookup(&nr).await["renewable"], false);
        let e = h.call_as(&h.root, "renew-self", json!({})).await.unwrap_err().to_string();
        assert_eq!(e, "lease is not renewable");
        assert_eq!(h.root_call("renew", json!({})).await.unwrap_err().to_string(), "missing token ID");
        assert_eq!(h.root_call("renew", json!({"token": "nope"})).await.unwrap_err().to_string(), "token not found");
        let e = h.root_call("renew-accessor", json!({"accessor": "nope"})).await.unwrap_err().to_string();
        assert_eq!(e, "1 error occurred:\n\t* invalid accessor\n\n");
    }

    /// Creates parent → child → grandchild (non-root parent creating children).
    async fn tree(h: &Harness) -> (String, String, String) {
        let parent = h.create(json!({"policies": ["default", "tc"], "ttl": "1h"})).await;
        let child = h.call_as(&parent, "create", json!({"policies": ["default", "tc"]})).await.unwrap().auth.unwrap();
        assert!(!child.orphan);
        let grandchild = h.call_as(&child.client_token, "create", json!({"policies": ["default"]})).await.unwrap().auth.unwrap();
        (parent, child.client_token, grandchild.client_token)
    }

    #[tokio::test]
    async fn revoke_revokes_the_whole_tree() {
        let h = Harness::new().await;
        let (p, c, g) = tree(&h).await;
        let other = h.create(json!({"policies": ["default"]})).await;
        let hashes: Vec<String> = [&p, &c, &g].iter().map(|t| h.store.hash(t)).collect();
        assert!(h.call_op(None, Operation::Update, "revoke", json!({"token": p})).await.unwrap().is_none());
        for t in [&p, &c, &g] {
            assert!(!h.works(t).await);
            assert!(h.store.lookup(t).await.unwrap().is_none());
        }
        assert!(h.works(&other).await);
        // Every member went through the hook, children before parents.
        let revoked = h.hooks.revoked.lock().clone();
        assert_eq!(revoked, vec![hashes[2].clone(), hashes[1].clone(), hashes[0].clone()]);
        // Nothing of the tree is left in storage (records and indexes).
        let keys = h.store.view().keys_recursive("").await.unwrap();
        for hash in &hashes {
            assert!(!keys.iter().any(|k| k.contains(hash.as_str())), "{hash} left in {keys:?}");
        }
        // Unknown token: 204, missing: 400.
        assert!(h.call_op(None, Operation::Update, "revoke", json!({"token": "nope"})).await.unwrap().is_none());
        assert_eq!(h.call_op(None, Operation::Update, "revoke", json!({})).await.unwrap_err().to_string(), "missing token ID");
    }

    #[tokio::test]
    async fn revoke_orphan_keeps_children() {
        let h = Harness::new().await;
        let (p, c, g) = tree(&h).await;
        // Without sudo: 400 with Vault's text.
        let e = h.call_op(Some(&c), Operation::Update, "revoke-orphan", json!({"token": p})).await.unwrap_err();
        assert_eq!(e.to_string(), "root or sudo privileges required to revoke and orphan");
        assert!(h.call_op(None, Operation::Update, "revoke-orphan", json!({"token": p})).await.unwrap().is_none());
        assert!(!h.works(&p).await);
        assert!(h.works(&c).await && h.works(&g).await);
        assert_eq!(h.lookup(&c).await["orphan"], true);
        assert_eq!(h.lookup(&g).await["orphan"], false);
        // The former child is now a tree root of its own.
        h.call_op(None, Operation::Update, "revoke", json!({"token": c})).await.unwrap();
        assert!(!h.works(&g).await);
        let e = h.call_op(None, Operation::Update, "revoke-orphan", json!({"token": "nope"})).await.unwrap_err();
        assert_eq!(e.to_string(), "token to revoke not found");
    }

    #[tokio::test]
    async fn revoke_accessor_self_and_accessor_list() {
        let h = Harness::new().await;
        let a = h.root_call("create", json!({"policies": ["default"]})).await.unwrap().auth.unwrap();
        let b = h.root_call("create", json!({"policies": ["default"]})).await.unwrap().auth.unwrap();
        let l = h.call_op(None, Operation::List, "accessors/", json!({})).await.unwrap().unwrap().data.unwrap();
        let keys: Vec<String> = serde_json::from_value(l["keys"].clone()).unwrap();
        assert!(keys.contains(&a.accessor) && keys.contains(&b.accessor));
        assert_eq!(keys.len(), 3, "root + 2");
        assert!(h.backend.special_paths().root.iter().any(|p| crate::backend::SpecialPaths::matches(&[p], "accessors/")));

        assert!(h.call_op(None, Operation::Update, "revoke-accessor", json!({"accessor": a.accessor})).await.unwrap().is_none());
        assert!(!h.works(&a.client_token).await);
        let r = h.call_op(None, Operation::Update, "revoke-accessor", json!({"accessor": a.accessor})).await.unwrap().unwrap();
        assert_eq!(r.warnings, vec!["No token found with this accessor"]);
        assert!(h.call_op(Some(&b.client_token), Operation::Update, "revoke-self", json!({})).await.unwrap().is_none());
        assert!(!h.works(&b.client_token).await);
        let l = h.call_op(None, Operation::List, "accessors/", json!({})).await.unwrap().unwrap().data.unwrap();
        assert_eq!(l["keys"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn num_uses_exhaustion() {
        let h = Harness::new().await;
        let t = h.create(json!({"policies": ["default"], "num_uses": 2})).await;
        let d = h.call_op(Some(&t), Operation::Read, "lookup-self", json!({})).await.unwrap().unwrap().data.unwrap();
        assert_eq!(d["num_uses"], 1);
        // The last use is served (showing -1, as Vault), then the token is revoked.
        let d = h.call_op(Some(&t), Operation::Read, "lookup-self", json!({})).await.unwrap().unwrap().data.unwrap();
        assert_eq!(d["num_uses"], -1);
        assert!(matches!(h.call_op(Some(&t), Operation::Read, "lookup-self", json!({})).await, Err(Error::InvalidToken)));
        assert_eq!(h.hooks.revoked.lock().clone(), vec![h.store.hash(&t)]);
        assert!(h.root_call("lookup", json!({"token": t})).await.is_err());
    }

    #[tokio::test]
    async fn concurrent_uses_never_exceed_num_uses() {
        let h = Arc::new(Harness::new().await);
        let t = h.create(json!({"policies": ["default"], "num_uses": 5})).await;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (h, t) = (h.clone(), t.clone());
            tasks.push(tokio::spawn(async move { h.works(&t).await }));
        }
        let mut ok = 0;
        for task in tasks {
            ok += task.await.unwrap() as usize;
        }
        assert_eq!(ok, 5);
    }

    #[tokio::test]
    async fn tidy_answers_202() {
        let h = Harness::new().await;
        let r = h.root_call("tidy", json!({})).await.unwrap();
        assert_eq!(r.status, Some(202));
        assert!(r.warnings[0].starts_with("Tidy operation successfully started"));
    }
}
