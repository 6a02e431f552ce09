//! The OIDC browser flow (vault-api.md §5.4): `oidc/auth_url` starts a login
//! (a random `state`, `nonce` and PKCE verifier kept in memory), the provider
//! sends the browser back to the redirect URI with `state` and `code`, and
//! `oidc/callback` claims the state, exchanges the code at the provider's
//! token endpoint, checks the ID token and builds the same
//! [`Login`](coffer_core::logical::Login) as the JWT login
//! ([`login::from_claims`]).
//!
//! Pending states live only in memory (as in Vault): one use each — a
//! callback removes its state under the lock before anything else, so a
//! replay or a concurrent second callback finds nothing — and they expire
//! after [`STATE_TTL`]. `auth_url` is unauthenticated, so at most
//! [`MAX_STATES`] are pending per mount; beyond that `auth_url` answers 503
//! until some expire or are used (Vault keeps no bound).
//!
//! Provider endpoints come from the discovery document of
//! `oidc_discovery_url` (fetched with the mount's CA PEM, a timeout and a
//! size cap, cached per mount for [`DISCOVERY_TTL`]); the ID token's
//! signature is checked with the mount's key cache (keys.rs).

use super::{Jwt, claims, config, keys, login, role};
use coffer_core::fields::get_str;
use coffer_core::{Data, Error, Request, Response, Result};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How long a state from `auth_url` may be used (Vault's `oidcRequestTimeout`).
pub(crate) const STATE_TTL: Duration = Duration::from_secs(600);
/// Most pending states per mount.
pub(crate) const MAX_STATES: usize = 4096;
/// A cached discovery document is fetched again after this long.
pub(crate) const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Largest `code`, `state`, `id_token` or `client_nonce` a callback accepts.
const MAX_PARAM_BYTES: usize = keys::MAX_JWT_BYTES;

const LOGIN_FAILED: &str = "OpenBao login failed.";
const MISSING_STATE: &str = "OpenBao login failed. Expired or missing OAuth state.";

/// One login in progress, keyed by its state.
struct Pending {
    role: String,
    redirect_uri: String,
    nonce: Zeroizing<String>,
    /// PKCE verifier (absent in the implicit `id_token` flow).
    verifier: Option<Zeroizing<String>>,
    client_nonce: Zeroizing<String>,
    /// What a form_post delivered (code, ID token), for the read that follows.
    posted: Option<(Zeroizing<String>, Zeroizing<String>)>,
    created: Instant,
}

impl Pending {
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.created) >= STATE_TTL
    }
}

/// The provider's endpoints, from its discovery document.
#[derive(Clone)]
struct Endpoints {
    issuer: String,
    authorization: String,
    token: String,
    /// `token_endpoint_auth_methods_supported` lacks `client_secret_basic`
    /// but has `client_secret_post`.
    secret_in_body: bool,
}

/// A mount's OIDC flow state.
#[derive(Default)]
pub(crate) struct Flow {
    states: Mutex<HashMap<String, Pending>>,
    /// (discovery URL, CA PEM) -> endpoints, and when they were fetched.
    discovery: tokio::sync::Mutex<Option<(String, String, Endpoints, Instant)>>,
}

impl Flow {
    /// Keep `p` under a fresh state; `None` when [`MAX_STATES`] are pending.
    fn insert(&self, state: &str, p: Pending) -> Option<()> {
        let mut m = self.states.lock();
        if m.len() >= MAX_STATES {
            let now = Instant::now();
            m.retain(|_, p| !p.expired(now));
            if m.len() >= MAX_STATES {
                return None;
            }
        }
        m.insert(state.to_string(), p);
        Some(())
    }

    /// Remove and return the state's login, if it exists and has not expired.
    fn claim(&self, state: &str) -> Option<Pending> {
        let p = self.states.lock().remove(state)?;
        (!p.expired(Instant::now())).then_some(p)
    }

