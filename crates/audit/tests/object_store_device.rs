//! The `object-store` sink against a real moto S3 server: an outage
//! (SIGSTOP) mid-stream loses and duplicates nothing, a full spool fails
//! writes, a restart continues the counter and uploads leftovers, retention
//! deletes old segments, and Object Lock buckets get locked uploads.

#[path = "support/recorder.rs"]
mod recorder;
mod support;

use coffer_audit::{Options, Sink, SinkError, open_sink};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Moto, TempDir, python};

const BUCKET: &str = "audit";

fn options(moto: &Moto, spool: &std::path::Path, extra: &[(&str, &str)]) -> Options {
    let mut o: Options = [
        ("bucket", BUCKET),
        ("endpoint", moto.endpoint.as_str()),
        ("region", "us-east-1"),
        ("access_key", "testing"),
        ("secret_key", "testing"),
        ("prefix", "coffer/"),
        ("spool_dir", spool.to_str().unwrap()),
        ("segment_max_bytes", "400"),
        ("segment_max_age", "300ms"),
        ("request_timeout", "1s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        o.insert(k.to_string(), v.to_string());
    }
    o
}

fn entry(n: usize) -> String {
    format!(
        "{{\"type\":\"request\",\"request\":{{\"id\":\"req-{n:05}\",\"path\":\"secret/data/x\"}}}}"
    )
}

/// Segment keys under the prefix, sorted by their counter (the order readers
/// use), checked against the fixed key format.
fn segments(moto: &Moto) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = moto
        .list(BUCKET)
        .iter()
        .filter_map(|o| o["key"].as_str().map(str::to_string))
        .filter(|k| k.ends_with(".jsonl"))
        .map(|key| {
            // coffer/YYYY/MM/DD/HHMMSS-NNNNNNNNNN.jsonl
            let rest = key
                .strip_prefix("coffer/")
                .unwrap_or_else(|| panic!("{key}"));
            let (date, file) = rest.rsplit_once('/').unwrap();
            assert!(
                chrono::NaiveDate::parse_from_str(date, "%Y/%m/%d").is_ok(),
                "{key}"
            );
            let (time, counter) = file
                .strip_suffix(".jsonl")
                .unwrap()
                .split_once('-')
                .unwrap();
            assert!(
                time.len() == 6 && chrono::NaiveTime::parse_from_str(time, "%H%M%S").is_ok(),
                "{key}"
            );
            assert_eq!(counter.len(), 10, "{key}");
            (counter.parse().unwrap(), key)
        })
        .collect();
    out.sort();
    out
}

