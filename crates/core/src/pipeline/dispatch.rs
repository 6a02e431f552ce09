//! Stage 6, dispatch: the one call into a backend (or into `sys` for the
//! seal-exempt endpoints, or the path table's help).

use super::context::{RequestContext, Target};
use super::namespace::Namespace;
use crate::backend::Route;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::logical::{RawResponse, Response};
use crate::mounts::RouteEntry;

impl Core {
    /// `Ok(None)`: the backend answered with no content (204).
    pub(crate) async fn dispatch(
        &self,
        ctx: &mut RequestContext,
        ns: Option<&Namespace>,
        mount: Option<&RouteEntry>,
        row: Option<&Route<'_>>,
    ) -> Result<Option<Response>> {
        match ctx.target {
            Target::SealExempt => crate::sys::handle_unauthenticated(self, ctx.take_incoming()).await.map(Some),
            Target::Help => {
                let mount = mount.ok_or_else(|| Error::internal("pipeline: help without a mount"))?;
                let help = mount.backend.table().help(&ctx.rel_path, mount.backend.help(), Some(&mount.special))?;
                Ok(Some(Response { raw: Some(RawResponse::json(200, &help)), ..Default::default() }))
            }
            Target::Row => {
                let (Some(mount), Some(row), Some(ns), Some(req)) = (mount, row, ns, ctx.request.as_mut()) else {
                    return Err(Error::internal("pipeline: dispatch before authorize"));
                };
                let result = mount.backend.handle(row, req).await;
                // The request that consumed the token's last use is served
                // first, then the token goes.
                if let Some(entry) = ctx.revoke_after.take() {
                    ns.tokens().revoke_entry(&entry).await?;
                }
                result
            }
            Target::Unserved(_) | Target::Pending => Err(Error::internal("pipeline: dispatch of an unserved request")),
        }
    }
}
