//! coffer-auth: auth methods (userpass, approle; jwt/oidc comes with its issue).
//! `token_fields` is Vault's `tokenutil`, shared by every method that issues tokens.

pub mod approle;
pub mod hashing;
pub mod jwt;
pub mod token_fields;

#[cfg(test)]
mod testutil;
pub mod userpass;

pub use approle::approle_factory;
pub use jwt::jwt_factory;
pub use userpass::userpass_factory;
