//! The security barrier: every byte that reaches physical storage below it is
//! AES-256-GCM ciphertext, except the seal configuration and the root key
//! (itself encrypted by the unseal key).
//!
//! Layout in physical storage:
//! - `core/seal-config`  plain JSON (shares, threshold, type)
//! - `core/root-key`     root key, encrypted under the unseal key (KEK)
//! - `core/keyring`      keyring, encrypted under the root key
//! - everything else     encrypted under the keyring's active term
//!
//! Ciphertext format: `[version=1][term: u32 BE][nonce: 12][ciphertext||tag]`,
//! with the storage key as AAD so a value cannot be moved to another key.
//!
//! Detached values (batch tokens) never reach storage: they are sealed with
//! [`Barrier::seal_detached`] under a subkey derived from each keyring term,
//! so they verify on this cluster only, and on every term it still holds.
//!
//! Random 96-bit nonces limit one AES-GCM key to about 2^32 encryptions, so
//! the barrier counts encryptions per active term and rotates by itself
//! (`sys/rotate/config`): when the count reaches `max_operations`, or when
//! the term is older than `interval`. The count and the rotation settings are
//! stored in the keyring record, so a restart continues the count; the count
//! is written by the background task every [`ROTATION_CHECK_INTERVAL`] and on
//! seal ([`Barrier::persist_and_seal`]).

use crate::error::{Error, Result};
use arc_swap::ArcSwapOption;
use aws_lc_rs::aead::{AES_256_GCM, AES_256_GCM_SIV, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use coffer_storage::{Op, Storage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use zeroize::{Zeroize, Zeroizing};

pub const SEAL_CONFIG_PATH: &str = "core/seal-config";
pub const ROOT_KEY_PATH: &str = "core/root-key";
pub const KEYRING_PATH: &str = "core/keyring";
const VERSION: u8 = 1;
const HEADER: usize = 1 + 4 + NONCE_LEN;
/// Version byte of detached ciphertexts.
const DETACHED_VERSION: u8 = 1;
/// HKDF salt and info of the per-term subkey for detached values. A subkey
/// never encrypts storage, and storage keys never encrypt detached values.
const DETACHED_SALT: &[u8] = b"coffer barrier detached v1";
const DETACHED_INFO: &[u8] = b"batch tokens";

/// Default and largest `max_operations`: 90% of 2^32, Vault's and OpenBao's
/// bound for random-nonce AES-GCM under one key.
pub const MAX_OPERATIONS_DEFAULT: u64 = 3_865_470_566;
/// Smallest `max_operations` `sys/rotate/config` accepts.
pub const MAX_OPERATIONS_MIN: u64 = 1_000_000;
/// Smallest non-zero `interval` `sys/rotate/config` accepts.
pub const INTERVAL_MIN: Duration = Duration::from_secs(24 * 3600);
/// How often the background task checks whether a rotation is due and
/// writes the encryption count (a crossed `max_operations` wakes it at once).
pub const ROTATION_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Automatic rotation settings (`sys/rotate/config`), stored encrypted in the
/// keyring record. A record written before they existed reads as the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RotationConfig {
    pub enabled: bool,
    /// Rotate once the active term has encrypted this many values.
    pub max_operations: u64,
    /// Rotate once the active term is this old, in seconds; 0 = never.
    pub interval_secs: u64,
}

impl Default for RotationConfig {
    fn default() -> Self {
        RotationConfig { enabled: true, max_operations: MAX_OPERATIONS_DEFAULT, interval_secs: 0 }
    }
}

impl RotationConfig {
    /// The count at which the encrypt path asks for a rotation.
    fn threshold(&self) -> u64 {
        if self.enabled { self.max_operations } else { u64::MAX }
    }
}

/// 32 bytes of key material, zeroized on drop, never printed.
#[derive(Clone, Zeroize)]
#[zeroize(drop)]
pub struct KeyBytes(pub [u8; 32]);

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl KeyBytes {
    pub fn random() -> Result<KeyBytes> {
        let mut k = [0u8; 32];
        SystemRandom::new().fill(&mut k).map_err(|_| Error::internal("random source failed"))?;
        Ok(KeyBytes(k))
    }
    pub fn from_slice(b: &[u8]) -> Option<KeyBytes> {
        let arr: [u8; 32] = b.try_into().ok()?;
        Some(KeyBytes(arr))
    }
}

/// An AEAD key ready for use. aws-lc-rs cleans the expanded key schedule when
/// the `LessSafeKey` is dropped; the raw bytes are kept in `KeyBytes`.
struct AeadKey {
    raw: KeyBytes,
    key: LessSafeKey,
}

impl AeadKey {
    fn new(raw: KeyBytes) -> Result<AeadKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, &raw.0).map_err(|_| Error::internal("bad key length"))?;
        Ok(AeadKey { raw, key: LessSafeKey::new(unbound) })
    }
}

/// Encrypt with an explicit key (used for the root key and keyring records).
pub fn seal_with(key: &KeyBytes, term: u32, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let k = AeadKey::new(key.clone())?;
    encrypt(&k, term, aad, plaintext)
}

pub fn open_with(key: &KeyBytes, aad: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let k = AeadKey::new(key.clone())?;
    decrypt(&k, aad, ciphertext)
}

fn encrypt(k: &AeadKey, term: u32, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| Error::internal("random source failed"))?;
    let mut out = Vec::with_capacity(HEADER + plaintext.len() + AES_256_GCM.tag_len());
    out.push(VERSION);
    out.extend_from_slice(&term.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(HEADER);
    k.key
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)
        .map_err(|_| Error::internal("encryption failed"))?;
    out.extend_from_slice(&body);
    body.zeroize();
    Ok(out)
}

fn parse_header(ciphertext: &[u8]) -> Result<(u32, [u8; NONCE_LEN])> {
    if ciphertext.len() < HEADER + AES_256_GCM.tag_len() || ciphertext[0] != VERSION {
        return Err(Error::internal("invalid ciphertext in storage"));
    }
    let term = u32::from_be_bytes(ciphertext[1..5].try_into().expect("4 bytes"));
    let nonce: [u8; NONCE_LEN] = ciphertext[5..HEADER].try_into().expect("nonce length");
    Ok((term, nonce))
}

