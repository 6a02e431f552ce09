//! The identity store: entities (with their aliases) and groups (with their
//! alias), held in memory and persisted in the identity mount's own storage
//! view, one record per entity (`entity/<id>`, aliases inside) and per group
//! (`group/<id>`, its alias inside).
//!
//! Every change is serialised by one async lock, written to storage first
//! (one batch per change, so an entity merge or a login's group update is
//! all or nothing) and then swapped into the in-memory indexes. What the
//! request path needs for a token's entity — disabled or not, the identity
//! policies (the entity's and every group's it is in, directly or through
//! `member_group_ids` parents), the template variables — is derived from the
//! indexes on first use and cached per entity until the next change: the
//! request path never reads storage.

use crate::error::{Error, Result};
use crate::view::{StorageView, ViewOp};
use coffer_policy::{AliasVars, GroupVars, TemplateVars};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

pub type Meta = BTreeMap<String, String>;

fn entity_key(id: &str) -> String {
    format!("entity/{id}")
}
fn group_key(id: &str) -> String {
    format!("group/{id}")
}

/// An entity alias: one login identity on one auth mount.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Alias {
    pub id: String,
    pub canonical_id: String,
    pub name: String,
    pub mount_accessor: String,
    /// Set by logins (the auth method's alias metadata); `None` renders `null`.
    #[serde(default)]
    pub metadata: Option<Meta>,
    /// Set through the API; `None` (a login-created alias) renders `null`.
    #[serde(default)]
    pub custom_metadata: Option<Meta>,
    pub creation_time: String,
    pub last_update_time: String,
    #[serde(default)]
    pub merged_from_canonical_ids: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entity {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub metadata: Option<Meta>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    pub creation_time: String,
    pub last_update_time: String,
    #[serde(default)]
    pub merged_entity_ids: Option<Vec<String>>,
    #[serde(default)]
    pub aliases: Vec<Alias>,
}

/// A group alias (external groups only): the name a login's groups carry on one mount.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GroupAlias {
    pub id: String,
    pub canonical_id: String,
    pub name: String,
    pub mount_accessor: String,
    pub creation_time: String,
    pub last_update_time: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub id: String,
    pub name: String,
    /// `internal` or `external`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub metadata: Option<Meta>,
    #[serde(default)]
    pub member_entity_ids: Vec<String>,
    #[serde(default)]
    pub member_group_ids: Vec<String>,
    /// The member lists were ever assigned: an empty one then renders `[]`,
    /// a never-set one `null` (Vault's nil slice).
    #[serde(default)]
    pub entity_ids_set: bool,
    #[serde(default)]
    pub group_ids_set: bool,
    #[serde(default)]
    pub alias: Option<GroupAlias>,
    pub creation_time: String,
    pub last_update_time: String,
    #[serde(default)]
    pub modify_index: u64,
}

impl Entity {
    /// A new entity with a fresh id, no aliases, created at `t`.
    pub(crate) fn new(name: String, t: &str) -> Entity {
        Entity {
            id: super::new_id(),
            name,
            metadata: None,
            policies: Vec::new(),
            disabled: false,
            creation_time: t.to_string(),
            last_update_time: t.to_string(),
            merged_entity_ids: None,
            aliases: Vec::new(),
        }
    }
}

impl Group {
    /// A new group of `kind` (`internal` or `external`) with a fresh id and no members, created at `t`.
    pub(crate) fn new(name: String, kind: String, t: &str) -> Group {
        Group {
            id: super::new_id(),
            name,
            kind,
            policies: Vec::new(),
            metadata: None,
            member_entity_ids: Vec::new(),
            member_group_ids: Vec::new(),
            entity_ids_set: false,
            group_ids_set: false,
            alias: None,
            creation_time: t.to_string(),
            last_update_time: t.to_string(),
            modify_index: 0,
        }
    }

    pub fn external(&self) -> bool {
        self.kind == "external"
    }
}

