//! Verification keys and signature checks.
//!
//! Keys come from one [`Source`]: static PEMs, a JWKS URL, or an OIDC
//! discovery document (whose `jwks_uri` is then fetched). Remote keys are
//! cached per mount; a token whose `kid` is unknown (or that no cached key
//! verifies) triggers a refetch, but at most one per [`MIN_REFRESH`] per
//! mount, and concurrent misses wait for the same fetch (one async mutex),
//! so a flood of made-up `kid`s costs the issuer one request every few
//! seconds. Every fetch has a timeout ([`FETCH_TIMEOUT`]), a response size
//! cap ([`MAX_RESPONSE_BYTES`]) and a key count cap ([`MAX_KEYS`]).
//!
//! Only asymmetric keys are ever built: `oct` (HMAC) JWKs are skipped, the
//! `HS*` algorithms and `none` are refused before any key is looked at, and
//! a key is only tried with an algorithm of its own family.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most one refetch of the keys per mount in this interval.
pub(crate) const MIN_REFRESH: Duration = Duration::from_secs(5);
/// Whole request (connect, TLS, headers, body) of one fetch.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS or discovery document accepted.
pub(crate) const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Keys kept from one JWKS (the rest are ignored).
pub(crate) const MAX_KEYS: usize = 64;
/// Largest JWT accepted at login (GitHub's are ~1.5 KiB).
pub(crate) const MAX_JWT_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Static(Vec<String>),
    Jwks { url: String, ca_pem: String },
    Discovery { url: String, ca_pem: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
    Ed,
}

fn family(alg: Algorithm) -> Option<Family> {
    use Algorithm::*;
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Some(Family::Rsa),
        ES256 | ES384 => Some(Family::Ec),
        EdDSA => Some(Family::Ed),
        // HS* and anything a later version adds: never.
        _ => None,
    }
}

pub(crate) struct Key {
    kid: Option<String>,
    family: Family,
    /// The JWK's own `alg`, when it names one: the key is used with no other.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

pub(crate) struct Fetched {
    keys: Vec<Key>,
}

pub(crate) struct Entry {
    source: Source,
    fetched: Fetched,
    at: Instant,
}

/// A mount's cached keys.
#[derive(Default)]
pub(crate) struct KeyCache {
    current: Mutex<Option<Arc<Entry>>>,
    /// Held for the duration of a fetch: concurrent misses coalesce on it.
    refresh: tokio::sync::Mutex<()>,
    /// When a refetch after a miss was last tried.
    last_attempt: Mutex<Option<Instant>>,
}

impl KeyCache {
    pub(crate) fn install(&self, source: Source, fetched: Fetched) -> Arc<Entry> {
        let e = Arc::new(Entry { source, fetched, at: Instant::now() });
        *self.current.lock() = Some(e.clone());
        e
    }

    fn cached(&self, source: &Source) -> Option<Arc<Entry>> {
        self.current.lock().clone().filter(|e| &e.source == source)
    }

    /// The keys of `source`, fetched if none are cached for it.
    pub(crate) async fn get(&self, source: &Source) -> Result<Arc<Entry>, String> {
        if let Some(e) = self.cached(source) {
            return Ok(e);
        }
        let _g = self.refresh.lock().await;
        if let Some(e) = self.cached(source) {
            return Ok(e);
        }
        {
            // A failing issuer is asked at most once per MIN_REFRESH, too.
            let mut last = self.last_attempt.lock();
            if last.is_some_and(|t| t.elapsed() < MIN_REFRESH) {
                return Err("the keys could not be fetched recently; try again in a few seconds".into());
            }
            *last = Some(Instant::now());
        }
        let f = load_source(source).await?;
        Ok(self.install(source.clone(), f))
    }

