//! coffer-http: Vault's wire format on top of the core.
//!
//! One handler serves every `/v1/` path: it turns method, path, query, body
//! and headers into a core `Incoming`, runs it through `Core::handle` (the
//! single request pipeline), and renders the result as Vault does: the JSON
//! envelope, `{"errors":[...]}`, or a raw body. The mapping from error kind
//! to status lives here and nowhere else ([`error_status`]).

mod listener;
pub use listener::{ListenerOptions, TlsFiles, serve, validate as listener_validate};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use coffer_core::json::{JsonError, JsonLimits};
use coffer_core::{Core, Data, Error, Incoming, Operation, Response};
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Default `max_request_size` (32 MiB), as Vault.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;

/// A body larger than this is read on only once the core has said the
/// request would be served (token valid, or an unauthenticated route): an
/// anonymous client gets its 403/404 after at most this many bytes.
pub const ADMIT_BODY_THRESHOLD: usize = 64 * 1024;

/// What one listener lets a request cost.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// `max_request_size`; `None` = unlimited.
    pub max_request_size: Option<usize>,
    /// `max_json_*` / `max_request_json_*`.
    pub json: JsonLimits,
    /// `http_read_timeout`: the whole body must arrive within this.
    pub read_timeout: Duration,
    /// `telemetry { unauthenticated_metrics_access }`: `GET sys/metrics`
    /// is answered here without a token, audit or seal check, as Vault.
    pub unauthenticated_metrics_access: bool,
}

fn opt(v: Option<u64>) -> Option<usize> {
    v.map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

impl RequestLimits {
    /// A listener stanza's limits.
    pub fn from_config(l: &coffer_config::ListenerConfig) -> RequestLimits {
        RequestLimits {
            max_request_size: opt(l.max_request_size),
            json: JsonLimits {
                max_depth: l.max_json_depth,
                max_string_length: opt(l.max_json_string_value_length),
                max_object_entries: opt(l.max_json_object_entry_count),
                max_array_elements: opt(l.max_json_array_element_count),
                max_strings: opt(l.max_request_json_strings),
                max_memory: opt(l.max_request_json_memory),
            },
            read_timeout: l.http_read_timeout,
            unauthenticated_metrics_access: l.unauthenticated_metrics_access,
        }
    }
}

impl Default for RequestLimits {
    /// Vault's (and OpenBao's, for the memory estimate) defaults.
    fn default() -> Self {
        use coffer_config as c;
        RequestLimits {
            max_request_size: Some(DEFAULT_MAX_REQUEST_SIZE),
            json: JsonLimits {
                max_depth: c::DEFAULT_MAX_JSON_DEPTH,
                max_string_length: opt(Some(c::DEFAULT_MAX_JSON_STRING_VALUE_LENGTH)),
                max_object_entries: opt(Some(c::DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT)),
                max_array_elements: opt(Some(c::DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT)),
                max_strings: None,
                max_memory: opt(Some(c::DEFAULT_MAX_REQUEST_JSON_MEMORY)),
            },
            read_timeout: c::DEFAULT_HTTP_READ_TIMEOUT,
            unauthenticated_metrics_access: false,
        }
    }
}

#[derive(Clone)]
struct AppState {
    core: Arc<Core>,
    limits: RequestLimits,
}

/// The axum application for one listener.
pub fn app(core: Arc<Core>, limits: RequestLimits) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(AppState { core, limits })
}

