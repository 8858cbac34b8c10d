//! `stratus arena …`: training competitions on the ledger (`stratus_ledger::arena`). Each command
//! is one transaction, except `show`, `rewards` and `audit`, which read: `audit` recomputes every
//! reward of a finalized task from the task's records (`GET /arena/tasks/{id}`) and its events
//! (`task_finalized`, `rewards_claimed`) with the ledger's own pure functions, and compares.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use sha2::{Digest, Sha256};
use stratus_client::node::StreamItem;
use stratus_types::address::Address;
use stratus_types::arena::{ArenaRole, AuditReport, TaskSpec, score_commit};
use stratus_types::coin::Coin;
use stratus_types::event::Event;
use stratus_types::tx::Msg;

use crate::cmd::ctx::{Ctx, Failed, block_on, client_error, table};
use crate::flags::{ArenaCommand, ArenaTaskCommand, ArenaTaskCreate};

fn hex32(what: &str, s: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(s.trim()).map_err(|e| anyhow!("{what} {s:?}: not hex ({e})"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| anyhow!("{what} {s:?}: not 32 bytes (a sha256)"))
}

fn sha256_file(path: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Sha256::digest(&bytes).into())
}

/// The bytes at a location: an `s3://bucket/key` object (endpoint and keys from AWS_*) or a file.
pub fn read_location(location: &str) -> anyhow::Result<Vec<u8>> {
    if !location.starts_with("s3://") {
        return std::fs::read(location).with_context(|| format!("cannot read {location}"));
    }
    let (dir, name) = location.rsplit_once('/').ok_or_else(|| anyhow!("{location}: no object name"))?;
    let (dir, name) = (dir.to_string(), name.to_string());
    // The storage client runs its own runtime: off this one's threads.
    let got = std::thread::spawn(move || stratus_train::storage::Storage::open(&dir).and_then(|s| s.get(&name)))
        .join()
        .map_err(|_| anyhow!("the download panicked"))?;
    Ok(got.with_context(|| format!("cannot download {location}"))?.to_vec())
}

/// Writes `bytes` to a location: uploads to an `s3://bucket/key` object, or writes a file.
pub fn write_location(location: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
    if !location.starts_with("s3://") {
        return std::fs::write(location, bytes).with_context(|| format!("cannot write {location}"));
    }
    let (dir, name) = location.rsplit_once('/').ok_or_else(|| anyhow!("{location}: no object name"))?;
    let (dir, name) = (dir.to_string(), name.to_string());
    std::thread::spawn(move || stratus_train::storage::Storage::open(&dir).and_then(|s| s.put(&name, bytes)))
        .join()
        .map_err(|_| anyhow!("the upload panicked"))??;
    Ok(())
}

