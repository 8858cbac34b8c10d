//! Object storage for shards and checkpoints through `object_store`: S3-compatible servers
//! (`s3://bucket/prefix`; endpoint and credentials from the usual `AWS_*` variables, e.g.
//! `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`) or a local directory
//! (`file:///dir` or a plain path). Calls are blocking — training code is synchronous — each on a
//! small runtime of its own.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{url}: {message}")]
    Url { url: String, message: String },
    /// `message` is the server's answer in one line (object_store's own text repeats itself
    /// down its chain of causes, with the XML body each time).
    #[error("{url}: {message}")]
    Store { url: String, message: String, error: object_store::Error },
    #[error("{url}: {message}")]
    Runtime { url: String, message: String },
}

#[derive(Clone)]
pub struct Storage {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// How to reach an S3-compatible server; unset fields come from the `AWS_*` environment.
#[derive(Clone, Debug, Default)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub region: Option<String>,
}

impl Storage {
    /// Opens `url`; S3 settings from the environment.
    pub fn open(url: &str) -> Result<Storage, StorageError> {
        Storage::open_s3(url, &S3Config::default())
    }

    /// Opens `url` with S3 settings given here (over the environment's).
    pub fn open_s3(url: &str, s3: &S3Config) -> Result<Storage, StorageError> {
        let bad = |message: &str| StorageError::Url { url: url.to_string(), message: message.to_string() };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("storage")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Runtime { url: url.to_string(), message: e.to_string() })?;
        let (store, prefix): (Arc<dyn ObjectStore>, Path) = if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket: write s3://BUCKET/PREFIX"));
            }
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            let endpoint = s3
                .endpoint
                .clone()
                .or_else(|| std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")).ok());
            if let Some(endpoint) = &endpoint {
                b = b.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
            }
            if let Some(k) = &s3.access_key {
                b = b.with_access_key_id(k);
            }
            if let Some(k) = &s3.secret_key {
                b = b.with_secret_access_key(k);
            }
            if let Some(r) = &s3.region {
                b = b.with_region(r);
            } else if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
                b = b.with_region("us-east-1");
            }
            let store = b.build().map_err(|e| bad(&e.to_string()))?;
            (Arc::new(store), Path::from(prefix))
        } else {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            if dir.is_empty() || dir.contains("://") {
                return Err(bad("not a storage URL: use s3://BUCKET/PREFIX, file:///DIR or a directory"));
            }
            std::fs::create_dir_all(dir).map_err(|e| bad(&format!("cannot create the directory: {e}")))?;
            let store = LocalFileSystem::new_with_prefix(dir).map_err(|e| bad(&e.to_string()))?;
            (Arc::new(store), Path::default())
        };
        Ok(Storage { url: url.trim_end_matches('/').to_string(), store, prefix, runtime: Arc::new(runtime) })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A storage for `sub` under this one's prefix.
    pub fn child(&self, sub: &str) -> Storage {
        Storage { url: format!("{}/{sub}", self.url), prefix: self.path(sub), ..self.clone() }
    }

    fn path(&self, name: &str) -> Path {
        name.split('/').filter(|p| !p.is_empty()).fold(self.prefix.clone(), |p, part| p.clone().join(part))
    }

    fn err(&self, source: object_store::Error) -> StorageError {
        StorageError::Store { url: self.url.clone(), message: one_line(&source), error: source }
    }

    pub fn put(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
        let path = self.path(name);
        self.runtime.block_on(self.store.put(&path, PutPayload::from(data))).map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<Bytes, StorageError> {
        let path = self.path(name);
        self.runtime.block_on(async { self.store.get(&path).await?.bytes().await }).map_err(|e| self.err(e))
    }

    /// Whether `name` exists (a missing object is `Ok(None)`, other failures are errors).
    pub fn get_opt(&self, name: &str) -> Result<Option<Bytes>, StorageError> {
        match self.get(name) {
            Ok(b) => Ok(Some(b)),
            Err(StorageError::Store { error: object_store::Error::NotFound { .. }, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The immediate "directories" under `sub` that hold objects (names relative to it). Derived
    /// from the objects, because servers differ on empty folders (SeaweedFS keeps them).
    pub fn list_dirs(&self, sub: &str) -> Result<Vec<String>, StorageError> {
        let base = self.path(sub);
        let depth = base.parts().count();
        let objects: Vec<_> =
            self.runtime.block_on(self.store.list(Some(&base)).try_collect::<Vec<_>>()).map_err(|e| self.err(e))?;
        let mut dirs: Vec<String> = objects
            .iter()
            .filter(|o| o.location.parts().count() > depth + 1)
            .filter_map(|o| o.location.parts().nth(depth).map(|p| p.as_ref().to_string()))
            .collect();
        dirs.sort();
        dirs.dedup();
        Ok(dirs)
    }

    pub fn delete(&self, name: &str) -> Result<(), StorageError> {
        let path = self.path(name);
        self.runtime.block_on(self.store.delete(&path)).map_err(|e| self.err(e))
    }

    /// Deletes everything under `sub`.
    pub fn delete_all(&self, sub: &str) -> Result<(), StorageError> {
        let base = self.path(sub);
        self.runtime
            .block_on(async {
                let objects: Vec<_> = self.store.list(Some(&base)).try_collect().await?;
                for o in objects {
                    self.store.delete(&o.location).await?;
                }
                Ok(())
            })
            .map_err(|e| self.err(e))
    }
}

/// An object-store error in one line: S3's `<Code>` and `<Message>` with the HTTP status when the
/// server sent them, else the error's first line.
fn one_line(e: &object_store::Error) -> String {
    let text = e.to_string();
    let between = |open: &str, close: &str| {
        let start = text.find(open)? + open.len();
        let end = text[start..].find(close)? + start;
        Some(text[start..end].to_string())
    };
    let status = text.find("status code: ").map(|i| {
        let rest = &text[i + "status code: ".len()..];
        rest.split(':').next().unwrap_or("").trim().to_string()
    });
    match (between("<Code>", "</Code>"), between("<Message>", "</Message>")) {
        (Some(code), Some(message)) => match status {
            Some(status) => format!("{code}: {message} ({status})"),
            None => format!("{code}: {message}"),
        },
        _ => match e {
            object_store::Error::NotFound { path, .. } => format!("{path}: not found"),
            _ => text.lines().next().unwrap_or("").chars().take(300).collect(),
        },
    }
}
