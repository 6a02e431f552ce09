//! Audit devices: the device table, each device's salt, and the entries the
//! pipeline's stages 5 and 9 hand them (`pipeline/audit.rs`).
//!
//! | module       | job                                                        |
//! |--------------|------------------------------------------------------------|
//! | `entry`      | Vault's entry structure from a request and its outcome     |
//! | `format`     | one device's rendering: HMACs, options, json/jsonx, prefix |
//! | `hash`       | HMAC-SHA256 with the device's salt; the deep data walk     |
//! | `filter`     | the `filter` option's expressions                          |
//! | `headers`    | the audited request headers and their `hmac` settings      |
//!
//! The table (`core/audit` under the barrier) lists each device's path,
//! type, description, options and uuid; its salt (a random UUID, Vault's
//! HMAC key) is at `audit/<uuid>/salt`, written in the same storage batch
//! as the table. A device enabled again at the same path gets a new uuid and
//! a new salt, so its HMACs change. The table is loaded at unseal (and the
//! config file's `audit` blocks added to it); the devices stay open while
//! sealed, so a sealed server's answers are audited too.

pub(crate) mod chain_store;
pub(crate) mod entry;
pub(crate) mod filter;
pub(crate) mod format;
pub(crate) mod hash;
pub(crate) mod headers;

use crate::barrier::Barrier;
use crate::error::{Error, Result};
use crate::view::{StorageView, ViewOp};
use arc_swap::ArcSwap;
use coffer_audit::{Device, Options};
use entry::Raw;
use filter::{Filter, Subject};
use format::Format;
use hash::Salter;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// How long one device may take to write one entry before it counts as
/// failed for that entry. A hung device (full disk, stalled NFS, a socket
/// whose peer stopped reading) costs a request at most this per device;
/// the device's own queue holds the rest.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// The device table's key under the barrier (Vault's `core/audit`).
const TABLE_KEY: &str = "core/audit";

fn salt_key(uuid: &str) -> String {
    format!("audit/{uuid}/salt")
}

/// One row of the device table.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeviceEntry {
    /// With a trailing `/` (`file/`).
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub local: bool,
    pub uuid: String,
    /// Declared in the server's config file (enabled at unseal).
    #[serde(default)]
    pub from_config: bool,
}

/// A device the config file declares (`audit "file" { ... }`).
#[derive(Clone, Debug, Default)]
pub struct DeclaredDevice {
    pub kind: String,
    pub path: String,
    pub description: String,
    pub options: BTreeMap<String, String>,
    pub local: bool,
}

/// Server settings for audit devices (config file).
#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// `sys/audit` may enable and disable devices. Coffer's default is
    /// Vault's (true); OpenBao ≥ 2.3.2 defaults to false and calls the
    /// switch `unsafe_allow_api_audit_creation`, as the config file here.
    pub api_allowed: bool,
    pub declared: Vec<DeclaredDevice>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            api_allowed: true,
            declared: Vec::new(),
        }
    }
}

/// An enabled device.
pub(crate) struct Enabled {
    entry: DeviceEntry,
    salter: Salter,
    format: Format,
    filter: Option<Filter>,
    device: Device,
}

impl Enabled {
    /// Write entry `value` (`raw.value`, see [`Devices::log`]); `Ok` also
    /// when the filter leaves it out.
    async fn write(&self, value: Value, raw: &Raw, subject: &Subject<'_>) -> std::result::Result<(), String> {
        if let Some(f) = &self.filter
            && !raw.failed
            && !f.eval(subject)
        {
            return Ok(());
        }
        let line = self.format.render_value(value, raw, &self.salter);
        match tokio::time::timeout(WRITE_TIMEOUT, self.device.write(&line)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("timed out after {WRITE_TIMEOUT:?}")),
        }
    }
}

/// The enabled devices (swapped whole on enable/disable).
#[derive(Default)]
pub(crate) struct Devices {
    list: ArcSwap<Vec<Arc<Enabled>>>,
    table_lock: tokio::sync::Mutex<()>,
    settings: parking_lot::RwLock<AuditSettings>,
}

