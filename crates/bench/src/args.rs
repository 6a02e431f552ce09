//! Command-line flags. Vault's CLI uses single-dash long flags (`-address`); both that and
//! `--address` are accepted.

use std::ffi::OsString;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::duration::parse_duration;
use crate::workload::{Mix, parse_mix};

#[derive(Parser, Debug)]
#[command(
    name = "coffer-bench",
    version,
    about = "Load generator for Vault-compatible HTTP APIs (Coffer, OpenBao, Vault)",
    args_conflicts_with_subcommands = true,
    // A -config file's settings come first on the command line; a flag given again wins.
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve a fixed kv-read-shaped JSON body on any GET: the ceiling to compare a server with.
    ServeTrivial(ServeArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8300")]
    pub listen: String,
    /// Size in bytes of the secret value inside the JSON body.
    #[arg(long = "value-size", default_value_t = 100)]
    pub value_size: usize,
    /// Answer without an HTTP library (prebuilt response per request head): the
    /// cheapest possible server, to measure the load tool's own capacity.
    #[arg(long)]
    pub raw: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Read settings from an HCL or JSON file (keys are these flags' names; flags given
    /// here win). See docs/benchmarks.md.
    #[arg(long)]
    pub config: Option<String>,
    /// Server address (plain HTTP).
    #[arg(long, env = "VAULT_ADDR", default_value = "http://127.0.0.1:8200")]
    pub address: String,
    /// Root or admin token, used for setup (and for the load only with -root-token-for-load).
    #[arg(long, env = "VAULT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// kv2-read, kv2-write, kv1-read, kv1-write, token-create, batch-token-create, token-lookup,
    /// userpass-login, approle-login, jwt-login, kv2-read-templated, kv2-read-entity-plain, trivial-get,
    /// or a weighted mix such as kv2-read=80,kv2-write=20.
    #[arg(long, default_value = "kv2-read", value_parser = parse_mix)]
    pub workload: Mix,
    /// Concurrent keep-alive connections (one worker task each).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// How long each run lasts (10s, 1m30s, …). Default 10s unless -requests is given.
    #[arg(long, value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Stop after this many requests instead of after a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Fixed request rate (req/s across all connections); default is closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Number of keys seeded and cycled through (also: tokens created for token-lookup).
    #[arg(long, default_value_t = 100)]
    pub keys: usize,
    /// Size in bytes of each secret value written or seeded.
    #[arg(long = "value-size", default_value_t = 100)]
    pub value_size: usize,
    /// Use this existing mount instead of creating bench-kv2/ or bench-kv1/ (left in place).
    #[arg(long)]
    pub mount: Option<String>,
    /// Path trivial-get requests.
    #[arg(long, default_value = "/v1/sys/health")]
    pub path: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Send the load with -token itself instead of a policy-scoped non-root token.
    #[arg(long = "root-token-for-load")]
    pub root_token_for_load: bool,
    /// Second server: run the same workload against both in alternating rounds.
    #[arg(long)]
    pub compare: Option<String>,
    /// Setup token for the -compare server (default: -token).
    #[arg(long, env = "VAULT_TOKEN2", hide_env_values = true)]
    pub token2: Option<String>,
    /// Rounds per server with -compare.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// PID of the server process, to report its CPU use during the run (Linux).
    #[arg(long = "server-pid")]
    pub server_pid: Option<u32>,
    /// PID of the -compare server process.
    #[arg(long = "server-pid2")]
    pub server_pid2: Option<u32>,
    /// Disable the live progress line.
    #[arg(long = "no-progress")]
    pub no_progress: bool,
}

/// Turn Vault-style `-flag` / `-flag=value` into `--flag` / `--flag=value`. Single-letter
/// flags (`-h`, `-V`), negative numbers and everything after `--` pass through unchanged.
pub fn normalize_args<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut out = Vec::new();
    let mut passthrough = false;
    for (i, arg) in args.into_iter().enumerate() {
        let arg: OsString = arg.into();
        if i == 0 || passthrough {
            out.push(arg);
            continue;
        }
        match arg.to_str() {
            Some("--") => {
                passthrough = true;
                out.push(arg);
            }
            Some(s) if s.len() > 2 && s.starts_with('-') && !s.starts_with("--") && s.as_bytes()[1].is_ascii_alphabetic() => {
                out.push(format!("-{s}").into());
            }
            _ => out.push(arg),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Workload;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(normalize_args(args.iter().copied())).unwrap()
    }

    #[test]
    fn single_and_double_dash() {
        let cli = parse(&[
            "coffer-bench",
            "-address",
            "http://127.0.0.1:9999",
            "--workload=kv2-read=80,kv2-write=20",
            "-duration=3s",
            "-connections",
            "8",
            "-root-token-for-load",
        ]);
        let r = cli.run;
        assert_eq!(r.address, "http://127.0.0.1:9999");
        assert_eq!(r.workload.parts, vec![(Workload::Kv2Read, 80), (Workload::Kv2Write, 20)]);
        assert_eq!(r.duration, Some(Duration::from_secs(3)));
        assert_eq!(r.connections, 8);
        assert!(r.root_token_for_load);
    }

    #[test]
    fn subcommand() {
        let cli = parse(&["coffer-bench", "serve-trivial", "-listen", "127.0.0.1:0"]);
        match cli.command {
            Some(Command::ServeTrivial(s)) => assert_eq!(s.listen, "127.0.0.1:0"),
            None => panic!("no subcommand"),
        }
    }

    #[test]
    fn short_flags_and_negative_numbers_untouched() {
        let out = normalize_args(["x", "-h", "-rate", "-5", "--", "-keep"]);
        assert_eq!(out, ["x", "-h", "--rate", "-5", "--", "-keep"].map(OsString::from).to_vec());
    }

    #[test]
    fn bad_values_are_rejected() {
        let argv = normalize_args(["x", "-workload", "kv9-read"]);
        assert!(Cli::try_parse_from(argv).unwrap_err().to_string().contains("unknown workload"));
        let argv = normalize_args(["x", "-duration", "5x"]);
        assert!(Cli::try_parse_from(argv).unwrap_err().to_string().contains("unknown unit"));
        let argv = normalize_args(["x", "-duration", "5s", "-requests", "10"]);
        assert!(Cli::try_parse_from(argv).is_err());
    }
}
