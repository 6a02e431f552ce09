//! Ties flags, setup, the load engine and reports together: single runs and `-compare`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, bail};
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use crate::args::{Format, RunArgs};
use crate::client::{Target, parse_address};
use crate::load::{self, Limit, LoadConfig};
use crate::report::{RunReport, median};
use crate::setup::{self, SetupOptions};
use crate::workload::prepare;

/// One server under test, set up and ready for rounds.
struct Side {
    target: Target,
    setup_token: Option<String>,
    prepared: setup::Prepared,
    config: Arc<LoadConfig>,
    server_pid: Option<u32>,
}

pub fn limit_of(args: &RunArgs) -> Limit {
    match (args.requests, args.duration) {
        (Some(n), _) => Limit::Requests(n),
        (None, Some(d)) => Limit::Duration(d),
        (None, None) => Limit::Duration(Duration::from_secs(10)),
    }
}

fn setup_options(args: &RunArgs) -> SetupOptions {
    let path = if args.path.starts_with('/') { args.path.clone() } else { format!("/{}", args.path) };
    SetupOptions {
        mix: args.workload.clone(),
        keys: args.keys.max(1),
        value_size: args.value_size,
        mount: args.mount.clone(),
        root_token_for_load: args.root_token_for_load,
        trivial_path: path,
    }
}

async fn prepare_side(
    args: &RunArgs,
    address: &str,
    token: Option<String>,
    server_pid: Option<u32>,
) -> anyhow::Result<Side> {
    let target = parse_address(address).map_err(anyhow::Error::msg)?;
    let prepared = setup::setup(&target, token.as_deref(), &setup_options(args))
        .await
        .with_context(|| format!("setup on {}", target.url))?;
    let ops = match prepare(&args.workload, &prepared.targets) {
        Ok(ops) => ops,
        Err(e) => {
            finish_side_parts(&target, token.as_deref(), prepared.cleanup).await;
            bail!(e);
        }
    };
    let load_token = match prepared.load_token.as_deref().map(HeaderValue::from_str).transpose() {
        Ok(t) => t,
        Err(_) => {
            finish_side_parts(&target, token.as_deref(), prepared.cleanup).await;
            bail!("token: not a valid header value");
        }
    };
    let config = Arc::new(LoadConfig {
        target: target.clone(),
        token: load_token,
        ops,
        connections: args.connections,
        limit: limit_of(args),
        rate: args.rate,
        progress: !args.no_progress,
    });
    Ok(Side { target, setup_token: token, prepared, config, server_pid })
}

async fn finish_side_parts(target: &Target, token: Option<&str>, cleanup: setup::Cleanup) {
    if let Some(token) = token
        && let Err(e) = setup::teardown(target, token, cleanup).await
    {
        eprintln!("warning: teardown on {}: {e:#}", target.url);
    }
}

async fn finish_side(side: Side) {
    finish_side_parts(&side.target, side.setup_token.as_deref(), side.prepared.cleanup).await;
}

async fn run_round(side: &Side, args: &RunArgs, stop: &Arc<AtomicBool>) -> anyhow::Result<RunReport> {
    let machine_cpu0 = machine_busy_cpu_secs();
    let client_cpu0 = process_cpu_secs(None);
    let server_cpu0 = side.server_pid.and_then(|p| process_cpu_secs(Some(p)));
    let outcome = load::run(side.config.clone(), stop.clone()).await?;
    let client_cpu = client_cpu0.zip(process_cpu_secs(None)).map(|(a, b)| b - a);
    let machine_cpu = machine_cpu0.zip(machine_busy_cpu_secs()).map(|(a, b)| b - a);
    let server_cpu = server_cpu0.zip(side.server_pid.and_then(|p| process_cpu_secs(Some(p)))).map(|(a, b)| b - a);
    Ok(RunReport {
        target: side.target.url.clone(),
        workload: args.workload.to_string(),
        token_kind: side.prepared.token_kind.clone(),
        connections: args.connections,
        rate: args.rate,
        elapsed: outcome.elapsed,
        total: outcome.total,
        per_op: outcome.per_op,
        client_cpu_secs: client_cpu,
        server_cpu_secs: server_cpu,
        machine_cpu_secs: machine_cpu,
    })
}

