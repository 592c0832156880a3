// mimalloc rather than the C library's allocator: see Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    no_transparent_huge_pages();
    let cli = terrain::cli::Cli::parse();
    match terrain::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, with its causes, for operators.
            eprintln!("terrain: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Small pages only for this process. mimalloc asks Linux for transparent huge pages on its arenas, so the first
/// touch of memory had the kernel zero a whole 2 MB page, again whenever a range given back had to be faulted in
/// anew: 15 % of a 1M-contact import's CPU went to zeroing pages (perf, 4.8 of 32 s). With 4 kB pages, alternating
/// runs took 15.7–16.8 s (24–26 s of CPU) against 18.6–19.9 s (29–31 s of CPU). `MIMALLOC_ALLOW_THP=0` has
/// mimalloc make the same call.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes one integer argument and touches no memory of ours; the others must be 0.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
