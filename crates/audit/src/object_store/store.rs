//! The bucket: puts segments (with S3 Object Lock when the bucket has it),
//! lists and deletes them for retention.
//!
//! object_store's `PutOptions` cannot carry Object Lock (its attributes are
//! content headers, metadata and storage class), but its client signs the
//! `default_headers` of `ClientOptions` into every request. So a locked
//! upload goes through a client built for that upload, whose default headers
//! are `x-amz-object-lock-mode: COMPLIANCE` and
//! `x-amz-object-lock-retain-until-date: <upload time + retention>`, plus
//! `x-amz-sdk-checksum-algorithm: SHA256`: every put carries an
//! `x-amz-checksum-sha256`, and S3 requires Content-MD5 or a declared
//! checksum of Object Lock uploads.

use ::object_store::aws::{AmazonS3, AmazonS3Builder, Checksum};
use ::object_store::path::Path;
use ::object_store::{ClientOptions, HeaderMap, HeaderValue, ObjectStoreExt, PutPayload};
use chrono::{SecondsFormat, Utc};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// The `object_lock` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockMode {
    /// Lock if the bucket has Object Lock: learnt from the first upload
    /// (a bucket without it refuses lock headers with a 400).
    Auto,
    On,
    Off,
}

const LOCK_UNKNOWN: u8 = 0;
const LOCK_ON: u8 = 1;
const LOCK_OFF: u8 = 2;

pub(crate) struct Store {
    builder: AmazonS3Builder,
    client_options: ClientOptions,
    plain: AmazonS3,
    /// `None`: retention 0, keep forever (and never lock).
    retention: Option<Duration>,
    /// What uploads do about Object Lock: `LOCK_*`.
    lock: AtomicU8,
}

impl Store {
    /// `builder` has the bucket, endpoint, region and credentials;
    /// `client_options` the timeouts (the lock headers are added to them).
    pub(crate) fn new(
        builder: AmazonS3Builder,
        client_options: ClientOptions,
        retention: Option<Duration>,
        lock: LockMode,
    ) -> Result<Store, ::object_store::Error> {
        let builder = builder.with_checksum_algorithm(Checksum::SHA256);
        let plain = builder
            .clone()
            .with_client_options(client_options.clone())
            .build()?;
        let lock = match (lock, retention) {
            (_, None) | (LockMode::Off, _) => LOCK_OFF,
            (LockMode::On, _) => LOCK_ON,
            (LockMode::Auto, _) => LOCK_UNKNOWN,
        };
        Ok(Store {
            builder,
            client_options,
            plain,
            retention,
            lock: AtomicU8::new(lock),
        })
    }

    pub(crate) fn plain(&self) -> &AmazonS3 {
        &self.plain
    }

    /// Put one segment. Putting the same key twice writes the same bytes, so
    /// a retry after a lost answer does not duplicate anything.
    pub(crate) async fn put(&self, key: &Path, body: Vec<u8>) -> Result<(), ::object_store::Error> {
        let (state, retention) = (self.lock.load(Ordering::Relaxed), self.retention);
        let Some(retention) = retention.filter(|_| state != LOCK_OFF) else {
            return self.plain.put(key, PutPayload::from(body)).await.map(drop);
        };
        let locked = self.locked_client(retention)?;
        match locked.put(key, PutPayload::from(body.clone())).await {
            Ok(_) => {
                self.lock.store(LOCK_ON, Ordering::Relaxed);
                Ok(())
            }
            Err(e) if state == LOCK_UNKNOWN && no_object_lock(&e) => {
                tracing::info!(bucket_key = %key, "audit bucket has no Object Lock: uploading without retention lock");
                self.lock.store(LOCK_OFF, Ordering::Relaxed);
                self.plain.put(key, PutPayload::from(body)).await.map(drop)
            }
            Err(e) => Err(e),
        }
    }

    fn locked_client(&self, retention: Duration) -> Result<AmazonS3, ::object_store::Error> {
        let until = Utc::now() + retention;
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-object-lock-mode",
            HeaderValue::from_static("COMPLIANCE"),
        );
        let until = HeaderValue::from_str(&until.to_rfc3339_opts(SecondsFormat::Secs, true))
            .map_err(|e| ::object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        headers.insert("x-amz-object-lock-retain-until-date", until);
        // S3 wants Content-MD5 or this with a locked upload; the checksum
        // itself (x-amz-checksum-sha256) object_store sends on every put
        headers.insert(
            "x-amz-sdk-checksum-algorithm",
            HeaderValue::from_static("SHA256"),
        );
        self.builder
            .clone()
            .with_client_options(self.client_options.clone().with_default_headers(headers))
            .build()
    }
}

/// S3's answer to lock headers on a bucket without Object Lock: 400
/// InvalidRequest "Bucket is missing Object Lock Configuration" (moto spells
/// it "ObjectLockConfiguration").
fn no_object_lock(e: &::object_store::Error) -> bool {
    let text = e.to_string();
    text.contains("Object Lock Configuration") || text.contains("ObjectLockConfiguration")
}
