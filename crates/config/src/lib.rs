//! coffer-config: the server config file (HCL or JSON, in Vault's syntax)
//! and the duration syntax Vault uses for TTLs.
//!
//! - [`load`] / [`parse_str`] give a validated [`ServerConfig`]; every error
//!   names the file, the line and the key (`config.hcl:7: unknown key
//!   "tls_cert" in listener "tcp"`).
//! - [`duration`] parses and formats TTLs (`"768h"`, `3600`, `"768h0m0s"`).
//!
//! The user-facing reference is `docs/configuration.md`.

pub mod duration;
mod error;
mod server;

pub use error::ConfigError;
pub use server::{
    AlertConfig, AlertWebhookConfig,
    AuditDeviceConfig,
    DEFAULT_HTTP_IDLE_TIMEOUT, DEFAULT_HTTP_READ_HEADER_TIMEOUT, DEFAULT_HTTP_READ_TIMEOUT,
    DEFAULT_LEASE_TTL, DEFAULT_LISTENER_ADDRESS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT,
    DEFAULT_MAX_JSON_DEPTH, DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT, DEFAULT_MAX_JSON_STRING_VALUE_LENGTH,
    DEFAULT_MAX_REQUEST_JSON_MEMORY, DEFAULT_MAX_REQUEST_SIZE, ListenerConfig, MAX_JSON_DEPTH_CEILING,
    LogFormat, LogLevel, SealConfig, ServerConfig, StorageConfig, TelemetryConfig, TlsVersion, load, load_dev, parse_str,
    DEFAULT_PROMETHEUS_RETENTION, DEFAULT_USAGE_GAUGE_PERIOD, DEFAULT_MAXIMUM_GAUGE_CARDINALITY,
};
