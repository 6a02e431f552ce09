//! Workload kinds, the weighted-mix parser, and the prebuilt requests each kind sends.

use std::fmt;

use bytes::Bytes;
use hyper::Method;

/// One kind of request the load generator can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    Kv2Read,
    Kv2Write,
    Kv1Read,
    Kv1Write,
    TokenCreate,
    BatchTokenCreate,
    TokenLookup,
    UserpassLogin,
    ApproleLogin,
    JwtLogin,
    Kv2ReadTemplated,
    Kv2ReadEntityPlain,
    TrivialGet,
}

impl Workload {
    pub const ALL: [Workload; 13] = [
        Workload::Kv2Read,
        Workload::Kv2Write,
        Workload::Kv1Read,
        Workload::Kv1Write,
        Workload::TokenCreate,
        Workload::BatchTokenCreate,
        Workload::TokenLookup,
        Workload::UserpassLogin,
        Workload::ApproleLogin,
        Workload::JwtLogin,
        Workload::Kv2ReadTemplated,
        Workload::Kv2ReadEntityPlain,
        Workload::TrivialGet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Kv2Read => "kv2-read",
            Workload::Kv2Write => "kv2-write",
            Workload::Kv1Read => "kv1-read",
            Workload::Kv1Write => "kv1-write",
            Workload::TokenCreate => "token-create",
            Workload::BatchTokenCreate => "batch-token-create",
            Workload::TokenLookup => "token-lookup",
            Workload::UserpassLogin => "userpass-login",
            Workload::ApproleLogin => "approle-login",
            Workload::JwtLogin => "jwt-login",
            Workload::Kv2ReadTemplated => "kv2-read-templated",
            Workload::Kv2ReadEntityPlain => "kv2-read-entity-plain",
            Workload::TrivialGet => "trivial-get",
        }
    }

    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    pub fn uses_kv2(self) -> bool {
        matches!(self, Workload::Kv2Read | Workload::Kv2Write) || self.uses_entity_token()
    }

    /// Reads sent with a userpass login token (so the token has an identity entity),
    /// under a path of that entity's own: `<kv2>/data/bench/<entity id>/key-*`.
    pub fn uses_entity_token(self) -> bool {
        matches!(self, Workload::Kv2ReadTemplated | Workload::Kv2ReadEntityPlain)
    }

    pub fn uses_kv1(self) -> bool {
        matches!(self, Workload::Kv1Read | Workload::Kv1Write)
    }

    /// Reads need the keys to exist before the load starts.
    pub fn needs_seed(self) -> bool {
        matches!(self, Workload::Kv2Read | Workload::Kv1Read) || self.uses_entity_token()
    }

    /// Whether a response status counts as success. Every workload here expects a 2xx
    /// (kv-v1 writes answer 204, everything else 200); anything else is counted as an error.
    pub fn expects(self, status: u16) -> bool {
        (200..300).contains(&status)
    }

    /// ACL path and capabilities the load token needs for this workload on `mount`;
    /// `entity_id` is the load token's entity (the entity workloads' paths).
    pub fn policy_rule(self, mount: &str, entity_id: &str) -> Option<(String, &'static [&'static str])> {
        match self {
            Workload::Kv2Read => Some((format!("{mount}/data/{KEY_PREFIX}*"), &["read"])),
            Workload::Kv2Write => Some((format!("{mount}/data/{KEY_PREFIX}*"), &["create", "update"])),
            Workload::Kv1Read => Some((format!("{mount}/{KEY_PREFIX}*"), &["read"])),
            Workload::Kv1Write => Some((format!("{mount}/{KEY_PREFIX}*"), &["create", "update"])),
            Workload::TokenCreate | Workload::BatchTokenCreate => {
                Some(("auth/token/create".to_string(), &["create", "update"]))
            }
            Workload::TokenLookup => Some(("auth/token/lookup".to_string(), &["update"])),
            // The templated rule, rendered per token from its entity...
            Workload::Kv2ReadTemplated => Some((format!("{mount}/data/{ENTITY_PREFIX}/{{{{identity.entity.id}}}}/*"), &["read"])),
            // ... and the same path written out for the one entity: the baseline.
            Workload::Kv2ReadEntityPlain => Some((format!("{mount}/data/{ENTITY_PREFIX}/{entity_id}/*"), &["read"])),
            // Logins are unauthenticated: no rule needed.
            Workload::UserpassLogin | Workload::ApproleLogin | Workload::JwtLogin | Workload::TrivialGet => None,
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The userpass mount, user and password the `userpass-login` workload sets up.
pub const USERPASS_MOUNT: &str = "bench-userpass";
pub const USERPASS_USER: &str = "bench";
pub const USERPASS_PASSWORD: &str = "coffer-bench-password";

/// The approle role, and the jwt role, issuer, audience and subject the login workloads
/// set up (their mounts get a random suffix: `bench-approle-1f2e3d4c`).
pub const APPROLE_ROLE: &str = "bench";
pub const JWT_ROLE: &str = "bench";
pub const JWT_ISSUER: &str = "https://coffer-bench.invalid";
pub const JWT_AUDIENCE: &str = "coffer-bench";
pub const JWT_SUBJECT: &str = "coffer-bench";
/// The user whose login token (and entity) the entity workloads read with.
pub const ENTITY_USER: &str = "bench-entity";
/// Entity workloads read `<kv2>/data/bench/<entity id>/key-*`.
pub const ENTITY_PREFIX: &str = "bench";

/// Seeded keys are `key-0` … `key-{n-1}`.
pub const KEY_PREFIX: &str = "key-";

pub fn key_name(i: usize) -> String {
    format!("{KEY_PREFIX}{i}")
}

/// A weighted mix: `kv2-read=80,kv2-write=20`, or a single workload name (weight 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    pub parts: Vec<(Workload, u32)>,
}

impl Mix {
    pub fn workloads(&self) -> impl Iterator<Item = Workload> + '_ {
        self.parts.iter().map(|(w, _)| *w)
    }

    pub fn contains(&self, w: Workload) -> bool {
        self.workloads().any(|x| x == w)
    }

    pub fn total_weight(&self) -> u32 {
        self.parts.iter().map(|(_, weight)| weight).sum()
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [(w, _)] = self.parts.as_slice() {
            return f.write_str(w.name());
        }
        let parts: Vec<String> = self.parts.iter().map(|(w, n)| format!("{w}={n}")).collect();
        f.write_str(&parts.join(","))
    }
}

