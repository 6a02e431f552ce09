//! The server config file: Vault's syntax, in HCL (version 1) or JSON.
//!
//! The file is parsed by `coffer-hcl` into a tree that keeps the line of
//! every key (both for HCL and for JSON), then decoded here by hand so that
//! every unknown key and every bad value is reported with its line. Decoding
//! by hand rather than through serde also lets us accept Vault's loose value
//! forms (`tls_disable = "1"`, TTLs as integers or strings) in one place.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer_hcl::{Entry, Node, Value};

use crate::duration;

mod audit;
pub use audit::AuditDeviceConfig;
use crate::error::ConfigError;

mod telemetry;
pub use telemetry::{
    DEFAULT_MAXIMUM_GAUGE_CARDINALITY, DEFAULT_PROMETHEUS_RETENTION, DEFAULT_USAGE_GAUGE_PERIOD, TelemetryConfig,
};
mod alert;
pub use alert::{AlertConfig, AlertWebhookConfig};

/// Vault's default for both `default_lease_ttl` and `max_lease_ttl`: 32 days.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(768 * 3600);
/// A listener's `address` when none is given.
pub const DEFAULT_LISTENER_ADDRESS: &str = "127.0.0.1:8200";
/// A listener's `max_request_size` when none (or 0) is given: 32 MiB.
pub const DEFAULT_MAX_REQUEST_SIZE: u64 = 33_554_432;
/// `max_json_depth` default: 500 nested containers, Vault's default
/// (`CustomMaxJSONDepth`); it is also the most Coffer allows.
pub const DEFAULT_MAX_JSON_DEPTH: usize = 500;
/// The deepest `max_json_depth` may be set. Storage readers accept this plus
/// a fixed headroom (`coffer_core::json::STORED_MAX_DEPTH`), so whatever a
/// listener accepts can be read back; it also bounds the recursion of
/// serde_json's parser and of dropping a parsed value.
pub const MAX_JSON_DEPTH_CEILING: usize = 500;
/// `max_json_string_value_length` default: 1 MiB, as Vault.
pub const DEFAULT_MAX_JSON_STRING_VALUE_LENGTH: u64 = 1_048_576;
/// `max_json_object_entry_count` default, as Vault.
pub const DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT: u64 = 10_000;
/// `max_json_array_element_count` default, as Vault.
pub const DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT: u64 = 10_000;
/// `max_request_json_memory` default: 32 MiB + 512 KiB, as OpenBao.
pub const DEFAULT_MAX_REQUEST_JSON_MEMORY: u64 = 34_078_720;
/// `max_connections` default (Coffer's own option): open connections per listener.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 16_384;
/// Vault's `http_idle_timeout` default.
pub const DEFAULT_HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Vault's `http_read_timeout` default.
pub const DEFAULT_HTTP_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Vault's `http_read_header_timeout` default.
pub const DEFAULT_HTTP_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A whole server config file, with defaults filled in and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// The one `storage` block.
    pub storage: StorageConfig,
    /// One or more `listener "tcp"` blocks, in file order.
    pub listeners: Vec<ListenerConfig>,
    /// The `seal` block, if any (only `shamir` for now; none means Shamir).
    pub seal: Option<SealConfig>,
    pub api_addr: Option<String>,
    pub cluster_addr: Option<String>,
    pub cluster_name: Option<String>,
    /// Default 768h; a zero value in the file means the default, as in Vault.
    pub default_lease_ttl: Duration,
    /// Default 768h; a zero value in the file means the default, as in Vault.
    pub max_lease_ttl: Duration,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    pub disable_mlock: bool,
    pub ui: bool,
    pub pid_file: Option<PathBuf>,
    pub disable_cache: bool,
    /// The `telemetry` stanza; `None` when the file has none (then the
    /// Prometheus format is off, as in Vault).
    pub telemetry: Option<TelemetryConfig>,
    /// `alert "<name>" { ... }` blocks (docs/alerts.md), in file order.
    pub alerts: Vec<AlertConfig>,
    /// `audit "<type>" "<path>" { ... }` blocks (server/audit.rs).
    pub audit: Vec<AuditDeviceConfig>,
    /// `sys/audit` may enable/disable devices (default true, Vault's behaviour; OpenBao's default is false).
    pub unsafe_allow_api_audit_creation: bool,
}

/// `storage "<kind>" { ... }`.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// `inmem`, `file` or `raft`.
    pub kind: String,
    /// Scalar options as strings (`path`, `node_id`, ...). For `file`,
    /// `path` is always present.
    pub options: BTreeMap<String, String>,
    /// raft only: each `retry_join { ... }` block's options as strings.
    pub retry_join: Vec<BTreeMap<String, String>>,
    /// Line of the `storage` block.
    pub line: usize,
}

