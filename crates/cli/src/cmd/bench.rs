//! `stratus bench ...`: throughput measurements that print `key=value` lines, the last one the
//! headline figure, so scripts under `bench/` can compare against baselines measured in the same run.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::flags::BenchSdl;

/// The same work the TS SDK comparison times: parse YAML, validate, build groups and manifest,
/// hash the manifest.
pub fn sdl(args: &BenchSdl) -> anyhow::Result<ExitCode> {
    let files: Vec<Vec<u8>> = args
        .files
        .iter()
        .map(|f| std::fs::read(f).with_context(|| format!("cannot read {}", f.display())))
        .collect::<anyhow::Result<_>>()?;
    let mut valid = 0usize;
    for f in &files {
        valid += usize::from(stratus_sdl::parse(f).is_valid());
    }
    let start = Instant::now();
    let mut parsed = 0u64;
    while start.elapsed().as_secs_f64() < args.seconds {
        for f in &files {
            std::hint::black_box(stratus_sdl::parse(std::hint::black_box(f)));
        }
        parsed += files.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("sdl_files={} sdl_valid={valid} parsed={parsed} seconds={secs:.3}", files.len());
    println!("files_per_s={:.1}", parsed as f64 / secs);
    Ok(ExitCode::SUCCESS)
}

/// A realistic mix, pipelined: every block, a new cohort of tenants deploys, the previous cohort
/// gets 5 bids each, the one before leases, then two withdrawals, then the deployments close.
/// Everything is signed up front; signature checks are timed on their own (as a mempool does
/// them at admission), then blocks are applied and committed durably (fsync per block).
pub fn ledger(args: &crate::flags::BenchLedger) -> anyhow::Result<ExitCode> {
    use stratus_ledger::{SigCheck, apply_block};
    use stratus_types::block::{Block, BlockHeader};
    use stratus_types::coin::Coin;
    use stratus_types::dec::Dec;
    use stratus_types::group::DecCoin;
    use stratus_types::market::{OrderId, Provider, ProviderInfo};
    use stratus_types::params::{Genesis, GenesisAccount, Params};
    use stratus_types::tx::{Msg, Tx};

    const STAGES: u64 = 6; // deploy, bids, lease, withdraw, withdraw, close
    const TXS_PER_TENANT: u64 = 10;
    let per_block = args.tenants_per_block.max(1);
    let cohorts = args.txs.div_ceil(per_block * TXS_PER_TENANT).max(1);
    let tenants_total = cohorts * per_block;
    let mut tenants: Vec<BenchSigner> = (0..tenants_total).map(|_| BenchSigner::random()).collect();
    let mut providers: Vec<BenchSigner> = (0..5).map(|_| BenchSigner::random()).collect();
    let g100 = bench_group(100)?;

    let mut accounts: Vec<GenesisAccount> = tenants
        .iter()
        .map(|t| GenesisAccount { address: t.address, coins: vec![Coin::new(10_000_000, DENOM)] })
        .collect();
    accounts.extend(
        providers.iter().map(|p| GenesisAccount { address: p.address, coins: vec![Coin::new(1 << 60, DENOM)] }),
    );
    let genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        params: Params::devnet(),
        accounts,
        providers: providers
            .iter()
            .map(|p| Provider {
                owner: p.address,
                host_uri: "https://bench.example:8443".into(),
                attributes: vec![],
                info: ProviderInfo::default(),
            })
            .collect(),
        validators: vec![],
    };

    // Plan: block b holds stage (b - c) of cohort c.
    let blocks_total = cohorts + STAGES - 1;
    let mut planned: Vec<Vec<Tx>> = Vec::with_capacity(blocks_total as usize);
    for b in 0..blocks_total {
        let mut txs = Vec::new();
        for c in b.saturating_sub(STAGES - 1)..=b.min(cohorts - 1) {
            let stage = b - c;
            for t in c * per_block..(c + 1) * per_block {
                let tenant = &mut tenants[t as usize];
                let dseq = 1;
                let order = OrderId { owner: tenant.address, dseq, gseq: 1, oseq: 1 };
                match stage {
                    0 => txs.push(tenant.tx(vec![Msg::CreateDeployment {
                        dseq,
                        groups: vec![g100.clone()],
                        version: [1; 32],
                        deposit: Coin::new(5_000_000, DENOM),
                        gang: false,
                    }])),
                    1 => {
                        for (i, p) in providers.iter_mut().enumerate() {
                            txs.push(p.tx(vec![Msg::CreateBid {
                                order: order.clone(),
                                price: DecCoin::new(DENOM, Dec::from_int(90 - i as u128).unwrap_or_default()),
                                deposit: Coin::new(500_000, DENOM),
                                offer: vec![],
                            }]));
                        }
                    }
                    2 => txs.push(tenant.tx(vec![Msg::CreateLease { bid: order.bid(providers[4].address) }])),
                    3 | 4 => {
                        let lease = order.bid(providers[4].address);
                        txs.push(providers[4].tx(vec![Msg::WithdrawLease { lease }]));
                    }
                    _ => txs.push(tenant.tx(vec![Msg::CloseDeployment { dseq }])),
                }
            }
        }
        planned.push(txs);
    }
    let total_txs: usize = planned.iter().map(Vec::len).sum();

    // Signature checks, batched per block, on every core (a mempool's admission work).
    let start = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all_ok = std::thread::scope(|s| {
        let chunks: Vec<_> = planned.chunks(planned.len().div_ceil(threads).max(1)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| s.spawn(move || chunk.iter().all(|txs| Tx::verify_batch(txs).is_ok())))
            .collect();
        handles.into_iter().all(|h| h.join().unwrap_or(false))
    });
    let sig_secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(all_ok, "a signature failed to verify");
    println!(
        "sig_checks_per_s={:.0} ({total_txs} signatures, {threads} threads, batched)",
        total_txs as f64 / sig_secs
    );

    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let store = std::sync::Arc::new(stratus_store::Store::open(&dir.join("bench.redb"))?);
    store.init(&genesis)?;
    let mut pipeline = stratus_store::Pipeline::new(store)?;

    let start = Instant::now();
    let (mut failed, mut apply_secs, mut submit_secs) = (0usize, 0.0, 0.0);
    for txs in planned {
        let t = Instant::now();
        let (block, outcome) = pipeline.with_head(|state, head| {
            let block = Block {
                header: BlockHeader {
                    chain_id: CHAIN_ID.into(),
                    height: head.height + 1,
                    time_ms: head.height * 1000,
                    prev_app_hash: head.app_hash,
                },
                txs,
            };
            apply_block(state, &block, SigCheck::AlreadyVerified).map(|o| (block, o)).map_err(anyhow::Error::from)
        })?;
        apply_secs += t.elapsed().as_secs_f64();
        failed += outcome.tx_results.iter().filter(|r| r.error.is_some()).count();
        let t = Instant::now();
        pipeline.submit(block, outcome)?;
        submit_secs += t.elapsed().as_secs_f64();
    }
    let t = Instant::now();
    pipeline.flush()?;
    let flush_secs = t.elapsed().as_secs_f64();
    let secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(failed == 0, "{failed} transactions failed; the workload is wrong");
    println!(
        "blocks={blocks_total} txs={total_txs} txs_per_block~{} apply_s={apply_secs:.2} submit_s={submit_secs:.2} last_flush_s={flush_secs:.2} total_s={secs:.2} commit_groups={} (submit: the state mirror updated, or waiting for room in the commit queue; commits overlap execution; blocks that queue are written together, one fsync per group)",
        per_block * TXS_PER_TENANT,
        pipeline.commit_groups(),
    );
    println!("tx_per_s={:.0}", total_txs as f64 / secs);
    Ok(ExitCode::SUCCESS)
}

