//! What a login does to the identity store (Vault's `CreateOrFetchEntity`
//! and external group refresh): the alias on the login mount's accessor is
//! found or created, with a new entity (`entity_<8 hex>.root`) behind a new
//! alias; the alias metadata follows the login's; the entity's memberships
//! in external groups whose alias is on this mount become exactly the groups
//! the login's group names match. Nothing is written when nothing changed,
//! so a repeated login costs no storage write.

use super::store::{Alias, Change, Entity, IdentityStore, Snapshot};
use super::{generated_name, new_id, now};
use crate::error::Result;
use crate::logical::LoginAlias;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The entity a login resolved to.
pub struct LoginIdentity {
    pub entity: Arc<Entity>,
    /// This login created the entity (audit entries' `auth.entity_created`).
    pub created: bool,
}

/// The external groups on `accessor` the login's names match.
fn wanted_groups(snap: &Snapshot, accessor: &str, names: &[String]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().filter_map(|n| snap.group_alias_by_factors(accessor, n)).map(|(_, g)| g.id.clone()).collect();
    v.sort();
    v.dedup();
    v
}

/// The planned change, or `None` when the store already says it all; the
/// entity; whether the change creates it.
fn plan(snap: &Snapshot, accessor: &str, login: &LoginAlias, group_names: &[String]) -> (Option<Change>, Entity, bool) {
    let meta = (!login.metadata.is_empty()).then(|| login.metadata.clone());
    let mut change = Change::default();
    let mut dirty = false;
    let created = snap.alias_by_factors(accessor, &login.name).is_none();
    let entity = match snap.alias_by_factors(accessor, &login.name) {
        Some((alias, owner)) => {
            let mut e = (*owner).clone();
            if alias.metadata.as_ref().unwrap_or(&BTreeMap::new()) != &login.metadata {
                for a in e.aliases.iter_mut().filter(|a| a.id == alias.id) {
                    a.metadata = meta.clone();
                    a.last_update_time = now();
                }
                change.put_entity(e.clone());
                dirty = true;
            }
            e
        }
        None => {
            let t = now();
            let mut e = Entity::new(generated_name("entity"), &t);
            e.aliases.push(Alias {
                id: new_id(),
                canonical_id: e.id.clone(),
                name: login.name.clone(),
                mount_accessor: accessor.to_string(),
                metadata: meta,
                custom_metadata: None,
                creation_time: t.clone(),
                last_update_time: t,
                merged_from_canonical_ids: None,
            });
            change.put_entity(e.clone());
            dirty = true;
            e
        }
    };
    let wanted = wanted_groups(snap, accessor, group_names);
    for g in snap.groups() {
        let on_mount = g.external() && g.alias.as_ref().is_some_and(|a| a.mount_accessor == accessor);
        if !on_mount {
            continue;
        }
        let member = g.member_entity_ids.contains(&entity.id);
        let want = wanted.contains(&g.id);
        if member != want {
            let mut g = (*g).clone();
            g.entity_ids_set = true;
            if want {
                g.member_entity_ids.push(entity.id.clone());
            } else {
                g.member_entity_ids.retain(|m| *m != entity.id);
            }
            g.last_update_time = now();
            change.put_group(g);
            dirty = true;
        }
    }
    (dirty.then_some(change), entity, created)
}

impl IdentityStore {
    /// A login on the mount with `accessor` as `login`, bringing `group_names`.
    pub async fn login(&self, accessor: &str, login: &LoginAlias, group_names: &[String]) -> Result<LoginIdentity> {
        // Lock-free first: a returning user whose alias and groups are unchanged.
        let snap = self.snapshot();
        if let (None, e, _) = plan(&snap, accessor, login, group_names) {
            return Ok(LoginIdentity { entity: snap.entity(&e.id).unwrap_or_else(|| Arc::new(e)), created: false });
        }
        let w = self.lock().await;
        let snap = w.snapshot();
        let (change, e, created) = plan(&snap, accessor, login, group_names);
        if let Some(change) = change {
            w.commit(change).await?;
        }
        Ok(LoginIdentity { entity: self.entity(&e.id).unwrap_or_else(|| Arc::new(e)), created })
    }
}
