//! The `identity/mfa/*` rows driven through `serve_direct` (routing, the
//! operation check and, in debug builds, the declared-field check), over a
//! real barrier, with a fake identity store.

use super::*;
use crate::backend::{Backend, MountInfo, PathTable, Paths, direct_request, serve_direct};
use crate::barrier::{Barrier, KeyBytes};
use crate::logical::{Caller, Operation};
use coffer_storage::InmemStorage;
use std::sync::{Arc, LazyLock};

#[derive(Clone, Copy, Debug)]
enum W {
    Mfa(H),
}

static TABLE: LazyLock<Paths<W>> = LazyLock::new(|| Paths::new(crate::mfa_rows!(W::Mfa)));

struct Dir;

#[async_trait]
impl Directory for Dir {
    async fn entity_exists(&self, id: &str) -> Result<bool> {
        Ok(id.starts_with("ent"))
    }
    async fn group_exists(&self, id: &str) -> Result<bool> {
        Ok(id.starts_with("grp"))
    }
    fn accessor_exists(&self, accessor: &str) -> bool {
        accessor == "auth_userpass_1"
    }
}

struct TestBackend {
    mfa: Mfa,
}

#[async_trait]
impl Backend for TestBackend {
    fn table(&self) -> &PathTable {
        &TABLE
    }
    async fn serve(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        let W::Mfa(h) = TABLE.handler(route, req.operation)?;
        self.mfa.serve(h, route, req, &Dir).await
    }
}

struct Fx {
    b: TestBackend,
    mount: Arc<MountInfo>,
    view: StorageView,
}

async fn fx() -> Fx {
    let barrier = Arc::new(Barrier::new(Arc::new(InmemStorage::new())));
    let kek = KeyBytes::random().unwrap();
    barrier.initialize(&kek, KeyBytes::random().unwrap(), "t".into()).await.unwrap();
    barrier.unseal(&kek).await.unwrap();
    let view = StorageView::new(barrier, "sys/identity/mfa/");
    let mount = Arc::new(MountInfo {
        path: "identity/".into(),
        kind: "identity".into(),
        accessor: "identity_1".into(),
        uuid: "u".into(),
        options: Default::default(),
        default_lease_ttl: Duration::from_secs(60),
        max_lease_ttl: Duration::from_secs(60),
    });
    Fx { b: TestBackend { mfa: Mfa::new(view.clone()) }, mount, view }
}

impl Fx {
    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Option<Response>> {
        let mut req = direct_request(op, &self.mount, &self.view, path, body);
        serve_direct(&self.b, &mut req).await
    }
    async fn call_as(&self, entity: &str, path: &str, body: Value) -> Result<Option<Response>> {
        let mut req = direct_request(Operation::Update, &self.mount, &self.view, path, body);
        req.caller = Some(Arc::new(Caller {
            token_hash: "h".into(),
            accessor: "a".into(),
            policies: vec![],
            display_name: String::new(),
            num_uses: 0,
            is_root: false,
            orphan: true,
            entity_id: entity.into(),
            token_type: "service".into(),
        }));
        serve_direct(&self.b, &mut req).await
    }
    async fn data(&self, op: Operation, path: &str, body: Value) -> Value {
        Value::Object(self.call(op, path, body).await.unwrap().unwrap().data.unwrap())
    }
    async fn err(&self, op: Operation, path: &str, body: Value) -> String {
        self.call(op, path, body).await.unwrap_err().to_string()
    }
    async fn method(&self, body: Value) -> String {
        self.data(Operation::Update, "mfa/method/totp", body).await["method_id"].as_str().unwrap().to_string()
    }
    /// The current code of an entity's secret (computed as an app would).
    async fn code(&self, method: &str, entity: &str) -> String {
        let s = self.b.mfa.secret(method, entity).await.unwrap().unwrap();
        totp::totp(&s.key, now_unix(), &s.params).to_string()
    }
}

use Operation::{Delete, List, Read, Update};