fn decrypt(k: &AeadKey, aad: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (_, nonce) = parse_header(ciphertext)?;
    let mut buf = Zeroizing::new(ciphertext[HEADER..].to_vec());
    let len = k
        .key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
        .map_err(|_| Error::internal("decryption failed: ciphertext does not authenticate"))?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// Serialized keyring (stored encrypted under the root key).
#[derive(Serialize, Deserialize)]
struct KeyringRecord {
    active_term: u32,
    keys: Vec<TermRecord>,
    #[serde(default)]
    rotation: RotationConfig,
}

#[derive(Serialize, Deserialize)]
struct TermRecord {
    term: u32,
    /// base64 of the 32-byte key; the whole record is encrypted and the
    /// decoded plaintext buffer is zeroized.
    key: String,
    install_time: String,
    /// Values encrypted under this term (as last written; the active term's
    /// count goes on in memory). Absent in records written before it existed.
    #[serde(default)]
    encryptions: u64,
}

impl Drop for TermRecord {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// One keyring term: its key, install time and (for a term no longer
/// active) the number of values it encrypted.
struct Term {
    key: AeadKey,
    install_time: String,
    encryptions: u64,
}

/// The unsealed key material: the root key and every keyring term.
pub struct Keyring {
    root_key: KeyBytes,
    active_term: u32,
    terms: BTreeMap<u32, Term>,
    /// Per-term subkeys for detached values (AES-256-GCM-SIV), derived from
    /// `terms` with HKDF-SHA256 when the keyring is assembled.
    detached: BTreeMap<u32, LessSafeKey>,
    /// Values encrypted under the active term: the stored count at unseal
    /// plus every encryption since. A new term starts a new `Keyring` at 0.
    encryptions: AtomicU64,
    /// The active term's count as last written to storage.
    persisted: AtomicU64,
}

/// The detached-value subkey of one term. The derived bytes go straight into
/// the AEAD key (aws-lc-rs never hands them out) and are cleaned with it.
fn derive_detached(term_key: &KeyBytes) -> Result<LessSafeKey> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, DETACHED_SALT).extract(&term_key.0);
    let info = [DETACHED_INFO];
    let okm = prk.expand(&info, &AES_256_GCM_SIV).map_err(|_| Error::internal("key derivation failed"))?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

impl Keyring {
    pub fn new(root_key: KeyBytes, first_term: KeyBytes, install_time: String) -> Result<Keyring> {
        let mut terms = BTreeMap::new();
        terms.insert(1, Term { key: AeadKey::new(first_term)?, install_time, encryptions: 0 });
        Keyring::assemble(root_key, 1, terms, 0)
    }

    fn assemble(root_key: KeyBytes, active_term: u32, terms: BTreeMap<u32, Term>, encryptions: u64) -> Result<Keyring> {
        let mut detached = BTreeMap::new();
        for (term, t) in &terms {
            detached.insert(*term, derive_detached(&t.key.raw)?);
        }
        Ok(Keyring {
            root_key,
            active_term,
            terms,
            detached,
            encryptions: AtomicU64::new(encryptions),
            persisted: AtomicU64::new(encryptions),
        })
    }

    /// Every term, keys copied, with the active term's count as of now: the
    /// start of a successor keyring (a new term, or a new root key).
    fn copy_terms(&self) -> Result<BTreeMap<u32, Term>> {
        let mut terms = BTreeMap::new();
        for (t, term) in &self.terms {
            let encryptions = if *t == self.active_term { self.encryptions.load(Ordering::Relaxed) } else { term.encryptions };
            terms.insert(*t, Term { key: AeadKey::new(term.key.raw.clone())?, install_time: term.install_time.clone(), encryptions });
        }
        Ok(terms)
    }

    pub fn active_term(&self) -> u32 {
        self.active_term
    }

    pub fn install_time(&self) -> &str {
        self.terms.get(&self.active_term).map(|t| t.install_time.as_str()).unwrap_or("")
    }

    /// The record to store, with the active term's current count (returned
    /// too, so the caller can note what was written).
    fn encode(&self, rotation: &RotationConfig) -> Result<(Zeroizing<Vec<u8>>, u64)> {
        use base64::Engine;
        let active_count = self.encryptions.load(Ordering::Relaxed);
        let rec = KeyringRecord {
            active_term: self.active_term,
            keys: self
                .terms
                .iter()
                .map(|(term, t)| TermRecord {
                    term: *term,
                    key: base64::engine::general_purpose::STANDARD.encode(t.key.raw.0),
                    install_time: t.install_time.clone(),
                    encryptions: if *term == self.active_term { active_count } else { t.encryptions },
                })
                .collect(),
            rotation: *rotation,
        };
        Ok((Zeroizing::new(serde_json::to_vec(&rec)?), active_count))
    }

    fn decode(root_key: KeyBytes, bytes: &[u8]) -> Result<(Keyring, RotationConfig)> {
        use base64::Engine;
        let rec: KeyringRecord = serde_json::from_slice(bytes)?;
        let mut terms = BTreeMap::new();
        for t in &rec.keys {
            let raw = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(&t.key)
                    .map_err(|_| Error::internal("corrupt keyring"))?,
            );
            let kb = KeyBytes::from_slice(&raw).ok_or_else(|| Error::internal("corrupt keyring"))?;
            terms.insert(t.term, Term { key: AeadKey::new(kb)?, install_time: t.install_time.clone(), encryptions: t.encryptions });
        }
        let Some(active) = terms.get(&rec.active_term) else {
            return Err(Error::internal("corrupt keyring: no active term"));
        };
        let count = active.encryptions;
        Ok((Keyring::assemble(root_key, rec.active_term, terms, count)?, rec.rotation))
    }

    /// Why the active term is due for rotation under `cfg` at `now`, if it is.
    fn rotation_due(&self, cfg: &RotationConfig, now: OffsetDateTime) -> Option<&'static str> {
        if !cfg.enabled {
            return None;
        }
        if self.encryptions.load(Ordering::Relaxed) >= cfg.max_operations {
            return Some("reached max operations");
        }
        if cfg.interval_secs > 0 {
            let installed = OffsetDateTime::parse(self.install_time(), &time::format_description::well_known::Rfc3339).ok()?;
            let interval = time::Duration::seconds(i64::try_from(cfg.interval_secs).unwrap_or(i64::MAX));
            if now - installed >= interval {
                return Some("rotation interval reached");
            }
        }
        None
    }
}

