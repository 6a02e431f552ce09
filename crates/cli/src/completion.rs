//! `path-help` and `completion bash|zsh|fish`.

use crate::common::{self, usage};
use anyhow::{Context, Result};
use serde_json::Value;

/// The command tree the completions offer.
const TREE: &[(&str, &[&str])] = &[
    ("read", &[]),
    ("write", &[]),
    ("list", &[]),
    ("delete", &[]),
    ("patch", &[]),
    ("login", &[]),
    ("unwrap", &[]),
    ("status", &[]),
    ("version", &[]),
    ("server", &[]),
    ("path-help", &[]),
    ("print", &["token"]),
    ("kv", &["get", "put", "patch", "list", "delete", "undelete", "destroy", "rollback", "metadata"]),
    ("token", &["create", "lookup", "renew", "revoke", "capabilities"]),
    ("policy", &["read", "write", "list", "delete", "fmt"]),
    ("secrets", &["enable", "disable", "list", "tune", "move"]),
    ("auth", &["enable", "disable", "list", "tune"]),
    ("lease", &["lookup", "renew", "revoke"]),
    ("operator", &["init", "unseal", "seal", "rotate", "key-status"]),
    ("completion", &["bash", "zsh", "fish"]),
];

const PATH_HELP: &str = "Usage: coffer path-help [options] PATH

  Retrieves API help for paths. All endpoints in Coffer provide built-in help
  in markdown format. This includes system paths, secret engines, and auth
  methods.

      $ coffer path-help secret/
      $ coffer path-help sys/mounts

";

pub fn path_help(argv: &[String]) -> Result<i32> {
    let Some(c) = common::parse(argv, &format!("{PATH_HELP}{}", crate::client::HTTP_HELP), &[], &[])? else { return Ok(0) };
    c.want_args(1, 1)?;
    let path = common::sanitize(&c.args()[0]);
    let (_, body) = c.client()?.raw("GET", &path, &[("help".into(), "1".into())], None).context("Error retrieving help")?;
    match c.format {
        crate::format::Format::Table | crate::format::Format::Raw => {
            println!("{}", body.get("help").and_then(Value::as_str).unwrap_or_default().trim_end())
        }
        f => crate::format::print_value(f, &body, String::new),
    }
    Ok(0)
}

fn top() -> String {
    TREE.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(" ")
}

fn bash() -> String {
    let mut cases = String::new();
    for (c, subs) in TREE {
        if !subs.is_empty() {
            cases.push_str(&format!("        {c}) words=\"{}\" ;;\n", subs.join(" ")));
        }
    }
    format!(
        "# bash completion for coffer; load with: source <(coffer completion bash)
_coffer() {{
    local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" words=\"\"
    if [ \"$COMP_CWORD\" -eq 1 ]; then
        words=\"{}\"
    elif [ \"$COMP_CWORD\" -eq 2 ]; then
        case \"${{COMP_WORDS[1]}}\" in
{cases}        esac
    elif [ \"$COMP_CWORD\" -eq 3 ] && [ \"${{COMP_WORDS[1]}}\" = kv ] && [ \"${{COMP_WORDS[2]}}\" = metadata ]; then
        words=\"get put patch delete\"
    fi
    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))
}}
complete -F _coffer coffer
",
        top()
    )
}

fn zsh() -> String {
    let mut cases = String::new();
    for (c, subs) in TREE {
        if !subs.is_empty() {
            cases.push_str(&format!("        {c}) compadd -- {} ;;\n", subs.join(" ")));
        }
    }
    format!(
        "#compdef coffer
# zsh completion for coffer; load with: source <(coffer completion zsh)
_coffer() {{
    if (( CURRENT == 2 )); then
        compadd -- {}
    elif (( CURRENT == 3 )); then
        case $words[2] in
{cases}        esac
    elif (( CURRENT == 4 )) && [[ $words[2] == kv && $words[3] == metadata ]]; then
        compadd -- get put patch delete
    fi
}}
compdef _coffer coffer
",
        top()
    )
}

fn fish() -> String {
    let mut s = String::from("# fish completion for coffer; load with: coffer completion fish | source\n");
    s.push_str(&format!("complete -c coffer -f -n '__fish_use_subcommand' -a '{}'\n", top()));
    for (c, subs) in TREE {
        if !subs.is_empty() {
            s.push_str(&format!("complete -c coffer -f -n '__fish_seen_subcommand_from {c}' -a '{}'\n", subs.join(" ")));
        }
    }
    s
}

pub fn completion(argv: &[String]) -> Result<i32> {
    let help = "Usage: coffer completion bash|zsh|fish

  Prints a shell completion script for coffer's commands and subcommands.

      $ source <(coffer completion bash)
      $ source <(coffer completion zsh)
      $ coffer completion fish | source

";
    match argv.first().map(String::as_str) {
        Some("bash") => print!("{}", bash()),
        Some("zsh") => print!("{}", zsh()),
        Some("fish") => print!("{}", fish()),
        Some("-h" | "-help" | "--help") => print!("{help}"),
        None => return Err(usage(format!("Not enough arguments (expected 1, got 0)\n\n{help}"))),
        Some(other) => return Err(usage(format!("Unsupported shell: {other} (bash, zsh or fish)"))),
    }
    Ok(0)
}
