//! Blocks and what executing them produced.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::tx::{Tx, hex32};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct BlockHeader {
    pub chain_id: String,
    pub height: u64,
    /// Unix milliseconds, set by the block producer.
    pub time_ms: u64,
    /// App hash after the previous block: ties this block to the state it builds on.
    #[serde(with = "hex32")]
    pub prev_app_hash: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub txs: Vec<Tx>,
}

/// Outcome of one transaction in a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct TxResult {
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// `None` when every message succeeded; otherwise why the transaction failed (its messages
    /// changed nothing; the fee and sequence still count if it got that far).
    pub error: Option<String>,
}

/// An event and the transaction (index in the block) that caused it; `None` for end-of-block work
/// such as bid expiry and escrow exhaustion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct BlockEvent {
    pub tx: Option<u32>,
    pub event: Event,
}
