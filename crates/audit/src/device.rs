//! One enabled audit device: the hash chain (when on) in front of its sink.
//!
//! Until the chain lands, a device passes lines straight to its sink.

use crate::sink::{Sink, SinkError};
use std::sync::Arc;

pub struct Device {
    sink: Arc<dyn Sink>,
}

impl Device {
    pub fn new(sink: Arc<dyn Sink>) -> Device {
        Device { sink }
    }

    /// Write one entry (a JSON object, no newline).
    pub async fn write(&self, entry: &[u8]) -> Result<(), SinkError> {
        self.sink.write(entry).await
    }

    pub async fn reopen(&self) -> Result<(), SinkError> {
        self.sink.reopen().await
    }

    pub async fn close(&self) {
        self.sink.close().await
    }
}
