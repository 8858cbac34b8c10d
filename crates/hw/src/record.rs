//! A benchmark record: what one machine measured, with the identity of the hardware that
//! measured it. Plain data; JSON is its wire form (`stratus provider benchmark --output json`).

use serde::{Deserialize, Serialize};

/// Where the compute figures were measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComputeDevice {
    /// The host's CPU: no NVIDIA driver, or a build without the `cuda` feature. Figures are the
    /// CPU's and are labelled so everywhere they are shown.
    Cpu,
    Cuda,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkRecord {
    /// Record format version.
    pub version: u32,
    pub device: ComputeDevice,
    pub hardware: HardwareIdentity,
    /// One entry per GPU (on a CPU-only host: none).
    pub gpus: Vec<GpuFigures>,
    /// The same figures for the CPU (always measured: the baseline a GPU is compared with).
    pub cpu: ComputeFigures,
    /// /dev/shm's size in bytes (what data loaders get).
    pub shm_bytes: u64,
    pub storage: StorageFigures,
    /// Training steps of the training engine's reference model.
    pub training: Option<TrainingFigures>,
    /// Wall-clock time of the measurement, ms since the Unix epoch.
    pub measured_at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardwareIdentity {
    pub cpu_model: String,
    pub cpu_threads: u32,
    pub memory_bytes: u64,
    pub gpus: Vec<GpuIdentity>,
    /// NVIDIA driver and CUDA versions (None without a driver).
    pub driver_version: Option<String>,
    pub cuda_version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuIdentity {
    pub index: u32,
    /// The catalog's canonical model name (`h100`), from the product name the driver reports.
    pub model: String,
    pub product_name: String,
    /// sha256 of the GPU's UUID (hex): the same GPU is recognisable across records without
    /// publishing its serial.
    pub uuid_sha256: String,
    pub memory_bytes: u64,
}

/// Matmul throughput and memory bandwidth of one compute device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComputeFigures {
    pub tflops_fp32: f64,
    pub tflops_fp16: f64,
    pub tflops_bf16: f64,
    /// Device memory bandwidth (a large copy), GB/s.
    pub memory_gbs: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuFigures {
    pub index: u32,
    pub model: String,
    pub compute: ComputeFigures,
    pub host_to_device_gbs: f64,
    pub device_to_host_gbs: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StorageFigures {
    /// The directory measured (a provider's data directory: where volumes live).
    pub path: String,
    /// Sequential write with fsync, MB/s.
    pub write_mbs: f64,
    /// Sequential read after evicting the file from the page cache, MB/s.
    pub read_mbs: f64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingFigures {
    /// What was trained (the reference model's shape).
    pub model: String,
    pub tokens_per_s: f64,
    pub steps: u64,
}
