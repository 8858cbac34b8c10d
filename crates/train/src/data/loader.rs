//! Streams shards from storage (S3 or a directory) and turns sample ranges into token batches.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candle_core::{Device, Tensor};

use super::plan::Range;
use super::shards::{FORMAT, Index, Split, read_shard, shard_name};
use crate::storage::Storage;

/// Bytes of shards kept in memory. A round's worth and the prefetcher's lead at least; a small
/// data set stays whole, so later epochs read nothing from storage again.
const CACHE_BYTES: usize = 256 << 20;

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
        // Storage hiccups (a throttled or restarting server) must not end a training run: retry
        // with back-off for about half a minute, then say what failed.
        let mut wait = Duration::from_millis(200);
        let bytes = loop {
            match self.storage.get(&name) {
                Ok(b) => break b,
                Err(e) if wait > Duration::from_secs(10) => return Err(e.into()),
                Err(e) => {
                    tracing::warn!("{e}; retrying in {wait:?}");
                    std::thread::sleep(wait);
                    wait *= 2;
                }
            }
        };
        let samples = Arc::new(read_shard(&name, &bytes)?);
        let mut cache = self.lock();
        cache.push_back((key, samples.clone()));
        let size = |s: &Arc<Vec<Vec<u8>>>| s.iter().map(Vec::len).sum::<usize>();
        let mut total: usize = cache.iter().map(|(_, s)| size(s)).sum();
        while total > CACHE_BYTES && cache.len() > 1 {
            if let Some((_, old)) = cache.pop_front() {
                total -= size(&old);
            }
        }
        Ok(samples)
    }

    /// Fetches the shards of `ranges` in order, ahead of the training loop that reads them (run on
    /// a thread of its own, so storage latency overlaps compute).
    pub fn prefetch(&self, ranges: &[Range]) {
        let mut shards: Vec<u32> = Vec::new();
        for r in ranges {
            if shards.last() != Some(&r.shard) {
                shards.push(r.shard);
            }
        }
        for shard in shards {
            // A cached shard comes back at once; an error is the training loop's to report when
            // it fetches the shard itself.
            if self.shard(Split::Train, shard).is_err() {
                return;
            }
        }
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

/// Tokens a sample trains: each of its whole windows of `context + 1` predicts `context` of them
/// (what [`windows`] cuts).
pub fn tokens_per_sample(sample_tokens: u32, context: usize) -> u64 {
    (sample_tokens as usize / (context + 1) * context) as u64
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

/// `ranges` cut into consecutive groups of `batch` samples (the last may be shorter): one group
/// per inner step.
pub fn steps(ranges: &[Range], batch: usize) -> Vec<Vec<Range>> {
    let batch = batch.max(1) as u32;
    let mut out: Vec<Vec<Range>> = Vec::new();
    let mut current: Vec<Range> = Vec::new();
    let mut room = batch;
    for r in ranges {
        let mut r = *r;
        while !r.is_empty() {
            let n = r.len().min(room);
            current.push(Range { to: r.from + n, ..r });
            r.from += n;
            room -= n;
            if room == 0 {
                out.push(std::mem::take(&mut current));
                room = batch;
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_cut_into_steps_of_batch_samples() {
        let r = |shard, from, to| Range { epoch: 0, shard, from, to };
        let steps = steps(&[r(1, 0, 5), r(2, 3, 6)], 3);
        assert_eq!(steps, vec![vec![r(1, 0, 3)], vec![r(1, 3, 5), r(2, 3, 4)], vec![r(2, 4, 6)]]);
    }
}
