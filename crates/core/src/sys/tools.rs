//! `sys/tools/random` and `sys/tools/hash`: random bytes from the server's
//! entropy source and digests, as Vault serves them (the default policy
//! grants `sys/tools/hash`).

use super::H as Sys;
use crate::backend::{FieldKind, FieldSpec, Path, Route, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Operation::Update, Request, Response};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use serde_json::json;
use zeroize::Zeroizing;

const MAX_RANDOM_BYTES: i64 = 128 * 1024;

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    Random,
    Hash,
}

const F_RANDOM: &[FieldSpec] = &[
    field("bytes", FieldKind::Int, "Number of bytes (default 32, at most 131072).").default_int(32),
    field("format", FieldKind::String, "hex or base64 (default).").default_str("base64"),
];
const F_HASH: &[FieldSpec] = &[
    field("input", FieldKind::String, "Base64-encoded input."),
    field("algorithm", FieldKind::String, "sha2-224, sha2-256 (default), sha2-384, sha2-512, sha3-256, sha3-384, sha3-512.").default_str("sha2-256"),
    field("format", FieldKind::String, "hex (default) or base64.").default_str("hex"),
];

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![
        path("tools-random", "tools/random(/(?P<source>[^/]+))?(/(?P<urlbytes>[^/]+))?", &[(Update, Sys::Tools(H::Random))], F_RANDOM, "Random bytes from the server's entropy source."),
        path("tools-hash", "tools/hash(/(?P<alg>.+))?", &[(Update, Sys::Tools(H::Hash))], F_HASH, "Hash of base64-encoded input."),
    ]
}

pub(super) fn serve(h: H, route: &Route<'_>, req: &Request) -> Result<Option<Response>> {
    match h {
        H::Random => random(&[route.param("source"), route.param("urlbytes")].iter().filter(|p| !p.is_empty()).map(|p| format!("/{p}")).collect::<String>(), req),
        H::Hash => hash(route.param("alg"), req),
    }
}

fn encode(bytes: &[u8], format: &str) -> Result<String> {
    match format {
        "base64" => Ok(base64::engine::general_purpose::STANDARD.encode(bytes)),
        "hex" => Ok(hex::encode(bytes)),
        other => Err(Error::invalid(format!("unsupported encoding format \"{other}\"; must be \"hex\" or \"base64\""))),
    }
}

/// `tools/random[/source][/bytes]`: `rest` is what follows `tools/random`.
fn random(rest: &str, req: &Request) -> Result<Option<Response>> {
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (source, url_bytes) = match parts.as_slice() {
        [] => (None, None),
        [one] if one.parse::<i64>().is_ok() => (None, Some(*one)),
        [one] => (Some(*one), None),
        [source, bytes] => (Some(*source), Some(*bytes)),
        _ => return Err(Error::UnsupportedPath(format!("tools/random/{rest}"))),
    };
    let mut warnings = Vec::new();
    match source.unwrap_or("platform") {
        "platform" => {}
        // No seal-provided entropy (no HSM seal): the platform source serves,
        // as Vault says in the same case.
        "seal" | "all" => {
            if source == Some("seal") {
                warnings.push("no seal/entropy augmentation available, using platform entropy source".to_string());
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "unsupported entropy source \"{other}\"; must be \"platform\" or \"seal\", or \"all\""
            )));
        }
    }
    let bytes = match url_bytes {
        Some(b) => b.parse::<i64>().map_err(|_| Error::invalid("'bytes' must be an integer"))?,
        None => fields::get_int(&req.data, "bytes")?.unwrap_or(32),
    };
    if bytes < 1 {
        return Err(Error::invalid("'bytes' cannot be less than 1"));
    }
    if bytes > MAX_RANDOM_BYTES {
        return Err(Error::invalid(format!("'bytes' should be less than {MAX_RANDOM_BYTES}")));
    }
    let format = fields::get_str(&req.data, "format")?.unwrap_or_else(|| "base64".into());
    let mut buf = Zeroizing::new(vec![0u8; bytes as usize]);
    SystemRandom::new().fill(&mut buf).map_err(|_| Error::internal("random source failed"))?;
    let mut resp = Response::json(json!({ "random_bytes": encode(&buf, &format)? }));
    resp.warnings = warnings;
    Ok(Some(resp))
}

/// `tools/hash[/algorithm]`: digest of the base64 `input`.
fn hash(algorithm: &str, req: &Request) -> Result<Option<Response>> {
    let algorithm = if algorithm.is_empty() {
        fields::get_str(&req.data, "algorithm")?.unwrap_or_else(|| "sha2-256".into())
    } else {
        algorithm.to_string()
    };
    let alg = match algorithm.as_str() {
        "sha2-224" => &digest::SHA224,
        "sha2-256" => &digest::SHA256,
        "sha2-384" => &digest::SHA384,
        "sha2-512" => &digest::SHA512,
        "sha3-256" => &digest::SHA3_256,
        "sha3-384" => &digest::SHA3_384,
        "sha3-512" => &digest::SHA3_512,
        other => return Err(Error::invalid(format!("unsupported algorithm {other}"))),
    };
    let format = fields::get_str(&req.data, "format")?.unwrap_or_else(|| "hex".into());
    let input = fields::get_str(&req.data, "input")?.unwrap_or_default();
    let input = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(input.as_bytes())
            .map_err(|e| Error::invalid(format!("unable to decode input as base64: {e}")))?,
    );
    let sum = digest::digest(alg, &input);
    Ok(Some(Response::json(json!({ "sum": encode(sum.as_ref(), &format)? }))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_and_encodings() {
        let sum = digest::digest(&digest::SHA256, b"hello");
        assert_eq!(encode(sum.as_ref(), "hex").unwrap(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert!(encode(b"x", "b32").is_err());
    }
}
