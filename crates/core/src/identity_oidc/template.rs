//! Role templates: Vault's identity templating in JSON mode
//! (`{"groups": {{identity.entity.groups.names}}}`): each `{{...}}` is
//! replaced by the JSON form of the value (strings quoted, lists and maps as
//! JSON); `identity.groups.*` and `time.*` give the bare value, as in Vault.

use std::collections::BTreeMap;

pub type Meta = BTreeMap<String, String>;

#[derive(Clone, Debug, Default)]
pub struct AliasData {
    pub mount_accessor: String,
    pub id: String,
    pub name: String,
    pub metadata: Option<Meta>,
    pub custom_metadata: Option<Meta>,
}

#[derive(Clone, Debug, Default)]
pub struct GroupData {
    pub id: String,
    pub name: String,
    pub metadata: Option<Meta>,
}

/// What a template may read about the token's entity.
#[derive(Clone, Debug, Default)]
pub struct EntityData {
    pub id: String,
    pub name: String,
    pub metadata: Option<Meta>,
    pub aliases: Vec<AliasData>,
    /// Direct groups, then inherited ones.
    pub groups: Vec<GroupData>,
}

const NOT_FOUND: &str = "no value could be found for one of the template directives";

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}
fn map_json(m: &Option<Meta>, key: Option<&str>) -> String {
    match (m, key) {
        (m, Some(k)) => quote(m.as_ref().and_then(|m| m.get(k)).map(String::as_str).unwrap_or("")),
        (None, None) => "{}".into(),
        (Some(m), None) => serde_json::to_string(m).unwrap_or_else(|_| "{}".into()),
    }
}
fn list_json(v: &[String]) -> String {
    // Go marshals a nil slice as null: an entity in no group renders `null`.
    if v.is_empty() { "null".into() } else { serde_json::to_string(v).unwrap_or_else(|_| "null".into()) }
}

/// Render `template` for `entity` (JSON mode) at unix time `now`.
pub fn populate(template: &str, entity: &EntityData, now: i64) -> Result<String, String> {
    if template.is_empty() {
        return Ok(String::new());
    }
    let mut pieces = template.split("{{");
    let first = pieces.next().unwrap_or_default();
    if first.contains("}}") {
        return Err("unbalanced templating characters".into());
    }
    let mut out = String::with_capacity(template.len() * 2);
    out.push_str(first);
    for piece in pieces {
        let parts: Vec<&str> = piece.split("}}").collect();
        if parts.len() != 2 {
            return Err("unbalanced templating characters".into());
        }
        out.push_str(&directive(parts[0].trim(), entity, now)?);
        out.push_str(parts[1]);
    }
    Ok(out)
}

fn alias_value(sel: &str, a: &AliasData) -> Result<String, String> {
    Ok(match sel {
        "id" => quote(&a.id),
        "name" => quote(&a.name),
        "metadata" => map_json(&a.metadata, None),
        "custom_metadata" => map_json(&a.custom_metadata, None),
        s if s.starts_with("metadata.") => map_json(&a.metadata, Some(&s["metadata.".len()..])),
        s if s.starts_with("custom_metadata.") => map_json(&a.custom_metadata, Some(&s["custom_metadata.".len()..])),
        _ => return Err(NOT_FOUND.into()),
    })
}

