//! coffer-policy
