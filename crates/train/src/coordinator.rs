//! The coordinator (`stratus train coordinator`): admits workers, deals data, closes each round
//! at quorum and deadline, reduces the contributions, applies the outer step (DiLoCo) or mirrors
//! the optimiser step (DDP), sends the update, checkpoints in the background, and writes metrics.
//!
//! One thread (the driver) owns all state; each connection has a reader thread that turns frames
//! into [`Event`]s and a writer thread that sends through the simulated link. A reader that hears
//! nothing — not even a heartbeat — for the death timeout reports its worker gone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::checkpoint::{self, Checkpoint};
use crate::data::loader::{Dataset, tokens_per_sample, windows};
use crate::data::plan::{DataPlan, Range, WorkerId};
use crate::engine::Engine;
use crate::job::{Compression, Job, Mode};
use crate::membership::{self, Arrivals, Close};
use crate::metrics::Metrics;
use crate::outer::{self, Outer, Quantised};
use crate::storage::Storage;
use crate::wire::{self, Conn, Listener, Msg, WorkerStats};

pub struct CoordinatorOptions {
    /// The first round starts once this many workers have joined.
    pub min_workers: usize,
    /// Serve `/metrics` and `/status` here.
    pub metrics_listen: Option<SocketAddr>,
    /// Write `metrics.jsonl` here.
    pub out_dir: Option<PathBuf>,
    /// Validation samples scored at the end (0: none).
    pub val_samples: usize,
    /// Workers must present this token: whoever reaches the port could otherwise join the job
    /// and poison the model.
    pub token: Option<String>,
}

/// The run's outcome (the final line of `stratus train run --output json`).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub steps: u64,
    pub final_loss: f64,
    pub val_loss: f64,
    pub bytes_per_worker: f64,
    pub utilization: f64,
    pub rounds: u64,
    pub tokens: u64,
    pub wall_s: f64,
    pub mode: Mode,
}

/// A frame for a worker: the message and its payload.
type Outgoing = (Msg, Vec<u8>);

