//! The approle auth method (vault-api.md §6.2): roles with token settings and
//! secret-id constraints, secret ids generated for a role, and an
//! unauthenticated `login` with a role id and a secret id.
//!
//! This file is the whole API at a glance: the path table and the dispatch
//! from a matched row to its handler. `roles.rs` holds the role records, their
//! per-field sub-paths and the role-id index; `secret_ids.rs` the secret ids
//! (generate, custom, lookup, destroy, accessors, LIST, tidy); `login.rs` the
//! login; `salt.rs` the per-mount HMAC key every stored id is keyed by.
//! The `token_*` fields are `token_fields`' (Vault's tokenutil).

mod login;
mod roles;
mod salt;
mod secret_ids;

#[cfg(test)]
mod testutil;

use async_trait::async_trait;
use coffer_core::{
    Backend, BackendFactory, Canon, EngineFactory, FieldKind, FieldSpec, MountContext, Operation, PathTable, Paths, Request,
    Response, Result, Route, SpecialPaths, StorageView, field, path,
};
use std::sync::{Arc, LazyLock};

use Operation::{Create, Delete, List, Read, Update};

/// Builds an approle backend for an auth mount. Registered under type `approle`.
pub fn approle_factory() -> EngineFactory {
    Arc::new(AppRoleFactory)
}

/// approle has no mount-time options of its own.
struct AppRoleFactory;

impl BackendFactory for AppRoleFactory {
    fn build(&self, ctx: MountContext) -> Result<Arc<dyn Backend>> {
        Ok(Arc::new(AppRole::new(ctx.storage)))
    }
}

/// Vault's `framework.GenericNameRegex("role_name")`.
macro_rules! role_re {
    () => {
        "role/(?P<role_name>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
    };
}

/// Role names are case-insensitive (Vault lower-cases them): the core
/// rewrites the path before the ACL check, so `role/CI` is `role/ci`.
const ROLE_NAME: &[(&str, Canon)] = &[("role_name", Canon::Lower)];

const F_ROLE_NAME: FieldSpec = field("role_name", FieldKind::String, "Name of the role.");
const F_BIND: FieldSpec =
    field("bind_secret_id", FieldKind::Bool, "Require a secret id at login.").default_bool(true);
const F_SECRET_CIDRS: FieldSpec = field(
    "secret_id_bound_cidrs",
    FieldKind::StringList,
    "CIDR blocks a login with a secret id of this role must come from.",
);
const F_BOUND_CIDR_LIST: FieldSpec =
    field("bound_cidr_list", FieldKind::StringList, "Deprecated: use secret_id_bound_cidrs.").deprecated();
const F_SECRET_NUM_USES: FieldSpec =
    field("secret_id_num_uses", FieldKind::Int, "Logins a secret id allows; 0 is unlimited.");
const F_SECRET_TTL: FieldSpec = field("secret_id_ttl", FieldKind::Duration, "Lifetime of secret ids; 0 never expires.");
const F_PERIOD: FieldSpec = field("period", FieldKind::Duration, "Deprecated: use token_period.").deprecated();
const F_TOKEN_PERIOD: FieldSpec = field("token_period", FieldKind::Duration, "Issue periodic tokens with this period.");
const F_ROLE_ID: FieldSpec = field("role_id", FieldKind::String, "Identifier of the role; generated when not given.");
const F_LOCAL: FieldSpec =
    field("local_secret_ids", FieldKind::Bool, "Secret ids are local to the cluster (set only at creation).");
const F_TOKEN_POLICIES: FieldSpec =
    field("token_policies", FieldKind::StringList, "Policies of the tokens issued at login.");
const F_POLICIES: FieldSpec = field("policies", FieldKind::StringList, "Deprecated: use token_policies.");
const F_TOKEN_TTL: FieldSpec = field("token_ttl", FieldKind::Duration, "Initial TTL of issued tokens.");
const F_TOKEN_MAX_TTL: FieldSpec = field("token_max_ttl", FieldKind::Duration, "Maximum lifetime of issued tokens.");
const F_TOKEN_NUM_USES: FieldSpec = field("token_num_uses", FieldKind::Int, "Uses allowed per issued token.");
const F_TOKEN_CIDRS: FieldSpec =
    field("token_bound_cidrs", FieldKind::StringList, "Addresses or CIDR blocks every use of an issued token must come from.");
