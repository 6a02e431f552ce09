//! The owner of token leases: the token store. A token lease's times are the
//! token's own (expiry, last renewal, renewable), revoking it revokes the
//! token's tree, and `expire_now` hands it to the token store's sweeper.

use super::{LeaseEntry, LeaseKind, LeaseOwner, LeaseState};
use crate::error::{Error, Result};
use crate::logical::Response;
use crate::token::TokenStore;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

pub(super) struct TokenLeases {
    pub(super) store: Arc<TokenStore>,
}

fn token_hash(lease: &LeaseEntry) -> &str {
    match &lease.kind {
        LeaseKind::Token { token_hash } => token_hash,
    }
}

#[async_trait]
impl LeaseOwner for TokenLeases {
    async fn state(&self, lease: &LeaseEntry) -> Result<Option<LeaseState>> {
        Ok(self.store.load(token_hash(lease)).await?.map(|e| LeaseState {
            expire_ns: e.expire_ns,
            last_renewal_ns: e.last_renewal_ns,
            renewable: e.renewable,
            now_ns: self.store.now_ns(),
        }))
    }

    async fn revoke(&self, lease: &LeaseEntry) -> Result<()> {
        // Revoking a token lease revokes the token and its children, as
        // `auth/token/revoke` does; each one's index entry goes with it.
        self.store.revoke_tree(token_hash(lease)).await
    }

    async fn expire_now(&self, lease: &LeaseEntry) -> Result<()> {
        self.store.expire_now(token_hash(lease)).await
    }

    async fn renew(&self, _lease: &LeaseEntry, _increment: Duration) -> Result<Response> {
        // Vault and OpenBao renew tokens through auth/token/renew* only.
        Err(Error::invalid("tokens cannot be renewed through this endpoint"))
    }
}