/// Status code and message list for an error (the one place this is decided).
pub fn error_status(e: &Error) -> (StatusCode, Vec<String>) {
    match e {
        Error::PermissionDenied => (StatusCode::FORBIDDEN, vec!["1 error occurred:\n\t* permission denied\n\n".into()]),
        // Vault's text for a bad token (clients match on it); OpenBao says only "permission denied".
        Error::InvalidToken => (
            StatusCode::FORBIDDEN,
            vec!["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n".into()],
        ),
        Error::InvalidRequest(m) => (StatusCode::BAD_REQUEST, vec![m.clone()]),
        Error::NotFound => (StatusCode::NOT_FOUND, vec![]),
        Error::NoRoute(_) => (StatusCode::NOT_FOUND, vec![e.to_string()]),
        // Vault renders these through its multierror type.
        Error::UnsupportedPath(_) => (StatusCode::NOT_FOUND, vec!["1 error occurred:\n\t* unsupported path\n\n".into()]),
        Error::UnsupportedOperation(_) => {
            (StatusCode::METHOD_NOT_ALLOWED, vec!["1 error occurred:\n\t* unsupported operation\n\n".into()])
        }
        Error::Conflict(m) => (StatusCode::CONFLICT, vec![m.clone()]),
        Error::Sealed => (StatusCode::SERVICE_UNAVAILABLE, vec!["Vault is sealed".into()]),
        Error::Internal(m) => {
            // The detail goes to the log (it never contains secret values);
            // the client gets Vault's generic text.
            tracing::error!(error = %m, "internal error");
            (StatusCode::INTERNAL_SERVER_ERROR, vec!["internal error".into()])
        }
        Error::Coded(code, m) => {
            (StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), vec![m.clone()])
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn errors(status: StatusCode, msgs: Vec<String>) -> HttpResponse {
    json_response(status, serde_json::to_vec(&json!({ "errors": msgs })).unwrap_or_default())
}

fn error_response(e: &Error) -> HttpResponse {
    let (status, msgs) = error_status(e);
    errors(status, msgs)
}

/// Go's `path.Clean` for URL paths, so `/v1/a//b` and `/v1/a/../b` redirect
/// to their clean form as Vault's mux does.
fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if p.ends_with('/') && s != "/" {
        s.push('/');
    }
    s
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// Merge key/value pairs into request data, joining repeated keys with ",".
fn merge_pairs(data: &mut Data, pairs: Vec<(String, String)>) {
    for (k, v) in pairs {
        match data.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                data.insert(k, Value::String(v));
            }
        }
    }
}

fn client_token(h: &HeaderMap) -> Option<String> {
    if let Some(t) = h.get("x-vault-token").and_then(|v| v.to_str().ok()).filter(|s| !s.is_empty()) {
        return Some(t.to_string());
    }
    h.get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("Bearer ").map(|t| t.trim().to_string()))
        .filter(|t| !t.is_empty())
}

// The error is the finished HTTP answer, built once per rejected request; boxing it
// would only add an allocation.
#[allow(clippy::result_large_err)]
fn wrap_ttl(h: &HeaderMap) -> Result<Option<Duration>, HttpResponse> {
    let Some(v) = h.get("x-vault-wrap-ttl") else { return Ok(None) };
    let s = v.to_str().unwrap_or("").trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.starts_with('-') {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            vec!["error parsing X-Vault-Wrap-TTL header: requested wrap ttl cannot be negative".into()],
        ));
    }
    coffer_config::duration::parse(s).map(Some).map_err(|e| {
        errors(StatusCode::BAD_REQUEST, vec![format!("error parsing X-Vault-Wrap-TTL header: {e}")])
    })
}

/// The headers the core's pipeline reads (its `RequestContext`): the
/// namespace, MFA credentials and `X-Vault-Request`; and the headers
/// configured for audit entries (`sys/config/auditing/request-headers`).
/// Nothing else is handed on (the token and the wrap TTL travel in their
/// own fields).
fn pipeline_headers(h: &HeaderMap, audited: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in audited {
        if matches!(name.as_str(), "x-vault-namespace" | "x-vault-mfa" | "x-vault-request") {
            continue; // handed on below
        }
        for v in h.get_all(name.as_str()) {
            out.push((name.clone(), String::from_utf8_lossy(v.as_bytes()).into_owned()));
        }
    }
    if let Some(v) = h.get("x-vault-namespace") {
        out.push(("x-vault-namespace".into(), String::from_utf8_lossy(v.as_bytes()).into_owned()));
    }
    for name in ["x-vault-mfa", "x-vault-request"] {
        for v in h.get_all(name) {
            out.push((name.into(), String::from_utf8_lossy(v.as_bytes()).into_owned()));
        }
    }
    out
}

fn too_large() -> HttpResponse {
    errors(StatusCode::PAYLOAD_TOO_LARGE, vec!["http: request body too large".into()])
}

