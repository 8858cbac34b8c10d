//! One process's model and inner optimiser, with the steps DiLoCo and DDP are made of: train a
//! step locally, compute a step's gradients, apply given gradients, evaluate.

use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::inner::InnerOptimizer;
use crate::job::{Job, OptimizerConfig};
use crate::model::{Lm, ModelConfig};
use crate::params::Params;
use crate::schedule::Schedule;

pub struct Engine {
    pub lm: Lm,
    pub params: Params,
    opt: InnerOptimizer,
    pub device: Device,
    _vars: VarMap,
}

/// What a step did, and how long its compute took.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub loss: f32,
    pub grad_norm: f64,
    pub compute: Duration,
}

impl Engine {
    /// The job's model with the job's seeded initial parameters.
    pub fn new(job: &Job) -> anyhow::Result<Engine> {
        let engine = Engine::build(job.model, &job.optimizer, job.training.steps)?;
        engine.params.seed(job.training.seed)?;
        Ok(engine)
    }

    /// A model file's model and parameters, with a fresh optimiser for `steps` steps: fine-tuning
    /// a published model (an arena training node starts from the task's base model).
    pub fn from_model_file(bytes: &[u8], optimizer: &OptimizerConfig, steps: u64) -> anyhow::Result<Engine> {
        let config = crate::model_file::config_of(bytes)?;
        let engine = Engine::build(config, optimizer, steps)?;
        crate::model_file::fill(&engine._vars, bytes, &engine.device)?;
        Ok(engine)
    }

    fn build(model: ModelConfig, o: &OptimizerConfig, steps: u64) -> anyhow::Result<Engine> {
        let device = device()?;
        let vars = VarMap::new();
        let lm = Lm::new(model, VarBuilder::from_varmap(&vars, DType::F32, &device))?;
        let params = Params::of(&vars);
        let schedule =
            Schedule { peak_lr: o.lr, min_ratio: o.min_lr_ratio, warmup_steps: o.warmup_steps, total_steps: steps };
        let opt = InnerOptimizer::new(params.vars().to_vec(), schedule, o.weight_decay, o.clip)?;
        Ok(Engine { lm, params, opt, device, _vars: vars })
    }

    /// Forward, backward and an optimiser step on `batch` (DiLoCo's inner step).
    pub fn train_step(&mut self, batch: &Tensor) -> anyhow::Result<Step> {
        let t = Instant::now();
        let loss = self.lm.loss(batch)?;
        let report = self.opt.step(&loss)?;
        Ok(Step { loss: loss.to_scalar::<f32>()?, grad_norm: report.grad_norm, compute: t.elapsed() })
    }

    /// Forward and backward only: the loss and the flat gradients (DDP's half step).
    pub fn gradients(&mut self, batch: &Tensor) -> anyhow::Result<(f32, Vec<f32>, Duration)> {
        let t = Instant::now();
        let loss = self.lm.loss(batch)?;
        let grads = self.params.flatten_grads(&loss.backward()?)?;
        Ok((loss.to_scalar::<f32>()?, grads, t.elapsed()))
    }

    /// An optimiser step with given flat gradients (DDP's other half, on the averaged ones).
    pub fn apply_gradients(&mut self, flat: &[f32]) -> anyhow::Result<Duration> {
        let t = Instant::now();
        self.opt.step_with(self.params.grads_from(flat)?)?;
        Ok(t.elapsed())
    }

    /// `steps` training steps on batches of windows of `context + 1` bytes drawn from `text` at
    /// seeded random offsets: fine-tuning on a plain text (what an arena training node does).
    pub fn train_on_text(&mut self, text: &[u8], batch: usize, steps: u64, seed: u64) -> anyhow::Result<Option<f32>> {
        use rand::{Rng, SeedableRng};
        let span = self.lm.config().context + 1;
        if steps > 0 && text.len() <= span {
            anyhow::bail!("{} bytes of text: fewer than one window of context + 1 = {span}", text.len());
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut last = None;
        for _ in 0..steps {
            let mut ids = Vec::with_capacity(batch * span);
            for _ in 0..batch {
                let at = rng.random_range(0..text.len() - span);
                ids.extend(text[at..at + span].iter().map(|b| u32::from(*b)));
            }
            let t = Tensor::from_vec(ids, (batch, span), &self.device)?;
            last = Some(self.train_step(&t)?.loss);
        }
        Ok(last)
    }

    /// Mean next-token loss (nats) over `batch`.
    pub fn eval(&self, batch: &Tensor) -> anyhow::Result<f64> {
        Ok(mean_loss(&self.lm, batch)?)
    }
}

/// Mean next-token loss (nats) of `lm` over `batch`, in chunks so memory stays small.
pub fn mean_loss(lm: &Lm, batch: &Tensor) -> candle_core::Result<f64> {
    let n = batch.dim(0)?;
    let (mut sum, mut count) = (0f64, 0usize);
    let chunk = 64;
    let mut at = 0;
    while at < n {
        let k = chunk.min(n - at);
        let loss = lm.loss(&batch.narrow(0, at, k)?)?.to_scalar::<f32>()?;
        sum += f64::from(loss) * k as f64;
        count += k;
        at += k;
    }
    Ok(if count == 0 { f64::NAN } else { sum / count as f64 })
}

/// CUDA when built with the `cuda` feature and a GPU is there; the CPU otherwise.
pub fn device() -> anyhow::Result<Device> {
    #[cfg(feature = "cuda")]
    if let Ok(d) = Device::new_cuda(0) {
        return Ok(d);
    }
    Ok(Device::Cpu)
}
