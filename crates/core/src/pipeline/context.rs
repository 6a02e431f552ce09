//! What one request carries through the stages: filled in stage by stage
//! (see [`super`] for the order), read by the final stages whatever the
//! outcome.

use super::namespace::Namespace;
use crate::core::Incoming;
use crate::error::Error;
use crate::logical::{Data, Operation, Request};
use crate::token::TokenEntry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The headers the stages act on, parsed once at the start.
#[derive(Clone, Default)]
pub struct RequestHeaders {
    /// `X-Vault-Namespace`, as sent (resolve namespace).
    pub namespace: Option<String>,
    /// `X-Vault-MFA` values (login MFA; nothing reads them yet). They carry
    /// one-time codes: never logged.
    pub mfa: Vec<String>,
    /// `X-Vault-Wrap-TTL` (the HTTP layer has already parsed it): wrap stage.
    pub wrap_ttl: Option<Duration>,
    /// `X-Vault-Request: true` was sent (a listener may require it later).
    pub vault_request: bool,
}

impl RequestHeaders {
    fn parse(raw: &[(String, String)], wrap_ttl: Option<Duration>) -> RequestHeaders {
        let mut h = RequestHeaders { wrap_ttl, ..Default::default() };
        for (k, v) in raw {
            if k.eq_ignore_ascii_case("x-vault-namespace") {
                if h.namespace.is_none() {
                    h.namespace = Some(v.clone());
                }
            } else if k.eq_ignore_ascii_case("x-vault-mfa") {
                h.mfa.push(v.clone());
            } else if k.eq_ignore_ascii_case("x-vault-request") {
                h.vault_request = v.trim().eq_ignore_ascii_case("true");
            }
        }
        h
    }
}

/// The identity entity behind the token (set by the resolve-identity stage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityId(pub String);

/// What the authenticate stage found for the client token. It only looks
/// the token up; whether a missing or unusable token ends the request is the
/// authorize stage's decision, because that depends on the route
/// (unauthenticated paths such as a login need none).
#[derive(Clone, Default)]
pub enum TokenState {
    /// Not authenticated yet (seal-exempt endpoints never are).
    #[default]
    Unchecked,
    /// No token sent.
    Absent,
    /// Unknown, revoked, expired or used up.
    Invalid,
    /// Valid, but bound to client addresses this request is not from.
    OutsideBoundCidrs,
    /// Valid, but its identity entity is disabled (resolve identity).
    EntityDisabled,
    /// Valid and usable from this client address.
    Valid(Arc<TokenEntry>),
}

/// Where the route stage sent the request.
pub enum Target {
    /// Not routed yet.
    Pending,
    /// `sys/init`, `sys/seal-status`, `sys/unseal`, `sys/health`,
    /// `sys/leader`: answered by `sys` itself, sealed or not, without a
    /// namespace or a token (Vault serves them outside its router too).
    SealExempt,
    /// `?help` on a mounted path: any valid token may ask.
    Help,
    /// A row of the mount's path table that serves the operation (the row
    /// itself borrows the mount's table, so the frame holds it; see
    /// [`super::route`]).
    Row,
    /// No mount, no row, or an operation the row lacks. The answer is
    /// [`RequestContext::unserved_error`] only if the authorize stage lets
    /// the caller see it (`403` otherwise, so nobody maps mounts they may
    /// not use).
    Unserved(Unserved),
}

/// Why the route stage found nothing to serve the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unserved {
    /// No mount (404 `no handler for route`).
    NoMount,
    /// No row of the mount's table (404 `unsupported path`).
    NoRow,
    /// The row lacks the operation (405 `unsupported operation`).
    NoOperation,
}

/// The stages' shared state for one request.
pub struct RequestContext {
    /// Moves into `request` when the authorize stage builds it.
    pub(crate) id: String,
    pub(crate) namespace: Option<Namespace>,
    pub(crate) operation: Operation,
    /// The path as the client sent it, below `/v1/` (wrapping's
    /// `creation_path`, the refusal of an unknown mount).
    pub(crate) path: String,
    /// The body and query data until the authorize stage moves it into
    /// `request`.
    pub(crate) data: Data,
    /// Never logged, never in `Debug`.
    pub(crate) client_token: Option<String>,
    pub(crate) entity: Option<EntityId>,
    /// The token's entity as the identity store resolved it (its policies,
    /// groups' policies and template variables); `None` without an entity.
    pub(crate) identity: Option<Arc<crate::identity::Resolved>>,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) headers: RequestHeaders,
    /// The headers as received, handed on to the backend's `Request`.
    pub(crate) raw_headers: Vec<(String, String)>,
    pub(crate) token: TokenState,
    pub(crate) target: Target,
    /// Set by the route stage when a mount serves the path.
    pub(crate) mount: Option<Arc<crate::mounts::RouteEntry>>,
    /// The path relative to the mount, after canonicalisation.
    pub(crate) rel_path: String,
    /// The full path the ACL judges and the backend sees (canonical names).
    pub(crate) acl_path: String,
    /// The row's path is one of the mount's unauthenticated paths (a login).
    pub(crate) unauthenticated: bool,
    /// The backend's request, built by the authorize stage.
    pub(crate) request: Option<Request>,
    /// The token whose last use this request consumed: revoked after dispatch.
    pub(crate) revoke_after: Option<Arc<TokenEntry>>,
    /// The audit-request stage has run (so the final stage does not log a
    /// second request entry).
    pub(crate) request_audited: bool,
    /// Audit devices are enabled: the authorize stage keeps what the
    /// entries' `policy_results` show (otherwise it allocates nothing).
    pub(crate) audit_detail: bool,
    /// The ACL's verdict for the entries' `auth.policy_results`.
    pub(crate) audit_policy: AuditPolicy,
    /// The request reached stage 5 (before dispatch).
    pub(crate) audit_dispatched: bool,
    /// `request.data` as the request entry showed it (a backend may take
    /// the data; the response entry shows the same).
    pub(crate) audit_data: Option<serde_json::Value>,
}

