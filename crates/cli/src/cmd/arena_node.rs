//! `stratus arena train`: a training node's round in one command — fetch the task's base model
//! and training data, fine-tune, put the model where validators download it, submit its sha256.
//! The training-node template in `examples/` runs it as a workload, and so does `arena demo`.
//! [`fine_tune`] is the pure part (bytes in, bytes out); [`train`] the effects around it.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail};
use sha2::{Digest, Sha256};
use stratus_train::engine::Engine;
use stratus_train::job::OptimizerConfig;
use stratus_types::arena::ArenaRole;

use super::arena::{read_location, submit_model, write_location};
use super::status_board::StatusBoard;
use crate::cmd::ctx::{Ctx, client_error};
use crate::flags::ArenaTrainArgs;

/// How a training node fine-tunes: `steps` steps of `batch` windows of `text`, peak rate `lr`.
#[derive(Clone, Copy, Debug)]
pub struct FineTune {
    pub steps: u64,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
}

/// The model file `base` fine-tuned on `text`, and its last training loss; `progress` hears
/// (steps done, loss) about ten times. Zero steps gives `base` back unchanged.
pub fn fine_tune(
    base: &[u8],
    text: &[u8],
    how: FineTune,
    mut progress: impl FnMut(u64, f32),
) -> anyhow::Result<(Vec<u8>, Option<f32>)> {
    let optimizer = OptimizerConfig { lr: how.lr, warmup_steps: (how.steps / 12).max(1), ..Default::default() };
    let mut engine = Engine::from_model_file(base, &optimizer, how.steps)?;
    let chunk = (how.steps / 10).max(1);
    let (mut done, mut last) = (0, None);
    while done < how.steps {
        let n = chunk.min(how.steps - done);
        // Each chunk draws its own windows: a function of the seed and where it starts.
        last = engine.train_on_text(text, how.batch, n, how.seed ^ done.wrapping_mul(0x9e37_79b9))?;
        done += n;
        if let Some(loss) = last {
            progress(done, loss);
        }
    }
    Ok((stratus_train::model_file::from_engine(&engine)?, last))
}

pub async fn train(ctx: &Ctx, a: &ArenaTrainArgs) -> anyhow::Result<ExitCode> {
    let me = ctx.signer_address()?;
    let client = ctx.client();
    let record = client.arena_task(a.task).await.map_err(client_error)?;
    let t = &record.task;
    if !record.stakes.iter().any(|s| s.owner == me && s.role == ArenaRole::TrainingNode) {
        bail!(
            "{me} has no training-node stake on task {}: `stratus arena stake {} --role node --amount N --from KEY` first",
            a.task,
            a.task
        );
    }
    let board = StatusBoard::default();
    board.patch(serde_json::json!({"role": "training node", "task": a.task, "node": me, "phase": "starting"}));
    super::status_board::serve(a.status_listen.as_deref(), &board)?;
    let mine: Vec<u32> = record.submissions.iter().filter(|s| s.node == me).map(|s| s.id).collect();
    if a.stay && mine.len() >= t.spec.max_submissions_per_node as usize {
        eprintln!("task {}: {me} has submitted {} model(s) ({mine:?}), the most it may", a.task, mine.len());
        board.patch(serde_json::json!({"submissions": mine}));
        return super::arena::finish_round_and_stay(ctx, a.task, 1000, &board).await;
    }
    let height = client.status().await.map_err(client_error)?.height;
    if height >= t.submit_until {
        bail!("task {}'s submission window closed at height {} (now {height})", a.task, t.submit_until);
    }
    let base = read_location(&a.base)?;
    let base_sha: [u8; 32] = Sha256::digest(&base).into();
    if !t.spec.base_models.contains(&base_sha) {
        bail!(
            "--base {}: its sha256 {} is not one of task {}'s base models ({})",
            a.base,
            hex::encode(base_sha),
            a.task,
            t.spec.base_models.iter().map(hex::encode).collect::<Vec<_>>().join(", ")
        );
    }
    let data = read_location(&t.spec.data_url).map_err(|e| anyhow!("task {}'s training data: {e:#}", a.task))?;
    eprintln!(
        "training for task {} as {me}: {} steps on {} bytes of {}; submissions close at height {} (now {height})",
        a.task,
        a.steps,
        data.len(),
        t.spec.data_url,
        t.submit_until
    );
    let how = FineTune { steps: a.steps, batch: a.batch, lr: a.lr, seed: a.seed };
    let started = Instant::now();
    board.patch(serde_json::json!({"phase": "training", "step": 0, "steps": a.steps}));
    let progress = board.clone();
    let (model, loss) = tokio::task::spawn_blocking(move || {
        fine_tune(&base, &data, how, |done, loss| {
            progress.patch(serde_json::json!({"step": done}));
            eprintln!("  step {done}/{}: loss {loss:.4} ({:.1} s)", how.steps, started.elapsed().as_secs_f64())
        })
    })
    .await
    .map_err(|e| anyhow!("training panicked: {e}"))??;
    let model_sha256: [u8; 32] = Sha256::digest(&model).into();
    board.patch(serde_json::json!({"phase": "uploading"}));
    let (location, bytes) = (a.location.clone(), model.len());
    tokio::task::spawn_blocking(move || write_location(&location, model))
        .await
        .map_err(|e| anyhow!("the upload panicked: {e}"))??;
    let (id, validators) = submit_model(ctx, a.task, model_sha256, &a.location, base_sha).await?;
    board.patch(
        serde_json::json!({"phase": "submitted", "submissions": [id], "model_sha256": hex::encode(model_sha256)}),
    );
    ctx.print(
        &serde_json::json!({"task": a.task, "submission": id, "model_sha256": hex::encode(model_sha256),
                            "location": a.location, "bytes": bytes, "steps": a.steps, "loss": loss,
                            "validators": validators}),
        || {
            format!(
                "submission {id} of task {}: trained {} steps (loss {}) in {:.1} s, model {} at {}, scored by {} validator(s)",
                a.task,
                a.steps,
                loss.map_or("-".into(), |l| format!("{l:.4}")),
                started.elapsed().as_secs_f64(),
                hex::encode(model_sha256),
                a.location,
                validators.len()
            )
        },
    )?;
    if a.stay {
        return super::arena::finish_round_and_stay(ctx, a.task, 1000, &board).await;
    }
    Ok(ExitCode::SUCCESS)
}
