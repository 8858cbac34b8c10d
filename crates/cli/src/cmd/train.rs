//! `stratus train …`: prepare data, run a job locally (a coordinator and worker processes of
//! this same binary on loopback), the coordinator and worker the supercloud runs, eval, and export
//! to a model file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use sha2::Digest;
use stratus_train::checkpoint::{Checkpoint, Manifest};
use stratus_train::coordinator::{self, CoordinatorOptions};
use stratus_train::data::loader::{Dataset, windows};
use stratus_train::data::shards::{PrepareOptions, prepare};
use stratus_train::engine::Engine;
use stratus_train::job::Job;
use stratus_train::storage::Storage;
use stratus_train::wire::Listener;
use stratus_train::worker::{self, WorkerOptions};

use super::ctx::Ctx;
use crate::flags::{
    Output, TrainChartArgs, TrainCommand, TrainCoordinatorArgs, TrainEvalArgs, TrainExportArgs, TrainPrepareArgs,
    TrainRunArgs, TrainWorkerArgs,
};

pub fn run(ctx: &Ctx, cmd: TrainCommand) -> anyhow::Result<ExitCode> {
    let json = ctx.output == Output::Json;
    match cmd {
        TrainCommand::Prepare(a) => prepare_cmd(&a, json),
        TrainCommand::Run(a) => run_local(&a, json),
        TrainCommand::Up(a) => return super::train_up::up(ctx, &a),
        TrainCommand::Status(a) => return super::train_up::status(ctx, &a),
        TrainCommand::Down(a) => return super::train_up::down(ctx, &a),
        TrainCommand::Supervise(a) => return super::train_up::supervise(ctx, &a),
        TrainCommand::Coordinator(a) => coordinator_cmd(&a, json),
        TrainCommand::Worker(a) => worker_cmd(&a, json),
        TrainCommand::Eval(a) => eval_cmd(&a, json),
        TrainCommand::Export(a) => export_cmd(&a, json),
        TrainCommand::Chart(a) => chart_cmd(&a),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// Reads a job file, or with `env:NAME` the job TOML in environment variable NAME (`hex:`
/// encoded or plain) — how a job reaches a coordinator run as a workload.
pub fn load_job(path: &Path) -> anyhow::Result<Job> {
    let shown = path.display().to_string();
    let text = match shown.strip_prefix("env:") {
        Some(var) => {
            let value = std::env::var(var).with_context(|| format!("{shown}: the variable {var} is not set"))?;
            match value.strip_prefix("hex:") {
                Some(h) => String::from_utf8(hex::decode(h.trim()).with_context(|| format!("{shown}: bad hex"))?)
                    .with_context(|| format!("{shown}: not UTF-8"))?,
                None => value,
            }
        }
        None => std::fs::read_to_string(path).with_context(|| format!("cannot read the job file {shown}"))?,
    };
    Ok(Job::parse(&shown, &text)?)
}

/// The corpus as bytes: a file, or the text files of a directory in name order.
fn read_corpus(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("--corpus {}", path.display()))?;
    if meta.is_file() {
        return std::fs::read(path).with_context(|| format!("--corpus {}", path.display()));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("--corpus {}", path.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_none_or(|x| x != "dat"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        if std::str::from_utf8(&bytes).is_ok() {
            out.extend(bytes);
        }
    }
    if out.is_empty() {
        anyhow::bail!("--corpus {}: no text files in this directory", path.display());
    }
    Ok(out)
}

fn prepare_cmd(a: &TrainPrepareArgs, json: bool) -> anyhow::Result<()> {
    let corpus = read_corpus(&a.corpus)?;
    let o = PrepareOptions {
        sample_tokens: a.sample_tokens,
        samples_per_shard: a.samples_per_shard,
        val_fraction: a.val_fraction,
    };
    let (index, files) = prepare(&corpus, o)?;
    let store = Storage::open(&a.out)?;
    for (name, data) in &files {
        store.put(name, data.clone())?;
    }
    // The index last: a data set whose index exists is complete.
    store.put("index.json", serde_json::to_vec_pretty(&index)?)?;
    let train: u32 = index.train.iter().sum();
    let val: u32 = index.val.iter().sum();
    if json {
        println!(
            "{}",
            json!({"out": store.url(), "corpus_bytes": corpus.len(), "train_samples": train, "val_samples": val,
                   "train_shards": index.train.len(), "val_shards": index.val.len(), "sample_tokens": index.sample_tokens,
                   "corpus_sha256": index.corpus_sha256})
        );
    } else {
        println!(
            "wrote {} training samples in {} shards and {val} held-out samples in {} shards of {} byte tokens to {}",
            train,
            index.train.len(),
            index.val.len(),
            index.sample_tokens,
            store.url()
        );
    }
    Ok(())
}

fn coordinator_cmd(a: &TrainCoordinatorArgs, json: bool) -> anyhow::Result<()> {
    let job = load_job(&a.job)?;
    let listener = Listener::open(&a.listen).with_context(|| format!("--listen {}", a.listen))?;
    let addr = listener.describe();
    if a.token.is_none() && !listener.is_loopback_tcp() {
        anyhow::bail!(
            "--listen {addr} is reachable from other machines: set STRATUS_TRAIN_TOKEN (or --token) to a secret \
             the workers also get, or anyone who reaches the port can join this job and poison the model"
        );
    }
    let metrics_listen = a
        .metrics_listen
        .as_deref()
        .map(|m| m.parse().with_context(|| format!("--metrics-listen {m}: not an address like 127.0.0.1:9100")))
        .transpose()?;
    say(json, &json!({"type": "listening", "addr": addr}), &format!("coordinator listening on {addr}"));
    let opts = CoordinatorOptions {
        min_workers: a.min_workers,
        metrics_listen,
        out_dir: a.out.clone(),
        val_samples: a.val_samples,
        token: a.token.clone(),
    };
    let rounds = job.training.rounds();
    let summary = coordinator::run(job, listener, opts, &mut |v: &Value| {
        if json {
            println!("{v}");
        } else {
            eprintln!("{}", human(v, rounds));
        }
    })?;
    if !json {
        println!(
            "done: {} steps, final loss {:.4}, val loss {:.4} nats/token, {:.0} bytes per worker, utilisation {:.1}%",
            summary.steps,
            summary.final_loss,
            summary.val_loss,
            summary.bytes_per_worker,
            summary.utilization * 100.0
        );
    }
    Ok(())
}

fn worker_cmd(a: &TrainWorkerArgs, json: bool) -> anyhow::Result<()> {
    let name = a.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let s = worker::run(WorkerOptions {
        coordinator: a.coordinator.clone(),
        name,
        metrics_file: a.metrics_file.clone(),
        connect_timeout: Duration::from_secs(a.connect_timeout),
        token: a.token.clone(),
    })?;
    say(
        json,
        &serde_json::to_value(&s)?,
        &format!(
            "worker {} done: {} steps, {:.1} s computing of {:.1} s, {} bytes sent, {} received",
            s.id, s.steps, s.compute_s, s.wall_s, s.bytes_sent, s.bytes_received
        ),
    );
    Ok(())
}

/// One checkpoint's directory (it holds a manifest), or the newest complete checkpoint of a job's
/// checkpoint URL (saying which torn ones were skipped).
fn find_checkpoint(url: &str) -> anyhow::Result<(Manifest, Checkpoint)> {
    let store = Storage::open(url)?;
    if store.get_opt("manifest.json")?.is_some() {
        return stratus_train::checkpoint::load(&store).with_context(|| format!("checkpoint {}", store.url()));
    }
    let found = stratus_train::checkpoint::latest(&store)?;
    for line in &found.skipped {
        eprintln!("warning: {line}");
    }
    found.checkpoint.ok_or_else(|| anyhow::anyhow!("no complete checkpoint under {}", store.url()))
}

fn export_cmd(a: &TrainExportArgs, json: bool) -> anyhow::Result<()> {
    let (engine, what) = if a.source.ends_with(".toml") {
        let job = load_job(Path::new(&a.source))?;
        (Engine::new(&job)?, format!("the untrained model of {} (seed {})", a.source, job.training.seed))
    } else {
        let (manifest, ck) = find_checkpoint(&a.source)?;
        let engine = Engine::new(&ck.job)?;
        engine.params.load(&ck.theta)?;
        (engine, format!("the checkpoint at round {} (step {}) of {}", manifest.round, manifest.step, a.source))
    };
    let bytes = stratus_train::model_file::from_engine(&engine)?;
    let parameters = engine.params.len();
    std::fs::write(&a.out, &bytes).with_context(|| format!("cannot write {}", a.out.display()))?;
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    say(
        json,
        &json!({"model": a.out, "sha256": sha, "bytes": bytes.len(), "parameters": parameters,
                "config": engine.lm.config()}),
        &format!("{}: {what}, {parameters} parameters, {} bytes, sha256 {sha}", a.out.display(), bytes.len()),
    );
    Ok(())
}

fn eval_cmd(a: &TrainEvalArgs, json: bool) -> anyhow::Result<()> {
    let (manifest, ck) = find_checkpoint(&a.checkpoint_url)?;
    let store = Storage::open(&a.checkpoint_url)?;
    let engine = Engine::new(&ck.job)?;
    engine.params.load(&ck.theta)?;
    let data = Dataset::open(&a.data)?;
    let val = data.val_samples(a.samples)?;
    let batch = windows(&val, ck.job.model.context, &engine.device)?;
    let loss = engine.eval(&batch)?;
    let tokens = batch.dims2()?.0 * ck.job.model.context;
    let bpb = loss / std::f64::consts::LN_2;
    say(
        json,
        &json!({"checkpoint": store.url(), "round": manifest.round, "step": manifest.step,
                "val_loss": loss, "bits_per_byte": bpb, "tokens": tokens}),
        &format!(
            "checkpoint at round {} (step {}): validation loss {loss:.4} nats/byte, {bpb:.4} bits per byte over {tokens} tokens",
            manifest.round, manifest.step
        ),
    );
    Ok(())
}

fn chart_cmd(a: &TrainChartArgs) -> anyhow::Result<()> {
    let curves = a
        .runs
        .iter()
        .map(|run| {
            let (label, path) = match run.rsplit_once('=') {
                Some((l, p)) => (l.to_string(), PathBuf::from(p)),
                None => {
                    let p = PathBuf::from(run);
                    let label = p
                        .parent()
                        .and_then(|d| d.file_name())
                        .map_or_else(|| run.clone(), |n| n.to_string_lossy().into_owned());
                    (label, p)
                }
            };
            super::chart::read_curve(&label, &path)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    super::chart::draw(&curves, &a.title, &a.out)?;
    println!("wrote {}", a.out.display());
    Ok(())
}

fn say(json: bool, value: &Value, text: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

/// One metrics object as a line for people.
fn human(v: &Value, rounds: u64) -> String {
    let f = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    match v.get("type").and_then(Value::as_str) {
        Some("round") => format!(
            "round {:>4}/{rounds}  step {:>6}  loss {:.4}  members {}  {:.0} tok/s  utilisation {:.1}%  {:.2} MB moved",
            f("round") as u64 + 1,
            f("step") as u64,
            f("loss"),
            f("members") as u64,
            f("tokens_per_s"),
            f("utilization") * 100.0,
            (f("bytes_sent") + f("bytes_received")) / 1e6
        ),
        Some("member") => format!(
            "worker {} {} (round {}){}",
            v["worker"],
            v["event"].as_str().unwrap_or("?"),
            v["round"],
            v.get("reason").and_then(Value::as_str).map(|r| format!(": {r}")).unwrap_or_default()
        ),
        Some("warning") => format!("warning: {}", v["message"].as_str().unwrap_or("")),
        Some("waiting") => v["message"].as_str().unwrap_or("").to_string(),
        _ => v.to_string(),
    }
}

/// `stratus train run`: this binary as coordinator and workers on loopback.
fn run_local(a: &TrainRunArgs, json: bool) -> anyhow::Result<()> {
    let job = load_job(&a.job)?;
    if a.workers == 0 {
        anyhow::bail!("--workers must be at least 1");
    }
    let rounds = job.training.rounds();
    let tmp;
    let out = match &a.out {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&out).with_context(|| format!("--out {}", out.display()))?;
    let exe = std::env::current_exe()?;
    // Share the cores: each worker computes on its own slice of them.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / a.workers).max(1).to_string();
    // A fresh secret for this run, through the environment (not argv, which `ps` shows), so that
    // no other local process can join it.
    let mut secret = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    let token = hex::encode(secret);
    let mut coord = Command::new(&exe);
    coord
        .args(["--output", "json", "train", "coordinator"])
        .arg(&a.job)
        .args(["--listen", "127.0.0.1:0", "--min-workers", &a.workers.to_string(), "--out"])
        .arg(&out)
        .env("STRATUS_TRAIN_TOKEN", &token)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(m) = &a.metrics_listen {
        coord.args(["--metrics-listen", m]);
    }
    let mut coord = Children::one(coord.spawn().context("cannot start the coordinator")?);
    let stdout = coord.0[0].stdout.take().ok_or_else(|| anyhow::anyhow!("no coordinator output"))?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().transpose()?.ok_or_else(|| anyhow::anyhow!("the coordinator exited before listening"))?;
    let addr = serde_json::from_str::<Value>(&first)?
        .get("addr")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the coordinator said {first:?} instead of its address"))?;
    let spawn_worker = |i: usize| -> anyhow::Result<Child> {
        let mut w = Command::new(&exe);
        w.args(["--output", "json", "train", "worker", "--coordinator", &addr, "--name", &format!("local-{i}")])
            .env("STRATUS_TRAIN_TOKEN", &token)
            .arg("--metrics-file")
            .arg(out.join(format!("worker-{i}.jsonl")))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            w.env("RAYON_NUM_THREADS", &threads);
        }
        w.spawn().with_context(|| format!("cannot start worker {i}"))
    };
    let mut workers = Children(Vec::new());
    for i in 0..a.workers {
        workers.0.push(spawn_worker(i)?);
    }
    let mut killed = false;
    let mut summary: Option<Value> = None;
    // The coordinator's lines arrive on a channel, so that the workers can be watched meanwhile:
    // when every one of them has failed, nobody is left to train and the run stops, saying so.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => line,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let mut failed = 0;
                for w in workers.0.iter_mut() {
                    if w.try_wait()?.is_some_and(|s| !s.success()) {
                        failed += 1;
                    }
                }
                if failed == workers.0.len() {
                    anyhow::bail!("every worker failed (their errors are above); stopping the coordinator");
                }
                continue;
            }
        };
        let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
        match v.get("type").and_then(Value::as_str) {
            Some("round") => {
                if json {
                    println!("{line}");
                } else {
                    eprintln!("{}", human(&v, rounds));
                }
                let done = v.get("round").and_then(Value::as_u64).map_or(0, |r| r + 1);
                if let (Some(at), false) = (a.kill_worker_at, killed)
                    && done as f64 >= at * rounds as f64
                {
                    killed = true;
                    let victim = &mut workers.0[0];
                    eprintln!(
                        "drill: SIGKILL worker 0 (pid {}) after round {done}; starting a replacement",
                        victim.id()
                    );
                    let _ = victim.kill();
                    let _ = victim.wait();
                    let replacement = spawn_worker(a.workers)?;
                    workers.0.push(replacement);
                }
            }
            Some("summary") => summary = v.get("summary").cloned(),
            _ => {
                if !json {
                    eprintln!("{}", human(&v, rounds));
                }
            }
        }
    }
    let status = coord.0[0].wait()?;
    if !status.success() {
        anyhow::bail!("the coordinator failed ({status}); its error is above");
    }
    // Workers leave once the coordinator says the run is over; do not wait on one forever.
    let deadline = Instant::now() + Duration::from_secs(30);
    for w in workers.0.iter_mut() {
        while w.try_wait()?.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let s = summary.ok_or_else(|| anyhow::anyhow!("the coordinator ended without a summary"))?;
    if let Some(svg) = &a.chart {
        let curve =
            super::chart::read_curve(&format!("{:?}", job.training.mode).to_lowercase(), &out.join("metrics.jsonl"))?;
        super::chart::draw(&[curve], &format!("training loss: {}", a.job.display()), svg)?;
        eprintln!("loss curve: {}", svg.display());
    }
    let pick = |k: &str| s.get(k).cloned().unwrap_or(Value::Null);
    let out_line = json!({
        "steps": pick("steps"), "final_loss": pick("final_loss"), "val_loss": pick("val_loss"),
        "bytes_per_worker": pick("bytes_per_worker"), "utilization": pick("utilization"),
    });
    if json {
        println!("{out_line}");
    } else {
        let kept = a.out.as_ref().map(|d| format!(" (metrics in {})", d.display())).unwrap_or_default();
        println!(
            "done: {} steps, final loss {:.4}, validation loss {:.4} nats/byte, {:.2} MB per worker, utilisation {:.1}%{kept}",
            s["steps"],
            s["final_loss"].as_f64().unwrap_or(f64::NAN),
            s["val_loss"].as_f64().unwrap_or(f64::NAN),
            s["bytes_per_worker"].as_f64().unwrap_or(f64::NAN) / 1e6,
            s["utilization"].as_f64().unwrap_or(f64::NAN) * 100.0,
        );
    }
    Ok(())
}

/// Child processes that are killed if this process stops early (an error, a panic).
struct Children(Vec<Child>);

impl Children {
    fn one(c: Child) -> Children {
        Children(vec![c])
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for c in self.0.iter_mut() {
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
