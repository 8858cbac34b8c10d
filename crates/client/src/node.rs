//! Typed client for the node's HTTP API.

use std::collections::VecDeque;
use std::time::Duration;

use serde::de::DeserializeOwned;
use stratus_types::address::Address;
use stratus_types::api::{
    AccountInfo, BlockInfo, BlockMark, DeploymentInfo, FaucetRequest, Page, Status, StreamedEvent, SubmitTx, Submitted,
    TxInfo,
};
use stratus_types::coin::Coin;
use stratus_types::market::{AuditedAttributes, Bid, DeploymentId, Lease, Order, Provider};
use stratus_types::params::Params;
use stratus_types::tx::{Msg, Tx, TxBody};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the node at {url}: {detail} (is `stratus node run` up? set --node)")]
    Unreachable { url: String, detail: String },
    /// The node answered with an error: its message is one sentence for the user.
    #[error("{0}")]
    Api(String),
    #[error("unexpected answer from {url}: {detail}")]
    Decode { url: String, detail: String },
    #[error("not found: {0}")]
    NotFound(String),
}

#[derive(Clone)]
pub struct NodeClient {
    base: String,
    http: reqwest::Client,
}

/// Filters for list queries (`None` = any).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub owner: Option<Address>,
    pub dseq: Option<u64>,
    pub provider: Option<Address>,
    pub state: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

impl Filter {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(o) = &self.owner {
            q.push(("owner", o.to_string()));
        }
        if let Some(d) = self.dseq {
            q.push(("dseq", d.to_string()));
        }
        if let Some(p) = &self.provider {
            q.push(("provider", p.to_string()));
        }
        if let Some(s) = &self.state {
            q.push(("state", s.clone()));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(a) = &self.after {
            q.push(("after", a.clone()));
        }
        q
    }
}

impl NodeClient {
    pub fn new(base: &str) -> NodeClient {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap_or_default();
        NodeClient { base: base.trim_end_matches('/').to_string(), http }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn answer<T: DeserializeOwned>(
        &self,
        url: &str,
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, ClientError> {
        crate::answer::json(&self.base, url, resp, None).await
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let resp = self.http.get(&url).query(query).send().await;
        self.answer(&url, resp).await
    }

    async fn post<B: serde::Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let resp = self.http.post(&url).json(body).send().await;
        self.answer(&url, resp).await
    }

    /// Every item of a list endpoint (`/bids`, `/leases`, …), following the pages.
    pub async fn all<T: DeserializeOwned>(&self, path: &str, f: &Filter) -> Result<Vec<T>, ClientError> {
        let mut f = f.clone();
        f.limit = Some(1000);
        let mut out = Vec::new();
        loop {
            let page: Page<T> = self.get(path, &f.query()).await?;
            out.extend(page.items);
            match page.next {
                Some(n) => f.after = Some(n),
                None => return Ok(out),
            }
        }
    }

    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/status", &[]).await
    }

    pub async fn params(&self) -> Result<Params, ClientError> {
        self.get("/params", &[]).await
    }

    /// Submits a signed transaction; with `wait`, returns once its block is durably committed.
    pub async fn submit(&self, tx: &Tx, wait: bool) -> Result<Submitted, ClientError> {
        let path = if wait { "/txs?wait=commit" } else { "/txs" };
        self.post(path, &SubmitTx { tx: hex::encode(tx.to_bytes()) }).await
    }

    pub async fn tx(&self, hash: &[u8; 32]) -> Result<TxInfo, ClientError> {
        self.get(&format!("/txs/{}", hex::encode(hash)), &[]).await
    }

    pub async fn block(&self, height: u64) -> Result<BlockInfo, ClientError> {
        self.get(&format!("/blocks/{height}"), &[]).await
    }

    pub async fn account(&self, address: &Address) -> Result<AccountInfo, ClientError> {
        self.get(&format!("/accounts/{address}"), &[]).await
    }

    pub async fn deployment(&self, id: &DeploymentId) -> Result<DeploymentInfo, ClientError> {
        self.get(&format!("/deployments/{}/{}", id.owner, id.dseq), &[]).await
    }

    pub async fn deployments(&self, f: &Filter) -> Result<Page<stratus_types::market::Deployment>, ClientError> {
        self.get("/deployments", &f.query()).await
    }

    pub async fn orders(&self, f: &Filter) -> Result<Page<Order>, ClientError> {
        self.get("/orders", &f.query()).await
    }

    pub async fn bids(&self, f: &Filter) -> Result<Page<Bid>, ClientError> {
        self.get("/bids", &f.query()).await
    }

    pub async fn leases(&self, f: &Filter) -> Result<Page<Lease>, ClientError> {
        self.get("/leases", &f.query()).await
    }

    pub async fn providers(&self, f: &Filter) -> Result<Page<Provider>, ClientError> {
        self.get("/providers", &f.query()).await
    }

    pub async fn provider(&self, address: &Address) -> Result<Provider, ClientError> {
        self.get(&format!("/providers/{address}"), &[]).await
    }

    /// Attributes auditors signed for `provider` (all of them: a provider has few auditors).
    pub async fn audits(&self, provider: &Address) -> Result<Vec<AuditedAttributes>, ClientError> {
        let page: Page<AuditedAttributes> =
            self.get("/audits", &[("provider", provider.to_string()), ("limit", "1000".into())]).await?;
        Ok(page.items)
    }

