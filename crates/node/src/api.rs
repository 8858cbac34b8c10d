//! The HTTP JSON API. Every route is listed in [`routes`] and documented in `openapi.json`
//! (a test checks the two agree). Errors are `{"error": "one sentence"}` with a fitting status.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use stratus_store::Snapshot;
use stratus_types::address::Address;
use stratus_types::api::{ApiError, BlockInfo, FaucetRequest, Status, SubmitTx, TxInfo};
use stratus_types::market::DeploymentId;

use crate::app::{NodeApp, SubmitError};
use crate::query::{self, ListParams, QueryError};

pub type AppState = Arc<NodeApp>;

#[derive(Debug)]
pub struct ApiErr(pub StatusCode, pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_internal_error_is_logged_not_sent() {
        let r = ApiErr(StatusCode::INTERNAL_SERVER_ERROR, "redb: /secret/path/ledger.redb is corrupt".into())
            .into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(r.into_body(), 4096).await.expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("internal error on the node (incident") && !text.contains("secret"), "{text}");
        let r = ApiErr(StatusCode::BAD_REQUEST, "limit must be 1..1000".into()).into_response();
        let body = axum::body::to_bytes(r.into_body(), 4096).await.expect("body");
        assert!(String::from_utf8_lossy(&body).contains("limit must be"), "client errors say what is wrong");
    }
}

impl ApiErr {
    pub fn bad_request(message: String) -> ApiErr {
        ApiErr(StatusCode::BAD_REQUEST, message)
    }
}

/// Numbers internal errors, so the one sentence a client gets points at the node's log line.
static INCIDENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        if self.0 == StatusCode::INTERNAL_SERVER_ERROR {
            // The detail (storage paths, internal state) stays in the node's log.
            let incident = INCIDENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(incident, status = %self.0, "internal error: {}", self.1);
            let error = format!("internal error on the node (incident {incident} in its log)");
            return (self.0, axum::Json(ApiError { error })).into_response();
        }
        (self.0, axum::Json(ApiError { error: self.1 })).into_response()
    }
}

impl From<QueryError> for ApiErr {
    fn from(e: QueryError) -> ApiErr {
        match e {
            QueryError::BadRequest(m) => ApiErr(StatusCode::BAD_REQUEST, m),
            QueryError::NotFound(m) => ApiErr(StatusCode::NOT_FOUND, m),
            QueryError::Internal(m) => ApiErr(StatusCode::INTERNAL_SERVER_ERROR, m),
        }
    }
}

