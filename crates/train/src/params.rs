//! The model's parameters as one flat `f32` vector, in the order of their names — the form the
//! exchange, the outer step and checkpoints move — and a seeded initialisation, so that every
//! process of a job starts from the same parameters without sending them.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

pub struct Params {
    names: Vec<String>,
    vars: Vec<Var>,
    len: usize,
}

impl Params {
    /// The variables of `vars`, sorted by name (a `VarMap` is a hash map: its order is not stable).
    pub fn of(vars: &VarMap) -> Params {
        let data = vars.data().lock().unwrap_or_else(|e| e.into_inner());
        let mut named: Vec<(String, Var)> = data.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let len = named.iter().map(|(_, v)| v.elem_count()).sum();
        let (names, vars) = named.into_iter().unzip();
        Params { names, vars, len }
    }

    /// Values in the flat vector.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    pub fn flatten(&self) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(self.len);
        for v in &self.vars {
            out.extend(v.as_tensor().flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// Sets every parameter from `flat` (as [`Params::flatten`] wrote it).
    pub fn load(&self, flat: &[f32]) -> Result<()> {
        for (v, t) in self.vars.iter().zip(self.split(flat)?) {
            v.set(&t)?;
        }
        Ok(())
    }

    /// The gradients of every parameter, flat (zeros where a parameter got none).
    pub fn flatten_grads(&self, grads: &GradStore) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(self.len);
        for v in &self.vars {
            match grads.get(v.as_tensor()) {
                Some(g) => out.extend(g.flatten_all()?.to_vec1::<f32>()?),
                None => out.extend(std::iter::repeat_n(0f32, v.elem_count())),
            }
        }
        Ok(out)
    }

    /// A gradient store holding `flat` as the gradients of the parameters.
    pub fn grads_from(&self, flat: &[f32]) -> Result<GradStore> {
        let mut grads = GradStore::default();
        for (v, t) in self.vars.iter().zip(self.split(flat)?) {
            grads.insert(v.as_tensor(), t);
        }
        Ok(grads)
    }

    /// Named tensors of `flat`, for safetensors files.
    pub fn named(&self, flat: &[f32]) -> Result<HashMap<String, Tensor>> {
        Ok(self.names.iter().cloned().zip(self.split(flat)?).collect())
    }

    /// Replaces candle's (unseeded) initial values with ones drawn from `seed` alone, so every
    /// process of a job starts from exactly the same parameters without sending them: constant
    /// tensors (layer norms' ones and zeros) stay; other vectors (biases) start at zero; matrices
    /// get a normal draw with standard deviation 1/√(fan-in), their last dimension. (Scaling by
    /// each tensor's own spread, as before, made the draw depend on candle's unseeded values.)
    pub fn seed(&self, seed: u64) -> Result<()> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for v in &self.vars {
            let values = v.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            if values.windows(2).all(|w| w[0] == w[1]) {
                continue;
            }
            let dims = v.dims();
            let fresh: Vec<f32> = match dims.last() {
                Some(&fan_in) if dims.len() >= 2 => {
                    let normal = Normal::new(0.0, 1.0 / (fan_in.max(1) as f64).sqrt())
                        .map_err(|e| candle_core::Error::Msg(format!("initialisation: {e}")))?;
                    (0..values.len()).map(|_| normal.sample(&mut rng) as f32).collect()
                }
                _ => vec![0.0; values.len()],
            };
            v.set(&Tensor::from_vec(fresh, v.shape(), v.device())?)?;
        }
        Ok(())
    }

    fn split(&self, flat: &[f32]) -> Result<Vec<Tensor>> {
        if flat.len() != self.len {
            candle_core::bail!("{} values for a model of {} parameters", flat.len(), self.len);
        }
        let mut at = 0;
        let mut out = Vec::with_capacity(self.vars.len());
        for v in &self.vars {
            let n = v.elem_count();
            out.push(Tensor::from_slice(&flat[at..at + n], v.shape(), v.device())?);
            at += n;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};
    use candle_nn::VarBuilder;

    use super::*;
    use crate::model::{Lm, ModelConfig};

    fn seeded(seed: u64) -> Vec<f32> {
        let vars = VarMap::new();
        let config = ModelConfig { vocab: 256, layers: 2, width: 32, heads: 4, context: 16 };
        let _lm = Lm::new(config, VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).expect("model");
        let params = Params::of(&vars);
        params.seed(seed).expect("seed");
        params.flatten().expect("flatten")
    }

    #[test]
    fn two_models_seeded_alike_hold_the_same_parameters_and_other_seeds_differ() {
        // Each model gets its own unseeded candle initialisation first: the seed must erase it.
        let (a, b) = (seeded(3), seeded(3));
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "same seed, same bits");
        assert_ne!(a, seeded(4));
        assert!(a.iter().all(|x| x.is_finite()));
    }
}