    /// A form_post delivery: keep the code and ID token on the (unclaimed)
    /// state. False when the state is unknown or expired.
    fn store_posted(&self, state: &str, code: String, id_token: String) -> bool {
        let mut m = self.states.lock();
        match m.get_mut(state) {
            Some(p) if !p.expired(Instant::now()) => {
                p.posted = Some((Zeroizing::new(code), Zeroizing::new(id_token)));
                true
            }
            _ => false,
        }
    }

    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.states.lock().len()
    }

    #[cfg(test)]
    pub(crate) fn age_all(&self, by: Duration) {
        for p in self.states.lock().values_mut() {
            if let Some(t) = p.created.checked_sub(by) {
                p.created = t;
            }
        }
    }

    async fn endpoints(&self, cfg: &config::Config) -> std::result::Result<Endpoints, String> {
        let mut g = self.discovery.lock().await;
        if let Some((url, ca, e, at)) = g.as_ref()
            && url == &cfg.oidc_discovery_url
            && ca == &cfg.oidc_discovery_ca_pem
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(e.clone());
        }
        let e = discover(&cfg.oidc_discovery_url, &cfg.oidc_discovery_ca_pem).await?;
        *g = Some((cfg.oidc_discovery_url.clone(), cfg.oidc_discovery_ca_pem.clone(), e.clone(), Instant::now()));
        Ok(e)
    }
}

async fn discover(url: &str, ca_pem: &str) -> std::result::Result<Endpoints, String> {
    let c = keys::client(ca_pem)?;
    let base = url.trim_end_matches('/');
    let doc = keys::get_json(&c, &format!("{base}/.well-known/openid-configuration")).await?;
    let field = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let issuer = field("issuer");
    if issuer.trim_end_matches('/') != base {
        return Err(format!("issuer did not match the issuer returned by provider, expected {url:?} got {issuer:?}"));
    }
    // Missing endpoints are not an error here (as go-oidc's NewProvider): Vault's
    // identity tokens issuer publishes none; a code exchange then fails.
    let (authorization, token) = (field("authorization_endpoint"), field("token_endpoint"));
    let methods: Vec<&str> = doc.get("token_endpoint_auth_methods_supported").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let secret_in_body = !methods.is_empty() && !methods.contains(&"client_secret_basic") && methods.contains(&"client_secret_post");
    Ok(Endpoints { issuer, authorization, token, secret_in_body })
}