/// What the request path needs of one entity, derived once per change.
pub struct Resolved {
    pub entity_id: String,
    pub disabled: bool,
    /// The entity's policies, then every group's (direct, then inherited), deduplicated.
    pub policies: Vec<String>,
    pub vars: Arc<TemplateVars>,
    /// Token policies ∪ identity policies, by the token's policy list (borrowed
    /// on lookup: a hit allocates nothing).
    unions: Mutex<HashMap<Vec<String>, Arc<Vec<String>>>>,
}

impl Resolved {
    /// The policy set an ACL is compiled from for a token with these policies.
    pub fn effective(&self, token_policies: &[String]) -> Arc<Vec<String>> {
        let mut unions = self.unions.lock();
        if let Some(u) = unions.get(token_policies) {
            return u.clone();
        }
        let mut all: Vec<String> = token_policies.to_vec();
        for p in &self.policies {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        let all = Arc::new(all);
        if unions.len() > 64 {
            unions.clear();
        }
        unions.insert(token_policies.to_vec(), all.clone());
        all
    }
}

#[derive(Default, Clone)]
struct State {
    entities: HashMap<String, Arc<Entity>>,
    entity_by_name: HashMap<String, String>,
    /// alias id → entity id
    alias_owner: HashMap<String, String>,
    /// (mount accessor, alias name) → alias id
    alias_by_factors: HashMap<(String, String), String>,
    groups: HashMap<String, Arc<Group>>,
    group_by_name: HashMap<String, String>,
    /// group alias id → group id
    group_alias_owner: HashMap<String, String>,
    group_alias_by_factors: HashMap<(String, String), String>,
}

impl State {
    fn insert_entity(&mut self, e: Entity) {
        self.remove_entity(&e.id);
        self.entity_by_name.insert(e.name.clone(), e.id.clone());
        for a in &e.aliases {
            self.alias_owner.insert(a.id.clone(), e.id.clone());
            self.alias_by_factors.insert((a.mount_accessor.clone(), a.name.clone()), a.id.clone());
        }
        self.entities.insert(e.id.clone(), Arc::new(e));
    }
    fn remove_entity(&mut self, id: &str) -> Option<Arc<Entity>> {
        let old = self.entities.remove(id)?;
        if self.entity_by_name.get(&old.name).is_some_and(|i| i == id) {
            self.entity_by_name.remove(&old.name);
        }
        for a in &old.aliases {
            self.alias_owner.remove(&a.id);
            let f = (a.mount_accessor.clone(), a.name.clone());
            if self.alias_by_factors.get(&f).is_some_and(|i| *i == a.id) {
                self.alias_by_factors.remove(&f);
            }
        }
        Some(old)
    }
    fn insert_group(&mut self, g: Group) {
        self.remove_group(&g.id);
        self.group_by_name.insert(g.name.clone(), g.id.clone());
        if let Some(a) = &g.alias {
            self.group_alias_owner.insert(a.id.clone(), g.id.clone());
            self.group_alias_by_factors.insert((a.mount_accessor.clone(), a.name.clone()), a.id.clone());
        }
        self.groups.insert(g.id.clone(), Arc::new(g));
    }
    fn remove_group(&mut self, id: &str) -> Option<Arc<Group>> {
        let old = self.groups.remove(id)?;
        if self.group_by_name.get(&old.name).is_some_and(|i| i == id) {
            self.group_by_name.remove(&old.name);
        }
        if let Some(a) = &old.alias {
            self.group_alias_owner.remove(&a.id);
            let f = (a.mount_accessor.clone(), a.name.clone());
            if self.group_alias_by_factors.get(&f).is_some_and(|i| *i == a.id) {
                self.group_alias_by_factors.remove(&f);
            }
        }
        Some(old)
    }

