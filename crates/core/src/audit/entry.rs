//! One request or response entry, before any device's HMAC: Vault's
//! structure (vault-api.md §3.1) as a JSON value whose members are in
//! Vault's order and obey its `omitempty` rules. The plaintext entry holds
//! the client token: it never leaves this module except through
//! [`super::Format::render`], which hashes it (or, with `log_raw`, is asked
//! to write it as it is).

use super::headers::{AuditedHeaders, Selected};
use crate::error::Error;
use crate::logical::{Auth, Response};
use crate::pipeline::context::{RequestContext, TokenState};
use crate::token::TokenEntry;
use serde_json::{Map, Value, json};

/// A raw entry and what the devices need to format and filter it.
pub(crate) struct Raw {
    pub value: Value,
    /// The mount's non-HMAC keys for this entry's data.
    pub non_hmac_request: Vec<String>,
    pub non_hmac_response: Vec<String>,
    pub is_list: bool,
    /// The request failed or was denied: no filter may drop it.
    pub failed: bool,
    /// The members of `request.headers` every device HMACs, `log_raw` or not.
    pub hmac_headers: Vec<String>,
}

/// The version a mount reports running (Vault: `v1.x+builtin`).
fn running_version() -> String {
    format!("v{}+builtin.coffer", crate::core::VERSION)
}

/// What the client saw as the error, as Vault writes it into entries: the
/// request entry gets the bare text, the response entry the client's message
/// (Vault's multierror rendering where the client gets one).
fn error_texts(e: &Error) -> (String, String) {
    match e {
        Error::PermissionDenied => (
            "permission denied".into(),
            "1 error occurred:\n\t* permission denied\n\n".into(),
        ),
        Error::InvalidToken => (
            "permission denied".into(),
            "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n".into(),
        ),
        Error::UnsupportedPath(_) => (
            "unsupported path".into(),
            "1 error occurred:\n\t* unsupported path\n\n".into(),
        ),
        Error::UnsupportedOperation(_) => (
            "unsupported operation".into(),
            "1 error occurred:\n\t* unsupported operation\n\n".into(),
        ),
        // The detail of an internal error is for the server log only.
        Error::Internal(_) => ("internal error".into(), "internal error".into()),
        other => (other.to_string(), other.to_string()),
    }
}

fn put(m: &mut Map<String, Value>, k: &str, v: Value) {
    m.insert(k.to_string(), v);
}

