//! Behaviour of every message, cascade and end-of-block rule. Every block in these tests is
//! followed by the full invariant check (`TestChain`).

use stratus_types::attributes::Attribute;
use stratus_types::coin::Coin;
use stratus_types::dec::Dec;
use stratus_types::event::Event;
use stratus_types::group::{DecCoin, GroupSpec, SignedBy};
use stratus_types::market::{
    Bid, BidId, BidState, CloseReason, DeploymentId, DeploymentState, EscrowAccount, Group, GroupState, Lease,
    LeaseState, Order, OrderId, OrderState,
};
use stratus_types::params::{Params, TakeRate};
use stratus_types::tx::{Msg, Tx, TxBody};

use crate::keys;
use crate::testkit::{Actor, DENOM, TestChain, group, provider_msg};
use crate::{community_pool, escrow_module};

const FUNDS: u128 = 100_000_000;
const DEPOSIT: u128 = 5_000_000;
const BID_DEPOSIT: u128 = 500_000;

fn params() -> Params {
    Params { denoms: vec![DENOM.into(), "uakt".into()], bid_ttl_blocks: 50, ..Params::devnet() }
}

struct World {
    chain: TestChain,
    tenant: Actor,
    p1: Actor,
    p2: Actor,
    auditor: Actor,
}

fn world_with(params: Params) -> World {
    let tenant = Actor::new("tenant");
    let mut p1 = Actor::new("provider-1");
    let mut p2 = Actor::new("provider-2");
    let auditor = Actor::new("auditor");
    let mut chain = TestChain::new(params, &[&tenant, &p1, &p2, &auditor], FUNDS);
    assert_eq!(chain.run(p1.tx(vec![provider_msg(&["a100", "h100"])])), None);
    assert_eq!(chain.run(p2.tx(vec![provider_msg(&["rtx4090"])])), None);
    World { chain, tenant, p1, p2, auditor }
}

fn world() -> World {
    world_with(params())
}

fn deploy(w: &mut World, dseq: u64, groups: Vec<GroupSpec>, deposit: u128) -> Option<String> {
    let tx = w.tenant.tx(vec![Msg::CreateDeployment {
        dseq,
        groups,
        version: [7; 32],
        deposit: Coin::new(deposit, DENOM),
        gang: false,
    }]);
    w.chain.run(tx)
}

fn order_id(w: &World, dseq: u64) -> OrderId {
    OrderId { owner: w.tenant.address, dseq, gseq: 1, oseq: 1 }
}

fn bid_msg(order: &OrderId, price: u128) -> Msg {
    Msg::CreateBid {
        order: order.clone(),
        price: DecCoin::new(DENOM, Dec::from_int(price).unwrap_or_default()),
        deposit: Coin::new(BID_DEPOSIT, DENOM),
        offer: vec![],
    }
}

fn dec_price(s: &str) -> DecCoin {
    DecCoin::new(DENOM, s.parse().unwrap_or_default())
}

/// Deploys one group priced at `max` and leases it from provider 1 at `price`.
fn leased(w: &mut World, dseq: u64, max: u128, price: DecCoin, deposit: u128) -> BidId {
    assert_eq!(deploy(w, dseq, vec![group("g", max, 1, None)], deposit), None);
    let order = order_id(w, dseq);
    let tx = w.p1.tx(vec![Msg::CreateBid {
        order: order.clone(),
        price,
        deposit: Coin::new(BID_DEPOSIT, DENOM),
        offer: vec![],
    }]);
    assert_eq!(w.chain.run(tx), None);
    let bid = order.bid(w.p1.address);
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CreateLease { bid: bid.clone() }])), None);
    bid
}

fn lease(w: &World, id: &BidId) -> Lease {
    w.chain.get(&keys::lease(id)).expect("lease")
}

#[test]
fn genesis_funds_accounts_and_is_deterministic() {
    let w1 = world();
    let w2 = world();
    assert_eq!(w1.chain.app_hash, w2.chain.app_hash);
    assert_eq!(w1.chain.balance(&w1.tenant.address), FUNDS);
    let other = TestChain::new(params(), &[&Actor::new("someone")], FUNDS);
    assert_ne!(TestChain::new(params(), &[&Actor::new("tenant")], FUNDS).app_hash, other.app_hash);
}

#[test]
fn send_moves_funds_and_refuses_overdrafts() {
    let mut w = world();
    let to = Actor::new("friend").address;
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::Send { to, amount: Coin::new(250, DENOM) }])), None);
    assert_eq!(w.chain.balance(&to), 250);
    assert_eq!(w.chain.balance(&w.tenant.address), FUNDS - 250);
    let err = w.chain.run(w.tenant.tx(vec![Msg::Send { to, amount: Coin::new(FUNDS, DENOM) }]));
    assert!(err.is_some_and(|e| e.starts_with("insufficient funds")));
    let err = w.chain.run(w.tenant.tx(vec![Msg::Send { to, amount: Coin::new(0, DENOM) }]));
    assert_eq!(err.as_deref(), Some("amount must be positive"));
}

