//! Result aggregation (hdrhistogram, microseconds) and the table / JSON renderings.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::duration::format_micros;
use crate::workload::Workload;

/// Highest latency the histogram tracks exactly; slower requests are clamped to it.
pub const MAX_TRACKED_MICROS: u64 = 60_000_000;

pub fn new_histogram() -> Histogram<u64> {
    // 1µs .. 60s at 3 significant digits: ~0.1% relative error.
    Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3).expect("static histogram bounds are valid")
}

/// Counters for one workload (or the total).
#[derive(Clone, Debug)]
pub struct OpStats {
    pub hist: Histogram<u64>,
    /// Responses by HTTP status, successful or not.
    pub statuses: BTreeMap<u16, u64>,
    /// Responses whose status the workload does not expect.
    pub errors: u64,
    /// Connection-level failures (connect refused, reset, malformed response).
    pub transport_errors: u64,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats { hist: new_histogram(), statuses: BTreeMap::new(), errors: 0, transport_errors: 0 }
    }
}

impl OpStats {
    pub fn record_latency(&mut self, micros: u64) {
        self.hist.saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: &OpStats) {
        // Same bounds on both sides, so `add` cannot fail.
        let _ = self.hist.add(&other.hist);
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.errors += other.errors;
        self.transport_errors += other.transport_errors;
    }

    /// Completed HTTP exchanges (any status).
    pub fn responses(&self) -> u64 {
        self.statuses.values().sum()
    }

    pub fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.hist)
    }
}

/// Latency summary in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean().round() as u64,
        }
    }

    fn to_json(self) -> Value {
        json!({
            "p50_us": self.p50, "p90_us": self.p90, "p99_us": self.p99,
            "p99_9_us": self.p999, "max_us": self.max, "mean_us": self.mean,
        })
    }
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub target: String,
    pub workload: String,
    pub token_kind: String,
    pub connections: usize,
    pub rate: Option<f64>,
    pub elapsed: Duration,
    pub total: OpStats,
    pub per_op: Vec<(Workload, OpStats)>,
    /// CPU time this process used during the run, in seconds (Linux only).
    pub client_cpu_secs: Option<f64>,
    /// CPU time the server process used during the run (`-server-pid`).
    pub server_cpu_secs: Option<f64>,
    /// Busy CPU time of the whole machine during the run (all processes, all cores).
    pub machine_cpu_secs: Option<f64>,
}

impl RunReport {
    pub fn requests(&self) -> u64 {
        self.total.responses() + self.total.transport_errors
    }

    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.total.responses() as f64 / secs } else { 0.0 }
    }

    pub fn error_count(&self) -> u64 {
        self.total.errors + self.total.transport_errors
    }

    /// Non-expected statuses and transport failures, e.g. `{"403": 12, "transport": 1}`.
    pub fn errors_by_kind(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (workload, stats) in &self.per_op {
            for (status, n) in &stats.statuses {
                if !workload.expects(*status) {
                    *out.entry(status.to_string()).or_default() += n;
                }
            }
        }
        if self.total.transport_errors > 0 {
            out.insert("transport".to_string(), self.total.transport_errors);
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let per_op: Vec<Value> = self
            .per_op
            .iter()
            .map(|(w, s)| {
                json!({
                    "workload": w.name(),
                    "requests": s.responses() + s.transport_errors,
                    "errors": s.errors + s.transport_errors,
                    "throughput_rps": rate(s.responses(), self.elapsed),
                    "latency": s.percentiles().to_json(),
                })
            })
            .collect();
        let statuses: BTreeMap<String, u64> =
            self.total.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        json!({
            "target": self.target,
            "workload": self.workload,
            "token": self.token_kind,
            "connections": self.connections,
            "rate": self.rate,
            "elapsed_s": round3(self.elapsed.as_secs_f64()),
            "requests": self.requests(),
            "throughput_rps": round3(self.throughput()),
            "errors": self.error_count(),
            "errors_by_status": self.errors_by_kind(),
            "statuses": statuses,
            "latency": self.total.percentiles().to_json(),
            "per_workload": per_op,
            "client_cpu_s": self.client_cpu_secs.map(round3),
            "server_cpu_s": self.server_cpu_secs.map(round3),
            "machine_cpu_s": self.machine_cpu_secs.map(round3),
        })
    }

    pub fn to_table(&self) -> String {
        let p = self.total.percentiles();
        let secs = self.elapsed.as_secs_f64();
        let mut out = String::new();
        let mode = match self.rate {
            Some(r) => format!("fixed rate {r} req/s"),
            None => "closed loop".to_string(),
        };
        out += &format!("target       {}\n", self.target);
        out += &format!("workload     {}  (token: {})\n", self.workload, self.token_kind);
        out += &format!("connections  {}  ({mode})\n", self.connections);
        out += &format!("elapsed      {secs:.2}s\n");
        out += &format!("requests     {}\n", self.requests());
        out += &format!("throughput   {:.0} req/s\n", self.throughput());
        out += &format!(
            "latency      p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {})\n",
            format_micros(p.p50),
            format_micros(p.p90),
            format_micros(p.p99),
            format_micros(p.p999),
            format_micros(p.max),
            format_micros(p.mean),
        );
        let errors = self.errors_by_kind();
        if errors.is_empty() {
            out += "errors       0\n";
        } else {
            let list: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            out += &format!("errors       {}  ({})\n", self.error_count(), list.join(", "));
        }
        let statuses: Vec<String> = self.total.statuses.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        out += &format!("statuses     {}\n", if statuses.is_empty() { "-".into() } else { statuses.join(", ") });
        if let Some(cpu) = self.client_cpu_secs {
            out += &format!("client cpu   {cpu:.2}s ({:.2} cores)\n", cpu / secs.max(1e-9));
        }
        if let Some(cpu) = self.server_cpu_secs {
            out += &format!("server cpu   {cpu:.2}s ({:.2} cores)\n", cpu / secs.max(1e-9));
        }
        if let Some(cpu) = self.machine_cpu_secs {
            let others = cpu - self.client_cpu_secs.unwrap_or(0.0) - self.server_cpu_secs.unwrap_or(0.0);
            let label = if self.server_cpu_secs.is_some() { "others" } else { "others incl. server" };
            out += &format!(
                "machine cpu  {:.2} cores busy ({label}: {:.2} cores)\n",
                cpu / secs.max(1e-9),
                others.max(0.0) / secs.max(1e-9)
            );
        }
        if self.per_op.len() > 1 {
            out += "\n";
            out += &format!(
                "{:<14} {:>10} {:>8} {:>12} {:>10} {:>10} {:>10}\n",
                "workload", "requests", "errors", "req/s", "p50", "p99", "max"
            );
            for (w, s) in &self.per_op {
                let p = s.percentiles();
                out += &format!(
                    "{:<14} {:>10} {:>8} {:>12.0} {:>10} {:>10} {:>10}\n",
                    w.name(),
                    s.responses() + s.transport_errors,
                    s.errors + s.transport_errors,
                    rate(s.responses(), self.elapsed),
                    format_micros(p.p50),
                    format_micros(p.p99),
                    format_micros(p.max),
                );
            }
        }
        out
    }
}

