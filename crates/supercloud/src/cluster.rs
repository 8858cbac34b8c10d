//! A supercloud job file is an engine job file (`docs/training.md`) plus a `[cluster]` section:
//!
//! ```toml
//! [cluster]
//! workers = 3                     # worker groups (one worker each)
//! max_workers_per_provider = 1    # spread the cluster: survive the loss of a provider
//! gpu_models = ["rtx4090", "a100"] # catalog names or aliases; empty: any NVIDIA GPU
//! regions = []                    # provider `region` attributes allowed; empty: any
//! max_price = "60000uact"         # per worker per block
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: [cluster] {field}: {message}")]
    Invalid { path: String, field: &'static str, message: String },
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub workers: u32,
    #[serde(default = "d_max_per_provider")]
    pub max_workers_per_provider: u32,
    #[serde(default = "d_one")]
    pub gpus_per_worker: u32,
    #[serde(default)]
    pub gpu_models: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    /// Most a worker may cost per block (`60000uact`).
    pub max_price: String,
    /// Most the coordinator may cost per block [default: `max_price`].
    #[serde(default)]
    pub coordinator_max_price: Option<String>,
    /// Per worker.
    #[serde(default = "d_cpu")]
    pub cpu: String,
    #[serde(default = "d_memory")]
    pub memory: String,
    #[serde(default = "d_storage")]
    pub storage: String,
    /// The `ram` volume mounted at /dev/shm (data loaders), per worker.
    #[serde(default = "d_shm")]
    pub shm: String,
    /// Escrow deposit [default: every group at its maximum price for 2000 blocks].
    #[serde(default)]
    pub deposit: Option<String>,
    /// A worker whose provider cannot be reached for this long is replaced.
    #[serde(default = "d_dead_after")]
    pub dead_after_s: u64,
}

fn d_max_per_provider() -> u32 {
    1
}
fn d_one() -> u32 {
    1
}
fn d_cpu() -> String {
    "1".into()
}
fn d_memory() -> String {
    "2Gi".into()
}
fn d_storage() -> String {
    "2Gi".into()
}
fn d_shm() -> String {
    "256Mi".into()
}
fn d_dead_after() -> u64 {
    10
}

/// The most workers a job may ask for (one group each).
pub const MAX_WORKERS: u32 = 64;

/// Splits a supercloud job file into the engine's job (TOML text without `[cluster]`) and the
/// cluster section.
pub fn split(path: &str, text: &str) -> Result<(String, ClusterSpec), ClusterError> {
    let syntax = |message: String| ClusterError::Syntax { path: path.to_string(), message };
    let mut table: toml::Table = toml::from_str(text).map_err(|e| syntax(e.to_string().trim().to_string()))?;
    let cluster = table.remove("cluster").ok_or_else(|| {
        syntax("no [cluster] section: say how many workers and at what price (docs/training.md)".into())
    })?;
    let spec: ClusterSpec =
        cluster.try_into().map_err(|e: toml::de::Error| syntax(format!("[cluster]: {}", e.to_string().trim())))?;
    spec.check().map_err(|(field, message)| ClusterError::Invalid { path: path.to_string(), field, message })?;
    let engine = toml::to_string(&table).map_err(|e| syntax(e.to_string()))?;
    Ok((engine, spec))
}

impl ClusterSpec {
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.workers == 0 || self.workers > MAX_WORKERS {
            return Err(("workers", format!("{} — use 1 to {MAX_WORKERS}", self.workers)));
        }
        if self.max_workers_per_provider == 0 {
            return Err(("max_workers_per_provider", "must be at least 1".into()));
        }
        if self.gpus_per_worker == 0 {
            return Err(("gpus_per_worker", "must be at least 1 (workers train on GPUs)".into()));
        }
        for (field, v) in
            [("max_price", Some(&self.max_price)), ("coordinator_max_price", self.coordinator_max_price.as_ref())]
        {
            if let Some(v) = v {
                parse_price(v).map_err(|m| (field, m))?;
            }
        }
        for (field, v) in [("memory", &self.memory), ("storage", &self.storage), ("shm", &self.shm)] {
            stratus_types::units::parse_bytes(v).map_err(|m| (field, format!("{v:?}: {m}")))?;
        }
        stratus_types::units::parse_cpu_millis(&self.cpu).map_err(|m| ("cpu", format!("{:?}: {m}", self.cpu)))?;
        if let Some(d) = &self.deposit {
            d.parse::<stratus_types::coin::Coin>().map_err(|e| ("deposit", format!("{d:?}: {e}")))?;
        }
        Ok(())
    }

    /// (amount per block, denomination) of a worker.
    pub fn worker_price(&self) -> (String, String) {
        parse_price(&self.max_price).unwrap_or_default()
    }

    pub fn coordinator_price(&self) -> (String, String) {
        parse_price(self.coordinator_max_price.as_ref().unwrap_or(&self.max_price)).unwrap_or_default()
    }

    /// The GPU models as the catalog names them (aliases resolved), deduplicated.
    pub fn canonical_gpu_models(&self) -> Vec<String> {
        let mut out: Vec<String> = self.gpu_models.iter().map(|m| stratus_types::gpu::canonical_model(m)).collect();
        out.sort();
        out.dedup();
        out
    }
}

/// `60000uact` or `0.5uact` → ("60000", "uact").
fn parse_price(s: &str) -> Result<(String, String), String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (amount, denom) = s.split_at(split);
    let ok_amount = !amount.is_empty() && amount.parse::<f64>().is_ok_and(|v| v > 0.0);
    let ok_denom = !denom.is_empty() && denom.chars().all(|c| c.is_ascii_alphanumeric());
    if !ok_amount || !ok_denom {
        return Err(format!("{s:?} is not a positive price per block like 60000uact"));
    }
    Ok((amount.to_string(), denom.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = r#"
[model]
vocab = 256
[cluster]
workers = 3
gpu_models = ["nvidia-a100", "RTX4090"]
max_price = "60000uact"
"#;

    #[test]
    fn splits_the_engine_job_from_the_cluster_and_fills_defaults() {
        let (engine, c) = split("job.toml", JOB).unwrap();
        assert!(engine.contains("[model]") && !engine.contains("cluster"), "{engine}");
        assert_eq!((c.workers, c.max_workers_per_provider, c.gpus_per_worker), (3, 1, 1));
        assert_eq!(c.canonical_gpu_models(), vec!["a100".to_string(), "rtx4090".to_string()]);
        assert_eq!(c.worker_price(), ("60000".into(), "uact".into()));
        assert_eq!(c.coordinator_price(), c.worker_price());
    }

    #[test]
    fn bad_cluster_sections_say_which_field_and_why() {
        let err = |text: &str| split("job.toml", text).unwrap_err().to_string();
        assert!(err("[model]\nvocab = 256\n").contains("no [cluster] section"));
        assert!(err(&JOB.replace("workers = 3", "workers = 0")).contains("[cluster] workers: 0"));
        assert!(err(&JOB.replace("60000uact", "cheap")).contains("[cluster] max_price: \"cheap\""));
        assert!(err(&JOB.replace("workers = 3", "workers = 3\nshm = \"lots\"")).contains("[cluster] shm"));
        assert!(err(&JOB.replace("workers = 3", "workers = 3\nwrokers = 1")).contains("wrokers"));
    }
}