/// Encrypting wrapper around physical storage.
pub struct Barrier {
    physical: Arc<dyn Storage>,
    keyring: ArcSwapOption<Keyring>,
    /// `sys/rotate/config` as loaded from (and written to) the keyring record.
    rotation: parking_lot::Mutex<RotationConfig>,
    /// `max_operations` when automatic rotation is enabled, else `u64::MAX`:
    /// the encrypt path's one compare.
    threshold: AtomicU64,
    /// Set by the first encryption that reaches the threshold, so only that
    /// one wakes the rotation task; cleared once a rotation succeeds.
    rotation_requested: AtomicBool,
    wake: tokio::sync::Notify,
    /// Serialises every write of the keyring record (rotations, the rotation
    /// settings, the encryption count), so none overwrites another's term.
    keyring_lock: tokio::sync::Mutex<()>,
    /// The unseal key (KEK) while unsealed, kept only to wrap a new root key
    /// (`sys/rotate/root`), as Vault's Shamir seal keeps its key. Anyone who
    /// can read it can already read the root key beside it; dropped (zeroized)
    /// on seal.
    kek: parking_lot::Mutex<Option<KeyBytes>>,
}

impl Barrier {
    pub fn new(physical: Arc<dyn Storage>) -> Barrier {
        let rotation = RotationConfig::default();
        Barrier {
            physical,
            keyring: ArcSwapOption::empty(),
            threshold: AtomicU64::new(rotation.threshold()),
            rotation: parking_lot::Mutex::new(rotation),
            rotation_requested: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            keyring_lock: tokio::sync::Mutex::new(()),
            kek: parking_lot::Mutex::new(None),
        }
    }

    pub fn physical(&self) -> &Arc<dyn Storage> {
        &self.physical
    }

    pub fn is_sealed(&self) -> bool {
        self.keyring.load().is_none()
    }

    /// Drop every key from memory (the `Keyring` zeroizes on drop once the
    /// last in-flight reader releases it).
    pub fn seal(&self) {
        self.keyring.store(None);
        self.kek.lock().take();
    }

    /// Create the root key and keyring for a fresh initialisation and persist
    /// them, the root key wrapped by `kek`.
    pub async fn initialize(&self, kek: &KeyBytes, root_key: KeyBytes, now: String) -> Result<()> {
        let keyring = Keyring::new(root_key, KeyBytes::random()?, now)?;
        let wrapped_root = seal_with(kek, 0, ROOT_KEY_PATH.as_bytes(), &keyring.root_key.0)?;
        let (ring_bytes, _) = keyring.encode(&RotationConfig::default())?;
        let enc_ring = seal_with(&keyring.root_key, 0, KEYRING_PATH.as_bytes(), &ring_bytes)?;
        self.physical
            .write(vec![Op::Put(ROOT_KEY_PATH.into(), wrapped_root), Op::Put(KEYRING_PATH.into(), enc_ring)])
            .await?;
        Ok(())
    }

    /// Unseal with the KEK reconstructed from the shares. Fails without side
    /// effects if the KEK is wrong.
    pub async fn unseal(&self, kek: &KeyBytes) -> Result<()> {
        let wrapped = self
            .physical
            .get(ROOT_KEY_PATH)
            .await?
            .ok_or_else(|| Error::internal("no root key in storage"))?;
        let root = open_with(kek, ROOT_KEY_PATH.as_bytes(), &wrapped)
            .map_err(|_| Error::invalid("failed to decrypt the root key: the unseal key is wrong"))?;
        let root = KeyBytes::from_slice(&root).ok_or_else(|| Error::internal("corrupt root key"))?;
        let enc_ring = self
            .physical
            .get(KEYRING_PATH)
            .await?
            .ok_or_else(|| Error::internal("no keyring in storage"))?;
        let ring_bytes = open_with(&root, KEYRING_PATH.as_bytes(), &enc_ring)?;
        let (keyring, rotation) = Keyring::decode(root, &ring_bytes)?;
        let _g = self.keyring_lock.lock().await;
        self.set_rotation_in_memory(rotation);
        self.rotation_requested.store(false, Ordering::Relaxed);
        *self.kek.lock() = Some(kek.clone());
        self.keyring.store(Some(Arc::new(keyring)));
        Ok(())
    }

    /// `sys/rotate/root`: a new root key. The keyring (every term, their
    /// counts, the rotation settings) is re-encrypted under it and the new
    /// root key wrapped by the unseal key, both in one storage batch, so a
    /// crash leaves either the old pair or the new one. Data keys do not
    /// change, so nothing else is re-encrypted and the unseal keys stay valid.
    pub async fn rotate_root(&self) -> Result<()> {
        let _g = self.keyring_lock.lock().await;
        let cur = self.keyring.load_full().ok_or(Error::Sealed)?;
        let kek = self.kek.lock().clone().ok_or_else(|| Error::internal("the unseal key is not held; unseal again"))?;
        let terms = cur.copy_terms()?;
        let count = cur.encryptions.load(Ordering::Relaxed);
        let next = Keyring::assemble(KeyBytes::random()?, cur.active_term, terms, count)?;
        let rotation = *self.rotation.lock();
        let (ring_bytes, written) = next.encode(&rotation)?;
        let enc_ring = seal_with(&next.root_key, 0, KEYRING_PATH.as_bytes(), &ring_bytes)?;
        let wrapped_root = seal_with(&kek, 0, ROOT_KEY_PATH.as_bytes(), &next.root_key.0)?;
        self.physical
            .write(vec![Op::Put(ROOT_KEY_PATH.into(), wrapped_root), Op::Put(KEYRING_PATH.into(), enc_ring)])
            .await?;
        next.persisted.store(written, Ordering::Relaxed);
        // Encryptions counted on the old keyring after `count` was read were
        // under the same term: carry them over.
        next.encryptions.fetch_add(cur.encryptions.load(Ordering::Relaxed).saturating_sub(count), Ordering::Relaxed);
        self.keyring.store(Some(Arc::new(next)));
        Ok(())
    }

