//! Before a large request body is read and parsed: would the pipeline refuse
//! this request anyway? (`Core::admit_body`, used by the HTTP layer once a
//! body grows past a small threshold, so an unauthenticated client cannot make
//! the server buffer and parse 32 MiB only to answer 403.)
//!
//! Kept apart from `core.rs` on purpose: it mirrors the first steps of
//! `Core::handle` (seal, trailing `/`, mount, path table, operation, token)
//! without touching the request, a backend, storage writes or use counts.

use crate::backend::SpecialPaths;
use crate::core::Core;
use crate::{Error, Operation, Result};
use std::net::SocketAddr;

/// The endpoints `Core::handle` answers while sealed, without a token
/// (the same list as its `SEAL_EXEMPT`).
const SEAL_EXEMPT: &[&str] = &["sys/init", "sys/seal-status", "sys/unseal", "sys/health", "sys/leader"];

impl Core {
    /// `Ok` when `Core::handle` would get as far as the backend with this
    /// operation, path and token; otherwise the same error it would return
    /// (503 sealed, 404 no route / unsupported path, 405, 403).
    pub async fn admit_body(&self, op: Operation, path: &str, token: Option<&str>, remote: Option<SocketAddr>) -> Result<()> {
        if SEAL_EXEMPT.contains(&path) {
            return Ok(());
        }
        let active = self.active()?;
        if matches!(op, Operation::Update | Operation::Create) && path.ends_with('/') {
            return Err(Error::invalid("cannot write to a path ending in '/'"));
        }
        let route_entry = {
            let router = active.router.load();
            router.lookup(path).ok_or_else(|| Error::NoRoute(path.to_string()))?.clone()
        };
        let rel_path = path.get(route_entry.prefix.len()..).unwrap_or("");
        let table = route_entry.backend.table();
        let unauthenticated = SpecialPaths::matches(&route_entry.special.unauthenticated, rel_path);
        if op != Operation::Help {
            let route = table.route(rel_path).ok_or_else(|| Error::UnsupportedPath(rel_path.to_string()))?;
            let wanted = if op == Operation::Create { Operation::Update } else { op };
            if !route.spec.operations.contains(&wanted) && !route.spec.operations.contains(&op) {
                return Err(Error::UnsupportedOperation(rel_path.to_string()));
            }
            if unauthenticated {
                return Ok(());
            }
        }
        let Some(token) = token else {
            return Err(if op == Operation::Help { Error::InvalidToken } else { Error::Coded(403, "permission denied".into()) });
        };
        match active.tokens.lookup(token).await? {
            Some(e) if e.usable_from(remote.map(|a| a.ip())) => Ok(()),
            Some(_) => Err(Error::Coded(403, "permission denied".into())),
            None => Err(Error::InvalidToken),
        }
    }
}
