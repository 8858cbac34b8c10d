//! Checkpoints on S3-compatible storage (or a directory): the objects of a checkpoint first, its
//! `manifest.json` last, listing every object with its size and sha256. A checkpoint exists only
//! when its manifest exists and every object it lists verifies; resume takes the newest such one
//! and says which torn ones it skipped. Old checkpoints are pruned to the newest `keep_last`.
//!
//! Layout under the checkpoint URL: `ckpt/{round:010}/{theta,momentum}.safetensors`,
//! `ckpt/{round:010}/state.json`, `ckpt/{round:010}/manifest.json`.

use std::collections::{BTreeMap, HashMap};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::plan::{DataPlan, Position, WorkerId};
use crate::job::Job;
use crate::storage::Storage;

/// What a checkpoint restores.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Exchanges applied so far.
    pub round: u64,
    /// Inner steps per worker so far.
    pub step: u64,
    pub tokens: u64,
    /// The global parameters, by name (as safetensors holds them), and flat.
    pub theta: Vec<f32>,
    /// DiLoCo's outer momentum (empty in DDP mode).
    pub velocity: Vec<f32>,
    pub plan: DataPlan,
    pub job: Job,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub round: u64,
    pub step: u64,
    pub tokens: u64,
    pub job_sha256: String,
    /// Every worker's data position (epoch, shard, sample offset) when the checkpoint was taken.
    pub positions: BTreeMap<WorkerId, Position>,
    pub objects: Vec<Object>,
}

/// The part of the state that is neither tensor: counters, the job and the data plan.
#[derive(Serialize, Deserialize)]
struct State {
    round: u64,
    step: u64,
    tokens: u64,
    job: Job,
    plan: DataPlan,
}

pub fn dir_name(round: u64) -> String {
    format!("{round:010}")
}

/// Writes `ck` under `ckpt/{round}`: objects, then the manifest; then prunes to `keep_last`.
/// `names` are the parameters' names in flat order, with their lengths and shapes (from the model).
pub fn write(
    storage: &Storage,
    ck: &Checkpoint,
    named: &HashMap<String, Tensor>,
    keep_last: usize,
) -> anyhow::Result<()> {
    let dir = storage.child("ckpt").child(&dir_name(ck.round));
    let mut objects = Vec::new();
    let mut put = |name: &str, data: Vec<u8>| -> anyhow::Result<()> {
        objects.push(Object { name: name.into(), size: data.len() as u64, sha256: hex::encode(Sha256::digest(&data)) });
        dir.put(name, data)?;
        Ok(())
    };
    put("theta.safetensors", safetensors_bytes(named)?)?;
    let velocity: HashMap<String, Tensor> = if ck.velocity.is_empty() {
        HashMap::new()
    } else {
        [("velocity".to_string(), Tensor::from_slice(&ck.velocity, ck.velocity.len(), &Device::Cpu)?)].into()
    };
    put("momentum.safetensors", safetensors_bytes(&velocity)?)?;
    let state = State { round: ck.round, step: ck.step, tokens: ck.tokens, job: ck.job.clone(), plan: ck.plan.clone() };
    put("state.json", serde_json::to_vec_pretty(&state)?)?;
    let manifest = Manifest {
        round: ck.round,
        step: ck.step,
        tokens: ck.tokens,
        job_sha256: ck.job.sha256(),
        positions: ck.plan.positions(),
        objects,
    };
    dir.put("manifest.json", serde_json::to_vec_pretty(&manifest)?)?;
    prune(storage, keep_last)?;
    Ok(())
}

/// The newest checkpoint whose manifest exists and whose objects all verify, and a line for each
/// newer one that was skipped (torn, or failing verification).
pub struct Found {
    pub checkpoint: Option<(Manifest, Checkpoint)>,
    pub skipped: Vec<String>,
}

