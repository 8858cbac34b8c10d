//! A run's metrics: JSON lines on disk (one object per round and per member event) and the same
//! figures in Prometheus text on `/metrics` (with `/status`: the last round's JSON), so the
//! provider's and the tenant's views can show them.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type FloatGauge = Gauge<f64, AtomicU64>;
type WorkerFamily = Family<Vec<(String, String)>, FloatGauge>;

#[derive(Default)]
pub struct Gauges {
    pub round: Gauge,
    pub step: Gauge,
    pub members: Gauge,
    pub loss: FloatGauge,
    pub val_loss: FloatGauge,
    pub tokens_per_second: FloatGauge,
    pub utilization: FloatGauge,
    pub inner_seconds: FloatGauge,
    pub outer_seconds: FloatGauge,
    pub bytes_sent: Counter,
    pub bytes_received: Counter,
    pub worker_utilization: WorkerFamily,
    pub worker_loss: WorkerFamily,
}

/// Where a run's metrics go.
pub struct Metrics {
    pub gauges: Arc<Gauges>,
    registry: Arc<Registry>,
    status: Arc<Mutex<String>>,
    file: Option<File>,
}

impl Metrics {
    /// Metrics written as JSON lines to `file` when given.
    pub fn new(file: Option<&Path>) -> anyhow::Result<Metrics> {
        let gauges = Arc::new(Gauges::default());
        let mut r = Registry::with_prefix("stratus_train");
        let g = &gauges;
        r.register("round", "Outer rounds (exchanges) applied", g.round.clone());
        r.register("step", "Inner steps per worker so far", g.step.clone());
        r.register("members", "Live workers", g.members.clone());
        r.register("loss", "Mean training loss of the last round (nats/token)", g.loss.clone());
        r.register("val_loss", "Validation loss (nats/token), when measured", g.val_loss.clone());
        r.register(
            "tokens_per_second",
            "Tokens trained per second, all workers, last round",
            g.tokens_per_second.clone(),
        );
        r.register("utilization", "Mean compute time / wall time of the workers", g.utilization.clone());
        r.register("inner_seconds", "Wall seconds of the last round's inner steps (mean)", g.inner_seconds.clone());
        r.register("outer_seconds", "Seconds the last exchange took at the coordinator", g.outer_seconds.clone());
        r.register("bytes_sent", "Bytes the coordinator sent to workers", g.bytes_sent.clone());
        r.register("bytes_received", "Bytes the coordinator received from workers", g.bytes_received.clone());
        r.register("worker_utilization", "A worker's compute time / wall time", g.worker_utilization.clone());
        r.register("worker_loss", "A worker's mean loss in its last contribution", g.worker_loss.clone());
        let file = match file {
            Some(p) => {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Some(File::create(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?)
            }
            None => None,
        };
        Ok(Metrics { gauges, registry: Arc::new(r), status: Arc::new(Mutex::new("{}".into())), file })
    }

    /// Appends one JSON object as a line, and makes it `/status` when it is a round.
    pub fn line(&mut self, value: &serde_json::Value) {
        let text = value.to_string();
        if let Some(f) = &mut self.file
            && let Err(e) = writeln!(f, "{text}")
        {
            tracing::warn!("metrics file: {e}");
        }
        if value.get("type").and_then(|t| t.as_str()) == Some("round") {
            *self.status.lock().unwrap_or_else(|e| e.into_inner()) = text;
        }
    }

    /// Serves `/metrics` and `/status` on `addr` from a thread of its own; returns the bound address.
    pub fn serve(&self, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        let listener = std::net::TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("metrics on {addr}: {e}"))?;
        listener.set_nonblocking(true)?;
        let bound = listener.local_addr()?;
        let (registry, status) = (self.registry.clone(), self.status.clone());
        std::thread::Builder::new().name("metrics".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return tracing::warn!("metrics server: {e}"),
            };
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route(
                        "/metrics",
                        axum::routing::get(move || {
                            let registry = registry.clone();
                            async move {
                                let mut text = String::new();
                                let _ = encode(&mut text, &registry);
                                ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], text)
                            }
                        }),
                    )
                    .route(
                        "/status",
                        axum::routing::get(move || {
                            let s = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
                            async move { ([("content-type", "application/json")], s) }
                        }),
                    );
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = axum::serve(l, app).await {
                            tracing::warn!("metrics server: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("metrics server: {e}"),
                }
            });
        })?;
        Ok(bound)
    }
}