    fn set_rotation_in_memory(&self, cfg: RotationConfig) {
        *self.rotation.lock() = cfg;
        self.threshold.store(cfg.threshold(), Ordering::Relaxed);
    }

    /// Write `ring` (with the active term's current count) and `rotation` as
    /// the keyring record, encrypted under the root key. The caller holds
    /// `keyring_lock`. Returns the count written.
    async fn write_keyring(&self, ring: &Keyring, rotation: &RotationConfig) -> Result<u64> {
        let (bytes, count) = ring.encode(rotation)?;
        let enc_ring = seal_with(&ring.root_key, 0, KEYRING_PATH.as_bytes(), &bytes)?;
        self.physical.put(KEYRING_PATH, enc_ring).await?;
        Ok(count)
    }

    /// Add a new keyring term; new writes use it, old terms still decrypt.
    /// Its encryption count starts at 0.
    pub async fn rotate(&self, now: String) -> Result<u32> {
        let _g = self.keyring_lock.lock().await;
        self.rotate_locked(now).await
    }

    async fn rotate_locked(&self, now: String) -> Result<u32> {
        let cur = self.keyring.load_full().ok_or(Error::Sealed)?;
        let new_term = cur.active_term.checked_add(1).ok_or_else(|| Error::internal("keyring term overflow"))?;
        let mut terms = cur.copy_terms()?;
        terms.insert(new_term, Term { key: AeadKey::new(KeyBytes::random()?)?, install_time: now, encryptions: 0 });
        let next = Keyring::assemble(cur.root_key.clone(), new_term, terms, 0)?;
        let rotation = *self.rotation.lock();
        self.write_keyring(&next, &rotation).await?;
        self.keyring.store(Some(Arc::new(next)));
        self.rotation_requested.store(false, Ordering::Relaxed);
        Ok(new_term)
    }

    /// `sys/rotate/config` as stored.
    pub fn rotation_config(&self) -> Result<RotationConfig> {
        if self.is_sealed() {
            return Err(Error::Sealed);
        }
        Ok(*self.rotation.lock())
    }

