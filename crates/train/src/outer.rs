//! DiLoCo's outer step and the pseudo-gradient compression, as plain functions over flat `f32`
//! parameter vectors (the exchange moves these; the model flattens into and out of them).
//!
//! - Pseudo-gradient of a worker: Δᵢ = θ_global − θᵢ after its H inner steps.
//! - Compression: int8 per block of [`BLOCK`] values with an fp32 scale (max-abs / 127);
//!   dequantised and accumulated in fp32.
//! - Outer step: Nesterov momentum SGD on the mean Δ: v ← μ·v + Δ; θ ← θ − lr·(Δ + μ·v).

use serde::{Deserialize, Serialize};

/// Values per quantisation block.
pub const BLOCK: usize = 256;

/// A pseudo-gradient quantised to int8 per block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quantised {
    pub len: usize,
    pub scales: Vec<f32>,
    pub values: Vec<i8>,
}

impl Quantised {
    /// Bytes on the wire: one per value and four per block scale.
    pub fn wire_bytes(&self) -> usize {
        self.values.len() + 4 * self.scales.len()
    }
}

pub fn pseudo_gradient(global: &[f32], local: &[f32]) -> Vec<f32> {
    global.iter().zip(local).map(|(g, l)| g - l).collect()
}

pub fn quantise(delta: &[f32]) -> Quantised {
    let mut scales = Vec::with_capacity(delta.len().div_ceil(BLOCK));
    let mut values = Vec::with_capacity(delta.len());
    for block in delta.chunks(BLOCK) {
        let max = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 && max.is_finite() { max / 127.0 } else { 1.0 };
        scales.push(scale);
        values.extend(block.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
    }
    Quantised { len: delta.len(), scales, values }
}

/// Adds `weight` × the dequantised values into `sum` (fp32 accumulation).
pub fn accumulate(sum: &mut [f32], q: &Quantised, weight: f32) {
    for (i, (s, v)) in sum.iter_mut().zip(&q.values).enumerate() {
        *s += weight * q.scales[i / BLOCK] * f32::from(*v);
    }
}

/// The outer optimiser's state (identical on every worker: it follows from the averaged Δ).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outer {
    pub lr: f32,
    pub momentum: f32,
    pub velocity: Vec<f32>,
}

impl Outer {
    pub fn new(len: usize, lr: f32, momentum: f32) -> Outer {
        Outer { lr, momentum, velocity: vec![0.0; len] }
    }

    /// One Nesterov step of `global` along the mean pseudo-gradient `delta`.
    pub fn step(&mut self, global: &mut [f32], delta: &[f32]) {
        for ((theta, v), d) in global.iter_mut().zip(self.velocity.iter_mut()).zip(delta) {
            *v = self.momentum * *v + d;
            *theta -= self.lr * (d + self.momentum * *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_blocks_round_trip_within_half_a_step_and_cost_a_quarter() {
        let delta: Vec<f32> = (0..10_000).map(|i| ((i as f32) * 0.37).sin() * (1.0 + (i % 7) as f32)).collect();
        let q = quantise(&delta);
        let mut back = vec![0f32; delta.len()];
        accumulate(&mut back, &q, 1.0);
        for (i, (a, b)) in delta.iter().zip(&back).enumerate() {
            let step = q.scales[i / BLOCK];
            assert!((a - b).abs() <= step / 2.0 + 1e-6, "value {i}: {a} came back as {b}");
        }
        let fp32 = 4 * delta.len();
        assert!(fp32 as f64 / q.wire_bytes() as f64 > 3.9, "{} bytes for {fp32} of fp32", q.wire_bytes());
        // Zeros and non-finite maxima do not divide by zero.
        let z = quantise(&[0.0; 300]);
        assert!(z.values.iter().all(|v| *v == 0) && z.scales == vec![1.0, 1.0]);
    }

    #[test]
    fn the_outer_step_is_nesterov_on_the_mean_pseudo_gradient() {
        // One worker, lr 1, no momentum: the global parameters become the worker's.
        let global = vec![1.0f32, 2.0, 3.0];
        let local = vec![0.5f32, 2.5, 3.0];
        let mut g = global.clone();
        Outer::new(3, 1.0, 0.0).step(&mut g, &pseudo_gradient(&global, &local));
        assert_eq!(g, local);
        // With momentum the velocity accumulates: v₁ = Δ, v₂ = μΔ + Δ.
        let mut outer = Outer::new(1, 0.5, 0.9);
        let mut theta = vec![0.0f32];
        outer.step(&mut theta, &[1.0]);
        assert!((outer.velocity[0] - 1.0).abs() < 1e-6 && (theta[0] + 0.5 * (1.0 + 0.9)).abs() < 1e-6);
        outer.step(&mut theta, &[1.0]);
        assert!((outer.velocity[0] - 1.9).abs() < 1e-6);
        // Averaging quantised pseudo-gradients of two workers.
        let (d1, d2) = (vec![0.2f32; 512], vec![0.4f32; 512]);
        let mut mean = vec![0f32; 512];
        accumulate(&mut mean, &quantise(&d1), 0.5);
        accumulate(&mut mean, &quantise(&d2), 0.5);
        assert!(mean.iter().all(|m| (m - 0.3).abs() < 1e-3), "{:?}", &mean[..4]);
    }

    #[test]
    fn diloco_talks_four_hundred_times_less_than_ddp_at_h_100() {
        // Per worker and per token budget: DDP sends fp32 gradients every step, DiLoCo int8
        // pseudo-gradients (with their scales) every H steps; the ring's 2(n−1)/n cancels.
        let params = 1_000_000;
        let h = 100;
        let ddp = 4 * params * h;
        let diloco = quantise(&vec![1.0f32; params]).wire_bytes();
        let ratio = ddp as f64 / diloco as f64;
        assert!(ratio > 390.0, "ratio {ratio}");
    }
}
