//! The userpass mount of the shared test harness ([`crate::testutil`]).

pub(crate) use crate::testutil::{Harness, contains};

/// A userpass backend on `auth/userpass/` with Vault's default mount TTLs.
pub(crate) async fn harness() -> Harness {
    Harness::with_default_ttls("userpass", super::userpass_factory()).await
}