    /// Store new rotation settings (validated by the caller: the barrier
    /// takes any threshold, which tests use). Nothing changes if the write
    /// fails. A threshold already crossed wakes the rotation task.
    pub async fn set_rotation_config(&self, cfg: RotationConfig) -> Result<()> {
        let _g = self.keyring_lock.lock().await;
        let ring = self.keyring.load_full().ok_or(Error::Sealed)?;
        let written = self.write_keyring(&ring, &cfg).await?;
        ring.persisted.store(written, Ordering::Relaxed);
        self.set_rotation_in_memory(cfg);
        if ring.rotation_due(&cfg, OffsetDateTime::now_utc()).is_some() {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Write the active term's encryption count if it changed since it was
    /// last written. Returns whether it wrote. Sealed: nothing to do.
    pub async fn persist_count(&self) -> Result<bool> {
        let _g = self.keyring_lock.lock().await;
        let Some(ring) = self.keyring.load_full() else { return Ok(false) };
        if ring.encryptions.load(Ordering::Relaxed) == ring.persisted.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let rotation = *self.rotation.lock();
        let written = self.write_keyring(&ring, &rotation).await?;
        ring.persisted.store(written, Ordering::Relaxed);
        Ok(true)
    }

    /// Seal, first writing the encryption count (best effort: a failure is
    /// logged and the barrier seals anyway).
    pub async fn persist_and_seal(&self) {
        if let Err(e) = self.persist_count().await {
            tracing::warn!(error = %e, "could not store the barrier encryption count before sealing");
        }
        self.seal();
    }

    /// Rotate if the active term is due at `now` (count or age); the check
    /// and the rotation happen under the keyring lock, so however many
    /// callers ask, a due term rotates once. Returns the new term and why.
    pub async fn rotate_if_due(&self, now: OffsetDateTime) -> Result<Option<(u32, &'static str)>> {
        let _g = self.keyring_lock.lock().await;
        let Some(ring) = self.keyring.load_full() else { return Ok(None) };
        let cfg = *self.rotation.lock();
        let Some(reason) = ring.rotation_due(&cfg, now) else {
            self.rotation_requested.store(false, Ordering::Relaxed);
            return Ok(None);
        };
        drop(ring);
        let term = self.rotate_locked(crate::util::rfc3339(now)).await?;
        Ok(Some((term, reason)))
    }

    /// One pass of the background task: rotate if due, then store the count.
    /// Errors are logged (never with key material) and retried next pass.
    pub async fn rotation_pass(&self, now: OffsetDateTime) {
        match self.rotate_if_due(now).await {
            Ok(Some((term, reason))) => tracing::info!(term, reason, "barrier key rotated automatically"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "automatic barrier key rotation failed; will retry"),
        }
        if let Err(e) = self.persist_count().await {
            tracing::warn!(error = %e, "could not store the barrier encryption count; will retry");
        }
    }

    /// The background task: a pass every [`ROTATION_CHECK_INTERVAL`] (the
    /// first at once) and whenever an encryption reaches `max_operations`.
    /// Its owner (the core's unsealed state) aborts it on seal.
    pub fn spawn_rotation(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        self.spawn_rotation_every(ROTATION_CHECK_INTERVAL)
    }

    fn spawn_rotation_every(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let barrier = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = barrier.wake.notified() => {}
                }
                barrier.rotation_pass(OffsetDateTime::now_utc()).await;
            }
        })
    }

    /// `(term, install_time, encryptions)` for `sys/key-status`: the active
    /// term's count, which a rotation resets to 0.
    pub fn key_status(&self) -> Result<(u32, String, u64)> {
        let k = self.keyring.load();
        let k = k.as_ref().ok_or(Error::Sealed)?;
        Ok((k.active_term, k.install_time().to_string(), k.encryptions.load(Ordering::Relaxed)))
    }

    fn reserved(key: &str) -> bool {
        key == SEAL_CONFIG_PATH || key == ROOT_KEY_PATH || key == KEYRING_PATH
    }

    pub fn encrypt_value(&self, key: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let ring = self.keyring.load();
        let ring = ring.as_ref().ok_or(Error::Sealed)?;
        let term = ring.terms.get(&ring.active_term).ok_or_else(|| Error::internal("no active key"))?;
        let n = ring.encryptions.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.threshold.load(Ordering::Relaxed) && !self.rotation_requested.swap(true, Ordering::Relaxed) {
            // The first encryption to reach the threshold wakes the rotation
            // task; this request never waits for (or fails with) the rotation.
            self.wake.notify_one();
        }
        encrypt(&term.key, ring.active_term, key.as_bytes(), plaintext)
    }

    pub fn decrypt_value(&self, key: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let ring = self.keyring.load();
        let ring = ring.as_ref().ok_or(Error::Sealed)?;
        let (term, _) = parse_header(ciphertext)?;
        let t = ring.terms.get(&term).ok_or_else(|| Error::internal("unknown key term in storage"))?;
        decrypt(&t.key, key.as_bytes(), ciphertext)
    }

    /// Encrypt a value that will live outside storage (a batch token) under
    /// the active term's detached subkey, with AES-256-GCM-SIV: nonces are
    /// random, and GCM-SIV stays safe even if one repeats, however many values
    /// are sealed under one term. Format: `[version 1][term u32 BE][nonce 12]
    /// [ciphertext||tag 16]`; the header and `aad` are authenticated.
    pub fn seal_detached(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let ring = self.keyring.load();
        let ring = ring.as_ref().ok_or(Error::Sealed)?;
        let key = ring.detached.get(&ring.active_term).ok_or_else(|| Error::internal("no active key"))?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| Error::internal("random source failed"))?;
        let mut out = Vec::with_capacity(HEADER + plaintext.len() + AES_256_GCM_SIV.tag_len());
        out.push(DETACHED_VERSION);
        out.extend_from_slice(&ring.active_term.to_be_bytes());
        out.extend_from_slice(&nonce);
        let mut body = Zeroizing::new(plaintext.to_vec());
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(detached_aad(aad, &out)), &mut *body)
            .map_err(|_| Error::internal("encryption failed"))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Open a value sealed by [`seal_detached`](Self::seal_detached) on this
    /// cluster under any term the keyring still holds. `None` for anything
    /// else: sealed, malformed, truncated, altered, another `aad`, an unknown
    /// term, another cluster's keys. Never panics on any input.
    pub fn open_detached(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < HEADER + AES_256_GCM_SIV.tag_len() || sealed[0] != DETACHED_VERSION {
            return None;
        }
        let (header, body) = sealed.split_at(HEADER);
        let term = u32::from_be_bytes(header[1..5].try_into().ok()?);
        let nonce: [u8; NONCE_LEN] = header[5..].try_into().ok()?;
        let ring = self.keyring.load();
        let key = ring.as_ref()?.detached.get(&term)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len = key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(detached_aad(aad, header)), &mut buf)
            .ok()?
            .len();
        buf.truncate(len);
        Some(buf)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        if Self::reserved(key) {
            return Err(Error::internal("reserved key"));
        }
        match self.physical.get(key).await? {
            None => Ok(None),
            Some(ct) => self.decrypt_value(key, &ct).map(Some),
        }
    }

    pub async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write(vec![BarrierOp::Put(key.to_string(), value.to_vec())]).await
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.write(vec![BarrierOp::Delete(key.to_string())]).await
    }

    /// Encrypt and apply a batch atomically.
    pub async fn write(&self, ops: Vec<BarrierOp>) -> Result<()> {
        let mut phys = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                BarrierOp::Put(k, mut v) => {
                    if Self::reserved(&k) {
                        return Err(Error::internal("reserved key"));
                    }
                    let ct = self.encrypt_value(&k, &v)?;
                    v.zeroize();
                    phys.push(Op::Put(k, ct));
                }
                BarrierOp::Delete(k) => phys.push(Op::Delete(k)),
            }
        }
        if self.is_sealed() {
            return Err(Error::Sealed);
        }
        self.physical.write(phys).await?;
        Ok(())
    }

    /// Read-modify-write `key` atomically: `f` sees the current plaintext
    /// (`None`: absent) and says what the key becomes; the change applies only
    /// if the stored ciphertext is still the one `f` was shown (an
    /// [`Op::Expect`] on it), otherwise `f` runs again on the newer value. So
    /// of any number of concurrent updaters, each sees the result of the ones
    /// before it, on every backend (with raft, across nodes). Returns what `f`
    /// returned for the change that was applied.
    ///
    /// This is how a single-use object is claimed: [`Barrier::take`] is an
    /// update to "absent"; a use counter is an update to "one less".
    pub async fn update<R>(
        &self,
        key: &str,
        mut f: impl FnMut(Option<&[u8]>) -> Result<(Change, R)>,
    ) -> Result<R> {
        if Self::reserved(key) {
            return Err(Error::internal("reserved key"));
        }
        // Contention on one key is a handful of racing requests; a key that
        // keeps changing under us this long is a bug, not a workload.
        for _ in 0..64 {
            let ct = self.physical.get(key).await?;
            let plain = match &ct {
                Some(ct) => Some(self.decrypt_value(key, ct)?),
                None => None,
            };
            let (change, out) = f(plain.as_deref().map(|p| p.as_slice()))?;
            let op = match change {
                Change::Keep => return Ok(out),
                Change::Delete if ct.is_none() => return Ok(out),
                Change::Delete => Op::Delete(key.to_string()),
                Change::Put(mut v) => {
                    let new = self.encrypt_value(key, &v)?;
                    v.zeroize();
                    Op::Put(key.to_string(), new)
                }
            };
            if self.is_sealed() {
                return Err(Error::Sealed);
            }
            match self.physical.write(vec![Op::Expect(key.to_string(), ct), op]).await {
                Ok(()) => return Ok(out),
                Err(coffer_storage::StorageError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::internal("storage value changed concurrently too many times"))
    }

    /// Atomically read and delete `key`: of concurrent takers exactly one gets
    /// the value, the others `None`. Single-use objects are claimed with this
    /// before their content is returned.
    pub async fn take(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.update(key, |cur| Ok((Change::Delete, cur.map(|v| Zeroizing::new(v.to_vec()))))).await
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        if self.is_sealed() {
            return Err(Error::Sealed);
        }
        Ok(self.physical.list(prefix).await?)
    }

    pub async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        if self.is_sealed() {
            return Err(Error::Sealed);
        }
        Ok(self.physical.keys_with_prefix(prefix).await?)
    }
}

