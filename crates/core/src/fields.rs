//! Typed access to request data with Vault's lenient coercions (`"true"` is a
//! bool, `"30"` an int, `"a,b"` a string list) and errors that name the field
//! but never echo a value that might be secret.

use crate::error::{Error, Result};
use crate::logical::Data;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The fields the row being served declares, in scope (debug builds) while
/// its handler runs (set by `Backend::handle`). Every accessor below checks a
/// read of the request body against it and panics on an undeclared name: the
/// row's field table is then what the handler really reads, which `?help` and
/// the OpenAPI document are generated from. Only reads of the request body
/// itself are checked (the map the scope was opened with, by address): a
/// nested object (a mount's `config`, kv's `options`) is one declared field,
/// and its keys are that field's business.
#[cfg(debug_assertions)]
#[derive(Clone, Copy)]
pub struct Declared {
    data: usize,
    row: &'static str,
    pattern: &'static str,
    fields: &'static [crate::backend::FieldSpec],
}

#[cfg(debug_assertions)]
impl Declared {
    pub fn new(spec: &crate::backend::PathSpec, data: &Data) -> Declared {
        Declared { data: data as *const Data as usize, row: spec.name, pattern: spec.pattern, fields: spec.fields }
    }
}

#[cfg(debug_assertions)]
tokio::task_local! {
    pub static DECLARED: Declared;
}

/// Debug builds: panic when a handler reads a field of the request body its
/// row does not declare (a programming error: the names are program text).
#[inline]
fn check_declared(data: &Data, key: &str) {
    #[cfg(debug_assertions)]
    {
        let _ = DECLARED.try_with(|d| {
            if d.data == data as *const Data as usize && !d.fields.iter().any(|f| f.name == key) {
                panic!("row {:?} (pattern {:?}) reads field {key:?}, which its field table does not declare", d.row, d.pattern);
            }
        });
    }
    #[cfg(not(debug_assertions))]
    let _ = (data, key);
}

/// The raw value of a field (checked against the row like every accessor).
pub fn get_raw<'a>(data: &'a Data, key: &str) -> Option<&'a Value> {
    check_declared(data, key);
    data.get(key)
}

/// Remove a field from the body (for a secret the handler moves into a
/// zeroizing type); checked against the row like every accessor.
pub fn take(data: &mut Data, key: &str) -> Option<Value> {
    check_declared(data, key);
    data.remove(key)
}

fn type_error(key: &str, want: &str) -> Error {
    Error::invalid(format!("{key}: expected {want}"))
}

pub fn get_str(data: &Data, key: &str) -> Result<Option<String>> {
    check_declared(data, key);
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(type_error(key, "a string")),
    }
}

pub fn get_bool(data: &Data, key: &str) -> Result<Option<bool>> {
    check_declared(data, key);
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" => Ok(Some(true)),
            "0" | "f" | "false" | "" => Ok(Some(false)),
            _ => Err(type_error(key, "a boolean")),
        },
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(type_error(key, "a boolean")),
        },
        Some(_) => Err(type_error(key, "a boolean")),
    }
}

pub fn get_int(data: &Data, key: &str) -> Result<Option<i64>> {
    check_declared(data, key);
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                Ok(Some(f as i64))
            } else {
                Err(type_error(key, "an integer"))
            }
        }
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| type_error(key, "an integer")),
        Some(_) => Err(type_error(key, "an integer")),
    }
}

/// A duration given as integer seconds or a Go duration string.
pub fn get_duration(data: &Data, key: &str) -> Result<Option<Duration>> {
    check_declared(data, key);
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => coffer_config::duration::from_json(v)
            .map(Some)
            .map_err(|e| Error::invalid(format!("{key}: {e}"))),
    }
}

/// A list of strings from a JSON array or a comma-separated string.
pub fn get_str_list(data: &Data, key: &str) -> Result<Option<Vec<String>>> {
    check_declared(data, key);
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect(),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.trim().to_string()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(type_error(key, "a list of strings")),
            })
            .collect::<Result<Vec<_>>>()
            .map(|v| Some(v.into_iter().filter(|s| !s.is_empty()).collect())),
        Some(_) => Err(type_error(key, "a list of strings")),
    }
}

/// A map of strings (`meta`, `custom_metadata`, mount `options`).
pub fn get_str_map(data: &Data, key: &str) -> Result<Option<BTreeMap<String, String>>> {
    check_declared(data, key);
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(type_error(key, "a map of strings")),
            })
            .collect::<Result<BTreeMap<_, _>>>()
            .map(Some),
        Some(_) => Err(type_error(key, "a map of strings")),
    }
}

/// A JSON object (e.g. kv `data`).
pub fn get_object<'a>(data: &'a Data, key: &str) -> Result<Option<&'a Data>> {
    check_declared(data, key);
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(type_error(key, "a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(v: Value) -> Data {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn coercions() {
        let data = d(json!({"b": "true", "i": "42", "f": 3.0, "l": "a, b,,c", "m": {"k": 1}, "t": "1h", "n": 90, "x": [1]}));
        assert_eq!(get_bool(&data, "b").unwrap(), Some(true));
        assert_eq!(get_int(&data, "i").unwrap(), Some(42));
        assert_eq!(get_int(&data, "f").unwrap(), Some(3));
        assert_eq!(get_str_list(&data, "l").unwrap().unwrap(), vec!["a", "b", "c"]);
        assert_eq!(get_str_map(&data, "m").unwrap().unwrap()["k"], "1");
        assert_eq!(get_duration(&data, "t").unwrap(), Some(Duration::from_secs(3600)));
        assert_eq!(get_duration(&data, "n").unwrap(), Some(Duration::from_secs(90)));
        assert!(get_bool(&data, "x").is_err());
        assert!(get_str(&data, "x").is_err());
        assert_eq!(get_str(&data, "missing").unwrap(), None);
    }

    #[test]
    fn errors_name_field_not_value() {
        let data = d(json!({"ttl": "s3cr3t-looking"}));
        let e = get_duration(&data, "ttl").unwrap_err().to_string();
        assert!(e.starts_with("ttl:"), "{e}");
    }
}
