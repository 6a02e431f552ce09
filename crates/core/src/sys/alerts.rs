//! `sys/audit-alerts/rules/:name` (read, write, delete) and LIST
//! `sys/audit-alerts/rules`: alert rules on the audit stream set through the
//! API. Sudo-protected (root paths of `sys/`). Rules are checked exactly as
//! the config file's (`coffer_audit::alert::Rule::build`); a refused write
//! stores nothing. Stored under the barrier, one record per rule; reads
//! show webhook URLs as scheme and host only (a Slack webhook URL is a
//! secret). The config file's rules are listed and readable too
//! (`"source": "config"`) but cannot be changed here.

use super::{Ctx, H as Sys};
use crate::alerts::MAX_API_RULES;
use crate::backend::{FieldKind, FieldSpec, Path, Route, field, path};
use crate::error::{Error, Result};
use crate::fields;
use crate::logical::{Data, Operation, Request, Response};
use coffer_audit::alert::{Rule, RuleInput, WebhookInput, rule::valid_name};
use serde_json::Value;

use Operation::{Delete, List, Read, Update};

#[derive(Clone, Copy, Debug)]
pub(super) enum H {
    List,
    Read,
    Write,
    Delete,
}

const FIELDS: &[FieldSpec] = &[
    field("kind", FieldKind::String, "What the rule counts.")
        .allowed(&["denied", "login_failure", "root_token", "policy_change", "auth_change", "audit_change", "mount_change", "seal", "unseal"])
        .required(),
    field("threshold", FieldKind::Int, "Matching events within the window that raise an alert (default 1).").default_int(1),
    field("window", FieldKind::Duration, "The sliding window the threshold is counted in, in seconds or a duration string (default 60).").default_int(60),
    field("group_by", FieldKind::StringList, "Count separately by: remote_address, accessor, display_name, mount, path, namespace, operation, or none."),
    field("cooldown", FieldKind::Duration, "No second alert for one key until this has passed (default: the window)."),
    field("webhooks", FieldKind::Array, "Destinations: objects with url, format (slack or json), timeout, max_attempts, per_minute.").required(),
];

pub(super) fn rows() -> Vec<Path<Sys>> {
    vec![
        path(
            "audit-alerts-rules",
            "audit-alerts/rules/?",
            &[(List, Sys::Alerts(H::List))],
            &[],
            "List the alert rules.",
        ),
        path(
            "audit-alerts-rule",
            "audit-alerts/rules/(?P<name>[^/]+)",
            &[
                (Read, Sys::Alerts(H::Read)),
                (Update, Sys::Alerts(H::Write)),
                (Delete, Sys::Alerts(H::Delete)),
            ],
            FIELDS,
            "Read, write or delete an alert rule on the audit stream.",
        ),
    ]
}

pub(super) async fn serve(
    h: H,
    cx: &Ctx,
    route: &Route<'_>,
    req: &mut Request,
) -> Result<Option<Response>> {
    let core = &cx.core;
    let view = core.alert_rules_view();
    let config = |name: &str| {
        core.alerts()
            .and_then(|a| a.engine().config_rule(name).cloned())
    };
    match h {
        H::List => {
            let mut names = view.list("").await?;
            if let Some(a) = core.alerts() {
                names.extend(a.engine().config_rules().iter().map(|r| r.name.clone()));
            }
            names.sort();
            names.dedup();
            Ok(Some(Response::list(names)))
        }
        H::Read => {
            let name = route.param("name");
            let (rule, source) = match config(name) {
                Some(r) => (Rule::clone(&r), "config"),
                None => match view.get_json::<Rule>(name).await? {
                    Some(r) => (r, "api"),
                    None => return Ok(None),
                },
            };
            let mut v = rule.to_redacted_json();
            v["source"] = Value::from(source);
            Ok(Some(Response::json(v)))
        }
        H::Delete => {
            let name = route.param("name");
            if config(name).is_some() {
                return Err(Error::invalid(format!(
                    "rule {name:?} is set in the config file; change it there"
                )));
            }
            view.delete(name).await?;
            core.load_alert_rules().await;
            Ok(None)
        }
        H::Write => {
            let name = route.param("name").to_string();
            if !valid_name(&name) {
                return Err(Error::invalid(
                    "invalid rule name: 1 to 128 letters, digits, '.', '_' or '-'",
                ));
            }
            if config(&name).is_some() {
                return Err(Error::invalid(format!(
                    "rule {name:?} is set in the config file; change it there"
                )));
            }
            let rule = Rule::build(input(name.clone(), &req.data)?).map_err(Error::invalid)?;
            let existing = view.list("").await?;
            if !existing.contains(&name) && existing.len() >= MAX_API_RULES {
                return Err(Error::invalid(format!(
                    "at most {MAX_API_RULES} alert rules may be set through the API"
                )));
            }
            view.put_json(&name, &rule).await?;
            core.load_alert_rules().await;
            Ok(None)
        }
    }
}

/// The request body as a rule to check (types only; `Rule::build` judges values).
fn input(name: String, data: &Data) -> Result<RuleInput> {
    let kind = fields::get_str(data, "kind")?.ok_or_else(|| Error::invalid("kind: required"))?;
    let webhooks = match fields::get_raw(data, "webhooks") {
        None | Some(Value::Null) => {
            return Err(Error::invalid("webhooks: at least one webhook is required"));
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, w)| webhook(i, w))
            .collect::<Result<Vec<_>>>()?,
        Some(Value::Object(_)) => vec![webhook(
            0,
            fields::get_raw(data, "webhooks").unwrap_or(&Value::Null),
        )?],
        Some(_) => return Err(Error::invalid("webhooks: expected a list of objects")),
    };
    Ok(RuleInput {
        name,
        kind,
        threshold: fields::get_int(data, "threshold")?,
        window: fields::get_duration(data, "window")?,
        group_by: fields::get_str_list(data, "group_by")?,
        cooldown: fields::get_duration(data, "cooldown")?,
        webhooks,
    })
}

const WEBHOOK_KEYS: &[&str] = &["url", "format", "timeout", "max_attempts", "per_minute"];

fn webhook(i: usize, v: &Value) -> Result<WebhookInput> {
    let at = format!("webhooks[{i}]");
    let Value::Object(m) = v else {
        return Err(Error::invalid(format!(
            "{at}: expected an object with url and format"
        )));
    };
    if let Some(k) = m.keys().find(|k| !WEBHOOK_KEYS.contains(&k.as_str())) {
        return Err(Error::invalid(format!(
            "{at}: unknown key {:?}",
            k.chars().take(64).collect::<String>()
        )));
    }
    let named = |e: Error| Error::invalid(format!("{at}.{e}"));
    Ok(WebhookInput {
        url: fields::get_str(m, "url")
            .map_err(named)?
            .unwrap_or_default(),
        format: fields::get_str(m, "format").map_err(named)?,
        timeout: fields::get_duration(m, "timeout").map_err(named)?,
        max_attempts: fields::get_int(m, "max_attempts").map_err(named)?,
        per_minute: fields::get_int(m, "per_minute").map_err(named)?,
    })
}