/// Associated data of a detached value: the caller's context, then the header.
fn detached_aad(aad: &[u8], header: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(aad.len() + 1 + header.len());
    v.extend_from_slice(aad);
    v.push(0);
    v.extend_from_slice(header);
    v
}

/// A plaintext mutation handed to [`Barrier::write`].
pub enum BarrierOp {
    Put(String, Vec<u8>),
    Delete(String),
}

/// What [`Barrier::update`]'s function makes of the key.
pub enum Change {
    /// Leave it as it is (nothing is written).
    Keep,
    /// Delete it.
    Delete,
    /// Replace it with this plaintext.
    Put(Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_storage::InmemStorage;

    async fn unsealed() -> (Arc<InmemStorage>, Barrier, KeyBytes) {
        let phys = Arc::new(InmemStorage::new());
        let b = Barrier::new(phys.clone());
        let kek = KeyBytes::random().unwrap();
        b.initialize(&kek, KeyBytes::random().unwrap(), "t0".into()).await.unwrap();
        b.unseal(&kek).await.unwrap();
        (phys, b, kek)
    }

    /// Concurrent `take`s of one value: exactly one gets it. Concurrent
    /// counter updates lose no decrement (each sees the one before it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn take_and_update_are_atomic() {
        let (_, b, _) = unsealed().await;
        let b = Arc::new(b);
        for round in 0..10 {
            let key = format!("logical/x/once{round}");
            b.put(&key, b"single-use").await.unwrap();
            let takers: Vec<_> = (0..12).map(|_| {
                let (b, key) = (b.clone(), key.clone());
                tokio::spawn(async move { b.take(&key).await.unwrap().is_some() })
            }).collect();
            let mut got = 0;
            for t in takers {
                got += t.await.unwrap() as usize;
            }
            assert_eq!(got, 1, "round {round}");
            assert!(b.get(&key).await.unwrap().is_none());
        }
        b.put("logical/x/uses", b"40").await.unwrap();
        let users: Vec<_> = (0..50).map(|_| {
            let b = b.clone();
            tokio::spawn(async move {
                b.update("logical/x/uses", |cur| {
                    let n: u32 = std::str::from_utf8(cur.unwrap()).unwrap().parse().unwrap();
                    Ok(if n == 0 { (Change::Keep, false) } else { (Change::Put((n - 1).to_string().into_bytes()), true) })
                })
                .await
                .unwrap()
            })
        }).collect();
        let mut granted = 0;
        for u in users {
            granted += u.await.unwrap() as usize;
        }
        assert_eq!(granted, 40);
        assert_eq!(&b.get("logical/x/uses").await.unwrap().unwrap()[..], b"0");
    }

    #[tokio::test]
    async fn nothing_plaintext_reaches_storage() {
        let (phys, b, _) = unsealed().await;
        b.put("logical/x/secret", b"hunter2-plaintext").await.unwrap();
        for k in phys.keys_with_prefix("").await.unwrap() {
            let v = phys.get(&k).await.unwrap().unwrap();
            assert!(!v.windows(7).any(|w| w == b"hunter2"), "plaintext at {k}");
        }
        assert_eq!(&b.get("logical/x/secret").await.unwrap().unwrap()[..], b"hunter2-plaintext");
    }

    #[tokio::test]
    async fn value_cannot_move_between_keys() {
        let (phys, b, _) = unsealed().await;
        b.put("a", b"1").await.unwrap();
        let ct = phys.get("a").await.unwrap().unwrap();
        phys.put("b", ct).await.unwrap();
        assert!(b.get("b").await.is_err());
    }

    #[tokio::test]
    async fn wrong_kek_fails_and_rotation_keeps_old_data() {
        let (_phys, b, kek) = unsealed().await;
        b.put("old", b"v1").await.unwrap();
        assert_eq!(b.rotate("t1".into()).await.unwrap(), 2);
        b.put("new", b"v2").await.unwrap();
        b.seal();
        assert!(matches!(b.get("old").await, Err(Error::Sealed)));
        assert!(b.unseal(&KeyBytes::random().unwrap()).await.is_err());
        assert!(b.is_sealed());
        b.unseal(&kek).await.unwrap();
        assert_eq!(b.key_status().unwrap().0, 2);
        assert_eq!(&b.get("old").await.unwrap().unwrap()[..], b"v1");
        assert_eq!(&b.get("new").await.unwrap().unwrap()[..], b"v2");
    }
    #[tokio::test]
    async fn root_rotation_rewraps_the_keyring_and_keeps_everything() {
        let (phys, b, kek) = unsealed().await;
        b.put("old", b"v1").await.unwrap();
        b.rotate("t1".into()).await.unwrap();
        b.put("new", b"v2").await.unwrap();
        let batch = b.seal_detached(b"ctx", b"batch").unwrap();
        let wrapped_before = phys.get(ROOT_KEY_PATH).await.unwrap().unwrap();
        let ring_before = phys.get(KEYRING_PATH).await.unwrap().unwrap();
        let (term, _, count) = b.key_status().unwrap();
        b.rotate_root().await.unwrap();
        // Both records changed; the data keys did not.
        assert_ne!(phys.get(ROOT_KEY_PATH).await.unwrap().unwrap(), wrapped_before);
        assert_ne!(phys.get(KEYRING_PATH).await.unwrap().unwrap(), ring_before);
        assert_eq!(b.key_status().unwrap().0, term);
        assert!(b.key_status().unwrap().2 >= count);
        assert_eq!(&b.get("old").await.unwrap().unwrap()[..], b"v1");
        assert_eq!(&b.open_detached(b"ctx", &batch).unwrap()[..], b"batch");
        // The old root key no longer opens the keyring record.
        let old_root = open_with(&kek, ROOT_KEY_PATH.as_bytes(), &wrapped_before).unwrap();
        let old_root = KeyBytes::from_slice(&old_root).unwrap();
        let ring_after = phys.get(KEYRING_PATH).await.unwrap().unwrap();
        assert!(open_with(&old_root, KEYRING_PATH.as_bytes(), &ring_after).is_err());
        // The same unseal key still unseals, on a fresh barrier over the same storage.
        b.seal();
        assert!(matches!(b.rotate_root().await, Err(Error::Sealed)));
        let b2 = Barrier::new(phys.clone());
        b2.unseal(&kek).await.unwrap();
        assert_eq!(b2.key_status().unwrap().0, term);
        assert_eq!(&b2.get("old").await.unwrap().unwrap()[..], b"v1");
        assert_eq!(&b2.get("new").await.unwrap().unwrap()[..], b"v2");
        assert_eq!(&b2.open_detached(b"ctx", &batch).unwrap()[..], b"batch");
    }