enum Event {
    Hello {
        name: String,
        resume: Option<WorkerId>,
        stream: Conn,
        traffic: Arc<Traffic>,
        id_tx: Sender<Option<WorkerId>>,
    },
    Contribution {
        id: WorkerId,
        round: u64,
        payload: Vec<u8>,
        stats: WorkerStats,
        at: Instant,
    },
    Gone {
        id: WorkerId,
        why: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Joined before the first round.
    Pending,
    /// Has samples for this round.
    Training,
    /// Missed the last round's close; its contribution will be dropped on arrival.
    Late,
    /// Waits for this round's result (joined mid-run, or resynchronised after being late).
    Waiting,
}

struct Member {
    name: String,
    tx: Sender<(Msg, Vec<u8>)>,
    status: Status,
    stats: WorkerStats,
}

/// Bytes moved, counted by the reader and writer threads.
#[derive(Default)]
struct Traffic {
    sent: AtomicU64,
    received: AtomicU64,
}

enum Contribution {
    Int8(Quantised),
    Fp32(Vec<f32>),
}

/// Runs a job to its end on `listener`; `on_line` sees every metrics object as it is written.
pub fn run(
    job: Job,
    listener: Listener,
    opts: CoordinatorOptions,
    on_line: &mut dyn FnMut(&serde_json::Value),
) -> anyhow::Result<Summary> {
    let started_at = Instant::now();
    let data = Dataset::open(&job.data.url)?;
    let mut engine = Engine::new(&job)?;
    let plen = engine.params.len();
    let mut theta = engine.params.flatten()?;
    let mut outer_opt = Outer::new(plen, job.training.outer_lr, job.training.outer_momentum);
    let mut plan = DataPlan::new(job.training.seed, data.index.train.clone());
    let mut round = 0u64;
    let mut tokens = 0u64;
    let mut resumed = false;
    let mut metrics = Metrics::new(opts.out_dir.as_ref().map(|d| d.join("metrics.jsonl")).as_deref())?;
    let mut emit = |metrics: &mut Metrics, v: serde_json::Value| {
        metrics.line(&v);
        on_line(&v);
    };
    if let Some(addr) = opts.metrics_listen {
        let bound = metrics.serve(addr)?;
        emit(&mut metrics, json!({"type": "metrics", "listen": bound.to_string()}));
    }

    // Resume from the newest complete checkpoint.
    let ckpt_store = job.checkpoint.url.as_deref().map(Storage::open).transpose()?;
    if let Some(store) = &ckpt_store {
        let found = checkpoint::latest(store)?;
        for line in &found.skipped {
            emit(&mut metrics, json!({"type": "warning", "message": line}));
        }
        if let Some((manifest, ck)) = found.checkpoint {
            if manifest.job_sha256 != job.sha256() {
                anyhow::bail!(
                    "the checkpoint at {}/ckpt/{} was taken under another job file (sha256 {}, this one {}); \
                     point checkpoint.url somewhere new to start afresh",
                    store.url(),
                    checkpoint::dir_name(manifest.round),
                    manifest.job_sha256,
                    job.sha256()
                );
            }
            if ck.theta.len() != plen {
                anyhow::bail!("the checkpoint holds {} parameters; the job's model has {plen}", ck.theta.len());
            }
            theta = ck.theta;
            engine.params.load(&theta)?;
            if !ck.velocity.is_empty() {
                outer_opt.velocity = ck.velocity;
            }
            if ck.round >= job.training.rounds() {
                anyhow::bail!(
                    "this job is already complete: the checkpoint at {}/ckpt/{} holds round {} of {}; \
                     `stratus train eval {}` scores it, and a new checkpoint.url starts afresh",
                    store.url(),
                    checkpoint::dir_name(ck.round),
                    ck.round,
                    job.training.rounds(),
                    store.url()
                );
            }
            plan = ck.plan;
            round = ck.round;
            tokens = ck.tokens;
            resumed = true;
            emit(
                &mut metrics,
                json!({"type": "resumed", "round": round, "step": ck.step, "positions": manifest.positions}),
            );
        }
    }
    let uploader = ckpt_store.clone().map(|s| Uploader::start(s, job.checkpoint.keep_last));

    let (ev_tx, ev_rx) = mpsc::channel::<Event>();
    let token = opts.token.as_deref().map(token_digest);
    accept_in_background(listener, ev_tx.clone(), job.membership.death_timeout_ms, token)?;

    let ms = &job.membership;
    let steps_per_round = job.training.steps_per_round();
    let rounds = job.training.rounds();
    let samples_per_round = u32::try_from(steps_per_round * job.data.batch as u64).unwrap_or(u32::MAX);
    let tokens_per_sample = tokens_per_sample(data.index.sample_tokens, job.model.context);
    let longest_wait = ms.max_wait_ms as f64 / 1000.0;
    let mut members: BTreeMap<WorkerId, Member> = BTreeMap::new();
    let mut counters: BTreeMap<WorkerId, Arc<Traffic>> = BTreeMap::new();
    let mut contributions: BTreeMap<WorkerId, (Contribution, f64)> = BTreeMap::new();
    let mut arrivals = Arrivals::default();
    let mut next_id: WorkerId = plan.members().into_iter().max().map_or(0, |m| m + 1);
    let mut started = false;
    let mut round_start = Instant::now();
    let waiting_since = Instant::now();
    let mut last_note = Instant::now();
    let mut last_loss = f64::NAN;
    let mut founding = 0usize;
    let wait_for_workers = Duration::from_millis(ms.max_wait_ms);

    loop {
        // Events first (all that are queued), then the clock.
        let mut first = Some(ev_rx.recv_timeout(Duration::from_millis(50)));
        loop {
            let next = match first.take() {
                Some(n) => n,
                None => ev_rx.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                }),
            };
            match next {
                Ok(ev) => match ev {
                    Event::Hello { name, resume, stream, traffic: counter, id_tx } => {
                        if started && job.training.mode == Mode::Ddp {
                            refuse(stream, &job, "this is a DDP run: it takes no workers once it has started");
                            let _ = id_tx.send(None);
                        } else {
                            let id = match resume {
                                Some(r) if plan.members().contains(&r) && !members.contains_key(&r) => r,
                                _ => {
                                    next_id += 1;
                                    next_id - 1
                                }
                            };
                            let tx = spawn_writer(id, stream, job.link, counter.clone(), ev_tx.clone());
                            counters.insert(id, counter);
                            let status = if started { Status::Waiting } else { Status::Pending };
                            if started {
                                // Mid-run: the current global parameters, live; it waits for this
                                // round's result and contributes nothing to it (a zero Δ).
                                plan.join(id);
                                let welcome = Msg::Welcome { id, job: Box::new(job.clone()), round, ranges: None };
                                let _ = tx.send((welcome, wire::f32s_to_bytes(&theta)));
                            }
                            members
                                .insert(id, Member { name: name.clone(), tx, status, stats: WorkerStats::default() });
                            let _ = id_tx.send(Some(id));
                            emit(
                                &mut metrics,
                                json!({"type": "member", "event": "joined", "worker": id, "name": name, "round": round}),
                            );
                        }
                    }
                    Event::Contribution { id, round: r, payload, stats, at } => {
                        let Some(m) = members.get_mut(&id) else { continue };
                        m.stats = stats;
                        if r == round && m.status == Status::Training {
                            let decoded = match (job.training.mode, job.training.compression) {
                                (Mode::Diloco, Compression::Int8) => {
                                    wire::bytes_to_quantised(&payload, plen).map(Contribution::Int8)
                                }
                                _ => wire::bytes_to_f32s(&payload, plen).map(Contribution::Fp32),
                            };
                            match decoded {
                                Ok(c) => {
                                    contributions.insert(id, (c, at.duration_since(round_start).as_secs_f64()));
                                }
                                Err(e) => {
                                    let _ = m
                                        .tx
                                        .send((Msg::Bye { reason: format!("a malformed contribution: {e}") }, vec![]));
                                    members.remove(&id);
                                    plan.leave(id);
                                }
                            }
                        } else if m.status == Status::Late || r < round {
                            // Late: dropped. It takes the current parameters and trains the share
                            // of this round that is left, or (too little left) waits for its result.
                            let catch_up = match job.training.mode {
                                Mode::Diloco => membership::catch_up_steps(
                                    steps_per_round,
                                    round_start.elapsed().as_secs_f64(),
                                    arrivals.usual(),
                                ),
                                Mode::Ddp => 0,
                            };
                            let ranges = if catch_up > 0 {
                                m.status = Status::Training;
                                plan.take(id, u32::try_from(catch_up * job.data.batch as u64).unwrap_or(u32::MAX))
                            } else {
                                m.status = Status::Waiting;
                                Vec::new()
                            };
                            let _ = m.tx.send((Msg::Resync { round, ranges }, wire::f32s_to_bytes(&theta)));
                            emit(
                                &mut metrics,
                                json!({"type": "member", "event": "late", "worker": id, "round": r, "catch_up_steps": catch_up}),
                            );
                        }
                    }
                    Event::Gone { id, why } => {
                        if let Some(m) = members.remove(&id) {
                            contributions.remove(&id);
                            plan.leave(id);
                            emit(
                                &mut metrics,
                                json!({"type": "member", "event": "left", "worker": id, "name": m.name, "reason": why, "round": round}),
                            );
                        }
                    }
                },
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => anyhow::bail!("the coordinator's listener stopped"),
            }
        }

