//! `kv ...`: the key/value commands with Vault's v1/v2 detection
//! (`GET sys/internal/ui/mounts/<path>`; 404 means an old server → v1).

use crate::client::{Client, status_of};
use crate::common::{self, Cmd, output_secret, parse_data, sanitize, usage};
use crate::format::{self, Format};
use crate::generic::print_list;
use anyhow::{Context, Result, anyhow};
use serde_json::{Map, Value, json};

const KV_HELP: &str = "Usage: coffer kv <subcommand> [options] [args]

  This command has subcommands for interacting with Coffer's key-value
  store. The version of the mount (v1 or v2) is detected automatically.

  Create or update the key named \"foo\" in the \"secret\" mount:

      $ coffer kv put -mount=secret foo bar=baz

  Get the value back:

      $ coffer kv get -mount=secret foo

  Get a specific version of the key:

      $ coffer kv get -mount=secret -version=1 foo

Subcommands:
    delete      Deletes versions in the KV store
    destroy     Permanently removes one or more versions in the KV store
    get         Retrieves data from the KV store
    list        List data or secrets
    metadata    Interact with Coffer's Key-Value storage
    patch       Sets or updates data in the KV store without overwriting
    put         Sets or updates data in the KV store
    rollback    Rolls back to a previous version of data
    undelete    Undeletes versions in the KV store
";

const METADATA_HELP: &str = "Usage: coffer kv metadata <subcommand> [options] [args]

  Interact with the metadata of a kv v2 secret (versions, max_versions,
  cas_required, delete_version_after, custom_metadata).

      $ coffer kv metadata get -mount=secret foo
      $ coffer kv metadata put -mount=secret -max-versions=5 foo

Subcommands:
    delete    Deletes all versions and metadata for a key in the KV store
    get       Retrieves key metadata from the KV store
    patch     Patches key settings in the KV store
    put       Sets or updates key settings in the KV store
";

fn sub_help(usage_line: &str, body: &str, opts: &str) -> String {
    format!(
        "Usage: coffer kv {usage_line}\n\n{body}\n{}\nCommon Options:\n\n  -mount=<string>   The mount of the secret; with it the path argument is\n                    relative to the mount (\"-mount=secret foo\").\n\nOutput Options:\n\n  -field=<string>   Print only the field with the given name.\n  -format=<string>  table, json or yaml.\n\n{}",
        if opts.is_empty() { String::new() } else { format!("Command Options:\n\n{opts}\n") },
        crate::client::HTTP_HELP
    )
}

/// `(mount path, version)` for `path` as the Vault CLI finds them.
pub fn preflight(client: &mut Client, path: &str) -> Result<(String, u8)> {
    let saved = client.wrap_ttl().map(str::to_string);
    client.set_wrap_ttl(None);
    let r = client.raw("GET", &format!("sys/internal/ui/mounts/{path}"), &[], None);
    client.set_wrap_ttl(saved);
    let body = match r {
        Ok((_, b)) => b,
        Err(e) if status_of(&e) == Some(404) => return Ok((String::new(), 1)),
        Err(e) => return Err(e),
    };
    let d = body.get("data").ok_or_else(|| anyhow!("nil response from pre-flight request"))?;
    let mount = d.get("path").and_then(Value::as_str).unwrap_or_default().to_string();
    let v = d.get("options").and_then(|o| o.get("version")).and_then(Value::as_str).unwrap_or("1");
    Ok((mount, if v == "2" { 2 } else { 1 }))
}

/// `secret/foo` + mount `secret/` + `data` → `secret/data/foo`.
pub fn add_prefix(path: &str, mount: &str, api: &str) -> String {
    let m = mount.trim_end_matches('/');
    let p = path.trim_start_matches('/');
    let rest = if p == m { "" } else { p.strip_prefix(&format!("{m}/")).unwrap_or(p) };
    if rest.is_empty() { format!("{m}/{api}") } else { format!("{m}/{api}/{rest}") }
}

