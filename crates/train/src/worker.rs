//! A worker (`stratus train worker --coordinator ADDR`): joins, trains the samples it is dealt,
//! sends its contribution — an int8 pseudo-gradient after H inner steps (DiLoCo) or fp32
//! gradients every step (DDP) — and applies the update the coordinator sends back. A heartbeat
//! thread tells the coordinator it is alive while it computes.

use std::fs::File;
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::data::loader::{Dataset, steps as steps_of, tokens_per_sample, windows};
use crate::data::plan::WorkerId;
use crate::engine::Engine;
use crate::job::{Compression, LinkConfig, Mode};
use crate::outer;
use crate::wire::{self, Msg, WorkerStats};

pub struct WorkerOptions {
    /// `HOST:PORT` (or `tcp://HOST:PORT`) of the coordinator.
    pub coordinator: String,
    pub name: String,
    /// Per-step JSON lines go here.
    pub metrics_file: Option<PathBuf>,
    /// How long to keep trying to reach the coordinator.
    pub connect_timeout: Duration,
    /// The job's token (the coordinator refuses workers without it).
    pub token: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WorkerSummary {
    pub id: WorkerId,
    pub steps: u64,
    pub compute_s: f64,
    pub wall_s: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// How long a worker waits before a first answer (the run may wait for others to join).
const WELCOME_WAIT: Duration = Duration::from_secs(900);

pub fn run(opts: WorkerOptions) -> anyhow::Result<WorkerSummary> {
    let coordinator = if is_storage_url(&opts.coordinator) {
        discover(&opts.coordinator, opts.connect_timeout)?
    } else {
        opts.coordinator.clone()
    };
    // `tcp://HOST:PORT`, `HOST:PORT`, or any scheme a template writes (`http://…`): the address is what counts.
    let addr = coordinator.split_once("://").map_or(coordinator.as_str(), |(_, a)| a).trim_end_matches('/').to_string();
    let mut stream = connect(&addr, opts.connect_timeout)?;
    stream.set_nodelay(true)?;
    let writer = Arc::new(Mutex::new(stream.try_clone()?));
    let mut sent = 0u64;
    let mut received = 0u64;
    let hello = Msg::Hello { name: opts.name.clone(), resume: None, token: opts.token.clone() };
    sent += wire::send(&mut *lock(&writer), &LinkConfig::default(), &hello, &[])?;
    stream.set_read_timeout(Some(WELCOME_WAIT))?;
    let (welcome, n) = wire::recv(&mut stream).map_err(|e| lost(&addr, "waiting to be admitted", e))?;
    received += n;
    let (id, job, mut round, mut ranges, theta_bytes) = match welcome.msg {
        Msg::Welcome { id, job, round, ranges } => (id, *job, round, ranges, welcome.payload),
        Msg::Bye { reason } => anyhow::bail!("the coordinator at {addr} refused this worker: {reason}"),
        other => anyhow::bail!("the coordinator at {addr} answered {other:?} instead of a welcome"),
    };
    let link = job.link;
    // Bound every later wait: the longest a round may take, plus the death timeout, plus slack.
    let ms = &job.membership;
    let answer_wait = Duration::from_millis(ms.max_wait_ms + ms.death_timeout_ms) + Duration::from_secs(30);
    stream.set_read_timeout(Some(answer_wait))?;
    let alive = Arc::new(AtomicBool::new(true));
    let beats = heartbeat(writer.clone(), link, Duration::from_millis(ms.heartbeat_ms), alive.clone());

    let result = (|| -> anyhow::Result<WorkerSummary> {
        let mut engine = Engine::new(&job)?;
        let data = Dataset::open(&job.data.url)?;
        let plen = engine.params.len();
        let mut global =
            if theta_bytes.is_empty() { engine.params.flatten()? } else { wire::bytes_to_f32s(&theta_bytes, plen)? };
        engine.params.load(&global)?;
        let mut log = match &opts.metrics_file {
            Some(p) => Some(File::create(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?),
            None => None,
        };
        let mut stats = WorkerStats::default();
        let mut first_work: Option<Instant> = None;
        let mut steps = 0u64;
        loop {
            if let Some(rs) = ranges.take().filter(|r| !r.is_empty()) {
                let start = *first_work.get_or_insert_with(Instant::now);
                let t = Instant::now();
                let mut losses = Vec::new();
                let mut compute = 0f64;
                let mut trained = 0usize;
                let payload = match job.training.mode {
                    Mode::Diloco => {
                        // Shards stream in on a thread of their own while the steps compute.
                        std::thread::scope(|scope| -> anyhow::Result<()> {
                            scope.spawn(|| data.prefetch(&rs));
                            for step_ranges in steps_of(&rs, job.data.batch) {
                                let samples = data.samples(&step_ranges)?;
                                trained += samples.len();
                                let batch = windows(&samples, job.model.context, &engine.device)?;
                                let step = engine.train_step(&batch)?;
                                compute += step.compute.as_secs_f64();
                                losses.push(step.loss);
                                steps += 1;
                                let tokens = batch.dims2()?.0 * job.model.context;
                                log_step(&mut log, id, steps, step.loss, tokens, step.compute.as_secs_f64());
                            }
                            Ok(())
                        })?;
                        let local = engine.params.flatten()?;
                        let delta = outer::pseudo_gradient(&global, &local);
                        match job.training.compression {
                            Compression::Int8 => wire::quantised_to_bytes(&outer::quantise(&delta)),
                            Compression::None => wire::f32s_to_bytes(&delta),
                        }
                    }
                    Mode::Ddp => {
                        let samples = data.samples(&rs)?;
                        trained += samples.len();
                        let batch = windows(&samples, job.model.context, &engine.device)?;
                        let (loss, grads, took) = engine.gradients(&batch)?;
                        compute += took.as_secs_f64();
                        losses.push(loss);
                        let tokens = batch.dims2()?.0 * job.model.context;
                        log_step(&mut log, id, steps + 1, loss, tokens, took.as_secs_f64());
                        wire::f32s_to_bytes(&grads)
                    }
                };
                stats.steps = losses.len() as u64;
                stats.loss = losses.iter().sum::<f32>() / losses.len().max(1) as f32;
                stats.tokens += trained as u64 * tokens_per_sample(data.index.sample_tokens, job.model.context);
                stats.compute_s += compute;
                stats.inner_s = t.elapsed().as_secs_f64();
                stats.wall_s = start.elapsed().as_secs_f64();
                let msg = Msg::Contribute { round, stats };
                sent += wire::send(&mut *lock(&writer), &link, &msg, &payload)?;
            }
            let (frame, n) = wire::recv(&mut stream).map_err(|e| lost(&addr, "waiting for the round's result", e))?;
            received += n;
            match frame.msg {
                Msg::Result { round: closed, ranges: next, stop, .. } => {
                    let t = Instant::now();
                    match job.training.mode {
                        Mode::Diloco => {
                            match job.training.compression {
                                Compression::Int8 => {
                                    let q = wire::bytes_to_quantised(&frame.payload, plen)?;
                                    outer::accumulate(&mut global, &q, 1.0);
                                }
                                Compression::None => {
                                    let u = wire::bytes_to_f32s(&frame.payload, plen)?;
                                    global.iter_mut().zip(&u).for_each(|(g, u)| *g += u);
                                }
                            }
                            engine.params.load(&global)?;
                        }
                        Mode::Ddp => {
                            if first_work.is_some() {
                                engine.apply_gradients(&wire::bytes_to_f32s(&frame.payload, plen)?)?;
                                steps += 1;
                            }
                        }
                    }
                    if first_work.is_some() {
                        stats.compute_s += t.elapsed().as_secs_f64();
                    }
                    if stop {
                        break;
                    }
                    round = closed + 1;
                    ranges = Some(next);
                }
                Msg::Resync { round: now, ranges: catch_up } => {
                    global = wire::bytes_to_f32s(&frame.payload, plen)?;
                    engine.params.load(&global)?;
                    round = now;
                    ranges = Some(catch_up);
                }
                Msg::Bye { reason } if reason == "the run is over" => break,
                Msg::Bye { reason } => anyhow::bail!("the coordinator at {addr} ended this worker: {reason}"),
                other => anyhow::bail!("the coordinator at {addr} sent {other:?} out of turn"),
            }
        }
        let wall_s = first_work.map_or(0.0, |t| t.elapsed().as_secs_f64());
        Ok(WorkerSummary { id, steps, compute_s: stats.compute_s, wall_s, bytes_sent: sent, bytes_received: received })
    })();
    alive.store(false, Ordering::Relaxed);
    let _ = beats.join();
    result
}

/// One JSON line per inner step: its loss, tokens, compute time and tokens per second of compute.
fn log_step(log: &mut Option<File>, worker: WorkerId, step: u64, loss: f32, tokens: usize, compute_s: f64) {
    if let Some(f) = log {
        let line = json!({"type": "step", "worker": worker, "step": step, "loss": loss, "tokens": tokens,
                          "compute_s": compute_s, "tokens_per_s": tokens as f64 / compute_s.max(1e-9)});
        let _ = writeln!(f, "{line}");
    }
}

fn lock(w: &Mutex<TcpStream>) -> std::sync::MutexGuard<'_, TcpStream> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

fn lost(addr: &str, doing: &str, e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            anyhow::anyhow!("the coordinator at {addr} did not answer in time ({doing})")
        }
        _ => anyhow::anyhow!("lost the coordinator at {addr} ({doing}): {e}"),
    }
}

fn is_storage_url(s: &str) -> bool {
    s.starts_with("s3://") || s.starts_with("file://")
}

/// A coordinator given as a storage object (`s3://BUCKET/PREFIX/coordinator`): whoever starts
/// the job writes the coordinator's reachable address there once it is known (a provider picks
/// the published port only when the coordinator is deployed). Polls until `timeout`.
fn discover(url: &str, timeout: Duration) -> anyhow::Result<String> {
    let (dir, name) = url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("{url}: not an object URL"))?;
    let store = crate::storage::Storage::open(dir)?;
    let deadline = Instant::now() + timeout;
    loop {
        match store.get_opt(name) {
            Ok(Some(bytes)) => {
                let addr = String::from_utf8_lossy(&bytes).trim().to_string();
                if !addr.is_empty() {
                    return Ok(addr);
                }
            }
            Ok(None) => {}
            Err(e) if Instant::now() >= deadline => return Err(e.into()),
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            anyhow::bail!("no coordinator address appeared at {url} within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Tries to connect until `timeout`, so workers may start before their coordinator.
fn connect(addr: &str, timeout: Duration) -> anyhow::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => {
                anyhow::bail!("cannot reach the coordinator at {addr} after {} s: {e}", timeout.as_secs())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn heartbeat(
    writer: Arc<Mutex<TcpStream>>,
    link: LinkConfig,
    period: Duration,
    alive: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let tick = Duration::from_millis(50);
        let mut last = Instant::now();
        while alive.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            if last.elapsed() >= period {
                last = Instant::now();
                if wire::send(&mut *lock(&writer), &link, &Msg::Heartbeat, &[]).is_err() {
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coordinator_address_is_found_in_storage_once_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}/job/coordinator", dir.path().display());
        let err = discover(&url, Duration::from_millis(600)).unwrap_err().to_string();
        assert!(err.contains("no coordinator address appeared"), "{err}");
        let writer_dir = dir.path().join("job");
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(writer_dir.join("coordinator"), "127.0.0.1:7480\n").expect("write");
        });
        assert_eq!(discover(&url, Duration::from_secs(10)).expect("found"), "127.0.0.1:7480");
        t.join().expect("writer");
    }
}
