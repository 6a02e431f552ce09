//! `-config FILE`: a run described in a small HCL (or JSON) file instead of flags.
//!
//! ```hcl
//! address     = "http://127.0.0.1:8200"
//! connections = 64
//! duration    = "30s"
//! workload "kv2-read"  { weight = 80 }
//! workload "kv2-write" { weight = 20 }
//! ```
//!
//! Each key is a run flag's name (`value_size` or `value-size`); the file becomes flags placed
//! before the command line's own, so a flag given on the command line wins over the file
//! (clap keeps the last occurrence). Tokens are refused: a file is the wrong place for them
//! (`VAULT_TOKEN` / `-token` instead).

use std::ffi::OsString;

use coffer_hcl::{Node, Value};

/// Flags a config file may set, by their long name; `true` for on/off switches.
const KEYS: &[(&str, bool)] = &[
    ("address", false),
    ("workload", false),
    ("connections", false),
    ("duration", false),
    ("requests", false),
    ("rate", false),
    ("keys", false),
    ("value-size", false),
    ("mount", false),
    ("path", false),
    ("format", false),
    ("root-token-for-load", true),
    ("compare", false),
    ("rounds", false),
    ("server-pid", false),
    ("server-pid2", false),
    ("no-progress", true),
];

/// If `argv` (already normalised to `--flag` form) names `--config FILE`, read the file and
/// put its settings in front of the command line's flags. Without `--config`, `argv` comes
/// back unchanged.
pub fn expand(argv: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let Some(path) = config_path(&argv)? else { return Ok(argv) };
    let src = std::fs::read_to_string(&path).map_err(|e| format!("config {path}: {e}"))?;
    let mut flags = flags_from(&src).map_err(|e| format!("config {path}: {e}"))?;
    // -duration and -requests exclude each other: the command line's choice wins.
    let given = |name: &str| argv.iter().any(|a| a.to_str().is_some_and(|s| s == format!("--{name}") || s.starts_with(&format!("--{name}="))));
    if given("requests") || given("duration") {
        flags.retain(|f| !f.starts_with("--duration=") && !f.starts_with("--requests="));
    }
    let mut out = Vec::with_capacity(argv.len() + flags.len());
    let mut it = argv.into_iter();
    out.extend(it.next());
    out.extend(flags.into_iter().map(OsString::from));
    out.extend(it);
    Ok(out)
}

fn config_path(argv: &[OsString]) -> Result<Option<String>, String> {
    let mut found = None;
    let mut it = argv.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let value = if a == "--config" {
            Some(it.next().ok_or("config: a file name is required")?.into_owned())
        } else {
            a.strip_prefix("--config=").map(str::to_string)
        };
        if let Some(v) = value
            && found.replace(v).is_some()
        {
            return Err("config: given more than once".into());
        }
    }
    Ok(found)
}