    /// Every published benchmark record, optionally of one GPU model (all pages).
    pub async fn benchmarks(
        &self,
        gpu: Option<&str>,
    ) -> Result<Vec<stratus_types::benchmark::BenchmarkRecord>, ClientError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = vec![("limit", "1000".to_string())];
            if let Some(g) = gpu {
                q.push(("gpu", g.to_string()));
            }
            if let Some(a) = &after {
                q.push(("after", a.clone()));
            }
            let page: Page<stratus_types::benchmark::BenchmarkRecord> = self.get("/benchmarks", &q).await?;
            out.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// An arena task and everything the ledger holds about it.
    pub async fn arena_task(&self, id: u64) -> Result<stratus_types::arena::TaskRecord, ClientError> {
        self.get(&format!("/arena/tasks/{id}"), &[]).await
    }

    pub async fn groups(&self, f: &Filter) -> Result<Page<stratus_types::market::Group>, ClientError> {
        self.get("/groups", &f.query()).await
    }

    pub async fn faucet(&self, address: &Address, amount: Option<Coin>) -> Result<Submitted, ClientError> {
        self.post("/faucet", &FaucetRequest { address: *address, amount }).await
    }

    /// Builds, signs and submits `msgs` from `key`, with the account's current sequence.
    pub async fn send_msgs(
        &self,
        key: &ed25519_dalek::SigningKey,
        msgs: Vec<Msg>,
        fee: Coin,
        wait: bool,
    ) -> Result<Submitted, ClientError> {
        let address = Address::from_public_key(&key.verifying_key().to_bytes());
        let (status, account) = tokio::try_join!(self.status(), self.account(&address))?;
        let body =
            TxBody { chain_id: status.chain_id, sequence: account.next_sequence, fee, memo: String::new(), msgs };
        self.submit(&Tx::sign(body, key), wait).await
    }

    /// Follows committed events from `from_height` (filters: `kinds`, `owner`, `provider`).
    /// Fails at once if the node cannot be reached; after that it reconnects by itself.
    pub async fn subscribe(
        &self,
        from_height: u64,
        filters: Vec<(&'static str, String)>,
    ) -> Result<Subscription, ClientError> {
        let mut sub = Subscription {
            client: self.clone(),
            filters,
            next_height: from_height,
            resp: None,
            buffer: Vec::new(),
            block_events: Vec::new(),
            ready: VecDeque::new(),
            reconnects: 0,
        };
        sub.connect().await?;
        Ok(sub)
    }
}

/// One item of an event subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamItem {
    Event(StreamedEvent),
    /// Everything of this height has been delivered.
    Block(BlockMark),
}

/// A resumable `/events` stream. Events are handed out a whole block at a time (when its mark
/// arrives), and a dropped connection resumes after the last complete block: each event is
/// delivered exactly once, in order.
pub struct Subscription {
    client: NodeClient,
    filters: Vec<(&'static str, String)>,
    next_height: u64,
    resp: Option<reqwest::Response>,
    /// Bytes received but not yet a whole frame (a chunk may end inside a UTF-8 character).
    buffer: Vec<u8>,
    block_events: Vec<StreamedEvent>,
    ready: VecDeque<StreamItem>,
    /// How many times the stream reconnected (for logs and tests).
    pub reconnects: u32,
}

impl Subscription {
    /// The height the stream continues from.
    pub fn next_height(&self) -> u64 {
        self.next_height
    }

    async fn connect(&mut self) -> Result<(), ClientError> {
        let url = format!("{}/events", self.client.base);
        let mut q = self.filters.clone();
        q.push(("from_height", self.next_height.to_string()));
        let resp = self
            .client
            .http
            .get(&url)
            .query(&q)
            .timeout(Duration::from_secs(365 * 24 * 3600))
            .send()
            .await
            .map_err(|e| crate::answer::unreachable(&self.client.base, &e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.bytes().await.unwrap_or_default();
            return Err(crate::answer::error(status, &body, None));
        }
        self.buffer.clear();
        self.block_events.clear();
        self.resp = Some(resp);
        Ok(())
    }

    fn take_frames(&mut self) -> Result<(), ClientError> {
        while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
            let bytes: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let frame = String::from_utf8_lossy(&bytes);
            let mut kind = "message";
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    kind = if v.trim() == "block" { "block" } else { "event" };
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if data.is_empty() {
                continue;
            }
            let decode = |e: serde_json::Error| ClientError::Decode { url: "/events".into(), detail: e.to_string() };
            if kind == "block" {
                let mark: BlockMark = serde_json::from_str(&data).map_err(decode)?;
                self.next_height = mark.height + 1;
                self.ready.extend(self.block_events.drain(..).map(StreamItem::Event));
                self.ready.push_back(StreamItem::Block(mark));
            } else {
                self.block_events.push(serde_json::from_str(&data).map_err(decode)?);
            }
        }
        Ok(())
    }

    /// The next event or block mark; waits for new blocks.
    pub async fn next(&mut self) -> Result<StreamItem, ClientError> {
        let mut backoff = Duration::from_millis(100);
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Ok(item);
            }
            let Some(resp) = self.resp.as_mut() else {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                self.reconnects += 1;
                // Unreachable: keep trying; an API error (bad filter) will not heal.
                match self.connect().await {
                    Ok(()) | Err(ClientError::Unreachable { .. }) => {}
                    Err(e) => return Err(e),
                }
                continue;
            };
            match resp.chunk().await {
                Ok(Some(bytes)) => {
                    self.buffer.extend_from_slice(&bytes);
                    self.take_frames()?;
                }
                // The connection ended: resume after the last complete block.
                Ok(None) | Err(_) => self.resp = None,
            }
        }
    }
}