    #[tokio::test]
    async fn detached_values_roundtrip_and_survive_rotation_and_unseal() {
        let (phys, b, kek) = unsealed().await;
        let before = phys.keys_with_prefix("").await.unwrap();
        let old = b.seal_detached(b"ctx", b"payload-1").unwrap();
        assert_eq!(&b.open_detached(b"ctx", &old).unwrap()[..], b"payload-1");
        assert_eq!(u32::from_be_bytes(old[1..5].try_into().unwrap()), 1);
        // Sealing writes nothing and counts no storage encryption.
        assert_eq!(phys.keys_with_prefix("").await.unwrap(), before);
        assert_eq!(b.key_status().unwrap().2, 0);
        // Fresh nonce each time.
        assert_ne!(b.seal_detached(b"ctx", b"payload-1").unwrap(), old);
        // After a rotation new values use the new term; old ones still open.
        b.rotate("t1".into()).await.unwrap();
        let new = b.seal_detached(b"ctx", b"payload-2").unwrap();
        assert_eq!(u32::from_be_bytes(new[1..5].try_into().unwrap()), 2);
        assert_eq!(&b.open_detached(b"ctx", &old).unwrap()[..], b"payload-1");
        // Sealed: nothing opens, nothing seals; unsealed again: both open.
        b.seal();
        assert!(b.open_detached(b"ctx", &old).is_none());
        assert!(matches!(b.seal_detached(b"ctx", b"x"), Err(Error::Sealed)));
        b.unseal(&kek).await.unwrap();
        assert_eq!(&b.open_detached(b"ctx", &old).unwrap()[..], b"payload-1");
        assert_eq!(&b.open_detached(b"ctx", &new).unwrap()[..], b"payload-2");
    }

