//! Login enforcements (`identity/mfa/login-enforcement/:name`): which logins
//! need MFA, and with which methods. A login falls under an enforcement when
//! any of its criteria matches (the auth mount's accessor or type, the
//! entity, one of the entity's groups); it must then satisfy one of the
//! enforcement's methods. Several enforcements that apply must all be met.

use crate::error::{Error, Result};
use crate::fields;
use crate::logical::Data;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub fn enforcement_key(name: &str) -> String {
    format!("enforcement/{name}")
}

pub const FIELDS: &[crate::backend::FieldSpec] = {
    use crate::backend::{FieldKind::*, field};
    &[
        field("mfa_method_ids", StringList, "Method IDs; one of them must be satisfied.").required(),
        field("auth_method_accessors", StringList, "Auth mount accessors this applies to."),
        field("auth_method_types", StringList, "Auth method types this applies to."),
        field("identity_group_ids", StringList, "Groups whose members this applies to."),
        field("identity_entity_ids", StringList, "Entities this applies to."),
    ]
};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Enforcement {
    pub name: String,
    pub id: String,
    pub mfa_method_ids: Vec<String>,
    pub auth_method_accessors: Vec<String>,
    pub auth_method_types: Vec<String>,
    pub identity_group_ids: Vec<String>,
    pub identity_entity_ids: Vec<String>,
}

impl Enforcement {
    /// Parse a write body (existence of the ids is checked by the caller).
    /// A write replaces every list; the id is kept across updates.
    pub fn from_request(name: &str, id: String, data: &Data) -> Result<Enforcement> {
        let list = |k| fields::get_str_list(data, k).map(Option::unwrap_or_default);
        let e = Enforcement {
            name: name.to_string(),
            id,
            mfa_method_ids: list("mfa_method_ids")?,
            auth_method_accessors: list("auth_method_accessors")?,
            auth_method_types: list("auth_method_types")?,
            identity_group_ids: list("identity_group_ids")?,
            identity_entity_ids: list("identity_entity_ids")?,
        };
        if e.auth_method_accessors.is_empty() && e.auth_method_types.is_empty() && e.identity_group_ids.is_empty() && e.identity_entity_ids.is_empty() {
            return Err(Error::invalid("One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified"));
        }
        if e.mfa_method_ids.is_empty() {
            return Err(Error::invalid("missing method ids"));
        }
        Ok(e)
    }

    /// Does a login through the mount `accessor` (of `mount_type`) by
    /// `entity_id`, a member of `group_ids`, fall under this enforcement?
    /// An empty entity id matches no entity criterion.
    pub fn applicable(&self, accessor: &str, mount_type: &str, entity_id: &str, group_ids: &[String]) -> bool {
        self.auth_method_accessors.iter().any(|a| a == accessor)
            || self.auth_method_types.iter().any(|t| t == mount_type)
            || (!entity_id.is_empty() && self.identity_entity_ids.iter().any(|e| e == entity_id))
            || self.identity_group_ids.iter().any(|g| group_ids.contains(g))
    }

    pub fn to_json(&self) -> Value {
        json!({
            "auth_method_accessors": self.auth_method_accessors,
            "auth_method_types": self.auth_method_types,
            "id": self.id,
            "identity_entity_ids": self.identity_entity_ids,
            "identity_group_ids": self.identity_group_ids,
            "mfa_method_ids": self.mfa_method_ids,
            "name": self.name,
            "namespace_id": "root",
            "namespace_path": "",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Data {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn vaults_refusals_in_vaults_order() {
        let err = |v: Value| Enforcement::from_request("e", "id".into(), &body(v)).unwrap_err().to_string();
        assert_eq!(err(json!({"mfa_method_ids": ["m"]})), "One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified");
        assert_eq!(err(json!({})), "One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified");
        assert_eq!(err(json!({"auth_method_accessors": ["a"]})), "missing method ids");
        let e = Enforcement::from_request("e", "id".into(), &body(json!({"mfa_method_ids": "m1,m2", "auth_method_types": ["userpass"]}))).unwrap();
        assert_eq!(e.mfa_method_ids, ["m1", "m2"]);
        assert_eq!(e.to_json()["identity_group_ids"], json!([]));
    }

    #[test]
    fn matching_by_each_criterion() {
        let by = |v: Value| {
            let mut m = body(v);
            m.insert("mfa_method_ids".into(), json!(["m"]));
            Enforcement::from_request("e", "id".into(), &m).unwrap()
        };
        let groups = vec!["g1".to_string(), "g2".to_string()];
        let acc = by(json!({"auth_method_accessors": ["auth_userpass_1"]}));
        assert!(acc.applicable("auth_userpass_1", "userpass", "ent", &[]));
        assert!(!acc.applicable("auth_userpass_2", "userpass", "ent", &groups));
        let ty = by(json!({"auth_method_types": ["oidc"]}));
        assert!(ty.applicable("auth_oidc_9", "oidc", "", &[]));
        assert!(!ty.applicable("auth_userpass_1", "userpass", "ent", &groups));
        let ent = by(json!({"identity_entity_ids": ["ent"]}));
        assert!(ent.applicable("x", "y", "ent", &[]));
        assert!(!ent.applicable("x", "y", "other", &groups));
        assert!(!ent.applicable("x", "y", "", &[]), "no entity, no entity match");
        let grp = by(json!({"identity_group_ids": ["g2"]}));
        assert!(grp.applicable("x", "y", "ent", &groups));
        assert!(!grp.applicable("x", "y", "ent", &groups[..1]));
        // any criterion suffices
        let any = by(json!({"auth_method_types": ["ldap"], "identity_entity_ids": ["ent"]}));
        assert!(any.applicable("x", "userpass", "ent", &[]));
        assert!(any.applicable("x", "ldap", "nobody", &[]));
        assert!(!any.applicable("x", "userpass", "nobody", &[]));
    }
}
