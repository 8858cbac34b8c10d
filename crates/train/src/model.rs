//! A decoder-only transformer language model (GPT-style, pre-norm): token and learned position
//! embeddings, `layers` blocks of causal multi-head self-attention and a 4× GELU MLP, each with a
//! residual, a final layer norm and a linear head to the vocabulary.

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// 256 for byte-level tokens.
    pub vocab: usize,
    pub layers: usize,
    /// Width of the residual stream; divisible by `heads`.
    pub width: usize,
    pub heads: usize,
    /// Longest sequence (tokens of context).
    pub context: usize,
}

impl ModelConfig {
    /// Parameters the model has (embeddings, blocks, head).
    pub fn parameters(&self) -> usize {
        let (v, w, c) = (self.vocab, self.width, self.context);
        let block = 2 * 2 * w + (w * 3 * w + 3 * w) + (w * w + w) + (w * 4 * w + 4 * w) + (4 * w * w + w);
        v * w + c * w + self.layers * block + 2 * w + (w * v + v)
    }
}

struct Block {
    ln1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    ln2: LayerNorm,
    up: Linear,
    down: Linear,
    heads: usize,
}

impl Block {
    fn new(c: &ModelConfig, vb: VarBuilder) -> Result<Block> {
        Ok(Block {
            ln1: layer_norm(c.width, 1e-5, vb.pp("ln1"))?,
            qkv: linear(c.width, 3 * c.width, vb.pp("qkv"))?,
            proj: linear(c.width, c.width, vb.pp("proj"))?,
            ln2: layer_norm(c.width, 1e-5, vb.pp("ln2"))?,
            up: linear(c.width, 4 * c.width, vb.pp("up"))?,
            down: linear(4 * c.width, c.width, vb.pp("down"))?,
            heads: c.heads,
        })
    }

    fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t, w) = x.dims3()?;
        let hd = w / self.heads;
        let qkv = self.qkv.forward(&self.ln1.forward(x)?)?;
        // (b, t, 3, heads, hd) → three (b, heads, t, hd).
        let qkv = qkv.reshape((b, t, 3, self.heads, hd))?.permute((2, 0, 3, 1, 4))?;
        let (q, k, v) = (qkv.get(0)?.contiguous()?, qkv.get(1)?.contiguous()?, qkv.get(2)?.contiguous()?);
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (hd as f64).sqrt())?;
        let scores = scores.broadcast_add(mask)?;
        let attn = candle_nn::ops::softmax_last_dim(&scores)?;
        let y = attn.matmul(&v)?.transpose(1, 2)?.reshape((b, t, w))?;
        let x = (x + self.proj.forward(&y)?)?;
        let h = self.up.forward(&self.ln2.forward(&x)?)?.gelu()?;
        x + self.down.forward(&h)?
    }
}

pub struct Lm {
    tokens: Embedding,
    positions: Embedding,
    blocks: Vec<Block>,
    ln: LayerNorm,
    head: Linear,
    config: ModelConfig,
}

/// Why a model cannot be built as configured.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model: width {width} is not divisible by heads {heads}")]
    Heads { width: usize, heads: usize },
    #[error("model: {0} must be at least 1")]
    Zero(&'static str),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl Lm {
    pub fn new(config: ModelConfig, vb: VarBuilder) -> std::result::Result<Lm, ModelError> {
        for (name, v) in
            [("vocab", config.vocab), ("width", config.width), ("heads", config.heads), ("context", config.context)]
        {
            if v == 0 {
                return Err(ModelError::Zero(name));
            }
        }
        if !config.width.is_multiple_of(config.heads) {
            return Err(ModelError::Heads { width: config.width, heads: config.heads });
        }
        Ok(Lm {
            tokens: embedding(config.vocab, config.width, vb.pp("tokens"))?,
            positions: embedding(config.context, config.width, vb.pp("positions"))?,
            blocks: (0..config.layers)
                .map(|i| Block::new(&config, vb.pp(format!("block{i}"))))
                .collect::<Result<_>>()?,
            ln: layer_norm(config.width, 1e-5, vb.pp("ln"))?,
            head: linear(config.width, config.vocab, vb.pp("head"))?,
            config,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Logits `(batch, time, vocab)` for token ids `(batch, time)`, time ≤ context.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        if t > self.config.context {
            candle_core::bail!("{t} tokens are more than the model's context of {}", self.config.context);
        }
        let device = ids.device();
        let positions = Tensor::arange(0u32, t as u32, device)?;
        let mut x = self.tokens.forward(ids)?.broadcast_add(&self.positions.forward(&positions)?)?;
        let mask = causal_mask(t, device)?;
        for b in &self.blocks {
            x = b.forward(&x, &mask)?;
        }
        self.head.forward(&self.ln.forward(&x)?)
    }

    /// Mean next-token cross-entropy (nats) of `ids` `(batch, time + 1)`: predicts tokens 1.. from
    /// the ones before.
    pub fn loss(&self, ids: &Tensor) -> Result<Tensor> {
        let t = ids.dim(1)? - 1;
        let input = ids.narrow(1, 0, t)?;
        let target = ids.narrow(1, 1, t)?;
        let logits = self.forward(&input)?;
        let v = logits.dim(D::Minus1)?;
        candle_nn::loss::cross_entropy(&logits.reshape(((), v))?, &target.flatten_all()?)
    }
}

/// 0 where a position may attend (itself and before), −∞ after.
fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let m: Vec<f32> = (0..t).flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_vec(m, (t, t), device)?.to_dtype(DType::F32)
}
