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

/// Keeps glibc's malloc from holding on to memory the server no longer uses.
///
/// - glibc gives threads that allocate concurrently their own arenas (up to
///   eight per core), each keeping its freed memory; requests hop between
///   runtime workers, the blocking pool and SQLite's connection threads, so
///   the process held several copies of its peak working set (measured: 48
///   MiB of anonymous memory after the 10,000-event benchmark, 38 MiB with
///   two arenas).
/// - A password check allocates argon2's 19 MiB block. glibc's adaptive
///   threshold moves such blocks from mmap (returned on free) into the heap
///   after the first one is freed, where they then stay resident; a fixed
///   threshold keeps them returned.
///
/// `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` in the environment still win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets allocator parameters; no other thread exists yet.
    unsafe {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