#[test]
fn sends_to_the_escrow_module_are_refused_and_to_the_community_pool_are_donations() {
    let mut w = world();
    let escrow = crate::escrow_module();
    let before = w.chain.balance(&escrow);
    let err = w.chain.run(w.tenant.tx(vec![Msg::Send { to: escrow, amount: Coin::new(51, DENOM) }]));
    assert!(err.as_deref().is_some_and(|e| e.contains("escrow module's account")), "{err:?}");
    assert_eq!(w.chain.balance(&escrow), before, "nothing moved");
    assert_eq!(w.chain.balance(&w.tenant.address), FUNDS);
    let pool = crate::community_pool();
    let before = w.chain.balance(&pool);
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::Send { to: pool, amount: Coin::new(7, DENOM) }])), None);
    assert_eq!(w.chain.balance(&pool), before + 7);
}

#[test]
fn replays_wrong_chains_and_bad_signatures_are_refused() {
    let mut w = world();
    let to = Actor::new("friend").address;
    let tx = w.tenant.tx(vec![Msg::Send { to, amount: Coin::new(1, DENOM) }]);
    assert_eq!(w.chain.run(tx.clone()), None);
    let replay = w.chain.run(tx);
    assert!(replay.is_some_and(|e| e.contains("sequence mismatch: expected 1, got 0")));

    let body = TxBody {
        chain_id: "other".into(),
        sequence: w.tenant.sequence,
        fee: Coin::new(0, DENOM),
        memo: String::new(),
        msgs: vec![Msg::Send { to, amount: Coin::new(1, DENOM) }],
    };
    let wrong_chain = Tx::sign(body, &w.tenant.key);
    assert!(w.chain.run(wrong_chain).is_some_and(|e| e.starts_with("transaction is for chain \"other\"")));

    let mut forged = w.tenant.tx(vec![Msg::Send { to, amount: Coin::new(1, DENOM) }]);
    forged.body.msgs = vec![Msg::Send { to, amount: Coin::new(1000, DENOM) }];
    assert_eq!(w.chain.run(forged).as_deref(), Some("transaction signature is invalid"));
    assert_eq!(w.chain.balance(&to), 1);
}

#[test]
fn failed_message_undoes_the_transaction_but_keeps_fee_and_sequence() {
    let tenant = Actor::new("tenant");
    let mut chain = TestChain::new(Params { min_fees: vec![Coin::new(10, DENOM)], ..params() }, &[&tenant], FUNDS);
    let to = Actor::new("friend").address;
    let mut body = TxBody {
        chain_id: crate::testkit::CHAIN_ID.into(),
        sequence: 0,
        fee: Coin::new(10, DENOM),
        memo: String::new(),
        msgs: vec![Msg::Send { to, amount: Coin::new(5, DENOM) }, Msg::Send { to, amount: Coin::new(FUNDS, DENOM) }],
    };
    let err = chain.run(Tx::sign(body.clone(), &tenant.key));
    assert!(err.is_some_and(|e| e.starts_with("message 2 (send): insufficient funds")));
    assert_eq!(chain.balance(&to), 0, "first message was undone");
    assert_eq!(chain.balance(&community_pool()), 10, "fee kept");
    // The sequence advanced: 0 is used up.
    let replay = chain.run(Tx::sign(body.clone(), &tenant.key));
    assert!(replay.is_some_and(|e| e.contains("expected 1, got 0")));
    body.sequence = 1;
    body.fee = Coin::new(9, DENOM);
    body.msgs.truncate(1);
    assert!(
        chain.run(Tx::sign(body, &tenant.key)).is_some_and(|e| e.starts_with("fee 9uact is below the minimum 10uact"))
    );
}

#[test]
fn create_deployment_opens_groups_orders_and_escrow() {
    let mut w = world();
    assert_eq!(deploy(&mut w, 1, vec![group("a", 100, 1, None), group("b", 200, 2, None)], DEPOSIT), None);
    let id = DeploymentId { owner: w.tenant.address, dseq: 1 };
    let acct: EscrowAccount = w.chain.get(&keys::escrow(&id)).expect("escrow");
    assert_eq!(acct.balance, Dec::from_int(DEPOSIT).unwrap_or_default());
    assert_eq!(w.chain.balance(&w.tenant.address), FUNDS - DEPOSIT);
    assert_eq!(w.chain.balance(&escrow_module()), DEPOSIT);
    for gseq in [1, 2] {
        let g: Group = w.chain.get(&keys::group(&id.group(gseq))).expect("group");
        assert_eq!(g.state, GroupState::Open);
        let o: Order = w.chain.get(&keys::order(&id.group(gseq).order(1))).expect("order");
        assert_eq!(o.state, OrderState::Open);
        assert!(w.chain.state.entries.contains_key(&keys::open_order(&o.id)));
    }
    assert!(w.chain.events.iter().any(|e| matches!(e.event, Event::DeploymentCreated { .. })));
}

