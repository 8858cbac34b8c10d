//! `stratus`: the one binary. Flags live in `flags.rs`; each subcommand in `cmd/`.
//!
//! Exit codes: 0 success; 1 the command ran and found a problem (invalid SDL, failed
//! transaction); 2 usage, I/O or connection errors.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;
mod devnet;
mod flags;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flags::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            // A transaction or check that ran and failed is 1; usage, I/O, connection errors 2.
            if err.downcast_ref::<cmd::ctx::Failed>().is_some() { ExitCode::from(1) } else { ExitCode::from(2) }
        }
    }
}
