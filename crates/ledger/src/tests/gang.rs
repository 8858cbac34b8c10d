//! Gang (all-or-nothing) deployments: no lease pays before every group is leased, and a gang
//! that does not form by its deadline closes with everything refunded.

use super::*;
use stratus_types::market::{Deployment, Payment};

const PRICE: u128 = 100;

fn deploy_gang(w: &mut World, dseq: u64, groups: usize) -> Option<String> {
    let groups = (0..groups).map(|i| group(&format!("g{i}"), 1_000, 1, None)).collect();
    let tx = w.tenant.tx(vec![Msg::CreateDeployment {
        dseq,
        groups,
        version: [7; 32],
        deposit: Coin::new(DEPOSIT, DENOM),
        gang: true,
    }]);
    w.chain.run(tx)
}

/// `provider` bids on group `gseq` of deployment `dseq`, and the tenant leases that bid.
fn lease_group(w: &mut World, dseq: u64, gseq: u32, provider: usize) -> BidId {
    let order = OrderId { owner: w.tenant.address, dseq, gseq, oseq: 1 };
    let p = if provider == 1 { &mut w.p1 } else { &mut w.p2 };
    let bid = order.bid(p.address);
    let tx = p.tx(vec![bid_msg(&order, PRICE)]);
    assert_eq!(w.chain.run(tx), None);
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CreateLease { bid: bid.clone() }])), None);
    bid
}

fn deployment(w: &World, dseq: u64) -> Deployment {
    let id = DeploymentId { owner: w.tenant.address, dseq };
    w.chain.get(&keys::deployment(&id)).expect("deployment")
}

fn payment(w: &World, id: &BidId) -> Option<Payment> {
    w.chain.get(&keys::payment(id))
}

#[test]
fn a_gangs_leases_start_paying_together_once_every_group_is_leased() {
    let mut w = world();
    assert_eq!(deploy_gang(&mut w, 1, 2), None);
    let created = w.chain.height;
    let gang = deployment(&w, 1).gang.expect("a gang");
    assert_eq!(gang.deadline, created + params().gang_timeout_blocks);
    assert_eq!(gang.formed_at, None);

    let first = lease_group(&mut w, 1, 1, 1);
    assert_eq!(lease(&w, &first).state, LeaseState::Active);
    assert_eq!(lease(&w, &first).paying_since, None, "a forming gang's lease does not pay");
    assert!(payment(&w, &first).is_none());
    // Blocks pass; the first provider earns nothing and cannot withdraw anything.
    w.chain.advance_to(w.chain.height + 5);
    let p1_before = w.chain.balance(&w.p1.address);
    assert_eq!(w.chain.run(w.p1.tx(vec![Msg::WithdrawLease { lease: first.clone() }])), None);
    assert_eq!(w.chain.balance(&w.p1.address), p1_before);

    let second = lease_group(&mut w, 1, 2, 2);
    let formed = w.chain.height;
    assert!(
        w.chain.events.iter().any(|e| matches!(&e.event,
            Event::GangFormed { id, leases } if id.dseq == 1 && leases == &vec![first.clone(), second.clone()])),
        "{:?}",
        w.chain.events
    );
    assert_eq!(deployment(&w, 1).gang.and_then(|g| g.formed_at), Some(formed));
    for id in [&first, &second] {
        assert_eq!(lease(&w, id).paying_since, Some(formed));
        assert!(payment(&w, id).is_some());
    }

    // Ten blocks later the owner closes: each provider was paid price × blocks since formation.
    w.chain.advance_to(formed + 9);
    let tenant_before = w.chain.balance(&w.tenant.address);
    let (p1_before, p2_before) = (w.chain.balance(&w.p1.address), w.chain.balance(&w.p2.address));
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CloseDeployment { dseq: 1 }])), None);
    let paid_blocks = w.chain.height - formed;
    assert_eq!(paid_blocks, 10);
    for (id, before) in [(&first, p1_before), (&second, p2_before)] {
        let l = lease(&w, id);
        assert_eq!(l.accrued, Dec::from_int(PRICE * u128::from(paid_blocks)).unwrap());
        assert_eq!(l.withdrawn, PRICE * u128::from(paid_blocks));
        assert_eq!(w.chain.balance(&id.provider), before + PRICE * u128::from(paid_blocks) + BID_DEPOSIT);
    }
    let refund = DEPOSIT - 2 * PRICE * u128::from(paid_blocks);
    assert_eq!(w.chain.balance(&w.tenant.address), tenant_before + refund);
    let closed: Vec<u64> = w
        .chain
        .events
        .iter()
        .filter_map(|e| match &e.event {
            Event::LeaseClosed { blocks, .. } => Some(*blocks),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec![paid_blocks, paid_blocks], "blocks count from formation, not from lease creation");
}

