//! Ledger parameters and the genesis that sets them.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::coin::Coin;
use crate::market::Provider;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct TakeRate {
    pub denom: String,
    /// Share of each withdrawal paid to the community pool, in basis points (1/10000).
    pub bps: u32,
}

/// A foreign auditor address, as templates name it (Akash's community auditor
/// `akash1365yvmc…` appears in most awesome-akash placements), and this network's auditor that
/// stands in for it: `signedBy` naming `name` is satisfied by `auditor`'s signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct AuditorAlias {
    pub name: String,
    pub auditor: Address,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Params {
    /// Denominations deployments may be priced and funded in.
    pub denoms: Vec<String>,
    /// Smallest opening deposit of a deployment, per denomination.
    pub deployment_min_deposit: Vec<Coin>,
    /// Smallest deposit a bid must carry, per denomination.
    pub bid_min_deposit: Vec<Coin>,
    /// Most bids one order accepts (Akash: 20).
    pub order_max_bids: u32,
    /// An open bid not turned into a lease within this many blocks is closed and refunded.
    pub bid_ttl_blocks: u64,
    /// Take rate per denomination (absent: 0).
    pub take_rates: Vec<TakeRate>,
    /// Smallest fee a transaction must pay, per denomination (empty: free).
    pub min_fees: Vec<Coin>,
    /// Largest encoded transaction accepted.
    pub max_tx_bytes: u32,
    /// Auditors standing in for foreign auditor addresses named in `signedBy` (empty: none).
    #[serde(default)]
    pub auditor_aliases: Vec<AuditorAlias>,
    /// A gang deployment (all-or-nothing) whose groups are not all leased within this many
    /// blocks of its creation closes, refunding its escrow and every bid deposit.
    #[serde(default = "default_gang_timeout_blocks")]
    pub gang_timeout_blocks: u64,
    /// Arena (training competitions) rules.
    #[serde(default)]
    pub arena: crate::arena::ArenaParams,
}

fn default_gang_timeout_blocks() -> u64 {
    120
}

impl Params {
    /// The fee a transaction pays when its sender names none: the chain's first minimum fee, or
    /// nothing (zero of the first denomination) on a chain without one.
    pub fn default_fee(&self) -> Coin {
        self.min_fees.first().cloned().unwrap_or_else(|| Coin::new(0, self.denoms.first().cloned().unwrap_or_default()))
    }

    pub fn min_deposit(list: &[Coin], denom: &str) -> u128 {
        list.iter().find(|c| c.denom == denom).map_or(0, |c| c.amount)
    }

    pub fn take_rate_bps(&self, denom: &str) -> u32 {
        self.take_rates.iter().find(|t| t.denom == denom).map_or(0, |t| t.bps)
    }

    /// Devnet defaults: `uakt` and `uact`, Akash's deposits and bid cap, bids live 300 blocks.
    pub fn devnet() -> Params {
        Params {
            denoms: vec!["uakt".into(), "uact".into()],
            deployment_min_deposit: vec![Coin::new(500_000, "uakt"), Coin::new(500_000, "uact")],
            bid_min_deposit: vec![Coin::new(500_000, "uakt"), Coin::new(500_000, "uact")],
            order_max_bids: 20,
            bid_ttl_blocks: 300,
            take_rates: Vec::new(),
            min_fees: Vec::new(),
            max_tx_bytes: 1 << 20,
            auditor_aliases: Vec::new(),
            gang_timeout_blocks: default_gang_timeout_blocks(),
            arena: crate::arena::ArenaParams::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct GenesisAccount {
    pub address: Address,
    pub coins: Vec<Coin>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Genesis {
    pub chain_id: String,
    /// Unix milliseconds of the genesis block.
    pub genesis_time_ms: u64,
    pub params: Params,
    pub accounts: Vec<GenesisAccount>,
    #[serde(default)]
    pub providers: Vec<Provider>,
    /// The validator set of a BFT chain (`stratus node init --testnet N` writes it); empty for a
    /// solo chain, whose one node signs every block with its own key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<GenesisValidator>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct GenesisValidator {
    /// A name for logs (the testnet names them v0, v1, ...).
    pub name: String,
    /// The ed25519 public key, hex.
    #[serde(with = "crate::tx::hex32")]
    pub public_key: [u8; 32],
    pub power: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_fee_is_the_first_minimum_fee_or_zero_of_the_first_denomination() {
        let mut p = Params::devnet();
        p.min_fees = vec![Coin::new(7, "uakt"), Coin::new(9, "uact")];
        assert_eq!(p.default_fee(), Coin::new(7, "uakt"));
        p.min_fees.clear();
        assert_eq!(p.default_fee(), Coin::new(0, p.denoms[0].clone()));
        p.denoms.clear();
        assert_eq!(p.default_fee().amount, 0, "no denominations: no panic");
    }
}
