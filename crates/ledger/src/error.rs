//! Why a transaction failed. Each message is one sentence a user can act on; the CLI prints it
//! as is.

use stratus_types::address::Address;
use stratus_types::arena::ArenaRole;
use stratus_types::coin::Coin;
use stratus_types::market::{BidId, BidState, DeploymentId, GroupId, GroupState, LeaseId, OrderId, OrderState};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    // Transaction envelope.
    #[error("transaction is for chain {got:?}, this is {expected:?}")]
    WrongChain { expected: String, got: String },
    #[error("account sequence mismatch: expected {expected}, got {got} (query the account and sign again)")]
    BadSequence { expected: u64, got: u64 },
    #[error("transaction signature is invalid")]
    BadSignature,
    #[error("transaction has no messages")]
    NoMessages,
    #[error("fee {got} is below the minimum {min}")]
    FeeTooLow { min: Coin, got: Coin },

    // Bank.
    #[error("insufficient funds: {address} has {have}, needs {need}")]
    InsufficientFunds { address: Address, have: Coin, need: Coin },
    #[error("amount must be positive")]
    ZeroAmount,
    #[error(
        "{address} is the {module} module's account: its coins move only by that module's rules (deposits go through deployments and bids)"
    )]
    BlockedRecipient { address: Address, module: &'static str },
    #[error("denomination {0:?} is not accepted here (allowed: {1})")]
    DenomNotAllowed(String, String),

    // Deployments.
    #[error("deployment {0} already exists; pick another dseq")]
    DeploymentExists(DeploymentId),
    #[error("deployment {0} does not exist")]
    DeploymentNotFound(DeploymentId),
    #[error("deployment {0} is closed")]
    DeploymentClosed(DeploymentId),
    #[error("deployment groups are invalid: {0}")]
    InvalidGroups(String),
    #[error("deposit must be in the deployment's denomination {expected:?}, got {got:?}")]
    DenomMismatch { expected: String, got: String },
    #[error("deposit {got} is below the minimum {min}")]
    DepositTooLow { min: Coin, got: Coin },
    #[error("the new version equals the current one; nothing to update")]
    SameVersion,
    #[error("group {0} does not exist")]
    GroupNotFound(GroupId),
    #[error("group {id} is {state}, which does not allow this")]
    GroupState { id: GroupId, state: GroupState },
    #[error("the deployment's escrow is {0}; deposit funds first")]
    EscrowNotOpen(String),

    // Market.
    #[error("order {0} does not exist")]
    OrderNotFound(OrderId),
    #[error("order {id} is {state}, not open")]
    OrderNotOpen { id: OrderId, state: OrderState },
    #[error("order {0} already has the maximum number of bids ({1})")]
    TooManyBids(OrderId, u32),
    #[error("provider already bid on order {0}")]
    BidExists(OrderId),
    #[error("bid {0} does not exist")]
    BidNotFound(BidId),
    #[error("bid {id} is {state}")]
    BidState { id: BidId, state: BidState },
    #[error("bid price {bid} is above the order's maximum {max} per block")]
    BidAbovePrice { bid: String, max: String },
    #[error("bid price must be positive and in the order's denomination {0:?}")]
    BadBidPrice(String),
    #[error("bid offer does not match the group's resources: {0}")]
    BadOffer(String),
    #[error("provider does not meet the group's placement: {0}")]
    PlacementMismatch(String),
    #[error("lease {0} does not exist")]
    LeaseNotFound(LeaseId),
    #[error("lease {0} is not active")]
    LeaseNotActive(LeaseId),

    // Providers and auditors.
    #[error("{0} is not a registered provider; register with `stratus provider register`")]
    ProviderNotFound(Address),
    #[error("provider {0} is already registered; use update")]
    ProviderExists(Address),
    #[error("host uri {0:?} must be an https URL with a host and no path, e.g. https://provider.example.com:8443")]
    BadHostUri(String),
    #[error("invalid attributes: {0}")]
    BadAttributes(String),
    #[error("invalid benchmark record: {0}")]
    BadBenchmark(String),

    // Authorization.
    #[error("only {expected} may do this, not {got}")]
    Unauthorized { expected: Address, got: Address },

    #[error("{0}")]
    Arena(#[from] ArenaError),

    #[error("message {index} ({name}): {source}")]
    InMessage { index: usize, name: &'static str, source: Box<LedgerError> },

    // Internal.
    #[error("state is corrupt at key {key}: {detail}")]
    Corrupt { key: String, detail: String },
    #[error("storage error: {0}")]
    Storage(String),
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
}

impl LedgerError {
    pub fn corrupt(key: &[u8], e: &dyn std::fmt::Display) -> LedgerError {
        LedgerError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), detail: e.to_string() }
    }

    /// Errors that mean the node itself is broken (not the transaction): the block must not be
    /// committed.
    pub fn is_internal(&self) -> bool {
        match self {
            LedgerError::Corrupt { .. } | LedgerError::Storage(_) => true,
            LedgerError::InMessage { source, .. } => source.is_internal(),
            _ => false,
        }
    }
}

