//! `coffer audit report`: the daily review of audit logs (the logic is
//! `coffer_audit::report`; this file reads the command line and the files).

use anyhow::{Context, Result, bail};
use std::io::BufRead;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const HELP: &str = "Usage: coffer audit report [options] FILES...

  Sum up audit logs (JSON entry lines in the audit format; a device prefix, the chain
  member and checkpoint lines are allowed): denials by accessor and path,
  logins, root-token use, policy and mount changes. '-' reads stdin.

Options:
  -since=<time>     Only entries at or after this time: RFC 3339
                    (2026-12-07T00:00:00Z) or a duration back from now (24h).
  -format=<fmt>     table (default) or json.
  -store=<url>      Read the objects under s3://bucket/prefix instead of files
                    (an object-store device's segments, in counter order). The
                    store is set as for the AWS CLI: AWS_ACCESS_KEY_ID,
                    AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL.
";

pub fn run(args: &[String]) -> Result<i32> {
    if args
        .iter()
        .any(|a| a == "-h" || a == "-help" || a == "--help")
    {
        print!("{HELP}");
        return Ok(0);
    }
    let f = crate::flags::parse(args, &[], &["since", "format", "store"])?;
    let since = match f.get("since") {
        None => None,
        Some(s) => Some(parse_since(s)?),
    };
    let format = f.get("format").unwrap_or("table");
    if !matches!(format, "table" | "json") {
        bail!("-format: expected table or json, found {format:?}");
    }
    let mut report = coffer_audit::report::Report::new(since);
    if let Some(url) = f.get("store") {
        if !f.args.is_empty() {
            bail!("give either -store or files, not both");
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let at = coffer_audit::report::store::Location::default();
        rt.block_on(coffer_audit::report::store::read_objects(url, at, |_, bytes| {
            for line in bytes.split(|b| *b == b'\n') {
                report.add_line(&String::from_utf8_lossy(line));
            }
            true
        }))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        print_report(&report, format)?;
        return Ok(0);
    }
    if f.args.is_empty() {
        eprint!("{HELP}");
        bail!("no audit log files given");
    }
    for path in &f.args {
        let reader: Box<dyn BufRead> = if path == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::io::BufReader::new(
                std::fs::File::open(path).with_context(|| format!("open {path}"))?,
            ))
        };
        for line in reader.split(b'\n') {
            let line = line.with_context(|| format!("read {path}"))?;
            report.add_line(&String::from_utf8_lossy(&line));
        }
    }
    print_report(&report, format)?;
    Ok(0)
}

fn print_report(report: &coffer_audit::report::Report, format: &str) -> Result<()> {
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(&report.to_json())?),
        _ => print!("{}", report.to_table()),
    }
    Ok(())
}

/// RFC 3339, or a duration (`24h`, `90m`, `3600`) back from now.
fn parse_since(s: &str) -> Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let d = coffer_config::duration::parse(s).map_err(|_| {
        anyhow::anyhow!("-since: expected an RFC 3339 time or a duration such as 24h, found {s:?}")
    })?;
    Ok(OffsetDateTime::now_utc() - d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_durations() {
        assert_eq!(
            parse_since("2026-12-07T00:00:00Z")
                .unwrap()
                .unix_timestamp(),
            1_796_601_600
        );
        let back = OffsetDateTime::now_utc() - parse_since("24h").unwrap();
        assert!((back.whole_seconds() - 86_400).abs() < 5);
        assert!(parse_since("yesterday").is_err());
    }
}