#[test]
fn create_deployment_preconditions() {
    let mut w = world();
    assert_eq!(deploy(&mut w, 1, vec![group("a", 100, 1, None)], DEPOSIT), None);
    assert!(deploy(&mut w, 1, vec![group("a", 100, 1, None)], DEPOSIT).is_some_and(|e| e.contains("already exists")));
    assert!(deploy(&mut w, 2, vec![], DEPOSIT).is_some_and(|e| e.contains("at least one group")));
    assert!(
        deploy(&mut w, 3, vec![group("a", 100, 1, None)], 10)
            .is_some_and(|e| e.contains("below the minimum 500000uact"))
    );
    let mut odd = group("a", 100, 1, None);
    odd.resources[0].price.denom = "uxyz".into();
    assert!(deploy(&mut w, 4, vec![odd], DEPOSIT).is_some_and(|e| e.contains("\"uxyz\" is not accepted")));
    let tx = w.tenant.tx(vec![Msg::CreateDeployment {
        dseq: 5,
        groups: vec![group("a", 100, 1, None)],
        version: [1; 32],
        deposit: Coin::new(DEPOSIT, "uakt"),
        gang: false,
    }]);
    assert!(w.chain.run(tx).is_some_and(|e| e.contains("deployment's denomination \"uact\"")));
    assert!(deploy(&mut w, 6, vec![group("a", 100, 0, None)], DEPOSIT).is_some_and(|e| e.contains("total CPU 0")));
}

#[test]
fn update_deployment_changes_only_the_version() {
    let mut w = world();
    assert_eq!(deploy(&mut w, 1, vec![group("a", 100, 1, None)], DEPOSIT), None);
    let id = DeploymentId { owner: w.tenant.address, dseq: 1 };
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::UpdateDeployment { dseq: 1, version: [9; 32] }])), None);
    let d: stratus_types::market::Deployment = w.chain.get(&keys::deployment(&id)).expect("deployment");
    assert_eq!(d.version, [9; 32]);
    let same = w.chain.run(w.tenant.tx(vec![Msg::UpdateDeployment { dseq: 1, version: [9; 32] }]));
    assert!(same.is_some_and(|e| e.contains("equals the current one")));
}

#[test]
fn bids_are_checked_against_price_placement_and_limits() {
    let mut w = world();
    assert_eq!(deploy(&mut w, 1, vec![group("g", 100, 2, Some((1, "a100")))], DEPOSIT), None);
    let order = order_id(&w, 1);
    // Above the group's price: 2 replicas × 100.
    assert!(
        w.chain.run(w.p1.tx(vec![bid_msg(&order, 201)])).is_some_and(|e| e.contains("above the order's maximum 200"))
    );
    // Provider 2 has rtx4090 only.
    let err = w.chain.run(w.p2.tx(vec![bid_msg(&order, 150)]));
    assert!(err.is_some_and(|e| e.contains("needs gpu a100; has rtx4090")), "placement reason in the error");
    // Not a provider.
    let mut stranger = w.auditor.clone();
    assert!(
        w.chain.run(stranger.tx(vec![bid_msg(&order, 150)])).is_some_and(|e| e.contains("not a registered provider"))
    );
    w.auditor = stranger;
    // Good bid, then a duplicate.
    assert_eq!(w.chain.run(w.p1.tx(vec![bid_msg(&order, 200)])), None);
    assert_eq!(w.chain.balance(&w.p1.address), FUNDS - BID_DEPOSIT);
    assert!(w.chain.run(w.p1.tx(vec![bid_msg(&order, 150)])).is_some_and(|e| e.contains("already bid")));
}

#[test]
fn gpu_spellings_do_not_lose_bids() {
    let mut w = world();
    assert_eq!(deploy(&mut w, 1, vec![group("g", 100, 1, Some((1, "nvidia-a100")))], DEPOSIT), None);
    assert_eq!(w.chain.run(w.p1.tx(vec![bid_msg(&order_id(&w, 1), 50)])), None);
}

#[test]
fn order_bid_cap() {
    let mut w = world_with(Params { order_max_bids: 1, ..params() });
    assert_eq!(deploy(&mut w, 1, vec![group("g", 100, 1, None)], DEPOSIT), None);
    let order = order_id(&w, 1);
    assert_eq!(w.chain.run(w.p1.tx(vec![bid_msg(&order, 90)])), None);
    assert!(w.chain.run(w.p2.tx(vec![bid_msg(&order, 80)])).is_some_and(|e| e.contains("maximum number of bids (1)")));
}

