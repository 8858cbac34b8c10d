//! The reverse auction: providers bid on open orders, the owner turns one bid into a lease, the
//! lease is paid from escrow until it closes (Akash `x/market`), plus bid expiry.

use stratus_types::address::Address;
use stratus_types::coin::Coin;
use stratus_types::event::Event;
use stratus_types::group::DecCoin;
use stratus_types::market::{
    AuditedAttributes, Bid, BidId, BidState, CloseReason, DeploymentId, GroupState, Lease, LeaseId, LeaseState,
    OrderId, OrderState, Provider, ResourceOffer,
};
use stratus_types::params::Params;
use stratus_types::placement::{check_capabilities, check_requirements};

use crate::error::LedgerError;
use crate::exec::{Exec, Result, escrow_module};
use crate::keys;

impl Exec<'_> {
    pub fn bids_of(&mut self, order: &OrderId) -> Result<Vec<Bid>> {
        Ok(self.st.scan::<Bid>(&keys::bids_of_order(order))?.into_iter().map(|(_, b)| b).collect())
    }

    pub fn bid(&mut self, id: &BidId) -> Result<Bid> {
        self.st.get(&keys::bid(id))?.ok_or_else(|| LedgerError::BidNotFound(id.clone()))
    }

    pub fn lease(&mut self, id: &LeaseId) -> Result<Lease> {
        self.st.get(&keys::lease(id))?.ok_or_else(|| LedgerError::LeaseNotFound(id.clone()))
    }

    pub fn create_bid(
        &mut self,
        provider: Address,
        order_id: &OrderId,
        price: &DecCoin,
        deposit: &Coin,
        offer: &[ResourceOffer],
    ) -> Result<()> {
        let record: Provider =
            self.st.get(&keys::provider(&provider))?.ok_or(LedgerError::ProviderNotFound(provider))?;
        let mut order = self.order(order_id)?;
        if order.state != OrderState::Open {
            return Err(LedgerError::OrderNotOpen { id: order.id, state: order.state });
        }
        let deployment = self.active_deployment(&order_id.deployment())?;
        let group = self.group(&order_id.group())?;
        if group.state != GroupState::Open {
            return Err(LedgerError::GroupState { id: group.id, state: group.state });
        }
        let bid_id = order_id.bid(provider);
        if self.st.contains(&keys::bid(&bid_id))? {
            return Err(LedgerError::BidExists(order_id.clone()));
        }
        if order.bid_count >= self.params.order_max_bids {
            return Err(LedgerError::TooManyBids(order.id, self.params.order_max_bids));
        }
        if price.denom != deployment.denom || price.amount.is_zero() {
            return Err(LedgerError::BadBidPrice(deployment.denom));
        }
        let max = group.spec.max_price().ok_or(LedgerError::Overflow("group price"))?;
        if price.amount > max {
            return Err(LedgerError::BidAbovePrice {
                bid: format!("{}{}", price.amount, price.denom),
                max: format!("{max}{}", price.denom),
            });
        }
        self.check_denom(&deposit.denom)?;
        let min = Params::min_deposit(&self.params.bid_min_deposit, &deposit.denom);
        if deposit.amount < min {
            return Err(LedgerError::DepositTooLow {
                min: Coin::new(min, deposit.denom.clone()),
                got: deposit.clone(),
            });
        }
        let audits: Vec<AuditedAttributes> =
            self.st.scan::<AuditedAttributes>(&keys::audits_of(&provider))?.into_iter().map(|(_, a)| a).collect();
        check_requirements(&group.spec, &record.attributes, &audits, &self.params.auditor_aliases)
            .and_then(|()| check_capabilities(&group.spec, &record.attributes))
            .map_err(|m| LedgerError::PlacementMismatch(m.to_string()))?;
        for o in offer {
            match group.spec.resources.iter().find(|u| u.resources.id == o.resource_id) {
                Some(unit) if o.count <= unit.count => {}
                _ => return Err(LedgerError::BadOffer(format!("resource {} ×{}", o.resource_id, o.count))),
            }
        }
        self.transfer(&provider, &escrow_module(), deposit)?;
        let expires_at = self.height.saturating_add(self.params.bid_ttl_blocks);
        let bid = Bid {
            id: bid_id.clone(),
            state: BidState::Open,
            price: price.clone(),
            deposit: deposit.clone(),
            created_at: self.height,
            expires_at,
            offer: offer.to_vec(),
            closed_at: None,
            close_reason: None,
        };
        self.st.put(keys::bid(&bid_id), &bid);
        self.st.put(keys::bid_expiry(expires_at, &bid_id), &());
        self.st.put(keys::provider_bid(&bid_id), &());
        order.bid_count += 1;
        self.put_order(&order, Some(OrderState::Open));
        self.emit(Event::BidCreated { id: bid_id, price: price.clone() });
        Ok(())
    }

    /// Ends a bid that is not (or no longer) a lease: refunds its deposit.
    pub fn finish_bid(&mut self, mut bid: Bid, state: BidState, reason: CloseReason) -> Result<()> {
        if bid.state == BidState::Open {
            self.st.delete(keys::bid_expiry(bid.expires_at, &bid.id));
            let mut order = self.order(&bid.id.order())?;
            order.bid_count = order.bid_count.saturating_sub(1);
            let state = order.state;
            self.put_order(&order, Some(state));
        }
        self.transfer(&escrow_module(), &bid.id.provider, &bid.deposit)?;
        bid.state = state;
        bid.closed_at = Some(self.height);
        bid.close_reason = Some(reason);
        self.st.put(keys::bid(&bid.id), &bid);
        self.emit(Event::BidStateChanged { id: bid.id, state, reason: Some(reason) });
        Ok(())
    }

    /// A provider withdraws a bid, or walks away from a lease (Akash pauses the group then; the
    /// owner starts it again to re-auction).
    pub fn close_bid(&mut self, provider: Address, bid_id: &BidId, reason: CloseReason) -> Result<()> {
        self.require(bid_id.provider, provider)?;
        let bid = self.bid(bid_id)?;
        match bid.state {
            BidState::Open => self.finish_bid(bid, BidState::Closed, reason),
            BidState::Active => {
                self.settle_checked(&bid_id.deployment())?;
                if !self.lease(bid_id)?.is_active() {
                    return Ok(());
                }
                self.close_lease(bid_id, reason, LeaseState::Closed)?;
                self.pause_group_after_provider_close(&bid_id.group(), reason)
            }
            state => Err(LedgerError::BidState { id: bid.id, state }),
        }
    }

    pub fn create_lease(&mut self, owner: Address, bid_id: &BidId) -> Result<()> {
        self.require(bid_id.owner, owner)?;
        let bid = self.bid(bid_id)?;
        if bid.state != BidState::Open {
            return Err(LedgerError::BidState { id: bid.id, state: bid.state });
        }
        let mut order = self.order(&bid_id.order())?;
        if order.state != OrderState::Open {
            return Err(LedgerError::OrderNotOpen { id: order.id, state: order.state });
        }
        let deployment = self.active_deployment(&bid_id.deployment())?;
        let group = self.group(&bid_id.group())?;
        if group.state != GroupState::Open {
            return Err(LedgerError::GroupState { id: group.id, state: group.state });
        }
        // A gang's leases wait for the last group before any of them pays.
        let forming_gang = deployment.is_forming_gang();
        for other in self.bids_of(&order.id)? {
            if other.id != *bid_id && other.state == BidState::Open {
                self.finish_bid(other, BidState::Lost, CloseReason::LostAuction)?;
            }
        }
        let mut bid = self.bid(bid_id)?;
        self.st.delete(keys::bid_expiry(bid.expires_at, bid_id));
        bid.state = BidState::Active;
        self.st.put(keys::bid(bid_id), &bid);
        self.emit(Event::BidStateChanged { id: bid_id.clone(), state: BidState::Active, reason: None });
        order = self.order(&bid_id.order())?;
        order.state = OrderState::Active;
        self.put_order(&order, Some(OrderState::Open));
        self.emit(Event::OrderStateChanged { id: order.id, state: OrderState::Active });
        let lease = Lease {
            id: bid_id.clone(),
            state: LeaseState::Active,
            price: bid.price.clone(),
            created_at: self.height,
            paying_since: None,
            closed_at: None,
            close_reason: None,
            accrued: Default::default(),
            withdrawn: 0,
        };
        self.st.put(keys::lease(bid_id), &lease);
        self.st.put(keys::provider_lease(bid_id), &());
        self.emit(Event::LeaseCreated { id: bid_id.clone(), price: bid.price });
        if forming_gang { self.form_gang_if_complete(&bid_id.deployment()) } else { self.start_lease_payment(bid_id) }
    }

    /// The lease starts paying its price from the deployment's escrow from this block on.
    pub fn start_lease_payment(&mut self, lease_id: &LeaseId) -> Result<()> {
        let mut lease = self.lease(lease_id)?;
        self.escrow_add_payment(&lease_id.deployment(), lease_id, lease.price.amount)?;
        lease.paying_since = Some(self.height);
        self.st.put(keys::lease(lease_id), &lease);
        Ok(())
    }

    /// Closes an active lease: final payment to the provider, bid closed (deposit back), order
    /// closed. The caller decides what happens to the group.
    pub fn close_lease(&mut self, lease_id: &LeaseId, reason: CloseReason, state: LeaseState) -> Result<()> {
        let mut lease = self.lease(lease_id)?;
        if !lease.is_active() {
            return Err(LedgerError::LeaseNotActive(lease_id.clone()));
        }
        self.escrow_settle(&lease_id.deployment())?;
        // A lease of a gang that never formed has no payment: it earned nothing.
        let (accrued, withdrawn) = match lease.paying_since {
            Some(_) => {
                let payment = self.escrow_close_payment(lease_id)?;
                (payment.accrued, payment.withdrawn)
            }
            None => (Default::default(), 0),
        };
        lease.state = state;
        lease.closed_at = Some(self.height);
        lease.close_reason = Some(reason);
        lease.accrued = accrued;
        lease.withdrawn = withdrawn;
        self.st.put(keys::lease(lease_id), &lease);
        self.emit(Event::LeaseClosed {
            id: lease_id.clone(),
            reason,
            accrued,
            paid: Coin::new(withdrawn, lease.price.denom.clone()),
            blocks: lease.paying_since.map_or(0, |since| self.height.saturating_sub(since)),
        });
        let bid = self.bid(lease_id)?;
        self.finish_bid(bid, BidState::Closed, reason)?;
        let mut order = self.order(&lease_id.order())?;
        let previous = order.state;
        order.state = OrderState::Closed;
        order.closed_at = Some(self.height);
        self.put_order(&order, Some(previous));
        self.emit(Event::OrderStateChanged { id: order.id, state: OrderState::Closed });
        Ok(())
    }

    /// The owner ends a lease; the group is auctioned again if still open.
    pub fn close_lease_by_owner(&mut self, owner: Address, lease_id: &LeaseId) -> Result<()> {
        self.require(lease_id.owner, owner)?;
        self.settle_checked(&lease_id.deployment())?;
        if !self.lease(lease_id)?.is_active() {
            return Err(LedgerError::LeaseNotActive(lease_id.clone()));
        }
        self.close_lease(lease_id, CloseReason::Owner, LeaseState::Closed)?;
        self.reopen_if_open(&lease_id.group())
    }

    pub fn withdraw_lease(&mut self, provider: Address, lease_id: &LeaseId) -> Result<()> {
        self.require(lease_id.provider, provider)?;
        let mut lease = self.lease(lease_id)?;
        if !lease.is_active() {
            return Err(LedgerError::LeaseNotActive(lease_id.clone()));
        }
        if lease.paying_since.is_none() {
            // Its gang is still forming: nothing has been earned yet.
            return Ok(());
        }
        if self.settle_checked(&lease_id.deployment())? {
            // Funds ran out and the lease closed, with its final payment.
            return Ok(());
        }
        let payment = self.escrow_withdraw(lease_id)?;
        lease.accrued = payment.accrued;
        lease.withdrawn = payment.withdrawn;
        self.st.put(keys::lease(lease_id), &lease);
        Ok(())
    }

    /// Settles the deployment's escrow; if funds ran out, closes its leases. Returns whether
    /// they did.
    pub fn settle_checked(&mut self, dep: &DeploymentId) -> Result<bool> {
        if self.escrow_settle(dep)? {
            self.escrow_exhausted(dep)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// End of block: open bids whose time is up are closed and refunded.
    pub fn expire_bids(&mut self) -> Result<()> {
        for (key, ()) in self.st.scan::<()>(&keys::bid_expiries_at(self.height))? {
            let Some(id) = keys::parse_bid_suffix(&key[keys::BID_EXPIRY.len() + 8..]) else { continue };
            let bid = self.bid(&id)?;
            if bid.state == BidState::Open {
                self.finish_bid(bid, BidState::Closed, CloseReason::Expired)?;
            }
        }
        Ok(())
    }

    /// End of block: deployments whose escrow cannot pay the next block close their leases.
    pub fn close_exhausted(&mut self) -> Result<()> {
        for (key, ()) in self.st.scan::<()>(&keys::escrow_exhaustions_at(self.height))? {
            let Some(dep) = keys::parse_deployment_suffix(&key[keys::ESCROW_EXHAUSTION.len() + 8..]) else { continue };
            let ran_out = self.escrow_settle(&dep)?;
            if ran_out || self.escrow_cannot_pay_next_block(&dep)? {
                self.escrow_exhausted(&dep)?;
            }
        }
        Ok(())
    }
}
