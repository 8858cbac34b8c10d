//! Driving a supercloud training job once it is leased: the coordinator's log lines (JSON, read
//! through its provider's authenticated log stream) become a live line per outer step and the
//! job's `status.json`; every few seconds each worker's lease and provider are checked, and a
//! worker whose lease closed or whose provider has not answered for `dead_after_s` is replaced:
//! its lease is closed (the ledger re-opens its group's order), a bid from another provider is
//! leased, and the manifest sent there. The replacement finds the coordinator through storage and
//! joins at the next outer step from the current parameters; the data plan hands it the dead
//! worker's unfinished samples. At the end (or on Ctrl-C / `train down`) the deployment closes
//! and the settlement prints.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde::Serialize;
use serde_json::Value;
use stratus_supercloud::assign::Need;
use stratus_supercloud::sdl::COORDINATOR;
use stratus_supercloud::status::{JobState, JobStatus, Member};
use stratus_types::address::Address;
use stratus_types::gateway::{ReplicaState, StreamFrame};
use stratus_types::market::{DeploymentId, DeploymentState, LeaseId};
use stratus_types::tx::Msg;

use crate::cmd::ctx::{Ctx, client_error};
use crate::cmd::tenant::provider_client;
use crate::cmd::train_up::{
    JobRecord, Say, active_lease_of, collect_and_assign, load_status, paid_so_far, provider_label, save_status,
};

/// How often leases and providers are checked.
const HEALTH_EVERY: Duration = Duration::from_secs(2);

/// One lease's part of the settlement.
#[derive(Clone, Debug, Serialize)]
pub struct Settled {
    pub lease: String,
    pub role: String,
    pub provider: String,
    pub blocks: u64,
    pub price: String,
    pub paid: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Settlement {
    pub job: String,
    pub leases: Vec<Settled>,
    pub total: String,
    pub refunded_escrow: bool,
}

pub fn render_settlement(s: &Settlement) -> String {
    let mut lines = vec![format!("settlement of {}:", s.job)];
    for l in &s.leases {
        lines.push(format!(
            "  {:<12} {:<10} {:>6} blocks × {:>10}/block = {:>12}  ({})",
            l.role, l.provider, l.blocks, l.price, l.paid, l.reason
        ));
    }
    lines.push(format!("  total paid {}; the rest of the escrow went back to the tenant", s.total));
    lines.join("\n")
}

/// Closes the job's deployment (if still open) and reads back what every lease was paid.
pub async fn close_and_settle(ctx: &Ctx, record: &JobRecord) -> anyhow::Result<Settlement> {
    let client = ctx.client();
    let id = DeploymentId { owner: record.owner, dseq: record.dseq };
    let info = client.deployment(&id).await.map_err(client_error)?;
    if info.deployment.state == DeploymentState::Active {
        ctx.broadcast(vec![Msg::CloseDeployment { dseq: record.dseq }]).await?;
    }
    let info = client.deployment(&id).await.map_err(client_error)?;
    let mut total = 0u128;
    let mut leases = Vec::new();
    for l in &info.leases {
        let role = record.roles.iter().find(|(_, g)| **g == l.id.gseq).map(|(r, _)| r.clone()).unwrap_or_default();
        let end = l.closed_at.unwrap_or(info.deployment.closed_at.unwrap_or_default());
        let blocks = l.paying_since.map_or(0, |s| end.saturating_sub(s));
        total += l.withdrawn;
        leases.push(Settled {
            lease: l.id.to_string(),
            role,
            provider: provider_label(&ctx.home, &l.id.provider),
            blocks,
            price: format!("{}{}", l.price.amount.short(), l.price.denom),
            paid: format!("{}{}", l.withdrawn, l.price.denom),
            reason: l.close_reason.map_or("open".into(), |r| r.to_string()),
        });
    }
    Ok(Settlement { job: record.job.clone(), leases, total: format!("{total}{}", record.denom), refunded_escrow: true })
}

/// A worker the driver is watching.
struct Watch {
    /// When its provider first failed to answer (or its lease was seen closed).
    failing_since: Option<Instant>,
    /// Its last loss, for the heal measurement: when it went, and when its replacement joined.
    lost_at: Option<Instant>,
}

struct Driver<'a> {
    ctx: &'a Ctx,
    record: JobRecord,
    status: JobStatus,
    say: Say,
    watch: BTreeMap<String, Watch>,
    /// Providers that lost a worker: never chosen again for this job.
    dead: BTreeMap<Address, String>,
    last_round: Option<(Instant, u64)>,
    coordinator_failing: Option<Instant>,
}

