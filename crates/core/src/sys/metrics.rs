//! `sys/metrics`: the process's telemetry in Vault's two formats (the
//! answer itself is built by [`crate::metrics`]; a listener with
//! `unauthenticated_metrics_access` serves the same answer without a token).

use super::{Ctx, H as Sys};
use crate::backend::{FieldKind, FieldSpec, Path, field, path};
use crate::error::Result;
use crate::fields;
use crate::logical::{Operation::Read, Request, Response};

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    Read,
}

const F_METRICS: &[FieldSpec] = &[field(
    "format",
    FieldKind::String,
    "Empty for go-metrics' JSON (the default), or \"prometheus\" for the Prometheus text format.",
)];

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![path(
        "metrics",
        "metrics",
        &[(Read, Sys::Metrics(H::Read))],
        F_METRICS,
        "Telemetry of this server (docs/metrics.md).",
    )]
}

pub(super) async fn serve(h: H, cx: &Ctx, req: &Request) -> Result<Option<Response>> {
    match h {
        H::Read => {
            let format = fields::get_str(&req.data, "format")?.unwrap_or_default();
            Ok(Some(cx.core.metrics_response(&format).await))
        }
    }
}
