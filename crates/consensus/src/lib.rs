//! Ordering blocks. The boundary between a consensus engine (which only decides which block
//! comes next) and everything else (the node's mempool, ledger and store: the [`BlockApp`]).
//!
//! An engine asks the app to build candidate blocks, to check proposed ones without executing
//! them, and to execute and durably commit decided ones with the certificate that decided them.
//! Two engines implement [`ConsensusEngine`] against the same app:
//! - [`solo::SoloEngine`]: one node decides every block it builds, signing each block's id;
//! - [`malachite::MalachiteEngine`]: Tendermint BFT among the genesis validators, on the
//!   Malachite library (see `shared/design/consensus.md`). Malachite's types never leave
//!   [`malachite`]; the rest of the node sees only this module's plain data.
//!
//! **Invariants:** a block is executed once, at decide time (`commit`); `check` is pure and
//! deterministic (a synced block that one validator accepts, every validator accepts); the app
//! hash of block h travels in block h+1's header and `check` compares it with the stored one.

pub mod malachite;
pub mod solo;

use std::future::Future;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};
use stratus_types::block::Block;
use tokio::sync::watch;

pub use solo::SoloEngine;

/// Why the app refused a proposed block.
#[derive(Debug, thiserror::Error)]
#[error("block {height} rejected: {reason}")]
pub struct Reject {
    pub height: u64,
    pub reason: String,
}

/// Evidence that a block was decided, stored with it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Certificate {
    /// Decided by the single embedded engine: its validator key signed the block id.
    Solo { validator: [u8; 32], signature: Vec<u8> },
    /// Decided by the BFT engine in `round`: the validators whose precommits form the quorum
    /// (public keys), and the engine's own encoding of the certificate (served to peers that sync).
    Bft { round: u32, signers: Vec<[u8; 32]>, encoded: Vec<u8> },
}

impl Certificate {
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Certificate> {
        borsh::from_slice(bytes).map_err(|e| anyhow::anyhow!("stored certificate is unreadable: {e}"))
    }

    /// One line for logs and the API: the engine, round and signers.
    pub fn summary(&self) -> String {
        match self {
            Certificate::Solo { validator, .. } => format!("solo, signed by {}", short(validator)),
            Certificate::Bft { round, signers, .. } => {
                let names: Vec<String> = signers.iter().map(short).collect();
                format!("bft round {round}, {} precommits: {}", signers.len(), names.join(" "))
            }
        }
    }
}

fn short(key: &[u8; 32]) -> String {
    hex::encode(&key[..6])
}

/// A member of the validator set, as genesis lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub public_key: [u8; 32],
    pub power: u64,
}

/// What an engine reports for `/status` (plain data shared with the API).
pub use stratus_types::api::ConsensusStatus as EngineStatus;

/// The id a block is proposed and voted on by: sha256 of its canonical encoding.
pub fn block_id(block: &Block) -> [u8; 32] {
    Sha256::digest(borsh::to_vec(block).unwrap_or_default()).into()
}

pub trait BlockApp: Send + Sync + 'static {
    fn chain_id(&self) -> &str;
    /// The genesis validator set.
    fn validators(&self) -> Vec<Validator>;
    /// Height of the next block: the last committed height + 1.
    fn next_height(&self) -> u64;
    /// A candidate block at `height` from the mempool, stamped `time_ms`.
    fn build(&self, height: u64, time_ms: u64) -> Block;
    /// Checks a proposed block without executing it: height, parent app hash, time, chain,
    /// transaction limits and every signature. Deterministic.
    fn check(&self, block: &Block) -> Result<(), Reject>;
    /// Executes a decided block and starts its durable commit with its certificate (one store
    /// transaction, written while the next block may already execute); returns its app hash.
    /// Its transactions are reported committed once it is durable. An error (here or from a
    /// later `commit`/`flush`) means the node can no longer make progress safely and must stop.
    fn commit(&self, block: Block, certificate: Certificate) -> anyhow::Result<[u8; 32]>;
    /// Waits until every committed block is durable (an engine that must not go on before, such
    /// as BFT answering a decision, and every engine when it stops).
    fn flush(&self) -> anyhow::Result<()>;
    /// Committed blocks in `from..=to` with their certificates (for engines that serve sync).
    fn decided(&self, from: u64, to: u64) -> anyhow::Result<Vec<(Block, Option<Certificate>)>>;
    /// The engine's view of itself, for `/status`.
    fn report(&self, status: EngineStatus);
}

/// Orders blocks for an app until `stop` turns true.
pub trait ConsensusEngine: Send + 'static {
    fn run(
        self,
        app: Arc<dyn BlockApp>,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

pub use stratus_types::clock::now_ms;
