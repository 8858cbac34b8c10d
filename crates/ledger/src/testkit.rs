//! Helpers for tests and benchmarks: deterministic keys, an in-memory chain, sample groups.
//! Real signatures and real state transitions; only storage is in memory.

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use stratus_types::address::Address;
use stratus_types::attributes::Attribute;
use stratus_types::block::{Block, BlockEvent, BlockHeader, TxResult};
use stratus_types::coin::Coin;
use stratus_types::dec::Dec;
use stratus_types::group::{DecCoin, GroupSpec, PlacementRequirements, ResourceUnit};
use stratus_types::market::ProviderInfo;
use stratus_types::params::{Genesis, GenesisAccount, Params};
use stratus_types::resources::{Cpu, Gpu, Memory, ResourceValue, Resources, Storage};
use stratus_types::tx::{Msg, Tx, TxBody};

use crate::apply::{SigCheck, apply_block, genesis};
use crate::check_invariants;
use crate::state::MemState;

pub const CHAIN_ID: &str = "stratus-test";
pub const DENOM: &str = "uact";

/// A key pair with its address and the next sequence number to sign with.
#[derive(Clone)]
pub struct Actor {
    pub key: SigningKey,
    pub address: Address,
    pub sequence: u64,
}

impl Actor {
    /// A deterministic actor named `name`.
    pub fn new(name: &str) -> Actor {
        let seed: [u8; 32] = Sha256::digest(name.as_bytes()).into();
        let key = SigningKey::from_bytes(&seed);
        let address = Address::from_public_key(&key.verifying_key().to_bytes());
        Actor { key, address, sequence: 0 }
    }

    /// Signs `msgs` with the next sequence (and advances it).
    pub fn tx(&mut self, msgs: Vec<Msg>) -> Tx {
        let body = TxBody {
            chain_id: CHAIN_ID.into(),
            sequence: self.sequence,
            fee: Coin::new(0, DENOM),
            memo: String::new(),
            msgs,
        };
        self.sequence += 1;
        Tx::sign(body, &self.key)
    }
}

/// A one-group spec: `count` replicas of 1 CPU, 1 GiB, 1 GiB disk, optional GPUs, at `price`.
pub fn group(name: &str, price: u128, count: u32, gpu: Option<(u64, &str)>) -> GroupSpec {
    let gpu = match gpu {
        Some((units, model)) => Gpu {
            attributes: vec![Attribute::new(format!("vendor/nvidia/model/{model}"), "true")],
            units: ResourceValue(units),
        },
        None => Gpu::default(),
    };
    GroupSpec {
        name: name.into(),
        requirements: PlacementRequirements::default(),
        resources: vec![ResourceUnit {
            resources: Resources {
                cpu: Some(Cpu { attributes: vec![], units: ResourceValue(1000) }),
                endpoints: vec![],
                gpu: Some(gpu),
                id: 1,
                memory: Some(Memory { attributes: vec![], quantity: ResourceValue(1 << 30) }),
                storage: vec![Storage { attributes: vec![], name: "default".into(), quantity: ResourceValue(1 << 30) }],
            },
            count,
            price: DecCoin::new(DENOM, Dec::from_int(price).unwrap_or_default()),
        }],
    }
}

pub fn provider_msg(gpus: &[&str]) -> Msg {
    let mut attributes = vec![Attribute::new("region", "us-west")];
    for g in gpus {
        attributes.push(Attribute::new(format!("capabilities/gpu/vendor/nvidia/model/{g}"), "true"));
    }
    Msg::CreateProvider { host_uri: "https://provider.test:8443".into(), attributes, info: ProviderInfo::default() }
}

/// A chain in memory that checks every invariant after every block.
pub struct TestChain {
    pub state: MemState,
    pub height: u64,
    pub app_hash: [u8; 32],
    pub events: Vec<BlockEvent>,
    pub check_invariants: bool,
}

impl TestChain {
    /// Genesis with `params` and each actor funded with `funds` of the test denomination.
    pub fn new(params: Params, funded: &[&Actor], funds: u128) -> TestChain {
        let g = Genesis {
            chain_id: CHAIN_ID.into(),
            genesis_time_ms: 0,
            params,
            accounts: funded
                .iter()
                .map(|a| GenesisAccount { address: a.address, coins: vec![Coin::new(funds, DENOM)] })
                .collect(),
            providers: Vec::new(),
            validators: Vec::new(),
        };
        let (changes, app_hash) = genesis(&g).unwrap_or_else(|e| panic!("genesis: {e}"));
        let mut state = MemState::default();
        state.apply(&changes);
        TestChain { state, height: 0, app_hash, events: Vec::new(), check_invariants: true }
    }

    /// Applies a block holding `txs`; returns each transaction's result.
    pub fn block(&mut self, txs: Vec<Tx>) -> Vec<TxResult> {
        self.height += 1;
        let block = Block {
            header: BlockHeader {
                chain_id: CHAIN_ID.into(),
                height: self.height,
                time_ms: self.height * 1000,
                prev_app_hash: self.app_hash,
            },
            txs,
        };
        let outcome =
            apply_block(&self.state, &block, SigCheck::Verify).unwrap_or_else(|e| panic!("block {}: {e}", self.height));
        self.state.apply(&outcome.changes);
        self.app_hash = outcome.app_hash;
        self.events = outcome.events;
        if self.check_invariants
            && let Err(errors) = check_invariants(&self.state)
        {
            panic!("invariants broken after block {}:\n{}", self.height, errors.join("\n"));
        }
        outcome.tx_results
    }

    /// Applies one transaction in its own block and returns its error, if any.
    pub fn run(&mut self, tx: Tx) -> Option<String> {
        self.block(vec![tx]).pop().and_then(|r| r.error)
    }

    /// Empty blocks until `height`.
    pub fn advance_to(&mut self, height: u64) {
        while self.height < height {
            self.block(Vec::new());
        }
    }

    pub fn get<T: borsh::BorshDeserialize>(&self, key: &[u8]) -> Option<T> {
        self.state.entries.get(key).and_then(|v| borsh::from_slice(v).ok())
    }

    pub fn balance(&self, addr: &Address) -> u128 {
        self.get(&crate::keys::balance(addr, DENOM)).unwrap_or(0)
    }
}
