//! `stratus arena validate`: a task's validator as one long-running process. It follows the
//! ledger (the task's record and the height), scores each submission assigned to it as soon as
//! it appears — download, sha256, the task's rules, bits per byte on the validation set — and
//! commits in the commit window and reveals in the reveal window. A restart loses nothing: what
//! is committed is on the ledger, scoring is deterministic and the salt is derived from the key. Scoring is the pure part
//! ([`judge`]); the loop is the effects.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use sha2::{Digest, Sha256};
use stratus_train::model_file::{Scorer, config_of};
use stratus_types::address::Address;
use stratus_types::arena::{ArenaRole, Submission, Task, UNUSABLE_MODEL_SCORE};

use super::arena::{commit_score, read_location, reveal_score};
use crate::cmd::ctx::{Ctx, client_error, table};
use crate::flags::ArenaValidateArgs;

/// A validator's judgement of one submission.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Judgement {
    pub submission: u32,
    pub node: Address,
    /// Micro-bits per byte: what is committed.
    pub score: u64,
    /// `scored` or why the model is unusable.
    pub verdict: String,
    pub committed: bool,
    pub revealed: bool,
}

/// The score of a model file for `task`: [`UNUSABLE_MODEL_SCORE`] with the reason when the bytes
/// are not the submitted model or break the task's rules (byte vocabulary, parameters, context).
pub fn judge(
    task: &Task,
    sub: &Submission,
    model: anyhow::Result<Vec<u8>>,
    validation: &[u8],
    max_windows: usize,
) -> (u64, String) {
    let unusable = |why: String| (UNUSABLE_MODEL_SCORE, why);
    let bytes = match model {
        Ok(b) => b,
        Err(e) => return unusable(format!("cannot download {}: {e:#}", sub.location)),
    };
    let sha: [u8; 32] = Sha256::digest(&bytes).into();
    if sha != sub.model_sha256 {
        return unusable(format!("sha256 {} is not the submitted {}", hex::encode(sha), hex::encode(sub.model_sha256)));
    }
    let config = match config_of(&bytes) {
        Ok(c) => c,
        Err(e) => return unusable(format!("not a model file: {e}")),
    };
    let spec = &task.spec;
    if config.vocab != 256 {
        return unusable(format!("vocabulary of {}: the task's data is bytes (256)", config.vocab));
    }
    if config.parameters() as u64 > spec.max_params {
        return unusable(format!("{} parameters: the task allows {}", config.parameters(), spec.max_params));
    }
    if config.context < spec.context as usize {
        return unusable(format!("context {}: the task scores at {}", config.context, spec.context));
    }
    let scorer = match Scorer::load(&bytes) {
        Ok(s) => s,
        Err(e) => return unusable(format!("not a model file: {e}")),
    };
    match scorer.bits_per_byte(validation, spec.context as usize, max_windows) {
        Ok(s) if s.bits_per_byte.is_finite() => {
            let micro = (s.bits_per_byte * 1e6).round().clamp(0.0, (UNUSABLE_MODEL_SCORE - 1) as f64) as u64;
            (micro, format!("{:.4} bits/byte over {} bytes", s.bits_per_byte, s.tokens))
        }
        Ok(s) => unusable(format!("its loss is not a number ({})", s.bits_per_byte)),
        Err(e) => unusable(format!("cannot score it: {e}")),
    }
}

