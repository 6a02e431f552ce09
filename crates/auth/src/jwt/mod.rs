//! The JWT/OIDC auth method (vault-api.md §5): one backend serving the mount
//! types `jwt` and `oidc`. Machines log in with a signed JWT at `login`
//! (GitHub Actions, Kubernetes service accounts, any OIDC issuer); the keys
//! come from static PEMs, a JWKS URL or an OIDC discovery document.
//!
//! This file is the whole API at a glance: the path table and the dispatch
//! from a matched row to its handler. `config.rs` holds the mount's config,
//! `role.rs` the roles, `keys.rs` the verification keys (static, JWKS,
//! discovery: fetched with a timeout and a size cap, cached, refreshed on an
//! unknown `kid` at most once per [`keys::MIN_REFRESH`]), `claims.rs` the
//! claim checks (times, audience, bound claims, JSON pointers, globs,
//! mappings), `login.rs` the login and `oidc.rs` the OIDC browser flow
//! (`oidc/auth_url`, `oidc/callback`: state, nonce, PKCE, code exchange).

mod claims;
mod config;
mod keys;
mod login;
mod oidc;
mod role;
mod tls;

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use coffer_core::{
    Backend, BackendFactory, EngineFactory, FieldKind, FieldSpec, MountContext, Operation, PathTable, Paths, Request, Response,
    Result, Route, SpecialPaths, StorageView, field, path,
};
use std::sync::{Arc, LazyLock};

use Operation::{Create, Delete, List, Read, Update};

/// Builds a JWT/OIDC backend for an auth mount. Registered under the types `jwt` and `oidc`.
pub fn jwt_factory() -> EngineFactory {
    Arc::new(JwtFactory)
}

struct JwtFactory;

impl BackendFactory for JwtFactory {
    fn build(&self, ctx: MountContext) -> Result<Arc<dyn Backend>> {
        Ok(Arc::new(Jwt::new(ctx.storage)))
    }
}

/// Vault's `framework.GenericNameRegex` for role names.
macro_rules! name_re {
    () => {
        "(?P<name>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
    };
}

const F_CONFIG: &[FieldSpec] = &[
    field("oidc_discovery_url", FieldKind::String, "OIDC issuer URL, without `/.well-known/openid-configuration`."),
    field("oidc_discovery_ca_pem", FieldKind::String, "PEM CA certificates trusted for the discovery URL (instead of the system roots)."),
    field("oidc_client_id", FieldKind::String, "OAuth client id (OIDC browser login)."),
    field("oidc_client_secret", FieldKind::String, "OAuth client secret; never returned."),
    field("oidc_response_mode", FieldKind::String, "`query` (default) or `form_post`."),
    field("oidc_response_types", FieldKind::StringList, "`code` (default) or `id_token` (with form_post)."),
    field("jwks_url", FieldKind::String, "JWKS URL with the keys that sign the JWTs."),
    field("jwks_ca_pem", FieldKind::String, "PEM CA certificates trusted for the JWKS URL (instead of the system roots)."),
    field("jwks_pairs", FieldKind::Array, "Not supported: use jwks_url."),
    field("jwt_validation_pubkeys", FieldKind::StringList, "PEM public keys that sign the JWTs."),
    field("bound_issuer", FieldKind::String, "The `iss` every JWT must carry."),
    field("jwt_supported_algs", FieldKind::StringList, "Accepted signing algorithms (RS*, PS*, ES256, ES384, EdDSA)."),
    field("default_role", FieldKind::String, "Role used when a login names none."),
    field("provider_config", FieldKind::Map, "Not supported: provider-specific group fetching."),
    field("namespace_in_state", FieldKind::Bool, "Kept for compatibility; Coffer has only the root namespace."),
    field("override_allowed_server_names", FieldKind::StringList, "Not supported."),
];

