//! Deployments, their groups and the orders that auction each group (Akash `x/deployment` and
//! the order half of `x/market`), with Akash's close cascades.

use stratus_types::address::Address;
use stratus_types::coin::Coin;
use stratus_types::event::Event;
use stratus_types::group::{GroupSpec, validate_group_specs};
use stratus_types::market::{
    BidState, CloseReason, Deployment, DeploymentId, DeploymentState, Gang, Group, GroupId, GroupState, LeaseState,
    Order, OrderId, OrderState,
};
use stratus_types::params::Params;

use crate::error::LedgerError;
use crate::exec::{Exec, Result};
use crate::keys;

impl Exec<'_> {
    pub fn deployment(&mut self, id: &DeploymentId) -> Result<Deployment> {
        self.st.get(&keys::deployment(id))?.ok_or_else(|| LedgerError::DeploymentNotFound(id.clone()))
    }

    pub fn active_deployment(&mut self, id: &DeploymentId) -> Result<Deployment> {
        let d = self.deployment(id)?;
        if d.state != DeploymentState::Active {
            return Err(LedgerError::DeploymentClosed(id.clone()));
        }
        Ok(d)
    }

    pub fn group(&mut self, id: &GroupId) -> Result<Group> {
        self.st.get(&keys::group(id))?.ok_or_else(|| LedgerError::GroupNotFound(id.clone()))
    }

    pub fn order(&mut self, id: &OrderId) -> Result<Order> {
        self.st.get(&keys::order(id))?.ok_or_else(|| LedgerError::OrderNotFound(id.clone()))
    }

    /// Stores an order, keeping the open-order index in step when its state changed.
    pub fn put_order(&mut self, order: &Order, previous: Option<OrderState>) {
        self.st.put(keys::order(&order.id), order);
        if previous == Some(order.state) {
            return;
        }
        if order.state == OrderState::Open {
            self.st.put(keys::open_order(&order.id), &());
        } else if previous == Some(OrderState::Open) || previous.is_none() {
            self.st.delete(keys::open_order(&order.id));
        }
    }

    fn set_group_state(&mut self, group: &mut Group, state: GroupState, reason: Option<CloseReason>) {
        group.state = state;
        self.st.put(keys::group(&group.id), &*group);
        self.emit(Event::GroupStateChanged { id: group.id.clone(), state, reason });
    }

    pub fn create_deployment(
        &mut self,
        owner: Address,
        dseq: u64,
        groups: &[GroupSpec],
        version: [u8; 32],
        deposit: &Coin,
        gang: bool,
    ) -> Result<()> {
        let id = DeploymentId { owner, dseq };
        if self.st.contains(&keys::deployment(&id))? {
            return Err(LedgerError::DeploymentExists(id));
        }
        validate_group_specs(groups).map_err(|e| LedgerError::InvalidGroups(e.0))?;
        let denom = groups[0].denom().to_string();
        self.check_denom(&denom)?;
        if deposit.denom != denom {
            return Err(LedgerError::DenomMismatch { expected: denom, got: deposit.denom.clone() });
        }
        let min = Params::min_deposit(&self.params.deployment_min_deposit, &denom);
        if deposit.amount < min || deposit.amount == 0 {
            return Err(LedgerError::DepositTooLow { min: Coin::new(min.max(1), denom), got: deposit.clone() });
        }
        let gang = gang
            .then(|| Gang { deadline: self.height.saturating_add(self.params.gang_timeout_blocks), formed_at: None });
        if let Some(g) = &gang {
            self.st.put(keys::gang_deadline(g.deadline, &id), &());
        }
        let deployment = Deployment {
            id: id.clone(),
            state: DeploymentState::Active,
            version,
            denom,
            created_at: self.height,
            closed_at: None,
            gang,
        };
        self.st.put(keys::deployment(&id), &deployment);
        self.emit(Event::DeploymentCreated { id: id.clone(), version });
        for (i, spec) in groups.iter().enumerate() {
            let gseq = u32::try_from(i + 1).map_err(|_| LedgerError::Overflow("gseq"))?;
            let mut group = Group {
                id: id.group(gseq),
                state: GroupState::Open,
                spec: spec.clone(),
                created_at: self.height,
                next_oseq: 1,
            };
            self.emit(Event::GroupStateChanged { id: group.id.clone(), state: GroupState::Open, reason: None });
            self.open_order(&mut group);
        }
        self.escrow_open(&id, owner, deposit)
    }

    /// Opens the group's next order (a fresh auction).
    fn open_order(&mut self, group: &mut Group) {
        let order = Order {
            id: group.id.order(group.next_oseq),
            state: OrderState::Open,
            created_at: self.height,
            closed_at: None,
            bid_count: 0,
        };
        group.next_oseq += 1;
        self.st.put(keys::group(&group.id), &*group);
        self.put_order(&order, None);
        self.emit(Event::OrderCreated { id: order.id });
    }

    pub fn update_deployment(&mut self, owner: Address, dseq: u64, version: [u8; 32]) -> Result<()> {
        let id = DeploymentId { owner, dseq };
        let mut d = self.active_deployment(&id)?;
        if d.version == version {
            return Err(LedgerError::SameVersion);
        }
        d.version = version;
        self.st.put(keys::deployment(&id), &d);
        self.emit(Event::DeploymentUpdated { id, version });
        Ok(())
    }

    pub fn close_deployment(&mut self, owner: Address, dseq: u64, reason: CloseReason) -> Result<()> {
        let id = DeploymentId { owner, dseq };
        let mut d = self.active_deployment(&id)?;
        self.escrow_settle(&id)?;
        for (_, mut group) in self.st.scan::<Group>(&keys::groups_of(&id))? {
            if group.state != GroupState::Closed {
                self.end_group_orders(&group.id, reason, LeaseState::Closed)?;
                self.set_group_state(&mut group, GroupState::Closed, Some(reason));
            }
        }
        self.escrow_close(&id)?;
        if let Some(g) = d.gang.as_ref().filter(|g| g.formed_at.is_none()) {
            self.st.delete(keys::gang_deadline(g.deadline, &id));
        }
        d.state = DeploymentState::Closed;
        d.closed_at = Some(self.height);
        self.st.put(keys::deployment(&id), &d);
        self.emit(Event::DeploymentClosed { id, reason });
        Ok(())
    }

    /// Ends the group's live orders: an active order's lease closes with `reason` (and
    /// `lease_state`), open bids are refunded, the orders close.
    pub fn end_group_orders(&mut self, group: &GroupId, reason: CloseReason, lease_state: LeaseState) -> Result<()> {
        for (_, order) in self.st.scan::<Order>(&keys::orders_of_group(group))? {
            match order.state {
                OrderState::Closed => {}
                OrderState::Open => self.close_order(order, reason)?,
                OrderState::Active => {
                    let winner =
                        self.bids_of(&order.id)?.into_iter().find(|b| b.state == BidState::Active).ok_or_else(
                            || LedgerError::Corrupt {
                                key: format!("order {}", order.id),
                                detail: "active without an active bid".into(),
                            },
                        )?;
                    self.close_lease(&winner.id, reason, lease_state)?;
                }
            }
        }
        Ok(())
    }

    /// Closes an order that has no lease, refunding its bids.
    pub fn close_order(&mut self, order: Order, reason: CloseReason) -> Result<()> {
        for bid in self.bids_of(&order.id)? {
            if bid.state == BidState::Open {
                self.finish_bid(bid, BidState::Closed, reason)?;
            }
        }
        // Re-read: finishing bids updated its bid count.
        let mut order = self.order(&order.id)?;
        let previous = order.state;
        order.state = OrderState::Closed;
        order.closed_at = Some(self.height);
        self.put_order(&order, Some(previous));
        self.emit(Event::OrderStateChanged { id: order.id, state: OrderState::Closed });
        Ok(())
    }

    fn owned_group(&mut self, owner: Address, dseq: u64, gseq: u32) -> Result<Group> {
        let id = DeploymentId { owner, dseq };
        self.active_deployment(&id)?;
        self.group(&id.group(gseq))
    }

    pub fn close_group(&mut self, owner: Address, dseq: u64, gseq: u32) -> Result<()> {
        let mut group = self.owned_group(owner, dseq, gseq)?;
        if group.state == GroupState::Closed {
            return Err(LedgerError::GroupState { id: group.id, state: group.state });
        }
        self.escrow_settle(&group.id.deployment())?;
        self.end_group_orders(&group.id, CloseReason::Owner, LeaseState::Closed)?;
        self.set_group_state(&mut group, GroupState::Closed, Some(CloseReason::Owner));
        Ok(())
    }

    pub fn pause_group(&mut self, owner: Address, dseq: u64, gseq: u32) -> Result<()> {
        let mut group = self.owned_group(owner, dseq, gseq)?;
        if group.state != GroupState::Open {
            return Err(LedgerError::GroupState { id: group.id, state: group.state });
        }
        self.escrow_settle(&group.id.deployment())?;
        self.end_group_orders(&group.id, CloseReason::Owner, LeaseState::Closed)?;
        self.set_group_state(&mut group, GroupState::Paused, Some(CloseReason::Owner));
        Ok(())
    }

    /// Re-opens a paused or unfunded group with a new order (a new auction).
    pub fn start_group(&mut self, owner: Address, dseq: u64, gseq: u32) -> Result<()> {
        let mut group = self.owned_group(owner, dseq, gseq)?;
        if !matches!(group.state, GroupState::Paused | GroupState::InsufficientFunds) {
            return Err(LedgerError::GroupState { id: group.id, state: group.state });
        }
        self.set_group_state(&mut group, GroupState::Open, None);
        self.open_order(&mut group);
        Ok(())
    }

    /// The deployment's funds ran out: its leases close for insufficient funds and its open
    /// groups wait (`insufficient_funds`) until the owner deposits and starts them again.
    /// Unlike Akash, the deployment itself stays, so nothing is lost but the running leases.
    pub fn escrow_exhausted(&mut self, dep: &DeploymentId) -> Result<()> {
        self.emit(Event::EscrowOverdrawn { deployment: dep.clone() });
        for (_, mut group) in self.st.scan::<Group>(&keys::groups_of(dep))? {
            if group.state == GroupState::Open {
                self.end_group_orders(&group.id, CloseReason::InsufficientFunds, LeaseState::InsufficientFunds)?;
                self.set_group_state(&mut group, GroupState::InsufficientFunds, Some(CloseReason::InsufficientFunds));
            }
        }
        Ok(())
    }

    /// A lease closed and the group is still open: auction it again (Akash re-opens an order
    /// when the owner closes a lease).
    pub fn reopen_if_open(&mut self, group_id: &GroupId) -> Result<()> {
        let mut group = self.group(group_id)?;
        if group.state == GroupState::Open {
            self.open_order(&mut group);
        }
        Ok(())
    }

    pub fn pause_group_after_provider_close(&mut self, group_id: &GroupId, reason: CloseReason) -> Result<()> {
        let mut group = self.group(group_id)?;
        if group.state == GroupState::Open {
            self.set_group_state(&mut group, GroupState::Paused, Some(reason));
        }
        Ok(())
    }

    /// A lease was just made in a gang that is still forming: if every group now has its lease,
    /// the gang is formed and every lease starts paying from this block.
    pub fn form_gang_if_complete(&mut self, dep_id: &DeploymentId) -> Result<()> {
        let mut dep = self.deployment(dep_id)?;
        let Some(gang) = dep.gang.as_mut().filter(|g| g.formed_at.is_none()) else { return Ok(()) };
        let mut leases = Vec::new();
        for (_, group) in self.st.scan::<Group>(&keys::groups_of(dep_id))? {
            let active = self
                .st
                .scan::<Order>(&keys::orders_of_group(&group.id))?
                .into_iter()
                .find(|(_, o)| o.state == OrderState::Active);
            let Some((_, order)) = active else { return Ok(()) };
            let winner = self.bids_of(&order.id)?.into_iter().find(|b| b.state == BidState::Active);
            let Some(bid) = winner else {
                return Err(LedgerError::Corrupt {
                    key: format!("order {}", order.id),
                    detail: "active without an active bid".into(),
                });
            };
            leases.push(bid.id);
        }
        self.st.delete(keys::gang_deadline(gang.deadline, dep_id));
        gang.formed_at = Some(self.height);
        self.st.put(keys::deployment(dep_id), &dep);
        for id in &leases {
            self.start_lease_payment(id)?;
        }
        self.emit(Event::GangFormed { id: dep_id.clone(), leases });
        Ok(())
    }

    /// End of block: gangs whose deadline is this height and that have not formed close, with
    /// every bid deposit and the escrow refunded (none of their leases has paid anything).
    pub fn expire_gangs(&mut self) -> Result<()> {
        for (key, ()) in self.st.scan::<()>(&keys::gang_deadlines_at(self.height))? {
            let Some(dep) = keys::parse_deployment_suffix(&key[keys::GANG_DEADLINE.len() + 8..]) else { continue };
            let d = self.deployment(&dep)?;
            if d.state == DeploymentState::Active && d.is_forming_gang() {
                self.close_deployment(dep.owner, dep.dseq, CloseReason::GangTimeout)?;
            }
        }
        Ok(())
    }
}
