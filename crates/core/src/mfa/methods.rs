//! TOTP method configurations (`identity/mfa/method/totp[/:id]`) and the
//! per-entity secrets enrolled under them (`generate`, `admin-generate`,
//! `admin-destroy`).
//!
//! Storage (below the MFA view, under the barrier like all else):
//! `method/<method id>` the config (JSON), `secret/<method id>/<entity id>`
//! the entity's secret: a small binary record (see [`TotpSecret::encode`])
//! read and written only through zeroizing buffers.

use super::totp::{self, Algorithm, Params};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::Data;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

pub fn method_key(id: &str) -> String {
    format!("method/{id}")
}
pub fn secret_key(method_id: &str, entity_id: &str) -> String {
    format!("secret/{method_id}/{entity_id}")
}
pub fn secret_prefix(method_id: &str) -> String {
    format!("secret/{method_id}/")
}

/// Upper bounds Vault does not have: a QR PNG is `qr_size²` bytes before
/// compression, and a key is generated and stored per entity.
pub const MAX_QR_SIZE: i64 = 4096;
pub const MAX_KEY_SIZE: i64 = 1024;

/// A TOTP method as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MethodConfig {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub period: u64,
    pub key_size: u32,
    pub qr_size: u32,
    pub algorithm: String,
    pub digits: u32,
    pub skew: u64,
    pub max_validation_attempts: u32,
}

/// The body fields of a TOTP method write.
pub const FIELDS: &[crate::backend::FieldSpec] = {
    use crate::backend::{FieldKind::*, field};
    &[
        field("method_name", String, "The unique name of the method."),
        field("issuer", String, "The name of the key's issuing organisation.").required(),
        field("period", Duration, "Seconds a code is valid for.").default_int(30),
        field("key_size", Int, "Size in bytes of the generated key.").default_int(20),
        field("qr_size", Int, "Pixel size of the square QR code (0: none).").default_int(200),
        field("algorithm", String, "The hash algorithm.").default_str("SHA1").allowed(&["SHA1", "SHA256", "SHA512"]),
        field("digits", Int, "Digits in a code (6 or 8).").default_int(6),
        field("skew", Int, "Periods of delay accepted (0 or 1).").default_int(1),
        field("max_validation_attempts", Int, "Failed validations before an entity must wait.").default_int(5),
    ]
};

impl MethodConfig {
    /// A config from a write body; every field not given takes its default
    /// (a write replaces the whole config, as in Vault). Errors are Vault's.
    pub fn from_request(id: String, data: &Data) -> Result<MethodConfig> {
        let issuer = fields::get_str(data, "issuer")?.unwrap_or_default();
        if issuer.is_empty() {
            return Err(Error::invalid("issuer must be set"));
        }
        let period = match fields::get_duration(data, "period")? {
            None => 30,
            Some(d) if d.as_secs() == 0 => return Err(Error::invalid("period must be greater than zero")),
            Some(d) => d.as_secs(),
        };
        let key_size = fields::get_int(data, "key_size")?.unwrap_or(20);
        if key_size <= 0 {
            return Err(Error::invalid("key_size must be greater than zero"));
        }
        if key_size > MAX_KEY_SIZE {
            return Err(Error::invalid(format!("key_size must be at most {MAX_KEY_SIZE}")));
        }
        let qr_size = fields::get_int(data, "qr_size")?.unwrap_or(200);
        if !(0..=MAX_QR_SIZE).contains(&qr_size) {
            return Err(Error::invalid(format!("qr_size must be between 0 and {MAX_QR_SIZE}")));
        }
        let algorithm = fields::get_str(data, "algorithm")?.unwrap_or_else(|| "SHA1".into());
        if Algorithm::parse(&algorithm).is_none() {
            return Err(Error::invalid("unrecognized algorithm"));
        }
        let digits = fields::get_int(data, "digits")?.unwrap_or(6);
        if digits != 6 && digits != 8 {
            return Err(Error::invalid("digits can only be 6 or 8"));
        }
        let skew = fields::get_int(data, "skew")?.unwrap_or(1);
        if skew != 0 && skew != 1 {
            return Err(Error::invalid("skew must be 0 or 1"));
        }
        let attempts = fields::get_int(data, "max_validation_attempts")?.unwrap_or(5);
        let attempts = if attempts <= 0 { 5 } else { attempts.min(u32::MAX as i64) as u32 };
        Ok(MethodConfig {
            id,
            name: fields::get_str(data, "method_name")?.unwrap_or_default(),
            issuer,
            period,
            key_size: key_size as u32,
            qr_size: qr_size as u32,
            algorithm,
            digits: digits as u32,
            skew: skew as u64,
            max_validation_attempts: attempts,
        })
    }

