//! The one trait every device type implements.

use std::collections::BTreeMap;

/// A device's options as strings, as `sys/audit/:path` takes them
/// (`file_path`, `log_raw`, `address`, `bucket`, ...). Options the entry
/// format uses (`log_raw`, `hmac_accessor`, `prefix`, `format`, ...) are
/// read by coffer-core; a sink reads only its own and ignores the rest.
pub type Options = BTreeMap<String, String>;

/// Options from `(name, value)` pairs (tests, examples, callers building a
/// device in code).
pub fn options(pairs: &[(&str, &str)]) -> Options {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum SinkError {
    /// A bad or missing option: the enable request gets a 400 with this text.
    #[error("{0}")]
    Options(String),
    /// The device could not take the entry (disk full, socket gone, spool
    /// full...). The text must not contain the entry.
    #[error("{0}")]
    Write(String),
}

/// Where a device's lines go.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Write one entry: `line` is one JSON object, without a trailing
    /// newline (the sink adds its own framing). Return only once the line is
    /// as safe as this device makes it (file: handed to the OS; socket: sent;
    /// object store: in the spool or the store). The caller bounds the time.
    async fn write(&self, line: &[u8]) -> Result<(), SinkError>;

    /// Write several lines in order, as one write where the sink can (a
    /// file: one `write(2)`). On an error none of them counts as written.
    async fn write_batch(&self, lines: &[Vec<u8>]) -> Result<(), SinkError> {
        for l in lines {
            self.write(l).await?;
        }
        Ok(())
    }

    /// SIGHUP: reopen whatever can be reopened (a file after rotation).
    async fn reopen(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// The device is being disabled or the server stops: flush, upload what
    /// can be uploaded, stop background tasks.
    async fn close(&self) {}
}