/// Read the body: at most `max_request_size`, all of it within
/// `http_read_timeout`, and past [`ADMIT_BODY_THRESHOLD`] only once `admit`
/// (the core's verdict on path and token) has said yes.
async fn read_body<F, Fut>(body: Body, limits: &RequestLimits, declared: Option<u64>, admit: F) -> Result<Bytes, HttpResponse>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let limit = limits.max_request_size.unwrap_or(usize::MAX);
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    // Most requests (GET, LIST, DELETE) have no body: no read, no timer.
    if axum::body::HttpBody::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    let mut admit = Some(admit);
    if declared.is_some_and(|n| n > ADMIT_BODY_THRESHOLD as u64)
        && let Some(f) = admit.take()
    {
        f().await.map_err(|e| error_response(&e))?;
    }
    let read = async {
        let mut body = body;
        let mut buf = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| errors(StatusCode::BAD_REQUEST, vec!["failed to read request body".into()]))?;
            let Ok(data) = frame.into_data() else { continue };
            if buf.len() + data.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
            if buf.len() > ADMIT_BODY_THRESHOLD
                && let Some(f) = admit.take()
            {
                f().await.map_err(|e| error_response(&e))?;
            }
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout(limits.read_timeout, read).await {
        Ok(r) => r,
        Err(_) => {
            // Go's server closes a connection whose read deadline passed.
            let mut r = errors(StatusCode::REQUEST_TIMEOUT, vec!["http: request body read timed out".into()]);
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(r)
        }
    }
}

// The error is the finished HTTP answer, built once per rejected request; boxing it
// would only add an allocation.
#[allow(clippy::result_large_err)]
fn parse_body(h: &HeaderMap, body: &[u8], limits: &JsonLimits) -> Result<Data, HttpResponse> {
    let trimmed = body.trim_ascii_start();
    if trimmed.is_empty() {
        return Ok(Map::new());
    }
    let form = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if form && !matches!(trimmed[0], b'{' | b'[') {
        let mut d = Map::new();
        merge_pairs(&mut d, form_urlencoded::parse(body).into_owned().collect());
        return Ok(d);
    }
    // The pre-scan bounds depth and size before serde builds anything.
    let parsed = match coffer_core::json::parse(body, limits) {
        Ok(v) => Ok(v),
        Err(coffer_core::json::ParseError::Limit(e @ (JsonError::Strings(_) | JsonError::Memory(_)))) => {
            // OpenBao's text for its two limits.
            return Err(errors(StatusCode::BAD_REQUEST, vec![format!("refused JSON input due to high complexity: {e}")]));
        }
        Err(coffer_core::json::ParseError::Limit(e)) if e.is_limit() => {
            return Err(errors(StatusCode::BAD_REQUEST, vec![format!("failed to parse JSON input: {e}")]));
        }
        // Malformed: let serde_json name the position, as before.
        Err(_) => serde_json::from_slice::<Value>(body),
    };
    match parsed {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(errors(
            StatusCode::BAD_REQUEST,
            vec!["failed to decode JSON input: expected a JSON object".into()],
        )),
        // serde_json's message names the position, never echoes the input.
        Err(e) => Err(errors(StatusCode::BAD_REQUEST, vec![format!("failed to decode JSON input: {e}")])),
    }
}

/// Routes whose `data` keys Vault also copies to the top level.
fn render(resp: Response, op: Operation) -> HttpResponse {
    if let Some(raw) = resp.raw {
        let status = StatusCode::from_u16(raw.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, raw.body).into_response();
        if let Ok(ct) = HeaderValue::from_str(&raw.content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        return r;
    }
    if resp.status == Some(204) {
        if matches!(op, Operation::Read | Operation::List) {
            return errors(StatusCode::NOT_FOUND, vec![]);
        }
        return StatusCode::NO_CONTENT.into_response();
    }
    if op == Operation::List && resp.wrap_info.is_none() {
        let empty = match resp.data.as_ref().and_then(|d| d.get("keys")) {
            Some(Value::Array(a)) => a.is_empty(),
            _ => true,
        };
        if empty {
            return errors(StatusCode::NOT_FOUND, vec![]);
        }
    }
    // Vault leaves request_id empty on a wrapped response.
    let request_id = if resp.wrap_info.is_some() {
        String::new()
    } else if resp.request_id.is_empty() {
        coffer_core::util::random_uuid()
    } else {
        resp.request_id.clone()
    };
    let envelope = Envelope { request_id: &request_id, resp: &resp };
    let status = resp.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    json_response(status, serde_json::to_vec(&envelope).unwrap_or_default())
}

/// The envelope, serialised straight from the response (no intermediate
/// JSON map: this runs on every request).
struct Envelope<'a> {
    request_id: &'a str,
    resp: &'a Response,
}

