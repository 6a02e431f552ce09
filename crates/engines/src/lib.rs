//! coffer-engines
