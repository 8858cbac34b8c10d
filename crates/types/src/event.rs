//! Typed events: one for every state change, recorded per block for queries and streams.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::coin::Coin;
use crate::dec::Dec;
use crate::group::DecCoin;
use crate::market::{BidId, BidState, CloseReason, DeploymentId, GroupId, GroupState, LeaseId, OrderId, OrderState};
use crate::tx::hex32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[borsh(use_discriminant = false)]
pub enum Event {
    Transfer {
        from: Address,
        to: Address,
        amount: Coin,
    },
    DeploymentCreated {
        id: DeploymentId,
        #[serde(with = "hex32")]
        version: [u8; 32],
    },
    DeploymentUpdated {
        id: DeploymentId,
        #[serde(with = "hex32")]
        version: [u8; 32],
    },
    DeploymentClosed {
        id: DeploymentId,
        reason: CloseReason,
    },
    GroupStateChanged {
        id: GroupId,
        state: GroupState,
        reason: Option<CloseReason>,
    },
    OrderCreated {
        id: OrderId,
    },
    OrderStateChanged {
        id: OrderId,
        state: OrderState,
    },
    BidCreated {
        id: BidId,
        price: DecCoin,
    },
    BidStateChanged {
        id: BidId,
        state: BidState,
        reason: Option<CloseReason>,
    },
    LeaseCreated {
        id: LeaseId,
        price: DecCoin,
    },
    /// A lease ended; `accrued` is what its price earned over its blocks, `paid` what the
    /// provider received in whole units over its life (take included).
    LeaseClosed {
        id: LeaseId,
        reason: CloseReason,
        accrued: Dec,
        paid: Coin,
        blocks: u64,
    },
    /// Escrow moved `amount` from the deployment's balance to the lease's payment.
    PaymentSettled {
        lease: LeaseId,
        amount: Dec,
        blocks: u64,
    },
    LeaseWithdrawn {
        lease: LeaseId,
        to_provider: Coin,
        take: Coin,
    },
    EscrowDeposited {
        deployment: DeploymentId,
        depositor: Address,
        amount: Coin,
    },
    EscrowOverdrawn {
        deployment: DeploymentId,
    },
    EscrowRefunded {
        deployment: DeploymentId,
        depositor: Address,
        amount: Coin,
    },
    ProviderCreated {
        owner: Address,
    },
    ProviderUpdated {
        owner: Address,
    },
    AttributesSigned {
        provider: Address,
        auditor: Address,
    },
    AttributesDeleted {
        provider: Address,
        auditor: Address,
    },
    BenchmarkPublished {
        provider: Address,
        gpu_model: String,
    },
    /// Every group of a gang deployment is leased: all its leases pay from this block on.
    GangFormed {
        id: DeploymentId,
        leases: Vec<LeaseId>,
    },
    TaskCreated {
        task: u64,
        creator: Address,
        pool: Coin,
    },
    ArenaStaked {
        task: u64,
        owner: Address,
        role: crate::arena::ArenaRole,
        #[serde(with = "crate::coin::u128_string")]
        amount: u128,
    },
    ArenaDelegated {
        task: u64,
        delegator: Address,
        delegate: Address,
        #[serde(with = "crate::coin::u128_string")]
        amount: u128,
    },
    ModelSubmitted {
        task: u64,
        submission: u32,
        node: Address,
        validators: Vec<Address>,
    },
    ScoreRevealed {
        task: u64,
        submission: u32,
        validator: Address,
        score: u64,
    },
    /// Rewards are computed and claimable; `ranking` is the training nodes, best first.
    TaskFinalized {
        task: u64,
        ranking: Vec<Address>,
        paid: Coin,
        remainder: Coin,
    },
    ArenaSlashed {
        task: u64,
        owner: Address,
        #[serde(with = "crate::coin::u128_string")]
        amount: u128,
    },
    RewardsClaimed {
        task: u64,
        owner: Address,
        amount: Coin,
    },
}

