//! Deployment escrow: deposits in, per-block payments out to providers, refunds at the end.
//!
//! Money rules (all exact; `Dec` has 18 decimals and is only ever multiplied by whole numbers):
//! - Settlement is lazy: an account moves `rate × blocks` from its balance to each open payment
//!   only when something touches it, paying whole blocks only (a block is paid for every lease or
//!   not at all).
//! - Instead of scanning accounts each block, every account with open payments is indexed at the
//!   height its balance runs out (`keys::escrow_exhaustion`); end-of-block work touches only the
//!   accounts due at that height. Per-block cost does not grow with the number of leases.
//! - Withdrawals pay whole units; the fraction stays in the payment and is paid later. When a
//!   payment closes, its last fraction (< 1 unit) returns to the account, so a provider is paid
//!   `floor(price × blocks)` over a lease's life and the tenant gets back everything else.
//! - Deposits are consumed oldest first; refunds return what is left to each depositor.

use stratus_types::address::Address;
use stratus_types::coin::Coin;
use stratus_types::dec::Dec;
use stratus_types::event::Event;
use stratus_types::market::{DeploymentId, EscrowAccount, EscrowDeposit, EscrowState, LeaseId, Payment};

use crate::error::LedgerError;
use crate::exec::{Exec, Result, community_pool, escrow_module};
use crate::keys;

/// Basis points in one whole.
const BPS: u128 = 10_000;

