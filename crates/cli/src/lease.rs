//! `lease lookup|renew|revoke` over `sys/leases/*`.

use crate::common::{self, output_secret, usage};
use anyhow::{Context, Result};
use serde_json::json;

const HELP: &str = "Usage: coffer lease <subcommand> [options] [args]

  This command groups subcommands for interacting with leases.

      $ coffer lease lookup database/creds/readonly/2f6a614c...
      $ coffer lease renew -increment=1h database/creds/readonly/2f6a614c...
      $ coffer lease revoke database/creds/readonly/2f6a614c...
      $ coffer lease revoke -prefix database/creds/

Subcommands:
    lookup    Lookup a lease
    renew     Renew a lease
    revoke    Revoke a lease or all leases under a prefix
";

fn h(u: &str, body: &str) -> String {
    format!("Usage: coffer lease {u}\n\n{body}\n{}", crate::client::HTTP_HELP)
}

pub fn run(argv: &[String]) -> Result<i32> {
    let rest = argv.get(1..).unwrap_or_default();
    match argv.first().map(String::as_str) {
        Some("lookup") => {
            let Some(c) = common::parse(rest, &h("lookup [options] ID", "  Looks up a lease by its id.\n\n      $ coffer lease lookup database/creds/readonly/2f6a614c\n"), &[], &["field"])? else { return Ok(0) };
            c.want_args(1, 1)?;
            let id = c.args()[0].trim().to_string();
            let s = c.client()?.write("sys/leases/lookup", &json!({ "lease_id": id })).with_context(|| format!("error looking up lease id {id}"))?;
            match s {
                Some(s) => output_secret(&c, &s),
                None => Ok(0),
            }
        }
        Some("renew") => {
            let Some(c) = common::parse(rest, &h("renew [options] ID", "  Renews a lease, optionally asking for -increment more time.\n\n      $ coffer lease renew -increment=1h database/creds/readonly/2f6a614c\n"), &[], &["field", "increment"])? else { return Ok(0) };
            c.want_args(1, 1)?;
            let id = c.args()[0].trim().to_string();
            let mut body = json!({ "lease_id": id });
            if let Some(i) = c.f.get("increment") {
                body["increment"] = json!(i);
            }
            let s = c.client()?.write("sys/leases/renew", &body).with_context(|| format!("Error renewing {id}"))?;
            match s {
                Some(s) => output_secret(&c, &s),
                None => Ok(0),
            }
        }
        Some("revoke") => {
            let Some(c) = common::parse(
                rest,
                &h("revoke [options] ID", "  Revokes a lease, or with -prefix every lease under a prefix (-force ignores\n  backend errors and needs sudo).\n\n      $ coffer lease revoke database/creds/readonly/2f6a614c\n      $ coffer lease revoke -prefix database/creds/\n"),
                &["prefix", "force", "f", "sync"],
                &[],
            )?
            else {
                return Ok(0);
            };
            c.want_args(1, 1)?;
            let id = c.args()[0].trim().to_string();
            let force = c.f.bool("force") || c.f.bool("f");
            if force && !c.f.bool("prefix") {
                return Err(usage("Specifying -force requires also specifying -prefix"));
            }
            if force {
                // bao prints the same warning (on stderr) before a forced revoke.
                eprintln!("Warning! Force-removing leases can cause Coffer to become out of sync with\nsecret engines!");
            }
            let client = c.client()?;
            let res = if force {
                client.write(&format!("sys/leases/revoke-force/{id}"), &json!({}))
            } else if c.f.bool("prefix") {
                client.write(&format!("sys/leases/revoke-prefix/{id}"), &json!({ "sync": c.f.bool("sync") }))
            } else {
                client.write("sys/leases/revoke", &json!({ "lease_id": id, "sync": c.f.bool("sync") }))
            };
            if force {
                res.with_context(|| format!("Error force revoking leases with prefix {id}"))?;
                println!("Success! Force revoked any leases with prefix: {id}");
            } else if c.f.bool("prefix") {
                res.with_context(|| format!("Error revoking leases with prefix {id}"))?;
                if c.f.bool("sync") {
                    println!("Success! Revoked any leases with prefix: {id}");
                } else {
                    println!("All revocation operations queued successfully!");
                }
            } else {
                res.with_context(|| format!("Error revoking lease {id}"))?;
                if c.f.bool("sync") {
                    println!("Success! Revoked lease: {id}");
                } else {
                    println!("All revocation operations queued successfully!");
                }
            }
            Ok(0)
        }
        other => common::group_fallback(other, HELP, "lease"),
    }
}
