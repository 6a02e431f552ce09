//! ACL policy storage and the compiled-ACL cache.
//!
//! Policies are stored raw (as the user wrote them) under `sys/policy/` and
//! parsed once into `coffer_policy::Policy`. Each distinct set of policy
//! names on a token gets one compiled `Acl`, cached until any policy changes,
//! so the request hot path never parses or merges policies. A set with
//! templated paths is also compiled per entity it is rendered for
//! ([`PolicyStore::acl_for_identity`]), cached the same way and bounded by
//! [`TEMPLATED_CACHE_MAX`].

use crate::error::{Error, Result};
use crate::view::StorageView;
use coffer_policy::{Acl, Policy, TemplateVars};
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
    map: HashMap<Vec<String>, Plain>,
    /// ACLs of templated sets rendered for an entity: policy set → entity id → ACL.
    /// Two borrowed lookups, so a hit allocates nothing either.
    templated: HashMap<Vec<String>, HashMap<String, Rendered>>,
    /// Entries in `templated` (all inner maps together), at most [`TEMPLATED_CACHE_MAX`].
    templated_len: usize,
}

impl AclCache {
    /// The cached ACL of `policies` rendered for `vars`, if it was rendered from equal variables.
    fn rendered(&self, policies: &[String], vars: &Arc<TemplateVars>) -> Option<Arc<Acl>> {
        let r = self.templated.get(policies)?.get(vars.entity_id.as_str())?;
        (Arc::ptr_eq(&r.vars, vars) || *r.vars == **vars).then(|| r.acl.clone())
    }
}

/// The plain ACL of a policy set (templated paths dropped), and whether any
/// of its policies has a templated path (then an entity's ACL differs).
struct Plain {
    acl: Arc<Acl>,
    templated: bool,
}

/// An ACL rendered for one entity, with the variables it was rendered from:
/// reused while the caller's variables are the same `Arc` or equal to them.
/// Holding the `Arc` keeps its address from being reused by other variables.
struct Rendered {
    vars: Arc<TemplateVars>,
    acl: Arc<Acl>,
}

