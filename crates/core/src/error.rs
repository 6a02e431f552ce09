//! The one error type every layer below HTTP returns. `coffer-http` maps each
//! kind to a status code and Vault's message in a single place.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 403 `permission denied` (ACL, missing or bad token).
    #[error("permission denied")]
    PermissionDenied,
    /// 403, token is unknown/expired/revoked.
    #[error("permission denied")]
    InvalidToken,
    /// 400, bad input. The message names what was wrong and never echoes secrets.
    #[error("{0}")]
    InvalidRequest(String),
    /// 404 with `{"errors":[]}`.
    #[error("not found")]
    NotFound,
    /// 404 `no handler for route "<path>". route entry not found.`
    #[error("no handler for route \"{0}\". route entry not found.")]
    NoRoute(String),
    /// 404 `unsupported path` (inside a mount, path matches no pattern).
    #[error("{0}: unsupported path")]
    UnsupportedPath(String),
    /// 405 `unsupported operation`.
    #[error("{0}: unsupported operation")]
    UnsupportedOperation(String),
    /// 409, e.g. mount conflicts.
    #[error("{0}")]
    Conflict(String),
    /// 503 `Vault is sealed`.
    #[error("Vault is sealed")]
    Sealed,
    /// 500; the message is logged, the client sees `internal error`.
    #[error("internal error: {0}")]
    Internal(String),
    /// A backend-chosen status with message (Vault's `logical.CodedError`).
    #[error("{1}")]
    Coded(u16, String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(msg: impl fmt::Display) -> Self {
        Error::InvalidRequest(msg.to_string())
    }
    pub fn internal(msg: impl fmt::Display) -> Self {
        Error::Internal(msg.to_string())
    }
}

impl From<coffer_storage::StorageError> for Error {
    fn from(e: coffer_storage::StorageError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        // Only raised while (de)serialising our own stored records, never on user input
        // (handlers parse user input through `fields`), so this is an internal error.
        Error::Internal(format!("encoding error: {e}"))
    }
}
