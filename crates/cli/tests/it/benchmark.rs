//! `stratus provider benchmark` on this machine (no GPU: CPU figures, labelled so), storage
//! measured in the directory a provider config names.

use serde_json::Value;

use crate::{stdout, stratus};

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
