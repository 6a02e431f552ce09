//! The `coffer` binary: parses the command line and wires the crates
//! together. Each command lives in its own module.

mod flags;
mod server;

const USAGE: &str = "Usage: coffer <command> [args]

Commands:
    server     Start a Coffer server
    version    Print the Coffer version
";

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match argv.first().map(String::as_str) {
        Some("server") => server::run(&argv[1..]),
        Some("version" | "-version" | "--version" | "-v") => {
            println!("Coffer v{}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Some("-h" | "-help" | "--help") | None => {
            print!("{USAGE}");
            Ok(if argv.is_empty() { 127 } else { 0 })
        }
        Some(other) => {
            eprintln!("Unknown command: {other}\n\n{USAGE}");
            Ok(127)
        }
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(1);
        }
    }
}
