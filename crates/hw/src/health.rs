//! Whether a GPU should take new work, from one sample of its telemetry. Pure: the provider
//! withdraws an unhealthy GPU from new bids and its decision record gives these reasons; tests
//! feed recorded NVML-shaped samples.

use serde::{Deserialize, Serialize};
pub use stratus_types::telemetry::GpuSample;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthLimits {
    /// A GPU at or over this is withdrawn (or over its own slowdown threshold, if lower).
    pub max_temperature_c: u32,
    /// Uncorrectable ECC errors tolerated (0: any is a fault).
    pub max_ecc_uncorrected: u64,
}

impl Default for HealthLimits {
    fn default() -> Self {
        HealthLimits { max_temperature_c: 87, max_ecc_uncorrected: 0 }
    }
}

/// XIDs that mean the GPU cannot be trusted with a tenant's job until someone looks at it
/// (NVIDIA's XID catalogue: double-bit ECC, fallen off the bus, row-remapping failure, NVLink,
/// contained/uncontained ECC, GSP errors), with what they mean.
pub const FATAL_XIDS: [(u64, &str); 10] = [
    (48, "double-bit ECC error"),
    (63, "ECC page retirement or row remapping"),
    (64, "ECC page retirement or row remapping failure"),
    (74, "NVLink error"),
    (79, "the GPU has fallen off the bus"),
    (92, "high single-bit ECC error rate"),
    (94, "contained ECC error"),
    (95, "uncontained ECC error"),
    (119, "GSP RPC timeout"),
    (120, "GSP error"),
];

/// Throttle reasons that say the GPU is overheating (power caps are normal operation).
const THERMAL: [&str; 3] = ["hw_slowdown", "hw_thermal_slowdown", "sw_thermal_slowdown"];

/// Why this GPU must not take new work; empty when it is healthy.
pub fn problems(s: &GpuSample, limits: &HealthLimits) -> Vec<String> {
    let gpu = format!("gpu {} ({})", s.index, s.model);
    let mut out = Vec::new();
    let limit = s.slowdown_temperature_c.map_or(limits.max_temperature_c, |t| t.min(limits.max_temperature_c));
    if s.temperature_c >= limit {
        out.push(format!("{gpu}: {} °C, at or over its {limit} °C limit", s.temperature_c));
    }
    if s.ecc_uncorrected > limits.max_ecc_uncorrected {
        out.push(format!("{gpu}: {} uncorrectable ECC error(s) since the driver loaded", s.ecc_uncorrected));
    }
    for xid in &s.xid_events {
        if let Some((_, what)) = FATAL_XIDS.iter().find(|(x, _)| x == xid) {
            out.push(format!("{gpu}: XID {xid} ({what})"));
        }
    }
    let thermal: Vec<&str> = s.throttle_reasons.iter().map(String::as_str).filter(|r| THERMAL.contains(r)).collect();
    if !thermal.is_empty() {
        out.push(format!("{gpu}: throttled ({})", thermal.join(", ")));
    }
    out
}

/// The GPUs to withdraw from new bids, each with its reasons (by index).
pub fn withdrawn(samples: &[GpuSample], limits: &HealthLimits) -> Vec<(u32, Vec<String>)> {
    samples.iter().map(|s| (s.index, problems(s, limits))).filter(|(_, p)| !p.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight H100s as a driver reported them on a node with two sick GPUs (recorded shape,
    /// values chosen): gpu 2 runs hot and throttles, gpu 5 fell off the bus after ECC errors.
    fn recorded() -> Vec<GpuSample> {
        serde_json::from_str(include_str!("../tests/data/nvml-8xh100.json")).expect("recorded samples")
    }

    #[test]
    fn a_hot_gpu_and_one_with_ecc_and_xid_faults_are_withdrawn_with_their_reasons() {
        let samples = recorded();
        assert_eq!(samples.len(), 8);
        let out = withdrawn(&samples, &HealthLimits::default());
        let indices: Vec<u32> = out.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, vec![2, 5]);
        let hot = out[0].1.join("; ");
        assert!(hot.contains("gpu 2 (h100): 91 °C, at or over its 87 °C limit"), "{hot}");
        assert!(hot.contains("throttled (hw_thermal_slowdown)"), "{hot}");
        let faulty = out[1].1.join("; ");
        assert!(faulty.contains("2 uncorrectable ECC error(s)"), "{faulty}");
        assert!(faulty.contains("XID 79 (the GPU has fallen off the bus)"), "{faulty}");
        assert!(!faulty.contains("XID 31"), "an application's page fault (XID 31) is not the GPU's fault: {faulty}");
    }

    #[test]
    fn limits_follow_the_gpus_own_slowdown_threshold_and_the_operators_settings() {
        let mut s = GpuSample { index: 0, model: "a100".into(), temperature_c: 84, ..Default::default() };
        assert!(problems(&s, &HealthLimits::default()).is_empty());
        s.slowdown_temperature_c = Some(83);
        assert_eq!(problems(&s, &HealthLimits::default()), vec!["gpu 0 (a100): 84 °C, at or over its 83 °C limit"]);
        s.slowdown_temperature_c = None;
        s.ecc_uncorrected = 1;
        s.throttle_reasons = vec!["sw_power_cap".into()];
        assert!(problems(&s, &HealthLimits { max_ecc_uncorrected: 1, ..Default::default() }).is_empty());
        assert_eq!(problems(&s, &HealthLimits::default()).len(), 1);
    }
}
