//! coffer-config
