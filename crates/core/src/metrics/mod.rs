//! Telemetry: the process-wide `metrics` recorder, the per-request
//! measurements the pipeline hands us, the gauges read at scrape time, and
//! the `sys/metrics` answer in both of Vault's formats. docs/metrics.md lists
//! every metric.
//!
//! Everyone records through the `metrics` facade (`metrics::counter!(...)`);
//! [`install`] puts [`recorder::CofferRecorder`] behind it once per process.
//!
//! **The label rule.** A label value is one of: a mount path of a mount that
//! exists (the router found it), the fixed [`UNKNOWN_MOUNT`] for anything
//! else, an operation name, a status class (`2xx`...), or a value a helper
//! sets from its own configuration (an audit device path). Never a token, an
//! accessor, a request path below the mount, a secret, or any other string a
//! client chose. So the label sets are bounded by the mounts an operator
//! created (at most [`MAX_MOUNT_LABELS`] distinct ones, the rest count as
//! [`OTHER_MOUNT`]) times the 8 operations times 4 status classes, whatever
//! clients send.

mod json;
mod recorder;

use crate::core::Core;
use crate::error::{Error, Result};
use crate::logical::{RawResponse, Response};
use crate::pipeline::{RequestContext, Target};
use metrics::{Counter, Histogram, Key, Label, Recorder};
use metrics_exporter_prometheus::PrometheusBuilder;
use parking_lot::{Mutex, RwLock};
use recorder::{CLOCK, CofferRecorder, Installed};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// The label value of a request that reached no mount.
pub const UNKNOWN_MOUNT: &str = "unknown";
/// The label value of mounts past [`MAX_MOUNT_LABELS`].
pub const OTHER_MOUNT: &str = "other";
/// Distinct mount labels kept (mounts created and removed over a process's
/// life count too); later ones are [`OTHER_MOUNT`].
pub const MAX_MOUNT_LABELS: usize = 1024;

/// What the `telemetry` stanza decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Zero: the Prometheus format is off (`prometheus is not enabled`).
    pub prometheus_retention: Duration,
    /// Recount the usage gauges (lease count) at most this often; `None`: never.
    pub usage_gauge_period: Option<Duration>,
}

impl Settings {
    /// As Vault reads the config file: no stanza → Prometheus off; a stanza
    /// → its options (retention default 24h). `disable_hostname` changes
    /// nothing: OpenBao puts no host name in any metric name either way
    /// (checked in tests/test_metrics.py), and Coffer names them as it does.
    pub fn from_config(t: Option<&coffer_config::TelemetryConfig>) -> Settings {
        match t {
            None => Settings {
                prometheus_retention: Duration::ZERO,
                usage_gauge_period: Some(coffer_config::DEFAULT_USAGE_GAUGE_PERIOD),
            },
            Some(t) => Settings {
                prometheus_retention: t.prometheus_retention_time,
                usage_gauge_period: t.usage_gauge_period,
            },
        }
    }

    /// Vault's and OpenBao's dev server: Prometheus on (24h).
    pub fn dev() -> Settings {
        Settings {
            prometheus_retention: coffer_config::DEFAULT_PROMETHEUS_RETENTION,
            usage_gauge_period: Some(coffer_config::DEFAULT_USAGE_GAUGE_PERIOD),
        }
    }

    /// A dev server given a config file: the file's stanza where it has one.
    pub fn dev_with(t: Option<&coffer_config::TelemetryConfig>) -> Settings {
        if t.is_some() {
            Settings::from_config(t)
        } else {
            Settings::dev()
        }
    }
}

/// The installed telemetry of this process.
pub struct Telemetry {
    rec: &'static CofferRecorder,
    settings: Settings,
    /// The last finished 10 s interval (JSON format).
    last_interval: Mutex<Option<json::Interval>>,
    /// Per mount path and operation: the request path's handles.
    routes: RwLock<HashMap<String, HashMap<&'static str, Arc<RouteHandles>>>>,
    /// `vault.expire.num_leases` and when it was counted.
    usage: tokio::sync::Mutex<Option<(Instant, usize)>>,
    /// The cluster name last seen unsealed (the seal gauge's label).
    cluster: Mutex<String>,
}

