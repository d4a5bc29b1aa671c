//! The `madang` binary: parses the command line and maps failures to one
//! line on stderr and an exit status.

use std::process::ExitCode;

use clap::Parser;
use madang::cli::{Cli, run};

fn main() -> ExitCode {
    limit_malloc_arenas();
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

/// glibc gives threads that allocate concurrently their own arenas (up to
/// eight per core) and each keeps its freed memory; requests here hop
/// between runtime workers, the blocking pool and SQLite's connection
/// threads, so the process held several copies of its peak working set
/// (measured: 48 MiB anonymous memory after a 10,000-event benchmark, 38
/// MiB with two arenas). `MALLOC_ARENA_MAX` in the environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