/// What audit entries show of the ACL's decision.
#[derive(Default)]
pub(crate) struct AuditPolicy {
    /// `None`: the ACL did not judge the request.
    pub(crate) allowed: Option<bool>,
    /// The policies granting it (only with `audit_detail`).
    pub(crate) granting: Vec<String>,
}

impl RequestContext {
    pub(crate) fn new(inc: Incoming) -> RequestContext {
        let headers = RequestHeaders::parse(&inc.headers, inc.wrap_ttl);
        RequestContext {
            id: crate::util::random_uuid(),
            namespace: None,
            operation: inc.operation,
            acl_path: String::new(),
            path: inc.path,
            data: inc.data,
            client_token: inc.token,
            entity: None,
            identity: None,
            remote_addr: inc.remote_addr,
            headers,
            raw_headers: inc.headers,
            token: TokenState::Unchecked,
            target: Target::Pending,
            mount: None,
            rel_path: String::new(),
            unauthenticated: false,
            request: None,
            revoke_after: None,
            request_audited: false,
            audit_detail: false,
            audit_policy: AuditPolicy::default(),
            audit_dispatched: false,
            audit_data: None,
        }
    }

    /// The request id (`request_id` of the response, and of audit entries).
    pub fn id(&self) -> &str {
        match &self.request {
            Some(r) => &r.id,
            None => &self.id,
        }
    }

    /// Take the id out for the response (the last stage).
    pub(crate) fn take_id(&mut self) -> String {
        match &mut self.request {
            Some(r) => std::mem::take(&mut r.id),
            None => std::mem::take(&mut self.id),
        }
    }
    /// The namespace the request runs in, once resolved (`None` for the
    /// seal-exempt endpoints and for a request that named an unknown one).
    pub fn namespace(&self) -> Option<&Namespace> {
        self.namespace.as_ref()
    }
    /// The operation; `create` once the existence check found nothing.
    pub fn operation(&self) -> Operation {
        self.request.as_ref().map(|r| r.operation).unwrap_or(self.operation)
    }
    /// The path as sent.
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }
    pub fn headers(&self) -> &RequestHeaders {
        &self.headers
    }
    pub fn entity(&self) -> Option<&EntityId> {
        self.entity.as_ref()
    }
    /// The resolved identity of an authenticated caller with an entity.
    pub fn identity(&self) -> Option<&Arc<crate::identity::Resolved>> {
        self.identity.as_ref()
    }
    pub fn token(&self) -> &TokenState {
        &self.token
    }
    /// The token entry of an authenticated caller.
    pub fn caller(&self) -> Option<&Arc<TokenEntry>> {
        match &self.token {
            TokenState::Valid(e) => Some(e),
            _ => None,
        }
    }
    /// Where the route stage sent the request (an audit device may, as
    /// Vault's, leave the seal-exempt endpoints out).
    pub fn target(&self) -> &Target {
        &self.target
    }
    pub fn mount(&self) -> Option<&Arc<crate::mounts::RouteEntry>> {
        self.mount.as_ref()
    }

    /// The error an unserved request gets once the authorize stage lets the
    /// caller see it.
    pub(crate) fn unserved_error(&self, why: Unserved) -> Error {
        match why {
            Unserved::NoMount => Error::NoRoute(self.path.clone()),
            Unserved::NoRow => Error::UnsupportedPath(self.rel_path.clone()),
            Unserved::NoOperation => Error::UnsupportedOperation(self.rel_path.clone()),
        }
    }

    /// The request as `sys` sees it for the seal-exempt endpoints.
    pub(crate) fn take_incoming(&mut self) -> Incoming {
        Incoming {
            operation: self.operation,
            path: self.path.clone(),
            data: std::mem::take(&mut self.data),
            token: self.client_token.clone(),
            wrap_ttl: self.headers.wrap_ttl,
            remote_addr: self.remote_addr,
            headers: std::mem::take(&mut self.raw_headers),
        }
    }
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Token, data and MFA codes are secret-bearing: never printed.
        f.debug_struct("RequestContext")
            .field("id", &self.id())
            .field("operation", &self.operation)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
