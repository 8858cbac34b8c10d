//! What the ledger records about the market: deployments, groups, orders, bids, leases,
//! providers, audited attributes and escrow. Identifiers nest like Akash's: a deployment is
//! (owner, dseq); its groups add gseq; each group's orders add oseq; a bid adds the provider;
//! a lease is identified by the bid it came from.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::attributes::Attribute;
use crate::coin::Coin;
use crate::dec::Dec;
use crate::group::{DecCoin, GroupSpec};

/// Identifiers: ordered, hashable, usable as keys.
macro_rules! id {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
        $vis struct $name { $($body)* }
    };
}

/// Records: plain data with JSON (API) and borsh (state) encodings.
macro_rules! plain {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
        $vis struct $name { $($body)* }
    };
}

id! {
    pub struct DeploymentId {
        pub owner: Address,
        pub dseq: u64,
    }
}

id! {
    pub struct GroupId {
        pub owner: Address,
        pub dseq: u64,
        pub gseq: u32,
    }
}

id! {
    pub struct OrderId {
        pub owner: Address,
        pub dseq: u64,
        pub gseq: u32,
        pub oseq: u32,
    }
}

id! {
    /// A bid, and the lease made from it.
    pub struct BidId {
        pub owner: Address,
        pub dseq: u64,
        pub gseq: u32,
        pub oseq: u32,
        pub provider: Address,
    }
}

pub type LeaseId = BidId;

impl DeploymentId {
    pub fn group(&self, gseq: u32) -> GroupId {
        GroupId { owner: self.owner, dseq: self.dseq, gseq }
    }
}

impl GroupId {
    pub fn deployment(&self) -> DeploymentId {
        DeploymentId { owner: self.owner, dseq: self.dseq }
    }

    pub fn order(&self, oseq: u32) -> OrderId {
        OrderId { owner: self.owner, dseq: self.dseq, gseq: self.gseq, oseq }
    }
}

impl OrderId {
    pub fn group(&self) -> GroupId {
        GroupId { owner: self.owner, dseq: self.dseq, gseq: self.gseq }
    }

    pub fn deployment(&self) -> DeploymentId {
        DeploymentId { owner: self.owner, dseq: self.dseq }
    }

    pub fn bid(&self, provider: Address) -> BidId {
        BidId { owner: self.owner, dseq: self.dseq, gseq: self.gseq, oseq: self.oseq, provider }
    }
}

impl BidId {
    pub fn order(&self) -> OrderId {
        OrderId { owner: self.owner, dseq: self.dseq, gseq: self.gseq, oseq: self.oseq }
    }

    pub fn group(&self) -> GroupId {
        self.order().group()
    }

    pub fn deployment(&self) -> DeploymentId {
        self.order().deployment()
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.dseq)
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.owner, self.dseq, self.gseq)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/{}", self.owner, self.dseq, self.gseq, self.oseq)
    }
}

impl fmt::Display for BidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/{}/{}", self.owner, self.dseq, self.gseq, self.oseq, self.provider)
    }
}

/// Why an id written as text (`owner/dseq/gseq/oseq[/provider]`) did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not {what} ({format})")]
pub struct IdParseError {
    text: String,
    what: &'static str,
    format: &'static str,
}

fn id_parts<'a>(s: &'a str, n: usize, what: &'static str, format: &'static str) -> Result<Vec<&'a str>, IdParseError> {
    let parts: Vec<&str> = s.trim().split('/').collect();
    if parts.len() == n { Ok(parts) } else { Err(IdParseError { text: s.to_string(), what, format }) }
}

impl std::str::FromStr for DeploymentId {
    type Err = IdParseError;

    fn from_str(s: &str) -> Result<DeploymentId, IdParseError> {
        const F: &str = "owner/dseq";
        let err = || IdParseError { text: s.to_string(), what: "a deployment id", format: F };
        let p = id_parts(s, 2, "a deployment id", F)?;
        Ok(DeploymentId { owner: p[0].parse().map_err(|_| err())?, dseq: p[1].parse().map_err(|_| err())? })
    }
}

impl std::str::FromStr for OrderId {
    type Err = IdParseError;