static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();

/// Install the recorder behind the `metrics` facade, once per process: the
/// first call's settings win (a server calls this at start; in-process
/// tests may call it any number of times, or not at all, see [`telemetry`]).
pub fn install(settings: Settings) -> &'static Telemetry {
    let mut first = false;
    let t = TELEMETRY.get_or_init(|| {
        first = true;
        build(settings.clone())
    });
    if first {
        if metrics::set_global_recorder(Installed(t.rec)).is_err() {
            tracing::warn!(
                "a metrics recorder was already installed: only Coffer's own request metrics reach sys/metrics"
            );
        }
        describe(t);
        spawn_upkeep(t);
    } else if t.settings != settings {
        tracing::debug!("telemetry already installed; later settings ignored");
    }
    t
}

/// The installed telemetry (installed with the dev settings if nothing was).
pub fn telemetry() -> &'static Telemetry {
    match TELEMETRY.get() {
        Some(t) => t,
        None => install(Settings::dev()),
    }
}

/// `# HELP` lines for the metrics this module records (docs/metrics.md).
fn describe(t: &Telemetry) {
    let p = &t.rec.prom;
    let ms = Some(metrics::Unit::Milliseconds);
    p.describe_histogram(
        "vault.core.handle_request".into(),
        ms,
        "Time to handle a request (not a login), in ms.".into(),
    );
    p.describe_histogram(
        "vault.core.handle_login_request".into(),
        ms,
        "Time to handle a login request, in ms.".into(),
    );
    p.describe_counter(
        "coffer.core.requests".into(),
        None,
        "Requests by mount, operation and status class.".into(),
    );
    p.describe_counter(
        "coffer.core.permission_denied".into(),
        None,
        "Requests refused with 403 permission denied (no, bad or insufficient token).".into(),
    );
    p.describe_counter(
        "coffer.auth.login_failures".into(),
        None,
        "Failed logins by auth mount.".into(),
    );
    p.describe_gauge(
        "vault.core.unsealed".into(),
        None,
        "1 when unsealed, 0 when sealed.".into(),
    );
    p.describe_gauge(
        "vault.expire.num_leases".into(),
        None,
        "Leases (tokens included) in the lease index.".into(),
    );
}

fn build(settings: Settings) -> Telemetry {
    let retention = settings.prometheus_retention;
    let mut builder = PrometheusBuilder::new();
    // Vault's summaries: go-metrics' Prometheus sink reports these quantiles.
    if let Ok(b) = PrometheusBuilder::new().set_quantiles(&[0.5, 0.9, 0.99]) {
        builder = b;
    }
    if !retention.is_zero() {
        builder = builder.idle_timeout(metrics_util::MetricKindMask::ALL, Some(retention));
    }
    let prom = builder.build_recorder();
    let handle = prom.handle();
    // A margin of two ticks of the coarse clock below the exporter's own
    // idle check (see recorder.rs).
    let refresh_after = if retention.is_zero() {
        0
    } else {
        retention.as_secs().saturating_sub(2).max(1)
    };
    let rec: &'static CofferRecorder = Box::leak(Box::new(CofferRecorder {
        prom,
        handle,
        series: RwLock::new(HashMap::new()),
        refresh_after,
        dropped: AtomicU64::new(0),
    }));
    Telemetry {
        rec,
        settings,
        last_interval: Mutex::new(None),
        routes: RwLock::new(HashMap::new()),
        usage: tokio::sync::Mutex::new(None),
        cluster: Mutex::new(String::new()),
    }
}

