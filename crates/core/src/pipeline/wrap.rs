//! Stage 8, wrap: response wrapping when the client asked for it
//! (`X-Vault-Wrap-TTL`) or the backend forces it (`sys/wrapping/wrap`). The
//! response is stored in a new single-use token's cubbyhole and the client
//! gets `wrap_info` only ([`Core::wrap`]). Raw responses and responses that
//! are already wrapping information (`sys/wrapping/rewrap`) are not wrapped.

use super::context::RequestContext;
use super::namespace::Namespace;
use crate::core::Core;
use crate::error::Result;
use crate::logical::Response;

impl Core {
    pub(crate) async fn wrap_stage(&self, ctx: &RequestContext, ns: &Namespace, resp: Response) -> Result<Response> {
        match ctx.headers.wrap_ttl.or(resp.force_wrap_ttl) {
            // `creation_path` is the path as the client sent it.
            Some(ttl) if resp.raw.is_none() && resp.wrap_info.is_none() => self.wrap(ns.active(), resp, ttl, &ctx.path).await,
            _ => Ok(resp),
        }
    }
}
