//! coffer-engines: the secrets engines a mount can run. Each engine is a
//! folder whose `mod.rs` holds its path table (see CONVENTIONS.md).

pub mod kv;

pub use kv::{KV_TYPES, kv_factory};
