//! `object-store` audit devices: the audit stream in an S3-compatible bucket.
//!
//! A write appends the line to the current segment file in `spool_dir` and
//! returns (see [`spool`] for the durability this gives). Segments roll at
//! `segment_max_bytes` or `segment_max_age`; a background task uploads sealed
//! segments in counter order as
//! `{prefix}{YYYY}/{MM}/{DD}/{HHMMSS}-{counter:010}.jsonl` (start time, UTC)
//! and deletes them from the spool. While the store is unreachable, segments
//! wait in the spool (uploads back off, 250 ms doubling to 30 s), so an
//! outage loses nothing and holds up no request until the spool holds
//! `spool_max_bytes`; then writes fail and the device counts as failed.
//! A second task deletes the device's segments older than `retention`; on a
//! bucket with Object Lock, uploads are locked (COMPLIANCE) until upload
//! time + `retention` ([`store`]).
//!
//! | option              | default     | meaning                                        |
//! |---------------------|-------------|------------------------------------------------|
//! | `bucket`            | —           | the bucket                                     |
//! | `spool_dir`         | —           | local directory for segments awaiting upload   |
//! | `prefix`            | `""`        | key prefix (`audit/`)                          |
//! | `endpoint`          | AWS         | S3-compatible endpoint URL (MinIO, Ceph...)     |
//! | `region`            | env / `us-east-1` | the bucket's region                      |
//! | `access_key`, `secret_key`, `session_token` | AWS env / instance role | credentials |
//! | `segment_max_bytes` | `16777216`  | roll a segment at this size (max 1 GiB)        |
//! | `segment_max_age`   | `5m`        | roll a segment at this age                     |
//! | `spool_max_bytes`   | `1073741824`| writes fail once the spool holds this much     |
//! | `retention`         | `8760h`     | delete (and lock until) after this; `0` = keep  |
//! | `object_lock`       | `auto`      | `auto`, `true`, `false`                        |
//! | `request_timeout`   | `30s`       | one S3 request                                 |
//! | `close_timeout`     | `30s`       | how long closing waits for the last uploads    |
//!
//! Metrics (label `device` = the spool directory): gauges
//! `coffer.audit.spool_bytes`, `coffer.audit.spool_segments`; counter
//! `coffer.audit.upload_failures`.

mod spool;
mod store;
mod tasks;

use crate::sink::{Options, Sink, SinkError};
use ::object_store::ClientOptions;
use ::object_store::RetryConfig;
use ::object_store::aws::AmazonS3Builder;
use ::object_store::path::Path;
use spool::{Limits, Sealed, Spool};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{LockMode, Store};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const DEFAULT_SEGMENT_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// A segment is read into memory for its upload (one PUT).
const MAX_SEGMENT_MAX_BYTES: u64 = 1024 * 1024 * 1024;
const DEFAULT_SEGMENT_MAX_AGE: Duration = Duration::from_secs(300);
const DEFAULT_SPOOL_MAX_BYTES: u64 = 1024 * 1024 * 1024;
const DEFAULT_RETENTION: Duration = Duration::from_secs(8760 * 3600);
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the device and its tasks share.
struct Inner {
    spool: Mutex<Spool>,
    store: Store,
    prefix: String,
    limits: Limits,
    /// The `device` label of the metrics: the spool directory.
    label: String,
    /// A segment was sealed: the uploader has work.
    wake: Notify,
    /// The device is closing: upload what is left, then stop.
    closing: AtomicBool,
    closed: Notify,
}

impl Inner {
    /// Run `op` on the spool on a blocking thread (it does file I/O), then
    /// publish the spool gauges. `Err` only if that thread could not run it
    /// (the runtime is shutting down) or `op` panicked.
    async fn with_spool<T: Send + 'static>(
        self: &Arc<Self>,
        op: impl FnOnce(&mut Spool) -> T + Send + 'static,
    ) -> Result<T, String> {
        let inner = Arc::clone(self);
        let run = move || {
            // a panic while holding the lock leaves the spool as consistent
            // as the files are: carry on
            let mut spool = inner.spool.lock().unwrap_or_else(|p| p.into_inner());
            let out = op(&mut spool);
            metrics::gauge!("coffer.audit.spool_bytes", "device" => inner.label.clone())
                .set(spool.bytes() as f64);
            metrics::gauge!("coffer.audit.spool_segments", "device" => inner.label.clone())
                .set(spool.segments() as f64);
            out
        };
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| format!("spool task failed: {e}"))
    }

    /// [`Inner::with_spool`] for an `op` with an I/O result.
    async fn spool_io<T: Send + 'static>(
        self: &Arc<Self>,
        op: impl FnOnce(&mut Spool) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        self.with_spool(op).await?.map_err(|e| e.to_string())
    }

    fn key(&self, segment: &Sealed) -> Path {
        let key = format!(
            "{}{}-{:010}.jsonl",
            self.prefix,
            segment.started.format("%Y/%m/%d/%H%M%S"),
            segment.counter
        );
        // the prefix was checked at open, the rest is digits and '/'
        Path::parse(&key).unwrap_or_else(|_| Path::from(key))
    }
}

