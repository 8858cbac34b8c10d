//! The node's HTTP API wire types (JSON), shared by the node that serves them and the clients.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::block::{BlockEvent, TxResult};
use crate::coin::Coin;
use crate::event::Event;
use crate::market::{Deployment, EscrowAccount, Group, Lease, Order, Payment};
use crate::tx::hex32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub chain_id: String,
    pub height: u64,
    #[serde(with = "hex32")]
    pub app_hash: [u8; 32],
    /// Target time between blocks.
    pub block_time_ms: u64,
    /// Unix milliseconds of the latest block.
    pub latest_block_time_ms: u64,
    pub mempool_txs: usize,
    pub faucet: bool,
    /// The consensus engine's view: which engine, this node's validator address, its peers,
    /// and whether it is catching up.
    #[serde(default)]
    pub consensus: ConsensusStatus,
}

/// `GET /validators`: one member of the chain's validator set (from genesis).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorInfo {
    pub name: String,
    pub address: Address,
    #[serde(with = "hex32")]
    pub public_key: [u8; 32],
    pub power: u64,
}

/// What a node's consensus engine reports (`GET /status`'s `consensus`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusStatus {
    /// `solo` (this node decides every block) or `bft` (Tendermint among the genesis validators).
    pub engine: String,
    /// This node's validator address, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<String>,
    /// Connected consensus peers (validator addresses, or monikers of non-validators).
    #[serde(default)]
    pub peers: Vec<String>,
    /// The height and round consensus is working on.
    pub height: u64,
    pub round: i64,
    /// True while the node is behind its peers and taking decided blocks by sync.
    pub catching_up: bool,
}

/// `POST /txs` body: the transaction's canonical (borsh) bytes, hex-encoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitTx {
    pub tx: String,
}

/// `POST /txs` answer. With `?wait=commit`, `height`, `error` and `events` describe the block
/// that included it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    pub committed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxInfo {
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    pub height: u64,
    pub index: u32,
    pub error: Option<String>,
    pub events: Vec<Event>,
    pub tx: crate::tx::Tx,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    pub height: u64,
    pub time_ms: u64,
    #[serde(with = "hex32")]
    pub app_hash: [u8; 32],
    #[serde(with = "hex32")]
    pub prev_app_hash: [u8; 32],
    pub tx_hashes: Vec<String>,
    pub tx_results: Vec<TxResult>,
    /// What decided the block (absent for blocks committed before certificates were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<BlockCertificate>,
}

/// `GET /blocks/{height}`'s `certificate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCertificate {
    /// `solo` or `bft`.
    pub engine: String,
    /// The round it was decided in (0 for the solo engine).
    pub round: u32,
    /// The validators whose signatures decided it.
    pub signers: Vec<Address>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub address: Address,
    /// Committed sequence: transactions the ledger has counted.
    pub sequence: u64,
    /// The sequence the account's next transaction must carry (committed plus those pending in
    /// the node's mempool); what clients sign with.
    pub next_sequence: u64,
    pub balances: Vec<Coin>,
}

/// A deployment with everything that hangs off it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentInfo {
    pub deployment: Deployment,
    pub groups: Vec<Group>,
    pub orders: Vec<Order>,
    pub leases: Vec<Lease>,
    pub escrow: Option<EscrowAccount>,
    pub payments: Vec<Payment>,
}

/// One page of a list query; pass `next` as `after` for the following page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// One message of the `/events` stream (`data:` of a server-sent event; its `id` is the height).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamedEvent {
    pub height: u64,
    pub tx: Option<u32>,
    pub event: Event,
}

impl StreamedEvent {
    pub fn from_block(height: u64, e: &BlockEvent) -> StreamedEvent {
        StreamedEvent { height, tx: e.tx, event: e.event.clone() }
    }
}

/// The `/events` stream's end-of-block mark (SSE event `block`, `id` = height): everything of
/// this height that matched the filter has been sent. A client that reconnects resumes from the
/// height after the last mark it saw (`from_height`, or the `Last-Event-ID` header), and so
/// misses nothing and sees nothing twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMark {
    pub height: u64,
    pub time_ms: u64,
    #[serde(with = "hex32")]
    pub app_hash: [u8; 32],
}

/// `POST /faucet` (devnets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaucetRequest {
    pub address: Address,
    #[serde(default)]
    pub amount: Option<Coin>,
}

/// Error bodies: `{"error": "one sentence"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}
