//! The mount's salt: a random 32-byte key kept in the mount's own (encrypted)
//! view under `salt`, created on first use. Every id that is a storage key —
//! secret ids, their accessors, role ids — is stored only as a salted
//! HMAC-SHA256 of it, each kind under its own context so equal strings of two
//! kinds give unrelated keys. A secret id is never stored, logged or returned
//! in clear after the response that creates it.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use coffer_core::barrier::Change;
use coffer_core::{Error, Result, StorageView};
use zeroize::Zeroizing;

const SALT_KEY: &str = "salt";

/// What an HMAC is of: its context string keeps the kinds apart.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    SecretId,
    Accessor,
    RoleId,
}

impl Kind {
    fn context(self) -> &'static [u8] {
        match self {
            Kind::SecretId => b"approle secret_id\0",
            Kind::Accessor => b"approle secret_id_accessor\0",
            Kind::RoleId => b"approle role_id\0",
        }
    }
}

pub(crate) struct Salt {
    view: StorageView,
    key: tokio::sync::OnceCell<hmac::Key>,
}

impl Salt {
    pub(crate) fn new(view: StorageView) -> Salt {
        Salt { view, key: tokio::sync::OnceCell::new() }
    }

    /// The key, loaded or created once. Concurrent first users agree on one
    /// salt: it is created with an atomic update that keeps an existing one.
    async fn key(&self) -> Result<&hmac::Key> {
        self.key
            .get_or_try_init(|| async {
                let salt: Zeroizing<Vec<u8>> = self
                    .view
                    .update(SALT_KEY, |cur| match cur {
                        Some(s) if s.len() == 32 => Ok((Change::Keep, Zeroizing::new(s.to_vec()))),
                        Some(_) => Err(Error::internal("approle salt has an unexpected length")),
                        None => {
                            let mut s = Zeroizing::new(vec![0u8; 32]);
                            SystemRandom::new().fill(&mut s).map_err(|_| Error::internal("random generator failed"))?;
                            Ok((Change::Put(s.to_vec()), s))
                        }
                    })
                    .await?;
                Ok::<_, Error>(hmac::Key::new(hmac::HMAC_SHA256, &salt))
            })
            .await
    }

    /// Hex of the salted HMAC of `value` as a `kind`.
    pub(crate) async fn hmac(&self, kind: Kind, value: &str) -> Result<String> {
        let mut ctx = hmac::Context::with_key(self.key().await?);
        ctx.update(kind.context());
        ctx.update(value.as_bytes());
        Ok(hex::encode(ctx.sign().as_ref()))
    }
}
