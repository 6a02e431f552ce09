//! `sys/internal/ui/mounts*`: the mounts a caller may see (clients use the
//! per-path form to detect kv v2 before any read).

use super::{Ctx, H as Sys, obj, sorted};
use crate::backend::{Path, Route, path};
use crate::error::{Error, Result};
use crate::logical::{Operation::{Read, Update}, Request, Response};
use serde_json::{Map, Value, json};

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    Mounts,
    Mount,
    OpenApi,
}

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![
        path("ui-mounts", "internal/ui/mounts", &[(Read, Sys::Internal(H::Mounts))], &[], "Mounts visible to the caller."),
        path("ui-mount", "internal/ui/mounts/(?P<path>.+)", &[(Read, Sys::Internal(H::Mount))], &[], "The mount that serves a path (used by clients to detect kv v2)."),
        path(
            "openapi",
            "internal/specs/openapi",
            &[(Read, Sys::Internal(H::OpenApi)), (Update, Sys::Internal(H::OpenApi))],
            super::openapi::FIELDS,
            "Generate an OpenAPI 3 document of all mounted paths.",
        ),
    ]
}

pub(super) async fn serve(h: H, cx: &Ctx, route: &Route<'_>, req: &Request) -> Result<Option<Response>> {
    let active = &cx.active;
    match h {
        H::Mounts => {
            let router = active.router();
            let mut secret = Map::new();
            let mut auth = Map::new();
            let is_root = req.caller.as_ref().is_some_and(|c| c.is_root);
            let acl = req.caller.as_ref().map(|c| active.effective_acl(&c.policies, &c.entity_id));
            for e in router.entries() {
                let visible = e.entry.config.listing_visibility.as_deref() == Some("unauth")
                    || is_root
                    || acl.as_ref().is_some_and(|a| a.capabilities(&e.prefix) != ["deny"]);
                if !visible {
                    continue;
                }
                let mut v = e.entry.to_json(crate::core::VERSION);
                if let Value::Object(ref mut o) = v {
                    o.remove("uuid");
                }
                if e.is_auth { auth.insert(e.entry.path.clone(), v) } else { secret.insert(e.entry.path.clone(), v) };
            }
            let mut m = Map::new();
            m.insert("auth".into(), Value::Object(sorted(auth)));
            m.insert("secret".into(), Value::Object(sorted(secret)));
            Ok(Some(Response::data(m)))
        }
        H::OpenApi => super::openapi::handle(active, req),
        H::Mount => {
            // Vault allows any token that has some capability under the
            // mount (clients use this to detect kv v2 before any read).
            let Some(caller) = req.caller.clone() else { return Err(Error::PermissionDenied) };
            let path = route.param("path");
            let router = active.router();
            let Some(e) = router.lookup(path).or_else(|| router.lookup(&format!("{path}/"))) else {
                return Err(Error::invalid(format!("no mount found for path \"{path}\"")));
            };
            if !caller.is_root && !active.effective_acl(&caller.policies, &caller.entity_id).has_any_under(&e.prefix) {
                return Err(Error::PermissionDenied);
            }
            let mut v = obj(e.entry.to_json(crate::core::VERSION));
            v.insert("path".into(), json!(e.prefix.strip_prefix("auth/").filter(|_| e.is_auth).unwrap_or(&e.prefix)));
            Ok(Some(Response::data(v)))
        }
    }
}
