//! The userpass auth method (vault-api.md §6.1): users with a password and
//! token settings, and an unauthenticated `login/<username>`.
//!
//! This file is the whole API at a glance: the path table and the dispatch
//! from a matched row to its handler. `users.rs` holds the user records (and
//! their storage keys), `login.rs` the login and `password.rs` the argon2id
//! hashing. `token_bound_cidrs` parsing and matching is `coffer_core::cidr`'s.

mod login;
mod password;
mod users;

#[cfg(test)]
mod testutil;

use async_trait::async_trait;
use coffer_core::{
    Backend, BackendFactory, Canon, EngineFactory, FieldKind, FieldSpec, MountContext, Operation, PathTable, Paths, Request,
    Response, Result, Route, SpecialPaths, StorageView, field, path,
};
use std::sync::{Arc, LazyLock};

use Operation::{Create, Delete, List, Read, Update};

/// Builds a userpass backend for an auth mount. Registered under type `userpass`.
pub fn userpass_factory() -> EngineFactory {
    Arc::new(UserpassFactory)
}

/// userpass has no mount-time options of its own.
struct UserpassFactory;

impl BackendFactory for UserpassFactory {
    fn build(&self, ctx: MountContext) -> Result<Arc<dyn Backend>> {
        Ok(Arc::new(Userpass::new(ctx.storage)))
    }
}

/// Vault's `framework.GenericNameRegex`: word characters, with `-` and `.`
/// allowed inside (ASCII `\w`, as in Go's RE2).
macro_rules! username_re {
    () => {
        "(?P<username>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
    };
}

/// Usernames are case-insensitive: the core lower-cases the name in the path
/// before the ACL check, so a policy on `users/admin` covers `users/ADMIN` too
/// (OpenBao does the same for `users/:name`). `login/:name` is left as sent:
/// it is unauthenticated, and the login token's path keeps the name as typed,
/// as in OpenBao.
const USERNAME: &[(&str, Canon)] = &[("username", Canon::Lower)];

const F_USERNAME: FieldSpec = field("username", FieldKind::String, "Username of the user (case-insensitive).");
const F_PASSWORD: FieldSpec = field("password", FieldKind::String, "Password for the user.");
const F_TOKEN_POLICIES: FieldSpec =
    field("token_policies", FieldKind::StringList, "Policies of the tokens issued at login.");
const F_POLICIES: FieldSpec = field("policies", FieldKind::StringList, "Deprecated: use token_policies.");

const F_USER: &[FieldSpec] = crate::token_fields!(
    F_USERNAME,
    F_PASSWORD,
    field("password_hash", FieldKind::String, "Not supported: provide password."),
);

const F_PASSWORD_UPDATE: &[FieldSpec] = &[F_USERNAME, F_PASSWORD];
const F_POLICIES_UPDATE: &[FieldSpec] = &[F_USERNAME, F_TOKEN_POLICIES, F_POLICIES];
const F_LOGIN: &[FieldSpec] = &[F_USERNAME, F_PASSWORD];

/// The handlers of a userpass mount.
#[derive(Clone, Copy, Debug)]
enum H {
    List,
    Read,
    Write,
    Delete,
    Password,
    Policies,
    Login,
}

static TABLE: LazyLock<Paths<H>> = LazyLock::new(|| {
    Paths::new(vec![
        path("users-list", "users/?", &[(List, H::List)], &[], "List the users."),
        path(
            "user",
            concat!("users/", username_re!()),
            &[(Read, H::Read), (Create, H::Write), (Update, H::Write), (Delete, H::Delete)],
            F_USER,
            "Create, update, read or delete a user. Creating requires `password`; reading never \
             returns it.",
        )
        .existence_check()
        .canonical(USERNAME),
        path("user-password", concat!("users/", username_re!(), "/password"), &[(Update, H::Password)], F_PASSWORD_UPDATE, "Change a user's password.")
            .canonical(USERNAME),
        path("user-policies", concat!("users/", username_re!(), "/policies"), &[(Update, H::Policies)], F_POLICIES_UPDATE, "Change the policies of a user's tokens.")
            .canonical(USERNAME),
        path("login", concat!("login/", username_re!()), &[(Update, H::Login)], F_LOGIN, "Log in with a username and password (unauthenticated)."),
    ])
});

