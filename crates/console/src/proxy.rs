//! What the page reaches through the console server, so that it talks to one origin:
//! - `api/…` → the node's stable `/v1` routes: every GET, and POST for `txs` and `faucet` only
//!   (transactions arrive signed by the page; the server holds no key);
//! - `gateway/{provider}/…` → that provider's gateway (GET and PUT), found on the ledger and
//!   reached over TLS pinned to the certificate fingerprint the provider published, which a
//!   browser cannot do for a self-signed gateway. The page's `Authorization` token passes
//!   through; responses stream (lease logs and events).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The console server's state.
pub struct Console {
    pub node: String,
    pub http: reqwest::Client,
    pub templates: String,
    /// Per provider: its gateway URL, certificate fingerprint and a client pinned to it.
    pub gateways: Mutex<HashMap<String, Gateway>>,
    pub jobs: Arc<dyn crate::Jobs>,
}

#[derive(Clone)]
pub struct Gateway {
    base: String,
    fingerprint: String,
    http: reqwest::Client,
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn bad_gateway(what: &str, why: &str) -> Response {
    tracing::warn!(what, why, "the console cannot reach it");
    error(StatusCode::BAD_GATEWAY, format!("the console cannot reach {what}; is it running?"))
}

/// The upstream's status, content type and body (streamed), as it answered.
fn relay(what: &str, answer: Result<reqwest::Response, reqwest::Error>) -> Response {
    match answer {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let kind = r
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_string();
            (status, [(header::CONTENT_TYPE, kind)], Body::from_stream(r.bytes_stream())).into_response()
        }
        Err(e) => bad_gateway(what, &e.to_string()),
    }
}

fn with_query(url: String, query: Option<String>) -> String {
    match query {
        Some(q) => format!("{url}?{q}"),
        None => url,
    }
}

/// `api/PATH?QUERY` → the node's `/v1/PATH?QUERY`.
pub async fn node(
    State(c): State<Arc<Console>>,
    method: Method,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let url = with_query(format!("{}/v1/{path}", c.node), query);
    let what = format!("the node at {}", c.node);
    let answer = if method == Method::GET {
        c.http.get(&url).send().await
    } else if matches!(path.as_str(), "txs" | "faucet") {
        c.http.post(&url).header(header::CONTENT_TYPE, "application/json").body(body).send().await
    } else {
        return error(StatusCode::METHOD_NOT_ALLOWED, format!("the console forwards only GET to api/{path}"));
    };
    relay(&what, answer)
}

/// The gateway of `provider` as its ledger record says, with a client pinned to its certificate.
async fn gateway(c: &Console, provider: &str) -> Result<Gateway, Response> {
    if let Some(g) = c.gateways.lock().map_err(|_| bad_gateway("the gateway cache", "poisoned"))?.get(provider) {
        return Ok(g.clone());
    }
    let url = format!("{}/v1/providers/{provider}", c.node);
    let record =
        c.http.get(&url).send().await.map_err(|e| bad_gateway(&format!("the node at {}", c.node), &e.to_string()))?;
    if !record.status().is_success() {
        return Err(error(StatusCode::NOT_FOUND, format!("no provider {provider} on the ledger")));
    }
    let record: stratus_types::market::Provider =
        record.json().await.map_err(|e| bad_gateway(&format!("the node at {}", c.node), &e.to_string()))?;
    let fingerprint = record.info.tls_sha256.clone();
    if fingerprint.is_empty() {
        return Err(error(
            StatusCode::BAD_GATEWAY,
            format!("provider {provider} published no certificate fingerprint; its gateway cannot be verified"),
        ));
    }
    let tls =
        stratus_client::provider::pinned_tls(&fingerprint).map_err(|e| bad_gateway("the gateway", &e.to_string()))?;
    // No overall timeout: log and event streams run for as long as the page reads them.
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| bad_gateway("the gateway", &e.to_string()))?;
    let g = Gateway { base: record.host_uri.trim_end_matches('/').to_string(), fingerprint, http };
    if let Ok(mut cache) = c.gateways.lock() {
        cache.insert(provider.to_string(), g.clone());
    }
    Ok(g)
}

/// `gateway/PROVIDER/PATH?QUERY` → `PATH?QUERY` on that provider's gateway.
pub async fn provider(
    State(c): State<Arc<Console>>,
    method: Method,
    Path((provider, path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let g = match gateway(&c, &provider).await {
        Ok(g) => g,
        Err(answer) => return answer,
    };
    let url = with_query(format!("{}/{path}", g.base), query);
    let mut request = match method {
        Method::GET => g.http.get(&url),
        Method::PUT => g.http.put(&url).header(header::CONTENT_TYPE, "application/json").body(body),
        _ => return error(StatusCode::METHOD_NOT_ALLOWED, "the console forwards GET and PUT to gateways".into()),
    };
    if let Some(token) = headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, token);
    }
    let answer = request.send().await;
    if answer.is_err() {
        // The provider may have moved or changed its certificate: look it up again next time.
        if let Ok(mut cache) = c.gateways.lock() {
            cache.remove(&provider);
        }
    }
    relay(&format!("provider {provider}'s gateway at {} (certificate {})", g.base, g.fingerprint), answer)
}
