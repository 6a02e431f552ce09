//! `cubbyhole/`: private storage per token. Each token sees only the folder
//! named by its salted hash; revoking the token deletes the folder (the token
//! store calls back into the core for that). Service tokens only: a batch
//! token is never revoked, so its folder could never be cleaned up.

use crate::backend::{Backend, FieldKind, PathTable, Paths, Route, field, path};
use crate::error::{Error, Result};
use crate::logical::{Operation, Request, Response};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::LazyLock;

const FIELDS: &[crate::backend::FieldSpec] = &[field("path", FieldKind::String, "Specifies the path of the secret.")];

/// The handlers of `cubbyhole/`.
#[derive(Clone, Copy, Debug)]
enum H {
    Read,
    Write,
    Delete,
    List,
}

static TABLE: LazyLock<Paths<H>> = LazyLock::new(|| {
    use Operation::{Create, Delete, List, Read, Update};
    Paths::new(vec![
        path(
            "secret",
            "(?P<path>.*)",
            &[(Read, H::Read), (Update, H::Write), (Create, H::Write), (Delete, H::Delete), (List, H::List)],
            FIELDS,
            "Pass-through secret storage to a token-specific cubbyhole in the storage backend, allowing you to read/write arbitrary data into secret storage.",
        )
        .existence_check(),
    ])
});

pub struct CubbyholeBackend;

impl CubbyholeBackend {
    pub fn new() -> Self {
        CubbyholeBackend
    }
}

impl Default for CubbyholeBackend {
    fn default() -> Self {
        Self::new()
    }
}

fn token_view(req: &Request) -> Result<crate::view::StorageView> {
    let caller = req.caller.as_ref().ok_or_else(|| Error::invalid("client token empty"))?;
    // A batch token has no record whose revocation would clean a cubbyhole up.
    if caller.token_type == "batch" {
        return Err(Error::invalid("cubbyhole operations are only supported by 'service' type tokens"));
    }
    Ok(req.storage.sub(&format!("{}/", caller.token_hash)))
}

#[async_trait]
impl Backend for CubbyholeBackend {
    fn table(&self) -> &PathTable {
        &TABLE
    }

    async fn exists(&self, route: &Route<'_>, req: &Request) -> Result<bool> {
        let view = token_view(req)?;
        Ok(view.get(route.param("path")).await?.is_some())
    }

    async fn serve(&self, route: &Route<'_>, req: &mut Request) -> Result<Option<Response>> {
        let handler = TABLE.handler(route, req.operation)?;
        let view = token_view(req)?;
        let path = route.param("path");
        match handler {
            H::Read => {
                if path.is_empty() {
                    return Err(Error::invalid("missing path"));
                }
                match view.get_json::<Value>(path).await? {
                    Some(Value::Object(m)) => Ok(Some(Response::data(m))),
                    _ => Ok(None),
                }
            }
            H::Write => {
                if path.is_empty() {
                    return Err(Error::invalid("missing path"));
                }
                if req.data.is_empty() {
                    return Err(Error::invalid("missing data fields"));
                }
                view.put_json(path, &Value::Object(req.data.clone())).await?;
                Ok(None)
            }
            H::Delete => {
                if path.is_empty() {
                    return Err(Error::invalid("missing path"));
                }
                view.delete(path).await?;
                Ok(None)
            }
            H::List => {
                let prefix = if path.is_empty() || path.ends_with('/') { path.to_string() } else { format!("{path}/") };
                Ok(Some(Response::list(view.list(&prefix).await?)))
            }
        }
    }
}
