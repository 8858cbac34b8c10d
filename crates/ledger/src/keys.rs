//! Where each record lives. Keys are a short ASCII prefix and fixed-width binary fields
//! (addresses 20 bytes, numbers big-endian), so prefixes select whole sets in order: all groups of
//! a deployment, all bids of an order, all index entries of a height.
//!
//! This module is the state's public layout: the store and the node's queries read it too.

use stratus_types::address::Address;
use stratus_types::market::{BidId, DeploymentId, GroupId, OrderId};

pub const PARAMS: &[u8] = b"params";
pub const CHAIN_ID: &[u8] = b"chain_id";

pub const BALANCE: &[u8] = b"bal/";
pub const SUPPLY: &[u8] = b"sup/";
pub const ACCOUNT: &[u8] = b"acc/";
pub const DEPLOYMENT: &[u8] = b"dep/";
pub const GROUP: &[u8] = b"grp/";
pub const ORDER: &[u8] = b"ord/";
pub const BID: &[u8] = b"bid/";
pub const LEASE: &[u8] = b"lse/";
pub const PROVIDER: &[u8] = b"prv/";
pub const AUDIT: &[u8] = b"aud/";
/// Benchmark records: provider, then GPU model.
pub const BENCHMARK: &[u8] = b"bmk/";
pub const ESCROW: &[u8] = b"esc/";
pub const PAYMENT: &[u8] = b"pay/";
/// Open bids by expiry height.
pub const BID_EXPIRY: &[u8] = b"xbe/";
/// Escrow accounts by the height their funds run out.
pub const ESCROW_EXHAUSTION: &[u8] = b"xex/";
/// Arena: tasks, stakes, delegations, submissions, scores, unclaimed rewards, unbondings by
/// release height, and the counters of task, submission and unbonding ids.
pub const ARENA_TASK: &[u8] = b"atk/";
pub const ARENA_STAKE: &[u8] = b"ast/";
pub const ARENA_DELEGATION: &[u8] = b"adl/";
pub const ARENA_SUBMISSION: &[u8] = b"asb/";
pub const ARENA_NEXT_SUBMISSION: &[u8] = b"ans/";
pub const ARENA_SCORE: &[u8] = b"asc/";
pub const ARENA_REWARD: &[u8] = b"arw/";
pub const ARENA_UNBONDING: &[u8] = b"xau/";
pub const ARENA_NEXT_TASK: &[u8] = b"arena/next_task";
pub const ARENA_NEXT_UNBONDING: &[u8] = b"arena/next_unbonding";
/// Gang deployments still forming, by the height their deadline falls at.
pub const GANG_DEADLINE: &[u8] = b"xgd/";
/// Open orders, for providers looking for work.
pub const OPEN_ORDER: &[u8] = b"xoo/";
/// Bids and leases by provider.
pub const PROVIDER_BID: &[u8] = b"xpb/";
pub const PROVIDER_LEASE: &[u8] = b"xpl/";

fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let len = prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut k = Vec::with_capacity(len);
    k.extend_from_slice(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

pub fn deployment_suffix(id: &DeploymentId) -> Vec<u8> {
    key(&[], &[&id.owner.0, &id.dseq.to_be_bytes()])
}

pub fn group_suffix(id: &GroupId) -> Vec<u8> {
    key(&[], &[&id.owner.0, &id.dseq.to_be_bytes(), &id.gseq.to_be_bytes()])
}

pub fn order_suffix(id: &OrderId) -> Vec<u8> {
    key(&[], &[&id.owner.0, &id.dseq.to_be_bytes(), &id.gseq.to_be_bytes(), &id.oseq.to_be_bytes()])
}

pub fn bid_suffix(id: &BidId) -> Vec<u8> {
    key(&[], &[&id.owner.0, &id.dseq.to_be_bytes(), &id.gseq.to_be_bytes(), &id.oseq.to_be_bytes(), &id.provider.0])
}

pub fn balance(addr: &Address, denom: &str) -> Vec<u8> {
    key(BALANCE, &[&addr.0, denom.as_bytes()])
}

pub fn balances_of(addr: &Address) -> Vec<u8> {
    key(BALANCE, &[&addr.0])
}

pub fn supply(denom: &str) -> Vec<u8> {
    key(SUPPLY, &[denom.as_bytes()])
}

pub fn account(addr: &Address) -> Vec<u8> {
    key(ACCOUNT, &[&addr.0])
}

pub fn deployment(id: &DeploymentId) -> Vec<u8> {
    key(DEPLOYMENT, &[&deployment_suffix(id)])
}

pub fn deployments_of(owner: &Address) -> Vec<u8> {
    key(DEPLOYMENT, &[&owner.0])
}

pub fn group(id: &GroupId) -> Vec<u8> {
    key(GROUP, &[&group_suffix(id)])
}

pub fn groups_of(id: &DeploymentId) -> Vec<u8> {
    key(GROUP, &[&deployment_suffix(id)])
}

pub fn order(id: &OrderId) -> Vec<u8> {
    key(ORDER, &[&order_suffix(id)])
}

pub fn orders_of_group(id: &GroupId) -> Vec<u8> {
    key(ORDER, &[&group_suffix(id)])
}

pub fn bid(id: &BidId) -> Vec<u8> {
    key(BID, &[&bid_suffix(id)])
}

pub fn bids_of_order(id: &OrderId) -> Vec<u8> {
    key(BID, &[&order_suffix(id)])
}

pub fn lease(id: &BidId) -> Vec<u8> {
    key(LEASE, &[&bid_suffix(id)])
}

pub fn leases_of(id: &DeploymentId) -> Vec<u8> {
    key(LEASE, &[&deployment_suffix(id)])
}

pub fn provider(addr: &Address) -> Vec<u8> {
    key(PROVIDER, &[&addr.0])
}

pub fn audit(provider: &Address, auditor: &Address) -> Vec<u8> {
    key(AUDIT, &[&provider.0, &auditor.0])
}

pub fn benchmark(provider: &Address, gpu_model: &str) -> Vec<u8> {
    key(BENCHMARK, &[&provider.0, gpu_model.as_bytes()])
}

pub fn benchmarks_of(provider: &Address) -> Vec<u8> {
    key(BENCHMARK, &[&provider.0])
}

pub fn audits_of(provider: &Address) -> Vec<u8> {
    key(AUDIT, &[&provider.0])
}

pub fn escrow(id: &DeploymentId) -> Vec<u8> {
    key(ESCROW, &[&deployment_suffix(id)])
}

pub fn payment(id: &BidId) -> Vec<u8> {
    key(PAYMENT, &[&bid_suffix(id)])
}

pub fn payments_of(id: &DeploymentId) -> Vec<u8> {
    key(PAYMENT, &[&deployment_suffix(id)])
}

pub fn bid_expiry(height: u64, id: &BidId) -> Vec<u8> {
    key(BID_EXPIRY, &[&height.to_be_bytes(), &bid_suffix(id)])
}

pub fn bid_expiries_at(height: u64) -> Vec<u8> {
    key(BID_EXPIRY, &[&height.to_be_bytes()])
}

pub fn escrow_exhaustion(height: u64, id: &DeploymentId) -> Vec<u8> {
    key(ESCROW_EXHAUSTION, &[&height.to_be_bytes(), &deployment_suffix(id)])
}

pub fn escrow_exhaustions_at(height: u64) -> Vec<u8> {
    key(ESCROW_EXHAUSTION, &[&height.to_be_bytes()])
}

pub fn gang_deadline(height: u64, id: &DeploymentId) -> Vec<u8> {
    key(GANG_DEADLINE, &[&height.to_be_bytes(), &deployment_suffix(id)])
}

pub fn gang_deadlines_at(height: u64) -> Vec<u8> {
    key(GANG_DEADLINE, &[&height.to_be_bytes()])
}

pub fn arena_task(id: u64) -> Vec<u8> {
    key(ARENA_TASK, &[&id.to_be_bytes()])
}

pub fn arena_stake(task: u64, who: &Address) -> Vec<u8> {
    key(ARENA_STAKE, &[&task.to_be_bytes(), &who.0])
}

pub fn arena_stakes_of(task: u64) -> Vec<u8> {
    key(ARENA_STAKE, &[&task.to_be_bytes()])
}

pub fn arena_delegation(task: u64, delegate: &Address, delegator: &Address) -> Vec<u8> {
    key(ARENA_DELEGATION, &[&task.to_be_bytes(), &delegate.0, &delegator.0])
}

pub fn arena_delegations_of(task: u64) -> Vec<u8> {
    key(ARENA_DELEGATION, &[&task.to_be_bytes()])
}

pub fn arena_rewards_of(task: u64) -> Vec<u8> {
    key(ARENA_REWARD, &[&task.to_be_bytes()])
}

pub fn arena_delegations_to(task: u64, delegate: &Address) -> Vec<u8> {
    key(ARENA_DELEGATION, &[&task.to_be_bytes(), &delegate.0])
}

pub fn arena_submission(task: u64, id: u32) -> Vec<u8> {
    key(ARENA_SUBMISSION, &[&task.to_be_bytes(), &id.to_be_bytes()])
}

pub fn arena_submissions_of(task: u64) -> Vec<u8> {
    key(ARENA_SUBMISSION, &[&task.to_be_bytes()])
}

pub fn arena_next_submission(task: u64) -> Vec<u8> {
    key(ARENA_NEXT_SUBMISSION, &[&task.to_be_bytes()])
}

pub fn arena_score(task: u64, submission: u32, validator: &Address) -> Vec<u8> {
    key(ARENA_SCORE, &[&task.to_be_bytes(), &submission.to_be_bytes(), &validator.0])
}

pub fn arena_scores_of(task: u64) -> Vec<u8> {
    key(ARENA_SCORE, &[&task.to_be_bytes()])
}

pub fn arena_reward(task: u64, who: &Address) -> Vec<u8> {
    key(ARENA_REWARD, &[&task.to_be_bytes(), &who.0])
}

pub fn arena_unbonding(height: u64, n: u64) -> Vec<u8> {
    key(ARENA_UNBONDING, &[&height.to_be_bytes(), &n.to_be_bytes()])
}

pub fn arena_unbondings_at(height: u64) -> Vec<u8> {
    key(ARENA_UNBONDING, &[&height.to_be_bytes()])
}

pub fn open_order(id: &OrderId) -> Vec<u8> {
    key(OPEN_ORDER, &[&order_suffix(id)])
}

pub fn provider_bid(id: &BidId) -> Vec<u8> {
    key(PROVIDER_BID, &[&id.provider.0, &bid_suffix(id)])
}

pub fn provider_lease(id: &BidId) -> Vec<u8> {
    key(PROVIDER_LEASE, &[&id.provider.0, &bid_suffix(id)])
}

pub fn provider_leases_of(provider: &Address) -> Vec<u8> {
    key(PROVIDER_LEASE, &[&provider.0])
}

pub fn provider_bids_of(provider: &Address) -> Vec<u8> {
    key(PROVIDER_BID, &[&provider.0])
}

fn addr(bytes: &[u8]) -> Option<Address> {
    bytes.try_into().ok().map(Address)
}

fn u64_at(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

fn u32_at(bytes: &[u8]) -> Option<u32> {
    bytes.try_into().ok().map(u32::from_be_bytes)
}

/// Decodes a bid (or lease) id from the tail of a key (`bid_suffix`).
pub fn parse_bid_suffix(b: &[u8]) -> Option<BidId> {
    if b.len() != 56 {
        return None;
    }
    Some(BidId {
        owner: addr(&b[0..20])?,
        dseq: u64_at(&b[20..28])?,
        gseq: u32_at(&b[28..32])?,
        oseq: u32_at(&b[32..36])?,
        provider: addr(&b[36..56])?,
    })
}

pub fn parse_order_suffix(b: &[u8]) -> Option<OrderId> {
    if b.len() != 36 {
        return None;
    }
    Some(OrderId {
        owner: addr(&b[0..20])?,
        dseq: u64_at(&b[20..28])?,
        gseq: u32_at(&b[28..32])?,
        oseq: u32_at(&b[32..36])?,
    })
}

pub fn parse_deployment_suffix(b: &[u8]) -> Option<DeploymentId> {
    if b.len() != 28 {
        return None;
    }
    Some(DeploymentId { owner: addr(&b[0..20])?, dseq: u64_at(&b[20..28])? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_round_trip_and_order_by_number() {
        let id = BidId { owner: Address([1; 20]), dseq: 7, gseq: 2, oseq: 3, provider: Address([9; 20]) };
        assert_eq!(parse_bid_suffix(&bid_suffix(&id)), Some(id.clone()));
        assert_eq!(parse_order_suffix(&order_suffix(&id.order())), Some(id.order()));
        assert_eq!(parse_deployment_suffix(&deployment_suffix(&id.deployment())), Some(id.deployment()));
        assert!(bid_expiry(9, &id) < bid_expiry(10, &id));
        assert!(bid_expiry(10, &id).starts_with(&bid_expiries_at(10)));
    }
}