/// The file's settings as `--flag=value` arguments.
pub fn flags_from(src: &str) -> Result<Vec<String>, String> {
    let root = coffer_hcl::parse_any(src).map_err(|e| e.to_string())?;
    let entries = root.as_object().ok_or("the file must be an object of settings")?;
    let mut flags = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut mix: Vec<String> = Vec::new();
    for e in entries {
        let name = e.key.replace('_', "-");
        let at = format!("line {}: {}", e.line, e.key);
        if name == "token" || name == "token2" {
            return Err(format!("{at}: tokens do not belong in a file; set VAULT_TOKEN (and VAULT_TOKEN2) or pass -{name}"));
        }
        if name == "config" {
            return Err(format!("{at}: a config file cannot name another"));
        }
        let Some(&(flag, switch)) = KEYS.iter().find(|(k, _)| *k == name) else {
            return Err(format!("{at}: unknown setting (known: {})", KEYS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")));
        };
        if flag == "workload" && let Value::Object(blocks) = &e.value.value {
            // workload "kv2-read" { weight = 80 } — repeatable, one block per workload.
            for b in blocks {
                mix.push(format!("{}={}", b.key, weight(&b.value).map_err(|m| format!("{at} \"{}\": {m}", b.key))?));
            }
            continue;
        }
        if seen.contains(&flag) {
            return Err(format!("{at}: set more than once"));
        }
        seen.push(flag);
        match (&e.value.value, switch) {
            (Value::Bool(true), true) => flags.push(format!("--{flag}")),
            (Value::Bool(false), true) => {}
            (_, true) => return Err(format!("{at}: must be true or false")),
            (Value::String(s), false) => flags.push(format!("--{flag}={s}")),
            (Value::Int(i), false) => flags.push(format!("--{flag}={i}")),
            (Value::Float(f), false) => flags.push(format!("--{flag}={f}")),
            (v, false) => return Err(format!("{at}: expected a string or number, got {}", v.type_name())),
        }
    }
    if !mix.is_empty() {
        if seen.contains(&"workload") {
            return Err("workload: give either `workload = \"...\"` or workload blocks, not both".into());
        }
        flags.push(format!("--workload={}", mix.join(",")));
    }
    Ok(flags)
}

fn weight(body: &Node) -> Result<i64, String> {
    let entries = body.as_object().ok_or("expected a block { weight = N }")?;
    let mut weight = 1;
    for e in entries {
        match (e.key.as_str(), &e.value.value) {
            ("weight", Value::Int(w)) if *w > 0 => weight = *w,
            ("weight", _) => return Err("weight must be a positive integer".into()),
            (k, _) => return Err(format!("unknown setting {k:?} (only weight)")),
        }
    }
    Ok(weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, normalize_args};
    use crate::workload::Workload;
    use clap::Parser;
    use std::time::Duration;

    fn parse_with(file: &str, args: &[&str]) -> Result<Cli, String> {
        let dir = std::env::temp_dir().join(format!("coffer-bench-config-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bench.hcl");
        std::fs::write(&path, file).unwrap();
        let mut argv = vec!["coffer-bench".to_string(), "-config".into(), path.to_string_lossy().into_owned()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let out = expand(normalize_args(argv)).and_then(|a| Cli::try_parse_from(a).map_err(|e| e.to_string()));
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn file_sets_flags_and_blocks_make_a_mix() {
        let cli = parse_with(
            r#"
            address = "http://127.0.0.1:9999"
            connections = 8
            duration = "3s"
            value_size = 512
            root_token_for_load = true
            workload "kv2-read" { weight = 80 }
            workload "kv2-write" { weight = 20 }
            "#,
            &[],
        )
        .unwrap();
        let r = cli.run;
        assert_eq!(r.address, "http://127.0.0.1:9999");
        assert_eq!(r.connections, 8);
        assert_eq!(r.duration, Some(Duration::from_secs(3)));
        assert_eq!(r.value_size, 512);
        assert!(r.root_token_for_load);
        assert_eq!(r.workload.parts, vec![(Workload::Kv2Read, 80), (Workload::Kv2Write, 20)]);
    }

    #[test]
    fn command_line_wins_over_the_file() {
        let cli = parse_with("connections = 8\nduration = \"3s\"\nworkload = \"kv1-read\"", &["-connections", "2", "-requests", "100"]).unwrap();
        assert_eq!(cli.run.connections, 2);
        assert_eq!(cli.run.requests, Some(100));
        assert_eq!(cli.run.duration, None);
        assert_eq!(cli.run.workload.parts, vec![(Workload::Kv1Read, 1)]);
    }

    #[test]
    fn json_files_work_too() {
        let cli = parse_with(r#"{"connections": 4, "rate": 250.5, "no_progress": true}"#, &[]).unwrap();
        assert_eq!(cli.run.connections, 4);
        assert_eq!(cli.run.rate, Some(250.5));
        assert!(cli.run.no_progress);
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = parse_with("connections = 8\nconections = 9", &[]).unwrap_err();
        assert!(e.contains("line 2: conections: unknown setting"), "{e}");
        let e = parse_with("token = \"hvs.x\"", &[]).unwrap_err();
        assert!(e.contains("tokens do not belong in a file") && !e.contains("hvs.x"), "{e}");
        let e = parse_with("connections = 8\nconnections = 9", &[]).unwrap_err();
        assert!(e.contains("set more than once"), "{e}");
        let e = parse_with("workload \"kv2-read\" { weight = 0 }", &[]).unwrap_err();
        assert!(e.contains("weight must be a positive integer"), "{e}");
        let e = parse_with("workload \"kv9-read\" { weight = 1 }", &[]).unwrap_err();
        assert!(e.contains("unknown workload"), "{e}");
        let e = parse_with("no_progress = \"yes\"", &[]).unwrap_err();
        assert!(e.contains("must be true or false"), "{e}");
        let e = parse_with("connections = [1]", &[]).unwrap_err();
        assert!(e.contains("expected a string or number, got list"), "{e}");
        let e = parse_with("connections = ", &[]).unwrap_err();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn no_config_leaves_argv_alone() {
        let argv = normalize_args(["x", "-connections", "3"]);
        assert_eq!(expand(argv.clone()).unwrap(), argv);
        assert!(expand(normalize_args(["x", "-config"])).unwrap_err().contains("file name is required"));
        assert!(expand(normalize_args(["x", "-config", "/nonexistent/coffer-bench.hcl"])).unwrap_err().contains("/nonexistent"));
    }
}
