//! TCP listeners, plain or TLS (rustls with the aws-lc-rs provider), served
//! by hyper's auto (HTTP/1.1 + HTTP/2) connection builder. A hand-written
//! accept loop rather than `axum::serve` so TLS and plain share one path and
//! the peer address reaches handlers.

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Refuse TLS 1.2 (`tls_min_version = "tls13"`).
    pub tls13_only: bool,
}

#[derive(Clone, Debug)]
pub struct ListenerOptions {
    pub tls: Option<TlsFiles>,
    /// Slow-header protection: a connection that has not sent a complete
    /// request head (or TLS handshake) within this time is closed.
    pub header_read_timeout: std::time::Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions { tls: None, header_read_timeout: std::time::Duration::from_secs(10) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("{0}")]
    Tls(String),
}

fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ListenerError> {
    let certs = {
        let data = std::fs::read(&files.cert_file)
            .map_err(|e| ListenerError::Tls(format!("tls_cert_file {}: {e}", files.cert_file.display())))?;
        rustls_pemfile::certs(&mut data.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ListenerError::Tls(format!("tls_cert_file {}: {e}", files.cert_file.display())))?
    };
    if certs.is_empty() {
        return Err(ListenerError::Tls(format!("tls_cert_file {}: no certificate found", files.cert_file.display())));
    }
    let key = {
        let data = std::fs::read(&files.key_file)
            .map_err(|e| ListenerError::Tls(format!("tls_key_file {}: {e}", files.key_file.display())))?;
        rustls_pemfile::private_key(&mut data.as_slice())
            .map_err(|e| ListenerError::Tls(format!("tls_key_file {}: {e}", files.key_file.display())))?
            .ok_or_else(|| ListenerError::Tls(format!("tls_key_file {}: no private key found", files.key_file.display())))?
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] =
        if files.tls13_only { &[&rustls::version::TLS13] } else { &[&rustls::version::TLS12, &rustls::version::TLS13] };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| ListenerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ListenerError::Tls(format!("tls: {e}")))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Check TLS files before binding, so a bad config fails start-up.
pub fn validate(opts: &ListenerOptions) -> Result<(), ListenerError> {
    if let Some(t) = &opts.tls {
        tls_acceptor(t)?;
    }
    Ok(())
}

/// Serve `app` on an already-bound listener until the task is dropped.
/// Does the connection start like an HTTP/1 request rather than a TLS record?
/// Peeks (never consumes) the first bytes: a TLS handshake record starts with
/// 0x16, an HTTP request with a method. Same test as Go's server.
async fn plain_http_to_tls(stream: &tokio::net::TcpStream) -> bool {
    let mut head = [0u8; 5];
    loop {
        match stream.peek(&mut head).await {
            Ok(0) | Err(_) => return false,
            Ok(n) if n < head.len() && head[0] != 0x16 => {
                // Wait for the rest of a short first segment; a TLS record is decided at once.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Ok(_) => return looks_like_http(&head),
        }
    }
}

fn looks_like_http(head: &[u8; 5]) -> bool {
    matches!(head, b"GET /" | b"HEAD " | b"POST " | b"PUT /" | b"OPTIO" | b"DELET" | b"PATCH" | b"LIST ")
}

async fn answer_plain_http(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    const ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
    let _ = stream.write_all(ANSWER).await;
    let _ = stream.shutdown().await;
}

pub async fn serve(listener: TcpListener, opts: ListenerOptions, app: axum::Router) -> Result<(), ListenerError> {
    let acceptor = opts.tls.as_ref().map(tls_acceptor).transpose()?;
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(opts.header_read_timeout);
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(256);
    let handshake_timeout = opts.header_read_timeout;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let svc = app.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(remote));
                req.map(axum::body::Body::new)
            });
            let svc = TowerToHyperService::new(svc);
            let res = match acceptor {
                Some(acc) => match tokio::time::timeout(handshake_timeout, plain_http_to_tls(&stream)).await {
                    // A plain-HTTP client on a TLS port gets Go's (and so Vault's) 400.
                    Ok(true) => return answer_plain_http(stream).await,
                    Ok(false) => match tokio::time::timeout(handshake_timeout, acc.accept(stream)).await {
                    Ok(Ok(tls)) => builder.serve_connection_with_upgrades(TokioIo::new(tls), svc).await,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                    },
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                },
                None => builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).await,
            };
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection closed with error");
            }
        });
    }
}
