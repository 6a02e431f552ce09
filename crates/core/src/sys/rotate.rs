//! The barrier key: `sys/key-status`, `sys/rotate` (and OpenBao's
//! `sys/rotate/keyring`), `sys/rotate/root`, and `sys/rotate/config` (and
//! OpenBao's alias `sys/rotate/keyring/config`): automatic rotation of the
//! barrier key, by encryption count and by age. The settings live in the
//! keyring record (see `barrier.rs`); this file only reads and validates
//! requests the way OpenBao 2.7 does.
//!
//! Update rules, as observed on `bao server -dev` 2.7.2: every field is
//! optional and an absent one keeps its value; every field is type-checked
//! first, then `interval` (0 or at least 24h), then `max_operations` (in
//! [1000000, 3865470566]); a rejected request changes nothing. A JSON `null`
//! `enabled` is false and a `null` `max_operations` is 0 (out of range); a
//! `null` `interval` is ignored and `""` is 0. Intervals are whole seconds.

use super::{Ctx, H as Sys, injected, obj};
use crate::backend::{FieldKind, FieldSpec, Path, field, path};
use crate::barrier::{INTERVAL_MIN, MAX_OPERATIONS_DEFAULT, MAX_OPERATIONS_MIN, RotationConfig};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Operation::{Read, Update}, Request, Response};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    KeyStatus,
    Rotate,
    RotateRoot,
    ConfigRead,
    ConfigWrite,
}

const F_ROTATE_CONFIG: &[FieldSpec] = &[
    field("enabled", FieldKind::Bool, "Whether the barrier key rotates automatically (default true)."),
    field("max_operations", FieldKind::Int, "Encryptions under one key term before it rotates (1000000 to 3865470566, the default)."),
    field("interval", FieldKind::Duration, "Age of the active key term at which it rotates: 0 (never, the default) or at least 24h."),
];

pub(super) fn rows() -> Vec<Path<Sys>> {
    const CONFIG: &[(crate::logical::Operation, Sys)] = &[(Read, Sys::Rotate(H::ConfigRead)), (Update, Sys::Rotate(H::ConfigWrite))];
    vec![
        path("key-status", "key-status", &[(Read, Sys::Rotate(H::KeyStatus))], &[], "Information about the barrier encryption key."),
        path("rotate", "rotate", &[(Update, Sys::Rotate(H::Rotate))], &[], "Rotate the barrier encryption key: a new key term for new writes."),
        path("rotate-keyring", "rotate/keyring", &[(Update, Sys::Rotate(H::Rotate))], &[], "Rotate the barrier encryption key (OpenBao's name for sys/rotate; its CLI calls it)."),
        path("rotate-root", "rotate/root", &[(Update, Sys::Rotate(H::RotateRoot))], &[], "Rotate the root key that encrypts the keyring; unseal keys and data keys stay."),
        path("rotate-config", "rotate/config", CONFIG, F_ROTATE_CONFIG, "Configure automatic rotation of the barrier encryption key."),
        path("rotate-keyring-config", "rotate/keyring/config", CONFIG, F_ROTATE_CONFIG, "Configure automatic rotation of the barrier encryption key (OpenBao's name)."),
    ]
}

pub(super) async fn serve(h: H, cx: &Ctx, req: &Request) -> Result<Option<Response>> {
    let barrier = cx.core.barrier();
    match h {
        H::KeyStatus => {
            let (term, install_time, encryptions) = barrier.key_status()?;
            Ok(injected(obj(json!({"term": term, "install_time": install_time, "encryptions": encryptions}))))
        }
        H::Rotate => {
            barrier.rotate(crate::util::rfc3339_now()).await?;
            Ok(None)
        }
        H::RotateRoot => {
            barrier.rotate_root().await?;
            tracing::info!("root key rotated");
            Ok(None)
        }
        // GET: `{enabled, max_operations, interval}`.
        H::ConfigRead => Ok(Some(Response::data(render(&barrier.rotation_config()?)))),
        // POST/PUT: 204.
        H::ConfigWrite => {
            let current = barrier.rotation_config()?;
            let next = apply(current, &req.data)?;
            if next != current {
                barrier.set_rotation_config(next).await?;
            }
            Ok(None)
        }
    }
}

fn render(c: &RotationConfig) -> Data {
    // An unset interval reads as the integer 0, a set one as Go's duration text.
    let interval = if c.interval_secs == 0 {
        json!(0)
    } else {
        json!(coffer_config::duration::format_go(std::time::Duration::from_secs(c.interval_secs)))
    };
    let mut m = Data::new();
    m.insert("enabled".into(), json!(c.enabled));
    m.insert("interval".into(), interval);
    m.insert("max_operations".into(), json!(c.max_operations));
    m
}

