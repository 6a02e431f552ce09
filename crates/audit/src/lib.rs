//! Where audit entries go, and what can be proved about them afterwards.
//!
//! coffer-core turns each request and response into a Vault-format JSON
//! entry (it knows requests; this crate does not). Each enabled audit device
//! is a [`Device`]: an optional hash chain ([`chain`]) in front of a
//! [`Sink`] that puts the line somewhere (a file, a socket, syslog, an S3
//! bucket). The alert rules ([`alert`]) and the daily report ([`report`])
//! read the same entries.
//!
//! | module          | job                                                        |
//! |-----------------|------------------------------------------------------------|
//! | [`sink`]        | the `Sink` trait, device options, errors                   |
//! | [`device`]      | one enabled device: chain + sink, written in order         |
//! | [`file`]        | `file` devices (`stdout`, `discard`, reopen on SIGHUP)     |
//! | [`socket`]      | `socket` devices (tcp, udp, unix)                          |
//! | [`syslog`]      | `syslog` devices                                           |
//! | [`object_store`]| the `object-store` device: segments, spool, retention      |
//! | [`chain`]       | hash chains, signed checkpoints, verification              |
//! | [`alert`]       | alert rules over the audit stream, webhook deliveries      |
//! | [`report`]      | `coffer audit report`: the daily review                    |

pub mod alert;
pub mod chain;
pub mod device;
mod duration;
pub mod file;
pub mod object_store;
pub mod report;
pub mod sink;
pub mod socket;
pub mod syslog;

pub use device::Device;
pub use sink::{Options, Sink, SinkError, options};

use std::sync::Arc;

/// The device types `sys/audit/:path` accepts (Vault's names, plus
/// `object-store`).
pub const DEVICE_TYPES: &[&str] = &["file", "socket", "syslog", "object-store"];

/// Open the sink of a device of type `kind` with its `options` (as given to
/// `sys/audit/:path` or the config file's `audit` block). An unknown type or
/// a bad option is an error the caller shows as a 400.
pub async fn open_sink(kind: &str, options: &Options) -> Result<Arc<dyn Sink>, SinkError> {
    match kind {
        "file" => file::open(options).await,
        "socket" => socket::open(options).await,
        "syslog" => syslog::open(options).await,
        "object-store" => object_store::open(options).await,
        other => Err(SinkError::Options(format!("unknown audit device type {other:?}"))),
    }
}
