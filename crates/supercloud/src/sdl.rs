//! A training job as one SDL: a `coordinator` service (CPU only, its port published) and
//! `worker-1` … `worker-N`, each in its own placement, so each is its own group and its own
//! order: providers bid per worker, and a lost worker is re-leased alone. Every worker gets a GPU
//! profile and a `ram` volume at /dev/shm. The built-in image `stratus/trainer` is this binary's
//! `train` command on providers (`[[runtime.images]]`).
//!
//! Every scalar is written as a JSON string, which YAML reads as the same string, so no value
//! (URLs, hex) needs YAML's quoting rules.

use crate::cluster::ClusterSpec;

/// The image providers map to `stratus train`.
pub const TRAINER_IMAGE: &str = "stratus/trainer:1";
/// The port the coordinator's service exposes (published by its provider on some host port).
pub const COORDINATOR_PORT: u16 = 7480;
pub const COORDINATOR: &str = "coordinator";

/// What the workloads are told through their environment (the provider sees it; nothing of it
/// is printed by `stratus train up`).
#[derive(Clone, Debug, Default)]
pub struct JobEnv {
    /// The engine's job TOML.
    pub job_toml: String,
    /// The secret workers present to the coordinator.
    pub token: String,
    /// The storage object the coordinator's address is written to once it is known.
    pub coordinator_url: String,
    /// `AWS_*` settings for S3 (endpoint, keys, region).
    pub s3: Vec<(String, String)>,
}

pub fn worker_name(i: u32) -> String {
    format!("worker-{i}")
}

fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn list(indent: &str, items: &[String]) -> String {
    items.iter().map(|i| format!("{indent}- {}\n", q(i))).collect()
}

