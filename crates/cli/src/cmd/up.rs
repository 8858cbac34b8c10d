//! `stratus up` and `stratus down`: the tenant's whole journey on a local devnet, phase by
//! phase — deployment created, bids arriving, lease, manifest sent, services running, logs —
//! and, on Ctrl-C, the deployment closed and the money settled.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use serde::Serialize;
use stratus_client::Filter;
use stratus_client::provider::ProviderClient;
use stratus_types::address::Address;
use stratus_types::api::StreamedEvent;
use stratus_types::coin::Coin;
use stratus_types::event::Event;
use stratus_types::gateway::{LeaseRunState, LeaseStatus, StreamFrame};
use stratus_types::market::{Bid, DeploymentId, DeploymentState, Lease, OrderId, Provider};
use stratus_types::tx::Msg;

use crate::cmd::ctx::{Ctx, Failed, client_error};
use crate::cmd::tenant::{ProviderView, keep_sdl, sdl_copy, send_manifest_to, statuses};
use crate::devnet::{Devnet, TENANT};
use crate::flags::{DownArgs, LeaseRef, Output, UpArgs};

/// Used when no SDL is given and `examples/hello.yaml` is not in the working directory.
const HELLO: &str = include_str!("../../../../examples/hello.yaml");

/// Blocks after the order opened before `up` stops waiting for slow providers (when some bid).
const SLOW_PROVIDER_BLOCKS: u64 = 4;
/// Blocks after which an order with no bid at all is given up.
const NO_BID_BLOCKS: u64 = 10;

struct SdlFile {
    name: String,
    bytes: Vec<u8>,
    sdl: stratus_sdl::Sdl,
}

fn read_sdl(path: Option<&Path>) -> anyhow::Result<SdlFile> {
    let (name, bytes) = match path {
        Some(p) => (p.display().to_string(), std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?),
        None => match std::fs::read("examples/hello.yaml") {
            Ok(b) => ("examples/hello.yaml".to_string(), b),
            Err(_) => ("examples/hello.yaml (built in)".to_string(), HELLO.as_bytes().to_vec()),
        },
    };
    let sdl = crate::cmd::market::parse_sdl(&name, &bytes)?;
    Ok(SdlFile { name, bytes, sdl })
}

/// Phases print to stdout, or to stderr when stdout is for JSON (`--detach`, `--output json`).
#[derive(Clone, Copy)]
struct Say {
    detach: bool,
}

impl Say {
    fn line(&self, s: impl std::fmt::Display) {
        use std::io::Write;
        if self.detach {
            eprintln!("{s}");
        } else {
            println!("{s}");
            let _ = std::io::stdout().flush();
        }
    }
}

/// What `up --detach` prints.
#[derive(Debug, Serialize)]
struct Running {
    dseq: u64,
    provider: String,
    services: BTreeMap<String, Vec<String>>,
    blocks_to_running: u64,
    seconds_to_running: f64,
    resumed: bool,
    node: String,
    /// The web console's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    console: Option<String>,
    home: String,
}

/// The money, once the deployment is closed (read back from the ledger's events).
#[derive(Debug, Default, Serialize)]
pub struct Settlement {
    pub dseq: u64,
    pub denom: String,
    pub deposited: u128,
    pub blocks_leased: u64,
    /// Σ price × blocks over the leases, exact (a decimal).
    pub owed: String,
    /// Paid out of escrow in whole units: to the provider plus the take.
    pub paid: u128,
    pub to_provider: u128,
    pub take: u128,
    pub refunded: u128,
    pub leases: Vec<Lease>,
}

