//! `sys/policies/acl*` and the legacy `sys/policy*`: ACL policies.

use super::{Ctx, H as Sys, injected};
use crate::backend::{Canon, FieldKind, FieldSpec, Path, Route, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Operation, Request, Response};
use serde_json::{Map, json};

use Operation::{Delete, List, Read, Update};

/// The legacy `sys/policy` API (`rules`, top-level data) or `sys/policies/acl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Api {
    Legacy,
    Acl,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    /// `GET sys/policy`: the names as `keys` and `policies`.
    LegacyList,
    List,
    Read(Api),
    Write(Api),
    Delete,
}

const F_POLICY: &[FieldSpec] = &[field("policy", FieldKind::String, "The rules of the policy (HCL or JSON), optionally base64-encoded.")];
const F_LEGACY_POLICY: &[FieldSpec] = &[
    field("policy", FieldKind::String, "The rules of the policy (HCL or JSON), optionally base64-encoded."),
    field("rules", FieldKind::String, "Deprecated name of `policy`, used when `policy` is absent."),
];

/// Policy names are case-insensitive and trimmed (Vault's policy store
/// sanitises them); the ACL sees the sanitised name, as in OpenBao.
const POLICY_NAME: &[(&str, Canon)] = &[("name", Canon::TrimLower)];

pub(super) fn rows() -> Vec<Path<Sys>> {
    use Api::{Acl, Legacy};
    vec![
        path("policy-list", "policy/?", &[(Read, Sys::Policies(H::LegacyList)), (List, Sys::Policies(H::List))], &[], "List the configured ACL policies (legacy endpoint)."),
        path(
            "policy",
            "policy/(?P<name>.+)",
            &[(Read, Sys::Policies(H::Read(Legacy))), (Update, Sys::Policies(H::Write(Legacy))), (Delete, Sys::Policies(H::Delete))],
            F_LEGACY_POLICY,
            "Read, write or delete an ACL policy (legacy endpoint).",
        )
        .canonical(POLICY_NAME),
        path("acl-list", "policies/acl/?", &[(List, Sys::Policies(H::List))], &[], "List the configured ACL policies."),
        path(
            "acl",
            "policies/acl/(?P<name>.+)",
            &[(Read, Sys::Policies(H::Read(Acl))), (Update, Sys::Policies(H::Write(Acl))), (Delete, Sys::Policies(H::Delete))],
            F_POLICY,
            "Read, write or delete an ACL policy.",
        )
        .canonical(POLICY_NAME),
    ]
}

pub(super) async fn serve(h: H, cx: &Ctx, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
    let policies = cx.active.policies();
    // Already trimmed and lower-cased by the core (POLICY_NAME).
    let name = route.param("name").to_string();
    match h {
        H::LegacyList | H::List => {
            let mut names = policies.list().await?;
            names.push("root".into());
            names.sort();
            if let H::LegacyList = h {
                let mut m = Map::new();
                m.insert("keys".into(), json!(names));
                m.insert("policies".into(), json!(names));
                return Ok(injected(m));
            }
            Ok(Some(Response::list(names)))
        }
        H::Read(api) => {
            let legacy = api == Api::Legacy;
            let text = if name == "root" { Some(String::new()) } else { policies.get_raw(&name).await? };
            let Some(text) = text else { return Ok(None) };
            let mut m = Map::new();
            m.insert("name".into(), json!(name));
            m.insert(if legacy { "rules" } else { "policy" }.into(), json!(text));
            Ok(if legacy { injected(m) } else { Some(Response::data(m)) })
        }
        H::Delete => {
            policies.delete(&name).await?;
            Ok(None)
        }
        H::Write(api) => {
            let legacy = api == Api::Legacy;
            let key = if legacy && req.data.contains_key("rules") && !req.data.contains_key("policy") { "rules" } else { "policy" };
            let raw = fields::get_str(&req.data, key)?
                .filter(|p| !p.is_empty())
                .ok_or_else(|| Error::invalid("'policy' parameter not supplied or empty"))?;
            let text = decode_maybe_base64(&raw);
            policies.put(&name, &text).await?;
            Ok(None)
        }
    }
}

/// Vault accepts policy text base64-encoded too.
fn decode_maybe_base64(raw: &str) -> String {
    use base64::Engine;
    let t = raw.trim();
    if !t.is_empty()
        && !t.contains(char::is_whitespace)
        && !t.contains('{')
        && !t.contains('"')
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(t)
        && let Ok(s) = String::from_utf8(bytes)
    {
        return s;
    }
    raw.to_string()
}