/// The SDL text of the job's gang deployment.
pub fn render(cluster: &ClusterSpec, env: &JobEnv, val_samples: usize) -> String {
    let hex: String = env.job_toml.bytes().map(|b| format!("{b:02x}")).collect();
    let mut common = vec![format!("STRATUS_TRAIN_TOKEN={}", env.token)];
    common.extend(env.s3.iter().map(|(k, v)| format!("{k}={v}")));
    let mut coord_env = vec![format!("STRATUS_TRAIN_JOB=hex:{hex}")];
    coord_env.extend(common.iter().cloned());
    let coord_args: Vec<String> = [
        "--output",
        "json",
        "coordinator",
        "env:STRATUS_TRAIN_JOB",
        "--listen",
        "fd:3",
        "--min-workers",
        &cluster.workers.to_string(),
        "--val-samples",
        &val_samples.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let mut s = String::from("---\nversion: \"2.0\"\nservices:\n");
    s.push_str(&format!("  {COORDINATOR}:\n    image: {}\n    args:\n", q(TRAINER_IMAGE)));
    s.push_str(&list("      ", &coord_args));
    s.push_str("    env:\n");
    s.push_str(&list("      ", &coord_env));
    s.push_str(&format!(
        "    expose:\n      - port: {COORDINATOR_PORT}\n        as: {COORDINATOR_PORT}\n        to:\n          - global: true\n"
    ));
    for i in 1..=cluster.workers {
        let name = worker_name(i);
        let args: Vec<String> = [
            "--output",
            "json",
            "worker",
            "--coordinator",
            &env.coordinator_url,
            "--name",
            &name,
            "--connect-timeout",
            "900",
        ]
        .map(String::from)
        .to_vec();
        s.push_str(&format!("  {name}:\n    image: {}\n    args:\n", q(TRAINER_IMAGE)));
        s.push_str(&list("      ", &args));
        s.push_str("    env:\n");
        s.push_str(&list("      ", &common));
        s.push_str("    params:\n      storage:\n        shm:\n          mount: /dev/shm\n");
    }
    s.push_str("profiles:\n  compute:\n");
    s.push_str(&format!(
        "    {COORDINATOR}:\n      resources:\n        cpu:\n          units: 1\n        memory:\n          size: 2Gi\n        storage:\n          - size: 2Gi\n"
    ));
    let models = cluster.canonical_gpu_models();
    let gpu_attrs = if models.is_empty() {
        "            vendor:\n              nvidia:\n".to_string()
    } else {
        let mut a = String::from("            vendor:\n              nvidia:\n");
        for m in &models {
            a.push_str(&format!("                - model: {}\n", q(m)));
        }
        a
    };
    s.push_str(&format!(
        "    worker:\n      resources:\n        cpu:\n          units: {}\n        memory:\n          size: {}\n        storage:\n          - size: {}\n          - name: shm\n            size: {}\n            attributes:\n              class: ram\n              persistent: false\n        gpu:\n          units: {}\n          attributes:\n{gpu_attrs}",
        q(&cluster.cpu),
        q(&cluster.memory),
        q(&cluster.storage),
        q(&cluster.shm),
        cluster.gpus_per_worker
    ));
    s.push_str("  placement:\n");
    let (coord_amount, coord_denom) = cluster.coordinator_price();
    s.push_str(&format!(
        "    {COORDINATOR}:\n      pricing:\n        {COORDINATOR}:\n          denom: {}\n          amount: {coord_amount}\n",
        q(&coord_denom)
    ));
    let (amount, denom) = cluster.worker_price();
    for i in 1..=cluster.workers {
        let name = worker_name(i);
        s.push_str(&format!(
            "    {name}:\n      pricing:\n        worker:\n          denom: {}\n          amount: {amount}\n",
            q(&denom)
        ));
    }
    s.push_str("deployment:\n");
    s.push_str(&format!("  {COORDINATOR}:\n    {COORDINATOR}:\n      profile: {COORDINATOR}\n      count: 1\n"));
    for i in 1..=cluster.workers {
        let name = worker_name(i);
        s.push_str(&format!("  {name}:\n    {name}:\n      profile: worker\n      count: 1\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> ClusterSpec {
        let text = "[model]\nvocab = 256\n[cluster]\nworkers = 3\ngpu_models = [\"a100\", \"rtx4090\"]\nmax_price = \"60000uact\"\nshm = \"1Gi\"\n";
        crate::cluster::split("job.toml", text).unwrap().1
    }

    fn env() -> JobEnv {
        JobEnv {
            job_toml: "[model]\nvocab = 256\n".into(),
            token: "s3cret".into(),
            coordinator_url: "s3://bucket/job/ckpt/coordinator".into(),
            s3: vec![("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:8333".into())],
        }
    }

    #[test]
    fn a_job_is_a_valid_sdl_with_a_group_per_worker_gpus_and_shm() {
        let text = render(&cluster(), &env(), 256);
        let parsed = stratus_sdl::parse(text.as_bytes());
        let errors: Vec<String> = parsed.errors().map(|d| d.render("job.yaml")).collect();
        assert!(errors.is_empty(), "{errors:?}\n{text}");
        let sdl = parsed.sdl.expect("an SDL");
        let mut names: Vec<&str> = sdl.groups.iter().map(|g| g.name.as_str()).collect();
        names.sort();
        assert_eq!(names, vec!["coordinator", "worker-1", "worker-2", "worker-3"]);
        for g in sdl.groups.iter().filter(|g| g.name.starts_with("worker")) {
            let unit = &g.resources[0];
            assert_eq!(unit.count, 1);
            assert_eq!(unit.resources.gpu.as_ref().map(|g| g.units.0), Some(1));
            let ram = unit.resources.storage.iter().find(|s| s.name == "shm").expect("shm volume");
            assert_eq!(ram.quantity.0, 1 << 30);
        }
        let manifest = serde_json::to_string(&sdl.manifest).unwrap();
        assert!(manifest.contains("STRATUS_TRAIN_TOKEN=s3cret") && manifest.contains("fd:3"));
        assert!(manifest.contains("s3://bucket/job/ckpt/coordinator"));
        assert!(manifest.contains("/dev/shm"));
    }
}
