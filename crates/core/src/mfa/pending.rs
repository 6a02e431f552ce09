//! Pending logins: a login that passed its auth method but waits for its
//! MFA passcodes (`sys/mfa/validate`), by `mfa_request_id`.
//!
//! Anyone who can log in creates one, so the store is bounded in count and
//! in time: an entry lives [`PENDING_TTL`], and past [`MAX_PENDING`] live
//! entries a new login is refused (503) rather than evicting someone's.
//! Validation [`PendingStore::claim`]s an entry (removed under the lock, so
//! of concurrent validations of one request id exactly one holds it); as in
//! Vault a failed validation [`PendingStore::restore`]s it for another try
//! within its lifetime, a successful one consumes it.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a pending login waits for its passcodes.
pub const PENDING_TTL: Duration = Duration::from_secs(300);
/// Live pending logins held at most.
pub const MAX_PENDING: usize = 10_000;

pub struct PendingStore<T> {
    map: parking_lot::Mutex<HashMap<String, (Instant, T)>>,
    ttl: Duration,
    max: usize,
}

impl<T> Default for PendingStore<T> {
    fn default() -> Self {
        PendingStore::new(PENDING_TTL, MAX_PENDING)
    }
}

/// A claimed pending login: its value and when it would have expired.
pub struct Claimed<T> {
    pub value: T,
    expires: Instant,
}

impl<T> PendingStore<T> {
    pub fn new(ttl: Duration, max: usize) -> Self {
        PendingStore { map: parking_lot::Mutex::new(HashMap::new()), ttl, max }
    }

    /// Park `value`; returns its new request id.
    pub fn insert(&self, value: T, now: Instant) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut map = self.map.lock();
        if map.len() >= self.max {
            map.retain(|_, (exp, _)| *exp > now);
            if map.len() >= self.max {
                return Err(Error::Coded(503, "too many pending MFA logins; try again later".into()));
            }
        }
        map.insert(id.clone(), (now + self.ttl, value));
        Ok(id)
    }

    /// Take the pending login `id` for validation, if it exists and has not
    /// expired. Nobody else can claim it until it is restored.
    pub fn claim(&self, id: &str, now: Instant) -> Option<Claimed<T>> {
        let mut map = self.map.lock();
        let (expires, value) = map.remove(id)?;
        (expires > now).then_some(Claimed { value, expires })
    }

    /// Put back a claimed login whose validation failed (unless it expired meanwhile).
    pub fn restore(&self, id: &str, claimed: Claimed<T>, now: Instant) {
        if claimed.expires > now {
            self.map.lock().insert(id.to_string(), (claimed.expires, claimed.value));
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_claim_is_single_use_under_concurrency() {
        let store = Arc::new(PendingStore::<u32>::default());
        let now = Instant::now();
        let id = store.insert(7, now).unwrap();
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (store, id) = (store.clone(), id.clone());
                std::thread::spawn(move || store.claim(&id, now).map(|c| c.value))
            })
            .collect();
        let got: Vec<u32> = threads.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert_eq!(got, vec![7], "exactly one claim");
        assert!(store.claim(&id, now).is_none(), "consumed");
    }

    #[test]
    fn a_failed_validation_restores_the_request_until_it_expires() {
        let store = PendingStore::<&str>::new(Duration::from_secs(10), 10);
        let now = Instant::now();
        let id = store.insert("login", now).unwrap();
        let c = store.claim(&id, now).unwrap();
        assert!(store.claim(&id, now).is_none(), "held while claimed");
        store.restore(&id, c, now + Duration::from_secs(1));
        let c = store.claim(&id, now + Duration::from_secs(2)).unwrap();
        assert_eq!(c.value, "login");
        // restoring after its lifetime drops it
        store.restore(&id, c, now + Duration::from_secs(10));
        assert!(store.is_empty());
        // an expired entry cannot be claimed
        let id = store.insert("x", now).unwrap();
        assert!(store.claim(&id, now + Duration::from_secs(11)).is_none());
        assert!(store.claim("not-an-id", now).is_none());
    }

    #[test]
    fn the_store_is_bounded_and_refuses_rather_than_evicts() {
        let store = PendingStore::<u8>::new(Duration::from_secs(10), 3);
        let now = Instant::now();
        let ids: Vec<_> = (0..3).map(|i| store.insert(i, now).unwrap()).collect();
        assert!(matches!(store.insert(9, now), Err(Error::Coded(503, _))));
        assert_eq!(store.len(), 3);
        assert!(ids.iter().all(|id| store.map.lock().contains_key(id)), "nobody was evicted");
        // expired entries make room
        assert!(store.insert(9, now + Duration::from_secs(10)).is_ok());
        assert_eq!(store.len(), 1);
        assert!(store.claim(&ids[0], now + Duration::from_secs(10)).is_none());
    }
}