#[test]
fn lease_picks_a_winner_and_refunds_losers() {
    let mut w = world();
    assert_eq!(deploy(&mut w, 1, vec![group("g", 100, 1, None)], DEPOSIT), None);
    let order = order_id(&w, 1);
    assert_eq!(w.chain.run(w.p1.tx(vec![bid_msg(&order, 90)])), None);
    assert_eq!(w.chain.run(w.p2.tx(vec![bid_msg(&order, 80)])), None);
    // Only the owner may lease.
    let stolen = w.p1.tx(vec![Msg::CreateLease { bid: order.bid(w.p2.address) }]);
    assert!(w.chain.run(stolen).is_some_and(|e| e.starts_with("only")));
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CreateLease { bid: order.bid(w.p2.address) }])), None);
    let loser: Bid = w.chain.get(&keys::bid(&order.bid(w.p1.address))).expect("bid");
    assert_eq!((loser.state, loser.close_reason), (BidState::Lost, Some(CloseReason::LostAuction)));
    assert_eq!(w.chain.balance(&w.p1.address), FUNDS, "loser's deposit refunded");
    let o: Order = w.chain.get(&keys::order(&order)).expect("order");
    assert_eq!(o.state, OrderState::Active);
    assert_eq!(lease(&w, &order.bid(w.p2.address)).state, LeaseState::Active);
}

#[test]
fn settlement_is_lazy_exact_and_carries_fractions() {
    let mut w = world();
    let id = leased(&mut w, 1, 100, dec_price("0.5"), DEPOSIT);
    let start = lease(&w, &id).created_at;
    let p1_before = w.chain.balance(&w.p1.address);
    w.chain.advance_to(start + 2);
    // 3 blocks at 0.5 = 1.5: one whole unit paid, half carried.
    assert_eq!(w.chain.run(w.p1.tx(vec![Msg::WithdrawLease { lease: id.clone() }])), None);
    assert_eq!(w.chain.balance(&w.p1.address), p1_before + 1);
    assert_eq!(lease(&w, &id).accrued, "1.5".parse().unwrap_or_default());
    // One more block: 2.0 accrued, 2 paid.
    assert_eq!(w.chain.run(w.p1.tx(vec![Msg::WithdrawLease { lease: id.clone() }])), None);
    assert_eq!(w.chain.balance(&w.p1.address), p1_before + 2);
    // Only the lease's provider may withdraw.
    assert!(w.chain.run(w.p2.tx(vec![Msg::WithdrawLease { lease: id }])).is_some_and(|e| e.starts_with("only")));
}

#[test]
fn take_rate_goes_to_the_community_pool() {
    let mut w = world_with(Params { take_rates: vec![TakeRate { denom: DENOM.into(), bps: 2000 }], ..params() });
    let id = leased(&mut w, 1, 100, dec_price("100"), DEPOSIT);
    let start = lease(&w, &id).created_at;
    let p1_before = w.chain.balance(&w.p1.address);
    w.chain.advance_to(start + 9);
    assert_eq!(w.chain.run(w.p1.tx(vec![Msg::WithdrawLease { lease: id }])), None);
    // 10 blocks × 100 = 1000; 20% take.
    assert_eq!(w.chain.balance(&w.p1.address) - p1_before, 800);
    assert_eq!(w.chain.balance(&community_pool()), 200);
}

#[test]
fn closing_a_lease_pays_refunds_and_reauctions() {
    let mut w = world();
    let id = leased(&mut w, 1, 100, dec_price("0.3"), DEPOSIT);
    let start = lease(&w, &id).created_at;
    // The close lands in block start + 11: 11 blocks leased.
    w.chain.advance_to(start + 10);
    let p1_before = w.chain.balance(&w.p1.address);
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CloseLease { lease: id.clone() }])), None);
    let l = lease(&w, &id);
    assert_eq!((l.state, l.close_reason), (LeaseState::Closed, Some(CloseReason::Owner)));
    // 11 blocks × 0.3 = 3.3 accrued; the provider gets 3 whole units, the 0.3 goes back.
    assert_eq!(l.accrued, "3.3".parse().unwrap_or_default());
    assert_eq!(l.withdrawn, 3);
    assert_eq!(w.chain.balance(&w.p1.address), p1_before + 3 + BID_DEPOSIT);
    assert!(w.chain.events.iter().any(|e| matches!(&e.event, Event::LeaseClosed { blocks: 11, .. })));
    // The group is open, so a second order (re-auction) exists.
    let next: Order = w.chain.get(&keys::order(&id.group().order(2))).expect("new order");
    assert_eq!(next.state, OrderState::Open);
    // Closing the deployment refunds everything not paid: deposit − 3.
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CloseDeployment { dseq: 1 }])), None);
    assert_eq!(w.chain.balance(&w.tenant.address), FUNDS - 3);
    assert_eq!(w.chain.balance(&escrow_module()), 0);
}

