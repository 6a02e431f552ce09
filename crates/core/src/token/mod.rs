//! The token store and the `auth/token/` auth method (vault-api.md §4).
//!
//! Layout:
//! - `mod.rs` (this file): the public types the core uses and the path table
//!   of `auth/token/*`, so the whole API reads at a glance.
//! - `store.rs`: [`TokenStore`] — hashing, storage layout, the lookup cache,
//!   use counting, revocation of trees and the expiry sweeper.
//! - `ttl.rs`: Vault's TTL arithmetic (`CalculateTTL`) and time formatting.
//! - `create.rs`: `create`, `create-orphan`, `create/:role` and their policy rules.
//! - `ops.rs`: lookup / renew / revoke / accessors / tidy handlers.
//! - `roles.rs`: `roles/:name` CRUD.
//! - `batch.rs`: the batch token format (never stored: the token carries its
//!   entry, sealed by the barrier).
//!
//! Tokens are never stored in clear: every record is keyed by a salted
//! HMAC-SHA256 of the token (the salt key lives in the barrier view). Batch
//! tokens are never stored at all.

mod batch;
mod create;
mod ops;
mod roles;
mod store;
mod ttl;

#[cfg(test)]
pub(crate) mod testutil;

pub use batch::{BATCH_PREFIX, is_batch};
pub use store::TokenStore;
pub use ttl::{TtlInput, calculate_ttl, format_rfc3339_nano, human_duration};

use crate::backend::{Backend, FieldKind, PathTable, Paths, Route, SpecialPaths, field, path};
use crate::cidr::BoundCidr;
use crate::error::{Error, Result};
use crate::logical::{Operation, Request, Response};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// `num_uses` value of a token whose last use has been consumed: it still
/// serves the request that used it up, then it is revoked (Vault's
/// `tokenRevocationPending`).
pub const REVOCATION_PENDING: i64 = -1;

/// One stored token. Holds no secret: the token itself is never kept, only
/// its salted hash (which doubles as the cubbyhole id).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenEntry {
    /// Salted HMAC-SHA256 (hex) of the token: the storage key.
    pub hash: String,
    pub accessor: String,
    /// Hash of the parent token; `None` for orphans.
    #[serde(default)]
    pub parent: Option<String>,
    pub policies: Vec<String>,
    /// Creation path (`auth/token/create`, `auth/userpass/login/alice`).
    pub path: String,
    #[serde(default)]
    pub meta: Option<BTreeMap<String, String>>,
    pub display_name: String,
    /// Remaining uses; 0 = unlimited; [`REVOCATION_PENDING`] = used up.
    pub num_uses: i64,
    /// Unix seconds.
    pub creation_time: i64,
    /// Unix nanoseconds of the lease issue (`issue_time`).
    pub issue_time_ns: i64,
    /// TTL granted at creation, seconds (`creation_ttl`).
    pub creation_ttl: u64,
    /// TTL of the current lease (last create/renew), seconds; 0 = never expires.
    pub ttl: u64,
    /// Seconds; 0 = none.
    pub explicit_max_ttl: u64,
    /// Seconds; 0 = not periodic.
    pub period: u64,
    pub renewable: bool,
    /// `service`, or `batch` for an entry decoded from a batch token (those
    /// are never persisted).
    pub token_type: String,
    /// Role the token was created from, "" if none.
    #[serde(default)]
    pub role: String,
    /// Unix nanoseconds at which the token expires; `None` = never.
    #[serde(default)]
    pub expire_ns: Option<i64>,
    #[serde(default)]
    pub last_renewal_ns: Option<i64>,
    #[serde(default)]
    pub entity_id: String,
    /// Seconds; 0 = none. For login tokens: the issuing auth mount's max TTL, counted from
    /// issue and applied at renewal (Vault enforces it through the auth method). Unlike
    /// `explicit_max_ttl` it is not something the token asked for, so lookups don't show it.
    #[serde(default)]
    pub max_ttl: u64,
    /// Client addresses this token may be used from (a role's
    /// `token_bound_cidrs`, a login's, or the parent's); empty = anywhere.
    /// Enforced by the core on every request, except for a token that never
    /// expires (`ttl` 0, a root token), as in Vault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_cidrs: Vec<BoundCidr>,
}

impl TokenEntry {
    pub fn orphan(&self) -> bool {
        self.parent.is_none()
    }
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }
    /// May a request from `remote` use this token? Vault's rule: bound CIDRs
    /// bind every token except a non-expiring one, and a request without a
    /// known client address is refused.
    pub fn usable_from(&self, remote: Option<std::net::IpAddr>) -> bool {
        self.ttl == 0 || crate::cidr::allows(&self.bound_cidrs, remote)
    }
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash is not the token, but it is the cubbyhole id and a lookup
        // key: keep it out of logs too.
        f.debug_struct("TokenEntry")
            .field("hash", &"[redacted]")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .field("path", &self.path)
            .field("display_name", &self.display_name)
            .field("num_uses", &self.num_uses)
            .field("ttl", &self.ttl)
            .field("orphan", &self.orphan())
            .field("bound_cidrs", &self.bound_cidrs)
            .finish_non_exhaustive()
    }
}