impl Exec<'_> {
    pub fn escrow(&mut self, dep: &DeploymentId) -> Result<EscrowAccount> {
        self.st
            .get(&keys::escrow(dep))?
            .ok_or_else(|| LedgerError::Corrupt { key: format!("escrow {dep}"), detail: "missing".into() })
    }

    fn put_escrow(&mut self, acct: &EscrowAccount) {
        self.st.put(keys::escrow(&acct.deployment), acct);
    }

    pub fn payment(&mut self, lease: &LeaseId) -> Result<Payment> {
        self.st
            .get(&keys::payment(lease))?
            .ok_or_else(|| LedgerError::Corrupt { key: format!("payment {lease}"), detail: "missing".into() })
    }

    /// Opens a deployment's account with its first deposit.
    pub fn escrow_open(&mut self, dep: &DeploymentId, depositor: Address, amount: &Coin) -> Result<()> {
        self.transfer(&depositor, &escrow_module(), amount)?;
        let funds = Dec::from_int(amount.amount).ok_or(LedgerError::Overflow("deposit"))?;
        let acct = EscrowAccount {
            deployment: dep.clone(),
            denom: amount.denom.clone(),
            state: EscrowState::Open,
            balance: funds,
            deposits: vec![EscrowDeposit { depositor, remaining: funds }],
            settled_at: self.height,
            total_rate: Dec::ZERO,
            exhausted_at: None,
            total_deposited: amount.amount,
            total_transferred: Dec::ZERO,
            total_returned: Dec::ZERO,
        };
        self.put_escrow(&acct);
        self.emit(Event::EscrowDeposited { deployment: dep.clone(), depositor, amount: amount.clone() });
        Ok(())
    }

    /// Adds funds; anyone may deposit into an open account.
    pub fn escrow_deposit(&mut self, dep: &DeploymentId, depositor: Address, amount: &Coin) -> Result<()> {
        let acct = self.escrow(dep)?;
        if acct.state != EscrowState::Open {
            return Err(LedgerError::EscrowNotOpen(acct.state.to_string()));
        }
        if amount.denom != acct.denom {
            return Err(LedgerError::DenomMismatch { expected: acct.denom, got: amount.denom.clone() });
        }
        if amount.amount == 0 {
            return Err(LedgerError::ZeroAmount);
        }
        self.escrow_settle(dep)?;
        self.transfer(&depositor, &escrow_module(), amount)?;
        let mut acct = self.escrow(dep)?;
        let funds = Dec::from_int(amount.amount).ok_or(LedgerError::Overflow("deposit"))?;
        acct.balance = acct.balance.checked_add(funds).ok_or(LedgerError::Overflow("escrow balance"))?;
        add_deposit(&mut acct.deposits, depositor, funds)?;
        acct.total_deposited =
            acct.total_deposited.checked_add(amount.amount).ok_or(LedgerError::Overflow("deposits"))?;
        self.reindex_exhaustion(&mut acct);
        self.put_escrow(&acct);
        self.emit(Event::EscrowDeposited { deployment: dep.clone(), depositor, amount: amount.clone() });
        Ok(())
    }

    /// Pays every open payment for the whole blocks since the last settlement that the balance
    /// covers. Returns `true` when the balance could not cover them all (the caller closes the
    /// deployment's leases for insufficient funds).
    pub fn escrow_settle(&mut self, dep: &DeploymentId) -> Result<bool> {
        let mut acct = self.escrow(dep)?;
        if acct.state != EscrowState::Open {
            return Ok(false);
        }
        let blocks = self.height.saturating_sub(acct.settled_at);
        if blocks == 0 || acct.total_rate.is_zero() {
            if acct.settled_at != self.height {
                acct.settled_at = self.height;
                self.put_escrow(&acct);
            }
            return Ok(false);
        }
        let affordable = u64::try_from(acct.balance.raw() / acct.total_rate.raw()).unwrap_or(u64::MAX);
        let paid_blocks = blocks.min(affordable);
        if paid_blocks > 0 {
            let mut total = Dec::ZERO;
            for (key, mut payment) in self.st.scan::<Payment>(&keys::payments_of(dep))? {
                if payment.state != EscrowState::Open {
                    continue;
                }
                let amount = payment.rate.mul_u64(paid_blocks).ok_or(LedgerError::Overflow("settlement"))?;
                payment.accrued = payment.accrued.checked_add(amount).ok_or(LedgerError::Overflow("accrued"))?;
                payment.balance = payment.balance.checked_add(amount).ok_or(LedgerError::Overflow("payment"))?;
                total = total.checked_add(amount).ok_or(LedgerError::Overflow("settlement"))?;
                self.st.put(key, &payment);
                self.emit(Event::PaymentSettled { lease: payment.lease.clone(), amount, blocks: paid_blocks });
            }
            acct.balance = acct.balance.checked_sub(total).ok_or(LedgerError::Overflow("escrow balance"))?;
            consume_deposits(&mut acct.deposits, total)?;
            acct.total_transferred =
                acct.total_transferred.checked_add(total).ok_or(LedgerError::Overflow("transferred"))?;
        }
        acct.settled_at = self.height;
        self.put_escrow(&acct);
        Ok(paid_blocks < blocks)
    }

    /// True when the settled account cannot pay the next block of its open payments.
    pub fn escrow_cannot_pay_next_block(&mut self, dep: &DeploymentId) -> Result<bool> {
        let acct = self.escrow(dep)?;
        Ok(acct.state == EscrowState::Open && !acct.total_rate.is_zero() && acct.balance < acct.total_rate)
    }

    /// Starts paying a new lease from the account (settling first, so it pays from now on).
    pub fn escrow_add_payment(&mut self, dep: &DeploymentId, lease: &LeaseId, rate: Dec) -> Result<()> {
        self.escrow_settle(dep)?;
        let mut acct = self.escrow(dep)?;
        if acct.state != EscrowState::Open {
            return Err(LedgerError::EscrowNotOpen(acct.state.to_string()));
        }
        let payment = Payment {
            lease: lease.clone(),
            state: EscrowState::Open,
            rate,
            accrued: Dec::ZERO,
            balance: Dec::ZERO,
            withdrawn: 0,
        };
        self.st.put(keys::payment(lease), &payment);
        acct.total_rate = acct.total_rate.checked_add(rate).ok_or(LedgerError::Overflow("rate"))?;
        self.reindex_exhaustion(&mut acct);
        self.put_escrow(&acct);
        Ok(())
    }

    /// Pays out the whole units a payment holds, minus the take rate. The caller settles first.
    fn pay_out(&mut self, payment: &mut Payment, denom: &str) -> Result<()> {
        let whole = payment.balance.floor();
        if whole == 0 {
            return Ok(());
        }
        let take = whole * u128::from(self.params.take_rate_bps(denom)) / BPS;
        let provider = payment.lease.provider;
        self.transfer(&escrow_module(), &provider, &Coin::new(whole - take, denom))?;
        self.transfer(&escrow_module(), &community_pool(), &Coin::new(take, denom))?;
        payment.balance = payment
            .balance
            .checked_sub(Dec::from_int(whole).ok_or(LedgerError::Overflow("payout"))?)
            .ok_or(LedgerError::Overflow("payout"))?;
        payment.withdrawn = payment.withdrawn.checked_add(whole).ok_or(LedgerError::Overflow("withdrawn"))?;
        self.emit(Event::LeaseWithdrawn {
            lease: payment.lease.clone(),
            to_provider: Coin::new(whole - take, denom),
            take: Coin::new(take, denom),
        });
        Ok(())
    }

    /// A provider collects what its lease has earned so far.
    pub fn escrow_withdraw(&mut self, lease: &LeaseId) -> Result<Payment> {
        let dep = lease.deployment();
        self.escrow_settle(&dep)?;
        let acct = self.escrow(&dep)?;
        let mut payment = self.payment(lease)?;
        if payment.state != EscrowState::Open {
            return Err(LedgerError::LeaseNotActive(lease.clone()));
        }
        self.pay_out(&mut payment, &acct.denom)?;
        self.st.put(keys::payment(lease), &payment);
        Ok(payment)
    }

    /// Final payout of a lease's payment. The caller settles first. The sub-unit remainder goes
    /// back to the account (the tenant), so nothing is lost to truncation.
    pub fn escrow_close_payment(&mut self, lease: &LeaseId) -> Result<Payment> {
        let dep = lease.deployment();
        let mut payment = self.payment(lease)?;
        if payment.state != EscrowState::Open {
            return Ok(payment);
        }
        let mut acct = self.escrow(&dep)?;
        self.pay_out(&mut payment, &acct.denom)?;
        let remainder = payment.balance;
        payment.balance = Dec::ZERO;
        payment.state = EscrowState::Closed;
        acct.balance = acct.balance.checked_add(remainder).ok_or(LedgerError::Overflow("escrow balance"))?;
        acct.total_returned = acct.total_returned.checked_add(remainder).ok_or(LedgerError::Overflow("returned"))?;
        if !remainder.is_zero() {
            add_deposit(&mut acct.deposits, dep.owner, remainder)?;
        }
        acct.total_rate = acct.total_rate.checked_sub(payment.rate).ok_or(LedgerError::Overflow("rate"))?;
        self.reindex_exhaustion(&mut acct);
        self.put_escrow(&acct);
        self.st.put(keys::payment(lease), &payment);
        Ok(payment)
    }

    /// Closes the account and refunds what is left to its depositors. All payments must be
    /// closed already.
    pub fn escrow_close(&mut self, dep: &DeploymentId) -> Result<()> {
        let mut acct = self.escrow(dep)?;
        if acct.state == EscrowState::Closed {
            return Ok(());
        }
        if !acct.balance.fract().is_zero() || !acct.total_rate.is_zero() {
            return Err(LedgerError::Corrupt {
                key: format!("escrow {dep}"),
                detail: format!("closing with balance {} and rate {}", acct.balance, acct.total_rate),
            });
        }
        if let Some(at) = acct.exhausted_at.take() {
            self.st.delete(keys::escrow_exhaustion(at, dep));
        }
        let total = acct.balance.floor();
        let mut refunded = 0u128;
        for d in std::mem::take(&mut acct.deposits) {
            let amount = d.remaining.floor();
            if amount > 0 {
                self.transfer(&escrow_module(), &d.depositor, &Coin::new(amount, acct.denom.clone()))?;
                self.emit(Event::EscrowRefunded {
                    deployment: dep.clone(),
                    depositor: d.depositor,
                    amount: Coin::new(amount, acct.denom.clone()),
                });
                refunded += amount;
            }
        }
        // Fractions of individual deposits add up to whole units; they go to the owner.
        let rest = total.checked_sub(refunded).ok_or(LedgerError::Overflow("refund"))?;
        if rest > 0 {
            self.transfer(&escrow_module(), &dep.owner, &Coin::new(rest, acct.denom.clone()))?;
            self.emit(Event::EscrowRefunded {
                deployment: dep.clone(),
                depositor: dep.owner,
                amount: Coin::new(rest, acct.denom.clone()),
            });
        }
        acct.balance = Dec::ZERO;
        acct.state = EscrowState::Closed;
        self.put_escrow(&acct);
        Ok(())
    }

    /// Re-files the account under the height its balance runs out at the current total rate.
    fn reindex_exhaustion(&mut self, acct: &mut EscrowAccount) {
        if let Some(at) = acct.exhausted_at.take() {
            self.st.delete(keys::escrow_exhaustion(at, &acct.deployment));
        }
        if acct.state != EscrowState::Open || acct.total_rate.is_zero() {
            return;
        }
        let blocks = u64::try_from(acct.balance.raw() / acct.total_rate.raw()).unwrap_or(u64::MAX);
        let at = acct.settled_at.saturating_add(blocks).max(self.height);
        self.st.put(keys::escrow_exhaustion(at, &acct.deployment), &());
        acct.exhausted_at = Some(at);
    }
}

fn add_deposit(deposits: &mut Vec<EscrowDeposit>, depositor: Address, amount: Dec) -> Result<()> {
    match deposits.last_mut() {
        Some(last) if last.depositor == depositor => {
            last.remaining = last.remaining.checked_add(amount).ok_or(LedgerError::Overflow("deposit"))?;
        }
        _ => deposits.push(EscrowDeposit { depositor, remaining: amount }),
    }
    Ok(())
}

/// Takes `amount` from the oldest deposits first.
fn consume_deposits(deposits: &mut Vec<EscrowDeposit>, mut amount: Dec) -> Result<()> {
    let mut emptied = 0;
    for d in deposits.iter_mut() {
        if amount.is_zero() {
            break;
        }
        let take = d.remaining.min(amount);
        d.remaining = d.remaining.checked_sub(take).ok_or(LedgerError::Overflow("deposit"))?;
        amount = amount.checked_sub(take).ok_or(LedgerError::Overflow("deposit"))?;
        if d.remaining.is_zero() {
            emptied += 1;
        }
    }
    if !amount.is_zero() {
        return Err(LedgerError::Overflow("deposits smaller than balance"));
    }
    deposits.drain(..emptied);
    Ok(())
}
