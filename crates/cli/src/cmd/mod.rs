//! Subcommands.

mod bench;
pub mod ctx;
mod keys;
mod load;
mod market;
mod node;
mod provider;
mod query;
mod sdl;

use std::process::ExitCode;

use crate::flags::{BenchCommand, Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = ctx::Ctx::new(cli.global);
    match cli.command {
        Command::Sdl(cmd) => sdl::run(cmd),
        Command::Bench(BenchCommand::Sdl(args)) => bench::sdl(&args),
        Command::Bench(BenchCommand::Ledger(args)) => bench::ledger(&args),
        Command::Bench(BenchCommand::Settlement(args)) => bench::settlement(&args),
        Command::Bench(BenchCommand::Load(args)) => load::load(&ctx, &args),
        Command::Node(cmd) => node::run_command(&ctx, cmd),
        Command::Keys(cmd) => keys::run(&ctx, cmd),
        Command::Deploy(cmd) => market::deploy(&ctx, cmd),
        Command::Bids(args) => market::bids(&ctx, args),
        Command::Lease(cmd) => market::lease(&ctx, cmd),
        Command::Group(cmd) => market::group(&ctx, cmd),
        Command::Provider(cmd) => provider::provider(&ctx, cmd),
        Command::Bid(cmd) => provider::bid(&ctx, cmd),
        Command::Audit(cmd) => provider::audit(&ctx, cmd),
        Command::Send(args) => query::send(&ctx, args),
        Command::Faucet(args) => query::faucet(&ctx, args),
        Command::Query(cmd) => query::query(&ctx, cmd),
    }
}