#[tokio::test]
async fn totp_method_crud_in_openbaos_shapes() {
    let f = fx().await;
    assert!(matches!(f.call(List, "mfa/method/totp", Value::Null).await, Err(Error::NotFound)), "empty list is 404");
    let id = f.method(json!({"method_name": "my_totp", "issuer": "Coffer"})).await;
    let read = f.data(Read, &format!("mfa/method/totp/{id}"), Value::Null).await;
    assert_eq!(
        read,
        json!({"algorithm": "SHA1", "digits": 6, "id": id, "issuer": "Coffer", "key_size": 20, "max_validation_attempts": 5, "name": "my_totp", "namespace_id": "root", "namespace_path": "", "period": 30, "qr_size": 200, "skew": 1, "type": "totp"})
    );
    assert_eq!(f.data(Read, &format!("mfa/method/{id}"), Value::Null).await, read);
    let list = f.data(List, "mfa/method/totp", Value::Null).await;
    assert_eq!((list["keys"].clone(), list["key_info"][&id].clone()), (json!([id]), read.clone()));
    assert_eq!(f.data(List, "mfa/method", Value::Null).await, list);
    // a create naming an existing method updates it and answers its id
    assert_eq!(f.method(json!({"method_name": "my_totp", "issuer": "Other", "digits": 8})).await, id);
    let read = f.data(Read, &format!("mfa/method/totp/{id}"), Value::Null).await;
    assert_eq!((read["issuer"].clone(), read["digits"].clone()), (json!("Other"), json!(8)));
    // an update by id replaces the whole config (absent fields take defaults)
    assert!(f.call(Update, &format!("mfa/method/totp/{id}"), json!({"issuer": "Y", "method_name": "my_totp"})).await.unwrap().is_none());
    assert_eq!(f.data(Read, &format!("mfa/method/totp/{id}"), Value::Null).await["digits"], 6);
    // bad input changes nothing
    assert_eq!(f.err(Update, &format!("mfa/method/totp/{id}"), json!({"issuer": "Z", "skew": 3})).await, "skew must be 0 or 1");
    assert_eq!(f.data(Read, &format!("mfa/method/totp/{id}"), Value::Null).await["issuer"], "Y");
    let other = f.method(json!({"method_name": "b", "issuer": "x"})).await;
    assert!(f.err(Update, &format!("mfa/method/totp/{other}"), json!({"issuer": "x", "method_name": "my_totp"})).await.contains("already exists"));
    // an unknown id: a write does nothing (204), a read is 404
    let unknown = "00000000-0000-0000-0000-000000000000";
    assert!(f.call(Update, &format!("mfa/method/totp/{unknown}"), json!({"issuer": "x"})).await.unwrap().is_none());
    assert!(matches!(f.call(Read, &format!("mfa/method/totp/{unknown}"), Value::Null).await, Err(Error::NotFound)));
    // (OpenBao's row takes only UUIDs, so its 404 for a non-UUID is "unsupported path"; ours is the plain 404)
    assert!(matches!(f.call(Read, "mfa/method/totp/nope", Value::Null).await, Err(Error::NotFound)));
    assert!(f.call(Delete, &format!("mfa/method/totp/{other}"), Value::Null).await.unwrap().is_none());
    assert_eq!(f.data(List, "mfa/method", Value::Null).await["keys"], json!([id]));
}