        if !started {
            if members.len() >= opts.min_workers.max(1) {
                started = true;
                founding = members.len();
                // Members of a resumed plan that did not come back hand their work to the others.
                for gone in plan.members().into_iter().filter(|m| !members.contains_key(m)) {
                    plan.leave(gone);
                }
                for (id, m) in members.iter_mut() {
                    plan.join(*id);
                    let ranges = plan.take(*id, samples_per_round);
                    let payload = if resumed { wire::f32s_to_bytes(&theta) } else { Vec::new() };
                    let welcome = Msg::Welcome { id: *id, job: Box::new(job.clone()), round, ranges: Some(ranges) };
                    let _ = m.tx.send((welcome, payload));
                    m.status = Status::Training;
                }
                round_start = Instant::now();
                emit(&mut metrics, json!({"type": "started", "round": round, "members": members.len()}));
            } else if waiting_since.elapsed() > wait_for_workers {
                anyhow::bail!(
                    "{} of {} workers joined in {} s; giving up (membership.max_wait_ms)",
                    members.len(),
                    opts.min_workers,
                    ms.max_wait_ms / 1000
                );
            } else if last_note.elapsed() > Duration::from_secs(10) {
                last_note = Instant::now();
                emit(
                    &mut metrics,
                    json!({"type": "waiting", "message": format!("waiting for workers: {} of {} joined", members.len(), opts.min_workers)}),
                );
            }
            continue;
        }

