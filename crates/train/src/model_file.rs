//! A model as one file — the unit the arena exchanges: the parameters as safetensors with the
//! architecture ([`ModelConfig`] as JSON) in the header's metadata under [`CONFIG_KEY`]. Its sha256
//! is what a task lists as a base model and what a submission commits to; [`Scorer`] measures it in
//! bits per byte on a validation text (what arena validators report).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::engine::mean_loss;
use crate::model::{Lm, ModelConfig, ModelError};
use crate::params::Params;

/// The metadata entry holding the architecture.
pub const CONFIG_KEY: &str = "stratus.model";

/// Why bytes are not a usable model file. Each says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("not a safetensors file: {0}")]
    NotSafetensors(String),
    #[error("no `{CONFIG_KEY}` entry in its metadata: not a model written by `stratus train export`")]
    NoConfig,
    #[error("its `{CONFIG_KEY}` metadata is not a model configuration: {0}")]
    BadConfig(String),
    #[error("the architecture is unusable: {0}")]
    Model(#[from] ModelError),
    #[error("tensor {name}: {why}")]
    Tensor { name: String, why: String },
    #[error("{0}")]
    Candle(#[from] candle_core::Error),
}

/// The bytes of a model file for `config` with parameters `named` (as [`Params::named`] gives them).
pub fn encode(config: &ModelConfig, named: &HashMap<String, Tensor>) -> Result<Vec<u8>, ModelFileError> {
    let meta: HashMap<String, String> = [(
        CONFIG_KEY.to_string(),
        serde_json::to_string(config).map_err(|e| ModelFileError::BadConfig(e.to_string()))?,
    )]
    .into();
    let mut tensors: Vec<(&String, &Tensor)> = named.iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    safetensors::serialize(tensors, Some(meta)).map_err(|e| ModelFileError::NotSafetensors(e.to_string()))
}

/// The model file of an engine's current parameters.
pub fn from_engine(engine: &crate::engine::Engine) -> Result<Vec<u8>, ModelFileError> {
    let theta = engine.params.flatten()?;
    encode(engine.lm.config(), &engine.params.named(&theta)?)
}

/// The architecture a model file declares, without loading its tensors.
pub fn config_of(bytes: &[u8]) -> Result<ModelConfig, ModelFileError> {
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| ModelFileError::NotSafetensors(e.to_string()))?;
    let raw = meta.metadata().as_ref().and_then(|m| m.get(CONFIG_KEY)).ok_or(ModelFileError::NoConfig)?;
    serde_json::from_str(raw).map_err(|e| ModelFileError::BadConfig(e.to_string()))
}

/// Sets every variable of `vars` (an architecture just built) from the model file: each must be
/// there with its shape, and nothing else may be.
pub(crate) fn fill(vars: &VarMap, bytes: &[u8], device: &Device) -> Result<(), ModelFileError> {
    let loaded = candle_core::safetensors::load_buffer(bytes, device)?;
    let data = vars.data().lock().unwrap_or_else(|e| e.into_inner());
    for (name, var) in data.iter() {
        let t = loaded.get(name).ok_or_else(|| ModelFileError::Tensor {
            name: name.clone(),
            why: "missing (the architecture has it)".into(),
        })?;
        if t.shape() != var.shape() {
            return Err(ModelFileError::Tensor {
                name: name.clone(),
                why: format!("shape {:?}, the architecture needs {:?}", t.dims(), var.dims()),
            });
        }
        var.set(&t.to_dtype(DType::F32)?)?;
    }
    if let Some(extra) = loaded.keys().find(|n| !data.contains_key(*n)) {
        return Err(ModelFileError::Tensor {
            name: extra.clone(),
            why: "not a parameter of the declared architecture".into(),
        });
    }
    Ok(())
}

/// A model file loaded for evaluation.
pub struct Scorer {
    lm: Lm,
    pub config: ModelConfig,
    pub params: usize,
    device: Device,
    _vars: VarMap,
}

/// A model's score on a text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    pub bits_per_byte: f64,
    /// Bytes predicted (windows × context).
    pub tokens: usize,
}

impl Scorer {
    /// Builds the declared architecture and fills it from the file: every parameter must be there
    /// with its shape, and nothing else may be.
    pub fn load(bytes: &[u8]) -> Result<Scorer, ModelFileError> {
        let config = config_of(bytes)?;
        let device =
            crate::engine::device().map_err(|e| ModelFileError::Candle(candle_core::Error::Msg(e.to_string())))?;
        let vars = VarMap::new();
        let lm = Lm::new(config, VarBuilder::from_varmap(&vars, DType::F32, &device))?;
        fill(&vars, bytes, &device)?;
        let params = Params::of(&vars).len();
        Ok(Scorer { lm, config, params, device, _vars: vars })
    }

