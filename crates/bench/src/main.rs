use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use coffer_bench::args::{Cli, Command, normalize_args};
use coffer_bench::{runner, trivial};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