/// Vault's `padEqualSigns`.
pub fn pad_equal(header: &str, total: usize) -> String {
    let mut n = total as i64 - (header.len() as i64 + 2);
    if n <= 0 {
        n = 4;
    }
    if n % 2 != 0 {
        n += 1;
    }
    let side = "=".repeat((n / 2) as usize);
    format!("{side} {header} {side}")
}

fn header_for_map(header: &str, m: &Map<String, Value>) -> String {
    let max = m.keys().map(String::len).max().unwrap_or(0);
    pad_equal(header, max + 4 + 5)
}

fn output_path(path: &str, header: &str) {
    println!("{}", pad_equal(header, path.len()));
    println!("{path}\n");
}

fn print_map(header: &str, m: &Map<String, Value>) {
    println!("{}", header_for_map(header, m));
    print!("{}", format::key_value_table(format::kv_rows(m)));
}

/// A write's outcome as Vault's CLI prints it: the response if there is one,
/// else the success line (table format only).
fn written(kv: &Kv, full: &str, s: Option<Value>) -> Result<i32> {
    match s {
        None => {
            if kv.c.format == Format::Table {
                println!("Success! Data written to: {full}");
            }
            Ok(0)
        }
        Some(s) => output_secret(&kv.c, &s),
    }
}

struct Kv {
    c: Cmd,
    client: Client,
    /// the user's path (joined with -mount)
    path: String,
    mount: String,
    v2: bool,
}

fn setup(argv: &[String], help: &str, bools: &[&str], valued: &[&str], nargs: (usize, usize)) -> Result<Option<Kv>> {
    let mut v = vec!["mount", "field"];
    v.extend_from_slice(valued);
    let Some(c) = common::parse(argv, help, bools, &v)? else { return Ok(None) };
    c.want_args(nargs.0, nargs.1)?;
    let mut client = c.client()?;
    let arg = sanitize(&c.args()[0]);
    let (path, mount, version) = match c.f.get("mount").filter(|m| !m.is_empty()) {
        Some(m) => {
            let m = sanitize(m);
            let (mp, version) = preflight(&mut client, &m)?;
            let mp = if mp.is_empty() { format!("{m}/") } else { mp };
            (format!("{}/{}", mp.trim_end_matches('/'), arg), mp, version)
        }
        None => {
            let (mp, version) = preflight(&mut client, &arg)?;
            (arg.clone(), mp, version)
        }
    };
    Ok(Some(Kv { c, client, path, mount, v2: version == 2 }))
}

impl Kv {
    fn api(&self, api: &str) -> String {
        add_prefix(&self.path, &self.mount, api)
    }
}

pub fn run(argv: &[String]) -> Result<i32> {
    let rest = argv.get(1..).unwrap_or_default();
    match argv.first().map(String::as_str) {
        Some("get") => get(rest),
        Some("put") => put(rest, false),
        Some("patch") => put(rest, true),
        Some("list") => list(rest),
        Some("delete") => delete(rest),
        Some("undelete") => versions_op(rest, "undelete"),
        Some("destroy") => versions_op(rest, "destroy"),
        Some("rollback") => rollback(rest),
        Some("metadata") => metadata(rest),
        Some("-h" | "-help" | "--help") => {
            print!("{KV_HELP}");
            Ok(0)
        }
        None => {
            eprint!("{KV_HELP}");
            Ok(127)
        }
        Some(other) => Err(usage(format!("Unknown subcommand: kv {other}\n\n{KV_HELP}"))),
    }
}

