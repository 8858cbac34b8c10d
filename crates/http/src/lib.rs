//! HTTP serving shared by the node API and the provider gateway.
//!
//! Both are reachable by anyone, so both need what `axum::serve` does not give: a client that
//! sends its request one byte a minute (slow-loris) must not hold a connection and a task
//! forever, and every error — including the ones axum produces itself (a malformed path or
//! query, a body over the limit, a wrong method) — must come back as the documented
//! `{"error": "…"}` body rather than plain text.
//!
//! - Headers: hyper's `header_read_timeout` (it needs a timer, which `axum::serve` never sets)
//!   closes a connection whose request headers are not complete within [`Limits::request_timeout`].
//! - Bodies: read in full, within the same time again and up to [`Limits::body_bytes`], before
//!   the handler runs: `408` when too slow, `413` when too large. Every request body in these
//!   APIs is a small JSON document, so buffering costs nothing and keeps handlers simple.
//! - Errors: any error response that is not JSON is rewritten to `{"error": "<its text>"}`.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use stratus_types::api::ApiError;
use tokio::sync::watch;
use tower::ServiceExt;

/// How long and how much a client may take to send one request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// For the request line and headers, and again for the body.
    pub request_timeout: Duration,
    /// Largest request body accepted.
    pub body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { request_timeout: Duration::from_secs(10), body_bytes: 2 << 20 }
    }
}

/// The `{"error": …}` response every API here returns on failure.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(ApiError { error: message.into() })).into_response()
}

/// `router` with the body limits and JSON errors applied: what [`serve`] runs. Public so tests
/// can drive a hardened router without sockets.
pub fn harden(router: Router, limits: Limits) -> Router {
    router.layer(middleware::from_fn_with_state(limits, read_body)).layer(middleware::map_response(json_errors))
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish
/// (streams must be ended by the caller) and returns when the last one has closed.
pub async fn serve<L: Listener>(mut listener: L, router: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    let app = harden(router, limits);
    let (closing, closed) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: Request<Incoming>| app.clone().oneshot(req.map(Body::new)));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.request_timeout);
            let conn = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            let closing = async move {
                let _ = closed.wait_for(|c| *c).await;
            };
            let finished = tokio::select! {
                result = conn.as_mut() => Some(result),
                () = closing => None,
            };
            let result = match finished {
                Some(result) => result,
                None => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::trace!("connection ended: {e}");
            }
        });
    }
    let _ = closing.send(true);
    drop(closed);
    closing.closed().await;
}

/// Reads the whole request body within the limits before the handler sees it.
async fn read_body(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {} bytes", limits.body_bytes),
        )
    };
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes as u64) {
        return too_large();
    }
    let read = Limited::new(body, limits.body_bytes).collect();
    let bytes = match tokio::time::timeout(limits.request_timeout, read).await {
        Err(_) => {
            return error_response(
                StatusCode::REQUEST_TIMEOUT,
                format!("the request body did not arrive within {} s", limits.request_timeout.as_secs_f64()),
            );
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(e)) => return error_response(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Rewrites an error response that is not JSON (axum's own rejections are plain text, a wrong
/// method has an empty body) into the documented `{"error": …}`.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match Limited::new(body, 64 << 10).collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    let body = serde_json::to_vec(&ApiError { error: message }).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
