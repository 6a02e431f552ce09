//! `serve-trivial`: a minimal hyper HTTP/1.1 server answering every GET with a fixed,
//! kv-v2-read-shaped JSON body. It is the ceiling: what the load tool can drive when the
//! server does no work at all.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::workload::filler_value;

/// The body a kv-v2 read of a `value_size`-byte secret returns from Vault.
pub fn kv_read_body(value_size: usize) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "request_id": "00000000-0000-0000-0000-000000000000",
            "lease_id": "",
            "renewable": false,
            "lease_duration": 0,
            "data": {
                "data": { "value": filler_value(value_size) },
                "metadata": {
                    "created_time": "2026-01-01T00:00:00.000000000Z",
                    "custom_metadata": null,
                    "deletion_time": "",
                    "destroyed": false,
                    "version": 1
                }
            },
            "wrap_info": null,
            "warnings": null,
            "auth": null
        })
        .to_string(),
    )
}

/// A running trivial server; stops on [`stop`](TrivialServer::stop) or drop.
pub struct TrivialServer {
    pub addr: SocketAddr,
    served: Arc<AtomicU64>,
    shutdown: Option<oneshot::Sender<()>>,
    accept: Option<JoinHandle<()>>,
}

impl TrivialServer {
    /// Bind `listen` (use port 0 for any free port) and start serving.
    pub async fn start(listen: &str, value_size: usize) -> std::io::Result<TrivialServer> {
        let body = kv_read_body(value_size);
        TrivialServer::serve(listen, move |stream, counter| {
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    let resp = respond(req.method(), &body);
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        })
        .await
    }

    /// Bind `listen` and hand every accepted connection (with the request
    /// counter) to `on_conn`, until stopped.
    async fn serve<F>(listen: &str, on_conn: F) -> std::io::Result<TrivialServer>
    where
        F: Fn(tokio::net::TcpStream, Arc<AtomicU64>) + Send + 'static,
    {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let served = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = oneshot::channel::<()>();
        let counter = served.clone();
        let accept = tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => match accepted {
                        Ok(pair) => pair,
                        // Out of file descriptors and the like: keep serving the others.
                        Err(_) => continue,
                    },
                };
                let _ = stream.set_nodelay(true);
                on_conn(stream, counter.clone());
            }
        });
        Ok(TrivialServer { addr, served, shutdown: Some(tx), accept: Some(accept) })
    }

    /// Like [`start`](TrivialServer::start), but without an HTTP library: each
    /// connection reads request heads and writes one prebuilt response per
    /// head. It does the least work an HTTP/1.1 server can, so it measures
    /// how hard the load tool itself can drive a server. Requests must not
    /// carry a body (the tool's `trivial-get` sends plain GETs).
    pub async fn start_raw(listen: &str, value_size: usize) -> std::io::Result<TrivialServer> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body = kv_read_body(value_size);
        let mut head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        head.extend_from_slice(&body);
        let response: Arc<[u8]> = head.into();
        TrivialServer::serve(listen, move |mut stream, counter| {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut filled = 0usize;
                let mut out = Vec::with_capacity(response.len() * 4);
                loop {
                    if filled == buf.len() {
                        return; // a request head larger than 16 KiB: not ours to serve
                    }
                    let n = match stream.read(&mut buf[filled..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    filled += n;
                    // Answer every complete head in the buffer (pipelining included).
                    let mut start = 0;
                    while let Some(end) = find_head_end(&buf[start..filled]) {
                        start += end;
                        out.extend_from_slice(&response);
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    buf.copy_within(start..filled, 0);
                    filled -= start;
                    if !out.is_empty() {
                        if stream.write_all(&out).await.is_err() {
                            return;
                        }
                        out.clear();
                    }
                }
            });
        })
        .await
    }

    /// Requests received so far (any method).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Stop accepting new connections. Open connections end when their clients close them.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.accept.take() {
            let _ = h.await;
        }
    }
}

impl Drop for TrivialServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Length up to and including the first `\r\n\r\n`, if a whole head is there.
fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn respond(method: &Method, body: &Bytes) -> Response<Full<Bytes>> {
    let (status, body) = if method == Method::GET {
        (StatusCode::OK, body.clone())
    } else {
        (StatusCode::METHOD_NOT_ALLOWED, Bytes::from_static(br#"{"errors":[]}"#))
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_found_only_when_complete() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET"), Some(27));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    #[test]
    fn body_is_kv_shaped_json() {
        let v: serde_json::Value = serde_json::from_slice(&kv_read_body(10)).unwrap();
        assert_eq!(v["data"]["data"]["value"], "xxxxxxxxxx");
        assert_eq!(v["lease_id"], "");
    }
}
