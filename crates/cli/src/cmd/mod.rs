//! Subcommands.

mod bench;
mod sdl;

use std::process::ExitCode;

use crate::flags::{BenchCommand, Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sdl(cmd) => sdl::run(cmd),
        Command::Bench(BenchCommand::Sdl(args)) => bench::sdl(&args),
        Command::Bench(BenchCommand::Ledger(args)) => bench::ledger(&args),
        Command::Bench(BenchCommand::Settlement(args)) => bench::settlement(&args),
    }
}
