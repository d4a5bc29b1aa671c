//! The `madang` binary: parses the command line and maps failures to one
//! line on stderr and an exit status.

use std::process::ExitCode;

use clap::Parser;
use madang::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS crypto provider for the whole process (ring); anything that asks
    // rustls for "the default" gets this one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("madang: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("madang: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
