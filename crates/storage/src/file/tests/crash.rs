//! Crash test: a child process (this test binary, re-executed) writes with
//! concurrent writers and prints every acknowledged batch; the parent SIGKILLs
//! it mid-stream, reopens the database and checks what survived.
use crate::file::*;
use crate::{Op, Storage};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_DIR_ENV: &str = "COFFER_STORAGE_CRASH_CHILD_DIR";
const CHILD_ROUND_ENV: &str = "COFFER_STORAGE_CRASH_CHILD_ROUND";
const CRASH_WRITERS: u64 = 16;
/// Upper bounds so a child that is never killed (or is orphaned) stops by
/// itself; the parent then fails on "child ended before the kill".
const CRASH_MAX_PER_WRITER: u64 = 20_000;
const CRASH_CHILD_MAX_RUNTIME: Duration = Duration::from_secs(120);

fn crash_key(round: u64, w: u64, i: u64) -> String {
    format!("r{round}/w{w}/{i:06}")
}

fn crash_twin(round: u64, w: u64, i: u64) -> String {
    format!("r{round}/twin/w{w}/{i:06}")
}

fn crash_last(round: u64, w: u64) -> String {
    format!("r{round}/last/w{w}")
}

/// Deterministic value of varying length (up to a few KiB, so batches span
/// several pages).
fn crash_value(round: u64, w: u64, i: u64) -> Vec<u8> {
    let unit = format!("<{round}:{w}:{i}>");
    unit.repeat(1 + ((i * 7 + w * 13) % 300) as usize)
        .into_bytes()
}

/// The child half. Ignored in normal runs; the parent runs it explicitly.
#[test]
#[ignore = "child process of crash_kill9_keeps_every_acknowledged_write"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND_ENV).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let started = Instant::now();
    rt.block_on(async move {
        let s = Arc::new(FileStorage::open(Path::new(&dir)).unwrap());
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..CRASH_WRITERS {
            let s = Arc::clone(&s);
            tasks.spawn(async move {
                for i in 0..CRASH_MAX_PER_WRITER {
                    if started.elapsed() > CRASH_CHILD_MAX_RUNTIME {
                        break;
                    }
                    let value = crash_value(round, w, i);
                    // One batch: the key, its twin and the writer's high-water
                    // mark. Atomicity means all three or none.
                    s.write(vec![
                        Op::Put(crash_key(round, w, i), value.clone()),
                        Op::Put(crash_twin(round, w, i), value),
                        Op::Put(crash_last(round, w), i.to_string().into_bytes()),
                    ])
                    .await
                    .unwrap();
                    println!("ACK {w} {i}");
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    });
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run one child, kill it (SIGKILL) after `kill_after` acknowledgements and
/// return, per writer, the highest acknowledged index (if any).
fn run_child_and_kill(dir: &Path, round: u64, kill_after: usize) -> BTreeMap<u64, u64> {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "file::tests::crash::crash_child",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_ROUND_ENV, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut out = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut acked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut count = 0usize;
    let mut killed = false;
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        // A line cut short by the kill is not a complete acknowledgement.
        if !line.ends_with('\n') {
            continue;
        }
        // The test harness may print "test ... " on the same line first.
        let Some(pos) = line.find("ACK ") else {
            continue;
        };
        let mut parts = line[pos + 4..]
            .split_whitespace()
            .map(|p| p.parse::<u64>().unwrap());
        let (w, i) = (parts.next().unwrap(), parts.next().unwrap());
        let hi = acked.entry(w).or_insert(i);
        *hi = (*hi).max(i);
        count += 1;
        if count == kill_after && !killed {
            child.0.kill().unwrap(); // SIGKILL on Unix
            killed = true;
        }
        // Keep reading: lines written before the kill are still in the pipe.
    }
    let status = child.0.wait().unwrap();
    assert!(
        killed,
        "child ended after {count} acks, before the kill at {kill_after}: {status}"
    );
    assert_eq!(
        status.signal(),
        Some(9),
        "child must die by SIGKILL, got {status}"
    );
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_kill9_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    // Several rounds on the same file: each one also recovers from the crash
    // of the one before.
    for (round, kill_after) in [(0u64, 40usize), (1, 700), (2, 2500)] {
        let d = dir.path().to_path_buf();
        let acked = tokio::task::spawn_blocking(move || run_child_and_kill(&d, round, kill_after))
            .await
            .unwrap();
        assert!(!acked.is_empty());

        let s = FileStorage::open(dir.path()).unwrap();
        for w in 0..CRASH_WRITERS {
            // Each writer writes its indexes in order and waits for each ack,
            // so what survived must be exactly 0..=last, with last at least
            // the highest acknowledged index.
            let last = s.get(&crash_last(round, w)).await.unwrap();
            let last: Option<u64> = last.map(|v| String::from_utf8(v).unwrap().parse().unwrap());
            if let Some(&hi) = acked.get(&w) {
                let last = last
                    .unwrap_or_else(|| panic!("round {round} writer {w}: acked {hi}, lost all"));
                assert!(
                    last >= hi,
                    "round {round} writer {w}: acked {hi} but last is {last}"
                );
            }
            let keys = s
                .keys_with_prefix(&format!("r{round}/w{w}/"))
                .await
                .unwrap();
            let twins = s
                .keys_with_prefix(&format!("r{round}/twin/w{w}/"))
                .await
                .unwrap();
            let expected: Vec<String> = last
                .map(|l| (0..=l).map(|i| crash_key(round, w, i)).collect())
                .unwrap_or_default();
            assert_eq!(keys, expected, "round {round} writer {w}");
            assert_eq!(
                twins.len(),
                keys.len(),
                "round {round} writer {w}: batch torn"
            );
            for i in last.map_or(0..0, |l| 0..l + 1) {
                let want = crash_value(round, w, i);
                assert_eq!(
                    s.get(&crash_key(round, w, i)).await.unwrap().as_ref(),
                    Some(&want)
                );
                assert_eq!(
                    s.get(&crash_twin(round, w, i)).await.unwrap().as_ref(),
                    Some(&want)
                );
            }
        }
        let total: u64 = acked.values().map(|hi| hi + 1).sum();
        eprintln!(
            "round {round}: killed after >= {kill_after} acks, verified {total} acked batches"
        );
    }
}