/// Builds a state with `leases` active leases (transactions applied as already verified, so no
/// signing is needed), then times empty blocks, whose only work is end-of-block settlement
/// (bid expiry, escrow exhaustion), against the same with 10 leases. Escrow settles lazily and
/// only accounts indexed under the current height are visited, so both should cost the same.
pub fn settlement(args: &crate::flags::BenchSettlement) -> anyhow::Result<ExitCode> {
    let small = settlement_state(10)?;
    let large = settlement_state(args.leases)?;
    println!(
        "leases=10 empty_block_us={:.1} reads={} scanned={} writes={}",
        small.0, small.1.reads, small.1.scanned, small.1.writes
    );
    println!(
        "leases={} empty_block_us={:.1} reads={} scanned={} writes={}",
        args.leases, large.0, large.1.reads, large.1.scanned, large.1.writes
    );
    println!("settlement_cost_ratio={:.2}", large.0 / small.0);
    Ok(ExitCode::SUCCESS)
}

fn settlement_state(leases: u64) -> anyhow::Result<(f64, stratus_ledger::AccessCounts)> {
    use stratus_ledger::{MemState, SigCheck, apply_block, genesis};
    use stratus_types::address::Address;
    use stratus_types::block::{Block, BlockHeader};
    use stratus_types::coin::Coin;
    use stratus_types::dec::Dec;
    use stratus_types::group::DecCoin;
    use stratus_types::market::{OrderId, Provider, ProviderInfo};
    use stratus_types::params::{Genesis, GenesisAccount, Params};
    use stratus_types::tx::{Msg, Tx, TxBody};

    let tenant_key = [1u8; 32];
    let provider_key = [2u8; 32];
    let tenant = Address::from_public_key(&tenant_key);
    let provider = Address::from_public_key(&provider_key);
    let params = Params { deployment_min_deposit: vec![], bid_min_deposit: vec![], ..Params::devnet() };
    let g = Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        params,
        accounts: vec![GenesisAccount { address: tenant, coins: vec![Coin::new(1 << 100, DENOM)] }],
        providers: vec![Provider {
            owner: provider,
            host_uri: "https://p.example".into(),
            attributes: vec![],
            info: ProviderInfo::default(),
        }],
        validators: vec![],
    };
    let (changes, mut hash) = genesis(&g)?;
    let mut mem = MemState::default();
    mem.apply(&changes);
    // Unsigned: applied as already verified, which is what this measurement needs.
    let tx = |key: [u8; 32], sequence: u64, msg: Msg| Tx {
        body: TxBody {
            chain_id: CHAIN_ID.into(),
            sequence,
            fee: Coin::new(0, DENOM),
            memo: String::new(),
            msgs: vec![msg],
        },
        public_key: key,
        signature: [0; 64],
    };
    let (mut height, mut tenant_seq, mut provider_seq) = (0u64, 0u64, 0u64);
    let g10 = bench_group(10)?;
    let chunk = 50_000u64;
    let mut run = |mem: &mut MemState,
                   txs: Vec<Tx>,
                   hash: &mut [u8; 32]|
     -> anyhow::Result<stratus_ledger::BlockOutcome> {
        height += 1;
        let block =
            Block { header: BlockHeader { chain_id: CHAIN_ID.into(), height, time_ms: 0, prev_app_hash: *hash }, txs };
        let outcome = apply_block(mem, &block, SigCheck::AlreadyVerified)?;
        anyhow::ensure!(
            outcome.tx_results.iter().all(|r| r.error.is_none()),
            "setup transaction failed: {:?}",
            outcome.tx_results.iter().find_map(|r| r.error.clone())
        );
        mem.apply(&outcome.changes);
        *hash = outcome.app_hash;
        Ok(outcome)
    };
    for start in (1..=leases).step_by(chunk as usize) {
        let end = (start + chunk).min(leases + 1);
        let mut txs = Vec::new();
        for dseq in start..end {
            txs.push(tx(
                tenant_key,
                tenant_seq,
                Msg::CreateDeployment {
                    dseq,
                    groups: vec![g10.clone()],
                    version: [1; 32],
                    deposit: Coin::new(1_000_000_000, DENOM),
                    gang: false,
                },
            ));
            tenant_seq += 1;
        }
        run(&mut mem, txs, &mut hash)?;
        let mut txs = Vec::new();
        for dseq in start..end {
            let order = OrderId { owner: tenant, dseq, gseq: 1, oseq: 1 };
            txs.push(tx(
                provider_key,
                provider_seq,
                Msg::CreateBid {
                    order,
                    price: DecCoin::new(DENOM, Dec::from_int(5).unwrap_or_default()),
                    deposit: Coin::new(0, DENOM),
                    offer: vec![],
                },
            ));
            provider_seq += 1;
        }
        run(&mut mem, txs, &mut hash)?;
        let mut txs = Vec::new();
        for dseq in start..end {
            let bid = OrderId { owner: tenant, dseq, gseq: 1, oseq: 1 }.bid(provider);
            txs.push(tx(tenant_key, tenant_seq, Msg::CreateLease { bid }));
            tenant_seq += 1;
        }
        run(&mut mem, txs, &mut hash)?;
    }
    // Empty blocks: the per-block cost with this many active leases.
    let rounds = 200;
    let start = Instant::now();
    let mut counts = stratus_ledger::AccessCounts::default();
    for _ in 0..rounds {
        counts = run(&mut mem, Vec::new(), &mut hash)?.counts;
    }
    Ok((start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds), counts))
}

