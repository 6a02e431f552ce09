//! Password hashing for every auth method (userpass passwords today; approle
//! secret ids and the like later): argon2id with fixed, documented
//! parameters, run on a bounded pool.
//!
//! Parameters: argon2id v19, m = 19456 KiB (19 MiB), t = 2, p = 1, 16-byte
//! random salt, 32-byte output — OWASP's recommended minimum for argon2id and
//! the argon2 crate's defaults. A hash is stored as a PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) that carries its own
//! parameters, so a hash made with other parameters still verifies.
//!
//! Bounds (see docs/security.md): at most one hash per CPU runs at a time,
//! each in a 19 MiB block buffer owned by its slot and reused (never freed,
//! so a burst of logins does not leave glibc holding freed arenas); up to
//! 32 requests per slot may wait, each at most [`QUEUE_WAIT`]; beyond that
//! the request is refused with 503 before any memory is spent on it.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use coffer_core::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;
use zeroize::Zeroize;

/// Memory cost in KiB (= 1 KiB argon2 blocks).
pub const M_COST: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;
pub const OUTPUT_LEN: usize = 32;
pub const SALT_LEN: usize = 16;
/// Requests allowed to wait per running hash.
pub const QUEUE_PER_SLOT: usize = 32;
/// How long a request waits for a slot before 503.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

const BUSY: &str = "too many concurrent password hashing requests; try again later";

/// The bounded pool: a semaphore of one permit per CPU and the permits' block buffers.
pub struct HashPool {
    permits: Semaphore,
    slots: usize,
    buffers: Mutex<Vec<Vec<Block>>>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl HashPool {
    pub fn new(slots: usize) -> HashPool {
        let slots = slots.max(1);
        HashPool {
            permits: Semaphore::new(slots),
            slots,
            buffers: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            max_waiting: slots * QUEUE_PER_SLOT,
        }
    }

    /// The process-wide pool, sized to the CPUs.
    pub fn global() -> &'static HashPool {
        static POOL: OnceLock<HashPool> = OnceLock::new();
        POOL.get_or_init(|| HashPool::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)))
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Run `f` on the blocking pool with a slot's block buffer (at least
    /// `M_COST` blocks), once a slot is free.
    async fn run<R: Send + 'static>(&self, f: impl FnOnce(&mut [Block]) -> R + Send + 'static) -> Result<R> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Coded(503, BUSY.into()));
        }
        let permit = tokio::time::timeout(QUEUE_WAIT, self.permits.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _permit = match permit {
            Ok(Ok(p)) => p,
            _ => return Err(Error::Coded(503, BUSY.into())),
        };
        let mut buf = self.buffers.lock().map(|mut b| b.pop()).unwrap_or_default().unwrap_or_default();
        let (buf, r) = tokio::task::spawn_blocking(move || {
            if buf.len() < M_COST as usize {
                buf.resize(M_COST as usize, Block::new());
            }
            let r = f(&mut buf);
            // The blocks hold password-derived state.
            buf.iter_mut().for_each(Zeroize::zeroize);
            (buf, r)
        })
        .await
        .map_err(|e| Error::internal(format!("password hashing task failed: {e}")))?;
        if let Ok(mut b) = self.buffers.lock() {
            b.push(buf);
        }
        Ok(r)
    }
}

fn params() -> Params {
    // Constant, valid parameters.
    Params::new(M_COST, T_COST, P_COST, Some(OUTPUT_LEN)).unwrap_or(Params::DEFAULT)
}

/// argon2 into `out` with the slot's memory, or (for a stored hash whose
/// parameters need more) a buffer of its own for this one call.
fn derive(a: &Argon2, p: &Params, pw: &[u8], salt: &[u8], out: &mut [u8], mem: &mut [Block]) -> std::result::Result<(), argon2::Error> {
    if p.block_count() <= mem.len() {
        a.hash_password_into_with_memory(pw, salt, out, &mut mem[..])
    } else {
        let mut own = vec![Block::new(); p.block_count()];
        let r = a.hash_password_into_with_memory(pw, salt, out, &mut own[..]);
        own.iter_mut().for_each(Zeroize::zeroize);
        r
    }
}

fn phc(salt: &[u8], out: &[u8]) -> Result<String> {
    let e = |e: argon2::password_hash::phc::Error| Error::internal(format!("password hashing: {e}"));
    let p = params();
    let h = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&p).map_err(|e| Error::internal(format!("password hashing: {e}")))?,
        salt: Some(Salt::new(salt).map_err(e)?),
        hash: Some(Output::new(out).map_err(e)?),
    };
    Ok(h.to_string())
}

fn random_salt() -> Result<[u8; SALT_LEN]> {
    argon2::password_hash::try_generate_salt().map_err(|e| Error::internal(format!("password hashing: no randomness: {e}")))
}

/// Hash a secret for storage: a PHC string.
pub async fn hash(secret: zeroize::Zeroizing<Vec<u8>>) -> Result<String> {
    let salt = random_salt()?;
    HashPool::global()
        .run(move |mem| {
            let p = params();
            let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, p.clone());
            let mut out = zeroize::Zeroizing::new([0u8; OUTPUT_LEN]);
            derive(&a, &p, &secret, &salt, &mut out[..], mem).map_err(|e| Error::internal(format!("password hashing failed: {e}")))?;
            phc(&salt, &out[..])
        })
        .await?
}

