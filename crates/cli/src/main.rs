//! The `coffer` binary: parses the command line and wires the crates
//! together. Each command group lives in its own module; this file only
//! dispatches and turns errors into Vault's exit codes (0 ok, 1 local or
//! usage error, 2 error from the server).

// The server allocates and frees many small objects per request on
// whichever worker thread runs the task (audit entries above all); glibc's
// malloc then contends on its arena locks across threads (measured:
// docs/benchmarks.md, "Audit"). mimalloc's thread-local heaps do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod audit;
mod audit_report;
mod audit_verify;
mod client;
mod common;
mod completion;
mod flags;
mod format;
mod generic;
mod kv;
mod lease;
mod login;
mod login_mfa;
mod login_oidc;
mod mounts;
mod operator;
mod policy;
mod server;
mod status;
mod token;
mod token_helper;

#[cfg(test)]
mod table_walk;

const USAGE: &str = "Usage: coffer <command> [args]

Common commands:
    read        Read data and retrieves secrets
    write       Write data, configuration, and secrets
    delete      Delete secrets and configuration
    list        List data or secrets
    login       Authenticate locally
    server      Start a Coffer server
    status      Print seal and HA status
    unwrap      Unwrap a wrapped secret

Other commands:
    audit                Interact with audit devices
    auth                 Interact with auth methods
    completion           Print a shell completion script (bash, zsh, fish)
    kv                   Interact with Coffer's Key-Value storage
    lease                Interact with leases
    operator             Perform operator-specific tasks
    patch                Patch data, configuration, and secrets
    path-help            Retrieve API help for paths
    policy               Interact with policies
    print                Prints runtime configurations
    secrets              Interact with secrets engines
    token                Interact with tokens
    version              Prints the Coffer CLI version
";

type Run = fn(&[String]) -> anyhow::Result<i32>;

fn command(name: &str) -> Option<Run> {
    Some(match name {
        "read" => generic::read,
        "write" => generic::write,
        "list" => generic::list,
        "delete" => generic::delete,
        "patch" => generic::patch,
        "unwrap" => generic::unwrap,
        "status" => status::status,
        "version" => status::version,
        "print" => status::print,
        "login" => login::run,
        "kv" => kv::run,
        "token" => token::run,
        "policy" => policy::run,
        "audit" => audit::run,
        "secrets" => mounts::secrets,
        "auth" => mounts::auth,
        "lease" => lease::run,
        "operator" => operator::run,
        "path-help" => completion::path_help,
        "completion" => completion::completion,
        _ => return None,
    })
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let first = argv.first().map(String::as_str);
    let code = match first {
        Some("server") => match server::run(&argv[1..]) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("Error: {e:#}");
                1
            }
        },
        Some("-version" | "--version" | "-v") => {
            println!("Coffer v{}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("-h" | "-help" | "--help") => {
            print!("{USAGE}");
            0
        }
        None => {
            eprint!("{USAGE}");
            127
        }
        Some(name) => match command(name) {
            Some(run) => {
                quiet_on_closed_pipe();
                match run(&argv[1..]) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("{e:#}");
                        if client::is_remote(&e) { 2 } else { 1 }
                    }
                }
            }
            None => {
                eprint!("{USAGE}");
                127
            }
        },
    };
    std::process::exit(code);
}

/// A client command whose reader goes away (`coffer read ... | head`) ends
/// quietly, as Vault's CLI does, instead of panicking in `println!`: Rust
/// starts with SIGPIPE ignored, so restore the default for client commands.
/// The server keeps it ignored (a peer closing a socket must not kill it).
fn quiet_on_closed_pipe() {
    // SAFETY: called once, before any thread is started by the command.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
