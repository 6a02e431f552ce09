//! The process-wide `metrics` recorder: every handle it gives out feeds two
//! stores at once, the Prometheus exporter's (rendered as text exposition
//! format) and our own aggregates (rendered as go-metrics' in-memory JSON,
//! [`super::json`]). A handle's hot path is atomics only: no lock, no
//! allocation.
//!
//! Retention: the exporter forgets a series nobody updated for
//! `prometheus_retention_time`, and a handle kept past that would then feed
//! a store nobody renders. So each handle remembers when it was last used
//! (a coarse clock ticked by the upkeep thread) and, when that is older than
//! the retention, asks the exporter for its current handle before writing.

use super::json::{Series, SeriesKind};
use arc_swap::ArcSwap;
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most series (name + label set) the JSON side keeps; past it new
/// series feed Prometheus only and `coffer.metrics.series_dropped` counts
/// them. Every label Coffer sets is bounded (see docs/metrics.md), so this
/// is a backstop, not a limit anyone should meet.
pub const MAX_SERIES: usize = 10_000;

/// Seconds since the recorder was built, ticked by the upkeep thread.
pub(super) static CLOCK: AtomicU64 = AtomicU64::new(0);

fn now() -> u64 {
    CLOCK.load(Ordering::Relaxed)
}

pub(super) struct CofferRecorder {
    pub(super) prom: PrometheusRecorder,
    pub(super) handle: PrometheusHandle,
    /// Our series, for the JSON format and for handing out the same handle
    /// to every caller of one key.
    pub(super) series: RwLock<HashMap<Key, Arc<Both>>>,
    /// Refresh a handle unused for this long (seconds); 0 = never (Prometheus off).
    pub(super) refresh_after: u64,
    pub(super) dropped: AtomicU64,
}

/// One handle of one series: both stores, and when it was last written.
pub(super) struct Both {
    recorder: &'static CofferRecorder,
    pub(super) series: Series,
    counter: Option<ArcSwap<Counter>>,
    gauge: Option<ArcSwap<Gauge>>,
    histogram: Option<ArcSwap<Histogram>>,
    last: AtomicU64,
}

impl Both {
    /// The exporter's handle may have been forgotten (idle past the
    /// retention): ask again before writing. Off the hot path: at most once
    /// per retention period per series.
    #[inline]
    fn touch(&self) {
        let r = self.recorder;
        if r.refresh_after == 0 {
            return;
        }
        let now = now();
        let last = self.last.load(Ordering::Relaxed);
        // At most one write per second per series: the line stays shared
        // between cores on the hot path.
        if last == now {
            return;
        }
        self.last.store(now, Ordering::Relaxed);
        if now.saturating_sub(last) >= r.refresh_after {
            let key = &self.series.key;
            let md = metadata();
            if let Some(c) = &self.counter {
                c.store(Arc::new(r.prom.register_counter(key, &md)));
            }
            if let Some(g) = &self.gauge {
                g.store(Arc::new(r.prom.register_gauge(key, &md)));
            }
            if let Some(h) = &self.histogram {
                h.store(Arc::new(r.prom.register_histogram(key, &md)));
            }
        }
    }
}

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), metrics::Level::INFO, None)
}

impl CounterFn for Both {
    fn increment(&self, value: u64) {
        self.touch();
        if let Some(c) = &self.counter {
            c.load().increment(value);
        }
        self.series.agg.record(value as f64);
    }
    fn absolute(&self, value: u64) {
        self.touch();
        if let Some(c) = &self.counter {
            c.load().absolute(value);
        }
        self.series.agg.absolute(value as f64);
    }
}

impl GaugeFn for Both {
    fn increment(&self, value: f64) {
        self.touch();
        if let Some(g) = &self.gauge {
            g.load().increment(value);
        }
        self.series.gauge_add(value);
    }
    fn decrement(&self, value: f64) {
        self.touch();
        if let Some(g) = &self.gauge {
            g.load().decrement(value);
        }
        self.series.gauge_add(-value);
    }
    fn set(&self, value: f64) {
        self.touch();
        if let Some(g) = &self.gauge {
            g.load().set(value);
        }
        self.series.gauge_set(value);
    }
}

impl HistogramFn for Both {
    fn record(&self, value: f64) {
        self.touch();
        if let Some(h) = &self.histogram {
            h.load().record(value);
        }
        self.series.agg.record(value);
    }
}

impl CofferRecorder {
    /// The one handle of `key` (created on first use, the same `Arc` after).
    fn get(&'static self, key: &Key, kind: SeriesKind) -> Option<Arc<Both>> {
        let key = key.clone();
        let found = self.series.read().get(&key).cloned();
        let both = match found {
            Some(b) => b,
            None => {
                let mut map = self.series.write();
                match map.get(&key) {
                    Some(b) => b.clone(),
                    None => {
                        if map.len() >= MAX_SERIES {
                            self.dropped.fetch_add(1, Ordering::Relaxed);
                            return None;
                        }
                        let md = metadata();
                        let b = Arc::new(Both {
                            recorder: self,
                            counter: (kind == SeriesKind::Counter).then(|| {
                                ArcSwap::from_pointee(self.prom.register_counter(&key, &md))
                            }),
                            gauge: (kind == SeriesKind::Gauge).then(|| {
                                ArcSwap::from_pointee(self.prom.register_gauge(&key, &md))
                            }),
                            histogram: (kind == SeriesKind::Histogram).then(|| {
                                ArcSwap::from_pointee(self.prom.register_histogram(&key, &md))
                            }),
                            series: Series::new(key.clone(), kind),
                            last: AtomicU64::new(now()),
                        });
                        map.insert(key, b.clone());
                        b
                    }
                }
            }
        };
        // One name used as two kinds: the first wins on the JSON side.
        (both.series.kind == kind).then_some(both)
    }
}

/// The recorder the facade calls. A `'static` reference: it is installed
/// once per process and lives as long.
pub(super) struct Installed(pub(super) &'static CofferRecorder);

impl Recorder for Installed {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.prom.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.prom.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.prom.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, md: &Metadata<'_>) -> Counter {
        match self.0.get(key, SeriesKind::Counter) {
            Some(b) => Counter::from_arc(b),
            None => self.0.prom.register_counter(key, md),
        }
    }
    fn register_gauge(&self, key: &Key, md: &Metadata<'_>) -> Gauge {
        match self.0.get(key, SeriesKind::Gauge) {
            Some(b) => Gauge::from_arc(b),
            None => self.0.prom.register_gauge(key, md),
        }
    }
    fn register_histogram(&self, key: &Key, md: &Metadata<'_>) -> Histogram {
        match self.0.get(key, SeriesKind::Histogram) {
            Some(b) => Histogram::from_arc(b),
            None => self.0.prom.register_histogram(key, md),
        }
    }
}