/// Whether a PHC string (any argon2 variant and parameters) could be checked.
pub enum Verdict {
    Match,
    Mismatch,
    /// The stored string is not a usable argon2 PHC hash (the message names why, never the secret).
    Unusable(String),
}

/// Check `secret` against a stored PHC string; `None` runs the same work
/// against a dummy hash (unknown user) and never matches.
pub async fn verify(secret: zeroize::Zeroizing<Vec<u8>>, stored: Option<String>) -> Result<Verdict> {
    HashPool::global()
        .run(move |mem| {
            let known = stored.is_some();
            let phc_str = stored.as_deref().unwrap_or_else(|| dummy_hash());
            let v = check(&secret, phc_str, mem);
            match v {
                Verdict::Match if !known => Verdict::Mismatch,
                Verdict::Unusable(_) if !known => Verdict::Mismatch,
                v => v,
            }
        })
        .await
}

fn check(secret: &[u8], phc_str: &str, mem: &mut [Block]) -> Verdict {
    let bad = |m: String| Verdict::Unusable(m);
    let h = match PasswordHash::new(phc_str) {
        Ok(h) => h,
        Err(e) => return bad(e.to_string()),
    };
    let alg = match Algorithm::try_from(h.algorithm.as_str()) {
        Ok(a) => a,
        Err(e) => return bad(e.to_string()),
    };
    let version = match h.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return bad(e.to_string()),
    };
    let p = match Params::try_from(&h) {
        Ok(p) => p,
        Err(e) => return bad(e.to_string()),
    };
    let (Some(salt), Some(expected)) = (&h.salt, &h.hash) else { return bad("no salt or hash".into()) };
    let mut out = zeroize::Zeroizing::new(vec![0u8; expected.len()]);
    let a = Argon2::new(alg, version, p.clone());
    if let Err(e) = derive(&a, &p, secret, salt.as_ref(), &mut out, mem) {
        return bad(e.to_string());
    }
    if coffer_core::util::ct_eq(&out, expected.as_bytes()) { Verdict::Match } else { Verdict::Mismatch }
}

/// A PHC string nobody's secret matches (random salt and output), with the
/// standard parameters, so checking an unknown user costs a full argon2 run.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = random_salt().unwrap_or([7u8; SALT_LEN]);
        let out = random_salt().map(|a| [a, a].concat()).unwrap_or_else(|_| vec![9u8; OUTPUT_LEN]);
        phc(&salt, &out).unwrap_or_else(|_| {
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Rk5nY3qyTXtgkuD2mvuRcZGKqp1PfQ6oAkDR/7yrmJY".to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;
    use zeroize::Zeroizing;

    fn z(s: &str) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn hashes_with_the_documented_parameters_and_verifies() {
        let phc = hash(z("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(matches!(verify(z("correct horse"), Some(phc.clone())).await.unwrap(), Verdict::Match));
        assert!(matches!(verify(z("correct hors"), Some(phc)).await.unwrap(), Verdict::Mismatch));
    }

    #[tokio::test]
    async fn hashes_made_by_the_argon2_crate_with_other_parameters_still_verify() {
        // What Coffer stored before the pool (the crate's own hasher), and a
        // hash needing more memory than a slot holds.
        let old = Argon2::default().hash_password(b"pw-1").unwrap().to_string();
        assert!(matches!(verify(z("pw-1"), Some(old)).await.unwrap(), Verdict::Match));
        let p = Params::new(M_COST * 2, 1, 1, None).unwrap();
        let big = Argon2::new(Algorithm::Argon2i, Version::V0x10, p).hash_password(b"pw-2").unwrap().to_string();
        assert!(matches!(verify(z("pw-2"), Some(big.clone())).await.unwrap(), Verdict::Match));
        assert!(matches!(verify(z("pw-3"), Some(big)).await.unwrap(), Verdict::Mismatch));
    }

    #[tokio::test]
    async fn unknown_and_unusable() {
        assert!(matches!(verify(z("x"), None).await.unwrap(), Verdict::Mismatch));
        assert!(matches!(verify(z("x"), Some("not a phc".into())).await.unwrap(), Verdict::Unusable(_)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_is_bounded_and_refused_beyond_the_queue() {
        let pool = std::sync::Arc::new(HashPool::new(1));
        let running = std::sync::Arc::new(AtomicUsize::new(0));
        let peak = std::sync::Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..(QUEUE_PER_SLOT + 8) {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move |_mem| {
                    let n = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut busy = 0;
        for t in tasks {
            if let Err(Error::Coded(503, _)) = t.await.unwrap() {
                busy += 1;
            }
        }
        assert_eq!(peak.load(Ordering::SeqCst), 1);
        assert!(busy >= 1, "the queue is bounded");
        assert_eq!(pool.buffers.lock().unwrap().len(), 1, "one buffer per slot, reused");
    }
}
