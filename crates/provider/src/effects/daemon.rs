//! The provider daemon: registers on the ledger, bids on what it can serve, runs what it wins,
//! and gets paid.
//!
//! Events from the node only say *when* to look; what the provider does follows from queried
//! ledger state (its active leases, its open bids, the orders), reconciled every block. So a
//! missed event, a node restart or a provider restart costs nothing: a restarted provider reloads
//! its leases from disk, re-adopts their running workloads, and closes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, anyhow};
use ed25519_dalek::SigningKey;
use stratus_client::node::StreamItem;
use stratus_client::{ClientError, Filter, NodeClient};
use stratus_types::address::Address;
use stratus_types::attributes::Attribute;
use stratus_types::coin::Coin;
use stratus_types::event::Event;
use stratus_types::gateway::{Decision, LeaseRunState, LeaseStatus, ReplicaState};
use stratus_types::manifest::ManifestGroup;
use stratus_types::market::{AuditedAttributes, Bid, CloseReason, Lease, LeaseId, OrderId, OrderState, ProviderInfo};
use stratus_types::params::Params;
use stratus_types::tx::Msg;

use crate::config::Loaded;
use crate::effects::store::LeaseStore;
use crate::pure::bidengine::{Context as BidContext, Verdict, decide};
use crate::pure::decisions::DecisionLog;
use crate::pure::inventory::{Inventory, Strategy};
use crate::pure::pricing::Pricing;
use crate::pure::reconcile::{Action, LeaseRecord, Policy, View, plan};
use crate::runtime::Runtime;
use crate::runtime::host::{HostRuntime, HostSettings, global_ports};
use crate::runtime::workload::now_ms;

pub struct State {
    pub inventory: Inventory,
    pub decisions: DecisionLog,
    pub leases: BTreeMap<LeaseId, LeaseRecord>,
    /// Orders bid on, with the height of the bid transaction (reservations held for them).
    pub bids: BTreeMap<OrderId, u64>,
    pub height: u64,
    pub last_withdraw: u64,
    pub audits: Vec<AuditedAttributes>,
    pub telemetry: crate::effects::telemetry::TelemetrySnapshot,
}

pub struct Provider {
    pub cfg: Loaded,
    pub address: Address,
    key: SigningKey,
    pub node: NodeClient,
    pub runtime: Arc<dyn Runtime>,
    /// The provider's own lease records and event logs.
    pub store: LeaseStore,
    state: Mutex<State>,
    /// One transaction at a time: each needs the account's next sequence.
    tx_lock: tokio::sync::Mutex<()>,
    pricing: Pricing,
    pub attributes: Vec<Attribute>,
    pub params: Params,
    pub tls_sha256: String,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn api(e: ClientError) -> anyhow::Error {
    anyhow!("{e}")
}

impl Provider {
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn persist(&self, r: &LeaseRecord) {
        if let Err(e) = self.store.save(r) {
            tracing::error!(lease = %r.lease, error = %e, "cannot save the lease record");
        }
    }

    pub fn event(&self, lease: &LeaseId, kind: &str, message: String) {
        self.store.append_event(lease, kind, message);
    }

    /// Signs and submits `msgs` (not waiting for the block); returns the transaction hash.
    pub async fn send(&self, msgs: Vec<Msg>) -> anyhow::Result<[u8; 32]> {
        let _serial = self.tx_lock.lock().await;
        let sent = self.node.send_msgs(&self.key, msgs, self.params.default_fee(), false).await.map_err(api)?;
        Ok(sent.hash)
    }

    /// The outcome of a submitted transaction, once in a block (`Ok(None)`: it applied).
    pub async fn outcome(&self, hash: [u8; 32]) -> anyhow::Result<Option<String>> {
        for _ in 0..120 {
            match self.node.tx(&hash).await {
                Ok(info) => return Ok(info.error),
                Err(ClientError::NotFound(_)) => tokio::time::sleep(Duration::from_millis(250)).await,
                Err(e) => return Err(api(e)),
            }
        }
        Err(anyhow!("transaction {} was not committed within 30 s", hex::encode(hash)))
    }

    fn decision(&self, st: &mut State, order: &OrderId, bid: Option<stratus_types::group::DecCoin>, reason: String) {
        // Re-evaluations that reach the same decision are not news.
        if st.decisions.get(order).is_some_and(|d| d.bid == bid && d.reason == reason) {
            return;
        }
        st.decisions.record(Decision {
            order: order.clone(),
            provider: self.address,
            height: st.height,
            time_ms: now_ms(),
            bid,
            reason,
        });
    }

