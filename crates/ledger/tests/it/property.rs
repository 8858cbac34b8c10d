//! Random message sequences against the invariants.
//!
//! Each case drives a chain with a seeded generator that knows the live ids (orders, bids,
//! leases, deployments), so most messages are meaningful, and some are deliberately wrong
//! (wrong signer, excessive amounts, stale ids). After every block every invariant is checked
//! (`TestChain`). The normal run applies 100,000 messages; `STRATUS_LEDGER_MESSAGES=1000000 cargo
//! test --release -p stratus-ledger --test it` runs a million.

use stratus_ledger::keys;
use stratus_ledger::testkit::{Actor, DENOM, TestChain, group, provider_msg};
use stratus_types::address::Address;
use stratus_types::attributes::Attribute;
use stratus_types::coin::Coin;
use stratus_types::dec::Dec;
use stratus_types::group::{DecCoin, SignedBy};
use stratus_types::market::{Bid, BidId, BidState, CloseReason, DeploymentId, Lease, LeaseState, OrderId};
use stratus_types::params::{Params, TakeRate};
use stratus_types::tx::Msg;

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() { None } else { items.get(self.below(items.len() as u64) as usize) }
    }
}

struct Sim {
    chain: TestChain,
    rng: Rng,
    tenants: Vec<Actor>,
    providers: Vec<Actor>,
    auditor: Actor,
    messages: u64,
    succeeded: u64,
    /// Deployment sequence numbers handed out so far (new deployments take fresh ones, so the
    /// market stays busy however long the run).
    next_dseq: u64,
}

const GPUS: [&str; 4] = ["a100", "h100", "rtx4090", "nvidia-a100"];

impl Sim {
    fn new(seed: u64) -> Sim {
        let tenants: Vec<Actor> = (0..4).map(|i| Actor::new(&format!("tenant-{i}"))).collect();
        let mut providers: Vec<Actor> = (0..4).map(|i| Actor::new(&format!("provider-{i}"))).collect();
        let auditor = Actor::new("auditor");
        let params = Params {
            denoms: vec![DENOM.into()],
            deployment_min_deposit: vec![Coin::new(1_000, DENOM)],
            bid_min_deposit: vec![Coin::new(100, DENOM)],
            order_max_bids: 3,
            bid_ttl_blocks: 7,
            gang_timeout_blocks: 12,
            take_rates: vec![TakeRate { denom: DENOM.into(), bps: 250 }],
            ..Params::devnet()
        };
        let funded: Vec<&Actor> = tenants.iter().chain(providers.iter()).chain([&auditor]).collect();
        let mut chain = TestChain::new(params, &funded, 10_000_000);
        let registrations =
            providers.iter_mut().enumerate().map(|(i, p)| p.tx(vec![provider_msg(&GPUS[i % 3..=i % 3 + 1])])).collect();
        assert!(chain.block(registrations).iter().all(|r| r.error.is_none()));
        Sim { chain, rng: Rng(seed), tenants, providers, auditor, messages: 0, succeeded: 0, next_dseq: 1 }
    }