pub struct ObjectStoreSink {
    inner: Arc<Inner>,
    uploader: Mutex<Option<JoinHandle<()>>>,
    retention: Mutex<Option<JoinHandle<()>>>,
    close_timeout: Duration,
}

pub async fn open(options: &Options) -> Result<Arc<dyn Sink>, SinkError> {
    let config = Config::parse(options)?;
    let store = Store::new(
        config.builder,
        config.client_options,
        config.retention,
        config.lock,
    )
    .map_err(|e| bad(format!("cannot configure the S3 client: {e}")))?;
    let (dir, limits) = (config.spool_dir.clone(), config.limits);
    let spool = tokio::task::spawn_blocking(move || Spool::open(&dir, limits))
        .await
        .map_err(|e| bad(format!("opening the spool: {e}")))?
        .map_err(|e| {
            bad(format!(
                "cannot open spool_dir {}: {e}",
                config.spool_dir.display()
            ))
        })?;
    let inner = Arc::new(Inner {
        spool: Mutex::new(spool),
        store,
        prefix: config.prefix,
        limits,
        label: config.spool_dir.display().to_string(),
        wake: Notify::new(),
        closing: AtomicBool::new(false),
        closed: Notify::new(),
    });
    // publish the gauges for what a previous run left
    let _ = inner.with_spool(|_| ()).await;
    let uploader = tokio::spawn(tasks::upload_loop(Arc::clone(&inner)));
    let retention = config
        .retention
        .map(|r| tokio::spawn(tasks::retention_loop(Arc::clone(&inner), r)));
    Ok(Arc::new(ObjectStoreSink {
        inner,
        uploader: Mutex::new(Some(uploader)),
        retention: Mutex::new(retention),
        close_timeout: config.close_timeout,
    }))
}

#[async_trait::async_trait]
impl Sink for ObjectStoreSink {
    async fn write(&self, line: &[u8]) -> Result<(), SinkError> {
        if self.inner.closing.load(Ordering::SeqCst) {
            return Err(SinkError::Write(
                "object-store audit device is closed".into(),
            ));
        }
        let line = line.to_vec();
        let sealed = self
            .inner
            .with_spool(move |spool| spool.append(&line))
            .await
            .map_err(SinkError::Write)?
            .map_err(|e| SinkError::Write(format!("object-store audit device: {e}")))?;
        if sealed {
            self.inner.wake.notify_one();
        }
        Ok(())
    }

    async fn close(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        self.inner.closed.notify_one();
        if let Some(task) = take(&self.retention) {
            task.abort();
        }
        let Some(mut task) = take(&self.uploader) else {
            return;
        };
        // the uploader seals the current segment and uploads what is left
        if tokio::time::timeout(self.close_timeout, &mut task)
            .await
            .is_err()
        {
            task.abort();
            tracing::warn!(spool = %self.inner.label, "object-store audit device closed with segments still in the spool; they upload when it next opens");
        }
        // a segment the uploader did not get to (it was stopped) stays sealed
        if let Err(e) = self.inner.spool_io(|spool| spool.seal()).await {
            tracing::warn!(spool = %self.inner.label, error = %e, "audit spool: cannot seal the last segment");
        }
    }
}

impl Drop for ObjectStoreSink {
    /// Dropped without `close` (the server is going away): stop the tasks;
    /// the spool keeps everything for the next start.
    fn drop(&mut self) {
        for slot in [&self.uploader, &self.retention] {
            if let Some(task) = take(slot) {
                task.abort();
            }
        }
    }
}

fn take(slot: &Mutex<Option<JoinHandle<()>>>) -> Option<JoinHandle<()>> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