    /// Groups that list `id` among their member groups.
    fn parents_of(&self, id: &str) -> Vec<String> {
        let mut v: Vec<String> = self.groups.values().filter(|g| g.member_group_ids.iter().any(|m| m == id)).map(|g| g.id.clone()).collect();
        v.sort();
        v
    }

    fn direct_groups(&self, entity: &str) -> Vec<String> {
        let mut v: Vec<String> = self.groups.values().filter(|g| g.member_entity_ids.iter().any(|m| m == entity)).map(|g| g.id.clone()).collect();
        v.sort();
        v
    }

    /// Groups reached from `direct` through parents (not including `direct`), breadth first.
    fn inherited(&self, direct: &[String]) -> Vec<String> {
        let mut seen: HashSet<String> = direct.iter().cloned().collect();
        let mut out = Vec::new();
        let mut queue: Vec<String> = direct.to_vec();
        while let Some(g) = queue.pop() {
            for p in self.parents_of(&g) {
                if seen.insert(p.clone()) {
                    out.push(p.clone());
                    queue.push(p);
                }
            }
        }
        out
    }

    /// Would `group` having `members` as member groups make a cycle? (Is
    /// `group` reachable from any member by following member_group_ids?)
    fn cycle_through(&self, group: &str, members: &[String]) -> Option<String> {
        for m in members {
            let mut seen = HashSet::new();
            let mut stack = vec![m.clone()];
            while let Some(g) = stack.pop() {
                if g == group {
                    return Some(m.clone());
                }
                if !seen.insert(g.clone()) {
                    continue;
                }
                if let Some(gr) = self.groups.get(&g) {
                    stack.extend(gr.member_group_ids.iter().cloned());
                }
            }
        }
        None
    }

