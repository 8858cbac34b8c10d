//! `stratus node init`: a genesis and a config in a fresh home.

use std::path::Path;

use anyhow::{Context, bail};
use stratus_client::keys::{Backend, Keyring, Secret, generate_mnemonic};
use stratus_types::address::Address;
use stratus_types::coin::Coin;
use stratus_types::params::{Genesis, GenesisAccount, Params};

use crate::config::{FaucetConfig, Home, NodeConfig};

pub struct InitOptions {
    pub chain_id: String,
    /// `(address or key name, coins)`: a key name not in the home's keyring is created there
    /// with the unencrypted `test` backend (devnets).
    pub accounts: Vec<(String, Vec<Coin>)>,
    /// Enables the faucet, granting this per request.
    pub faucet_grant: Option<Vec<Coin>>,
    pub config: NodeConfig,
    pub params: Params,
    pub genesis_time_ms: u64,
}

/// A funded account, and its mnemonic when `init` created the key.
pub struct CreatedAccount {
    pub name: String,
    pub address: Address,
    pub mnemonic: Option<String>,
}

pub struct InitReport {
    pub accounts: Vec<CreatedAccount>,
    pub faucet: Option<Address>,
    pub genesis: Genesis,
}

/// What the faucet account holds at genesis: enough for a million grants.
const FAUCET_GRANTS: u128 = 1_000_000;

fn key_address(keyring: &Keyring, name: &str) -> anyhow::Result<(Address, Option<String>)> {
    if let Ok(info) = keyring.show(name) {
        return Ok((info.address, None));
    }
    let mnemonic = generate_mnemonic();
    let info = keyring.add(name, &Secret::Mnemonic(mnemonic.clone()), Backend::Test, None)?;
    Ok((info.address, Some(mnemonic)))
}

pub fn init(home: &Path, opts: InitOptions) -> anyhow::Result<InitReport> {
    let home = Home::new(home);
    if home.is_initialized() {
        bail!("{} already holds a node (config.toml and genesis.json); use another --home", home.dir.display());
    }
    if opts.chain_id.is_empty() || !opts.chain_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("chain id {:?}: use letters, digits, '-' and '_'", opts.chain_id);
    }
    let keyring = Keyring::new(&home.dir);
    let mut accounts = Vec::new();
    let mut genesis_accounts: Vec<GenesisAccount> = Vec::new();
    let mut fund = |address: Address, coins: Vec<Coin>| {
        for c in &coins {
            if !opts.params.denoms.contains(&c.denom) {
                bail!("{c}: the chain's denominations are {}", opts.params.denoms.join(", "));
            }
        }
        match genesis_accounts.iter_mut().find(|a| a.address == address) {
            Some(a) => a.coins.extend(coins),
            None => genesis_accounts.push(GenesisAccount { address, coins }),
        }
        Ok(())
    };
    for (name, coins) in opts.accounts {
        let (address, mnemonic) = match name.parse::<Address>() {
            Ok(a) => (a, None),
            Err(_) => key_address(&keyring, &name).with_context(|| format!("account {name}"))?,
        };
        fund(address, coins)?;
        accounts.push(CreatedAccount { name, address, mnemonic });
    }
    let mut config = opts.config;
    let mut faucet = None;
    if let Some(grant) = opts.faucet_grant {
        if grant.is_empty() {
            bail!("--faucet needs at least one coin, e.g. 1000000000uact");
        }
        let (address, _) = key_address(&keyring, "faucet")?;
        let funds = grant.iter().map(|c| Coin::new(c.amount.saturating_mul(FAUCET_GRANTS), c.denom.clone())).collect();
        fund(address, funds)?;
        config.faucet = Some(FaucetConfig { key: "faucet".into(), grant });
        faucet = Some(address);
    }
    let genesis = Genesis {
        chain_id: opts.chain_id,
        genesis_time_ms: opts.genesis_time_ms,
        params: opts.params,
        accounts: genesis_accounts,
        providers: Vec::new(),
    };
    // Fail now, not at first start, if the ledger refuses this genesis.
    stratus_ledger::genesis(&genesis).map_err(|e| anyhow::anyhow!("genesis is invalid: {e}"))?;
    home.write(&config, &genesis)?;
    Ok(InitReport { accounts, faucet, genesis })
}
