//! The chain written by a real [`Device`] into memory "files", then tampered
//! with and verified.

use super::verify::{Kind, Report, Verifier};
use super::*;
use crate::device::Device;
use crate::sink::Sink;
use std::sync::{Arc, Mutex};

/// A sink that keeps lines in memory; `reopen` starts a new "file" (as a
/// file device does after logrotate moved the old one away).
#[derive(Default)]
struct MemSink {
    files: Mutex<Vec<Vec<Vec<u8>>>>,
}

#[async_trait::async_trait]
impl Sink for MemSink {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        let mut f = self.files.lock().unwrap();
        if f.is_empty() {
            f.push(Vec::new());
        }
        f.last_mut().unwrap().push(line.to_vec());
        Ok(())
    }
    async fn reopen(&self) -> Result<(), SinkError> {
        self.files.lock().unwrap().push(Vec::new());
        Ok(())
    }
}

impl MemSink {
    fn files(&self) -> Vec<Vec<Vec<u8>>> {
        self.files.lock().unwrap().clone()
    }
    fn lines(&self) -> Vec<Vec<u8>> {
        self.files().concat()
    }
}

#[derive(Default)]
struct MemStore {
    point: Mutex<Option<ResumePoint>>,
}

#[async_trait::async_trait]
impl CheckpointStore for MemStore {
    async fn save(&self, point: &ResumePoint) -> Result<(), String> {
        *self.point.lock().unwrap() = Some(point.clone());
        Ok(())
    }
}

impl MemStore {
    fn point(&self) -> ResumePoint {
        self.point
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(ResumePoint::genesis)
    }
    fn checkpoint(&self) -> Checkpoint {
        self.point().checkpoint.expect("a checkpoint was stored")
    }
}

struct Fixture {
    pkcs8: Zeroizing<Vec<u8>>,
    public: Vec<u8>,
    store: Arc<MemStore>,
    sink: Arc<MemSink>,
}

fn fixture() -> Fixture {
    let (key, pkcs8) = SigningKey::generate().unwrap();
    Fixture {
        public: key.public_key().to_vec(),
        pkcs8,
        store: Arc::default(),
        sink: Arc::default(),
    }
}

impl Fixture {
    fn device(&self, every: u64) -> Device {
        let state = ChainState {
            key: SigningKey::from_pkcs8(&self.pkcs8).unwrap(),
            resume: self.store.point(),
            store: self.store.clone(),
            options: ChainOptions {
                checkpoint_entries: every,
                ..Default::default()
            },
        };
        Device::with_chain(self.sink.clone(), state)
    }
}

