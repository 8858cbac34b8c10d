//! Subcommands.

mod arena;
mod arena_demo;
mod arena_node;
mod arena_validate;
mod bench;
mod benchmark;
mod benchmarks;
mod chart;
pub mod ctx;
mod keys;
mod load;
mod market;
pub mod node;
mod packing;
mod provider;
mod query;
mod sdl;
mod status_board;
mod tenant;
mod train;
mod train_drive;
pub mod train_up;
mod up;

use std::process::ExitCode;

use crate::flags::{BenchCommand, Cli, Command};

pub fn run(mut cli: Cli) -> anyhow::Result<ExitCode> {
    // A devnet lives in its own home unless told otherwise, away from real keys.
    if matches!(cli.command, Command::Up(_) | Command::Down(_)) && cli.global.home.is_none() {
        cli.global.home = Some(ctx::default_home().join("devnet"));
    }
    let ctx = ctx::Ctx::new(cli.global);
    match cli.command {
        Command::Sdl(cmd) => sdl::run(cmd),
        Command::Bench(BenchCommand::Sdl(args)) => bench::sdl(&args),
        Command::Bench(BenchCommand::Ledger(args)) => bench::ledger(&args),
        Command::Bench(BenchCommand::Settlement(args)) => bench::settlement(&args),
        Command::Bench(BenchCommand::Load(args)) => load::load(&ctx, &args),
        Command::Bench(BenchCommand::Packing(args)) => bench::packing(&args),
        Command::Node(cmd) => node::run_command(&ctx, cmd),
        Command::Keys(cmd) => keys::run(&ctx, cmd),
        Command::Deploy(cmd) => market::deploy(&ctx, cmd),
        Command::Bids(args) => market::bids(&ctx, args),
        Command::Lease(cmd) => market::lease(&ctx, cmd),
        Command::Group(cmd) => market::group(&ctx, cmd),
        Command::Provider(cmd) => provider::provider(&ctx, cmd),
        Command::Bid(cmd) => provider::bid(&ctx, cmd),
        Command::Audit(crate::flags::AuditCommand::Benchmark(a)) => ctx::block_on(benchmarks::audit(&ctx, &a))?,
        Command::Audit(cmd) => provider::audit(&ctx, cmd),
        Command::Benchmarks(a) => ctx::block_on(benchmarks::show(&ctx, &a))?,
        Command::Send(args) => query::send(&ctx, args),
        Command::Faucet(args) => query::faucet(&ctx, args),
        Command::Query(cmd) => query::query(&ctx, cmd),
        Command::Train(cmd) => train::run(&ctx, cmd),
        Command::Arena(cmd) => arena::run(&ctx, cmd),
        Command::Workload(cmd) => workload(cmd),
        Command::Up(args) => up::up(&ctx, &args),
        Command::Down(args) => up::down(&ctx, &args),
        Command::Devnet(crate::flags::DevnetCommand::Serve) => {
            crate::devnet::serve::serve(&ctx.home).map(|()| ExitCode::SUCCESS)
        }
        Command::Devnet(crate::flags::DevnetCommand::Provider(cmd)) => devnet_provider(&ctx, cmd),
        Command::Console(args) => console(&ctx, &args),
    }
}

/// `stratus console`: the web console for --node, until Ctrl-C.
fn console(ctx: &ctx::Ctx, args: &crate::flags::ConsoleArgs) -> anyhow::Result<ExitCode> {
    node::init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e} (choose another with --listen)", args.listen))?;
        // Scripts and tests read this line for the address (with --listen 127.0.0.1:0).
        println!("console on {} for the node at {}", stratus_console::url(listener.local_addr()?), ctx.node);
        let _ = std::io::Write::flush(&mut std::io::stdout());
        let jobs = std::sync::Arc::new(train_up::HomeJobs(ctx.home.clone()));
        stratus_console::serve(listener, &ctx.node, jobs, node::shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn devnet_provider(ctx: &ctx::Ctx, cmd: crate::flags::DevnetProviderCommand) -> anyhow::Result<ExitCode> {
    use crate::flags::DevnetProviderCommand;
    let devnet = crate::devnet::Devnet::load(&ctx.home)?;
    match cmd {
        DevnetProviderCommand::Kill { name } => {
            let killed = devnet.kill_provider(&name)?;
            ctx.print(&serde_json::json!({"provider": name, "state": "killed", "replicas_killed": killed}), || {
                format!("provider {name} killed (daemon stopped, {killed} replica(s) SIGKILLed); its leases stay open on the ledger")
            })?;
        }
        DevnetProviderCommand::Start { name } => {
            devnet.start_provider(&name)?;
            ctx.print(&serde_json::json!({"provider": name, "state": "up"}), || {
                format!("provider {name} is up again")
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn workload(cmd: crate::flags::WorkloadCommand) -> anyhow::Result<ExitCode> {
    use stratus_provider::runtime::workload;
    match cmd {
        crate::flags::WorkloadCommand::Supervise { dir } => workload::supervise(&dir).map(|()| ExitCode::SUCCESS),
        crate::flags::WorkloadCommand::Init { spec } => {
            let code = workload::init(&spec)?;
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        crate::flags::WorkloadCommand::HttpEcho { args } => workload::http_echo(&args).map(|()| ExitCode::SUCCESS),
    }
}