        // Is the round over?
        let training: Vec<WorkerId> =
            members.iter().filter(|(_, m)| m.status == Status::Training).map(|(id, _)| *id).collect();
        let elapsed = round_start.elapsed().as_secs_f64();
        let state = membership::Round { training: training.len(), arrived: contributions.len(), elapsed };
        // DDP is synchronous: every live member's gradient is in every step (a dropped one would
        // leave that worker's optimiser state behind everyone else's).
        let quorum = if job.training.mode == Mode::Ddp { 1.0 } else { ms.quorum };
        let deadline = arrivals.deadline(ms.deadline_k, ms.min_deadline_ms as f64 / 1000.0);
        let close = membership::decide(&state, deadline, quorum, longest_wait);
        if close == Close::Wait {
            if contributions.is_empty() && elapsed >= longest_wait {
                anyhow::bail!(
                    "no worker contributed to round {round} in {elapsed:.0} s though {} are connected (membership.max_wait_ms)",
                    training.len()
                );
            }
            if close == Close::Wait && members.is_empty() && last_note.elapsed() > Duration::from_secs(10) {
                last_note = Instant::now();
                emit(&mut metrics, json!({"type": "waiting", "message": "no workers: waiting for one to join"}));
            }
            continue;
        }

        // Close the round.
        let outer_start = Instant::now();
        let arrived: Vec<WorkerId> = contributions.keys().copied().collect();
        let dropped: Vec<WorkerId> = training.iter().filter(|id| !contributions.contains_key(id)).copied().collect();
        for id in &dropped {
            plan.rewind(*id);
            if let Some(m) = members.get_mut(id) {
                m.status = Status::Late;
            }
        }
        let mut committed: BTreeMap<WorkerId, Vec<Range>> = BTreeMap::new();
        for id in &arrived {
            committed.insert(*id, plan.commit(*id));
        }
        for (_, (_, at)) in contributions.iter() {
            arrivals.record(*at);
        }
        let weight = 1.0 / arrived.len().max(1) as f32;
        let mut mean = vec![0f32; plen];
        for (c, _) in contributions.values() {
            match c {
                Contribution::Int8(q) => outer::accumulate(&mut mean, q, weight),
                Contribution::Fp32(v) => mean.iter_mut().zip(v).for_each(|(m, x)| *m += weight * x),
            }
        }
        // The update every worker applies, and its bytes.
        let payload = match job.training.mode {
            Mode::Diloco => {
                let mut next_theta = theta.clone();
                if !arrived.is_empty() {
                    outer_opt.step(&mut next_theta, &mean);
                }
                let update: Vec<f32> = next_theta.iter().zip(&theta).map(|(n, o)| n - o).collect();
                match job.training.compression {
                    Compression::Int8 => {
                        let q = outer::quantise(&update);
                        outer::accumulate(&mut theta, &q, 1.0);
                        wire::quantised_to_bytes(&q)
                    }
                    Compression::None => {
                        theta.iter_mut().zip(&update).for_each(|(t, u)| *t += u);
                        wire::f32s_to_bytes(&update)
                    }
                }
            }
            Mode::Ddp => {
                if !arrived.is_empty() {
                    engine.apply_gradients(&mean)?;
                }
                wire::f32s_to_bytes(&mean)
            }
        };
        let n_arrived = arrived.len();
        let round_tokens: u64 = committed.values().flatten().map(|r| u64::from(r.len()) * tokens_per_sample).sum();
        tokens += round_tokens;
        let losses: Vec<f64> =
            arrived.iter().filter_map(|id| members.get(id)).map(|m| f64::from(m.stats.loss)).collect();
        if !losses.is_empty() {
            last_loss = losses.iter().sum::<f64>() / losses.len() as f64;
        }
        let closed = round;
        round += 1;
        let stop = round >= rounds;
        for (id, m) in members.iter_mut() {
            let applied = arrived.contains(id);
            if applied || m.status == Status::Waiting {
                let ranges = if stop { Vec::new() } else { plan.take(*id, samples_per_round) };
                let result = Msg::Result { round: closed, applied, ranges, stop, members: n_arrived };
                let _ = m.tx.send((result, payload.clone()));
                m.status = Status::Training;
            }
        }
        contributions.clear();
        let outer_s = outer_start.elapsed().as_secs_f64();
        let round_s = round_start.elapsed().as_secs_f64();
        round_start = Instant::now();