fn rate(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { round3(n as f64 / secs) } else { 0.0 }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Median of a non-empty slice (mean of the middle two for even lengths).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within hdrhistogram's 3-significant-digit precision.
    fn close(got: u64, want: u64) -> bool {
        let tol = (want / 500).max(1);
        got.abs_diff(want) <= tol
    }

    #[test]
    fn percentiles_of_uniform_latencies() {
        let mut s = OpStats::default();
        for us in 1..=10_000u64 {
            s.record_latency(us);
        }
        let p = s.percentiles();
        assert!(close(p.p50, 5_000), "{p:?}");
        assert!(close(p.p90, 9_000), "{p:?}");
        assert!(close(p.p99, 9_900), "{p:?}");
        assert!(close(p.p999, 9_990), "{p:?}");
        assert!(close(p.max, 10_000), "{p:?}");
        assert!(close(p.mean, 5_000), "{p:?}");
    }

    #[test]
    fn percentiles_with_a_slow_tail() {
        let mut s = OpStats::default();
        for _ in 0..990 {
            s.record_latency(100);
        }
        for _ in 0..10 {
            s.record_latency(250_000);
        }
        let p = s.percentiles();
        assert_eq!(p.p50, 100);
        assert_eq!(p.p90, 100);
        assert_eq!(p.p99, 100, "990 of 1000 samples are 100µs");
        assert!(close(p.p999, 250_000), "{p:?}");
        assert!(close(p.max, 250_000), "{p:?}");
    }

    #[test]
    fn zero_and_huge_latencies_are_clamped_not_dropped() {
        let mut s = OpStats::default();
        s.record_latency(0);
        s.record_latency(10 * MAX_TRACKED_MICROS);
        assert_eq!(s.hist.len(), 2);
        assert_eq!(s.hist.min(), 1);
        assert!(close(s.hist.max(), MAX_TRACKED_MICROS));
    }

    #[test]
    fn merge_adds_histograms_and_statuses() {
        let mut a = OpStats::default();
        let mut b = OpStats::default();
        a.record_latency(10);
        *a.statuses.entry(200).or_default() += 1;
        b.record_latency(1_000);
        *b.statuses.entry(200).or_default() += 1;
        *b.statuses.entry(403).or_default() += 2;
        b.errors = 2;
        b.transport_errors = 1;
        a.merge(&b);
        assert_eq!(a.hist.len(), 2);
        assert_eq!(a.responses(), 4);
        assert_eq!(a.errors, 2);
        assert_eq!(a.transport_errors, 1);
    }

    #[test]
    fn report_counts_errors_by_status() {
        let mut op = OpStats::default();
        for _ in 0..8 {
            op.record_latency(500);
        }
        op.statuses.insert(200, 5);
        op.statuses.insert(403, 3);
        op.errors = 3;
        let report = RunReport {
            target: "http://127.0.0.1:1".into(),
            workload: "kv2-read".into(),
            token_kind: "policy-scoped".into(),
            connections: 1,
            rate: None,
            elapsed: Duration::from_secs(2),
            total: op.clone(),
            per_op: vec![(Workload::Kv2Read, op)],
            client_cpu_secs: None,
            server_cpu_secs: None,
            machine_cpu_secs: None,
        };
        assert_eq!(report.requests(), 8);
        assert_eq!(report.throughput(), 4.0);
        assert_eq!(report.errors_by_kind(), BTreeMap::from([("403".to_string(), 3)]));
        let j = report.to_json();
        assert_eq!(j["errors_by_status"]["403"], 3);
        assert_eq!(j["latency"]["p50_us"], 500);
        assert!(report.to_table().contains("errors       3  (403: 3)"));
    }

    #[test]
    fn median_of_rounds() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