fn uploaded_lines(moto: &Moto) -> Vec<String> {
    segments(moto)
        .iter()
        .flat_map(|(_, key)| {
            let text = moto.get(BUCKET, key);
            assert!(
                text.ends_with('\n'),
                "segment {key} does not end in a newline"
            );
            text.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

fn spool_segments(spool: &std::path::Path) -> usize {
    std::fs::read_dir(spool)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".jsonl")
        })
        .count()
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn write_all(sink: &Arc<dyn Sink>, range: std::ops::Range<usize>) {
    for n in range {
        let started = Instant::now();
        sink.write(entry(n).as_bytes())
            .await
            .unwrap_or_else(|e| panic!("entry {n}: {e}"));
        // a write never waits for the store
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "write {n} took {:?}",
            started.elapsed()
        );
        if n % 5 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_mid_stream_loses_and_duplicates_nothing() {
    let Some(py) = python() else { return };
    let moto = Moto::start(&py);
    moto.create_bucket(BUCKET, false);
    let spool = TempDir::new("outage");
    let device = spool.path().display().to_string();
    recorder::values();
    let sink = open_sink("object-store", &options(&moto, spool.path(), &[]))
        .await
        .unwrap();

    write_all(&sink, 0..20).await;
    wait_for(
        "the first segments to upload",
        Duration::from_secs(20),
        || !segments(&moto).is_empty(),
    )
    .await;

    moto.proc.signal("STOP");
    write_all(&sink, 20..60).await;
    // the store is frozen: segments pile up in the spool
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = spool_segments(spool.path());
    assert!(
        held >= 2,
        "segments should wait in the spool during the outage"
    );
    let gauge = recorder::get("coffer.audit.spool_segments", &device).unwrap();
    assert!(
        gauge >= (held - 1) as f64,
        "spool_segments {gauge}, {held} files in the spool"
    );
    assert!(recorder::get("coffer.audit.spool_bytes", &device).unwrap() > 0.0);
    moto.proc.signal("CONT");

    write_all(&sink, 60..70).await;
    sink.close().await;

    let want: Vec<String> = (0..70).map(entry).collect();
    assert_eq!(
        uploaded_lines(&moto),
        want,
        "every entry exactly once, in order"
    );
    assert_eq!(
        spool_segments(spool.path()),
        0,
        "uploaded segments leave the spool"
    );
    assert_eq!(
        recorder::get("coffer.audit.spool_segments", &device),
        Some(0.0)
    );
    assert_eq!(
        recorder::get("coffer.audit.spool_bytes", &device),
        Some(0.0)
    );
    let failures = recorder::get("coffer.audit.upload_failures", &device).unwrap_or(0.0);
    assert!(
        failures >= 1.0,
        "the frozen store's failed uploads counted {failures}"
    );
    let counters: Vec<u64> = segments(&moto).iter().map(|(c, _)| *c).collect();
    assert!(
        counters.windows(2).all(|w| w[0] < w[1]) && counters.len() > 3,
        "{counters:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spool_fails_writes_until_the_store_is_back() {
    let Some(py) = python() else { return };
    let moto = Moto::start(&py);
    moto.create_bucket(BUCKET, false);
    let spool = TempDir::new("full");
    moto.proc.signal("STOP");
    let sink = open_sink(
        "object-store",
        &options(&moto, spool.path(), &[("spool_max_bytes", "2000")]),
    )
    .await
    .unwrap();

    let mut written = 0;
    let err = loop {
        match sink.write(entry(written).as_bytes()).await {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 100, "the spool never filled up");
    };
    match err {
        SinkError::Write(text) => assert!(text.contains("spool full"), "{text}"),
        other => panic!("{other}"),
    }
    assert!(written >= 20, "only {written} entries fitted in 2000 bytes");

    moto.proc.signal("CONT");
    wait_for("the spool to drain", Duration::from_secs(30), || {
        spool_segments(spool.path()) <= 1
    })
    .await;
    // room again: the refused entry goes in now
    sink.write(entry(written).as_bytes()).await.unwrap();
    sink.close().await;
    let want: Vec<String> = (0..=written).map(entry).collect();
    assert_eq!(uploaded_lines(&moto), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_uploads_leftovers_and_continues_the_counter() {
    let Some(py) = python() else { return };
    let moto = Moto::start(&py);
    moto.create_bucket(BUCKET, false);
    let spool = TempDir::new("restart");
    moto.proc.signal("STOP");
    let opts = options(
        &moto,
        spool.path(),
        &[("close_timeout", "500ms"), ("segment_max_age", "1h")],
    );

    let first = open_sink("object-store", &opts).await.unwrap();
    write_all(&first, 0..15).await;
    // the store is down: the segments stay in the spool
    first.close().await;
    drop(first);
    let left = spool_segments(spool.path());
    assert!(left >= 2, "left {left} segments");

    // a second run, with the current segment of a crashed run lying around
    let crashed = open_sink("object-store", &opts).await.unwrap();
    write_all(&crashed, 15..20).await;
    drop(crashed);

    let second = open_sink("object-store", &opts).await.unwrap();
    write_all(&second, 20..30).await;
    moto.proc.signal("CONT");
    second.close().await;

    let want: Vec<String> = (0..30).map(entry).collect();
    assert_eq!(
        uploaded_lines(&moto),
        want,
        "every entry exactly once, in order"
    );
    let counters: Vec<u64> = segments(&moto).iter().map(|(c, _)| *c).collect();
    assert!(counters.windows(2).all(|w| w[0] < w[1]), "{counters:?}");
    assert_eq!(spool_segments(spool.path()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_segments_only() {
    let Some(py) = python() else { return };
    let moto = Moto::start(&py);
    moto.create_bucket(BUCKET, false);
    // not a segment: retention must leave it alone
    moto.put(BUCKET, "coffer/README.txt", "hands off");
    let spool = TempDir::new("retention");
    let sink = open_sink(
        "object-store",
        &options(&moto, spool.path(), &[("retention", "3s")]),
    )
    .await
    .unwrap();
    write_all(&sink, 0..10).await;
    wait_for("uploads", Duration::from_secs(20), || {
        uploaded_lines(&moto).len() == 10
    })
    .await;
    let uploaded: Vec<String> = segments(&moto).into_iter().map(|(_, k)| k).collect();
    wait_for(
        "retention to delete the old segments",
        Duration::from_secs(20),
        || {
            let now: Vec<String> = segments(&moto).into_iter().map(|(_, k)| k).collect();
            uploaded.iter().all(|k| !now.contains(k))
        },
    )
    .await;
    sink.close().await;
    let keys: Vec<String> = moto
        .list(BUCKET)
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    assert!(keys.contains(&"coffer/README.txt".to_string()), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_buckets_get_compliance_retention() {
    let Some(py) = python() else { return };
    let moto = Moto::start(&py);
    moto.create_bucket(BUCKET, true);
    let spool = TempDir::new("lock");
    let sink = open_sink(
        "object-store",
        &options(&moto, spool.path(), &[("retention", "1h")]),
    )
    .await
    .unwrap();
    write_all(&sink, 0..3).await;
    sink.close().await;
    let objects: Vec<Value> = moto.list(BUCKET);
    assert!(!objects.is_empty());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for o in &objects {
        assert_eq!(o["lock_mode"], "COMPLIANCE", "{o}");
        let until = o["retain_until"].as_f64().unwrap();
        assert!(
            (until - (now + 3600.0)).abs() < 120.0,
            "retain until {until}, now {now}: {o}"
        );
    }
    assert_eq!(uploaded_lines(&moto), (0..3).map(entry).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_buckets_get_plain_uploads_in_auto_mode() {
    let Some(py) = python() else { return };
    let moto = Moto::start(&py);
    moto.create_bucket(BUCKET, false);
    let spool = TempDir::new("nolock");
    let sink = open_sink("object-store", &options(&moto, spool.path(), &[]))
        .await
        .unwrap();
    write_all(&sink, 0..3).await;
    sink.close().await;
    let objects = moto.list(BUCKET);
    assert!(
        !objects.is_empty() && objects.iter().all(|o| o["lock_mode"].is_null()),
        "{objects:?}"
    );
    assert_eq!(uploaded_lines(&moto), (0..3).map(entry).collect::<Vec<_>>());
}

#[tokio::test]
async fn bad_options_are_rejected() {
    let spool = TempDir::new("opts");
    let dir = spool.path().to_str().unwrap();
    for (pairs, want) in [
        (vec![("spool_dir", dir)], "\"bucket\" is required"),
        (vec![("bucket", "b")], "\"spool_dir\" is required"),
        (
            vec![
                ("bucket", "b"),
                ("spool_dir", dir),
                ("retention", "forever"),
            ],
            "retention",
        ),
        (
            vec![
                ("bucket", "b"),
                ("spool_dir", dir),
                ("segment_max_bytes", "-1"),
            ],
            "segment_max_bytes",
        ),
        (
            vec![
                ("bucket", "b"),
                ("spool_dir", dir),
                ("object_lock", "maybe"),
            ],
            "object_lock",
        ),
        (
            vec![("bucket", "b"), ("spool_dir", dir), ("prefix", "/abs/")],
            "prefix",
        ),
        (
            vec![("bucket", "b"), ("spool_dir", dir), ("prefix", "a//b/")],
            "prefix",
        ),
        (
            vec![("bucket", "b"), ("spool_dir", dir), ("access_key", "AKIA")],
            "go together",
        ),
    ] {
        let o: Options = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match open_sink("object-store", &o).await {
            Err(SinkError::Options(text)) => assert!(text.contains(want), "{text}"),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("{pairs:?} accepted"),
        }
    }
}