/// Options that may hold key material inline; `Debug` does not print them.
const SECRET_OPTIONS: &[&str] = &["leader_client_key"];

fn redacted(map: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    map.iter()
        .map(|(k, v)| {
            let shown = if SECRET_OPTIONS.contains(&k.as_str()) {
                "[redacted]"
            } else {
                v.as_str()
            };
            (k.as_str(), shown)
        })
        .collect()
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageConfig")
            .field("kind", &self.kind)
            .field("options", &redacted(&self.options))
            .field(
                "retry_join",
                &self.retry_join.iter().map(redacted).collect::<Vec<_>>(),
            )
            .field("line", &self.line)
            .finish()
    }
}

/// `listener "tcp" { ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Always `tcp` for now.
    pub kind: String,
    /// `host:port` to serve the API on. Default `127.0.0.1:8200`.
    pub address: String,
    /// `host:port` for cluster traffic; when unset the server derives it
    /// (Vault: the API port + 1).
    pub cluster_address: Option<String>,
    /// Serve plain HTTP. Default false (TLS, which needs cert and key files).
    pub tls_disable: bool,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Default TLS 1.2.
    pub tls_min_version: TlsVersion,
    /// Largest request body accepted, in bytes; `None` means no limit
    /// (a negative value in the file). Default 32 MiB (also for 0).
    pub max_request_size: Option<u64>,
    /// How long a client may take to send a request's headers (slow-header
    /// protection; on a new connection, from accept). Default 10s, as Vault.
    pub http_read_header_timeout: Duration,
    /// How long a request's body may take to arrive. Default 30s, as Vault.
    pub http_read_timeout: Duration,
    /// How long a connection may stay silent between requests. Default 5m, as Vault.
    pub http_idle_timeout: Duration,
    /// Open connections at once; more are refused (503 and closed). Default 16384.
    pub max_connections: u64,
    /// JSON body limits (Vault's `max_json_*`, OpenBao's `max_request_json_*`);
    /// `None` = unlimited (a negative value in the file).
    pub max_json_depth: usize,
    pub max_json_string_value_length: Option<u64>,
    pub max_json_object_entry_count: Option<u64>,
    pub max_json_array_element_count: Option<u64>,
    pub max_request_json_memory: Option<u64>,
    /// Default unlimited (OpenBao's default is 1000; Vault has no such limit).
    pub max_request_json_strings: Option<u64>,
    /// `telemetry { unauthenticated_metrics_access = true }`: `sys/metrics`
    /// answers without a token on this listener (Vault's option). Default false.
    pub unauthenticated_metrics_access: bool,
    /// Line of the `listener` block.
    pub line: usize,
}

/// `seal "<kind>" {}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealConfig {
    /// Always `shamir` for now.
    pub kind: String,
    pub line: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The name as `tracing`'s filters spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// Vault's spellings, any case: trace, debug, info (or notice), warn (or
    /// warning), err (or error).
    pub fn parse(s: &str) -> Option<LogLevel> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" | "notice" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            "err" | "error" => LogLevel::Error,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Standard,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

/// Read and parse a config file. It is JSON if its name ends in `.json`
/// (any case) or its text starts with `{`, else HCL. Error messages name the file as `path` spells it.
pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
    load_as(path, false)
}

/// A config file for `server -dev`: it may leave out `storage` (then
/// `inmem`) and `listener` blocks, which dev mode provides.
pub fn load_dev(path: &Path) -> Result<ServerConfig, ConfigError> {
    load_as(path, true)
}

fn load_as(path: &Path, dev: bool) -> Result<ServerConfig, ConfigError> {
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse(&src, &file, json, dev)
}

/// Parse config text; `file_name` is only used in error messages. With
/// `json` false the text is HCL, or JSON if it starts with `{`.
pub fn parse_str(src: &str, file_name: &str, json: bool) -> Result<ServerConfig, ConfigError> {
    parse(src, file_name, json, false)
}

fn parse(src: &str, file_name: &str, json: bool, dev: bool) -> Result<ServerConfig, ConfigError> {
    // Like HCL1 (and so Vault), an "HCL" file whose text starts with `{` is
    // read as JSON.
    let parsed = if json {
        coffer_hcl::parse_json(src)
    } else {
        coffer_hcl::parse_any(src)
    };
    let root = parsed.map_err(|e| ConfigError::Syntax {
        file: file_name.to_string(),
        line: e.line,
        col: e.col,
        message: e.message,
    })?;
    let entries = root.as_object().ok_or_else(|| ConfigError::Syntax {
        file: file_name.to_string(),
        line: root.line,
        col: root.col,
        message: "the file must hold an object of settings".into(),
    })?;
    Decoder { file: file_name, dev }.server(entries)
}

