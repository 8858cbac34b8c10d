//! Token shards in webdataset format: a shard is a plain tar whose members are grouped into
//! samples by basename (`000123.tokens` …); shards are named `{split}-{000000}.tar`, and
//! `index.json` beside them says what they hold. Tokens are bytes (vocabulary 256). Pure: bytes
//! in, bytes out; [`crate::storage`] moves them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const FORMAT: &str = "stratus-webdataset/1";

/// What a prepared data set holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub format: String,
    /// `bytes`: each token is one byte of UTF-8 text.
    pub tokenizer: String,
    pub sample_tokens: u32,
    /// Samples in each training shard.
    pub train: Vec<u32>,
    /// Samples in each validation shard (held-out text, never trained on).
    pub val: Vec<u32>,
    /// sha256 of the corpus as read.
    pub corpus_sha256: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
        }
    }
}

pub fn shard_name(split: Split, shard: u32) -> String {
    format!("{}-{shard:06}.tar", split.name())
}

/// A file to write: its name and bytes.
pub type NamedFile = (String, Vec<u8>);

/// Options of `stratus train prepare`.
#[derive(Clone, Copy, Debug)]
pub struct PrepareOptions {
    pub sample_tokens: u32,
    pub samples_per_shard: u32,
    pub val_fraction: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("the corpus has {have} bytes: too few for one training and one validation sample of {need} tokens")]
    TooSmall { have: usize, need: usize },
    #[error("--val-fraction {0} is not in (0, 1)")]
    ValFraction(f64),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("shard {name}: {message}")]
    Malformed { name: String, message: String },
}

/// Cuts `corpus` into samples of `sample_tokens` bytes (a last partial one is dropped), holds out
/// the last `val_fraction` of them (a contiguous stretch of text, so no training window overlaps
/// it), and packs both splits into shards. Returns the index and the named shard files.
pub fn prepare(corpus: &[u8], o: PrepareOptions) -> Result<(Index, Vec<NamedFile>), ShardError> {
    if o.sample_tokens == 0 {
        return Err(ShardError::Zero("--sample-tokens"));
    }
    if o.samples_per_shard == 0 {
        return Err(ShardError::Zero("--samples-per-shard"));
    }
    if !(o.val_fraction > 0.0 && o.val_fraction < 1.0) {
        return Err(ShardError::ValFraction(o.val_fraction));
    }
    let samples: Vec<&[u8]> = corpus.chunks_exact(o.sample_tokens as usize).collect();
    let val_n = ((samples.len() as f64 * o.val_fraction).ceil() as usize).max(1);
    if samples.len() < val_n + 1 {
        return Err(ShardError::TooSmall { have: corpus.len(), need: o.sample_tokens as usize });
    }
    let (train, val) = samples.split_at(samples.len() - val_n);
    let mut files = Vec::new();
    let mut sizes = |split: Split, samples: &[&[u8]]| -> Vec<u32> {
        samples
            .chunks(o.samples_per_shard as usize)
            .enumerate()
            .map(|(i, chunk)| {
                files.push((shard_name(split, i as u32), write_shard(chunk)));
                chunk.len() as u32
            })
            .collect()
    };
    let train = sizes(Split::Train, train);
    let val = sizes(Split::Val, val);
    let index = Index {
        format: FORMAT.into(),
        tokenizer: "bytes".into(),
        sample_tokens: o.sample_tokens,
        train,
        val,
        corpus_sha256: hex::encode(Sha256::digest(corpus)),
    };
    Ok((index, files))
}

/// A tar of samples `000000.tokens`, `000001.tokens`, …
pub fn write_shard(samples: &[&[u8]]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (i, s) in samples.iter().enumerate() {
        let mut header = tar::Header::new_ustar();
        header.set_size(s.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        // Writing into a Vec cannot fail.
        let _ = tar.append_data(&mut header, format!("{i:06}.tokens"), *s);
    }
    tar.into_inner().unwrap_or_default()
}

/// The samples of a shard, in order: each group of members sharing a basename must have a
/// `.tokens` member; other members (cached features, metadata) are ignored here.
pub fn read_shard(name: &str, bytes: &[u8]) -> Result<Vec<Vec<u8>>, ShardError> {
    let bad = |message: String| ShardError::Malformed { name: name.to_string(), message };
    let mut archive = tar::Archive::new(bytes);
    let mut samples: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().into_owned();
        let (key, ext) = path.split_once('.').ok_or_else(|| bad(format!("member {path} has no extension")))?;
        let key = key.to_string();
        if samples.last().is_none_or(|(k, _)| *k != key) {
            samples.push((key.clone(), None));
        }
        if ext == "tokens" {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).map_err(|e| bad(e.to_string()))?;
            if let Some(last) = samples.last_mut() {
                last.1 = Some(data);
            }
        }
    }
    samples
        .into_iter()
        .map(|(key, data)| data.ok_or_else(|| bad(format!("sample {key} has no .tokens member"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corpus_becomes_train_and_held_out_shards_that_read_back() {
        let corpus: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let o = PrepareOptions { sample_tokens: 100, samples_per_shard: 16, val_fraction: 0.1 };
        let (index, files) = prepare(&corpus, o).expect("prepared");
        assert_eq!(index.val.iter().sum::<u32>(), 10);
        assert_eq!(index.train.iter().sum::<u32>(), 90);
        assert_eq!(index.train, vec![16, 16, 16, 16, 16, 10]);
        assert_eq!(files[0].0, "train-000000.tar");
        let first = read_shard(&files[0].0, &files[0].1).expect("reads");
        assert_eq!(first.len(), 16);
        assert_eq!(first[1], corpus[100..200].to_vec());
        let val = files.iter().find(|(n, _)| n == "val-000000.tar").expect("val shard");
        assert_eq!(read_shard(&val.0, &val.1).expect("reads")[0], corpus[9000..9100].to_vec(), "the last tenth");
        let err = read_shard("x.tar", b"not a tar at all, really not").expect_err("refused");
        assert!(err.to_string().starts_with("shard x.tar: "), "{err}");
        assert!(matches!(prepare(b"short", o), Err(ShardError::TooSmall { .. })));
        assert!(matches!(prepare(&corpus, PrepareOptions { val_fraction: 1.0, ..o }), Err(ShardError::ValFraction(_))));
    }
}
