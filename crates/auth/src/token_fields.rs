//! Vault's `tokenutil`: the `token_*` fields every auth method that issues
//! tokens stores per user or role (userpass users, approle roles, JWT roles),
//! their deprecated names, how a write applies them, how a read shows them,
//! and the [`Login`] they turn into.

use coffer_core::cidr::{self, BoundCidr};
use coffer_core::fields::{get_bool, get_duration, get_int, get_str, get_str_list};
use coffer_core::logical::{Login, LoginAlias};
use coffer_core::{Data, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The field specs of the token settings, after the method's own fields:
/// `token_fields!(F_NAME, F_PASSWORD)` is a `&[FieldSpec]` for a row.
#[macro_export]
macro_rules! token_fields {
    ($($own:expr),* $(,)?) => {
        &[
            $($own,)*
            ::coffer_core::field("token_policies", ::coffer_core::FieldKind::StringList, "Policies of the tokens issued at login."),
            ::coffer_core::field("policies", ::coffer_core::FieldKind::StringList, "Deprecated: use token_policies."),
            ::coffer_core::field("token_ttl", ::coffer_core::FieldKind::Duration, "Initial TTL of issued tokens; 0 uses the mount's default."),
            ::coffer_core::field("ttl", ::coffer_core::FieldKind::Duration, "Deprecated: use token_ttl."),
            ::coffer_core::field("token_max_ttl", ::coffer_core::FieldKind::Duration, "Maximum lifetime of issued tokens; 0 uses the mount's maximum."),
            ::coffer_core::field("max_ttl", ::coffer_core::FieldKind::Duration, "Deprecated: use token_max_ttl."),
            ::coffer_core::field("token_period", ::coffer_core::FieldKind::Duration, "Issue periodic tokens with this period."),
            ::coffer_core::field("token_explicit_max_ttl", ::coffer_core::FieldKind::Duration, "Hard cap on the lifetime of issued tokens, renewals included."),
            ::coffer_core::field("token_no_default_policy", ::coffer_core::FieldKind::Bool, "Do not add the `default` policy to issued tokens."),
            ::coffer_core::field("token_num_uses", ::coffer_core::FieldKind::Int, "Uses allowed per issued token; 0 is unlimited."),
            ::coffer_core::field(
                "token_bound_cidrs",
                ::coffer_core::FieldKind::StringList,
                "Addresses or CIDR blocks a login, and every use of the token it issues, must come from.",
            ),
            ::coffer_core::field("bound_cidrs", ::coffer_core::FieldKind::StringList, "Deprecated: use token_bound_cidrs."),
            ::coffer_core::field("token_type", ::coffer_core::FieldKind::String, "`default`, `service` or `batch`; the mount's tuned token_type has the last word.")
                .default_str("default-service"),
            ::coffer_core::field("token_strictly_bind_ip", ::coffer_core::FieldKind::Bool, "Not supported yet; only false is accepted."),
        ]
    };
}

/// Vault's `tokenutil.TokenParams` for the tokens a login issues. Durations in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenSettings {
    pub policies: Vec<String>,
    pub ttl: u64,
    pub max_ttl: u64,
    pub period: u64,
    pub explicit_max_ttl: u64,
    pub no_default_policy: bool,
    pub num_uses: i64,
    /// Stored in display form (`coffer_core::cidr`); checked at login and
    /// carried by the issued token, which the core binds to them.
    pub bound_cidrs: Vec<BoundCidr>,
    /// `default`, `service` or `batch`; empty means `default`.
    pub token_type: String,
}

/// Set while a deprecated name (`policies`, `ttl`, `max_ttl`, `period`, `bound_cidrs`)
/// is the one last written without its `token_` counterpart alone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Legacy {
    pub policies: bool,
    pub ttl: bool,
    pub max_ttl: bool,
    pub bound_cidrs: bool,
    /// approle's deprecated `period` (set by the method itself with [`upgrade`]).
    pub period: bool,
}

impl TokenSettings {
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl)
    }
    pub fn max_ttl(&self) -> Duration {
        Duration::from_secs(self.max_ttl)
    }
    pub fn period(&self) -> Duration {
        Duration::from_secs(self.period)
    }
    pub fn explicit_max_ttl(&self) -> Duration {
        Duration::from_secs(self.explicit_max_ttl)
    }

    /// The [`Login`] these settings issue: the method adds who logged in.
    /// `display_name` becomes `<mount>-<display_name>` on the token.
    pub fn login(&self, display_name: &str, metadata: BTreeMap<String, String>, alias: Option<LoginAlias>) -> Login {
        Login {
            policies: self.policies.clone(),
            no_default_policy: self.no_default_policy,
            metadata,
            display_name: display_name.to_string(),
            ttl: self.ttl(),
            max_ttl: self.max_ttl(),
            period: self.period(),
            explicit_max_ttl: self.explicit_max_ttl(),
            num_uses: self.num_uses,
            renewable: true,
            token_type: self.token_type.clone(),
            // The issued token is bound to the same addresses (every use is checked).
            bound_cidrs: self.bound_cidrs.clone(),
            alias,
            group_aliases: Vec::new(),
        }
    }
}

// --------------------------------------------------------------- field parsing

/// Vault's `tokenutil.UpgradeValue`: the deprecated name sets the value unless
/// the new name is also given (then the new one wins); the new name alone
/// retires the deprecated one.
pub fn upgrade<T>(old: Option<T>, new: Option<T>, value: &mut T, legacy: &mut bool) {
    match (old, new) {
        (Some(_), Some(n)) => {
            *value = n;
            *legacy = true;
        }
        (Some(o), None) => {
            *value = o;
            *legacy = true;
        }
        (None, Some(n)) => {
            *value = n;
            *legacy = false;
        }
        (None, None) => {}
    }
}

