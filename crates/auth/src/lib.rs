//! coffer-auth: auth methods (userpass; jwt/oidc and approle come with their issues).
//! `token_fields` is Vault's `tokenutil`, shared by every method that issues tokens.

pub mod hashing;
pub mod jwt;
pub mod token_fields;
pub mod userpass;

pub use jwt::jwt_factory;
pub use userpass::userpass_factory;