// ---------------------------------------------------------------------------
// Decoding

/// Vault server options that Coffer does not implement (yet); naming them
/// in the error saves a trip to the docs.
const VAULT_ONLY_TOP: &[&str] = &[
    "plugin_directory",
    "plugin_tmpdir",
    "plugin_file_uid",
    "plugin_file_permissions",
    "service_registration",
    "disable_clustering",
    "cache_size",
    "raw_storage_endpoint",
    "introspection_endpoint",
    "disable_sealwrap",
    "disable_performance_standby",
    "disable_printable_check",
    "enable_response_header_hostname",
    "enable_response_header_raft_node_id",
    "license_path",
    "log_file",
    "log_rotate_duration",
    "log_rotate_bytes",
    "log_rotate_max_files",
    "log_requests_level",
    "user_lockout",
    "entropy",
    "replication",
    "cluster_cipher_suites",
    "detect_deadlocks",
    "experiments",
    "imprecise_lease_role_tracking",
    "administrative_namespace_path",
    "api_addr_env",
];

const VAULT_ONLY_LISTENER: &[&str] = &[
    "tls_max_version",
    "tls_cipher_suites",
    "tls_prefer_server_cipher_suites",
    "tls_require_and_verify_client_cert",
    "tls_client_ca_file",
    "tls_disable_client_certs",
    "proxy_protocol_behavior",
    "proxy_protocol_authorized_addrs",
    "x_forwarded_for_authorized_addrs",
    "x_forwarded_for_hop_skips",
    "x_forwarded_for_reject_not_authorized",
    "x_forwarded_for_reject_not_present",
    "http_write_timeout",
    "max_request_duration",
    "profiling",
    "inflight_requests_logging",
    "custom_response_headers",
    "disable_replication_status_endpoints",
    "redact_addresses",
    "redact_cluster_name",
    "redact_version",
    "chroot_namespace",
    "require_request_header",
    "disable_request_limiter",
];

/// raft options Vault documents; kept as strings for the raft storage.
const RAFT_OPTIONS: &[&str] = &[
    "path",
    "node_id",
    "performance_multiplier",
    "trailing_logs",
    "snapshot_threshold",
    "snapshot_interval",
    "max_entry_size",
    "max_mount_and_namespace_table_entry_size",
    "max_batch_entries",
    "max_batch_size",
    "autopilot_reconcile_interval",
    "autopilot_update_interval",
    "autopilot_upgrade_version",
    "autopilot_redundancy_zone",
    "retry_join_as_non_voter",
    "raft_wal",
    "raft_log_verifier_enabled",
    "raft_log_verification_interval",
    "snapshot_delay",
];

const RETRY_JOIN_OPTIONS: &[&str] = &[
    "leader_api_addr",
    "auto_join",
    "auto_join_scheme",
    "auto_join_port",
    "leader_tls_servername",
    "leader_ca_cert_file",
    "leader_client_cert_file",
    "leader_client_key_file",
    "leader_ca_cert",
    "leader_client_cert",
    "leader_client_key",
];

struct Decoder<'a> {
    file: &'a str,
    /// `server -dev -config=...`: storage and listeners come from dev mode,
    /// so the file may leave them out (as Vault's and OpenBao's dev modes).
    dev: bool,
}

/// A labelled block (`listener "tcp" { body }`), flattened out of either the
/// HCL or the JSON shape.
struct Block<'a> {
    kind: &'a str,
    line: usize,
    body: &'a [Entry],
}

/// Where in the file we are, for messages: `None` at the top level,
/// `Some("listener \"tcp\"")` inside a block.
type Scope<'s> = Option<&'s str>;