/// 32 random bytes, base64url without padding (43 characters).
fn random_token() -> Result<String> {
    use aws_lc_rs::rand::SecureRandom;
    use base64::Engine;
    let mut b = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut b).map_err(|_| Error::Internal("no randomness".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// PKCE S256: base64url(SHA-256(verifier)).
fn challenge(verifier: &str) -> String {
    use base64::Engine;
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// `application/x-www-form-urlencoded` of one value (unreserved kept, the rest %XX).
fn form_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", form_escape(k), form_escape(v))).collect::<Vec<_>>().join("&")
}

/// Vault's `validRedirect`: exact match, except that a loopback URI
/// (`localhost`, `127.0.0.1`, `[::1]`) matches whatever its port (RFC 8252 §7.3).
pub(crate) fn valid_redirect(uri: &str, allowed: &[String]) -> bool {
    let Ok(mut input) = reqwest::Url::parse(uri) else { return false };
    let loopback = matches!(input.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !loopback {
        return allowed.iter().any(|a| a == uri);
    }
    if input.set_port(None).is_err() {
        return false;
    }
    allowed.iter().any(|a| {
        let Ok(mut a) = reqwest::Url::parse(a) else { return false };
        a.set_port(None).is_ok() && a == input
    })
}

fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn is_oidc(cfg: &config::Config) -> bool {
    !cfg.oidc_discovery_url.is_empty() && !cfg.oidc_client_id.is_empty()
}

fn implicit(cfg: &config::Config) -> bool {
    cfg.oidc_response_types.iter().any(|t| t == "id_token")
}

fn bounded_param(data: &Data, key: &str) -> Result<String> {
    let v = get_str(data, key)?.unwrap_or_default();
    if v.len() > MAX_PARAM_BYTES {
        return Err(Error::invalid(format!("{key}: longer than {MAX_PARAM_BYTES} bytes")));
    }
    Ok(v)
}

// ---------------------------------------------------------------- auth_url

/// `POST oidc/auth_url {role, redirect_uri, client_nonce}` → `data.auth_url`.
/// As Vault: an invalid redirect URI or an unreachable provider gives an
/// empty `auth_url` (200), so an unauthenticated caller learns nothing.
pub(crate) async fn auth_url(b: &Jwt, req: &mut Request) -> Result<Option<Response>> {
    let empty = || Ok(Some(Response::json(json!({ "auth_url": "" }))));
    let Some(cfg) = config::load(b).await? else { return Err(Error::invalid("could not load configuration")) };
    if !is_oidc(&cfg) {
        return Err(Error::invalid("OIDC login is not configured for this mount"));
    }
    let role_name = get_str(&req.data, "role")?.unwrap_or_default().to_lowercase();
    let role_name = if role_name.is_empty() { cfg.default_role.clone() } else { role_name };
    if role_name.is_empty() {
        return Err(Error::invalid("missing role"));
    }
    let redirect_uri = get_str(&req.data, "redirect_uri")?.unwrap_or_default();
    let Some(role) = role::load(b, &role_name).await? else {
        return Err(Error::invalid(format!("role {role_name:?} could not be found")));
    };
    let client_nonce = bounded_param(&req.data, "client_nonce")?;
    if redirect_uri.is_empty() {
        return Err(Error::invalid("missing redirect_uri"));
    }
    if !valid_redirect(&redirect_uri, &role.allowed_redirect_uris) {
        tracing::warn!(redirect_uri = %redirect_uri, role = %role_name, "oidc: unauthorized redirect_uri");
        return empty();
    }
    let ep = match b.oidc.endpoints(&cfg).await {
        Ok(ep) => ep,
        Err(e) => {
            tracing::warn!(error = %e, "oidc: error getting provider for login operation");
            return empty();
        }
    };
    let state = random_token()?;
    let nonce = Zeroizing::new(random_token()?);
    let verifier = if implicit(&cfg) { None } else { Some(Zeroizing::new(random_token()?)) };
    let scopes: Vec<&str> = std::iter::once("openid").chain(role.oidc_scopes.iter().map(String::as_str).filter(|s| *s != "openid")).collect();
    let (code_challenge, max_age, scope) = (verifier.as_ref().map(|v| challenge(v)), role.max_age.to_string(), scopes.join(" "));
    // In key order, as Go's url.Values.Encode writes them.
    let mut q: Vec<(&str, &str)> = vec![("client_id", &cfg.oidc_client_id)];
    if let Some(c) = &code_challenge {
        q.push(("code_challenge", c));
        q.push(("code_challenge_method", "S256"));
    }
    if role.max_age > 0 {
        q.push(("max_age", &max_age));
    }
    q.push(("nonce", &nonce));
    q.push(("redirect_uri", &redirect_uri));
    if cfg.oidc_response_mode == "form_post" {
        q.push(("response_mode", "form_post"));
    }
    q.push(("response_type", if verifier.is_some() { "code" } else { "id_token" }));
    q.push(("scope", &scope));
    q.push(("state", &state));
    let auth_url = match reqwest::Url::parse(&ep.authorization) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(&q);
            url.to_string()
        }
        // A provider without an authorization endpoint (Vault's own identity
        // tokens issuer has none): Vault's oauth2 library appends the query to
        // whatever the endpoint is, so the URL is "?client_id=..." — hvac's suite
        // checks exactly that.
        Err(_) => {
            let sep = if ep.authorization.contains('?') { '&' } else { '?' };
            format!("{}{sep}{}", ep.authorization, form(&q))
        }
    };
    let pending = Pending {
        role: role_name,
        redirect_uri,
        nonce,
        verifier,
        client_nonce: Zeroizing::new(client_nonce),
        posted: None,
        created: Instant::now(),
    };
    if b.oidc.insert(&state, pending).is_none() {
        return Err(Error::Coded(503, format!("too many OIDC logins in progress (at most {MAX_STATES}); try again later")));
    }
    Ok(Some(Response::json(json!({ "auth_url": auth_url }))))
}

// ---------------------------------------------------------------- callback

/// `POST oidc/callback`: the provider's `form_post` (or a CLI listener
/// forwarding one, as Vault's CLI does). Only with
/// `oidc_response_mode=form_post` (else 405, as Vault). As Vault, it does
/// not log in: it keeps `code` / `id_token` on the state and answers a small
/// HTML page; the GET that follows (same `state`, and `code` or `no_code`)
/// completes the login.
pub(crate) async fn callback_post(b: &Jwt, req: &mut Request) -> Result<Option<Response>> {
    let Some(cfg) = config::load(b).await? else { return Err(Error::invalid(format!("{LOGIN_FAILED} Could not load configuration."))) };
    if cfg.oidc_response_mode != "form_post" {
        return Err(Error::Coded(405, String::new()));
    }
    let state = bounded_param(&req.data, "state")?;
    let code = bounded_param(&req.data, "code")?;
    let id_token = bounded_param(&req.data, "id_token")?;
    let (status, msg) = if b.oidc.store_posted(&state, code, id_token) {
        (200, "Login continues in the client that started it.")
    } else {
        (400, "OpenBao login failed. Expired or missing OAuth state.")
    };
    let body = format!("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Coffer OIDC login</title></head><body><p>{msg}</p></body></html>");
    Ok(Some(Response { raw: Some(coffer_core::logical::RawResponse { status, content_type: "text/html".into(), body: body.into_bytes() }), ..Default::default() }))
}

/// `GET oidc/callback?state=&code=[&client_nonce=]`: claim the state, then
/// the code exchange (or the form_post's ID token), the ID token checks and
/// the login.
pub(crate) async fn callback(b: &Jwt, req: &mut Request) -> Result<Option<Response>> {
    let Some(cfg) = config::load(b).await? else { return Err(Error::invalid(format!("{LOGIN_FAILED} Could not load configuration"))) };
    let state = bounded_param(&req.data, "state")?;
    let code = bounded_param(&req.data, "code")?;
    let id_token = bounded_param(&req.data, "id_token")?;
    let client_nonce = bounded_param(&req.data, "client_nonce")?;
    // Claimed first, atomically: whatever happens next, this state is spent.
    let Some(p) = b.oidc.claim(&state) else { return Err(Error::invalid(MISSING_STATE)) };
    let Some(role) = role::load(b, &p.role).await? else { return Err(Error::invalid(format!("{LOGIN_FAILED} Role could not be found"))) };
    let provider_error = get_str(&req.data, "error")?.unwrap_or_default().trim().to_lowercase();
    if !provider_error.is_empty() {
        tracing::warn!(error = ?provider_error, "oidc: callback received an error from the provider");
        let known = ["invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type", "invalid_scope", "server_error", "temporarily_unavailable"];
        let msg = if known.contains(&provider_error.as_str()) {
            provider_error
        } else {
            "An unknown error occurred during OIDC authentication. Check server logs for details".to_string()
        };
        return Err(Error::invalid(format!("{LOGIN_FAILED} {msg}")));
    }
    if !p.client_nonce.is_empty() && aws_lc_rs::constant_time::verify_slices_are_equal(client_nonce.as_bytes(), p.client_nonce.as_bytes()).is_err() {
        return Err(Error::invalid("invalid client_nonce"));
    }
    if !coffer_core::cidr::allows(&role.token.bound_cidrs, req.remote_addr.map(|a| a.ip())) {
        return Err(Error::Coded(403, "permission denied".into()));
    }
    // After a form_post: the posted code (`no_code` or none in the read) and ID token.
    let (code, id_token) = match &p.posted {
        Some((pc, pt)) => (if code.is_empty() || code == "no_code" { pc.to_string() } else { code }, if id_token.is_empty() { pt.to_string() } else { id_token }),
        None => (code, id_token),
    };
    let ep = b.oidc.endpoints(&cfg).await.map_err(|e| Error::Internal(format!("error getting provider for login operation: {e}")))?;
    let raw = if !code.is_empty() {
        exchange(&cfg, &ep, &p, &code).await.map_err(|e| Error::invalid(format!("{LOGIN_FAILED} Error exchanging oidc code: {e:?}.")))?
    } else if !id_token.is_empty() && p.verifier.is_none() {
        Zeroizing::new(id_token)
    } else {
        return Err(Error::invalid(format!("{LOGIN_FAILED} No code or id_token received.")));
    };
    let all = verify_id_token(b, &cfg, &ep, &role, &p, &raw).await.map_err(|e| Error::invalid(format!("Token verification failed. {e}")))?;
    if !role.bound_subject.is_empty() && all.get("sub").and_then(Value::as_str) != Some(role.bound_subject.as_str()) {
        return Err(Error::invalid(format!("{LOGIN_FAILED} sub claim does not match bound subject")));
    }
    if role.verbose_oidc_logging {
        tracing::debug!(role = %p.role, claims = %all, "oidc: ID token claims");
    }
    let login = login::from_claims(&all, &p.role, &role).map_err(|e| Error::invalid(format!("{LOGIN_FAILED} {e}")))?;
    Ok(Some(Response { login: Some(login), ..Default::default() }))
}

/// The authorization code grant at the token endpoint (client secret and
/// PKCE verifier); returns the raw ID token.
async fn exchange(cfg: &config::Config, ep: &Endpoints, p: &Pending, code: &str) -> std::result::Result<Zeroizing<String>, String> {
    use base64::Engine;
    let c = keys::client(&cfg.oidc_discovery_ca_pem)?;
    let mut pairs: Vec<(&str, &str)> = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", &p.redirect_uri)];
    if let Some(v) = &p.verifier {
        pairs.push(("code_verifier", v));
    }
    if ep.secret_in_body {
        pairs.push(("client_id", &cfg.oidc_client_id));
        pairs.push(("client_secret", &cfg.oidc_client_secret.0));
    }
    let body = Zeroizing::new(form(&pairs));
    let mut r = c
        .post(&ep.token)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body.to_string());
    if !ep.secret_in_body {
        let basic = Zeroizing::new(format!("{}:{}", form_escape(&cfg.oidc_client_id), form_escape(&cfg.oidc_client_secret.0)));
        r = r.header("authorization", format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(basic.as_bytes())));
    }
    let resp = r.send().await.map_err(|e| format!("oauth2: cannot fetch token: {}", e.without_url()))?;
    let status = resp.status();
    let doc = match keys::read_json(resp, "token endpoint").await {
        Ok(d) => d,
        Err(e) => return Err(format!("oauth2: cannot fetch token: {e}")),
    };
    if !status.is_success() {
        let err = doc.get("error").and_then(Value::as_str).unwrap_or("");
        return Err(format!("oauth2: cannot fetch token: {status}: {err}"));
    }
    match doc.get("id_token").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => Ok(Zeroizing::new(t.to_string())),
        _ => Err("No id_token found in response.".into()),
    }
}

