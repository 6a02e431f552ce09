//! Test and measurement helper for the audit hash chain (not shipped).
//!
//! `chain_tool gen DIR`: writes a chained log the way a file device does,
//! through a real `Device`: 60 entries, a checkpoint every 10, a rotation
//! (SIGHUP) after 25 (`audit.log.1` is the rotated file), a crash and
//! restart after 42, a clean close at the end. Also writes `public_key`
//! (base64) and `checkpoint.json` (the shape of GET sys/audit-checkpoint).
//!
//! `chain_tool bench [N]`: the cost per entry of a device with and without
//! the chain, with a sink that discards lines.

use base64::Engine;
use coffer_audit::chain::{ChainOptions, ChainState, CheckpointStore, ResumePoint, SigningKey};
use coffer_audit::{Device, Sink, SinkError};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

struct FileSink {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl FileSink {
    fn open(path: PathBuf) -> FileSink {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open log");
        FileSink {
            path,
            file: Mutex::new(file),
        }
    }
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        let mut f = self.file.lock().unwrap();
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        f.write_all(&buf)
            .map_err(|e| SinkError::Write(e.to_string()))
    }
    async fn reopen(&self) -> Result<(), SinkError> {
        let mut rotated = self.path.clone().into_os_string();
        rotated.push(".1");
        std::fs::rename(&self.path, &rotated).map_err(|e| SinkError::Write(e.to_string()))?;
        *self.file.lock().unwrap() = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| SinkError::Write(e.to_string()))?;
        Ok(())
    }
}

struct Discard;

#[async_trait::async_trait]
impl Sink for Discard {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        std::hint::black_box(line);
        Ok(())
    }
}

#[derive(Default)]
struct Store(Mutex<Option<ResumePoint>>);

#[async_trait::async_trait]
impl CheckpointStore for Store {
    async fn save(&self, p: &ResumePoint) -> Result<(), String> {
        *self.0.lock().unwrap() = Some(p.clone());
        Ok(())
    }
}

fn state(pkcs8: &[u8], store: &Arc<Store>, every: u64) -> ChainState {
    ChainState {
        key: SigningKey::from_pkcs8(pkcs8).unwrap(),
        resume: store
            .0
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(ResumePoint::genesis),
        store: store.clone(),
        options: ChainOptions {
            checkpoint_entries: every,
            ..Default::default()
        },
    }
}

/// An entry the size of a real kv read's response entry (~1.2 KB).
fn entry(i: usize) -> Vec<u8> {
    let hmac = "hmac-sha256:".to_string() + &"ab".repeat(32);
    format!(
        r#"{{"time":"2026-12-07T16:00:00.123456789Z","type":"response","auth":{{"client_token":"{hmac}","accessor":"{hmac}","display_name":"userpass-bob","policies":["default","kv-read"],"token_policies":["default","kv-read"],"metadata":{{"username":"bob"}},"entity_id":"7d2e3a1c-8f4b-4c2a-9e6d-1b5f3c7a9d0e","token_type":"service","token_ttl":2764800,"token_issue_time":"2026-12-07T15:00:00Z"}},"request":{{"id":"{i:08}-1111-2222-3333-444455556666","operation":"read","mount_point":"secret/","mount_type":"kv","mount_accessor":"kv_1a2b3c4d","mount_running_version":"v0.1.0","mount_class":"secret","client_token":"{hmac}","client_token_accessor":"{hmac}","namespace":{{"id":"root"}},"path":"secret/data/app/config","remote_address":"127.0.0.1","remote_port":53422}},"response":{{"mount_point":"secret/","mount_type":"kv","mount_accessor":"kv_1a2b3c4d","mount_running_plugin_version":"v0.1.0","mount_class":"secret","data":{{"data":{{"password":"{hmac}"}},"metadata":{{"created_time":"{hmac}","version":"{hmac}"}}}}}}}}"#
    )
    .into_bytes()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => generate(PathBuf::from(args.get(1).expect("gen DIR"))).await,
        Some("bench") => bench(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(200_000)).await,
        _ => eprintln!("usage: chain_tool gen DIR | bench [N]"),
    }
}

async fn generate(dir: PathBuf) {
    std::fs::create_dir_all(&dir).unwrap();
    let (key, pkcs8) = SigningKey::generate().unwrap();
    let store = Arc::new(Store::default());
    let sink = Arc::new(FileSink::open(dir.join("audit.log")));
    let d = Device::with_chain(sink.clone(), state(&pkcs8, &store, 10));
    for i in 0..42 {
        if i == 25 {
            d.reopen().await.unwrap();
        }
        d.write(&entry(i)).await.unwrap();
    }
    // A crash: no final checkpoint; the next start resumes from the stored one.
    drop(d);
    let d = Device::with_chain(sink, state(&pkcs8, &store, 10));
    for i in 42..60 {
        d.write(&entry(i)).await.unwrap();
    }
    d.close().await;
    let b64 = base64::engine::general_purpose::STANDARD;
    std::fs::write(dir.join("public_key"), b64.encode(key.public_key())).unwrap();
    let cp = store.0.lock().unwrap().clone().unwrap().checkpoint.unwrap();
    let published = serde_json::json!({"data": {"public_key": b64.encode(key.public_key()), "key_id": key.key_id(), "checkpoint": cp}});
    std::fs::write(
        dir.join("checkpoint.json"),
        serde_json::to_vec_pretty(&published).unwrap(),
    )
    .unwrap();
}

async fn bench(n: usize) {
    let entries: Vec<Vec<u8>> = (0..1000).map(entry).collect();
    let (_, pkcs8) = SigningKey::generate().unwrap();
    for round in 0..2 {
        let plain = Device::new(Arc::new(Discard));
        let t = Instant::now();
        for i in 0..n {
            plain.write(&entries[i % 1000]).await.unwrap();
        }
        let off = t.elapsed().as_nanos() as f64 / n as f64;
        let chained = Device::with_chain(
            Arc::new(Discard),
            state(&pkcs8, &Arc::new(Store::default()), 1000),
        );
        let t = Instant::now();
        for i in 0..n {
            chained.write(&entries[i % 1000]).await.unwrap();
        }
        let on = t.elapsed().as_nanos() as f64 / n as f64;
        if round == 1 {
            println!(
                "entry {} bytes, {n} entries: chain off {off:.0} ns/entry, chain on {on:.0} ns/entry (+{:.0} ns: splice, SHA-256, lock; a signed checkpoint every 1000)",
                entries[0].len(),
                on - off
            );
        }
    }
}