const F_SECRET_ID: FieldSpec = field("secret_id", FieldKind::String, "The secret id.");
const F_ACCESSOR: FieldSpec = field("secret_id_accessor", FieldKind::String, "Accessor of the secret id.");
const F_METADATA: FieldSpec = field(
    "metadata",
    FieldKind::String,
    "JSON object (or comma-separated key=value pairs) of metadata kept with the secret id and put on its tokens.",
);
const F_CIDR_LIST: FieldSpec =
    field("cidr_list", FieldKind::StringList, "CIDR blocks a login with this secret id must come from.");
const F_SID_TOKEN_CIDRS: FieldSpec =
    field("token_bound_cidrs", FieldKind::StringList, "Addresses or CIDR blocks the tokens issued with this secret id are bound to.");
const F_SID_TTL: FieldSpec = field("ttl", FieldKind::Duration, "Lifetime of this secret id; at most the role's secret_id_ttl.");
const F_SID_NUM_USES: FieldSpec =
    field("num_uses", FieldKind::Int, "Logins this secret id allows; at most the role's secret_id_num_uses.");

const F_ROLE: &[FieldSpec] = crate::token_fields!(
    F_ROLE_NAME,
    F_BIND,
    F_BOUND_CIDR_LIST,
    F_SECRET_CIDRS,
    F_SECRET_NUM_USES,
    F_SECRET_TTL,
    F_PERIOD,
    F_ROLE_ID,
    F_LOCAL,
);
const F_GENERATE: &[FieldSpec] = &[F_ROLE_NAME, F_METADATA, F_CIDR_LIST, F_SID_TOKEN_CIDRS, F_SID_TTL, F_SID_NUM_USES];
const F_CUSTOM: &[FieldSpec] =
    &[F_ROLE_NAME, F_SECRET_ID, F_METADATA, F_CIDR_LIST, F_SID_TOKEN_CIDRS, F_SID_TTL, F_SID_NUM_USES];
const F_BY_SECRET_ID: &[FieldSpec] = &[F_ROLE_NAME, F_SECRET_ID];
const F_BY_ACCESSOR: &[FieldSpec] = &[F_ROLE_NAME, F_ACCESSOR];
const F_LOGIN: &[FieldSpec] =
    &[field("role_id", FieldKind::String, "Identifier of the role."), field("secret_id", FieldKind::String, "A secret id of the role.")];

/// The role settings that have a sub-path of their own (`role/:name/<field>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setting {
    Policies,
    SecretIdNumUses,
    SecretIdTtl,
    TokenTtl,
    TokenMaxTtl,
    TokenNumUses,
    BindSecretId,
    SecretIdBoundCidrs,
    BoundCidrList,
    TokenBoundCidrs,
    Period,
    LocalSecretIds,
}

/// The handlers of an approle mount.
#[derive(Clone, Copy, Debug)]
enum H {
    RoleList,
    RoleRead,
    RoleWrite,
    RoleDelete,
    SettingRead(Setting),
    SettingWrite(Setting),
    SettingDelete(Setting),
    RoleIdRead,
    RoleIdWrite,
    SecretIdList,
    SecretIdGenerate,
    CustomSecretId,
    SecretIdLookup,
    SecretIdDestroy,
    AccessorLookup,
    AccessorDestroy,
    Login,
    Tidy,
}

use Setting as S;

/// One `role/:name/<suffix>` row serving read, update and delete of one setting.
fn setting_row(
    name: &'static str,
    pattern: &'static str,
    ops: &'static [(Operation, H)],
    fields: &'static [FieldSpec],
    synopsis: &'static str,
) -> coffer_core::Path<H> {
    path(name, pattern, ops, fields, synopsis).canonical(ROLE_NAME)
}