fn get(argv: &[String]) -> Result<i32> {
    let help = sub_help(
        "get [options] KEY",
        "  Retrieves the value from the KV store at the given key name. For kv v2,\n  -version reads an older version.\n\n      $ coffer kv get -mount=secret foo\n      $ coffer kv get -mount=secret -version=1 foo\n      $ coffer kv get -field=password secret/db\n",
        "  -version=<int>    The version to return (kv v2). Default latest.\n",
    );
    let Some(kv) = setup(argv, &help, &[], &["version"], (1, 1))? else { return Ok(0) };
    let (full, query) = if kv.v2 {
        let q = kv.c.f.get("version").filter(|v| *v != "0").map(|v| vec![("version".to_string(), v.to_string())]).unwrap_or_default();
        (kv.api("data"), q)
    } else {
        (kv.path.clone(), vec![])
    };
    let s = kv.client.read(&full, &query).with_context(|| format!("Error reading {full}"))?;
    let Some(s) = s else {
        eprintln!("No value found at {full}");
        return Ok(2);
    };
    if let Some(field) = kv.c.f.get("field") {
        let inner = if kv.v2 { s.get("data").and_then(|d| d.get("data")).cloned() } else { s.get("data").cloned() };
        let v = inner.and_then(|d| d.get(field).cloned()).filter(|v| !v.is_null());
        return format::print_field(kv.c.format, field, v);
    }
    if s.get("wrap_info").is_some_and(|w| w.is_object()) || kv.c.format != Format::Table {
        return output_secret(&kv.c, &s);
    }
    if let Some(w) = format::warnings_text(&s) {
        print!("{w}");
    }
    let mut data = s.get("data").and_then(Value::as_object).cloned();
    if kv.v2 {
        output_path(&full, "Secret Path");
        let meta = s.get("data").and_then(|d| d.get("metadata")).and_then(Value::as_object).cloned().unwrap_or_default();
        print_map("Metadata", &meta);
        println!();
        data = s.get("data").and_then(|d| d.get("data")).and_then(Value::as_object).cloned();
    }
    if let Some(d) = data {
        print_map("Data", &d);
    }
    Ok(0)
}

fn put(argv: &[String], patch: bool) -> Result<i32> {
    let help = if patch {
        sub_help(
            "patch [options] KEY [DATA]",
            "  Writes the data to the given path in the key-value store without\n  replacing the other keys (kv v2 only). Values can come from files (@) or\n  stdin (-).\n\n      $ coffer kv patch -mount=secret foo bar=baz\n      $ coffer kv patch -mount=secret -method=rw foo bar=baz\n",
            "  -cas=<int>        Check-and-set version (-1: not used).\n  -method=<string>  patch (HTTP PATCH, default) or rw (read then write).\n",
        )
    } else {
        sub_help(
            "put [options] KEY [DATA]",
            "  Writes the data to the given path in the key-value store. The data can be\n  of any type. Values can come from files (@) or stdin (-), so a secret need\n  not appear on the command line.\n\n      $ coffer kv put -mount=secret foo bar=baz\n      $ coffer kv put -mount=secret foo password=@password.txt\n      $ echo -n s3cret | coffer kv put -mount=secret foo password=-\n",
            "  -cas=<int>        Check-and-set version; 0 writes only if the key does\n                    not exist (kv v2). Default -1: not used.\n",
        )
    };
    let Some(kv) = setup(argv, &help, &[], &["cas", "method"], (1, usize::MAX))? else { return Ok(0) };
    let data = parse_data(&kv.c.args()[1..])?;
    if data.is_empty() {
        return Err(usage("Must supply data"));
    }
    let cas: i64 = match kv.c.f.get("cas") {
        Some(v) => v.parse().map_err(|_| usage(format!("invalid value {v:?} for flag -cas: parse error")))?,
        None => -1,
    };
    let (full, res) = if kv.v2 {
        let full = kv.api("data");
        let mut body = json!({ "data": Value::Object(data.clone()) });
        if cas > -1 {
            body["options"] = json!({ "cas": cas });
        }
        if patch {
            match kv.c.f.get("method").unwrap_or("patch") {
                "patch" | "" => (full.clone(), kv.client.patch(&full, &body)),
                "rw" => {
                    let cur = kv.client.read(&full, &[]).with_context(|| format!("Error doing pre-read at {full}"))?;
                    let Some(cur) = cur.and_then(|s| s.get("data").and_then(|d| d.get("data")).cloned()).filter(Value::is_object) else {
                        eprintln!("No value found at {full}");
                        return Ok(2);
                    };
                    let mut merged = cur.as_object().cloned().unwrap_or_default();
                    merged.extend(data);
                    body["data"] = Value::Object(merged);
                    (full.clone(), kv.client.write(&full, &body))
                }
                m => return Err(usage(format!("Unsupported method provided to -method flag: {m}"))),
            }
        } else {
            (full.clone(), kv.client.write(&full, &body))
        }
    } else {
        if patch {
            eprintln!("K/V engine mount must be version 2 for patch support");
            return Ok(2);
        }
        (kv.path.clone(), kv.client.write(&kv.path, &Value::Object(data)))
    };
    let s = res.with_context(|| format!("Error writing data to {full}"))?;
    let Some(s) = s else {
        if kv.c.format == Format::Table {
            println!("Success! Data written to: {full}");
        }
        return Ok(0);
    };
    if kv.c.f.get("field").is_some() || kv.c.format != Format::Table || !kv.v2 {
        return output_secret(&kv.c, &s);
    }
    if let Some(w) = format::warnings_text(&s) {
        print!("{w}");
    }
    output_path(&full, "Secret Path");
    let meta = s.get("data").and_then(Value::as_object).cloned().unwrap_or_default();
    print_map("Metadata", &meta);
    Ok(0)
}