fn entry(i: usize) -> Vec<u8> {
    format!(r#"{{"time":"2026-01-01T00:00:00Z","type":"request","auth":{{"token_type":"service"}},"request":{{"id":"{i}","path":"secret/data/x"}}}}"#).into_bytes()
}

async fn write_n(d: &Device, from: usize, n: usize) {
    for i in from..from + n {
        d.write(&entry(i)).await.unwrap();
    }
}

fn verify_files(files: &[Vec<Vec<u8>>], keys: &[&[u8]], trusted: Option<Checkpoint>) -> Report {
    let mut v = Verifier::new(keys.iter().map(|k| k.to_vec()).collect(), trusted);
    for (i, f) in files.iter().enumerate() {
        let mut text = Vec::new();
        for l in f {
            text.extend_from_slice(l);
            text.push(b'\n');
        }
        if !v.read(&format!("f{i}"), text.as_slice()).unwrap() {
            break;
        }
    }
    v.finish()
}

fn verify(lines: &[Vec<u8>], key: &[u8], trusted: Option<Checkpoint>) -> Report {
    verify_files(&[lines.to_vec()], &[key], trusted)
}

fn broken(r: &Report) -> (Kind, u64, String) {
    let b = r
        .broken
        .as_ref()
        .unwrap_or_else(|| panic!("expected a break, got {r:#?}"));
    (
        b.kind,
        b.place.as_ref().map(|p| p.line).unwrap_or(0),
        b.message.clone(),
    )
}

/// 25 entries, a checkpoint every 10, closed: resume + 25 entries + 3 checkpoints.
async fn closed_log(f: &Fixture) -> Vec<Vec<u8>> {
    let d = f.device(10);
    write_n(&d, 0, 25).await;
    d.close().await;
    f.sink.lines()
}

#[test]
fn splice_adds_the_member_before_the_final_brace() {
    let (key, _) = SigningKey::generate().unwrap();
    let store: Arc<dyn CheckpointStore> = Arc::new(MemStore::default());
    let mut c = Chain::new(ChainState {
        key,
        resume: ResumePoint::genesis(),
        store,
        options: ChainOptions::default(),
    });
    let zeros = "0".repeat(64);
    assert_eq!(
        String::from_utf8(c.splice(br#"{"a":1}"#).unwrap()).unwrap(),
        format!(r#"{{"a":1,"chain":{{"seq":0,"prev":"sha256:{zeros}"}}}}"#)
    );
    assert_eq!(
        String::from_utf8(c.splice(b"{ }").unwrap()).unwrap(),
        format!(r#"{{ "chain":{{"seq":0,"prev":"sha256:{zeros}"}}}}"#)
    );
    // A prefix stays in front and is not hashed.
    let line = c.splice(br#"PFX {"a":1}"#).unwrap();
    assert!(line.starts_with(br#"PFX {"a":1,"chain":"#));
    c.advance(&line);
    let next = String::from_utf8(c.splice(b"{}").unwrap()).unwrap();
    assert!(
        next.contains(&format!(r#""seq":1,"prev":"{}""#, Digest::of(&line[4..]))),
        "{next}"
    );
    assert!(c.splice(b"[1]").is_err());
    assert!(c.splice(b"{\"a\":1").is_err());
    assert!(c.splice(b"").is_err());
}

#[test]
fn options() {
    let o = |pairs: &[(&str, &str)]| {
        ChainOptions::from_options(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    assert_eq!(o(&[]).unwrap(), ChainOptions::default());
    assert!(!o(&[("chain", "false")]).unwrap().enabled);
    let c = o(&[("checkpoint_entries", "5"), ("checkpoint_interval", "2m")]).unwrap();
    assert_eq!(
        (c.checkpoint_entries, c.checkpoint_interval),
        (5, Duration::from_secs(120))
    );
    assert_eq!(
        o(&[("checkpoint_interval", "30")])
            .unwrap()
            .checkpoint_interval,
        Duration::from_secs(30)
    );
    for bad in [
        ("chain", "yes"),
        ("checkpoint_entries", "0"),
        ("checkpoint_entries", "x"),
        ("checkpoint_interval", "0s"),
        ("checkpoint_interval", "5d"),
    ] {
        assert!(o(&[bad]).is_err(), "{bad:?}");
    }
    assert!(o(&[("format", "jsonx")]).is_err());
    assert!(o(&[("format", "jsonx"), ("chain", "false")]).is_ok());
}

#[tokio::test]
async fn an_untouched_log_verifies() {
    let f = fixture();
    let lines = closed_log(&f).await;
    assert_eq!(lines.len(), 1 + 25 + 3);
    assert!(lines[0].starts_with(br#"{"type":"resume""#));
    assert!(lines[11].starts_with(br#"{"type":"checkpoint""#));
    let r = verify(&lines, &f.public, Some(f.store.checkpoint()));
    assert!(r.intact(), "{r:#?}");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        (r.entries, r.checkpoints, r.resumes, r.unsigned_tail),
        (25, 3, 1, 0)
    );
    assert_eq!(r.trusted_checkpoint.as_ref().map(|p| p.line), Some(29));
    // Every line is valid JSON with the chain member last.
    for l in &lines {
        let v: serde_json::Value = serde_json::from_slice(l).unwrap();
        assert!(v["chain"]["seq"].is_u64());
    }
    // The stored checkpoint is the last line's.
    let cp = f.store.checkpoint();
    assert_eq!(cp.seq, 27);
    assert!(cp.signature_ok(&f.public));
}

#[tokio::test]
async fn an_edited_line_is_named() {
    let f = fixture();
    let mut lines = closed_log(&f).await;
    let s = String::from_utf8(lines[4].clone())
        .unwrap()
        .replace("secret/data/x", "secret/data/y");
    lines[4] = s.into_bytes();
    let (kind, line, msg) = broken(&verify(&lines, &f.public, None));
    assert_eq!((kind, line), (Kind::Modified, 5), "{msg}");
    assert!(msg.contains("f0 line 5 (seq 4) was modified"), "{msg}");
}

#[tokio::test]
async fn an_edited_checkpoint_fails_its_signature() {
    let f = fixture();
    let mut lines = closed_log(&f).await;
    let s = String::from_utf8(lines[11].clone()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    let t = v["time"].as_str().unwrap();
    lines[11] = s.replace(t, "2020-01-01T00:00:00Z").into_bytes();
    let (kind, line, _) = broken(&verify(&lines, &f.public, None));
    assert_eq!((kind, line), (Kind::BadSignature, 12));
    // Verified with another key, the first mark already fails.
    let (other, _) = SigningKey::generate().unwrap();
    let (kind, line, msg) = broken(&verify(
        &closed_log(&fixture()).await,
        other.public_key(),
        None,
    ));
    assert_eq!((kind, line), (Kind::BadSignature, 1), "{msg}");
    assert!(msg.contains("not among the given public keys"));
}

#[tokio::test]
async fn a_deleted_line_is_named() {
    let f = fixture();
    let mut lines = closed_log(&f).await;
    lines.remove(6);
    let (kind, line, msg) = broken(&verify(&lines, &f.public, None));
    assert_eq!((kind, line), (Kind::Deleted, 7), "{msg}");
    assert!(
        msg.contains("seq 6 is missing between f0 line 6 (seq 5) and f0 line 7 (seq 7)"),
        "{msg}"
    );
    lines.drain(6..9);
    let (kind, _, msg) = broken(&verify(&lines, &f.public, None));
    assert_eq!(kind, Kind::Deleted);
    assert!(msg.contains("seq 6..9 are missing"), "{msg}");
}

#[tokio::test]
async fn inserted_lines_are_named() {
    let f = fixture();
    let lines = closed_log(&f).await;
    // A plain Vault line.
    let mut a = lines.clone();
    a.insert(5, entry(99));
    assert_eq!(broken(&verify(&a, &f.public, None)).0, Kind::NotChained);
    assert_eq!(broken(&verify(&a, &f.public, None)).1, 6);
    // A copy of a line.
    let mut b = lines.clone();
    b.insert(5, lines[4].clone());
    let (kind, line, _) = broken(&verify(&b, &f.public, None));
    assert_eq!((kind, line), (Kind::Inserted, 6));
    // A forged line that continues the chain correctly: the next real line
    // then continues from the line before the forgery.
    let mut c = lines.clone();
    let head = Digest::of(&lines[4]);
    let forged = format!(r#"{{"type":"request","chain":{{"seq":5,"prev":"{head}"}}}}"#);
    c.insert(5, forged.into_bytes());
    let (kind, line, msg) = broken(&verify(&c, &f.public, None));
    assert_eq!((kind, line), (Kind::Inserted, 6), "{msg}");
}

#[tokio::test]
async fn swapped_lines_are_named() {
    let f = fixture();
    let mut lines = closed_log(&f).await;
    lines.swap(7, 8);
    let (kind, line, msg) = broken(&verify(&lines, &f.public, None));
    assert_eq!((kind, line), (Kind::Reordered, 8), "{msg}");
    assert!(msg.contains("seq 7 is at f0 line 9"), "{msg}");
    // A line moved far back.
    let g = fixture();
    let mut lines = closed_log(&g).await;
    let l = lines.remove(3);
    lines.insert(9, l);
    assert_eq!(broken(&verify(&lines, &g.public, None)).0, Kind::Reordered);
}

#[tokio::test]
async fn a_cut_at_the_front_is_named_unless_a_mark_starts_the_rest() {
    let f = fixture();
    let lines = closed_log(&f).await;
    let (kind, line, msg) = broken(&verify(&lines[3..], &f.public, None));
    assert_eq!((kind, line), (Kind::FrontCut, 1), "{msg}");
    assert!(msg.contains("starts at seq 3"));
    // From a signed checkpoint on, the rest verifies on its own.
    let r = verify(&lines[11..], &f.public, Some(f.store.checkpoint()));
    assert!(r.intact(), "{r:#?}");
}

#[tokio::test]
async fn a_cut_at_the_tail_is_judged_against_the_latest_checkpoint() {
    let f = fixture();
    let lines = closed_log(&f).await;
    let cut = &lines[..20];
    // Without the published checkpoint the cut is invisible, but reported
    // as an unsigned tail.
    let r = verify(cut, &f.public, None);
    assert!(r.intact());
    assert_eq!(r.unsigned_tail, 8);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.kind == Kind::UnsignedLines && w.message.contains("cannot be judged")),
        "{:?}",
        r.warnings
    );
    let (kind, line, msg) = broken(&verify(cut, &f.public, Some(f.store.checkpoint())));
    assert_eq!((kind, line), (Kind::TailCut, 20), "{msg}");
    assert!(
        msg.contains("seq 27") && msg.contains("end at seq 19"),
        "{msg}"
    );
    // A checkpoint whose signature does not verify is refused.
    let mut cp = f.store.checkpoint();
    cp.time = "2020-01-01T00:00:00Z".into();
    assert_eq!(
        broken(&verify(&lines, &f.public, Some(cp))).0,
        Kind::BadSignature
    );
    // Rewriting the tail (same length, other content) is not the published checkpoint either.
    let mut rewritten = lines[..28].to_vec();
    rewritten.push(lines[27].clone());
    assert!(!verify(&rewritten, &f.public, Some(f.store.checkpoint())).intact());
}

#[tokio::test]
async fn chains_continue_across_rotation() {
    let f = fixture();
    let d = f.device(10);
    write_n(&d, 0, 5).await;
    d.reopen().await.unwrap();
    write_n(&d, 5, 5).await;
    d.reopen().await.unwrap();
    write_n(&d, 10, 3).await;
    d.close().await;
    let files = f.sink.files();
    assert_eq!(files.len(), 3);
    let key: &[u8] = &f.public;
    let r = verify_files(&files, &[key], Some(f.store.checkpoint()));
    assert!(r.intact() && r.warnings.is_empty(), "{r:#?}");
    // Each rotated file starts with a checkpoint: the last one alone verifies...
    assert!(verify_files(&files[2..], &[key], Some(f.store.checkpoint())).intact());
    // ...and without it, the tail is cut.
    assert_eq!(
        broken(&verify_files(
            &files[..2],
            &[key],
            Some(f.store.checkpoint())
        ))
        .0,
        Kind::TailCut
    );
    // Files out of order break at the second file's first line.
    let (kind, _, msg) = broken(&verify_files(
        &[files[1].clone(), files[0].clone()],
        &[key],
        None,
    ));
    assert!(
        matches!(kind, Kind::Reordered | Kind::FrontCut),
        "{kind:?} {msg}"
    );
    assert!(msg.contains("f1 line 1") || msg.contains("f1"), "{msg}");
}

#[tokio::test]
async fn chains_continue_across_restarts() {
    let f = fixture();
    // A clean stop: close signs the tail, the next start resumes right after it.
    let d = f.device(4);
    write_n(&d, 0, 6).await;
    d.close().await;
    drop(d);
    let d = f.device(4);
    write_n(&d, 6, 3).await;
    d.close().await;
    let r = verify(&f.sink.lines(), &f.public, Some(f.store.checkpoint()));
    assert!(r.intact() && r.warnings.is_empty(), "{r:#?}");
    assert_eq!(r.resumes, 2);

    // A crash: 2 entries after the last checkpoint were never signed; the
    // next start continues from the stored checkpoint, and verify says so.
    let f = fixture();
    let d = f.device(4);
    write_n(&d, 0, 6).await;
    drop(d);
    let d = f.device(4);
    write_n(&d, 6, 3).await;
    d.close().await;
    let r = verify(&f.sink.lines(), &f.public, Some(f.store.checkpoint()));
    assert!(r.intact(), "{r:#?}");
    let w: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.kind == Kind::UnsignedLines)
        .collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].message
            .starts_with("2 line(s) after the mark at f0 line 6 (seq 5)"),
        "{}",
        w[0].message
    );
    // A crash before the first checkpoint: the next start continues from
    // the first start's `resume` line.
    let f = fixture();
    let d = f.device(100);
    write_n(&d, 0, 3).await;
    drop(d);
    let d = f.device(100);
    write_n(&d, 3, 2).await;
    d.close().await;
    let r = verify(&f.sink.lines(), &f.public, Some(f.store.checkpoint()));
    assert!(r.intact(), "{r:#?}");
    assert!(
        r.warnings[0]
            .message
            .starts_with("3 line(s) after the mark at f0 line 1 (seq 0)"),
        "{:?}",
        r.warnings
    );
}

#[tokio::test]
async fn a_forged_resume_is_refused() {
    let f = fixture();
    let mut lines = closed_log(&f).await;
    // Pretend a restart right after the first checkpoint, dropping entries 10..
    let prev = Digest::of(&lines[11]);
    let forged = format!(
        r#"{{"type":"resume","time":"x","resume":{{"key_id":"{}","signature":"ed25519:AAAA"}},"chain":{{"seq":12,"prev":"{prev}"}}}}"#,
        key_id(&f.public)
    );
    lines.insert(15, forged.into_bytes());
    let (kind, line, _) = broken(&verify(&lines, &f.public, None));
    assert_eq!((kind, line), (Kind::BadSignature, 16));
}

#[tokio::test(start_paused = true)]
async fn a_timed_checkpoint_signs_an_idle_tail() {
    let f = fixture();
    let state = ChainState {
        key: SigningKey::from_pkcs8(&f.pkcs8).unwrap(),
        resume: ResumePoint::genesis(),
        store: f.store.clone(),
        options: ChainOptions {
            checkpoint_entries: 1000,
            checkpoint_interval: Duration::from_secs(60),
            enabled: true,
        },
    };
    let d = Device::with_chain(f.sink.clone(), state);
    write_n(&d, 0, 3).await;
    assert_eq!(f.sink.lines().len(), 4);
    tokio::time::sleep(Duration::from_secs(61)).await;
    let lines = f.sink.lines();
    assert_eq!(lines.len(), 5, "one timed checkpoint");
    assert_eq!(f.store.checkpoint().seq, 3);
    // Idle: no more checkpoints.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(f.sink.lines().len(), 5);
    assert!(verify(&lines, &f.public, Some(f.store.checkpoint())).intact());
}

#[tokio::test]
async fn without_a_chain_lines_pass_unchanged() {
    let sink = Arc::new(MemSink::default());
    let d = Device::new(sink.clone());
    d.write(&entry(1)).await.unwrap();
    d.close().await;
    assert_eq!(sink.lines(), vec![entry(1)]);
}

#[tokio::test]
async fn concurrent_writes_keep_the_chain_in_sink_order() {
    let f = fixture();
    let d = Arc::new(f.device(7));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move { write_n(&d, t * 100, 50).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    d.close().await;
    let r = verify(&f.sink.lines(), &f.public, Some(f.store.checkpoint()));
    assert!(r.intact(), "{r:#?}");
    assert_eq!(r.entries, 400);
}

/// A sink that refuses every write while `fail` is set.
struct FlakySink {
    inner: MemSink,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Sink for FlakySink {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SinkError::Write("disk full".into()));
        }
        self.inner.write(line).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_is_not_written_leaves_the_chain_where_it_was() {
    use std::sync::atomic::Ordering::SeqCst;
    let f = fixture();
    let sink = Arc::new(FlakySink { inner: MemSink::default(), fail: false.into() });
    let state = ChainState {
        key: SigningKey::from_pkcs8(&f.pkcs8).unwrap(),
        resume: f.store.point(),
        store: f.store.clone(),
        options: ChainOptions { checkpoint_entries: 1000, ..Default::default() },
    };
    let d = Arc::new(Device::with_chain(sink.clone(), state));
    write_n(&d, 0, 3).await;
    sink.fail.store(true, SeqCst);
    // Several writers at once: whichever batches they land in, none is written.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move { d.write(&entry(100 + i)).await }));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_err());
    }
    sink.fail.store(false, SeqCst);
    // Concurrent writers after the outage: the chain goes on from the last line written.
    let mut tasks = Vec::new();
    for t in 0..4 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move { write_n(&d, 200 + t * 10, 10).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    d.close().await;
    let r = verify(&sink.inner.lines(), &f.public, Some(f.store.checkpoint()));
    assert!(r.intact(), "{r:#?}");
    assert_eq!(r.entries, 43);
}
