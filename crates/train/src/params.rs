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

    /// Replaces candle's (unseeded) initial values with seeded ones of the same scale: a normal
    /// draw with each tensor's own standard deviation, around its own mean, so layer norms stay
    /// at one and biases at zero.
    pub fn seed(&self, seed: u64) -> Result<()> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for v in &self.vars {
            let values = v.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            let n = values.len().max(1) as f64;
            let mean = values.iter().map(|x| f64::from(*x)).sum::<f64>() / n;
            let std = (values.iter().map(|x| (f64::from(*x) - mean).powi(2)).sum::<f64>() / n).sqrt();
            let fresh: Vec<f32> = match Normal::new(mean, std) {
                Ok(normal) if std > 0.0 => (0..values.len()).map(|_| normal.sample(&mut rng) as f32).collect(),
                _ => values.clone(),
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