/// Parse what a device needs beyond its sink; errors are the enable 400.
fn parse_device(entry: &DeviceEntry) -> Result<(Format, Option<Filter>)> {
    if !coffer_audit::DEVICE_TYPES.contains(&entry.kind.as_str()) {
        return Err(Error::invalid(format!(
            "unknown backend type: {:?}",
            entry.kind
        )));
    }
    let mut format = Format::from_options(&entry.options).map_err(Error::invalid)?;
    if entry.kind == "object-store" {
        // There `prefix` is the object key prefix (docs/audit.md, "Object
        // storage"), not Vault's line prefix: the lines carry none.
        format.prefix.clear();
    }
    let filter = match entry.options.get("filter").map(String::as_str) {
        None | Some("") => None,
        Some(f) => {
            Some(Filter::parse(f).map_err(|e| Error::invalid(format!("invalid filter: {e}")))?)
        }
    };
    Ok((format, filter))
}

async fn open(barrier: &Arc<Barrier>, entry: DeviceEntry, salt: &str, probe: bool) -> Result<Enabled> {
    let (format, filter) = parse_device(&entry)?;
    // The chain's key and resume point (docs/audit.md, "Tamper evidence"):
    // checked before the sink opens, so bad chain options store nothing.
    let chain = chain_store::device_chain(barrier, &entry.path, &entry.options).await?;
    let sink = coffer_audit::open_sink(&entry.kind, &entry.options)
        .await
        .map_err(|e| Error::invalid(e.to_string()))?;
    let device = match chain {
        Some(state) => Device::with_chain(sink, state),
        None => Device::new(sink),
    };
    let dev = Enabled {
        salter: Salter::new(salt.as_bytes()),
        format,
        filter,
        device,
        entry,
    };
    if probe && dev.entry.options.get("skip_test").map(String::as_str) != Some("true") {
        // The probe is written whatever the filter says.
        let test_entry = Raw::probe();
        let line = dev.format.render_value(test_entry.value.clone(), &test_entry, &dev.salter);
        let r = tokio::time::timeout(WRITE_TIMEOUT, dev.device.write(&line)).await;
        let err = match r {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("timed out after {WRITE_TIMEOUT:?}")),
        };
        if let Some(e) = err {
            dev.device.close().await;
            return Err(Error::invalid(format!(
                "sanity check failed; unable to write to the audit device: {e}"
            )));
        }
    }
    Ok(dev)
}

/// `path` as the table keys it: no leading, one trailing `/`.
pub(crate) fn normalize_path(p: &str) -> Result<String> {
    let p = p.trim_matches('/');
    if p.is_empty() {
        return Err(Error::invalid("audit device path must be non-empty"));
    }
    Ok(format!("{p}/"))
}

impl Devices {
    pub(crate) fn is_empty(&self) -> bool {
        self.list.load().is_empty()
    }

    pub(crate) fn set_settings(&self, s: AuditSettings) {
        *self.settings.write() = s;
    }

