//! The provider's HTTPS API. Everything about a lease needs a token signed by the deployment's
//! owner (or the provider itself): anyone else gets 401 (no or bad token) or 403 (someone else's
//! deployment), and learns nothing about whether the lease exists. Streams (logs, events) are
//! newline-delimited JSON with a heartbeat every few seconds.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use stratus_types::address::Address;
use stratus_types::api::ApiError;
use stratus_types::auth::{AuthError, Claims, Scope, Token};
use stratus_types::gateway::{LeaseEvent, ManifestAccepted, ProviderStatus, StreamFrame};
use stratus_types::manifest::Manifest;
use stratus_types::market::{DeploymentId, LeaseId};

use crate::effects::daemon::Provider;
use crate::pure::manifest_check::{check_group, check_version};
use crate::runtime::workload::now_ms;

type P = Arc<Provider>;

pub struct GwErr(StatusCode, String);

impl IntoResponse for GwErr {
    fn into_response(self) -> Response {
        (self.0, axum::Json(ApiError { error: self.1 })).into_response()
    }
}

fn err(status: StatusCode, m: impl Into<String>) -> GwErr {
    GwErr(status, m.into())
}

type R<T> = Result<T, GwErr>;

pub fn router(p: P) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/version", get(|| async { axum::Json(serde_json::json!({ "version": env!("CARGO_PKG_VERSION") })) }))
        .route("/address", get(address))
        .route("/telemetry", get(telemetry))
        .route("/deployment/{owner}/{dseq}/manifest", put(manifest))
        .route("/lease/{owner}/{dseq}/{gseq}/{oseq}/status", get(lease_status))
        .route("/lease/{owner}/{dseq}/{gseq}/{oseq}/service/{name}/status", get(service_status))
        .route("/lease/{owner}/{dseq}/{gseq}/{oseq}/logs", get(logs))
        .route("/lease/{owner}/{dseq}/{gseq}/{oseq}/metrics", get(lease_metrics))
        .route("/lease/{owner}/{dseq}/{gseq}/{oseq}/events", get(events))
        .route("/decisions/{owner}/{dseq}", get(decisions))
        .fallback(|| async { err(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(p)
}

/// Checks the bearer token: signed, for this provider, in time, with `scope`, by `owner` or the
/// provider itself.
fn authorize(p: &Provider, headers: &HeaderMap, scope: Scope, owner: &Address, dseq: u64) -> R<Claims> {
    let unauthorized = |e: AuthError| err(StatusCode::UNAUTHORIZED, e.to_string());
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized(AuthError::Missing))?;
    let text = value.strip_prefix("Bearer ").ok_or_else(|| unauthorized(AuthError::Missing))?;
    let token = Token::decode(text).map_err(unauthorized)?;
    let claims = token.verify(&p.address, now_ms()).map_err(unauthorized)?.clone();
    claims.require(scope, Some(dseq)).map_err(|e| err(StatusCode::FORBIDDEN, e.to_string()))?;
    if claims.signer != *owner && claims.signer != p.address {
        return Err(err(StatusCode::FORBIDDEN, format!("{} may not access deployments of {owner}", claims.signer)));
    }
    Ok(claims)
}

fn parse_owner(s: &str) -> R<Address> {
    s.parse().map_err(|e| err(StatusCode::BAD_REQUEST, format!("owner {s:?}: {e}")))
}

fn lease_id(p: &Provider, owner: &str, dseq: u64, gseq: u32, oseq: u32) -> R<LeaseId> {
    Ok(LeaseId { owner: parse_owner(owner)?, dseq, gseq, oseq, provider: p.address })
}

async fn status(State(p): State<P>) -> axum::Json<ProviderStatus> {
    let st = p.state();
    axum::Json(ProviderStatus {
        address: p.address.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        height: st.height,
        active_leases: st.leases.len(),
        open_bids: st.bids.len(),
        inventory: st.inventory.status(),
    })
}

/// Every GPU's health and load (no lease named): public, so tenants can choose by it.
async fn telemetry(State(p): State<P>) -> axum::Json<stratus_types::telemetry::ProviderTelemetry> {
    axum::Json(crate::effects::telemetry::provider_telemetry(&p))
}

async fn address(State(p): State<P>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "address": p.address }))
}

