//! `coffer audit verify`: check the hash chain and checkpoint signatures of
//! an audit device's log files (or object-store segments) and name the
//! first place the chain breaks. The checking itself is
//! `coffer_audit::chain::verify`; this file gathers the inputs (files, the
//! public key, the trusted checkpoint from a file or the server) and prints.

use crate::common::{self, usage};
use crate::format::Format;
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use coffer_audit::chain::Checkpoint;
use coffer_audit::chain::verify::{Report, Verifier};
use serde_json::{Value, json};
use std::io::BufReader;

const HELP: &str = "Usage: coffer audit verify [options] FILES...
       coffer audit verify [options] -store s3://bucket/prefix

  Checks the hash chain of an audit device's log: every line must continue
  the one before it, every checkpoint and resume mark must be signed by the
  device's key, the log must start at the chain's start or at a signed mark,
  and (given the latest checkpoint) must reach it. Give the files of a
  device oldest first (rotated files, then the current one). Prints where
  the chain first breaks: file, line number and seq.

  Exit code 0 when intact (warnings, such as lines no checkpoint covers yet,
  are printed), 1 when broken or on error.

Verify Options:

  -public-key=<file|base64>
      The device's Ed25519 public key (base64, as sys/audit-checkpoint
      publishes it), or a file holding it. May be repeated.

  -checkpoint=<file>
      The latest checkpoint, a JSON file: the response of
      GET sys/audit-checkpoint/:path (its public key is used when no
      -public-key is given). The log must contain it, or its tail was cut.

  -device=<path>
      Fetch the public key and latest checkpoint of this device from the
      server (-address, VAULT_ADDR; a token with sudo on
      sys/audit-checkpoint/<path>).

  -store=s3://bucket/prefix
      Read the segments of an object-store device, in counter order
      (-endpoint URL, -region R).

  -format=json
      Print the report as JSON.
";

pub fn run(args: &[String]) -> Result<i32> {
    let Some(c) = common::parse(
        args,
        HELP,
        &[],
        &[
            "public-key",
            "checkpoint",
            "device",
            "store",
            "endpoint",
            "region",
        ],
    )?
    else {
        return Ok(0);
    };
    let f = &c.f;
    let mut keys = Vec::new();
    for k in f.all("public-key") {
        keys.push(public_key(&k)?);
    }
    let mut trusted = None;
    if let Some(path) = f.get("checkpoint") {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        let v: Value = serde_json::from_str(&text).with_context(|| format!("{path}: not JSON"))?;
        let (k, cp) = published(&v).with_context(|| path.to_string())?;
        trusted = cp;
        if keys.is_empty()
            && let Some(k) = k
        {
            keys.push(k);
        }
    }
    if let Some(device) = f.get("device") {
        let client = c.client()?;
        let path = format!("sys/audit-checkpoint/{}", device.trim_matches('/'));
        let v = client
            .read(&path, &[])?
            .ok_or_else(|| anyhow!("{path}: no chained audit device at this path"))?;
        let (k, cp) = published(&v)?;
        trusted = cp.or(trusted);
        if let Some(k) = k
            && !keys.contains(&k)
        {
            keys.push(k);
        }
    }

    let mut v = Verifier::new(keys, trusted);
    if let Some(url) = f.get("store") {
        if !f.args.is_empty() {
            return Err(usage("give either FILES or -store, not both"));
        }
        read_store(&mut v, url, f.get("endpoint"), f.get("region"))?;
    } else {
        if f.args.is_empty() {
            return Err(usage(
                "Not enough arguments: give the log files (oldest first) or -store",
            ));
        }
        for name in &f.args {
            let file = std::fs::File::open(name).with_context(|| format!("opening {name}"))?;
            if !v
                .read(name, BufReader::new(file))
                .with_context(|| format!("reading {name}"))?
            {
                break;
            }
        }
    }
    let report = v.finish();
    match c.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&json_report(&report))?),
        _ => print_text(&report),
    }
    Ok(if report.intact() { 0 } else { 1 })
}