const ENVELOPE_KEYS: [&str; 8] =
    ["request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"];

impl serde::Serialize for Envelope<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.resp;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("request_id", self.request_id)?;
        match &r.secret {
            Some(s) => {
                m.serialize_entry("lease_id", &s.lease_id)?;
                m.serialize_entry("renewable", &s.renewable)?;
                m.serialize_entry("lease_duration", &s.lease_duration)?;
            }
            None => {
                m.serialize_entry("lease_id", "")?;
                m.serialize_entry("renewable", &false)?;
                m.serialize_entry("lease_duration", &0u64)?;
            }
        }
        m.serialize_entry("data", &r.data)?;
        m.serialize_entry("wrap_info", &r.wrap_info)?;
        m.serialize_entry("warnings", &(!r.warnings.is_empty()).then_some(&r.warnings))?;
        m.serialize_entry("auth", &r.auth)?;
        // Legacy sys routes: data's keys again at the top level (never
        // shadowing the envelope's own keys).
        if r.inject_data
            && let Some(d) = &r.data
        {
            for (k, v) in d.iter().filter(|(k, _)| !ENVELOPE_KEYS.contains(&k.as_str())) {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

async fn handle(
    State(st): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    // Logged at debug: method, path and status only. Never the body, query
    // values or headers (they carry secrets and tokens).
    let log = tracing::enabled!(tracing::Level::DEBUG).then(|| (method.clone(), uri.path().to_string()));
    let mut r = handle_inner(st, remote, method, uri, headers, body).await;
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some((method, path)) = log {
        tracing::debug!(%method, %path, status = r.status().as_u16(), "request");
    }
    r
}

async fn handle_inner(
    st: AppState,
    remote: SocketAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    let raw_path = uri.path();
    let decoded = percent_encoding::percent_decode_str(raw_path).decode_utf8_lossy().to_string();
    let clean = clean_path(&decoded);
    if clean != decoded {
        let loc = match uri.query() {
            Some(q) => format!("{clean}?{q}"),
            None => clean,
        };
        let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
        if let Ok(v) = HeaderValue::from_str(&loc) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    let Some(path) = decoded.strip_prefix("/v1/") else {
        return errors(StatusCode::NOT_FOUND, vec![]);
    };
    let mut path = path.to_string();

    let mut query = parse_query(uri.query());
    let mut help = false;
    let mut list = false;
    let mut qerr = None;
    query.retain(|(k, v)| match k.as_str() {
        "help" => {
            help = parse_bool(v).unwrap_or(!v.is_empty());
            false
        }
        "list" if method == Method::GET => {
            match parse_bool(v) {
                Some(b) => list = b,
                None => qerr = Some(()),
            }
            false
        }
        _ => true,
    });
    if qerr.is_some() {
        return errors(StatusCode::BAD_REQUEST, vec![]);
    }

    let mut op = match method.as_str() {
        "GET" if list => Operation::List,
        "GET" => Operation::Read,
        "LIST" => Operation::List,
        "POST" | "PUT" => Operation::Update,
        "PATCH" => Operation::Patch,
        "DELETE" => Operation::Delete,
        "HEAD" => Operation::Header,
        _ => return errors(StatusCode::METHOD_NOT_ALLOWED, vec![]),
    };
    if op == Operation::Patch {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !ct.starts_with("application/merge-patch+json") {
            return errors(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                vec![format!("PATCH requires Content-Type of application/merge-patch+json, provided {ct}")],
            );
        }
    }
    // `?help` goes through the pipeline like any other path's.
    if path == "sys/metrics" && !help {
        // Vault: `format`, else the Accept header a Prometheus scraper sends.
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let param = query.iter().find(|(k, _)| k == "format").map(|(_, v)| v.as_str());
        let format = coffer_core::metrics::format_from(param, accept);
        if st.limits.unauthenticated_metrics_access {
            if method != Method::GET || op != Operation::Read {
                return errors(StatusCode::METHOD_NOT_ALLOWED, vec![]);
            }
            return render(st.core.metrics_response(&format).await, op);
        }
        if param.is_none() && !format.is_empty() {
            query.push(("format".into(), format));
        }
    }
    if op == Operation::List && !path.ends_with('/') {
        path.push('/');
    }
    if help {
        op = Operation::Help;
    }

    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let token = client_token(&headers);
    let pipeline_headers = pipeline_headers(&headers, &st.core.audited_header_names());
    let admit = || st.core.admit_body(op, &path, token.as_deref(), Some(remote), &pipeline_headers);
    let bytes = match read_body(body, &st.limits, declared, admit).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut data = match op {
        Operation::Update | Operation::Patch => match parse_body(&headers, &bytes, &st.limits.json) {
            Ok(d) => d,
            Err(r) => return r,
        },
        _ => Map::new(),
    };
    if matches!(op, Operation::Read | Operation::List | Operation::Delete | Operation::Header) {
        merge_pairs(&mut data, query);
    }
    let wrap = match wrap_ttl(&headers) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let inc = Incoming {
        operation: op,
        path,
        data,
        token,
        wrap_ttl: wrap,
        remote_addr: Some(remote),
        headers: pipeline_headers,
    };
    let result = st.core.handle(inc).await;
    let resp = match result {
        Ok(r) => render(r, op),
        Err(e) => error_response(&e),
    };
    if method == Method::HEAD {
        let (parts, _) = resp.into_parts();
        return HttpResponse::from_parts(parts, Body::empty());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        assert_eq!(clean_path("/v1/a//b"), "/v1/a/b");
        assert_eq!(clean_path("/v1/a/../b"), "/v1/b");
        assert_eq!(clean_path("/v1/a/./b/"), "/v1/a/b/");
        assert_eq!(clean_path("/v1/secret/data/x"), "/v1/secret/data/x");
        assert_eq!(clean_path("/../.."), "/");
    }

    #[test]
    fn body_parsing() {
        let h = HeaderMap::new();
        let lim = RequestLimits::default().json;
        assert!(parse_body(&h, b"{bad", &lim).is_err());
        assert!(parse_body(&h, b"[1]", &lim).is_err());
        assert_eq!(parse_body(&h, b"  ", &lim).unwrap().len(), 0);
        let mut form = HeaderMap::new();
        form.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        let d = parse_body(&form, b"a=1&a=2&b=x", &lim).unwrap();
        assert_eq!(d["a"], "1,2");
        assert_eq!(d["b"], "x");
    }

    #[test]
    fn over_complex_bodies_are_400_before_parsing() {
        let h = HeaderMap::new();
        let lim = JsonLimits { max_array_elements: Some(10), ..RequestLimits::default().json };
        let body = format!("{{\"a\":[{}0]}}", "0,".repeat(10));
        let r = parse_body(&h, body.as_bytes(), &lim).unwrap_err();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let deep = format!("{{\"data\":{}1{}}}", "{\"a\":".repeat(500), "}".repeat(500));
        assert_eq!(parse_body(&h, deep.as_bytes(), &RequestLimits::default().json).unwrap_err().status(), StatusCode::BAD_REQUEST);
        let ok = format!("{{\"data\":{}1{}}}", "{\"a\":".repeat(499), "}".repeat(499));
        assert!(parse_body(&h, ok.as_bytes(), &RequestLimits::default().json).is_ok());
    }

    #[test]
    fn status_mapping() {
        assert_eq!(error_status(&Error::Sealed).0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error_status(&Error::NotFound), (StatusCode::NOT_FOUND, vec![]));
        let (s, m) = error_status(&Error::Internal("detail".into()));
        assert_eq!((s, m[0].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, "internal error"));
    }
}
