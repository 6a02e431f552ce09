//! `audit list|enable|disable` over `sys/audit` (output as `bao audit ...`),
//! and the two offline tools: `audit verify` (hash chains) and `audit
//! report` (the daily review), which live in their own files.

use crate::common;
use crate::format;
use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

const HELP: &str = "Usage: coffer audit <subcommand> [options] [args]

  This command groups subcommands for interacting with Coffer's audit devices.
  Users can list, enable, and disable audit devices.

  List all enabled audit devices:

      $ coffer audit list

  Enable a new audit device \"file\";

       $ coffer audit enable file file_path=/var/log/audit.log

Subcommands:
    disable    Disables an audit device
    enable     Enables an audit device
    list       Lists enabled audit devices
    report     Summarises audit logs for a review (offline)
    verify     Verifies the hash chains of audit logs (offline)
";

fn h(usage_line: &str, body: &str, opts: &str) -> String {
    format!(
        "Usage: coffer audit {usage_line}\n\n{body}\n{}{opts}",
        crate::client::HTTP_HELP
    )
}

pub fn run(argv: &[String]) -> Result<i32> {
    let rest = argv.get(1..).unwrap_or_default();
    match argv.first().map(String::as_str) {
        Some("list") => list(rest),
        Some("enable") => enable(rest),
        Some("disable") => disable(rest),
        Some("verify") => crate::audit_verify::run(rest),
        Some("report") => crate::audit_report::run(rest),
        other => common::group_fallback(other, HELP, "audit"),
    }
}

fn na(s: &str) -> String {
    if s.is_empty() {
        "n/a".into()
    } else {
        s.to_string()
    }
}

fn list(argv: &[String]) -> Result<i32> {
    let help = h(
        "list [options]",
        "  Lists the enabled audit devices in the Coffer server. The output lists the\n  enabled audit devices and the options for those devices.\n\n      $ coffer audit list\n      $ coffer audit list -detailed\n",
        "\nCommand Options:\n\n  -detailed\n      Print detailed information such as options and replication status\n      about each audit device.\n",
    );
    let Some(c) = common::parse(argv, &help, &["detailed"], &[])? else {
        return Ok(0);
    };
    c.want_args(0, 0)?;
    let client = c.client()?;
    let s = client
        .read("sys/audit", &[])
        .context("Error listing audits")?
        .unwrap_or(Value::Null);
    let data = s
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut paths: Vec<&String> = data.keys().collect();
    paths.sort();
    let mut out = Map::new();
    for p in &paths {
        let d = &data[*p];
        out.insert(
            (*p).clone(),
            json!({
                "type": d.get("type").cloned().unwrap_or(json!("")),
                "description": d.get("description").cloned().unwrap_or(json!("")),
                "options": d.get("options").cloned().unwrap_or(json!({})),
                "local": d.get("local").cloned().unwrap_or(json!(false)),
                "path": d.get("path").cloned().unwrap_or(json!(p)),
            }),
        );
    }
    if c.format == format::Format::Table && paths.is_empty() {
        println!("No audit devices are enabled.");
        return Ok(0);
    }
    let detailed = c.f.bool("detailed");
    format::print_struct(c.format, &Value::Object(out.clone()), || {
        let head: Vec<String> = if detailed {
            ["Path", "Type", "Description", "Replication", "Options"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            ["Path", "Type", "Description"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        };
        let mut rows = vec![
            head.clone(),
            head.iter().map(|h| "-".repeat(h.len())).collect(),
        ];
        for p in &paths {
            let d = &out[*p];
            let mut r = vec![
                (*p).clone(),
                format::go_value(&d["type"]),
                na(d["description"].as_str().unwrap_or("")),
            ];
            if detailed {
                r.push(if d["local"].as_bool().unwrap_or(false) {
                    "local".into()
                } else {
                    "replicated".into()
                });
                // Go prints the options map in random order; sorted here.
                let opts: Vec<String> = d["options"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", format::go_value(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                r.push(opts.join(" "));
            }
            rows.push(r);
        }
        format::columns(&rows)
    });
    Ok(0)
}

fn enable(argv: &[String]) -> Result<i32> {
    let help = h(
        "enable [options] TYPE [CONFIG K=V...]",
        "  Enables an audit device at a given path.\n\n  This command enables an audit device of TYPE. Additional options for\n  configuring the audit device can be specified after the type in the same\n  format as the \"coffer write\" command in key/value pairs.\n\n  For example, to configure the file audit device to write audit logs at the\n  path \"/var/log/audit.log\":\n\n      $ coffer audit enable file file_path=/var/log/audit.log\n",
        "\nCommand Options:\n\n  -description=<string>\n      Human-friendly description for the purpose of this audit device.\n\n  -local\n      Mark the audit device as a local-only device. Local devices are not\n      replicated or removed by replication.\n\n  -path=<string>\n      Place where the audit device will be accessible. This must be unique\n      across all audit devices. This defaults to the \"type\" of the audit\n      device.\n",
    );
    let Some(c) = common::parse(argv, &help, &["local"], &["path", "description"])? else {
        return Ok(0);
    };
    let args = c.args();
    let Some(kind) = args.first() else {
        return Err(common::usage(
            "Error enabling audit device: audit type missing. Valid types include 'file', 'socket' and 'syslog'.",
        ));
    };
    let kind = kind.trim().to_string();
    let options = common::parse_data(&args[1..])?;
    let path =
        c.f.get("path")
            .map(str::to_string)
            .unwrap_or_else(|| kind.clone());
    let path = format!("{}/", path.trim_matches('/'));
    let body = json!({
        "type": kind,
        "description": c.f.get("description").unwrap_or(""),
        "options": Value::Object(options),
        "local": c.f.bool("local"),
    });
    let client = c.client()?;
    client
        .write_method(
            "PUT",
            &format!("sys/audit/{}", path.trim_end_matches('/')),
            &body,
        )
        .context("Error enabling audit device")?;
    println!("Success! Enabled the {kind} audit device at: {path}");
    Ok(0)
}

fn disable(argv: &[String]) -> Result<i32> {
    let help = h(
        "disable [options] PATH",
        "  Disables an audit device. Once an audit device is disabled, no future audit\n  logs are dispatched to it. The data associated with the audit device is not\n  affected.\n\n  The argument corresponds to the PATH of audit device, not the TYPE!\n\n      $ coffer audit disable file/\n",
        "",
    );
    let Some(c) = common::parse(argv, &help, &[], &[])? else {
        return Ok(0);
    };
    c.want_args(1, 1)?;
    let path = format!("{}/", c.args()[0].trim_matches('/'));
    let client = c.client()?;
    client
        .delete(&format!("sys/audit/{}", path.trim_end_matches('/')), &[])
        .context("Error disabling audit device")?;
    println!("Success! Disabled audit device (if it was enabled) at: {path}");
    Ok(0)
}
