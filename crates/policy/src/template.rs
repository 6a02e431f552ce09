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

/// Why a rendered value is refused (the rule is dropped, as for a template
/// that cannot be resolved). Public for tests and docs only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unrendered {
    /// The parameter names nothing this identity has (no entity, unknown
    /// parameter, missing metadata key, no such alias or group, `time.*`).
    NotFound,
    /// The value is empty, `.` or `..`, or holds `/`, `*` or `+`: rendered,
    /// it would match more paths than the value itself names.
    Widening,
}

/// One piece of a templated pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece<'a> {
    Lit(&'a str),
    /// The parameter between `{{` and `}}`, surrounding spaces trimmed.
    Param(&'a str),
}

/// Split a pattern into literal text and `{{ parameter }}`s, by Vault's rule
/// (identitytpl): the text before the first `{{` must hold no `}}`, and each
/// `{{` must be followed by exactly one `}}` before the next `{{`. Anything
/// else is "unbalanced templating characters". `f` sees every piece in order.
fn split<'a>(pattern: &'a str, mut f: impl FnMut(Piece<'a>) -> bool) -> Result<bool, ()> {
    let mut parts = pattern.split("{{");
    let first = parts.next().unwrap_or("");
    if first.contains("}}") {
        return Err(());
    }
    let mut go = f(Piece::Lit(first));
    for part in parts {
        let mut inner = part.split("}}");
        let (Some(param), Some(rest), None) = (inner.next(), inner.next(), inner.next()) else {
            return Err(());
        };
        if go {
            go = f(Piece::Param(param.trim())) && f(Piece::Lit(rest));
        }
    }
    Ok(go)
}

/// Policy-write check of a path pattern: `Ok(true)` if it is templated,
/// `Ok(false)` if plain, `Err` for unbalanced `{{`/`}}`. As in Vault and
/// OpenBao, parameters are not checked here: one that names nothing simply
/// never renders (the rule matches nothing).
pub(crate) fn validate(pattern: &str) -> Result<bool, ()> {
    let mut templated = false;
    split(pattern, |p| {
        templated |= matches!(p, Piece::Param(_));
        true
    })?;
    Ok(templated)
}

/// Render a templated path pattern for `vars`. `Err` when any parameter does
/// not resolve or resolves to a value that could widen the match; the
/// caller drops the rule. Values are inserted as literal text and never
/// rendered again (a `{{` in a value is just two braces).
pub fn render(pattern: &str, vars: &TemplateVars) -> Result<String, Unrendered> {
    render_with(pattern, vars, false)
}

/// [`render`] for a `deny` rule: a value that would widen the match is
/// inserted as it is, because a wider deny grants nothing (dropping the rule
/// instead could let a broader grant reach the paths it was meant to deny).
/// A value that does not resolve still drops the rule, as in Vault.
pub(crate) fn render_deny(pattern: &str, vars: &TemplateVars) -> Result<String, Unrendered> {
    render_with(pattern, vars, true)
}

fn render_with(pattern: &str, vars: &TemplateVars, widen_ok: bool) -> Result<String, Unrendered> {
    let mut out = String::with_capacity(pattern.len() + 32);
    let mut why = Unrendered::NotFound;
    let ok = split(pattern, |p| match p {
        Piece::Lit(s) => {
            out.push_str(s);
            true
        }
        Piece::Param(name) => match resolve(name, vars) {
            Some(v) if widen_ok || safe_value(v) => {
                out.push_str(v);
                true
            }
            Some(_) => {
                why = Unrendered::Widening;
                false
            }
            None => false,
        },
    });
    match ok {
        Ok(true) => Ok(out),
        _ => Err(why),
    }
}

/// A value may stand for itself only: no glob (`*`, `+`), no segment
/// separator (`/`: OpenBao's default, a value must not reach into another
/// identity's subtree), not empty (`secret/{{x}}*` with an empty `x` would be
/// `secret/*`), not `.`/`..`.
fn safe_value(v: &str) -> bool {
    !(v.is_empty() || v == "." || v == ".." || v.contains(['/', '*', '+']))
}

/// `<prefix><key>` → `key` (the key may itself contain dots).
fn key_of<'a>(rest: &'a str, prefix: &str) -> Option<&'a str> {
    rest.strip_prefix(prefix)
}

/// A value of one template parameter, or `None` when it names nothing.
/// Vault's ACL mode: an empty id or name is "not found"; a metadata key is
/// found when present; `identity.entity.metadata` without a key, the list
/// parameters (`identity.entity.groups.ids`/`.names`) and `time.*` never
/// render in a path.
fn resolve<'v>(name: &str, vars: &'v TemplateVars) -> Option<&'v str> {
    let nonempty = |s: &'v str| (!s.is_empty()).then_some(s);
    if let Some(rest) = name.strip_prefix("identity.entity.") {
        return match rest {
            "id" => nonempty(&vars.entity_id),
            "name" => nonempty(&vars.entity_name),
            _ => {
                if let Some(k) = key_of(rest, "metadata.") {
                    vars.entity_metadata.get(k).map(String::as_str)
                } else if let Some(a) = rest.strip_prefix("aliases.") {
                    let (accessor, field) = a.split_once('.')?;
                    let alias = vars.aliases.get(accessor)?;
                    match field {
                        "id" => nonempty(&alias.id),
                        "name" => nonempty(&alias.name),
                        _ => {
                            if let Some(k) = key_of(field, "metadata.") {
                                alias.metadata.get(k).map(String::as_str)
                            } else {
                                alias.custom_metadata.get(key_of(field, "custom_metadata.")?).map(String::as_str)
                            }
                        }
                    }
                } else {
                    None
                }
            }
        };
    }
    let rest = name.strip_prefix("identity.groups.")?;
    let (selector, rest) = rest.split_once('.')?;
    let (key, field) = rest.split_once('.')?;
    let group = match selector {
        "ids" => vars.groups.get(key)?,
        "names" => vars.groups.values().find(|g| g.name == key)?,
        _ => return None,
    };
    match field {
        "id" => nonempty(&group.id),
        "name" => nonempty(&group.name),
        _ => group.metadata.get(key_of(field, "metadata.")?).map(String::as_str),
    }
}