fn bad(text: String) -> SinkError {
    SinkError::Options(format!("object-store audit device: {text}"))
}

/// The device's options, checked.
struct Config {
    builder: AmazonS3Builder,
    client_options: ClientOptions,
    spool_dir: PathBuf,
    prefix: String,
    limits: Limits,
    retention: Option<Duration>,
    lock: LockMode,
    close_timeout: Duration,
}

impl Config {
    fn parse(options: &Options) -> Result<Config, SinkError> {
        let get = |name: &str| {
            options
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        let bucket = get("bucket").ok_or_else(|| bad("\"bucket\" is required".into()))?;
        let spool_dir = get("spool_dir").ok_or_else(|| bad("\"spool_dir\" is required".into()))?;
        let prefix = get("prefix").unwrap_or("").to_string();
        // the key must be the prefix as written (retention matches on it):
        // no leading '/', no empty or relative path segments
        let valid =
            Path::parse(format!("{prefix}x")).is_ok_and(|p| p.as_ref() == format!("{prefix}x"));
        if !prefix.is_empty() && !valid {
            return Err(bad(format!(
                "prefix {prefix:?} is not a valid object key prefix"
            )));
        }
        let bytes =
            |name: &str, default: u64| -> Result<u64, SinkError> {
                match get(name) {
                    None => Ok(default),
                    Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        bad(format!("{name} {v:?} is not a positive number of bytes"))
                    }),
                }
            };
        let duration = |name: &str, default: Duration| -> Result<Duration, SinkError> {
            match get(name) {
                None => Ok(default),
                Some(v) => crate::duration::parse(v)
                    .ok_or_else(|| bad(format!("{name} {v:?} is not a duration"))),
            }
        };
        let limits = Limits {
            segment_max_bytes: bytes("segment_max_bytes", DEFAULT_SEGMENT_MAX_BYTES)?,
            segment_max_age: duration("segment_max_age", DEFAULT_SEGMENT_MAX_AGE)?,
            spool_max_bytes: bytes("spool_max_bytes", DEFAULT_SPOOL_MAX_BYTES)?,
        };
        if limits.segment_max_bytes > MAX_SEGMENT_MAX_BYTES {
            return Err(bad(format!(
                "segment_max_bytes may be at most {MAX_SEGMENT_MAX_BYTES}"
            )));
        }
        if limits.segment_max_age.is_zero() {
            return Err(bad("segment_max_age must be more than 0".into()));
        }
        let retention = Some(duration("retention", DEFAULT_RETENTION)?).filter(|d| !d.is_zero());
        let lock = match get("object_lock").unwrap_or("auto") {
            "auto" => LockMode::Auto,
            "true" => LockMode::On,
            "false" => LockMode::Off,
            other => {
                return Err(bad(format!(
                    "object_lock {other:?} is not one of auto, true, false"
                )));
            }
        };
        let request_timeout = duration("request_timeout", DEFAULT_REQUEST_TIMEOUT)?;
        let close_timeout = duration("close_timeout", DEFAULT_CLOSE_TIMEOUT)?;

        // the usual AWS_* environment (keys, region, endpoint, profile-less
        // instance credentials), then the options on top
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(region) = get("region") {
            builder = builder.with_region(region);
        }
        let mut client_options = ClientOptions::new()
            .with_timeout(request_timeout)
            .with_connect_timeout(request_timeout.min(Duration::from_secs(5)));
        if let Some(endpoint) = get("endpoint") {
            builder = builder.with_endpoint(endpoint);
            client_options = client_options.with_allow_http(endpoint.starts_with("http://"));
        }
        match (get("access_key"), get("secret_key")) {
            (Some(key), Some(secret)) => {
                builder = builder
                    .with_access_key_id(key)
                    .with_secret_access_key(secret);
                if let Some(token) = get("session_token") {
                    builder = builder.with_token(token);
                }
            }
            (None, None) => {}
            _ => return Err(bad("access_key and secret_key go together".into())),
        }
        // the uploader retries on its own schedule: a request gives up soon
        builder = builder.with_retry(RetryConfig {
            max_retries: 2,
            retry_timeout: request_timeout * 2,
            ..RetryConfig::default()
        });
        Ok(Config {
            builder,
            client_options,
            spool_dir: PathBuf::from(spool_dir),
            prefix,
            limits,
            retention,
            lock,
            close_timeout,
        })
    }
}