        let (sent, received) = counters
            .values()
            .fold((0, 0), |(s, r), c| (s + c.sent.load(Ordering::Relaxed), r + c.received.load(Ordering::Relaxed)));
        let utils: Vec<f64> =
            members.values().filter(|m| m.stats.wall_s > 0.0).map(|m| m.stats.compute_s / m.stats.wall_s).collect();
        let utilization = if utils.is_empty() { f64::NAN } else { utils.iter().sum::<f64>() / utils.len() as f64 };
        let inner_s = {
            let v: Vec<f64> = arrived.iter().filter_map(|id| members.get(id)).map(|m| m.stats.inner_s).collect();
            if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
        };
        let g = &metrics.gauges;
        g.round.set(round as i64);
        g.step.set((round * steps_per_round) as i64);
        g.members.set(members.len() as i64);
        g.loss.set(last_loss);
        g.tokens_per_second.set(round_tokens as f64 / round_s.max(1e-9));
        g.utilization.set(utilization);
        g.inner_seconds.set(inner_s);
        g.outer_seconds.set(outer_s);
        g.bytes_sent.inner().store(sent, Ordering::Relaxed);
        g.bytes_received.inner().store(received, Ordering::Relaxed);
        for (id, m) in &members {
            let label = vec![("worker".to_string(), id.to_string())];
            if m.stats.wall_s > 0.0 {
                g.worker_utilization.get_or_create(&label).set(m.stats.compute_s / m.stats.wall_s);
            }
            g.worker_loss.get_or_create(&label).set(f64::from(m.stats.loss));
        }
        let close_name = format!("{close:?}").to_lowercase();
        emit(
            &mut metrics,
            json!({
                "type": "round", "round": closed, "step": round * steps_per_round, "tokens": tokens,
                "loss": last_loss, "members": members.len(), "arrived": n_arrived, "dropped": dropped,
                "close": close_name, "round_s": round_s, "inner_s": inner_s, "outer_s": outer_s,
                "tokens_per_s": round_tokens as f64 / round_s.max(1e-9), "utilization": utilization,
                "bytes_sent": sent, "bytes_received": received, "committed": committed,
            }),
        );

