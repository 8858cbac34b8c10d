//! Streams shards from storage (S3 or a directory) and turns sample ranges into token batches.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};

use super::plan::Range;
use super::shards::{FORMAT, Index, Split, read_shard, shard_name};
use crate::storage::Storage;

/// Shards kept in memory (a worker streams through one at a time; a few cover range boundaries).
const CACHED_SHARDS: usize = 4;

/// Recently read shards by (split, shard id), oldest first.
type Cache = VecDeque<((u32, u32), Arc<Vec<Vec<u8>>>)>;

pub struct Dataset {
    storage: Storage,
    pub index: Index,
    cache: Mutex<Cache>,
}

impl Dataset {
    pub fn open(url: &str) -> anyhow::Result<Dataset> {
        let storage = Storage::open(url)?;
        let raw = storage.get("index.json").map_err(|e| {
            anyhow::anyhow!(
                "{e}\n  (no data set at {url}? `stratus train prepare --corpus PATH --out {url}` makes one)"
            )
        })?;
        let index: Index = serde_json::from_slice(&raw).map_err(|e| anyhow::anyhow!("{url}/index.json: {e}"))?;
        if index.format != FORMAT {
            anyhow::bail!("{url}/index.json: format {:?}, this build reads {FORMAT:?}", index.format);
        }
        Ok(Dataset { storage, index, cache: Mutex::new(VecDeque::new()) })
    }

    /// The samples of a shard, fetched once and kept while in use.
    pub fn shard(&self, split: Split, shard: u32) -> anyhow::Result<Arc<Vec<Vec<u8>>>> {
        let key = (split as u32, shard);
        if let Some((_, s)) = self.lock().iter().find(|(k, _)| *k == key) {
            return Ok(s.clone());
        }
        let name = shard_name(split, shard);
        let bytes = self.storage.get(&name)?;
        let samples = Arc::new(read_shard(&name, &bytes)?);
        let mut cache = self.lock();
        cache.push_back((key, samples.clone()));
        if cache.len() > CACHED_SHARDS {
            cache.pop_front();
        }
        Ok(samples)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The training samples of `ranges`, in order.
    pub fn samples(&self, ranges: &[Range]) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for r in ranges {
            let shard = self.shard(Split::Train, r.shard)?;
            let got = shard.get(r.from as usize..r.to as usize).ok_or_else(|| {
                anyhow::anyhow!("train shard {} has {} samples; asked for {}..{}", r.shard, shard.len(), r.from, r.to)
            })?;
            out.extend(got.iter().cloned());
        }
        Ok(out)
    }

    /// Every validation sample (at most `limit`).
    pub fn val_samples(&self, limit: usize) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for shard in 0..self.index.val.len() as u32 {
            out.extend(self.shard(Split::Val, shard)?.iter().cloned());
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
        }
        Ok(out)
    }
}

/// Windows of `context + 1` tokens (input and the next-token target), cut from each sample
/// without overlap: a `(windows, context + 1)` tensor.
pub fn windows(samples: &[Vec<u8>], context: usize, device: &Device) -> anyhow::Result<Tensor> {
    let span = context + 1;
    let mut ids: Vec<u32> = Vec::new();
    for s in samples {
        if s.len() < span {
            anyhow::bail!(
                "samples of {} tokens are shorter than the model's context + 1 ({span}); prepare with --sample-tokens ≥ {span}",
                s.len()
            );
        }
        for w in s.chunks_exact(span) {
            ids.extend(w.iter().map(|b| u32::from(*b)));
        }
    }
    let n = ids.len() / span;
    Ok(Tensor::from_vec(ids, (n, span), device)?)
}
