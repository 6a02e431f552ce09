//! Password hashing: argon2id (19 MiB, 2 passes, 1 lane) with a random salt,
//! stored as a PHC string (`$argon2id$v=19$m=...`), through the shared bounded
//! pool in `crate::hashing` (one hash per CPU at a time, reused memory, 503
//! beyond the queue). The CPU-heavy work never runs on the async workers.
//!
//! Plaintext passwords travel only inside [`Password`], which zeroes its
//! memory on drop and never prints itself.

use crate::hashing::Verdict;
use coffer_core::{Data, Error, Result};
use serde_json::Value;
use zeroize::Zeroizing;

/// A plaintext password from a request.
pub(crate) struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    #[cfg(test)]
    pub(crate) fn new(s: &str) -> Password {
        Password(Zeroizing::new(s.to_string()))
    }

    /// Move `password` out of the request data (so the only copy is the
    /// zeroizing one). An absent, null or empty value is `None`, as in Vault.
    pub(crate) fn take(data: &mut Data) -> Result<Option<Password>> {
        let s = match data.remove("password") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => Zeroizing::new(s),
            Some(Value::Number(n)) => Zeroizing::new(n.to_string()),
            Some(_) => return Err(Error::invalid("password: expected a string")),
        };
        if s.is_empty() { Ok(None) } else { Ok(Some(Password(s))) }
    }
}

/// Hash a password for storage (argon2id on the shared bounded pool:
/// `crate::hashing`).
pub(crate) async fn hash(pw: Password) -> Result<String> {
    crate::hashing::hash(Zeroizing::new(pw.0.as_bytes().to_vec())).await
}

/// Check a password against a stored PHC string; with `None` (no such user)
/// the check runs against a dummy hash and fails, so both cases cost the same.
pub(crate) async fn verify(pw: Password, stored: Option<String>) -> Result<bool> {
    match crate::hashing::verify(Zeroizing::new(pw.0.as_bytes().to_vec()), stored).await? {
        Verdict::Match => Ok(true),
        Verdict::Mismatch => Ok(false),
        Verdict::Unusable(e) => Err(Error::internal(format!("userpass: stored password hash is unusable: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn hash_and_verify() {
        let phc = hash(Password::new("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify(Password::new("correct horse"), Some(phc.clone())).await.unwrap());
        assert!(!verify(Password::new("correct hors"), Some(phc.clone())).await.unwrap());
        // Salted: the same password hashes differently each time.
        assert_ne!(phc, hash(Password::new("correct horse")).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        assert!(!verify(Password::new("anything"), None).await.unwrap());
    }

    #[tokio::test]
    async fn corrupt_stored_hash_is_an_internal_error_without_the_password() {
        let e = verify(Password::new("pw-123"), Some("not a phc".into())).await.unwrap_err();
        assert!(matches!(e, Error::Internal(_)));
        assert!(!e.to_string().contains("pw-123"));
    }

    #[test]
    fn take_moves_the_password_out() {
        let mut d = json!({"password": "s3cret", "x": 1}).as_object().unwrap().clone();
        let pw = Password::take(&mut d).unwrap().unwrap();
        assert!(!d.contains_key("password"));
        assert_eq!(format!("{pw:?}"), "Password([redacted])");
        let mut d = json!({"password": ""}).as_object().unwrap().clone();
        assert!(Password::take(&mut d).unwrap().is_none());
        let mut d = json!({"password": ["s3cret"]}).as_object().unwrap().clone();
        let e = Password::take(&mut d).unwrap_err().to_string();
        assert_eq!(e, "password: expected a string");
    }
}