        let due = job.checkpoint.every_rounds > 0 && (round.is_multiple_of(job.checkpoint.every_rounds) || stop);
        // DDP's parameters live in the mirrored model; flatten them only when they are written out.
        if job.training.mode == Mode::Ddp && ((uploader.is_some() && due) || stop) {
            theta = engine.params.flatten()?;
        }
        if let (Some(up), true) = (&uploader, due) {
            let ck = Checkpoint {
                round,
                step: round * steps_per_round,
                tokens,
                theta: theta.clone(),
                velocity: if job.training.mode == Mode::Diloco { outer_opt.velocity.clone() } else { Vec::new() },
                plan: plan.clone(),
                job: job.clone(),
            };
            match up.submit(ck, engine.params.named(&theta)?, stop) {
                Ok(()) => {}
                Err(why) => emit(&mut metrics, json!({"type": "warning", "message": why})),
            }
        }

        if stop {
            for m in members.values() {
                if m.status == Status::Late {
                    let _ = m.tx.send((Msg::Bye { reason: "the run is over".into() }, vec![]));
                }
            }
            let val_loss = if opts.val_samples > 0 {
                engine.params.load(&theta)?;
                let val = data.val_samples(opts.val_samples)?;
                let batch = windows(&val, job.model.context, &engine.device)?;
                engine.eval(&batch)?
            } else {
                f64::NAN
            };
            metrics.gauges.val_loss.set(val_loss);
            if let Some(up) = uploader {
                for line in up.finish() {
                    emit(&mut metrics, json!({"type": "warning", "message": line}));
                }
            }
            let summary = Summary {
                steps: round * steps_per_round,
                final_loss: last_loss,
                val_loss,
                bytes_per_worker: (sent + received) as f64 / founding.max(1) as f64,
                utilization,
                rounds: round,
                tokens,
                wall_s: started_at.elapsed().as_secs_f64(),
                mode: job.training.mode,
            };
            emit(&mut metrics, json!({"type": "summary", "summary": summary}));
            return Ok(summary);
        }
    }
}

/// Accepts connections; each reads its Hello (within the death timeout) and then its frames.
fn accept_in_background(
    listener: Listener,
    events: Sender<Event>,
    death_ms: u64,
    token: Option<[u8; 32]>,
) -> anyhow::Result<()> {
    std::thread::Builder::new().name("accept".into()).spawn(move || {
        loop {
            let Ok(stream) = listener.accept() else { continue };
            let events = events.clone();
            let _ = std::thread::Builder::new()
                .name("reader".into())
                .spawn(move || read_worker(stream, events, death_ms, token));
        }
    })?;
    Ok(())
}

/// Tokens are compared by digest, so the comparison's timing says nothing about the token.
fn token_digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

fn read_worker(mut stream: Conn, events: Sender<Event>, death_ms: u64, token: Option<[u8; 32]>) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(death_ms)));
    let Ok((hello, size)) = wire::recv(&mut stream) else { return };
    let Msg::Hello { name, resume, token: offered } = hello.msg else { return };
    if let Some(expected) = token
        && offered.as_deref().map(token_digest) != Some(expected)
    {
        let bye = Msg::Bye { reason: "wrong or missing job token (STRATUS_TRAIN_TOKEN)".into() };
        let _ = wire::send(&mut stream, &crate::job::LinkConfig::default(), &bye, &[]);
        return;
    }
    let Ok(write_half) = stream.try_clone() else { return };
    let (id_tx, id_rx) = mpsc::channel();
    let traffic = Arc::new(Traffic::default());
    traffic.received.fetch_add(size, Ordering::Relaxed);
    if events.send(Event::Hello { name, resume, stream: write_half, traffic: traffic.clone(), id_tx }).is_err() {
        return;
    }
    let Ok(Some(id)) = id_rx.recv() else { return };
    loop {
        match wire::recv(&mut stream) {
            Ok((frame, size)) => {
                traffic.received.fetch_add(size, Ordering::Relaxed);
                let ev = match frame.msg {
                    Msg::Heartbeat => continue,
                    Msg::Contribute { round, stats } => {
                        Event::Contribution { id, round, payload: frame.payload, stats, at: Instant::now() }
                    }
                    other => Event::Gone { id, why: format!("sent {other:?} out of turn") },
                };
                if events.send(ev).is_err() {
                    return;
                }
            }
            Err(e) => {
                let why = match e.kind() {
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                        format!("silent for {} s (no heartbeat)", death_ms / 1000)
                    }
                    // A process killed with data unread in its socket resets the connection.
                    std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted => "connection closed".to_string(),
                    _ => e.to_string(),
                };
                let _ = events.send(Event::Gone { id, why });
                return;
            }
        }
    }
}

