//! `stratus node init`: a genesis and a config in a fresh home.

use std::path::Path;

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use stratus_client::keys::{Backend, Keyring, Secret, generate_mnemonic};
use stratus_types::address::Address;
use stratus_types::coin::Coin;
use stratus_types::params::{Genesis, GenesisAccount, GenesisValidator, Params};

use crate::config::{EngineKind, FaucetConfig, Home, NodeConfig};

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
    /// A BFT chain's validator set (empty: a solo chain).
    pub validators: Vec<GenesisValidator>,
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
        validators: opts.validators,
    };
    // Fail now, not at first start, if the ledger refuses this genesis.
    stratus_ledger::genesis(&genesis).map_err(|e| anyhow::anyhow!("genesis is invalid: {e}"))?;
    home.write(&config, &genesis)?;
    if !home.validator_key_path().exists() {
        home.write_validator_key(&SigningKey::generate(&mut rand_core::OsRng))?;
    }
    Ok(InitReport { accounts, faucet, genesis })
}

/// Voting power of each testnet validator (equal: any 3 of 4 make a quorum).
pub const TESTNET_POWER: u64 = 10;

/// One testnet validator's ports: libp2p on `base + 2i`, the API on `base + 2i + 1`.
pub fn testnet_ports(base_port: u16, index: usize) -> anyhow::Result<(u16, u16)> {
    let p2p = u16::try_from(usize::from(base_port) + 2 * index)
        .ok()
        .filter(|p| p.checked_add(1).is_some())
        .with_context(|| format!("--base-port {base_port}: validator {index}'s ports pass 65535"))?;
    Ok((p2p, p2p + 1))
}

/// `stratus node init --testnet N`: `dir/v0 … dir/v{N-1}`, each a node home with the shared
/// genesis (listing all N validators), its own validator key, and the others as its peers on
/// 127.0.0.1. Accounts and the faucet key go to `v0`'s keyring; only `v0` serves the faucet.
pub fn testnet(dir: &Path, validators: usize, base_port: u16, opts: InitOptions) -> anyhow::Result<InitReport> {
    if validators == 0 {
        bail!("--testnet needs at least 1 validator");
    }
    let members = (0..validators)
        .map(|i| Ok((dir.join(format!("v{i}")), testnet_ports(base_port, i)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    init_validators(&members, opts)
}

/// Validator homes for one BFT chain: `members[i]` is validator i's home and its (libp2p, API)
/// ports on 127.0.0.1. The first home gets the keyring (accounts, faucet) and is the one
/// [`init`] writes; the others get the same genesis and their own config and key.
pub fn init_validators(members: &[(std::path::PathBuf, (u16, u16))], opts: InitOptions) -> anyhow::Result<InitReport> {
    let homes: Vec<Home> = members.iter().map(|(dir, _)| Home::new(dir)).collect();
    let Some(first) = homes.first() else { bail!("a BFT chain needs at least 1 validator") };
    for h in &homes {
        if h.is_initialized() {
            bail!("{} already holds a node; use another --home", h.dir.display());
        }
    }
    let n = homes.len();
    let keys: Vec<SigningKey> = (0..n).map(|_| SigningKey::generate(&mut rand_core::OsRng)).collect();
    let p2p = |i: usize| format!("/ip4/127.0.0.1/tcp/{}", members[i].1.0);
    let api = |i: usize| format!("http://127.0.0.1:{}", members[i].1.1);
    let config_for = |i: usize, template: &NodeConfig| {
        let mut c = template.clone();
        c.api_addr = std::net::SocketAddr::from(([127, 0, 0, 1], members[i].1.1));
        c.consensus.engine = EngineKind::Bft;
        c.consensus.p2p_listen = p2p(i);
        c.consensus.peers = (0..n).filter(|j| *j != i).map(p2p).collect();
        c.consensus.peer_apis = (0..n).filter(|j| *j != i).map(api).collect();
        c
    };
    let genesis_validators: Vec<GenesisValidator> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| GenesisValidator {
            name: format!("v{i}"),
            public_key: k.verifying_key().to_bytes(),
            power: TESTNET_POWER,
        })
        .collect();
    let template = opts.config.clone();
    first.write_validator_key(&keys[0])?;
    let report =
        init(&first.dir, InitOptions { config: config_for(0, &template), validators: genesis_validators, ..opts })?;
    for (i, home) in homes.iter().enumerate().skip(1) {
        let mut config = config_for(i, &template);
        config.faucet = None;
        home.write(&config, &report.genesis)?;
        home.write_validator_key(&keys[i])?;
    }
    Ok(report)
}
