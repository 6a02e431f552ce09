//! coffer-bench: a load generator for Vault-compatible HTTP APIs.
//!
//! The binary only parses flags; everything lives here so tests can drive it in-process.
//! This is a tool crate, so it uses `anyhow` throughout rather than typed errors.

pub mod args;
pub mod client;
pub mod config;
pub mod duration;
pub mod jwt;
pub mod load;
pub mod logins;
pub mod report;
pub mod runner;
pub mod setup;
pub mod trivial;
pub mod wire;
pub mod workload;
