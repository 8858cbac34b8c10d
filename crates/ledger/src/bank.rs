//! Balances in whole units. Total supply per denomination is fixed at genesis; every transfer
//! moves value between two balances (module accounts included), so supply is conserved.

use stratus_types::address::Address;
use stratus_types::coin::Coin;
use stratus_types::event::Event;

use crate::error::LedgerError;
use crate::exec::{Exec, Result};
use crate::keys;

impl Exec<'_> {
    pub fn balance(&mut self, addr: &Address, denom: &str) -> Result<u128> {
        Ok(self.st.get::<u128>(&keys::balance(addr, denom))?.unwrap_or(0))
    }

    fn set_balance(&mut self, addr: &Address, denom: &str, amount: u128) {
        let key = keys::balance(addr, denom);
        if amount == 0 {
            self.st.delete(key);
        } else {
            self.st.put(key, &amount);
        }
    }

    /// Moves `amount` from `from` to `to`, or fails without changing anything.
    pub fn transfer(&mut self, from: &Address, to: &Address, amount: &Coin) -> Result<()> {
        if amount.amount == 0 {
            return Ok(());
        }
        let have = self.balance(from, &amount.denom)?;
        let Some(left) = have.checked_sub(amount.amount) else {
            return Err(LedgerError::InsufficientFunds {
                address: *from,
                have: Coin::new(have, amount.denom.clone()),
                need: amount.clone(),
            });
        };
        self.set_balance(from, &amount.denom, left);
        let to_have = self.balance(to, &amount.denom)?;
        let to_new = to_have.checked_add(amount.amount).ok_or(LedgerError::Overflow("balance"))?;
        self.set_balance(to, &amount.denom, to_new);
        self.emit(Event::Transfer { from: *from, to: *to, amount: amount.clone() });
        Ok(())
    }

    /// Creates coins at genesis (the only place supply grows).
    pub fn mint_genesis(&mut self, to: &Address, amount: &Coin) -> Result<()> {
        let supply_key = keys::supply(&amount.denom);
        let supply: u128 = self.st.get(&supply_key)?.unwrap_or(0);
        self.st.put(supply_key, &supply.checked_add(amount.amount).ok_or(LedgerError::Overflow("supply"))?);
        let have = self.balance(to, &amount.denom)?;
        self.set_balance(to, &amount.denom, have.checked_add(amount.amount).ok_or(LedgerError::Overflow("balance"))?);
        Ok(())
    }

    pub fn send(&mut self, from: Address, to: Address, amount: &Coin) -> Result<()> {
        if amount.amount == 0 {
            return Err(LedgerError::ZeroAmount);
        }
        // The escrow module must hold exactly what it owes (an invariant): coins sent to it
        // would be owed to nobody. A plain send to the community pool is a donation, and allowed
        // (like Cosmos's fund-community-pool).
        if to == crate::exec::escrow_module() {
            return Err(LedgerError::BlockedRecipient { address: to, module: "escrow" });
        }
        if to == crate::arena::arena_module() {
            return Err(LedgerError::BlockedRecipient { address: to, module: "arena" });
        }
        self.transfer(&from, &to, amount)
    }
}
