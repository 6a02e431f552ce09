//! `sys/audit-checkpoint/:path`: the public key and the latest signed
//! checkpoint of an audit device's hash chain, so a copy of the log held
//! elsewhere can be verified and its tail judged (`coffer audit verify
//! -address ... -device PATH`).
//!
//! Neither the key nor the checkpoint is secret, but device paths are
//! (listing `sys/audit` needs sudo in Vault), so the path is a sudo path
//! like `sys/audit/*`: a monitoring token needs `sudo` on
//! `sys/audit-checkpoint/<path>`. A path that never had a chained device
//! answers 404. The answer comes from storage, where every checkpoint is
//! written as it is logged, so it is also there for a disabled device.

use super::{Ctx, H as Sys};
use crate::audit::chain_store;
use crate::backend::{Path, Route, path};
use crate::error::{Error, Result};
use crate::logical::{Data, Operation::Read, Response};
use base64::Engine;
use serde_json::json;

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    Read,
}

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![path(
        "audit-checkpoint",
        "audit-checkpoint/(?P<path>.+)",
        &[(Read, Sys::AuditCheckpoint(H::Read))],
        &[],
        "The public key and the latest signed checkpoint of an audit device's hash chain.",
    )]
}

pub(super) async fn serve(h: H, cx: &Ctx, route: &Route<'_>) -> Result<Option<Response>> {
    match h {
        H::Read => {
            let Some(p) = chain_store::published(cx.core.barrier(), route.param("path")).await?
            else {
                return Err(Error::NotFound);
            };
            let mut d = Data::new();
            d.insert(
                "public_key".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(&p.public_key)),
            );
            d.insert("key_id".into(), json!(p.key_id));
            d.insert("checkpoint".into(), match p.checkpoint {
                Some(c) => json!({"seq": c.seq, "head": c.head.to_string(), "time": c.time, "key_id": c.key_id, "signature": c.signature}),
                None => serde_json::Value::Null,
            });
            Ok(Some(Response::data(d)))
        }
    }
}