    pub fn params(&self) -> Params {
        Params { algorithm: Algorithm::parse(&self.algorithm).unwrap_or(Algorithm::Sha1), digits: self.digits, period: self.period.max(1), skew: self.skew }
    }

    /// The read shape (`GET identity/mfa/method/totp/:id`), keys sorted as Vault's.
    pub fn to_json(&self) -> Value {
        json!({
            "algorithm": self.algorithm,
            "digits": self.digits,
            "id": self.id,
            "issuer": self.issuer,
            "key_size": self.key_size,
            "max_validation_attempts": self.max_validation_attempts,
            "name": self.name,
            "namespace_id": "root",
            "namespace_path": "",
            "period": self.period,
            "qr_size": self.qr_size,
            "skew": self.skew,
            "type": "totp",
        })
    }

    /// `{"type","id","uses_passcode","name"}` of a login's `mfa_constraints`;
    /// `name` is left out for a method without one (Go's `omitempty`, as OpenBao).
    pub fn constraint_json(&self) -> Value {
        let mut v = json!({"type": "totp", "id": self.id, "uses_passcode": true});
        if !self.name.is_empty() {
            v["name"] = json!(self.name);
        }
        v
    }
}

/// One entity's secret for one method, with the parameters it was enrolled
/// with (a later change of the method does not break an enrolled app).
pub struct TotpSecret {
    pub params: Params,
    pub key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TotpSecret([redacted])")
    }
}

impl TotpSecret {
    /// `[version 1][algorithm u8][digits u8][skew u8][period u64 BE][key]`.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(12 + self.key.len()));
        out.extend_from_slice(&[1, self.params.algorithm.code(), self.params.digits as u8, self.params.skew as u8]);
        out.extend_from_slice(&self.params.period.to_be_bytes());
        out.extend_from_slice(&self.key);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<TotpSecret> {
        let bad = || Error::internal("malformed stored TOTP secret");
        if bytes.len() < 13 || bytes[0] != 1 {
            return Err(bad());
        }
        let algorithm = Algorithm::from_code(bytes[1]).ok_or_else(bad)?;
        let period = u64::from_be_bytes(bytes[4..12].try_into().map_err(|_| bad())?);
        Ok(TotpSecret { params: Params { algorithm, digits: bytes[2] as u32, skew: bytes[3] as u64, period: period.max(1) }, key: Zeroizing::new(bytes[12..].to_vec()) })
    }
}

/// `{"key_info": {id: config}, "keys": [ids]}`, or 404 when empty, as Vault's LIST.
pub fn list_response(methods: Vec<MethodConfig>) -> Result<Option<crate::logical::Response>> {
    if methods.is_empty() {
        return Err(Error::NotFound);
    }
    let mut info = Map::new();
    let mut keys = Vec::with_capacity(methods.len());
    for m in methods {
        keys.push(Value::from(m.id.clone()));
        info.insert(m.id.clone(), m.to_json());
    }
    Ok(Some(crate::logical::Response::json(json!({"key_info": info, "keys": keys}))))
}

