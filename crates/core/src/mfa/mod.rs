//! Login MFA (Vault's `identity/mfa/*` and `sys/mfa/validate`), TOTP only:
//!
//! - `totp.rs`: RFC 6238 codes on aws-lc-rs HMAC, base32, the `otpauth://` URL.
//! - `qr.rs`: the enrolment QR code as a PNG.
//! - `methods.rs`: TOTP method configs and per-entity secrets.
//! - `enforcement.rs`: login enforcements and which logins they apply to.
//! - `pending.rs`: logins parked until `sys/mfa/validate` (bounded, single claim).
//! - `guard.rs`: the replay cache and the per-entity failure limiter.
//!
//! This file holds the rows (`identity/mfa/...`, relative to the identity
//! mount) with their handler enum [`H`], the state [`Mfa`] (the storage view
//! under the barrier, the guard, the pending logins) and the validation of
//! passcodes against enforcements, for both login phases. The identity
//! backend joins the rows (see [`mfa_rows!`]) and answers the existence
//! questions a handler asks through [`Directory`].

pub mod enforcement;
pub mod guard;
pub mod methods;
pub mod pending;
pub mod qr;
pub mod totp;

use crate::backend::Route;
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Login, Request, Response};
use crate::view::StorageView;
use async_trait::async_trait;
use enforcement::{Enforcement, enforcement_key};
use methods::{MethodConfig, TotpSecret, method_key, secret_key};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A handler of `identity/mfa/*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H {
    TotpList,
    TotpCreate,
    TotpRead,
    TotpUpdate,
    TotpDelete,
    Generate,
    AdminGenerate,
    AdminDestroy,
    MethodList,
    MethodRead,
    EnforcementList,
    EnforcementRead,
    EnforcementWrite,
    EnforcementDelete,
}

pub const F_METHOD_ID: &[crate::backend::FieldSpec] = &[crate::backend::field("method_id", crate::backend::FieldKind::String, "The method's ID.").required()];
pub const F_ADMIN: &[crate::backend::FieldSpec] = &[
    crate::backend::field("method_id", crate::backend::FieldKind::String, "The method's ID.").required(),
    crate::backend::field("entity_id", crate::backend::FieldKind::String, "The entity's ID.").required(),
];

/// The rows of `identity/mfa/*`, each handler wrapped in the joining
/// table's variant: `mfa_rows!(Identity::Mfa)` gives a `Vec<Path<Identity>>`.
/// (A macro because a row's operations are a `'static` slice of the outer
/// handler type.)
#[macro_export]
macro_rules! mfa_rows {
    ($($w:ident)::+) => {{
        use $crate::backend::path;
        use $crate::logical::Operation::{Delete, List, Read, Update};
        use $crate::mfa::H as M;
        vec![
            path("mfa-method-totp-list", "mfa/method/totp/?", &[(List, $($w)::+(M::TotpList)), (Update, $($w)::+(M::TotpCreate))], $crate::mfa::methods::FIELDS, "Create or list TOTP MFA methods."),
            path("mfa-method-totp-generate", "mfa/method/totp/generate", &[(Update, $($w)::+(M::Generate))], $crate::mfa::F_METHOD_ID, "Generate a TOTP secret for the caller's entity."),
            path("mfa-method-totp-admin-generate", "mfa/method/totp/admin-generate", &[(Update, $($w)::+(M::AdminGenerate))], $crate::mfa::F_ADMIN, "Generate a TOTP secret for an entity."),
            path("mfa-method-totp-admin-destroy", "mfa/method/totp/admin-destroy", &[(Update, $($w)::+(M::AdminDestroy))], $crate::mfa::F_ADMIN, "Destroy an entity's TOTP secret."),
            path("mfa-method-totp", "mfa/method/totp/(?P<method_id>[^/]+)", &[(Read, $($w)::+(M::TotpRead)), (Update, $($w)::+(M::TotpUpdate)), (Delete, $($w)::+(M::TotpDelete))], $crate::mfa::methods::FIELDS, "Read, update or delete a TOTP MFA method."),
            path("mfa-method-list", "mfa/method/?", &[(List, $($w)::+(M::MethodList))], &[], "List MFA methods of every type."),
            path("mfa-method", "mfa/method/(?P<method_id>[^/]+)", &[(Read, $($w)::+(M::MethodRead))], &[], "Read an MFA method of any type."),
            path("mfa-login-enforcement-list", "mfa/login-enforcement/?", &[(List, $($w)::+(M::EnforcementList))], &[], "List login enforcements."),
            path("mfa-login-enforcement", r"mfa/login-enforcement/(?P<name>\w(?:[\w.-]*\w)?)", &[(Read, $($w)::+(M::EnforcementRead)), (Update, $($w)::+(M::EnforcementWrite)), (Delete, $($w)::+(M::EnforcementDelete))], $crate::mfa::enforcement::FIELDS, "Create, read, update or delete a login enforcement."),
        ]
    }};
}

/// What the MFA handlers ask of the identity store and the mount table.
#[async_trait]
pub trait Directory: Send + Sync {
    async fn entity_exists(&self, id: &str) -> Result<bool>;
    async fn group_exists(&self, id: &str) -> Result<bool>;
    fn accessor_exists(&self, accessor: &str) -> bool;
}

/// A login parked until its passcodes arrive (`sys/mfa/validate`).
#[derive(Clone, Debug)]
pub struct Pending {
    pub login: Login,
    pub entity_id: String,
    /// The enforcements that applied at login (all must be met).
    pub enforcements: Vec<Enforcement>,
    /// The login's request path (the token's path) and its auth mount's path.
    pub login_path: String,
    pub mount_path: String,
}

/// The MFA state of an unsealed core.
pub struct Mfa {
    view: StorageView,
    guard: guard::Guard,
    pending: pending::PendingStore<Pending>,
    /// Serialises config writes: method-name uniqueness, "method in use",
    /// and one secret per method and entity are checked and written under it.
    writes: tokio::sync::Mutex<()>,
    /// Every enforcement, read once and replaced on each write: stage 6b
    /// asks on every login.
    enforcements: parking_lot::RwLock<Option<std::sync::Arc<Vec<Enforcement>>>>,
}

/// Vault's warning on a login answered with an MFA requirement.
pub const TWO_PHASE_WARNING: &str = "A login request was issued that is subject to MFA validation. Please make sure to validate the login by sending another request to mfa/validate endpoint.";

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A passcode payload: method id or name → passcodes.
pub type Payload = BTreeMap<String, Vec<String>>;

/// The `X-Vault-MFA` header values of a single-phase login:
/// `<method id|name|ns/name>:<passcode>` (or `:passcode=<code>`, or a bare
/// method for passcode-less methods). Several headers add up.
pub fn parse_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> Payload {
    let mut out = Payload::new();
    for v in values {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let (method, code) = v.split_once(':').unwrap_or((v, ""));
        let method = method.rsplit('/').next().unwrap_or(method).trim();
        let code = code.strip_prefix("passcode=").unwrap_or(code).trim();
        out.entry(method.to_string()).or_default().push(code.to_string());
    }
    out
}

/// A `mfa_payload` body value: `{method: [passcodes]}` (a lone string is one passcode).
pub fn parse_payload(v: Option<&Value>) -> Result<Payload> {
    let bad = || Error::invalid("mfa_payload: expected a map of method to list of passcodes");
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Err(Error::invalid("missing mfa payload"));
    };
    let obj = v.as_object().ok_or_else(bad)?;
    let mut out = Payload::new();
    for (k, v) in obj {
        let codes = match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|c| c.as_str().map(str::to_string).ok_or_else(bad)).collect::<Result<_>>()?,
            _ => return Err(bad()),
        };
        out.insert(k.clone(), codes);
    }
    Ok(out)
}

impl Mfa {
    /// The state over `view` (its keys: `method/`, `secret/`, `enforcement/`).
    pub fn new(view: StorageView) -> Mfa {
        Mfa { view, guard: guard::Guard::default(), pending: pending::PendingStore::default(), writes: tokio::sync::Mutex::new(()), enforcements: parking_lot::RwLock::new(None) }
    }

    pub fn pending(&self) -> &pending::PendingStore<Pending> {
        &self.pending
    }

    pub async fn method(&self, id: &str) -> Result<Option<MethodConfig>> {
        if id.is_empty() {
            return Ok(None);
        }
        self.view.get_json(&method_key(id)).await
    }

    pub async fn methods(&self) -> Result<Vec<MethodConfig>> {
        let mut out = Vec::new();
        for id in self.view.list("method/").await? {
            if let Some(m) = self.method(&id).await? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Every enforcement (from memory after the first read).
    pub async fn enforcements(&self) -> Result<std::sync::Arc<Vec<Enforcement>>> {
        if let Some(all) = self.enforcements.read().clone() {
            return Ok(all);
        }
        let all = std::sync::Arc::new(self.load_enforcements().await?);
        *self.enforcements.write() = Some(all.clone());
        Ok(all)
    }

    async fn load_enforcements(&self) -> Result<Vec<Enforcement>> {
        let mut out = Vec::new();
        for name in self.view.list("enforcement/").await? {
            if let Some(e) = self.view.get_json::<Enforcement>(&enforcement_key(&name)).await? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// The enforcements a login falls under (see [`Enforcement::applicable`]).
    pub async fn applicable(&self, accessor: &str, mount_type: &str, entity_id: &str, group_ids: &[String]) -> Result<Vec<Enforcement>> {
        Ok(self.enforcements().await?.iter().filter(|e| e.applicable(accessor, mount_type, entity_id, group_ids)).cloned().collect())
    }

    /// `mfa_constraints` of a two-phase answer: `{enforcement: {"any": [method...]}}`.
    pub async fn constraints(&self, enforcements: &[Enforcement]) -> Result<Value> {
        let mut out = Map::new();
        for e in enforcements {
            let mut any = Vec::new();
            for id in &e.mfa_method_ids {
                if let Some(m) = self.method(id).await? {
                    any.push(m.constraint_json());
                }
            }
            out.insert(e.name.clone(), json!({"any": any}));
        }
        Ok(Value::Object(out))
    }

    /// Check `payload` against every enforcement (each must be met by one of
    /// its methods). The error is Vault's 403 naming the first enforcement
    /// not met and why.
    pub async fn validate(&self, entity_id: &str, enforcements: &[Enforcement], payload: &Payload) -> Result<()> {
        // A method met once in this validation meets it for every enforcement
        // that lists it (its code is used up by the first check).
        let mut satisfied: Vec<String> = Vec::new();
        for e in enforcements {
            let mut causes = Vec::new();
            let mut met = e.mfa_method_ids.iter().any(|id| satisfied.contains(id));
            for id in &e.mfa_method_ids {
                if met {
                    break;
                }
                let Some(m) = self.method(id).await? else { continue };
                match self.check_method(&m, entity_id, payload).await? {
                    Ok(()) => {
                        met = true;
                        satisfied.push(id.clone());
                    }
                    Err(cause) => causes.push(cause),
                }
            }
            if !met {
                causes.push(format!("login MFA validation failed for methodID: [{}]", e.mfa_method_ids.join(" ")));
                let n = causes.len();
                let head = if n == 1 { "1 error occurred:".to_string() } else { format!("{n} errors occurred:") };
                let list: String = causes.iter().map(|c| format!("\n\t* {c}")).collect();
                return Err(Error::Coded(403, format!("failed to satisfy enforcement {}. error: {head}{list}\n\n", e.name)));
            }
        }
        Ok(())
    }

    /// One method's verdict: `Ok(Ok(()))` met, `Ok(Err(cause))` not met.
    async fn check_method(&self, m: &MethodConfig, entity_id: &str, payload: &Payload) -> Result<std::result::Result<(), String>> {
        let Some(secret) = self.secret(&m.id, entity_id).await? else {
            return Ok(Err(format!("MFA secret for method name {:?} not present in entity {:?}", m.name, entity_id)));
        };
        let codes = payload.get(&m.id).or_else(|| if m.name.is_empty() { None } else { payload.get(&m.name) });
        let Some(code) = codes.and_then(|c| c.first()) else {
            return Ok(Err("MFA credentials not supplied or incorrect".into()));
        };
        let p = secret.params;
        let window = Duration::from_secs(p.period.saturating_mul(2 + p.skew));
        let t = now_unix();
        match self.guard.attempt(&m.id, entity_id, m.max_validation_attempts, window, Instant::now(), || totp::verify(&secret.key, code, t, &p)) {
            Ok(()) => Ok(Ok(())),
            Err(guard::Refusal::Incorrect) => Ok(Err("MFA credentials not supplied or incorrect".into())),
            Err(guard::Refusal::Limited { attempt, max, retry_in }) => Ok(Err(format!(
                "maximum TOTP validation attempts {attempt} exceeded the allowed attempts {max}. Please try again in {}s seconds",
                retry_in.as_secs().max(1)
            ))),
        }
    }

    async fn secret(&self, method_id: &str, entity_id: &str) -> Result<Option<TotpSecret>> {
        if entity_id.is_empty() {
            return Ok(None);
        }
        match self.view.get(&secret_key(method_id, entity_id)).await? {
            None => Ok(None),
            Some(bytes) => TotpSecret::decode(&bytes).map(Some),
        }
    }

    /// Two-phase login, first half: park `pending` and answer Vault's
    /// requirement (200, no token, `auth.mfa_requirement` with the request
    /// id and the constraints, the warning).
    pub async fn park(&self, pending: Pending) -> Result<Response> {
        let constraints = self.constraints(&pending.enforcements).await?;
        let id = self.pending.insert(pending, Instant::now())?;
        let auth = crate::logical::Auth {
            token_type: "default".into(),
            mfa_requirement: Some(json!({"mfa_request_id": id, "mfa_constraints": constraints})),
            ..Default::default()
        };
        Ok(Response { auth: Some(auth), warnings: vec![TWO_PHASE_WARNING.into()], ..Default::default() })
    }

    /// Two-phase login, second half (`sys/mfa/validate`): claim the pending
    /// login `request_id` (so no concurrent validation can also have it),
    /// check `payload`, and hand the login back for its token. A failed
    /// check puts the login back for another try (as Vault: the request id
    /// stays valid until it expires or succeeds); a success consumes it.
    pub async fn complete(&self, request_id: &str, payload: &Payload) -> Result<Pending> {
        if request_id.is_empty() {
            return Err(Error::invalid("missing request ID"));
        }
        let claimed = self.pending.claim(request_id, Instant::now()).ok_or_else(|| Error::invalid("invalid request ID"))?;
        let p = &claimed.value;
        match self.validate(&p.entity_id, &p.enforcements, payload).await {
            Ok(()) => Ok(claimed.value),
            Err(e) => {
                self.pending.restore(request_id, claimed, Instant::now());
                Err(e)
            }
        }
    }

    /// Single-phase login: the `X-Vault-MFA` header values must meet every
    /// enforcement; any failure is a plain 403, as in Vault.
    pub async fn check_headers<'a>(&self, entity_id: &str, enforcements: &[Enforcement], headers: impl IntoIterator<Item = &'a str>) -> Result<()> {
        match self.validate(entity_id, enforcements, &parse_headers(headers)).await {
            Ok(()) => Ok(()),
            Err(Error::Coded(403, _)) => Err(Error::Coded(403, "permission denied".into())),
            Err(e) => Err(e),
        }
    }

    /// Serve one `identity/mfa/*` request.
    pub async fn serve(&self, h: H, route: &Route<'_>, req: &Request, dir: &dyn Directory) -> Result<Option<Response>> {
        match h {
            H::TotpList | H::MethodList => methods::list_response(self.methods().await?),
            H::TotpRead | H::MethodRead => match self.method(route.param("method_id")).await? {
                Some(m) => Ok(Some(Response::json(m.to_json()))),
                None => Err(Error::NotFound),
            },
            H::TotpCreate => self.write_method(None, &req.data).await,
            H::TotpUpdate => self.write_method(Some(route.param("method_id")), &req.data).await,
            H::TotpDelete => self.delete_method(route.param("method_id")).await,
            H::Generate => {
                let entity = req.caller.as_ref().map(|c| c.entity_id.clone()).unwrap_or_default();
                self.generate(&req.data, &entity, dir).await
            }
            H::AdminGenerate => {
                let entity = fields::get_str(&req.data, "entity_id")?.unwrap_or_default();
                self.generate(&req.data, &entity, dir).await
            }
            H::AdminDestroy => self.admin_destroy(&req.data).await,
            H::EnforcementList => {
                let all = self.enforcements().await?;
                if all.is_empty() {
                    return Err(Error::NotFound);
                }
                let mut info = Map::new();
                let keys: Vec<Value> = all.iter().map(|e| Value::from(e.name.clone())).collect();
                for e in all.iter() {
                    info.insert(e.name.clone(), e.to_json());
                }
                Ok(Some(Response::json(json!({"key_info": info, "keys": keys}))))
            }
            H::EnforcementRead => match self.view.get_json::<Enforcement>(&enforcement_key(route.param("name"))).await? {
                Some(e) => Ok(Some(Response::json(e.to_json()))),
                None => Err(Error::NotFound),
            },
            H::EnforcementWrite => self.write_enforcement(route.param("name"), &req.data, dir).await,
            H::EnforcementDelete => {
                let _w = self.writes.lock().await;
                *self.enforcements.write() = None;
                self.view.delete(&enforcement_key(route.param("name"))).await?;
                *self.enforcements.write() = None;
                Ok(None)
            }
        }
    }

    async fn write_method(&self, id: Option<&str>, data: &Data) -> Result<Option<Response>> {
        let _w = self.writes.lock().await;
        let name = fields::get_str(data, "method_name")?.unwrap_or_default();
        let named = if name.is_empty() { None } else { self.methods().await?.into_iter().find(|m| m.name == name) };
        let (id, created) = match id {
            Some(id) => {
                // As OpenBao: a write to an unknown id changes nothing (204).
                if self.method(id).await?.is_none() {
                    return Ok(None);
                }
                if named.as_ref().is_some_and(|m| m.id != id) {
                    return Err(Error::invalid(format!("a method with name {name:?} already exists")));
                }
                (id.to_string(), false)
            }
            // A create naming an existing method updates it (and returns its id), as OpenBao.
            None => (named.map(|m| m.id).unwrap_or_else(|| uuid::Uuid::new_v4().to_string()), true),
        };
        let config = MethodConfig::from_request(id.clone(), data)?;
        self.view.put_json(&method_key(&id), &config).await?;
        Ok(created.then(|| Response::json(json!({"method_id": id}))))
    }

    async fn delete_method(&self, id: &str) -> Result<Option<Response>> {
        let _w = self.writes.lock().await;
        if let Some(e) = self.enforcements().await?.iter().find(|e| e.mfa_method_ids.iter().any(|m| m == id)) {
            return Err(Error::invalid(format!("methodID is still used by an enforcement configuration with ID: {}", e.id)));
        }
        self.view.delete(&method_key(id)).await?;
        self.view.sub(&methods::secret_prefix(id)).clear().await?;
        self.guard.forget(id, None);
        Ok(None)
    }

    async fn target(&self, data: &Data, entity: &str, dir: &dyn Directory) -> Result<MethodConfig> {
        let id = fields::get_str(data, "method_id")?.unwrap_or_default();
        if id.is_empty() {
            return Err(Error::invalid("missing method ID"));
        }
        if entity.is_empty() {
            return Err(Error::invalid("missing entityID"));
        }
        let m = self.method(&id).await?.ok_or_else(|| Error::invalid(format!("configuration for method ID {id:?} does not exist")))?;
        if !dir.entity_exists(entity).await? {
            return Err(Error::invalid("invalid entity ID"));
        }
        Ok(m)
    }

    async fn generate(&self, data: &Data, entity: &str, dir: &dyn Directory) -> Result<Option<Response>> {
        let m = self.target(data, entity, dir).await?;
        let _w = self.writes.lock().await;
        let key = secret_key(&m.id, entity);
        if self.view.get(&key).await?.is_some() {
            return Ok(Some(Response::default().with_warning(format!("Entity already has a secret for MFA method {:?}", m.name))));
        }
        let secret = TotpSecret { params: m.params(), key: totp::random_key(m.key_size as usize)? };
        let data = methods::enrolment(&m, entity, &secret)?;
        self.view.put(&key, &secret.encode()).await?;
        Ok(Some(Response::data(data)))
    }

    async fn admin_destroy(&self, data: &Data) -> Result<Option<Response>> {
        let id = fields::get_str(data, "method_id")?.unwrap_or_default();
        let entity = fields::get_str(data, "entity_id")?.unwrap_or_default();
        if id.is_empty() {
            return Err(Error::invalid("missing method ID"));
        }
        if entity.is_empty() {
            return Err(Error::invalid("missing entityID"));
        }
        let _w = self.writes.lock().await;
        self.view.delete(&secret_key(&id, &entity)).await?;
        self.guard.forget(&id, Some(&entity));
        Ok(None)
    }

    async fn write_enforcement(&self, name: &str, data: &Data, dir: &dyn Directory) -> Result<Option<Response>> {
        let _w = self.writes.lock().await;
        let key = enforcement_key(name);
        let id = match self.view.get_json::<Enforcement>(&key).await? {
            Some(old) => old.id,
            None => uuid::Uuid::new_v4().to_string(),
        };
        let e = Enforcement::from_request(name, id, data)?;
        for m in &e.mfa_method_ids {
            if self.method(m).await?.is_none() {
                return Err(Error::invalid("one of the provided method ids doesn't exist"));
            }
        }
        if !e.auth_method_accessors.iter().all(|a| dir.accessor_exists(a)) {
            return Err(Error::invalid("one of the auth method accessors provided is invalid"));
        }
        for g in &e.identity_group_ids {
            if !dir.group_exists(g).await? {
                return Err(Error::invalid("one of the provided group ids doesn't exist"));
            }
        }
        for ent in &e.identity_entity_ids {
            if !dir.entity_exists(ent).await? {
                return Err(Error::invalid("one of the provided entity ids doesn't exist"));
            }
        }
        *self.enforcements.write() = None;
        self.view.put_json(&key, &e).await?;
        *self.enforcements.write() = None;
        Ok(None)
    }
}

#[cfg(test)]
mod tests;

/// The identity store and mount table answer the handlers' existence questions.
#[async_trait]
impl Directory for crate::identity::Ctx {
    async fn entity_exists(&self, id: &str) -> Result<bool> {
        Ok(self.store.entity(id).is_some())
    }
    async fn group_exists(&self, id: &str) -> Result<bool> {
        Ok(self.store.snapshot().group(id).is_some())
    }
    fn accessor_exists(&self, accessor: &str) -> bool {
        self.mount(accessor).is_some()
    }
}
