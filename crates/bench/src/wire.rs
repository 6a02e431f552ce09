//! The load path's HTTP/1.1 client: prebuilt request bytes out, responses framed and dropped.
//!
//! Setup, teardown and serve-trivial use hyper; the load path does not. A load generator has
//! to cost far less per request than the server it measures, and on loopback most of a
//! request's cost is already the kernel's. Here each request's bytes (request line, `Host`,
//! `X-Vault-Token`, body) are built once before the run, so sending is one `write`; a response
//! is only framed (status, `Content-Length` or chunked, `Connection: close`), never decoded,
//! so receiving is usually one `read`. That is what wrk does, and it took about a fifth off
//! the tool's CPU per request compared with hyper's client (docs/benchmarks.md). Response
//! heads are parsed with `httparse`, the parser hyper itself uses.

use std::io;
use std::ops::Range;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::Target;

/// A response head larger than this is refused (Vault's are a few hundred bytes).
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;
/// A chunk-size or trailer line longer than this is refused.
const MAX_LINE: usize = 4096;
const INITIAL_BUF: usize = 16 * 1024;

/// Encode one request. `Content-Length` is sent whenever there is a body, and for methods
/// that normally carry one, so servers never wait for a body that is not coming.
pub fn encode_request(method: &str, path: &str, host: &str, token: Option<&[u8]>, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(128 + path.len() + body.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(token) = token {
        out.extend_from_slice(b"x-vault-token: ");
        out.extend_from_slice(token);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        out.extend_from_slice(b"content-type: application/json\r\n");
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Bytes::from(out)
}

#[derive(Debug)]
pub enum WireError {
    Io(io::Error),
    /// The server closed the connection before the response was complete.
    Closed,
    /// Not an HTTP/1.x response we can frame.
    Malformed(&'static str),
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "{e}"),
            WireError::Closed => f.write_str("connection closed mid-response"),
            WireError::Malformed(m) => f.write_str(m),
        }
    }
}

enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// One keep-alive connection. After an error, or a response that ends the connection,
/// [`is_closed`](WireConn::is_closed) is true and the caller reconnects.
pub struct WireConn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    closed: bool,
}

impl WireConn {
    pub async fn connect(target: &Target) -> io::Result<WireConn> {
        let stream = TcpStream::connect(&target.authority).await?;
        stream.set_nodelay(true)?;
        Ok(WireConn::new(stream))
    }

    fn new(stream: TcpStream) -> WireConn {
        WireConn { stream, buf: vec![0; INITIAL_BUF], start: 0, end: 0, closed: false }
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Send `request` (from [`encode_request`]) and read the whole response; returns its status.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<u16, WireError> {
        let r = self.exchange_inner(request).await;
        if r.is_err() {
            self.closed = true;
        }
        r
    }

    async fn exchange_inner(&mut self, request: &[u8]) -> Result<u16, WireError> {
        // Nothing is pipelined, so bytes left over from an earlier response are not ours.
        self.start = 0;
        self.end = 0;
        self.stream.write_all(request).await?;
        loop {
            let (status, framing, close) = self.read_head().await?;
            if (100..200).contains(&status) {
                continue; // interim response (100 Continue): the real one follows
            }
            match framing {
                Framing::Length(n) => self.skip(n).await?,
                Framing::Chunked => self.skip_chunked().await?,
                Framing::UntilClose => {
                    self.skip_to_eof().await?;
                    self.closed = true;
                }
            }
            if close {
                self.closed = true;
            }
            return Ok(status);
        }
    }

    /// Parse the next response head, consuming it: (status, body framing, connection ends).
    async fn read_head(&mut self) -> Result<(u16, Framing, bool), WireError> {
        loop {
            if self.end > self.start {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut headers);
                match resp.parse(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete(len)) => {
                        let status = resp.code.unwrap_or(0);
                        let head = frame(status, resp.version.unwrap_or(1), resp.headers)?;
                        self.start += len;
                        return Ok((status, head.0, head.1));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(_) => return Err(WireError::Malformed("malformed response head")),
                }
            }
            if self.end - self.start >= MAX_HEAD {
                return Err(WireError::Malformed("response head too large"));
            }
            self.fill().await?;
        }
    }

