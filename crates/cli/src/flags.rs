//! Go `flag`-style argument parsing, as the Vault CLI accepts it:
//! `-name=value`, `-name value`, `--name=value`, and bare `-bool-flag`.

use anyhow::{Result, bail};
use std::collections::HashMap;

pub struct Flags {
    values: HashMap<String, Vec<String>>,
    #[allow(dead_code)] // positional arguments: used by the client commands (CLI issue)
    pub args: Vec<String>,
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
}
