//! Reading the NVIDIA driver through NVML (`nvml-wrapper` loads `libnvidia-ml.so` at run time).
//! Without a driver, [`Telemetry::open`] says so in one line ([`NO_DRIVER`]) and the caller goes
//! on with CPU and memory figures only.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use nvml_wrapper::Nvml;
use nvml_wrapper::bitmasks::device::ThrottleReasons;
use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, TemperatureSensor, TemperatureThreshold};
use nvml_wrapper::enums::event::XidError;
use sha2::{Digest, Sha256};

use crate::health::GpuSample;
use crate::record::GpuIdentity;

/// What a host without an NVIDIA driver is told, once.
pub const NO_DRIVER: &str = "no NVIDIA driver: GPU metrics off";

pub struct Telemetry {
    /// Leaked once per process: the XID watcher borrows it for as long as the process lives.
    nvml: &'static Nvml,
    /// XIDs seen per GPU index since the watcher started.
    xids: Arc<Mutex<BTreeMap<u32, Vec<u64>>>>,
}

/// Driver and CUDA versions, and each GPU's identity.
pub struct DriverFacts {
    pub driver_version: Option<String>,
    pub cuda_version: Option<String>,
    pub gpus: Vec<GpuIdentity>,
}

impl Telemetry {
    /// NVML, or why not: [`NO_DRIVER`] with the loader's reason.
    pub fn open() -> Result<Telemetry, String> {
        let nvml: &'static Nvml = Box::leak(Box::new(Nvml::init().map_err(|e| format!("{NO_DRIVER} ({e})"))?));
        let xids = Arc::new(Mutex::new(BTreeMap::new()));
        watch_xids(nvml, Arc::clone(&xids));
        Ok(Telemetry { nvml, xids })
    }

    pub fn facts(&self) -> DriverFacts {
        let count = self.nvml.device_count().unwrap_or(0);
        let gpus = (0..count)
            .filter_map(|i| {
                let d = self.nvml.device_by_index(i).ok()?;
                let product_name = d.name().unwrap_or_default();
                let memory_bytes = d.memory_info().map(|m| m.total).unwrap_or(0);
                let detected = stratus_types::gpu::parse_product_name(&product_name, Some(memory_bytes >> 20));
                Some(GpuIdentity {
                    index: i,
                    model: detected.model,
                    product_name,
                    uuid_sha256: uuid_hash(&d.uuid().unwrap_or_default()),
                    memory_bytes,
                })
            })
            .collect();
        let cuda = self.nvml.sys_cuda_driver_version().ok().map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10));
        DriverFacts { driver_version: self.nvml.sys_driver_version().ok(), cuda_version: cuda, gpus }
    }

    /// One sample of every GPU. A query a GPU does not support reads as zero (or none).
    pub fn sample(&self) -> Vec<GpuSample> {
        let count = self.nvml.device_count().unwrap_or(0);
        (0..count)
            .filter_map(|i| {
                let d = self.nvml.device_by_index(i).ok()?;
                let memory = d.memory_info().ok();
                let name = d.name().unwrap_or_default();
                Some(GpuSample {
                    index: i,
                    model: stratus_types::gpu::parse_product_name(&name, memory.as_ref().map(|m| m.total >> 20)).model,
                    uuid_sha256: uuid_hash(&d.uuid().unwrap_or_default()),
                    temperature_c: d.temperature(TemperatureSensor::Gpu).unwrap_or(0),
                    slowdown_temperature_c: d.temperature_threshold(TemperatureThreshold::Slowdown).ok(),
                    power_w: d.power_usage().map_or(0.0, |mw| f64::from(mw) / 1000.0),
                    power_limit_w: d.enforced_power_limit().ok().map(|mw| f64::from(mw) / 1000.0),
                    utilization_pct: d.utilization_rates().map_or(0, |u| u.gpu),
                    memory_used_bytes: memory.as_ref().map_or(0, |m| m.used),
                    memory_total_bytes: memory.as_ref().map_or(0, |m| m.total),
                    sm_clock_mhz: d.clock_info(Clock::SM).unwrap_or(0),
                    memory_clock_mhz: d.clock_info(Clock::Memory).unwrap_or(0),
                    ecc_corrected: d.total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile).unwrap_or(0),
                    ecc_uncorrected: d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile).unwrap_or(0),
                    throttle_reasons: d.current_throttle_reasons().map(throttle_names).unwrap_or_default(),
                    xid_events: self
                        .xids
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get(&i)
                        .cloned()
                        .unwrap_or_default(),
                })
            })
            .collect()
    }
}

/// Collects critical XID errors of every GPU on a thread of its own (NVML's event set blocks in
/// `wait`). A GPU or driver without event support is simply not watched.
fn watch_xids(nvml: &'static Nvml, xids: Arc<Mutex<BTreeMap<u32, Vec<u64>>>>) {
    // One set and one thread per GPU: a GPU whose registration fails costs only itself.
    for i in 0..nvml.device_count().unwrap_or(0) {
        let Ok(d) = nvml.device_by_index(i) else { continue };
        let Ok(set) = nvml.create_event_set() else { return };
        let Ok(set) = d.register_events(EventTypes::CRITICAL_XID_ERROR, set) else { continue };
        let xids = Arc::clone(&xids);
        std::thread::spawn(move || {
            loop {
                match set.wait(10_000) {
                    Ok(event) => {
                        if let Some(XidError::Value(xid)) = event.event_data {
                            let mut seen = xids.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            let list = seen.entry(i).or_default();
                            // The most recent ones: a flapping GPU must not grow memory forever.
                            list.push(xid);
                            if list.len() > 64 {
                                list.remove(0);
                            }
                        }
                    }
                    Err(nvml_wrapper::error::NvmlError::Timeout) => {}
                    Err(_) => std::thread::sleep(std::time::Duration::from_secs(10)),
                }
            }
        });
    }
}

fn uuid_hash(uuid: &str) -> String {
    hex::encode(Sha256::digest(uuid.as_bytes()))
}

fn throttle_names(r: ThrottleReasons) -> Vec<String> {
    [
        (ThrottleReasons::GPU_IDLE, "gpu_idle"),
        (ThrottleReasons::SW_POWER_CAP, "sw_power_cap"),
        (ThrottleReasons::HW_SLOWDOWN, "hw_slowdown"),
        (ThrottleReasons::SW_THERMAL_SLOWDOWN, "sw_thermal_slowdown"),
        (ThrottleReasons::HW_THERMAL_SLOWDOWN, "hw_thermal_slowdown"),
        (ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN, "hw_power_brake_slowdown"),
    ]
    .into_iter()
    .filter(|(bit, _)| r.contains(*bit))
    .map(|(_, name)| name.to_string())
    .collect()
}
