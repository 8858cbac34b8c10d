//! The inner optimiser: AdamW with the learning-rate schedule and global-norm gradient clipping.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::schedule::Schedule;

pub struct InnerOptimizer {
    adamw: AdamW,
    vars: Vec<Var>,
    schedule: Schedule,
    /// Clip the gradients' global L2 norm to this (0: no clipping).
    clip: f64,
    step: u64,
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    pub lr: f64,
    /// The gradients' global norm before clipping.
    pub grad_norm: f64,
}

impl InnerOptimizer {
    pub fn new(vars: Vec<Var>, schedule: Schedule, weight_decay: f64, clip: f64) -> Result<InnerOptimizer> {
        let params = ParamsAdamW { lr: schedule.lr(0), beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay };
        Ok(InnerOptimizer { adamw: AdamW::new(vars.clone(), params)?, vars, schedule, clip, step: 0 })
    }

    /// Back-propagates `loss`, clips, and updates the parameters.
    pub fn step(&mut self, loss: &Tensor) -> Result<StepReport> {
        self.step_with(loss.backward()?)
    }

    /// Clips `grads` and updates the parameters with them (gradients computed elsewhere, e.g.
    /// averaged over DDP's workers).
    pub fn step_with(&mut self, mut grads: GradStore) -> Result<StepReport> {
        let mut sum_sq = 0f64;
        for v in &self.vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                sum_sq += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
            }
        }
        let grad_norm = sum_sq.sqrt();
        if self.clip > 0.0 && grad_norm > self.clip {
            let scale = self.clip / (grad_norm + 1e-6);
            for v in &self.vars {
                if let Some(g) = grads.remove(v.as_tensor()) {
                    grads.insert(v.as_tensor(), (g * scale)?);
                }
            }
        }
        let lr = self.schedule.lr(self.step);
        self.adamw.set_learning_rate(lr);
        self.adamw.step(&grads)?;
        self.step += 1;
        Ok(StepReport { lr, grad_norm })
    }
}
