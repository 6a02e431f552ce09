//! `socket` audit devices: each entry is sent as one line (`\n`-terminated)
//! over TCP, UDP or a unix stream socket, with Vault's options:
//!
//! | option         | default | meaning                                         |
//! |----------------|---------|-------------------------------------------------|
//! | `address`      | —       | `host:port`, or the socket path for `unix`      |
//! | `socket_type`  | `tcp`   | `tcp`, `udp` or `unix`                          |
//! | `write_timeout`| `2s`    | how long one write may take; `0` = no limit     |
//!
//! A write that fails reconnects and tries once more; a write that does not
//! finish within `write_timeout` is an error (the connection is dropped, as
//! part of the line may have gone out), so the core's fail-closed rule sees
//! it. Writes are serialised: lines arrive in the order they were written.

use crate::sink::{Options, Sink, SinkError};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio::sync::Mutex;

const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Unix,
}

enum Conn {
    Tcp(TcpStream),
    Udp(UdpSocket),
    Unix(UnixStream),
}

pub struct SocketSink {
    kind: Kind,
    address: String,
    /// `None`: no limit (`write_timeout = "0"`).
    timeout: Option<Duration>,
    conn: Mutex<Option<Conn>>,
}

pub async fn open(options: &Options) -> Result<Arc<dyn Sink>, SinkError> {
    let address = options
        .get("address")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| SinkError::Options("socket audit device: \"address\" is required".into()))?
        .clone();
    let kind = match options
        .get("socket_type")
        .map(String::as_str)
        .unwrap_or("tcp")
    {
        "tcp" => Kind::Tcp,
        "udp" => Kind::Udp,
        "unix" => Kind::Unix,
        other => {
            return Err(SinkError::Options(format!(
                "socket audit device: socket_type {other:?} is not one of tcp, udp, unix"
            )));
        }
    };
    let timeout = match options.get("write_timeout") {
        None => Some(DEFAULT_WRITE_TIMEOUT),
        Some(text) => match crate::duration::parse(text) {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => {
                return Err(SinkError::Options(format!(
                    "socket audit device: write_timeout {text:?} is not a duration"
                )));
            }
        },
    };
    let sink = SocketSink {
        kind,
        address,
        timeout,
        conn: Mutex::new(None),
    };
    // Like Vault, enabling a device whose peer is not there fails: the
    // operator learns at once instead of at the first request.
    let conn = sink.connect().await.map_err(|e| {
        SinkError::Options(format!(
            "socket audit device: cannot connect to {}: {e}",
            sink.address
        ))
    })?;
    *sink.conn.lock().await = Some(conn);
    Ok(Arc::new(sink))
}

impl SocketSink {
    async fn connect(&self) -> io::Result<Conn> {
        let connect = async {
            match self.kind {
                Kind::Tcp => {
                    let stream = TcpStream::connect(&self.address).await?;
                    // entries are whole lines written at once: send them now
                    stream.set_nodelay(true)?;
                    Ok(Conn::Tcp(stream))
                }
                Kind::Udp => {
                    let target = tokio::net::lookup_host(&self.address)
                        .await?
                        .next()
                        .ok_or_else(|| {
                            io::Error::new(io::ErrorKind::NotFound, "address resolves to nothing")
                        })?;
                    let local = if target.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    let socket = UdpSocket::bind(local).await?;
                    socket.connect(target).await?;
                    Ok(Conn::Udp(socket))
                }
                Kind::Unix => Ok(Conn::Unix(UnixStream::connect(&self.address).await?)),
            }
        };
        self.bounded(connect).await
    }

