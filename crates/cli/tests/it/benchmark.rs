//! `stratus provider benchmark` on this machine (no GPU: CPU figures, labelled so), storage
//! measured in the directory a provider config names.

use serde_json::Value;

use crate::up::Home;
use crate::{json, ok, stdout, stratus};

/// hello.yaml requiring an auditor-signed measured minimum of CPU fp32 TFLOPS.
fn requiring(dir: &std::path::Path, name: &str, minimum: &str, auditor: &str) -> String {
    let text = include_str!("../../../../examples/hello.yaml").replace("hello from stratus", name).replace(
        "  placement:\n    anywhere:\n",
        &format!(
            "  placement:\n    anywhere:\n      attributes:\n        benchmark/cpu/tflops-fp32: \"{minimum}\"\n      signedBy:\n        anyOf:\n          - {auditor}\n"
        ),
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write the SDL");
    path.to_str().expect("utf-8").to_string()
}

#[test]
fn a_published_benchmark_is_audited_through_a_lease_and_placement_requires_the_audited_minimum() {
    let home = Home::new();
    ok(&home.up(&["--detach"]));
    let address = |key: &str| {
        json(&home.run(&["--output", "json", "keys", "show", key]))["address"].as_str().expect("address").to_string()
    };
    let (h100, auditor) = (address("provider-h100"), address("auditor"));

    // Only a provider publishes; the h100 provider publishes its (CPU: no GPU here) figures.
    let refused = home.run(&["--from", "tenant", "provider", "benchmark", "--quick", "--publish"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not a registered provider"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    ok(&home.run(&["--output", "json", "provider", "benchmark", "--quick", "--provider", "h100", "--publish"]));
    let chart = home.path().join("benchmarks.svg");
    let table = json(&home.run(&["--output", "json", "benchmarks", "--chart", chart.to_str().expect("utf-8")]));
    let rows = table.as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{table}");
    assert_eq!((rows[0]["provider"].as_str(), rows[0]["gpu_model"].as_str()), (Some(h100.as_str()), Some("cpu")));
    assert_eq!(rows[0]["attested_by"].as_array().map(Vec::len), Some(0));
    assert!(rows[0]["published_at"].as_str().is_some_and(|d| d.ends_with(" UTC") && d.len() == 20), "{table}");
    assert!(std::fs::read_to_string(&chart).expect("the chart").contains("<svg"));

    // The auditor reruns it as a lease on that provider. Exact agreement is refused (two runs
    // never measure the very same figures); a wide tolerance signs — the machine is shared.
    let strict = home.run(&[
        "--from",
        "auditor",
        "--output",
        "json",
        "audit",
        "benchmark",
        "provider-h100",
        "--tolerance-pct",
        "0",
    ]);
    assert_eq!(strict.status.code(), Some(1), "{}", String::from_utf8_lossy(&strict.stderr));
    let strict: Value = serde_json::from_str(&stdout(&strict)).expect("json");
    assert_eq!(
        (strict["agree"].as_bool(), strict["signed"].as_array().map(Vec::len)),
        (Some(false), Some(0)),
        "{strict}"
    );
    let audit = json(&home.run(&[
        "--from",
        "auditor",
        "--output",
        "json",
        "audit",
        "benchmark",
        "provider-h100",
        "--tolerance-pct",
        "1000",
    ]));
    assert_eq!(audit["agree"], true, "{audit}");
    assert_eq!(audit["signed"].as_array().map(Vec::len), Some(5), "{audit}");
    let table = json(&home.run(&["--output", "json", "benchmarks", "--gpu", "cpu"]));
    assert_eq!(table[0]["attested_by"][0].as_str(), Some(auditor.as_str()), "{table}");

    // An order needing an audited minimum goes to the audited provider only; one needing more
    // than anyone measured gets no bid, and every provider says why.
    let measured = requiring(home.path(), "measured", ">=0.001", &auditor);
    let up = json(&home.up(&[&measured, "--detach"]));
    assert_eq!(up["provider"].as_str(), Some(h100.as_str()), "{up}");
    let too_much = requiring(home.path(), "too-much", ">=1000", &auditor);
    let none = home.up(&[&too_much, "--detach"]);
    assert!(!none.status.success());
    let why = String::from_utf8_lossy(&none.stderr);
    assert_eq!(why.matches("needs benchmark/cpu/tflops-fp32>=1000 signed by one of").count(), 3, "{why}");
    assert_eq!(
        why.matches("; signed: benchmark/cpu/tflops-fp32=").count(),
        1,
        "only the audited provider has a figure: {why}"
    );
}

#[test]
fn a_quick_benchmark_prints_one_record_with_every_figure_and_says_the_gpu_is_missing() {
    let home = tempfile::tempdir().unwrap();
    let out =
        stratus(&["--home", home.path().to_str().unwrap(), "--output", "json", "provider", "benchmark", "--quick"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_str(&stdout(&out)).expect("one JSON record");
    assert_eq!(r["device"], "cpu", "{r}");
    assert_eq!(r["gpus"].as_array().map(Vec::len), Some(0));
    for key in ["tflops_fp32", "tflops_fp16", "tflops_bf16", "memory_gbs"] {
        assert!(r["cpu"][key].as_f64().is_some_and(|v| v > 0.0), "cpu {key}: {r}");
    }
    assert!(r["storage"]["write_mbs"].as_f64().is_some_and(|v| v > 0.0), "{r}");
    assert!(r["training"]["tokens_per_s"].as_f64().is_some_and(|v| v > 0.0), "{r}");
    assert!(r["hardware"]["cpu_threads"].as_u64().is_some_and(|n| n >= 1), "{r}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("no NVIDIA driver: GPU metrics off").count(), 1, "said once: {err}");

    let missing = stratus(&["--home", home.path().to_str().unwrap(), "provider", "benchmark", "--provider", "h100"]);
    assert_eq!(missing.status.code(), Some(2));
    let why = String::from_utf8_lossy(&missing.stderr);
    assert!(why.contains("--provider h100") && why.contains("provider.toml"), "{why}");
}
