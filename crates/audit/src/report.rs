//! `coffer audit report` (not built yet).