static TABLE: LazyLock<Paths<H>> = LazyLock::new(|| {
    Paths::new(vec![
        path("login", "login", &[(Update, H::Login)], F_LOGIN, "Log in with a role id and a secret id (unauthenticated)."),
        path("role-list", "role/?", &[(List, H::RoleList)], &[], "List the roles."),
        path(
            "role",
            role_re!(),
            &[(Read, H::RoleRead), (Create, H::RoleWrite), (Update, H::RoleWrite), (Delete, H::RoleDelete)],
            F_ROLE,
            "Create, update, read or delete a role. Deleting a role destroys its secret ids.",
        )
        .existence_check()
        .canonical(ROLE_NAME),
        setting_row(
            "role-policies",
            concat!(role_re!(), "/policies"),
            &[(Read, H::SettingRead(S::Policies)), (Update, H::SettingWrite(S::Policies)), (Delete, H::SettingDelete(S::Policies))],
            &[F_ROLE_NAME, F_TOKEN_POLICIES, F_POLICIES],
            "The policies of the role's tokens.",
        ),
        setting_row(
            "role-secret-id-num-uses",
            concat!(role_re!(), "/secret-id-num-uses"),
            &[
                (Read, H::SettingRead(S::SecretIdNumUses)),
                (Update, H::SettingWrite(S::SecretIdNumUses)),
                (Delete, H::SettingDelete(S::SecretIdNumUses)),
            ],
            &[F_ROLE_NAME, F_SECRET_NUM_USES],
            "Logins each secret id of the role allows.",
        ),
        setting_row(
            "role-secret-id-ttl",
            concat!(role_re!(), "/secret-id-ttl"),
            &[(Read, H::SettingRead(S::SecretIdTtl)), (Update, H::SettingWrite(S::SecretIdTtl)), (Delete, H::SettingDelete(S::SecretIdTtl))],
            &[F_ROLE_NAME, F_SECRET_TTL],
            "Lifetime of the role's secret ids.",
        ),
        setting_row(
            "role-token-ttl",
            concat!(role_re!(), "/token-ttl"),
            &[(Read, H::SettingRead(S::TokenTtl)), (Update, H::SettingWrite(S::TokenTtl)), (Delete, H::SettingDelete(S::TokenTtl))],
            &[F_ROLE_NAME, F_TOKEN_TTL],
            "Initial TTL of the role's tokens.",
        ),
        setting_row(
            "role-token-max-ttl",
            concat!(role_re!(), "/token-max-ttl"),
            &[(Read, H::SettingRead(S::TokenMaxTtl)), (Update, H::SettingWrite(S::TokenMaxTtl)), (Delete, H::SettingDelete(S::TokenMaxTtl))],
            &[F_ROLE_NAME, F_TOKEN_MAX_TTL],
            "Maximum lifetime of the role's tokens.",
        ),
        setting_row(
            "role-token-num-uses",
            concat!(role_re!(), "/token-num-uses"),
            &[(Read, H::SettingRead(S::TokenNumUses)), (Update, H::SettingWrite(S::TokenNumUses)), (Delete, H::SettingDelete(S::TokenNumUses))],
            &[F_ROLE_NAME, F_TOKEN_NUM_USES],
            "Uses allowed per token of the role.",
        ),
        setting_row(
            "role-bind-secret-id",
            concat!(role_re!(), "/bind-secret-id"),
            &[(Read, H::SettingRead(S::BindSecretId)), (Update, H::SettingWrite(S::BindSecretId)), (Delete, H::SettingDelete(S::BindSecretId))],
            &[F_ROLE_NAME, F_BIND],
            "Whether a login needs a secret id.",
        ),
        setting_row(
            "role-secret-id-bound-cidrs",
            concat!(role_re!(), "/secret-id-bound-cidrs"),
            &[
                (Read, H::SettingRead(S::SecretIdBoundCidrs)),
                (Update, H::SettingWrite(S::SecretIdBoundCidrs)),
                (Delete, H::SettingDelete(S::SecretIdBoundCidrs)),
            ],
            &[F_ROLE_NAME, F_SECRET_CIDRS],
            "CIDR blocks logins with the role's secret ids must come from.",
        ),
        setting_row(
            "role-bound-cidr-list",
            concat!(role_re!(), "/bound-cidr-list"),
            &[(Read, H::SettingRead(S::BoundCidrList)), (Update, H::SettingWrite(S::BoundCidrList)), (Delete, H::SettingDelete(S::BoundCidrList))],
            &[F_ROLE_NAME, F_BOUND_CIDR_LIST],
            "Deprecated: use secret-id-bound-cidrs.",
        ),
        setting_row(
            "role-token-bound-cidrs",
            concat!(role_re!(), "/token-bound-cidrs"),
            &[
                (Read, H::SettingRead(S::TokenBoundCidrs)),
                (Update, H::SettingWrite(S::TokenBoundCidrs)),
                (Delete, H::SettingDelete(S::TokenBoundCidrs)),
            ],
            &[F_ROLE_NAME, F_TOKEN_CIDRS],
            "Addresses every use of the role's tokens must come from.",
        ),
        setting_row(
            "role-period",
            concat!(role_re!(), "/period"),
            &[(Read, H::SettingRead(S::Period)), (Update, H::SettingWrite(S::Period)), (Delete, H::SettingDelete(S::Period))],
            &[F_ROLE_NAME, F_PERIOD, F_TOKEN_PERIOD],
            "Period of the role's tokens.",
        ),
        setting_row(
            "role-local-secret-ids",
            concat!(role_re!(), "/local-secret-ids"),
            &[(Read, H::SettingRead(S::LocalSecretIds))],
            &[F_ROLE_NAME],
            "Whether the role's secret ids are local to the cluster.",
        ),
        setting_row(
            "role-role-id",
            concat!(role_re!(), "/role-id"),
            &[(Read, H::RoleIdRead), (Update, H::RoleIdWrite)],
            &[F_ROLE_NAME, F_ROLE_ID],
            "Read the role id, or set a custom one (unique in the mount).",
        ),
        setting_row(
            "role-secret-id",
            concat!(role_re!(), "/secret-id/?"),
            &[(List, H::SecretIdList), (Update, H::SecretIdGenerate)],
            F_GENERATE,
            "Generate a secret id for the role; LIST gives the accessors of its secret ids.",
        ),
        setting_row(
            "role-custom-secret-id",
            concat!(role_re!(), "/custom-secret-id"),
            &[(Update, H::CustomSecretId)],
            F_CUSTOM,
            "Register a secret id of the caller's choosing for the role.",
        ),
        setting_row(
            "role-secret-id-lookup",
            concat!(role_re!(), "/secret-id/lookup"),
            &[(Update, H::SecretIdLookup)],
            F_BY_SECRET_ID,
            "Read the properties of a secret id (never the secret id itself).",
        ),
        setting_row(
            "role-secret-id-destroy",
            concat!(role_re!(), "/secret-id/destroy"),
            &[(Update, H::SecretIdDestroy), (Delete, H::SecretIdDestroy)],
            F_BY_SECRET_ID,
            "Destroy a secret id.",
        ),
        setting_row(
            "role-secret-id-accessor-lookup",
            concat!(role_re!(), "/secret-id-accessor/lookup"),
            &[(Update, H::AccessorLookup)],
            F_BY_ACCESSOR,
            "Read the properties of a secret id by its accessor.",
        ),
        setting_row(
            "role-secret-id-accessor-destroy",
            concat!(role_re!(), "/secret-id-accessor/destroy"),
            &[(Update, H::AccessorDestroy), (Delete, H::AccessorDestroy)],
            F_BY_ACCESSOR,
            "Destroy a secret id by its accessor.",
        ),
        path("tidy-secret-id", "tidy/secret-id", &[(Update, H::Tidy)], &[], "Remove expired secret ids and dangling accessors."),
    ])
});