const F_ROLE: &[FieldSpec] = crate::token_fields!(
    field("name", FieldKind::String, "Name of the role."),
    field("role_type", FieldKind::String, "`jwt` (login with a JWT) or `oidc` (browser flow; the default)."),
    field("bound_audiences", FieldKind::StringList, "The JWT's `aud` must contain one of these."),
    field("user_claim", FieldKind::String, "Claim whose value names the user (the identity alias)."),
    field("user_claim_json_pointer", FieldKind::Bool, "Read user_claim as a JSON pointer."),
    field("bound_subject", FieldKind::String, "The `sub` the JWT must carry."),
    field("bound_claims", FieldKind::Map, "Claims (names or JSON pointers) and the value(s) each must have."),
    field("bound_claims_type", FieldKind::String, "`string` (exact) or `glob` (`*` matches anything)."),
    field("claim_mappings", FieldKind::Map, "Claims copied into the token's and alias's metadata: claim -> key."),
    field("groups_claim", FieldKind::String, "Claim (a list of strings) naming the user's external groups."),
    field("oidc_scopes", FieldKind::StringList, "Extra OIDC scopes."),
    field("allowed_redirect_uris", FieldKind::StringList, "Redirect URIs allowed in the OIDC flow."),
    field("callback_mode", FieldKind::String, "`client` only."),
    field("clock_skew_leeway", FieldKind::Duration, "Leeway for every time claim (default 60s; -1 none)."),
    field("expiration_leeway", FieldKind::Duration, "Leeway for `exp` (default 150s; -1 none)."),
    field("not_before_leeway", FieldKind::Duration, "Leeway for `nbf` (default 150s; -1 none)."),
    field("max_age", FieldKind::Duration, "OIDC max_age."),
    field("verbose_oidc_logging", FieldKind::Bool, "Log the claims of OIDC logins (never the tokens)."),
    field("oidc_disable_confirmation", FieldKind::Bool, "Kept for compatibility."),
    field("oauth2_metadata", FieldKind::StringList, "Not supported."),
    field("token_policies_template_claims", FieldKind::Bool, "Not supported; only false is accepted."),
);

const F_AUTH_URL: &[FieldSpec] = &[
    field("role", FieldKind::String, "Role to log in with (default: the config's default_role)."),
    field("redirect_uri", FieldKind::String, "Where the provider sends the browser back; must be one of the role's allowed_redirect_uris."),
    field("client_nonce", FieldKind::String, "Optional nonce of the client; the callback must then carry the same one."),
];

const F_CALLBACK: &[FieldSpec] = &[
    field("state", FieldKind::String, "The state from the authorization URL."),
    field("code", FieldKind::String, "The authorization code from the provider."),
    field("id_token", FieldKind::String, "The ID token (form_post with the id_token response type)."),
    field("client_nonce", FieldKind::String, "The client_nonce given to auth_url, if any."),
    field("error", FieldKind::String, "An error from the provider."),
    field("error_description", FieldKind::String, "The provider's error description."),
    field("error_uri", FieldKind::String, "The provider's error URI."),
];

const F_LOGIN: &[FieldSpec] = &[
    field("role", FieldKind::String, "Role to log in with (default: the config's default_role)."),
    field("jwt", FieldKind::String, "The signed JWT."),
];

/// The handlers of a JWT/OIDC mount.
#[derive(Clone, Copy, Debug)]
enum H {
    ConfigRead,
    ConfigWrite,
    RoleList,
    RoleRead,
    RoleWrite,
    RoleDelete,
    Login,
    AuthUrl,
    Callback,
    CallbackPost,
}