/// The end of a participant run as a workload (`--stay`): waits for the reveal window to end,
/// finalizes the task if nobody has, claims what the signer earned, then stays idle — a workload
/// that exits is restarted, and a restarted participant finds its work done and comes here again.
pub async fn finish_round_and_stay(
    ctx: &Ctx,
    task: u64,
    poll_ms: u64,
    board: &super::status_board::StatusBoard,
) -> anyhow::Result<ExitCode> {
    let client = ctx.client();
    let me = ctx.signer_address()?;
    let poll = std::time::Duration::from_millis(poll_ms.max(100));
    let mut said = false;
    loop {
        let record = client.arena_task(task).await.map_err(client_error)?;
        if record.task.state == stratus_types::arena::TaskState::Finalized {
            if record.unclaimed.iter().any(|u| u.owner == me && u.amount > 0) {
                let r = ctx.broadcast(vec![Msg::ClaimRewards { task }]).await?;
                for e in &r.events {
                    if let Event::RewardsClaimed { amount, .. } = e {
                        eprintln!("task {task}: claimed {amount} at height {}", r.height.unwrap_or(0));
                        board.patch(serde_json::json!({"claimed": amount.to_string()}));
                    }
                }
            } else {
                eprintln!("task {task} is finalized: nothing (more) for {me} to claim");
            }
            break;
        }
        let height = client.status().await.map_err(client_error)?.height;
        if height > record.task.reveal_until {
            // Anyone may finalize; if another participant's transaction lands first, this one
            // fails in its block and the next look finds the task finalized.
            if let Err(e) = ctx.broadcast(vec![Msg::FinalizeTask { task }]).await {
                eprintln!("task {task}: finalizing failed ({e:#}); looking again");
            }
        } else if !said {
            board.patch(serde_json::json!({"phase": "waiting for the round to end"}));
            eprintln!(
                "task {task}: waiting for the reveal window to end at height {} (now {height})",
                record.task.reveal_until
            );
            said = true;
        }
        tokio::time::sleep(poll).await;
    }
    board.patch(serde_json::json!({"phase": "finished"}));
    eprintln!("task {task}: this participant's round is over; close its lease when you have read this log");
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// Submits a model already at `location`; the submission's id and the validators assigned to it.
pub async fn submit_model(
    ctx: &Ctx,
    task: u64,
    model_sha256: [u8; 32],
    location: &str,
    base_model: [u8; 32],
) -> anyhow::Result<(u32, Vec<Address>)> {
    let msg = Msg::SubmitModel { task, model_sha256, location: location.to_string(), base_model };
    let r = ctx.broadcast(vec![msg]).await?;
    r.events
        .iter()
        .find_map(|e| match e {
            Event::ModelSubmitted { submission, validators, .. } => Some((*submission, validators.clone())),
            _ => None,
        })
        .ok_or_else(|| anyhow!("the model was submitted but its id was not in the events"))
}

/// The salt of the signer's commit for a submission: derived from its key, so a validator that
/// restarts between commit and reveal (a workload on a provider, its disk gone) can still reveal
/// by scoring the model again; nobody without the key can guess it.
fn commit_salt(ctx: &Ctx, task: u64, submission: u32) -> anyhow::Result<[u8; 32]> {
    let key = ctx.signer()?;
    let mut h = Sha256::new();
    h.update(b"stratus arena commit salt\0");
    h.update(key.to_bytes());
    h.update(task.to_be_bytes());
    h.update(submission.to_be_bytes());
    Ok(h.finalize().into())
}

/// Commits `score` for a submission as the signer; the score is kept in the home for `reveal`.
pub async fn commit_score(
    ctx: &Ctx,
    task: u64,
    submission: u32,
    score: u64,
) -> anyhow::Result<stratus_types::api::Submitted> {
    let validator = ctx.signer_address()?;
    let salt = commit_salt(ctx, task, submission)?;
    let path = score_path(ctx, task, submission, &validator);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, score.to_string())?;
    let commit = score_commit(task, submission, &validator, score, &salt);
    ctx.broadcast(vec![Msg::CommitScore { task, submission, commit }]).await
}

/// Reveals the score the signer committed for a submission: `score` when the caller knows it
/// (a validator scores again after a restart), else the one kept in the home.
pub async fn reveal_score(
    ctx: &Ctx,
    task: u64,
    submission: u32,
    score: Option<u64>,
) -> anyhow::Result<(stratus_types::api::Submitted, u64)> {
    let validator = ctx.signer_address()?;
    let score = match score {
        Some(s) => s,
        None => {
            let path = score_path(ctx, task, submission, &validator);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "no score kept for submission {submission} of task {task} ({}): reveal from the home that committed",
                    path.display()
                )
            })?;
            text.trim().parse().map_err(|_| anyhow!("{} is damaged: not a score", path.display()))?
        }
    };
    let salt = commit_salt(ctx, task, submission)?;
    let r = ctx.broadcast(vec![Msg::RevealScore { task, submission, score, salt }]).await?;
    Ok((r, score))
}

/// Where a validator keeps the score it committed until it reveals.
fn score_path(ctx: &Ctx, task: u64, submission: u32, validator: &Address) -> std::path::PathBuf {
    ctx.home.join("arena").join(format!("{task}-{submission}-{validator}.commit"))
}