/// Most plain ACLs cached (distinct token policy sets) before the cache is emptied.
pub const PLAIN_CACHE_MAX: usize = 4096;
/// Most rendered ACLs cached (distinct policy set × entity pairs) before
/// they are all dropped and compiled again on demand. A rendered ACL of the
/// default policy and a small user policy is a few KiB.
pub const TEMPLATED_CACHE_MAX: usize = 4096;

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
        cache.templated.clear();
        cache.templated_len = 0;
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
    /// templated paths (`{{identity.entity.id}}`...) rendered with `vars`
    /// (a path that does not render matches nothing). The identity stage
    /// calls this on every request of a token with an entity; without one
    /// (`None`) it is [`acl_for`](Self::acl_for).
    ///
    /// A set without templated paths is served from the plain cache, at the
    /// cost of `acl_for` (no allocation on a hit). A templated set is compiled
    /// per (set, entity id) and cached; a hit allocates nothing and compares
    /// the cached variables with `vars` by pointer, or by value when the
    /// caller built a new `Arc` (a changed entity compiles again).
    pub fn acl_for_identity(&self, policies: &[String], vars: Option<&Arc<TemplateVars>>) -> Arc<Acl> {
        let Some(vars) = vars else { return self.acl_for(policies) };
        let generation = {
            let cache = self.acls.read();
            match cache.map.get(policies) {
                Some(p) if !p.templated => return p.acl.clone(),
                Some(_) => match cache.rendered(policies, vars) {
                    Some(acl) => return acl,
                    None => cache.generation,
                },
                None => {
                    drop(cache);
                    let (acl, templated) = self.plain(policies);
                    if !templated {
                        return acl;
                    }
                    // The plain entry may have been evicted while the rendered one stayed.
                    let cache = self.acls.read();
                    match cache.rendered(policies, vars) {
                        Some(acl) => return acl,
                        // Read before the policies are (in the compile below).
                        None => cache.generation,
                    }
                }
            }
        };
        let acl = Arc::new(Acl::for_identity(&self.policy_set(policies), Some(vars)));
        let mut cache = self.acls.write();
        if cache.generation != generation {
            // A policy changed while this ACL was compiled: use it for this request only.
            return acl;
        }
        let entry = Rendered { vars: vars.clone(), acl: acl.clone() };
        let c = &mut *cache;
        let known = c.templated.get_mut(policies).and_then(|m| m.get_mut(vars.entity_id.as_str()));
        if let Some(slot) = known {
            *slot = entry;
            return acl;
        }
        if c.templated_len >= TEMPLATED_CACHE_MAX {
            c.templated.clear();
            c.templated_len = 0;
        }
        match c.templated.get_mut(policies) {
            Some(m) => m.insert(vars.entity_id.clone(), entry),
            None => c.templated.entry(policies.to_vec()).or_default().insert(vars.entity_id.clone(), entry),
        };
        c.templated_len += 1;
        acl
    }

    /// The compiled ACL for a token's policy set. Unknown names are ignored
    /// (as Vault does); `root` gives the root ACL. Templated paths match
    /// nothing here (no entity).
    pub fn acl_for(&self, policies: &[String]) -> Arc<Acl> {
        if let Some(p) = self.acls.read().map.get(policies) {
            return p.acl.clone();
        }
        self.plain(policies).0
    }

    /// The policies of a set, in order (unknown names skipped, `root` as an empty root policy).
    fn policy_set(&self, policies: &[String]) -> Vec<Arc<Policy>> {
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
        set
    }

    /// Compile (and cache) the plain ACL of a set: (ACL, whether the set has templated paths).
    fn plain(&self, policies: &[String]) -> (Arc<Acl>, bool) {
        let generation = {
            let cache = self.acls.read();
            if let Some(p) = cache.map.get(policies) {
                return (p.acl.clone(), p.templated);
            }
            cache.generation
        };
        let set = self.policy_set(policies);
        let templated = set.iter().any(|p| p.rules.iter().any(|r| r.templated));
        let acl = Arc::new(Acl::new(&set));
        let mut cache = self.acls.write();
        if cache.generation != generation {
            return (acl, templated);
        }
        // Bound the cache: token policy sets are few in practice, but a
        // caller could mint many distinct combinations.
        if cache.map.len() >= PLAIN_CACHE_MAX {
            cache.map.clear();
        }
        cache.map.insert(policies.to_vec(), Plain { acl: acl.clone(), templated });
        (acl, templated)
    }

    #[cfg(test)]
    fn templated_entries(&self) -> usize {
        let c = self.acls.read();
        debug_assert_eq!(c.templated_len, c.templated.values().map(HashMap::len).sum::<usize>());
        c.templated_len
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

        // A token with an entity: a set without templated paths is the plain
        // ACL, found as cheaply; a templated set (here through `default`) is
        // found without allocating too, with the same Arc or an equal one.
        let plain: Vec<String> = vec!["app".into()];
        let vars = entity("e1", "alice");
        let same = Arc::new((*vars).clone());
        let p = store.acl_for_identity(&plain, Some(&vars));
        assert!(Arc::ptr_eq(&p, &store.acl_for(&plain)));
        let t = store.acl_for_identity(&policies, Some(&vars));
        let before = counting::allocations();
        for _ in 0..100 {
            assert!(Arc::ptr_eq(&store.acl_for_identity(&plain, Some(&vars)), &p));
            assert!(Arc::ptr_eq(&store.acl_for_identity(&policies, Some(&vars)), &t));
            assert!(Arc::ptr_eq(&store.acl_for_identity(&policies, Some(&same)), &t));
            assert!(Arc::ptr_eq(&store.acl_for_identity(&policies, None), &store.acl_for(&policies)));
        }
        assert_eq!(counting::allocations() - before, 0);
    }

    fn entity(id: &str, name: &str) -> Arc<TemplateVars> {
        Arc::new(TemplateVars {
            entity_id: id.into(),
            entity_name: name.into(),
            entity_metadata: [("team".to_string(), format!("team-{name}"))].into(),
            ..TemplateVars::default()
        })
    }

    const TEMPLATED: &str = r#"path "kv/{{identity.entity.name}}/*" { capabilities = ["read"] }
