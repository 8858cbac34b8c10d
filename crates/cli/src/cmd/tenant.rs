//! The tenant and the provider's gateway: manifests, lease status, logs, events, and each
//! provider's reason for not bidding.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use stratus_client::provider::ProviderClient;
use stratus_client::{ClientError, Filter};
use stratus_types::address::Address;
use stratus_types::gateway::{Decision, LeaseStatus, ProviderStatus, StreamFrame};
use stratus_types::market::{DeploymentId, Lease, LeaseId, Provider};

use crate::cmd::ctx::{Ctx, Failed, client_error, table};
use crate::flags::{LeaseEvents, LeaseLogs, LeaseMetricsArgs, LeaseRef, SendManifest};

/// Where `deploy create` keeps the SDL a deployment was made from (to send its manifest later).
pub fn sdl_copy(ctx: &Ctx, owner: &Address, dseq: u64) -> PathBuf {
    ctx.home.join("deployments").join(format!("{owner}-{dseq}.yaml"))
}

pub fn keep_sdl(ctx: &Ctx, owner: &Address, dseq: u64, bytes: &[u8]) -> anyhow::Result<()> {
    let path = sdl_copy(ctx, owner, dseq);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}

pub fn load_manifest(file: &Path) -> anyhow::Result<stratus_types::manifest::Manifest> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed = stratus_sdl::parse(&bytes);
    let name = file.display().to_string();
    match parsed.sdl {
        Some(sdl) => Ok(sdl.manifest),
        None => Err(Failed(parsed.errors().map(|d| d.render(&name)).collect::<Vec<_>>().join("\n")).into()),
    }
}

pub async fn provider_client(ctx: &Ctx, address: &Address) -> anyhow::Result<ProviderClient> {
    let record = ctx.client().provider(address).await.map_err(client_error)?;
    ProviderClient::new(&record, ctx.signer()?).map_err(client_error)
}

/// The deployment's active leases (optionally one provider's).
async fn active_leases(ctx: &Ctx, r: &LeaseRef) -> anyhow::Result<Vec<Lease>> {
    let owner = ctx.address(r.owner.as_deref())?;
    let provider = r.provider.as_deref().map(|p| ctx.address(Some(p))).transpose()?;
    let info = ctx.client().deployment(&DeploymentId { owner, dseq: r.dseq }).await.map_err(client_error)?;
    let leases: Vec<Lease> =
        info.leases.into_iter().filter(|l| l.is_active() && provider.is_none_or(|p| l.id.provider == p)).collect();
    if leases.is_empty() {
        return Err(Failed(format!(
            "deployment {owner}/{} has no active lease; create one with `stratus lease create`",
            r.dseq
        ))
        .into());
    }
    Ok(leases)
}

/// Sends the manifest to every provider leasing part of the deployment.
pub async fn send_manifest_to(ctx: &Ctx, owner: Address, dseq: u64, file: &Path) -> anyhow::Result<Vec<String>> {
    let manifest = load_manifest(file)?;
    let r = LeaseRef { dseq, provider: None, owner: Some(owner.to_string()) };
    let mut providers: Vec<Address> = active_leases(ctx, &r).await?.iter().map(|l| l.id.provider).collect();
    providers.dedup();
    let mut done = Vec::new();
    for p in providers {
        let client = provider_client(ctx, &p).await?;
        let accepted = client.send_manifest(&owner, dseq, &manifest).await.map_err(client_error)?;
        done.push(format!("{p}: {} lease(s)", accepted.leases.len()));
    }
    Ok(done)
}