/// Follows and heals the job until it finishes, fails or is stopped; returns its last status.
pub async fn drive(ctx: &Ctx, record: JobRecord, say: Say) -> anyhow::Result<JobStatus> {
    let mut status = load_status(&ctx.home, &record.job).ok_or_else(|| anyhow!("job {} has no status", record.job))?;
    status.pid = Some(std::process::id());
    let watch = record
        .roles
        .keys()
        .filter(|r| *r != COORDINATOR)
        .map(|r| (r.clone(), Watch { failing_since: None, lost_at: None }))
        .collect();
    let mut d =
        Driver { ctx, record, status, say, watch, dead: BTreeMap::new(), last_round: None, coordinator_failing: None };
    save_status(&ctx.home, &d.status);
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<Value>(256);
    let coordinator = d.coordinator_lease().await?;
    let follower =
        tokio::spawn(follow_coordinator(provider_client(ctx, &coordinator.provider).await?, coordinator, lines_tx));
    let mut tick = tokio::time::interval(HEALTH_EVERY);
    let stop = crate::cmd::node::shutdown_signal();
    tokio::pin!(stop);
    let outcome: anyhow::Result<()> = loop {
        tokio::select! {
            () = &mut stop => {
                d.say.line("stopping: closing every lease (the last checkpoint stays)");
                d.status.state = JobState::Stopped;
                break Ok(());
            }
            line = lines.recv() => match line {
                Some(v) => {
                    if d.on_line(&v).await? {
                        break Ok(());
                    }
                }
                None => break Err(anyhow!("lost the coordinator's log stream")),
            },
            _ = tick.tick() => {
                if let Err(e) = d.check_health().await {
                    d.say.line(format!("      health check: {e:#}"));
                }
                if matches!(d.status.state, JobState::Failed) {
                    d.say.line(format!("failed: {}", d.status.error.clone().unwrap_or_default()));
                    break Ok(());
                }
            }
        }
    };
    follower.abort();
    if let Err(e) = &outcome {
        d.status.state = JobState::Failed;
        d.status.error = Some(format!("{e:#}"));
    }
    let settlement = close_and_settle(ctx, &d.record).await;
    d.status.pid = None;
    if let Ok(paid) = paid_so_far(ctx, &d.record).await {
        d.status.paid = paid;
    }
    save_status(&ctx.home, &d.status);
    match settlement {
        Ok(s) => d.say.line(render_settlement(&s)),
        Err(e) => d.say.line(format!("the settlement could not be read: {e:#}")),
    }
    Ok(d.status)
}

