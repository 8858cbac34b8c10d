//! `stratus arena demo`: one whole arena round on a devnet, for a newcomer, with real models. The
//! task creator publishes a base model (a seeded, untrained byte-level LM) and a validation set;
//! three training nodes fine-tune it for different numbers of steps (the third submits it
//! untouched: the bad model); two honest validators run `stratus arena validate` as processes
//! and score bits per byte; the third validator lies; two delegators back a node and a
//! validator. Then finalisation, the leaderboard, every reward and the audit.

use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};
use stratus_client::keys::{Backend, Secret, generate_mnemonic};
use stratus_train::engine::Engine;
use stratus_train::job::Job;
use stratus_types::address::Address;
use stratus_types::arena::{ArenaRole, TaskSpec};
use stratus_types::coin::Coin;
use stratus_types::tx::Msg;

use super::arena::{commit_score, create_task, reveal_score, rewards_view, submit_model};
use crate::cmd::ctx::{Ctx, block_on, client_error, table};
use crate::devnet::{Devnet, RuntimeChoice, TENANT};
use crate::flags::{ArenaDemoArgs, Output};

const NODES: [&str; 3] = ["node-0", "node-1", "node-2"];
const VALIDATORS: [&str; 3] = ["val-0", "val-1", "val-2"];
const DELEGATORS: [&str; 2] = ["deleg-0", "deleg-1"];
/// The lying validator: it claims every model is excellent.
const LIAR: &str = "val-2";
const LIE: u64 = 500_000;
const CONTEXT: usize = 32;
const POOL: u128 = 1_000_000;

/// The demo's job: a small byte-level LM; the task's base model is its seeded initial state.
fn job_toml(data: &Path, steps: u64) -> String {
    format!(
        r#"[model]
vocab = 256
layers = 2
width = 48
heads = 4
context = {CONTEXT}

[data]
url = "{}"
batch = 16

[optimizer]
lr = 0.004
warmup_steps = 8

[training]
mode = "ddp"
steps = {steps}
seed = 7
"#,
        data.display()
    )
}

/// A corpus with structure a small model learns in seconds: sentences of a marketplace's life
/// from a seeded generator (the same bytes everywhere).
pub fn corpus(bytes: usize) -> String {
    const WHO: [&str; 8] = [
        "the provider",
        "a tenant",
        "the validator",
        "every training node",
        "the market",
        "a training run",
        "the ledger",
        "an auditor",
    ];
    const DOES: [&str; 8] = ["leases", "scores", "trains", "settles", "checks", "pays for", "records", "streams"];
    const WHAT: [&str; 8] = [
        "a gpu",
        "the model",
        "eight h100s",
        "the checkpoint",
        "its escrow",
        "the logs",
        "a new bid",
        "the reward pool",
    ];
    const WHEN: [&str; 6] = [
        "every block",
        "before the window closes",
        "in the eu-west region",
        "at five uact a block",
        "without a human step",
        "from the latest checkpoint",
    ];
    // xorshift64: a generator fixed here, so the corpus never changes with a library's version.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut pick = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let mut s = String::with_capacity(bytes + 128);
    while s.len() < bytes {
        let line = format!(
            "{} {} {} {}.\n",
            WHO[pick(WHO.len())],
            DOES[pick(DOES.len())],
            WHAT[pick(WHAT.len())],
            WHEN[pick(WHEN.len())]
        );
        s.push_str(&line);
    }
    s
}

fn participant(home: &Path, node: &str, name: &str, output: Output) -> Ctx {
    Ctx { home: home.to_path_buf(), node: node.to_string(), from: Some(name.to_string()), output, fee: None }
}

/// The devnet in the home, created and started when needed (the arena needs no workloads).
fn devnet(home: &Path) -> anyhow::Result<Devnet> {
    let devnet = if Devnet::exists(home) {
        Devnet::load(home)?
    } else {
        eprintln!("creating a devnet in {}", home.display());
        Devnet::init(home, 1000, &RuntimeChoice { kind: "host".into(), engine_socket: None }, 3, 1)?
    };
    if devnet.running_pid().is_none() {
        let t = Instant::now();
        let pid = devnet.start()?;
        eprintln!("devnet up in {:.1} s (pid {pid}): node {}", t.elapsed().as_secs_f64(), devnet.file.node);
    }
    Ok(devnet)
}

