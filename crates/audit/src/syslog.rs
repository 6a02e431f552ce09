//! `syslog` audit devices: each entry goes to the local syslog daemon as one
//! message, the way Vault's (Go `log/syslog`) local writer sends it:
//!
//! `<PRI>Mmm dd hh:mm:ss TAG[PID]: ENTRY` (RFC 3164, no hostname: the local
//! daemon adds it), one datagram per entry, severity `info`.
//!
//! | option     | default  | meaning                                            |
//! |------------|----------|----------------------------------------------------|
//! | `facility` | `AUTH`   | syslog facility name (`AUTH`, `LOCAL0`... any case) |
//! | `tag`      | `coffer` | the program name in each message                   |
//!
//! The daemon's socket is the first of `/dev/log`, `/var/run/syslog`,
//! `/var/run/log` that exists; without one, opening fails. The option
//! `socket_path` (not in the user docs; for tests and unusual hosts) names
//! the socket directly.
//!
//! Each message is sent to the path afresh (an unconnected datagram socket),
//! so a restarted daemon is picked up without reopening.

use crate::sink::{Options, Sink, SinkError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixDatagram;

const SOCKET_PATHS: &[&str] = &["/dev/log", "/var/run/syslog", "/var/run/log"];
const DEFAULT_TAG: &str = "coffer";
/// A daemon that does not drain its socket must not hold a request forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Severity of every audit message: informational, as Vault logs them.
const SEVERITY_INFO: u8 = 6;

const FACILITIES: &[(&str, u8)] = &[
    ("KERN", 0),
    ("USER", 1),
    ("MAIL", 2),
    ("DAEMON", 3),
    ("AUTH", 4),
    ("SYSLOG", 5),
    ("LPR", 6),
    ("NEWS", 7),
    ("UUCP", 8),
    ("CRON", 9),
    ("AUTHPRIV", 10),
    ("FTP", 11),
    ("LOCAL0", 16),
    ("LOCAL1", 17),
    ("LOCAL2", 18),
    ("LOCAL3", 19),
    ("LOCAL4", 20),
    ("LOCAL5", 21),
    ("LOCAL6", 22),
    ("LOCAL7", 23),
];

pub struct SyslogSink {
    socket: UnixDatagram,
    path: PathBuf,
    /// `<PRI>`, computed once.
    priority: u8,
    tag: String,
}

pub async fn open(options: &Options) -> Result<Arc<dyn Sink>, SinkError> {
    let facility_name = options
        .get("facility")
        .map(String::as_str)
        .unwrap_or("AUTH");
    let facility = FACILITIES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(facility_name))
        .map(|(_, code)| *code)
        .ok_or_else(|| {
            SinkError::Options(format!(
                "syslog audit device: unknown facility {facility_name:?}"
            ))
        })?;
    let tag = options
        .get("tag")
        .cloned()
        .unwrap_or_else(|| DEFAULT_TAG.to_string());
    // the tag ends at the first blank or bracket in RFC 3164 parsers
    if tag.is_empty()
        || tag.len() > 32
        || !tag
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'[' && b != b':')
    {
        return Err(SyslogError::Tag.into());
    }
    let path = match options.get("socket_path") {
        Some(p) => PathBuf::from(p),
        None => SOCKET_PATHS
            .iter()
            .map(Path::new)
            .find(|p| p.exists())
            .map(Path::to_path_buf)
            .ok_or(SyslogError::NoDaemon)?,
    };
    let socket = UnixDatagram::unbound().map_err(|e| {
        SinkError::Options(format!("syslog audit device: cannot make a socket: {e}"))
    })?;
    let sink = SyslogSink {
        socket,
        path,
        priority: facility * 8 + SEVERITY_INFO,
        tag,
    };
    // a path that is there but is not a datagram socket, or that nobody
    // reads, fails now rather than at the first request; connecting checks
    // that without sending anything
    UnixDatagram::unbound()
        .and_then(|probe| probe.connect(&sink.path))
        .map_err(|e| {
            SinkError::Options(format!(
                "syslog audit device: cannot send to {}: {e}",
                sink.path.display()
            ))
        })?;
    Ok(Arc::new(sink))
}

#[derive(Debug)]
enum SyslogError {
    NoDaemon,
    Tag,
}

impl From<SyslogError> for SinkError {
    fn from(e: SyslogError) -> SinkError {
        SinkError::Options(match e {
            SyslogError::NoDaemon => format!(
                "syslog audit device: no local syslog socket on this host (looked for {})",
                SOCKET_PATHS.join(", ")
            ),
            SyslogError::Tag => {
                "syslog audit device: tag must be 1-32 printable characters without blanks, '[' or ':'".into()
            }
        })
    }
}

impl SyslogSink {
    fn message(&self, line: &[u8]) -> Vec<u8> {
        // RFC 3164 timestamps are local time, day padded with a blank
        let stamp = chrono::Local::now().format("%b %e %H:%M:%S");
        let head = format!(
            "<{}>{} {}[{}]: ",
            self.priority,
            stamp,
            self.tag,
            std::process::id()
        );
        let mut out = Vec::with_capacity(head.len() + line.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(line);
        out
    }
}

#[async_trait::async_trait]
impl Sink for SyslogSink {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        let message = self.message(line);
        let sent = tokio::time::timeout(WRITE_TIMEOUT, self.socket.send_to(&message, &self.path))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the syslog daemon did not take the entry",
                ))
            });
        match sent {
            Ok(n) if n == message.len() => Ok(()),
            Ok(_) => Err(SinkError::Write(
                "syslog audit device: message truncated".into(),
            )),
            // EMSGSIZE: the entry is larger than the socket takes in one datagram
            Err(e) => Err(SinkError::Write(format!(
                "syslog audit device {}: {e}",
                self.path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::options as opts;

    #[tokio::test]
    async fn bad_options_and_missing_socket() {
        let dir = std::env::temp_dir().join(format!("coffer-syslog-{}", std::process::id()));
        let missing = dir.join("nothing-here").to_string_lossy().into_owned();
        for (options, want) in [
            (
                opts(&[("facility", "LOCAL9"), ("socket_path", &missing)]),
                "unknown facility",
            ),
            (
                opts(&[("tag", "two words"), ("socket_path", &missing)]),
                "tag must be",
            ),
            (opts(&[("socket_path", &missing)]), "cannot send to"),
        ] {
            match open(&options).await {
                Err(SinkError::Options(text)) => assert!(text.contains(want), "{text}"),
                Err(other) => panic!("wrong error {other}"),
                Ok(_) => panic!("{options:?} accepted"),
            }
        }
    }

    #[test]
    fn no_daemon_message_names_the_paths() {
        let text = SinkError::from(SyslogError::NoDaemon).to_string();
        assert!(
            text.contains("/dev/log") && text.contains("no local syslog socket"),
            "{text}"
        );
    }
}
