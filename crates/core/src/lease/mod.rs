//! Leases: the index behind `sys/leases/*` (vault-api.md; Vault's expiration
//! manager, minus its timers).
//!
//! One job: know every lease by id, list them by prefix, and hand lookups,
//! renewals and revocations to whatever owns the lease. It keeps no timers of
//! its own: a token lease expires through the token store's expiry index and
//! sweeper, which remain the only token expiry mechanism.
//!
//! Layout:
//! - `mod.rs` (this file): the lease record, the [`LeaseOwner`] callbacks and
//!   the lookup view of a lease.
//! - `index.rs`: [`LeaseIndex`], the storage layout (`sys/expire/`).
//! - `manager.rs`: [`LeaseManager`], what `sys/leases/*` calls.
//! - `token.rs`: the owner of token leases (the token store).
//!
//! Lease ids have Vault's form `<creation path>/h<64 hex>`: for a token,
//! `auth/token/create/h3f1...` or `auth/userpass/login/alice/h9c0...`. The
//! suffix is a keyed HMAC derived from the token's storage hash, so a lease
//! id names the token without revealing the token, its storage key or its
//! cubbyhole id.
//!
//! Unseal reads nothing here: the index lives in storage and every
//! operation reads what it needs (one key, one key range). The one exception
//! is a storage from before the index: its tokens are indexed once, in the
//! background, and [`LeaseManager`]'s operations wait for that to finish
//! ([`LeaseManager::wait_indexed`]) rather than miss an unindexed lease.
//!
//! Invariant: a token with a lease has its index entry written in the same
//! storage batch as its record and deleted in the same batch as its record
//! (token store `insert` / `revoke_one`), so after any crash either both
//! exist or neither does.
//!
//! Adding secret leases (dynamic credentials) later: a `LeaseKind::Secret`
//! variant that carries the owning mount's uuid, the engine's internal data,
//! its TTL, renewable flag and expiry (secret leases have no token record to
//! keep their times); an owner that implements [`LeaseOwner`] by calling the
//! mount's backend (revoke/renew callbacks); an `expiry/` index and sweeper in
//! this module for those leases only; and a by-token index so that revoking a
//! token revokes the secrets it obtained (from `TokenHooks::on_revoke`).
//! `sys/leases/*` and the CLI need no change for that.

mod index;
mod manager;
mod token;

pub use index::LeaseIndex;
pub use manager::{LeaseManager, RevokeMode, TidyReport};

use crate::error::{Error, Result};
use crate::logical::{Data, Response};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// One lease as stored in the index.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LeaseEntry {
    pub lease_id: String,
    /// Creation path: the token's path (the request that created it).
    pub path: String,
    /// Unix nanoseconds of issue (`issue_time`).
    pub issue_time_ns: i64,
    pub kind: LeaseKind,
}

/// What a lease stands for, and so who owns it.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LeaseKind {
    /// A service token; its times live in the token record.
    Token {
        /// Salted hash of the token (its storage key in the token store).
        token_hash: String,
    },
}

impl std::fmt::Debug for LeaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash is a token store lookup key and the cubbyhole id.
        match self {
            LeaseKind::Token { .. } => f.write_str("Token([redacted])"),
        }
    }
}

impl LeaseEntry {
    pub fn token(lease_id: String, path: String, issue_time_ns: i64, token_hash: String) -> LeaseEntry {
        LeaseEntry { lease_id, path, issue_time_ns, kind: LeaseKind::Token { token_hash } }
    }
}

/// The live state of a lease, as its owner reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseState {
    /// Unix nanoseconds; `None` = never expires.
    pub expire_ns: Option<i64>,
    pub last_renewal_ns: Option<i64>,
    /// The owner allows renewal at all (the token's / secret's flag).
    pub renewable: bool,
    /// The owner's clock when it read the state.
    pub now_ns: i64,
}

impl LeaseState {
    /// Vault's renewability check, with its messages: a lease that never
    /// expires is not renewable, nor is an expired one.
    pub fn check_renewable(&self) -> Result<()> {
        match self.expire_ns {
            None => Err(Error::invalid("lease is not renewable")),
            Some(at) if at < self.now_ns => Err(Error::invalid("lease expired")),
            Some(_) if !self.renewable => Err(Error::invalid("lease is not renewable")),
            Some(_) => Ok(()),
        }
    }

