//! The HTTP client the commands share: address, token, TLS and namespace from
//! flags and environment (`VAULT_*`, with `COFFER_*` aliases that win when both
//! are set), Vault's request headers, and Vault's error text.

use crate::flags::Flags;
use crate::token_helper;
use anyhow::{Context, Result, anyhow};
use reqwest::Method;
use reqwest::blocking::Client as Http;
use serde_json::Value;
use std::fmt;

/// Flags every client command accepts (Vault's "HTTP Options").
pub const HTTP_BOOLS: &[&str] =
    &["tls-skip-verify", "policy-override", "output-curl-string", "output-policy", "disable-redirects", "non-interactive"];
pub const HTTP_VALUED: &[&str] = &[
    "address",
    "agent-address",
    "ca-cert",
    "ca-path",
    "client-cert",
    "client-key",
    "namespace",
    "ns",
    "tls-server-name",
    "wrap-ttl",
    "header",
    "mfa",
    "unlock-key",
];

pub const HTTP_HELP: &str = "HTTP Options:

  -address=<string>
      Address of the server. The default is https://127.0.0.1:8200. This can
      also be specified via the VAULT_ADDR (or COFFER_ADDR) environment variable.

  -ca-cert=<string>
      Path on the local disk to a single PEM-encoded CA certificate to verify
      the server's SSL certificate. Env: VAULT_CACERT / COFFER_CACERT.

  -ca-path=<string>
      Path to a directory of PEM-encoded CA certificates. Env: VAULT_CAPATH.

  -client-cert=<string>
      PEM-encoded client certificate for TLS authentication. Requires
      -client-key. Env: VAULT_CLIENT_CERT / COFFER_CLIENT_CERT.

  -client-key=<string>
      PEM-encoded private key matching the client certificate.
      Env: VAULT_CLIENT_KEY / COFFER_CLIENT_KEY.

  -header=<key=value>
      Key-value pair added as an HTTP header. May be repeated.

  -namespace=<string>
      The namespace to use for the command. Env: VAULT_NAMESPACE.

  -tls-skip-verify
      Disable verification of TLS certificates (insecure).
      Env: VAULT_SKIP_VERIFY / COFFER_SKIP_VERIFY.

  -mfa=<string>
      Supply MFA credentials as part of the X-Vault-MFA header
      (\"<method id>:<passcode>\"). May be repeated.

  -wrap-ttl=<duration>
      Wraps the response in a cubbyhole token with this TTL (\"5m\", 300).
      Env: VAULT_WRAP_TTL.
";

/// `COFFER_<name>` or `VAULT_<name>`, ignoring empty values.
pub fn env(name: &str) -> Option<String> {
    for prefix in ["COFFER_", "VAULT_"] {
        if let Ok(v) = std::env::var(format!("{prefix}{name}"))
            && !v.is_empty()
        {
            return Some(v);
        }
    }
    None
}

fn truthy(s: &str) -> bool {
    matches!(s, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// A non-2xx answer from the server. Displays like the Vault CLI's
/// "Error making API request." block; the exit code for it is 2.
#[derive(Debug)]
pub struct ApiError {
    pub method: String,
    pub url: String,
    pub code: u16,
    pub namespace: Option<String>,
    pub errors: Vec<String>,
    pub raw: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error making API request.\n\n")?;
        if let Some(ns) = &self.namespace {
            writeln!(f, "Namespace: {ns}")?;
        }
        write!(f, "URL: {} {}\nCode: {}.", self.method, self.url, self.code)?;
        if self.errors.is_empty() {
            write!(f, " Raw Message:\n\n{}", self.raw)
        } else {
            let list: Vec<String> = self.errors.iter().map(|e| format!("* {e}")).collect();
            write!(f, " Errors:\n\n{}", list.join("\n"))
        }
    }
}

impl std::error::Error for ApiError {}


pub struct Client {
    http: Http,
    pub addr: String,
    token: Option<String>,
    pub namespace: Option<String>,
    wrap_ttl: Option<String>,
    headers: Vec<(String, String)>,
}

fn read_file(path: &str, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("Error loading {what} {path:?}"))
}

impl Client {
    /// Build from the common HTTP flags (already parsed into `f`) and the environment.
    pub fn from_flags(f: &Flags) -> Result<Client> {
        let addr = f
            .get("address")
            .map(str::to_string)
            .or_else(|| env("ADDR"))
            .unwrap_or_else(|| "https://127.0.0.1:8200".into());
        let addr = addr.trim_end_matches('/').to_string();
        let mut b = Http::builder().user_agent(concat!("coffer/", env!("CARGO_PKG_VERSION"))).timeout(std::time::Duration::from_secs(60));
        if f.bool("disable-redirects") || env("DISABLE_REDIRECTS").is_some_and(|v| truthy(&v)) {
            b = b.redirect(reqwest::redirect::Policy::none());
        } else {
            // Go's client follows a single redirect (standby → active)
            b = b.redirect(reqwest::redirect::Policy::limited(1));
        }
        let mut roots = Vec::new();
        if let Some(ca) = f.get("ca-cert").map(str::to_string).or_else(|| env("CACERT")) {
            let pem = read_file(&ca, "CA certificate")?;
            roots.extend(reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| anyhow!("Error loading CA certificate {ca:?}: not PEM"))?);
        }
        if let Some(dir) = f.get("ca-path").map(str::to_string).or_else(|| env("CAPATH")) {
            let entries = std::fs::read_dir(&dir).with_context(|| format!("Error loading CA path {dir:?}"))?;
            for e in entries.flatten() {
                if let Ok(pem) = std::fs::read(e.path())
                    && let Ok(certs) = reqwest::Certificate::from_pem_bundle(&pem)
                {
                    roots.extend(certs);
                }
            }
        }
        if !roots.is_empty() {
            b = b.tls_certs_only(roots);
        }
        let cert = f.get("client-cert").map(str::to_string).or_else(|| env("CLIENT_CERT"));
        let key = f.get("client-key").map(str::to_string).or_else(|| env("CLIENT_KEY"));
        match (cert, key) {
            (Some(c), Some(k)) => {
                let mut pem = read_file(&c, "client certificate")?;
                pem.push(b'\n');
                pem.extend(read_file(&k, "client key")?);
                let id = reqwest::Identity::from_pem(&pem).map_err(|_| anyhow!("Error loading client certificate {c:?} and key {k:?}"))?;
                b = b.identity(id);
            }
            (Some(_), None) | (None, Some(_)) => {
                anyhow::bail!("both a client certificate and a client key are needed (-client-cert, -client-key)")
            }
            _ => {}
        }
        let skip = f.bool("tls-skip-verify") || env("SKIP_VERIFY").is_some_and(|v| truthy(&v));
        if skip {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        let http = b.build().context("Error initializing client")?;
        let token = match env("TOKEN") {
            Some(t) => Some(t),
            None => token_helper::get()?,
        };
        let namespace = f.get("namespace").or(f.get("ns")).map(str::to_string).or_else(|| env("NAMESPACE"));
        let wrap_ttl = f.get("wrap-ttl").map(str::to_string).or_else(|| env("WRAP_TTL"));
        let mut headers = Vec::new();
        for h in f.all("header") {
            let Some((k, v)) = h.split_once('=') else {
                anyhow::bail!("invalid -header {h:?}: format must be key=value");
            };
            headers.push((k.to_string(), v.to_string()));
        }
        // `-mfa=<method id>:<passcode>` (repeatable): Vault's single-phase login MFA header.
        for m in f.all("mfa") {
            headers.push(("X-Vault-MFA".to_string(), m));
        }
        Ok(Client { http, addr, token, namespace, wrap_ttl, headers })
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
    pub fn set_token(&mut self, t: Option<String>) {
        self.token = t;
    }
    pub fn set_wrap_ttl(&mut self, t: Option<String>) {
        self.wrap_ttl = t;
    }
    pub fn wrap_ttl(&self) -> Option<&str> {
        self.wrap_ttl.as_deref()
    }

    /// One request. `Ok((status, body))` for 2xx (body `Null` when empty);
    /// an `ApiError` for everything else.
    pub fn raw(&self, method: &str, path: &str, query: &[(String, String)], body: Option<&Value>) -> Result<(u16, Value)> {
        let path = path.trim_start_matches('/');
        let url = format!("{}/v1/{}", self.addr, path);
        let m = Method::from_bytes(method.as_bytes()).map_err(|_| anyhow!("bad method {method}"))?;
        let mut rb = self.http.request(m, &url).header("X-Vault-Request", "true");
        if !query.is_empty() {
            rb = rb.query(query);
        }
        if let Some(t) = &self.token {
            rb = rb.header("X-Vault-Token", t);
        }
        if let Some(ns) = &self.namespace {
            rb = rb.header("X-Vault-Namespace", ns);
        }
        if let Some(w) = &self.wrap_ttl {
            rb = rb.header("X-Vault-Wrap-TTL", w);
        }
        for (k, v) in &self.headers {
            rb = rb.header(k, v);
        }
        if let Some(b) = body {
            let ct = if method == "PATCH" { "application/merge-patch+json" } else { "application/json" };
            rb = rb.header("Content-Type", ct).body(serde_json::to_vec(b)?);
        }
        let resp = rb.send().map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            anyhow::Error::new(TransportError(format!("{method} {url}: {msg}")))
        })?;
        let code = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let parsed: Value = if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        if (200..300).contains(&code) {
            return Ok((code, parsed));
        }
        let errors = parsed
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|e| e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string())).collect())
            .unwrap_or_default();
        Err(ApiErrorParts { method: method.into(), url, code, namespace: self.namespace.clone(), errors, raw: text, body: parsed }.into_anyhow())
    }

    /// GET; like Go's `Logical().Read`: a 404 is `None` unless its body carries
    /// data or warnings (kv-v2 deleted versions).
    pub fn read(&self, path: &str, query: &[(String, String)]) -> Result<Option<Value>> {
        self.with_404("GET", path, query, None)
    }
    pub fn write(&self, path: &str, body: &Value) -> Result<Option<Value>> {
        self.with_404("PUT", path, &[], Some(body))
    }
    pub fn write_method(&self, method: &str, path: &str, body: &Value) -> Result<Option<Value>> {
        self.with_404(method, path, &[], Some(body))
    }
    pub fn patch(&self, path: &str, body: &Value) -> Result<Option<Value>> {
        self.with_404("PATCH", path, &[], Some(body))
    }
    pub fn delete(&self, path: &str, query: &[(String, String)]) -> Result<Option<Value>> {
        self.with_404("DELETE", path, query, None)
    }
    pub fn list(&self, path: &str) -> Result<Option<Value>> {
        match self.raw("LIST", path, &[], None) {
            Ok((_, v)) => Ok(non_null(v)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn with_404(&self, method: &str, path: &str, query: &[(String, String)], body: Option<&Value>) -> Result<Option<Value>> {
        match self.raw(method, path, query, body) {
            Ok((_, v)) => Ok(non_null(v)),
            Err(e) => {
                if let Some(api) = e.downcast_ref::<ApiErrorBox>()
                    && api.0.code == 404
                {
                    let b = &api.0.body;
                    let has_data = b.get("data").is_some_and(|d| d.as_object().is_some_and(|o| !o.is_empty()));
                    let has_warn = b.get("warnings").is_some_and(|w| w.as_array().is_some_and(|a| !a.is_empty()));
                    if has_data || has_warn {
                        return Ok(Some(b.clone()));
                    }
                    if method == "GET" {
                        return Ok(None);
                    }
                }
                Err(e)
            }
        }
    }
}

fn non_null(v: Value) -> Option<Value> {
    if v.is_null() { None } else { Some(v) }
}

/// The error carried through anyhow; keeps the parsed body for the 404 rules.
#[derive(Debug)]
pub struct ApiErrorBox(pub ApiErrorFull);

#[derive(Debug)]
pub struct ApiErrorFull {
    pub code: u16,
    pub body: Value,
    pub err: ApiError,
}

impl fmt::Display for ApiErrorBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.err.fmt(f)
    }
}
impl std::error::Error for ApiErrorBox {}

struct ApiErrorParts {
    method: String,
    url: String,
    code: u16,
    namespace: Option<String>,
    errors: Vec<String>,
    raw: String,
    body: Value,
}

impl ApiErrorParts {
    fn into_anyhow(self) -> anyhow::Error {
        let err = ApiError { method: self.method, url: self.url, code: self.code, namespace: self.namespace, errors: self.errors, raw: self.raw };
        anyhow::Error::new(ApiErrorBox(ApiErrorFull { code: self.code, body: self.body, err }))
    }
}

/// The HTTP status of an API error anywhere in the chain.
pub fn status_of(e: &anyhow::Error) -> Option<u16> {
    e.chain().find_map(|c| c.downcast_ref::<ApiErrorBox>()).map(|b| b.0.code)
}

/// True when the error (or its cause) is the server's answer: exit code 2.
pub fn is_remote(e: &anyhow::Error) -> bool {
    status_of(e).is_some() || e.chain().any(|c| c.downcast_ref::<TransportError>().is_some())
}

/// The request never got an answer (refused, TLS, timeout). Vault's CLI
/// treats these like server errors: exit code 2.
#[derive(Debug)]
pub struct TransportError(pub String);
impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for TransportError {}