async fn manifest(
    State(p): State<P>,
    Path((owner, dseq)): Path<(String, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> R<axum::Json<ManifestAccepted>> {
    let owner = parse_owner(&owner)?;
    authorize(&p, &headers, Scope::SendManifest, &owner, dseq)?;
    let manifest: Manifest = serde_json::from_slice(&body)
        .map_err(|e| err(StatusCode::BAD_REQUEST, format!("the body is not a manifest (JSON): {e}")))?;
    // The ledger, not the request, says what the lease is.
    let id = DeploymentId { owner, dseq };
    let info = p.node.deployment(&id).await.map_err(|e| err(StatusCode::NOT_FOUND, e.to_string()))?;
    check_version(&manifest, &info.deployment.version).map_err(|e| err(StatusCode::BAD_REQUEST, e))?;
    let leases: Vec<_> = info.leases.iter().filter(|l| l.id.provider == p.address && l.is_active()).cloned().collect();
    if leases.is_empty() {
        return Err(err(StatusCode::NOT_FOUND, format!("this provider has no active lease on deployment {id}")));
    }
    let mut checked = Vec::new();
    for lease in &leases {
        let group = info
            .groups
            .iter()
            .find(|g| g.id.gseq == lease.id.gseq)
            .ok_or_else(|| err(StatusCode::INTERNAL_SERVER_ERROR, "the lease's group is missing on the ledger"))?;
        let mg = check_group(&manifest, &group.spec).map_err(|e| err(StatusCode::BAD_REQUEST, e))?;
        checked.push((lease.clone(), group.spec.clone(), mg.clone()));
    }
    for (lease, spec, mg) in checked {
        p.deploy(&lease, &spec, mg).await.map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    }
    Ok(axum::Json(ManifestAccepted { leases: leases.into_iter().map(|l| l.id).collect() }))
}

async fn lease_status(
    State(p): State<P>,
    Path((owner, dseq, gseq, oseq)): Path<(String, u64, u32, u32)>,
    headers: HeaderMap,
) -> R<axum::Json<stratus_types::gateway::LeaseStatus>> {
    let id = lease_id(&p, &owner, dseq, gseq, oseq)?;
    authorize(&p, &headers, Scope::Status, &id.owner, dseq)?;
    let pp = Arc::clone(&p);
    let lease = id.clone();
    let mut status = tokio::task::spawn_blocking(move || pp.lease_status(&lease))
        .await
        .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("no lease {id} here")))?;
    status.gpus = crate::effects::telemetry::lease_metrics(&p, &id).map(|m| m.gpus).unwrap_or_default();
    Ok(axum::Json(status))
}

/// The lease's own GPUs, now (no other lease's, no host figures).
async fn lease_metrics(
    State(p): State<P>,
    Path((owner, dseq, gseq, oseq)): Path<(String, u64, u32, u32)>,
    headers: HeaderMap,
) -> R<axum::Json<stratus_types::telemetry::LeaseMetrics>> {
    let id = lease_id(&p, &owner, dseq, gseq, oseq)?;
    authorize(&p, &headers, Scope::Status, &id.owner, dseq)?;
    crate::effects::telemetry::lease_metrics(&p, &id)
        .map(axum::Json)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("no lease {id} here")))
}

async fn service_status(
    State(p): State<P>,
    Path((owner, dseq, gseq, oseq, name)): Path<(String, u64, u32, u32, String)>,
    headers: HeaderMap,
) -> R<axum::Json<stratus_types::gateway::ServiceStatus>> {
    let id = lease_id(&p, &owner, dseq, gseq, oseq)?;
    authorize(&p, &headers, Scope::Status, &id.owner, dseq)?;
    let status = p.lease_status(&id).ok_or_else(|| err(StatusCode::NOT_FOUND, format!("no lease {id} here")))?;
    status
        .services
        .into_iter()
        .find(|s| s.name == name)
        .map(axum::Json)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("lease {id} has no service {name:?}")))
}

fn line(frame: &StreamFrame) -> Result<Bytes, Infallible> {
    let mut text = serde_json::to_string(frame).unwrap_or_default();
    text.push('\n');
    Ok(Bytes::from(text))
}

