//! Target address parsing and a small hyper-based JSON client used for setup and teardown
//! only (the load path is `wire`, which never parses JSON).

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

pub const VAULT_TOKEN: HeaderName = HeaderName::from_static("x-vault-token");
pub const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

pub type Sender = SendRequest<Full<Bytes>>;

/// A plain-HTTP server address: what to connect to and what to send as `Host`.
#[derive(Clone, Debug)]
pub struct Target {
    /// The address as the user wrote it, for reports.
    pub url: String,
    /// `host:port` to connect to.
    pub authority: String,
    pub host_header: HeaderValue,
}

/// Parse `http://host:port` (a bare `host:port` is accepted too).
pub fn parse_address(input: &str) -> Result<Target, String> {
    let trimmed = input.trim().trim_end_matches('/');
    let rest = if let Some(rest) = trimmed.strip_prefix("http://") {
        rest
    } else if trimmed.starts_with("https://") {
        return Err(format!(
            "address {input:?}: https is not supported; point coffer-bench at a plain-HTTP listener on loopback"
        ));
    } else if trimmed.contains("://") {
        return Err(format!("address {input:?}: only http:// is supported"));
    } else {
        trimmed
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("address {input:?}: missing host"));
    }
    let has_port = match authority.strip_prefix('[') {
        // IPv6 literal: a port can only follow the closing bracket.
        Some(v6) => v6.split_once(']').is_some_and(|(_, after)| after.starts_with(':')),
        None => authority.contains(':'),
    };
    let authority = if has_port { authority.to_string() } else { format!("{authority}:80") };
    if let Some((_, port)) = authority.rsplit_once(':') {
        port.parse::<u16>().map_err(|_| format!("address {input:?}: invalid port {port:?}"))?;
    }
    let host_header =
        HeaderValue::from_str(&authority).map_err(|_| format!("address {input:?}: invalid host"))?;
    Ok(Target { url: format!("http://{authority}"), authority, host_header })
}

/// Open one HTTP/1.1 keep-alive connection; its driver runs as its own task.
pub async fn connect(target: &Target) -> std::io::Result<Sender> {
    let stream = TcpStream::connect(&target.authority).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the peer closes; errors surface on the sender.
        let _ = conn.await;
    });
    Ok(sender)
}

/// Minimal Vault API client for setup/teardown: JSON in, JSON out, one connection reused.
pub struct ApiClient {
    target: Target,
    token: Option<HeaderValue>,
    sender: Option<Sender>,
}

const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

impl ApiClient {
    pub fn new(target: &Target, token: Option<&str>) -> anyhow::Result<ApiClient> {
        let token = match token {
            Some(t) => Some(HeaderValue::from_str(t).context("token: not a valid header value")?),
            None => None,
        };
        Ok(ApiClient { target: target.clone(), token, sender: None })
    }

    /// Send `method /v1/{path}` with an optional JSON body; returns status and parsed body
    /// (`Value::Null` when empty or not JSON).
    pub async fn call(&mut self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<(u16, Value)> {
        tokio::time::timeout(SETUP_TIMEOUT, self.call_inner(method.clone(), path, body))
            .await
            .with_context(|| format!("{method} /v1/{path}: no answer within {SETUP_TIMEOUT:?}"))?
    }

    async fn call_inner(&mut self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<(u16, Value)> {
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => connect(&self.target)
                .await
                .with_context(|| format!("connecting to {}", self.target.url))?,
        };
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let mut req = Request::new(Full::new(bytes));
        *req.method_mut() = method.clone();
        *req.uri_mut() = format!("/v1/{path}").parse().with_context(|| format!("path {path:?}"))?;
        let headers = req.headers_mut();
        headers.insert(HOST, self.target.host_header.clone());
        if let Some(token) = &self.token {
            headers.insert(VAULT_TOKEN, token.clone());
        }
        if body.is_some() {
            headers.insert(CONTENT_TYPE, APPLICATION_JSON);
        }
        sender.ready().await.with_context(|| format!("{method} /v1/{path}"))?;
        let resp = sender.send_request(req).await.with_context(|| format!("{method} /v1/{path}"))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.with_context(|| format!("{method} /v1/{path}: body"))?;
        self.sender = Some(sender);
        let bytes = body.to_bytes();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Ok((status, value))
    }

    /// Like [`call`](Self::call) but a non-2xx answer is an error carrying Vault's messages.
    pub async fn ok(&mut self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let (status, value) = self.call(method.clone(), path, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} /v1/{path}: HTTP {status}: {}", vault_errors(&value));
        }
        Ok(value)
    }
}

/// Vault's `{"errors": [...]}` joined into one line.
pub fn vault_errors(v: &Value) -> String {
    match v.get("errors").and_then(Value::as_array) {
        Some(errs) if !errs.is_empty() => {
            errs.iter().map(|e| e.as_str().unwrap_or_default().trim().replace('\n', " ")).collect::<Vec<_>>().join("; ")
        }
        _ => "(no error message)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let t = parse_address("http://127.0.0.1:8200").unwrap();
        assert_eq!(t.authority, "127.0.0.1:8200");
        assert_eq!(t.url, "http://127.0.0.1:8200");
        assert_eq!(parse_address("http://localhost:8201/").unwrap().authority, "localhost:8201");
        assert_eq!(parse_address("127.0.0.1:9").unwrap().authority, "127.0.0.1:9");
        assert_eq!(parse_address("http://localhost").unwrap().authority, "localhost:80");
        assert_eq!(parse_address("http://[::1]:8200").unwrap().authority, "[::1]:8200");
        assert_eq!(parse_address("http://[::1]").unwrap().authority, "[::1]:80");
        assert!(parse_address("https://127.0.0.1:8200").unwrap_err().contains("https is not supported"));
        assert!(parse_address("http://127.0.0.1:99999").unwrap_err().contains("invalid port"));
        assert!(parse_address("http://").is_err());
    }
}
