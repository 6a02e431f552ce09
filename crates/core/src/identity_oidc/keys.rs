//! Named keys (`identity/oidc/key/*`): each holds its current signing key,
//! the next one (already published, so verifiers can fetch it before use)
//! and a ring of key ids whose public halves stay verifiable; a rotated-out
//! key expires `verification_ttl` after its rotation. Rotation is due every
//! `rotation_period` (the periodic task in `mod.rs`) or on
//! `key/:name/rotate`.

use super::jws::{self, SigningKey};
use super::{Store, now_unix};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const DEFAULT_KEY: &str = "default";
pub const DAY: u64 = 86_400;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RingEntry {
    pub key_id: String,
    /// Unix seconds; `None` while the key is current or next.
    #[serde(default)]
    pub expire_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NamedKey {
    pub algorithm: String,
    /// Seconds.
    pub verification_ttl: u64,
    pub rotation_period: u64,
    #[serde(default)]
    pub key_ring: Vec<RingEntry>,
    #[serde(default)]
    pub signing_key: Option<SigningKey>,
    #[serde(default)]
    pub next_signing_key: Option<SigningKey>,
    /// Unix seconds.
    pub next_rotation: i64,
    #[serde(default)]
    pub allowed_client_ids: Vec<String>,
}

impl NamedKey {
    /// The default key as Vault writes it at setup: no key material until a role uses it.
    pub fn default_key() -> NamedKey {
        NamedKey {
            algorithm: "RS256".into(),
            verification_ttl: DAY,
            rotation_period: DAY,
            key_ring: Vec::new(),
            signing_key: None,
            next_signing_key: None,
            next_rotation: now_unix() + DAY as i64,
            allowed_client_ids: vec!["*".into()],
        }
    }

    pub fn allows(&self, client_id: &str) -> bool {
        self.allowed_client_ids.iter().any(|c| c == "*" || c == client_id)
    }

    /// A new current key (appended to the ring, public half saved).
    pub async fn generate_current(&mut self, s: &Store) -> Result<()> {
        let k = generate(&self.algorithm).await?;
        s.put_public(&k).await?;
        self.key_ring.push(RingEntry { key_id: k.kid.clone(), expire_at: None });
        self.signing_key = Some(k);
        Ok(())
    }

    pub async fn generate_next(&mut self, s: &Store) -> Result<()> {
        let k = generate(&self.algorithm).await?;
        s.put_public(&k).await?;
        self.key_ring.push(RingEntry { key_id: k.kid.clone(), expire_at: None });
        self.next_signing_key = Some(k);
        Ok(())
    }

    /// Vault's rotate: the current key expires after `verification_ttl`
    /// (or the override), the next key signs, a new next key is made.
    pub async fn rotate(&mut self, s: &Store, verification_ttl: Option<u64>, now: i64) -> Result<()> {
        let ttl = verification_ttl.unwrap_or(self.verification_ttl) as i64;
        if let Some(cur) = &self.signing_key
            && let Some(e) = self.key_ring.iter_mut().find(|e| e.key_id == cur.kid)
        {
            e.expire_at = Some(now + ttl);
        }
        if self.next_signing_key.is_none() {
            self.generate_next(s).await?;
        }
        self.signing_key = self.next_signing_key.take();
        self.next_rotation = now + self.rotation_period as i64;
        self.generate_next(s).await
    }

    pub fn sign(&self, payload: &[u8]) -> Result<String> {
        let k = self.signing_key.as_ref().ok_or_else(|| Error::internal("signing key is nil; rotate the key and try again"))?;
        jws::sign(k, payload)
    }
}

/// Key generation off the async workers (RSA takes tens of milliseconds).
async fn generate(alg: &str) -> Result<SigningKey> {
    let alg = alg.to_string();
    tokio::task::spawn_blocking(move || jws::generate(&alg)).await.map_err(|e| Error::internal(format!("oidc key generation: {e}")))?
}

/// Drop expired ring entries and every public key no ring names any more.
pub async fn expire(s: &Store, now: i64) -> Result<()> {
    let mut used: Vec<String> = Vec::new();
    for name in s.list_keys().await? {
        let Some(mut key) = s.get_key(&name).await? else { continue };
        let before = key.key_ring.len();
        key.key_ring.retain(|e| e.expire_at.is_none_or(|t| t >= now));
        if key.key_ring.len() != before {
            s.put_key(&name, &key).await?;
        }
        used.extend(key.key_ring.iter().map(|e| e.key_id.clone()));
    }
    for kid in s.list_public().await? {
        if !used.contains(&kid) {
            s.delete_public(&kid).await?;
        }
    }
    Ok(())
}

/// Rotate every key whose `next_rotation` has passed, then expire.
pub async fn rotate_due(s: &Store, now: i64) -> Result<()> {
    for name in s.list_keys().await? {
        let Some(mut key) = s.get_key(&name).await? else { continue };
        if now > key.next_rotation {
            key.rotate(s, None, now).await?;
            s.put_key(&name, &key).await?;
        }
    }
    expire(s, now).await
}

/// The public JWK set: every ring key of every key some role references.
/// Callers expire first, under the writers' lock (`Oidc::published`): an
/// expiry pass racing a key write could delete the public half of a key
/// generated but not yet recorded in its ring.
pub async fn jwks(s: &Store) -> Result<Vec<Value>> {
    let mut kids: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for role in s.list_roles().await? {
        if let Some(r) = s.get_role(&role).await?
            && !names.contains(&r.key)
        {
            names.push(r.key);
        }
    }
    for name in names {
        if let Some(k) = s.get_key(&name).await? {
            kids.extend(k.key_ring.into_iter().map(|e| e.key_id).filter(|id| !kids.contains(id)).collect::<Vec<_>>());
        }
    }
    let mut out = Vec::with_capacity(kids.len());
    for kid in kids {
        if let Some(jwk) = s.get_public(&kid).await? {
            out.push(jwk);
        }
    }
    Ok(out)
}