    fn ids<T: borsh::BorshDeserialize>(&self, prefix: &[u8]) -> Vec<T> {
        self.chain
            .state
            .entries
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(_, v)| borsh::from_slice(v).ok())
            .collect()
    }

    fn open_orders(&self) -> Vec<OrderId> {
        self.chain
            .state
            .entries
            .range(keys::OPEN_ORDER.to_vec()..)
            .take_while(|(k, _)| k.starts_with(keys::OPEN_ORDER))
            .filter_map(|(k, _)| keys::parse_order_suffix(&k[keys::OPEN_ORDER.len()..]))
            .collect()
    }

    fn tenant_index(&self, addr: &Address) -> Option<usize> {
        self.tenants.iter().position(|t| t.address == *addr)
    }

    fn provider_index(&self, addr: &Address) -> Option<usize> {
        self.providers.iter().position(|p| p.address == *addr)
    }

    /// A recent deployment sequence number (recent ones are the live ones).
    fn dseq(&mut self) -> u64 {
        self.next_dseq.saturating_sub(self.rng.below(30))
    }

    fn amount(&mut self, typical: u128) -> u128 {
        match self.rng.below(10) {
            0 => 0,
            1 => u128::from(self.rng.next()) * 1_000_000,
            _ => 1 + u128::from(self.rng.below(typical as u64)),
        }
    }

    /// One random message and who signs it.
    fn message(&mut self) -> (Actor, Msg) {
        let t = self.rng.below(self.tenants.len() as u64) as usize;
        let p = self.rng.below(self.providers.len() as u64) as usize;
        let tenant = self.tenants[t].clone();
        let provider = self.providers[p].clone();
        match self.rng.below(16) {
            0 => {
                // Recipients: every known account, the module accounts included (a send into the
                // escrow module once broke its invariant unseen).
                let to = match self.rng.below(4) {
                    0 => stratus_ledger::escrow_module(),
                    1 => stratus_ledger::community_pool(),
                    2 => self.tenants[(t + 1) % self.tenants.len()].address,
                    _ => self.providers[p].address,
                };
                let amount = self.amount(10_000);
                (tenant, Msg::Send { to, amount: Coin::new(amount, DENOM) })
            }
            1..=3 => {
                let groups = (0..1 + self.rng.below(2))
                    .map(|i| {
                        let gpu =
                            self.rng.chance(40).then(|| (1 + self.rng.below(2), GPUS[self.rng.below(4) as usize]));
                        let mut g = group(
                            &format!("g{i}"),
                            1 + u128::from(self.rng.below(50)),
                            1 + self.rng.below(3) as u32,
                            gpu,
                        );
                        if self.rng.chance(10) {
                            g.requirements.attributes = vec![Attribute::new("tier", "gold")];
                            g.requirements.signed_by =
                                SignedBy { all_of: None, any_of: Some(vec![self.auditor.address.to_string()]) };
                        }
                        g
                    })
                    .collect();
                let deposit = if self.rng.chance(10) { 10 } else { 1_000 + u128::from(self.rng.below(20_000)) };
                let dseq = if self.rng.chance(80) {
                    self.next_dseq += 1;
                    self.next_dseq
                } else {
                    self.dseq()
                };
                (
                    tenant,
                    Msg::CreateDeployment {
                        dseq,
                        groups,
                        version: [self.rng.below(3) as u8; 32],
                        deposit: Coin::new(deposit, DENOM),
                        // Some all-or-nothing deployments, whose short deadline often passes.
                        gang: self.rng.chance(25),
                    },
                )
            }
            4..=6 => {
                let Some(order) = self.rng.pick(&self.open_orders()).cloned() else {
                    return (tenant, Msg::CloseDeployment { dseq: 0 });
                };
                let max = self
                    .chain
                    .get::<stratus_types::market::Group>(&keys::group(&order.group()))
                    .and_then(|g| g.spec.max_price())
                    .unwrap_or_default();
                let price = match self.rng.below(5) {
                    0 => max.checked_add(Dec::ONE).unwrap_or(max),
                    1 => Dec::from_raw(max.raw() / 3 + 1),
                    _ => Dec::from_raw(1 + u128::from(self.rng.next()) % max.raw().max(1)),
                };
                let deposit = if self.rng.chance(5) { 1 } else { 100 };
                (
                    provider,
                    Msg::CreateBid {
                        order,
                        price: DecCoin::new(DENOM, price),
                        deposit: Coin::new(deposit, DENOM),
                        offer: vec![],
                    },
                )
            }
            7..=8 => {
                let open: Vec<BidId> = self
                    .ids::<Bid>(keys::BID)
                    .into_iter()
                    .filter(|b| b.state == BidState::Open)
                    .map(|b| b.id)
                    .collect();
                let Some(bid) = self.rng.pick(&open).cloned() else {
                    return (tenant, Msg::CloseDeployment { dseq: 1 });
                };
                let signer = if self.rng.chance(90) { self.tenant_index(&bid.owner).unwrap_or(t) } else { t };
                (self.tenants[signer].clone(), Msg::CreateLease { bid })
            }
            9 => {
                let leases: Vec<Lease> = self.ids(keys::LEASE);
                let Some(lease) = self.rng.pick(&leases).cloned() else {
                    return (provider, Msg::CloseDeployment { dseq: 2 });
                };
                let signer = self.provider_index(&lease.id.provider).unwrap_or(p);
                (self.providers[signer].clone(), Msg::WithdrawLease { lease: lease.id })
            }
            10 => {
                let leases: Vec<Lease> =
                    self.ids::<Lease>(keys::LEASE).into_iter().filter(|l| l.state == LeaseState::Active).collect();
                let Some(lease) = self.rng.pick(&leases).cloned() else {
                    return (tenant, Msg::CloseDeployment { dseq: 3 });
                };
                let signer = self.tenant_index(&lease.id.owner).unwrap_or(t);
                (self.tenants[signer].clone(), Msg::CloseLease { lease: lease.id })
            }
            11 => {
                let bids: Vec<Bid> = self.ids(keys::BID);
                let Some(bid) = self.rng.pick(&bids).cloned() else {
                    return (provider, Msg::CloseDeployment { dseq: 4 });
                };
                let signer = self.provider_index(&bid.id.provider).unwrap_or(p);
                let reason = *self
                    .rng
                    .pick(&[CloseReason::Unstable, CloseReason::Unspecified, CloseReason::ManifestTimeout])
                    .unwrap_or(&CloseReason::Unspecified);
                (self.providers[signer].clone(), Msg::CloseBid { bid: bid.id, reason })
            }
            12 => {
                let amount = self.amount(30_000);
                let dep = DeploymentId { owner: tenant.address, dseq: self.dseq() };
                (
                    self.tenants[self.rng.below(4) as usize].clone(),
                    Msg::DepositDeployment { deployment: dep, amount: Coin::new(amount, DENOM) },
                )
            }
            13 => {
                let dseq = self.dseq();
                let gseq = 1 + self.rng.below(2) as u32;
                let msg = match self.rng.below(4) {
                    0 => Msg::CloseDeployment { dseq },
                    1 => Msg::CloseGroup { dseq, gseq },
                    2 => Msg::PauseGroup { dseq, gseq },
                    _ => Msg::StartGroup { dseq, gseq },
                };
                (tenant, msg)
            }
            14 => {
                let msg = if self.rng.chance(70) {
                    Msg::SignProviderAttributes {
                        provider: provider.address,
                        attributes: vec![Attribute::new("tier", "gold")],
                    }
                } else {
                    Msg::DeleteProviderAttributes { provider: provider.address, keys: vec![] }
                };
                (self.auditor.clone(), msg)
            }
            _ => (tenant, Msg::UpdateDeployment { dseq: self.dseq(), version: [self.rng.below(4) as u8; 32] }),
        }
    }

    fn step(&mut self) {
        // Sometimes an empty stretch so bids expire and escrow runs out.
        if self.rng.chance(10) {
            let to = self.chain.height + 1 + self.rng.below(10);
            self.chain.advance_to(to);
            return;
        }
        let mut txs = Vec::new();
        for _ in 0..1 + self.rng.below(40) {
            let (actor, msg) = self.message();
            // Sign with the sequence the chain will expect once earlier txs in this block apply.
            let mut signer = actor;
            let account: Option<stratus_types::market::AccountState> = self.chain.get(&keys::account(&signer.address));
            let in_block =
                txs.iter().filter(|tx: &&stratus_types::tx::Tx| tx.signer() == signer.address).count() as u64;
            signer.sequence = account.map_or(0, |a| a.sequence) + in_block;
            txs.push(signer.tx(vec![msg]));
        }
        self.messages += txs.len() as u64;
        let results = self.chain.block(txs);
        self.succeeded += results.iter().filter(|r| r.error.is_none()).count() as u64;
    }
}

fn target() -> u64 {
    std::env::var("STRATUS_LEDGER_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

#[test]
fn random_message_sequences_keep_every_invariant() {
    let target = target();
    let seeds = 25;
    let (mut messages, mut succeeded) = (0, 0);
    for seed in 0..seeds {
        let mut sim = Sim::new(seed);
        while sim.messages < target / seeds {
            sim.step();
        }
        messages += sim.messages;
        succeeded += sim.succeeded;
    }
    println!("applied {messages} random messages over {seeds} seeds; {succeeded} succeeded");
    assert!(messages >= target);
    // The generator must exercise real transitions, not only failures.
    assert!(succeeded * 4 > messages, "only {succeeded} of {messages} messages succeeded");
}