/// Parse `-workload`: one name, or comma-separated `name=weight` pairs.
pub fn parse_mix(input: &str) -> Result<Mix, String> {
    let names = || Workload::ALL.iter().map(|w| w.name()).collect::<Vec<_>>().join(", ");
    let mut parts: Vec<(Workload, u32)> = Vec::new();
    for raw in input.split(',') {
        let item = raw.trim();
        if item.is_empty() {
            return Err(format!("workload: empty entry in {input:?}"));
        }
        let (name, weight) = match item.split_once('=') {
            Some((name, weight)) => {
                let weight = weight.trim();
                let weight: u32 = weight
                    .parse()
                    .map_err(|_| format!("workload: weight {weight:?} for {:?} is not a whole number", name.trim()))?;
                (name.trim(), weight)
            }
            None => (item, 1),
        };
        let workload = Workload::from_name(name)
            .ok_or_else(|| format!("workload: unknown workload {name:?} (known: {})", names()))?;
        if parts.iter().any(|(w, _)| *w == workload) {
            return Err(format!("workload: {name:?} listed twice"));
        }
        parts.push((workload, weight));
    }
    parts.retain(|(_, weight)| *weight > 0);
    if parts.is_empty() {
        return Err(format!("workload: all weights are zero in {input:?}"));
    }
    if parts.iter().map(|(_, w)| u64::from(*w)).sum::<u64>() > u64::from(u32::MAX) {
        return Err("workload: weights too large".to_string());
    }
    Ok(Mix { parts })
}

/// One prebuilt request: everything but the per-connection headers.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub method: Method,
    pub uri: hyper::Uri,
    pub body: Bytes,
}

/// The requests one workload cycles through, and the weight it has in the mix.
#[derive(Clone, Debug)]
pub struct OpPlan {
    pub workload: Workload,
    pub weight: u32,
    pub requests: Vec<Prepared>,
}

/// JSON string of `n` filler bytes, used as the secret value.
pub fn filler_value(n: usize) -> String {
    "x".repeat(n)
}

pub fn kv2_body(value_size: usize) -> Bytes {
    Bytes::from(serde_json::json!({ "data": { "value": filler_value(value_size) } }).to_string())
}

pub fn kv1_body(value_size: usize) -> Bytes {
    Bytes::from(serde_json::json!({ "value": filler_value(value_size) }).to_string())
}

fn uri(path: &str) -> Result<hyper::Uri, String> {
    path.parse().map_err(|e| format!("path {path:?}: {e}"))
}

/// Everything the request builder needs to know about the target's state after setup.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    pub kv2_mount: String,
    pub kv1_mount: String,
    pub keys: usize,
    pub value_size: usize,
    /// Tokens that token-lookup looks up.
    pub lookup_tokens: Vec<String>,
    /// Path for trivial-get, with leading `/`.
    pub trivial_path: String,
    /// approle-login: mount path, role id and secret id.
    pub approle_mount: String,
    pub role_id: String,
    pub secret_id: String,
    /// jwt-login: mount path and the pre-minted token.
    pub jwt_mount: String,
    pub jwt: String,
    /// The entity of the load token (entity workloads).
    pub entity_id: String,
}