static TABLE: LazyLock<Paths<H>> = LazyLock::new(|| {
    Paths::new(vec![
        path("config", "config", &[(Read, H::ConfigRead), (Update, H::ConfigWrite)], F_CONFIG, "Configure where the keys come from and what every JWT must carry."),
        path("role-list", "role/?", &[(List, H::RoleList)], &[], "List the roles."),
        path(
            "role",
            concat!("role/", name_re!()),
            &[(Read, H::RoleRead), (Create, H::RoleWrite), (Update, H::RoleWrite), (Delete, H::RoleDelete)],
            F_ROLE,
            "Create, update (fields not sent are kept), read or delete a role.",
        )
        .existence_check(),
        path("login", "login", &[(Update, H::Login)], F_LOGIN, "Log in with a signed JWT (unauthenticated)."),
        path("oidc-auth-url", "oidc/auth_url", &[(Update, H::AuthUrl)], F_AUTH_URL, "Start an OIDC login: the provider's authorization URL (unauthenticated)."),
        path(
            "oidc-callback",
            "oidc/callback",
            &[(Read, H::Callback), (Update, H::CallbackPost)],
            F_CALLBACK,
            "Complete an OIDC login with the provider's state and code; POST for the form_post response mode (unauthenticated).",
        ),
    ])
});

const HELP: &str = "The JWT/OIDC auth method authenticates machines and people with JWTs signed by a trusted \
issuer (static keys, a JWKS URL or OIDC discovery), bound to roles by audience, subject and claims.";

/// A JWT/OIDC mount.
pub struct Jwt {
    view: StorageView,
    /// Serialises config and role read-modify-writes. Logins never take it.
    write_lock: tokio::sync::Mutex<()>,
    keys: keys::KeyCache,
    /// Pending OIDC logins and the provider's endpoints.
    oidc: oidc::Flow,
}

impl Jwt {
    fn new(view: StorageView) -> Jwt {
        Jwt { view, write_lock: tokio::sync::Mutex::new(()), keys: keys::KeyCache::default(), oidc: oidc::Flow::default() }
    }
}

fn special_paths() -> SpecialPaths {
    SpecialPaths { unauthenticated: vec!["login", "oidc/auth_url", "oidc/callback"], root: vec![] }
}

#[async_trait]
impl Backend for Jwt {
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
        match TABLE.handler(route, req.operation)? {
            H::ConfigRead => config::read(self).await,
            H::ConfigWrite => config::write(self, req).await,
            H::RoleList => role::list(self).await,
            H::RoleRead => role::read(self, route.param("name")).await,
            H::RoleWrite => role::write(self, req, route.param("name")).await,
            H::RoleDelete => role::delete(self, route.param("name")).await,
            H::Login => login::login(self, req).await,
            H::AuthUrl => oidc::auth_url(self, req).await,
            H::Callback => oidc::callback(self, req).await,
            H::CallbackPost => oidc::callback_post(self, req).await,
        }
    }

    /// Only the `role/:name` row has an existence check.
    async fn exists(&self, route: &Route<'_>, _req: &Request) -> Result<bool> {
        Ok(role::load(self, route.param("name")).await?.is_some())
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p: &str| TABLE.route(p).map(|r| (r.name(), r.param("name").to_string()));
        assert_eq!(r("config"), Some(("config", String::new())));
        assert_eq!(r("role/"), Some(("role-list", String::new())));
        assert_eq!(r("role/gh-deploy"), Some(("role", "gh-deploy".into())));
        assert_eq!(r("login"), Some(("login", String::new())));
        assert_eq!(r("oidc/auth_url"), Some(("oidc-auth-url", String::new())));
        assert_eq!(r("oidc/callback"), Some(("oidc-callback", String::new())));
        for bad in ["role/-x", "role/a/b", "login/x", "configs"] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_logins_are_unauthenticated() {
        let sp = special_paths();
        assert!(SpecialPaths::matches(&sp.unauthenticated, "login"));
        assert!(SpecialPaths::matches(&sp.unauthenticated, "oidc/auth_url"));
        assert!(SpecialPaths::matches(&sp.unauthenticated, "oidc/callback"));
        assert!(!SpecialPaths::matches(&sp.unauthenticated, "config"));
        assert!(!SpecialPaths::matches(&sp.unauthenticated, "role/x"));
    }

    #[test]
    fn the_openapi_document_describes_every_row() {
        let problems = coffer_core::openapi::table_problems(&super::TABLE);
        assert!(problems.is_empty(), "jwt: {problems:?}");
    }
}
