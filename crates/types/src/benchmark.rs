//! Benchmark records on the ledger: what a provider measured (`stratus provider benchmark
//! --publish`), one record per provider and GPU model. Figures are integers (thousandths of a
//! TFLOPS or GB/s, whole MB/s and tokens/s): ledger state holds no floating point.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// The model name of figures measured without a GPU.
pub const CPU_MODEL: &str = "cpu";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct BenchmarkFigures {
    /// Canonical GPU model (`h100`), or [`CPU_MODEL`].
    pub gpu_model: String,
    /// GPUs of this model measured (0 for the CPU).
    pub gpus: u32,
    /// Per GPU (the mean over them), thousandths of a TFLOPS.
    pub tflops_fp32_milli: u64,
    pub tflops_fp16_milli: u64,
    pub tflops_bf16_milli: u64,
    /// Device memory bandwidth, thousandths of a GB/s.
    pub memory_gbs_milli: u64,
    pub host_to_device_gbs_milli: u64,
    pub device_to_host_gbs_milli: u64,
    pub storage_write_mbs: u64,
    pub storage_read_mbs: u64,
    pub shm_bytes: u64,
    /// Training tokens/s on the training engine's reference model.
    pub training_tokens_per_s: u64,
    pub cpu_model: String,
    /// sha256 of each measured GPU's UUID.
    pub gpu_uuid_sha256: Vec<String>,
    pub driver_version: String,
    pub cuda_version: String,
}

/// A published record: the figures, who published them (the transaction's signer) and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct BenchmarkRecord {
    pub provider: Address,
    pub figures: BenchmarkFigures,
    pub height: u64,
}

/// The attribute keys an auditor signs for a provider whose figures it reproduced, with their
/// values in the units placement compares (`benchmark/h100/tflops-bf16 = 712.345`).
pub fn attributes(f: &BenchmarkFigures) -> Vec<crate::attributes::Attribute> {
    let milli = |v: u64| format!("{}.{:03}", v / 1000, v % 1000);
    let key = |what: &str| format!("benchmark/{}/{what}", f.gpu_model);
    vec![
        crate::attributes::Attribute::new(key("tflops-fp32"), milli(f.tflops_fp32_milli)),
        crate::attributes::Attribute::new(key("tflops-fp16"), milli(f.tflops_fp16_milli)),
        crate::attributes::Attribute::new(key("tflops-bf16"), milli(f.tflops_bf16_milli)),
        crate::attributes::Attribute::new(key("memory-gbs"), milli(f.memory_gbs_milli)),
        crate::attributes::Attribute::new(key("training-tokens-per-s"), f.training_tokens_per_s.to_string()),
    ]
}

/// Why a record cannot be published.
pub fn validate(f: &BenchmarkFigures) -> Result<(), String> {
    let name_ok = |s: &str| s.len() <= 32 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !name_ok(&f.gpu_model) {
        return Err(format!("gpu_model {:?}: 1-32 letters, digits or '-' (a canonical model name)", f.gpu_model));
    }
    if f.gpu_model != f.gpu_model.to_ascii_lowercase() {
        return Err(format!("gpu_model {:?}: canonical names are lower case", f.gpu_model));
    }
    if (f.gpu_model == CPU_MODEL) != (f.gpus == 0) {
        return Err(format!("{} GPU(s) of model {:?}: only `cpu` figures have none", f.gpus, f.gpu_model));
    }
    if f.gpu_uuid_sha256.len() > 64 || f.gpu_uuid_sha256.iter().any(|u| u.len() != 64) {
        return Err("gpu_uuid_sha256: at most 64 sha256 hex digests".into());
    }
    for (what, s) in
        [("cpu_model", &f.cpu_model), ("driver_version", &f.driver_version), ("cuda_version", &f.cuda_version)]
    {
        if s.len() > 128 {
            return Err(format!("{what}: at most 128 bytes"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_become_attributes_placement_compares_and_bad_records_say_why() {
        let f = BenchmarkFigures {
            gpu_model: "h100".into(),
            gpus: 8,
            tflops_bf16_milli: 712_345,
            training_tokens_per_s: 91_000,
            ..Default::default()
        };
        assert_eq!(validate(&f), Ok(()));
        let attrs = attributes(&f);
        let bf16 = attrs.iter().find(|a| a.key == "benchmark/h100/tflops-bf16").expect("bf16");
        assert_eq!(bf16.value, "712.345");
        let need = crate::attributes::Attribute::new("benchmark/h100/tflops-bf16", ">=700");
        assert!(need.matched_by(bf16));
        assert!(validate(&BenchmarkFigures { gpu_model: "H100".into(), ..f.clone() }).is_err());
        assert!(
            validate(&BenchmarkFigures { gpu_model: "cpu".into(), ..f.clone() }).unwrap_err().contains("only `cpu`")
        );
        assert!(validate(&BenchmarkFigures { gpu_uuid_sha256: vec!["x".into()], ..f }).is_err());
    }
}
