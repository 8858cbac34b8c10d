//! Hardware facts a marketplace can act on: what a provider's machine measures (`bench`: GPU and
//! CPU matmul throughput, memory and host↔device bandwidth, /dev/shm, storage throughput) and how
//! its GPUs are doing right now (`nvml`: temperature, power, utilisation, memory, clocks, ECC,
//! throttling), judged by `health` and exposed by `metrics` in Prometheus' text format.
//!
//! Pure: `record` (the benchmark record, plain data), `health` (rules over GPU samples),
//! `metrics` (rendering). Effects: `bench` (runs the measurements), `nvml` (reads the driver;
//! a host without one gets [`nvml::NO_DRIVER`] and CPU-only figures, never a failure).

pub mod bench;
pub mod health;
pub mod metrics;
pub mod nvml;
pub mod record;