/// The settings after an update with `data`, or the 400 that refuses it.
fn apply(mut c: RotationConfig, data: &Data) -> Result<RotationConfig> {
    let enabled = match fields::get_raw(data, "enabled") {
        Some(Value::Null) => Some(false),
        _ => fields::get_bool(data, "enabled")?,
    };
    let max_operations = match fields::get_raw(data, "max_operations") {
        None => None,
        Some(v) => Some(max_operations_value(v)?),
    };
    let interval = match fields::get_raw(data, "interval") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => Some(0),
        Some(v) => Some(
            coffer_config::duration::from_json(v)
                .map_err(|e| Error::invalid(format!("interval: {e}")))?
                .as_secs(),
        ),
    };
    if let Some(secs) = interval {
        if secs != 0 && secs < INTERVAL_MIN.as_secs() {
            return Err(Error::invalid(format!(
                "interval must be greater or equal to {}",
                coffer_config::duration::format_go(INTERVAL_MIN)
            )));
        }
        c.interval_secs = secs;
    }
    if let Some(n) = max_operations {
        if n < MAX_OPERATIONS_MIN as i64 || n > MAX_OPERATIONS_DEFAULT as i64 {
            return Err(Error::invalid(format!(
                "max_operations must be in the range [{MAX_OPERATIONS_MIN},{MAX_OPERATIONS_DEFAULT}]"
            )));
        }
        c.max_operations = n as u64;
    }
    if let Some(e) = enabled {
        c.enabled = e;
    }
    Ok(c)
}

/// `max_operations` as OpenBao reads it: an integer or integer text; `null`
/// and booleans become 0 / 1 (and then fail the range check); a fraction is
/// a type error even when it is whole (`2000000.0`).
fn max_operations_value(v: &Value) -> Result<i64> {
    let bad = || Error::invalid("max_operations: expected an integer");
    match v {
        Value::Null => Ok(0),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Number(n) => n.as_i64().ok_or_else(bad),
        Value::String(s) => s.parse::<i64>().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: Value) -> Data {
        v.as_object().unwrap().clone()
    }

    fn err(c: RotationConfig, v: Value) -> String {
        apply(c, &d(v)).unwrap_err().to_string()
    }

    #[test]
    fn defaults_render_like_openbao() {
        let m = render(&RotationConfig::default());
        assert_eq!(Value::Object(m), json!({"enabled": true, "interval": 0, "max_operations": 3865470566u64}));
        let m = render(&RotationConfig { interval_secs: 3_600_000, ..Default::default() });
        assert_eq!(m["interval"], json!("1000h0m0s"));
    }

    #[test]
    fn updates_and_their_coercions() {
        let c = RotationConfig::default();
        assert_eq!(apply(c, &d(json!({}))).unwrap(), c);
        let n = apply(c, &d(json!({"enabled": "f", "max_operations": "2000000", "interval": 86400}))).unwrap();
        assert_eq!(n, RotationConfig { enabled: false, max_operations: 2_000_000, interval_secs: 86_400 });
        assert_eq!(apply(n, &d(json!({"interval": "24h0m0.5s"}))).unwrap().interval_secs, 86_400);
        assert_eq!(apply(n, &d(json!({"interval": "2d"}))).unwrap().interval_secs, 172_800);
        assert_eq!(apply(n, &d(json!({"interval": ""}))).unwrap().interval_secs, 0);
        assert_eq!(apply(n, &d(json!({"interval": 0}))).unwrap().interval_secs, 0);
        assert_eq!(apply(n, &d(json!({"interval": null}))).unwrap().interval_secs, 86_400);
        assert!(!apply(c, &d(json!({"enabled": null}))).unwrap().enabled);
        assert!(apply(n, &d(json!({"enabled": 1}))).unwrap().enabled);
    }

    #[test]
    fn rejections_name_the_rule() {
        let c = RotationConfig::default();
        let range = "max_operations must be in the range [1000000,3865470566]";
        for v in [json!(5), json!(999_999), json!(3_865_470_567u64), json!(-1), json!(null), json!(true)] {
            assert_eq!(err(c, json!({"max_operations": v})), range);
        }
        let short = "interval must be greater or equal to 24h0m0s";
        assert_eq!(err(c, json!({"interval": "1h"})), short);
        assert_eq!(err(c, json!({"interval": "23h59m59s"})), short);
        // The interval is checked before max_operations, as OpenBao does.
        assert_eq!(err(c, json!({"max_operations": 5, "interval": "1h"})), short);
        assert_eq!(err(c, json!({"enabled": "notbool"})), "enabled: expected a boolean");
        assert_eq!(err(c, json!({"enabled": 2})), "enabled: expected a boolean");
        assert_eq!(err(c, json!({"max_operations": "abc"})), "max_operations: expected an integer");
        assert_eq!(err(c, json!({"max_operations": 2_000_000.0})), "max_operations: expected an integer");
        assert!(err(c, json!({"interval": "bogus"})).starts_with("interval: invalid duration"));
        assert!(err(c, json!({"interval": "-24h"})).starts_with("interval: invalid duration"));
        assert!(err(c, json!({"interval": true})).starts_with("interval: invalid duration"));
        // Type errors come before range errors.
        assert_eq!(err(c, json!({"max_operations": 5, "enabled": "x"})), "enabled: expected a boolean");
    }
}
