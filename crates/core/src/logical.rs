//! The logical request/response model: what every backend sees, independent
//! of HTTP. `coffer-http` converts the wire format to and from these types.

use crate::backend::MountInfo;
use crate::view::StorageView;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Vault's logical operations (HTTP method mapping in vault-api.md §1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create,
    Read,
    Update,
    Patch,
    Delete,
    List,
    Help,
    /// HEAD (only `sys/health` answers it).
    Header,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::List => "list",
            Operation::Help => "help",
            Operation::Header => "header",
        }
    }
}

pub type Data = Map<String, Value>;

/// The caller's identity as the core resolved it from the token, handed to
/// backends that need it (token store, cubbyhole, capabilities-self).
#[derive(Clone, Debug)]
pub struct Caller {
    /// Salted hash of the client token (never the token itself).
    pub token_hash: String,
    pub accessor: String,
    pub policies: Vec<String>,
    pub display_name: String,
    /// Remaining uses after this request (0 = unlimited).
    pub num_uses: i64,
    pub is_root: bool,
    pub orphan: bool,
    pub entity_id: String,
    /// The token type: "service" or "batch".
    pub token_type: String,
}

/// One request after HTTP parsing, token resolution and routing.
pub struct Request {
    pub id: String,
    pub operation: Operation,
    /// The full path below `/v1/` (e.g. `secret/data/app`).
    pub path: String,
    /// The path relative to the mount (e.g. `data/app`).
    pub rel_path: String,
    pub data: Data,
    /// The raw client token, for the few handlers that must act on it
    /// (lookup-self, revoke-self, unwrap). Never log it.
    pub client_token: Option<String>,
    pub caller: Option<Arc<Caller>>,
    /// The ACL granted `sudo` on this path (or the caller is root).
    pub has_sudo: bool,
    pub wrap_ttl: Option<Duration>,
    /// The mount that serves this request and its own storage view.
    pub mount: Arc<MountInfo>,
    pub storage: StorageView,
    pub remote_addr: Option<std::net::SocketAddr>,
    /// Raw query string parameters are merged into `data` for GET/LIST/DELETE.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Data and token are secret-bearing: never printed.
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Lease information for a secret (`lease_id`, `renewable`, `lease_duration`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LeaseInfo {
    pub lease_id: String,
    pub renewable: bool,
    /// Seconds.
    pub lease_duration: u64,
}

/// The `auth` block of a response (token create, login, renew).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Auth {
    pub client_token: String,
    pub accessor: String,
    pub policies: Vec<String>,
    pub token_policies: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub identity_policies: Vec<String>,
    pub metadata: Option<std::collections::BTreeMap<String, String>>,
    pub lease_duration: u64,
    pub renewable: bool,
    pub entity_id: String,
    pub token_type: String,
    pub orphan: bool,
    pub mfa_requirement: Option<Value>,
    pub num_uses: i64,
    /// The login created the token's entity: audit entries say so
    /// (`auth.entity_created`); clients never see it.
    #[serde(skip)]
    pub entity_created: bool,
}

/// `wrap_info` of a wrapped response.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WrapInfo {
    pub token: String,
    pub accessor: String,
    pub ttl: u64,
    pub creation_time: String,
    pub creation_path: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub wrapped_accessor: Option<String>,
}

/// A response that bypasses the JSON envelope (sys/init, sys/health, PKI PEM...).
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn json(status: u16, v: &Value) -> RawResponse {
        RawResponse {
            status,
            content_type: "application/json".into(),
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }
}

/// What an auth method returns on a successful login: the core turns it
/// into a token (orphan, path = the login request path) and answers with the
/// usual `auth` block. TTLs of zero mean "the mount's default/max".
#[derive(Clone, Debug, Default)]
pub struct Login {
    /// Policies from the method (the core adds `default` unless `no_default_policy`).
    pub policies: Vec<String>,
    pub no_default_policy: bool,
    pub metadata: std::collections::BTreeMap<String, String>,
    /// E.g. the username; the token's display name becomes `<mount>-<name>`.
    pub display_name: String,
    pub ttl: Duration,
    pub max_ttl: Duration,
    pub period: Duration,
    pub explicit_max_ttl: Duration,
    pub num_uses: i64,
    pub renewable: bool,
    /// The token type the method asks for: `default` (or empty), `service` or
    /// `batch`. The auth mount's tuned `token_type` has the last word, by
    /// Vault's rules (`Core::handle`).
    pub token_type: String,
    /// Client addresses the issued token is bound to (`token_bound_cidrs`);
    /// empty = anywhere. The method has already checked the login's own address.
    pub bound_cidrs: Vec<crate::cidr::BoundCidr>,
    /// Who logged in, as the identity store sees it (Vault's `logical.Alias`):
    /// the core finds or creates the entity alias with this name on this
    /// mount's accessor, and the entity behind it. `None` = no identity (the
    /// token gets no entity), as for methods that have no user.
    pub alias: Option<LoginAlias>,
    /// Names of the external groups the login brings (JWT `groups_claim`,
    /// OIDC groups): each is matched to a group alias on this mount, whose
    /// external group the entity then belongs to for this login.
    pub group_aliases: Vec<String>,
}

/// The alias part of a [`Login`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoginAlias {
    /// Alias name: the username, the approle role id, the JWT `user_claim` value.
    pub name: String,
    /// Alias metadata (userpass: none; JWT: the `claim_mappings` values).
    pub metadata: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default)]
pub struct Response {
    /// The request's id, echoed as `request_id` (the core fills it in).
    pub request_id: String,
    /// A successful login (auth methods only); see [`Login`].
    pub login: Option<Login>,
    pub data: Option<Data>,
    pub auth: Option<Auth>,
    pub secret: Option<LeaseInfo>,
    pub warnings: Vec<String>,
    pub wrap_info: Option<WrapInfo>,
    /// Non-envelope body; wins over everything else.
    pub raw: Option<RawResponse>,
    /// Status for an enveloped body other than 200 (kv-v2 deleted read: 404).
    pub status: Option<u16>,
    /// Copy the keys of `data` to the top level too (Vault's legacy sys routes).
    pub inject_data: bool,
    /// The backend asks for the response to be wrapped with this TTL even if
    /// the client did not (`sys/wrapping/wrap`).
    pub force_wrap_ttl: Option<Duration>,
}

impl Response {
    pub fn data(data: Data) -> Response {
        Response { data: Some(data), ..Default::default() }
    }
    /// Convenience: `Response::json(json!({...}))`; non-object values are wrapped in `{"value": v}`.
    pub fn json(v: Value) -> Response {
        match v {
            Value::Object(m) => Response::data(m),
            other => {
                let mut m = Map::new();
                m.insert("value".into(), other);
                Response::data(m)
            }
        }
    }
    pub fn list(keys: Vec<String>) -> Response {
        let mut m = Map::new();
        m.insert("keys".into(), Value::from(keys));
        Response::data(m)
    }
    pub fn with_warning(mut self, w: impl Into<String>) -> Response {
        self.warnings.push(w.into());
        self
    }
}
