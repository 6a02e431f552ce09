//! Durable write throughput of `FileStorage`, with 1 and with 64 concurrent
//! writers, to show what group commit buys; plus the cost of a `get` inline
//! against a `spawn_blocking` hand-off (the reason reads run inline).
//!
//! ```text
//! cargo run -p coffer-storage --example write_bench [--release] -- [DIR] [--2pc]
//! ```
//!
//! DIR defaults to a temporary directory under the system temp dir; give one
//! on the disk you care about (tmpfs makes fsync free and the numbers
//! meaningless). Prints numbers only; nothing here asserts a duration.
//!
//! Measured on the 2-core development VM (ext4 on a virtio disk), release
//! build, while other builds were running (so expect noise):
//!
//! | writers | writes/s      | batches/commit | p50 latency | p99 latency |
//! |---------|---------------|----------------|-------------|-------------|
//! | 1       | 1.9k - 3.1k   | 1              | 0.3-0.5 ms  | 0.6-1.2 ms  |
//! | 64      | 27k - 35k     | 32-33          | 1.8-2.2 ms  | 2.8-5.1 ms  |
//!
//! With `--2pc`: 1 writer 1.5k-1.6k writes/s, 64 writers 27k writes/s.
//! `get` (200 bytes): 0.9-1.5 µs inline, 37-55 µs via `spawn_blocking`.

use coffer_storage::{FileOptions, FileStorage, Op, Storage};
use std::sync::Arc;
use std::time::{Duration, Instant};

const VALUE_LEN: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

async fn run(s: &Arc<FileStorage>, writers: usize, per_writer: usize, tag: &str) {
    let before = s.stats();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let s = Arc::clone(s);
        let tag = tag.to_string();
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(per_writer);
            for i in 0..per_writer {
                let t = Instant::now();
                s.put(&format!("bench/{tag}/w{w}/{i}"), vec![b'x'; VALUE_LEN])
                    .await
                    .unwrap();
                lat.push(t.elapsed());
            }
            lat
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = tasks.join_next().await {
        lat.extend(r.unwrap());
    }
    let elapsed = start.elapsed();
    lat.sort();
    let after = s.stats();
    let writes = (writers * per_writer) as f64;
    let commits = after.commits - before.commits;
    println!(
        "{writers:>3} writer(s): {:>6} writes in {:>6.2}s = {:>7.0} writes/s, {:>5} commits \
         ({:>5.1} batches/commit, {:>6.0} commits/s), latency p50 {:>7.2?} p99 {:>7.2?}",
        writes,
        elapsed.as_secs_f64(),
        writes / elapsed.as_secs_f64(),
        commits,
        writes / commits.max(1) as f64,
        commits as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    );
}

async fn reads(s: &Arc<FileStorage>) {
    const N: u32 = 20_000;
    s.write(
        (0..100)
            .map(|i| Op::Put(format!("read/{i}"), vec![b'y'; VALUE_LEN]))
            .collect(),
    )
    .await
    .unwrap();
    let start = Instant::now();
    for i in 0..N {
        let v = s.get(&format!("read/{}", i % 100)).await.unwrap();
        assert!(v.is_some());
    }
    let inline = start.elapsed() / N;

    let handle = tokio::runtime::Handle::current();
    let start = Instant::now();
    for i in 0..N {
        let s = Arc::clone(s);
        let handle = handle.clone();
        let v = tokio::task::spawn_blocking(move || {
            handle
                .block_on(s.get(&format!("read/{}", i % 100)))
                .unwrap()
        })
        .await
        .unwrap();
        assert!(v.is_some());
    }
    let blocking = start.elapsed() / N;

    let start = Instant::now();
    for _ in 0..N {
        tokio::task::spawn_blocking(|| ()).await.unwrap();
    }
    let handoff = start.elapsed() / N;
    println!(
        "get of a {VALUE_LEN}-byte value: inline {inline:.2?}, via spawn_blocking {blocking:.2?} \
         (empty spawn_blocking round trip {handoff:.2?})"
    );
}

fn main() {
    let mut dir_arg = None;
    let mut options = FileOptions::default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--2pc" => options.two_phase_commit = true,
            "--quick-repair" => options.quick_repair = true,
            _ => dir_arg = Some(std::path::PathBuf::from(arg)),
        }
    }
    let tmp;
    let dir = match dir_arg {
        Some(d) => d,
        None => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_path_buf()
        }
    };
    println!("FileStorage at {} with {options:?}", dir.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Arc::new(FileStorage::open_with(&dir, options).unwrap());
        run(&s, 1, 300, "warmup").await;
        run(&s, 1, 1000, "one").await;
        run(&s, 64, 200, "many").await;
        run(&s, 1, 1000, "one-again").await;
        reads(&s).await;
    });
}