/// Build the request set for every workload in the mix.
pub fn prepare(mix: &Mix, t: &Targets) -> Result<Vec<OpPlan>, String> {
    let keys = t.keys.max(1);
    let mut out = Vec::new();
    for &(workload, weight) in &mix.parts {
        let requests: Vec<Prepared> = match workload {
            Workload::Kv2Read => (0..keys)
                .map(|i| {
                    Ok(Prepared {
                        method: Method::GET,
                        uri: uri(&format!("/v1/{}/data/{}", t.kv2_mount, key_name(i)))?,
                        body: Bytes::new(),
                    })
                })
                .collect::<Result<_, String>>()?,
            Workload::Kv2Write => {
                let body = kv2_body(t.value_size);
                (0..keys)
                    .map(|i| {
                        Ok(Prepared {
                            method: Method::POST,
                            uri: uri(&format!("/v1/{}/data/{}", t.kv2_mount, key_name(i)))?,
                            body: body.clone(),
                        })
                    })
                    .collect::<Result<_, String>>()?
            }
            Workload::Kv1Read => (0..keys)
                .map(|i| {
                    Ok(Prepared {
                        method: Method::GET,
                        uri: uri(&format!("/v1/{}/{}", t.kv1_mount, key_name(i)))?,
                        body: Bytes::new(),
                    })
                })
                .collect::<Result<_, String>>()?,
            Workload::Kv1Write => {
                let body = kv1_body(t.value_size);
                (0..keys)
                    .map(|i| {
                        Ok(Prepared {
                            method: Method::POST,
                            uri: uri(&format!("/v1/{}/{}", t.kv1_mount, key_name(i)))?,
                            body: body.clone(),
                        })
                    })
                    .collect::<Result<_, String>>()?
            }
            Workload::TokenCreate => vec![Prepared {
                method: Method::POST,
                uri: uri("/v1/auth/token/create")?,
                // Short-lived children of the load token; revoking the load token at the end
                // revokes them all.
                body: Bytes::from_static(br#"{"ttl":"10m","display_name":"coffer-bench"}"#),
            }],
            Workload::BatchTokenCreate => vec![Prepared {
                method: Method::POST,
                uri: uri("/v1/auth/token/create")?,
                // Batch children of the load token: never stored by the server, and dead
                // once the load token is revoked at the end.
                body: Bytes::from_static(br#"{"type":"batch","ttl":"10m","display_name":"coffer-bench"}"#),
            }],
            Workload::TokenLookup => {
                if t.lookup_tokens.is_empty() {
                    return Err("token-lookup: no tokens to look up".to_string());
                }
                t.lookup_tokens
                    .iter()
                    .map(|tok| {
                        Ok(Prepared {
                            method: Method::POST,
                            uri: uri("/v1/auth/token/lookup")?,
                            body: Bytes::from(serde_json::json!({ "token": tok }).to_string()),
                        })
                    })
                    .collect::<Result<_, String>>()?
            }
            Workload::UserpassLogin => vec![Prepared {
                method: Method::POST,
                uri: uri(&format!("/v1/auth/{USERPASS_MOUNT}/login/{USERPASS_USER}"))?,
                body: Bytes::from(serde_json::json!({ "password": USERPASS_PASSWORD }).to_string()),
            }],
            Workload::ApproleLogin => vec![Prepared {
                method: Method::POST,
                uri: uri(&format!("/v1/auth/{}/login", t.approle_mount))?,
                body: Bytes::from(serde_json::json!({ "role_id": t.role_id, "secret_id": t.secret_id }).to_string()),
            }],
            Workload::JwtLogin => vec![Prepared {
                method: Method::POST,
                uri: uri(&format!("/v1/auth/{}/login", t.jwt_mount))?,
                body: Bytes::from(serde_json::json!({ "role": JWT_ROLE, "jwt": t.jwt }).to_string()),
            }],
            Workload::Kv2ReadTemplated | Workload::Kv2ReadEntityPlain => {
                if t.entity_id.is_empty() {
                    return Err(format!("{workload}: the load token has no entity"));
                }
                (0..keys)
                    .map(|i| {
                        Ok(Prepared {
                            method: Method::GET,
                            uri: uri(&format!("/v1/{}/data/{ENTITY_PREFIX}/{}/{}", t.kv2_mount, t.entity_id, key_name(i)))?,
                            body: Bytes::new(),
                        })
                    })
                    .collect::<Result<_, String>>()?
            }
            Workload::TrivialGet => vec![Prepared {
                method: Method::GET,
                uri: uri(&t.trivial_path)?,
                body: Bytes::new(),
            }],
        };
        out.push(OpPlan { workload, weight, requests });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_name() {
        let mix = parse_mix("kv2-read").unwrap();
        assert_eq!(mix.parts, vec![(Workload::Kv2Read, 1)]);
        assert_eq!(mix.to_string(), "kv2-read");
    }

    #[test]
    fn weighted_mix() {
        let mix = parse_mix("kv2-read=80, kv2-write=20").unwrap();
        assert_eq!(mix.parts, vec![(Workload::Kv2Read, 80), (Workload::Kv2Write, 20)]);
        assert_eq!(mix.total_weight(), 100);
        assert_eq!(mix.to_string(), "kv2-read=80,kv2-write=20");
    }

    #[test]
    fn mixed_bare_and_weighted_and_zero() {
        let mix = parse_mix("token-create,token-lookup=3,kv1-read=0").unwrap();
        assert_eq!(mix.parts, vec![(Workload::TokenCreate, 1), (Workload::TokenLookup, 3)]);
    }

    #[test]
    fn every_name_round_trips() {
        for w in Workload::ALL {
            assert_eq!(parse_mix(w.name()).unwrap().parts, vec![(w, 1)]);
        }
    }

    #[test]
    fn rejects_bad_mixes() {
        let cases = [
            ("kv3-read", "unknown workload \"kv3-read\""),
            ("kv2-read=abc", "weight \"abc\" for \"kv2-read\" is not a whole number"),
            ("kv2-read=-1", "not a whole number"),
            ("kv2-read=1,kv2-read=2", "listed twice"),
            ("kv2-read=0", "all weights are zero"),
            ("kv2-read,,kv2-write", "empty entry"),
            ("", "empty entry"),
        ];
        for (input, want) in cases {
            let err = parse_mix(input).unwrap_err();
            assert!(err.contains(want), "{input:?}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn prepared_paths() {
        let mix = parse_mix("kv2-read=1,kv1-write=1").unwrap();
        let t = Targets {
            kv2_mount: "bench-kv2".into(),
            kv1_mount: "bench-kv1".into(),
            keys: 3,
            value_size: 4,
            ..Default::default()
        };
        let plans = prepare(&mix, &t).unwrap();
        assert_eq!(plans[0].requests.len(), 3);
        assert_eq!(plans[0].requests[2].uri.path(), "/v1/bench-kv2/data/key-2");
        assert_eq!(plans[1].requests[0].uri.path(), "/v1/bench-kv1/key-0");
        assert_eq!(&plans[1].requests[0].body[..], br#"{"value":"xxxx"}"#);
    }

    #[test]
    fn login_and_entity_requests() {
        let mix = parse_mix("approle-login,jwt-login,kv2-read-templated").unwrap();
        let mut t = Targets {
            kv2_mount: "bench-kv2".into(),
            keys: 2,
            approle_mount: "bench-approle-1".into(),
            role_id: "r".into(),
            secret_id: "s".into(),
            jwt_mount: "bench-jwt-1".into(),
            jwt: "a.b.c".into(),
            ..Default::default()
        };
        assert!(prepare(&mix, &t).unwrap_err().contains("no entity"));
        t.entity_id = "e-1".into();
        let plans = prepare(&mix, &t).unwrap();
        assert_eq!(plans[0].requests[0].uri.path(), "/v1/auth/bench-approle-1/login");
        assert_eq!(&plans[0].requests[0].body[..], br#"{"role_id":"r","secret_id":"s"}"#);
        assert_eq!(&plans[1].requests[0].body[..], br#"{"role":"bench","jwt":"a.b.c"}"#);
        assert_eq!(plans[2].requests[1].uri.path(), "/v1/bench-kv2/data/bench/e-1/key-1");
    }

    #[test]
    fn policy_rules_scope_to_the_mount() {
        let (path, caps) = Workload::Kv2Read.policy_rule("bench-kv2", "").unwrap();
        assert_eq!(path, "bench-kv2/data/key-*");
        assert_eq!(caps, &["read"]);
        assert!(Workload::TrivialGet.policy_rule("x", "").is_none());
        let (templated, _) = Workload::Kv2ReadTemplated.policy_rule("bench-kv2", "e-1").unwrap();
        assert_eq!(templated, "bench-kv2/data/bench/{{identity.entity.id}}/*");
        let (plain, _) = Workload::Kv2ReadEntityPlain.policy_rule("bench-kv2", "e-1").unwrap();
        assert_eq!(plain, "bench-kv2/data/bench/e-1/*");
    }
}
