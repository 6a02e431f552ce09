//! `sys/wrapping/{unwrap,lookup,rewrap}`. (`wrap` itself is a plain handler
//! whose response the core wraps.)

use crate::core::{Active, Core};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Request, Response};
use crate::wrapping::WrappedRecord;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

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
            let entry = active.tokens.lookup(&t).await?.ok_or_else(invalid)?;
            (active.tokens.caller(&entry), Some(entry))
        }
        None => ((**req.caller.as_ref().ok_or_else(invalid)?).clone(), None),
    };
    if caller.policies != ["response-wrapping"] {
        return Err(invalid());
    }
    Ok((caller.token_hash, entry))
}

pub async fn handle(core: &Core, active: &Arc<Active>, name: &str, req: &mut Request) -> Result<Option<Response>> {
    let (hash, entry) = resolve(active, req).await?;
    let cubby = core.cubbyhole_view(active, &hash)?;
    let record: WrappedRecord = cubby.get_json("response").await?.ok_or_else(invalid)?;
    match name {
        "wrap-lookup" => Ok(Some(Response::json(json!({
            "creation_path": record.creation_path,
            "creation_time": record.creation_time,
            "creation_ttl": record.creation_ttl,
        })))),
        "unwrap" => {
            // When the wrapping token authenticated this request, the core
            // revokes it after the request (its single use). Otherwise burn it here.
            if let Some(entry) = &entry {
                active.tokens.revoke_entry(entry).await?;
            }
            let resp = record.into_response();
            if resp.data.is_none() && resp.auth.is_none() {
                return Ok(None);
            }
            Ok(Some(resp))
        }
        "rewrap" => {
            if let Some(entry) = &entry {
                active.tokens.revoke_entry(entry).await?;
            }
            let ttl = Duration::from_secs(record.creation_ttl.max(1));
            let path = record.creation_path.clone();
            let wrapped = core.wrap(active, record.into_response(), ttl, &path).await?;
            Ok(Some(wrapped))
        }
        _ => Err(Error::UnsupportedPath(name.to_string())),
    }
}
