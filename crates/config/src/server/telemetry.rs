//! The `telemetry` stanza (top level) and a listener's `telemetry { }` block,
//! as Vault spells them. Only the options that change what `sys/metrics`
//! serves are accepted; Vault's sink options (statsd, circonus, ...) are
//! named in the error so a Vault config says why it is refused.

use std::collections::HashMap;
use std::time::Duration;

use coffer_hcl::{Entry, Value};

use super::{Decoder, Scope};
use crate::error::ConfigError;

/// Vault's `prometheus_retention_time` default when a `telemetry` stanza is
/// present but does not set it.
pub const DEFAULT_PROMETHEUS_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Vault's `usage_gauge_period` default.
pub const DEFAULT_USAGE_GAUGE_PERIOD: Duration = Duration::from_secs(600);
/// Vault's `maximum_gauge_cardinality` default.
pub const DEFAULT_MAXIMUM_GAUGE_CARDINALITY: u64 = 500;

/// `telemetry { ... }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// How long a metric that is not updated stays in the Prometheus output;
    /// zero turns the Prometheus format off (Vault: `prometheus is not enabled`).
    pub prometheus_retention_time: Duration,
    /// Vault's switch for a host name in gauge names. Accepted; Coffer's
    /// metric names never carry one (nor do OpenBao's, in practice).
    pub disable_hostname: bool,
    /// How often the usage gauges (lease and token counts) are recounted;
    /// `None` is Vault's `"none"`: they are not collected.
    pub usage_gauge_period: Option<Duration>,
    /// The most label combinations one gauge may have (Vault's option; the
    /// gauges Coffer emits stay far below the default).
    pub maximum_gauge_cardinality: u64,
    /// Line of the stanza.
    pub line: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            prometheus_retention_time: DEFAULT_PROMETHEUS_RETENTION,
            disable_hostname: false,
            usage_gauge_period: Some(DEFAULT_USAGE_GAUGE_PERIOD),
            maximum_gauge_cardinality: DEFAULT_MAXIMUM_GAUGE_CARDINALITY,
            line: 0,
        }
    }
}

/// Vault's other telemetry options (sinks Coffer does not send to, filters).
const VAULT_ONLY_TELEMETRY: &[&str] = &[
    "enable_hostname_label",
    "metrics_prefix",
    "lease_metrics_epsilon",
    "num_lease_metrics_buckets",
    "add_lease_metrics_namespace_labels",
    "add_mount_point_rollback_metrics",
    "filter_default",
    "prefix_filter",
    "statsite_address",
    "statsd_address",
    "circonus_api_token",
    "circonus_api_app",
    "circonus_api_url",
    "circonus_submission_interval",
    "circonus_submission_url",
    "circonus_check_id",
    "circonus_check_force_metric_activation",
    "circonus_check_instance_id",
    "circonus_check_search_tag",
    "circonus_check_display_name",
    "circonus_check_tags",
    "circonus_broker_id",
    "circonus_broker_select_tag",
    "dogstatsd_addr",
    "dogstatsd_tags",
    "stackdriver_project_id",
    "stackdriver_location",
    "stackdriver_namespace",
    "stackdriver_debug_logs",
];

