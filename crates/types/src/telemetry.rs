//! GPU telemetry as providers report it: one sample per GPU (NVML's figures), and a lease's view
//! of its own GPUs (what `GET /lease/…/metrics` answers its tenant).

use serde::{Deserialize, Serialize};

/// One GPU's state as NVML reports it (units in the names).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpuSample {
    /// Index among the node's GPUs (the inventory's and the driver's order).
    pub index: u32,
    /// Canonical model name (`h100`).
    pub model: String,
    /// sha256 of the GPU's UUID (hex).
    pub uuid_sha256: String,
    pub temperature_c: u32,
    /// The driver's slowdown threshold, when it reports one.
    pub slowdown_temperature_c: Option<u32>,
    pub power_w: f64,
    pub power_limit_w: Option<f64>,
    pub utilization_pct: u32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub sm_clock_mhz: u32,
    pub memory_clock_mhz: u32,
    /// Volatile ECC error counts (since the driver loaded).
    pub ecc_corrected: u64,
    pub ecc_uncorrected: u64,
    /// NVML's current clock-throttle reasons, snake_case (`hw_thermal_slowdown`, `sw_power_cap`).
    pub throttle_reasons: Vec<String>,
    /// XID error codes seen since the provider started watching.
    pub xid_events: Vec<u64>,
}

/// One GPU a lease holds, now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaseGpu {
    pub service: String,
    pub replica: u32,
    pub node: String,
    pub sample: GpuSample,
    /// Why the provider would not offer this GPU to new work (empty: healthy).
    pub problems: Vec<String>,
}

/// A provider's GPUs, node by node, as its public `GET /telemetry` shows them: health and load for
/// anyone choosing a provider, with no lease named (which tenant uses which GPU stays private).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderTelemetry {
    /// Milliseconds since the epoch of the samples.
    pub time_ms: u64,
    pub nodes: Vec<NodeGpus>,
    /// Where the figures come from when not from a driver (a devnet replays them), or why there
    /// are none.
    pub note: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeGpus {
    pub node: String,
    pub gpus: Vec<GpuSample>,
    /// Per GPU (same order): why the provider would not offer it to new work (empty: healthy).
    pub problems: Vec<Vec<String>>,
}

/// A lease's GPUs as its provider sees them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeaseMetrics {
    /// Milliseconds since the epoch of the samples.
    pub time_ms: u64,
    pub gpus: Vec<LeaseGpu>,
    /// Why there are no figures, when there are none (`no NVIDIA driver: GPU metrics off`).
    pub note: Option<String>,
}