/// Run the load described by `args` (and `-compare` if set); prints the report on stdout.
pub async fn run(args: RunArgs, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    if args.connections == 0 {
        bail!("connections: must be at least 1");
    }
    if args.compare.is_some() && args.rounds == 0 {
        bail!("rounds: must be at least 1");
    }
    let a = prepare_side(&args, &args.address, args.token.clone(), args.server_pid).await?;
    let Some(addr_b) = args.compare.clone() else {
        let result = run_round(&a, &args, &stop).await;
        finish_side(a).await;
        let report = result?;
        match args.format {
            Format::Table => print!("{}", report.to_table()),
            Format::Json => println!("{}", serde_json::to_string_pretty(&report.to_json())?),
        }
        return Ok(());
    };
    let token_b = args.token2.clone().or_else(|| args.token.clone());
    let b = match prepare_side(&args, &addr_b, token_b, args.server_pid2).await {
        Ok(b) => b,
        Err(e) => {
            finish_side(a).await;
            return Err(e);
        }
    };
    let result = compare_rounds(&a, &b, &args, &stop).await;
    finish_side(a).await;
    finish_side(b).await;
    result
}

async fn compare_rounds(a: &Side, b: &Side, args: &RunArgs, stop: &Arc<AtomicBool>) -> anyhow::Result<()> {
    let mut rounds: Vec<(RunReport, RunReport)> = Vec::new();
    for round in 1..=args.rounds {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        // Alternate which side goes first so drift (thermal, page cache) hits both evenly.
        let (ra, rb) = if round % 2 == 1 {
            let ra = run_round(a, args, stop).await?;
            (ra, run_round(b, args, stop).await?)
        } else {
            let rb = run_round(b, args, stop).await?;
            (run_round(a, args, stop).await?, rb)
        };
        if args.format == Format::Table {
            println!("round {round}");
            println!("  A {}", one_line(&ra));
            println!("  B {}", one_line(&rb));
        }
        rounds.push((ra, rb));
    }
    if rounds.is_empty() {
        bail!("interrupted before the first round finished");
    }
    let ratio = |f: &dyn Fn(&RunReport) -> f64| {
        median(&rounds.iter().map(|(ra, rb)| f(ra) / f(rb)).collect::<Vec<_>>())
    };
    let thr = ratio(&|r| r.throughput());
    let p50 = ratio(&|r| r.total.percentiles().p50 as f64);
    let p99 = ratio(&|r| r.total.percentiles().p99 as f64);
    match args.format {
        Format::Table => {
            println!();
            println!("A = {}   B = {}", a.target.url, b.target.url);
            println!("workload {}  connections {}  rounds {}", args.workload, args.connections, rounds.len());
            println!("median ratio A/B: throughput {thr:.3}x   p50 {p50:.3}x   p99 {p99:.3}x");
        }
        Format::Json => {
            let per_round: Vec<Value> = rounds
                .iter()
                .enumerate()
                .map(|(i, (ra, rb))| json!({"round": i + 1, "a": ra.to_json(), "b": rb.to_json()}))
                .collect();
            let out = json!({
                "a": a.target.url, "b": b.target.url,
                "workload": args.workload.to_string(),
                "rounds": per_round,
                "median_ratio_a_over_b": {"throughput": thr, "p50": p50, "p99": p99},
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}

fn one_line(r: &RunReport) -> String {
    let p = r.total.percentiles();
    use crate::duration::format_micros as f;
    format!(
        "{:>10.0} req/s  p50 {:>9}  p99 {:>9}  max {:>9}  requests {}  errors {}",
        r.throughput(),
        f(p.p50),
        f(p.p99),
        f(p.max),
        r.requests(),
        r.error_count()
    )
}

/// Busy CPU seconds of the whole machine, summed over cores, from /proc/stat on Linux.
/// Busy minus client minus server is what other processes took during the run.
pub fn machine_busy_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0);
    Some(busy as f64 / 100.0)
}

/// User+system CPU seconds of a process (`None` = this one), from /proc on Linux.
pub fn process_cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every mainstream Linux architecture.
    Some((utime + stime) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_time() {
        if cfg!(target_os = "linux") {
            assert!(process_cpu_secs(None).is_some());
            assert!(machine_busy_cpu_secs().is_some());
        }
    }
}
