//! `sys/wrapping/{wrap,unwrap,lookup,rewrap}`. (`wrap` itself is a plain
//! handler whose response the core wraps.)

use super::{Ctx, H as Sys};
use crate::backend::{FieldKind, FieldSpec, Path, field, path};
use crate::core::Active;
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Operation::{Read, Update}, Request, Response};
use crate::wrapping::WrappedRecord;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum H {
    Wrap,
    Unwrap,
    Lookup,
    Rewrap,
}

const F_WRAP_TOKEN: &[FieldSpec] = &[field("token", FieldKind::String, "The wrapping token (for unwrap: else the request token is used).")];

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![
        path("wrap", "wrapping/wrap", &[(Update, Sys::Wrapping(H::Wrap))], &[], "Response-wrap an arbitrary JSON object."),
        path("unwrap", "wrapping/unwrap", &[(Update, Sys::Wrapping(H::Unwrap))], F_WRAP_TOKEN, "Unwrap a response-wrapping token."),
        path("wrap-lookup", "wrapping/lookup", &[(Read, Sys::Wrapping(H::Lookup)), (Update, Sys::Wrapping(H::Lookup))], F_WRAP_TOKEN, "Look up the properties of a wrapping token."),
        path("rewrap", "wrapping/rewrap", &[(Update, Sys::Wrapping(H::Rewrap))], F_WRAP_TOKEN, "Rotate a wrapping token, keeping its wrapped response."),
    ]
}

fn invalid() -> Error {
    Error::invalid("wrapping token is not valid or does not exist")
}

/// Resolve the wrapping token named in the body, or else the caller's own
/// token (already resolved, and used up, by the pipeline). Returns its hash
/// and, when it came from the body, its entry (to burn it here).
async fn resolve(active: &Arc<Active>, req: &Request) -> Result<(String, Option<Arc<crate::token::TokenEntry>>)> {
    let body_token = fields::get_str(&req.data, "token")?.filter(|t| !t.is_empty());
    let (caller, entry) = match body_token {
        Some(t) => {
            let entry = active.tokens().lookup(&t).await?.ok_or_else(invalid)?;
            (active.tokens().caller(&entry), Some(entry))
        }
        None => ((**req.caller.as_ref().ok_or_else(invalid)?).clone(), None),
    };
    if caller.policies != ["response-wrapping"] {
        return Err(invalid());
    }
    Ok((caller.token_hash, entry))
}

pub(super) async fn serve(h: H, cx: &Ctx, req: &mut Request) -> Result<Option<Response>> {
    let (core, active) = (&cx.core, &cx.active);
    if h == H::Wrap {
        // An empty body wraps an empty object, as in Vault and OpenBao.
        // The core wraps the response with the request's X-Vault-Wrap-TTL.
        if req.wrap_ttl.is_none() {
            return Err(Error::invalid("endpoint requires response wrapping to be used"));
        }
        return Ok(Some(Response::data(req.data.clone())));
    }
    let (hash, entry) = resolve(active, req).await?;
    let cubby = core.cubbyhole_view(active, &hash)?;
    if h == H::Lookup {
        let record: WrappedRecord = cubby.get_json("response").await?.ok_or_else(invalid)?;
        return Ok(Some(Response::json(json!({
            "creation_path": record.creation_path,
            "creation_time": record.creation_time,
            "creation_ttl": record.creation_ttl,
        }))));
    }
    // A wrapped response is single-use: claim it (an atomic read-and-delete
    // in storage) before anything of it is returned, so of concurrent
    // unwraps/rewraps of one token exactly one gets it and the others are
    // told the token is invalid. Looking it up and then revoking the token
    // would let every request that read it before the revoke return it.
    let record: WrappedRecord = cubby.take_json("response").await?.ok_or_else(invalid)?;
    // When the wrapping token authenticated this request, the core revokes
    // it after the request (its single use). Otherwise burn it here.
    let burn = async {
        if let Some(entry) = &entry {
            active.tokens().revoke_entry(entry).await?;
        }
        Ok::<_, Error>(())
    };
    if h == H::Unwrap {
        burn.await?;
        let resp = record.into_response();
        if resp.data.is_none() && resp.auth.is_none() {
            return Ok(None);
        }
        return Ok(Some(resp));
    }
    let ttl = Duration::from_secs(record.creation_ttl.max(1));
    let path = record.creation_path.clone();
    match core.wrap(active, record.clone().into_response(), ttl, &path).await {
        Ok(wrapped) => {
            burn.await?;
            Ok(Some(wrapped))
        }
        Err(e) => {
            // Nothing was handed out: put the claimed response back so the
            // old token still unwraps.
            cubby.put_json("response", &record).await?;
            Err(e)
        }
    }
}