/// One thread per process: ticks the coarse clock every second, drains the
/// exporter's histogram buffers (bounded memory even if nobody scrapes), and
/// turns the JSON interval every 10 s of wall-clock time.
fn spawn_upkeep(t: &'static Telemetry) {
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name("coffer-metrics".into())
        .spawn(move || {
            let mut current = json::interval_start(SystemTime::now());
            let mut tick: u64 = 0;
            loop {
                std::thread::sleep(Duration::from_secs(1));
                tick += 1;
                CLOCK.store(started.elapsed().as_secs(), Ordering::Relaxed);
                if tick.is_multiple_of(5) {
                    t.rec.handle.run_upkeep();
                }
                let now = json::interval_start(SystemTime::now());
                if now != current {
                    let series = t.rec.series.read().values().cloned().collect::<Vec<_>>();
                    let iv = json::turn(current, series.iter().map(|b| &b.series));
                    *t.last_interval.lock() = Some(iv);
                    current = now;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the metrics upkeep thread");
    }
}

// ---------------------------------------------------------------------------
// The request path

/// The handles of one mount and operation, made on first use.
#[derive(Default)]
struct RouteHandles {
    /// The mount label these handles carry (bounded: see the label rule).
    mount: String,
    /// `vault.route.<operation>.<mount with / as ->`
    route: OnceLock<Histogram>,
    /// `coffer.core.requests{mount,operation,status}` by status class.
    by_status: [OnceLock<Counter>; 4],
    /// `coffer.core.permission_denied{mount,operation}`
    denied: OnceLock<Counter>,
    /// `coffer.auth.login_failures{mount}`
    login_failed: OnceLock<Counter>,
}

const STATUS_CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

static HANDLE_REQUEST: OnceLock<Histogram> = OnceLock::new();
static HANDLE_LOGIN: OnceLock<Histogram> = OnceLock::new();

fn md() -> metrics::Metadata<'static> {
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None)
}

impl Telemetry {
    fn recorder(&self) -> Installed {
        Installed(self.rec)
    }

    fn histogram(&self, key: Key) -> Histogram {
        self.recorder().register_histogram(&key, &md())
    }

    fn counter(&self, key: Key) -> Counter {
        self.recorder().register_counter(&key, &md())
    }

    /// The handles of (mount label, operation); the mount label is already
    /// bounded (an existing mount's path or a fixed value).
    fn route(&self, mount: &str, op: &'static str) -> Arc<RouteHandles> {
        if let Some(h) = self.routes.read().get(mount).and_then(|m| m.get(op)) {
            return h.clone();
        }
        let mut routes = self.routes.write();
        let label = if routes.contains_key(mount) || routes.len() < MAX_MOUNT_LABELS {
            mount
        } else {
            OTHER_MOUNT
        };
        let by_op = routes.entry(label.to_string()).or_default();
        by_op
            .entry(op)
            .or_insert_with(|| {
                Arc::new(RouteHandles {
                    mount: label.to_string(),
                    ..Default::default()
                })
            })
            .clone()
    }
}

/// Status class index of an outcome, as the HTTP layer will answer it.
fn status_class(outcome: &Result<Response>) -> usize {
    let code = match outcome {
        Ok(r) => r
            .raw
            .as_ref()
            .map(|raw| raw.status)
            .or(r.status)
            .unwrap_or(200),
        Err(e) => match e {
            Error::Sealed | Error::Internal(_) => 500,
            Error::Coded(c, _) => *c,
            _ => 400,
        },
    };
    match code {
        0..=299 => 0,
        300..=399 => 1,
        400..=499 => 2,
        _ => 3,
    }
}

/// The pipeline's one call, after the audit-response stage: time and count
/// the request by its mount and operation. Atomics only once a (mount,
/// operation) pair has been seen.
pub(crate) fn observe_request(ctx: &RequestContext, outcome: &Result<Response>, started: Instant) {
    let t = telemetry();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let mount: &str = match (&ctx.target, &ctx.mount) {
        (Target::SealExempt, _) => "sys/",
        (_, Some(m)) => m.prefix.as_str(),
        _ => UNKNOWN_MOUNT,
    };
    let is_auth_mount = ctx.mount.as_ref().is_some_and(|m| m.is_auth);
    let login = ctx.unauthenticated && is_auth_mount;
    let op = ctx.operation.as_str();
    let h = t.route(mount, op);
    let mount = h.mount.as_str();
    let overall = if login {
        &HANDLE_LOGIN
    } else {
        &HANDLE_REQUEST
    };
    overall
        .get_or_init(|| {
            t.histogram(Key::from_static_name(if login {
                "vault.core.handle_login_request"
            } else {
                "vault.core.handle_request"
            }))
        })
        .record(ms);
    let labels = || {
        vec![
            Label::new("mount", mount.to_string()),
            Label::new("operation", op),
        ]
    };
    let class = status_class(outcome);
    h.by_status[class]
        .get_or_init(|| {
            let mut l = labels();
            l.push(Label::new("status", STATUS_CLASSES[class]));
            t.counter(Key::from_parts("coffer.core.requests", l))
        })
        .increment(1);
    // Vault's route timer: requests the router handed to a backend, under
    // the operation the backend saw (an update of a missing object is a
    // create). Dispatched = a row, its request built (stage 4), and not
    // refused by the ACL or the token's use count.
    let refused = matches!(outcome, Err(Error::PermissionDenied | Error::InvalidToken));
    if let (Target::Row, Some(req), false) = (&ctx.target, &ctx.request, refused)
        && mount != UNKNOWN_MOUNT
    {
        let route_op = req.operation.as_str();
        let other;
        let rh: &RouteHandles = if route_op == op {
            &h
        } else {
            other = t.route(mount, route_op);
            &other
        };
        rh.route
            .get_or_init(|| {
                let name = format!("vault.route.{route_op}.{}", mount.replace('/', "-"));
                t.histogram(Key::from_name(name))
            })
            .record(ms);
    }
    if matches!(outcome, Err(Error::PermissionDenied | Error::InvalidToken)) {
        h.denied
            .get_or_init(|| t.counter(Key::from_parts("coffer.core.permission_denied", labels())))
            .increment(1);
    }
    if login && outcome.is_err() {
        h.login_failed
            .get_or_init(|| {
                t.counter(Key::from_parts(
                    "coffer.auth.login_failures",
                    vec![Label::new("mount", mount.to_string())],
                ))
            })
            .increment(1);
    }
}

// ---------------------------------------------------------------------------
// sys/metrics

/// `format` as Vault reads it: the parameter, else the `Accept` header
/// (`application/openmetrics-text` or `prometheus/telemetry` → prometheus).
pub fn format_from(param: Option<&str>, accept: Option<&str>) -> String {
    match param {
        Some(f) if !f.is_empty() => f.to_string(),
        _ => match accept {
            Some(a)
                if a.starts_with("application/openmetrics-text")
                    || a.contains("prometheus/telemetry") =>
            {
                "prometheus".into()
            }
            _ => String::new(),
        },
    }
}

fn text(status: u16, body: impl Into<Vec<u8>>, content_type: &str) -> Response {
    Response {
        raw: Some(RawResponse {
            status,
            content_type: content_type.to_string(),
            body: body.into(),
        }),
        ..Default::default()
    }
}

impl Core {
    /// The gauges read at scrape time: seal state, and the usage gauges at
    /// most once per `usage_gauge_period` (counting leases reads storage).
    async fn refresh_gauges(&self, t: &'static Telemetry) {
        let active = self.active().ok();
        // Vault labels the gauge with the cluster name, empty while sealed.
        let cluster = match &active {
            Some(_) => self
                .seal_status()
                .await
                .ok()
                .and_then(|v| v["cluster_name"].as_str().map(str::to_string)),
            None => None,
        }
        .unwrap_or_default();
        let unsealed = |name: String, v: f64| {
            Installed(t.rec)
                .register_gauge(
                    &Key::from_parts("vault.core.unsealed", vec![Label::new("cluster", name)]),
                    &md(),
                )
                .set(v);
        };
        if active.is_some() {
            *t.cluster.lock() = cluster.clone();
            unsealed(cluster, 1.0);
        } else {
            // Sealed: the series of the cluster name seen while unsealed
            // must not stay at 1.
            let known = t.cluster.lock().clone();
            if !known.is_empty() {
                unsealed(known, 0.0);
            }
            unsealed(String::new(), 0.0);
        }
        let (Some(active), Some(period)) = (active, t.settings.usage_gauge_period) else {
            return;
        };
        let mut usage = t.usage.lock().await;
        let stale = usage.as_ref().is_none_or(|(at, _)| at.elapsed() >= period);
        if stale {
            match active.leases().index().ids_under("").await {
                Ok(ids) => *usage = Some((Instant::now(), ids.len())),
                Err(e) => tracing::warn!(error = %e, "counting leases for vault.expire.num_leases"),
            }
        }
        if let Some((_, n)) = *usage {
            Installed(t.rec)
                .register_gauge(&Key::from_static_name("vault.expire.num_leases"), &md())
                .set(n as f64);
        }
    }

    /// `sys/metrics` in `format` (`""` JSON, `prometheus`), as Vault answers
    /// it: a raw body, or a 400 `text/plain` for an unknown format or a
    /// Prometheus format that is off. Also served, without a token, by a
    /// listener with `unauthenticated_metrics_access`.
    pub async fn metrics_response(&self, format: &str) -> Response {
        let t = telemetry();
        match format {
            "prometheus" => {
                if t.settings.prometheus_retention.is_zero() {
                    return text(400, "prometheus is not enabled", "text/plain");
                }
                self.refresh_gauges(t).await;
                text(
                    200,
                    t.rec.handle.render(),
                    "text/plain; version=0.0.4; charset=utf-8",
                )
            }
            "" => {
                self.refresh_gauges(t).await;
                let series: Vec<_> = t.rec.series.read().values().cloned().collect();
                let gauges = series
                    .iter()
                    .filter(|b| b.series.kind == json::SeriesKind::Gauge)
                    .map(|b| (b.series.key.clone(), b.series.gauge_value()))
                    .collect();
                let last = t.last_interval.lock();
                let body = match last.as_ref() {
                    Some(iv) => json::render(iv, gauges),
                    None => {
                        let start = json::interval_start(SystemTime::now());
                        json::render(
                            &json::current(start, series.iter().map(|b| &b.series)),
                            gauges,
                        )
                    }
                };
                drop(last);
                text(
                    200,
                    serde_json::to_vec(&body).unwrap_or_default(),
                    "application/json",
                )
            }
            other => text(
                400,
                format!("metric response format {other:?} unknown"),
                "text/plain",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_twice_keeps_the_first_and_does_not_panic() {
        let a = install(Settings::dev()) as *const Telemetry;
        let b = install(Settings::from_config(None)) as *const Telemetry;
        assert_eq!(a, b);
        assert_eq!(telemetry() as *const Telemetry, a);
    }

    #[test]
    fn handles_of_one_key_share_one_series() {
        let t = telemetry();
        let key = Key::from_parts("coffer.test.shared", vec![Label::new("mount", "secret/")]);
        t.counter(key.clone()).increment(2);
        t.counter(key.clone()).increment(3);
        let series = t.rec.series.read().get(&key).cloned().expect("registered");
        let st = json::current(SystemTime::now(), std::iter::once(&series.series)).rows;
        assert_eq!(st.len(), 1);
        assert_eq!((st[0].2.count, st[0].2.sum), (2, 5.0));
        assert!(
            t.rec
                .handle
                .render()
                .contains("coffer_test_shared{mount=\"secret/\"} 5")
        );
    }

    #[test]
    fn mount_labels_are_bounded() {
        let t = telemetry();
        for i in 0..MAX_MOUNT_LABELS + 10 {
            t.route(&format!("m{i}/"), "read");
        }
        let routes = t.routes.read();
        assert!(routes.len() <= MAX_MOUNT_LABELS + 1, "{}", routes.len());
        assert!(routes.contains_key(OTHER_MOUNT));
    }

    #[test]
    fn format_and_status_class() {
        assert_eq!(format_from(Some("prometheus"), None), "prometheus");
        assert_eq!(
            format_from(None, Some("application/openmetrics-text; version=1.0.0")),
            "prometheus"
        );
        assert_eq!(
            format_from(Some(""), Some("text/plain, prometheus/telemetry")),
            "prometheus"
        );
        assert_eq!(format_from(None, Some("application/json")), "");
        assert_eq!(status_class(&Ok(Response::default())), 0);
        assert_eq!(status_class(&Err(Error::PermissionDenied)), 2);
        assert_eq!(status_class(&Err(Error::Sealed)), 3);
        assert_eq!(status_class(&Err(Error::Coded(429, String::new()))), 2);
    }
}
