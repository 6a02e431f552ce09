//! Go `flag`-style argument parsing, as the Vault CLI accepts it:
//! `-name=value`, `-name value`, `--name=value`, and bare `-bool-flag`.

use anyhow::{Result, bail};
use std::collections::HashMap;

pub struct Flags {
    values: HashMap<String, Vec<String>>,
    pub args: Vec<String>,
}

/// Go `flag` semantics as the Vault CLI uses them: parsing stops at the first
/// positional argument (later `-x` words are positional, like Vault's).
pub fn parse_go(argv: &[String], bools: &[&str], valued: &[&str]) -> Result<Flags> {
    let mut end = argv.len();
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            end = i;
            break;
        }
        let body = a.strip_prefix("--").or_else(|| a.strip_prefix('-')).filter(|b| !b.is_empty());
        match body {
            None => {
                end = i;
                break;
            }
            Some(b) => {
                // a valued flag without '=' consumes the next word
                if !b.contains('=') && valued.contains(&b) {
                    i += 1;
                }
            }
        }
        i += 1;
    }
    let end = end.min(argv.len());
    let mut f = parse(&argv[..end], bools, valued)?;
    let rest = if argv.get(end).map(String::as_str) == Some("--") { &argv[end + 1..] } else { &argv[end..] };
    f.args.extend(rest.iter().cloned());
    Ok(f)
}

/// `bools` lists flags that take no value.
pub fn parse(argv: &[String], bools: &[&str], valued: &[&str]) -> Result<Flags> {
    let mut values: HashMap<String, Vec<String>> = HashMap::new();
    let mut args = Vec::new();
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            args.extend(argv[i + 1..].iter().cloned());
            break;
        }
        let Some(body) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')).filter(|b| !b.is_empty()) else {
            args.push(a.clone());
            i += 1;
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if bools.contains(&name.as_str()) {
            let v = inline.unwrap_or_else(|| "true".into());
            values.entry(name).or_default().push(v);
        } else if valued.contains(&name.as_str()) {
            let v = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    match argv.get(i) {
                        Some(v) => v.clone(),
                        None => bail!("flag needs an argument: -{name}"),
                    }
                }
            };
            values.entry(name).or_default().push(v);
        } else {
            bail!("flag provided but not defined: -{name}");
        }
        i += 1;
    }
    Ok(Flags { values, args })
}

impl Flags {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.last()).map(String::as_str)
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
    pub fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1" | "t" | "T" | "TRUE" | "True"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn go_style() {
        let f = parse(&v(&["-dev", "-dev-root-token-id=root", "--dev-listen-address", "127.0.0.1:1", "x"]), &["dev"], &["dev-root-token-id", "dev-listen-address"]).unwrap();
        assert!(f.bool("dev"));
        assert_eq!(f.get("dev-root-token-id"), Some("root"));
        assert_eq!(f.get("dev-listen-address"), Some("127.0.0.1:1"));
        assert_eq!(f.args, vec!["x"]);
        assert!(parse(&v(&["-nope"]), &[], &[]).is_err());
        assert!(parse(&v(&["-config"]), &[], &["config"]).is_err());
    }

    #[test]
    fn go_stops_at_first_positional() {
        let f = parse_go(&v(&["-format", "json", "secret/a", "-x", "k=-"]), &[], &["format"]).unwrap();
        assert_eq!(f.get("format"), Some("json"));
        assert_eq!(f.args, vec!["secret/a", "-x", "k=-"]);
        let f = parse_go(&v(&["-", "a"]), &[], &[]).unwrap();
        assert_eq!(f.args, vec!["-", "a"]);
        let f = parse_go(&v(&["--", "-a"]), &["a"], &[]).unwrap();
        assert_eq!(f.args, vec!["-a"]);
        assert!(parse_go(&v(&["-nope", "a"]), &[], &[]).is_err());
    }
}
