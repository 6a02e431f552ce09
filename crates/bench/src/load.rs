//! The load engine: one hyper HTTP/1.1 keep-alive connection per worker task (driven inside
//! that task), prebuilt
//! requests, bodies read and discarded, per-worker histograms merged at the end.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderValue;
use tokio::sync::{Barrier, watch};

use crate::client::Target;
use crate::wire::{WireConn, encode_request};
use crate::report::OpStats;
use crate::workload::{OpPlan, Prepared, Workload};

/// When a run stops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    Duration(Duration),
    Requests(u64),
}

pub struct LoadConfig {
    pub target: Target,
    /// Sent as `X-Vault-Token` on every request when set.
    pub token: Option<HeaderValue>,
    pub ops: Vec<OpPlan>,
    pub connections: usize,
    pub limit: Limit,
    /// Requests per second across all connections; `None` is closed loop.
    pub rate: Option<f64>,
    /// Print a live progress line on stderr (only if stderr is a terminal).
    pub progress: bool,
}

/// What a run measured; turned into a [`crate::report::RunReport`] by the caller.
pub struct LoadOutcome {
    pub elapsed: Duration,
    pub total: OpStats,
    pub per_op: Vec<(Workload, OpStats)>,
}

struct Shared {
    issued: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    stop: Arc<AtomicBool>,
}

/// Drive the target until the limit is reached or `stop` is set.
pub async fn run(cfg: Arc<LoadConfig>, stop: Arc<AtomicBool>) -> anyhow::Result<LoadOutcome> {
    anyhow::ensure!(cfg.connections > 0, "connections: must be at least 1");
    anyhow::ensure!(!cfg.ops.is_empty(), "workload: nothing to run");
    anyhow::ensure!(cfg.ops.iter().all(|op| !op.requests.is_empty()), "workload: an operation has no requests");
    if let Some(rate) = cfg.rate {
        anyhow::ensure!(rate.is_finite() && rate > 0.0, "rate: must be a positive number");
    }
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        stop,
    });
    // All connections are opened before the clock starts.
    let barrier = Arc::new(Barrier::new(cfg.connections + 1));
    let connected = Arc::new(AtomicUsize::new(0));
    let (start_tx, start_rx) = watch::channel::<Option<Instant>>(None);
    // Every request's bytes, built once: [op][request].
    let wire: Arc<Vec<Vec<Bytes>>> = Arc::new(cfg.ops.iter().map(|op| op.requests.iter().map(|p| encode(p, &cfg)).collect()).collect());
    let mut handles = Vec::with_capacity(cfg.connections);
    for id in 0..cfg.connections {
        let cfg = cfg.clone();
        let wire = wire.clone();
        let shared = shared.clone();
        let barrier = barrier.clone();
        let mut start_rx = start_rx.clone();
        let connected = connected.clone();
        handles.push(tokio::spawn(async move {
            let sender = WireConn::connect(&cfg.target).await.ok();
            if sender.is_some() {
                connected.fetch_add(1, Ordering::Relaxed);
            }
            barrier.wait().await;
            let start = match start_rx.wait_for(Option::is_some).await {
                Ok(v) => v.unwrap_or_else(Instant::now),
                Err(_) => Instant::now(),
            };
            worker(id, &cfg, &shared, start, &wire, sender).await
        }));
    }
    barrier.wait().await;
    if connected.load(Ordering::Relaxed) == 0 {
        // Nothing listening: say so instead of reporting a run made only of connect errors.
        shared.stop.store(true, Ordering::Relaxed);
        let _ = start_tx.send(Some(Instant::now()));
        for h in handles {
            let _ = h.await;
        }
        let err = WireConn::connect(&cfg.target).await.err().map(|e| e.to_string()).unwrap_or_default();
        anyhow::bail!("cannot connect to {}: {err}", cfg.target.url);
    }
    let start = Instant::now();
    let _ = start_tx.send(Some(start));

    let progress = (cfg.progress && std::io::stderr().is_terminal()).then(|| {
        let shared = shared.clone();
        tokio::spawn(progress_line(shared, start))
    });

    let mut per_op: Vec<OpStats> = vec![OpStats::default(); cfg.ops.len()];
    for h in handles {
        let stats = h.await?;
        for (acc, s) in per_op.iter_mut().zip(&stats) {
            acc.merge(s);
        }
    }
    let elapsed = start.elapsed();
    if let Some(p) = progress {
        p.abort();
        eprint!("\r\x1b[2K");
    }
    let mut total = OpStats::default();
    for s in &per_op {
        total.merge(s);
    }
    Ok(LoadOutcome {
        elapsed,
        total,
        per_op: cfg.ops.iter().map(|op| op.workload).zip(per_op).collect(),
    })
}