const HEARTBEAT: Duration = Duration::from_secs(5);

fn stream_response(recv: tokio::sync::mpsc::Receiver<Result<Bytes, Infallible>>) -> Response {
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(recv));
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

async fn logs(
    State(p): State<P>,
    Path((owner, dseq, gseq, oseq)): Path<(String, u64, u32, u32)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> R<Response> {
    let id = lease_id(&p, &owner, dseq, gseq, oseq)?;
    authorize(&p, &headers, Scope::Logs, &id.owner, dseq)?;
    if !p.state().leases.contains_key(&id) {
        return Err(err(StatusCode::NOT_FOUND, format!("no lease {id} here")));
    }
    let tail: usize = q
        .get("tail")
        .map_or(Ok(100), |t| t.parse())
        .map_err(|_| err(StatusCode::BAD_REQUEST, "tail must be a number"))?;
    let follow = q.get("follow").is_some_and(|f| f == "true" || f == "1");
    let service = q.get("service").cloned();
    let (send, recv) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        let (lines, mut cursor) = p.runtime.logs(&id, service.as_deref(), tail);
        for l in lines {
            if send.send(line(&StreamFrame::Log(l))).await.is_err() {
                return;
            }
        }
        if !follow {
            return;
        }
        let mut quiet = Duration::ZERO;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if !p.state().leases.contains_key(&id) {
                let _ = send
                    .send(line(&StreamFrame::Event(LeaseEvent {
                        time_ms: now_ms(),
                        kind: "lease_closed".into(),
                        message: "the lease ended".into(),
                    })))
                    .await;
                return;
            }
            let new = p.runtime.logs_since(&id, service.as_deref(), &mut cursor);
            if new.is_empty() {
                quiet += Duration::from_millis(250);
                if quiet >= HEARTBEAT {
                    quiet = Duration::ZERO;
                    if send.send(line(&StreamFrame::Heartbeat { time_ms: now_ms() })).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            quiet = Duration::ZERO;
            for l in new {
                if send.send(line(&StreamFrame::Log(l))).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(stream_response(recv))
}

async fn events(
    State(p): State<P>,
    Path((owner, dseq, gseq, oseq)): Path<(String, u64, u32, u32)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> R<Response> {
    let id = lease_id(&p, &owner, dseq, gseq, oseq)?;
    authorize(&p, &headers, Scope::Events, &id.owner, dseq)?;
    if !p.state().leases.contains_key(&id) {
        return Err(err(StatusCode::NOT_FOUND, format!("no lease {id} here")));
    }
    let follow = q.get("follow").is_some_and(|f| f == "true" || f == "1");
    let (send, recv) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        // Two sources, read through their owners: the provider's own log (won, manifest, closed)
        // and the runtime's (replicas started, exited, failed), merged by time.
        let mut mine = crate::effects::store::EventCursor::default();
        let mut runtimes = crate::runtime::LogCursor::default();
        let mut quiet = Duration::ZERO;
        loop {
            let mut batch = p.store.events_since(&id, &mut mine);
            batch.extend(p.runtime.events_since(&id, &mut runtimes));
            batch.sort_by_key(|e| e.time_ms);
            if !batch.is_empty() {
                quiet = Duration::ZERO;
            }
            for e in batch {
                if send.send(line(&StreamFrame::Event(e))).await.is_err() {
                    return;
                }
            }
            if !follow || !p.state().leases.contains_key(&id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            quiet += Duration::from_millis(250);
            if quiet >= HEARTBEAT {
                quiet = Duration::ZERO;
                if send.send(line(&StreamFrame::Heartbeat { time_ms: now_ms() })).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(stream_response(recv))
}

async fn decisions(
    State(p): State<P>,
    Path((owner, dseq)): Path<(String, u64)>,
    headers: HeaderMap,
) -> R<axum::Json<Vec<stratus_types::gateway::Decision>>> {
    let owner = parse_owner(&owner)?;
    authorize(&p, &headers, Scope::Decisions, &owner, dseq)?;
    Ok(axum::Json(p.state().decisions.of_deployment(&DeploymentId { owner, dseq })))
}