    /// `seen` lacked the key a token needs: refetch, unless a fetch was tried
    /// less than [`MIN_REFRESH`] ago (successful or not) or another request
    /// already replaced `seen`. Static keys are never refetched.
    async fn refresh_after_miss(&self, seen: &Arc<Entry>) -> Option<Arc<Entry>> {
        if matches!(seen.source, Source::Static(_)) {
            return None;
        }
        let _g = self.refresh.lock().await;
        if let Some(e) = self.cached(&seen.source)
            && !Arc::ptr_eq(&e, seen)
        {
            return Some(e);
        }
        {
            let mut last = self.last_attempt.lock();
            if last.is_some_and(|t| t.elapsed() < MIN_REFRESH) || seen.at.elapsed() < MIN_REFRESH {
                return None;
            }
            *last = Some(Instant::now());
        }
        match load_source(&seen.source).await {
            Ok(f) => Some(self.install(seen.source.clone(), f)),
            Err(e) => {
                tracing::warn!(error = %e, "jwt: refreshing the keys failed; keeping the cached ones");
                None
            }
        }
    }
}

// ---------------------------------------------------------------- loading

pub(crate) async fn load_source(source: &Source) -> Result<Fetched, String> {
    match source {
        Source::Static(pems) => {
            let keys = pems.iter().map(|p| parse_pem(p)).collect::<Result<Vec<_>, _>>()?;
            Ok(Fetched { keys })
        }
        Source::Jwks { url, ca_pem } => {
            let c = client(ca_pem)?;
            let keys = parse_jwks(&get_json(&c, url).await?)?;
            Ok(Fetched { keys })
        }
        Source::Discovery { url, ca_pem } => {
            let c = client(ca_pem)?;
            let base = url.trim_end_matches('/');
            let doc = get_json(&c, &format!("{base}/.well-known/openid-configuration")).await?;
            let field = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let issuer = field("issuer");
            if issuer.trim_end_matches('/') != base {
                return Err(format!("issuer did not match the issuer returned by provider, expected {url:?} got {issuer:?}"));
            }
            let jwks_uri = field("jwks_uri");
            if jwks_uri.is_empty() {
                return Err("the discovery document has no jwks_uri".into());
            }
            let keys = parse_jwks(&get_json(&c, &jwks_uri).await?)?;
            Ok(Fetched { keys })
        }
    }
}

/// An HTTP client for one fetch (JWKS, discovery, OIDC token exchange): the
/// CA PEM (if any) holds the only trust roots, verified as tls.rs says
/// (which also accepts a server certificate that is itself one of them, as
/// Go does); without one, reqwest's default (the system's roots).
pub(crate) fn client(ca_pem: &str) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .no_proxy();
    if !ca_pem.is_empty() {
        b = b.tls_backend_preconfigured(super::tls::client_config(ca_pem)?);
    }
    b.build().map_err(|e| format!("could not build an HTTP client: {e}"))
}

/// GET a JSON document, at most [`MAX_RESPONSE_BYTES`], within [`FETCH_TIMEOUT`].
pub(crate) async fn get_json(c: &reqwest::Client, url: &str) -> Result<Value, String> {
    let resp = c.get(url).header("accept", "application/json").send().await.map_err(|e| format!("fetching {url}: {e}"))?;
    read_json(resp, url).await
}

