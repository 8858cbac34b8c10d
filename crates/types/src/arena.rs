//! What the ledger records about arena tasks (federated training competitions, FLock's AI Arena;
//! `../shared/design/arena.md`): tasks with their reward pools, stakes of training nodes and
//! validators, delegations, submissions with their deterministic validator assignment, and
//! committed-then-revealed scores.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::coin::Coin;

/// Records: plain data with JSON (API) and borsh (state) encodings.
macro_rules! plain {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
        $vis struct $name { $($body)* }
    };
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(rename_all = "snake_case")]
#[borsh(use_discriminant = false)]
pub enum ArenaRole {
    TrainingNode,
    Validator,
}

impl fmt::Display for ArenaRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArenaRole::TrainingNode => "training node",
            ArenaRole::Validator => "validator",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
#[borsh(use_discriminant = false)]
pub enum TaskState {
    Open,
    /// Rewards computed; stakes may leave, rewards may be claimed.
    Finalized,
}

plain! {
    /// What a task creator asks for (`create_task`).
    pub struct TaskSpec {
        /// sha256 of the base models a submission may start from.
        #[serde(with = "hex32s")]
        pub base_models: Vec<[u8; 32]>,
        /// Where the training data is (e.g. `s3://bucket/prefix`).
        pub data_url: String,
        /// sha256 of the validation set, kept from training nodes until scoring.
        #[serde(with = "crate::tx::hex32")]
        pub validation_commitment: [u8; 32],
        pub max_params: u64,
        pub context: u32,
        /// Blocks, from creation, in which models may be submitted; then committing scores; then
        /// revealing them.
        pub submission_blocks: u64,
        pub commit_blocks: u64,
        pub reveal_blocks: u64,
        /// Escrowed from the creator at creation.
        pub pool: Coin,
        /// Smallest own stake of a training node or validator.
        #[serde(with = "crate::coin::u128_string")]
        pub min_stake: u128,
        pub validators_per_submission: u32,
        pub max_submissions_per_node: u32,
    }
}

plain! {
    pub struct Task {
        pub id: u64,
        pub creator: Address,
        pub spec: TaskSpec,
        pub created_at: u64,
        /// Last heights of each window.
        pub submit_until: u64,
        pub commit_until: u64,
        pub reveal_until: u64,
        pub state: TaskState,
    }
}

plain! {
    /// A training node's or validator's stake on a task, with what was delegated to it.
    pub struct ArenaStake {
        pub task: u64,
        pub owner: Address,
        pub role: ArenaRole,
        #[serde(with = "crate::coin::u128_string")]
        pub amount: u128,
        #[serde(with = "crate::coin::u128_string")]
        pub delegated: u128,
        /// Share of its reward it keeps from its delegators' part, basis points.
        pub commission_bps: u32,
        pub commission_set_at: u64,
    }
}

plain! {
    pub struct Delegation {
        pub task: u64,
        pub delegator: Address,
        pub delegate: Address,
        #[serde(with = "crate::coin::u128_string")]
        pub amount: u128,
    }
}

plain! {
    /// Stake on its way back to its owner (released at `release_at`).
    pub struct Unbonding {
        pub owner: Address,
        pub amount: Coin,
        pub release_at: u64,
    }
}

plain! {
    pub struct Submission {
        pub task: u64,
        pub id: u32,
        pub node: Address,
        #[serde(with = "crate::tx::hex32")]
        pub model_sha256: [u8; 32],
        pub location: String,
        #[serde(with = "crate::tx::hex32")]
        pub base_model: [u8; 32],
        pub submitted_at: u64,
        /// The validators that must score it, chosen from ledger state at submission.
        pub validators: Vec<Address>,
    }
}

/// The score a validator gives a submission it cannot use — not downloadable, not matching its
/// sha256, not a model file, or breaking the task's rules — in micro-bits per byte: a million bits
/// per byte, worse than any real model, so it ranks last without a special case in the tally.
pub const UNUSABLE_MODEL_SCORE: u64 = 1_000_000_000_000;

plain! {
    pub struct Score {
        pub task: u64,
        pub submission: u32,
        pub validator: Address,
        #[serde(with = "crate::tx::hex32")]
        pub commit: [u8; 32],
        /// Micro-bits per byte (lower is better), once revealed.
        pub revealed: Option<u64>,
    }
}

plain! {
    /// What is owed to `owner` on a finalized task and not yet claimed.
    pub struct Unclaimed {
        pub owner: Address,
        #[serde(with = "crate::coin::u128_string")]
        pub amount: u128,
    }
}

plain! {
    /// Everything the ledger holds about one task (`GET /arena/tasks/{id}`): enough to recompute
    /// every reward.
    pub struct TaskRecord {
        pub task: Task,
        pub stakes: Vec<ArenaStake>,
        pub delegations: Vec<Delegation>,
        pub submissions: Vec<Submission>,
        pub scores: Vec<Score>,
        pub unclaimed: Vec<Unclaimed>,
    }
}

/// `stratus arena audit`'s verdict: every reward of a finalized task recomputed from the ledger's
/// records, against what the ledger credited (claimed + unclaimed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    pub task: u64,
    pub rewards_match: bool,
    pub differences: Vec<String>,
    pub recomputed: Vec<Unclaimed>,
    #[serde(with = "crate::coin::u128_string")]
    pub remainder: u128,
}

/// The chain's arena rules (a ledger parameter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct ArenaParams {
    /// The training nodes' part of a task's pool, basis points (the validators get the rest).
    pub node_share_bps: u32,
    /// q of the rank weights q^rank, basis points (< 10000).
    pub q_bps: u32,
    /// A validator whose mean distance from the medians exceeds this (basis points of the
    /// median) earns nothing.
    pub max_deviation_bps: u32,
    /// Share of its own stake a validator loses for not revealing every assigned score.
    pub slash_bps: u32,
    /// Blocks between unstaking (or undelegating) and the coins arriving.
    pub unbonding_blocks: u64,
    /// A participant's commission changes at most once per this many blocks.
    pub commission_change_blocks: u64,
    /// The smallest `min_stake` a task may set.
    #[serde(with = "crate::coin::u128_string")]
    pub min_stake: u128,
}

impl Default for ArenaParams {
    fn default() -> ArenaParams {
        ArenaParams {
            node_share_bps: 7_000,
            q_bps: 5_000,
            max_deviation_bps: 2_000,
            slash_bps: 1_000,
            unbonding_blocks: 100,
            commission_change_blocks: 10_000,
            min_stake: 1,
        }
    }
}

/// The hash a validator commits to: it binds the score to the task, the submission and the
/// validator, so a commit cannot be copied.
pub fn score_commit(task: u64, submission: u32, validator: &Address, score: u64, salt: &[u8; 32]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"stratus/arena/score/v1");
    h.update(task.to_be_bytes());
    h.update(submission.to_be_bytes());
    h.update(validator.0);
    h.update(score.to_be_bytes());
    h.update(salt);
    h.finalize().into()
}

mod hex32s {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(hex::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        let strings = Vec::<String>::deserialize(d)?;
        strings
            .iter()
            .map(|s| {
                let bytes = hex::decode(s).map_err(serde::de::Error::custom)?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| serde::de::Error::custom("expected 32 bytes of hex"))
            })
            .collect()
    }
}
