//! The job file (TOML): what to train, on what data, how to exchange, where to checkpoint.
//! `docs/training.md` documents every field; [`Job::parse`] refuses what cannot run, saying
//! which field and why.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::ModelConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub model: ModelConfig,
    pub data: DataConfig,
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    pub training: TrainingConfig,
    #[serde(default)]
    pub membership: MembershipConfig,
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    #[serde(default)]
    pub link: LinkConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Where `stratus train prepare` wrote the shards: `s3://bucket/prefix`, `file:///dir` or a path.
    pub url: String,
    /// Samples per inner step per worker.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_batch() -> usize {
    4
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    pub lr: f64,
    pub warmup_steps: u64,
    /// The cosine schedule's floor as a fraction of `lr`.
    pub min_lr_ratio: f64,
    pub weight_decay: f64,
    /// Global gradient-norm clip (0: none).
    pub clip: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig { lr: 3e-3, warmup_steps: 20, min_lr_ratio: 0.1, weight_decay: 0.01, clip: 1.0 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// H local steps, then an exchange of compressed pseudo-gradients and the outer step.
    Diloco,
    /// An fp32 all-reduce of the gradients every step (the baseline).
    Ddp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Int8,
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// Inner steps per worker over the whole run (the token budget: steps × workers × batch).
    pub steps: u64,
    /// DiLoCo's H: inner steps between exchanges (1 in DDP mode, whatever is written).
    #[serde(default = "default_inner_steps")]
    pub inner_steps: u64,
    #[serde(default = "default_outer_lr")]
    pub outer_lr: f32,
    #[serde(default = "default_outer_momentum")]
    pub outer_momentum: f32,
    #[serde(default = "default_compression")]
    pub compression: Compression,
    /// The job's seed: initial parameters and the data order follow from it.
    #[serde(default)]
    pub seed: u64,
}

fn default_mode() -> Mode {
    Mode::Diloco
}
fn default_inner_steps() -> u64 {
    100
}
fn default_outer_lr() -> f32 {
    0.7
}
fn default_outer_momentum() -> f32 {
    0.9
}
fn default_compression() -> Compression {
    Compression::Int8
}

impl TrainingConfig {
    /// Inner steps per exchange.
    pub fn steps_per_round(&self) -> u64 {
        match self.mode {
            Mode::Diloco => self.inner_steps,
            Mode::Ddp => 1,
        }
    }

    pub fn rounds(&self) -> u64 {
        self.steps.div_ceil(self.steps_per_round())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MembershipConfig {
    pub heartbeat_ms: u64,
    /// A member silent this long is removed.
    pub death_timeout_ms: u64,
    /// Fraction of the live members whose contributions let a round close at the deadline.
    pub quorum: f64,
    /// The deadline is median + k·MAD of recent arrival times.
    pub deadline_k: f64,
    pub min_deadline_ms: u64,
    /// The longest a round waits for a quorum before closing with whoever arrived.
    pub max_wait_ms: u64,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        MembershipConfig {
            heartbeat_ms: 2_000,
            death_timeout_ms: 10_000,
            quorum: 2.0 / 3.0,
            deadline_k: 3.0,
            min_deadline_ms: 500,
            max_wait_ms: 600_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Where checkpoints go (`s3://…`, `file://…` or a path); none: no checkpoints.
    pub url: Option<String>,
    /// Every this many exchanges (and at the end).
    pub every_rounds: u64,
    /// Complete checkpoints kept; older ones are deleted.
    pub keep_last: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig { url: None, every_rounds: 1, keep_last: 3 }
    }
}

/// A simulated wide-area link on each worker's connection (0 = off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkConfig {
    pub rate_mbit: f64,
    pub delay_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: {field}: {message}")]
    Invalid { path: String, field: &'static str, message: String },
}

impl Job {
    /// Parses and checks a job file's text; `path` names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<Job, JobError> {
        let job: Job = toml::from_str(text)
            .map_err(|e| JobError::Syntax { path: path.to_string(), message: e.to_string().trim().to_string() })?;
        job.check().map_err(|(field, message)| JobError::Invalid { path: path.to_string(), field, message })?;
        Ok(job)
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        let m = &self.model;
        if m.vocab != 256 {
            return Err(("model.vocab", format!("{} — shards hold byte-level tokens: use 256", m.vocab)));
        }
        for (field, v) in [("model.width", m.width), ("model.heads", m.heads), ("model.context", m.context)] {
            if v == 0 {
                return Err((field, "must be at least 1".into()));
            }
        }
        if !m.width.is_multiple_of(m.heads) {
            return Err(("model.heads", format!("width {} is not divisible by {} heads", m.width, m.heads)));
        }
        if self.data.batch == 0 {
            return Err(("data.batch", "must be at least 1".into()));
        }
        let t = &self.training;
        if t.steps == 0 {
            return Err(("training.steps", "must be at least 1".into()));
        }
        if t.mode == Mode::Diloco && t.inner_steps == 0 {
            return Err(("training.inner_steps", "must be at least 1".into()));
        }
        if !(self.optimizer.lr > 0.0 && self.optimizer.lr.is_finite()) {
            return Err(("optimizer.lr", format!("{} is not a positive learning rate", self.optimizer.lr)));
        }
        let ms = &self.membership;
        if !(ms.quorum > 0.0 && ms.quorum <= 1.0) {
            return Err(("membership.quorum", format!("{} is not a fraction in (0, 1]", ms.quorum)));
        }
        if ms.heartbeat_ms == 0 || ms.death_timeout_ms <= ms.heartbeat_ms {
            return Err(("membership.death_timeout_ms", "must exceed heartbeat_ms (and both be positive)".into()));
        }
        if self.checkpoint.url.is_some() && (self.checkpoint.every_rounds == 0 || self.checkpoint.keep_last == 0) {
            return Err(("checkpoint", "every_rounds and keep_last must be at least 1".into()));
        }
        if self.link.rate_mbit < 0.0 || !self.link.rate_mbit.is_finite() {
            return Err(("link.rate_mbit", "must be 0 (off) or a positive rate".into()));
        }
        Ok(())
    }

    /// The hash checkpoints carry, so a resume under a changed job is noticed.
    pub fn sha256(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[model]
vocab = 256
layers = 2
width = 64
heads = 4
context = 32

[data]
url = "s3://bucket/fortunes"

[training]
steps = 200
inner_steps = 50
"#;

    #[test]
    fn a_job_file_parses_with_defaults_and_bad_ones_say_which_field() {
        let job = Job::parse("job.toml", GOOD).expect("parses");
        assert_eq!(job.training.mode, Mode::Diloco);
        assert_eq!(job.training.rounds(), 4);
        assert_eq!(job.membership.heartbeat_ms, 2_000);
        assert_eq!(job.membership.death_timeout_ms, 10_000);
        let bad = GOOD.replace("heads = 4", "heads = 5");
        let err = Job::parse("job.toml", &bad).expect_err("refused").to_string();
        assert_eq!(err, "job.toml: model.heads: width 64 is not divisible by 5 heads");
        let err = Job::parse("job.toml", &format!("{GOOD}\n[link]\nrate = 3\n")).expect_err("refused").to_string();
        assert!(err.starts_with("job.toml: ") && err.contains("unknown field `rate`"), "{err}");
        let ddp = GOOD.replace("steps = 200", "steps = 200\nmode = \"ddp\"");
        assert_eq!(Job::parse("j", &ddp).expect("ddp").training.rounds(), 200);
        assert_ne!(job.sha256(), Job::parse("j", &ddp).expect("ddp").sha256());
    }
}