/// Best-fit against greedy first-fit on the same churning request stream, several seeds.
pub fn packing(args: &crate::flags::BenchPacking) -> anyhow::Result<ExitCode> {
    use crate::cmd::packing::{Scenario, simulate};
    use stratus_provider::pure::inventory::Strategy;
    let (mut ours, mut greedy, mut ours_gpus, mut greedy_gpus) = (0u64, 0u64, 0u64, 0u64);
    for seed in 1..=args.seeds {
        let s = Scenario {
            gpu_nodes: args.gpu_nodes,
            cpu_nodes: args.cpu_nodes,
            steps: args.steps,
            departure_pct: args.departure_pct,
            seed,
        };
        let b = simulate(&s, Strategy::BestFit);
        let f = simulate(&s, Strategy::FirstFit);
        println!(
            "seed={seed} requests={} best_fit_replicas={} first_fit_replicas={} best_fit_gpus={} first_fit_gpus={}",
            b.requests, b.placed_replicas, f.placed_replicas, b.placed_gpus, f.placed_gpus
        );
        ours += b.placed_replicas;
        greedy += f.placed_replicas;
        ours_gpus += b.placed_gpus;
        greedy_gpus += f.placed_gpus;
    }
    println!("gpu_ratio={:.3}", ours_gpus as f64 / greedy_gpus.max(1) as f64);
    println!("packing_ratio={:.3}", ours as f64 / greedy.max(1) as f64);
    Ok(ExitCode::SUCCESS)
}