pub fn run(ctx: &Ctx, cmd: ArenaCommand) -> anyhow::Result<ExitCode> {
    if let ArenaCommand::Demo(a) = &cmd {
        return super::arena_demo::demo(ctx, a);
    }
    block_on(async {
        match cmd {
            ArenaCommand::TaskCreate(a) | ArenaCommand::Task(ArenaTaskCommand::Create(a)) => task_create(ctx, &a).await,
            ArenaCommand::Show(t) | ArenaCommand::Task(ArenaTaskCommand::Show(t)) => {
                let record = ctx.client().arena_task(t.task).await.map_err(client_error)?;
                ctx.print(&record, || serde_json::to_string_pretty(&record).unwrap_or_default())?;
                Ok(ExitCode::SUCCESS)
            }
            ArenaCommand::Stake(a) => {
                let role = if a.role == "node" { ArenaRole::TrainingNode } else { ArenaRole::Validator };
                let msg = Msg::ArenaStake { task: a.task, role, amount: a.amount, commission_bps: a.commission_bps };
                let r = ctx.broadcast(vec![msg]).await?;
                ctx.print_submitted(&r, &format!("staked {} on task {} as a {role}", a.amount, a.task))?;
                Ok(ExitCode::SUCCESS)
            }
            ArenaCommand::Delegate(a) => {
                let delegate = ctx.address(Some(&a.delegate))?;
                let r = ctx.broadcast(vec![Msg::ArenaDelegate { task: a.task, delegate, amount: a.amount }]).await?;
                ctx.print_submitted(&r, &format!("delegated {} to {delegate} on task {}", a.amount, a.task))?;
                Ok(ExitCode::SUCCESS)
            }
            ArenaCommand::Submit(a) => {
                let model_sha256 = sha256_file(&a.model)?;
                let base_model = hex32("--base-model", &a.base_model)?;
                let location = match &a.location {
                    Some(url) if url.starts_with("s3://") => {
                        let bytes = std::fs::read(&a.model)?;
                        write_location(url, bytes).with_context(|| format!("uploading the model to {url}"))?;
                        url.clone()
                    }
                    Some(other) => other.clone(),
                    None => a.model.display().to_string(),
                };
                let (id, validators) = submit_model(ctx, a.task, model_sha256, &location, base_model).await?;
                ctx.print(
                    &serde_json::json!({"task": a.task, "submission": id, "model_sha256": hex::encode(model_sha256),
                                        "location": location, "validators": validators}),
                    || {
                        format!(
                            "submission {id} of task {}: model {} at {location}, scored by {} validator(s)",
                            a.task,
                            hex::encode(model_sha256),
                            validators.len()
                        )
                    },
                )?;
                Ok(ExitCode::SUCCESS)
            }
            ArenaCommand::Commit(a) => {
                let r = commit_score(ctx, a.task, a.submission, a.score).await?;
                ctx.print_submitted(
                    &r,
                    &format!("score for submission {} of task {} committed", a.submission, a.task),
                )?;
                Ok(ExitCode::SUCCESS)
            }
            ArenaCommand::Reveal(a) => {
                let (r, score) = reveal_score(ctx, a.task, a.submission, None).await?;
                ctx.print_submitted(
                    &r,
                    &format!("score {score} for submission {} of task {} revealed", a.submission, a.task),
                )?;
                Ok(ExitCode::SUCCESS)
            }
            ArenaCommand::Validate(a) => super::arena_validate::validate(ctx, &a).await,
            ArenaCommand::Train(a) => super::arena_node::train(ctx, &a).await,
            ArenaCommand::Demo(_) => Err(anyhow!("the demo starts its devnet outside the async runtime")),
            ArenaCommand::Finalize(t) => {
                let r = ctx.broadcast(vec![Msg::FinalizeTask { task: t.task }]).await?;
                ctx.print_submitted(&r, &format!("task {} finalized: rewards are claimable", t.task))?;
                Ok(ExitCode::SUCCESS)
            }
            ArenaCommand::Claim(t) => {
                let r = ctx.broadcast(vec![Msg::ClaimRewards { task: t.task }]).await?;
                let amount = r.events.iter().find_map(|e| match e {
                    Event::RewardsClaimed { amount, .. } => Some(amount.clone()),
                    _ => None,
                });
                let shown = amount.map_or_else(|| "nothing".to_string(), |c| c.to_string());
                ctx.print_submitted(&r, &format!("claimed {shown} from task {}", t.task))?;
                Ok(ExitCode::SUCCESS)
            }
            ArenaCommand::Rewards(t) => {
                let (value, text) = rewards_view(ctx, t.task).await?;
                ctx.print(&value, || text)?;
                Ok(ExitCode::SUCCESS)
            }
            ArenaCommand::Audit(t) => {
                let report = audit(ctx, t.task).await?;
                ctx.print(&report, || {
                    if report.rewards_match {
                        format!(
                            "task {}: every reward matches the ledger's records ({} paid)",
                            t.task,
                            report.recomputed.len()
                        )
                    } else {
                        format!("task {}: rewards do NOT match:\n  {}", t.task, report.differences.join("\n  "))
                    }
                })?;
                Ok(if report.rewards_match { ExitCode::SUCCESS } else { ExitCode::from(1) })
            }
        }
    })?
}