pub async fn send_manifest(ctx: &Ctx, args: SendManifest) -> anyhow::Result<ExitCode> {
    let owner = ctx.signer_address()?;
    let file = args.file.unwrap_or_else(|| sdl_copy(ctx, &owner, args.dseq));
    if !file.exists() {
        return Err(anyhow!("no SDL given and none kept for deployment {}: pass the SDL file", args.dseq));
    }
    let done = send_manifest_to(ctx, owner, args.dseq, &file).await?;
    ctx.print(&done, || {
        format!("manifest sent\n{}", done.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn render_status(s: &LeaseStatus) -> String {
    let mut out =
        format!("lease {}/{}/{} with {}: {:?}", s.lease.dseq, s.lease.gseq, s.lease.oseq, s.lease.provider, s.state)
            .to_lowercase();
    if let Some(m) = &s.message {
        out.push_str(&format!(" ({m})"));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = s
        .services
        .iter()
        .map(|svc| {
            let detail = svc.replicas.iter().find_map(|r| r.message.clone()).unwrap_or_default();
            vec![svc.name.clone(), format!("{}/{}", svc.available, svc.total), svc.uris.join(" "), detail]
        })
        .collect();
    out.push_str(&table(&["service", "ready", "uris", "note"], &rows));
    if !s.gpus.is_empty() {
        let gpus: Vec<String> = s
            .gpus
            .iter()
            .map(|g| {
                let health = if g.problems.is_empty() { "ok" } else { "UNHEALTHY" };
                format!(
                    "{}/{} {} {} °C {}% {}",
                    g.node, g.sample.index, g.sample.model, g.sample.temperature_c, g.sample.utilization_pct, health
                )
            })
            .collect();
        out.push_str(&format!("\ngpus: {} (`stratus lease metrics` for every figure)", gpus.join("; ")));
    }
    out
}

pub async fn statuses(ctx: &Ctx, r: &LeaseRef) -> anyhow::Result<Vec<LeaseStatus>> {
    let mut out = Vec::new();
    for lease in active_leases(ctx, r).await? {
        let client = provider_client(ctx, &lease.id.provider).await?;
        out.push(client.lease_status(&lease.id).await.map_err(client_error)?);
    }
    Ok(out)
}

pub async fn status(ctx: &Ctx, r: LeaseRef) -> anyhow::Result<ExitCode> {
    let all = statuses(ctx, &r).await?;
    ctx.print(&all, || all.iter().map(render_status).collect::<Vec<_>>().join("\n\n"))?;
    Ok(ExitCode::SUCCESS)
}

fn print_frame(ctx: &Ctx, f: &StreamFrame) -> bool {
    match (ctx.output, f) {
        (_, StreamFrame::Heartbeat { .. }) => {}
        (crate::flags::Output::Json, f) => println!("{}", serde_json::to_string(f).unwrap_or_default()),
        (_, StreamFrame::Log(l)) => println!("[{}-{}] {}", l.service, l.replica, l.line),
        (_, StreamFrame::Event(e)) => println!("{}  {}  {}", e.time_ms, e.kind, e.message),
    }
    use std::io::Write;
    std::io::stdout().flush().is_ok()
}

pub async fn logs(ctx: &Ctx, args: LeaseLogs) -> anyhow::Result<ExitCode> {
    let leases = active_leases(ctx, &args.lease).await?;
    let lease = &leases[0];
    let client = provider_client(ctx, &lease.id.provider).await?;
    let mut stream =
        client.logs(&lease.id, args.service.as_deref(), args.tail, args.follow).await.map_err(client_error)?;
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(client_error)?;
        if !print_frame(ctx, &frame) {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn render_metrics(lease: &LeaseId, m: &stratus_types::telemetry::LeaseMetrics) -> String {
    let rows: Vec<Vec<String>> = m
        .gpus
        .iter()
        .map(|g| {
            let s = &g.sample;
            vec![
                format!("{}-{}", g.service, g.replica),
                format!("{}/{}", g.node, s.index),
                s.model.clone(),
                format!("{} °C", s.temperature_c),
                format!("{:.0} W", s.power_w),
                format!("{}%", s.utilization_pct),
                format!(
                    "{:.1}/{:.1} GiB",
                    s.memory_used_bytes as f64 / 1073741824.0,
                    s.memory_total_bytes as f64 / 1073741824.0
                ),
                format!("{} MHz", s.sm_clock_mhz),
                format!("{}", s.ecc_uncorrected),
                if g.problems.is_empty() { "ok".into() } else { g.problems.join("; ") },
            ]
        })
        .collect();
    let mut out = format!("lease {lease}: {} GPU(s)", m.gpus.len());
    if let Some(note) = &m.note {
        out.push_str(&format!(" — {note}"));
    }
    out.push('\n');
    out.push_str(&crate::cmd::ctx::table(
        &["replica", "node/gpu", "model", "temp", "power", "util", "memory", "sm clock", "ecc (uncorr.)", "health"],
        &rows,
    ));
    out
}

pub async fn metrics(ctx: &Ctx, args: LeaseMetricsArgs) -> anyhow::Result<ExitCode> {
    let leases = active_leases(ctx, &args.lease).await?;
    loop {
        for lease in &leases {
            let client = provider_client(ctx, &lease.id.provider).await?;
            let m = client.lease_metrics(&lease.id).await.map_err(client_error)?;
            match ctx.output {
                crate::flags::Output::Json => println!("{}", serde_json::to_string(&m)?),
                crate::flags::Output::Table => println!("{}", render_metrics(&lease.id, &m)),
            }
        }
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(std::time::Duration::from_millis(args.interval_ms.max(200))).await;
    }
}

pub async fn events(ctx: &Ctx, args: LeaseEvents) -> anyhow::Result<ExitCode> {
    let leases = active_leases(ctx, &args.lease).await?;
    let lease = &leases[0];
    let client = provider_client(ctx, &lease.id.provider).await?;
    let mut stream = client.events(&lease.id, args.follow).await.map_err(client_error)?;
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(client_error)?;
        if !print_frame(ctx, &frame) {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A provider as a tenant sees it: its ledger record, and its gateway (status, decisions).
pub struct ProviderView {
    pub provider: Provider,
    client: Option<ProviderClient>,
    status: Option<ProviderStatus>,
    /// Why the gateway cannot be asked (unreachable, no certificate).
    error: Option<String>,
}

impl ProviderView {
    pub async fn connect(p: &Provider, key: ed25519_dalek::SigningKey) -> ProviderView {
        let mut view = ProviderView { provider: p.clone(), client: None, status: None, error: None };
        match ProviderClient::new(p, key) {
            Ok(c) => {
                match c.status().await {
                    Ok(s) => view.status = Some(s),
                    Err(e) => view.error = Some(unreachable(&e)),
                }
                view.client = Some(c);
            }
            Err(e) => view.error = Some(e.to_string()),
        }
        view
    }

    pub fn reachable(&self) -> bool {
        self.error.is_none()
    }

    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.provider.attributes.iter().find(|a| a.key == key).map(|a| a.value.as_str())
    }

    /// `h100 ×8`, `rtx4090 ×4`, `cpu only`: from the gateway's inventory, else the attributes.
    pub fn gpus(&self) -> String {
        let from_inventory: Vec<String> =
            self.status.iter().flat_map(|s| &s.inventory.gpus).map(|g| format!("{} ×{}", g.model, g.total)).collect();
        let text = if from_inventory.is_empty() { gpu_summary(&self.provider) } else { from_inventory.join(", ") };
        if text.is_empty() { "cpu only".into() } else { text }
    }

    /// `provider stratus1… (rtx4090 ×4)`.
    pub fn label(&self) -> String {
        format!("provider {} ({})", self.provider.owner, self.gpus())
    }

    /// Its decisions on the deployment's orders; none when it cannot be asked.
    pub async fn decisions(&mut self, owner: &Address, dseq: u64) -> Vec<Decision> {
        let Some(client) = &self.client else { return Vec::new() };
        match client.decisions(owner, dseq).await {
            Ok(d) => {
                self.error = None;
                d
            }
            Err(e) => {
                self.error = Some(unreachable(&e));
                Vec::new()
            }
        }
    }

    /// One line per order: what it bid, or why not.
    pub async fn why(&mut self, owner: &Address, dseq: u64) -> Vec<String> {
        let decisions = self.decisions(owner, dseq).await;
        let label = self.label();
        if let Some(e) = &self.error {
            return vec![format!("{label}: {e}")];
        }
        if decisions.is_empty() {
            return vec![format!("{label}: has not looked at this deployment's orders yet")];
        }
        decisions
            .iter()
            .map(|d| match &d.bid {
                Some(price) => format!("{label}: bid {}{}/block", price.amount.short(), price.denom),
                None => format!("{label}: {}", d.reason),
            })
            .collect()
    }
}

fn unreachable(e: &ClientError) -> String {
    match e {
        ClientError::Unreachable { detail, .. } => format!("gateway unreachable ({detail})"),
        other => other.to_string(),
    }
}

/// One line per provider: why it did not bid on the deployment's orders (or what it bid), from
/// its gateway. Providers that cannot be reached say so.
pub async fn why_no_bids(ctx: &Ctx, owner: &Address, dseq: u64) -> anyhow::Result<Vec<String>> {
    let providers: Vec<Provider> = ctx.client().all("/providers", &Filter::default()).await.map_err(client_error)?;
    let key = ctx.signer()?;
    let mut lines = Vec::new();
    for p in providers {
        lines.extend(ProviderView::connect(&p, key.clone()).await.why(owner, dseq).await);
    }
    Ok(lines)
}

/// `rtx4090, h100` from the provider's capability attributes.
fn gpu_summary(p: &Provider) -> String {
    let mut models: Vec<&str> = p
        .attributes
        .iter()
        .filter_map(|a| a.key.strip_prefix("capabilities/gpu/vendor/nvidia/model/"))
        .filter(|m| !m.contains('/'))
        .collect();
    models.dedup();
    models.join(", ")
}

#[cfg(test)]
mod tests {
    use stratus_types::attributes::Attribute;
    use stratus_types::market::ProviderInfo;

    use super::*;

    #[test]
    fn gpu_summary_lists_models_once() {
        let p = Provider {
            owner: Address([1; 20]),
            host_uri: "https://p:1".into(),
            attributes: vec![
                Attribute::new("capabilities/gpu/vendor/nvidia/model/h100", "true"),
                Attribute::new("capabilities/gpu/vendor/nvidia/model/h100/ram/80Gi", "true"),
                Attribute::new("region", "eu"),
            ],
            info: ProviderInfo::default(),
        };
        assert_eq!(gpu_summary(&p), "h100");
    }
}
