//! ACL policy storage and the compiled-ACL cache.
//!
//! Policies are stored raw (as the user wrote them) under `sys/policy/` and
//! parsed once into `coffer_policy::Policy`. Each distinct set of policy
//! names on a token gets one compiled `Acl`, cached until any policy changes,
//! so the request hot path never parses or merges policies.

use crate::error::{Error, Result};
use crate::view::StorageView;
use coffer_policy::{Acl, Policy};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Names that cannot be created, changed or deleted through the API.
pub const IMMUTABLE: &[&str] = &["root", "response-wrapping"];

/// Vault's policy-name sanitising (its policy store's `sanitizeName`):
/// surrounding whitespace trimmed, lower-cased. `" Root"` is `root`.
pub fn sanitize_name(name: &str) -> String {
    crate::backend::Canon::TrimLower.apply(name)
}

#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    name: String,
    policy: String,
}

pub struct PolicyStore {
    view: StorageView,
    parsed: RwLock<HashMap<String, Arc<Policy>>>,
    acls: RwLock<AclCache>,
}

/// Compiled ACLs by policy-name list. `generation` moves on every policy change, so an ACL
/// compiled from the old policies while a change was landing is never cached after it.
#[derive(Default)]
struct AclCache {
    generation: u64,
    // Keyed by the token's own Vec so a lookup borrows `&[String]` and allocates nothing.
    map: HashMap<Vec<String>, Arc<Acl>>,
}

impl PolicyStore {
    /// Load every stored policy; create `default` on a fresh store.
    pub async fn load(view: StorageView) -> Result<Arc<PolicyStore>> {
        let store = PolicyStore { view, parsed: RwLock::new(HashMap::new()), acls: RwLock::new(AclCache::default()) };
        if store.view.get("default").await?.is_none() {
            store.write_raw("default", coffer_policy::DEFAULT_POLICY).await?;
        }
        // Recursively: a name may contain `/` (`team/admin`), stored as a nested key.
        for name in store.view.keys_recursive("").await? {
            if let Some(sp) = store.view.get_json::<StoredPolicy>(&name).await? {
                match coffer_policy::parse(&sp.name, &sp.policy) {
                    Ok(p) => {
                        store.parsed.write().insert(sp.name.clone(), Arc::new(p));
                    }
                    Err(e) => tracing::error!(policy = %sp.name, error = %e, "stored policy no longer parses; skipped"),
                }
            }
        }
        let rw = coffer_policy::parse("response-wrapping", coffer_policy::RESPONSE_WRAPPING_POLICY)
            .map_err(|e| Error::internal(format!("built-in policy: {e}")))?;
        store.parsed.write().insert("response-wrapping".into(), Arc::new(rw));
        Ok(Arc::new(store))
    }

    async fn write_raw(&self, name: &str, text: &str) -> Result<Arc<Policy>> {
        let p = coffer_policy::parse(name, text).map_err(|e| Error::invalid(e.to_string()))?;
        self.view.put_json(name, &StoredPolicy { name: name.into(), policy: text.into() }).await?;
        let p = Arc::new(p);
        self.parsed.write().insert(name.to_string(), p.clone());
        self.invalidate();
        Ok(p)
    }

    /// Forget every compiled ACL; called after `parsed` changed.
    fn invalidate(&self) {
        let mut cache = self.acls.write();
        cache.generation += 1;
        cache.map.clear();
    }

    /// Create or replace a policy. Parse errors are 400 and leave the stored
    /// policy unchanged.
    pub async fn put(&self, name: &str, text: &str) -> Result<()> {
        let name = sanitize_name(name);
        if IMMUTABLE.contains(&name.as_str()) {
            return Err(Error::invalid(format!("cannot update \"{name}\" policy")));
        }
        if name.is_empty() {
            return Err(Error::invalid("policy name must be provided"));
        }
        self.write_raw(&name, text).await.map(|_| ())
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        let name = sanitize_name(name);
        match name.as_str() {
            "root" => return Err(Error::invalid("cannot delete \"root\" policy")),
            "default" => return Err(Error::invalid("cannot delete default policy")),
            "response-wrapping" => return Err(Error::invalid("cannot delete \"response-wrapping\" policy")),
            _ => {}
        }
        self.view.delete(&name).await?;
        self.parsed.write().remove(&name);
        self.invalidate();
        Ok(())
    }

    /// The raw text of a stored policy (`root` has none).
    pub async fn get_raw(&self, name: &str) -> Result<Option<String>> {
        let name = sanitize_name(name);
        if name == "response-wrapping" {
            return Ok(None);
        }
        Ok(self.view.get_json::<StoredPolicy>(&name).await?.map(|p| p.policy))
    }

    pub fn exists(&self, name: &str) -> bool {
        name == "root" || self.parsed.read().contains_key(name)
    }

    /// Names of stored ACL policies, sorted (without `root` and the internal
    /// `response-wrapping`), names with `/` included (`team/admin`).
    pub async fn list(&self) -> Result<Vec<String>> {
        let mut names = self.view.keys_recursive("").await?;
        names.sort();
        Ok(names)
    }