#[tokio::test]
async fn generate_admin_generate_and_destroy() {
    let f = fx().await;
    let id = f.method(json!({"method_name": "m", "issuer": "Coffer", "qr_size": 64})).await;
    let gen_ = "mfa/method/totp/generate";
    let admin = "mfa/method/totp/admin-generate";
    assert_eq!(f.call_as("", gen_, json!({"method_id": id})).await.unwrap_err().to_string(), "missing entityID");
    assert_eq!(f.err(Update, admin, json!({"method_id": id})).await, "missing entityID");
    assert_eq!(f.err(Update, admin, json!({"entity_id": "ent1"})).await, "missing method ID");
    assert_eq!(f.err(Update, admin, json!({"method_id": "nope", "entity_id": "ent1"})).await, "configuration for method ID \"nope\" does not exist");
    assert_eq!(f.err(Update, admin, json!({"method_id": id, "entity_id": "nobody"})).await, "invalid entity ID");
    // self generate: the caller's entity
    let d = f.call_as("ent-self", gen_, json!({"method_id": id})).await.unwrap().unwrap().data.unwrap();
    let url = d["url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/Coffer:ent-self?algorithm=SHA1&digits=6&issuer=Coffer&period=30&secret="), "{url}");
    let secret = url.rsplit("secret=").next().unwrap();
    let s = f.b.mfa.secret(&id, "ent-self").await.unwrap().unwrap();
    assert_eq!(totp::base32(&s.key).as_str(), secret, "the URL carries the stored key");
    assert_eq!(s.key.len(), 20);
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD.decode(d["barcode"].as_str().unwrap()).unwrap();
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 64);
    // a second generate: a warning, no data, the secret unchanged
    let again = f.call_as("ent-self", gen_, json!({"method_id": id})).await.unwrap().unwrap();
    assert!(again.data.is_none());
    assert_eq!(again.warnings, ["Entity already has a secret for MFA method \"m\""]);
    assert_eq!(f.b.mfa.secret(&id, "ent-self").await.unwrap().unwrap().key, s.key);
    // the secret is not stored in the clear
    let raw = f.view.get(&secret_key(&id, "ent-self")).await.unwrap().unwrap();
    assert_eq!(&raw[12..], &s.key[..]);
    // admin-generate for another entity, then destroy (twice: 204 both)
    assert!(f.data(Update, admin, json!({"method_id": id, "entity_id": "ent2"})).await["url"].as_str().unwrap().contains("Coffer:ent2"));
    for _ in 0..2 {
        assert!(f.call(Update, "mfa/method/totp/admin-destroy", json!({"method_id": id, "entity_id": "ent2"})).await.unwrap().is_none());
    }
    assert!(f.b.mfa.secret(&id, "ent2").await.unwrap().is_none());
    // deleting the method deletes its secrets
    f.call(Delete, &format!("mfa/method/totp/{id}"), Value::Null).await.unwrap();
    assert!(f.b.mfa.secret(&id, "ent-self").await.unwrap().is_none());
}

#[tokio::test]
async fn login_enforcement_crud_and_refusals() {
    let f = fx().await;
    let m = f.method(json!({"method_name": "m", "issuer": "Coffer"})).await;
    let p = "mfa/login-enforcement/e1";
    assert_eq!(f.err(Update, p, json!({"mfa_method_ids": [m]})).await, "One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified");
    assert_eq!(f.err(Update, p, json!({"auth_method_accessors": ["auth_userpass_1"]})).await, "missing method ids");
    assert_eq!(f.err(Update, p, json!({"mfa_method_ids": ["nope"], "auth_method_types": ["userpass"]})).await, "one of the provided method ids doesn't exist");
    assert_eq!(f.err(Update, p, json!({"mfa_method_ids": [m], "auth_method_accessors": ["auth_x"]})).await, "one of the auth method accessors provided is invalid");
    assert_eq!(f.err(Update, p, json!({"mfa_method_ids": [m], "identity_entity_ids": ["nope"]})).await, "one of the provided entity ids doesn't exist");
    assert_eq!(f.err(Update, p, json!({"mfa_method_ids": [m], "identity_group_ids": ["nope"]})).await, "one of the provided group ids doesn't exist");
    assert!(matches!(f.call(Read, p, Value::Null).await, Err(Error::NotFound)), "refused writes stored nothing");
    assert!(matches!(f.call(List, "mfa/login-enforcement", Value::Null).await, Err(Error::NotFound)));
    assert!(f.call(Update, p, json!({"mfa_method_ids": [m], "auth_method_accessors": ["auth_userpass_1"]})).await.unwrap().is_none());
    let read = f.data(Read, p, Value::Null).await;
    let eid = read["id"].as_str().unwrap().to_string();
    assert_eq!(
        read,
        json!({"auth_method_accessors": ["auth_userpass_1"], "auth_method_types": [], "id": eid, "identity_entity_ids": [], "identity_group_ids": [], "mfa_method_ids": [m], "name": "e1", "namespace_id": "root", "namespace_path": ""})
    );
    // an update keeps the id
    f.call(Update, p, json!({"mfa_method_ids": [m], "identity_group_ids": ["grp1"], "identity_entity_ids": ["ent1"]})).await.unwrap();
    let read = f.data(Read, p, Value::Null).await;
    assert_eq!((read["id"].as_str().unwrap(), read["auth_method_accessors"].clone()), (eid.as_str(), json!([])));
    assert_eq!(f.data(List, "mfa/login-enforcement", Value::Null).await["keys"], json!(["e1"]));
    // a method in use cannot be deleted
    let e = f.err(Delete, &format!("mfa/method/totp/{m}"), Value::Null).await;
    assert_eq!(e, format!("methodID is still used by an enforcement configuration with ID: {eid}"));
    for _ in 0..2 {
        assert!(f.call(Delete, p, Value::Null).await.unwrap().is_none());
    }
    assert!(f.call(Delete, &format!("mfa/method/totp/{m}"), Value::Null).await.unwrap().is_none());
}