async fn progress_line(shared: Arc<Shared>, start: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0u64;
    loop {
        tick.tick().await;
        let done = shared.done.load(Ordering::Relaxed);
        let failed = shared.failed.load(Ordering::Relaxed);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K[{:6.1}s] {done} requests  {} req/s  {failed} errors",
            start.elapsed().as_secs_f64(),
            done - last
        );
        let _ = err.flush();
        last = done;
    }
}

/// xorshift64*: cheap, per-worker, good enough to spread keys and pick mix entries.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
}

/// Per-worker status counters; folded into `OpStats` once at the end.
const STATUS_SLOTS: usize = 600;

async fn worker(id: usize, cfg: &LoadConfig, shared: &Shared, start: Instant, wire: &[Vec<Bytes>], mut sender: Option<WireConn>) -> Vec<OpStats> {
    let mut stats: Vec<OpStats> = vec![OpStats::default(); cfg.ops.len()];
    let mut statuses: Vec<[u64; STATUS_SLOTS]> = vec![[0; STATUS_SLOTS]; cfg.ops.len()];
    let mut rng = Rng::new(id as u64 + 1);
    let cumulative: Vec<u64> = cfg
        .ops
        .iter()
        .scan(0u64, |acc, op| {
            *acc += u64::from(op.weight);
            Some(*acc)
        })
        .collect();
    let total_weight = cumulative.last().copied().unwrap_or(1).max(1);
    let deadline = match cfg.limit {
        Limit::Duration(d) => Some(start + d),
        Limit::Requests(_) => None,
    };
    // Fixed rate: each connection sends every `interval`, staggered across connections.
    let interval = cfg.rate.map(|r| Duration::from_secs_f64(cfg.connections as f64 / r));
    let mut next_send = interval.map(|iv| start + iv.mul_f64(id as f64 / cfg.connections as f64));

    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if let (Some(iv), Some(at)) = (interval, next_send.as_mut()) {
            if deadline.is_some_and(|d| *at >= d) {
                break;
            }
            tokio::time::sleep_until((*at).into()).await;
            *at += iv;
            if shared.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        match cfg.limit {
            Limit::Duration(_) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
            }
            Limit::Requests(n) => {
                if shared.issued.fetch_add(1, Ordering::Relaxed) >= n {
                    break;
                }
            }
        }

        let op_idx = if cfg.ops.len() == 1 {
            0
        } else {
            let pick = rng.next() % total_weight;
            cumulative.iter().position(|&c| pick < c).unwrap_or(0)
        };
        let op = &cfg.ops[op_idx];
        let req_idx = if op.requests.len() == 1 { 0 } else { rng.below(op.requests.len()) };

        let live = match sender.take() {
            Some(s) if !s.is_closed() => Some(s),
            _ => WireConn::connect(&cfg.target).await.ok(),
        };
        let Some(mut s) = live else {
            stats[op_idx].transport_errors += 1;
            shared.failed.fetch_add(1, Ordering::Relaxed);
            shared.done.fetch_add(1, Ordering::Relaxed);
            // Server down: back off instead of spinning on connect.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };

        let t0 = Instant::now();
        let result = s.exchange(&wire[op_idx][req_idx]).await;
        let micros = t0.elapsed().as_micros() as u64;
        match result {
            Ok(status) => {
                sender = Some(s);
                let st = &mut stats[op_idx];
                st.record_latency(micros);
                statuses[op_idx][usize::from(status).min(STATUS_SLOTS - 1)] += 1;
                if !op.workload.expects(status) {
                    st.errors += 1;
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => {
                stats[op_idx].transport_errors += 1;
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }

    for (st, counts) in stats.iter_mut().zip(&statuses) {
        for (status, &n) in counts.iter().enumerate() {
            if n > 0 {
                *st.statuses.entry(status as u16).or_default() += n;
            }
        }
    }
    stats
}

fn encode(p: &Prepared, cfg: &LoadConfig) -> Bytes {
    let path = p.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let host = cfg.target.authority.as_str();
    encode_request(p.method.as_str(), path, host, cfg.token.as_ref().map(HeaderValue::as_bytes), &p.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_below_stays_in_range_and_spreads() {
        let mut rng = Rng::new(7);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[rng.below(10)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800 && n < 1200), "{seen:?}");
    }
}