fn directive(input: &str, e: &EntityData, now: i64) -> Result<String, String> {
    if let Some(sel) = input.strip_prefix("identity.entity.") {
        let names: Vec<String> = e.groups.iter().map(|g| g.name.clone()).collect();
        let ids: Vec<String> = e.groups.iter().map(|g| g.id.clone()).collect();
        return Ok(match sel {
            "id" => quote(&e.id),
            "name" => quote(&e.name),
            "metadata" => map_json(&e.metadata, None),
            s if s.starts_with("metadata.") => map_json(&e.metadata, Some(&s["metadata.".len()..])),
            "groups.names" => list_json(&names),
            "groups.ids" => list_json(&ids),
            s if s.starts_with("aliases.") => {
                let rest = &s["aliases.".len()..];
                let Some((accessor, field)) = rest.split_once('.') else { return Err("invalid alias selector".into()) };
                let empty = AliasData { metadata: Some(Meta::new()), custom_metadata: Some(Meta::new()), ..AliasData::default() };
                let alias = e.aliases.iter().find(|a| a.mount_accessor == accessor).unwrap_or(&empty);
                alias_value(field, alias)?
            }
            _ => return Err(NOT_FOUND.into()),
        });
    }
    if let Some(sel) = input.strip_prefix("identity.groups.") {
        if e.groups.is_empty() {
            return Err("string contains groups template directives but no groups were provided".into());
        }
        let (by, rest) = sel.split_once('.').ok_or("invalid groups selector")?;
        if by != "ids" && by != "names" {
            return Err("invalid groups selector".into());
        }
        let (key, field) = rest.split_once('.').ok_or("invalid groups accessor")?;
        let g = e
            .groups
            .iter()
            .find(|g| if by == "ids" { g.id == key } else { g.name == key })
            .ok_or_else(|| format!("entity is not a member of group {key:?}"))?;
        return match field {
            "id" => Ok(g.id.clone()),
            "name" if !g.name.is_empty() => Ok(g.name.clone()),
            f if f.starts_with("metadata.") => g.metadata.as_ref().and_then(|m| m.get(&f["metadata.".len()..])).cloned().ok_or_else(|| NOT_FOUND.into()),
            _ => Err(NOT_FOUND.into()),
        };
    }
    if let Some(sel) = input.strip_prefix("time.") {
        let ops: Vec<&str> = sel.splitn(3, '.').collect();
        if ops[0] != "now" {
            return Err(format!("invalid time selector {:?}", ops[0]));
        }
        return match ops.len() {
            1 => Ok(now.to_string()),
            2 => Err("missing time operand".into()),
            _ => {
                let d = coffer_config::duration::from_json(&serde_json::Value::String(ops[2].to_string()))
                    .map_err(|e| format!("invalid duration: {e}"))?
                    .as_secs() as i64;
                match ops[1] {
                    "plus" => Ok((now + d).to_string()),
                    "minus" => Ok((now - d).to_string()),
                    op => Err(format!("invalid time operator {op:?}")),
                }
            }
        };
    }
    Err(NOT_FOUND.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> EntityData {
        EntityData {
            id: "e1".into(),
            name: "alice".into(),
            metadata: Some([("team".to_string(), "ops".to_string())].into()),
            aliases: vec![AliasData { mount_accessor: "auth_userpass_1".into(), id: "a1".into(), name: "alice".into(), ..Default::default() }],
            groups: vec![GroupData { id: "g1".into(), name: "eng".into(), metadata: None }, GroupData { id: "g2".into(), name: "all".into(), metadata: None }],
        }
    }

    #[test]
    fn json_mode_values() {
        let t = r#"{"groups": {{identity.entity.groups.names}}, "name": {{identity.entity.name}}, "meta": {{identity.entity.metadata}}, "team": {{identity.entity.metadata.team}}, "u": {{identity.entity.aliases.auth_userpass_1.name}}, "g": "{{identity.groups.names.eng.id}}", "t": {{time.now.plus.1h}}}"#;
        let out = populate(t, &alice(), 1000).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!({"groups": ["eng", "all"], "name": "alice", "meta": {"team": "ops"}, "team": "ops", "u": "alice", "g": "g1", "t": 4600}));
    }

    #[test]
    fn an_empty_entity_renders_as_vault_validates_it() {
        let e = EntityData::default();
        let out = populate(r#"{"g": {{identity.entity.groups.names}}, "m": {{identity.entity.metadata}}, "n": {{identity.entity.name}}, "x": {{identity.entity.aliases.nope.metadata.k}}}"#, &e, 0).unwrap();
        assert_eq!(out, r#"{"g": null, "m": {}, "n": "", "x": ""}"#);
        assert_eq!(populate("{{identity.groups.names.a.id}}", &e, 0).unwrap_err(), "string contains groups template directives but no groups were provided");
        assert_eq!(populate("a}}b", &e, 0).unwrap_err(), "unbalanced templating characters");
        assert_eq!(populate("{{identity.entity.nope}}", &e, 0).unwrap_err(), NOT_FOUND);
        assert_eq!(populate("plain", &e, 0).unwrap(), "plain");
    }

    #[test]
    fn strings_are_json_escaped() {
        let e = EntityData { name: "a\"b\\c".into(), ..Default::default() };
        let out = populate(r#"{"n": {{identity.entity.name}}}"#, &e, 0).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["n"], "a\"b\\c");
    }
}
