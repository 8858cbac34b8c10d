//! Subcommands.

mod sdl;

use std::process::ExitCode;

use crate::flags::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sdl(cmd) => sdl::run(cmd),
    }
}
