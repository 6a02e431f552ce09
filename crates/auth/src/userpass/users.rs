//! User records: `users/<name>` (create, update, read, delete), LIST `users/`,
//! and the narrower `users/<name>/password` and `users/<name>/policies`.
//!
//! # Storage (inside the mount's encrypted view)
//! - `user/<lowercased name>`: one [`UserEntry`] as JSON. Keys are built only
//!   by [`user_key`]; the password is kept only as an argon2id PHC string.

use super::Userpass;
use super::password::{self, Password};
use crate::token_fields::{self, Legacy, TokenSettings};
use coffer_core::fields::get_str;
use coffer_core::{Data, Error, Request, Response, Result};
use serde::{Deserialize, Serialize};

// ----------------------------------------------------------------- storage keys

const USER_PREFIX: &str = "user/";

fn user_key(name: &str) -> String {
    format!("{USER_PREFIX}{name}")
}

// --------------------------------------------------------------------- records

/// What is stored per user.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct UserEntry {
    /// argon2id PHC string; never the password.
    pub(crate) password_hash: String,
    #[serde(default)]
    pub(crate) token: TokenSettings,
    /// Which deprecated field names are in use, so reads echo them as Vault does.
    #[serde(default)]
    pub(crate) legacy: Legacy,
}

impl std::fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("password_hash", &"[redacted]")
            .field("token", &self.token)
            .field("legacy", &self.legacy)
            .finish()
    }
}

pub(crate) async fn load(b: &Userpass, name: &str) -> Result<Option<UserEntry>> {
    b.view.get_json(&user_key(name)).await
}

async fn store(b: &Userpass, name: &str, entry: &UserEntry) -> Result<()> {
    b.view.put_json(&user_key(name), entry).await
}

// --------------------------------------------------------------- field parsing

fn apply_policies(data: &Data, entry: &mut UserEntry) -> Result<()> {
    token_fields::apply_policies(data, &mut entry.token, &mut entry.legacy)
}

/// Apply the `token_*` fields present in `data` (userpass has no others
/// besides the password, which the handlers take out first).
fn apply_token_fields(data: &Data, entry: &mut UserEntry) -> Result<()> {
    if let Some(p) = get_str(data, "password_hash")?
        && !p.is_empty()
    {
        return Err(Error::invalid("password_hash: not supported by Coffer; provide password instead"));
    }
    token_fields::apply(data, &mut entry.token, &mut entry.legacy)
}

const MISSING_PASSWORD: &str = "must provide either password or password_hash";

// -------------------------------------------------------------------- handlers

pub(crate) async fn list(b: &Userpass) -> Result<Option<Response>> {
    let keys = b.view.list(USER_PREFIX).await?;
    Ok(Some(Response::list(keys)))
}

pub(crate) async fn read(b: &Userpass, name: &str) -> Result<Option<Response>> {
    let Some(entry) = load(b, name).await? else { return Ok(None) };
    Ok(Some(Response::data(read_data(&entry))))
}

/// The `data` of a read: the token fields, never anything about the password.
fn read_data(e: &UserEntry) -> Data {
    token_fields::read_data(&e.token, &e.legacy)
}

/// Create (password required) or update (only the fields given change).
pub(crate) async fn write(b: &Userpass, req: &mut Request, name: &str) -> Result<Option<Response>> {
    let pw = Password::take(&mut req.data)?;
    // Validate everything against a scratch record before paying for a hash.
    let mut probe = UserEntry::default();
    apply_token_fields(&req.data, &mut probe)?;
    let new_hash = match pw {
        Some(pw) => Some(password::hash(pw).await?),
        None => None,
    };
    let _guard = b.write_lock.lock().await;
    let existing = load(b, name).await?;
    let mut entry = match (existing, &new_hash) {
        (Some(e), _) => e,
        (None, Some(_)) => UserEntry::default(),
        (None, None) => return Err(Error::invalid(MISSING_PASSWORD)),
    };
    apply_token_fields(&req.data, &mut entry)?;
    if let Some(h) = new_hash {
        entry.password_hash = h;
    }
    store(b, name, &entry).await?;
    Ok(None)
}

pub(crate) async fn delete(b: &Userpass, name: &str) -> Result<Option<Response>> {
    let _guard = b.write_lock.lock().await;
    b.view.delete(&user_key(name)).await?;
    Ok(None)
}

/// Vault answers both narrow updates for an unknown user with this text (as a 500).
const NO_SUCH_USER: &str = "username does not exist";