pub async fn validate(ctx: &Ctx, a: &ArenaValidateArgs) -> anyhow::Result<ExitCode> {
    let me = ctx.signer_address()?;
    let client = ctx.client();
    let record = client.arena_task(a.task).await.map_err(client_error)?;
    let validation = read_location(&a.validation_set)?;
    let sha: [u8; 32] = Sha256::digest(&validation).into();
    if sha != record.task.spec.validation_commitment {
        bail!(
            "--validation-set {}: its sha256 {} is not task {}'s validation commitment {}",
            a.validation_set,
            hex::encode(sha),
            a.task,
            hex::encode(record.task.spec.validation_commitment)
        );
    }
    if !record.stakes.iter().any(|s| s.owner == me && s.role == ArenaRole::Validator) {
        bail!(
            "{me} has no validator stake on task {}: `stratus arena stake {} --role validator --amount N --from KEY` first",
            a.task,
            a.task
        );
    }
    let t = &record.task;
    eprintln!(
        "validating task {} as {me}: submissions until height {}, commits until {}, reveals until {}",
        a.task, t.submit_until, t.commit_until, t.reveal_until
    );
    let board = super::status_board::StatusBoard::default();
    board.patch(serde_json::json!({"role": "validator", "task": a.task, "validator": me, "phase": "watching"}));
    super::status_board::serve(a.status_listen.as_deref(), &board)?;
    let mut judged: BTreeMap<u32, Judgement> = BTreeMap::new();
    loop {
        let height = client.status().await.map_err(client_error)?.height;
        let record = client.arena_task(a.task).await.map_err(client_error)?;
        let t = &record.task;
        for sub in record.submissions.iter().filter(|s| s.validators.contains(&me)) {
            let j = judged.entry(sub.id).or_insert_with(|| {
                let (score, verdict) = judge(t, sub, read_location(&sub.location), &validation, a.max_windows);
                eprintln!("  submission {} by {}: {verdict}", sub.id, sub.node);
                Judgement { submission: sub.id, node: sub.node, score, verdict, committed: false, revealed: false }
            });
            let mine = record.scores.iter().find(|s| s.submission == sub.id && s.validator == me);
            j.committed = mine.is_some();
            j.revealed = mine.is_some_and(|s| s.revealed.is_some());
            // A transaction that lands just past its window fails in its block: say so and go on.
            if height >= t.submit_until && height < t.commit_until && !j.committed {
                match commit_score(ctx, a.task, sub.id, j.score).await {
                    Ok(r) => eprintln!("  submission {}: score committed at height {}", sub.id, r.height.unwrap_or(0)),
                    Err(e) => eprintln!("  submission {}: the commit failed: {e:#}", sub.id),
                }
            }
            if height >= t.commit_until && height < t.reveal_until && j.committed && !j.revealed {
                match reveal_score(ctx, a.task, sub.id, Some(j.score)).await {
                    Ok((r, score)) => {
                        eprintln!("  submission {}: score {score} revealed at height {}", sub.id, r.height.unwrap_or(0))
                    }
                    Err(e) => eprintln!("  submission {}: the reveal failed: {e:#}", sub.id),
                }
            }
        }
        let phase = if height < t.submit_until {
            "scoring submissions as they arrive"
        } else if height < t.commit_until {
            "committing"
        } else {
            "revealing"
        };
        let public: Vec<serde_json::Value> = judged
            .values()
            .map(|j| serde_json::json!({"submission": j.submission, "node": j.node, "committed": j.committed, "revealed": j.revealed}))
            .collect();
        board.patch(serde_json::json!({"phase": phase, "height": height, "submissions": public}));
        if height >= t.reveal_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(a.poll_ms.max(100))).await;
    }
    // The last word is the ledger's.
    let record = client.arena_task(a.task).await.map_err(client_error)?;
    for j in judged.values_mut() {
        let mine = record.scores.iter().find(|s| s.submission == j.submission && s.validator == me);
        j.committed = mine.is_some();
        j.revealed = mine.is_some_and(|s| s.revealed.is_some());
    }
    let rows: Vec<&Judgement> = judged.values().collect();
    let missed = rows.iter().filter(|j| !j.revealed).count();
    ctx.print(&serde_json::json!({"task": a.task, "validator": me, "submissions": rows}), || {
        let lines: Vec<Vec<String>> = rows
            .iter()
            .map(|j| {
                vec![
                    j.submission.to_string(),
                    j.node.to_string(),
                    j.verdict.clone(),
                    if j.revealed {
                        "revealed"
                    } else if j.committed {
                        "committed only"
                    } else {
                        "missed"
                    }
                    .into(),
                ]
            })
            .collect();
        format!(
            "task {}: the reveal window is over; {} submission(s) assigned to {me}\n{}",
            a.task,
            rows.len(),
            table(&["submission", "training node", "score", "on the ledger"], &lines)
        )
    })?;
    if a.stay {
        return super::arena::finish_round_and_stay(ctx, a.task, a.poll_ms, &board).await;
    }
    Ok(if missed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use stratus_train::engine::Engine;
    use stratus_train::job::Job;
    use stratus_types::arena::{Task, TaskSpec, TaskState};
    use stratus_types::coin::Coin;

    use super::*;

    fn model(layers: usize, context: usize) -> Vec<u8> {
        let toml = format!(
            "[model]\nvocab = 256\nlayers = {layers}\nwidth = 16\nheads = 2\ncontext = {context}\n[data]\nurl = \"x\"\n[training]\nsteps = 1\nseed = 1\n"
        );
        let engine = Engine::new(&Job::parse("test", &toml).unwrap()).unwrap();
        stratus_train::model_file::from_engine(&engine).unwrap()
    }

    fn task(max_params: u64, context: u32) -> Task {
        Task {
            id: 1,
            creator: Address::from_public_key(&[1; 32]),
            spec: TaskSpec {
                base_models: vec![[0; 32]],
                data_url: "x".into(),
                validation_commitment: [0; 32],
                max_params,
                context,
                submission_blocks: 1,
                commit_blocks: 1,
                reveal_blocks: 1,
                pool: Coin::new(1, "uact"),
                min_stake: 1,
                validators_per_submission: 1,
                max_submissions_per_node: 1,
            },
            created_at: 1,
            submit_until: 2,
            commit_until: 3,
            reveal_until: 4,
            state: TaskState::Open,
        }
    }

    fn submission(bytes: &[u8]) -> Submission {
        Submission {
            task: 1,
            id: 0,
            node: Address::from_public_key(&[2; 32]),
            model_sha256: Sha256::digest(bytes).into(),
            location: "model.safetensors".into(),
            base_model: [0; 32],
            submitted_at: 2,
            validators: vec![],
        }
    }

    #[test]
    fn a_usable_model_is_scored_and_each_broken_rule_scores_last_with_its_reason() {
        let text = b"the provider leases a gpu every block.\n".repeat(20);
        let good = model(1, 16);
        let (score, verdict) = judge(&task(1_000_000, 16), &submission(&good), Ok(good.clone()), &text, 100);
        assert!(score > 1_000_000 && score < UNUSABLE_MODEL_SCORE, "{score} {verdict}");
        assert!(verdict.contains("bits/byte"), "{verdict}");

        let cases: Vec<(Task, Submission, anyhow::Result<Vec<u8>>, &str)> = vec![
            (task(1_000_000, 16), submission(&good), Ok(model(2, 16)), "is not the submitted"),
            (task(1_000_000, 16), submission(&good), Err(anyhow::anyhow!("connection refused")), "cannot download"),
            (task(1_000_000, 16), submission(b"junk"), Ok(b"junk".to_vec()), "not a model file"),
            (task(100, 16), submission(&good), Ok(good.clone()), "parameters: the task allows 100"),
            (task(1_000_000, 32), submission(&good), Ok(good.clone()), "context 16: the task scores at 32"),
        ];
        for (t, s, bytes, why) in cases {
            let (score, verdict) = judge(&t, &s, bytes, &text, 100);
            assert_eq!(score, UNUSABLE_MODEL_SCORE, "{verdict}");
            assert!(verdict.contains(why), "expected {why:?} in {verdict:?}");
        }
    }
}
