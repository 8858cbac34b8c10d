//! GPU telemetry on a devnet: its providers' declared GPUs replay recorded figures (no driver
//! here). A tenant sees only its lease's GPUs; the operator's Prometheus text labels each GPU by
//! lease; a GPU that turns hot or faults gets no new work, and the refusal says why.

use std::path::Path;

use serde_json::Value;

use crate::ok;
use crate::up::Home;

/// hello.yaml asking for `gpus` h100s (and a price an h100 provider accepts).
fn gpu_sdl(dir: &Path, name: &str, gpus: u32) -> String {
    let text = include_str!("../../../../examples/hello.yaml")
        .replace("hello from stratus", name)
        .replace(
            "        storage:\n          size: 128Mi\n",
            &format!(
                "        storage:\n          size: 128Mi\n        gpu:\n          units: {gpus}\n          attributes:\n            vendor:\n              nvidia:\n                - model: h100\n"
            ),
        )
        .replace("amount: 100\n", "amount: 200000\n");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write the SDL");
    path.to_str().expect("utf-8 path").to_string()
}

fn operator_metrics(home: &Home) -> String {
    let config = std::fs::read_to_string(home.path().join("providers/h100/provider.toml")).expect("provider.toml");
    let addr =
        config.lines().find_map(|l| l.strip_prefix("metrics_listen = ")).expect("metrics_listen").trim_matches('"');
    let port: u16 = addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
    let (head, body) = get(port, "/metrics");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body
}

/// `GET path` on a loopback port over plain HTTP/1.0: (status line and headers, body); panics
/// unless the answer is 200.
fn get(port: u16, path: &str) -> (String, String) {
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    std::io::Write::write_all(&mut conn, format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).expect("send");
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut conn, &mut reply).expect("read the reply");
    assert!(reply.starts_with("HTTP/1.") && reply.lines().next().is_some_and(|l| l.contains(" 200 ")), "{reply}");
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or_default();
    (head.to_string(), body.to_string())
}

#[test]
fn a_tenant_sees_only_its_gpus_and_a_sick_gpu_gets_no_new_work_with_the_reason() {
    let home = Home::new();
    let sdl = gpu_sdl(home.path(), "two-gpus", 2);
    let up: Value = serde_json::from_str(&ok(&home.up(&[&sdl, "--provider", "h100", "--detach"]))).unwrap();
    let dseq = up["dseq"].as_u64().expect("dseq").to_string();

    let m: Value =
        serde_json::from_str(&ok(&home.run(&["--from", "tenant", "--output", "json", "lease", "metrics", &dseq])))
            .unwrap();
    let gpus = m["gpus"].as_array().expect("gpus");
    assert_eq!(gpus.len(), 2, "the lease's two GPUs and no other: {m}");
    assert!(gpus.iter().all(|g| g["node"] == gpus[0]["node"] && g["service"] == "web"), "{m}");
    assert!(gpus.iter().all(|g| g["sample"]["temperature_c"].as_u64().is_some_and(|t| t > 0)), "figures: {m}");
    assert!(m["note"].as_str().is_some_and(|n| n.contains("replayed")), "the stand-in is named: {m}");
    let status: Value =
        serde_json::from_str(&ok(&home.run(&["--from", "tenant", "--output", "json", "lease", "status", &dseq])))
            .unwrap();
    assert_eq!(status[0]["gpus"].as_array().map(Vec::len), Some(2), "the lease status carries its GPUs: {status}");

    // The operator's view: every GPU, the lease's two labelled with it, in Prometheus text.
    let text = operator_metrics(&home);
    let temperature: Vec<&str> = text.lines().filter(|l| l.starts_with("stratus_gpu_temperature_celsius{")).collect();
    assert_eq!(temperature.len(), 8, "8 h100s over two nodes: {text}");
    assert_eq!(temperature.iter().filter(|l| l.contains(&format!("/{dseq}/1/1/"))).count(), 2, "{text}");
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (_, value) = line.rsplit_once(' ').expect("name{labels} value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }

    // Every other GPU turns sick: the other node's run hot, one of this node's falls off the bus.
    let leased = gpus[0]["node"].as_str().unwrap().to_string();
    let replay = home.path().join("providers/h100/telemetry.json");
    let mut samples: Value = serde_json::from_str(&std::fs::read_to_string(&replay).unwrap()).unwrap();
    for (node, list) in samples.as_object_mut().unwrap() {
        for (i, s) in list.as_array_mut().unwrap().iter_mut().enumerate() {
            if *node != leased {
                s["temperature_c"] = 93.into();
            } else if i == 2 {
                s["xid_events"] = serde_json::json!([79]);
            }
        }
    }
    std::fs::write(&replay, serde_json::to_vec(&samples).unwrap()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let refused = home.up(&[&gpu_sdl(home.path(), "two-more", 2), "--provider", "h100", "--detach"]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("withdrawn from new work") && why.contains("XID 79 (the GPU has fallen off the bus)"),
        "{why}"
    );
    assert!(why.contains("93 °C, at or over its 87 °C limit"), "{why}");
    let text = operator_metrics(&home);
    let unhealthy = text.lines().filter(|l| l.starts_with("stratus_gpu_healthy{") && l.ends_with(" 0.0")).count();
    assert_eq!(unhealthy, 5, "four hot and one faulty: {text}");

    // Anyone's view (the console's provider page): every GPU's health and load by node, through
    // the devnet console's gateway proxy, with no lease named.
    let console = home.devnet()["console_port"].as_u64().expect("console port") as u16;
    let provider = home.provider_address("h100");
    let (_, body) = get(console, &format!("/gateway/{provider}/telemetry"));
    let t: Value = serde_json::from_str(&body).expect("json");
    let nodes = t["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.iter().map(|n| n["gpus"].as_array().map_or(0, Vec::len)).sum::<usize>(), 8, "{t}");
    let sick =
        nodes.iter().flat_map(|n| n["problems"].as_array().unwrap().iter()).filter(|p| p != &&Value::Array(vec![]));
    assert_eq!(sick.count(), 5, "{t}");
    assert!(t["note"].as_str().is_some_and(|n| n.contains("replayed")), "{t}");
    assert!(
        !body.contains(&format!("/{dseq}/")) && !body.contains(&home.tenant().to_string()),
        "no lease named: {body}"
    );
}