pub(crate) async fn read_json(mut resp: reqwest::Response, url: &str) -> Result<Value, String> {
    let status = resp.status();
    if resp.content_length().is_some_and(|l| l > MAX_RESPONSE_BYTES as u64) {
        return Err(format!("{url}: response larger than {MAX_RESPONSE_BYTES} bytes"));
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("reading {url}: {e}"))? {
        if buf.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("{url}: response larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        buf.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(format!("{url}: {status}"));
    }
    serde_json::from_slice(&buf).map_err(|e| format!("{url}: invalid JSON: {e}"))
}

fn parse_pem(pem: &str) -> Result<Key, String> {
    let b = pem.trim().as_bytes();
    let (key, family) = if let Ok(k) = DecodingKey::from_rsa_pem(b) {
        (k, Family::Rsa)
    } else if let Ok(k) = DecodingKey::from_ec_pem(b) {
        (k, Family::Ec)
    } else if let Ok(k) = DecodingKey::from_ed_pem(b) {
        (k, Family::Ed)
    } else {
        return Err("not a PEM RSA, EC or Ed25519 public key".into());
    };
    Ok(Key { kid: None, family, alg: None, key })
}

fn parse_jwks(doc: &Value) -> Result<Vec<Key>, String> {
    let Some(list) = doc.get("keys").and_then(Value::as_array) else { return Err("not a JWKS: no \"keys\" array".into()) };
    let mut keys = Vec::new();
    for k in list.iter().take(MAX_KEYS) {
        let s = |f: &str| k.get(f).and_then(Value::as_str);
        if s("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let family = match (s("kty"), s("crv")) {
            (Some("RSA"), _) => Family::Rsa,
            (Some("EC"), Some("P-256" | "P-384")) => Family::Ec,
            (Some("OKP"), Some("Ed25519")) => Family::Ed,
            // `oct` (HMAC) and anything else: never a verification key here.
            _ => continue,
        };
        let alg = match s("alg") {
            None => None,
            Some(a) => match a.parse::<Algorithm>() {
                Ok(a) if family_matches(a, family) => Some(a),
                _ => continue,
            },
        };
        let Ok(jwk) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(k.clone()) else { continue };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
        keys.push(Key { kid: s("kid").map(str::to_string), family, alg, key });
    }
    // A JWKS with no (usable) key yet is accepted, as Vault does (go-oidc's
    // key set only fails the signature check): an issuer may publish its
    // first key later, e.g. Vault's or Coffer's own identity/oidc before any
    // named key exists. A login then finds no key and refetches (rate-limited).
    Ok(keys)
}

fn family_matches(alg: Algorithm, f: Family) -> bool {
    family(alg) == Some(f)
}

// ---------------------------------------------------------------- verifying

/// The header fields that pick a key.
struct Header {
    alg: String,
    kid: Option<String>,
}

fn header(token: &str) -> Result<Header, String> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("compact JWS format must have three parts".into());
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h.trim_end_matches('='))
        .map_err(|_| "illegal base64 data in the header".to_string())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| "the header is not JSON".to_string())?;
    let alg = v.get("alg").and_then(Value::as_str).unwrap_or_default().to_string();
    let kid = v.get("kid").and_then(Value::as_str).map(str::to_string);
    Ok(Header { alg, kid })
}

pub(crate) const NO_KEY: &str = "no known key successfully validated the token signature";

/// Check the signature of `token` with the mount's keys and return its claims
/// (not yet validated: times, audience and the rest are `claims.rs`'s).
/// Errors are the text after `error validating token: `.
pub(crate) async fn verify(cache: &KeyCache, source: &Source, token: &str, algs: &[String]) -> Result<Value, String> {
    if token.len() > MAX_JWT_BYTES {
        return Err(format!("error verifying token signature: token larger than {MAX_JWT_BYTES} bytes"));
    }
    let h = header(token).map_err(|e| format!("error verifying token signature: {e}"))?;
    // `none` and HS* are never in `algs` (config.rs refuses them), and never parse to a family.
    let alg = match h.alg.parse::<Algorithm>() {
        Ok(a) if algs.iter().any(|x| x == &h.alg) && family(a).is_some() => a,
        _ => {
            let expected: Vec<String> = algs.iter().map(|a| format!("{a:?}")).collect();
            return Err(format!("error verifying token signature: unexpected signature algorithm {:?}; expected [{}]", h.alg, expected.join(" ")));
        }
    };
    let entry = cache.get(source).await.map_err(|e| format!("error verifying token signature: fetching keys: {e}"))?;
    if let Some(claims) = try_keys(&entry, token, alg, h.kid.as_deref()) {
        return Ok(claims);
    }
    if let Some(newer) = cache.refresh_after_miss(&entry).await
        && let Some(claims) = try_keys(&newer, token, alg, h.kid.as_deref())
    {
        return Ok(claims);
    }
    Err(format!("error verifying token signature: {NO_KEY}"))
}

/// A token with a `kid` is tried only with the JWKS key of that id (static
/// PEM keys have none and are always tried); one without, with every key.
fn try_keys(entry: &Entry, token: &str, alg: Algorithm, kid: Option<&str>) -> Option<Value> {
    let is_static = matches!(entry.source, Source::Static(_));
    let mut v = Validation::new(alg);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.leeway = 0;
    entry
        .fetched
        .keys
        .iter()
        .filter(|k| kid.is_none() || is_static || k.kid.as_deref() == kid)
        .filter(|k| family(alg) == Some(k.family) && k.alg.is_none_or(|a| a == alg))
        .find_map(|k| jsonwebtoken::decode::<Value>(token, &k.key, &v).ok().map(|d| d.claims))
}
