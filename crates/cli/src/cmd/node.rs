//! `stratus node init|run`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use stratus_node::config::{NodeConfig, parse_duration_ms};
use stratus_node::init::{InitOptions, init};
use stratus_node::{RunOptions, run};
use stratus_types::coin::Coin;
use stratus_types::params::Params;

use crate::cmd::ctx::Ctx;
use crate::flags::{NodeCommand, NodeInit, NodeRun};

pub fn run_command(ctx: &Ctx, cmd: NodeCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NodeCommand::Init(args) => node_init(ctx, args),
        NodeCommand::Run(args) => node_run(ctx, &args),
    }
}

/// `1000uact,5uakt`.
pub fn parse_coins(s: &str) -> anyhow::Result<Vec<Coin>> {
    s.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| c.parse::<Coin>().map_err(|e| anyhow!("{e}")))
        .collect()
}

fn node_init(ctx: &Ctx, args: NodeInit) -> anyhow::Result<ExitCode> {
    let mut accounts = Vec::new();
    for a in &args.accounts {
        let (name, coins) = a.split_once('=').ok_or_else(|| anyhow!("--account {a:?}: expected NAME=COINS"))?;
        accounts.push((name.to_string(), parse_coins(coins).with_context(|| format!("--account {a:?}"))?));
    }
    let faucet_grant = args.faucet.as_deref().map(parse_coins).transpose().context("--faucet")?;
    let mut params = Params::devnet();
    if let Some(fee) = &args.min_fee {
        params.min_fees = vec![fee.parse().map_err(|e| anyhow!("--min-fee: {e}"))?];
    }
    let block_time_ms = parse_duration_ms(&args.block_time).map_err(|e| anyhow!("--block-time {e}"))?;
    let config = NodeConfig { api_addr: args.api_addr, block_time_ms, ..NodeConfig::default() };
    let opts = InitOptions {
        chain_id: args.chain_id,
        accounts,
        faucet_grant,
        config,
        params,
        genesis_time_ms: stratus_client::now_ms(),
        validators: Vec::new(),
    };
    let report = match args.testnet {
        Some(n) => stratus_node::init::testnet(&ctx.home, n, args.base_port, opts)?,
        None => init(&ctx.home, opts)?,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "initialized chain {} in {}", report.genesis.chain_id, ctx.home.display())?;
    if let Some(n) = args.testnet {
        for i in 0..n {
            let (p2p, api) = stratus_node::init::testnet_ports(args.base_port, i)?;
            let home = ctx.home.join(format!("v{i}"));
            writeln!(
                out,
                "  validator v{i}: {} (peers on 127.0.0.1:{p2p}, API http://127.0.0.1:{api})",
                home.display()
            )?;
        }
    }
    for a in &report.accounts {
        writeln!(out, "  account {} {}", a.name, a.address)?;
        if let Some(m) = &a.mnemonic {
            writeln!(out, "    new key (test backend, unencrypted); mnemonic: {m}")?;
        }
    }
    if let Some(f) = report.faucet {
        writeln!(out, "  faucet {f}")?;
    }
    match args.testnet {
        Some(n) => writeln!(
            out,
            "start each with: stratus node run --home {}/vI (I = 0..{}); any 2/3 of the voting power makes progress",
            ctx.home.display(),
            n - 1
        )?,
        None => writeln!(out, "start it with: stratus --home {} node run", ctx.home.display())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM: how every long-running command (node, provider, devnet) is asked to stop.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn node_run(ctx: &Ctx, args: &NodeRun) -> anyhow::Result<ExitCode> {
    let block_time_ms =
        args.block_time.as_deref().map(parse_duration_ms).transpose().map_err(|e| anyhow!("--block-time {e}"))?;
    let opts = RunOptions { block_time_ms, api_addr: args.api_addr };
    init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    rt.block_on(run(&ctx.home, opts, shutdown_signal(), |running| {
        let head = running.app.head();
        // Scripts and tests read this line for the address (with --api-addr 127.0.0.1:0).
        println!(
            "node {} at height {}: API on http://{}, a block every {} ms",
            running.app.chain_id, head.height, running.api_addr, running.app.config.block_time_ms
        );
        let _ = std::io::stdout().flush();
    }))?;
    eprintln!("node stopped");
    Ok(ExitCode::SUCCESS)
}

/// Our own logs at info; the BFT library's (every vote and peer event) only when they warn.
const DEFAULT_LOG_FILTER: &str = "info,arc_malachitebft=warn,libp2p=warn,ractor=warn";

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // Colours only on a terminal: the devnet's log file stays plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}