    /// Read more bytes into the buffer, making room first; EOF is [`WireError::Closed`].
    async fn fill(&mut self) -> Result<(), WireError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Only a head or line longer than the buffer gets here; both are bounded above.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(WireError::Closed);
        }
        self.end += n;
        Ok(())
    }

    /// Consume `n` body bytes without keeping them.
    async fn skip(&mut self, mut n: u64) -> Result<(), WireError> {
        loop {
            let avail = (self.end - self.start) as u64;
            if avail >= n {
                self.start += n as usize;
                return Ok(());
            }
            n -= avail;
            self.start = self.end;
            self.fill().await?;
        }
    }

    async fn skip_to_eof(&mut self) -> Result<(), WireError> {
        loop {
            self.start = self.end;
            match self.fill().await {
                Ok(()) => {}
                Err(WireError::Closed) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// The next CRLF-terminated line (without the CRLF), consumed.
    async fn line(&mut self) -> Result<Range<usize>, WireError> {
        loop {
            if let Some(i) = self.buf[self.start..self.end].windows(2).position(|w| w == b"\r\n") {
                let line = self.start..self.start + i;
                self.start += i + 2;
                return Ok(line);
            }
            if self.end - self.start > MAX_LINE {
                return Err(WireError::Malformed("chunked body line too long"));
            }
            self.fill().await?;
        }
    }

    async fn skip_chunked(&mut self) -> Result<(), WireError> {
        loop {
            let line = self.line().await?;
            let size = chunk_size(&self.buf[line])?;
            if size == 0 {
                // Trailer fields, then an empty line.
                while !self.line().await?.is_empty() {}
                return Ok(());
            }
            self.skip(size).await?;
            if !self.line().await?.is_empty() {
                return Err(WireError::Malformed("chunk not followed by CRLF"));
            }
        }
    }
}

/// Body framing and whether the connection ends after this response (RFC 9112 §6.3).
fn frame(status: u16, version: u8, headers: &[httparse::Header<'_>]) -> Result<(Framing, bool), WireError> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    // HTTP/1.0 closes unless it says keep-alive; 1.1 keeps alive unless it says close.
    let mut close = version == 0;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).ok().and_then(|s| s.trim().parse::<u64>().ok());
            match (v, length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Err(WireError::Malformed("invalid content-length")),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.split(|&b| b == b',').next_back().is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                    close = false;
                }
            }
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok((framing, close))
}

fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    // Chunk extensions (";name=value") are allowed and ignored.
    let hex = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
    std::str::from_utf8(hex)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 16)
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or(WireError::Malformed("invalid chunk size"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request with the next canned response, written in
    /// `piece`-byte writes (to split heads, chunk lines and bodies across reads), then
    /// closes after the last one. Returns the connection and what the server read.
    async fn canned<R: AsRef<[u8]> + Send + 'static>(responses: Vec<R>, piece: usize) -> (WireConn, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for resp in responses {
                // Read one request head (and its body, if any, by content-length).
                let mut buf = Vec::new();
                loop {
                    let mut b = [0u8; 4096];
                    let n = s.read(&mut b).await.unwrap();
                    if n == 0 {
                        return seen;
                    }
                    buf.extend_from_slice(&b[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        if buf.len() >= i + 4 + len {
                            break;
                        }
                    }
                }
                seen.extend_from_slice(&buf);
                for part in resp.as_ref().chunks(piece) {
                    s.write_all(part).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
            seen
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        (WireConn::new(stream), server)
    }

    const GET: &[u8] = b"GET /v1/x HTTP/1.1\r\nhost: h\r\n\r\n";

    #[tokio::test]
    async fn content_length_chunked_and_no_body_responses_on_one_connection() {
        for piece in [1, 3, 7, 4096] {
            let (mut c, server) = canned::<&[u8]>(
                vec![
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                    b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\n",
                    b"HTTP/1.1 204 No Content\r\n\r\n",
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                    b"HTTP/1.1 307 Temporary Redirect\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                ],
                piece,
            )
            .await;
            assert_eq!(c.exchange(GET).await.unwrap(), 200, "piece {piece}");
            assert_eq!(c.exchange(GET).await.unwrap(), 404, "piece {piece}");
            assert_eq!(c.exchange(GET).await.unwrap(), 204, "piece {piece}");
            assert_eq!(c.exchange(GET).await.unwrap(), 200, "piece {piece}");
            assert!(!c.is_closed());
            assert_eq!(c.exchange(GET).await.unwrap(), 307, "piece {piece}");
            assert!(c.is_closed(), "Connection: close must end the connection");
            assert_eq!(server.await.unwrap(), GET.repeat(5));
        }
    }

    #[tokio::test]
    async fn body_until_close_and_http10() {
        let (mut c, _s) = canned(vec![b"HTTP/1.0 200 OK\r\n\r\nall of this until EOF"], 4).await;
        assert_eq!(c.exchange(GET).await.unwrap(), 200);
        assert!(c.is_closed());
    }

    #[tokio::test]
    async fn truncated_and_malformed_responses_are_errors() {
        let (mut c, _s) = canned(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], 64).await;
        assert!(matches!(c.exchange(GET).await, Err(WireError::Closed)));
        assert!(c.is_closed());
        let (mut c, _s) = canned(vec![b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"], 64).await;
        assert!(matches!(c.exchange(GET).await, Err(WireError::Malformed("invalid content-length"))));
        let (mut c, _s) = canned(vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], 64).await;
        assert!(matches!(c.exchange(GET).await, Err(WireError::Malformed("invalid chunk size"))));
        let (mut c, _s) = canned(vec![b"SSH-2.0-OpenSSH\r\n\r\n"], 64).await;
        assert!(matches!(c.exchange(GET).await, Err(WireError::Malformed(_))));
    }

    /// One response: status, body length, chunked (with this chunk size) or not.
    fn render(status: u16, len: usize, chunk: Option<usize>) -> Vec<u8> {
        let body = vec![b'x'; len];
        let mut out = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n").into_bytes();
        match chunk {
            Some(size) => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
                for c in body.chunks(size) {
                    out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            None => {
                out.extend_from_slice(format!("content-length: {len}\r\n\r\n").as_bytes());
                out.extend_from_slice(&body);
            }
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Any sequence of well-formed responses, cut into any piece size, is framed
        /// exactly: each exchange returns its own status and the connection stays usable.
        #[test]
        fn any_responses_split_anywhere_are_framed_exactly(
            resps in proptest::collection::vec(
                (proptest::sample::select(vec![200u16, 204, 400, 403, 404, 500]), 0usize..20_000, proptest::option::of(1usize..5000)),
                1..6),
            piece in 1usize..9000,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let statuses: Vec<u16> = resps.iter().map(|r| r.0).collect();
            let rendered: Vec<Vec<u8>> = resps.iter().map(|&(st, len, chunk)| render(st, if st == 204 { 0 } else { len }, chunk)).collect();
            let got = rt.block_on(async move {
                let (mut c, _s) = canned(rendered, piece).await;
                let mut got = Vec::new();
                for _ in 0..statuses.len() {
                    got.push(c.exchange(GET).await.map_err(|e| e.to_string())?);
                    if c.is_closed() {
                        return Err("closed".to_string());
                    }
                }
                Ok::<_, String>(got)
            });
            proptest::prop_assert_eq!(got, Ok(resps.iter().map(|r| r.0).collect::<Vec<u16>>()));
        }
    }

    #[test]
    fn requests_are_encoded_once_with_their_headers() {
        let r = encode_request("POST", "/v1/kv/data/k", "127.0.0.1:8200", Some(b"s.tok"), b"{\"a\":1}");
        assert_eq!(
            &r[..],
            b"POST /v1/kv/data/k HTTP/1.1\r\nhost: 127.0.0.1:8200\r\nx-vault-token: s.tok\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
        );
        let r = encode_request("GET", "/v1/sys/health", "h", None, b"");
        assert_eq!(&r[..], b"GET /v1/sys/health HTTP/1.1\r\nhost: h\r\n\r\n");
        let r = encode_request("POST", "/v1/auth/token/create", "h", None, b"");
        assert!(r.ends_with(b"content-length: 0\r\n\r\n"));
    }
}
