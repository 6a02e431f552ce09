use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use coffer_bench::args::{Cli, Command, normalize_args};
use coffer_bench::{runner, trivial};

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    // Errors are printed as one plain chain of messages, never with a backtrace
    // (anyhow's Debug output would add one whenever RUST_BACKTRACE is set).
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let argv = match coffer_bench::config::expand(normalize_args(std::env::args_os())) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let cli = Cli::parse_from(argv);
    match cli.command {
        Some(Command::ServeTrivial(s)) => {
            let server = if s.raw {
                trivial::TrivialServer::start_raw(&s.listen, s.value_size).await?
            } else {
                trivial::TrivialServer::start(&s.listen, s.value_size).await?
            };
            eprintln!("serve-trivial listening on http://{} (Ctrl-C to stop)", server.addr);
            tokio::signal::ctrl_c().await?;
            eprintln!("served {} requests", server.served());
            server.stop().await;
            Ok(())
        }
        None => {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("\ninterrupted: finishing in-flight requests and cleaning up");
                    flag.store(true, Ordering::Relaxed);
                }
            });
            runner::run(cli.run, stop).await
        }
    }
}