    /// Remaining seconds, as Vault computes them: expiry minus the current
    /// time rounded to the second, truncated toward zero; 0 if it never expires.
    pub fn ttl_secs(&self) -> i64 {
        const S: i64 = 1_000_000_000;
        self.expire_ns.map_or(0, |at| (at - (self.now_ns + S / 2).div_euclid(S) * S) / S)
    }
}

/// What `sys/leases/lookup` shows.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseInfo {
    pub entry: LeaseEntry,
    pub state: LeaseState,
}

impl LeaseInfo {
    /// The response `data`, keys in the order Vault prints them.
    pub fn to_data(&self) -> Data {
        let time = |ns: Option<i64>| ns.map_or(Value::Null, |t| json!(crate::util::rfc3339_ns(t)));
        let mut d = Data::new();
        d.insert("expire_time".into(), time(self.state.expire_ns));
        d.insert("id".into(), json!(self.entry.lease_id));
        d.insert("issue_time".into(), time(Some(self.entry.issue_time_ns)));
        d.insert("last_renewal".into(), time(self.state.last_renewal_ns));
        d.insert("path".into(), json!(self.entry.path));
        d.insert("renewable".into(), json!(self.state.check_renewable().is_ok()));
        d.insert("ttl".into(), json!(self.state.ttl_secs()));
        d
    }
}

/// The callbacks into whatever a lease stands for. Tokens implement it over
/// the token store; a secrets engine will implement it over its backend's
/// revoke/renew handlers.
#[async_trait]
pub trait LeaseOwner: Send + Sync {
    /// The lease's current state; `None` if what it stands for is gone.
    async fn state(&self, lease: &LeaseEntry) -> Result<Option<LeaseState>>;
    /// Revoke what the lease stands for, now. Idempotent. The owner may
    /// delete the index entry itself (in its own batch); the manager deletes
    /// it after a successful revoke either way.
    async fn revoke(&self, lease: &LeaseEntry) -> Result<()>;
    /// Make the lease expire now, so that the owner's expiry mechanism
    /// revokes it shortly (`sync=false`).
    async fn expire_now(&self, lease: &LeaseEntry) -> Result<()>;
    /// Renew a lease that passed [`LeaseState::check_renewable`].
    async fn renew(&self, lease: &LeaseEntry, increment: Duration) -> Result<Response>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn state(expire: Option<i64>, renewable: bool, now: i64) -> LeaseState {
        LeaseState { expire_ns: expire, last_renewal_ns: None, renewable, now_ns: now }
    }

    #[test]
    fn renewability_and_ttl_like_vault() {
        let now = 1_000 * S + 400_000_000; // rounds down to 1000 s
        assert_eq!(state(None, true, now).check_renewable().unwrap_err().to_string(), "lease is not renewable");
        assert_eq!(state(Some(now - 1), true, now).check_renewable().unwrap_err().to_string(), "lease expired");
        assert_eq!(state(Some(now + S), false, now).check_renewable().unwrap_err().to_string(), "lease is not renewable");
        assert!(state(Some(now + S), true, now).check_renewable().is_ok());
        assert_eq!(state(None, true, now).ttl_secs(), 0);
        assert_eq!(state(Some(1_060 * S + 900_000_000), true, now).ttl_secs(), 60);
        let later = 1_000 * S + 600_000_000; // rounds up to 1001 s
        assert_eq!(state(Some(1_060 * S + 900_000_000), true, later).ttl_secs(), 59);
    }

    #[test]
    fn lookup_data_has_vaults_fields_and_no_token_hash() {
        let e = LeaseEntry::token("auth/token/create/habc".into(), "auth/token/create".into(), 5 * S, "secret-hash".into());
        let info = LeaseInfo { entry: e.clone(), state: state(Some(3_605 * S), true, 5 * S) };
        let d = info.to_data();
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        assert_eq!(keys, ["expire_time", "id", "issue_time", "last_renewal", "path", "renewable", "ttl"]);
        assert_eq!(d["issue_time"], "1970-01-01T00:00:05Z");
        assert_eq!(d["last_renewal"], Value::Null);
        assert_eq!((d["renewable"].clone(), d["ttl"].clone()), (json!(true), json!(3600)));
        assert!(!serde_json::to_string(&d).unwrap().contains("secret-hash"));
        assert!(!format!("{e:?}").contains("secret-hash"));
    }
}