const HELP: &str = "The approle auth method lets machines and services log in with a role id and a \
secret id. Secret ids are stored only as salted HMACs; each use is claimed atomically before a \
token is issued.";

/// An approle mount.
pub struct AppRole {
    view: StorageView,
    salt: salt::Salt,
    /// Serialises writes of role records and the role-id index (so role ids
    /// stay unique). Logins never take it.
    write_lock: tokio::sync::Mutex<()>,
}

impl AppRole {
    fn new(view: StorageView) -> AppRole {
        AppRole { salt: salt::Salt::new(view.clone()), view, write_lock: tokio::sync::Mutex::new(()) }
    }
}

/// Only logging in needs no token.
fn special_paths() -> SpecialPaths {
    SpecialPaths { unauthenticated: vec!["login"], root: vec![] }
}

/// Role names are lower-cased on every path (the core already did before the
/// ACL check; see [`ROLE_NAME`]).
fn role_name(route: &Route<'_>) -> String {
    route.param("role_name").to_ascii_lowercase()
}

#[async_trait]
impl Backend for AppRole {
    fn table(&self) -> &PathTable {
        &TABLE
    }

    fn special_paths(&self) -> SpecialPaths {
        special_paths()
    }

    fn help(&self) -> &'static str {
        HELP
    }

    async fn serve(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        let name = role_name(route);
        match TABLE.handler(route, req.operation)? {
            H::RoleList => roles::list(self).await,
            H::RoleRead => roles::read(self, &name).await,
            H::RoleWrite => roles::write(self, req, &name).await,
            H::RoleDelete => roles::delete(self, &name).await,
            H::SettingRead(s) => roles::read_setting(self, &name, s).await,
            H::SettingWrite(s) => roles::write_setting(self, req, &name, s).await,
            H::SettingDelete(s) => roles::delete_setting(self, &name, s).await,
            H::RoleIdRead => roles::read_role_id(self, &name).await,
            H::RoleIdWrite => roles::write_role_id(self, req, &name).await,
            H::SecretIdList => secret_ids::list(self, &name).await,
            H::SecretIdGenerate => secret_ids::generate(self, req, &name, false).await,
            H::CustomSecretId => secret_ids::generate(self, req, &name, true).await,
            H::SecretIdLookup => secret_ids::lookup(self, req, &name).await,
            H::SecretIdDestroy => secret_ids::destroy(self, req, &name).await,
            H::AccessorLookup => secret_ids::accessor_lookup(self, req, &name).await,
            H::AccessorDestroy => secret_ids::accessor_destroy(self, req, &name).await,
            H::Login => login::login(self, req).await,
            H::Tidy => secret_ids::tidy(self).await,
        }
    }

    /// Only the `role/:name` row has an existence check.
    async fn exists(&self, route: &Route<'_>, _req: &Request) -> Result<bool> {
        Ok(roles::load(self, &role_name(route)).await?.is_some())
    }
}

