//! A JSON document a workload serves on its exposed port at `GET /`: an arena participant's
//! progress (`--status-listen`, `fd:3` in the templates: only what the ledger will show anyway —
//! phases, heights, submission ids, whether a score is committed or revealed, never a score
//! before its reveal) or a benchmark's record (`provider benchmark --serve`, what an auditor's
//! lease reads).

use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Json;
use axum::routing::get;
use stratus_train::wire::Listener;

/// The document, replaced as it goes.
#[derive(Clone, Default)]
pub struct StatusBoard(Arc<Mutex<serde_json::Value>>);

impl StatusBoard {
    /// Sets the given fields (an object), keeping the others.
    pub fn patch(&self, fields: serde_json::Value) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !v.is_object() {
            *v = serde_json::json!({});
        }
        if let (Some(into), serde_json::Value::Object(from)) = (v.as_object_mut(), fields) {
            into.extend(from);
        }
    }

    fn get(&self) -> serde_json::Value {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Serves the board at `spec` (`HOST:PORT`, or `fd:N` for a socket the provider passed) from a
/// task of the current runtime; `None` serves nothing.
pub fn serve(spec: Option<&str>, board: &StatusBoard) -> anyhow::Result<()> {
    let Some(spec) = spec else { return Ok(()) };
    let board = board.clone();
    let app = axum::Router::new().route("/", get(move || std::future::ready(Json(board.get()))));
    match Listener::open(spec).with_context(|| format!("--status-listen {spec}"))? {
        Listener::Tcp(l) => {
            l.set_nonblocking(true)?;
            let l = tokio::net::TcpListener::from_std(l)?;
            tokio::spawn(async move { axum::serve(l, app).await });
        }
        Listener::Unix(l) => {
            l.set_nonblocking(true)?;
            let l = tokio::net::UnixListener::from_std(l)?;
            tokio::spawn(async move { axum::serve(l, app).await });
        }
    }
    Ok(())
}