fn list(argv: &[String]) -> Result<i32> {
    let help = sub_help("list [options] PATH", "  Lists values at the given path (folders end in /).\n\n      $ coffer kv list -mount=secret my-app/\n", "");
    let Some(kv) = setup(argv, &help, &[], &[], (1, 1))? else { return Ok(0) };
    let full = if kv.v2 { kv.api("metadata") } else { kv.path.clone() };
    let s = kv.client.list(&full).with_context(|| format!("Error listing {full}"))?;
    print_list(&kv.c, &full, s)
}

fn parse_versions(c: &Cmd) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for v in c.f.all("versions") {
        for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let n: u64 = p.parse().map_err(|_| usage(format!("invalid version {p:?}")))?;
            out.push(json!(n));
        }
    }
    Ok(out)
}

fn delete(argv: &[String]) -> Result<i32> {
    let help = sub_help(
        "delete [options] PATH",
        "  Deletes the data at the given path (kv v2: soft-deletes the latest version,\n  or -versions; it can be undeleted).\n\n      $ coffer kv delete -mount=secret foo\n      $ coffer kv delete -mount=secret -versions=1,2 foo\n",
        "  -versions=<int,...>  Versions to delete (kv v2).\n",
    );
    let Some(kv) = setup(argv, &help, &[], &["versions"], (1, 1))? else { return Ok(0) };
    let versions = parse_versions(&kv.c)?;
    let (full, res) = if kv.v2 && !versions.is_empty() {
        let full = kv.api("delete");
        (full.clone(), kv.client.write(&full, &json!({ "versions": versions })))
    } else if kv.v2 {
        let full = kv.api("data");
        (full.clone(), kv.client.delete(&full, &[]))
    } else {
        (kv.path.clone(), kv.client.delete(&kv.path, &[]))
    };
    let s = res.with_context(|| format!("Error deleting {full}"))?;
    match s {
        Some(s) if kv.c.format != Format::Table => output_secret(&kv.c, &s),
        _ => {
            if kv.c.format == Format::Table {
                println!("Success! Data deleted (if it existed) at: {full}");
            }
            Ok(0)
        }
    }
}

fn versions_op(argv: &[String], op: &str) -> Result<i32> {
    let what = if op == "undelete" { "Undeletes the data for the given versions" } else { "Permanently removes the given versions" };
    let help = sub_help(
        &format!("{op} [options] KEY"),
        &format!("  {what} (kv v2).\n\n      $ coffer kv {op} -mount=secret -versions=2 foo\n"),
        "  -versions=<int,...>  The versions (required).\n",
    );
    let Some(kv) = setup(argv, &help, &[], &["versions"], (1, 1))? else { return Ok(0) };
    let versions = parse_versions(&kv.c)?;
    if versions.is_empty() {
        return Err(usage("No versions provided, use the \"-versions\" flag to specify the version to ".to_string() + op + "."));
    }
    if !kv.v2 {
        let name = if op == "undelete" { "Undelete" } else { "Destroy" };
        eprintln!("{name} not supported on KV Version 1");
        return Ok(1);
    }
    let full = kv.api(op);
    let s = kv.client.write(&full, &json!({ "versions": versions })).with_context(|| format!("Error writing data to {full}"))?;
    written(&kv, &full, s)
}