    /// Run `op` within the write timeout (if any).
    async fn bounded<T>(&self, op: impl Future<Output = io::Result<T>>) -> io::Result<T> {
        match self.timeout {
            None => op.await,
            Some(limit) => tokio::time::timeout(limit, op).await.map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out after {limit:?}"),
                )
            })?,
        }
    }

    async fn send(&self, conn: &mut Conn, framed: &[u8]) -> io::Result<()> {
        self.bounded(async {
            match conn {
                Conn::Tcp(stream) => {
                    if peer_sent_something(stream)? {
                        let _ = stream.try_read(&mut [0u8; 4096]);
                    }
                    stream.write_all(framed).await
                }
                Conn::Unix(stream) => {
                    if peer_sent_something(stream)? {
                        let _ = stream.try_read(&mut [0u8; 4096]);
                    }
                    stream.write_all(framed).await
                }
                Conn::Udp(socket) => {
                    let sent = socket.send(framed).await?;
                    if sent != framed.len() {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "datagram truncated",
                        ));
                    }
                    Ok(())
                }
            }
        })
        .await
    }
}

/// A stream peer never sends us anything, so a readable end-of-stream means
/// it closed the connection. Writing anyway would "succeed" into the kernel
/// buffer and the line would be lost; checking first lets the write
/// reconnect (or fail) instead. This asks the kernel directly (a
/// non-blocking peek) rather than tokio's readiness, which lags until the
/// runtime next polls. Returns whether the peer sent stray bytes (which the
/// caller discards).
fn peer_sent_something(stream: &impl std::os::fd::AsFd) -> io::Result<bool> {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    match socket2::SockRef::from(stream).peek(&mut buf) {
        Ok(0) => Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "peer closed the connection",
        )),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

#[async_trait::async_trait]
impl Sink for SocketSink {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        let mut framed = Vec::with_capacity(line.len() + 1);
        framed.extend_from_slice(line);
        framed.push(b'\n');

        let mut guard = self.conn.lock().await;
        let mut first_error = None;
        if let Some(conn) = guard.as_mut() {
            match self.send(conn, &framed).await {
                Ok(()) => return Ok(()),
                // part of the line may be out: do not send it twice
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    *guard = None;
                    return Err(write_error(&self.address, &e));
                }
                Err(e) => {
                    *guard = None;
                    first_error = Some(e);
                }
            }
        }
        // not connected, or the connection broke: reconnect and try once more
        let mut conn = self
            .connect()
            .await
            .map_err(|e| write_error(&self.address, &e))?;
        match self.send(&mut conn, &framed).await {
            Ok(()) => {
                if let Some(e) = first_error {
                    tracing::info!(address = %self.address, error = %e, "audit socket reconnected");
                }
                *guard = Some(conn);
                Ok(())
            }
            Err(e) => Err(write_error(&self.address, &e)),
        }
    }

    async fn reopen(&self) -> Result<(), SinkError> {
        // the next write connects afresh
        *self.conn.lock().await = None;
        Ok(())
    }

    async fn close(&self) {
        match self.conn.lock().await.take() {
            Some(Conn::Tcp(mut s)) => drop(s.shutdown().await),
            Some(Conn::Unix(mut s)) => drop(s.shutdown().await),
            _ => {}
        }
    }
}

fn write_error(address: &str, e: &io::Error) -> SinkError {
    SinkError::Write(format!("socket audit device {address}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::options as opts;

    #[tokio::test]
    async fn bad_options_are_rejected() {
        for (options, want) in [
            (opts(&[]), "\"address\" is required"),
            (
                opts(&[("address", "127.0.0.1:1"), ("socket_type", "sctp")]),
                "socket_type",
            ),
            (
                opts(&[("address", "127.0.0.1:1"), ("write_timeout", "soon")]),
                "write_timeout",
            ),
        ] {
            match open(&options).await {
                Err(SinkError::Options(text)) => assert!(text.contains(want), "{text}"),
                Err(other) => panic!("wrong error {other}"),
                Ok(_) => panic!("{options:?} accepted"),
            }
        }
    }

    #[tokio::test]
    async fn nobody_listening_fails_at_open() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let Err(SinkError::Options(text)) = open(&opts(&[("address", &address)])).await else {
            panic!("opened with nobody listening");
        };
        assert!(text.contains("cannot connect"), "{text}");
    }
}