/// Callbacks from the token store into the core.
#[async_trait]
pub trait TokenHooks: Send + Sync + 'static {
    /// Called for every token revoked (each member of a revoked tree, expired
    /// tokens too) before its record is deleted, so the core can destroy its
    /// cubbyhole (and, later, its leases). An error aborts that revocation
    /// (the token stays unusable and is retried by the sweeper or `tidy`).
    async fn on_revoke(&self, token_hash: &str) -> Result<()>;
    /// Does an ACL policy with this name exist?
    async fn policy_exists(&self, name: &str) -> bool;
    /// The identity policies of an entity (its own, then its groups'), for
    /// token lookups; none without an identity store.
    fn identity_policies(&self, _entity_id: &str) -> Vec<String> {
        Vec::new()
    }
}

/// What [`TokenStore::use_token`] tells the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UseOutcome {
    /// Unlimited-use token, or uses remain.
    Continue,
    /// This request consumed the last use: serve it, then call
    /// [`TokenStore::revoke_entry`].
    RevokeAfter,
}

/// Parameters for [`TokenStore::create_internal`] (response wrapping, logins).
/// Policies are used as given (sanitised; `default` is not added).
#[derive(Clone, Debug)]
pub struct InternalCreate {
    pub policies: Vec<String>,
    pub path: String,
    /// Zero: never expires.
    pub ttl: Duration,
    pub explicit_max_ttl: Duration,
    /// See [`TokenEntry::max_ttl`]; zero = none.
    pub max_ttl: Duration,
    pub period: Duration,
    pub num_uses: i64,
    pub display_name: String,
    pub meta: Option<BTreeMap<String, String>>,
    pub renewable: bool,
    /// Hash of the parent token; `None` = orphan (logins are orphans).
    pub parent: Option<String>,
    pub entity_id: String,
    /// Mint a batch token (never stored) instead of a service token. Uses,
    /// period and explicit max must be zero; `renewable` is ignored.
    pub batch: bool,
    /// See [`TokenEntry::bound_cidrs`].
    pub bound_cidrs: Vec<BoundCidr>,
}

impl Default for InternalCreate {
    fn default() -> Self {
        InternalCreate {
            policies: Vec::new(),
            path: String::new(),
            ttl: Duration::ZERO,
            explicit_max_ttl: Duration::ZERO,
            max_ttl: Duration::ZERO,
            period: Duration::ZERO,
            num_uses: 0,
            display_name: String::new(),
            meta: None,
            renewable: true,
            parent: None,
            entity_id: String::new(),
            batch: false,
            bound_cidrs: Vec::new(),
        }
    }
}

impl InternalCreate {
    /// A response-wrapping token: policy `response-wrapping`, single use,
    /// orphan, not renewable, expiring after `ttl`.
    pub fn wrapping(ttl: Duration, creation_path: &str) -> InternalCreate {
        InternalCreate {
            policies: vec!["response-wrapping".into()],
            path: creation_path.to_string(),
            ttl,
            num_uses: 1,
            renewable: false,
            ..Default::default()
        }
    }
}

/// Vault's multierror rendering of a single error, which some token
/// endpoints return verbatim (`1 error occurred:\n\t* invalid accessor\n\n`).
pub(crate) fn one_error(msg: &str) -> Error {
    Error::invalid(format!("1 error occurred:\n\t* {msg}\n\n"))
}

// ----------------------------------------------------------------------------- path table

const CREATE_FIELDS: &[crate::backend::FieldSpec] = &[
    field("id", FieldKind::String, "Value for the token (root/sudo only)"),
    field("policies", FieldKind::StringList, "Policies of the token; default: the parent's"),
    field("meta", FieldKind::Map, "Arbitrary key=value metadata, shown in audit logs"),
    field("no_parent", FieldKind::Bool, "Create an orphan token (root/sudo only)"),
    field("no_default_policy", FieldKind::Bool, "Do not add the default policy"),
    field("renewable", FieldKind::Bool, "Whether the token can be renewed (default true)").default_bool(true),
    field("ttl", FieldKind::Duration, "Initial TTL; default: the mount's default lease TTL"),
    field("lease", FieldKind::Duration, "Deprecated alias of ttl"),
    field("type", FieldKind::String, "Token type: service or batch"),
    field("explicit_max_ttl", FieldKind::Duration, "Hard cap on the token's lifetime, renewals included"),
    field("display_name", FieldKind::String, "Name shown as token-<name>"),
    field("num_uses", FieldKind::Int, "Number of uses; 0 = unlimited"),
    field("period", FieldKind::Duration, "Renew period of a periodic token (root/sudo or role)"),
    field("entity_alias", FieldKind::String, "Entity alias (not supported)"),
];
const TOKEN_FIELD: &[crate::backend::FieldSpec] = &[field("token", FieldKind::String, "Token to act on")];
const ACCESSOR_FIELD: &[crate::backend::FieldSpec] =
    &[field("accessor", FieldKind::String, "Accessor of the token to act on")];