path "kv/shared/{{identity.entity.metadata.team}}" { capabilities = ["update"] }
path "kv/plain" { capabilities = ["list"] }"#;

    #[tokio::test]
    async fn templated_sets_are_rendered_per_entity_cached_and_invalidated() {
        let store = PolicyStore::load(view().await).await.unwrap();
        store.put("user", TEMPLATED).await.unwrap();
        let set: Vec<String> = vec!["user".into()];
        let (alice, bob) = (entity("e1", "alice"), entity("e2", "bob"));
        let a = store.acl_for_identity(&set, Some(&alice));
        let b = store.acl_for_identity(&set, Some(&bob));
        assert_eq!(a.capabilities("kv/alice/x"), vec!["read"]);
        assert_eq!(a.capabilities("kv/bob/x"), vec!["deny"]);
        assert_eq!(a.capabilities("kv/shared/team-alice"), vec!["update"]);
        assert_eq!(b.capabilities("kv/bob/x"), vec!["read"]);
        assert_eq!(b.capabilities("kv/shared/team-alice"), vec!["deny"]);
        // Without an entity the templated rules match nothing; the plain one stays.
        let none = store.acl_for_identity(&set, None);
        assert_eq!(none.capabilities("kv/alice/x"), vec!["deny"]);
        assert_eq!(none.capabilities("kv/plain"), vec!["list"]);
        assert!(Arc::ptr_eq(&store.acl_for_identity(&set, Some(&alice)), &a));
        assert_eq!(store.templated_entries(), 2);

        // The entity changed (a renamed entity: new variables under the same id).
        let renamed = entity("e1", "carol");
        let c = store.acl_for_identity(&set, Some(&renamed));
        assert_eq!(c.capabilities("kv/carol/x"), vec!["read"]);
        assert_eq!(c.capabilities("kv/alice/x"), vec!["deny"]);
        assert_eq!(store.templated_entries(), 2);

        // Any policy change drops every rendered ACL.
        store.put("user", r#"path "kv/{{identity.entity.id}}" { capabilities = ["read"] }"#).await.unwrap();
        assert_eq!(store.templated_entries(), 0);
        let d = store.acl_for_identity(&set, Some(&bob));
        assert_eq!(d.capabilities("kv/bob/x"), vec!["deny"]);
        assert_eq!(d.capabilities("kv/e2"), vec!["read"]);
        store.delete("user").await.unwrap();
        assert_eq!(store.acl_for_identity(&set, Some(&bob)).capabilities("kv/e2"), vec!["deny"]);
    }

    #[tokio::test]
    async fn the_rendered_cache_is_bounded() {
        let store = PolicyStore::load(view().await).await.unwrap();
        store.put("user", TEMPLATED).await.unwrap();
        let set: Vec<String> = vec!["user".into(), "default".into()];
        let n = TEMPLATED_CACHE_MAX + 500;
        let mut peak = 0;
        for i in 0..n {
            let v = entity(&format!("e{i}"), &format!("u{i}"));
            let acl = store.acl_for_identity(&set, Some(&v));
            assert_eq!(acl.capabilities(&format!("kv/u{i}/x")), vec!["read"]);
            peak = peak.max(store.templated_entries());
        }
        assert_eq!(peak, TEMPLATED_CACHE_MAX);
        assert!(store.templated_entries() <= TEMPLATED_CACHE_MAX);
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
