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

use crate::error::{Error, Result};
use arc_swap::ArcSwapOption;
use aws_lc_rs::aead::{AES_256_GCM, AES_256_GCM_SIV, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use coffer_storage::{Op, Storage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
}

#[derive(Serialize, Deserialize)]
struct TermRecord {
    term: u32,
    /// base64 of the 32-byte key; the whole record is encrypted and the
    /// decoded plaintext buffer is zeroized.
    key: String,
    install_time: String,
}

impl Drop for TermRecord {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// The unsealed key material: the root key and every keyring term.
pub struct Keyring {
    root_key: KeyBytes,
    active_term: u32,
    terms: BTreeMap<u32, (AeadKey, String)>,
    /// Per-term subkeys for detached values (AES-256-GCM-SIV), derived from
    /// `terms` with HKDF-SHA256 when the keyring is assembled.
    detached: BTreeMap<u32, LessSafeKey>,
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
        terms.insert(1, (AeadKey::new(first_term)?, install_time));
        Keyring::assemble(root_key, 1, terms)
    }

    fn assemble(root_key: KeyBytes, active_term: u32, terms: BTreeMap<u32, (AeadKey, String)>) -> Result<Keyring> {
        let mut detached = BTreeMap::new();
        for (term, (k, _)) in &terms {
            detached.insert(*term, derive_detached(&k.raw)?);
        }
        Ok(Keyring { root_key, active_term, terms, detached })
    }

    pub fn active_term(&self) -> u32 {
        self.active_term
    }

    pub fn install_time(&self) -> &str {
        self.terms.get(&self.active_term).map(|(_, t)| t.as_str()).unwrap_or("")
    }

    fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        use base64::Engine;
        let rec = KeyringRecord {
            active_term: self.active_term,
            keys: self
                .terms
                .iter()
                .map(|(term, (k, t))| TermRecord {
                    term: *term,
                    key: base64::engine::general_purpose::STANDARD.encode(k.raw.0),
                    install_time: t.clone(),
                })
                .collect(),
        };
        Ok(Zeroizing::new(serde_json::to_vec(&rec)?))
    }

    fn decode(root_key: KeyBytes, bytes: &[u8]) -> Result<Keyring> {
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
            terms.insert(t.term, (AeadKey::new(kb)?, t.install_time.clone()));
        }
        if !terms.contains_key(&rec.active_term) {
            return Err(Error::internal("corrupt keyring: no active term"));
        }
        Keyring::assemble(root_key, rec.active_term, terms)
    }
}

/// Encrypting wrapper around physical storage.
pub struct Barrier {
    physical: Arc<dyn Storage>,
    keyring: ArcSwapOption<Keyring>,
    encryptions: AtomicU64,
}

impl Barrier {
    pub fn new(physical: Arc<dyn Storage>) -> Barrier {
        Barrier { physical, keyring: ArcSwapOption::empty(), encryptions: AtomicU64::new(0) }
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
    }

    /// Create the root key and keyring for a fresh initialisation and persist
    /// them, the root key wrapped by `kek`.
    pub async fn initialize(&self, kek: &KeyBytes, root_key: KeyBytes, now: String) -> Result<()> {
        let keyring = Keyring::new(root_key, KeyBytes::random()?, now)?;
        let wrapped_root = seal_with(kek, 0, ROOT_KEY_PATH.as_bytes(), &keyring.root_key.0)?;
        let enc_ring = seal_with(&keyring.root_key, 0, KEYRING_PATH.as_bytes(), &keyring.encode()?)?;
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
        let keyring = Keyring::decode(root, &ring_bytes)?;
        self.keyring.store(Some(Arc::new(keyring)));
        Ok(())
    }

    /// Add a new keyring term; new writes use it, old terms still decrypt.
    pub async fn rotate(&self, now: String) -> Result<u32> {
        let cur = self.keyring.load_full().ok_or(Error::Sealed)?;
        let new_term = cur.active_term + 1;
        let mut terms = BTreeMap::new();
        for (t, (k, it)) in &cur.terms {
            terms.insert(*t, (AeadKey::new(k.raw.clone())?, it.clone()));
        }
        terms.insert(new_term, (AeadKey::new(KeyBytes::random()?)?, now));
        let next = Keyring::assemble(cur.root_key.clone(), new_term, terms)?;
        let enc_ring = seal_with(&next.root_key, 0, KEYRING_PATH.as_bytes(), &next.encode()?)?;
        self.physical.put(KEYRING_PATH, enc_ring).await?;
        self.keyring.store(Some(Arc::new(next)));
        Ok(new_term)
    }

    /// `(term, install_time, encryptions)` for `sys/key-status`.
    pub fn key_status(&self) -> Result<(u32, String, u64)> {
        let k = self.keyring.load();
        let k = k.as_ref().ok_or(Error::Sealed)?;
        Ok((k.active_term, k.install_time().to_string(), self.encryptions.load(Ordering::Relaxed)))
    }

    fn reserved(key: &str) -> bool {
        key == SEAL_CONFIG_PATH || key == ROOT_KEY_PATH || key == KEYRING_PATH
    }

    pub fn encrypt_value(&self, key: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let ring = self.keyring.load();
        let ring = ring.as_ref().ok_or(Error::Sealed)?;
        let (k, _) = ring.terms.get(&ring.active_term).ok_or_else(|| Error::internal("no active key"))?;
        self.encryptions.fetch_add(1, Ordering::Relaxed);
        encrypt(k, ring.active_term, key.as_bytes(), plaintext)
    }

    pub fn decrypt_value(&self, key: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let ring = self.keyring.load();
        let ring = ring.as_ref().ok_or(Error::Sealed)?;
        let (term, _) = parse_header(ciphertext)?;
        let (k, _) = ring.terms.get(&term).ok_or_else(|| Error::internal("unknown key term in storage"))?;
        decrypt(k, key.as_bytes(), ciphertext)
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
}