    fn resolve(&self, id: &str) -> Option<Resolved> {
        let e = self.entities.get(id)?;
        let direct = self.direct_groups(id);
        let inherited = self.inherited(&direct);
        let mut policies: Vec<String> = Vec::new();
        let mut push = |p: &String| {
            if !policies.contains(p) {
                policies.push(p.clone());
            }
        };
        e.policies.iter().for_each(&mut push);
        let mut groups = BTreeMap::new();
        for gid in direct.iter().chain(inherited.iter()) {
            if let Some(g) = self.groups.get(gid) {
                g.policies.iter().for_each(&mut push);
                groups.insert(g.id.clone(), GroupVars { id: g.id.clone(), name: g.name.clone(), metadata: g.metadata.clone().unwrap_or_default() });
            }
        }
        let aliases = e
            .aliases
            .iter()
            .map(|a| {
                (
                    a.mount_accessor.clone(),
                    AliasVars { id: a.id.clone(), name: a.name.clone(), metadata: a.metadata.clone().unwrap_or_default(), custom_metadata: a.custom_metadata.clone().unwrap_or_default() },
                )
            })
            .collect();
        let vars = TemplateVars { entity_id: e.id.clone(), entity_name: e.name.clone(), entity_metadata: e.metadata.clone().unwrap_or_default(), aliases, groups };
        Some(Resolved { entity_id: e.id.clone(), disabled: e.disabled, policies, vars: Arc::new(vars), unions: Mutex::new(HashMap::new()) })
    }
}

/// One change: records to write and delete, applied to storage in one batch
/// and then to the indexes.
#[derive(Default)]
pub(crate) struct Change {
    entities: Vec<Entity>,
    deleted_entities: Vec<String>,
    groups: Vec<Group>,
    deleted_groups: Vec<String>,
}

impl Change {
    pub(crate) fn put_entity(&mut self, e: Entity) {
        self.entities.retain(|x| x.id != e.id);
        self.entities.push(e);
    }
    pub(crate) fn delete_entity(&mut self, id: &str) {
        self.entities.retain(|x| x.id != id);
        self.deleted_entities.push(id.to_string());
    }
    pub(crate) fn put_group(&mut self, mut g: Group) {
        g.modify_index += 1;
        self.groups.retain(|x| x.id != g.id);
        self.groups.push(g);
    }
    pub(crate) fn delete_group(&mut self, id: &str) {
        self.groups.retain(|x| x.id != id);
        self.deleted_groups.push(id.to_string());
    }
}

/// A consistent read-only view of the indexes (a clone under the lock; the
/// writers hold the write lock while they plan, so nothing moves under them).
pub struct Snapshot(Arc<State>);

impl Snapshot {
    pub fn entity(&self, id: &str) -> Option<Arc<Entity>> {
        self.0.entities.get(id).cloned()
    }
    pub fn entity_by_name(&self, name: &str) -> Option<Arc<Entity>> {
        self.0.entity_by_name.get(name).and_then(|id| self.entity(id))
    }
    pub fn entities(&self) -> Vec<Arc<Entity>> {
        let mut v: Vec<_> = self.0.entities.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
    /// The alias and the entity that holds it.
    pub fn alias(&self, id: &str) -> Option<(Alias, Arc<Entity>)> {
        let e = self.entity(self.0.alias_owner.get(id)?)?;
        e.aliases.iter().find(|a| a.id == id).cloned().map(|a| (a, e))
    }
    pub fn alias_by_factors(&self, accessor: &str, name: &str) -> Option<(Alias, Arc<Entity>)> {
        let id = self.0.alias_by_factors.get(&(accessor.to_string(), name.to_string()))?;
        self.alias(id)
    }
    pub fn aliases(&self) -> Vec<Alias> {
        let mut v: Vec<Alias> = self.0.entities.values().flat_map(|e| e.aliases.iter().cloned()).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
    pub fn group(&self, id: &str) -> Option<Arc<Group>> {
        self.0.groups.get(id).cloned()
    }
    pub fn group_by_name(&self, name: &str) -> Option<Arc<Group>> {
        self.0.group_by_name.get(name).and_then(|id| self.group(id))
    }
    pub fn groups(&self) -> Vec<Arc<Group>> {
        let mut v: Vec<_> = self.0.groups.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
    pub fn group_alias(&self, id: &str) -> Option<(GroupAlias, Arc<Group>)> {
        let g = self.group(self.0.group_alias_owner.get(id)?)?;
        g.alias.clone().map(|a| (a, g))
    }
    pub fn group_alias_by_factors(&self, accessor: &str, name: &str) -> Option<(GroupAlias, Arc<Group>)> {
        let id = self.0.group_alias_by_factors.get(&(accessor.to_string(), name.to_string()))?;
        self.group_alias(id)
    }
    pub fn group_aliases(&self) -> Vec<GroupAlias> {
        let mut v: Vec<GroupAlias> = self.0.groups.values().filter_map(|g| g.alias.clone()).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
    pub fn parent_group_ids(&self, id: &str) -> Vec<String> {
        self.0.parents_of(id)
    }
    pub fn direct_group_ids(&self, entity: &str) -> Vec<String> {
        self.0.direct_groups(entity)
    }
    pub fn inherited_group_ids(&self, entity: &str) -> Vec<String> {
        self.0.inherited(&self.0.direct_groups(entity))
    }
    /// The member group of `members` through which `group` would contain itself.
    pub fn cycle_through(&self, group: &str, members: &[String]) -> Option<String> {
        self.0.cycle_through(group, members)
    }
}

pub struct IdentityStore {
    view: StorageView,
    state: RwLock<Arc<State>>,
    write: tokio::sync::Mutex<()>,
    resolved: RwLock<ResolvedCache>,
}

#[derive(Default)]
struct ResolvedCache {
    generation: u64,
    map: HashMap<String, Option<Arc<Resolved>>>,
}

/// Held while a change is planned and applied: the one writer.
pub struct WriteGuard<'a> {
    store: &'a IdentityStore,
    _g: tokio::sync::MutexGuard<'a, ()>,
}

impl WriteGuard<'_> {
    pub fn snapshot(&self) -> Snapshot {
        self.store.snapshot()
    }
    /// Persist `change` (one storage batch), then apply it to the indexes.
    pub(crate) async fn commit(&self, change: Change) -> Result<()> {
        let mut ops = Vec::new();
        for e in &change.entities {
            ops.push(ViewOp::Put(entity_key(&e.id), serde_json::to_vec(e)?));
        }
        for id in &change.deleted_entities {
            ops.push(ViewOp::Delete(entity_key(id)));
        }
        for g in &change.groups {
            ops.push(ViewOp::Put(group_key(&g.id), serde_json::to_vec(g)?));
        }
        for id in &change.deleted_groups {
            ops.push(ViewOp::Delete(group_key(id)));
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.store.view.write(ops).await?;
        let mut next = (**self.store.state.read()).clone();
        for id in &change.deleted_entities {
            next.remove_entity(id);
        }
        for id in &change.deleted_groups {
            next.remove_group(id);
        }
        for e in change.entities {
            next.insert_entity(e);
        }
        for g in change.groups {
            next.insert_group(g);
        }
        *self.store.state.write() = Arc::new(next);
        let mut cache = self.store.resolved.write();
        cache.generation += 1;
        cache.map.clear();
        Ok(())
    }
}

impl IdentityStore {
    /// Load every entity and group of the identity mount's storage (at unseal).
    pub async fn load(view: StorageView) -> Result<Arc<IdentityStore>> {
        let mut state = State::default();
        for id in view.list("entity/").await? {
            if let Some(e) = view.get_json::<Entity>(&entity_key(&id)).await? {
                state.insert_entity(e);
            }
        }
        for id in view.list("group/").await? {
            if let Some(g) = view.get_json::<Group>(&group_key(&id)).await? {
                state.insert_group(g);
            }
        }
        Ok(Arc::new(IdentityStore { view, state: RwLock::new(Arc::new(state)), write: tokio::sync::Mutex::new(()), resolved: RwLock::new(ResolvedCache::default()) }))
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.state.read().clone())
    }

    /// The identity mount's storage view (identity/oidc keeps its records there).
    pub fn view(&self) -> &StorageView {
        &self.view
    }

    /// Take the writer's lock: plan a change against [`WriteGuard::snapshot`], then commit it.
    pub async fn lock(&self) -> WriteGuard<'_> {
        WriteGuard { store: self, _g: self.write.lock().await }
    }

    /// An entity by id (for login MFA and the handlers).
    pub fn entity(&self, id: &str) -> Option<Arc<Entity>> {
        self.state.read().entities.get(id).cloned()
    }

    /// Every group the entity is in: direct memberships, then groups that
    /// contain those through `member_group_ids` (transitively).
    pub fn group_ids_for_entity(&self, id: &str) -> Vec<String> {
        let state = self.state.read().clone();
        let mut direct = state.direct_groups(id);
        let inherited = state.inherited(&direct);
        direct.extend(inherited);
        direct
    }

    /// The request path's view of an entity: cached until the next change.
    /// `None`: no such entity (a token whose entity was deleted keeps its own
    /// policies only, as in Vault).
    pub fn resolved(&self, id: &str) -> Option<Arc<Resolved>> {
        let generation = {
            let cache = self.resolved.read();
            if let Some(r) = cache.map.get(id) {
                return r.clone();
            }
            cache.generation
        };
        let r = self.state.read().resolve(id).map(Arc::new);
        let mut cache = self.resolved.write();
        if cache.generation == generation {
            if cache.map.len() > 65_536 {
                cache.map.clear();
            }
            cache.map.insert(id.to_string(), r.clone());
        }
        r
    }
}

/// Vault's error text for a check that failed inside its multierror.
pub(crate) fn multi(status: u16, msg: &str) -> Error {
    Error::Coded(status, format!("1 error occurred:\n\t* {msg}\n\n"))
}