    fn from_str(s: &str) -> Result<OrderId, IdParseError> {
        const F: &str = "owner/dseq/gseq/oseq";
        let err = || IdParseError { text: s.to_string(), what: "an order id", format: F };
        let p = id_parts(s, 4, "an order id", F)?;
        Ok(OrderId {
            owner: p[0].parse().map_err(|_| err())?,
            dseq: p[1].parse().map_err(|_| err())?,
            gseq: p[2].parse().map_err(|_| err())?,
            oseq: p[3].parse().map_err(|_| err())?,
        })
    }
}

impl std::str::FromStr for BidId {
    type Err = IdParseError;

    fn from_str(s: &str) -> Result<BidId, IdParseError> {
        const F: &str = "owner/dseq/gseq/oseq/provider";
        let err = || IdParseError { text: s.to_string(), what: "a bid or lease id", format: F };
        let p = id_parts(s, 5, "a bid or lease id", F)?;
        let order: OrderId = p[..4].join("/").parse().map_err(|_| err())?;
        Ok(order.bid(p[4].parse().map_err(|_| err())?))
    }
}

macro_rules! state_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
        #[serde(rename_all = "snake_case")]
        #[borsh(use_discriminant = false)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

state_enum!(DeploymentState { Active => "active", Closed => "closed" });
state_enum!(GroupState { Open => "open", Paused => "paused", InsufficientFunds => "insufficient_funds", Closed => "closed" });
state_enum!(OrderState { Open => "open", Active => "active", Closed => "closed" });
state_enum!(BidState { Open => "open", Active => "active", Lost => "lost", Closed => "closed" });
state_enum!(LeaseState { Active => "active", InsufficientFunds => "insufficient_funds", Closed => "closed" });
state_enum!(EscrowState { Open => "open", Overdrawn => "overdrawn", Closed => "closed" });

state_enum!(
    /// Why a lease, bid or order ended. Akash's reasons plus `expired` for bids that outlived
    /// `bid_ttl_blocks`.
    CloseReason {
        Owner => "owner",
        Unstable => "unstable",
        Decommissioned => "decommissioned",
        Unspecified => "unspecified",
        ManifestTimeout => "manifest_timeout",
        InsufficientFunds => "insufficient_funds",
        Expired => "expired",
        LostAuction => "lost_auction",
        GroupClosed => "group_closed",
        // The provider closed it: a replica cannot run (crash loop, nothing to run).
        WorkloadFailed => "workload_failed",
        // A gang deployment's groups were not all leased within `gang_timeout_blocks`.
        GangTimeout => "gang_timeout",
    }
);

plain! {
    pub struct Deployment {
        pub id: DeploymentId,
        pub state: DeploymentState,
        /// The manifest version (sha256) providers check the tenant's manifest against.
        pub version: [u8; 32],
        /// The one denomination all of the deployment's prices and its escrow use.
        pub denom: String,
        pub created_at: u64,
        pub closed_at: Option<u64>,
        /// Set for an all-or-nothing deployment: none of its leases pays until every group is
        /// leased, and if that has not happened by `deadline` the deployment closes.
        pub gang: Option<Gang>,
    }
}

plain! {
    pub struct Gang {
        /// End of the block at this height is the last chance for the gang to form.
        pub deadline: u64,
        /// Height at which the last group was leased and every lease started paying.
        pub formed_at: Option<u64>,
    }
}

impl Deployment {
    /// True for a gang whose groups are not all leased yet: its leases do not pay.
    pub fn is_forming_gang(&self) -> bool {
        self.gang.as_ref().is_some_and(|g| g.formed_at.is_none())
    }
}

plain! {
    pub struct Group {
        pub id: GroupId,
        pub state: GroupState,
        pub spec: GroupSpec,
        pub created_at: u64,
        /// The oseq the next order of this group gets.
        pub next_oseq: u32,
    }
}

plain! {
    pub struct Order {
        pub id: OrderId,
        pub state: OrderState,
        pub created_at: u64,
        pub closed_at: Option<u64>,
        /// Bids received (open, lost or active), for the per-order cap.
        pub bid_count: u32,
    }
}

plain! {
    /// What a provider commits to for one resource unit of the group (e.g. the GPU model).
    pub struct ResourceOffer {
        pub resource_id: u32,
        pub count: u32,
        pub attributes: Vec<Attribute>,
    }
}