    #[tokio::test]
    async fn detached_values_reject_tampering_other_contexts_and_other_clusters() {
        let (phys, b, _) = unsealed().await;
        let sealed = b.seal_detached(b"ctx", b"some payload").unwrap();
        // Every single-bit change anywhere (header included) and every truncation fails.
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut t = sealed.clone();
                t[i] ^= 1 << bit;
                assert!(b.open_detached(b"ctx", &t).is_none(), "byte {i} bit {bit}");
            }
        }
        for n in 0..sealed.len() {
            assert!(b.open_detached(b"ctx", &sealed[..n]).is_none(), "truncated to {n}");
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(b.open_detached(b"ctx", &longer).is_none());
        assert!(b.open_detached(b"other", &sealed).is_none());
        // Another cluster (other keys) cannot open it, nor forge one.
        let (_, other, _) = unsealed().await;
        assert!(other.open_detached(b"ctx", &sealed).is_none());
        assert!(b.open_detached(b"ctx", &other.seal_detached(b"ctx", b"some payload").unwrap()).is_none());
        // Storage ciphertexts and detached values are not interchangeable.
        b.put("k", b"some payload").await.unwrap();
        let stored = phys.get("k").await.unwrap().unwrap();
        assert!(b.open_detached(b"ctx", &stored).is_none());
        assert!(b.open_detached(b"", &stored).is_none());
        assert!(b.decrypt_value("k", &sealed).is_err());
        assert!(b.decrypt_value("", &sealed).is_err());
    }

    // ------------------------------------------------------------ rotation

    fn count(b: &Barrier) -> u64 {
        b.key_status().unwrap().2
    }

    async fn put_n(b: &Barrier, n: usize) {
        for i in 0..n {
            b.put(&format!("logical/v/{i}"), b"x").await.unwrap();
        }
    }

    #[tokio::test]
    async fn encryption_count_persists_across_seal_and_unseal() {
        let (_phys, b, kek) = unsealed().await;
        put_n(&b, 5).await;
        assert_eq!(count(&b), 5);
        b.persist_and_seal().await;
        b.unseal(&kek).await.unwrap();
        assert_eq!(count(&b), 5, "the count goes on after unseal");
        put_n(&b, 2).await;
        assert_eq!(count(&b), 7);
        // Without a write (a crash), the last stored count is what comes back.
        assert!(b.persist_count().await.unwrap());
        assert!(!b.persist_count().await.unwrap(), "nothing new: nothing written");
        put_n(&b, 3).await;
        b.seal();
        b.unseal(&kek).await.unwrap();
        assert_eq!(count(&b), 7);
        // Storing the count encrypts nothing under the term (root key only).
        assert!(b.persist_count().await.is_ok());
        assert_eq!(count(&b), 7);
    }

    #[tokio::test]
    async fn rotation_resets_the_count_durably() {
        let (_phys, b, kek) = unsealed().await;
        put_n(&b, 4).await;
        assert_eq!(b.rotate("t1".into()).await.unwrap(), 2);
        assert_eq!(count(&b), 0);
        put_n(&b, 3).await;
        assert_eq!(count(&b), 3);
        b.persist_and_seal().await;
        b.unseal(&kek).await.unwrap();
        assert_eq!(b.key_status().unwrap().0, 2);
        assert_eq!(count(&b), 3);
        // The old term's final count is kept in the record.
        let ring = b.keyring.load_full().unwrap();
        assert_eq!(ring.terms[&1].encryptions, 4);
    }

    #[tokio::test]
    async fn rotation_config_persists_and_old_keyrings_decode_with_defaults() {
        let (phys, b, kek) = unsealed().await;
        assert_eq!(b.rotation_config().unwrap(), RotationConfig::default());
        let cfg = RotationConfig { enabled: false, max_operations: 2_000_000, interval_secs: 86_400 };
        b.set_rotation_config(cfg).await.unwrap();
        b.seal();
        assert!(matches!(b.rotation_config(), Err(Error::Sealed)));
        b.unseal(&kek).await.unwrap();
        assert_eq!(b.rotation_config().unwrap(), cfg);

        // A keyring record written before counts and settings existed.
        use base64::Engine;
        let ring = b.keyring.load_full().unwrap();
        let key = base64::engine::general_purpose::STANDARD.encode(ring.terms[&1].key.raw.0);
        let old = serde_json::json!({"active_term": 1, "keys": [{"term": 1, "key": key, "install_time": "t0"}]});
        let enc = seal_with(&ring.root_key, 0, KEYRING_PATH.as_bytes(), old.to_string().as_bytes()).unwrap();
        drop(ring);
        phys.put(KEYRING_PATH, enc).await.unwrap();
        b.seal();
        b.unseal(&kek).await.unwrap();
        assert_eq!(b.rotation_config().unwrap(), RotationConfig::default());
        assert_eq!(b.key_status().unwrap(), (1, "t0".to_string(), 0));
        put_n(&b, 1).await;
        assert_eq!(count(&b), 1);
    }

    /// Many threads encrypting past a (test-sized) threshold at once: the
    /// rotation task rotates exactly once, without waiting for its tick.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn threshold_triggers_exactly_one_rotation_under_concurrent_encrypts() {
        let (_phys, b, _) = unsealed().await;
        let b = Arc::new(b);
        b.set_rotation_config(RotationConfig { max_operations: 1_000, ..Default::default() }).await.unwrap();
        // An hour between ticks: only the threshold can wake the task.
        let task = b.spawn_rotation_every(Duration::from_secs(3600));
        tokio::time::sleep(Duration::from_millis(50)).await; // the first (immediate) tick passes
        assert_eq!(b.key_status().unwrap().0, 1);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        b.encrypt_value("logical/k", b"v").unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // 1600 encryptions: at least 600 past the threshold, never 1000 more under term 2.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while b.key_status().unwrap().0 == 1 {
            assert!(std::time::Instant::now() < deadline, "no rotation after crossing max_operations");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (term, _, n) = b.key_status().unwrap();
        assert_eq!(term, 2, "exactly one rotation");
        assert!(n < 1_000, "{n}");
        assert!(!b.rotation_requested.load(Ordering::Relaxed));
        // Crossing again under the new term rotates again.
        for _ in 0..1_000 {
            b.encrypt_value("logical/k", b"v").unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while b.key_status().unwrap().0 == 2 {
            assert!(std::time::Instant::now() < deadline, "no second rotation");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(b.key_status().unwrap().0, 3);
        task.abort();
    }

    #[tokio::test]
    async fn count_threshold_and_disabled() {
        let (_phys, b, _) = unsealed().await;
        let now = OffsetDateTime::now_utc();
        b.set_rotation_config(RotationConfig { max_operations: 10, ..Default::default() }).await.unwrap();
        put_n(&b, 9).await;
        assert_eq!(b.rotate_if_due(now).await.unwrap(), None);
        put_n(&b, 1).await;
        assert_eq!(b.rotate_if_due(now).await.unwrap(), Some((2, "reached max operations")));
        assert_eq!(b.rotate_if_due(now).await.unwrap(), None, "a due term rotates once");
        assert_eq!(count(&b), 0);
        // The automatic rotation's install time is the clock it was given.
        assert_eq!(b.key_status().unwrap().1, crate::util::rfc3339(now));
        b.set_rotation_config(RotationConfig { enabled: false, max_operations: 10, interval_secs: 0 }).await.unwrap();
        put_n(&b, 20).await;
        assert_eq!(b.rotate_if_due(now).await.unwrap(), None, "disabled: never");
        assert!(!b.rotation_requested.load(Ordering::Relaxed), "disabled: the encrypt path never asks");
    }

    #[tokio::test]
    async fn interval_rotation_with_an_injected_clock() {
        let phys = Arc::new(InmemStorage::new());
        let b = Barrier::new(phys.clone());
        let kek = KeyBytes::random().unwrap();
        let installed = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        b.initialize(&kek, KeyBytes::random().unwrap(), crate::util::rfc3339(installed)).await.unwrap();
        b.unseal(&kek).await.unwrap();
        let day = time::Duration::hours(24);
        // Interval 0 (the default): age never rotates.
        assert_eq!(b.rotate_if_due(installed + day * 400).await.unwrap(), None);
        b.set_rotation_config(RotationConfig { interval_secs: 86_400, ..Default::default() }).await.unwrap();
        assert_eq!(b.rotate_if_due(installed + time::Duration::hours(23)).await.unwrap(), None);
        let later = installed + day;
        assert_eq!(b.rotate_if_due(later).await.unwrap(), Some((2, "rotation interval reached")));
        // The new term's age counts from its own install time.
        assert_eq!(b.rotate_if_due(later + time::Duration::hours(23)).await.unwrap(), None);
        assert_eq!(b.rotate_if_due(later + day).await.unwrap(), Some((3, "rotation interval reached")));
        // Disabled: no rotation by age either.
        b.set_rotation_config(RotationConfig { enabled: false, interval_secs: 86_400, ..Default::default() }).await.unwrap();
        assert_eq!(b.rotate_if_due(later + day * 10).await.unwrap(), None);
    }

    #[tokio::test]
    async fn concurrent_manual_rotations_never_lose_a_term() {
        let (_phys, b, kek) = unsealed().await;
        let b = Arc::new(b);
        let mut handles = Vec::new();
        for _ in 0..8 {
            let b = b.clone();
            handles.push(tokio::spawn(async move { b.rotate("t".into()).await.unwrap() }));
        }
        let mut terms = Vec::new();
        for h in handles {
            terms.push(h.await.unwrap());
        }
        terms.sort();
        assert_eq!(terms, (2..=9).collect::<Vec<_>>());
        b.seal();
        b.unseal(&kek).await.unwrap();
        assert_eq!(b.key_status().unwrap().0, 9);
        assert_eq!(b.keyring.load_full().unwrap().terms.len(), 9);
    }
}
