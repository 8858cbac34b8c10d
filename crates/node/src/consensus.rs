//! The boundary between ordering blocks (a consensus engine) and everything else (the node's
//! mempool, ledger and store: the [`BlockApp`]).
//!
//! An engine only decides which block comes next; the app builds candidate blocks, checks
//! proposed ones without executing them, and executes and durably commits decided ones. The
//! embedded [`SoloEngine`] decides every block it builds, one per `block_time`. A BFT engine
//! (Malachite, see `shared/design/consensus.md`) implements the same [`ConsensusEngine`] against
//! the same app, adding the proposal stash and sync calls it needs; the ledger does not change.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use stratus_types::block::Block;
use tokio::sync::watch;

/// Why the app refused a proposed block.
#[derive(Debug, thiserror::Error)]
#[error("block {height} rejected: {reason}")]
pub struct Reject {
    pub height: u64,
    pub reason: String,
}

/// Evidence that a block was decided, kept with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Certificate {
    /// Decided by the single embedded engine (no votes).
    Solo,
}

pub trait BlockApp: Send + Sync + 'static {
    /// Height of the next block: the last committed height + 1.
    fn next_height(&self) -> u64;
    /// A candidate block at `height` from the mempool, stamped `time_ms`.
    fn build(&self, height: u64, time_ms: u64) -> Block;
    /// Checks a proposed block without executing it: height, parent app hash, time, chain,
    /// transaction limits. Deterministic.
    fn check(&self, block: &Block) -> Result<(), Reject>;
    /// Executes a decided block and commits it durably (one store transaction); returns its
    /// app hash. An error means the node can no longer make progress safely and must stop.
    fn commit(&self, block: Block, certificate: Certificate) -> anyhow::Result<[u8; 32]>;
    /// Committed blocks in `from..=to` (for engines that sync peers).
    fn decided(&self, from: u64, to: u64) -> anyhow::Result<Vec<Block>>;
}

/// Orders blocks for an app until `stop` turns true.
pub trait ConsensusEngine: Send + 'static {
    fn run(
        self,
        app: Arc<dyn BlockApp>,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The embedded single-node engine: every `block_time`, build a block, check it, commit it.
pub struct SoloEngine {
    pub block_time: Duration,
}

pub use stratus_client::now_ms;

impl ConsensusEngine for SoloEngine {
    async fn run(self, app: Arc<dyn BlockApp>, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(self.block_time);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick fires at once; the first block should wait one block time.
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return Ok(()),
            }
            if *stop.borrow() {
                return Ok(());
            }
            let app = Arc::clone(&app);
            // Building, executing and the durable commit block on CPU and disk.
            tokio::task::spawn_blocking(move || {
                let height = app.next_height();
                let block = app.build(height, now_ms());
                app.check(&block)?;
                app.commit(block, Certificate::Solo)
            })
            .await??;
        }
    }
}