const HELP: &str = "The userpass auth method authenticates users with a username and a password. \
Passwords are stored as argon2id hashes; usernames are case-insensitive.";

/// A userpass mount.
pub struct Userpass {
    view: StorageView,
    /// Serialises the read-modify-write of user records (writes are rare and
    /// password hashing happens before the lock is taken). Logins never take it.
    write_lock: tokio::sync::Mutex<()>,
}

impl Userpass {
    fn new(view: StorageView) -> Userpass {
        Userpass { view, write_lock: tokio::sync::Mutex::new(()) }
    }
}

/// Only logging in needs no token.
fn special_paths() -> SpecialPaths {
    SpecialPaths { unauthenticated: vec!["login/*"], root: vec![] }
}

/// Vault lowercases usernames on every path (on `users/...` the core already
/// did, before the ACL check; see [`USERNAME`]).
fn username(route: &Route<'_>) -> String {
    route.param("username").to_ascii_lowercase()
}

#[async_trait]
impl Backend for Userpass {
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
            H::List => users::list(self).await,
            H::Read => users::read(self, &username(route)).await,
            H::Write => users::write(self, req, &username(route)).await,
            H::Delete => users::delete(self, &username(route)).await,
            H::Password => users::update_password(self, req, &username(route)).await,
            H::Policies => users::update_policies(self, req, &username(route)).await,
            H::Login => login::login(self, req, &username(route)).await,
        }
    }

    /// Only the `users/:name` row has an existence check.
    async fn exists(&self, route: &Route<'_>, _req: &Request) -> Result<bool> {
        Ok(users::load(self, &username(route)).await?.is_some())
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p: &str| TABLE.route(p).map(|r| (r.name(), r.param("username").to_string()));
        assert_eq!(r("users/"), Some(("users-list", String::new())));
        assert_eq!(r("users"), Some(("users-list", String::new())));
        assert_eq!(r("users/Alice"), Some(("user", "Alice".into())));
        assert_eq!(r("users/a.b-c_d"), Some(("user", "a.b-c_d".into())));
        assert_eq!(r("users/alice/password"), Some(("user-password", "alice".into())));
        assert_eq!(r("users/alice/policies"), Some(("user-policies", "alice".into())));
        assert_eq!(r("login/alice"), Some(("login", "alice".into())));
        // Vault's name regex: no leading/trailing punctuation, no '@', ASCII only.
        for bad in ["users/-ab", "users/ab.", "users/a@b", "users/é", "login/", "login/a/b", "users/a/other"] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }

    /// What the ACL sees: `users/...` paths with the username lower-cased (so a
    /// policy on `users/admin` covers `users/ADMIN`), `login/...` as sent.
    #[test]
    fn the_acl_sees_lower_cased_usernames() {
        let c = |p: &str| TABLE.canonical_path(p);
        assert_eq!(c("users/ADMIN").as_deref(), Some("users/admin"));
        assert_eq!(c("users/Admin/password").as_deref(), Some("users/admin/password"));
        assert_eq!(c("users/aDmIn/policies").as_deref(), Some("users/admin/policies"));
        assert_eq!(c("users/admin"), None);
        assert_eq!(c("users/"), None);
        assert_eq!(c("login/ALICE"), None);
    }

    #[test]
    fn only_login_is_unauthenticated() {
        let sp = special_paths();
        assert!(SpecialPaths::matches(&sp.unauthenticated, "login/alice"));
        assert!(!SpecialPaths::matches(&sp.unauthenticated, "users/alice"));
        assert!(!SpecialPaths::matches(&sp.unauthenticated, "users/alice/password"));
    }
}

#[cfg(test)]
mod openapi_tests {
    /// Every row gets a path of its own in the OpenAPI document
    /// (sys/internal/specs/openapi), and each documented path routes back to its row.
    #[test]
    fn the_openapi_document_describes_every_row() {
        let problems = coffer_core::openapi::table_problems(&super::TABLE);
        assert!(problems.is_empty(), "userpass: {problems:?}");
    }
}