fn payload(k: &str, code: &str) -> Payload {
    Payload::from([(k.to_string(), vec![code.to_string()])])
}

#[tokio::test]
async fn validation_accepts_once_refuses_wrong_and_limits_failures() {
    let f = fx().await;
    let m = f.method(json!({"method_name": "my_totp", "issuer": "Coffer", "max_validation_attempts": 3})).await;
    f.call(Update, "mfa/login-enforcement/e1", json!({"mfa_method_ids": [m], "auth_method_accessors": ["auth_userpass_1"]})).await.unwrap();
    let enf = f.b.mfa.applicable("auth_userpass_1", "userpass", "ent1", &[]).await.unwrap();
    assert_eq!(enf.len(), 1);
    assert!(f.b.mfa.applicable("auth_other", "approle", "ent1", &[]).await.unwrap().is_empty());
    assert_eq!(f.b.mfa.constraints(&enf).await.unwrap(), json!({"e1": {"any": [{"type": "totp", "id": m, "uses_passcode": true, "name": "my_totp"}]}}));
    // no secret yet
    let e = f.b.mfa.validate("ent1", &enf, &payload(&m, "123456")).await.unwrap_err();
    assert!(matches!(&e, Error::Coded(403, _)));
    assert_eq!(
        e.to_string(),
        format!("failed to satisfy enforcement e1. error: 2 errors occurred:\n\t* MFA secret for method name \"my_totp\" not present in entity \"ent1\"\n\t* login MFA validation failed for methodID: [{m}]\n\n")
    );
    f.call(Update, "mfa/method/totp/admin-generate", json!({"method_id": m, "entity_id": "ent1"})).await.unwrap();
    let code = f.code(&m, "ent1").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let e = f.b.mfa.validate("ent1", &enf, &payload(&m, wrong)).await.unwrap_err().to_string();
    assert!(e.contains("MFA credentials not supplied or incorrect"), "{e}");
    assert!(f.b.mfa.validate("ent1", &enf, &Payload::new()).await.unwrap_err().to_string().contains("not supplied"));
    // by method name, as Vault accepts
    f.b.mfa.validate("ent1", &enf, &payload("my_totp", &code)).await.unwrap();
    // the same code again: refused
    let e = f.b.mfa.validate("ent1", &enf, &payload(&m, &code)).await.unwrap_err().to_string();
    assert!(e.contains("MFA credentials not supplied or incorrect"), "replay: {e}");
    // three failures (the replay and two more), then even a right code is limited
    for _ in 0..2 {
        let _ = f.b.mfa.validate("ent1", &enf, &payload(&m, wrong)).await;
    }
    let e = f.b.mfa.validate("ent1", &enf, &payload(&m, &code)).await.unwrap_err().to_string();
    assert!(e.contains("maximum TOTP validation attempts 4 exceeded the allowed attempts 3. Please try again in"), "{e}");
    // another entity is not limited
    f.call(Update, "mfa/method/totp/admin-generate", json!({"method_id": m, "entity_id": "ent2"})).await.unwrap();
    f.b.mfa.validate("ent2", &enf, &payload(&m, &f.code(&m, "ent2").await)).await.unwrap();
    // admin-destroy clears the limiter with the secret; a new enrolment validates
    f.call(Update, "mfa/method/totp/admin-destroy", json!({"method_id": m, "entity_id": "ent1"})).await.unwrap();
    f.call(Update, "mfa/method/totp/admin-generate", json!({"method_id": m, "entity_id": "ent1"})).await.unwrap();
    f.b.mfa.validate("ent1", &enf, &payload(&m, &f.code(&m, "ent1").await)).await.unwrap();
}

