//! `sys/audit` (list, sudo), `sys/audit/:path` (enable, disable; sudo),
//! `sys/audit-hash/:path`: the audit devices (`crate::audit`); and
//! `sys/config/auditing/request-headers[/:header]` (sudo): the request
//! headers entries show (`crate::audit::headers`). The server's
//! config file may forbid enabling and disabling through the API
//! (`unsafe_allow_api_audit_creation = false`, OpenBao's hardening); then
//! these answer 400 with OpenBao's text.

use super::{Ctx, H as Sys, injected, obj, sorted};
use crate::audit::DeviceEntry;
use crate::backend::{FieldKind, FieldSpec, Path, Route, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{
    Operation::{Delete, Read, Update},
    Request, Response,
};
use serde_json::json;

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    List,
    Enable,
    Disable,
    Hash,
    Headers,
    HeaderRead,
    HeaderWrite,
    HeaderDelete,
}

const F_ENABLE: &[FieldSpec] = &[
    field(
        "type",
        FieldKind::String,
        "The type of the audit device: file, socket, syslog or object-store.",
    ),
    field(
        "description",
        FieldKind::String,
        "User-friendly description for this audit device.",
    ),
    field(
        "options",
        FieldKind::Map,
        "Options for the device (strings): file_path, log_raw, hmac_accessor, prefix, format, elide_list_responses, filter, ...",
    ),
    field(
        "local",
        FieldKind::Bool,
        "Mark the device as local (not replicated).",
    )
    .default_bool(false),
];

const F_HASH: &[FieldSpec] = &[field(
    "input",
    FieldKind::String,
    "The plaintext to hash with the device's salt.",
)];

const F_HEADER: &[FieldSpec] = &[
    field("header", FieldKind::String, "The name of the request header."),
    field(
        "hmac",
        FieldKind::Bool,
        "HMAC the header's values in audit entries (false when left out).",
    ),
];

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![
        path(
            "audit-list",
            "audit/?",
            &[(Read, Sys::Audit(H::List))],
            &[],
            "List the enabled audit devices.",
        ),
        path(
            "audit-hash",
            "audit-hash/(?P<path>.+)",
            &[(Update, Sys::Audit(H::Hash))],
            F_HASH,
            "The hash of a plaintext as the audit device at this path writes it.",
        ),
        path(
            "audit",
            "audit/(?P<path>.+)",
            &[
                (Update, Sys::Audit(H::Enable)),
                (Delete, Sys::Audit(H::Disable)),
            ],
            F_ENABLE,
            "Enable or disable an audit device.",
        ),
        path(
            "auditing-request-headers",
            "config/auditing/request-headers",
            &[(Read, Sys::Audit(H::Headers))],
            &[],
            "The request headers audit entries show, with their hmac setting.",
        ),
        path(
            "auditing-request-header",
            "config/auditing/request-headers/(?P<header>.+)",
            &[
                (Read, Sys::Audit(H::HeaderRead)),
                (Update, Sys::Audit(H::HeaderWrite)),
                (Delete, Sys::Audit(H::HeaderDelete)),
            ],
            F_HEADER,
            "Show one request header in audit entries (hmac: HMAC its values), or stop showing it.",
        ),
    ]
}

const API_FORBIDDEN: &str = "cannot enable audit device via API; use declarative, config-based audit device management instead";

pub(super) async fn serve(
    h: H,
    cx: &Ctx,
    route: &Route<'_>,
    req: &Request,
) -> Result<Option<Response>> {
    let devices = &cx.core.audit.devices;
    let barrier = cx.core.barrier();
    match h {
        H::List => Ok(injected(sorted(devices.list_json()))),
        H::Enable => {
            if !devices.api_allowed() {
                return Err(Error::invalid(API_FORBIDDEN));
            }
            let kind = fields::get_str(&req.data, "type")?.unwrap_or_default();
            if kind.is_empty() {
                return Err(Error::invalid("type must be specified"));
            }
            let entry = DeviceEntry {
                path: route.param("path").to_string(),
                kind,
                description: fields::get_str(&req.data, "description")?.unwrap_or_default(),
                options: crate::audit::options_from(fields::get_str_map(&req.data, "options")?),
                local: fields::get_bool(&req.data, "local")?.unwrap_or(false),
                uuid: String::new(),
                from_config: false,
            };
            devices.enable(barrier, entry).await?;
            Ok(None)
        }
        H::Disable => {
            if !devices.api_allowed() {
                return Err(Error::invalid(
                    "cannot disable audit device via API; use declarative, config-based audit device management instead",
                ));
            }
            devices.disable(barrier, route.param("path")).await?;
            Ok(None)
        }
        H::Hash => {
            let input = fields::get_str(&req.data, "input")?.unwrap_or_default();
            let hash = devices.hash(route.param("path"), &input)?;
            Ok(injected(obj(json!({ "hash": hash }))))
        }
        H::Headers => Ok(injected(obj(
            json!({ "headers": cx.core.audit.headers.list_json() }),
        ))),
        H::HeaderRead => {
            let name = route.param("header");
            let s = cx
                .core
                .audit
                .headers
                .get(name)
                .ok_or_else(|| Error::invalid("Could not find header in config"))?;
            let mut m = serde_json::Map::new();
            m.insert(name.to_string(), json!({ "hmac": s.hmac }));
            Ok(injected(m))
        }
        H::HeaderWrite => {
            let hmac = fields::get_bool(&req.data, "hmac")?.unwrap_or(false);
            let setting = crate::audit::headers::Setting { hmac };
            cx.core
                .audit
                .headers
                .set(barrier, route.param("header"), setting)
                .await?;
            Ok(None)
        }
        H::HeaderDelete => {
            cx.core.audit.headers.remove(barrier, route.param("header")).await?;
            Ok(None)
        }
    }
}
