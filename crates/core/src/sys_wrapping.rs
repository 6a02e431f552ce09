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
    if name == "wrap-lookup" {
        let record: WrappedRecord = cubby.get_json("response").await?.ok_or_else(invalid)?;
        return Ok(Some(Response::json(json!({
            "creation_path": record.creation_path,
            "creation_time": record.creation_time,
            "creation_ttl": record.creation_ttl,
        }))));
    }
    if name != "unwrap" && name != "rewrap" {
        return Err(Error::UnsupportedPath(name.to_string()));
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
            active.tokens.revoke_entry(entry).await?;
        }
        Ok::<_, Error>(())
    };
    if name == "unwrap" {
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