impl Event {
    /// The event's kind, as the JSON `kind` field and the stream filter spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Transfer { .. } => "transfer",
            Event::DeploymentCreated { .. } => "deployment_created",
            Event::DeploymentUpdated { .. } => "deployment_updated",
            Event::DeploymentClosed { .. } => "deployment_closed",
            Event::GroupStateChanged { .. } => "group_state_changed",
            Event::OrderCreated { .. } => "order_created",
            Event::OrderStateChanged { .. } => "order_state_changed",
            Event::BidCreated { .. } => "bid_created",
            Event::BidStateChanged { .. } => "bid_state_changed",
            Event::LeaseCreated { .. } => "lease_created",
            Event::LeaseClosed { .. } => "lease_closed",
            Event::PaymentSettled { .. } => "payment_settled",
            Event::LeaseWithdrawn { .. } => "lease_withdrawn",
            Event::EscrowDeposited { .. } => "escrow_deposited",
            Event::EscrowOverdrawn { .. } => "escrow_overdrawn",
            Event::EscrowRefunded { .. } => "escrow_refunded",
            Event::ProviderCreated { .. } => "provider_created",
            Event::ProviderUpdated { .. } => "provider_updated",
            Event::AttributesSigned { .. } => "attributes_signed",
            Event::BenchmarkPublished { .. } => "benchmark_published",
            Event::AttributesDeleted { .. } => "attributes_deleted",
            Event::GangFormed { .. } => "gang_formed",
            Event::TaskCreated { .. } => "task_created",
            Event::ArenaStaked { .. } => "arena_staked",
            Event::ArenaDelegated { .. } => "arena_delegated",
            Event::ModelSubmitted { .. } => "model_submitted",
            Event::ScoreRevealed { .. } => "score_revealed",
            Event::TaskFinalized { .. } => "task_finalized",
            Event::ArenaSlashed { .. } => "arena_slashed",
            Event::RewardsClaimed { .. } => "rewards_claimed",
        }
    }

    /// Every value [`Event::kind`] returns (for validating stream filters).
    pub const KINDS: &'static [&'static str] = &[
        "transfer",
        "deployment_created",
        "deployment_updated",
        "deployment_closed",
        "group_state_changed",
        "order_created",
        "order_state_changed",
        "bid_created",
        "bid_state_changed",
        "lease_created",
        "lease_closed",
        "payment_settled",
        "lease_withdrawn",
        "escrow_deposited",
        "escrow_overdrawn",
        "escrow_refunded",
        "provider_created",
        "provider_updated",
        "attributes_signed",
        "attributes_deleted",
        "benchmark_published",
        "gang_formed",
        "task_created",
        "arena_staked",
        "arena_delegated",
        "model_submitted",
        "score_revealed",
        "task_finalized",
        "arena_slashed",
        "rewards_claimed",
    ];

    /// The deployment owner (tenant) the event concerns, if any.
    pub fn owner(&self) -> Option<Address> {
        match self {
            Event::DeploymentCreated { id, .. }
            | Event::DeploymentUpdated { id, .. }
            | Event::DeploymentClosed { id, .. }
            | Event::GangFormed { id, .. } => Some(id.owner),
            Event::EscrowDeposited { deployment, .. }
            | Event::EscrowOverdrawn { deployment }
            | Event::EscrowRefunded { deployment, .. } => Some(deployment.owner),
            Event::GroupStateChanged { id, .. } => Some(id.owner),
            Event::OrderCreated { id } | Event::OrderStateChanged { id, .. } => Some(id.owner),
            Event::BidCreated { id, .. }
            | Event::BidStateChanged { id, .. }
            | Event::LeaseCreated { id, .. }
            | Event::LeaseClosed { id, .. } => Some(id.owner),
            Event::PaymentSettled { lease, .. } | Event::LeaseWithdrawn { lease, .. } => Some(lease.owner),
            Event::Transfer { .. }
            | Event::TaskCreated { .. }
            | Event::ArenaStaked { .. }
            | Event::ArenaDelegated { .. }
            | Event::ModelSubmitted { .. }
            | Event::ScoreRevealed { .. }
            | Event::TaskFinalized { .. }
            | Event::ArenaSlashed { .. }
            | Event::RewardsClaimed { .. }
            | Event::ProviderCreated { .. }
            | Event::ProviderUpdated { .. }
            | Event::AttributesSigned { .. }
            | Event::AttributesDeleted { .. }
            | Event::BenchmarkPublished { .. } => None,
        }
    }

    /// The provider the event concerns, if any.
    pub fn provider(&self) -> Option<Address> {
        match self {
            Event::BidCreated { id, .. }
            | Event::BidStateChanged { id, .. }
            | Event::LeaseCreated { id, .. }
            | Event::LeaseClosed { id, .. } => Some(id.provider),
            Event::PaymentSettled { lease, .. } | Event::LeaseWithdrawn { lease, .. } => Some(lease.provider),
            Event::ProviderCreated { owner } | Event::ProviderUpdated { owner } => Some(*owner),
            Event::AttributesSigned { provider, .. } | Event::AttributesDeleted { provider, .. } => Some(*provider),
            Event::BenchmarkPublished { provider, .. } => Some(*provider),
            _ => None,
        }
    }
}
