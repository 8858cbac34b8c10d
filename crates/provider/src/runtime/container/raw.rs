//! Listing and inspecting containers, read leniently.
//!
//! bollard's typed models refuse a whole listing when one container's state is a word they do not
//! know, and podman's compatible API says `stopped` where Docker says `exited`: one such container
//! would blind the provider to every other. These two calls read the engine's JSON as plain values
//! instead, keep only the fields the runtime needs, and map every state word they meet.

use std::collections::HashMap;

use bollard::models::{ContainerState, ContainerStateStatusEnum};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One container of a listing.
#[derive(Clone, Debug)]
pub struct Listed {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub labels: HashMap<String, String>,
}

/// A container's details.
#[derive(Clone, Debug)]
pub struct Inspected {
    pub id: String,
    pub labels: HashMap<String, String>,
    pub state: ContainerState,
    pub restarts: i64,
}

/// Every container (running or not) carrying `label` (`key=value`).
pub async fn list(engine: &str, label: &str) -> Result<Vec<Listed>, String> {
    let filters = serde_json::json!({ "label": [label] }).to_string();
    let body = get(engine, &format!("/containers/json?all=1&filters={}", percent(&filters))).await?;
    let items = body.as_array().ok_or("the engine's container list is not a list")?;
    Ok(items
        .iter()
        .filter_map(|c| {
            Some(Listed {
                id: c["Id"].as_str()?.to_string(),
                name: c["Names"].as_array()?.first()?.as_str()?.trim_start_matches('/').to_string(),
                labels: labels(&c["Labels"]),
            })
        })
        .collect())
}

pub async fn inspect(engine: &str, id: &str) -> Result<Inspected, String> {
    let c = get(engine, &format!("/containers/{}/json", percent(id))).await?;
    let s = &c["State"];
    let status = match s["Status"].as_str().unwrap_or_default() {
        "running" => ContainerStateStatusEnum::RUNNING,
        "created" | "configured" | "initialized" => ContainerStateStatusEnum::CREATED,
        "restarting" => ContainerStateStatusEnum::RESTARTING,
        "paused" => ContainerStateStatusEnum::PAUSED,
        "removing" => ContainerStateStatusEnum::REMOVING,
        "dead" => ContainerStateStatusEnum::DEAD,
        // `exited`, and podman's `stopped` and `stopping`.
        _ => ContainerStateStatusEnum::EXITED,
    };
    Ok(Inspected {
        id: id.to_string(),
        labels: labels(&c["Config"]["Labels"]),
        state: ContainerState {
            status: Some(status),
            running: s["Running"].as_bool(),
            restarting: s["Restarting"].as_bool(),
            oom_killed: s["OOMKilled"].as_bool(),
            exit_code: s["ExitCode"].as_i64(),
            error: s["Error"].as_str().map(str::to_string),
            started_at: s["StartedAt"].as_str().map(str::to_string),
            finished_at: s["FinishedAt"].as_str().map(str::to_string),
            ..ContainerState::default()
        },
        restarts: c["RestartCount"].as_i64().unwrap_or(0),
    })
}

fn labels(v: &serde_json::Value) -> HashMap<String, String> {
    v.as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Creates a network through podman's own API: its Docker-compatible one accepts `isolate` but
/// does not apply it, and leaves name resolution off.
pub async fn create_isolated_podman_network(
    engine: &str,
    name: &str,
    labels: &HashMap<String, String>,
) -> Result<(), String> {
    let body = serde_json::json!({
        "name": name,
        "labels": labels,
        "options": { "isolate": "true" },
        "dns_enabled": true,
    });
    request(engine, "POST", "/v4.0.0/libpod/networks/create", Some(&body)).await.map(|_| ())
}

async fn get(engine: &str, path: &str) -> Result<serde_json::Value, String> {
    request(engine, "GET", path, None).await
}

/// One request over HTTP/1.0 (no chunking, the connection closes after the body).
async fn request(
    engine: &str,
    method: &str,
    path: &str,
    json: Option<&serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let payload = json.map(serde_json::Value::to_string).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: engine\r\n");
    if json.is_some() {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", payload.len()));
    }
    request.push_str("\r\n");
    request.push_str(&payload);
    let mut response = Vec::new();
    let io = |e: std::io::Error| format!("the engine at {engine}: {e}");
    if let Some(socket) = engine.strip_prefix("unix://").or(engine.starts_with('/').then_some(engine)) {
        let mut s = tokio::net::UnixStream::connect(socket).await.map_err(io)?;
        s.write_all(request.as_bytes()).await.map_err(io)?;
        s.read_to_end(&mut response).await.map_err(io)?;
    } else {
        let address = engine.trim_start_matches("tcp://").trim_start_matches("http://").trim_end_matches('/');
        let mut s = tokio::net::TcpStream::connect(address).await.map_err(io)?;
        s.write_all(request.as_bytes()).await.map_err(io)?;
        s.read_to_end(&mut response).await.map_err(io)?;
    }
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or("the engine's answer has no body")?;
    let head = String::from_utf8_lossy(&response[..split]);
    let body = &response[split + 4..];
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with('2') {
        return Err(format!("the engine answered {status}: {}", String::from_utf8_lossy(body).trim()));
    }
    serde_json::from_slice(body).map_err(|e| format!("the engine's answer is not JSON: {e}"))
}
