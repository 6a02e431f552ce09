//! coffer-config: the server config file (HCL or JSON, Vault's syntax) and
//! the duration syntax Vault uses for TTLs.

pub mod duration;
