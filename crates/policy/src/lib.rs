//! Vault ACL policies: parse policy documents (HCL1 or JSON) into [`Policy`],
//! compile a token's policies into an [`Acl`], and answer "may this request
//! go through?" ([`Acl::check`]) and "what may this token do here?"
//! ([`Acl::capabilities`], what `sys/capabilities` returns).
//!
//! Semantics follow Vault/OpenBao (see `/work/shared/vault-api.md` §2.4) and
//! are pinned against `bao server -dev` by `tests/acl_corpus.rs`.
//!
//! Known gaps (documented, deliberate):
//! - Templated paths (`{{identity.entity.id}}` …) are rendered for a token's
//!   entity ([`Acl::for_identity`], [`TemplateVars`]); one that cannot be
//!   resolved matches nothing, as in Vault. A rendered value holding `/`,
//!   `*` or `+` (OpenBao 2.7's default refusal), or one that is empty, `.`
//!   or `..` (Coffer's addition), also drops the rule: a value never widens
//!   the match. `time.*` parameters never render in a path (Vault renders
//!   them; an ACL that changes every second cannot be cached).
//! - `mfa_methods`, `control_group` (Vault Enterprise), `comment`,
//!   `pagination_limit` and `list_scan_response_keys_filter_path` (OpenBao)
//!   are accepted and ignored. `expiration` (OpenBao) is rejected, because
//!   ignoring it would grant access beyond the intended expiry.
//! - `subscribe` is accepted (Vault); OpenBao 2.7 rejects it.

mod acl;
mod parse;
mod template;

pub use acl::{Acl, AclDecision, AclRequest, AclResult};
pub use parse::{parse, PathRule, Policy, PolicyError};
pub use template::{render, AliasVars, GroupVars, TemplateVars, Unrendered};

/// A set of capabilities (bit set).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Caps(u16);

impl Caps {
    pub const NONE: Caps = Caps(0);
    pub const DENY: Caps = Caps(1 << 0);
    pub const CREATE: Caps = Caps(1 << 1);
    pub const READ: Caps = Caps(1 << 2);
    pub const UPDATE: Caps = Caps(1 << 3);
    pub const PATCH: Caps = Caps(1 << 4);
    pub const DELETE: Caps = Caps(1 << 5);
    pub const LIST: Caps = Caps(1 << 6);
    pub const SUDO: Caps = Caps(1 << 7);
    pub const SUBSCRIBE: Caps = Caps(1 << 8);
    /// Every capability except DENY (what a root token has).
    pub const ALL: Caps = Caps(0x1FE);

    /// Names in the order `sys/capabilities` returns them (Vault sorts them
    /// alphabetically). DENY is listed alone if present: deny drops all others.
    const TABLE: [(&'static str, Caps); 9] = [
        ("create", Caps::CREATE),
        ("delete", Caps::DELETE),
        ("deny", Caps::DENY),
        ("list", Caps::LIST),
        ("patch", Caps::PATCH),
        ("read", Caps::READ),
        ("subscribe", Caps::SUBSCRIBE),
        ("sudo", Caps::SUDO),
        ("update", Caps::UPDATE),
    ];

    pub const fn bits(self) -> u16 {
        self.0
    }
    pub const fn from_bits(bits: u16) -> Caps {
        Caps(bits & 0x1FF)
    }
    pub const fn contains(self, other: Caps) -> bool {
        self.0 & other.0 == other.0
    }
    /// True if any bit of `other` is set in `self`.
    pub const fn intersects(self, other: Caps) -> bool {
        self.0 & other.0 != 0
    }
    pub const fn union(self, other: Caps) -> Caps {
        Caps(self.0 | other.0)
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Capability names, sorted as Vault's `sys/capabilities` returns them.
    /// A set holding DENY gives `["deny"]`; the empty set gives `[]`.
    pub fn names(&self) -> Vec<&'static str> {
        if self.contains(Caps::DENY) {
            return vec!["deny"];
        }
        Caps::TABLE.iter().filter(|(_, c)| self.contains(*c)).map(|(n, _)| *n).collect()
    }

    /// Parse one capability name as written in a policy.
    pub fn from_name(name: &str) -> Option<Caps> {
        Caps::TABLE.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }
}

impl std::ops::BitOr for Caps {
    type Output = Caps;
    fn bitor(self, rhs: Caps) -> Caps {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for Caps {
    fn bitor_assign(&mut self, rhs: Caps) {
        self.0 |= rhs.0;
    }
}

impl std::fmt::Debug for Caps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Caps{:?}", self.names())
    }
}

/// The built-in `default` policy, attached to every token unless it was
/// created with `no_default_policy`. Same rules as Vault/OpenBao's default
/// policy (checked against `bao` in the corpus test).
pub const DEFAULT_POLICY: &str = r#"# Built-in default policy: what every token may do to itself.

# A token may look itself up, renew and revoke itself.
path "auth/token/lookup-self" {
    capabilities = ["read"]
}
path "auth/token/renew-self" {
    capabilities = ["update"]
}
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# A token may ask what it can do on a path.
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# A token may read its own identity entity.
path "identity/entity/id/{{identity.entity.id}}" {
    capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
    capabilities = ["read"]
}

# The UI reads the token's resultant ACL.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Leases: renew and look up.
path "sys/leases/renew" {
    capabilities = ["update"]
}
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# The token's own cubbyhole.
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Response wrapping.
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Hashing helpers.
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# OIDC provider authorization endpoint.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
"#;

/// The internal `response-wrapping` policy given to wrapping tokens.
pub const RESPONSE_WRAPPING_POLICY: &str = r#"path "cubbyhole/response" {
    capabilities = ["create", "read"]
}

path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

path "auth/token/revoke-self" {
    capabilities = ["update"]
}
"#;

#[cfg(test)]
mod tests;