pub fn up(ctx: &Ctx, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let sdl = read_sdl(args.sdl.as_deref())?;
    // With --detach or --output json, stdout carries only JSON; the phases go to stderr.
    let say = Say { detach: args.detach || ctx.output == Output::Json };
    let block_time_ms =
        stratus_node::config::parse_duration_ms(&args.block_time).map_err(|e| anyhow!("--block-time {e}"))?;
    let existing = if Devnet::exists(&ctx.home) { Some(Devnet::load(&ctx.home)?) } else { None };
    let kind = match (&existing, &args.runtime) {
        (Some(d), Some(asked)) if *asked != d.file.runtime => anyhow::bail!(
            "the devnet in {} runs its workloads on `{}`, not `{asked}`: `stratus down`, then use another --home",
            ctx.home.display(),
            d.file.runtime
        ),
        (Some(d), _) => d.file.runtime.clone(),
        (None, asked) => asked.clone().unwrap_or_else(|| "host".into()),
    };
    // Without a working runtime the providers could bid on nothing: say so now rather than
    // after a deployment waited for bids.
    let engine_socket = match kind.as_str() {
        "container" => {
            let asked =
                args.engine_socket.clone().or_else(|| existing.as_ref().and_then(|d| d.file.engine_socket.clone()));
            let engine = crate::devnet::container_engine(&ctx.home, asked.as_deref())
                .map_err(|e| anyhow!("the devnet's providers cannot run containers: {e:#}"))?;
            say.line(format!("container engine: {engine}"));
            Some(engine)
        }
        _ => {
            if let Err(why) = stratus_provider::runtime::host::probe_sandbox("bwrap") {
                anyhow::bail!("the devnet's providers cannot run workloads: {why}");
            }
            None
        }
    };
    let devnet = match existing {
        Some(d) if args.providers.is_some_and(|n| n != d.file.providers.len()) => anyhow::bail!(
            "the devnet in {} has {} providers, not {}: `stratus down`, then use another --home for a new one",
            ctx.home.display(),
            d.file.providers.len(),
            args.providers.unwrap_or_default()
        ),
        Some(d) if args.validators.is_some_and(|n| n != d.file.validators) => anyhow::bail!(
            "the devnet in {} has {} validators, not {}: `stratus down`, then use another --home for a new one",
            ctx.home.display(),
            d.file.validators,
            args.validators.unwrap_or_default()
        ),
        Some(d) => d,
        None => {
            say.line(format!("creating a devnet in {}", ctx.home.display()));
            let runtime = crate::devnet::RuntimeChoice { kind: kind.clone(), engine_socket };
            Devnet::init(&ctx.home, block_time_ms, &runtime, args.providers.unwrap_or(3), args.validators.unwrap_or(1))?
        }
    };
    let started_here = match devnet.running_pid() {
        Some(pid) => {
            say.line(format!("devnet already running (pid {pid}), node {}", devnet.file.node));
            false
        }
        None => {
            let t = Instant::now();
            let pid = devnet.start()?;
            say.line(format!(
                "devnet up in {:.1} s (pid {pid}; log {}): node {}, a block every {} ms{}",
                t.elapsed().as_secs_f64(),
                devnet.log_path().display(),
                devnet.file.node,
                devnet.file.block_time_ms,
                if devnet.file.validators > 1 {
                    format!(", decided by {} BFT validators", devnet.file.validators)
                } else {
                    String::new()
                }
            ));
            true
        }
    };
    if let Some(url) = devnet.console_url() {
        say.line(format!("  console  {url}  (templates, SDL editor, network)"));
    }
    for p in &devnet.file.providers {
        say.line(format!("  provider {:<8} {}  {}", p.name, p.address, p.summary));
    }
    let tenant = Ctx {
        home: ctx.home.clone(),
        node: devnet.file.node.clone(),
        from: Some(TENANT.into()),
        output: ctx.output,
        fee: None,
    };
    let outcome = crate::cmd::ctx::block_on(journey(&tenant, &devnet, &sdl, args, say))?;
    match &outcome {
        Ok(Ok(Outcome::Detached(running))) => println!("{}", serde_json::to_string(running)?),
        Ok(Ok(Outcome::Settled(s))) => print_settlement(&tenant, &devnet, s)?,
        _ => {}
    }
    // A foreground `up` that started the devnet takes it down with it.
    if started_here && !args.detach {
        stop(&devnet, false, say)?;
    } else if !args.detach {
        say.line(format!(
            "the devnet keeps running (it was up before); `stratus down --home {}` stops it",
            ctx.home.display()
        ));
    }
    outcome??;
    Ok(ExitCode::SUCCESS)
}