/// Why an arena message failed (`LedgerError::Arena`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArenaError {
    #[error("task {0} does not exist")]
    TaskNotFound(u64),
    #[error("invalid task: {0}")]
    InvalidTask(String),
    #[error("task {task} takes {what} at heights {from}..={until} (now {now})")]
    Window { task: u64, what: &'static str, from: u64, until: u64, now: u64 },
    #[error("{who} has no stake on task {task}: stake on it first")]
    NotStaked { task: u64, who: Address },
    #[error("{who} is a {role} on task {task}: one role per task")]
    OtherRole { task: u64, who: Address, role: ArenaRole },
    #[error("stake {stake} is below task {task}'s minimum {min}")]
    StakeBelowMinimum { task: u64, stake: u128, min: u128 },
    #[error("commission {0} bps is over 10000")]
    CommissionTooHigh(u32),
    #[error("the commission changed at height {set_at}; it may change again from height {next}")]
    CommissionLocked { set_at: u64, next: u64 },
    #[error("base model {base} is not one task {task} allows")]
    BaseModelNotAllowed { task: u64, base: String },
    #[error("{who} already submitted {max} model(s), the most task {task} allows")]
    SubmissionCap { task: u64, who: Address, max: u32 },
    #[error("task {0} has no validator yet: nobody could score a submission")]
    NoValidators(u64),
    #[error("task {task} has no submission {id}")]
    SubmissionNotFound { task: u64, id: u32 },
    #[error("{who} is not assigned to submission {submission} of task {task}")]
    NotAssigned { task: u64, submission: u32, who: Address },
    #[error("{who} already committed a score for submission {submission} of task {task}")]
    AlreadyCommitted { task: u64, submission: u32, who: Address },
    #[error("{who} committed no score for submission {submission} of task {task}")]
    NoCommit { task: u64, submission: u32, who: Address },
    #[error("{who}'s score for submission {submission} of task {task} is already revealed")]
    AlreadyRevealed { task: u64, submission: u32, who: Address },
    #[error("the revealed score does not match {who}'s commit for submission {submission} of task {task}")]
    RevealMismatch { task: u64, submission: u32, who: Address },
    #[error("task {0} is already finalized")]
    AlreadyFinalized(u64),
    #[error("task {task} can be finalized from height {from}")]
    TooEarly { task: u64, from: u64 },
    #[error("{who} has nothing to claim on task {task}")]
    NothingToClaim { task: u64, who: Address },
    #[error("stakes on task {0} are locked until it is finalized")]
    Locked(u64),
    #[error("{amount} is still delegated to {who}: its delegators undelegate first")]
    StillDelegated { who: Address, amount: u128 },
    #[error("{who} delegates nothing to {delegate} on task {task}")]
    NoDelegation { task: u64, who: Address, delegate: Address },
    #[error("the chain's arena reward parameters are impossible (q ≥ 1 or a share over 100%)")]
    BadParams,
}