fn put_str(m: &mut Map<String, Value>, k: &str, v: &str) {
    if !v.is_empty() {
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
}

fn put_list(m: &mut Map<String, Value>, k: &str, v: &[String]) {
    if !v.is_empty() {
        m.insert(k.to_string(), json!(v));
    }
}

/// The top-level `auth` of an entry: the caller's token (for a login's
/// response entry, the new token, see [`login_auth`]).
fn caller_auth(ctx: &RequestContext, token: Option<&str>) -> Value {
    let mut m = Map::new();
    match &ctx.token {
        TokenState::Valid(e) => {
            token_fields(
                &mut m,
                token.unwrap_or_default(),
                e,
                ctx.identity.as_ref().map(|r| r.policies.as_slice()),
            );
            policy_results(&mut m, ctx);
            let meta = e.meta.as_ref().filter(|m| !m.is_empty());
            if let Some(meta) = meta {
                put(&mut m, "metadata", json!(meta));
            }
            if e.num_uses > 0 {
                put(&mut m, "num_uses", json!(e.num_uses));
            }
            put_str(&mut m, "entity_id", &e.entity_id);
            put_str(&mut m, "token_type", &e.token_type);
            if e.ttl > 0 {
                put(&mut m, "token_ttl", json!(e.ttl));
            }
            if e.creation_time > 0 {
                let t = time::OffsetDateTime::from_unix_timestamp(e.creation_time)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                put(&mut m, "token_issue_time", json!(crate::util::rfc3339(t)));
            }
        }
        _ => {
            policy_results(&mut m, ctx);
            // Vault's zero token type.
            put(&mut m, "token_type", json!("default"));
        }
    }
    Value::Object(m)
}

fn token_fields(
    m: &mut Map<String, Value>,
    token: &str,
    e: &TokenEntry,
    identity: Option<&[String]>,
) {
    put_str(m, "client_token", token);
    put_str(m, "accessor", &e.accessor);
    put_str(m, "display_name", &e.display_name);
    let mut all = e.policies.clone();
    for p in identity.unwrap_or_default() {
        if !all.contains(p) {
            all.push(p.clone());
        }
    }
    put_list(m, "policies", &all);
    put_list(m, "token_policies", &e.policies);
    put_list(m, "identity_policies", identity.unwrap_or_default());
}

/// `policy_results`: present once the ACL judged the request (or the path
/// needed no token); `allowed` is never omitted.
fn policy_results(m: &mut Map<String, Value>, ctx: &RequestContext) {
    let Some(allowed) = ctx.audit_policy.allowed else {
        return;
    };
    let mut pr = Map::new();
    put(&mut pr, "allowed", json!(allowed));
    if !ctx.audit_policy.granting.is_empty() {
        let g: Vec<Value> = ctx
            .audit_policy
            .granting
            .iter()
            .map(|n| json!({"name": n, "namespace_id": "root", "type": "acl"}))
            .collect();
        put(&mut pr, "granting_policies", Value::Array(g));
    }
    put(m, "policy_results", Value::Object(pr));
}

/// `response.auth` (and, for a login, the entry's `auth`, which also says
/// whether the login created the entity): the token the response hands out.
fn response_auth(a: &Auth, display_name: &str, entry_auth: bool) -> Value {
    let mut m = Map::new();
    put_str(&mut m, "client_token", &a.client_token);
    put_str(&mut m, "accessor", &a.accessor);
    put_str(&mut m, "display_name", display_name);
    put_list(&mut m, "policies", &a.policies);
    put_list(&mut m, "token_policies", &a.token_policies);
    put_list(&mut m, "identity_policies", &a.identity_policies);
    if let Some(meta) = a.metadata.as_ref().filter(|m| !m.is_empty()) {
        put(&mut m, "metadata", json!(meta));
    }
    if a.num_uses > 0 {
        put(&mut m, "num_uses", json!(a.num_uses));
    }
    put_str(&mut m, "entity_id", &a.entity_id);
    if entry_auth && a.entity_created {
        put(&mut m, "entity_created", json!(true));
    }
    put_str(&mut m, "token_type", &a.token_type);
    if a.lease_duration > 0 {
        put(&mut m, "token_ttl", json!(a.lease_duration));
    }
    Value::Object(m)
}

/// The mount members shared by `request` and `response`.
fn mount_fields(
    m: &mut Map<String, Value>,
    ctx: &RequestContext,
    with_accessor: bool,
    version_key: &str,
) {
    let Some(mount) = ctx.mount.as_ref() else {
        return;
    };
    put_str(m, "mount_point", &mount.prefix);
    put_str(m, "mount_type", &mount.entry.kind);
    if with_accessor {
        put_str(m, "mount_accessor", &mount.entry.accessor);
    }
    put(m, version_key, json!(running_version()));
    put(
        m,
        "mount_class",
        json!(if mount.is_auth { "auth" } else { "secret" }),
    );
}

/// `request.client_id`, the client Vault's activity log counts: the
/// token's entity, or for a token without one a digest of its sorted
/// policies and namespace (base64 of SHA-256 over the policies joined by
/// 0x7f, then 0x00 and the namespace id; the same value OpenBao writes).
fn client_id(entity_id: &str, policies: &[String]) -> String {
    use base64::Engine;
    if !entity_id.is_empty() {
        return entity_id.to_string();
    }
    let mut policies: Vec<&str> = policies.iter().map(String::as_str).collect();
    policies.sort_unstable();
    let mut input = policies.join("\x7f").into_bytes();
    input.push(0);
    input.extend_from_slice(b"root");
    let sum = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    base64::engine::general_purpose::STANDARD.encode(sum.as_ref())
}

/// The headers as received: in the backend's request once it is built.
fn received(ctx: &RequestContext) -> &[(String, String)] {
    match &ctx.request {
        Some(r) => &r.headers,
        None => &ctx.raw_headers,
    }
}

fn request_section(ctx: &RequestContext, response_entry: bool, headers: Map<String, Value>) -> Value {
    let mut m = Map::new();
    let op = ctx.operation();
    put(&mut m, "id", json!(ctx.id()));
    if let TokenState::Valid(e) = &ctx.token {
        put(&mut m, "client_id", json!(client_id(&e.entity_id, &e.policies)));
    }
    put(&mut m, "operation", json!(op.as_str()));
    // OpenBao names the mount accessor in a request entry only for writes,
    // in response entries always, and never for a request refused before
    // dispatch.
    let accessor = ctx.audit_dispatched
        && (response_entry
            || !matches!(
                op,
                crate::logical::Operation::Read | crate::logical::Operation::List
            ));
    mount_fields(&mut m, ctx, accessor, "mount_running_version");
    if let Some(t) = ctx.client_token.as_deref().filter(|t| !t.is_empty()) {
        put(&mut m, "client_token", json!(t));
    }
    if let TokenState::Valid(e) = &ctx.token {
        put_str(&mut m, "client_token_accessor", &e.accessor);
    }
    // Only the root namespace exists; its path is "" (omitted).
    put(&mut m, "namespace", json!({"id": "root"}));
    put(&mut m, "path", json!(ctx.path));
    if let Some(d) = ctx.audit_data.as_ref().filter(|_| response_entry) {
        put(&mut m, "data", d.clone());
    } else {
        let data = match &ctx.request {
            Some(r) => &r.data,
            None => &ctx.data,
        };
        if !data.is_empty() {
            put(&mut m, "data", Value::Object(data.clone()));
        }
    }
    if let Some(a) = ctx.remote_addr {
        put(
            &mut m,
            "remote_address",
            json!(a.ip().to_canonical().to_string()),
        );
        put(&mut m, "remote_port", json!(a.port()));
    }
    if let Some(w) = ctx.headers.wrap_ttl.filter(|w| !w.is_zero()) {
        put(&mut m, "wrap_ttl", json!(w.as_secs()));
    }
    if !headers.is_empty() {
        put(&mut m, "headers", Value::Object(headers));
    }
    Value::Object(m)
}

impl Raw {
    /// The request entry. `error`: the request ended before dispatch (its
    /// entry is written by the final stage, with the error).
    pub(crate) fn request(ctx: &RequestContext, error: Option<&Error>, audited: &AuditedHeaders) -> Raw {
        let Selected { headers, hmac } = audited.select(received(ctx));
        let mut m = Map::new();
        put(&mut m, "time", json!(crate::util::rfc3339_now()));
        put(&mut m, "type", json!("request"));
        put(
            &mut m,
            "auth",
            caller_auth(ctx, ctx.client_token.as_deref()),
        );
        put(&mut m, "request", request_section(ctx, false, headers));
        if let Some(e) = error {
            put(&mut m, "error", json!(error_texts(e).0));
        }
        Raw::finish(ctx, Value::Object(m), error.is_some(), hmac)
    }

    /// The response entry for `outcome`. `login_name`: the display name of
    /// the token a login just created (looked up by the caller).
    pub(crate) fn response(
        ctx: &RequestContext,
        outcome: &Result<Response, Error>,
        login_name: Option<&str>,
        audited: &AuditedHeaders,
    ) -> Raw {
        let Selected { headers, hmac } = audited.select(received(ctx));
        let mut m = Map::new();
        put(&mut m, "time", json!(crate::util::rfc3339_now()));
        put(&mut m, "type", json!("response"));
        let new_auth = outcome.as_ref().ok().and_then(|r| r.auth.as_ref());
        // A login: the entry's `auth` describes the token it created.
        let login = ctx.unauthenticated && new_auth.is_some();
        match (login, new_auth) {
            (true, Some(a)) => put(
                &mut m,
                "auth",
                response_auth(a, login_name.unwrap_or_default(), true),
            ),
            _ => put(
                &mut m,
                "auth",
                caller_auth(ctx, ctx.client_token.as_deref()),
            ),
        }
        put(&mut m, "request", request_section(ctx, true, headers));
        let mut resp = Map::new();
        if let Some(a) = new_auth {
            put(
                &mut resp,
                "auth",
                response_auth(a, login_name.unwrap_or_default(), false),
            );
        }
        mount_fields(
            &mut resp,
            ctx,
            ctx.audit_dispatched,
            "mount_running_plugin_version",
        );
        match outcome {
            Ok(r) => {
                if let Some(s) = r.secret.as_ref().filter(|s| !s.lease_id.is_empty()) {
                    put(&mut resp, "secret", json!({"lease_id": s.lease_id}));
                }
                if let Some(raw) = &r.raw {
                    // Vault audits a raw response as its three HTTP fields.
                    put(
                        &mut resp,
                        "data",
                        json!({
                            "http_content_type": raw.content_type,
                            "http_raw_body": String::from_utf8_lossy(&raw.body),
                            "http_status_code": raw.status,
                        }),
                    );
                } else if let Some(d) = &r.data {
                    put(&mut resp, "data", Value::Object(d.clone()));
                }
                put_list(&mut resp, "warnings", &r.warnings);
                if let Some(w) = &r.wrap_info {
                    let mut wi = Map::new();
                    put(&mut wi, "ttl", json!(w.ttl));
                    put_str(&mut wi, "token", &w.token);
                    put_str(&mut wi, "accessor", &w.accessor);
                    put_str(&mut wi, "creation_time", &w.creation_time);
                    put_str(&mut wi, "creation_path", &w.creation_path);
                    if let Some(wa) = w.wrapped_accessor.as_deref() {
                        put_str(&mut wi, "wrapped_accessor", wa);
                    }
                    put(&mut resp, "wrap_info", Value::Object(wi));
                }
            }
            Err(e) => {
                put(&mut resp, "data", json!({"error": error_texts(e).0}));
            }
        }
        if !resp.is_empty() {
            put(&mut m, "response", Value::Object(resp));
        }
        if let Err(e) = outcome {
            put(&mut m, "error", json!(error_texts(e).1));
        }
        Raw::finish(ctx, Value::Object(m), outcome.is_err(), hmac)
    }

    /// The entry a device writes when it is enabled, proving it can write
    /// (OpenBao's test message).
    pub(crate) fn probe() -> Raw {
        let value = json!({
            "time": crate::util::rfc3339_now(),
            "type": "request",
            "auth": {"token_type": "default"},
            "request": {"id": crate::util::random_uuid(), "operation": "update", "namespace": {"id": "root"}, "path": "sys/audit/test"},
        });
        Raw {
            value,
            non_hmac_request: Vec::new(),
            non_hmac_response: Vec::new(),
            is_list: false,
            failed: false,
            hmac_headers: Vec::new(),
        }
    }

    fn finish(ctx: &RequestContext, value: Value, failed: bool, hmac_headers: Vec<String>) -> Raw {
        let (req, resp) = match ctx.mount.as_ref() {
            Some(m) => (
                m.entry.config.audit_non_hmac_request_keys.clone(),
                m.entry.config.audit_non_hmac_response_keys.clone(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        Raw {
            value,
            non_hmac_request: req,
            non_hmac_response: resp,
            is_list: ctx.operation() == crate::logical::Operation::List,
            failed,
            hmac_headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client_id;

    #[test]
    fn client_ids_are_openbaos() {
        // Values from OpenBao 2.x audit entries for tokens without an entity.
        assert_eq!(client_id("", &["root".into()]), "0DHqvq2D77kL2/JTPSZkTMJbkFVmUu0TzMi0jiXcFy8=");
        let p = ["default".to_string(), "b".into(), "a".into()];
        assert_eq!(client_id("", &p), "bXQoRWTMMagNRD/6lt2+EmFQAtEG9eKRgjedGC6GgOI=");
        assert_eq!(client_id("ent-1", &p), "ent-1");
    }
}