fn rollback(argv: &[String]) -> Result<i32> {
    let help = sub_help(
        "rollback [options] KEY",
        "  Restores a given previous version to the current version at the given\n  path (the old data is written as a new version).\n\n      $ coffer kv rollback -mount=secret -version=2 foo\n",
        "  -version=<int>    The version to roll back to (required).\n",
    );
    let Some(kv) = setup(argv, &help, &[], &["version"], (1, 1))? else { return Ok(0) };
    let Some(version) = kv.c.f.get("version").and_then(|v| v.parse::<u64>().ok()).filter(|v| *v > 0) else {
        return Err(usage("Must specify a version to rollback to"));
    };
    if !kv.v2 {
        eprintln!("Rollback not supported on KV Version 1");
        return Ok(1);
    }
    let meta_path = kv.api("metadata");
    let meta = kv.client.read(&meta_path, &[]).with_context(|| format!("Error reading {meta_path}"))?;
    let Some(meta) = meta.and_then(|m| m.get("data").cloned()) else {
        eprintln!("No value found at {meta_path}");
        return Ok(2);
    };
    let current = meta.get("current_version").and_then(Value::as_u64).unwrap_or(0);
    let vkey = version.to_string();
    let Some(vm) = meta.get("versions").and_then(|v| v.get(&vkey)) else {
        eprintln!("Cannot find version {version}");
        return Ok(2);
    };
    if vm.get("destroyed").and_then(Value::as_bool).unwrap_or(false) {
        eprintln!("Cannot roll back to a version that has been destroyed");
        return Ok(2);
    }
    if vm.get("deletion_time").and_then(Value::as_str).is_some_and(|t| !t.is_empty()) {
        eprintln!("Cannot roll back to a version that has been deleted");
        return Ok(2);
    }
    let full = kv.api("data");
    let old = kv.client.read(&full, &[("version".into(), vkey)]).with_context(|| format!("Error reading {full}"))?;
    let Some(data) = old.and_then(|s| s.get("data").and_then(|d| d.get("data")).cloned()).filter(Value::is_object) else {
        eprintln!("No data found at version {version}");
        return Ok(2);
    };
    let s = kv
        .client
        .write(&full, &json!({ "data": data, "options": { "cas": current } }))
        .with_context(|| format!("Error writing data to {full}"))?;
    match s {
        Some(s) => output_secret(&kv.c, &s),
        None => Ok(0),
    }
}

fn metadata(argv: &[String]) -> Result<i32> {
    let rest = argv.get(1..).unwrap_or_default();
    match argv.first().map(String::as_str) {
        Some("get") => meta_get(rest),
        Some("put") => meta_put(rest, false),
        Some("patch") => meta_put(rest, true),
        Some("delete") => meta_delete(rest),
        other => common::group_fallback(other, METADATA_HELP, "kv metadata"),
    }
}

fn need_v2(kv: &Kv) -> Option<i32> {
    if kv.v2 {
        None
    } else {
        eprintln!("Metadata not supported on KV Version 1");
        Some(1)
    }
}

fn meta_get(argv: &[String]) -> Result<i32> {
    let help = sub_help("metadata get [options] KEY", "  Retrieves the metadata of a kv v2 key, with every version.\n\n      $ coffer kv metadata get -mount=secret foo\n", "");
    let Some(kv) = setup(argv, &help, &[], &[], (1, 1))? else { return Ok(0) };
    if let Some(c) = need_v2(&kv) {
        return Ok(c);
    }
    let full = kv.api("metadata");
    let s = kv.client.read(&full, &[]).with_context(|| format!("Error reading {full}"))?;
    let Some(s) = s else {
        eprintln!("No value found at {full}");
        return Ok(2);
    };
    if kv.c.f.get("field").is_some() || kv.c.format != Format::Table {
        return output_secret(&kv.c, &s);
    }
    let mut d = s.get("data").and_then(Value::as_object).cloned().unwrap_or_default();
    let versions = d.remove("versions");
    output_path(&full, "Metadata Path");
    print_map("Metadata", &d);
    if let Some(Value::Object(vs)) = versions {
        let mut keys: Vec<&String> = vs.keys().collect();
        keys.sort_by_key(|k| k.parse::<u64>().unwrap_or(0));
        for k in keys {
            if let Some(m) = vs[k].as_object() {
                println!();
                print_map(&format!("Version {k}"), m);
            }
        }
    }
    Ok(0)
}