impl<'a> Decoder<'a> {
    fn invalid(&self, line: usize, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            line,
            key: key.to_string(),
            message,
        }
    }

    /// A bad value: `key: problem`, prefixed by the block it is in.
    fn bad(&self, scope: Scope, e: &Entry, problem: impl fmt::Display) -> ConfigError {
        let message = match scope {
            Some(s) => format!("{s}: {}: {problem}", e.key),
            None => format!("{}: {problem}", e.key),
        };
        self.invalid(e.line, &e.key, message)
    }

    fn unknown(&self, scope: Scope, e: &Entry, vault_only: &[&str]) -> ConfigError {
        let mut message = format!("unknown key {:?}", e.key);
        if let Some(s) = scope {
            message.push_str(&format!(" in {s}"));
        }
        if vault_only.contains(&e.key.as_str()) {
            message.push_str(" (a Vault option Coffer does not support yet)");
        }
        self.invalid(e.line, &e.key, message)
    }

    fn missing(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Missing {
            file: self.file.to_string(),
            message: message.into(),
        }
    }

    /// Reject a second occurrence of a plain setting.
    fn once<'e>(
        &self,
        seen: &mut HashMap<&'e str, usize>,
        scope: Scope,
        e: &'e Entry,
    ) -> Result<(), ConfigError> {
        match seen.insert(e.key.as_str(), e.line) {
            Some(first) => Err(self.bad(
                scope,
                e,
                format!("set more than once (first at line {first})"),
            )),
            None => Ok(()),
        }
    }

    fn server(&self, entries: &[Entry]) -> Result<ServerConfig, ConfigError> {
        // Blocks are decoded where they stand, so the first error reported
        // is the first one in the file.
        let mut storages: Vec<StorageConfig> = Vec::new();
        let mut listeners: Vec<ListenerConfig> = Vec::new();
        let mut seals: Vec<SealConfig> = Vec::new();
        let mut alerts: Vec<AlertConfig> = Vec::new();
        let mut blocks = Vec::new();
        let mut seen = HashMap::new();
        let mut api_addr = None;
        let mut cluster_addr = None;
        let mut cluster_name = None;
        let mut default_ttl: Option<(Duration, usize)> = None;
        let mut max_ttl: Option<(Duration, usize)> = None;
        let mut log_level = LogLevel::default();
        let mut log_format = LogFormat::default();
        let mut disable_mlock = false;
        let mut ui = false;
        let mut pid_file = None;
        let mut disable_cache = false;
        let mut telemetry = None;
        let mut audits: Vec<AuditDeviceConfig> = Vec::new();
        let mut allow_api_audit = true;

        for e in entries {
            match e.key.as_str() {
                // `backend` is Vault's old name for `storage`.
                "storage" | "backend" => {
                    blocks.clear();
                    self.blocks(e, "file", &mut blocks)?;
                    for b in &blocks {
                        storages.push(self.storage(b)?);
                    }
                }
                "listener" => {
                    blocks.clear();
                    self.blocks(e, "tcp", &mut blocks)?;
                    for b in &blocks {
                        listeners.push(self.listener(b)?);
                    }
                }
                "seal" => {
                    blocks.clear();
                    self.blocks(e, "shamir", &mut blocks)?;
                    for b in &blocks {
                        seals.push(self.seal(b)?);
                    }
                }
                "alert" => {
                    blocks.clear();
                    self.blocks(e, "denied-burst", &mut blocks)?;
                    for b in &blocks {
                        let a = self.alert(b)?;
                        if let Some(first) = alerts.iter().find(|x| x.name == a.name) {
                            return Err(self.invalid(
                                a.line,
                                "alert",
                                format!("alert {:?}: set more than once (first at line {})", a.name, first.line),
                            ));
                        }
                        alerts.push(a);
                    }
                }
                "audit" => {
                    blocks.clear();
                    self.blocks(e, "file", &mut blocks)?;
                    for b in &blocks {
                        audits.push(self.audit(b)?);
                    }
                }
                "ha_storage" | "ha_backend" => {
                    return Err(self.invalid(
                        e.line,
                        &e.key,
                        format!(
                            "{} is not supported: use storage \"raft\", which provides high availability itself",
                            e.key
                        ),
                    ));
                }
                key => {
                    self.once(&mut seen, None, e)?;
                    match key {
                        "api_addr" => api_addr = Some(self.string(None, e)?),
                        "cluster_addr" => cluster_addr = Some(self.string(None, e)?),
                        "cluster_name" => cluster_name = Some(self.string(None, e)?),
                        "pid_file" => pid_file = Some(PathBuf::from(self.string(None, e)?)),
                        "default_lease_ttl" => {
                            default_ttl = Some((self.duration(None, e)?, e.line))
                        }
                        "max_lease_ttl" => max_ttl = Some((self.duration(None, e)?, e.line)),
                        "disable_mlock" => disable_mlock = self.boolean(None, e)?,
                        "ui" => ui = self.boolean(None, e)?,
                        "disable_cache" => disable_cache = self.boolean(None, e)?,
                        "telemetry" => telemetry = Some(self.telemetry(e)?),
                        "unsafe_allow_api_audit_creation" => allow_api_audit = self.boolean(None, e)?,
                        // OpenBao's gate for the `prefix` option; Coffer allows prefixes (Vault), the key is accepted.
                        "allow_audit_log_prefixing" => {
                            self.boolean(None, e)?;
                        }
                        "log_level" => {
                            let s = self.string(None, e)?;
                            log_level = LogLevel::parse(&s).ok_or_else(|| {
                                self.bad(
                                    None,
                                    e,
                                    format!("expected one of trace, debug, info, warn, error; found {s:?}"),
                                )
                            })?;
                        }
                        "log_format" => {
                            let s = self.string(None, e)?;
                            log_format = match s.trim().to_ascii_lowercase().as_str() {
                                "" | "standard" => LogFormat::Standard,
                                "json" => LogFormat::Json,
                                _ => {
                                    return Err(self.bad(
                                        None,
                                        e,
                                        format!("expected \"standard\" or \"json\", found {s:?}"),
                                    ));
                                }
                            };
                        }
                        _ => return Err(self.unknown(None, e, VAULT_ONLY_TOP)),
                    }
                }
            }
        }

        let storage = match storages.as_slice() {
            [] if self.dev => StorageConfig {
                kind: "inmem".into(),
                options: BTreeMap::new(),
                retry_join: Vec::new(),
                line: 0,
            },
            [] => {
                return Err(self.missing(
                    "no storage block: exactly one is required, e.g. storage \"file\" { path = \"/var/lib/coffer\" }",
                ));
            }
            [only] => only.clone(),
            [first, second, ..] => {
                return Err(self.invalid(
                    second.line,
                    "storage",
                    format!(
                        "storage: only one storage block is allowed (another is at line {})",
                        first.line
                    ),
                ));
            }
        };

        if listeners.is_empty() && !self.dev {
            return Err(self.missing(
                "no listener block: at least one is required, e.g. listener \"tcp\" { address = \"127.0.0.1:8200\" }",
            ));
        }

        let seal = match seals.as_slice() {
            [] => None,
            [only] => Some(only.clone()),
            [first, second, ..] => {
                return Err(self.invalid(
                    second.line,
                    "seal",
                    format!(
                        "seal: only one seal block is supported (another is at line {})",
                        first.line
                    ),
                ));
            }
        };

        // Zero means "the default", as in Vault.
        let pick = |v: Option<(Duration, usize)>| match v {
            Some((d, _)) if !d.is_zero() => d,
            _ => DEFAULT_LEASE_TTL,
        };
        let default_lease_ttl = pick(default_ttl);
        let max_lease_ttl = pick(max_ttl);
        if default_lease_ttl > max_lease_ttl {
            let shown_default = duration::format_go(default_lease_ttl);
            let shown_max = duration::format_go(max_lease_ttl);
            let (line, message) = match (default_ttl, max_ttl) {
                (Some((_, line)), _) => (
                    line,
                    format!(
                        "default_lease_ttl: {shown_default} is longer than max_lease_ttl ({shown_max})"
                    ),
                ),
                (None, Some((_, line))) => (
                    line,
                    format!(
                        "default_lease_ttl: the default, {shown_default}, is longer than max_lease_ttl ({shown_max}); set default_lease_ttl too"
                    ),
                ),
                (None, None) => unreachable!("both defaults are equal"),
            };
            return Err(self.invalid(line, "default_lease_ttl", message));
        }

        audit::check_unique(self, &audits)?;
        Ok(ServerConfig {
            storage,
            listeners,
            seal,
            api_addr,
            cluster_addr,
            cluster_name,
            default_lease_ttl,
            max_lease_ttl,
            log_level,
            log_format,
            disable_mlock,
            ui,
            pid_file,
            disable_cache,
            telemetry,
            alerts,
            audit: audits,
            unsafe_allow_api_audit_creation: allow_api_audit,
        })
    }

    /// Collect the labelled blocks under `e` (`storage "file" {..}` in HCL;
    /// `"storage": {"file": {..}}` or a list of such objects in JSON).
    fn blocks<'e>(
        &self,
        e: &'e Entry,
        example: &str,
        out: &mut Vec<Block<'e>>,
    ) -> Result<(), ConfigError> {
        let shape = || {
            self.invalid(
                e.line,
                &e.key,
                format!(
                    "{}: expected a block such as {} \"{example}\" {{ ... }}",
                    e.key, e.key
                ),
            )
        };
        let labelled: Vec<&Node> = match &e.value.value {
            Value::Object(_) => vec![&e.value],
            Value::List(items) => items.iter().collect(),
            _ => return Err(shape()),
        };
        for node in labelled {
            let labels = match &node.value {
                Value::Object(labels) if !labels.is_empty() => labels,
                _ => return Err(shape()),
            };
            for label in labels {
                let bodies: Vec<&Node> = match &label.value.value {
                    Value::Object(_) => vec![&label.value],
                    Value::List(items) => items.iter().collect(),
                    _ => return Err(shape()),
                };
                for body in bodies {
                    let Value::Object(entries) = &body.value else {
                        return Err(shape());
                    };
                    out.push(Block {
                        kind: &label.key,
                        line: label.line,
                        body: entries,
                    });
                }
            }
        }
        Ok(())
    }

    fn storage(&self, b: &Block) -> Result<StorageConfig, ConfigError> {
        let scope_text = format!("storage {:?}", b.kind);
        let scope = Some(scope_text.as_str());
        let mut options = BTreeMap::new();
        let mut retry_join = Vec::new();
        let mut seen = HashMap::new();
        match b.kind {
            "inmem" => {
                if let Some(e) = b.body.first() {
                    return Err(self.unknown(scope, e, &[]));
                }
            }
            "file" => {
                for e in b.body {
                    self.once(&mut seen, scope, e)?;
                    match e.key.as_str() {
                        "path" => {
                            let path = self.string(scope, e)?;
                            if path.is_empty() {
                                return Err(self.bad(scope, e, "must not be empty"));
                            }
                            options.insert(e.key.clone(), path);
                        }
                        _ => return Err(self.unknown(scope, e, &[])),
                    }
                }
                if !options.contains_key("path") {
                    return Err(self.invalid(
                        b.line,
                        "path",
                        "storage \"file\": path is required (the directory to keep data in)".into(),
                    ));
                }
            }
            "raft" => {
                for e in b.body {
                    if e.key == "retry_join" {
                        retry_join.extend(self.retry_join(e)?);
                        continue;
                    }
                    if !RAFT_OPTIONS.contains(&e.key.as_str()) {
                        return Err(self.unknown(scope, e, &[]));
                    }
                    self.once(&mut seen, scope, e)?;
                    options.insert(e.key.clone(), self.scalar(scope, e)?);
                }
            }
            other => {
                return Err(self.invalid(
                    b.line,
                    "storage",
                    format!(
                        "storage type {other:?} is not supported (supported: inmem, file, raft)"
                    ),
                ));
            }
        }
        Ok(StorageConfig {
            kind: b.kind.to_string(),
            options,
            retry_join,
            line: b.line,
        })
    }

    /// `retry_join { ... }` (repeatable) or, in JSON, a list of objects.
    fn retry_join(&self, e: &Entry) -> Result<Vec<BTreeMap<String, String>>, ConfigError> {
        let scope = Some("storage \"raft\" retry_join");
        let bodies: Vec<&Node> = match &e.value.value {
            Value::Object(_) => vec![&e.value],
            Value::List(items) => items.iter().collect(),
            _ => {
                return Err(self.bad(
                    Some("storage \"raft\""),
                    e,
                    "expected a block: retry_join { leader_api_addr = \"...\" }",
                ));
            }
        };
        let mut out = Vec::new();
        for body in bodies {
            let Value::Object(entries) = &body.value else {
                return Err(self.bad(
                    Some("storage \"raft\""),
                    e,
                    "expected a block: retry_join { leader_api_addr = \"...\" }",
                ));
            };
            let mut options = BTreeMap::new();
            let mut seen = HashMap::new();
            for opt in entries {
                if !RETRY_JOIN_OPTIONS.contains(&opt.key.as_str()) {
                    return Err(self.unknown(scope, opt, &[]));
                }
                self.once(&mut seen, scope, opt)?;
                options.insert(opt.key.clone(), self.scalar(scope, opt)?);
            }
            if !options.contains_key("leader_api_addr") && !options.contains_key("auto_join") {
                return Err(self.invalid(
                    body.line,
                    "retry_join",
                    "storage \"raft\" retry_join: one of leader_api_addr or auto_join is required"
                        .into(),
                ));
            }
            out.push(options);
        }
        Ok(out)
    }

    fn listener(&self, b: &Block) -> Result<ListenerConfig, ConfigError> {
        if b.kind != "tcp" {
            return Err(self.invalid(
                b.line,
                "listener",
                format!(
                    "listener type {:?} is not supported yet (only \"tcp\")",
                    b.kind
                ),
            ));
        }
        let scope = Some("listener \"tcp\"");
        let mut l = ListenerConfig {
            kind: b.kind.to_string(),
            address: DEFAULT_LISTENER_ADDRESS.to_string(),
            cluster_address: None,
            tls_disable: false,
            tls_cert_file: None,
            tls_key_file: None,
            tls_min_version: TlsVersion::default(),
            max_request_size: Some(DEFAULT_MAX_REQUEST_SIZE),
            http_read_header_timeout: DEFAULT_HTTP_READ_HEADER_TIMEOUT,
            http_read_timeout: DEFAULT_HTTP_READ_TIMEOUT,
            http_idle_timeout: DEFAULT_HTTP_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            max_json_string_value_length: Some(DEFAULT_MAX_JSON_STRING_VALUE_LENGTH),
            max_json_object_entry_count: Some(DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT),
            max_json_array_element_count: Some(DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT),
            max_request_json_memory: Some(DEFAULT_MAX_REQUEST_JSON_MEMORY),
            max_request_json_strings: None,
            unauthenticated_metrics_access: false,
            line: b.line,
        };
        let mut seen = HashMap::new();
        for e in b.body {
            self.once(&mut seen, scope, e)?;
            match e.key.as_str() {
                "address" => l.address = self.host_port(scope, e)?,
                "cluster_address" => l.cluster_address = Some(self.host_port(scope, e)?),
                "tls_disable" => l.tls_disable = self.boolean(scope, e)?,
                "tls_cert_file" => l.tls_cert_file = Some(self.string(scope, e)?.into()),
                "tls_key_file" => l.tls_key_file = Some(self.string(scope, e)?.into()),
                "tls_min_version" => {
                    let s = self.string(scope, e)?;
                    l.tls_min_version = match s.as_str() {
                        "tls12" => TlsVersion::Tls12,
                        "tls13" => TlsVersion::Tls13,
                        "tls10" | "tls11" => {
                            return Err(self.bad(
                                scope,
                                e,
                                format!("{s:?} is not supported; use \"tls12\" or \"tls13\""),
                            ));
                        }
                        _ => {
                            return Err(self.bad(
                                scope,
                                e,
                                format!("expected \"tls12\" or \"tls13\", found {s:?}"),
                            ));
                        }
                    };
                }
                "max_request_size" => {
                    let n = self.int(scope, e, "an integer number of bytes")?;
                    l.max_request_size = match n {
                        0 => Some(DEFAULT_MAX_REQUEST_SIZE),
                        n if n < 0 => None,
                        n => Some(n as u64),
                    };
                }
                "http_read_header_timeout" => l.http_read_header_timeout = self.timeout(scope, e)?,
                "http_read_timeout" => l.http_read_timeout = self.timeout(scope, e)?,
                "http_idle_timeout" => l.http_idle_timeout = self.timeout(scope, e)?,
                "max_connections" => {
                    let n = self.int(scope, e, "a positive number of connections")?;
                    if n <= 0 {
                        return Err(self.bad(scope, e, format!("must be greater than zero, found {n}")));
                    }
                    l.max_connections = n as u64;
                }
                "max_json_depth" => {
                    let n = self.int(scope, e, "an integer nesting depth")?;
                    l.max_json_depth = match n {
                        0 => DEFAULT_MAX_JSON_DEPTH,
                        n if n < 0 || n as u64 > MAX_JSON_DEPTH_CEILING as u64 => {
                            return Err(self.bad(
                                scope,
                                e,
                                format!("must be between 1 and {MAX_JSON_DEPTH_CEILING} (0 means the default, {DEFAULT_MAX_JSON_DEPTH}), found {n}"),
                            ));
                        }
                        n => n as usize,
                    };
                }
                "max_json_string_value_length" => {
                    l.max_json_string_value_length = self.limit(scope, e, DEFAULT_MAX_JSON_STRING_VALUE_LENGTH)?
                }
                "max_json_object_entry_count" => {
                    l.max_json_object_entry_count = self.limit(scope, e, DEFAULT_MAX_JSON_OBJECT_ENTRY_COUNT)?
                }
                "max_json_array_element_count" => {
                    l.max_json_array_element_count = self.limit(scope, e, DEFAULT_MAX_JSON_ARRAY_ELEMENT_COUNT)?
                }
                "max_request_json_memory" => {
                    l.max_request_json_memory = self.limit(scope, e, DEFAULT_MAX_REQUEST_JSON_MEMORY)?
                }
                "max_request_json_strings" => {
                    // 0 means the default, which is no limit here.
                    l.max_request_json_strings = match self.int(scope, e, "an integer")? {
                        n if n <= 0 => None,
                        n => Some(n as u64),
                    };
                }
                "telemetry" => l.unauthenticated_metrics_access = self.listener_telemetry(e)?,
                _ => return Err(self.unknown(scope, e, VAULT_ONLY_LISTENER)),
            }
        }
        if !l.tls_disable {
            let missing: Vec<&str> = [
                ("tls_cert_file", l.tls_cert_file.is_none()),
                ("tls_key_file", l.tls_key_file.is_none()),
            ]
            .into_iter()
            .filter_map(|(k, missing)| missing.then_some(k))
            .collect();
            if !missing.is_empty() {
                return Err(self.invalid(
                    b.line,
                    missing[0],
                    format!(
                        "listener \"tcp\": TLS is on (tls_disable is false), so tls_cert_file and tls_key_file are both required; missing {}",
                        missing.join(" and ")
                    ),
                ));
            }
        }
        Ok(l)
    }

    fn seal(&self, b: &Block) -> Result<SealConfig, ConfigError> {
        if b.kind != "shamir" {
            return Err(self.invalid(
                b.line,
                "seal",
                format!(
                    "seal type {:?} is not supported yet (only \"shamir\")",
                    b.kind
                ),
            ));
        }
        if let Some(e) = b.body.first() {
            return Err(self.unknown(Some("seal \"shamir\""), e, &[]));
        }
        Ok(SealConfig {
            kind: b.kind.to_string(),
            line: b.line,
        })
    }

    // -- scalar values ------------------------------------------------------

    fn string(&self, scope: Scope, e: &Entry) -> Result<String, ConfigError> {
        match &e.value.value {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.bad(
                scope,
                e,
                format!("expected a string, found {}", article(other.type_name())),
            )),
        }
    }

    /// Any scalar, as a string (for raft's options, kept loose for now).
    fn scalar(&self, scope: Scope, e: &Entry) -> Result<String, ConfigError> {
        match &e.value.value {
            Value::String(s) => Ok(s.clone()),
            Value::Int(i) => Ok(i.to_string()),
            Value::Float(f) => Ok(f.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(self.bad(
                scope,
                e,
                format!(
                    "expected a single value, found {}",
                    article(other.type_name())
                ),
            )),
        }
    }

    /// Vault's loose booleans: true/false, the strings strconv.ParseBool
    /// takes ("true", "1", "f", ...), and the integers 0 and 1.
    fn boolean(&self, scope: Scope, e: &Entry) -> Result<bool, ConfigError> {
        match &e.value.value {
            Value::Bool(b) => Ok(*b),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            Value::String(s) => match s.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
                _ => Err(self.bad(scope, e, format!("expected true or false, found {s:?}"))),
            },
            Value::Int(i) => Err(self.bad(scope, e, format!("expected true or false, found {i}"))),
            other => Err(self.bad(
                scope,
                e,
                format!(
                    "expected true or false, found {}",
                    article(other.type_name())
                ),
            )),
        }
    }

    fn duration(&self, scope: Scope, e: &Entry) -> Result<Duration, ConfigError> {
        let result = match &e.value.value {
            Value::String(s) => duration::parse(s),
            Value::Int(i) => duration::from_json(&serde_json::Value::from(*i)),
            Value::Float(f) => duration::from_json(&serde_json::Value::from(*f)),
            Value::Bool(b) => duration::from_json(&serde_json::Value::from(*b)),
            other => {
                let found = article(other.type_name());
                return Err(self.bad(scope, e, format!("expected a duration, found {found}")));
            }
        };
        result.map_err(|err| self.bad(scope, e, err))
    }

    /// A timeout: a duration greater than zero.
    fn timeout(&self, scope: Scope, e: &Entry) -> Result<Duration, ConfigError> {
        let d = self.duration(scope, e)?;
        if d.is_zero() {
            return Err(self.bad(scope, e, "must be greater than zero".to_string()));
        }
        Ok(d)
    }

    /// A size or count limit as Vault reads them: 0 = the default, negative =
    /// no limit.
    fn limit(&self, scope: Scope, e: &Entry, default: u64) -> Result<Option<u64>, ConfigError> {
        Ok(match self.int(scope, e, "an integer")? {
            0 => Some(default),
            n if n < 0 => None,
            n => Some(n as u64),
        })
    }

    /// An integer, or a string holding one (Vault accepts both).
    fn int(&self, scope: Scope, e: &Entry, what: &str) -> Result<i64, ConfigError> {
        match &e.value.value {
            Value::Int(i) => Ok(*i),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| self.bad(scope, e, format!("expected {what}, found {s:?}"))),
            other => Err(self.bad(
                scope,
                e,
                format!("expected {what}, found {}", article(other.type_name())),
            )),
        }
    }

    /// `host:port`, `[v6]:port` or `:port`.
    fn host_port(&self, scope: Scope, e: &Entry) -> Result<String, ConfigError> {
        let s = self.string(scope, e)?;
        let ok = s.rsplit_once(':').is_some_and(|(host, port)| {
            port.parse::<u16>().is_ok()
                && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')))
        });
        if !ok {
            return Err(self.bad(
                scope,
                e,
                format!("expected host:port (e.g. \"127.0.0.1:8200\"), found {s:?}"),
            ));
        }
        Ok(s)
    }
}

fn article(type_name: &str) -> String {
    match type_name {
        "integer" | "object" => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

#[cfg(test)]
mod tests;