pub fn latest(storage: &Storage) -> anyhow::Result<Found> {
    let ckpt = storage.child("ckpt");
    let mut dirs = ckpt.list_dirs("")?;
    dirs.sort();
    let mut skipped = Vec::new();
    for d in dirs.iter().rev() {
        match load(&ckpt.child(d)) {
            Ok(found) => return Ok(Found { checkpoint: Some(found), skipped }),
            Err(why) => {
                let line = format!("skipping checkpoint {}/{d}: {why:#}", ckpt.url());
                tracing::warn!("{line}");
                skipped.push(line);
            }
        }
    }
    Ok(Found { checkpoint: None, skipped })
}

/// One checkpoint directory, verified against its manifest.
pub fn load(dir: &Storage) -> anyhow::Result<(Manifest, Checkpoint)> {
    let raw = dir
        .get_opt("manifest.json")?
        .ok_or_else(|| anyhow::anyhow!("no manifest (torn: its upload never finished)"))?;
    let manifest: Manifest = serde_json::from_slice(&raw).map_err(|e| anyhow::anyhow!("manifest.json: {e}"))?;
    let mut objects: HashMap<&str, bytes::Bytes> = HashMap::new();
    for o in &manifest.objects {
        let data = dir.get_opt(&o.name)?.ok_or_else(|| anyhow::anyhow!("{} is missing", o.name))?;
        let sha = hex::encode(Sha256::digest(&data));
        if data.len() as u64 != o.size || sha != o.sha256 {
            anyhow::bail!(
                "{}: {} bytes with sha256 {sha}; the manifest says {} bytes, {}",
                o.name,
                data.len(),
                o.size,
                o.sha256
            );
        }
        objects.insert(&o.name, data);
    }
    let get = |name: &str| objects.get(name).ok_or_else(|| anyhow::anyhow!("the manifest lists no {name}"));
    let state: State = serde_json::from_slice(get("state.json")?).map_err(|e| anyhow::anyhow!("state.json: {e}"))?;
    let theta = candle_core::safetensors::load_buffer(get("theta.safetensors")?, &Device::Cpu)?;
    let mut names: Vec<&String> = theta.keys().collect();
    names.sort();
    let mut flat = Vec::new();
    for n in names {
        flat.extend(theta[n].flatten_all()?.to_vec1::<f32>()?);
    }
    let momentum = candle_core::safetensors::load_buffer(get("momentum.safetensors")?, &Device::Cpu)?;
    let velocity = match momentum.get("velocity") {
        Some(t) => t.to_vec1::<f32>()?,
        None => Vec::new(),
    };
    let ck = Checkpoint {
        round: state.round,
        step: state.step,
        tokens: state.tokens,
        theta: flat,
        velocity,
        plan: state.plan,
        job: state.job,
    };
    Ok((manifest, ck))
}

/// Keeps the newest `keep_last` complete checkpoints; deletes older ones, complete or torn.
/// Torn ones newer than the newest complete one may be uploads in progress: they stay.
pub fn prune(storage: &Storage, keep_last: usize) -> anyhow::Result<()> {
    let ckpt = storage.child("ckpt");
    let mut dirs = ckpt.list_dirs("")?;
    dirs.sort();
    let mut kept = 0;
    for d in dirs.iter().rev() {
        let complete = ckpt.child(d).get_opt("manifest.json")?.is_some();
        if kept >= keep_last {
            ckpt.delete_all(d)?;
        } else if complete {
            kept += 1;
        }
    }
    Ok(())
}

fn safetensors_bytes(tensors: &HashMap<String, Tensor>) -> anyhow::Result<Vec<u8>> {
    // candle writes safetensors to a file: stage it in RAM (/dev/shm) when there is one.
    let stage = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "" };
    let dir = if stage.is_empty() { tempfile::tempdir()? } else { tempfile::tempdir_in(stage)? };
    let path = dir.path().join("t.safetensors");
    candle_core::safetensors::save(tensors, &path)?;
    Ok(std::fs::read(&path)?)
}
