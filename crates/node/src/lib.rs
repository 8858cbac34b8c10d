//! The node: turns the ledger into a service. It admits transactions to a mempool, has a
//! consensus engine order them into blocks ([`consensus`]), executes and durably commits each
//! block ([`app`]), and serves queries, submissions and an event stream over HTTP ([`api`],
//! [`events`]).

pub mod api;
pub mod app;
pub mod config;
pub mod consensus;
pub mod events;
mod forward;
pub mod init;
pub mod mempool;
pub mod openapi;
pub mod query;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stratus_client::keys::Keyring;
use stratus_store::Store;
use tokio::sync::watch;

use crate::app::NodeApp;
use crate::config::EngineKind;
use crate::config::Home;
use crate::consensus::malachite::{BftConfig, Fault, MalachiteEngine};
use crate::consensus::{ConsensusEngine, SoloEngine};

/// Overrides of `config.toml` from the command line.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub block_time_ms: Option<u64>,
    pub api_addr: Option<SocketAddr>,
}

/// A node that is up: its API address and app (for tests and `stratus up`).
pub struct Running {
    pub api_addr: SocketAddr,
    pub app: Arc<NodeApp>,
}

/// Opens the home, binds the API, and runs until `shutdown` resolves (then finishes the block
/// in progress and returns) or the engine fails. `on_ready` is called once the API listens.
pub async fn run(
    home: &Path,
    opts: RunOptions,
    shutdown: impl Future<Output = ()> + Send,
    on_ready: impl FnOnce(&Running),
) -> anyhow::Result<()> {
    let home = Home::new(home);
    let mut config = home.load_config()?;
    if let Some(ms) = opts.block_time_ms {
        config.block_time_ms = ms;
    }
    if let Some(addr) = opts.api_addr {
        config.api_addr = addr;
    }
    let genesis = home.load_genesis()?;
    let store_path = home.store_path();
    if let Some(dir) = store_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let store = Arc::new(Store::open(&store_path)?);
    store.init(&genesis)?;
    let faucet_key = match &config.faucet {
        Some(f) => Some(Keyring::new(&home.dir).signing_key(&f.key, None).context("loading the faucet key")?),
        None => None,
    };
    let block_time = Duration::from_millis(config.block_time_ms);
    let validator_key = home.validator_key()?;
    let consensus = config.consensus.clone();
    let addr = config.api_addr;
    let request_timeout = Duration::from_millis(config.request_timeout_ms);
    let app = Arc::new(NodeApp::open(store, config, faucet_key)?);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (another node running? choose --api-addr)"))?;
    let api_addr = listener.local_addr()?;
    on_ready(&Running { api_addr, app: Arc::clone(&app) });

    let (stop, stopped) = watch::channel(false);
    let engine = match consensus.engine {
        EngineKind::Solo => tokio::spawn(SoloEngine { block_time, key: validator_key }.run(app.clone(), stopped)),
        EngineKind::Bft => {
            let moniker = home.dir.file_name().map_or_else(|| "node".into(), |n| n.to_string_lossy().into_owned());
            let config = BftConfig {
                data_dir: home.dir.join("data"),
                key: validator_key,
                moniker,
                listen: consensus.p2p_listen.clone(),
                peers: consensus.peers.clone(),
                block_time,
                timeout_propose: Duration::from_millis(consensus.timeout_propose_ms),
                timeout_vote: Duration::from_millis(consensus.timeout_vote_ms),
                // Fault injection for the BFT scenario tests (see docs/consensus.md).
                fault: match std::env::var("STRATUS_FAULT") {
                    Ok(f) => Some(Fault::parse(&f).with_context(|| {
                        format!("STRATUS_FAULT={f}: the faults are forge-tx-signatures and crash-after-propose")
                    })?),
                    Err(_) => None,
                },
            };
            tokio::spawn(MalachiteEngine { config }.run(app.clone(), stopped))
        }
    };
    if !consensus.peer_apis.is_empty() {
        let (send, recv) = tokio::sync::mpsc::channel(50_000);
        app.forward_to(send);
        tokio::spawn(forward::run(recv, consensus.peer_apis.clone()));
    }
    let closing = app.watch_closing();
    let router = api::router(Arc::clone(&app));
    let limits = stratus_http::Limits { request_timeout, ..stratus_http::Limits::default() };
    let server = tokio::spawn(async move {
        let mut closing = closing;
        let closed = async move {
            let _ = closing.wait_for(|c| *c).await;
        };
        stratus_http::serve(listener, router, limits, closed).await;
    });
    tokio::pin!(engine);
    let outcome = tokio::select! {
        () = shutdown => {
            let _ = stop.send(true);
            // Let the block in progress commit.
            engine.await.context("block production task").and_then(|r| r)
        }
        result = &mut engine => result.context("block production task").and_then(|r| r),
    };
    // End streams and connections, so the store closes when this returns.
    app.close();
    if tokio::time::timeout(Duration::from_secs(5), server).await.is_err() {
        tracing::warn!("API connections did not close within 5 s");
    }
    // Stream and query tasks finish on their own; the store closes with the last of them, and a
    // node reopened in the same process needs it closed.
    for _ in 0..500 {
        if Arc::strong_count(&app) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(app);
    outcome?;
    Ok(())
}
