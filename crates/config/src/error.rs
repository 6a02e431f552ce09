//! Errors from loading a server config file.

/// Why a config file was refused. Every variant's `Display` starts with the
/// file name, and where a place in the file is known, the line:
/// `config.hcl:7: unknown key "tls_cert" in listener "tcp"`.
///
/// Messages never quote option values that could be secret (raft's inline
/// client keys); they quote keys, and values only of plainly non-secret
/// settings (durations, booleans, addresses, names of types).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid HCL (or JSON).
    #[error("{file}:{line}:{col}: {message}")]
    Syntax {
        file: String,
        line: usize,
        col: usize,
        message: String,
    },
    /// A key that is unknown, or a value that is wrong, at a known line.
    /// `message` begins with (or quotes) `key`.
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
    /// Something required is missing from the whole file (no storage block,
    /// no listener), so there is no line to point at.
    #[error("{file}: {message}")]
    Missing { file: String, message: String },
}

impl ConfigError {
    /// The line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Syntax { line, .. } | ConfigError::Invalid { line, .. } => Some(*line),
            ConfigError::Read { .. } | ConfigError::Missing { .. } => None,
        }
    }

    /// The config key the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}
