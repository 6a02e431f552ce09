//! TCP listeners, plain or TLS (rustls with the aws-lc-rs provider), served
//! by hyper's auto (HTTP/1.1 + HTTP/2) connection builder. A hand-written
//! accept loop rather than `axum::serve` so TLS and plain share one path and
//! the peer address reaches handlers.

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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
    /// request head (or TLS handshake) within this time is closed; on a new
    /// connection the clock starts at accept.
    pub header_read_timeout: Duration,
    /// A connection with no traffic either way for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections at once; beyond it a connection is answered 503 and
    /// closed (plain HTTP) or closed (TLS). Lowered to fit RLIMIT_NOFILE.
    pub max_connections: usize,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            tls: None,
            header_read_timeout: coffer_config::DEFAULT_HTTP_READ_HEADER_TIMEOUT,
            idle_timeout: coffer_config::DEFAULT_HTTP_IDLE_TIMEOUT,
            max_connections: coffer_config::DEFAULT_MAX_CONNECTIONS as usize,
        }
    }
}

/// File descriptors kept back from the connection cap (storage, logs, the
/// listeners themselves).
const FD_RESERVE: u64 = 128;

/// Raise the soft RLIMIT_NOFILE to the hard limit (once per process is
/// enough; repeating is harmless) and return the soft limit now in force.
#[cfg(unix)]
fn raise_nofile_limit() -> Option<u64> {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return None;
        }
        if rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit { rlim_cur: rl.rlim_max, rlim_max: rl.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                rl.rlim_cur = rl.rlim_max;
            }
        }
    }
    // rlim_t is u64 on Linux but not on every unix.
    #[allow(clippy::unnecessary_cast)]
    Some(rl.rlim_cur as u64)
}

#[cfg(not(unix))]
fn raise_nofile_limit() -> Option<u64> {
    None
}

/// The cap actually applied: the configured one, lowered to what the fd limit allows.
fn effective_cap(configured: usize, nofile: Option<u64>) -> usize {
    match nofile {
        Some(n) if (configured as u64).saturating_add(FD_RESERVE) > n => n.saturating_sub(FD_RESERVE).max(1) as usize,
        _ => configured.max(1),
    }
}

/// A stream that fails with `TimedOut` once neither a read nor a write has
/// made progress for `timeout` while hyper waits on it.
struct IdleIo<T> {
    inner: T,
    timeout: Duration,
    /// When data last moved. Progress only records the time; the timer is
    /// re-armed lazily when it fires early (resetting a tokio timer on every
    /// read and write cost a measurable share of a small request).
    last: tokio::time::Instant,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<T> IdleIo<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        IdleIo { inner, timeout, last: tokio::time::Instant::now(), deadline: Box::pin(tokio::time::sleep(timeout)) }
    }

    fn touch(&mut self) {
        self.last = tokio::time::Instant::now();
    }

    /// Whether `timeout` has passed since the last progress; otherwise the
    /// timer is (re-)armed for `last + timeout` with `cx`'s waker.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last + self.timeout;
            if tokio::time::Instant::now() >= due {
                return true;
            }
            self.deadline.as_mut().reset(due);
        }
    }
}

impl<T> IdleIo<T> {
    /// The outcome of a write: progress records the time; a write still
    /// pending once the connection has been idle too long fails.
    fn written(&mut self, cx: &mut Context<'_>, r: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        match r {
            Poll::Ready(r) => {
                self.touch();
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn idle_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "connection idle timeout")
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        self.written(cx, r)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.written(cx, r)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serve one connection; until its first request head has arrived it has
/// `first_request` to send it (Go's ReadHeaderTimeout from accept), which also
/// bounds hyper's protocol detection, where no other timer runs.
async fn serve_conn<F, E>(conn: F, seen: Arc<AtomicBool>, first_request: Duration)
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(conn);
    let res = tokio::select! {
        r = &mut conn => r,
        _ = tokio::time::sleep(first_request) => {
            if !seen.load(Ordering::Relaxed) {
                tracing::debug!("no request within http_read_header_timeout; closing");
                return;
            }
            conn.await
        }
    };
    if let Err(e) = res {
        tracing::debug!(error = %e, "connection closed with error");
    }
}

/// The answer to a connection over the cap (plain HTTP only).
async fn refuse_busy(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    const BODY: &str = "{\"errors\":[\"too many open connections\"]}\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
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
    let cap = effective_cap(opts.max_connections, raise_nofile_limit());
    if cap < opts.max_connections {
        tracing::warn!(configured = opts.max_connections, applied = cap, "max_connections lowered to fit the open-file limit (RLIMIT_NOFILE)");
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(cap));
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
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("max_connections reached; refusing a connection");
            if acceptor.is_none() {
                tokio::spawn(refuse_busy(stream));
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let idle = opts.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let seen = Arc::new(AtomicBool::new(false));
            let seen_req = seen.clone();
            let svc = app.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                seen_req.store(true, Ordering::Relaxed);
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(remote));
                req.map(axum::body::Body::new)
            });
            let svc = TowerToHyperService::new(svc);
            match acceptor {
                Some(acc) => match tokio::time::timeout(handshake_timeout, plain_http_to_tls(&stream)).await {
                    // A plain-HTTP client on a TLS port gets Go's (and so Vault's) 400.
                    Ok(true) => answer_plain_http(stream).await,
                    Ok(false) => match tokio::time::timeout(handshake_timeout, acc.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let conn = builder.serve_connection_with_upgrades(TokioIo::new(IdleIo::new(tls, idle)), svc);
                            serve_conn(conn, seen, handshake_timeout).await
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    },
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                },
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(IdleIo::new(stream, idle)), svc);
                    serve_conn(conn, seen, handshake_timeout).await
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_fits_the_fd_limit() {
        assert_eq!(effective_cap(16_384, Some(1_048_576)), 16_384);
        assert_eq!(effective_cap(16_384, Some(1024)), 1024 - FD_RESERVE as usize);
        assert_eq!(effective_cap(16_384, None), 16_384);
        assert_eq!(effective_cap(10, Some(50)), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_io_times_out_a_silent_peer_and_not_a_talking_one() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, mut b) = tokio::io::duplex(64);
        let mut io = IdleIo::new(a, Duration::from_secs(5));
        b.write_all(b"x").await.unwrap();
        let mut buf = [0u8; 1];
        io.read_exact(&mut buf).await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        b.write_all(b"y").await.unwrap();
        io.read_exact(&mut buf).await.unwrap();
        let e = io.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    }
}
