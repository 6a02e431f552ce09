//! `sys/mfa/validate` (unauthenticated): the second half of a two-phase
//! login. Claims the parked login by `mfa_request_id`, checks the
//! `mfa_payload` passcodes against its enforcements (`crate::mfa`) and
//! answers the login's token, issued as at login.

use super::{Ctx, H as Sys};
use crate::backend::{FieldKind, FieldSpec, Path, field, path};
use crate::error::Result;
use crate::fields;
use crate::logical::{Operation::Update, Request, Response};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum H {
    Validate,
}

const FIELDS: &[FieldSpec] = &[
    field("mfa_request_id", FieldKind::String, "The MFA request ID of the login.").required(),
    field("mfa_payload", FieldKind::Map, "Method ID or name → list of passcodes.").required(),
];

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![path("mfa-validate", "mfa/validate", &[(Update, Sys::Mfa(H::Validate))], FIELDS, "Validate the MFA of a login and get its token.")]
}

pub(super) async fn serve(h: H, cx: &Ctx, req: &mut Request) -> Result<Option<Response>> {
    match h {
        H::Validate => {
            let id = fields::get_str(&req.data, "mfa_request_id")?.unwrap_or_default();
            // As OpenBao, the request id is judged first: a payload-less
            // validation of an unknown id is "invalid request ID".
            let payload = match fields::get_raw(&req.data, "mfa_payload") {
                None | Some(serde_json::Value::Null) => Default::default(),
                v => crate::mfa::parse_payload(v)?,
            };
            let pending = cx.active.mfa().complete(&id, &payload).await?;
            let (auth, warnings) = crate::pipeline::issue_validated(&cx.active, pending).await?;
            Ok(Some(Response { auth: Some(auth), warnings, ..Default::default() }))
        }
    }
}
