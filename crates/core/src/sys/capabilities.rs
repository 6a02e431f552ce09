//! `sys/capabilities`, `sys/capabilities-self`, `sys/capabilities-accessor`:
//! what a token's policies allow on paths.

use super::{Ctx, H as Sys, injected};
use crate::backend::{FieldKind, FieldSpec, Path, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Operation::Update, Request, Response};
use serde_json::{Map, json};

/// Whose capabilities: a token given in the body, the caller's, or a token
/// given by accessor.
#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    Token,
    Caller,
    Accessor,
}

const F_PATHS: FieldSpec = field("paths", FieldKind::StringList, "Paths to check.");
const F_PATH: FieldSpec = field("path", FieldKind::StringList, "Use 'paths' instead.").deprecated();
const F_CAPS: &[FieldSpec] = &[field("token", FieldKind::String, "Token to check."), F_PATHS, F_PATH];
const F_CAPS_SELF: &[FieldSpec] = &[F_PATHS, F_PATH];
const F_CAPS_ACC: &[FieldSpec] = &[field("accessor", FieldKind::String, "Accessor of the token to check."), F_PATHS, F_PATH];

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![
        path("capabilities", "capabilities", &[(Update, Sys::Capabilities(H::Token))], F_CAPS, "Capabilities of a token on paths."),
        path("capabilities-self", "capabilities-self", &[(Update, Sys::Capabilities(H::Caller))], F_CAPS_SELF, "Capabilities of the calling token on paths."),
        path("capabilities-accessor", "capabilities-accessor", &[(Update, Sys::Capabilities(H::Accessor))], F_CAPS_ACC, "Capabilities of a token, by accessor, on paths."),
    ]
}

pub(super) async fn serve(h: H, cx: &Ctx, req: &Request) -> Result<Option<Response>> {
    let active = &cx.active;
    let paths = match fields::get_str_list(&req.data, "paths")? {
        Some(p) if !p.is_empty() => p,
        // Vault's deprecated `path` is a comma-separated list like `paths`.
        _ => fields::get_str_list(&req.data, "path")?.unwrap_or_default(),
    };
    if paths.is_empty() {
        return Err(Error::invalid("missing paths"));
    }
    let (policies, entity_id) = match h {
        H::Caller => req.caller.as_ref().map(|c| (c.policies.clone(), c.entity_id.clone())).ok_or(Error::PermissionDenied)?,
        H::Token => {
            let token = fields::get_str(&req.data, "token")?.unwrap_or_default();
            let entry = active.tokens().lookup(&token).await?.ok_or_else(|| Error::invalid("1 error occurred:\n\t* invalid token\n\n"))?;
            (entry.policies.clone(), entry.entity_id.clone())
        }
        H::Accessor => {
            let acc = fields::get_str(&req.data, "accessor")?.unwrap_or_default();
            let entry = active.tokens().lookup_accessor(&acc).await?.ok_or_else(|| Error::invalid("invalid accessor"))?;
            (entry.policies.clone(), entry.entity_id.clone())
        }
    };
    let acl = active.effective_acl(&policies, &entity_id);
    let mut m = Map::new();
    for p in &paths {
        let caps = acl.capabilities(p.trim_start_matches('/'));
        if paths.len() == 1 {
            m.insert("capabilities".into(), json!(caps));
        }
        m.insert(p.clone(), json!(caps));
    }
    Ok(injected(m))
}