    /// Decides about one open order and bids if it should.
    pub async fn evaluate(self: &Arc<Self>, order: &OrderId) -> anyhow::Result<()> {
        {
            let st = self.state();
            if st.bids.contains_key(order) || st.leases.keys().any(|l| l.order() == *order) {
                return Ok(());
            }
        }
        let info = match self.node.deployment(&order.deployment()).await {
            Ok(i) => i,
            Err(ClientError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(api(e)),
        };
        let Some(o) = info.orders.iter().find(|o| o.id == *order) else { return Ok(()) };
        if o.state != OrderState::Open {
            return Ok(());
        }
        let Some(group) = info.groups.iter().find(|g| g.id.gseq == order.gseq) else { return Ok(()) };
        // Bid at most once per order, whatever this process remembers: the ledger refuses a
        // second bid, and a restarted provider (or a retry racing the first bid) must not try.
        let mine: Vec<Bid> = self
            .node
            .all(
                "/bids",
                &Filter {
                    owner: Some(order.owner),
                    dseq: Some(order.dseq),
                    provider: Some(self.address),
                    ..Filter::default()
                },
            )
            .await
            .map_err(api)?;
        if mine.iter().any(|b| b.id.order() == *order) {
            let mut st = self.state();
            let h = st.height;
            st.bids.entry(order.clone()).or_insert(h);
            return Ok(());
        }
        if let Some(why) = self.runtime.unavailable() {
            let mut st = self.state();
            self.decision(&mut st, order, None, format!("runtime unavailable: {why}"));
            return Ok(());
        }
        let require: Vec<Attribute> =
            self.cfg.raw.bidding.require_attributes.iter().map(|(k, v)| Attribute::new(k.clone(), v.clone())).collect();
        let verdict = {
            let mut st = self.state();
            // Another evaluation of the same order may have finished while this one fetched.
            if st.bids.contains_key(order) || st.inventory.reservation(order).is_some() {
                return Ok(());
            }
            let audits = st.audits.clone();
            let ctx = BidContext {
                owner: &order.owner,
                attributes: &self.attributes,
                audits: &audits,
                aliases: &self.params.auditor_aliases,
                require: &require,
                pricing: &self.pricing,
                ledger_denoms: &self.params.denoms,
            };
            let verdict = decide(&ctx, &mut st.inventory, order, &group.spec);
            match &verdict {
                Verdict::Bid { price, summary, .. } => {
                    let h = st.height;
                    st.bids.insert(order.clone(), h);
                    self.decision(
                        &mut st,
                        order,
                        Some(price.clone()),
                        format!("bid {}{}/block: {summary}", price.amount.short(), price.denom),
                    );
                }
                Verdict::Decline(why) => self.decision(&mut st, order, None, why.clone()),
            }
            verdict
        };
        let Verdict::Bid { price, offer, .. } = verdict else { return Ok(()) };
        let deposit = match &self.cfg.raw.bidding.deposit {
            Some(d) => d.parse::<Coin>().map_err(|e| anyhow!("bidding.deposit: {e}"))?,
            None => Coin::new(Params::min_deposit(&self.params.bid_min_deposit, &price.denom), price.denom.clone()),
        };
        let sent = self.send(vec![Msg::CreateBid { order: order.clone(), price, deposit, offer }]).await;
        let failure = match sent {
            Ok(hash) => self.outcome(hash).await.unwrap_or_else(|e| Some(e.to_string())),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = failure {
            tracing::warn!(%order, %why, "bid failed");
            let mut st = self.state();
            st.bids.remove(order);
            st.inventory.release(order);
            self.decision(&mut st, order, None, format!("the bid failed on the ledger: {why}"));
        } else {
            tracing::info!(%order, "bid");
        }
        Ok(())
    }

    /// Looks at every open order (at start, then every few blocks: capacity may have freed up).
    pub async fn catch_up(self: &Arc<Self>) -> anyhow::Result<()> {
        let orders: Vec<stratus_types::market::Order> =
            self.node.all("/orders", &Filter { state: Some("open".into()), ..Filter::default() }).await.map_err(api)?;
        for o in orders {
            if let Err(e) = self.evaluate(&o.id).await {
                tracing::warn!(order = %o.id, error = %e, "evaluating order");
            }
        }
        Ok(())
    }

    /// A host port for each globally exposed port, stable for the lease's life.
    fn assign_ports(&self, st: &State, record: &mut LeaseRecord) -> anyhow::Result<()> {
        let Some(group) = &record.manifest else { return Ok(()) };
        let used: std::collections::BTreeSet<u16> = st
            .leases
            .values()
            .filter(|r| r.lease != record.lease)
            .flat_map(|r| r.host_ports.values().copied())
            .collect();
        let (first, last) = self.cfg.ports;
        for (service, port, _, _) in global_ports(group) {
            let key = format!("{service}:{port}");
            if record.host_ports.contains_key(&key) {
                continue;
            }
            let taken: std::collections::BTreeSet<u16> =
                used.iter().chain(record.host_ports.values()).copied().collect();
            let free = (first..=last)
                .find(|p| {
                    !taken.contains(p) && std::net::TcpListener::bind((self.cfg.raw.public_host.as_str(), *p)).is_ok()
                })
                .ok_or_else(|| anyhow!("no free host port left in runtime.port_range {first}-{last}"))?;
            record.host_ports.insert(key, free);
        }
        Ok(())
    }

    /// The record of a lease the ledger says this provider holds, made if missing.
    fn adopt_lease(
        &self,
        st: &mut State,
        lease: &Lease,
        group: &stratus_types::group::GroupSpec,
    ) -> Option<LeaseRecord> {
        if let Some(r) = st.leases.get(&lease.id) {
            return Some(r.clone());
        }
        let order = lease.id.order();
        st.bids.remove(&order);
        if st.inventory.reservation(&order).is_none()
            && let Err(e) = st.inventory.reserve(&order, group, Strategy::BestFit)
        {
            // Won an order it can no longer fit (capacity changed since the bid).
            tracing::warn!(lease = %lease.id, error = %e, "won a lease that no longer fits");
        }
        st.inventory.mark_allocated(&order);
        let reservation = st.inventory.reservation(&order)?.clone();
        let record = LeaseRecord {
            lease: lease.id.clone(),
            reservation,
            won_at: lease.created_at,
            manifest: None,
            host_ports: BTreeMap::new(),
            unhealthy_since_ms: None,
        };
        self.persist(&record);
        st.leases.insert(lease.id.clone(), record.clone());
        Some(record)
    }

    /// Accepts a checked manifest group for a lease and deploys it.
    pub async fn deploy(
        self: &Arc<Self>,
        lease: &Lease,
        spec: &stratus_types::group::GroupSpec,
        group: ManifestGroup,
    ) -> anyhow::Result<()> {
        let record = {
            let mut st = self.state();
            let mut record = self
                .adopt_lease(&mut st, lease, spec)
                .ok_or_else(|| anyhow!("no capacity is reserved for lease {}", lease.id))?;
            record.manifest = Some(group);
            self.assign_ports(&st, &mut record)?;
            self.persist(&record);
            st.leases.insert(lease.id.clone(), record.clone());
            record
        };
        self.event(&lease.id, "manifest", "manifest accepted; deploying".into());
        let runtime = Arc::clone(&self.runtime);
        let Some(d) = record.deployment() else { return Ok(()) };
        tokio::task::spawn_blocking(move || runtime.deploy(&d)).await??;
        Ok(())
    }

    pub fn lease_status(&self, lease: &LeaseId) -> Option<LeaseStatus> {
        let record = self.state().leases.get(lease).cloned()?;
        let Some(d) = record.deployment() else {
            return Some(LeaseStatus {
                lease: lease.clone(),
                state: LeaseRunState::AwaitingManifest,
                message: Some("waiting for the tenant's manifest".into()),
                services: vec![],
                gpus: Vec::new(),
            });
        };
        let services = self.runtime.status(&d);
        let replicas: Vec<&stratus_types::gateway::ReplicaStatus> =
            services.iter().flat_map(|s| s.replicas.iter()).collect();
        let running = replicas.iter().filter(|r| r.state == ReplicaState::Running).count();
        let failed = replicas.iter().filter(|r| r.state == ReplicaState::Failed).count();
        // One replica that cannot run fails the lease: the tenant pays for all of it.
        let state = if !replicas.is_empty() && running == replicas.len() {
            LeaseRunState::Running
        } else if failed > 0 {
            LeaseRunState::Failed
        } else if running > 0 {
            LeaseRunState::Degraded
        } else {
            LeaseRunState::Deploying
        };
        // The failure first: it is what the tenant must read.
        let message = replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Failed)
            .chain(replicas.iter())
            .find_map(|r| r.message.clone())
            .or_else(|| self.runtime.warning());
        Some(LeaseStatus { lease: lease.clone(), state, message, services, gpus: Vec::new() })
    }

    /// Brings local state in line with the ledger's at `height`: gathers the three views (the
    /// ledger's active leases, the provider's records, what the runtime observes), asks the pure
    /// plan what to do, and does it. Then bids and withdrawals.
    pub async fn reconcile(self: &Arc<Self>, height: u64) -> anyhow::Result<()> {
        self.state().height = height;
        let me = Some(self.address);
        let active: Vec<Lease> = self
            .node
            .all("/leases", &Filter { provider: me, state: Some("active".into()), ..Filter::default() })
            .await
            .map_err(api)?;
        let open: Vec<Bid> = self
            .node
            .all("/bids", &Filter { provider: me, state: Some("open".into()), ..Filter::default() })
            .await
            .map_err(api)?;
        let runtime = Arc::clone(&self.runtime);
        let observed = tokio::task::spawn_blocking(move || runtime.observe()).await?;
        let bidding = &self.cfg.raw.bidding;
        let policy = Policy {
            manifest_timeout_blocks: bidding.manifest_timeout_blocks,
            close_unstable_after_ms: bidding.close_unstable_after_secs * 1000,
            max_restarts: self.cfg.raw.runtime.max_restarts,
        };
        let active_ids: Vec<LeaseId> = active.iter().map(|l| l.id.clone()).collect();
        let actions = {
            let st = self.state();
            plan(&View {
                height,
                now_ms: now_ms(),
                active: &active_ids,
                records: &st.leases,
                observed: &observed,
                policy: &policy,
            })
        };
        let mut close = Vec::new();
        for action in actions {
            if let Err(e) = self.carry_out(action, &active, &mut close).await {
                tracing::warn!(error = %e, "reconciling");
            }
        }
        if !close.is_empty() {
            let _ = self.send(close).await;
        }
        // Own bids: close those past the timeout; forget reservations of bids that are gone.
        let timeout = bidding.bid_timeout_blocks;
        let stale: Vec<Bid> = open.iter().filter(|b| b.created_at + timeout <= height).cloned().collect();
        if !stale.is_empty() {
            let msgs =
                stale.iter().map(|b| Msg::CloseBid { bid: b.id.clone(), reason: CloseReason::Expired }).collect();
            let _ = self.send(msgs).await;
        }
        {
            let mut st = self.state();
            let gone: Vec<OrderId> = st
                .bids
                .iter()
                .filter(|(o, h)| **h + 3 < height && !open.iter().any(|b| b.id.order() == **o))
                .map(|(o, _)| o.clone())
                .collect();
            for o in gone {
                st.bids.remove(&o);
                if !st.leases.keys().any(|l| l.order() == o) {
                    st.inventory.release(&o);
                }
            }
        }
        self.withdraw(height).await;
        Ok(())
    }

    /// Does one action of the plan; closes are collected into one transaction.
    async fn carry_out(self: &Arc<Self>, action: Action, active: &[Lease], close: &mut Vec<Msg>) -> anyhow::Result<()> {
        match action {
            Action::Adopt(id) => {
                let Some(lease) = active.iter().find(|l| l.id == id) else { return Ok(()) };
                let info = self.node.deployment(&id.deployment()).await.map_err(api)?;
                let Some(group) = info.groups.iter().find(|g| g.id.gseq == id.gseq) else { return Ok(()) };
                if self.adopt_lease(&mut self.state(), lease, &group.spec).is_some() {
                    tracing::info!(lease = %id, "won a lease; waiting for the manifest");
                    self.event(
                        &id,
                        "lease_won",
                        format!("lease created at height {}; waiting for the manifest", lease.created_at),
                    );
                }
            }
            Action::Deploy(id) => {
                let Some(d) = self.state().leases.get(&id).and_then(LeaseRecord::deployment) else { return Ok(()) };
                let runtime = Arc::clone(&self.runtime);
                if let Err(e) = tokio::task::spawn_blocking(move || runtime.deploy(&d)).await? {
                    self.event(&id, "deploy_failed", e.to_string());
                    return Err(anyhow!("deploying {id}: {e}"));
                }
            }
            Action::Restart { lease, replica } => {
                let runtime = Arc::clone(&self.runtime);
                let (l, r) = (lease.clone(), replica.clone());
                tokio::task::spawn_blocking(move || runtime.restart(&l, &r)).await??;
                self.event(&lease, "replica_restarted", format!("{replica} started again"));
            }
            Action::Teardown(id) => {
                tracing::info!(lease = %id, "lease ended; tearing down");
                let runtime = Arc::clone(&self.runtime);
                let l = id.clone();
                tokio::task::spawn_blocking(move || runtime.teardown(&l)).await??;
                self.store.remove(&id);
                let mut st = self.state();
                st.leases.remove(&id);
                st.inventory.release(&id.order());
            }
            Action::Close { lease, reason, why } => {
                tracing::warn!(%lease, %why, "closing the lease");
                self.event(&lease, reason.as_str(), format!("closing the lease: {why}"));
                close.push(Msg::CloseBid { bid: lease, reason });
            }
            Action::MarkUnhealthy { lease, since_ms } => {
                let mut st = self.state();
                if let Some(r) = st.leases.get_mut(&lease) {
                    r.unhealthy_since_ms = since_ms;
                    let r = r.clone();
                    drop(st);
                    self.persist(&r);
                }
            }
        }
        Ok(())
    }

    /// Withdraws periodically, and early when a deployment's funds run out soon.
    async fn withdraw(self: &Arc<Self>, height: u64) {
        let records: Vec<LeaseRecord> = self.state().leases.values().cloned().collect();
        let bidding = &self.cfg.raw.bidding;
        let due = {
            let st = self.state();
            height >= st.last_withdraw + bidding.withdraw_period_blocks
        };
        let mut soon = false;
        if height.is_multiple_of(10) {
            for r in &records {
                if let Ok(info) = self.node.deployment(&r.lease.deployment()).await
                    && info
                        .escrow
                        .as_ref()
                        .and_then(|e| e.exhausted_at)
                        .is_some_and(|h| h <= height + bidding.withdraw_margin_blocks)
                {
                    soon = true;
                }
            }
        }
        if (due || soon) && !records.is_empty() {
            let msgs = records.iter().map(|r| Msg::WithdrawLease { lease: r.lease.clone() }).collect();
            if self.send(msgs).await.is_ok() {
                self.state().last_withdraw = height;
            }
        } else if due {
            self.state().last_withdraw = height;
        }
    }

    /// Reloads the provider's lease records and re-attaches the runtime (nothing that runs is
    /// restarted; the first reconcile deploys what the runtime lost).
    fn restore(&self) {
        let (records, problems) = self.store.load_all();
        for p in problems {
            tracing::error!("an unreadable lease record was left in place: {p}");
        }
        let mut st = self.state();
        for record in records {
            if let Err(err) = st.inventory.restore(&record.reservation) {
                tracing::warn!(lease = %record.lease, error = %err, "restoring a reservation");
            }
            tracing::info!(lease = %record.lease, "re-adopted");
            st.leases.insert(record.lease.clone(), record);
        }
        drop(st);
        self.runtime.resume();
    }
}

/// Registers the provider, or updates its record when host, attributes or certificate changed.
async fn register(p: &Provider) -> anyhow::Result<()> {
    let info = ProviderInfo {
        email: p.cfg.raw.email.clone(),
        website: p.cfg.raw.website.clone(),
        tls_sha256: p.tls_sha256.clone(),
    };
    let existing = match p.node.provider(&p.address).await {
        Ok(x) => Some(x),
        Err(ClientError::NotFound(_)) => None,
        Err(e) => return Err(api(e)),
    };
    let msg = match existing {
        Some(x) if x.host_uri == p.cfg.raw.host_uri && x.attributes == p.attributes && x.info == info => return Ok(()),
        Some(_) => Msg::UpdateProvider { host_uri: p.cfg.raw.host_uri.clone(), attributes: p.attributes.clone(), info },
        None => Msg::CreateProvider { host_uri: p.cfg.raw.host_uri.clone(), attributes: p.attributes.clone(), info },
    };
    let hash = p.send(vec![msg]).await?;
    if let Some(err) = p.outcome(hash).await? {
        return Err(anyhow!("registering the provider failed: {err}"));
    }
    Ok(())
}

/// Waits for the node (a devnet may still be starting).
async fn connect(node: &NodeClient) -> anyhow::Result<stratus_types::api::Status> {
    let mut last = None;
    for _ in 0..120 {
        match node.status().await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(anyhow!("cannot reach the node: {}", last.map(|e| e.to_string()).unwrap_or_default()))
}

pub struct Started {
    pub provider: Arc<Provider>,
    pub gateway: std::net::SocketAddr,
}

/// Runs the provider until `shutdown`. Workloads keep running after it returns.
pub async fn run(
    cfg: Loaded,
    key: SigningKey,
    home: &Path,
    exe: PathBuf,
    shutdown: impl std::future::Future<Output = ()> + Send,
    on_ready: impl FnOnce(&Started),
) -> anyhow::Result<()> {
    stratus_client::install_tls_provider();
    let address = Address::from_public_key(&key.verifying_key().to_bytes());
    let node = NodeClient::new(&cfg.raw.node);
    let status = connect(&node).await?;
    let params = node.params().await.map_err(api)?;
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let host =
        cfg.raw.host_uri.trim_start_matches("https://").rsplit_once(':').map_or("localhost", |(h, _)| h).to_string();
    let identity = crate::effects::tls::Identity::load_or_create(
        &cfg.data_dir.join("tls"),
        vec![host, "localhost".into(), "127.0.0.1".into()],
    )?;
    // Everything of the provider's is secret to workloads, however its path is spelled (the
    // runtime canonicalises each before comparing it with what a sandbox mounts).
    let mut secrets = vec![home.to_path_buf(), cfg.data_dir.clone(), cfg.dir.clone()];
    secrets.extend(cfg.raw.runtime.hide.iter().cloned());
    let runtime: Arc<dyn Runtime> = match cfg.raw.runtime.kind.as_str() {
        "host" => Arc::new(HostRuntime::new(HostSettings {
            data_dir: cfg.data_dir.clone(),
            exe,
            images: cfg.raw.runtime.images.clone(),
            secrets,
            log_max_bytes: cfg.raw.runtime.log_max_bytes,
            log_files: cfg.raw.runtime.log_files,
            listen_host: cfg.raw.public_host.clone(),
            public_host: cfg.raw.public_host.clone(),
            provider: address.to_string(),
            max_restarts: cfg.raw.runtime.max_restarts,
            uid_base: cfg.raw.runtime.uid_base,
            bwrap: cfg.raw.runtime.bwrap.clone(),
        })),
        "container" => {
            let settings = crate::runtime::container::ContainerSettings {
                data_dir: cfg.data_dir.join("container"),
                engine_socket: cfg.raw.runtime.engine_socket.clone(),
                listen_host: cfg.raw.public_host.clone(),
                public_host: cfg.raw.public_host.clone(),
                max_restarts: cfg.raw.runtime.max_restarts,
                provider: address.to_string(),
            };
            let runtime = crate::runtime::container::ContainerRuntime::connect(settings)
                .map_err(|why| anyhow!("the container runtime cannot start: {why}"))?;
            tracing::info!(engine = %runtime.engine, "container runtime");
            Arc::new(runtime)
        }
        other => return Err(anyhow!("runtime.kind = {other:?}: the runtimes are `host` and `container`")),
    };
    let store = LeaseStore::open(&cfg.data_dir)
        .with_context(|| format!("opening the lease store in {}", cfg.data_dir.display()))?;
    if let Some(why) = runtime.unavailable() {
        tracing::error!("runtime unavailable: {why}; this provider will not bid until it is fixed and restarted");
    }
    if let Some(w) = runtime.warning() {
        tracing::warn!("{w}");
    }
    let pricing = Pricing::from_config(&cfg.raw.pricing, &cfg.dir)?;
    let attributes = cfg.ledger_attributes();
    let decisions = DecisionLog::open(&cfg.data_dir.join("decisions.jsonl"));
    let provider = Arc::new(Provider {
        state: Mutex::new(State {
            inventory: Inventory::new(&cfg.cluster),
            decisions,
            leases: BTreeMap::new(),
            bids: BTreeMap::new(),
            height: status.height,
            last_withdraw: status.height,
            audits: Vec::new(),
            telemetry: Default::default(),
        }),
        address,
        key,
        node: node.clone(),
        runtime,
        store,
        tx_lock: tokio::sync::Mutex::new(()),
        pricing,
        attributes,
        params,
        tls_sha256: identity.fingerprint(),
        cfg,
    });
    register(&provider).await?;
    {
        let p = Arc::clone(&provider);
        tokio::task::spawn_blocking(move || p.restore()).await?;
    }
    let listener = tokio::net::TcpListener::bind(provider.cfg.raw.listen)
        .await
        .with_context(|| format!("the gateway cannot listen on {}", provider.cfg.raw.listen))?;
    let gateway_addr = listener.local_addr()?;
    let tls = crate::effects::tls::TlsListener::new(listener, identity.acceptor()?)?;
    let router = crate::effects::gateway::router(Arc::clone(&provider));
    let limits = stratus_http::Limits {
        request_timeout: Duration::from_millis(provider.cfg.raw.request_timeout_ms),
        ..stratus_http::Limits::default()
    };
    let gateway = tokio::spawn(stratus_http::serve(tls, router, limits, std::future::pending()));
    let telemetry = tokio::spawn(crate::effects::telemetry::watch(Arc::clone(&provider)));
    // Metrics are for the operator: a port that cannot be had costs the metrics, not the market.
    let metrics = match provider.cfg.raw.telemetry.metrics_listen {
        Some(addr) => match crate::effects::telemetry::serve_metrics(Arc::clone(&provider), addr).await {
            Ok((bound, task)) => {
                tracing::info!(%bound, "GPU and host metrics (Prometheus) at /metrics");
                Some(task)
            }
            Err(e) => {
                tracing::error!("no metrics: {e:#}");
                None
            }
        },
        None => None,
    };
    let stop_side_tasks = move || {
        telemetry.abort();
        if let Some(m) = &metrics {
            m.abort();
        }
    };
    on_ready(&Started { provider: Arc::clone(&provider), gateway: gateway_addr });
    tracing::info!(address = %provider.address, gateway = %gateway_addr, "provider running");

    let work = Arc::clone(&provider);
    let mut follow = tokio::spawn(async move { follow_chain(work).await });
    tokio::select! {
        () = shutdown => {}
        r = &mut follow => {
            gateway.abort();
            stop_side_tasks();
            return r.map_err(|e| anyhow!("{e}"))?;
        }
    }
    // Several providers may share a runtime (`stratus up`): stop this one's tasks.
    follow.abort();
    gateway.abort();
    stop_side_tasks();
    Ok(())
}

/// Subscribes to the chain and reconciles every block; evaluates orders as they appear.
async fn follow_chain(p: Arc<Provider>) -> anyhow::Result<()> {
    let from = p.state().height + 1;
    let filters = vec![("kinds", "order_created,attributes_signed,attributes_deleted".to_string())];
    let mut sub = p.node.subscribe(from, filters).await.map_err(api)?;
    refresh_audits(&p).await;
    if let Err(e) = p.catch_up().await {
        tracing::warn!(error = %e, "catching up on open orders");
    }
    loop {
        match sub.next().await.map_err(api)? {
            StreamItem::Event(e) => match e.event {
                Event::OrderCreated { id } => {
                    let p = Arc::clone(&p);
                    tokio::spawn(async move {
                        if let Err(err) = p.evaluate(&id).await {
                            tracing::warn!(order = %id, error = %err, "evaluating order");
                        }
                    });
                }
                Event::AttributesSigned { .. } | Event::AttributesDeleted { .. } => refresh_audits(&p).await,
                _ => {}
            },
            StreamItem::Block(mark) => {
                // Skip marks while behind: reconciling the latest height covers the earlier ones.
                if sub.next_height() <= p.node.status().await.map(|s| s.height).unwrap_or(0)
                    && !mark.height.is_multiple_of(5)
                {
                    continue;
                }
                if let Err(e) = p.reconcile(mark.height).await {
                    tracing::warn!(height = mark.height, error = %e, "reconcile");
                }
                if mark.height.is_multiple_of(20) {
                    let p = Arc::clone(&p);
                    tokio::spawn(async move {
                        if let Err(e) = p.catch_up().await {
                            tracing::warn!(error = %e, "catching up on open orders");
                        }
                    });
                }
            }
        }
    }
}

async fn refresh_audits(p: &Provider) {
    if let Ok(a) = p.node.audits(&p.address).await {
        p.state().audits = a;
    }
}