    pub(crate) fn api_allowed(&self) -> bool {
        self.settings.read().api_allowed
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Enabled>>> {
        self.list.load_full()
    }

    async fn persist(
        &self,
        barrier: &Arc<Barrier>,
        list: &[Arc<Enabled>],
        extra: Vec<ViewOp>,
    ) -> Result<()> {
        let table: Vec<&DeviceEntry> = list.iter().map(|d| &d.entry).collect();
        let mut ops = extra;
        ops.push(ViewOp::Put(TABLE_KEY.into(), serde_json::to_vec(&table)?));
        StorageView::new(barrier.clone(), "").write(ops).await
    }

    /// Enable a device: parse, open and probe it, then store salt and table
    /// together. Any failure before the store leaves nothing behind.
    pub(crate) async fn enable(
        &self,
        barrier: &Arc<Barrier>,
        mut entry: DeviceEntry,
    ) -> Result<()> {
        let _g = self.table_lock.lock().await;
        entry.path = normalize_path(&entry.path)?;
        let current = self.snapshot();
        if current.iter().any(|d| d.entry.path == entry.path) {
            return Err(Error::invalid("path already in use"));
        }
        entry.uuid = crate::util::random_uuid();
        let salt = Zeroizing::new(crate::util::random_uuid());
        let dev = Arc::new(open(barrier, entry, &salt, true).await?);
        let mut next = Vec::clone(&current);
        next.push(dev.clone());
        let salt_op = ViewOp::Put(salt_key(&dev.entry.uuid), salt.as_bytes().to_vec());
        if let Err(e) = self.persist(barrier, &next, vec![salt_op]).await {
            dev.device.close().await;
            return Err(e);
        }
        self.list.store(Arc::new(next));
        tracing::info!(path = %dev.entry.path, kind = %dev.entry.kind, "audit device enabled");
        Ok(())
    }

    /// Disable the device at `path` (none there: nothing to do, as Vault).
    pub(crate) async fn disable(&self, barrier: &Arc<Barrier>, path: &str) -> Result<bool> {
        let _g = self.table_lock.lock().await;
        let path = normalize_path(path)?;
        let current = self.snapshot();
        let Some(found) = current.iter().find(|d| d.entry.path == path).cloned() else {
            return Ok(false);
        };
        let next: Vec<_> = current
            .iter()
            .filter(|d| d.entry.path != path)
            .cloned()
            .collect();
        self.persist(
            barrier,
            &next,
            vec![ViewOp::Delete(salt_key(&found.entry.uuid))],
        )
        .await?;
        self.list.store(Arc::new(next));
        found.device.close().await;
        tracing::info!(path = %path, "audit device disabled");
        Ok(true)
    }

    /// `sys/audit`: `{"file/": {type, description, options, local, path}}`.
    pub(crate) fn list_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for d in self.snapshot().iter() {
            let e = &d.entry;
            m.insert(
                e.path.clone(),
                json!({"type": e.kind, "description": e.description, "options": e.options, "local": e.local, "path": e.path}),
            );
        }
        m
    }

    /// `sys/audit-hash/:path`.
    pub(crate) fn hash(&self, path: &str, input: &str) -> Result<String> {
        let path = normalize_path(path)?;
        let list = self.snapshot();
        let d = list
            .iter()
            .find(|d| d.entry.path == path)
            .ok_or_else(|| Error::invalid(format!("unknown audit backend {path:?}")))?;
        Ok(d.salter.hash(input))
    }

