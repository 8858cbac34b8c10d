//! How an HTTP answer from a Stratus server (the node or a provider's gateway) becomes a result:
//! one place for both clients, since both servers answer errors as `{"error": "…"}`.

use serde::de::DeserializeOwned;
use stratus_types::api::ApiError;

use crate::node::ClientError;

/// The server could not be reached (or the connection broke), with every cause in the chain.
pub(crate) fn unreachable(base: &str, e: &dyn std::error::Error) -> ClientError {
    let mut detail = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        detail.push_str(": ");
        detail.push_str(&c.to_string());
        cause = c.source();
    }
    ClientError::Unreachable { url: base.to_string(), detail }
}

/// An error answer: `NotFound` for 404, else `Api` with the server's sentence, prefixed with
/// `who` (and the status) when given.
pub(crate) fn error(status: reqwest::StatusCode, body: &[u8], who: Option<&str>) -> ClientError {
    let message = serde_json::from_slice::<ApiError>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
    if status == reqwest::StatusCode::NOT_FOUND {
        return ClientError::NotFound(message);
    }
    match who {
        Some(who) => ClientError::Api(format!("{who}: {message} ({status})")),
        None => ClientError::Api(message),
    }
}

/// A whole JSON answer: the decoded body, or the error it carries.
pub(crate) async fn json<T: DeserializeOwned>(
    base: &str,
    url: &str,
    resp: Result<reqwest::Response, reqwest::Error>,
    who: Option<&str>,
) -> Result<T, ClientError> {
    let resp = resp.map_err(|e| unreachable(base, &e))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| unreachable(base, &e))?;
    if !status.is_success() {
        return Err(error(status, &bytes, who));
    }
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode { url: url.to_string(), detail: e.to_string() })
}
