//! `file` audit devices (not built yet).

use crate::sink::{Options, Sink, SinkError};
use std::sync::Arc;

pub async fn open(_options: &Options) -> Result<Arc<dyn Sink>, SinkError> {
    Err(SinkError::Options("audit device type \"file\" is not supported yet".into()))
}
