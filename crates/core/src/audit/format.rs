//! A device's rendering of an entry: its HMACs (with its salt, unless
//! `log_raw`), `hmac_accessor`, `elide_list_responses`, `format`
//! (`json` or Vault's `jsonx`) and `prefix`.

use super::entry::Raw;
use super::hash::{Salter, sort_deep};
use coffer_audit::Options;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Json,
    Jsonx,
}

/// The entry-format options of one device (the sink reads its own).
pub(crate) struct Format {
    pub log_raw: bool,
    pub hmac_accessor: bool,
    pub elide_list_responses: bool,
    pub kind: Kind,
    pub prefix: String,
}

fn opt_bool(options: &Options, key: &str, default: bool) -> Result<bool, String> {
    match options.get(key).map(String::as_str) {
        None | Some("") => Ok(default),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(format!(
            "unable to parse {key} {v:?}: a boolean (\"true\" or \"false\")"
        )),
    }
}

impl Format {
    pub(crate) fn from_options(options: &Options) -> Result<Format, String> {
        let kind = match options.get("format").map(String::as_str) {
            None | Some("") | Some("json") => Kind::Json,
            Some("jsonx") => Kind::Jsonx,
            Some(v) => return Err(format!("unknown format type {v:?}: json or jsonx")),
        };
        Ok(Format {
            log_raw: opt_bool(options, "log_raw", false)?,
            hmac_accessor: opt_bool(options, "hmac_accessor", true)?,
            elide_list_responses: opt_bool(options, "elide_list_responses", false)?,
            kind,
            prefix: options.get("prefix").cloned().unwrap_or_default(),
        })
    }

    /// The line this device writes for `raw` (no trailing newline).
    #[cfg(test)]
    pub(crate) fn render(&self, raw: &Raw, salter: &Salter) -> Vec<u8> {
        self.render_value(raw.value.clone(), raw, salter)
    }

    /// The line for entry `v` (`raw.value`, taken out of `raw` so the last
    /// device need not copy it); `raw` gives the rest.
    pub(crate) fn render_value(&self, mut v: Value, raw: &Raw, salter: &Salter) -> Vec<u8> {
        if let Value::Object(top) = &mut v {
            if self.elide_list_responses && raw.is_list {
                elide(top);
            }
            // Headers configured with `hmac: true` are HMAC'd even with
            // `log_raw` (OpenBao does the same).
            hash_headers(top, raw, salter);
            if self.log_raw {
                for section in ["request", "response"] {
                    if let Some(d) = top.get_mut(section).and_then(|s| s.get_mut("data")) {
                        sort_deep(d);
                    }
                }
            } else {
                self.hash(top, raw, salter);
            }
        }
        let body = match self.kind {
            Kind::Json => serde_json::to_vec(&v).unwrap_or_default(),
            Kind::Jsonx => jsonx(&v).into_bytes(),
        };
        if self.prefix.is_empty() {
            body
        } else {
            let mut line = Vec::with_capacity(self.prefix.len() + body.len());
            line.extend_from_slice(self.prefix.as_bytes());
            line.extend_from_slice(&body);
            line
        }
    }

    fn hash(&self, top: &mut Map<String, Value>, raw: &Raw, s: &Salter) {
        let auth_fields = |m: &mut Map<String, Value>| {
            s.hash_member(m, "client_token");
            if self.hmac_accessor {
                s.hash_member(m, "accessor");
            }
        };
        if let Some(Value::Object(a)) = top.get_mut("auth") {
            auth_fields(a);
        }
        if let Some(Value::Object(r)) = top.get_mut("request") {
            s.hash_member(r, "client_token");
            if self.hmac_accessor {
                s.hash_member(r, "client_token_accessor");
            }
            if let Some(d) = r.get_mut("data") {
                s.hash_data(d, &raw.non_hmac_request);
            }
        }
        if let Some(Value::Object(r)) = top.get_mut("response") {
            if let Some(Value::Object(a)) = r.get_mut("auth") {
                auth_fields(a);
            }
            if let Some(d) = r.get_mut("data") {
                s.hash_data(d, &raw.non_hmac_response);
            }
            if let Some(Value::Object(w)) = r.get_mut("wrap_info") {
                s.hash_member(w, "token");
                if self.hmac_accessor {
                    s.hash_member(w, "accessor");
                    s.hash_member(w, "wrapped_accessor");
                }
            }
        }
    }
}

fn hash_headers(top: &mut Map<String, Value>, raw: &Raw, s: &Salter) {
    if raw.hmac_headers.is_empty() {
        return;
    }
    let Some(Value::Object(h)) = top.get_mut("request").and_then(|r| r.get_mut("headers")) else {
        return;
    };
    for name in &raw.hmac_headers {
        if let Some(Value::Array(values)) = h.get_mut(name) {
            for v in values.iter_mut() {
                if let Value::String(t) = v {
                    *v = Value::String(s.hash(t));
                }
            }
        }
    }
}

/// `elide_list_responses`: a list response's `keys` become their count and
/// its `key_info` its size (before hashing, as Vault does).
fn elide(top: &mut Map<String, Value>) {
    if top.get("type").and_then(Value::as_str) != Some("response") {
        return;
    }
    let Some(Value::Object(r)) = top.get_mut("response") else {
        return;
    };
    let Some(Value::Object(d)) = r.get_mut("data") else {
        return;
    };
    if let Some(Value::Array(keys)) = d.get("keys") {
        let n = keys.len();
        d.insert("keys".into(), Value::from(n));
    }
    if let Some(Value::Object(info)) = d.get("key_info") {
        let n = info.len();
        d.insert("key_info".into(), Value::from(n));
    }
}