    /// At unseal: open every device of the stored table (a device that
    /// cannot open is logged and left out, as Vault does; if none opens, the
    /// unseal fails, so a server with audit devices never runs with none),
    /// then add the config file's devices that are not there yet.
    pub(crate) async fn load(&self, barrier: &Arc<Barrier>) -> Result<()> {
        let _g = self.table_lock.lock().await;
        let root = StorageView::new(barrier.clone(), "");
        let table: Vec<DeviceEntry> = root.get_json(TABLE_KEY).await?.unwrap_or_default();
        let mut list = Vec::new();
        let mut salt_ops = Vec::new();
        for e in &table {
            // Reuse the device already open for the same row (seal, then unseal).
            if let Some(d) = self.snapshot().iter().find(|d| d.entry == *e) {
                list.push(d.clone());
                continue;
            }
            let salt = match root.get(&salt_key(&e.uuid)).await? {
                Some(s) => Zeroizing::new(String::from_utf8_lossy(&s).into_owned()),
                None => {
                    let s = Zeroizing::new(crate::util::random_uuid());
                    salt_ops.push(ViewOp::Put(salt_key(&e.uuid), s.as_bytes().to_vec()));
                    s
                }
            };
            match open(barrier, e.clone(), &salt, false).await {
                Ok(d) => list.push(Arc::new(d)),
                Err(err) => {
                    tracing::error!(path = %e.path, error = %err, "audit device cannot be opened; left out")
                }
            }
        }
        if !table.is_empty() && list.is_empty() {
            return Err(Error::internal(
                "no audit device of the table could be opened",
            ));
        }
        let declared = self.settings.read().declared.clone();
        // A device the config file declared and no longer does is removed
        // (OpenBao's declarative devices).
        let mut removed = Vec::new();
        list.retain(|d: &Arc<Enabled>| {
            let keep = !d.entry.from_config
                || declared.iter().any(|x| {
                    normalize_path(&x.path).ok().as_deref() == Some(d.entry.path.as_str())
                });
            if !keep {
                salt_ops.push(ViewOp::Delete(salt_key(&d.entry.uuid)));
                removed.push(d.clone());
            }
            keep
        });
        let mut changed = !salt_ops.is_empty();
        for d in declared {
            let path = normalize_path(&d.path)?;
            if let Some(existing) = list.iter().find(|x| x.entry.path == path) {
                if !existing.entry.from_config {
                    tracing::error!(path = %path, "audit device of the config file has the path of a device enabled through the API; left out");
                } else if existing.entry.kind != d.kind
                    || existing.entry.options != d.options
                    || existing.entry.description != d.description
                {
                    tracing::warn!(path = %path, "audit device in the config file differs from the enabled one: devices cannot be modified, the enabled one is kept (remove the block, restart, add it back)");
                }
                continue;
            }
            let entry = DeviceEntry {
                path,
                kind: d.kind.clone(),
                description: d.description.clone(),
                options: d.options.clone(),
                local: d.local,
                uuid: crate::util::random_uuid(),
                from_config: true,
            };
            let salt = Zeroizing::new(crate::util::random_uuid());
            let dev = open(barrier, entry, &salt, true).await.map_err(|e| {
                Error::internal(format!("audit device {:?} of the config file: {e}", d.path))
            })?;
            salt_ops.push(ViewOp::Put(
                salt_key(&dev.entry.uuid),
                salt.as_bytes().to_vec(),
            ));
            list.push(Arc::new(dev));
            changed = true;
        }
        if changed {
            self.persist(barrier, &list, salt_ops).await?;
        }
        for d in removed {
            tracing::info!(path = %d.entry.path, "audit device removed from the config file: disabled");
        }
        // Devices no longer in the table are closed.
        for old in self.snapshot().iter() {
            if !list.iter().any(|d| Arc::ptr_eq(d, old)) {
                old.device.close().await;
            }
        }
        self.list.store(Arc::new(list));
        Ok(())
    }

    /// Write `raw` to every device. Returns (devices, devices that recorded
    /// it); a filtered-out entry counts as recorded.
    pub(crate) async fn log(
        &self,
        mut raw: Raw,
        subject: &Subject<'_>,
        stage: &'static str,
    ) -> (usize, usize) {
        let list = self.snapshot();
        let mut ok = 0;
        // Each device renders its own copy of the entry; the last takes it.
        let mut value = Some(std::mem::take(&mut raw.value));
        for (i, d) in list.iter().enumerate() {
            let v = if i + 1 == list.len() {
                value.take().unwrap_or_default()
            } else {
                value.clone().unwrap_or_default()
            };
            match d.write(v, &raw, subject).await {
                Ok(()) => ok += 1,
                Err(e) => {
                    metrics::counter!(if stage == "request" { "vault.audit.log_request_failure" } else { "vault.audit.log_response_failure" }, "path" => d.entry.path.clone())
                        .increment(1);
                    tracing::error!(path = %d.entry.path, stage, error = %e, "audit device failed to write an entry");
                }
            }
        }
        (list.len(), ok)
    }

    /// SIGHUP: every device reopens (a rotated file starts anew).
    pub async fn reopen_all(&self) {
        for d in self.snapshot().iter() {
            if let Err(e) = d.device.reopen().await {
                tracing::error!(path = %d.entry.path, error = %e, "audit device failed to reopen");
            }
        }
    }
}

/// The options as the sink and the format read them.
pub(crate) fn options_from(data: Option<BTreeMap<String, String>>) -> Options {
    data.unwrap_or_default()
}
