//! `stratus train up|status|down|supervise`: a training job on the supercloud.
//!
//! `up` reads a job file (an engine job plus `[cluster]`, see `stratus_supercloud::cluster`),
//! creates one gang deployment (`stratus_supercloud::sdl`), waits for bids, leases the cheapest
//! feasible set (`stratus_supercloud::assign`) in one transaction — so the gang forms in one
//! block —, sends the manifest to every chosen provider, publishes the coordinator's address in
//! the job's storage for the workers, and then drives the job (`train_drive`): live lines per
//! outer step, healing, settlement. What it decided is kept in `<home>/jobs/<job>/`
//! (`job.json`, `status.json`, the driver's pid and log), so `status`, `down` and `supervise`
//! work from any shell.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stratus_client::Filter;
use stratus_supercloud::assign::{self, Need, Offer, ProviderFacts, Rules};
use stratus_supercloud::cluster::ClusterSpec;
use stratus_supercloud::sdl::{COORDINATOR, COORDINATOR_PORT, JobEnv, worker_name};
use stratus_supercloud::status::{JobState, JobStatus, Member};
use stratus_train::job::Job;
use stratus_types::address::Address;
use stratus_types::coin::Coin;
use stratus_types::dec::Dec;
use stratus_types::market::{Bid, DeploymentId, Lease, LeaseId, Provider};
use stratus_types::tx::Msg;

use crate::cmd::ctx::{Ctx, Failed, block_on, client_error};
use crate::cmd::tenant::{ProviderView, provider_client};
use crate::flags::{Output, TrainJobRef, TrainUpArgs};

/// What `train up` decided, kept in `<home>/jobs/<job>/job.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobRecord {
    pub job: String,
    pub owner: Address,
    pub dseq: u64,
    pub cluster: ClusterSpec,
    /// The SDL file whose manifest every provider gets (it holds the job's secrets: 0600).
    pub sdl: PathBuf,
    pub checkpoint: String,
    pub coordinator_url: String,
    /// `coordinator`, `worker-1`, … → gseq.
    pub roles: BTreeMap<String, u32>,
    pub target_step: u64,
    pub started_height: u64,
    pub started_ms: u64,
    pub denom: String,
}

pub fn job_dir(home: &Path, job: &str) -> PathBuf {
    home.join("jobs").join(job)
}

/// `job-12` or `12` → `job-12`.
fn job_name(given: &str) -> anyhow::Result<String> {
    let n = given.strip_prefix("job-").unwrap_or(given);
    n.parse::<u64>().map(|d| format!("job-{d}")).map_err(|_| anyhow!("{given:?} is not a job (job-DSEQ or DSEQ)"))
}

pub fn load_record(home: &Path, job: &str) -> anyhow::Result<JobRecord> {
    let path = job_dir(home, job).join("job.json");
    let bytes =
        std::fs::read(&path).with_context(|| format!("no job {job} in {} (no {})", home.display(), path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", path.display()))
}

pub fn load_status(home: &Path, job: &str) -> Option<JobStatus> {
    serde_json::from_slice(&std::fs::read(job_dir(home, job).join("status.json")).ok()?).ok()
}

pub fn save_status(home: &Path, s: &JobStatus) {
    let dir = job_dir(home, &s.job);
    let tmp = dir.join("status.json.tmp");
    if std::fs::write(&tmp, serde_json::to_vec_pretty(s).unwrap_or_default()).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join("status.json"));
    }
}

/// A devnet home's tenant signs unless `--from` says otherwise.
pub fn tenant_ctx(ctx: &Ctx) -> Ctx {
    let from = ctx
        .from
        .clone()
        .or_else(|| crate::devnet::Devnet::exists(&ctx.home).then(|| crate::devnet::TENANT.to_string()));
    Ctx { home: ctx.home.clone(), node: ctx.node.clone(), from, output: ctx.output, fee: ctx.fee.clone() }
}

