//! Properties every committed state must have. Tests call [`check_invariants`] after every block;
//! it reads the whole state, so it is for tests and audits, not for block production.

use std::collections::BTreeMap;

use borsh::BorshDeserialize;
use stratus_types::dec::Dec;
use stratus_types::market::{
    Bid, BidState, Deployment, DeploymentState, EscrowAccount, EscrowState, Group, GroupState, Lease, LeaseState,
    Order, OrderState, Payment,
};

use crate::exec::escrow_module;
use crate::keys;
use crate::state::StateRead;

fn all<T: BorshDeserialize>(state: &dyn StateRead, prefix: &[u8], errors: &mut Vec<String>) -> Vec<(Vec<u8>, T)> {
    match state.scan_prefix(prefix) {
        Ok(entries) => entries
            .into_iter()
            .filter_map(|(k, v)| match borsh::from_slice(&v) {
                Ok(t) => Some((k, t)),
                Err(e) => {
                    errors.push(format!("undecodable value at {}: {e}", String::from_utf8_lossy(&k)));
                    None
                }
            })
            .collect(),
        Err(e) => {
            errors.push(format!("cannot scan {}: {e}", String::from_utf8_lossy(prefix)));
            Vec::new()
        }
    }
}

/// Returns every violated property, or `Ok` when there is none.
pub fn check_invariants(state: &dyn StateRead) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();

    // Supply is conserved: balances add up to what genesis minted.
    let supply: BTreeMap<String, u128> = all::<u128>(state, keys::SUPPLY, &mut errors)
        .into_iter()
        .map(|(k, v)| (String::from_utf8_lossy(&k[keys::SUPPLY.len()..]).into_owned(), v))
        .collect();
    let mut balances: BTreeMap<String, u128> = BTreeMap::new();
    let mut escrow_held: BTreeMap<String, u128> = BTreeMap::new();
    for (k, amount) in all::<u128>(state, keys::BALANCE, &mut errors) {
        let denom = String::from_utf8_lossy(&k[keys::BALANCE.len() + 20..]).into_owned();
        *balances.entry(denom.clone()).or_default() += amount;
        if k[keys::BALANCE.len()..keys::BALANCE.len() + 20] == escrow_module().0 {
            *escrow_held.entry(denom).or_default() += amount;
        }
        if amount == 0 {
            errors.push(format!("zero balance stored at {}", String::from_utf8_lossy(&k)));
        }
    }
    if supply != balances {
        errors.push(format!("supply {supply:?} != sum of balances {balances:?}"));
    }

    // Escrow: the module's coins back every open account, payment and bid deposit exactly.
    let accounts = all::<EscrowAccount>(state, keys::ESCROW, &mut errors);
    let payments = all::<Payment>(state, keys::PAYMENT, &mut errors);
    let bids = all::<Bid>(state, keys::BID, &mut errors);
    let mut owed: BTreeMap<String, Dec> = BTreeMap::new();
    let add = |owed: &mut BTreeMap<String, Dec>, denom: &str, d: Dec| {
        let e = owed.entry(denom.to_string()).or_default();
        *e = e.checked_add(d).unwrap_or(Dec::from_raw(u128::MAX));
    };
    let mut open_rates: BTreeMap<_, Option<Dec>> = BTreeMap::new();
    for (_, p) in &payments {
        if p.state == EscrowState::Open {
            let e = open_rates.entry(p.lease.deployment()).or_insert(Some(Dec::ZERO));
            *e = e.and_then(|r| r.checked_add(p.rate));
        }
    }
    let mut account_denom = BTreeMap::new();
    for (_, a) in &accounts {
        account_denom.insert(a.deployment.clone(), a.denom.clone());
        add(&mut owed, &a.denom, a.balance);
        let deposits = a.deposits.iter().try_fold(Dec::ZERO, |s, d| s.checked_add(d.remaining));
        if deposits != Some(a.balance) {
            errors.push(format!("escrow {}: deposits {deposits:?} != balance {}", a.deployment, a.balance));
        }
        let expected = Dec::from_int(a.total_deposited)
            .and_then(|d| d.checked_add(a.total_returned))
            .and_then(|d| d.checked_sub(a.total_transferred));
        if a.state == EscrowState::Open && expected != Some(a.balance) {
            errors.push(format!(
                "escrow {}: deposited + returned - transferred = {expected:?} != balance {}",
                a.deployment, a.balance
            ));
        }
        if a.state == EscrowState::Closed && !a.balance.is_zero() {
            errors.push(format!("closed escrow {} still holds {}", a.deployment, a.balance));
        }
        let open_rate = open_rates.get(&a.deployment).copied().unwrap_or(Some(Dec::ZERO));
        if open_rate != Some(a.total_rate) {
            errors.push(format!(
                "escrow {}: total rate {} != open payment rates {open_rate:?}",
                a.deployment, a.total_rate
            ));
        }
        let indexed =
            a.exhausted_at.map(|h| state.get(&keys::escrow_exhaustion(h, &a.deployment)).ok().flatten().is_some());
        let should_index = a.state == EscrowState::Open && !a.total_rate.is_zero();
        if should_index != (indexed == Some(true)) {
            errors.push(format!(
                "escrow {}: exhaustion index {indexed:?} but should be indexed = {should_index}",
                a.deployment
            ));
        }
    }
    for (_, p) in &payments {
        let denom = account_denom.get(&p.lease.deployment()).cloned().unwrap_or_default();
        add(&mut owed, &denom, p.balance);
        if p.state == EscrowState::Closed && !p.balance.is_zero() {
            errors.push(format!("closed payment {} still holds {}", p.lease, p.balance));
        }
    }
    for (_, b) in &bids {
        if matches!(b.state, BidState::Open | BidState::Active) {
            add(&mut owed, &b.deposit.denom, Dec::from_int(b.deposit.amount).unwrap_or_default());
        }
    }
    let held: BTreeMap<String, Dec> = escrow_held
        .into_iter()
        .map(|(d, v)| (d, Dec::from_int(v).unwrap_or_default()))
        .filter(|(_, v)| !v.is_zero())
        .collect();
    let owed: BTreeMap<String, Dec> = owed.into_iter().filter(|(_, v)| !v.is_zero()).collect();
    if held != owed {
        errors.push(format!("escrow module holds {held:?} but owes {owed:?}"));
    }

    // Arena: the module's coins are exactly the open tasks' pools, stakes, delegations,
    // unbondings and unclaimed rewards.
    {
        use stratus_types::arena::{ArenaStake, Delegation, Task, TaskState, Unbonding};
        let arena = crate::arena::arena_module();
        let mut arena_owed: BTreeMap<String, u128> = BTreeMap::new();
        let tasks: BTreeMap<u64, Task> =
            all::<Task>(state, keys::ARENA_TASK, &mut errors).into_iter().map(|(_, t)| (t.id, t)).collect();
        let denom_of = |task: u64| tasks.get(&task).map(|t| t.spec.pool.denom.clone()).unwrap_or_default();
        for t in tasks.values().filter(|t| t.state == TaskState::Open) {
            *arena_owed.entry(t.spec.pool.denom.clone()).or_default() += t.spec.pool.amount;
        }
        let stakes = all::<ArenaStake>(state, keys::ARENA_STAKE, &mut errors);
        let delegations = all::<Delegation>(state, keys::ARENA_DELEGATION, &mut errors);
        for (_, s) in &stakes {
            *arena_owed.entry(denom_of(s.task)).or_default() += s.amount;
            let delegated: u128 = delegations
                .iter()
                .filter(|(_, d)| d.task == s.task && d.delegate == s.owner)
                .map(|(_, d)| d.amount)
                .sum();
            if delegated != s.delegated {
                errors.push(format!(
                    "arena stake {} on task {}: delegated {} != delegations {delegated}",
                    s.owner, s.task, s.delegated
                ));
            }
        }
        for (_, d) in &delegations {
            *arena_owed.entry(denom_of(d.task)).or_default() += d.amount;
        }
        for (_, u) in all::<Unbonding>(state, keys::ARENA_UNBONDING, &mut errors) {
            *arena_owed.entry(u.amount.denom.clone()).or_default() += u.amount.amount;
        }
        for (k, amount) in all::<u128>(state, keys::ARENA_REWARD, &mut errors) {
            let task = k[keys::ARENA_REWARD.len()..keys::ARENA_REWARD.len() + 8]
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            *arena_owed.entry(denom_of(task)).or_default() += amount;
        }
        arena_owed.retain(|_, v| *v > 0);
        let mut arena_held: BTreeMap<String, u128> = BTreeMap::new();
        for (k, amount) in all::<u128>(state, &keys::balances_of(&arena), &mut errors) {
            arena_held.insert(String::from_utf8_lossy(&k[keys::BALANCE.len() + 20..]).into_owned(), amount);
        }
        if arena_held != arena_owed {
            errors.push(format!("arena module holds {arena_held:?} but owes {arena_owed:?}"));
        }
    }

    // Market consistency.
    let deployments: BTreeMap<_, Deployment> =
        all::<Deployment>(state, keys::DEPLOYMENT, &mut errors).into_iter().map(|(_, d)| (d.id.clone(), d)).collect();
    let groups: BTreeMap<_, Group> =
        all::<Group>(state, keys::GROUP, &mut errors).into_iter().map(|(_, g)| (g.id.clone(), g)).collect();
    let orders: BTreeMap<_, Order> =
        all::<Order>(state, keys::ORDER, &mut errors).into_iter().map(|(_, o)| (o.id.clone(), o)).collect();
    let bids: BTreeMap<_, Bid> = bids.into_iter().map(|(_, b)| (b.id.clone(), b)).collect();
    let payments: BTreeMap<_, Payment> = payments.into_iter().map(|(_, p)| (p.lease.clone(), p)).collect();
    for (_, lease) in all::<Lease>(state, keys::LEASE, &mut errors) {
        let active = lease.state == LeaseState::Active;
        let bid_ok = bids.get(&lease.id).is_some_and(|b| (b.state == BidState::Active) == active);
        let order_ok = orders.get(&lease.id.order()).is_some_and(|o| (o.state == OrderState::Active) == active);
        // A lease pays from `paying_since` on; before that (a forming gang) it has no payment.
        let payment_ok = match lease.paying_since {
            Some(_) => payments
                .get(&lease.id)
                .is_some_and(|p| (p.state == EscrowState::Open) == active && p.rate == lease.price.amount),
            None => {
                !payments.contains_key(&lease.id)
                    && deployments.get(&lease.id.deployment()).is_some_and(|d| d.gang.is_some())
                    && (!active || deployments.get(&lease.id.deployment()).is_some_and(Deployment::is_forming_gang))
            }
        };
        let deployment_ok =
            !active || deployments.get(&lease.id.deployment()).is_some_and(|d| d.state == DeploymentState::Active);
        if !(bid_ok && order_ok && payment_ok && deployment_ok) {
            errors.push(format!(
                "lease {} ({}): bid ok {bid_ok}, order ok {order_ok}, payment ok {payment_ok}, deployment ok {deployment_ok}",
                lease.id, lease.state
            ));
        }
    }
    // Gangs: a forming gang is indexed at its deadline and none of its leases pays; a formed
    // gang has a lease in every group that pays from the height it formed.
    for d in deployments.values() {
        let Some(gang) = &d.gang else { continue };
        let indexed = state.get(&keys::gang_deadline(gang.deadline, &d.id)).ok().flatten().is_some();
        let forming = d.state == DeploymentState::Active && gang.formed_at.is_none();
        if indexed != forming {
            errors.push(format!("gang {} ({}): deadline index present = {indexed}", d.id, d.state));
        }
    }
    for bid in bids.values() {
        if let Some(group) = groups.get(&bid.id.group())
            && group.spec.max_price().is_none_or(|max| bid.price.amount > max)
        {
            errors.push(format!("bid {} at {} is above its group's price", bid.id, bid.price.amount));
        }
        let indexed = state.get(&keys::bid_expiry(bid.expires_at, &bid.id)).ok().flatten().is_some();
        if indexed != (bid.state == BidState::Open) {
            errors.push(format!("bid {} ({}): expiry index present = {indexed}", bid.id, bid.state));
        }
        if bid.state == BidState::Active && state.get(&keys::lease(&bid.id)).ok().flatten().is_none() {
            errors.push(format!("active bid {} has no lease", bid.id));
        }
    }
    let mut bid_states: BTreeMap<_, (usize, usize)> = BTreeMap::new();
    for b in bids.values() {
        let e = bid_states.entry(b.id.order()).or_default();
        match b.state {
            BidState::Open => e.0 += 1,
            BidState::Active => e.1 += 1,
            _ => {}
        }
    }
    for order in orders.values() {
        let (open_bids, active_bids) = bid_states.get(&order.id).copied().unwrap_or_default();
        let expected = match order.state {
            OrderState::Open => (open_bids as u32, 0),
            OrderState::Active => (1, 1),
            OrderState::Closed => (order.bid_count, 0),
        };
        if (order.bid_count, active_bids as u32) != expected {
            errors.push(format!(
                "order {} ({}): bid count {}, open {open_bids}, active {active_bids}",
                order.id, order.state, order.bid_count
            ));
        }
        let listed = state.get(&keys::open_order(&order.id)).ok().flatten().is_some();
        if listed != (order.state == OrderState::Open) {
            errors.push(format!("order {} ({}): open-order index present = {listed}", order.id, order.state));
        }
        if order.state == OrderState::Open && groups.get(&order.id.group()).is_none_or(|g| g.state != GroupState::Open)
        {
            errors.push(format!("open order {} in a group that is not open", order.id));
        }
    }

    if errors.is_empty() { Ok(()) } else { Err(errors) }
}
