//! Login MFA in `coffer login`, as Vault's CLI does it: a login answered
//! with `auth.mfa_requirement` is completed at once when exactly one method
//! is required and the CLI may prompt (stdin is a terminal, no
//! `-non-interactive`): the passcode is read without echo and posted to
//! `sys/mfa/validate`. Otherwise the requirement is printed for the caller to
//! validate (`coffer write sys/mfa/validate ...`).

use crate::client::Client;
use crate::format::{self, Format};
use anyhow::{Context, Result};
use serde_json::{Value, json};

/// The one method an interactive validation would use.
#[derive(Debug, PartialEq, Eq)]
pub struct Method {
    pub id: String,
    pub kind: String,
    pub uses_passcode: bool,
}

/// `auth.mfa_requirement` of a login response, if the login needs MFA.
pub fn requirement(secret: &Value) -> Option<&Value> {
    secret.get("auth")?.get("mfa_requirement").filter(|r| r.is_object())
}

/// The method to validate interactively: only with one constraint naming
/// one method, stdin on a terminal, and prompting allowed.
pub fn interactive_method(req: &Value, interactive: bool) -> Option<Method> {
    use std::io::IsTerminal;
    if !interactive || !std::io::stdin().is_terminal() {
        return None;
    }
    single_method(req)
}

fn single_method(req: &Value) -> Option<Method> {
    let constraints = req.get("mfa_constraints")?.as_object()?;
    let [(_, constraint)] = constraints.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let [m] = constraint.get("any")?.as_array()?.as_slice() else {
        return None;
    };
    Some(Method {
        id: m.get("id")?.as_str()?.to_string(),
        kind: m.get("type").and_then(Value::as_str).unwrap_or("").to_string(),
        uses_passcode: m.get("uses_passcode").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Ask for the passcode (when the method uses one) and post
/// `sys/mfa/validate`; the answer is the completed login.
pub fn validate(client: &Client, req: &Value, m: &Method) -> Result<Value> {
    let request_id = req.get("mfa_request_id").and_then(Value::as_str).unwrap_or("");
    let passcode = if m.uses_passcode {
        let prompt = format!("Enter the passphrase for methodID {:?} of type {:?}: ", m.id, m.kind);
        rpassword::prompt_password(prompt)
            .context("failed to read the passphrase. please validate the login by sending a request to sys/mfa/validate")?
            .trim()
            .to_string()
    } else {
        eprintln!("Asking Coffer to perform MFA validation with upstream service. You should receive a push notification in your authenticator app shortly");
        String::new()
    };
    let body = json!({ "mfa_request_id": request_id, "mfa_payload": { m.id.clone(): [passcode] } });
    client
        .write("sys/mfa/validate", &body)
        .context("Error validating MFA")?
        .context("Error validating MFA: empty response from sys/mfa/validate")
}

/// Print a login that still waits for MFA: in a table, the request id and
/// one id / uses_passcode pair per constraint and method (Vault's rows);
/// JSON and YAML print the whole response (its `auth.mfa_requirement`).
pub fn print_pending(fmt: Format, secret: &Value) -> Result<()> {
    if !matches!(fmt, Format::Table | Format::Raw) {
        return format::print_secret(fmt, secret);
    }
    print!("{}", format::key_value_table(pending_rows(secret)));
    if let Some(w) = format::warnings_text(secret) {
        print!("\n{w}");
    }
    Ok(())
}

fn pending_rows(secret: &Value) -> Vec<Vec<String>> {
    let Some(req) = requirement(secret) else {
        return Vec::new();
    };
    let mut rows = vec![vec!["mfa_request_id".to_string(), req.get("mfa_request_id").and_then(Value::as_str).unwrap_or("").to_string()]];
    if let Some(constraints) = req.get("mfa_constraints").and_then(Value::as_object) {
        for (name, constraint) in constraints {
            for m in constraint.get("any").and_then(Value::as_array).into_iter().flatten() {
                let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
                let id = m.get("id").and_then(Value::as_str).unwrap_or("");
                let uses = m.get("uses_passcode").and_then(Value::as_bool).unwrap_or(false);
                rows.push(vec![format!("mfa_constraint_{name}_{kind}_id"), id.to_string()]);
                rows.push(vec![format!("mfa_constraint_{name}_{kind}_uses_passcode"), uses.to_string()]);
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(constraints: Value) -> Value {
        json!({"auth": {"client_token": "", "mfa_requirement": {"mfa_request_id": "r1", "mfa_constraints": constraints}}})
    }

    #[test]
    fn one_method_is_interactive_and_more_are_not() {
        let one = req(json!({"e1": {"any": [{"type": "totp", "id": "m1", "uses_passcode": true}]}}));
        let m = single_method(requirement(&one).unwrap()).unwrap();
        assert_eq!(m, Method { id: "m1".into(), kind: "totp".into(), uses_passcode: true });
        let two_methods = req(json!({"e1": {"any": [{"type": "totp", "id": "m1"}, {"type": "totp", "id": "m2"}]}}));
        assert!(single_method(requirement(&two_methods).unwrap()).is_none());
        let two_constraints = req(json!({"e1": {"any": [{"type": "totp", "id": "m1"}]}, "e2": {"any": [{"type": "totp", "id": "m2"}]}}));
        assert!(single_method(requirement(&two_constraints).unwrap()).is_none());
        assert!(requirement(&json!({"auth": {"client_token": "t", "mfa_requirement": null}})).is_none());
    }

    #[test]
    fn pending_rows_are_vaults() {
        let one = req(json!({"e1": {"any": [{"type": "totp", "id": "m1", "uses_passcode": true}]}}));
        assert_eq!(
            pending_rows(&one),
            vec![
                vec!["mfa_request_id".to_string(), "r1".into()],
                vec!["mfa_constraint_e1_totp_id".into(), "m1".into()],
                vec!["mfa_constraint_e1_totp_uses_passcode".into(), "true".into()],
            ]
        );
    }
}
