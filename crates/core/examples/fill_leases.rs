//! Fill a `file` storage directory with many token leases, through the real
//! token store write path (`TokenStore::create_internal`: token record,
//! accessor, expiry marker and lease index entry in one storage batch), then
//! seal. For the "Unseal with many leases" measurement in docs/benchmarks.md.
//!
//! ```text
//! cargo run --release -p coffer-core --example fill_leases -- <dir> <count> [short]
//! ```
//!
//! `<dir>/data` becomes the storage directory (for `storage "file"`), and
//! `<dir>/init.json` holds the unseal key (hex) and the root token. Leases are
//! logins spread over 1000 users of `auth/userpass/login/` and TTLs spread
//! over 1 h .. 768 h; the first `short` of them (default 0) get a 30 s TTL, so
//! they expire while the server is down and are revoked after the next unseal.
//!
//! ```text
//! cargo run --release -p coffer-core --example fill_leases -- <dir> drop-index
//! ```
//!
//! unseals `<dir>` and deletes its whole lease index (`sys/expire/`, marker
//! included), leaving the token records: storage as a version from before the
//! lease index left it, so the next unseal has to index every token.

use coffer_core::token::InternalCreate;
use coffer_core::{Core, CoreConfig};
use coffer_storage::FileStorage;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Concurrent creators: the file storage's group commit turns them into
/// large fsync'd batches.
const WORKERS: u64 = 256;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: fill_leases <dir> <count> [short]".into());
    }
    let dir = std::path::PathBuf::from(&args[1]);
    if args[2] == "drop-index" {
        return drop_index(&dir).await;
    }
    let count: u64 = args[2].parse()?;
    let short: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let storage = Arc::new(FileStorage::open(&data)?);
    let core = Core::new(storage, CoreConfig::default());
    let init = core.initialize(1, 1, None, true).await?;
    let key = hex::encode(&init.keys[0][..]);
    std::fs::write(dir.join("init.json"), serde_json::to_vec(&serde_json::json!({"key": key, "root_token": init.root_token}))?)?;
    let active = core.active()?;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (tokens, next) = (active.tokens().clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), coffer_core::Error>(());
                }
                // A cheap deterministic spread (no RNG needed): TTLs over 1 h .. 768 h.
                let ttl = if i < short { Duration::from_secs(30) } else { Duration::from_secs(3600 + (i.wrapping_mul(2_654_435_761) % (767 * 3600))) };
                tokens
                    .create_internal(InternalCreate {
                        policies: vec!["default".into()],
                        path: format!("auth/userpass/login/user{}", i % 1000),
                        ttl,
                        renewable: true,
                        display_name: format!("userpass-user{}", i % 1000),
                        ..Default::default()
                    })
                    .await?;
                if (i + 1) % 100_000 == 0 {
                    eprintln!("{} leases, {:.1} s", i + 1, started.elapsed().as_secs_f64());
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    eprintln!("{count} leases written in {:.1} s", started.elapsed().as_secs_f64());
    drop(active);
    core.seal().await?;
    Ok(())
}

async fn drop_index(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let init: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("init.json"))?)?;
    let key = init["key"].as_str().ok_or("init.json has no key")?;
    let core = Core::new(Arc::new(FileStorage::open(&dir.join("data"))?), CoreConfig::default());
    core.submit_unseal_key(Some(key), false).await?;
    let started = Instant::now();
    coffer_core::StorageView::new(core.barrier().clone(), "sys/expire/").clear().await?;
    eprintln!("lease index dropped in {:.1} s", started.elapsed().as_secs_f64());
    core.seal().await?;
    Ok(())
}