pub fn down(ctx: &Ctx, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let devnet = Devnet::load(&ctx.home)?;
    stop(&devnet, args.keep_workloads, Say { detach: false })?;
    Ok(ExitCode::SUCCESS)
}

fn stop(devnet: &Devnet, keep_workloads: bool, say: Say) -> anyhow::Result<()> {
    let was_running = devnet.stop(Duration::from_secs(15))?;
    if devnet.file.runtime == "container" {
        let podman = crate::devnet::stop_podman(&devnet.home);
        say.line(format!(
            "devnet stopped{}; its containers keep running under the engine (the next `stratus up --home {}` re-adopts them; closing a deployment removes them)",
            if podman { ", and the podman service it started" } else { "" },
            devnet.home.display()
        ));
        return Ok(());
    }
    let workloads = if keep_workloads { 0 } else { devnet.stop_workloads() };
    let what = if was_running { "devnet stopped" } else { "devnet was not running" };
    let kept = if keep_workloads { "; workloads left running" } else { "" };
    say.line(format!(
        "{what}; {workloads} workload(s) stopped{kept}. Chain, leases and volumes stay in {}: `stratus up --home {}` resumes them",
        devnet.home.display(),
        devnet.home.display()
    ));
    Ok(())
}

enum Outcome {
    Detached(Running),
    Settled(Settlement),
}

/// Runs the phases; a Ctrl-C at any point after the deployment exists closes and settles it.
async fn journey(
    ctx: &Ctx,
    devnet: &Devnet,
    sdl: &SdlFile,
    args: &UpArgs,
    say: Say,
) -> anyhow::Result<anyhow::Result<Outcome>> {
    let dseq = std::sync::Mutex::new(None::<u64>);
    let running = std::sync::atomic::AtomicBool::new(false);
    let phases = run_phases(ctx, devnet, sdl, args, say, &dseq, &running);
    let result = tokio::select! {
        r = phases => r.map(Some),
        _ = tokio::signal::ctrl_c(), if !args.detach => Ok(None),
    };
    let created = *dseq.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let reached_running = running.load(std::sync::atomic::Ordering::SeqCst);
    match (result, created) {
        (Ok(Some(r)), _) => Ok(Ok(Outcome::Detached(r))),
        // Ctrl-C while the logs stream: the normal end of a foreground `up`.
        (Ok(None), Some(d)) if reached_running => {
            say.line("\nclosing the deployment…");
            Ok(close_and_settle(ctx, d).await.map(Outcome::Settled))
        }
        (Ok(None), None) => Ok(Err(Failed("interrupted before a deployment was made".into()).into())),
        (Ok(None), Some(d)) => give_up(ctx, devnet, say, d, anyhow!("interrupted before the services ran")).await,
        (Err(e), Some(d)) if !args.detach || e.downcast_ref::<Failed>().is_some() => {
            give_up(ctx, devnet, say, d, e).await
        }
        (Err(e), _) => Ok(Err(e)),
    }
}