/// The benchmarks' in-memory chain (never a real network's).
const CHAIN_ID: &str = "stratus-bench";
const DENOM: &str = "uact";

/// A fresh random key (no one else can derive it) and its next sequence.
struct BenchSigner {
    key: ed25519_dalek::SigningKey,
    address: stratus_types::address::Address,
    sequence: u64,
}

impl BenchSigner {
    fn random() -> BenchSigner {
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let address = stratus_types::address::Address::from_public_key(&key.verifying_key().to_bytes());
        BenchSigner { key, address, sequence: 0 }
    }

    fn tx(&mut self, msgs: Vec<stratus_types::tx::Msg>) -> stratus_types::tx::Tx {
        let body = stratus_types::tx::TxBody {
            chain_id: CHAIN_ID.into(),
            sequence: self.sequence,
            fee: stratus_types::coin::Coin::new(0, DENOM),
            memo: String::new(),
            msgs,
        };
        self.sequence += 1;
        stratus_types::tx::Tx::sign(body, &self.key)
    }
}

/// One group of one 1-CPU, 1 GiB replica at `price` uact per block, as the SDL parser builds it.
fn bench_group(price: u32) -> anyhow::Result<stratus_types::group::GroupSpec> {
    let text = format!(
        "version: \"2.0\"\nservices:\n  g:\n    image: nginx\n    expose:\n      - port: 80\n        to:\n          - global: true\nprofiles:\n  compute:\n    g:\n      resources:\n        cpu:\n          units: 1\n        memory:\n          size: 1Gi\n        storage:\n          size: 1Gi\n  placement:\n    g:\n      pricing:\n        g:\n          denom: {DENOM}\n          amount: {price}\ndeployment:\n  g:\n    g:\n      profile: g\n      count: 1\n"
    );
    let parsed = stratus_sdl::parse(text.as_bytes());
    parsed.sdl.and_then(|s| s.groups.into_iter().next()).ok_or_else(|| anyhow::anyhow!("the bench SDL does not parse"))
}
