//! The identity a templated policy is rendered for: the values behind
//! Vault's `{{identity.*}}` template parameters. The identity store fills
//! one of these per entity; the ACL of a token with an entity is compiled
//! from its policies rendered with it.

use std::collections::BTreeMap;

/// Template parameters of one entity (Vault's `identity.entity.*` and
/// `identity.groups.*`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TemplateVars {
    /// `identity.entity.id`
    pub entity_id: String,
    /// `identity.entity.name`
    pub entity_name: String,
    /// `identity.entity.metadata.<key>`
    pub entity_metadata: BTreeMap<String, String>,
    /// `identity.entity.aliases.<mount accessor>.*`: the entity's alias on each mount.
    pub aliases: BTreeMap<String, AliasVars>,
    /// Every group the entity is a member of, directly or through a member
    /// group, by id (`identity.groups.ids.<id>.*`; `identity.groups.names.<name>.*`
    /// looks them up by name).
    pub groups: BTreeMap<String, GroupVars>,
}

/// `identity.entity.aliases.<mount accessor>.{id,name,metadata.<key>,custom_metadata.<key>}`
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AliasVars {
    pub id: String,
    pub name: String,
    pub metadata: BTreeMap<String, String>,
    pub custom_metadata: BTreeMap<String, String>,
}

/// `identity.groups.ids.<id>.{name,metadata.<key>}` and `identity.groups.names.<name>.{id,metadata.<key>}`
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupVars {
    pub id: String,
    pub name: String,
    pub metadata: BTreeMap<String, String>,
}