/// Streams the coordinator's stdout (JSON lines) to `tx`, reconnecting when the stream breaks.
async fn follow_coordinator(
    client: stratus_client::provider::ProviderClient,
    lease: LeaseId,
    tx: tokio::sync::mpsc::Sender<Value>,
) {
    let mut seen_ms = 0u64;
    loop {
        if let Ok(mut stream) = client.logs(&lease, Some(COORDINATOR), 10_000, true).await {
            while let Some(frame) = stream.next().await {
                let l = match frame {
                    Ok(StreamFrame::Log(l)) => l,
                    Ok(_) => continue,
                    Err(_) => break,
                };
                // After a reconnect the tail repeats what was already read.
                if l.time_ms < seen_ms || l.stream != "stdout" {
                    continue;
                }
                seen_ms = l.time_ms;
                if let Ok(v) = serde_json::from_str::<Value>(&l.line)
                    && tx.send(v).await.is_err()
                {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl Driver<'_> {
    async fn coordinator_lease(&self) -> anyhow::Result<LeaseId> {
        let gseq = self.record.roles.get(COORDINATOR).copied().ok_or_else(|| anyhow!("the job has no coordinator"))?;
        let info = self
            .ctx
            .client()
            .deployment(&DeploymentId { owner: self.record.owner, dseq: self.record.dseq })
            .await
            .map_err(client_error)?;
        active_lease_of(&info.leases, gseq).map(|l| l.id.clone()).ok_or_else(|| anyhow!("the coordinator has no lease"))
    }

    fn member(&mut self, role: &str) -> Option<&mut Member> {
        self.status.members.iter_mut().rev().find(|m| m.role == role)
    }

    /// One line of the coordinator's output; true when the job is over. Every line is kept in
    /// `<home>/jobs/<job>/metrics.jsonl` (what `stratus train chart` draws).
    async fn on_line(&mut self, v: &Value) -> anyhow::Result<bool> {
        use std::io::Write;
        let path = crate::cmd::train_up::job_dir(&self.ctx.home, &self.record.job).join("metrics.jsonl");
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            let _ = writeln!(f, "{v}");
        }
        match v["type"].as_str().unwrap_or_default() {
            "round" => {
                let step = v["step"].as_u64().unwrap_or_default();
                self.status.step = step;
                self.status.loss = v["loss"].as_f64();
                if self.status.state != JobState::Healing {
                    self.status.state = JobState::Training;
                }
                if let Some(m) = self.member(COORDINATOR) {
                    m.state = "running".into();
                }
                if self.status.blocks_to_first_step.is_none() {
                    let height = self.ctx.client().status().await.map(|s| s.height).unwrap_or_default();
                    self.status.blocks_to_first_step = Some(height.saturating_sub(self.record.started_height));
                    let ms = stratus_client::now_ms().saturating_sub(self.record.started_ms);
                    self.status.seconds_to_first_step = Some((ms as f64 / 100.0).round() / 10.0);
                }
                let bytes =
                    v["bytes_sent"].as_u64().unwrap_or_default() + v["bytes_received"].as_u64().unwrap_or_default();
                let round_s = v["round_s"].as_f64().unwrap_or(0.0).max(1e-3);
                let bytes_per_s = match self.last_round {
                    Some((_, before)) => bytes.saturating_sub(before) as f64 / round_s,
                    None => bytes as f64 / round_s,
                };
                self.last_round = Some((Instant::now(), bytes));
                if let Ok(paid) = paid_so_far(self.ctx, &self.record).await {
                    self.status.paid = paid;
                }
                self.say.line(format!(
                    "      step {step:>6}/{}  loss {:>7.4}  {:>8.0} tok/s  {:>10.0} B/s  members {}  paid {}",
                    self.record.target_step,
                    self.status.loss.unwrap_or(f64::NAN),
                    v["tokens_per_s"].as_f64().unwrap_or_default(),
                    bytes_per_s,
                    v["members"].as_u64().unwrap_or_default(),
                    self.status.paid
                ));
            }
            "member" => {
                let name = v["name"].as_str().unwrap_or_default().to_string();
                match v["event"].as_str().unwrap_or_default() {
                    "joined" => {
                        let healed = self.watch.get_mut(&name).and_then(|w| w.lost_at.take());
                        if let Some(m) = self.member(&name) {
                            m.state = "running".into();
                        }
                        match healed {
                            Some(lost) => {
                                let s = lost.elapsed().as_secs_f64();
                                self.status.last_heal_s = Some((s * 10.0).round() / 10.0);
                                self.say.line(format!(
                                    "      {name} replaced and training again, {s:.1} s after it was lost"
                                ));
                                if self.watch.values().all(|w| w.lost_at.is_none()) {
                                    self.status.state = JobState::Training;
                                }
                            }
                            None => self.say.line(format!("      {name} joined")),
                        }
                    }
                    "left" => {
                        self.say.line(format!("      {name} left: {}", v["reason"].as_str().unwrap_or_default()));
                        if let Some(w) = self.watch.get_mut(&name) {
                            w.lost_at.get_or_insert_with(Instant::now);
                        }
                        if let Some(m) = self.member(&name) {
                            m.state = "lost".into();
                        }
                    }
                    _ => {}
                }
            }
            "summary" => {
                self.status.state = JobState::Finished;
                self.status.val_loss = v["summary"]["val_loss"].as_f64();
                self.say.line(format!(
                    "      finished: {} steps, final loss {:.4}, validation loss {:.4} nats/byte, utilisation {:.1}%",
                    v["summary"]["steps"],
                    v["summary"]["final_loss"].as_f64().unwrap_or(f64::NAN),
                    self.status.val_loss.unwrap_or(f64::NAN),
                    100.0 * v["summary"]["utilization"].as_f64().unwrap_or(f64::NAN)
                ));
                save_status(&self.ctx.home, &self.status);
                return Ok(true);
            }
            "warning" => self.say.line(format!("      coordinator: {}", v["message"].as_str().unwrap_or_default())),
            _ => {}
        }
        save_status(&self.ctx.home, &self.status);
        Ok(false)
    }

    /// Checks every worker's lease and provider; replaces the dead ones.
    async fn check_health(&mut self) -> anyhow::Result<()> {
        let client = self.ctx.client();
        let id = DeploymentId { owner: self.record.owner, dseq: self.record.dseq };
        let info = client.deployment(&id).await.map_err(client_error)?;
        if info.deployment.state != DeploymentState::Active {
            self.status.state = JobState::Failed;
            self.status.error = Some("the deployment closed (escrow ran out, or it was closed elsewhere)".into());
            return Ok(());
        }
        let dead_after = Duration::from_secs(self.record.cluster.dead_after_s);
        // The coordinator is not replaced (it holds the round): if its provider is gone the job
        // stops, resumable from its last checkpoint by running the same job again.
        if let Some(gseq) = self.record.roles.get(COORDINATOR).copied() {
            let healthy = match active_lease_of(&info.leases, gseq) {
                None => false,
                Some(l) => match provider_client(self.ctx, &l.id.provider).await {
                    Ok(pc) => pc.lease_status(&l.id).await.is_ok(),
                    Err(_) => false,
                },
            };
            if healthy {
                self.coordinator_failing = None;
            } else if self.coordinator_failing.get_or_insert_with(Instant::now).elapsed() >= dead_after {
                self.status.state = JobState::Failed;
                self.status.error = Some(format!(
                    "the coordinator's provider has not answered for {} s; the job stops here (its last checkpoint is in {}: `stratus train up` the same job file again to resume from it)",
                    dead_after.as_secs(),
                    self.record.checkpoint
                ));
                return Ok(());
            }
        }
        let roles: Vec<(String, u32)> =
            self.record.roles.iter().filter(|(r, _)| *r != COORDINATOR).map(|(r, g)| (r.clone(), *g)).collect();
        for (role, gseq) in roles {
            let lease = active_lease_of(&info.leases, gseq).cloned();
            let healthy = match &lease {
                None => false,
                Some(l) => match provider_client(self.ctx, &l.id.provider).await {
                    Ok(pc) => pc.lease_status(&l.id).await.is_ok_and(|st| {
                        st.services
                            .iter()
                            .filter(|s| s.name == role)
                            .flat_map(|s| &s.replicas)
                            .all(|r| !matches!(r.state, ReplicaState::Failed | ReplicaState::Stopped))
                    }),
                    Err(_) => false,
                },
            };
            let Some(w) = self.watch.get_mut(&role) else { continue };
            if healthy {
                w.failing_since = None;
                continue;
            }
            let since = *w.failing_since.get_or_insert_with(Instant::now);
            if lease.is_some() && since.elapsed() < dead_after {
                continue;
            }
            w.lost_at.get_or_insert(since);
            self.heal(&role, gseq, lease.map(|l| l.id)).await?;
        }
        save_status(&self.ctx.home, &self.status);
        Ok(())
    }

    /// Replaces a worker: closes its lease if still open, leases the group again elsewhere.
    async fn heal(&mut self, role: &str, gseq: u32, lease: Option<LeaseId>) -> anyhow::Result<()> {
        self.status.state = JobState::Healing;
        if let Some(l) = &lease {
            let label = provider_label(&self.ctx.home, &l.provider);
            self.say.line(format!(
                "[heal] {role} on {label}: not answering for {} s; closing its lease",
                self.record.cluster.dead_after_s
            ));
            self.dead.insert(l.provider, format!("lost {role} of this job"));
            self.ctx.broadcast(vec![Msg::CloseLease { lease: l.clone() }]).await?;
            if let Some(m) = self.member(role) {
                m.state = "closed".into();
            }
        }
        let client = self.ctx.client();
        let id = DeploymentId { owner: self.record.owner, dseq: self.record.dseq };
        let info = client.deployment(&id).await.map_err(client_error)?;
        let mut placed: BTreeMap<Address, u32> = BTreeMap::new();
        for (r, g) in &self.record.roles {
            if r != COORDINATOR
                && let Some(l) = active_lease_of(&info.leases, *g)
            {
                *placed.entry(l.id.provider).or_default() += 1;
            }
        }
        let opened_at =
            info.orders.iter().filter(|o| o.id.gseq == gseq).map(|o| o.created_at).max().unwrap_or_default();
        let need = Need { coordinator: None, workers: vec![gseq], placed };
        let choices = match collect_and_assign(self.ctx, &self.record, &need, &self.dead, opened_at, self.say).await {
            Ok(c) => c,
            Err(e) => {
                self.say.line(format!("[heal] no replacement for {role} yet: {e:#}"));
                return Ok(());
            }
        };
        let Some(c) = choices.first() else { return Ok(()) };
        let order = info.orders.iter().filter(|o| o.id.gseq == gseq).max_by_key(|o| o.id.oseq).map(|o| o.id.clone());
        let order = order.ok_or_else(|| anyhow!("group {gseq} has no order"))?;
        let new_lease = order.bid(c.provider);
        self.ctx.broadcast(vec![Msg::CreateLease { bid: new_lease.clone() }]).await?;
        let manifest = crate::cmd::tenant::load_manifest(&self.record.sdl)?;
        provider_client(self.ctx, &c.provider)
            .await?
            .send_manifest(&self.record.owner, self.record.dseq, &manifest)
            .await
            .map_err(client_error)?;
        let label = provider_label(&self.ctx.home, &c.provider);
        self.say.line(format!("[heal] {role} leased again on {label} at {}/block; manifest sent", c.price.short()));
        self.status.replacements += 1;
        self.status.members.push(Member {
            role: role.to_string(),
            provider: label,
            lease: new_lease.to_string(),
            state: "starting".into(),
        });
        if let Some(w) = self.watch.get_mut(role) {
            w.failing_since = None;
        }
        Ok(())
    }
}
