//! Stage 2, authenticate: resolve the client token to its entry.
//!
//! One salted-hash lookup in the namespace's token store (a batch token:
//! decrypt it, check expiry and a non-orphan's parent), then the bound-CIDR
//! check against the TCP peer address (never a forwarded header). Nothing is
//! decided here: a missing or unusable token ends the request only in the
//! authorize stage, where the route tells whether the path needs one.

use super::context::{RequestContext, TokenState};
use super::namespace::Namespace;
use crate::error::Result;

pub(crate) async fn authenticate(ctx: &mut RequestContext, ns: &Namespace) -> Result<()> {
    ctx.token = match ctx.client_token.as_deref() {
        None => TokenState::Absent,
        Some(token) => match ns.tokens().lookup(token).await? {
            Some(e) if e.usable_from(ctx.remote_addr.map(|a| a.ip())) => TokenState::Valid(e),
            Some(_) => TokenState::OutsideBoundCidrs,
            None => TokenState::Invalid,
        },
    };
    Ok(())
}