pub fn secs(data: &Data, key: &str) -> Result<Option<u64>> {
    Ok(get_duration(data, key)?.map(|d| d.as_secs()))
}

/// The deprecated `policies` went through Vault's policy sanitiser
/// (trimmed, lowercased, sorted, deduplicated).
fn legacy_policies(data: &Data) -> Result<Option<Vec<String>>> {
    Ok(get_str_list(data, "policies")?.map(|v| {
        let mut v: Vec<String> = v.into_iter().map(|p| p.to_lowercase()).collect();
        v.sort();
        v.dedup();
        v
    }))
}

/// `token_policies` (or the deprecated `policies`) alone: userpass's
/// `users/:name/policies` and approle's `role/:name/policies`.
pub fn apply_policies(data: &Data, t: &mut TokenSettings, l: &mut Legacy) -> Result<()> {
    upgrade(legacy_policies(data)?, get_str_list(data, "token_policies")?, &mut t.policies, &mut l.policies);
    Ok(())
}

/// Apply the `token_*` fields (and their deprecated names) present in `data`,
/// then check the result as Vault's `ParseTokenFields` does. On error the
/// caller must not store `t`: apply to a copy.
pub fn apply(data: &Data, t: &mut TokenSettings, l: &mut Legacy) -> Result<()> {
    apply_policies(data, t, l)?;
    upgrade(secs(data, "ttl")?, secs(data, "token_ttl")?, &mut t.ttl, &mut l.ttl);
    upgrade(secs(data, "max_ttl")?, secs(data, "token_max_ttl")?, &mut t.max_ttl, &mut l.max_ttl);
    let cidrs = |key: &str| -> Result<Option<Vec<BoundCidr>>> {
        cidr::get_list(data, key)?.map(|l| l.map_err(|e| Error::invalid(format!("{key}: {e}")))).transpose()
    };
    let old_cidrs = cidrs("bound_cidrs")?;
    let new_cidrs = cidrs("token_bound_cidrs")?;
    upgrade(old_cidrs, new_cidrs, &mut t.bound_cidrs, &mut l.bound_cidrs);
    if let Some(v) = secs(data, "token_period")? {
        t.period = v;
    }
    if let Some(v) = secs(data, "token_explicit_max_ttl")? {
        t.explicit_max_ttl = v;
    }
    if let Some(v) = get_bool(data, "token_no_default_policy")? {
        t.no_default_policy = v;
    }
    if let Some(v) = get_int(data, "token_num_uses")? {
        t.num_uses = v;
    }
    if let Some(v) = get_str(data, "token_type")? {
        t.token_type = match v.as_str() {
            "" | "default" => "default".into(),
            "service" => "service".into(),
            "batch" => "batch".into(),
            other => return Err(Error::invalid(format!("invalid 'token_type' value {other:?}"))),
        };
    }
    if get_bool(data, "token_strictly_bind_ip")? == Some(true) {
        return Err(Error::invalid("token_strictly_bind_ip: not supported yet; only false is accepted"));
    }
    // Vault's order: uses, then what a batch token cannot carry, then the TTLs.
    if t.num_uses < 0 {
        return Err(Error::invalid("'token_num_uses' cannot be negative"));
    }
    if t.token_type == "batch" {
        if t.period != 0 {
            return Err(Error::invalid("'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens"));
        }
        if t.num_uses != 0 {
            return Err(Error::invalid(
                "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count",
            ));
        }
    }
    if t.max_ttl > 0 && t.ttl > t.max_ttl {
        return Err(Error::invalid("'token_ttl' cannot be greater than 'token_max_ttl'"));
    }
    Ok(())
}

/// The token fields of a read (Vault's `PopulateTokenData`), plus the
/// deprecated names still in use. Keys in Go's (sorted) map order; a method
/// with fields of its own adds them to the map this returns.
pub fn read_data(t: &TokenSettings, l: &Legacy) -> Data {
    let mut d = BTreeMap::<&str, Value>::new();
    d.insert("token_bound_cidrs", Value::from(cidr::to_strings(&t.bound_cidrs)));
    d.insert("token_explicit_max_ttl", Value::from(t.explicit_max_ttl));
    d.insert("token_max_ttl", Value::from(t.max_ttl));
    d.insert("token_no_default_policy", Value::from(t.no_default_policy));
    d.insert("token_num_uses", Value::from(t.num_uses));
    d.insert("token_period", Value::from(t.period));
    d.insert("token_policies", Value::from(t.policies.clone()));
    d.insert("token_strictly_bind_ip", Value::from(false));
    d.insert("token_ttl", Value::from(t.ttl));
    d.insert("token_type", Value::from(if t.token_type.is_empty() { "default" } else { t.token_type.as_str() }));
    if l.policies && !t.policies.is_empty() {
        d.insert("policies", Value::from(t.policies.clone()));
    }
    if l.ttl && t.ttl > 0 {
        d.insert("ttl", Value::from(t.ttl));
    }
    if l.max_ttl && t.max_ttl > 0 {
        d.insert("max_ttl", Value::from(t.max_ttl));
    }
    if l.period && t.period > 0 {
        d.insert("period", Value::from(t.period));
    }
    if l.bound_cidrs && !t.bound_cidrs.is_empty() {
        d.insert("bound_cidrs", Value::from(cidr::to_strings(&t.bound_cidrs)));
    }
    d.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>()
}