pub fn demo(ctx: &Ctx, a: &ArenaDemoArgs) -> anyhow::Result<ExitCode> {
    let devnet = devnet(&ctx.home)?;
    let dir = ctx.home.join("arena-demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let keyring = ctx.keyring();
    let names: Vec<&str> = NODES.iter().chain(&VALIDATORS).chain(&DELEGATORS).copied().collect();
    let mut addresses = Vec::new();
    for n in &names {
        let info = match keyring.show(n) {
            Ok(info) => info,
            Err(_) => keyring.add(n, &Secret::Mnemonic(generate_mnemonic()), Backend::Test, None)?,
        };
        addresses.push((n.to_string(), info.address));
    }
    let label = |a: &Address| addresses.iter().find(|(_, x)| x == a).map_or_else(|| a.to_string(), |(n, _)| n.clone());
    let exe = std::env::current_exe().context("cannot find the stratus binary")?;
    let outcome = block_on(round(ctx, a, &devnet, &dir, &addresses, &exe))??;
    let (mut value, _) = outcome;
    eprintln!(
        "the devnet keeps running: `stratus --home {h} arena show {task}` shows the task's records, `stratus --home {h} down` stops it",
        h = ctx.home.display(),
        task = value["task"]
    );
    // Names beside addresses: who is who in this demo.
    for key in ["leaderboard", "rewards"] {
        if let Some(rows) = value[key].as_array_mut() {
            for r in rows {
                let who = r["node"].as_str().or(r["owner"].as_str()).and_then(|s| s.parse::<Address>().ok());
                if let Some(addr) = who {
                    r["name"] = serde_json::Value::String(label(&addr));
                }
            }
        }
    }
    let rewards_match = value["audit"]["rewards_match"].as_bool() == Some(true);
    match ctx.output {
        Output::Json => println!("{}", serde_json::to_string(&value)?),
        Output::Table => {
            let rows: Vec<Vec<String>> = value["leaderboard"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    vec![
                        r["rank"].to_string(),
                        r["name"].as_str().unwrap_or("").to_string(),
                        r["median_score"].as_u64().map_or("-".into(), |s| format!("{:.4}", s as f64 / 1e6)),
                    ]
                })
                .collect();
            println!("{}", table(&["rank", "training node", "bits/byte (median)"], &rows));
            let rows: Vec<Vec<String>> = value["rewards"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    vec![
                        r["name"].as_str().unwrap_or("").to_string(),
                        r["amount"].as_str().unwrap_or("0").to_string(),
                        r["owner"].as_str().unwrap_or("").to_string(),
                    ]
                })
                .collect();
            println!("\n{}", table(&["who", "reward (uact)", "address"], &rows));
            println!(
                "\nremainder to the community pool: {}\naudit: {}",
                value["remainder"].as_str().map_or_else(|| value["remainder"].to_string(), str::to_string),
                if rewards_match { "every reward recomputed from the ledger matches" } else { "DIFFERENCES" }
            );
        }
    }
    Ok(if rewards_match { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn height(ctx: &Ctx) -> anyhow::Result<u64> {
    Ok(ctx.client().status().await.map_err(client_error)?.height)
}

async fn wait_height(ctx: &Ctx, h: u64, what: &str) -> anyhow::Result<()> {
    let now = height(ctx).await?;
    if now < h {
        eprintln!("      waiting for height {h} ({what}; now {now})");
    }
    while height(ctx).await? < h {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Kills the validator processes if the round fails half-way.
struct Validators(Vec<(String, Child)>);

impl Drop for Validators {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn round(
    ctx: &Ctx,
    a: &ArenaDemoArgs,
    devnet: &Devnet,
    dir: &Path,
    addresses: &[(String, Address)],
    exe: &Path,
) -> anyhow::Result<(serde_json::Value, String)> {
    let node = devnet.file.node.as_str();
    let quiet = Output::Json;
    let who = |n: &str| participant(&ctx.home, node, n, quiet);
    let address = |n: &str| addresses.iter().find(|(x, _)| x == n).map(|(_, a)| *a).unwrap_or_default();
    let tenant = who(TENANT);

    // [1] Data, the base model, the task.
    let text = corpus(48 << 10);
    let cut = text.len() * 9 / 10;
    let (train, validation) = (dir.join("train.txt"), dir.join("validation.txt"));
    std::fs::write(&train, &text.as_bytes()[..cut])?;
    std::fs::write(&validation, &text.as_bytes()[cut..])?;
    let job = Job::parse("the demo's job", &job_toml(&train, a.steps.max(4)))?;
    let base = stratus_train::model_file::from_engine(&Engine::new(&job)?)?;
    let base_sha: [u8; 32] = Sha256::digest(&base).into();
    std::fs::write(dir.join("base.safetensors"), &base)?;
    let funds: Vec<Msg> =
        addresses.iter().map(|(_, a)| Msg::Send { to: *a, amount: Coin::new(10_000_000, "uact") }).collect();
    tenant.broadcast(funds).await?;
    let spec = TaskSpec {
        base_models: vec![base_sha],
        data_url: train.display().to_string(),
        validation_commitment: Sha256::digest(&text.as_bytes()[cut..]).into(),
        max_params: 1_000_000,
        context: CONTEXT as u32,
        submission_blocks: 25,
        commit_blocks: 10,
        reveal_blocks: 10,
        pool: Coin::new(POOL, "uact"),
        min_stake: 100,
        validators_per_submission: 3,
        max_submissions_per_node: 1,
    };
    let (task, r) = create_task(&tenant, spec).await?;
    eprintln!(
        "[1/6] task {task} created at height {}: pool {POOL}uact, base model {} ({} bytes, {} parameters), validation set committed",
        r.height.unwrap_or(0),
        &hex::encode(base_sha)[..12],
        base.len(),
        job.model.parameters()
    );

    // [2] Stakes and delegations, all in the same block or two.
    let stakes = [("node-0", ArenaRole::TrainingNode, 100, 1000), ("node-1", ArenaRole::TrainingNode, 100, 0)]
        .into_iter()
        .chain([("node-2", ArenaRole::TrainingNode, 200, 0)])
        .chain(VALIDATORS.iter().map(|v| (*v, ArenaRole::Validator, 100, 0)));
    let txs: Vec<_> = stakes
        .map(|(n, role, amount, commission_bps)| {
            let c = who(n);
            async move { c.broadcast(vec![Msg::ArenaStake { task, role, amount, commission_bps }]).await }
        })
        .collect();
    for r in futures_util::future::join_all(txs).await {
        r?;
    }
    let delegations = [("deleg-0", "node-0"), ("deleg-1", "val-0")].map(|(d, to)| {
        let c = who(d);
        let delegate = address(to);
        async move { c.broadcast(vec![Msg::ArenaDelegate { task, delegate, amount: 100 }]).await }
    });
    for r in futures_util::future::join_all(delegations).await {
        r?;
    }
    eprintln!(
        "[2/6] staked: node-0 100 (commission 10%), node-1 100, node-2 200, validators 100 each; deleg-0 → node-0 100, deleg-1 → val-0 100"
    );

    // [3] The honest validators start watching now, as real processes.
    let mut validators = Validators(Vec::new());
    for v in ["val-0", "val-1"] {
        let log = std::fs::File::create(dir.join(format!("{v}.log")))?;
        let child = Command::new(exe)
            .args(["--home", &ctx.home.display().to_string(), "--node", node, "--from", v, "--output", "json"])
            .args(["arena", "validate", "--task", &task.to_string(), "--poll-ms", "500"])
            .arg("--validation-set")
            .arg(&validation)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting a validator")?;
        validators.0.push((v.to_string(), child));
    }

    // [4] Training nodes train and submit: two run `stratus arena train` (as the training-node
    // template does), the third submits the base model untouched.
    let plan = [("node-0", a.steps, 1u64), ("node-1", a.steps / 4, 2)];
    for (n, steps, seed) in plan {
        let t = Instant::now();
        let model = dir.join(format!("{n}.safetensors"));
        let out = Command::new(exe)
            .args(["--home", &ctx.home.display().to_string(), "--node", node, "--from", n, "--output", "json"])
            .args(["arena", "train", "--task", &task.to_string(), "--steps", &steps.to_string()])
            .args(["--seed", &seed.to_string(), "--batch", "16", "--lr", "0.004"])
            .arg("--base")
            .arg(dir.join("base.safetensors"))
            .arg("--location")
            .arg(&model)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{n}.log")))?)
            .output()
            .context("starting a training node")?;
        if !out.status.success() {
            let log = std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default();
            anyhow::bail!("training node {n} failed ({}):\n{log}", out.status);
        }
        let sha = hex::encode(Sha256::digest(std::fs::read(&model)?));
        eprintln!(
            "[3/6] {n} trained {steps} steps in {:.1} s and submitted: {}",
            t.elapsed().as_secs_f64(),
            &sha[..12]
        );
    }
    let location = dir.join("base.safetensors").display().to_string();
    submit_model(&who("node-2"), task, base_sha, &location, base_sha).await?;
    eprintln!("[3/6] node-2 submits the base model untouched (the bad model): {}", &hex::encode(base_sha)[..12]);

    // [5] The liar commits and reveals its made-up scores; the honest ones do it on their own.
    let record = tenant.client().arena_task(task).await.map_err(client_error)?;
    let t = record.task.clone();
    let liar = who(LIAR);
    let liar_address = address(LIAR);
    let mine: Vec<u32> =
        record.submissions.iter().filter(|s| s.validators.contains(&liar_address)).map(|s| s.id).collect();
    wait_height(&tenant, t.submit_until, "the submission window closes").await?;
    for s in &mine {
        commit_score(&liar, task, *s, LIE).await?;
    }
    eprintln!("[4/6] scoring: val-0 and val-1 download, verify and score each model; {LIAR} commits made-up scores");
    wait_height(&tenant, t.commit_until, "the commit window closes").await?;
    for s in &mine {
        reveal_score(&liar, task, *s, None).await?;
    }
    wait_height(&tenant, t.reveal_until + 1, "the reveal window closes").await?;
    for (v, child) in &mut validators.0 {
        let status = child.wait()?;
        if !status.success() {
            let log = std::fs::read_to_string(dir.join(format!("{v}.log"))).unwrap_or_default();
            anyhow::bail!("validator {v} failed ({status}):\n{log}");
        }
    }
    validators.0.clear();
    eprintln!("[5/6] every score revealed");

    // [6] Finalisation, the table, the audit.
    tenant.broadcast(vec![Msg::FinalizeTask { task }]).await?;
    let (mut value, text) = rewards_view(&tenant, task).await?;
    let audit = super::arena::audit(&tenant, task).await?;
    value["audit"] = serde_json::json!({"rewards_match": audit.rewards_match, "differences": audit.differences});
    eprintln!("[6/6] task {task} finalized; logs and models in {}", dir.display());
    Ok((value, text))
}