/// Closes a deployment that will not run (no bids, a failed workload, Ctrl-C before it ran),
/// prints what it cost, and fails with the reason.
async fn give_up(
    ctx: &Ctx,
    devnet: &Devnet,
    say: Say,
    dseq: u64,
    why: anyhow::Error,
) -> anyhow::Result<anyhow::Result<Outcome>> {
    say.line(format!("{why:#}"));
    say.line("closing the deployment so it costs nothing more…");
    let s = close_and_settle(ctx, dseq).await?;
    say.line(render_settlement(devnet, &s));
    let why = format!("{why:#}");
    Ok(Err(Failed(format!("deployment {dseq} closed: {}", first_line(&why).trim_end_matches(':'))).into()))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

async fn run_phases(
    ctx: &Ctx,
    devnet: &Devnet,
    sdl: &SdlFile,
    args: &UpArgs,
    say: Say,
    created: &std::sync::Mutex<Option<u64>>,
    reached_running: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<Running> {
    let client = ctx.client();
    let owner = ctx.signer_address()?;
    let start = Instant::now();
    let start_height = client.status().await.map_err(client_error)?.height;
    let want = args
        .provider
        .as_deref()
        .map(|p| match devnet.provider_by_name(p) {
            Some(d) => d.address.parse::<Address>().map_err(|e| anyhow!("{e}")),
            None => ctx.address(Some(p)).map_err(|e| anyhow!("--provider {p}: not a devnet provider ({e})")),
        })
        .transpose()?;

    // 1. The deployment: resumed when an active one runs this very SDL, else created.
    let existing = client
        .all::<stratus_types::market::Deployment>(
            "/deployments",
            &Filter { owner: Some(owner), state: Some("active".into()), ..Filter::default() },
        )
        .await
        .map_err(client_error)?
        .into_iter()
        .rev()
        .find(|d| d.version == sdl.sdl.manifest_version);
    let (dseq, opened_at, resumed) = match existing {
        Some(d) => {
            say.line(format!(
                "[1/6] resuming deployment {} of {} (created at height {}, same manifest version {})",
                d.id.dseq,
                sdl.name,
                d.created_at,
                &hex::encode(d.version)[..12]
            ));
            (d.id.dseq, start_height, true)
        }
        None => {
            let deposit = deposit(args, &sdl.sdl)?;
            let dseq = crate::cmd::market::free_dseq(ctx, owner).await?;
            let msg = Msg::CreateDeployment {
                dseq,
                groups: sdl.sdl.groups.clone(),
                version: sdl.sdl.manifest_version,
                deposit: deposit.clone(),
                gang: false,
            };
            let result = ctx.broadcast(vec![msg]).await?;
            *created.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(dseq);
            let height = result.height.unwrap_or_default();
            say.line(format!(
                "[1/6] deployment {dseq} created from {} at height {height}: {} order(s) open, {} in escrow",
                sdl.name,
                sdl.sdl.groups.len(),
                deposit
            ));
            (dseq, height, false)
        }
    };
    *created.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(dseq);
    keep_sdl(ctx, &owner, dseq, &sdl.bytes)?;

    // 2 and 3. Bids, then leases (unless the resumed deployment has them already).
    let id = DeploymentId { owner, dseq };
    let mut leases: Vec<Lease> =
        client.deployment(&id).await.map_err(client_error)?.leases.into_iter().filter(Lease::is_active).collect();
    if leases.is_empty() {
        let chosen = collect_bids(ctx, devnet, owner, dseq, opened_at, want, say).await?;
        let msgs = chosen.iter().map(|b| Msg::CreateLease { bid: b.id.clone() }).collect();
        let result = ctx.broadcast(msgs).await?;
        for b in &chosen {
            say.line(format!(
                "[3/6] lease on order {}/{} with {} at {}{}/block (height {})",
                b.id.gseq,
                b.id.oseq,
                label(devnet, &b.id.provider),
                b.price.amount.short(),
                b.price.denom,
                result.height.unwrap_or_default()
            ));
        }
        leases =
            client.deployment(&id).await.map_err(client_error)?.leases.into_iter().filter(Lease::is_active).collect();
    } else {
        for l in &leases {
            say.line(format!(
                "[3/6] lease {}/{} with {} active since height {} at {}{}/block",
                l.id.gseq,
                l.id.oseq,
                label(devnet, &l.id.provider),
                l.created_at,
                l.price.amount.short(),
                l.price.denom
            ));
        }
    }

    // 4. The manifest (re-sending is harmless: unchanged replicas keep running).
    let sent = send_manifest_to(ctx, owner, dseq, &sdl_copy(ctx, &owner, dseq)).await?;
    say.line(format!("[4/6] manifest sent ({})", sent.len()));

    // 5. Running.
    let all = wait_running(ctx, dseq, Duration::from_secs(args.timeout), say).await?;
    let height = client.status().await.map_err(client_error)?.height;
    let blocks = height.saturating_sub(opened_at);
    let seconds = start.elapsed().as_secs_f64();
    let mut services = BTreeMap::new();
    for s in all.iter().flat_map(|l| &l.services) {
        services.insert(s.name.clone(), s.uris.clone());
    }
    say.line(format!(
        "[5/6] running {} block(s) and {seconds:.1} s after {}",
        blocks,
        if resumed { "this `up`" } else { "the order opened" }
    ));
    for (name, uris) in &services {
        let shown = if uris.is_empty() { "(no global port)".to_string() } else { uris.join(" ") };
        say.line(format!("      {name:<12} {shown}"));
    }
    let running = Running {
        dseq,
        provider: leases.first().map(|l| l.id.provider.to_string()).unwrap_or_default(),
        services,
        blocks_to_running: blocks,
        seconds_to_running: (seconds * 10.0).round() / 10.0,
        resumed,
        node: ctx.node.clone(),
        console: crate::devnet::Devnet::load(&ctx.home).ok().and_then(|d| d.console_url()),
        home: ctx.home.display().to_string(),
    };
    if args.detach {
        say.line(format!(
            "detached: `stratus --home {} --from tenant lease logs {dseq} --follow` follows the logs; `stratus down --home {}` stops the devnet",
            ctx.home.display(),
            ctx.home.display()
        ));
        return Ok(running);
    }

    // 6. Logs, until Ctrl-C.
    say.line("[6/6] logs (Ctrl-C closes the deployment and settles)");
    reached_running.store(true, std::sync::atomic::Ordering::SeqCst);
    follow_logs(ctx, &leases).await;
    std::future::pending::<()>().await;
    Ok(running)
}

fn deposit(args: &UpArgs, sdl: &stratus_sdl::Sdl) -> anyhow::Result<Coin> {
    if let Some(d) = &args.deposit {
        return d.parse().map_err(|e| anyhow!("--deposit: {e}"));
    }
    let denom = sdl
        .groups
        .iter()
        .flat_map(|g| &g.resources)
        .map(|r| r.price.denom.clone())
        .next()
        .unwrap_or_else(|| "uact".into());
    Ok(Coin::new(5_000_000, denom))
}

/// `cpu stratus1fxwpxh…wexrmf`: short, for the bids table.
fn short_label(devnet: &Devnet, address: &Address) -> String {
    let a = address.to_string();
    let short = format!("{}…{}", &a[..14.min(a.len())], &a[a.len().saturating_sub(6)..]);
    match devnet.file.providers.iter().find(|p| p.address == a) {
        Some(p) => format!("{:<8} {short}", p.name),
        None => short,
    }
}

/// `cpu (stratus1…)` for devnet providers.
fn label(devnet: &Devnet, address: &Address) -> String {
    let a = address.to_string();
    match devnet.file.providers.iter().find(|p| p.address == a) {
        Some(p) => format!("{} ({a})", p.name),
        None => a,
    }
}

/// Waits for the bids: until every provider has decided on every order and its bid is on the
/// ledger, or a few blocks pass. Prints each bid as it lands; with no bid at all, prints each
/// provider's reason and fails.
async fn collect_bids(
    ctx: &Ctx,
    devnet: &Devnet,
    owner: Address,
    dseq: u64,
    opened_at: u64,
    want: Option<Address>,
    say: Say,
) -> anyhow::Result<Vec<Bid>> {
    let client = ctx.client();
    let orders: Vec<OrderId> = client
        .deployment(&DeploymentId { owner, dseq })
        .await
        .map_err(client_error)?
        .orders
        .into_iter()
        .map(|o| o.id)
        .collect();
    let providers: Vec<Provider> = client.all("/providers", &Filter::default()).await.map_err(client_error)?;
    let key = ctx.signer()?;
    let mut views = Vec::new();
    for p in &providers {
        views.push(ProviderView::connect(p, key.clone()).await);
    }
    say.line(format!("[2/6] waiting for bids from {} provider(s)", views.len()));
    let mut shown: Vec<stratus_types::market::BidId> = Vec::new();
    loop {
        let height = client.status().await.map_err(client_error)?.height;
        let bids: Vec<Bid> = client
            .bids(&Filter {
                owner: Some(owner),
                dseq: Some(dseq),
                state: Some("open".into()),
                limit: Some(1000),
                ..Filter::default()
            })
            .await
            .map_err(client_error)?
            .items;
        for b in &bids {
            if shown.contains(&b.id) {
                continue;
            }
            if shown.is_empty() {
                say.line(format!("      {:<30} {:>14}  {:<14} {}", "PROVIDER", "PRICE/BLOCK", "GPU", "REGION"));
            }
            shown.push(b.id.clone());
            let view = views.iter().find(|v| v.provider.owner == b.id.provider);
            say.line(format!(
                "      {:<30} {:>14}  {:<14} {}",
                short_label(devnet, &b.id.provider),
                format!("{}{}", b.price.amount.short(), b.price.denom),
                view.map(ProviderView::gpus).unwrap_or_default(),
                view.and_then(|v| v.attribute("region")).unwrap_or("-")
            ));
        }
        // Who has decided what, per order.
        let mut undecided = false;
        let mut pending_bids = false;
        let mut declined_by_wanted = None;
        for v in &mut views {
            let decisions = v.decisions(&owner, dseq).await;
            for o in &orders {
                let on_chain = bids.iter().any(|b| b.id.provider == v.provider.owner && &b.id.order() == o);
                match decisions.iter().find(|d| &d.order == o) {
                    None if v.reachable() => undecided = true,
                    None => {}
                    // Decided to bid; the bid is not in a block yet.
                    Some(d) if d.bid.is_some() && !on_chain => pending_bids = true,
                    Some(d) if d.bid.is_none() && want == Some(v.provider.owner) => {
                        declined_by_wanted = Some(d.reason.clone());
                    }
                    Some(_) => {}
                }
            }
        }
        let has_bid = |o: &OrderId, p: Option<Address>| {
            bids.iter().any(|b| &b.id.order() == o && p.is_none_or(|p| b.id.provider == p))
        };
        if let (Some(p), Some(reason)) = (want, declined_by_wanted) {
            return Err(Failed(format!("{} does not bid: {reason}", label(devnet, &p))).into());
        }
        let all_bid = orders.iter().all(|o| has_bid(o, want));
        let settled = !undecided && !pending_bids;
        let waited = height.saturating_sub(opened_at);
        if all_bid && (settled || waited >= SLOW_PROVIDER_BLOCKS) {
            return Ok(orders
                .iter()
                .filter_map(|o| {
                    bids.iter()
                        .filter(|b| &b.id.order() == o && want.is_none_or(|p| b.id.provider == p))
                        .min_by(|a, b| a.price.amount.cmp(&b.price.amount))
                        .cloned()
                })
                .collect());
        }
        if (settled && !all_bid) || waited >= NO_BID_BLOCKS {
            let mut lines = Vec::new();
            for v in &mut views {
                lines.extend(v.why(&owner, dseq).await);
            }
            let whom = match want {
                Some(p) => format!("{} has not bid", label(devnet, &p)),
                None => "no provider bid".to_string(),
            };
            let when =
                if settled { "every provider declined".to_string() } else { format!("none after {waited} blocks") };
            return Err(Failed(format!(
                "{whom} on deployment {dseq} ({when}):\n{}",
                lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Polls the leases' status until every service runs; a failed lease fails with its reasons.
async fn wait_running(ctx: &Ctx, dseq: u64, timeout: Duration, say: Say) -> anyhow::Result<Vec<LeaseStatus>> {
    let start = Instant::now();
    let r = LeaseRef { dseq, provider: None, owner: None };
    let mut last = String::new();
    loop {
        let all = match statuses(ctx, &r).await {
            Ok(all) => all,
            Err(e) => return Err(closed_why(ctx, dseq, &last).await.unwrap_or(e)),
        };
        let line = all.iter().map(summary).collect::<Vec<_>>().join("; ");
        if line != last {
            say.line(format!("      {line}"));
            last = line;
        }
        if !all.is_empty() && all.iter().all(|s| s.state == LeaseRunState::Running) {
            wait_answering(&all, say).await?;
            return Ok(all);
        }
        if all.iter().any(|s| s.state == LeaseRunState::Failed) {
            let why: Vec<String> = all
                .iter()
                .flat_map(|s| &s.services)
                .filter_map(|svc| {
                    svc.replicas.iter().find_map(|r| r.message.clone()).map(|m| format!("{}: {m}", svc.name))
                })
                .collect();
            return Err(Failed(format!("the workload failed: {}", why.join("; "))).into());
        }
        if start.elapsed() > timeout {
            return Err(Failed(format!("the services were not running after {} s: {last}", timeout.as_secs())).into());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Why a lease of the deployment is no longer active, from the ledger: the provider closed it
/// (a failed workload) or the escrow ran out. `None` when every lease is still active.
async fn closed_why(ctx: &Ctx, dseq: u64, last_status: &str) -> Option<anyhow::Error> {
    let owner = ctx.address(None).ok()?;
    let info = ctx.client().deployment(&stratus_types::market::DeploymentId { owner, dseq }).await.ok()?;
    let closed = info.leases.iter().find(|l| !l.is_active())?;
    let reason = closed.close_reason.map_or_else(|| "unspecified".to_string(), |r| r.as_str().to_string());
    let status = if last_status.is_empty() { String::new() } else { format!("; last status: {last_status}") };
    Some(
        Failed(format!(
            "lease {}/{} was closed at height {} ({reason}){status}",
            closed.id.gseq,
            closed.id.oseq,
            closed.closed_at.unwrap_or_default()
        ))
        .into(),
    )
}

/// The provider says `running` once every replica's ports accept connections; this checks the
/// way in from outside too: every HTTP URI must answer within 30 s, or `up` fails saying which.
async fn wait_answering(all: &[LeaseStatus], say: Say) -> anyhow::Result<()> {
    let uris: Vec<&str> = all.iter().flat_map(|l| &l.services).flat_map(|s| &s.uris).map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    for uri in uris {
        let mut said = false;
        while !answers(uri).await {
            if Instant::now() > deadline {
                return Err(Failed(format!("{uri} did not answer within 30 s")).into());
            }
            if !said {
                say.line(format!("      {uri} does not answer yet"));
                said = true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Something answers an HTTP request at `uri` (any bytes back; the relay in front of a replica
/// accepts connections before the server inside listens, then closes them empty).
async fn answers(uri: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(hostport) = uri.strip_prefix("http://").map(|h| h.trim_end_matches('/')) else { return true };
    let wait = Duration::from_secs(2);
    let Ok(Ok(mut conn)) = tokio::time::timeout(wait, tokio::net::TcpStream::connect(hostport)).await else {
        return false;
    };
    if conn.write_all(b"HEAD / HTTP/1.0\r\nHost: stratus-up\r\n\r\n").await.is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    matches!(tokio::time::timeout(wait, conn.read(&mut byte)).await, Ok(Ok(n)) if n > 0)
}

fn summary(s: &LeaseStatus) -> String {
    let services: Vec<String> =
        s.services.iter().map(|svc| format!("{} {}/{}", svc.name, svc.available, svc.total)).collect();
    let state = format!("{:?}", s.state).to_lowercase();
    match &s.message {
        Some(m) => format!("{state} ({}) — {m}", services.join(", ")),
        None => format!("{state} ({})", services.join(", ")),
    }
}

/// Streams every lease's logs to stdout (in the background; Ctrl-C ends it).
async fn follow_logs(ctx: &Ctx, leases: &[Lease]) {
    let Ok(key) = ctx.signer() else { return };
    let client = ctx.client();
    for l in leases {
        let Ok(record) = client.provider(&l.id.provider).await else { continue };
        let Ok(gw) = ProviderClient::new(&record, key.clone()) else { continue };
        let lease = l.id.clone();
        let json = ctx.output == Output::Json;
        tokio::spawn(async move {
            loop {
                let Ok(mut stream) = gw.logs(&lease, None, 20, true).await else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                while let Some(Ok(frame)) = stream.next().await {
                    match frame {
                        StreamFrame::Log(line) if json => {
                            println!("{}", serde_json::to_string(&line).unwrap_or_default())
                        }
                        StreamFrame::Log(line) => println!("[{}-{}] {}", line.service, line.replica, line.line),
                        _ => {}
                    }
                }
                // The stream ended or stalled: reconnect without replaying old lines.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

/// Closes the deployment and reads what it paid from the ledger's events.
pub async fn close_and_settle(ctx: &Ctx, dseq: u64) -> anyhow::Result<Settlement> {
    let client = ctx.client();
    let owner = ctx.signer_address()?;
    let id = DeploymentId { owner, dseq };
    let before = client.deployment(&id).await.map_err(client_error)?;
    let closed_at = if before.deployment.state == DeploymentState::Active {
        ctx.broadcast(vec![Msg::CloseDeployment { dseq }]).await?.height.unwrap_or_default()
    } else {
        before.deployment.closed_at.unwrap_or(before.deployment.created_at)
    };
    let info = client.deployment(&id).await.map_err(client_error)?;
    let mut s = Settlement { dseq, ..Settlement::default() };
    if let Some(e) = &info.escrow {
        s.denom = e.denom.clone();
        s.deposited = e.total_deposited;
    }
    let mut owed = stratus_types::dec::Dec::ZERO;
    for l in &info.leases {
        let end = l.closed_at.unwrap_or(closed_at);
        let blocks = end.saturating_sub(l.created_at);
        s.blocks_leased += blocks;
        owed = owed.checked_add(l.price.amount.mul_u64(blocks).unwrap_or_default()).unwrap_or(owed);
    }
    s.owed = owed.short();
    s.leases = info.leases;
    let filters = vec![("owner", owner.to_string()), ("kinds", "lease_withdrawn,escrow_refunded".to_string())];
    let mut sub = client.subscribe(info.deployment.created_at, filters).await.map_err(client_error)?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
            Err(_) => return Err(anyhow!("the ledger's events stopped before height {closed_at}")),
            Ok(item) => match item.map_err(client_error)? {
                stratus_client::node::StreamItem::Event(StreamedEvent { event, .. }) => match event {
                    Event::LeaseWithdrawn { lease, to_provider, take } if lease.dseq == dseq => {
                        s.to_provider += to_provider.amount;
                        s.take += take.amount;
                    }
                    Event::EscrowRefunded { deployment, amount, .. } if deployment.dseq == dseq => {
                        s.refunded += amount.amount;
                    }
                    _ => {}
                },
                stratus_client::node::StreamItem::Block(mark) if mark.height >= closed_at => break,
                stratus_client::node::StreamItem::Block(_) => {}
            },
        }
    }
    s.paid = s.to_provider + s.take;
    Ok(s)
}

fn print_settlement(ctx: &Ctx, devnet: &Devnet, s: &Settlement) -> anyhow::Result<()> {
    ctx.print(s, || render_settlement(devnet, s))
}

fn render_settlement(devnet: &Devnet, s: &Settlement) -> String {
    let d = &s.denom;
    let mut out = format!("settlement of deployment {}:\n", s.dseq);
    if s.leases.is_empty() {
        out.push_str(&format!(
            "  no lease was made: nothing paid\n  refunded to you: {}{d} of the {}{d} deposit",
            s.refunded, s.deposited
        ));
        return out;
    }
    for l in &s.leases {
        let blocks = l.closed_at.unwrap_or(l.created_at).saturating_sub(l.created_at);
        out.push_str(&format!(
            "  leased {blocks} block(s) from {} at {}{d}/block\n",
            label(devnet, &l.id.provider),
            l.price.amount.short()
        ));
    }
    let pct = f64::from(crate::devnet::TAKE_RATE_BPS) / 100.0;
    out.push_str(&format!(
        "  owed {}{d} for {} block(s); paid {}{d} in whole units\n  paid to the provider: {}{d} (less {}{d} take rate, {pct}%)\n  refunded to you: {}{d} of the {}{d} deposit",
        s.owed, s.blocks_leased, s.paid, s.to_provider, s.take, s.refunded, s.deposited
    ));
    out
}