/// A finalized task's leaderboard (best median score first) and every reward, recomputed from
/// the ledger: `{"task","leaderboard","rewards","remainder"}` and the same as tables.
pub async fn rewards_view(ctx: &Ctx, task: u64) -> anyhow::Result<(serde_json::Value, String)> {
    let report = audit(ctx, task).await?;
    let record = ctx.client().arena_task(task).await.map_err(client_error)?;
    let tally = stratus_ledger::arena::tally(&record);
    let mut board: Vec<(Address, Option<u64>)> = tally.nodes.iter().map(|n| (n.staker.address, n.score)).collect();
    board.sort_by_key(|(a, s)| (s.is_none(), *s, *a));
    let leaderboard: Vec<serde_json::Value> = board
        .iter()
        .enumerate()
        .map(|(i, (a, s))| serde_json::json!({"rank": i + 1, "node": a, "median_score": s}))
        .collect();
    let value = serde_json::json!({"task": task, "leaderboard": leaderboard, "rewards": report.recomputed,
                                   "remainder": report.remainder.to_string()});
    let mut rows: Vec<Vec<String>> = board
        .iter()
        .enumerate()
        .map(|(i, (a, s))| {
            vec![(i + 1).to_string(), a.to_string(), s.map_or("-".into(), |s| format!("{:.4}", s as f64 / 1e6))]
        })
        .collect();
    let mut out = table(&["rank", "training node", "bits/byte (median)"], &rows);
    rows = report.recomputed.iter().map(|u| vec![u.owner.to_string(), u.amount.to_string()]).collect();
    out.push_str("\n\n");
    out.push_str(&table(&["address", "reward"], &rows));
    out.push_str(&format!("\nremainder to the community pool: {}", report.remainder));
    Ok((value, out))
}

async fn task_create(ctx: &Ctx, a: &ArenaTaskCreate) -> anyhow::Result<ExitCode> {
    let pool: Coin = a.pool.parse().map_err(|e| anyhow!("--pool: {e}"))?;
    let base_models = a.base_models.iter().map(|b| hex32("--base-model", b)).collect::<anyhow::Result<Vec<_>>>()?;
    let spec = TaskSpec {
        base_models,
        data_url: a.data.clone(),
        validation_commitment: Sha256::digest(read_location(&a.validation_set)?).into(),
        max_params: a.max_params,
        context: a.context,
        submission_blocks: a.submission_blocks,
        commit_blocks: a.commit_blocks,
        reveal_blocks: a.reveal_blocks,
        pool,
        min_stake: a.min_stake,
        validators_per_submission: a.validators_per_submission,
        max_submissions_per_node: a.max_submissions,
    };
    let (id, r) = create_task(ctx, spec).await?;
    ctx.print(&serde_json::json!({"task": id, "tx": r}), || {
        format!("task {id} created at height {}", r.height.unwrap_or_default())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Creates a task; its id (from the `task_created` event) and the transaction.
pub async fn create_task(ctx: &Ctx, spec: TaskSpec) -> anyhow::Result<(u64, stratus_types::api::Submitted)> {
    let r = ctx.broadcast(vec![Msg::CreateTask { spec }]).await?;
    let id = r.events.iter().find_map(|e| match e {
        Event::TaskCreated { task, .. } => Some(*task),
        _ => None,
    });
    let id = id.ok_or_else(|| anyhow!("the task was created but its id was not in the events"))?;
    Ok((id, r))
}

/// Recomputes a finalized task's rewards from its records and events, and compares.
pub async fn audit(ctx: &Ctx, task: u64) -> anyhow::Result<AuditReport> {
    let client = ctx.client();
    let record = client.arena_task(task).await.map_err(client_error)?;
    if record.task.state != stratus_types::arena::TaskState::Finalized {
        bail!(Failed(format!("task {task} is not finalized yet (from height {})", record.task.reveal_until + 1)));
    }
    let params = client.params().await.map_err(client_error)?;
    // Claimed rewards and the finalisation's remainder are in the events since the task began.
    let now = client.status().await.map_err(client_error)?.height;
    let mut credited: BTreeMap<Address, u128> = record.unclaimed.iter().map(|u| (u.owner, u.amount)).collect();
    let mut remainder = None;
    let filters = vec![("kinds", "task_finalized,rewards_claimed".to_string())];
    let mut sub = client.subscribe(record.task.created_at, filters).await.map_err(client_error)?;
    loop {
        match sub.next().await.map_err(client_error)? {
            StreamItem::Event(e) => match e.event {
                Event::RewardsClaimed { task: t, owner, amount } if t == task => {
                    *credited.entry(owner).or_default() += amount.amount;
                }
                Event::TaskFinalized { task: t, remainder: r, .. } if t == task => remainder = Some(r.amount),
                _ => {}
            },
            StreamItem::Block(mark) if mark.height >= now => break,
            StreamItem::Block(_) => {}
        }
    }
    let remainder = remainder.ok_or_else(|| anyhow!("task {task}'s finalisation event was not found"))?;
    Ok(stratus_ledger::arena::audit(&record, &params.arena, &credited, remainder))
}