    /// The compiled ACL for a token's policy set as seen by its entity:
    /// templated paths (`{{identity.entity.id}}`...) rendered with `vars`.
    /// The identity stages call this; without an entity (`None`) it is
    /// [`acl_for`](Self::acl_for). Today templated paths are not rendered yet
    /// and match nothing (Vault's rule for a template that cannot be
    /// resolved), so both give the same ACL.
    pub fn acl_for_identity(&self, policies: &[String], vars: Option<&Arc<coffer_policy::TemplateVars>>) -> Arc<Acl> {
        let _ = vars;
        self.acl_for(policies)
    }

    /// The compiled ACL for a token's policy set. Unknown names are ignored
    /// (as Vault does); `root` gives the root ACL.
    pub fn acl_for(&self, policies: &[String]) -> Arc<Acl> {
        let generation = {
            let cache = self.acls.read();
            if let Some(acl) = cache.map.get(policies) {
                return acl.clone();
            }
            cache.generation
        };
        let parsed = self.parsed.read();
        let mut set: Vec<Arc<Policy>> = Vec::with_capacity(policies.len());
        for name in policies {
            if name == "root" {
                // An (empty) policy named "root" compiles to the root ACL.
                if let Ok(root) = coffer_policy::parse("root", "") {
                    set.push(Arc::new(root));
                }
            } else if let Some(p) = parsed.get(name) {
                set.push(p.clone());
            }
        }
        drop(parsed);
        let acl = Arc::new(Acl::new(&set));
        let mut cache = self.acls.write();
        if cache.generation != generation {
            // A policy changed while this ACL was compiled: use it for this request only.
            return acl;
        }
        // Bound the cache: token policy sets are few in practice, but a
        // caller could mint many distinct combinations.
        if cache.map.len() > 4096 {
            cache.map.clear();
        }
        cache.map.insert(policies.to_vec(), acl.clone());
        acl
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::barrier::{Barrier, KeyBytes};
    use coffer_storage::InmemStorage;

    async fn view() -> StorageView {
        let b = Arc::new(Barrier::new(Arc::new(InmemStorage::new())));
        let kek = KeyBytes::random().unwrap();
        b.initialize(&kek, KeyBytes::random().unwrap(), "t".into()).await.unwrap();
        b.unseal(&kek).await.unwrap();
        StorageView::new(b, "sys/policy/")
    }

    const RULES: &str = r#"path "secret/*" { capabilities = ["read"] }"#;

    #[tokio::test]
    async fn names_with_slashes_are_listed_and_survive_a_reload() {
        let v = view().await;
        let store = PolicyStore::load(v.clone()).await.unwrap();
        store.put("team/admin", RULES).await.unwrap();
        store.put("team/ops/oncall", RULES).await.unwrap();
        assert_eq!(store.list().await.unwrap(), vec!["default", "team/admin", "team/ops/oncall"]);
        // What unseal does: a fresh store over the same storage.
        let again = PolicyStore::load(v).await.unwrap();
        assert!(again.exists("team/admin") && again.exists("team/ops/oncall"));
        assert!(again.acl_for(&["team/admin".into()]).capabilities("secret/x").contains(&"read".to_string()));
    }

    /// Counts the allocations of the current thread (the test binary's allocator).
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            static COUNT: Cell<usize> = const { Cell::new(0) };
        }
        struct Counting;
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, l: Layout) -> *mut u8 {
                let _ = COUNT.try_with(|c| c.set(c.get() + 1));
                unsafe { System.alloc(l) }
            }
            unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
                unsafe { System.dealloc(p, l) }
            }
            unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
                let _ = COUNT.try_with(|c| c.set(c.get() + 1));
                unsafe { System.realloc(p, l, n) }
            }
        }
        #[global_allocator]
        static A: Counting = Counting;

        pub fn allocations() -> usize {
            COUNT.with(|c| c.get())
        }
    }

    /// The per-request ACL lookup: a cache hit borrows the token entry's own
    /// policy list as the key and allocates nothing (it used to join the
    /// names into a String on every request).
    #[tokio::test]
    async fn a_cached_acl_is_found_without_allocating() {
        let store = PolicyStore::load(view().await).await.unwrap();
        store.put("app", RULES).await.unwrap();
        let policies: Vec<String> = vec!["app".into(), "default".into()];
        let first = store.acl_for(&policies);
        let before = counting::allocations();
        for _ in 0..100 {
            let acl = store.acl_for(&policies);
            assert!(Arc::ptr_eq(&acl, &first));
        }
        assert_eq!(counting::allocations() - before, 0);
        // A policy change still invalidates it.
        store.put("app", r#"path "other/*" { capabilities = ["read"] }"#).await.unwrap();
        assert!(!Arc::ptr_eq(&store.acl_for(&policies), &first));
    }

    #[tokio::test]
    async fn names_are_trimmed_and_lower_cased_so_root_cannot_be_shadowed() {
        let store = PolicyStore::load(view().await).await.unwrap();
        for name in [" root", "root ", "ROOT", "\troot\n", " Response-Wrapping"] {
            let e = store.put(name, RULES).await.unwrap_err().to_string();
            assert!(e.starts_with("cannot update"), "{name:?}: {e}");
        }
        assert!(store.delete(" ROOT").await.unwrap_err().to_string().contains("root"));
        assert!(store.delete("Default ").await.unwrap_err().to_string().contains("default"));
        store.put(" Ops ", RULES).await.unwrap();
        assert_eq!(store.list().await.unwrap(), vec!["default", "ops"]);
        assert_eq!(store.get_raw("OPS").await.unwrap().as_deref(), Some(RULES));
    }
}
