//! GPU telemetry: samples every GPU (through NVML, or from a replay file where no GPU exists),
//! withdraws unhealthy GPUs from new bids with the reasons the decision records give, and serves
//! the figures — each lease's own GPUs to its tenant through the gateway, every GPU labelled by
//! lease to the operator's Prometheus.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stratus_hw::health::{HealthLimits, problems, withdrawn};
use stratus_hw::metrics::{GpuSeries, render};
use stratus_types::market::LeaseId;
use stratus_types::telemetry::{GpuSample, LeaseGpu, LeaseMetrics, NodeGpus, ProviderTelemetry};

use crate::effects::daemon::Provider;
use crate::runtime::workload::now_ms;

/// The latest samples, per inventory node.
#[derive(Clone, Debug, Default)]
pub struct TelemetrySnapshot {
    pub nodes: BTreeMap<String, Vec<GpuSample>>,
    pub time_ms: u64,
    /// Where the figures come from when not from a driver, or why there are none.
    pub note: Option<String>,
}

enum Source {
    Nvml(Box<stratus_hw::nvml::Telemetry>, String),
    Replay(PathBuf),
    None(String),
}

impl Source {
    fn open(p: &Provider) -> Source {
        let t = &p.cfg.raw.telemetry;
        if let Some(file) = &t.replay {
            return Source::Replay(p.cfg.dir.join(file));
        }
        let node = t.node.clone().or_else(|| p.cfg.cluster.nodes.first().map(|n| n.name.clone()));
        match (stratus_hw::nvml::Telemetry::open(), node) {
            (Ok(nvml), Some(node)) => Source::Nvml(Box::new(nvml), node),
            (Ok(_), None) => Source::None("the inventory declares no node for the GPUs NVML reads".into()),
            (Err(why), _) => Source::None(why),
        }
    }

    fn read(&self) -> anyhow::Result<BTreeMap<String, Vec<GpuSample>>> {
        match self {
            Source::Nvml(nvml, node) => Ok([(node.clone(), nvml.sample())].into()),
            Source::Replay(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("telemetry replay {}", path.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("telemetry replay {}: not {{\"node\": [GPU sample, …]}}", path.display()))
            }
            Source::None(_) => Ok(BTreeMap::new()),
        }
    }

    fn note(&self) -> Option<String> {
        match self {
            Source::Nvml(..) => None,
            // The file's name only: the note is public (`GET /telemetry`), the provider's paths not.
            Source::Replay(path) => Some(format!(
                "replayed from {} (no GPU driver is read)",
                path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default()
            )),
            Source::None(why) => Some(why.clone()),
        }
    }
}

/// Applies one round of samples: the inventory's withdrawn GPUs and the snapshot.
fn apply(p: &Provider, nodes: BTreeMap<String, Vec<GpuSample>>, limits: &HealthLimits, note: Option<String>) {
    let mut st = p.state();
    for (node, samples) in &nodes {
        let reasons: BTreeMap<usize, String> =
            withdrawn(samples, limits).into_iter().map(|(i, why)| (i as usize, why.join("; "))).collect();
        for why in reasons.values() {
            tracing::warn!(node, "withdrawn from new bids: {why}");
        }
        st.inventory.set_withdrawn(node, &reasons);
    }
    st.telemetry = TelemetrySnapshot { nodes, time_ms: now_ms(), note };
}

/// Samples every `interval_ms` until the provider stops.
pub async fn watch(p: Arc<Provider>) {
    let source = Source::open(&p);
    if let Some(note) = source.note() {
        tracing::info!("GPU telemetry: {note}");
    }
    let limits = p.cfg.raw.telemetry.limits();
    let interval = Duration::from_millis(p.cfg.raw.telemetry.interval_ms.max(100));
    let mut failing = false;
    loop {
        match source.read() {
            Ok(nodes) => {
                failing = false;
                apply(&p, nodes, &limits, source.note());
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!("GPU telemetry: {e:#}; keeping the last samples");
            }
            Err(_) => {}
        }
        tokio::time::sleep(interval).await;
    }
}

/// The GPUs `lease` holds, now (None: no such lease here).
pub fn lease_metrics(p: &Provider, lease: &LeaseId) -> Option<LeaseMetrics> {
    let st = p.state();
    let record = st.leases.get(lease)?;
    let limits = p.cfg.raw.telemetry.limits();
    let mut gpus = Vec::new();
    for r in &record.reservation.replicas {
        let service = record
            .manifest
            .as_ref()
            .and_then(|m| m.services.iter().find(|s| s.resources.id == r.unit))
            .map_or_else(|| format!("unit {}", r.unit), |s| s.name.clone());
        for g in &r.gpus {
            let sample = st
                .telemetry
                .nodes
                .get(&r.node)
                .and_then(|s| s.iter().find(|s| s.index as usize == *g))
                .cloned()
                .unwrap_or(GpuSample { index: *g as u32, ..GpuSample::default() });
            gpus.push(LeaseGpu {
                service: service.clone(),
                replica: r.index,
                node: r.node.clone(),
                problems: problems(&sample, &limits),
                sample,
            });
        }
    }
    Some(LeaseMetrics { time_ms: st.telemetry.time_ms, gpus, note: st.telemetry.note.clone() })
}

/// Every GPU by node, with no lease named: the gateway's public `GET /telemetry`.
pub fn provider_telemetry(p: &Provider) -> ProviderTelemetry {
    let st = p.state();
    let limits = p.cfg.raw.telemetry.limits();
    let nodes = st
        .telemetry
        .nodes
        .iter()
        .map(|(node, samples)| NodeGpus {
            node: node.clone(),
            problems: samples.iter().map(|s| problems(s, &limits)).collect(),
            gpus: samples.clone(),
        })
        .collect();
    ProviderTelemetry { time_ms: st.telemetry.time_ms, nodes, note: st.telemetry.note.clone() }
}

/// Every GPU, labelled by the lease it serves, and the host: the operator's `/metrics`.
pub fn exposition(p: &Provider) -> String {
    let st = p.state();
    let mut lease_of: BTreeMap<(&str, usize), String> = BTreeMap::new();
    for record in st.leases.values() {
        for r in &record.reservation.replicas {
            for g in &r.gpus {
                lease_of.insert((r.node.as_str(), *g), record.lease.to_string());
            }
        }
    }
    let series: Vec<GpuSeries<'_>> = st
        .telemetry
        .nodes
        .iter()
        .flat_map(|(node, samples)| {
            let lease_of = &lease_of;
            samples.iter().map(move |s| GpuSeries {
                node,
                lease: lease_of.get(&(node.as_str(), s.index as usize)).cloned().unwrap_or_default(),
                sample: s,
            })
        })
        .collect();
    render(&series, &stratus_hw::bench::host_sample(), &p.cfg.raw.telemetry.limits())
}

/// Serves [`exposition`] at `GET /metrics` on plain HTTP; the task serving it (the caller stops
/// it with the provider).
pub async fn serve_metrics(
    p: Arc<Provider>,
    addr: std::net::SocketAddr,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("telemetry.metrics_listen {addr}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = exposition(&p);
            std::future::ready(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text))
        }),
    );
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the metrics listener stopped: {e}");
        }
    });
    Ok((bound, task))
}
