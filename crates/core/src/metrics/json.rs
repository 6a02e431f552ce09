//! `sys/metrics` without `format`: go-metrics' in-memory sink as Vault
//! serves it. Vault keeps 10-second intervals and shows the last complete
//! one (the current one while it is the only one): counters and samples
//! count what happened in those 10 seconds; gauges show their value.
//!
//! Each series keeps running totals in atomics (count, sum, sum of squares)
//! plus the interval's min and max. Every 10 seconds of wall-clock time the
//! upkeep thread turns the totals into the interval's figures (the
//! difference from the last turn) and resets min and max; the request path
//! never waits for it.

use metrics::Key;
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// go-metrics' interval in Vault (`NewInmemSink(10*time.Second, time.Minute)`).
pub const INTERVAL: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesKind {
    Counter,
    Gauge,
    Histogram,
}

/// Running totals of a counter (each increment is one sample) or histogram.
pub struct Agg {
    count: AtomicU64,
    sum: AtomicU64,
    sumsq: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

fn add_f64(a: &AtomicU64, v: f64) {
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
        Some((f64::from_bits(cur) + v).to_bits())
    });
}

/// Store `v` if `better(v, current)`; in the usual case (not a new extreme)
/// this is one load and no write.
fn extreme(a: &AtomicU64, v: f64, better: fn(f64, f64) -> bool) {
    let mut cur = a.load(Ordering::Relaxed);
    while better(v, f64::from_bits(cur)) {
        match a.compare_exchange_weak(cur, v.to_bits(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => cur = now,
        }
    }
}

impl Agg {
    fn new() -> Agg {
        Agg {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
            sumsq: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
        }
    }

    pub fn record(&self, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        add_f64(&self.sum, v);
        add_f64(&self.sumsq, v * v);
        extreme(&self.min, v, |v, cur| v < cur);
        extreme(&self.max, v, |v, cur| v > cur);
    }

    /// A counter set to at least `v` (the facade's `absolute`): the total
    /// moves up by the difference, as one sample.
    pub fn absolute(&self, v: f64) {
        let cur = f64::from_bits(self.sum.load(Ordering::Relaxed));
        if v > cur {
            self.record(v - cur);
        }
    }

    fn totals(&self) -> Totals {
        Totals {
            count: self.count.load(Ordering::Relaxed),
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
            sumsq: f64::from_bits(self.sumsq.load(Ordering::Relaxed)),
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Totals {
    count: u64,
    sum: f64,
    sumsq: f64,
}

/// One series (a name and a label set) as the JSON format sees it.
pub struct Series {
    pub key: Key,
    pub kind: SeriesKind,
    pub agg: Agg,
    gauge: AtomicU64,
    /// The totals at the last interval turn (only the upkeep thread writes).
    prev: Mutex<Totals>,
}

impl Series {
    pub fn new(key: Key, kind: SeriesKind) -> Series {
        Series {
            key,
            kind,
            agg: Agg::new(),
            gauge: AtomicU64::new(0f64.to_bits()),
            prev: Mutex::new(Totals::default()),
        }
    }

    pub fn gauge_set(&self, v: f64) {
        self.gauge.store(v.to_bits(), Ordering::Relaxed);
    }

    pub fn gauge_add(&self, v: f64) {
        add_f64(&self.gauge, v);
    }

    pub fn gauge_value(&self) -> f64 {
        f64::from_bits(self.gauge.load(Ordering::Relaxed))
    }

    /// This interval so far (`turn`: and start the next one).
    fn interval(&self, turn: bool) -> Stats {
        let now = self.agg.totals();
        let (min, max) = if turn {
            (
                f64::from_bits(
                    self.agg
                        .min
                        .swap(f64::INFINITY.to_bits(), Ordering::Relaxed),
                ),
                f64::from_bits(
                    self.agg
                        .max
                        .swap(f64::NEG_INFINITY.to_bits(), Ordering::Relaxed),
                ),
            )
        } else {
            (
                f64::from_bits(self.agg.min.load(Ordering::Relaxed)),
                f64::from_bits(self.agg.max.load(Ordering::Relaxed)),
            )
        };
        let mut prev = self.prev.lock();
        let stats = Stats {
            count: now.count.saturating_sub(prev.count),
            sum: now.sum - prev.sum,
            sumsq: now.sumsq - prev.sumsq,
            min: if min.is_finite() { min } else { 0.0 },
            max: if max.is_finite() { max } else { 0.0 },
        };
        if turn {
            *prev = now;
        }
        stats
    }
}

/// go-metrics' `AggregateSample` of one interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub count: u64,
    pub sum: f64,
    pub sumsq: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// go-metrics' sample standard deviation.
    fn stddev(&self) -> f64 {
        let n = self.count as f64;
        let div = n * (n - 1.0);
        if div == 0.0 {
            return 0.0;
        }
        let v = (n * self.sumsq - self.sum * self.sum) / div;
        if v > 0.0 { v.sqrt() } else { 0.0 }
    }
}

/// A finished interval: its start and each touched series' figures.
pub struct Interval {
    pub start: SystemTime,
    pub rows: Vec<(Key, SeriesKind, Stats)>,
}

/// Turn every series' interval (the upkeep thread, at a 10 s boundary).
pub fn turn<'a>(start: SystemTime, series: impl Iterator<Item = &'a Series>) -> Interval {
    let rows = series
        .filter(|s| s.kind != SeriesKind::Gauge)
        .map(|s| (s.key.clone(), s.kind, s.interval(true)))
        .filter(|(_, _, st)| st.count > 0)
        .collect();
    Interval { start, rows }
}

/// The interval in progress, read without ending it.
pub fn current<'a>(start: SystemTime, series: impl Iterator<Item = &'a Series>) -> Interval {
    let rows = series
        .filter(|s| s.kind != SeriesKind::Gauge)
        .map(|s| (s.key.clone(), s.kind, s.interval(false)))
        .filter(|(_, _, st)| st.count > 0)
        .collect();
    Interval { start, rows }
}

/// The start of the 10 s interval `t` falls in.
pub fn interval_start(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(secs - secs % INTERVAL.as_secs())
}

/// Go's `time.Time.String()` of a UTC instant, to the second, as go-metrics
/// writes `Timestamp`: `2026-12-07 15:50:20 +0000 UTC`.
fn go_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let dt = time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] +0000 UTC"
    );
    dt.format(&fmt).unwrap_or_default()
}

