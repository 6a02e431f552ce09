//! `config`: where the verification keys come from (exactly one of static
//! PEM keys, a JWKS URL or an OIDC discovery URL) and what every JWT must
//! carry. A write that names a URL fetches it first (400 when that fails), so
//! a stored config always worked once.
//!
//! # Storage (inside the mount's encrypted view)
//! - `config`: one [`Config`] as JSON (the client secret included, encrypted
//!   by the barrier like every value; never returned by a read).

use super::Jwt;
use super::keys::{self, Source};
use coffer_core::fields::{get_bool, get_raw, get_str, get_str_list};
use coffer_core::{Data, Error, Request, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroize;

const CONFIG_KEY: &str = "config";

/// Vault's supported signing algorithms. HMAC algorithms and `none` are
/// never accepted: the method only ever holds public keys.
pub(crate) const SUPPORTED_ALGS: &[&str] = &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Config {
    pub oidc_discovery_url: String,
    pub oidc_discovery_ca_pem: String,
    pub oidc_client_id: String,
    pub oidc_client_secret: Secret,
    pub oidc_response_mode: String,
    pub oidc_response_types: Vec<String>,
    pub jwks_url: String,
    pub jwks_ca_pem: String,
    pub jwt_validation_pubkeys: Vec<String>,
    pub bound_issuer: String,
    pub jwt_supported_algs: Vec<String>,
    pub default_role: String,
    pub namespace_in_state: Option<bool>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("oidc_discovery_url", &self.oidc_discovery_url)
            .field("jwks_url", &self.jwks_url)
            .field("bound_issuer", &self.bound_issuer)
            .field("oidc_client_secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The client secret: zeroized on drop, never printed.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(pub String);

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Config {
    /// The one place keys come from.
    pub(crate) fn source(&self) -> Source {
        if !self.jwt_validation_pubkeys.is_empty() {
            Source::Static(self.jwt_validation_pubkeys.clone())
        } else if !self.jwks_url.is_empty() {
            Source::Jwks { url: self.jwks_url.clone(), ca_pem: self.jwks_ca_pem.clone() }
        } else {
            Source::Discovery { url: self.oidc_discovery_url.clone(), ca_pem: self.oidc_discovery_ca_pem.clone() }
        }
    }

    /// The algorithms a `login` may use: the configured ones, or every
    /// supported one (Vault's default for JWT roles).
    pub(crate) fn algs(&self) -> Vec<String> {
        if self.jwt_supported_algs.is_empty() {
            SUPPORTED_ALGS.iter().map(|s| s.to_string()).collect()
        } else {
            self.jwt_supported_algs.clone()
        }
    }
}

pub(crate) async fn load(b: &Jwt) -> Result<Option<Config>> {
    b.view.get_json(CONFIG_KEY).await
}

pub(crate) async fn read(b: &Jwt) -> Result<Option<Response>> {
    let Some(c) = load(b).await? else { return Ok(None) };
    let mut d = Data::new();
    d.insert("bound_issuer".into(), json!(c.bound_issuer));
    d.insert("default_role".into(), json!(c.default_role));
    d.insert("jwks_ca_pem".into(), json!(c.jwks_ca_pem));
    d.insert("jwks_url".into(), json!(c.jwks_url));
    d.insert("jwt_supported_algs".into(), json!(c.jwt_supported_algs));
    d.insert("jwt_validation_pubkeys".into(), json!(c.jwt_validation_pubkeys));
    d.insert("namespace_in_state".into(), json!(c.namespace_in_state.unwrap_or(true)));
    d.insert("oidc_client_id".into(), json!(c.oidc_client_id));
    d.insert("oidc_discovery_ca_pem".into(), json!(c.oidc_discovery_ca_pem));
    d.insert("oidc_discovery_url".into(), json!(c.oidc_discovery_url));
    d.insert("oidc_response_mode".into(), json!(c.oidc_response_mode));
    d.insert("oidc_response_types".into(), json!(c.oidc_response_types));
    d.insert("override_allowed_server_names".into(), json!([]));
    d.insert("provider_config".into(), json!({}));
    d.insert("status".into(), json!("valid"));
    Ok(Some(Response::data(d)))
}

/// A config write replaces the whole config (Vault's `pathConfigWrite`: fields
/// not sent are reset), after checking it and fetching its keys once.
pub(crate) async fn write(b: &Jwt, req: &mut Request) -> Result<Option<Response>> {
    let d = &req.data;
    let s = |k: &str| -> Result<String> { Ok(get_str(d, k)?.unwrap_or_default().trim().to_string()) };
    let list = |k: &str| -> Result<Vec<String>> { Ok(get_str_list(d, k)?.unwrap_or_default()) };
    let c = Config {
        oidc_discovery_url: s("oidc_discovery_url")?,
        oidc_discovery_ca_pem: get_str(d, "oidc_discovery_ca_pem")?.unwrap_or_default(),
        oidc_client_id: s("oidc_client_id")?,
        oidc_client_secret: Secret(get_str(d, "oidc_client_secret")?.unwrap_or_default()),
        oidc_response_mode: s("oidc_response_mode")?,
        oidc_response_types: list("oidc_response_types")?,
        jwks_url: s("jwks_url")?,
        jwks_ca_pem: get_str(d, "jwks_ca_pem")?.unwrap_or_default(),
        jwt_validation_pubkeys: list("jwt_validation_pubkeys")?,
        bound_issuer: s("bound_issuer")?,
        jwt_supported_algs: list("jwt_supported_algs")?,
        default_role: s("default_role")?,
        namespace_in_state: get_bool(d, "namespace_in_state")?,
    };
    for unsupported in ["jwks_pairs", "provider_config"] {
        match get_raw(d, unsupported) {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(Value::Object(o)) if o.is_empty() => {}
            Some(_) => return Err(Error::invalid(format!("{unsupported}: not supported by Coffer"))),
        }
    }
    let sources = [!c.oidc_discovery_url.is_empty(), !c.jwks_url.is_empty(), !c.jwt_validation_pubkeys.is_empty()];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err(Error::invalid(
            "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs', 'oidc_discovery_url', or 'provider_config' must be set",
        ));
    }
    if c.oidc_client_id.is_empty() != c.oidc_client_secret.0.is_empty() {
        return Err(Error::invalid("both 'oidc_client_id' and 'oidc_client_secret' must be set for OIDC"));
    }
    if !c.oidc_client_id.is_empty() && c.oidc_discovery_url.is_empty() {
        return Err(Error::invalid("'oidc_discovery_url' must be set for OIDC"));
    }
    match c.oidc_response_mode.as_str() {
        "" | "query" | "form_post" => {}
        other => return Err(Error::invalid(format!("invalid response_mode: {other:?}"))),
    }
    for t in &c.oidc_response_types {
        match t.as_str() {
            "code" => {}
            "id_token" if c.oidc_response_mode == "form_post" => {}
            "id_token" => return Err(Error::invalid("'form_post' oidc_response_mode must be used with 'id_token' oidc_response_types")),
            other => return Err(Error::invalid(format!("invalid response_type {other:?}"))),
        }
    }
    for a in &c.jwt_supported_algs {
        if !SUPPORTED_ALGS.contains(&a.as_str()) {
            return Err(Error::invalid(format!("invalid jwt_supported_algs: unsupported signing algorithm {a:?}")));
        }
    }
    if !c.jwks_ca_pem.is_empty() && c.jwks_url.is_empty() || !c.oidc_discovery_ca_pem.is_empty() && c.oidc_discovery_url.is_empty() {
        return Err(Error::invalid("a CA PEM is only used with the URL it belongs to (jwks_ca_pem with jwks_url, oidc_discovery_ca_pem with oidc_discovery_url)"));
    }
    // Verify the source now: PEMs parse, URLs answer (over TLS trusted as tls.rs says) with a JWKS.
    let source = c.source();
    let fetched = keys::load_source(&source).await.map_err(|e| match &source {
        Source::Static(_) => Error::invalid(format!("error parsing public key: {e}")),
        Source::Jwks { .. } => Error::invalid(format!("error checking jwks URL: {e}")),
        Source::Discovery { .. } => Error::invalid(format!("error checking oidc discovery URL: {e}")),
    })?;
    let _guard = b.write_lock.lock().await;
    b.view.put_json(CONFIG_KEY, &c).await?;
    b.keys.install(source, fetched);
    Ok(None)
}
