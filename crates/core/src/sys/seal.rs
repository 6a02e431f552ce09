//! `sys/seal`, and the five endpoints that answer sealed or not, without a
//! token: `sys/init`, `sys/seal-status`, `sys/unseal`, `sys/health`,
//! `sys/leader`. Those have a table of their own ([`SEALED`]), served by
//! [`handle_unauthenticated`] before routing, since no router exists while
//! sealed; they answer plain JSON bodies (no envelope).

use super::{Ctx, H as Sys};
use crate::backend::{FieldKind, FieldSpec, Path, Paths, field, path};
use crate::core::{Core, Incoming};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Operation, RawResponse, Response};
use serde_json::{Value, json};
use std::sync::LazyLock;

use Operation::{Header, Read, Update};

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    Seal,
}

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![path("seal", "seal", &[(Update, Sys::Seal(H::Seal))], &[], "Seal the server: drop all keys from memory.")]
}

pub(super) async fn serve(h: H, cx: &Ctx) -> Result<Option<Response>> {
    match h {
        H::Seal => {
            cx.core.seal().await?;
            Ok(None)
        }
    }
}

/// The handlers of the endpoints served sealed or not.
#[derive(Clone, Copy, Debug)]
enum Sealed {
    InitStatus,
    Init,
    SealStatus,
    Unseal,
    Health,
    Leader,
}

const F_INIT: &[FieldSpec] = &[
    field("secret_shares", FieldKind::Int, "Number of unseal key shares."),
    field("secret_threshold", FieldKind::Int, "Number of shares needed to unseal."),
    field("pgp_keys", FieldKind::StringList, "Not supported: PGP keys to encrypt the shares with."),
    field("root_token_pgp_key", FieldKind::String, "Not supported: PGP key to encrypt the root token with."),
    field("recovery_shares", FieldKind::Int, "Not applicable to the shamir seal."),
    field("recovery_threshold", FieldKind::Int, "Not applicable to the shamir seal."),
    field("recovery_pgp_keys", FieldKind::StringList, "Not applicable to the shamir seal."),
];
const F_UNSEAL: &[FieldSpec] = &[
    field("key", FieldKind::String, "One unseal key share (hex or base64)."),
    field("reset", FieldKind::Bool, "Discard the shares submitted so far."),
];
const F_HEALTH: &[FieldSpec] = &[
    field("standbyok", FieldKind::Bool, "Answer the active code on a standby.").query(),
    field("perfstandbyok", FieldKind::Bool, "Answer the active code on a performance standby.").query(),
    field("activecode", FieldKind::Int, "Status code when active (200).").default_int(200).query(),
    field("standbycode", FieldKind::Int, "Status code when standby (429).").default_int(429).query(),
    field("drsecondarycode", FieldKind::Int, "Status code of a DR secondary (472).").default_int(472).query(),
    field("performancestandbycode", FieldKind::Int, "Status code of a performance standby (473).").default_int(473).query(),
    field("haunhealthycode", FieldKind::Int, "Status code of an unhealthy HA node (474).").default_int(474).query(),
    field("removedcode", FieldKind::Int, "Status code of a node removed from its cluster (530).").default_int(530).query(),
    field("sealedcode", FieldKind::Int, "Status code when sealed (503).").default_int(503).query(),
    field("uninitcode", FieldKind::Int, "Status code when not initialised (501).").default_int(501).query(),
];


/// Relative to `sys/`.
static SEALED: LazyLock<Paths<Sealed>> = LazyLock::new(|| {
    Paths::new(vec![
        path("init", "init", &[(Read, Sealed::InitStatus), (Update, Sealed::Init)], F_INIT, "Initialise the server, or read whether it is."),
        path("seal-status", "seal-status", &[(Read, Sealed::SealStatus)], &[], "The seal status."),
        path("unseal", "unseal", &[(Update, Sealed::Unseal)], F_UNSEAL, "Submit one unseal key share."),
        path("health", "health", &[(Read, Sealed::Health), (Header, Sealed::Health)], F_HEALTH, "Health of the server, as a status code."),
        path("leader", "leader", &[(Read, Sealed::Leader)], &[], "High-availability status (single node: not enabled)."),
    ])
});

/// The seal-exempt endpoints' table (for the table walk and the docs).
pub fn sealed_table() -> &'static crate::backend::PathTable {
    &SEALED
}

/// `sys/init`, `sys/seal-status`, `sys/unseal`, `sys/health`, `sys/leader`:
/// plain JSON bodies (no envelope), no token, served sealed or not.
pub async fn handle_unauthenticated(core: &Core, inc: Incoming) -> Result<Response> {
    let rel = inc.path.strip_prefix("sys/").unwrap_or(&inc.path);
    let route = SEALED.route(rel).ok_or_else(|| Error::UnsupportedPath(rel.to_string()))?;
    let handler = SEALED.handler(&route, inc.operation)?;
    #[cfg(debug_assertions)]
    {
        let declared = fields::Declared::new(route.spec, &inc.data);
        fields::DECLARED.scope(declared, sealed(core, handler, &inc.data)).await
    }
    #[cfg(not(debug_assertions))]
    sealed(core, handler, &inc.data).await
}

async fn sealed(core: &Core, h: Sealed, data: &Data) -> Result<Response> {
    let raw = |status: u16, v: Value| Ok(Response { raw: Some(RawResponse::json(status, &v)), ..Default::default() });
    match h {
        Sealed::InitStatus => raw(200, json!({"initialized": core.is_initialized().await?})),
        Sealed::Init => {
            for k in ["recovery_shares", "recovery_threshold", "recovery_pgp_keys"] {
                if fields::get_raw(data, k).is_some_and(|v| !v.is_null() && v != &json!(0)) {
                    return Err(Error::invalid("parameters recovery_shares,recovery_threshold not applicable to seal type shamir"));
                }
            }
            if fields::get_raw(data, "pgp_keys").is_some_and(|v| !v.is_null()) || fields::get_raw(data, "root_token_pgp_key").is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
                return Err(Error::invalid("PGP-encrypted key shares are not supported by Coffer yet"));
            }
            let shares = fields::get_int(data, "secret_shares")?.unwrap_or(0);
            let threshold = fields::get_int(data, "secret_threshold")?.unwrap_or(0);
            let res = core.initialize(shares, threshold, None, false).await?;
            use base64::Engine;
            let keys: Vec<String> = res.keys.iter().map(hex::encode).collect();
            let keys_b64: Vec<String> = res.keys.iter().map(|k| base64::engine::general_purpose::STANDARD.encode(&k[..])).collect();
            raw(200, json!({"keys": keys, "keys_base64": keys_b64, "root_token": res.root_token}))
        }
        Sealed::SealStatus => raw(200, core.seal_status().await?),
        Sealed::Unseal => {
            let reset = fields::get_bool(data, "reset")?.unwrap_or(false);
            let key = fields::get_str(data, "key")?.filter(|k| !k.is_empty());
            let v = core.submit_unseal_key(key.as_deref(), reset).await?;
            raw(200, v)
        }
        Sealed::Health => {
            let (status, body) = core.health(data).await?;
            raw(status, body)
        }
        Sealed::Leader => {
            if core.is_sealed() {
                return Err(Error::Sealed);
            }
            raw(200, json!({"ha_enabled": false}))
        }
    }
}