const RENEW_FIELDS: &[crate::backend::FieldSpec] = &[
    field("token", FieldKind::String, "Token to renew"),
    field("increment", FieldKind::Duration, "Requested lease extension").default_int(0),
];
const RENEW_SELF_FIELDS: &[crate::backend::FieldSpec] =
    &[field("increment", FieldKind::Duration, "Requested lease extension").default_int(0)];
const RENEW_ACCESSOR_FIELDS: &[crate::backend::FieldSpec] = &[
    field("accessor", FieldKind::String, "Accessor of the token to renew"),
    field("increment", FieldKind::Duration, "Requested lease extension").default_int(0),
];
const ROLE_FIELDS: &[crate::backend::FieldSpec] = &[
    field("role_name", FieldKind::String, "Name of the role"),
    field("allowed_policies", FieldKind::StringList, "Policies tokens of this role may have"),
    field("disallowed_policies", FieldKind::StringList, "Policies tokens of this role may not have"),
    field("allowed_policies_glob", FieldKind::StringList, "Glob patterns of allowed policies"),
    field("disallowed_policies_glob", FieldKind::StringList, "Glob patterns of disallowed policies"),
    field("orphan", FieldKind::Bool, "Tokens of this role are orphans"),
    field("renewable", FieldKind::Bool, "Tokens of this role are renewable (default true)").default_bool(true),
    field("path_suffix", FieldKind::String, "Suffix of the creation path"),
    field("allowed_entity_aliases", FieldKind::StringList, "Entity aliases (stored, not enforced)"),
    field("token_explicit_max_ttl", FieldKind::Duration, "Explicit max TTL of the tokens"),
    field("token_period", FieldKind::Duration, "Period of the tokens"),
    field("token_no_default_policy", FieldKind::Bool, "Do not add the default policy"),
    field("token_num_uses", FieldKind::Int, "Number of uses of the tokens"),
    field("token_type", FieldKind::String, "service, default-service, batch or default-batch").default_str("default-service"),
    field("token_bound_cidrs", FieldKind::StringList, "Client addresses (CIDR blocks or single IPs) the tokens may be used from"),
    field("bound_cidrs", FieldKind::StringList, "Deprecated: use token_bound_cidrs"),
    field("period", FieldKind::Duration, "Deprecated: use token_period"),
    field("explicit_max_ttl", FieldKind::Duration, "Deprecated: use token_explicit_max_ttl"),
];

/// Role names: Vault's `GenericNameRegex`, as a macro so the patterns that
/// contain it are `concat!`ed at compile time.
macro_rules! role_name_re {
    () => {
        r"(?P<role_name>\w(?:[\w\-.]*\w)?)"
    };
}

/// The handlers of `auth/token/`, one per operation of each row below.
#[derive(Clone, Copy, Debug)]
enum H {
    Create,
    CreateOrphan,
    CreateRole,
    Lookup,
    LookupSelf,
    LookupAccessor,
    Renew,
    RenewSelf,
    RenewAccessor,
    Revoke,
    RevokeSelf,
    RevokeAccessor,
    RevokeOrphan,
    Accessors,
    RolesList,
    RoleRead,
    RoleWrite,
    RoleDelete,
    Tidy,
}

