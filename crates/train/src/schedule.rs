//! The learning-rate schedule: linear warm-up to the peak, then cosine decay to a floor. Pure.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub peak_lr: f64,
    /// The floor, as a fraction of the peak.
    pub min_ratio: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
}

impl Schedule {
    /// The learning rate for step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        if self.warmup_steps > 0 && step < self.warmup_steps {
            return self.peak_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = (step.saturating_sub(self.warmup_steps) as f64 / decay as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.peak_lr * (self.min_ratio + (1.0 - self.min_ratio) * cosine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_decays_by_cosine_to_the_floor() {
        let s = Schedule { peak_lr: 1.0, min_ratio: 0.1, warmup_steps: 10, total_steps: 110 };
        assert!((s.lr(0) - 0.1).abs() < 1e-12 && (s.lr(9) - 1.0).abs() < 1e-12);
        assert!((s.lr(10) - 1.0).abs() < 1e-12, "the peak right after warm-up");
        assert!((s.lr(60) - 0.55).abs() < 1e-12, "half way: half way between peak and floor");
        assert!((s.lr(110) - 0.1).abs() < 1e-12 && (s.lr(10_000) - 0.1).abs() < 1e-12, "the floor, and it stays");
        let lrs: Vec<f64> = (10..=110).map(|t| s.lr(t)).collect();
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "never rises after warm-up");
    }
}