/// A number as Go's encoder writes a float: integral values without `.0`.
fn num(v: f64) -> Value {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        Value::from(v as i64)
    } else if v.is_finite() {
        Value::from(v)
    } else {
        Value::from(0)
    }
}

fn labels(key: &Key) -> Value {
    let mut m = Map::new();
    for l in key.labels() {
        m.insert(l.key().to_string(), Value::from(l.value()));
    }
    Value::Object(m)
}

fn sample(key: &Key, st: &Stats) -> Value {
    json!({
        "Name": key.name(),
        "Count": st.count,
        "Rate": num(st.sum / INTERVAL.as_secs_f64()),
        "Sum": num(st.sum),
        "Min": num(st.min),
        "Max": num(st.max),
        "Mean": num(st.mean()),
        "Stddev": num(st.stddev()),
        "Labels": labels(key),
    })
}

fn sort_key(key: &Key) -> (String, Vec<(String, String)>) {
    (
        key.name().to_string(),
        key.labels()
            .map(|l| (l.key().to_string(), l.value().to_string()))
            .collect(),
    )
}

/// The JSON body: `Timestamp`, `Gauges`, `Points` (always empty: nothing in
/// Coffer emits go-metrics points), `Counters`, `Samples`, each sorted by
/// name then labels as go-metrics does.
pub fn render(interval: &Interval, gauges: Vec<(Key, f64)>) -> Value {
    let mut gauges = gauges;
    gauges.sort_by_cached_key(|(k, _)| sort_key(k));
    let mut rows: Vec<&(Key, SeriesKind, Stats)> = interval.rows.iter().collect();
    rows.sort_by_cached_key(|(k, _, _)| sort_key(k));
    let gauges: Vec<Value> = gauges
        .iter()
        .map(|(k, v)| json!({"Name": k.name(), "Value": num(*v), "Labels": labels(k)}))
        .collect();
    let counters: Vec<Value> = rows
        .iter()
        .filter(|(_, kind, _)| *kind == SeriesKind::Counter)
        .map(|(k, _, st)| sample(k, st))
        .collect();
    let samples: Vec<Value> = rows
        .iter()
        .filter(|(_, kind, _)| *kind == SeriesKind::Histogram)
        .map(|(k, _, st)| sample(k, st))
        .collect();
    json!({
        "Timestamp": go_time(interval.start),
        "Gauges": gauges,
        "Points": [],
        "Counters": counters,
        "Samples": samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_counts_what_happened_in_it_only() {
        let s = Series::new(
            Key::from_static_name("vault.core.handle_request"),
            SeriesKind::Histogram,
        );
        for v in [1.0, 2.0, 3.0] {
            s.agg.record(v);
        }
        let st = s.interval(false);
        assert_eq!((st.count, st.sum, st.min, st.max), (3, 6.0, 1.0, 3.0));
        let st = s.interval(true);
        assert_eq!(st.count, 3);
        assert!((st.stddev() - 1.0).abs() < 1e-9);
        assert_eq!(s.interval(false).count, 0);
        s.agg.record(10.0);
        let st = s.interval(true);
        assert_eq!((st.count, st.sum, st.min, st.max), (1, 10.0, 10.0, 10.0));
    }

    #[test]
    fn go_metrics_shape() {
        let c = Series::new(
            Key::from_parts(
                "coffer.core.requests",
                vec![metrics::Label::new("mount", "secret/")],
            ),
            SeriesKind::Counter,
        );
        c.agg.record(1.0);
        c.agg.record(1.0);
        let start = UNIX_EPOCH + Duration::from_secs(1_796_658_620);
        let iv = turn(start, [&c].into_iter());
        let v = render(
            &iv,
            vec![(Key::from_static_name("vault.core.unsealed"), 1.0)],
        );
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["Timestamp", "Gauges", "Points", "Counters", "Samples"]
        );
        assert_eq!(v["Timestamp"], "2026-12-07 15:50:20 +0000 UTC");
        assert_eq!(
            v["Gauges"][0],
            json!({"Name": "vault.core.unsealed", "Value": 1, "Labels": {}})
        );
        assert_eq!(
            v["Counters"][0],
            json!({"Name": "coffer.core.requests", "Count": 2, "Rate": 0.2, "Sum": 2, "Min": 1, "Max": 1, "Mean": 1, "Stddev": 0, "Labels": {"mount": "secret/"}})
        );
        assert_eq!(v["Samples"], json!([]));
    }
}