impl Decoder<'_> {
    /// The body of a `telemetry` entry: one block (`telemetry { }`), or in
    /// JSON an object (or a one-element list of objects, as HCL1 writes it).
    fn telemetry_body<'e>(&self, scope: Scope, e: &'e Entry) -> Result<&'e [Entry], ConfigError> {
        match &e.value.value {
            Value::Object(entries) => Ok(entries),
            Value::List(items) if items.len() == 1 => match &items[0].value {
                Value::Object(entries) => Ok(entries),
                _ => Err(self.bad(scope, e, "expected a block: telemetry { ... }")),
            },
            _ => Err(self.bad(scope, e, "expected a block: telemetry { ... }")),
        }
    }

    /// The top-level `telemetry` stanza.
    pub(super) fn telemetry(&self, e: &Entry) -> Result<TelemetryConfig, ConfigError> {
        let scope = Some("telemetry");
        let body = self.telemetry_body(None, e)?;
        let mut t = TelemetryConfig {
            line: e.line,
            ..TelemetryConfig::default()
        };
        let mut seen = HashMap::new();
        for opt in body {
            self.once(&mut seen, scope, opt)?;
            match opt.key.as_str() {
                "prometheus_retention_time" => {
                    t.prometheus_retention_time = self.duration(scope, opt)?
                }
                "disable_hostname" => t.disable_hostname = self.boolean(scope, opt)?,
                "usage_gauge_period" => {
                    t.usage_gauge_period = match &opt.value.value {
                        Value::String(s) if s.trim().eq_ignore_ascii_case("none") => None,
                        _ => {
                            let d = self.duration(scope, opt)?;
                            if d.is_zero() {
                                return Err(self.bad(
                                    scope,
                                    opt,
                                    "must be greater than zero (or \"none\")",
                                ));
                            }
                            Some(d)
                        }
                    }
                }
                "maximum_gauge_cardinality" => {
                    let n = self.int(scope, opt, "a positive integer")?;
                    if n <= 0 {
                        return Err(self.bad(
                            scope,
                            opt,
                            format!("must be greater than zero, found {n}"),
                        ));
                    }
                    t.maximum_gauge_cardinality = n as u64;
                }
                _ => return Err(self.unknown(scope, opt, VAULT_ONLY_TELEMETRY)),
            }
        }
        Ok(t)
    }

    /// A listener's `telemetry { unauthenticated_metrics_access = ... }`.
    pub(super) fn listener_telemetry(&self, e: &Entry) -> Result<bool, ConfigError> {
        let outer = Some("listener \"tcp\"");
        let scope = Some("listener \"tcp\" telemetry");
        let body = self.telemetry_body(outer, e)?;
        let mut unauthenticated = false;
        let mut seen = HashMap::new();
        for opt in body {
            self.once(&mut seen, scope, opt)?;
            match opt.key.as_str() {
                "unauthenticated_metrics_access" => unauthenticated = self.boolean(scope, opt)?,
                // Vault's listener telemetry block has nothing else; `metrics_only`
                // is OpenBao's (a listener that serves only sys/metrics).
                _ => return Err(self.unknown(scope, opt, &["metrics_only"])),
            }
        }
        Ok(unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_str;

    const BASE: &str = "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n}\n";

    fn parse(extra: &str) -> Result<crate::ServerConfig, ConfigError> {
        parse_str(&format!("{BASE}{extra}"), "config.hcl", false)
    }

    #[test]
    fn no_stanza_means_none_and_a_stanza_gets_vaults_defaults() {
        assert_eq!(parse("").unwrap().telemetry, None);
        let t = parse("telemetry {\n}\n").unwrap().telemetry.unwrap();
        assert_eq!(
            t,
            TelemetryConfig {
                line: 5,
                ..TelemetryConfig::default()
            }
        );
        assert_eq!(t.prometheus_retention_time, Duration::from_secs(86_400));
        assert_eq!(t.usage_gauge_period, Some(Duration::from_secs(600)));
        assert_eq!(t.maximum_gauge_cardinality, 500);
        assert!(!t.disable_hostname);
    }

    #[test]
    fn options_are_read() {
        let t = parse(
            "telemetry {\n  prometheus_retention_time = \"30s\"\n  disable_hostname = true\n  usage_gauge_period = \"none\"\n  maximum_gauge_cardinality = 100\n}\n",
        )
        .unwrap()
        .telemetry
        .unwrap();
        assert_eq!(t.prometheus_retention_time, Duration::from_secs(30));
        assert!(t.disable_hostname);
        assert_eq!(t.usage_gauge_period, None);
        assert_eq!(t.maximum_gauge_cardinality, 100);
        // 0 turns Prometheus off, as in Vault.
        let t = parse("telemetry {\n  prometheus_retention_time = 0\n}\n")
            .unwrap()
            .telemetry
            .unwrap();
        assert!(t.prometheus_retention_time.is_zero());
        // JSON.
        let c = parse_str(
            r#"{"storage":{"inmem":{}},"listener":{"tcp":{"tls_disable":true,"telemetry":{"unauthenticated_metrics_access":true}}},"telemetry":{"disable_hostname":true}}"#,
            "config.json",
            true,
        )
        .unwrap();
        assert!(c.telemetry.unwrap().disable_hostname);
        assert!(c.listeners[0].unauthenticated_metrics_access);
    }

    #[test]
    fn listener_block() {
        let c = parse_str(
            "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  telemetry {\n    unauthenticated_metrics_access = true\n  }\n}\n",
            "config.hcl",
            false,
        )
        .unwrap();
        assert!(c.listeners[0].unauthenticated_metrics_access);
        assert!(!parse("").unwrap().listeners[0].unauthenticated_metrics_access);
        let e = parse_str(
            "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  telemetry {\n    unauthenticated_pprof_access = true\n  }\n}\n",
            "config.hcl",
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.hcl:5: unknown key \"unauthenticated_pprof_access\" in listener \"tcp\" telemetry"
        );
    }

    #[test]
    fn bad_values_and_unknown_keys_name_the_line() {
        let e = parse("telemetry {\n  disable_hostname = \"maybe\"\n}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.hcl:6: telemetry: disable_hostname: expected true or false, found \"maybe\""
        );
        let e = parse("telemetry {\n  statsd_address = \"x:1\"\n}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.hcl:6: unknown key \"statsd_address\" in telemetry (a Vault option Coffer does not support yet)"
        );
        let e = parse("telemetry {\n  bogus = 1\n}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.hcl:6: unknown key \"bogus\" in telemetry"
        );
        let e = parse("telemetry {\n  usage_gauge_period = \"0s\"\n}\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("config.hcl:6: telemetry: usage_gauge_period"),
            "{e}"
        );
        let e = parse("telemetry {\n  maximum_gauge_cardinality = -1\n}\n").unwrap_err();
        assert!(e.to_string().starts_with("config.hcl:6:"), "{e}");
        let e = parse("telemetry {\n}\ntelemetry {\n}\n").unwrap_err();
        assert!(e.to_string().contains("set more than once"), "{e}");
        let e = parse("telemetry = 3\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("config.hcl:5: telemetry: expected a block"),
            "{e}"
        );
    }
}