/// A thread that sends a worker's frames in order through its (simulated) link.
fn spawn_writer(
    id: WorkerId,
    mut stream: Conn,
    link: crate::job::LinkConfig,
    traffic: Arc<Traffic>,
    events: Sender<Event>,
) -> Sender<(Msg, Vec<u8>)> {
    let (tx, rx): (Sender<Outgoing>, Receiver<Outgoing>) = mpsc::channel();
    let _ = std::thread::Builder::new().name("writer".into()).spawn(move || {
        for (msg, payload) in rx {
            let bye = matches!(msg, Msg::Bye { .. });
            match wire::send(&mut stream, &link, &msg, &payload) {
                Ok(n) => {
                    traffic.sent.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    let why = match e.kind() {
                        std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted => "connection closed".to_string(),
                        _ => format!("send failed: {e}"),
                    };
                    let _ = events.send(Event::Gone { id, why });
                    return;
                }
            }
            if bye {
                stream.shutdown();
                return;
            }
        }
    });
    tx
}

fn refuse(mut stream: Conn, job: &Job, reason: &str) {
    let _ = wire::send(&mut stream, &job.link, &Msg::Bye { reason: reason.into() }, &[]);
}

/// Checkpoint uploads on a thread of their own, so training never waits for storage. One upload
/// at a time; a checkpoint due while one is still uploading is skipped, with a warning.
struct Uploader {
    tx: SyncSender<(Checkpoint, std::collections::HashMap<String, candle_core::Tensor>)>,
    done: std::thread::JoinHandle<Vec<String>>,
}

impl Uploader {
    fn start(storage: Storage, keep_last: usize) -> Uploader {
        let (tx, rx) = mpsc::sync_channel::<(Checkpoint, std::collections::HashMap<String, candle_core::Tensor>)>(0);
        let done = std::thread::spawn(move || {
            let mut failures = Vec::new();
            for (ck, named) in rx {
                if let Err(e) = checkpoint::write(&storage, &ck, &named, keep_last) {
                    let line = format!("checkpoint of round {} to {} failed: {e:#}", ck.round, storage.url());
                    tracing::warn!("{line}");
                    failures.push(line);
                }
            }
            failures
        });
        Uploader { tx, done }
    }

    /// Hands a checkpoint to the uploader; the last one (`wait`) waits for a running upload.
    fn submit(
        &self,
        ck: Checkpoint,
        named: std::collections::HashMap<String, candle_core::Tensor>,
        wait: bool,
    ) -> Result<(), String> {
        let round = ck.round;
        if wait {
            return self
                .tx
                .send((ck, named))
                .map_err(|_| format!("checkpoint of round {round} skipped: the uploader stopped"));
        }
        match self.tx.try_send((ck, named)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                Err(format!("checkpoint of round {round} skipped: the previous upload is still running"))
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(format!("checkpoint of round {round} skipped: the uploader stopped"))
            }
        }
    }

    /// Waits for the last upload; returns the failures.
    fn finish(self) -> Vec<String> {
        drop(self.tx);
        self.done.join().unwrap_or_else(|_| vec!["the checkpoint uploader panicked".into()])
    }
}
