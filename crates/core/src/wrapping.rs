//! Response wrapping records: what is kept in a wrapping token's cubbyhole.

use crate::logical::{Auth, Data, LeaseInfo, Response};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone)]
pub struct WrappedRecord {
    pub data: Option<Data>,
    pub auth: Option<Auth>,
    pub secret: Option<LeaseInfo>,
    pub warnings: Vec<String>,
    pub creation_path: String,
    pub creation_time: String,
    pub creation_ttl: u64,
}

/// The wrapped response is a secret: only its metadata is printed.
impl std::fmt::Debug for WrappedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedRecord")
            .field("creation_path", &self.creation_path)
            .field("creation_time", &self.creation_time)
            .field("creation_ttl", &self.creation_ttl)
            .finish_non_exhaustive()
    }
}

impl WrappedRecord {
    pub fn from_response(r: &Response, creation_path: &str, creation_time: &str, ttl: u64) -> WrappedRecord {
        WrappedRecord {
            data: r.data.clone(),
            auth: r.auth.clone(),
            secret: r.secret.clone(),
            warnings: r.warnings.clone(),
            creation_path: creation_path.to_string(),
            creation_time: creation_time.to_string(),
            creation_ttl: ttl,
        }
    }

    /// The original response, as `sys/wrapping/unwrap` returns it.
    pub fn into_response(self) -> Response {
        Response { data: self.data, auth: self.auth, secret: self.secret, warnings: self.warnings, ..Default::default() }
    }
}
