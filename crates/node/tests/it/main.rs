//! The node in-process: a real store in a temporary home, the solo engine, the HTTP API on a
//! loopback port, and the typed client talking to it.

// A failed unwrap in a test is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod api;
mod check;
mod events;
mod mempool;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use stratus_client::NodeClient;
use stratus_ledger::testkit::{Actor, CHAIN_ID, DENOM};
use stratus_node::config::NodeConfig;
use stratus_node::init::{InitOptions, init};
use stratus_types::api::Submitted;
use stratus_types::coin::Coin;
use stratus_types::params::Params;
use stratus_types::tx::{Msg, Tx};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const FUNDS: u128 = 1_000_000_000_000;

pub struct Devnet {
    home: Option<tempfile::TempDir>,
    pub url: String,
    pub client: NodeClient,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

pub fn actors(n: usize) -> Vec<Actor> {
    (0..n).map(|i| Actor::new(&format!("actor-{i}"))).collect()
}

/// Initializes a home funding `funded`, with a faucet, then `tweak` the config.
pub fn init_home(dir: &Path, funded: &[Actor], tweak: impl FnOnce(&mut NodeConfig)) {
    let mut config =
        NodeConfig { api_addr: "127.0.0.1:0".parse().unwrap(), block_time_ms: 50, ..NodeConfig::default() };
    tweak(&mut config);
    let mut params = Params::devnet();
    params.bid_ttl_blocks = 10_000;
    init(
        dir,
        InitOptions {
            chain_id: CHAIN_ID.into(),
            accounts: funded.iter().map(|a| (a.address.to_string(), vec![Coin::new(FUNDS, DENOM)])).collect(),
            faucet_grant: Some(vec![Coin::new(1_000, DENOM)]),
            config,
            params,
            genesis_time_ms: 1,
            validators: Vec::new(),
        },
    )
    .unwrap();
}

impl Devnet {
    pub async fn start(funded: &[Actor], tweak: impl FnOnce(&mut NodeConfig)) -> Devnet {
        let home = tempfile::tempdir().unwrap();
        init_home(home.path(), funded, tweak);
        Devnet::open(home).await
    }

    pub async fn open(home: tempfile::TempDir) -> Devnet {
        stratus_client::install_tls_provider();
        let (ready_send, ready) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let path = home.path().to_path_buf();
        let task = tokio::spawn(async move {
            stratus_node::run(&path, Default::default(), async { stopped.await.unwrap_or(()) }, |r| {
                ready_send.send(r.api_addr).unwrap();
            })
            .await
        });
        let addr = match tokio::task::spawn_blocking(move || ready.recv_timeout(Duration::from_secs(30))).await.unwrap()
        {
            Ok(addr) => addr,
            Err(_) => panic!("node did not start: {:?}", task.await),
        };
        let url = format!("http://{addr}");
        Devnet { home: Some(home), client: NodeClient::new(&url), url, stop: Some(stop), task: Some(task) }
    }

    /// Stops gracefully; returns the home for reopening.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
        self.home.take().unwrap()
    }

    pub fn home(&self) -> &Path {
        self.home.as_ref().unwrap().path()
    }

    /// Signs with the actor's next sequence and waits for the commit.
    pub async fn send(&self, actor: &mut Actor, msgs: Vec<Msg>) -> Submitted {
        let tx = actor.tx(msgs);
        self.client.submit(&tx, true).await.unwrap()
    }

    pub async fn submit_raw(&self, tx: &Tx, wait: bool) -> Result<Submitted, stratus_client::ClientError> {
        self.client.submit(tx, wait).await
    }

    pub async fn wait_height(&self, height: u64) {
        for _ in 0..400 {
            if self.client.status().await.unwrap().height >= height {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("height {height} not reached");
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
