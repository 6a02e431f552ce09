//! coffer-http
