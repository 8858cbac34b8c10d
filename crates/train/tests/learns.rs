//! The model learns: a few hundred AdamW steps on real text (Debian's fortunes when installed,
//! else this crate's own source) bring the next-byte loss far below chance.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use stratus_train::inner::InnerOptimizer;
use stratus_train::model::{Lm, ModelConfig, ModelError};
use stratus_train::schedule::Schedule;

const CONFIG: ModelConfig = ModelConfig { vocab: 256, layers: 2, width: 64, heads: 4, context: 32 };

fn text() -> Vec<u8> {
    std::fs::read("/usr/share/games/fortunes/fortunes").unwrap_or_else(|_| include_bytes!("../src/model.rs").to_vec())
}

/// `batch` windows of `context + 1` bytes, at deterministic offsets.
fn batch(text: &[u8], step: usize, batch: usize, device: &Device) -> Tensor {
    let span = CONFIG.context + 1;
    let mut ids = Vec::with_capacity(batch * span);
    for b in 0..batch {
        let start = (step * 7919 + b * 104_729) % (text.len() - span);
        ids.extend(text[start..start + span].iter().map(|&c| u32::from(c)));
    }
    Tensor::from_vec(ids, (batch, span), device).expect("batch")
}

#[test]
fn a_small_model_learns_real_text_far_below_chance() {
    let device = Device::Cpu;
    let vars = VarMap::new();
    let lm = Lm::new(CONFIG, VarBuilder::from_varmap(&vars, DType::F32, &device)).expect("model");
    let steps = 300;
    let schedule = Schedule { peak_lr: 3e-3, min_ratio: 0.1, warmup_steps: 20, total_steps: steps };
    let mut opt = InnerOptimizer::new(vars.all_vars(), schedule, 0.01, 1.0).expect("optimiser");
    let text = text();
    let held_out = batch(&text, 1_000_003, 16, &device);
    let eval = |lm: &Lm| lm.loss(&held_out).and_then(|l| l.to_scalar::<f32>()).expect("loss");
    let before = eval(&lm);
    let chance = (256f32).ln();
    assert!((before - chance).abs() < 2.0, "an untrained model is near chance: {before} vs {chance}");
    let mut clipped = false;
    for step in 0..steps {
        let loss = lm.loss(&batch(&text, step as usize, 16, &device)).expect("loss");
        let report = opt.step(&loss).expect("step");
        clipped |= report.grad_norm > 1.0;
        assert!(report.grad_norm.is_finite(), "step {step}: gradient norm {}", report.grad_norm);
    }
    let after = eval(&lm);
    eprintln!("held-out loss: {before:.3} → {after:.3} nats/byte (chance {chance:.3}); clipping used: {clipped}");
    assert!(after < 0.65 * before, "learned too little: {before} → {after}");
}

#[test]
fn a_model_that_cannot_be_built_says_why() {
    let device = Device::Cpu;
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, DType::F32, &device);
    let err = Lm::new(ModelConfig { heads: 5, ..CONFIG }, vb.clone()).err().expect("refused");
    assert!(matches!(err, ModelError::Heads { width: 64, heads: 5 }), "{err}");
    let err = Lm::new(ModelConfig { context: 0, ..CONFIG }, vb.clone()).err().expect("refused");
    assert_eq!(err.to_string(), "model: context must be at least 1");
    let lm = Lm::new(CONFIG, vb).expect("model");
    let too_long = Tensor::zeros((1, CONFIG.context + 1), DType::U32, &device).expect("ids");
    let err = lm.forward(&too_long).expect_err("refused");
    assert!(err.to_string().contains("more than the model's context of 32"), "{err}");
    assert!(CONFIG.parameters() > 100_000, "{}", CONFIG.parameters());
}