fn meta_put(argv: &[String], patch: bool) -> Result<i32> {
    let verb = if patch { "patch" } else { "put" };
    let help = sub_help(
        &format!("metadata {verb} [options] KEY"),
        &format!("  {} the settings of a kv v2 key.\n\n      $ coffer kv metadata {verb} -mount=secret -max-versions=5 foo\n      $ coffer kv metadata {verb} -mount=secret -custom-metadata=owner=ops foo\n", if patch { "Patches" } else { "Sets" }),
        "  -cas-required           Require check-and-set on writes.\n  -delete-version-after=<duration>  Delete versions after this long.\n  -max-versions=<int>     Versions to keep.\n  -custom-metadata=<k=v>  Custom metadata; may repeat.\n",
    );
    let Some(kv) = setup(argv, &help, &["cas-required"], &["max-versions", "delete-version-after", "custom-metadata"], (1, 1))? else { return Ok(0) };
    if let Some(c) = need_v2(&kv) {
        return Ok(c);
    }
    let f = &kv.c.f;
    let mut body = Map::new();
    if let Some(v) = f.get("max-versions") {
        let n: i64 = v.parse().map_err(|_| usage(format!("invalid value {v:?} for flag -max-versions: parse error")))?;
        body.insert("max_versions".into(), json!(n));
    } else if !patch {
        body.insert("max_versions".into(), json!(0));
    }
    if f.has("cas-required") || !patch {
        body.insert("cas_required".into(), json!(f.bool("cas-required")));
    }
    if let Some(v) = f.get("delete-version-after") {
        body.insert("delete_version_after".into(), json!(v));
    }
    let cm = f.all("custom-metadata");
    if !cm.is_empty() {
        let mut m = Map::new();
        for kvp in cm {
            let Some((k, v)) = kvp.split_once('=') else {
                return Err(usage(format!("invalid custom metadata {kvp:?}: format must be key=value")));
            };
            m.insert(k.into(), json!(v));
        }
        body.insert("custom_metadata".into(), Value::Object(m));
    }
    let full = kv.api("metadata");
    let body = Value::Object(body);
    let res = if patch { kv.client.patch(&full, &body) } else { kv.client.write(&full, &body) };
    let s = res.with_context(|| format!("Error writing data to {full}"))?;
    written(&kv, &full, s)
}

fn meta_delete(argv: &[String]) -> Result<i32> {
    let help = sub_help("metadata delete [options] PATH", "  Deletes all versions and metadata of a kv v2 key.\n\n      $ coffer kv metadata delete -mount=secret foo\n", "");
    let Some(kv) = setup(argv, &help, &[], &[], (1, 1))? else { return Ok(0) };
    if let Some(c) = need_v2(&kv) {
        return Ok(c);
    }
    let full = kv.api("metadata");
    kv.client.delete(&full, &[]).with_context(|| format!("Error deleting {full}"))?;
    if kv.c.format == Format::Table {
        println!("Success! Data deleted (if it existed) at: {full}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_headers() {
        assert_eq!(add_prefix("secret/foo/bar", "secret/", "data"), "secret/data/foo/bar");
        assert_eq!(add_prefix("secret", "secret/", "metadata"), "secret/metadata");
        assert_eq!(add_prefix("a/b/c", "a/b/", "data"), "a/b/data/c");
        assert_eq!(pad_equal("Secret Path", "secret/data/a".len()), "== Secret Path ==");
        assert_eq!(pad_equal("Metadata Path", "secret/metadata/a".len()), "= Metadata Path =");
        assert_eq!(pad_equal("Data", 1 + 9), "== Data ==");
        assert_eq!(pad_equal("Metadata", 15 + 9), "======= Metadata =======");
    }
}