pub(crate) async fn update_password(b: &Userpass, req: &mut Request, name: &str) -> Result<Option<Response>> {
    let Some(pw) = Password::take(&mut req.data)? else { return Err(Error::invalid(MISSING_PASSWORD)) };
    if load(b, name).await?.is_none() {
        return Err(Error::invalid(NO_SUCH_USER));
    }
    let hash = password::hash(pw).await?;
    let _guard = b.write_lock.lock().await;
    let Some(mut entry) = load(b, name).await? else { return Err(Error::invalid(NO_SUCH_USER)) };
    entry.password_hash = hash;
    store(b, name, &entry).await?;
    Ok(None)
}

pub(crate) async fn update_policies(b: &Userpass, req: &mut Request, name: &str) -> Result<Option<Response>> {
    let _guard = b.write_lock.lock().await;
    let Some(mut entry) = load(b, name).await? else { return Err(Error::invalid(NO_SUCH_USER)) };
    apply_policies(&req.data, &mut entry)?;
    store(b, name, &entry).await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{contains, harness};
    use super::*;
    use coffer_core::Operation::{Create, Delete, List, Read, Update};
    use serde_json::{Value, json};

    #[tokio::test]
    async fn crud_and_exact_read_shape() {
        let h = harness().await;
        assert_eq!(h.effective_op("users/alice").await, Create);
        let r = h
            .ok(Update, "users/alice", json!({"password": "pw-alice-1", "token_policies": "a,b", "token_ttl": "1h"}))
            .await;
        assert!(r.is_none(), "create answers 204");
        assert_eq!(h.effective_op("users/alice").await, Update);
        // The exact data OpenBao 2.x returns for this user.
        assert_eq!(
            h.read("users/alice").await.unwrap(),
            json!({
                "token_bound_cidrs": [], "token_explicit_max_ttl": 0, "token_max_ttl": 0,
                "token_no_default_policy": false, "token_num_uses": 0, "token_period": 0,
                "token_policies": ["a", "b"], "token_strictly_bind_ip": false, "token_ttl": 3600,
                "token_type": "default"
            })
        );
        let keys: Vec<String> = h.read("users/alice").await.unwrap().as_object().unwrap().keys().cloned().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "keys in Go's sorted order");

        // An update changes only what it names; no password needed.
        h.ok(Update, "users/alice", json!({"token_max_ttl": "2h", "token_num_uses": 3, "token_period": 60,
            "token_explicit_max_ttl": "3h", "token_no_default_policy": true, "token_type": "service"}))
            .await;
        let d = h.read("users/alice").await.unwrap();
        assert_eq!(d["token_max_ttl"], 7200);
        assert_eq!(d["token_ttl"], 3600);
        assert_eq!(d["token_policies"], json!(["a", "b"]));
        assert_eq!(d["token_num_uses"], 3);
        assert_eq!(d["token_period"], 60);
        assert_eq!(d["token_explicit_max_ttl"], 10800);
        assert_eq!(d["token_no_default_policy"], true);
        assert_eq!(d["token_type"], "service");

        h.ok(Update, "users/bob", json!({"password": "pw-bob"})).await;
        assert_eq!(h.list("users").await, ["alice", "bob"]);
        assert!(h.ok(Delete, "users/alice", Value::Null).await.is_none());
        assert!(h.read("users/alice").await.is_none(), "deleted user reads as 404");
        assert_eq!(h.list("users").await, ["bob"]);
        // Deleting what is not there is fine (Vault: 204).
        assert!(h.ok(Delete, "users/nobody", Value::Null).await.is_none());
        h.ok(Delete, "users/bob", Value::Null).await;
        assert!(h.list("users").await.is_empty());
        assert!(h.read("users/nobody").await.is_none());
    }

    #[tokio::test]
    async fn create_requires_a_password() {
        let h = harness().await;
        for body in [json!({}), json!({"password": ""}), json!({"password": null, "token_policies": "a"})] {
            assert_eq!(h.bad_request(Update, "users/carol", body).await, MISSING_PASSWORD);
        }
        assert!(h.read("users/carol").await.is_none(), "a failed create leaves nothing behind");
        assert_eq!(
            h.bad_request(Update, "users/carol", json!({"password": "x", "password_hash": "$2a$10$abc"})).await,
            "password_hash: not supported by Coffer; provide password instead"
        );
    }

    #[tokio::test]
    async fn read_never_shows_the_password() {
        let h = harness().await;
        h.ok(Update, "users/dave", json!({"password": "hunter2-plain"})).await;
        let d = h.read("users/dave").await.unwrap();
        let text = d.to_string();
        assert!(!text.contains("hunter2-plain"));
        assert!(!text.contains("argon2"), "not even the hash: {text}");
        assert!(d.as_object().unwrap().keys().all(|k| !k.contains("password")), "{text}");
    }

    #[tokio::test]
    async fn usernames_are_case_insensitive() {
        let h = harness().await;
        h.ok(Update, "users/Alice", json!({"password": "pw", "token_policies": "p"})).await;
        assert_eq!(h.list("users").await, ["alice"]);
        assert_eq!(h.read("users/ALICE").await.unwrap()["token_policies"], json!(["p"]));
        assert_eq!(h.effective_op("users/aLiCe").await, Update);
        h.ok(Update, "users/ALICE", json!({"token_policies": "q"})).await;
        assert_eq!(h.read("users/alice").await.unwrap()["token_policies"], json!(["q"]));
        h.ok(Delete, "users/ALICE", Value::Null).await;
        assert!(h.list("users").await.is_empty());
    }

    #[tokio::test]
    async fn deprecated_names_are_echoed_while_in_use() {
        let h = harness().await;
        h.ok(
            Update,
            "users/carol",
            json!({"password": "pw", "policies": ["x", "Y"], "ttl": 60, "max_ttl": "10m", "bound_cidrs": "127.0.0.1/32"}),
        )
        .await;
        // What OpenBao returns for the same write.
        assert_eq!(
            h.read("users/carol").await.unwrap(),
            json!({
                "bound_cidrs": ["127.0.0.1"], "max_ttl": 600, "policies": ["x", "y"],
                "token_bound_cidrs": ["127.0.0.1"], "token_explicit_max_ttl": 0, "token_max_ttl": 600,
                "token_no_default_policy": false, "token_num_uses": 0, "token_period": 0,
                "token_policies": ["x", "y"], "token_strictly_bind_ip": false, "token_ttl": 60,
                "token_type": "default", "ttl": 60
            })
        );
        // The new name alone retires the old one; the others stay.
        h.ok(Update, "users/carol", json!({"token_policies": ["z"]})).await;
        let d = h.read("users/carol").await.unwrap();
        assert!(d.get("policies").is_none(), "{d}");
        assert_eq!(d["token_policies"], json!(["z"]));
        assert_eq!(d["ttl"], 60);
        // Both names: the new value wins, the old name is in use again.
        h.ok(Update, "users/carol", json!({"token_policies": ["z"], "policies": ["q"]})).await;
        let d = h.read("users/carol").await.unwrap();
        assert_eq!((d["policies"].clone(), d["token_policies"].clone()), (json!(["z"]), json!(["z"])));
    }

    #[tokio::test]
    async fn invalid_token_fields_are_rejected_and_change_nothing() {
        let h = harness().await;
        h.ok(Update, "users/erin", json!({"password": "pw", "token_max_ttl": "1h"})).await;
        let before = h.read("users/erin").await.unwrap();
        let cases = [
            (json!({"token_ttl": "2h"}), "'token_ttl' cannot be greater than 'token_max_ttl'"),
            (json!({"token_num_uses": -1}), "'token_num_uses' cannot be negative"),
            (json!({"token_type": "bogus"}), "invalid 'token_type' value \"bogus\""),
            (json!({"token_type": "default-service"}), "invalid 'token_type' value \"default-service\""),
            (json!({"token_ttl": "5x"}), "token_ttl:"),
            (json!({"token_num_uses": "abc"}), "token_num_uses: expected an integer"),
            (json!({"token_bound_cidrs": "10.0.0.0/8,bad"}), "token_bound_cidrs: error parsing address \"bad\""),
            (json!({"token_type": "batch", "token_period": "1h"}), "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens"),
            (json!({"token_type": "batch", "token_num_uses": 2}), "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count"),
            (json!({"token_type": "default-batch"}), "invalid 'token_type' value \"default-batch\""),
            (json!({"token_strictly_bind_ip": true}), "token_strictly_bind_ip: not supported yet"),
        ];
        for (body, want) in cases {
            let e = h.bad_request(Update, "users/erin", body.clone()).await;
            assert!(e.starts_with(want), "{body}: {e}");
        }
        // A bad field on create is caught before hashing and storing.
        let e = h.bad_request(Update, "users/frank", json!({"password": "pw", "token_num_uses": -2})).await;
        assert_eq!(e, "'token_num_uses' cannot be negative");
        assert!(h.read("users/frank").await.is_none());
        assert_eq!(h.read("users/erin").await.unwrap(), before);
        // token_strictly_bind_ip=false is accepted (it is what reads show).
        h.ok(Update, "users/erin", json!({"token_strictly_bind_ip": false, "token_type": "default"})).await;
    }

    #[tokio::test]
    async fn bound_cidrs_are_normalized_without_a_warning() {
        let h = harness().await;
        // Enforced on every use of the issued token now: a plain 204, no "login only" warning.
        let r = h
            .ok(Update, "users/gina", json!({"password": "pw", "token_bound_cidrs": ["10.1.2.3/8", "::1/128", "fd00::/8", "::ffff:127.0.0.1"]}))
            .await;
        assert!(r.is_none(), "{r:?}");
        assert_eq!(h.read("users/gina").await.unwrap()["token_bound_cidrs"], json!(["10.1.2.3/8", "::1", "fd00::/8", "127.0.0.1"]));
        assert!(h.read("users/gina").await.unwrap().get("bound_cidrs").is_none());
        // An empty item is an error (Vault), not dropped.
        let e = h.call(Update, "users/gina", json!({"token_bound_cidrs": "10.0.0.0/8, ,::1"})).await.unwrap_err().to_string();
        assert_eq!(e, "token_bound_cidrs: error parsing address \"\": not an IP address or CIDR block");
        assert_eq!(h.read("users/gina").await.unwrap()["token_bound_cidrs"], json!(["10.1.2.3/8", "::1", "fd00::/8", "127.0.0.1"]));
        // Clearing them.
        assert!(h.ok(Update, "users/gina", json!({"token_bound_cidrs": []})).await.is_none());
        assert_eq!(h.read("users/gina").await.unwrap()["token_bound_cidrs"], json!([]));
    }

    #[tokio::test]
    async fn password_and_policies_endpoints() {
        let h = harness().await;
        assert_eq!(h.bad_request(Update, "users/nobody/password", json!({"password": "x"})).await, NO_SUCH_USER);
        assert_eq!(h.bad_request(Update, "users/nobody/policies", json!({"token_policies": "x"})).await, NO_SUCH_USER);
        h.ok(Update, "users/hal", json!({"password": "pw", "token_policies": "a,b", "token_ttl": 30})).await;
        assert_eq!(h.bad_request(Update, "users/hal/password", json!({})).await, MISSING_PASSWORD);
        // `{}` on policies changes nothing.
        assert!(h.ok(Update, "users/hal/policies", json!({})).await.is_none());
        assert_eq!(h.read("users/hal").await.unwrap()["token_policies"], json!(["a", "b"]));
        h.ok(Update, "users/HAL/policies", json!({"token_policies": ["c"]})).await;
        let d = h.read("users/hal").await.unwrap();
        assert_eq!(d["token_policies"], json!(["c"]));
        assert_eq!(d["token_ttl"], 30, "other settings untouched");
        h.ok(Update, "users/hal/policies", json!({"policies": "P1"})).await;
        let d = h.read("users/hal").await.unwrap();
        assert_eq!((d["policies"].clone(), d["token_policies"].clone()), (json!(["p1"]), json!(["p1"])));
        // Neither narrow path is readable or listable.
        assert!(matches!(h.call(Read, "users/hal/password", Value::Null).await, Err(Error::UnsupportedOperation(_))));
        assert!(matches!(h.call(List, "users/hal/policies", Value::Null).await, Err(Error::UnsupportedPath(_))));
    }

    #[tokio::test]
    async fn stored_form_holds_no_plaintext_password() {
        let h = harness().await;
        let pw = "Pl41ntext-Needle-7c1e";
        h.ok(Update, "users/ivan", json!({"password": pw})).await;
        h.ok(Update, "users/ivan/password", json!({"password": "Second-Needle-99ab"})).await;
        let logical = h.logical_values().await;
        assert_eq!(logical.len(), 1, "one record per user");
        let (key, value) = &logical[0];
        assert_eq!(key, &user_key("ivan"));
        assert!(contains(value, b"$argon2id$v=19$"), "stored as a PHC string");
        for needle in [pw, "Second-Needle-99ab"] {
            assert!(!contains(value, needle.as_bytes()), "plaintext in the decrypted record");
            for (k, v) in h.physical_values().await {
                assert!(!contains(&v, needle.as_bytes()) && !k.contains(needle), "plaintext in physical {k}");
            }
        }
    }

    #[test]
    fn debug_redacts_the_hash() {
        let e = UserEntry { password_hash: "$argon2id$v=19$secret-bits".into(), ..Default::default() };
        let s = format!("{e:?}");
        assert!(!s.contains("secret-bits") && s.contains("[redacted]"), "{s}");
    }
}