/// Signature (the discovered JWKS through the mount's key cache), `iss` =
/// the provider's issuer, `aud` ∋ the client id (and one of the role's
/// `bound_audiences` when it has some), `nonce` = this login's, and the
/// times with the role's leeways (`exp` required).
async fn verify_id_token(b: &Jwt, cfg: &config::Config, ep: &Endpoints, role: &role::Role, p: &Pending, raw: &str) -> std::result::Result<Value, String> {
    let all = keys::verify(&b.keys, &cfg.source(), raw, &cfg.algs()).await?;
    if !all.is_object() {
        return Err("the claims are not a JSON object".into());
    }
    if all.get("iss").and_then(Value::as_str) != Some(ep.issuer.as_str()) {
        return Err("invalid id_token issuer (iss) claim".into());
    }
    let aud: Vec<&str> = match all.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !aud.contains(&cfg.oidc_client_id.as_str()) {
        return Err("invalid id_token audiences: the client id is not an audience".into());
    }
    if !role.bound_audiences.is_empty() && !aud.iter().any(|a| role.bound_audiences.iter().any(|b| b == a)) {
        return Err("invalid id_token audiences: no bound audience".into());
    }
    let nonce = all.get("nonce").and_then(Value::as_str).unwrap_or("");
    if aws_lc_rs::constant_time::verify_slices_are_equal(nonce.as_bytes(), p.nonce.as_bytes()).is_err() {
        return Err("invalid id_token nonce".into());
    }
    if all.get("exp").is_none() {
        return Err("invalid id_token: missing expiration (exp) claim".into());
    }
    claims::validate_times(&all, role, now_unix())?;
    let mut all = all;
    if let Some(m) = all.as_object_mut() {
        m.remove("nonce");
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        Pending {
            role: "r".into(),
            redirect_uri: "http://localhost:8250/oidc/callback".into(),
            nonce: Zeroizing::new("n".into()),
            verifier: None,
            client_nonce: Zeroizing::new(String::new()),
            posted: None,
            created: Instant::now(),
        }
    }

    #[test]
    fn a_state_is_claimed_once() {
        let f = Flow::default();
        f.insert("s1", pending()).unwrap();
        assert!(f.claim("s1").is_some());
        assert!(f.claim("s1").is_none(), "replay");
        assert!(f.claim("nope").is_none());
    }

    #[test]
    fn states_expire_after_ten_minutes() {
        let f = Flow::default();
        f.insert("s1", pending()).unwrap();
        f.age_all(STATE_TTL - Duration::from_secs(5));
        f.insert("s2", pending()).unwrap();
        f.age_all(Duration::from_secs(10));
        assert!(f.claim("s1").is_none(), "older than STATE_TTL");
        assert!(f.claim("s2").is_some());
    }

    #[test]
    fn pending_states_are_bounded_and_expired_ones_make_room() {
        let f = Flow::default();
        for i in 0..MAX_STATES {
            f.insert(&format!("s{i}"), pending()).unwrap();
        }
        assert!(f.insert("one-more", pending()).is_none());
        assert_eq!(f.pending(), MAX_STATES);
        f.age_all(STATE_TTL);
        f.insert("after-expiry", pending()).unwrap();
        assert_eq!(f.pending(), 1);
    }

    #[test]
    fn pkce_s256_matches_rfc7636() {
        // RFC 7636 appendix B.
        assert_eq!(challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn redirect_uris_as_vault() {
        let allowed = vec!["http://localhost:8250/oidc/callback".to_string(), "https://vault.example/ui/vault/auth/oidc/oidc/callback".to_string()];
        assert!(valid_redirect("http://localhost:8250/oidc/callback", &allowed));
        assert!(valid_redirect("http://localhost:9999/oidc/callback", &allowed), "loopback: any port");
        assert!(!valid_redirect("http://localhost:8250/oidc/callbackx", &allowed));
        assert!(!valid_redirect("http://127.0.0.1:8250/oidc/callback", &allowed), "another host");
        assert!(valid_redirect("https://vault.example/ui/vault/auth/oidc/oidc/callback", &allowed));
        assert!(!valid_redirect("https://vault.example:8443/ui/vault/auth/oidc/oidc/callback", &allowed));
        assert!(!valid_redirect("not a url", &allowed));
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form(&[("a b", "x&y=z/é")]), "a%20b=x%26y%3Dz%2F%C3%A9");
    }
}