#[test]
fn a_gang_that_does_not_form_by_its_deadline_closes_and_refunds_escrow_and_bids() {
    let mut w = world_with(Params { gang_timeout_blocks: 10, ..params() });
    let tenant_start = w.chain.balance(&w.tenant.address);
    let (p1_start, p2_start) = (w.chain.balance(&w.p1.address), w.chain.balance(&w.p2.address));
    assert_eq!(deploy_gang(&mut w, 1, 2), None);
    let deadline = deployment(&w, 1).gang.expect("gang").deadline;
    let first = lease_group(&mut w, 1, 1, 1);
    // The second group gets a bid that the tenant never accepts.
    let order2 = OrderId { owner: w.tenant.address, dseq: 1, gseq: 2, oseq: 1 };
    assert_eq!(w.chain.run(w.p2.tx(vec![bid_msg(&order2, PRICE)])), None);

    w.chain.advance_to(deadline - 1);
    assert_eq!(deployment(&w, 1).state, DeploymentState::Active, "still time to form");
    w.chain.advance_to(deadline);
    let d = deployment(&w, 1);
    assert_eq!(d.state, DeploymentState::Closed);
    assert!(w.chain.events.iter().any(|e| matches!(&e.event,
        Event::DeploymentClosed { id, reason: CloseReason::GangTimeout } if id.dseq == 1)));
    let l = lease(&w, &first);
    assert_eq!((l.state, l.close_reason, l.withdrawn), (LeaseState::Closed, Some(CloseReason::GangTimeout), 0));
    let bid2: Bid = w.chain.get(&keys::bid(&order2.bid(w.p2.address))).expect("bid");
    assert_eq!(bid2.state, BidState::Closed);
    // Nothing was paid: everyone holds what they started with (fees are zero on this chain).
    assert_eq!(w.chain.balance(&w.tenant.address), tenant_start);
    assert_eq!(w.chain.balance(&w.p1.address), p1_start);
    assert_eq!(w.chain.balance(&w.p2.address), p2_start);
    assert_eq!(w.chain.balance(&escrow_module()), 0);
}

#[test]
fn a_formed_gang_that_loses_a_lease_pays_the_replacement_from_its_own_lease() {
    let mut w = world_with(Params { gang_timeout_blocks: 10, ..params() });
    assert_eq!(deploy_gang(&mut w, 1, 2), None);
    let deadline = deployment(&w, 1).gang.expect("gang").deadline;
    lease_group(&mut w, 1, 1, 1);
    let dead = lease_group(&mut w, 1, 2, 2);
    // The owner closes the second provider's lease (it vanished): the group is auctioned again.
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CloseLease { lease: dead.clone() }])), None);
    assert_eq!(lease(&w, &dead).state, LeaseState::Closed);
    let order2 = OrderId { owner: w.tenant.address, dseq: 1, gseq: 2, oseq: 2 };
    let replacement = order2.bid(w.p1.address);
    assert_eq!(w.chain.run(w.p1.tx(vec![bid_msg(&order2, PRICE)])), None);
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CreateLease { bid: replacement.clone() }])), None);
    assert_eq!(lease(&w, &replacement).paying_since, Some(w.chain.height), "the gang formed already");
    // Passing the old deadline changes nothing for a formed gang.
    w.chain.advance_to(deadline + 2);
    assert_eq!(deployment(&w, 1).state, DeploymentState::Active);
    assert_eq!(lease(&w, &replacement).state, LeaseState::Active);
}

#[test]
fn a_forming_gangs_lease_closed_by_its_owner_is_auctioned_again_and_paid_nothing() {
    let mut w = world();
    assert_eq!(deploy_gang(&mut w, 1, 2), None);
    let first = lease_group(&mut w, 1, 1, 1);
    w.chain.advance_to(w.chain.height + 3);
    let p1_before = w.chain.balance(&w.p1.address);
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CloseLease { lease: first.clone() }])), None);
    let l = lease(&w, &first);
    assert_eq!((l.state, l.withdrawn), (LeaseState::Closed, 0));
    assert_eq!(w.chain.balance(&w.p1.address), p1_before + BID_DEPOSIT, "only the deposit comes back");
    let reopened: Order =
        w.chain.get(&keys::order(&OrderId { owner: w.tenant.address, dseq: 1, gseq: 1, oseq: 2 })).expect("order");
    assert_eq!(reopened.state, OrderState::Open);
    // The owner can also give up on the gang before its deadline: the deadline index goes (the
    // invariant check after every block would catch a stale one).
    assert_eq!(w.chain.run(w.tenant.tx(vec![Msg::CloseDeployment { dseq: 1 }])), None);
    assert_eq!(deployment(&w, 1).state, DeploymentState::Closed);
}

#[test]
fn an_ordinary_deployment_pays_from_its_leases_creation() {
    let mut w = world();
    let id = leased(&mut w, 1, 1_000, DecCoin::new(DENOM, Dec::from_int(PRICE).unwrap()), DEPOSIT);
    assert_eq!(deployment(&w, 1).gang, None);
    assert_eq!(lease(&w, &id).paying_since, Some(lease(&w, &id).created_at));
}
