// mimalloc rather than the C library's allocator: see Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