    /// Bits per byte of `text`, cut into windows of `context + 1` bytes without overlap (at most
    /// `max_windows` of them, from the start): each window predicts its last `context` bytes.
    /// `context` is the task's, at most the model's own.
    pub fn bits_per_byte(&self, text: &[u8], context: usize, max_windows: usize) -> Result<Score, ModelFileError> {
        if context == 0 || context > self.config.context {
            return Err(ModelFileError::Tensor {
                name: "positions".into(),
                why: format!("scoring needs a context of {context}; the model's is {}", self.config.context),
            });
        }
        let span = context + 1;
        let n = (text.len() / span).min(max_windows);
        if n == 0 {
            return Err(ModelFileError::Tensor {
                name: "validation text".into(),
                why: format!("{} bytes: shorter than one window of context + 1 = {span} bytes", text.len()),
            });
        }
        let ids: Vec<u32> = text[..n * span].iter().map(|b| u32::from(*b)).collect();
        let batch = Tensor::from_vec(ids, (n, span), &self.device)?;
        let loss = mean_loss(&self.lm, &batch)?;
        Ok(Score { bits_per_byte: loss / std::f64::consts::LN_2, tokens: n * context })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ModelConfig {
        ModelConfig { vocab: 256, layers: 1, width: 16, heads: 2, context: 16 }
    }

    fn file(config: ModelConfig, seed: u64) -> Vec<u8> {
        let vars = VarMap::new();
        let _lm = Lm::new(config, VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).unwrap();
        let params = Params::of(&vars);
        params.seed(seed).unwrap();
        encode(&config, &params.named(&params.flatten().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn a_model_file_round_trips_and_scores_the_same_every_time() {
        let bytes = file(tiny(), 7);
        assert_eq!(bytes, file(tiny(), 7), "the same seed gives the same bytes (a stable sha256)");
        assert_eq!(config_of(&bytes).unwrap(), tiny());
        let scorer = Scorer::load(&bytes).unwrap();
        assert_eq!(scorer.params, tiny().parameters());
        let text = b"the quick brown fox jumps over the lazy dog, again and again and again".repeat(4);
        let a = scorer.bits_per_byte(&text, 16, 1000).unwrap();
        assert_eq!(a, Scorer::load(&bytes).unwrap().bits_per_byte(&text, 16, 1000).unwrap());
        assert!(scorer.bits_per_byte(&text, 17, 1000).is_err(), "a context longer than the model's");
        assert_eq!(a.tokens, text.len() / 17 * 16);
        // An untrained byte model is near uniform: about 8 bits per byte.
        assert!((6.0..10.0).contains(&a.bits_per_byte), "{a:?}");
    }

    #[test]
    fn bad_model_files_say_what_is_wrong() {
        assert!(matches!(Scorer::load(b"not a model"), Err(ModelFileError::NotSafetensors(_))));
        let plain =
            safetensors::serialize([("x".to_string(), Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap())], None)
                .unwrap();
        assert!(matches!(Scorer::load(&plain), Err(ModelFileError::NoConfig)));
        // Parameters of one architecture under the metadata of another.
        let mut other = tiny();
        other.width = 32;
        let vars = VarMap::new();
        let _lm = Lm::new(tiny(), VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).unwrap();
        let params = Params::of(&vars);
        let lying = encode(&other, &params.named(&params.flatten().unwrap()).unwrap()).unwrap();
        let err = Scorer::load(&lying).err().expect("a shape mismatch").to_string();
        assert!(err.contains("shape"), "{err}");
        let short = Scorer::load(&file(tiny(), 1)).unwrap().bits_per_byte(b"too short", 16, 10).unwrap_err();
        assert!(short.to_string().contains("shorter than one window"), "{short}");
    }

    #[test]
    fn a_model_file_fine_tunes_from_exactly_its_parameters_and_gets_better() {
        let base = file(tiny(), 3);
        let opt = crate::job::OptimizerConfig { lr: 0.01, warmup_steps: 2, ..Default::default() };
        let mut engine = crate::engine::Engine::from_model_file(&base, &opt, 40).unwrap();
        assert_eq!(from_engine(&engine).unwrap(), base, "loaded, it writes back the same bytes");
        let text = b"the provider leases a gpu every block. ".repeat(30);
        engine.train_on_text(&text, 8, 40, 1).unwrap();
        let tuned = from_engine(&engine).unwrap();
        let before = Scorer::load(&base).unwrap().bits_per_byte(&text, 16, 50).unwrap();
        let after = Scorer::load(&tuned).unwrap().bits_per_byte(&text, 16, 50).unwrap();
        assert!(after.bits_per_byte < before.bits_per_byte - 1.0, "{before:?} → {after:?}");
        assert!(crate::engine::Engine::from_model_file(b"junk", &opt, 1).is_err());
    }
}
