//! What makes a TOTP code worth something: the replay cache (a code is
//! accepted once: after a code of time step `s` is accepted for a method and
//! an entity, no code of step `s` or earlier is, RFC 6238 §5.2) and the
//! failure limiter (after `max_validation_attempts` failures in a row for a
//! method and an entity, every attempt is refused, the right code too, until
//! the window of the first failure has passed; a success clears it).
//!
//! Both live in memory, as in Vault (per node, dropped on seal), under one
//! lock: the check of a code and the record of its use are one step, so of
//! concurrent requests carrying the same code exactly one is accepted.
//! Both are bounded: an entry exists only for a method and an existing
//! entity that tried, and expired entries are pruned when the map grows.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Past this many entries a map is pruned of expired ones on insert.
const PRUNE_AT: usize = 4096;

type Key = (String, String); // (method id, entity id)

#[derive(Default)]
struct State {
    /// Last accepted step, kept until its codes can no longer be valid.
    used: HashMap<Key, (u64, Instant)>,
    /// Failures so far and when the count expires.
    failures: HashMap<Key, (u32, Instant)>,
}

#[derive(Default)]
pub struct Guard {
    state: parking_lot::Mutex<State>,
}

/// Why a passcode was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong, malformed, or already used.
    Incorrect,
    /// Too many failures: `attempt` is this attempt's number, `max` the limit,
    /// `retry_in` when the count expires.
    Limited { attempt: u32, max: u32, retry_in: Duration },
}

impl Guard {
    /// Judge one passcode. `check` computes the step the passcode is valid
    /// for (or `None`); it runs under the lock, so a concurrent request with
    /// the same code waits and then finds it used. `window` is how long a
    /// code stays valid (period × (2 + skew)): the life of a used-step entry
    /// and of a failure count.
    pub fn attempt(&self, method: &str, entity: &str, max: u32, window: Duration, now: Instant, check: impl FnOnce() -> Option<u64>) -> Result<(), Refusal> {
        let key = (method.to_string(), entity.to_string());
        let mut st = self.state.lock();
        let max = max.max(1);
        if let Some((count, until)) = st.failures.get_mut(&key) {
            if *until <= now {
                st.failures.remove(&key);
            } else if *count >= max {
                *count = count.saturating_add(1);
                return Err(Refusal::Limited { attempt: *count, max, retry_in: *until - now });
            }
        }
        let accepted = match check() {
            Some(step) => match st.used.get(&key) {
                Some((last, until)) if *until > now && step <= *last => None,
                _ => Some(step),
            },
            None => None,
        };
        match accepted {
            Some(step) => {
                st.failures.remove(&key);
                if st.used.len() >= PRUNE_AT {
                    st.used.retain(|_, (_, until)| *until > now);
                }
                st.used.insert(key, (step, now + window));
                Ok(())
            }
            None => {
                if st.failures.len() >= PRUNE_AT {
                    st.failures.retain(|_, (_, until)| *until > now);
                }
                let entry = st.failures.entry(key).or_insert((0, now + window));
                entry.0 = entry.0.saturating_add(1);
                Err(Refusal::Incorrect)
            }
        }
    }

    /// Forget a method's (or one entity's) state: its secret was destroyed.
    pub fn forget(&self, method: &str, entity: Option<&str>) {
        let mut st = self.state.lock();
        let keep = |k: &Key| !(k.0 == method && entity.is_none_or(|e| k.1 == e));
        st.used.retain(|k, _| keep(k));
        st.failures.retain(|k, _| keep(k));
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.used.len(), st.failures.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const W: Duration = Duration::from_secs(90);

    #[test]
    fn a_code_is_accepted_once_and_earlier_steps_never_after() {
        let g = Guard::default();
        let t = Instant::now();
        assert_eq!(g.attempt("m", "e", 5, W, t, || Some(100)), Ok(()));
        assert_eq!(g.attempt("m", "e", 5, W, t, || Some(100)), Err(Refusal::Incorrect), "replay");
        assert_eq!(g.attempt("m", "e", 5, W, t, || Some(99)), Err(Refusal::Incorrect), "an older code (skew)");
        assert_eq!(g.attempt("m", "e", 5, W, t, || Some(101)), Ok(()), "the next step");
        // other entities and methods have their own codes
        assert_eq!(g.attempt("m", "other", 5, W, t, || Some(100)), Ok(()));
        assert_eq!(g.attempt("m2", "e", 5, W, t, || Some(100)), Ok(()));
        // once the window has passed the entry may go (the code is invalid by then anyway)
        assert_eq!(g.attempt("m", "e", 5, W, t + W, || Some(101)), Ok(()));
    }

    #[test]
    fn failures_lock_out_even_the_right_code_until_the_window_passes() {
        let g = Guard::default();
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(g.attempt("m", "e", 3, W, t, || None), Err(Refusal::Incorrect));
        }
        let later = t + Duration::from_secs(10);
        match g.attempt("m", "e", 3, W, later, || panic!("not even checked")) {
            Err(Refusal::Limited { attempt: 4, max: 3, retry_in }) => assert_eq!(retry_in, Duration::from_secs(80)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(g.attempt("m", "e", 3, W, later, || Some(7)), Err(Refusal::Limited { attempt: 5, .. })));
        // another entity is not affected
        assert_eq!(g.attempt("m", "e2", 3, W, later, || Some(7)), Ok(()));
        // the count expires with the window of the first failure
        assert_eq!(g.attempt("m", "e", 3, W, t + W, || Some(7)), Ok(()));
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let g = Guard::default();
        let t = Instant::now();
        assert!(g.attempt("m", "e", 2, W, t, || None).is_err());
        assert_eq!(g.attempt("m", "e", 2, W, t, || Some(1)), Ok(()));
        assert!(g.attempt("m", "e", 2, W, t, || None).is_err());
        assert_eq!(g.attempt("m", "e", 2, W, t, || Some(2)), Ok(()), "one failure after the reset, not two");
        g.forget("m", Some("e"));
        assert_eq!(g.len(), (0, 0));
    }

    #[test]
    fn concurrent_uses_of_one_code_accept_exactly_one() {
        let g = Arc::new(Guard::default());
        let t = Instant::now();
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || g.attempt("m", "e", 100, W, t, || Some(42)).is_ok())
            })
            .collect();
        let ok = threads.into_iter().map(|h| h.join().unwrap()).filter(|ok| *ok).count();
        assert_eq!(ok, 1);
    }

    #[test]
    fn maps_are_pruned_of_expired_entries() {
        let g = Guard::default();
        let t = Instant::now();
        for i in 0..PRUNE_AT {
            let _ = g.attempt("m", &i.to_string(), 5, W, t, || None);
        }
        let _ = g.attempt("m", "late", 5, W, t + W, || None);
        assert_eq!(g.len().1, 1);
    }
}
