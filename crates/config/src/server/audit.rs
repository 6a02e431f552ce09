//! The `audit` stanza (OpenBao's declarative audit devices) and the API
//! switch `unsafe_allow_api_audit_creation`.
//!
//! ```hcl
//! audit "file" "to-file" {            # type, path
//!   description = "main audit log"
//!   options = { file_path = "/var/log/coffer/audit.log" }
//! }
//! audit "file" {                      # one label: path = "..." (default: the type)
//!   path    = "file"
//!   options { file_path = "stdout" }
//! }
//! unsafe_allow_api_audit_creation = false   # default true in Coffer (Vault's behaviour)
//! ```
//!
//! Options are strings (other scalars are taken as their text, as OpenBao's
//! string map decoding does).

use super::{Block, Decoder};
use coffer_hcl::{Entry, Value};
use std::collections::BTreeMap;

use crate::error::ConfigError;

/// One declared audit device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditDeviceConfig {
    pub kind: String,
    /// Without a trailing `/`.
    pub path: String,
    pub description: String,
    pub options: BTreeMap<String, String>,
    pub local: bool,
    pub line: usize,
}

const KEYS: &[&str] = &["path", "description", "options", "local"];

impl Decoder<'_> {
    pub(super) fn audit(&self, b: &Block) -> Result<AuditDeviceConfig, ConfigError> {
        // Two labels (`audit "file" "path" { ... }`): the body is one more
        // labelled object.
        let (path_label, body): (Option<&str>, &[Entry]) = match b.body {
            [only] if !KEYS.contains(&only.key.as_str()) => match &only.value.value {
                Value::Object(inner) => (Some(only.key.as_str()), inner.as_slice()),
                _ => (None, b.body),
            },
            _ => (None, b.body),
        };
        let scope_text = format!("audit {:?}", b.kind);
        let scope = Some(scope_text.as_str());
        let mut dev = AuditDeviceConfig {
            kind: b.kind.to_string(),
            path: path_label.unwrap_or(b.kind).to_string(),
            description: String::new(),
            options: BTreeMap::new(),
            local: false,
            line: b.line,
        };
        for e in body {
            match e.key.as_str() {
                "path" if path_label.is_none() => dev.path = self.string(scope, e)?,
                "description" => dev.description = self.string(scope, e)?,
                "local" => dev.local = self.boolean(scope, e)?,
                "options" => {
                    let items: Vec<&Entry> = match &e.value.value {
                        Value::Object(m) => m.iter().collect(),
                        Value::List(l) => {
                            let mut v = Vec::new();
                            for n in l {
                                match &n.value {
                                    Value::Object(m) => v.extend(m.iter()),
                                    _ => {
                                        return Err(self.bad(scope, e, "expected a map of strings"));
                                    }
                                }
                            }
                            v
                        }
                        _ => return Err(self.bad(scope, e, "expected a map of strings")),
                    };
                    for o in items {
                        dev.options.insert(o.key.clone(), self.scalar(scope, o)?);
                    }
                }
                _ => return Err(self.unknown(scope, e, &[])),
            }
        }
        dev.path = dev.path.trim_matches('/').to_string();
        if dev.path.is_empty() {
            return Err(self.invalid(
                b.line,
                "audit",
                format!("{scope_text}: path must not be empty"),
            ));
        }
        Ok(dev)
    }
}

/// No two blocks may share a path.
pub(super) fn check_unique(
    d: &Decoder<'_>,
    devices: &[AuditDeviceConfig],
) -> Result<(), ConfigError> {
    for (i, a) in devices.iter().enumerate() {
        if let Some(b) = devices[..i].iter().find(|b| b.path == a.path) {
            return Err(d.invalid(
                a.line,
                "audit",
                format!(
                    "audit: path {:?} is declared twice (also at line {})",
                    a.path, b.line
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::server::parse_str;

    const BASE: &str = "storage \"inmem\" {}\nlistener \"tcp\" { address = \"127.0.0.1:8200\"\n tls_disable = true }\n";

    #[test]
    fn both_label_forms_and_the_switch() {
        let src = format!(
            "{BASE}audit \"file\" \"to-file\" {{\n description = \"d\"\n options = {{ file_path = \"/tmp/a.log\", log_raw = true }}\n}}\naudit \"file\" {{\n options {{ file_path = \"stdout\" }}\n}}\nunsafe_allow_api_audit_creation = false\n"
        );
        let c = parse_str(&src, "t.hcl", false).unwrap();
        assert_eq!(c.audit.len(), 2);
        assert_eq!(c.audit[0].path, "to-file");
        assert_eq!(c.audit[0].description, "d");
        assert_eq!(c.audit[0].options["file_path"], "/tmp/a.log");
        assert_eq!(c.audit[0].options["log_raw"], "true");
        assert_eq!(c.audit[1].path, "file");
        assert_eq!(c.audit[1].options["file_path"], "stdout");
        assert!(!c.unsafe_allow_api_audit_creation);
        let c = parse_str(BASE, "t.hcl", false).unwrap();
        assert!(
            c.unsafe_allow_api_audit_creation,
            "Vault's default: the API may enable devices"
        );
        assert!(c.audit.is_empty());
    }

    #[test]
    fn errors() {
        let dup = format!(
            "{BASE}audit \"file\" \"a\" {{ options = {{ file_path = \"x\" }} }}\naudit \"socket\" \"a\" {{}}\n"
        );
        assert!(
            parse_str(&dup, "t.hcl", false)
                .unwrap_err()
                .to_string()
                .contains("declared twice")
        );
        let bad = format!("{BASE}audit \"file\" {{ colour = \"x\" }}\n");
        assert!(parse_str(&bad, "t.hcl", false).is_err());
    }
}