#[test]
fn closing_a_deployment_closes_everything_and_pays_exactly() {
    let mut w = world();
    let id = leased(&mut w, 1, 100, dec_price("7"), DEPOSIT);
    let start = lease(&w, &id).created_at;
    w.chain.advance_to(start + 4);
    // Closed in block start + 5: 5 blocks at 7.
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CloseDeployment { dseq: 1 }])), None);
    let paid = 7 * 5;
    assert_eq!(w.chain.balance(&w.tenant.address), FUNDS - paid);
    assert_eq!(w.chain.balance(&w.p1.address), FUNDS + paid);
    let d: stratus_types::market::Deployment = w.chain.get(&keys::deployment(&id.deployment())).expect("deployment");
    assert_eq!(d.state, DeploymentState::Closed);
    let g: Group = w.chain.get(&keys::group(&id.group())).expect("group");
    assert_eq!(g.state, GroupState::Closed);
    assert!(w.chain.run(w.tenant.tx(vec![Msg::CloseDeployment { dseq: 1 }])).is_some_and(|e| e.contains("is closed")));
}

#[test]
fn funds_running_out_close_leases_at_the_exact_block() {
    let mut w = world_with(Params { deployment_min_deposit: vec![], ..params() });
    // 1000 units at 300 per block: 3 blocks paid, then the lease closes.
    let id = leased(&mut w, 1, 300, dec_price("300"), 1000);
    let start = lease(&w, &id).created_at;
    w.chain.advance_to(start + 2);
    assert_eq!(lease(&w, &id).state, LeaseState::Active);
    w.chain.advance_to(start + 3);
    let l = lease(&w, &id);
    assert_eq!((l.state, l.close_reason), (LeaseState::InsufficientFunds, Some(CloseReason::InsufficientFunds)));
    assert_eq!(l.closed_at, Some(start + 3));
    assert_eq!(l.withdrawn, 900);
    let g: Group = w.chain.get(&keys::group(&id.group())).expect("group");
    assert_eq!(g.state, GroupState::InsufficientFunds);
    // The deployment survives: deposit more and start the group to auction again.
    let dep = id.deployment();
    assert_eq!(
        w.chain
            .run(w.tenant.tx(vec![Msg::DepositDeployment { deployment: dep.clone(), amount: Coin::new(5000, DENOM) }])),
        None
    );
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::StartGroup { dseq: 1, gseq: 1 }])), None);
    let next: Order = w.chain.get(&keys::order(&id.group().order(2))).expect("new order");
    assert_eq!(next.state, OrderState::Open);
    // Closing refunds 1000 − 900 + 5000.
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CloseDeployment { dseq: 1 }])), None);
    assert_eq!(w.chain.balance(&w.tenant.address), FUNDS - 900);
}

#[test]
fn open_bids_expire_with_refund() {
    let mut w = world();
    assert_eq!(deploy(&mut w, 1, vec![group("g", 100, 1, None)], DEPOSIT), None);
    let order = order_id(&w, 1);
    assert_eq!(w.chain.run(w.p1.tx(vec![bid_msg(&order, 90)])), None);
    let bid: Bid = w.chain.get(&keys::bid(&order.bid(w.p1.address))).expect("bid");
    w.chain.advance_to(bid.expires_at - 1);
    assert_eq!(w.chain.get::<Bid>(&keys::bid(&bid.id)).map(|b| b.state), Some(BidState::Open));
    w.chain.advance_to(bid.expires_at);
    let after: Bid = w.chain.get(&keys::bid(&bid.id)).expect("bid");
    assert_eq!((after.state, after.close_reason), (BidState::Closed, Some(CloseReason::Expired)));
    assert_eq!(w.chain.balance(&w.p1.address), FUNDS);
    // The order stays open for new bids.
    assert_eq!(w.chain.run(w.p2.tx(vec![bid_msg(&order, 80)])), None);
}

#[test]
fn provider_walking_away_pauses_the_group() {
    let mut w = world();
    let id = leased(&mut w, 1, 100, dec_price("10"), DEPOSIT);
    assert_eq!(w.chain.run(w.p1.tx(vec![Msg::CloseBid { bid: id.clone(), reason: CloseReason::Unstable }])), None);
    let l = lease(&w, &id);
    assert_eq!((l.state, l.close_reason), (LeaseState::Closed, Some(CloseReason::Unstable)));
    let g: Group = w.chain.get(&keys::group(&id.group())).expect("group");
    assert_eq!(g.state, GroupState::Paused);
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::StartGroup { dseq: 1, gseq: 1 }])), None);
    assert!(w.chain.get::<Order>(&keys::order(&id.group().order(2))).is_some());
    // Withdrawing an open bid refunds it.
    let order = id.group().order(2);
    assert_eq!(w.chain.run(w.p2.tx(vec![bid_msg(&order, 50)])), None);
    let before = w.chain.balance(&w.p2.address);
    assert_eq!(
        w.chain.run(w.p2.tx(vec![Msg::CloseBid { bid: order.bid(w.p2.address), reason: CloseReason::Unspecified }])),
        None
    );
    assert_eq!(w.chain.balance(&w.p2.address), before + BID_DEPOSIT);
}

