//! `login/<username>`: check the password and hand the core a [`Login`]; the
//! core issues the token and answers with the `auth` block.
//!
//! A wrong password and an unknown user give the same 400 `invalid username
//! or password`, and cost the same: an unknown user's password is checked
//! against a dummy argon2id hash. The `token_bound_cidrs` check comes after
//! the password check, as in Vault, so it reveals nothing to a caller without
//! the password.

use super::Userpass;
use super::password::{self, Password};
use super::users;
use coffer_core::logical::LoginAlias;
use coffer_core::{Error, Request, Response, Result};
use std::collections::BTreeMap;

pub(crate) const INVALID_CREDENTIALS: &str = "invalid username or password";

pub(crate) async fn login(b: &Userpass, req: &mut Request, name: &str) -> Result<Option<Response>> {
    // Vault answers a missing password with a 500; a 400 is what it means.
    let Some(pw) = Password::take(&mut req.data)? else { return Err(Error::invalid("missing password")) };
    let user = users::load(b, name).await?;
    let ok = password::verify(pw, user.as_ref().map(|u| u.password_hash.clone())).await?;
    let user = match user {
        Some(u) if ok => u,
        _ => return Err(Error::invalid(INVALID_CREDENTIALS)),
    };
    let t = &user.token;
    if !coffer_core::cidr::allows(&t.bound_cidrs, req.remote_addr.map(|a| a.ip())) {
        // Vault's plain `permission denied` (logical.ErrPermissionDenied from a
        // login), not the ACL's multierror text.
        return Err(Error::Coded(403, "permission denied".into()));
    }
    let metadata = BTreeMap::from([("username".to_string(), name.to_string())]);
    Ok(Some(Response {
        // As in Vault: the alias is the (lower-cased) username.
        login: Some(user.token.login(name, metadata, Some(LoginAlias { name: name.to_string(), ..Default::default() }))),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Harness, harness};
    use coffer_core::logical::Login;
    use super::*;
    use coffer_core::Operation::{Delete, Update};
    use serde_json::{Value, json};
    use std::time::Duration;

    async fn login(h: &Harness, user: &str, pw: &str) -> Result<Login> {
        let r = h.call(Update, &format!("login/{user}"), json!({"password": pw})).await?;
        Ok(r.expect("a login response").login.expect("a Login"))
    }

    fn invalid(r: Result<Login>) -> String {
        match r {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn success_returns_the_users_token_settings() {
        let h = harness().await;
        h.ok(
            Update,
            "users/alice",
            json!({"password": "pw-alice", "token_policies": "a,b", "token_ttl": "1h", "token_max_ttl": "2h",
                   "token_period": "30m", "token_explicit_max_ttl": "5h", "token_num_uses": 4}),
        )
        .await;
        let l = login(&h, "alice", "pw-alice").await.unwrap();
        assert_eq!(l.policies, ["a", "b"]);
        assert!(!l.no_default_policy);
        assert_eq!(l.metadata, BTreeMap::from([("username".to_string(), "alice".to_string())]));
        assert_eq!(l.display_name, "alice");
        assert_eq!(l.ttl, Duration::from_secs(3600));
        assert_eq!(l.max_ttl, Duration::from_secs(7200));
        assert_eq!(l.period, Duration::from_secs(1800));
        assert_eq!(l.explicit_max_ttl, Duration::from_secs(18000));
        assert_eq!(l.num_uses, 4);
        assert!(l.renewable);

        h.ok(Update, "users/bob", json!({"password": "pw-bob", "token_no_default_policy": true})).await;
        let l = login(&h, "bob", "pw-bob").await.unwrap();
        assert!(l.policies.is_empty() && l.no_default_policy);
        assert_eq!((l.ttl, l.max_ttl), (Duration::ZERO, Duration::ZERO), "zero = the mount's defaults");
        assert_eq!(l.token_type, "", "default: the mount decides");

        h.ok(Update, "users/carl", json!({"password": "pw-carl", "token_type": "batch"})).await;
        assert_eq!(login(&h, "carl", "pw-carl").await.unwrap().token_type, "batch");
    }

    #[tokio::test]
    async fn wrong_password_and_unknown_user_look_the_same() {
        let h = harness().await;
        h.ok(Update, "users/alice", json!({"password": "pw-alice"})).await;
        let wrong = invalid(login(&h, "alice", "pw-alicf").await);
        let unknown = invalid(login(&h, "mallory", "pw-alice").await);
        assert_eq!(wrong, INVALID_CREDENTIALS);
        assert_eq!(unknown, wrong);
        // Case matters for passwords.
        assert_eq!(invalid(login(&h, "alice", "PW-ALICE").await), INVALID_CREDENTIALS);
        let e = invalid(
            h.call(Update, "login/alice", json!({})).await.map(|r| r.and_then(|r| r.login).unwrap_or_default()),
        );
        assert_eq!(e, "missing password");
    }

    #[tokio::test]
    async fn login_username_is_case_insensitive() {
        let h = harness().await;
        h.ok(Update, "users/Alice", json!({"password": "pw"})).await;
        let l = login(&h, "ALICE", "pw").await.unwrap();
        assert_eq!(l.metadata["username"], "alice");
        assert_eq!(l.display_name, "alice");
    }

    #[tokio::test]
    async fn password_change_and_delete_take_effect() {
        let h = harness().await;
        h.ok(Update, "users/carol", json!({"password": "old-pw"})).await;
        login(&h, "carol", "old-pw").await.unwrap();
        h.ok(Update, "users/carol/password", json!({"password": "new-pw"})).await;
        assert_eq!(invalid(login(&h, "carol", "old-pw").await), INVALID_CREDENTIALS);
        login(&h, "carol", "new-pw").await.unwrap();
        // Through users/<name> too.
        h.ok(Update, "users/carol", json!({"password": "newer-pw"})).await;
        assert_eq!(invalid(login(&h, "carol", "new-pw").await), INVALID_CREDENTIALS);
        login(&h, "carol", "newer-pw").await.unwrap();
        // A token-field-only update keeps the password.
        h.ok(Update, "users/carol", json!({"token_policies": "x"})).await;
        assert_eq!(login(&h, "carol", "newer-pw").await.unwrap().policies, ["x"]);
        h.ok(Delete, "users/carol", Value::Null).await;
        assert_eq!(invalid(login(&h, "carol", "newer-pw").await), INVALID_CREDENTIALS);
    }

    #[tokio::test]
    async fn bound_cidrs_are_enforced_after_the_password() {
        let mut h = harness().await;
        h.ok(Update, "users/dana", json!({"password": "pw", "token_bound_cidrs": "10.0.0.0/8, 127.0.0.1"})).await;
        // The issued token carries the same binding (the core enforces it on every use).
        let l = login(&h, "dana", "pw").await.unwrap();
        assert_eq!(coffer_core::cidr::to_strings(&l.bound_cidrs), ["10.0.0.0/8", "127.0.0.1"]);
        h.remote_addr = Some("10.2.3.4:5555".parse().unwrap());
        login(&h, "dana", "pw").await.unwrap();
        h.remote_addr = Some("192.168.1.1:5555".parse().unwrap());
        match login(&h, "dana", "pw").await {
            Err(Error::Coded(403, m)) => assert_eq!(m, "permission denied"),
            other => panic!("expected 403, got {other:?}"),
        }
        // Without the password the CIDR check is never reached.
        assert_eq!(invalid(login(&h, "dana", "nope").await), INVALID_CREDENTIALS);
        h.remote_addr = None;
        assert!(matches!(login(&h, "dana", "pw").await, Err(Error::Coded(403, _))));
    }

    #[tokio::test]
    async fn errors_never_echo_the_password() {
        let h = harness().await;
        h.ok(Update, "users/eve", json!({"password": "right-one"})).await;
        for (user, pw) in [("eve", "Needle-Pw-1"), ("ghost", "Needle-Pw-2")] {
            let e = login(&h, user, pw).await.unwrap_err();
            assert!(!e.to_string().contains(pw) && !format!("{e:?}").contains(pw));
        }
    }
}
