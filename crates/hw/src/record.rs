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

fn milli(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 { (v * 1000.0).round() as u64 } else { 0 }
}

fn whole(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 { v.round() as u64 } else { 0 }
}

/// The record as the ledger keeps it: one entry per GPU model (its GPUs' mean figures), or one
/// `cpu` entry on a host whose figures are the CPU's.
pub fn ledger_figures(r: &BenchmarkRecord) -> Vec<stratus_types::benchmark::BenchmarkFigures> {
    use stratus_types::benchmark::{BenchmarkFigures, CPU_MODEL};
    let common = BenchmarkFigures {
        storage_write_mbs: whole(r.storage.write_mbs),
        storage_read_mbs: whole(r.storage.read_mbs),
        shm_bytes: r.shm_bytes,
        training_tokens_per_s: r.training.as_ref().map_or(0, |t| whole(t.tokens_per_s)),
        cpu_model: r.hardware.cpu_model.chars().take(128).collect(),
        driver_version: r.hardware.driver_version.clone().unwrap_or_default(),
        cuda_version: r.hardware.cuda_version.clone().unwrap_or_default(),
        ..BenchmarkFigures::default()
    };
    if r.gpus.is_empty() {
        let c = &r.cpu;
        return vec![BenchmarkFigures {
            gpu_model: CPU_MODEL.into(),
            gpus: 0,
            tflops_fp32_milli: milli(c.tflops_fp32),
            tflops_fp16_milli: milli(c.tflops_fp16),
            tflops_bf16_milli: milli(c.tflops_bf16),
            memory_gbs_milli: milli(c.memory_gbs),
            ..common
        }];
    }
    let mut models: Vec<&str> = r.gpus.iter().map(|g| g.model.as_str()).collect();
    models.sort_unstable();
    models.dedup();
    models
        .into_iter()
        .map(|model| {
            let of: Vec<&GpuFigures> = r.gpus.iter().filter(|g| g.model == model).collect();
            let mean = |f: &dyn Fn(&GpuFigures) -> f64| of.iter().map(|g| f(g)).sum::<f64>() / of.len() as f64;
            let uuids = r
                .hardware
                .gpus
                .iter()
                .filter(|g| of.iter().any(|f| f.index == g.index))
                .map(|g| g.uuid_sha256.clone())
                .collect();
            BenchmarkFigures {
                gpu_model: model.to_string(),
                gpus: of.len() as u32,
                tflops_fp32_milli: milli(mean(&|g| g.compute.tflops_fp32)),
                tflops_fp16_milli: milli(mean(&|g| g.compute.tflops_fp16)),
                tflops_bf16_milli: milli(mean(&|g| g.compute.tflops_bf16)),
                memory_gbs_milli: milli(mean(&|g| g.compute.memory_gbs)),
                host_to_device_gbs_milli: milli(mean(&|g| g.host_to_device_gbs)),
                device_to_host_gbs_milli: milli(mean(&|g| g.device_to_host_gbs)),
                gpu_uuid_sha256: uuids,
                ..common.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(gpus: Vec<GpuFigures>) -> BenchmarkRecord {
        let compute =
            |t: f64| ComputeFigures { tflops_fp32: t, tflops_fp16: 2.0 * t, tflops_bf16: 2.0 * t, memory_gbs: 100.0 };
        BenchmarkRecord {
            version: 1,
            device: if gpus.is_empty() { ComputeDevice::Cpu } else { ComputeDevice::Cuda },
            hardware: HardwareIdentity {
                cpu_model: "Xeon".into(),
                cpu_threads: 2,
                memory_bytes: 1 << 30,
                gpus: vec![],
                driver_version: None,
                cuda_version: None,
            },
            gpus,
            cpu: compute(0.05),
            shm_bytes: 1 << 30,
            storage: StorageFigures { path: "/data".into(), write_mbs: 640.4, read_mbs: 1300.6, bytes: 1 },
            training: Some(TrainingFigures { model: "m".into(), tokens_per_s: 33_916.7, steps: 4 }),
            measured_at_ms: 0,
        }
    }

    #[test]
    fn a_cpu_host_publishes_cpu_figures_and_gpus_are_averaged_per_model() {
        let cpu = ledger_figures(&record(vec![]));
        assert_eq!(cpu.len(), 1);
        assert_eq!((cpu[0].gpu_model.as_str(), cpu[0].gpus, cpu[0].tflops_fp32_milli), ("cpu", 0, 50));
        assert_eq!((cpu[0].storage_write_mbs, cpu[0].training_tokens_per_s), (640, 33_917));
        let gpu = |index, model: &str, t: f64| GpuFigures {
            index,
            model: model.into(),
            compute: ComputeFigures { tflops_fp32: t, tflops_fp16: t, tflops_bf16: t, memory_gbs: t },
            host_to_device_gbs: 25.0,
            device_to_host_gbs: 26.0,
        };
        let mixed = ledger_figures(&record(vec![gpu(0, "h100", 60.0), gpu(1, "h100", 62.0), gpu(2, "a100", 19.5)]));
        let models: Vec<(&str, u32, u64)> =
            mixed.iter().map(|f| (f.gpu_model.as_str(), f.gpus, f.tflops_fp32_milli)).collect();
        assert_eq!(models, vec![("a100", 1, 19_500), ("h100", 2, 61_000)]);
        for f in &mixed {
            assert_eq!(stratus_types::benchmark::validate(f), Ok(()), "{f:?}");
        }
    }
}