plain! {
    pub struct Bid {
        pub id: BidId,
        pub state: BidState,
        /// Per block for the whole group, in the deployment's denomination.
        pub price: DecCoin,
        /// Held in escrow while the bid lives; returned when it closes or loses.
        pub deposit: Coin,
        pub created_at: u64,
        /// An open bid is closed (deposit refunded) at this height if no lease was made.
        pub expires_at: u64,
        pub offer: Vec<ResourceOffer>,
        pub closed_at: Option<u64>,
        pub close_reason: Option<CloseReason>,
    }
}

plain! {
    pub struct Lease {
        pub id: LeaseId,
        pub state: LeaseState,
        pub price: DecCoin,
        pub created_at: u64,
        /// Height from which the lease pays: its creation, or for a gang the height the gang
        /// formed; `None` while its gang is still forming.
        pub paying_since: Option<u64>,
        pub closed_at: Option<u64>,
        pub close_reason: Option<CloseReason>,
        /// Accrued to the provider so far (price × blocks paid), exact.
        pub accrued: Dec,
        /// Paid out to the provider in whole units (take rate included), so far.
        pub withdrawn: u128,
    }
}

impl Lease {
    pub fn is_active(&self) -> bool {
        self.state == LeaseState::Active
    }
}

plain! {
    #[derive(Default)]
    pub struct ProviderInfo {
        pub email: String,
        pub website: String,
        /// sha256 of the gateway's TLS certificate (hex), which clients pin.
        pub tls_sha256: String,
    }
}

plain! {
    pub struct Provider {
        pub owner: Address,
        /// Base URL of the provider's gateway, `https://host:port`.
        pub host_uri: String,
        pub attributes: Vec<Attribute>,
        pub info: ProviderInfo,
    }
}

plain! {
    /// Attributes of a provider that an auditor vouches for.
    pub struct AuditedAttributes {
        pub provider: Address,
        pub auditor: Address,
        pub attributes: Vec<Attribute>,
    }
}

plain! {
    /// Who funded an escrow account, and how much of it is still theirs.
    pub struct EscrowDeposit {
        pub depositor: Address,
        pub remaining: Dec,
    }
}

plain! {
    /// A deployment's escrow. Funds move from `balance` to its leases' payments block by block,
    /// lazily: only when something touches the account (or when its funds run out).
    pub struct EscrowAccount {
        pub deployment: DeploymentId,
        pub denom: String,
        pub state: EscrowState,
        /// Funds not yet transferred to payments (= Σ deposits' `remaining`).
        pub balance: Dec,
        /// Deposits in arrival order; transfers consume the oldest first, refunds return the rest.
        pub deposits: Vec<EscrowDeposit>,
        /// Height up to which all payments have been settled.
        pub settled_at: u64,
        /// Σ rates of open payments, per block.
        pub total_rate: Dec,
        /// Height at which the balance runs out at `total_rate` (indexed, so the ledger closes
        /// the leases then without scanning every account each block).
        pub exhausted_at: Option<u64>,
        pub total_deposited: u128,
        pub total_transferred: Dec,
        /// Sub-unit remainders of closed payments, given back to the account.
        pub total_returned: Dec,
    }
}

plain! {
    /// The flow of money from a deployment's escrow to one lease's provider.
    pub struct Payment {
        pub lease: LeaseId,
        pub state: EscrowState,
        pub rate: Dec,
        /// Transferred from the account so far (exact).
        pub accrued: Dec,
        /// Accrued but not yet paid out (the part below one unit waits for the next payout).
        pub balance: Dec,
        /// Paid out so far in whole units (provider share plus take).
        pub withdrawn: u128,
    }
}

plain! {
    /// Sequence number (replay protection) of an account that has sent transactions.
    pub struct AccountState {
        pub sequence: u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let bid = BidId { owner: Address([1; 20]), dseq: 42, gseq: 2, oseq: 3, provider: Address([7; 20]) };
        assert_eq!(bid.to_string().parse::<BidId>(), Ok(bid.clone()));
        assert_eq!(bid.order().to_string().parse::<OrderId>(), Ok(bid.order()));
        assert_eq!(bid.deployment().to_string().parse::<DeploymentId>(), Ok(bid.deployment()));
        let err = "x/1".parse::<OrderId>().unwrap_err().to_string();
        assert!(err.contains("owner/dseq/gseq/oseq"), "{err}");
        assert!(format!("{}/x", bid.deployment()).parse::<DeploymentId>().is_err());
    }
}