fn path_table() -> Paths<H> {
    use Operation::{Create, Delete, List, Read, Update};
    Paths::new(vec![
        path("create-orphan", "create-orphan", &[(Update, H::CreateOrphan)], CREATE_FIELDS, "Create an orphan token."),
        path("create-role", concat!("create/", role_name_re!()), &[(Update, H::CreateRole)], CREATE_FIELDS, "Create a token from a role."),
        path("create", "create", &[(Update, H::Create)], CREATE_FIELDS, "Create a child token."),
        path("lookup", "lookup", &[(Read, H::Lookup), (Update, H::Lookup)], TOKEN_FIELD, "Look up a token."),
        path("lookup-self", "lookup-self", &[(Read, H::LookupSelf), (Update, H::LookupSelf)], &[], "Look up the calling token."),
        path("lookup-accessor", "lookup-accessor", &[(Update, H::LookupAccessor)], ACCESSOR_FIELD, "Look up a token by accessor."),
        path("renew", "renew", &[(Update, H::Renew)], RENEW_FIELDS, "Renew a token."),
        path("renew-self", "renew-self", &[(Update, H::RenewSelf)], RENEW_SELF_FIELDS, "Renew the calling token."),
        path("renew-accessor", "renew-accessor", &[(Update, H::RenewAccessor)], RENEW_ACCESSOR_FIELDS, "Renew a token by accessor."),
        path("revoke", "revoke", &[(Update, H::Revoke)], TOKEN_FIELD, "Revoke a token and all its children."),
        path("revoke-self", "revoke-self", &[(Update, H::RevokeSelf)], &[], "Revoke the calling token and all its children."),
        path("revoke-accessor", "revoke-accessor", &[(Update, H::RevokeAccessor)], ACCESSOR_FIELD, "Revoke a token by accessor."),
        path("revoke-orphan", "revoke-orphan", &[(Update, H::RevokeOrphan)], TOKEN_FIELD, "Revoke a token; its children become orphans (sudo)."),
        path("accessors", "accessors/?", &[(List, H::Accessors)], &[], "List token accessors (sudo)."),
        path("roles-list", "roles/?", &[(List, H::RolesList)], &[], "List token roles."),
        path(
            "role",
            concat!("roles/", role_name_re!()),
            &[(Create, H::RoleWrite), (Read, H::RoleRead), (Update, H::RoleWrite), (Delete, H::RoleDelete)],
            ROLE_FIELDS,
            "Create, read, update or delete a token role.",
        )
        .existence_check(),
        path("tidy", "tidy", &[(Update, H::Tidy)], &[], "Clean up dangling token index entries."),
    ])
}

/// Serves the `auth/token/` mount.
pub(crate) struct TokenBackend {
    store: Arc<TokenStore>,
    table: Arc<Paths<H>>,
}

impl TokenBackend {
    pub(crate) fn new(store: Arc<TokenStore>) -> TokenBackend {
        // One compiled table per process (a backend is rebuilt at every unseal).
        static TABLE: std::sync::LazyLock<Arc<Paths<H>>> = std::sync::LazyLock::new(|| Arc::new(path_table()));
        TokenBackend { store, table: TABLE.clone() }
    }
}

#[async_trait]
impl Backend for TokenBackend {
    fn table(&self) -> &PathTable {
        &self.table
    }

    fn special_paths(&self) -> SpecialPaths {
        // As Vault: listing accessors needs sudo (the core enforces it, 403).
        // `revoke-orphan` is checked in its handler instead, because Vault
        // answers a caller without sudo with 400 "root or sudo privileges
        // required to revoke and orphan", not 403; the legacy
        // `revoke-orphan/<token>` form is root-protected like Vault's.
        SpecialPaths { unauthenticated: vec![], root: vec!["revoke-orphan/*", "accessors*"] }
    }

    fn help(&self) -> &'static str {
        "The token credential backend is always enabled and builds in some core \
         functionality: creating, looking up, renewing and revoking tokens."
    }

    async fn serve(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        let s = &self.store;
        match self.table.handler(route, req.operation)? {
            H::Create => create::handle_create(s, req, create::Kind::Create).await.map(Some),
            H::CreateOrphan => create::handle_create(s, req, create::Kind::Orphan).await.map(Some),
            H::CreateRole => create::handle_create(s, req, create::Kind::Role(route.param("role_name"))).await.map(Some),
            H::Lookup => ops::lookup(s, req).await.map(Some),
            H::LookupSelf => ops::lookup_self(s, req).await.map(Some),
            H::LookupAccessor => ops::lookup_accessor(s, req).await.map(Some),
            H::Renew => ops::renew(s, req).await.map(Some),
            H::RenewSelf => ops::renew_self(s, req).await.map(Some),
            H::RenewAccessor => ops::renew_accessor(s, req).await.map(Some),
            H::Revoke => ops::revoke(s, req).await,
            H::RevokeSelf => ops::revoke_self(s, req).await,
            H::RevokeAccessor => ops::revoke_accessor(s, req).await,
            H::RevokeOrphan => ops::revoke_orphan(s, req).await,
            H::Accessors => ops::list_accessors(s).await.map(Some),
            H::Tidy => Ok(Some(ops::tidy(s))),
            H::RolesList => roles::list(s).await.map(Some),
            H::RoleRead => roles::read(s, route.param("role_name")).await.map(Some),
            H::RoleDelete => roles::delete(s, route.param("role_name")).await.map(|_| None),
            H::RoleWrite => roles::write(s, route.param("role_name"), req).await,
        }
    }

    /// Only the `roles/:name` row has an existence check.
    async fn exists(&self, route: &Route<'_>, _req: &Request) -> Result<bool> {
        Ok(self.store.role(route.param("role_name")).await?.is_some())
    }
}