/// The data of a generate: `{"barcode": base64 PNG or "", "url": otpauth URL}`.
pub fn enrolment(method: &MethodConfig, entity_id: &str, secret: &TotpSecret) -> Result<Data> {
    use base64::Engine;
    let url = totp::otpauth_url(&method.issuer, entity_id, &secret.key, &secret.params);
    let barcode = if method.qr_size == 0 {
        String::new()
    } else {
        let png = super::qr::png(url.as_bytes(), method.qr_size)?;
        base64::engine::general_purpose::STANDARD.encode(png)
    };
    let mut data = Map::new();
    data.insert("barcode".into(), Value::from(barcode));
    data.insert("url".into(), Value::from(url.as_str()));
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Data {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn defaults_and_vaults_refusals() {
        let m = MethodConfig::from_request("id".into(), &body(json!({"issuer": "Coffer"}))).unwrap();
        assert_eq!((m.period, m.key_size, m.qr_size, m.algorithm.as_str(), m.digits, m.skew, m.max_validation_attempts), (30, 20, 200, "SHA1", 6, 1, 5));
        assert_eq!(m.to_json()["type"], "totp");
        let err = |v: Value| MethodConfig::from_request("id".into(), &body(v)).unwrap_err().to_string();
        assert_eq!(err(json!({})), "issuer must be set");
        assert_eq!(err(json!({"issuer": "x", "algorithm": "MD5"})), "unrecognized algorithm");
        assert_eq!(err(json!({"issuer": "x", "algorithm": "sha256"})), "unrecognized algorithm", "case matters, as in Vault");
        assert_eq!(err(json!({"issuer": "x", "digits": 7})), "digits can only be 6 or 8");
        assert_eq!(err(json!({"issuer": "x", "skew": 2})), "skew must be 0 or 1");
        assert_eq!(err(json!({"issuer": "x", "period": 0})), "period must be greater than zero");
        assert_eq!(err(json!({"issuer": "x", "key_size": 0})), "key_size must be greater than zero");
        assert!(err(json!({"issuer": "x", "qr_size": 100000})).contains("qr_size"));
        let m = MethodConfig::from_request("id".into(), &body(json!({"issuer": "x", "qr_size": 0, "period": "1m", "max_validation_attempts": 0}))).unwrap();
        assert_eq!((m.qr_size, m.period, m.max_validation_attempts), (0, 60, 5));
    }

    #[test]
    fn secrets_round_trip_and_never_print() {
        let s = TotpSecret { params: Params { algorithm: Algorithm::Sha512, digits: 8, period: 45, skew: 0 }, key: Zeroizing::new(vec![9; 20]) };
        let back = TotpSecret::decode(&s.encode()).unwrap();
        assert_eq!((back.params, back.key.as_slice()), (s.params, &[9u8; 20][..]));
        assert_eq!(format!("{s:?}"), "TotpSecret([redacted])");
        assert!(TotpSecret::decode(&[1, 1, 6]).is_err());
        assert!(TotpSecret::decode(&[2; 20]).is_err());
    }

    #[test]
    fn enrolment_gives_the_url_and_a_png_of_qr_size() {
        use base64::Engine;
        let mut m = MethodConfig::from_request("mid".into(), &body(json!({"issuer": "Coffer", "qr_size": 120}))).unwrap();
        let s = TotpSecret { params: m.params(), key: Zeroizing::new(b"12345678901234567890".to_vec()) };
        let d = enrolment(&m, "ent", &s).unwrap();
        assert_eq!(d["url"], "otpauth://totp/Coffer:ent?algorithm=SHA1&digits=6&issuer=Coffer&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let png = base64::engine::general_purpose::STANDARD.decode(d["barcode"].as_str().unwrap()).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!((u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap())), (120, 120));
        m.qr_size = 0;
        assert_eq!(enrolment(&m, "ent", &s).unwrap()["barcode"], "");
    }
}
