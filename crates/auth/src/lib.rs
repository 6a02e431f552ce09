//! coffer-auth: auth methods (userpass; jwt/oidc and approle come with their issues).

pub mod hashing;
pub mod userpass;

pub use userpass::userpass_factory;