#[tokio::test]
async fn every_applicable_enforcement_must_be_met_any_method_of_each() {
    let f = fx().await;
    let a = f.method(json!({"method_name": "a", "issuer": "Coffer"})).await;
    let b = f.method(json!({"method_name": "b", "issuer": "Coffer", "algorithm": "SHA512", "digits": 8})).await;
    f.call(Update, "mfa/login-enforcement/either", json!({"mfa_method_ids": [a, b], "identity_entity_ids": ["ent1"]})).await.unwrap();
    f.call(Update, "mfa/login-enforcement/only-b", json!({"mfa_method_ids": [b], "identity_group_ids": ["grp1"]})).await.unwrap();
    for m in [&a, &b] {
        f.call(Update, "mfa/method/totp/admin-generate", json!({"method_id": m, "entity_id": "ent1"})).await.unwrap();
    }
    let groups = vec!["grp1".to_string()];
    let enf = f.b.mfa.applicable("x", "y", "ent1", &groups).await.unwrap();
    assert_eq!(enf.len(), 2);
    let code_a = f.code(&a, "ent1").await;
    // a meets "either" but not "only-b"
    let e = f.b.mfa.validate("ent1", &enf, &payload(&a, &code_a)).await.unwrap_err().to_string();
    assert!(e.starts_with("failed to satisfy enforcement only-b."), "{e}");
    // b meets both
    let code_b = f.code(&b, "ent1").await;
    assert_eq!(code_b.len(), 8);
    f.b.mfa.validate("ent1", &enf, &payload(&b, &code_b)).await.unwrap();
    // outside the group only "either" applies
    assert_eq!(f.b.mfa.applicable("x", "y", "ent1", &[]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_validations_of_one_code_accept_exactly_one() {
    let f = Arc::new(fx().await);
    let m = f.method(json!({"method_name": "m", "issuer": "Coffer", "max_validation_attempts": 100})).await;
    f.call(Update, "mfa/login-enforcement/e", json!({"mfa_method_ids": [m], "auth_method_types": ["userpass"]})).await.unwrap();
    f.call(Update, "mfa/method/totp/admin-generate", json!({"method_id": m, "entity_id": "ent1"})).await.unwrap();
    let enf = Arc::new(f.b.mfa.applicable("acc", "userpass", "ent1", &[]).await.unwrap());
    let code = f.code(&m, "ent1").await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (f, enf, p) = (f.clone(), enf.clone(), payload(&m, &code));
            tokio::spawn(async move { f.b.mfa.validate("ent1", &enf, &p).await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as usize;
    }
    assert_eq!(ok, 1);
}

#[test]
fn mfa_headers_and_payloads_parse_as_vaults() {
    let p = parse_headers(["my_totp:123456", "ns1/other:passcode=654321", " my_totp : 111111 ", "push", ""]);
    assert_eq!(p["my_totp"], ["123456", "111111"]);
    assert_eq!(p["other"], ["654321"]);
    assert_eq!(p["push"], [""]);
    assert_eq!(p.len(), 3);
    let v = json!({"m": ["1"], "n": "2"});
    let p = parse_payload(Some(&v)).unwrap();
    assert_eq!((p["m"].clone(), p["n"].clone()), (vec!["1".to_string()], vec!["2".to_string()]));
    assert!(parse_payload(Some(&json!({"m": [1]}))).is_err());
    assert!(parse_payload(Some(&json!("x"))).is_err());
    assert_eq!(parse_payload(None).unwrap_err().to_string(), "missing mfa payload");
}

#[test]
fn rows_route_to_their_handlers() {
    let r = |p: &str| TABLE.route(p).map(|r| r.name());
    let id = "b9a449da-d86e-91a7-8cce-be76fe70a1ac";
    assert_eq!(r("mfa/method/totp"), Some("mfa-method-totp-list"));
    assert_eq!(r("mfa/method/totp/"), Some("mfa-method-totp-list"));
    assert_eq!(r("mfa/method/totp/generate"), Some("mfa-method-totp-generate"));
    assert_eq!(r("mfa/method/totp/admin-generate"), Some("mfa-method-totp-admin-generate"));
    assert_eq!(r("mfa/method/totp/admin-destroy"), Some("mfa-method-totp-admin-destroy"));
    assert_eq!(r(&format!("mfa/method/totp/{id}")), Some("mfa-method-totp"));
    assert_eq!(r(&format!("mfa/method/{id}")), Some("mfa-method"));
    assert_eq!(r("mfa/method/"), Some("mfa-method-list"));
    assert_eq!(r("mfa/login-enforcement/"), Some("mfa-login-enforcement-list"));
    assert_eq!(r("mfa/login-enforcement/my-enf.1"), Some("mfa-login-enforcement"));
    assert_eq!(r("mfa/login-enforcement/a/b"), None);
    assert_eq!(r("mfa/method/totp/a/b"), None);
}

async fn enrolled() -> (Fx, String, Vec<Enforcement>) {
    let f = fx().await;
    let m = f.method(json!({"method_name": "my_totp", "issuer": "Coffer"})).await;
    f.call(Update, "mfa/login-enforcement/e1", json!({"mfa_method_ids": [m], "auth_method_accessors": ["auth_userpass_1"]})).await.unwrap();
    f.call(Update, "mfa/method/totp/admin-generate", json!({"method_id": m, "entity_id": "ent1"})).await.unwrap();
    let enf = f.b.mfa.applicable("auth_userpass_1", "userpass", "ent1", &[]).await.unwrap();
    (f, m, enf)
}

fn pending(enf: &[Enforcement]) -> Pending {
    Pending { login: Login { display_name: "alice".into(), ..Default::default() }, entity_id: "ent1".into(), enforcements: enf.to_vec(), login_path: "auth/userpass/login/alice".into(), mount_path: "auth/userpass/".into() }
}

#[tokio::test]
async fn two_phase_park_then_complete_once() {
    let (f, m, enf) = enrolled().await;
    let resp = f.b.mfa.park(pending(&enf)).await.unwrap();
    assert_eq!(resp.warnings, [TWO_PHASE_WARNING]);
    let auth = resp.auth.unwrap();
    assert_eq!((auth.client_token.as_str(), auth.token_type.as_str(), auth.orphan), ("", "default", false));
    let req = auth.mfa_requirement.unwrap();
    assert_eq!(req["mfa_constraints"], json!({"e1": {"any": [{"type": "totp", "id": m, "uses_passcode": true, "name": "my_totp"}]}}));
    let rid = req["mfa_request_id"].as_str().unwrap().to_string();
    assert!(resp.login.is_none() && resp.data.is_none(), "no token, no data");
    assert_eq!(f.b.mfa.complete("", &Payload::new()).await.unwrap_err().to_string(), "missing request ID");
    assert_eq!(f.b.mfa.complete("nope", &Payload::new()).await.unwrap_err().to_string(), "invalid request ID");
    // a wrong code: 403, and the request id stays usable
    let code = f.code(&m, "ent1").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(matches!(f.b.mfa.complete(&rid, &payload(&m, wrong)).await, Err(Error::Coded(403, _))));
    let p = f.b.mfa.complete(&rid, &payload(&m, &code)).await.unwrap();
    assert_eq!((p.login.display_name.as_str(), p.mount_path.as_str()), ("alice", "auth/userpass/"));
    // used up
    assert_eq!(f.b.mfa.complete(&rid, &payload(&m, &code)).await.unwrap_err().to_string(), "invalid request ID");
    assert!(f.b.mfa.pending().is_empty());
}

#[tokio::test]
async fn concurrent_completes_of_one_request_give_one_login() {
    let (f, m, enf) = enrolled().await;
    let f = Arc::new(f);
    let resp = f.b.mfa.park(pending(&enf)).await.unwrap();
    let rid = resp.auth.unwrap().mfa_requirement.unwrap()["mfa_request_id"].as_str().unwrap().to_string();
    let code = f.code(&m, "ent1").await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (f, rid, p) = (f.clone(), rid.clone(), payload(&m, &code));
            tokio::spawn(async move { f.b.mfa.complete(&rid, &p).await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as usize;
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn single_phase_headers_meet_the_enforcement_or_403() {
    let (f, m, enf) = enrolled().await;
    let code = f.code(&m, "ent1").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(matches!(f.b.mfa.check_headers("ent1", &enf, [format!("my_totp:{wrong}").as_str()]).await, Err(Error::Coded(403, m)) if m == "permission denied"));
    assert!(matches!(f.b.mfa.check_headers("ent1", &enf, ["garbage"]).await, Err(Error::Coded(403, m)) if m == "permission denied"));
    f.b.mfa.check_headers("ent1", &enf, [format!("{m}:{code}").as_str()]).await.unwrap();
    assert!(matches!(f.b.mfa.check_headers("ent1", &enf, [format!("my_totp:{code}").as_str()]).await, Err(Error::Coded(403, m)) if m == "permission denied"), "replayed");
}
