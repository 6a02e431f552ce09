//! Alert rules over the audit stream (not built yet).