/// A public key: base64 text, or a file holding base64 text or the
/// sys/audit-checkpoint response.
fn public_key(arg: &str) -> Result<Vec<u8>> {
    let text = match std::fs::read_to_string(arg) {
        Ok(t) => t,
        Err(_) => arg.to_string(),
    };
    let t = text.trim();
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(t).context("public key file: not JSON")?;
        return published(&v)?
            .0
            .ok_or_else(|| anyhow!("public key file: no public_key"));
    }
    decode_key(t)
}

fn decode_key(b64: &str) -> Result<Vec<u8>> {
    let k = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| anyhow!("public key: not base64"))?;
    if k.len() != 32 {
        bail!(
            "public key: an Ed25519 public key is 32 bytes, got {}",
            k.len()
        );
    }
    Ok(k)
}

/// The public key and checkpoint of a sys/audit-checkpoint answer (whole
/// response, its `data`, or a bare checkpoint object).
fn published(v: &Value) -> Result<(Option<Vec<u8>>, Option<Checkpoint>)> {
    let d = v.get("data").filter(|d| d.is_object()).unwrap_or(v);
    let key = match d.get("public_key").and_then(Value::as_str) {
        Some(k) => Some(decode_key(k)?),
        None => None,
    };
    let cp = match d.get("checkpoint") {
        Some(Value::Null) => None,
        Some(c) => Some(serde_json::from_value(c.clone()).context("checkpoint: bad shape")?),
        None if d.get("signature").is_some() => {
            Some(serde_json::from_value(d.clone()).context("checkpoint: bad shape")?)
        }
        None => None,
    };
    if key.is_none() && cp.is_none() {
        bail!("neither a public_key nor a checkpoint");
    }
    Ok((key, cp))
}

/// Feed the segments of an object-store device under `url`
/// (`s3://bucket/prefix`) to the verifier in counter order, each named by
/// its key, until the chain is judged broken.
fn read_store(
    v: &mut Verifier,
    url: &str,
    endpoint: Option<&str>,
    region: Option<&str>,
) -> Result<()> {
    use coffer_audit::report::store::{Location, read_objects};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut failed = None;
    let at = Location { endpoint, region };
    rt.block_on(read_objects(url, at, |key, bytes| match v.read(key, bytes) {
        Ok(more) => more,
        Err(e) => {
            failed = Some(anyhow!("reading {key}: {e}"));
            false
        }
    }))
    .map_err(|e| anyhow!("{e}"))?;
    failed.map_or(Ok(()), Err)
}

fn json_report(r: &Report) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("intact".into(), json!(r.intact()));
    }
    v
}

fn print_text(r: &Report) {
    let range = match (&r.first, &r.last) {
        (Some(a), Some(b)) => format!(", seq {}..{}", a.seq.unwrap_or(0), b.seq.unwrap_or(0)),
        _ => String::new(),
    };
    let summary = format!(
        "{} lines ({} entries, {} checkpoints, {} resumes){range}",
        r.lines, r.entries, r.checkpoints, r.resumes
    );
    match &r.broken {
        None => println!("Chain intact: {summary}"),
        Some(b) => {
            let at = b
                .place
                .as_ref()
                .map(|p| format!(" at {p}"))
                .unwrap_or_default();
            println!(
                "Chain BROKEN{at}: {} [{}]",
                b.message,
                serde_json::to_value(b.kind)
                    .ok()
                    .and_then(|k| k.as_str().map(str::to_string))
                    .unwrap_or_default()
            );
            println!("Read before the break: {summary}");
        }
    }
    if let Some(p) = &r.signed_through {
        println!("Signed through: {p}");
    }
    if let Some(p) = &r.trusted_checkpoint {
        println!("Latest checkpoint found at: {p}");
    }
    for w in &r.warnings {
        println!("Warning: {}", w.message);
    }
}