#[test]
fn pause_and_close_group() {
    let mut w = world();
    let id = leased(&mut w, 1, 100, dec_price("1"), DEPOSIT);
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::PauseGroup { dseq: 1, gseq: 1 }])), None);
    assert_eq!(lease(&w, &id).state, LeaseState::Closed);
    assert!(
        w.chain.run(w.tenant.tx(vec![Msg::PauseGroup { dseq: 1, gseq: 1 }])).is_some_and(|e| e.contains("is paused"))
    );
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CloseGroup { dseq: 1, gseq: 1 }])), None);
    let g: Group = w.chain.get(&keys::group(&id.group())).expect("group");
    assert_eq!(g.state, GroupState::Closed);
    assert!(
        w.chain.run(w.tenant.tx(vec![Msg::StartGroup { dseq: 1, gseq: 1 }])).is_some_and(|e| e.contains("is closed"))
    );
}

#[test]
fn third_party_deposits_are_refunded_to_their_depositor() {
    let mut w = world();
    assert_eq!(deploy(&mut w, 1, vec![group("g", 100, 1, None)], DEPOSIT), None);
    let dep = DeploymentId { owner: w.tenant.address, dseq: 1 };
    let mut friend = w.auditor.clone();
    assert_eq!(
        w.chain.run(friend.tx(vec![Msg::DepositDeployment { deployment: dep, amount: Coin::new(1234, DENOM) }])),
        None
    );
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CloseDeployment { dseq: 1 }])), None);
    assert_eq!(w.chain.balance(&friend.address), FUNDS);
    assert_eq!(w.chain.balance(&w.tenant.address), FUNDS);
}

#[test]
fn audited_attributes_satisfy_signed_by() {
    let mut w = world();
    let mut spec = group("g", 100, 1, None);
    spec.requirements.attributes = vec![Attribute::new("tier", "gold")];
    spec.requirements.signed_by = SignedBy { all_of: None, any_of: Some(vec![w.auditor.address.to_string()]) };
    assert_eq!(deploy(&mut w, 1, vec![spec], DEPOSIT), None);
    let order = order_id(&w, 1);
    assert!(w.chain.run(w.p1.tx(vec![bid_msg(&order, 50)])).is_some_and(|e| e.contains("signed by one of")));
    let sign = Msg::SignProviderAttributes { provider: w.p1.address, attributes: vec![Attribute::new("tier", "gold")] };
    assert_eq!(w.chain.run(w.auditor.tx(vec![sign])), None);
    assert_eq!(w.chain.run(w.p1.tx(vec![bid_msg(&order, 50)])), None);
    let delete = Msg::DeleteProviderAttributes { provider: w.p1.address, keys: vec!["tier".into()] };
    assert_eq!(w.chain.run(w.auditor.tx(vec![delete])), None);
    assert!(w.chain.run(w.p2.tx(vec![bid_msg(&order, 40)])).is_some_and(|e| e.contains("signed by one of")));
}

#[test]
fn a_provider_publishes_its_benchmark_and_placement_can_require_an_audited_minimum() {
    use stratus_types::benchmark::{BenchmarkFigures, BenchmarkRecord, attributes};
    let mut w = world();
    let figures =
        BenchmarkFigures { gpu_model: "h100".into(), gpus: 8, tflops_bf16_milli: 712_345, ..Default::default() };
    let publish = |f: &BenchmarkFigures| Msg::PublishBenchmark { figures: f.clone() };
    // Only a registered provider publishes, and only well-formed figures; nothing is stored else.
    assert!(w.chain.run(w.tenant.tx(vec![publish(&figures)])).is_some_and(|e| e.contains("not a registered provider")));
    let bad = BenchmarkFigures { gpu_model: "H100".into(), ..figures.clone() };
    assert!(w.chain.run(w.p1.tx(vec![publish(&bad)])).is_some_and(|e| e.contains("invalid benchmark record")));
    assert_eq!(w.chain.get::<BenchmarkRecord>(&crate::keys::benchmark(&w.p1.address, "H100")), None);
    assert_eq!(w.chain.run(w.p1.tx(vec![publish(&figures)])), None);
    let stored: BenchmarkRecord = w.chain.get(&crate::keys::benchmark(&w.p1.address, "h100")).expect("stored");
    assert_eq!((stored.provider, stored.figures.tflops_bf16_milli), (w.p1.address, 712_345));
    // A new record for the same model replaces the old one.
    let newer = BenchmarkFigures { tflops_bf16_milli: 650_000, ..figures.clone() };
    assert_eq!(w.chain.run(w.p1.tx(vec![publish(&newer)])), None);
    let stored: BenchmarkRecord = w.chain.get(&crate::keys::benchmark(&w.p1.address, "h100")).expect("stored");
    assert_eq!(stored.figures.tflops_bf16_milli, 650_000);

    // An order asking for at least 700 bf16 TFLOPS, vouched for by the auditor.
    let mut spec = group("g", 100, 1, None);
    spec.requirements.attributes = vec![Attribute::new("benchmark/h100/tflops-bf16", ">=700")];
    spec.requirements.signed_by = SignedBy { all_of: None, any_of: Some(vec![w.auditor.address.to_string()]) };
    assert_eq!(deploy(&mut w, 1, vec![spec], DEPOSIT), None);
    let order = order_id(&w, 1);
    let p1 = w.p1.address;
    let sign = |f: &BenchmarkFigures| Msg::SignProviderAttributes { provider: p1, attributes: attributes(f) };
    let low = sign(&newer);
    assert_eq!(w.chain.run(w.auditor.tx(vec![low])), None);
    let refused = w.chain.run(w.p1.tx(vec![bid_msg(&order, 50)]));
    assert!(refused.as_deref().is_some_and(|e| e.contains("benchmark/h100/tflops-bf16>=700")), "{refused:?}");
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("; signed: benchmark/h100/tflops-bf16=650.000")),
        "the refusal says what the auditor did sign: {refused:?}"
    );
    let high = sign(&figures);
    assert_eq!(w.chain.run(w.auditor.tx(vec![high])), None);
    assert_eq!(w.chain.run(w.p1.tx(vec![bid_msg(&order, 50)])), None, "712.345 ≥ 700, audited");
}