/// Vault renders some of approle's errors through its multierror type, with a 500.
pub(crate) fn multierror_500(msg: impl std::fmt::Display) -> coffer_core::Error {
    coffer_core::Error::Coded(500, format!("1 error occurred:\n\t* {msg}\n\n"))
}

/// Nanoseconds since the Unix epoch, now.
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p: &str| TABLE.route(p).map(|r| (r.name(), r.param("role_name").to_string()));
        assert_eq!(r("role"), Some(("role-list", String::new())));
        assert_eq!(r("role/"), Some(("role-list", String::new())));
        assert_eq!(r("role/CI.job-1"), Some(("role", "CI.job-1".into())));
        assert_eq!(r("role/ci/secret-id"), Some(("role-secret-id", "ci".into())));
        assert_eq!(r("role/ci/secret-id/"), Some(("role-secret-id", "ci".into())));
        assert_eq!(r("role/ci/secret-id/lookup"), Some(("role-secret-id-lookup", "ci".into())));
        assert_eq!(r("role/ci/secret-id/destroy"), Some(("role-secret-id-destroy", "ci".into())));
        assert_eq!(r("role/ci/secret-id-accessor/lookup"), Some(("role-secret-id-accessor-lookup", "ci".into())));
        assert_eq!(r("role/ci/secret-id-accessor/destroy"), Some(("role-secret-id-accessor-destroy", "ci".into())));
        assert_eq!(r("role/ci/custom-secret-id"), Some(("role-custom-secret-id", "ci".into())));
        assert_eq!(r("role/ci/role-id"), Some(("role-role-id", "ci".into())));
        assert_eq!(r("role/ci/bind-secret-id"), Some(("role-bind-secret-id", "ci".into())));
        assert_eq!(r("login"), Some(("login", String::new())));
        assert_eq!(r("tidy/secret-id"), Some(("tidy-secret-id", String::new())));
        for bad in ["role/-ab", "role/ab.", "role/a@b", "login/x", "role/a/other", "role/a/secret-id/x"] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_acl_sees_lower_cased_role_names() {
        assert_eq!(TABLE.canonical_path("role/CI").as_deref(), Some("role/ci"));
        assert_eq!(TABLE.canonical_path("role/CI/secret-id").as_deref(), Some("role/ci/secret-id"));
        assert_eq!(TABLE.canonical_path("role/ci"), None);
    }

    #[test]
    fn only_login_is_unauthenticated() {
        let sp = special_paths();
        assert!(SpecialPaths::matches(&sp.unauthenticated, "login"));
        assert!(!SpecialPaths::matches(&sp.unauthenticated, "role/x/secret-id"));
        assert!(!SpecialPaths::matches(&sp.unauthenticated, "tidy/secret-id"));
    }

    #[test]
    fn the_openapi_document_describes_every_row() {
        let problems = coffer_core::openapi::table_problems(&TABLE);
        assert!(problems.is_empty(), "approle: {problems:?}");
    }
}
