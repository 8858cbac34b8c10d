//! `stratus bench load`: drives a running node's HTTP API from this process, as clients would.
//!
//! `--accounts` accounts (derived deterministically and funded first from `--from`) each submit
//! transfers in a closed loop with `?wait=commit`, one in flight per account. Throughput counts the
//! commits answered inside the measuring window (after a warm-up); latency is the time from
//! sending a transaction to the answer that its block is durably committed.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use stratus_types::coin::Coin;
use stratus_types::tx::{Msg, Tx, TxBody};

use crate::cmd::ctx::{Ctx, client_error};
use crate::flags::BenchLoad;

/// Funding transfers per transaction (well under the size limit).
const FUND_BATCH: usize = 1000;

struct Sample {
    done_at: Duration,
    latency: Duration,
}

/// One load account.
struct Loader {
    key: ed25519_dalek::SigningKey,
    address: stratus_types::address::Address,
    sequence: u64,
}

impl Loader {
    fn generate() -> Loader {
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let address = stratus_types::address::Address::from_public_key(&key.verifying_key().to_bytes());
        Loader { key, address, sequence: 0 }
    }
}

pub fn load(ctx: &Ctx, args: &BenchLoad) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("runtime")?;
    rt.block_on(run(ctx, args))
}

async fn run(ctx: &Ctx, args: &BenchLoad) -> anyhow::Result<ExitCode> {
    let client = ctx.client();
    let status = client.status().await.map_err(client_error)?;
    let params = client.params().await.map_err(client_error)?;
    let denom = params.denoms.iter().find(|d| *d == "uact").unwrap_or(&params.denoms[0]).clone();
    // Fresh random keys every run: keys derived from public strings could be spent by anyone who
    // reads this code, on any chain where a run funded them.
    let actors: Vec<Loader> = (0..args.accounts).map(|_| Loader::generate()).collect();
    eprintln!("funding {} accounts from {}", actors.len(), ctx.signer_address()?);
    for chunk in actors.chunks(FUND_BATCH) {
        let msgs =
            chunk.iter().map(|a| Msg::Send { to: a.address, amount: Coin::new(1_000_000, denom.clone()) }).collect();
        ctx.broadcast(msgs).await?;
    }
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().context("http client")?;
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let start = Instant::now();
    let deadline = Duration::from_secs_f64(args.warmup + args.seconds);
    let mut tasks = Vec::new();
    let nodes = if args.nodes.is_empty() { vec![ctx.node.clone()] } else { args.nodes.clone() };
    for (n, mut actor) in actors.into_iter().enumerate() {
        let (http, samples, errors) = (http.clone(), Arc::clone(&samples), Arc::clone(&errors));
        let url = format!("{}/txs?wait=commit", nodes[n % nodes.len()].trim_end_matches('/'));
        let (chain_id, denom) = (status.chain_id.clone(), denom.clone());
        tasks.push(tokio::spawn(async move {
            let to = actor.address;
            while start.elapsed() < deadline {
                let body = TxBody {
                    chain_id: chain_id.clone(),
                    sequence: actor.sequence,
                    fee: Coin::new(0, denom.clone()),
                    memo: String::new(),
                    msgs: vec![Msg::Send { to, amount: Coin::new(1, denom.clone()) }],
                };
                let tx = Tx::sign(body, &actor.key);
                let sent = Instant::now();
                let answer = http
                    .post(&url)
                    .json(&serde_json::json!({ "tx": hex::encode(tx.to_bytes()) }))
                    .send()
                    .await
                    .and_then(|r| r.error_for_status());
                match answer {
                    Ok(r) => {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        if v["committed"] == true && v.get("error").is_none() {
                            let s = Sample { done_at: start.elapsed(), latency: sent.elapsed() };
                            samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(s);
                            actor.sequence += 1;
                        } else {
                            errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(v.to_string());
                            return;
                        }
                    }
                    Err(e) => {
                        errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(e.to_string());
                        return;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let window_start = Duration::from_secs_f64(args.warmup);
    let mut latencies: Vec<Duration> =
        samples.iter().filter(|s| s.done_at >= window_start && s.done_at < deadline).map(|s| s.latency).collect();
    latencies.sort_unstable();
    if latencies.is_empty() {
        bail!("no transaction committed in the measuring window; errors: {:?}", errors.first());
    }
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "nodes={} accounts={} seconds={} block_time_ms={} committed={} errors={}",
        nodes.len(),
        args.accounts,
        args.seconds,
        status.block_time_ms,
        latencies.len(),
        errors.len()
    );
    if let Some(e) = errors.first() {
        println!("first_error={e:?}");
    }
    println!("latency_p50_ms={:.1} latency_p99_ms={:.1} latency_max_ms={:.1}", pct(0.50), pct(0.99), pct(1.0));
    println!("tx_per_s={:.1}", latencies.len() as f64 / args.seconds);
    Ok(ExitCode::SUCCESS)
}