#[test]
fn a_foreign_auditor_in_signed_by_is_satisfied_by_its_stand_in() {
    let akash_auditor = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63";
    let stand_in = Actor::new("auditor").address;
    let aliases = vec![stratus_types::params::AuditorAlias { name: akash_auditor.into(), auditor: stand_in }];
    let mut w = world_with(Params { auditor_aliases: aliases, ..params() });
    let mut spec = group("g", 100, 1, None);
    spec.requirements.attributes = vec![Attribute::new("host", "akash")];
    spec.requirements.signed_by = SignedBy { all_of: None, any_of: Some(vec![akash_auditor.into()]) };
    assert_eq!(deploy(&mut w, 1, vec![spec], DEPOSIT), None);
    let order = order_id(&w, 1);
    assert!(w.chain.run(w.p1.tx(vec![bid_msg(&order, 50)])).is_some_and(|e| e.contains("signed by one of")));
    let sign =
        Msg::SignProviderAttributes { provider: w.p1.address, attributes: vec![Attribute::new("host", "akash")] };
    assert_eq!(w.chain.run(w.auditor.tx(vec![sign])), None);
    assert_eq!(w.chain.run(w.p1.tx(vec![bid_msg(&order, 50)])), None);
}

#[test]
fn provider_registration_rules() {
    let mut w = world();
    assert!(w.chain.run(w.p1.tx(vec![provider_msg(&[])])).is_some_and(|e| e.contains("already registered")));
    let mut newbie = Actor::new("newbie");
    let bad = Msg::CreateProvider { host_uri: "http://insecure".into(), attributes: vec![], info: Default::default() };
    // Unfunded accounts can send fee-free transactions.
    assert!(w.chain.run(newbie.tx(vec![bad])).is_some_and(|e| e.contains("must be an https URL")));
    let bad_attr = Msg::CreateProvider {
        host_uri: "https://p.example.com".into(),
        attributes: vec![Attribute::new("bad key", "x")],
        info: Default::default(),
    };
    assert!(w.chain.run(newbie.tx(vec![bad_attr])).is_some_and(|e| e.starts_with("invalid attributes")));
    let update = Msg::UpdateProvider {
        host_uri: "https://new.example.com".into(),
        attributes: vec![],
        info: Default::default(),
    };
    assert_eq!(w.chain.run(w.p1.tx(vec![update])), None);
    let p: stratus_types::market::Provider = w.chain.get(&keys::provider(&w.p1.address)).expect("provider");
    assert_eq!(p.host_uri, "https://new.example.com");
}

#[test]
fn two_replays_give_the_same_hash_at_every_height() {
    let run = || {
        let mut w = world();
        let id = leased(&mut w, 1, 100, dec_price("3"), DEPOSIT);
        w.chain.advance_to(w.chain.height + 5);
        assert_eq!(w.chain.run(w.p1.tx(vec![Msg::WithdrawLease { lease: id }])), None);
        (w.chain.app_hash, w.chain.height)
    };
    assert_eq!(run(), run());
}

