//! The web console's server. The front-end (`console/`, Vite + TypeScript) is built into
//! `console/dist` and embedded here, so running it needs no npm. It is served with:
//! - `templates.json`: the examples and the curated templates of `examples/templates` (what they
//!   run, GPUs, price per block), parsed by `stratus-sdl`;
//! - `jobs.json` and `jobs/{job}.json`: training jobs, from whatever [`Jobs`] the caller gives (the
//!   CLI's are the ones `stratus train up` keeps in its home);
//! - `api/…` and `gateway/{provider}/…`: the node's API and the providers' gateways, proxied
//!   ([`proxy`]), so the page talks to one origin and neither needs CORS.
//!
//! The page itself checks SDL with the real parser compiled to WebAssembly (`sdl.wasm`, from
//! `crates/wasm`).

mod proxy;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use include_dir::{Dir, include_dir};
use serde::Serialize;

static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../console/dist");
static EXAMPLES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../examples");

/// One template in the gallery.
#[derive(Clone, Debug, Serialize)]
pub struct Template {
    pub name: String,
    pub title: String,
    /// The first sentence of the file's leading comment.
    pub description: String,
    pub services: Vec<String>,
    pub gpus: Vec<String>,
    pub price: String,
    /// `example` (the project's own) or `curated` (popular workloads, `examples/templates`).
    pub source: String,
    pub sdl: String,
}

/// The examples and curated templates that are valid SDL, with what they run and cost.
pub fn templates() -> Vec<Template> {
    let curated = EXAMPLES.get_dir("templates").map(|d| d.files()).into_iter().flatten();
    let mut out: Vec<Template> = EXAMPLES
        .files()
        .map(|f| (f, "example"))
        .chain(curated.map(|f| (f, "curated")))
        .filter(|(f, _)| f.path().extension().is_some_and(|e| e == "yaml"))
        .filter_map(|(f, source)| {
            let text = f.contents_utf8()?;
            let sdl = stratus_sdl::parse_str(text).sdl?;
            let name = f.path().file_stem()?.to_string_lossy().into_owned();
            let services = sdl.manifest.iter().flat_map(|g| g.services.iter().map(|s| s.name.clone())).collect();
            let mut gpus: Vec<String> = sdl
                .groups
                .iter()
                .flat_map(|g| g.resources.iter())
                .flat_map(|r| r.resources.gpu.iter().flat_map(|g| g.attributes.iter()))
                .filter_map(|a| {
                    let parts: Vec<&str> = a.key.split('/').collect();
                    Some(format!("{} {}", parts.get(1)?, parts.get(3).unwrap_or(&"*")))
                })
                .collect();
            gpus.sort();
            gpus.dedup();
            let mut prices: Vec<String> = sdl
                .groups
                .iter()
                .flat_map(|g| g.resources.iter())
                .map(|r| format!("{} {}/block", r.price.amount.short(), r.price.denom))
                .collect();
            prices.dedup();
            let title = name.replace('-', " ");
            let comment: Vec<&str> =
                text.lines().map_while(|l| l.strip_prefix('#')).map(str::trim).filter(|l| !l.is_empty()).collect();
            let comment = comment.join(" ");
            let description = match comment.find(". ") {
                Some(end) => comment[..=end].to_string(),
                None => comment,
            };
            Some(Template {
                name,
                title,
                description,
                services,
                gpus,
                price: prices.join(", "),
                source: source.to_string(),
                sdl: text.to_string(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Training jobs the console shows. The console knows nothing of where they are kept.
pub trait Jobs: Send + Sync + 'static {
    /// Every job's status (what `stratus train status --output json` prints).
    fn list(&self) -> Vec<serde_json::Value>;
    /// One job: `{"status": …, "rounds": [round lines], "events": [member, resumed and warning
    /// lines]}`, or `None` if there is no such job.
    fn get(&self, job: &str) -> Option<serde_json::Value>;
}

/// The console's routes, talking to the node at `node`.
pub fn router(node: &str, jobs: Arc<dyn Jobs>) -> anyhow::Result<Router> {
    stratus_client::install_tls_provider();
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
    let state = Arc::new(proxy::Console {
        node: node.trim_end_matches('/').to_string(),
        http,
        templates: serde_json::to_string(&templates())?,
        gateways: Default::default(),
        jobs,
    });
    Ok(Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route("/templates.json", get(templates_json))
        .route("/jobs.json", get(jobs_json))
        .route("/jobs/{job}", get(job_json))
        .route("/api/{*path}", any(proxy::node))
        .route("/gateway/{provider}/{*path}", any(proxy::provider))
        .route("/{*file}", get(|Path(file): Path<String>| async move { asset(&file) }))
        .with_state(state))
}

fn asset(path: &str) -> Response {
    let Some(file) = DIST.get_file(path) else {
        return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({ "error": format!("no such file: {path}") })))
            .into_response();
    };
    let kind = match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, kind)], file.contents()).into_response()
}

async fn templates_json(State(c): State<Arc<proxy::Console>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], c.templates.clone()).into_response()
}

async fn jobs_json(State(c): State<Arc<proxy::Console>>) -> Response {
    let jobs = Arc::clone(&c.jobs);
    let list = tokio::task::spawn_blocking(move || jobs.list()).await.unwrap_or_default();
    axum::Json(list).into_response()
}

async fn job_json(State(c): State<Arc<proxy::Console>>, Path(file): Path<String>) -> Response {
    let name = file.strip_suffix(".json").unwrap_or(&file).to_string();
    let jobs = Arc::clone(&c.jobs);
    let lookup = name.clone();
    match tokio::task::spawn_blocking(move || jobs.get(&lookup)).await.ok().flatten() {
        Some(job) => axum::Json(job).into_response(),
        None => {
            (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({ "error": format!("no training job {name:?}") })))
                .into_response()
        }
    }
}

/// Serves the console on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: &str,
    jobs: Arc<dyn Jobs>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let router = router(node, jobs)?;
    stratus_http::serve(listener, router, stratus_http::Limits::default(), shutdown).await;
    Ok(())
}

/// The console's URL for a listening address.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}