/// Phases to stdout, or to stderr when stdout carries JSON.
#[derive(Clone, Copy)]
pub struct Say {
    pub to_stderr: bool,
}

impl Say {
    pub fn line(&self, s: impl std::fmt::Display) {
        use std::io::Write;
        if self.to_stderr {
            eprintln!("{s}");
        } else {
            println!("{s}");
            let _ = std::io::stdout().flush();
        }
    }
}

/// How to name a provider: its devnet name, else a short address.
pub fn provider_label(home: &Path, address: &Address) -> String {
    let a = address.to_string();
    if let Ok(d) = crate::devnet::Devnet::load(home)
        && let Some(p) = d.file.providers.iter().find(|p| p.address == a)
    {
        return p.name.clone();
    }
    format!("{}…{}", &a[..12.min(a.len())], &a[a.len().saturating_sub(6)..])
}

pub fn up(ctx: &Ctx, args: &TrainUpArgs) -> anyhow::Result<ExitCode> {
    let ctx = tenant_ctx(ctx);
    let say = Say { to_stderr: args.detach || ctx.output == Output::Json };
    let started = Instant::now();
    let path = args.job.display().to_string();
    let text = std::fs::read_to_string(&args.job).with_context(|| format!("cannot read the job file {path}"))?;
    let (engine_text, cluster) = stratus_supercloud::cluster::split(&path, &text)?;
    let job = Job::parse(&path, &engine_text)?;
    let ckpt_url = job.checkpoint.url.clone().ok_or_else(|| {
        anyhow!("{path}: [checkpoint] url is missing: a supercloud job checkpoints to s3://BUCKET/PREFIX (a replacement worker and a restarted coordinator resume from it)")
    })?;
    for (field, url) in [("data.url", &job.data.url), ("checkpoint.url", &ckpt_url)] {
        if !url.starts_with("s3://") {
            bail!(
                "{path}: {field} {url:?} must be s3://BUCKET/PREFIX: workers on other providers read and write it (a directory exists only on this machine)"
            );
        }
    }
    // The data must exist before anyone pays for GPUs.
    let data = stratus_train::storage::Storage::open(&job.data.url)?;
    if data.get_opt("index.json").map_err(|e| anyhow!("{path}: data.url: {e}"))?.is_none() {
        bail!(
            "{path}: data.url {} holds no prepared data set (no index.json): run `stratus train prepare --out {}` first",
            job.data.url,
            job.data.url
        );
    }
    let checkpoints = stratus_train::storage::Storage::open(&ckpt_url)?;
    let devnet =
        crate::devnet::Devnet::exists(&ctx.home).then(|| crate::devnet::Devnet::load(&ctx.home)).transpose()?;
    if let Some(d) = &devnet
        && d.running_pid().is_none()
    {
        say.line(format!("starting the devnet in {}", ctx.home.display()));
        d.start()?;
    }
    let record = block_on(create(&ctx, &cluster, &job, &engine_text, (&ckpt_url, &checkpoints), say))??;
    let rec_dir = job_dir(&ctx.home, &record.job);
    if args.detach {
        let log = rec_dir.join("supervise.log");
        let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let exe = std::env::current_exe().context("cannot find the stratus binary")?;
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(exe);
        cmd.arg("--home").arg(&ctx.home).args(["--node", &ctx.node]);
        if let Some(f) = &ctx.from {
            cmd.args(["--from", f]);
        }
        let child = cmd
            .args(["train", "supervise", &record.job])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .context("starting the job's supervisor")?;
        drop(child);
        say.line(format!("[5/5] supervising in the background (log: {})", log.display()));
        let deadline = started + Duration::from_secs(args.timeout);
        loop {
            if let Some(s) = load_status(&ctx.home, &record.job) {
                if s.state == JobState::Failed {
                    bail!("the job failed: {}", s.error.unwrap_or_default());
                }
                if let (Some(blocks), Some(seconds)) = (s.blocks_to_first_step, s.seconds_to_first_step) {
                    let leases: Vec<String> = s.members.iter().map(|m| m.lease.clone()).collect();
                    println!(
                        "{}",
                        serde_json::json!({"job": record.job, "leases": leases, "blocks_to_first_step": blocks,
                                           "seconds_to_first_step": seconds})
                    );
                    return Ok(ExitCode::SUCCESS);
                }
            }
            if Instant::now() > deadline {
                bail!("no outer step after {} s (see {})", args.timeout, log.display());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    say.line("[5/5] training (Ctrl-C stops the job, keeps its checkpoint and settles)");
    let status = block_on(crate::cmd::train_drive::drive(&ctx, record, say))??;
    if ctx.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    }
    Ok(if status.state == JobState::Failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub fn supervise(ctx: &Ctx, r: &TrainJobRef) -> anyhow::Result<ExitCode> {
    let ctx = tenant_ctx(ctx);
    let job = job_name(&r.job)?;
    let record = load_record(&ctx.home, &job)?;
    let status = block_on(crate::cmd::train_drive::drive(&ctx, record, Say { to_stderr: false }))??;
    Ok(if status.state == JobState::Failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub fn status(ctx: &Ctx, r: &TrainJobRef) -> anyhow::Result<ExitCode> {
    let ctx = tenant_ctx(ctx);
    let job = job_name(&r.job)?;
    let record = load_record(&ctx.home, &job)?;
    let mut s = load_status(&ctx.home, &job).ok_or_else(|| anyhow!("job {job} has no status yet"))?;
    if let Ok(paid) = block_on(paid_so_far(&ctx, &record))? {
        s.paid = paid;
    }
    ctx.print(&s, || {
        let mut lines = vec![format!(
            "{} ({}): step {}/{}, loss {}, {} replacement(s), paid {}",
            s.job,
            serde_json::to_value(s.state).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            s.step,
            record.target_step,
            s.loss.map_or("-".into(), |l| format!("{l:.4}")),
            s.replacements,
            s.paid
        )];
        for m in &s.members {
            lines.push(format!("  {:<12} {:<10} {:<9} {}", m.role, m.provider, m.state, m.lease));
        }
        lines.join("\n")
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn down(ctx: &Ctx, r: &TrainJobRef) -> anyhow::Result<ExitCode> {
    let ctx = tenant_ctx(ctx);
    let job = job_name(&r.job)?;
    let record = load_record(&ctx.home, &job)?;
    // A driver running: it stops the job itself (it owns the status file).
    if let Some(pid) = load_status(&ctx.home, &job).and_then(|s| s.pid).filter(|p| driver_alive(*p, &job)) {
        let target = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0));
        let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM);
        let t = Instant::now();
        while driver_alive(pid, &job) && t.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let settlement = block_on(crate::cmd::train_drive::close_and_settle(&ctx, &record))??;
    if let Some(mut s) = load_status(&ctx.home, &job) {
        if !matches!(s.state, JobState::Finished | JobState::Failed) {
            s.state = JobState::Stopped;
        }
        s.pid = None;
        save_status(&ctx.home, &s);
    }
    ctx.print(&settlement, || crate::cmd::train_drive::render_settlement(&settlement))?;
    Ok(ExitCode::SUCCESS)
}

/// `pid` still drives `job` (pids are reused).
fn driver_alive(pid: u32, job: &str) -> bool {
    let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let text = String::from_utf8_lossy(&cmd);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    !zombie && text.contains("train") && (text.contains(job) || text.contains("up"))
}

/// Paid to the providers so far: closed leases' exact accruals, plus price × blocks for those
/// still paying (settlement on the ledger is lazy; this is what it will settle to).
pub async fn paid_so_far(ctx: &Ctx, record: &JobRecord) -> anyhow::Result<String> {
    let client = ctx.client();
    let height = client.status().await.map_err(client_error)?.height;
    let info =
        client.deployment(&DeploymentId { owner: record.owner, dseq: record.dseq }).await.map_err(client_error)?;
    let mut total = Dec::ZERO;
    for l in &info.leases {
        let part = if l.is_active() {
            l.paying_since.and_then(|since| l.price.amount.mul_u64(height.saturating_sub(since))).unwrap_or(Dec::ZERO)
        } else {
            l.accrued
        };
        total = total.checked_add(part).ok_or_else(|| anyhow!("overflow adding payments"))?;
    }
    Ok(format!("{}{}", total.floor(), record.denom))
}

/// Creates the deployment, leases it and starts the workloads; returns the record.
async fn create(
    ctx: &Ctx,
    cluster: &ClusterSpec,
    job: &Job,
    engine_text: &str,
    (ckpt_url, checkpoints): (&str, &stratus_train::storage::Storage),
    say: Say,
) -> anyhow::Result<JobRecord> {
    let client = ctx.client();
    let owner = ctx.signer_address()?;
    let started_ms = stratus_client::now_ms();
    let started_height = client.status().await.map_err(client_error)?.height;
    let dseq = crate::cmd::market::free_dseq(ctx, owner).await?;
    let name = format!("job-{dseq}");
    let dir = job_dir(&ctx.home, &name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let coordinator_url = format!("{}/coordinator", ckpt_url.trim_end_matches('/'));
    // A coordinator address left by an earlier run of the same job must not mislead workers.
    off_runtime(checkpoints, |s| s.delete("coordinator").map(|_| ())).ok();
    let mut token = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut token);
    let s3: Vec<(String, String)> = [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
    .collect();
    let env = JobEnv {
        job_toml: engine_text.to_string(),
        token: hex::encode(token),
        coordinator_url: coordinator_url.clone(),
        s3,
    };
    let text = stratus_supercloud::sdl::render(cluster, &env, 512);
    let sdl_path = dir.join("deployment.yaml");
    std::fs::write(&sdl_path, &text)?;
    std::fs::set_permissions(&sdl_path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let sdl = crate::cmd::market::parse_sdl(&sdl_path.display().to_string(), text.as_bytes())?;
    let denom = cluster.worker_price().1;
    let deposit = match &cluster.deposit {
        Some(d) => d.parse::<Coin>().map_err(|e| anyhow!("[cluster] deposit: {e}"))?,
        None => {
            let per_block: u128 = sdl.groups.iter().filter_map(|g| g.max_price()).map(|d| d.floor() + 1).sum();
            Coin::new(per_block * 2000, denom.clone())
        }
    };

    // 1. The gang deployment.
    let result = ctx
        .broadcast(vec![Msg::CreateDeployment {
            dseq,
            groups: sdl.groups.clone(),
            version: sdl.manifest_version,
            deposit: deposit.clone(),
            gang: true,
        }])
        .await?;
    let opened_at = result.height.unwrap_or(started_height);
    let info = client.deployment(&DeploymentId { owner, dseq }).await.map_err(client_error)?;
    let roles: BTreeMap<String, u32> = info.groups.iter().map(|g| (g.spec.name.clone(), g.id.gseq)).collect();
    say.line(format!(
        "[1/5] gang deployment {owner}/{dseq} ({name}): coordinator + {} worker group(s), {} GPU(s) each, deposit {deposit}",
        cluster.workers, cluster.gpus_per_worker
    ));
    let record = JobRecord {
        job: name.clone(),
        owner,
        dseq,
        cluster: cluster.clone(),
        sdl: sdl_path.clone(),
        checkpoint: ckpt_url.to_string(),
        coordinator_url: coordinator_url.clone(),
        roles: roles.clone(),
        target_step: job.training.steps,
        started_height,
        started_ms,
        denom: denom.clone(),
    };
    std::fs::write(dir.join("job.json"), serde_json::to_vec_pretty(&record)?)?;

    // 2. Bids, and the cheapest assignment.
    let need = Need {
        coordinator: roles.get(COORDINATOR).copied(),
        workers: (1..=cluster.workers).filter_map(|i| roles.get(&worker_name(i)).copied()).collect(),
        placed: BTreeMap::new(),
    };
    say.line("[2/5] waiting for bids");
    let choices = match collect_and_assign(ctx, &record, &need, &BTreeMap::new(), opened_at, say).await {
        Ok(c) => c,
        Err(e) => {
            let _ = ctx.broadcast(vec![Msg::CloseDeployment { dseq }]).await;
            return Err(e);
        }
    };

    // 3. All leases in one transaction: the gang forms in that block.
    let role_of = |gseq: u32| roles.iter().find(|(_, g)| **g == gseq).map(|(r, _)| r.clone()).unwrap_or_default();
    let mut msgs = Vec::new();
    let info = client.deployment(&DeploymentId { owner, dseq }).await.map_err(client_error)?;
    for c in &choices {
        let order = info
            .orders
            .iter()
            .filter(|o| o.id.gseq == c.gseq)
            .max_by_key(|o| o.id.oseq)
            .ok_or_else(|| anyhow!("group {} has no order", c.gseq))?;
        msgs.push(Msg::CreateLease { bid: order.id.bid(c.provider) });
    }
    let leased = ctx.broadcast(msgs).await?;
    say.line(format!(
        "[3/5] {} leases at height {} (the gang formed: all pay from this block)",
        choices.len(),
        leased.height.unwrap_or_default()
    ));
    let providers: Vec<Provider> = client.all("/providers", &Filter::default()).await.map_err(client_error)?;
    for c in &choices {
        let p = providers.iter().find(|p| p.owner == c.provider);
        let region = p.and_then(|p| p.attributes.iter().find(|a| a.key == "region")).map(|a| a.value.as_str());
        let gpu = p
            .map(|p| {
                p.attributes
                    .iter()
                    .filter_map(|a| a.key.strip_prefix("capabilities/gpu/vendor/nvidia/model/"))
                    .filter(|m| !m.contains('/'))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| "-".into());
        say.line(format!(
            "      {:<12} {:<10} gpu {:<10} region {:<11} {}{}/block",
            role_of(c.gseq),
            provider_label(&ctx.home, &c.provider),
            gpu,
            region.unwrap_or("-"),
            c.price.short(),
            denom
        ));
    }

    // 4. Manifests, then the coordinator's published address for the workers.
    let manifest = crate::cmd::tenant::load_manifest(&sdl_path)?;
    let mut sent: Vec<Address> = Vec::new();
    for c in &choices {
        if sent.contains(&c.provider) {
            continue;
        }
        let pc = provider_client(ctx, &c.provider).await?;
        pc.send_manifest(&owner, dseq, &manifest).await.map_err(client_error)?;
        sent.push(c.provider);
    }
    say.line(format!("[4/5] manifest sent to {} provider(s); waiting for the coordinator's port", sent.len()));
    let coord = choices
        .iter()
        .find(|c| Some(c.gseq) == roles.get(COORDINATOR).copied())
        .ok_or_else(|| anyhow!("no coordinator lease"))?;
    let coord_lease = info
        .orders
        .iter()
        .filter(|o| o.id.gseq == coord.gseq)
        .max_by_key(|o| o.id.oseq)
        .map(|o| o.id.bid(coord.provider));
    let coord_lease = coord_lease.ok_or_else(|| anyhow!("no coordinator order"))?;
    let addr = coordinator_address(ctx, &coord_lease, Duration::from_secs(120)).await?;
    let bytes = addr.clone().into_bytes();
    off_runtime(checkpoints, move |s| s.put("coordinator", bytes))?;
    say.line(format!("      coordinator at {addr} (workers find it at {coordinator_url})"));
    let members = choices
        .iter()
        .map(|c| Member {
            role: role_of(c.gseq),
            provider: provider_label(&ctx.home, &c.provider),
            lease: info
                .orders
                .iter()
                .filter(|o| o.id.gseq == c.gseq)
                .max_by_key(|o| o.id.oseq)
                .map(|o| o.id.bid(c.provider).to_string())
                .unwrap_or_default(),
            state: "starting".into(),
        })
        .collect();
    save_status(
        &ctx.home,
        &JobStatus {
            job: name,
            state: JobState::Starting,
            step: 0,
            loss: None,
            members,
            replacements: 0,
            paid: format!("0{denom}"),
            error: None,
            pid: None,
            dseq,
            checkpoint: ckpt_url.to_string(),
            blocks_to_first_step: None,
            seconds_to_first_step: None,
            last_heal_s: None,
            val_loss: None,
        },
    );
    Ok(record)
}

/// Storage calls block on a runtime of their own, which cannot start inside this one: they run on
/// a plain thread (briefly blocking this one).
fn off_runtime<T: Send + 'static>(
    store: &stratus_train::storage::Storage,
    f: impl FnOnce(&stratus_train::storage::Storage) -> Result<T, stratus_train::storage::StorageError> + Send + 'static,
) -> anyhow::Result<T> {
    let store = store.clone();
    std::thread::spawn(move || f(&store)).join().map_err(|_| anyhow!("a storage call panicked"))?.map_err(Into::into)
}

/// The coordinator's published `host:port`, once its provider runs it.
async fn coordinator_address(ctx: &Ctx, lease: &LeaseId, timeout: Duration) -> anyhow::Result<String> {
    let pc = provider_client(ctx, &lease.provider).await?;
    let t = Instant::now();
    loop {
        if let Ok(st) = pc.lease_status(lease).await
            && let Some(svc) = st.services.iter().find(|s| s.name == COORDINATOR)
            && let Some(p) = svc.ports.iter().find(|p| p.port == u32::from(COORDINATOR_PORT) && p.global)
        {
            return Ok(format!("{}:{}", p.host, p.host_port));
        }
        if t.elapsed() > timeout {
            bail!("the coordinator's provider did not publish its port within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Blocks after the orders opened before the assignment stops waiting for slow providers.
const SLOW_PROVIDER_BLOCKS: u64 = 4;
/// Blocks with no feasible assignment after which `up` gives up (and says why).
const NO_ASSIGNMENT_BLOCKS: u64 = 12;

/// Waits for bids on the needed groups' open orders, then assigns; excluded providers (dead
/// ones, when healing) are never chosen.
pub async fn collect_and_assign(
    ctx: &Ctx,
    record: &JobRecord,
    need: &Need,
    excluded: &BTreeMap<Address, String>,
    opened_at: u64,
    say: Say,
) -> anyhow::Result<Vec<assign::Choice>> {
    let client = ctx.client();
    let key = ctx.signer()?;
    let providers: Vec<Provider> = client.all("/providers", &Filter::default()).await.map_err(client_error)?;
    let mut views = Vec::new();
    for p in &providers {
        views.push(ProviderView::connect(p, key.clone()).await);
    }
    let groups: Vec<u32> = need.coordinator.iter().copied().chain(need.workers.iter().copied()).collect();
    let rules = Rules {
        max_workers_per_provider: record.cluster.max_workers_per_provider,
        regions: record.cluster.regions.clone(),
    };
    loop {
        let height = client.status().await.map_err(client_error)?.height;
        let bids: Vec<Bid> = client
            .bids(&Filter {
                owner: Some(record.owner),
                dseq: Some(record.dseq),
                state: Some("open".into()),
                limit: Some(1000),
                ..Filter::default()
            })
            .await
            .map_err(client_error)?
            .items;
        let offers: Vec<Offer> = bids
            .iter()
            .filter(|b| groups.contains(&b.id.gseq))
            .map(|b| Offer { gseq: b.id.gseq, provider: b.id.provider, price: b.price.amount })
            .collect();
        let mut facts = Vec::new();
        let mut undecided = false;
        for v in &mut views {
            let decisions = v.decisions(&record.owner, record.dseq).await;
            let relevant: Vec<_> = decisions.iter().filter(|d| groups.contains(&d.order.gseq)).collect();
            let open_orders_seen = relevant.iter().filter(|d| d.height >= opened_at).count();
            if v.reachable() && open_orders_seen < groups.len() && !excluded.contains_key(&v.provider.owner) {
                undecided = true;
            }
            // Why it declined a worker's order (the GPUs are what usually differ), else any.
            let declined = relevant
                .iter()
                .rev()
                .filter(|d| d.bid.is_none())
                .max_by_key(|d| need.workers.contains(&d.order.gseq))
                .map(|d| d.reason.clone());
            facts.push(ProviderFacts {
                address: v.provider.owner,
                label: provider_label(&ctx.home, &v.provider.owner),
                region: v.attribute("region").map(String::from),
                excluded: excluded
                    .get(&v.provider.owner)
                    .cloned()
                    .or_else(|| (!v.reachable()).then(|| "its gateway cannot be reached".to_string())),
                declined,
            });
        }
        let waited = height.saturating_sub(opened_at);
        let result = assign::assign(need, &offers, &facts, &rules);
        match result {
            Ok(choices) if !undecided || waited >= SLOW_PROVIDER_BLOCKS => {
                let mut per_provider: BTreeMap<String, (usize, Dec)> = BTreeMap::new();
                for o in &offers {
                    let e = per_provider.entry(provider_label(&ctx.home, &o.provider)).or_insert((0, o.price));
                    e.0 += 1;
                    e.1 = e.1.min(o.price);
                }
                let list: Vec<String> =
                    per_provider.iter().map(|(p, (n, min))| format!("{p} {n} from {}", min.short())).collect();
                say.line(format!("      bids: {} ({})", offers.len(), list.join(", ")));
                return Ok(choices);
            }
            Err(why) if waited >= NO_ASSIGNMENT_BLOCKS => {
                let mut lines = vec![format!("{} after {waited} blocks:", why.summary)];
                lines.extend(why.providers.iter().map(|p| format!("  {p}")));
                return Err(Failed(lines.join("\n")).into());
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The newest order's lease of each group, if active.
pub fn active_lease_of(leases: &[Lease], gseq: u32) -> Option<&Lease> {
    leases.iter().filter(|l| l.id.gseq == gseq && l.is_active()).max_by_key(|l| l.id.oseq)
}

/// The jobs `train up` keeps in a home, for the web console.
pub struct HomeJobs(pub PathBuf);

/// The most round lines the console is given per job (the newest).
const CONSOLE_ROUNDS: usize = 2000;

impl stratus_console::Jobs for HomeJobs {
    fn list(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(self.0.join("jobs")) else { return Vec::new() };
        let mut names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
        names.sort();
        names.iter().filter_map(|n| load_status(&self.0, n)).filter_map(|s| serde_json::to_value(s).ok()).collect()
    }

    fn get(&self, job: &str) -> Option<Value> {
        let job = job_name(job).ok()?;
        let status = load_status(&self.0, &job)?;
        let text = std::fs::read_to_string(job_dir(&self.0, &job).join("metrics.jsonl")).unwrap_or_default();
        let lines = text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok());
        let (mut rounds, mut events) = (Vec::new(), Vec::new());
        for v in lines {
            match v["type"].as_str() {
                Some("round") => rounds.push(v),
                Some("member" | "resumed" | "warning" | "started") => events.push(v),
                _ => {}
            }
        }
        let skip = rounds.len().saturating_sub(CONSOLE_ROUNDS);
        let rounds: Vec<Value> = rounds.into_iter().skip(skip).collect();
        Some(serde_json::json!({ "status": status, "rounds": rounds, "events": events }))
    }
}