/// End-of-block work with 2,000 active leases reads and writes exactly what it does with 5.
#[test]
fn per_block_work_does_not_grow_with_active_leases() {
    let measure = |leases: u64| {
        let mut w = world_with(Params { deployment_min_deposit: vec![], bid_min_deposit: vec![], ..params() });
        w.chain.check_invariants = false;
        let mut txs = Vec::new();
        for dseq in 1..=leases {
            txs.push(w.tenant.tx(vec![Msg::CreateDeployment {
                dseq,
                groups: vec![group("g", 10, 1, None)],
                version: [1; 32],
                deposit: Coin::new(10_000, DENOM),
                gang: false,
            }]));
        }
        assert!(w.chain.block(txs).iter().all(|r| r.error.is_none()));
        let bid = |w: &World, dseq| Msg::CreateBid {
            order: order_id(w, dseq),
            price: dec_price("5"),
            deposit: Coin::new(0, DENOM),
            offer: vec![],
        };
        let bids = (1..=leases)
            .map(|dseq| {
                let m = bid(&w, dseq);
                w.p1.tx(vec![m])
            })
            .collect();
        assert!(w.chain.block(bids).iter().all(|r| r.error.is_none()));
        let leases_tx = (1..=leases)
            .map(|dseq| w.tenant.tx(vec![Msg::CreateLease { bid: order_id(&w, dseq).bid(w.p1.address) }]))
            .collect();
        assert!(w.chain.block(leases_tx).iter().all(|r| r.error.is_none()));
        let block = stratus_types::block::Block {
            header: stratus_types::block::BlockHeader {
                chain_id: crate::testkit::CHAIN_ID.into(),
                height: w.chain.height + 1,
                time_ms: 0,
                prev_app_hash: w.chain.app_hash,
            },
            txs: vec![],
        };
        crate::apply_block(&w.chain.state, &block, crate::SigCheck::Verify).map(|o| o.counts).expect("block")
    };
    let small = measure(5);
    let large = measure(2000);
    assert_eq!(small, large);
}

#[test]
fn params_lookup_helpers() {
    let p = Params { take_rates: vec![TakeRate { denom: "uact".into(), bps: 7 }], ..Params::devnet() };
    assert_eq!(p.take_rate_bps("uact"), 7);
    assert_eq!(p.take_rate_bps("uakt"), 0);
    assert_eq!(Params::min_deposit(&p.bid_min_deposit, "uakt"), 500_000);
}

#[test]
fn check_tx_reports_what_the_mempool_needs_and_refuses_what_can_never_apply() {
    use crate::{LedgerError, SigCheck, TxCheck, check_tx};
    let w = world();
    let send = Msg::Send { to: w.p2.address, amount: Coin::new(1, DENOM) };
    let body = |sequence: u64, fee: u128, chain: &str| TxBody {
        chain_id: chain.into(),
        sequence,
        fee: Coin::new(fee, DENOM),
        memo: String::new(),
        msgs: vec![send.clone()],
    };
    let state = &w.chain.state;
    // p1 has sent one transaction (its provider registration).
    let ok = check_tx(state, &Tx::sign(body(1, 10, "stratus-test"), &w.p1.key), SigCheck::Verify);
    assert_eq!(ok, Ok(TxCheck { committed_sequence: 1, fee_balance: FUNDS }));
    // A later sequence passes here; the mempool decides whether it is the next one.
    assert!(check_tx(state, &Tx::sign(body(4, 10, "stratus-test"), &w.p1.key), SigCheck::Verify).is_ok());
    let used = check_tx(state, &Tx::sign(body(0, 10, "stratus-test"), &w.p1.key), SigCheck::Verify);
    assert_eq!(used, Err(LedgerError::BadSequence { expected: 1, got: 0 }));
    let chain = check_tx(state, &Tx::sign(body(1, 10, "elsewhere"), &w.p1.key), SigCheck::Verify);
    assert!(matches!(chain, Err(LedgerError::WrongChain { .. })));
    let mut forged = Tx::sign(body(1, 10, "stratus-test"), &w.p1.key);
    forged.body.fee.amount = 11;
    assert_eq!(check_tx(state, &forged, SigCheck::Verify), Err(LedgerError::BadSignature));
    // Already verified: the signature is not looked at again.
    assert!(check_tx(state, &forged, SigCheck::AlreadyVerified).is_ok());
    let broke = Actor::new("nobody");
    let poor = check_tx(state, &Tx::sign(body(0, 10, "stratus-test"), &broke.key), SigCheck::Verify);
    assert!(matches!(poor, Err(LedgerError::InsufficientFunds { .. })));
    // With a minimum fee.
    let payer = Actor::new("payer");
    let chain = TestChain::new(Params { min_fees: vec![Coin::new(10, DENOM)], ..params() }, &[&payer], FUNDS);
    let low = check_tx(&chain.state, &Tx::sign(body(0, 9, "stratus-test"), &payer.key), SigCheck::Verify);
    assert!(matches!(low, Err(LedgerError::FeeTooLow { .. })));
    assert!(check_tx(&chain.state, &Tx::sign(body(0, 10, "stratus-test"), &payer.key), SigCheck::Verify).is_ok());
}

mod arena;
mod gang;