impl From<SubmitError> for ApiErr {
    fn from(e: SubmitError) -> ApiErr {
        let status = match &e {
            SubmitError::Invalid(_) => StatusCode::BAD_REQUEST,
            SubmitError::Refused(_) => StatusCode::FORBIDDEN,
            SubmitError::Unavailable(_) => StatusCode::NOT_FOUND,
            SubmitError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            SubmitError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            SubmitError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiErr(status, e.to_string())
    }
}

type Json<T> = Result<axum::Json<T>, ApiErr>;

fn bad(message: impl Into<String>) -> ApiErr {
    ApiErr(StatusCode::BAD_REQUEST, message.into())
}

/// Runs a read against the latest committed height off the async runtime (scans can take a
/// few milliseconds).
async fn read<T: Send + 'static>(
    app: &AppState,
    f: impl FnOnce(&Snapshot) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, ApiErr> {
    let store = Arc::clone(app.store());
    tokio::task::spawn_blocking(move || {
        let snap = store.snapshot().map_err(QueryError::from)?;
        f(&snap)
    })
    .await
    .map_err(|e| ApiErr(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(ApiErr::from)
}

fn address(name: &str, value: &str) -> Result<Address, ApiErr> {
    value.parse().map_err(|e| bad(format!("{name} {value:?}: {e}")))
}

/// Every route: (method, path as in OpenAPI, handler).
pub fn routes() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("get", "/status", get(status)),
        ("get", "/params", get(params)),
        ("get", "/validators", get(validators)),
        ("post", "/txs", post(submit)),
        ("post", "/txs/batch", post(submit_forwarded)),
        ("get", "/txs/{hash}", get(tx)),
        ("get", "/blocks/{height}", get(block)),
        ("get", "/accounts/{address}", get(account)),
        ("get", "/deployments", get(deployments)),
        ("get", "/deployments/{owner}/{dseq}", get(deployment)),
        ("get", "/groups", get(groups)),
        ("get", "/orders", get(orders)),
        ("get", "/bids", get(bids)),
        ("get", "/leases", get(leases)),
        ("get", "/providers", get(providers)),
        ("get", "/providers/{address}", get(provider)),
        ("get", "/audits", get(audits)),
        ("get", "/benchmarks", get(benchmarks)),
        ("get", "/arena/tasks/{id}", get(arena_task)),
        ("get", "/events", get(crate::events::stream)),
        ("post", "/faucet", post(faucet)),
        ("get", "/openapi.json", get(openapi)),
    ]
}

pub fn router(app: AppState) -> Router {
    let mut r = Router::new();
    for (_, path, handler) in routes() {
        // Every route also under /v1, the stable version prefix clients (the console) use.
        r = r.route(&format!("/v1{path}"), handler.clone());
        r = r.route(path, handler);
    }
    r.fallback(|| async {
        ApiErr(StatusCode::NOT_FOUND, "no such endpoint; the API is described at /openapi.json".into())
    })
    .with_state(app)
}

async fn status(State(app): State<AppState>) -> Json<Status> {
    let head = app.head();
    Ok(axum::Json(Status {
        chain_id: app.chain_id.clone(),
        height: head.height,
        app_hash: head.app_hash,
        block_time_ms: app.config.block_time_ms,
        latest_block_time_ms: head.time_ms,
        mempool_txs: app.mempool_len(),
        faucet: app.faucet_address().is_some(),
        consensus: app.engine_status(),
    }))
}

/// The genesis validator set (empty on a solo chain, whose one node signs every block; `/status`
/// names its key).
async fn validators(State(app): State<AppState>) -> Json<Vec<stratus_types::api::ValidatorInfo>> {
    Ok(axum::Json(app.validator_set.clone()))
}

async fn params(State(app): State<AppState>) -> Json<stratus_types::params::Params> {
    read(&app, query::params).await.map(axum::Json)
}

async fn submit(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Json<stratus_types::api::Submitted> {
    let wait = match q.get("wait").map(String::as_str) {
        None => false,
        Some("commit") => true,
        Some(other) => return Err(bad(format!("wait={other:?}: the only value is `commit`"))),
    };
    let req: SubmitTx =
        serde_json::from_slice(&body).map_err(|e| bad(format!("body must be {{\"tx\": \"<hex>\"}}: {e}")))?;
    let bytes = hex::decode(req.tx.trim()).map_err(|e| bad(format!("tx is not hex: {e}")))?;
    Ok(axum::Json(app.submit(&bytes, wait).await?))
}

/// Most transactions in one `POST /txs/batch`.
const MAX_BATCH: usize = 10_000;

/// Transactions another node forwards: `{"txs": ["<hex>", …]}` → `{"admitted": n, "errors":
/// [{"index": i, "error": "…"}]}`. Admitted without waiting and not forwarded again.
async fn submit_forwarded(State(app): State<AppState>, body: Bytes) -> Json<serde_json::Value> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch {
        txs: Vec<String>,
    }
    let batch: Batch =
        serde_json::from_slice(&body).map_err(|e| bad(format!("body must be {{\"txs\": [\"<hex>\", ...]}}: {e}")))?;
    if batch.txs.len() > MAX_BATCH {
        return Err(bad(format!("{} transactions; at most {MAX_BATCH} per batch", batch.txs.len())));
    }
    let bytes: Vec<Vec<u8>> = batch
        .txs
        .iter()
        .enumerate()
        .map(|(i, t)| match hex::decode(t.trim()) {
            Ok(b) if b.is_empty() => Err(bad(format!("txs[{i}] is empty"))),
            Ok(b) => Ok(b),
            Err(e) => Err(bad(format!("txs[{i}] is not hex: {e}"))),
        })
        .collect::<Result<_, _>>()?;
    let results = tokio::task::spawn_blocking(move || app.admit_forwarded(&bytes))
        .await
        .map_err(|e| ApiErr(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    let errors: Vec<serde_json::Value> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| serde_json::json!({ "index": i, "error": e.to_string() })))
        .collect();
    Ok(axum::Json(serde_json::json!({ "admitted": admitted, "errors": errors })))
}

fn parse_hash(value: &str) -> Result<[u8; 32], ApiErr> {
    hex::decode(value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad(format!("{value:?} is not a transaction hash (64 hex digits)")))
}

async fn tx(State(app): State<AppState>, Path(hash): Path<String>) -> Json<TxInfo> {
    let hash = parse_hash(&hash)?;
    read(&app, move |snap| {
        let (height, index) = snap
            .tx_location(&hash)?
            .ok_or_else(|| QueryError::NotFound(format!("transaction {} is not in any block", hex::encode(hash))))?;
        let block = snap.block(height)?.ok_or_else(|| QueryError::Internal(format!("block {height} missing")))?;
        let record =
            snap.record(height)?.ok_or_else(|| QueryError::Internal(format!("results of {height} missing")))?;
        let tx = block.txs.into_iter().nth(index as usize).ok_or_else(|| QueryError::Internal("tx index".into()))?;
        let error = record.tx_results.get(index as usize).and_then(|r| r.error.clone());
        let events = record.events.into_iter().filter(|e| e.tx == Some(index)).map(|e| e.event).collect();
        Ok(TxInfo { hash, height, index, error, events, tx })
    })
    .await
    .map(axum::Json)
}

async fn block(State(app): State<AppState>, Path(height): Path<String>) -> Json<BlockInfo> {
    let height: u64 = match height.as_str() {
        "latest" => app.head().height,
        h => h.parse().map_err(|_| bad(format!("{h:?} is not a height (a number or `latest`)")))?,
    };
    read(&app, move |snap| {
        if height == 0 {
            return Err(QueryError::NotFound("height 0 is the genesis state, not a block".into()));
        }
        let block = snap
            .block(height)?
            .ok_or_else(|| QueryError::NotFound(format!("no block at height {height} (latest is {})", snap.height)))?;
        let record =
            snap.record(height)?.ok_or_else(|| QueryError::Internal(format!("results of {height} missing")))?;
        Ok(BlockInfo {
            height,
            time_ms: block.header.time_ms,
            app_hash: record.app_hash,
            prev_app_hash: block.header.prev_app_hash,
            tx_hashes: block.txs.iter().map(|t| hex::encode(t.hash())).collect(),
            tx_results: record.tx_results,
            certificate: snap.certificate(height)?.map(|bytes| block_certificate(&bytes)).transpose()?,
        })
    })
    .await
    .map(axum::Json)
}

fn block_certificate(bytes: &[u8]) -> Result<stratus_types::api::BlockCertificate, QueryError> {
    use crate::consensus::Certificate;
    let signer = |key: &[u8; 32]| Address::from_public_key(key);
    Ok(match Certificate::from_bytes(bytes).map_err(|e| QueryError::Internal(e.to_string()))? {
        Certificate::Solo { validator, .. } => {
            stratus_types::api::BlockCertificate { engine: "solo".into(), round: 0, signers: vec![signer(&validator)] }
        }
        Certificate::Bft { round, signers, .. } => stratus_types::api::BlockCertificate {
            engine: "bft".into(),
            round,
            signers: signers.iter().map(signer).collect(),
        },
    })
}

async fn account(State(app): State<AppState>, Path(a): Path<String>) -> Json<stratus_types::api::AccountInfo> {
    let a = address("address", &a)?;
    let mut info = read(&app, move |snap| query::account(snap, &a)).await?;
    info.next_sequence = app.next_sequence(&a)?.max(info.sequence);
    Ok(axum::Json(info))
}

macro_rules! list_handler {
    ($name:ident, $query:path, $ty:ty, [$($allowed:literal),*], $states:expr) => {
        async fn $name(
            State(app): State<AppState>,
            Query(q): Query<HashMap<String, String>>,
        ) -> Json<stratus_types::api::Page<$ty>> {
            let p = ListParams::parse(&q, &[$($allowed),*], $states)?;
            read(&app, move |snap| $query(snap, &p)).await.map(axum::Json)
        }
    };
}

list_handler!(
    deployments,
    query::deployments,
    stratus_types::market::Deployment,
    ["owner", "state"],
    query::DEPLOYMENT_STATES
);
list_handler!(groups, query::groups, stratus_types::market::Group, ["owner", "dseq", "state"], query::GROUP_STATES);
list_handler!(orders, query::orders, stratus_types::market::Order, ["owner", "dseq", "state"], query::ORDER_STATES);
list_handler!(bids, query::bids, stratus_types::market::Bid, ["owner", "dseq", "provider", "state"], query::BID_STATES);
list_handler!(
    leases,
    query::leases,
    stratus_types::market::Lease,
    ["owner", "dseq", "provider", "state"],
    query::LEASE_STATES
);
list_handler!(providers, query::providers, stratus_types::market::Provider, [], &[]);
list_handler!(audits, query::audits, stratus_types::market::AuditedAttributes, ["provider", "auditor"], &[]);
list_handler!(benchmarks, query::benchmarks, stratus_types::benchmark::BenchmarkRecord, ["provider", "gpu"], &[]);

async fn deployment(
    State(app): State<AppState>,
    Path((owner, dseq)): Path<(String, String)>,
) -> Json<stratus_types::api::DeploymentInfo> {
    let owner = address("owner", &owner)?;
    let dseq: u64 = dseq.parse().map_err(|_| bad(format!("dseq {dseq:?} is not a number")))?;
    read(&app, move |snap| query::deployment(snap, &DeploymentId { owner, dseq })).await.map(axum::Json)
}

async fn arena_task(State(app): State<AppState>, Path(id): Path<String>) -> Json<stratus_types::arena::TaskRecord> {
    let id: u64 = id.parse().map_err(|_| bad(format!("task id {id:?} is not a number")))?;
    read(&app, move |snap| query::arena_task(snap, id)).await.map(axum::Json)
}

async fn provider(State(app): State<AppState>, Path(a): Path<String>) -> Json<stratus_types::market::Provider> {
    let a = address("address", &a)?;
    read(&app, move |snap| query::provider(snap, &a)).await.map(axum::Json)
}

async fn faucet(State(app): State<AppState>, body: Bytes) -> Json<stratus_types::api::Submitted> {
    let req: FaucetRequest = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("body must be {{\"address\": \"stratus1…\", \"amount\": optional coin}}: {e}")))?;
    Ok(axum::Json(app.faucet(req.address, req.amount).await?))
}

async fn openapi() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT)
}
