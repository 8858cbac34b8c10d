//! GPU and host telemetry in Prometheus' text exposition format (what a provider's `/metrics`
//! serves), with each GPU labelled by the lease it serves. Pure: samples in, text out; a tenant's
//! view is the same rendering over only its lease's GPUs.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::health::{GpuSample, HealthLimits, problems};

/// The host's own figures (always available, GPU or not).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostSample {
    pub load1: f64,
    pub cpu_threads: u32,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GpuLabels {
    node: String,
    gpu: String,
    model: String,
    uuid_sha256: String,
    /// `owner/dseq/gseq/oseq/provider`, or empty for a free GPU.
    lease: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// One GPU's series: the node it is in, the lease it serves (empty: none) and its sample.
#[derive(Clone, Debug)]
pub struct GpuSeries<'a> {
    pub node: &'a str,
    pub lease: String,
    pub sample: &'a GpuSample,
}

/// The exposition text for `gpus` and the host. `stratus_gpu_healthy` is 0 for a GPU
/// [`problems`] would withdraw.
pub fn render(gpus: &[GpuSeries<'_>], host: &HostSample, limits: &HealthLimits) -> String {
    let mut registry = Registry::with_prefix("stratus");
    let mut family = |name: &str, help: &str| {
        let f = Family::<GpuLabels, FloatGauge>::default();
        registry.register(name, help, f.clone());
        f
    };
    let temperature = family("gpu_temperature_celsius", "GPU core temperature");
    let power = family("gpu_power_watts", "GPU power draw");
    let utilization = family("gpu_utilization_ratio", "Fraction of time a kernel ran (0-1)");
    let memory_used = family("gpu_memory_used_bytes", "GPU memory in use");
    let memory_total = family("gpu_memory_total_bytes", "GPU memory");
    let sm_clock = family("gpu_sm_clock_hertz", "Streaming multiprocessor clock");
    let ecc_uncorrected = family("gpu_ecc_uncorrected_errors", "Uncorrectable ECC errors since the driver loaded");
    let ecc_corrected = family("gpu_ecc_corrected_errors", "Corrected ECC errors since the driver loaded");
    let throttled = family("gpu_throttled", "1 while the GPU's clocks are held down for heat");
    let xids = family("gpu_xid_events", "XID errors seen since the provider started");
    let healthy = family("gpu_healthy", "1 if the GPU takes new work, 0 if it is withdrawn");
    for g in gpus {
        let s = g.sample;
        let labels = GpuLabels {
            node: g.node.to_string(),
            gpu: s.index.to_string(),
            model: s.model.clone(),
            uuid_sha256: s.uuid_sha256.clone(),
            lease: g.lease.clone(),
        };
        let set = |f: &Family<GpuLabels, FloatGauge>, v: f64| {
            f.get_or_create(&labels).set(v);
        };
        set(&temperature, f64::from(s.temperature_c));
        set(&power, s.power_w);
        set(&utilization, f64::from(s.utilization_pct) / 100.0);
        set(&memory_used, s.memory_used_bytes as f64);
        set(&memory_total, s.memory_total_bytes as f64);
        set(&sm_clock, f64::from(s.sm_clock_mhz) * 1e6);
        set(&ecc_uncorrected, s.ecc_uncorrected as f64);
        set(&ecc_corrected, s.ecc_corrected as f64);
        let thermal = s.throttle_reasons.iter().any(|r| r.contains("thermal") || r == "hw_slowdown");
        set(&throttled, if thermal { 1.0 } else { 0.0 });
        set(&xids, s.xid_events.len() as f64);
        set(&healthy, if problems(s, limits).is_empty() { 1.0 } else { 0.0 });
    }
    let host_gauge = |registry: &mut Registry, name: &str, help: &str, v: f64| {
        let g = FloatGauge::default();
        g.set(v);
        registry.register(name, help, g);
    };
    host_gauge(&mut registry, "host_load1", "One-minute load average", host.load1);
    host_gauge(&mut registry, "host_cpu_threads", "CPU threads", f64::from(host.cpu_threads));
    host_gauge(&mut registry, "host_memory_total_bytes", "Host memory", host.memory_total_bytes as f64);
    host_gauge(
        &mut registry,
        "host_memory_available_bytes",
        "Host memory available",
        host.memory_available_bytes as f64,
    );
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_are_labelled_by_lease_and_the_text_parses_as_prometheus_exposition() {
        let gpus: Vec<GpuSample> =
            serde_json::from_str(include_str!("../tests/data/nvml-8xh100.json")).expect("recorded samples");
        let series: Vec<GpuSeries<'_>> = gpus
            .iter()
            .map(|s| GpuSeries {
                node: "node-1",
                lease: if s.index == 0 { "stratus1a/7/1/1/stratus1p".into() } else { String::new() },
                sample: s,
            })
            .collect();
        let host =
            HostSample { load1: 0.5, cpu_threads: 2, memory_total_bytes: 8 << 30, memory_available_bytes: 4 << 30 };
        let text = render(&series, &host, &HealthLimits::default());
        // Every sample line is `name{labels} value` with a number; every family has HELP and TYPE.
        let mut names = std::collections::BTreeSet::new();
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let name = series.split('{').next().unwrap();
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
            names.insert(name.to_string());
        }
        for n in &names {
            assert!(text.contains(&format!("# TYPE {n} gauge")), "{n} has a TYPE line");
        }
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains(r#"stratus_gpu_temperature_celsius{node="node-1",gpu="2",model="h100""#), "{text}");
        assert!(text.contains(r#"lease="stratus1a/7/1/1/stratus1p"} 62"#), "gpu 0's lease: {text}");
        let health = |gpu: u32| {
            text.lines()
                .find(|l| l.starts_with("stratus_gpu_healthy{") && l.contains(&format!("gpu=\"{gpu}\"")))
                .and_then(|l| l.rsplit_once(' '))
                .map(|(_, v)| v.to_string())
        };
        assert_eq!(
            (health(1).as_deref(), health(2).as_deref(), health(5).as_deref()),
            (Some("1.0"), Some("0.0"), Some("0.0"))
        );
        assert!(text.contains("stratus_host_cpu_threads 2"));
    }
}