/// Vault's `jsonx` format: IBM's JSONx XML rendering of the JSON entry.
fn jsonx(v: &Value) -> String {
    let mut out = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><json:object xsi:schemaLocation="http://www.datapower.com/schemas/json jsonx.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:json="http://www.ibm.com/xmlns/prod/2009/jsonx">"#,
    );
    if let Value::Object(m) = v {
        for (k, val) in m {
            jsonx_value(&mut out, Some(k), val);
        }
    }
    out.push_str("</json:object>");
    out
}

fn jsonx_value(out: &mut String, name: Option<&str>, v: &Value) {
    let attr = name
        .map(|n| format!(" name=\"{}\"", xml_escape(n)))
        .unwrap_or_default();
    match v {
        Value::Null => out.push_str(&format!("<json:null{attr}></json:null>")),
        Value::Bool(b) => out.push_str(&format!("<json:boolean{attr}>{b}</json:boolean>")),
        Value::Number(n) => out.push_str(&format!("<json:number{attr}>{n}</json:number>")),
        Value::String(s) => out.push_str(&format!(
            "<json:string{attr}>{}</json:string>",
            xml_escape(s)
        )),
        Value::Array(items) => {
            out.push_str(&format!("<json:array{attr}>"));
            for i in items {
                jsonx_value(out, None, i);
            }
            out.push_str("</json:array>");
        }
        Value::Object(m) => {
            out.push_str(&format!("<json:object{attr}>"));
            for (k, val) in m {
                jsonx_value(out, Some(k), val);
            }
            out.push_str("</json:object>");
        }
    }
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: Value, is_list: bool) -> Raw {
        Raw {
            value: v,
            non_hmac_request: vec!["clear".into()],
            non_hmac_response: vec![],
            is_list,
            failed: false,
            hmac_headers: vec![],
        }
    }

    use coffer_audit::options as opts;

    #[test]
    fn hashes_what_vault_hashes() {
        let s = Salter::new(b"salt");
        let r = raw(
            json!({"time": "t", "type": "response",
                "auth": {"client_token": "tok", "accessor": "acc", "display_name": "token", "policies": ["root"]},
                "request": {"id": "id", "client_token": "tok", "client_token_accessor": "acc", "path": "secret/data/x",
                            "data": {"b": "v", "clear": "c", "a": 1}},
                "response": {"auth": {"client_token": "new", "accessor": "nacc"}, "data": {"keys": ["k1", "k2"]},
                             "wrap_info": {"token": "w", "accessor": "wa", "ttl": 60, "creation_path": "p"}}}),
            true,
        );
        let f = Format::from_options(&opts(&[])).unwrap();
        let v: Value = serde_json::from_slice(&f.render(&r, &s)).unwrap();
        assert_eq!(v["auth"]["client_token"], json!(s.hash("tok")));
        assert_eq!(v["auth"]["accessor"], json!(s.hash("acc")));
        assert_eq!(v["auth"]["display_name"], json!("token"));
        assert_eq!(v["request"]["client_token"], json!(s.hash("tok")));
        assert_eq!(v["request"]["client_token_accessor"], json!(s.hash("acc")));
        assert_eq!(v["request"]["path"], json!("secret/data/x"));
        assert_eq!(
            v["request"]["data"],
            json!({"a": 1, "b": s.hash("v"), "clear": "c"})
        );
        assert_eq!(v["response"]["auth"]["client_token"], json!(s.hash("new")));
        assert_eq!(
            v["response"]["data"]["keys"],
            json!([s.hash("k1"), s.hash("k2")])
        );
        assert_eq!(v["response"]["wrap_info"]["token"], json!(s.hash("w")));
        assert_eq!(v["response"]["wrap_info"]["creation_path"], json!("p"));
        // Member order is Vault's.
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["time", "type", "auth", "request", "response"]);

        let f = Format::from_options(&opts(&[
            ("hmac_accessor", "false"),
            ("elide_list_responses", "true"),
            ("prefix", "@cee: "),
        ]))
        .unwrap();
        let line = f.render(&r, &s);
        assert!(line.starts_with(b"@cee: {"));
        let v: Value = serde_json::from_slice(&line[6..]).unwrap();
        assert_eq!(v["auth"]["accessor"], json!("acc"));
        assert_eq!(v["response"]["wrap_info"]["accessor"], json!("wa"));
        assert_eq!(v["response"]["data"]["keys"], json!(2));

        let f = Format::from_options(&opts(&[("log_raw", "true")])).unwrap();
        let v: Value = serde_json::from_slice(&f.render(&r, &s)).unwrap();
        assert_eq!(v["auth"]["client_token"], json!("tok"));
        assert_eq!(v["request"]["data"]["b"], json!("v"));
    }

    #[test]
    fn jsonx_and_bad_options() {
        let s = Salter::new(b"salt");
        let f = Format::from_options(&opts(&[("format", "jsonx"), ("log_raw", "true")])).unwrap();
        let x = String::from_utf8(f.render(
            &raw(json!({"type": "request", "n": 1, "l": ["a<"]}), false),
            &s,
        ))
        .unwrap();
        assert!(x.starts_with("<?xml"));
        assert!(x.contains(r#"<json:string name="type">request</json:string><json:number name="n">1</json:number><json:array name="l"><json:string>a&lt;</json:string></json:array>"#), "{x}");
        assert!(Format::from_options(&opts(&[("format", "yaml")])).is_err());
        assert!(Format::from_options(&opts(&[("log_raw", "maybe")])).is_err());
    }
}
