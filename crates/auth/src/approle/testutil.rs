//! The approle mount of the shared test harness ([`crate::testutil`]).

pub(crate) use crate::testutil::{Harness, contains};

/// A approle backend on `auth/approle/` with Vault's default mount TTLs.
pub(crate) async fn harness() -> Harness {
    Harness::with_default_ttls("approle", super::approle_factory()).await
}
