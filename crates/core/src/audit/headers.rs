//! Audited request headers (`sys/config/auditing/request-headers`): the
//! HTTP headers that audit entries show in `request.headers`. None is shown
//! unless configured; a configured header with `hmac: true` is HMAC'd with
//! each device's salt, whatever the device's `log_raw` (as OpenBao). Names
//! are kept lower-case, so `X-Forwarded-For` and `x-forwarded-for` are one
//! setting. `X-Vault-Token` is never shown, configured or not: the token
//! already appears (hashed) as `client_token`.
//!
//! The settings live under the barrier at [`KEY`], loaded at unseal. The
//! HTTP layer hands the core only the headers the pipeline reads, plus the
//! audited ones ([`crate::Core::audited_header_names`]): with none
//! configured, a request carries no extra header.

// The audited headers also reach the backend's `Request.headers`; no
// backend reads them.

use crate::barrier::Barrier;
use crate::error::Result;
use crate::view::StorageView;
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where the settings are stored.
const KEY: &str = "core/audited-headers";

/// Headers no setting can bring into an entry.
const NEVER: &[&str] = &["x-vault-token"];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Setting {
    pub hmac: bool,
}

/// The headers an entry shows, and which of them to HMAC.
#[derive(Default)]
pub(crate) struct Selected {
    /// `request.headers`: lower-case name → values in the order received.
    pub headers: Map<String, Value>,
    pub hmac: Vec<String>,
}

#[derive(Default)]
pub(crate) struct AuditedHeaders {
    map: ArcSwap<BTreeMap<String, Setting>>,
    /// The map's names, for the HTTP layer (never `x-vault-token`).
    names: ArcSwap<Vec<String>>,
    write_lock: tokio::sync::Mutex<()>,
}

impl AuditedHeaders {
    fn view(barrier: &Arc<Barrier>) -> StorageView {
        StorageView::new(barrier.clone(), "")
    }

    /// At unseal.
    pub(crate) async fn load(&self, barrier: &Arc<Barrier>) -> Result<()> {
        let map: BTreeMap<String, Setting> =
            Self::view(barrier).get_json(KEY).await?.unwrap_or_default();
        self.store(map);
        Ok(())
    }

    fn store(&self, map: BTreeMap<String, Setting>) {
        let names = map
            .keys()
            .filter(|k| !NEVER.contains(&k.as_str()))
            .cloned()
            .collect();
        self.names.store(Arc::new(names));
        self.map.store(Arc::new(map));
    }

    /// The configured header names (lower-case).
    pub(crate) fn names(&self) -> Arc<Vec<String>> {
        self.names.load_full()
    }

    /// Add or change one header's setting (stored before it takes effect).
    pub(crate) async fn set(&self, barrier: &Arc<Barrier>, name: &str, s: Setting) -> Result<()> {
        self.update(barrier, |m| {
            m.insert(name.to_ascii_lowercase(), s);
        })
        .await
    }

    /// Remove one header's setting (none there: nothing to do, as Vault).
    pub(crate) async fn remove(&self, barrier: &Arc<Barrier>, name: &str) -> Result<()> {
        self.update(barrier, |m| {
            m.remove(&name.to_ascii_lowercase());
        })
        .await
    }

    async fn update(
        &self,
        barrier: &Arc<Barrier>,
        change: impl FnOnce(&mut BTreeMap<String, Setting>),
    ) -> Result<()> {
        let _g = self.write_lock.lock().await;
        let mut next = BTreeMap::clone(&self.map.load());
        change(&mut next);
        Self::view(barrier)
            .put(KEY, &serde_json::to_vec(&next)?)
            .await?;
        self.store(next);
        Ok(())
    }

    pub(crate) fn get(&self, name: &str) -> Option<Setting> {
        self.map.load().get(&name.to_ascii_lowercase()).copied()
    }

    /// `{"x-forwarded-for": {"hmac": true}, ...}`.
    pub(crate) fn list_json(&self) -> Map<String, Value> {
        self.map
            .load()
            .iter()
            .map(|(k, s)| (k.clone(), json!({"hmac": s.hmac})))
            .collect()
    }

    /// The configured headers among `received`.
    pub(crate) fn select(&self, received: &[(String, String)]) -> Selected {
        let map = self.map.load();
        let mut out = Selected::default();
        if map.is_empty() {
            return out;
        }
        let mut found: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (name, value) in received {
            let name = name.to_ascii_lowercase();
            if NEVER.contains(&name.as_str()) {
                continue;
            }
            if let Some(s) = map.get(&name) {
                if s.hmac && !out.hmac.contains(&name) {
                    out.hmac.push(name.clone());
                }
                found.entry(name).or_default().push(Value::String(value.clone()));
            }
        }
        out.headers = found
            .into_iter()
            .map(|(k, v)| (k, Value::Array(v)))
            .collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(settings: &[(&str, bool)]) -> AuditedHeaders {
        let h = AuditedHeaders::default();
        h.store(
            settings
                .iter()
                .map(|(k, b)| (k.to_string(), Setting { hmac: *b }))
                .collect(),
        );
        h
    }

    #[test]
    fn selects_only_configured_headers_and_never_the_token() {
        let h = with(&[("x-forwarded-for", true), ("x-plain", false), ("x-vault-token", true)]);
        let got = h.select(&[
            ("X-Forwarded-For".into(), "1.2.3.4".into()),
            ("x-forwarded-for".into(), "5.6.7.8".into()),
            ("x-plain".into(), "hello".into()),
            ("x-other".into(), "no".into()),
            ("x-vault-token".into(), "s.secret".into()),
        ]);
        assert_eq!(
            Value::Object(got.headers),
            json!({"x-forwarded-for": ["1.2.3.4", "5.6.7.8"], "x-plain": ["hello"]})
        );
        assert_eq!(got.hmac, ["x-forwarded-for"]);
        assert!(with(&[]).select(&[("a".into(), "b".into())]).headers.is_empty());
        assert_eq!(h.get("X-PLAIN"), Some(Setting { hmac: false }));
        assert_eq!(*h.names(), ["x-forwarded-for", "x-plain"]);
    }
}
