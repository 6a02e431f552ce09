//! coffer-auth: auth methods (userpass; jwt/oidc and approle come with their issues).
