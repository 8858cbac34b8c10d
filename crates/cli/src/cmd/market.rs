//! The tenant's journey: `deploy create|status|update|close|deposit|list`, `bids`,
//! `lease create|close|withdraw|list`, `group close|pause|start`.

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use stratus_client::Filter;
use stratus_types::address::Address;
use stratus_types::api::DeploymentInfo;
use stratus_types::coin::Coin;
use stratus_types::market::{Bid, BidId, DeploymentId, Lease};
use stratus_types::tx::Msg;

use crate::cmd::ctx::{Ctx, Failed, block_on, client_error, table};
use crate::flags::{BidsArgs, DeployCommand, GroupCommand, LeaseCommand, ListArgs};

fn load_sdl(file: &std::path::Path) -> anyhow::Result<stratus_sdl::Sdl> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    parse_sdl(&file.display().to_string(), &bytes)
}

/// Parses SDL bytes read from `name`: warnings go to stderr, errors become one [`Failed`].
pub fn parse_sdl(name: &str, bytes: &[u8]) -> anyhow::Result<stratus_sdl::Sdl> {
    let parsed = stratus_sdl::parse(bytes);
    for d in parsed.warnings() {
        eprintln!("{}", d.render(name));
    }
    match parsed.sdl {
        Some(sdl) => Ok(sdl),
        None => {
            let errors: Vec<String> = parsed.errors().map(|d| d.render(name)).collect();
            Err(Failed(errors.join("\n")).into())
        }
    }
}

pub fn deploy(ctx: &Ctx, cmd: DeployCommand) -> anyhow::Result<ExitCode> {
    block_on(async {
        match cmd {
            DeployCommand::Create(args) => {
                let sdl = load_sdl(&args.file)?;
                let deposit: Coin = args.deposit.parse().map_err(|e| anyhow!("--deposit: {e}"))?;
                let owner = ctx.signer_address()?;
                let dseq = match args.dseq {
                    Some(d) => d,
                    None => free_dseq(ctx, owner).await?,
                };
                let msg = Msg::CreateDeployment {
                    dseq,
                    groups: sdl.groups,
                    version: sdl.manifest_version,
                    deposit,
                    gang: args.gang,
                };
                let result = ctx.broadcast(vec![msg]).await?;
                let bytes =
                    std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
                crate::cmd::tenant::keep_sdl(ctx, &owner, dseq, &bytes)?;
                let id = DeploymentId { owner, dseq };
                ctx.print(&serde_json::json!({ "dseq": dseq, "owner": owner, "tx": result }), || {
                    format!(
                        "deployment {id} created at height {} (dseq {dseq}); orders are open for bids\nnext: stratus bids {dseq}",
                        result.height.unwrap_or_default()
                    )
                })?;
            }
            DeployCommand::Status(r) => {
                let owner = ctx.address(r.owner.as_deref())?;
                let client = ctx.client();
                let info = client.deployment(&DeploymentId { owner, dseq: r.dseq }).await.map_err(client_error)?;
                let bids = client
                    .bids(&Filter { owner: Some(owner), dseq: Some(r.dseq), limit: Some(1000), ..Filter::default() })
                    .await
                    .map_err(client_error)?
                    .items;
                let value = serde_json::json!({ "deployment": info, "bids": bids });
                ctx.print(&value, || render_status(&info, &bids))?;
            }
            DeployCommand::Update(args) => {
                let sdl = load_sdl(&args.file)?;
                // The ledger records only the new version; providers then refuse a manifest whose
                // groups differ from what their leases pay for. Refuse it here, before it costs.
                let owner = ctx.signer_address()?;
                let info =
                    ctx.client().deployment(&DeploymentId { owner, dseq: args.dseq }).await.map_err(client_error)?;
                let on_ledger: Vec<_> = info.groups.iter().map(|g| g.spec.clone()).collect();
                let diff = stratus_types::group::group_differences(&on_ledger, &sdl.groups);
                if !diff.is_empty() {
                    return Err(Failed(format!(
                        "{} cannot update deployment {}: {}; an update may change images, commands, env and prices only — create a new deployment for other resources",
                        args.file.display(),
                        args.dseq,
                        diff.join("; ")
                    ))
                    .into());
                }
                let result = ctx
                    .broadcast(vec![Msg::UpdateDeployment { dseq: args.dseq, version: sdl.manifest_version }])
                    .await?;
                ctx.print_submitted(
                    &result,
                    &format!("deployment {} updated to version {}", args.dseq, sdl.version_hex()),
                )?;
                let bytes =
                    std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
                crate::cmd::tenant::keep_sdl(ctx, &owner, args.dseq, &bytes)?;
                // Running leases get the new manifest right away.
                match crate::cmd::tenant::send_manifest_to(ctx, owner, args.dseq, &args.file).await {
                    Ok(done) => {
                        for d in done {
                            eprintln!("manifest sent to {d}");
                        }
                    }
                    Err(e) => eprintln!(
                        "warning: the new manifest was not sent ({e:#}); retry with `stratus lease send-manifest {}`",
                        args.dseq
                    ),
                }
            }
            DeployCommand::Close(r) => {
                if r.owner.is_some() {
                    bail!("only the owner closes a deployment; sign with --from OWNER");
                }
                let result = ctx.broadcast(vec![Msg::CloseDeployment { dseq: r.dseq }]).await?;
                ctx.print_submitted(&result, &format!("deployment {} closed", r.dseq))?;
            }
            DeployCommand::Deposit(args) => {
                let owner = ctx.address(args.owner.as_deref())?;
                let amount: Coin = args.amount.parse().map_err(|e| anyhow!("amount: {e}"))?;
                let msg = Msg::DepositDeployment { deployment: DeploymentId { owner, dseq: args.dseq }, amount };
                let result = ctx.broadcast(vec![msg]).await?;
                ctx.print_submitted(&result, "deposited")?;
            }
            DeployCommand::List(args) => {
                let filter = list_filter(ctx, &args, true)?;
                let page = ctx.client().deployments(&filter).await.map_err(client_error)?;
                ctx.print(&page, || {
                    let rows: Vec<Vec<String>> = page
                        .items
                        .iter()
                        .map(|d| {
                            vec![d.id.owner.to_string(), d.id.dseq.to_string(), d.state.to_string(), d.denom.clone()]
                        })
                        .collect();
                    table(&["owner", "dseq", "state", "denom"], &rows)
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })?
}

/// The current height if the owner has no deployment there, else the next free one.
pub async fn free_dseq(ctx: &Ctx, owner: Address) -> anyhow::Result<u64> {
    let client = ctx.client();
    let mut dseq = client.status().await.map_err(client_error)?.height.max(1);
    loop {
        match client.deployment(&DeploymentId { owner, dseq }).await {
            Err(stratus_client::ClientError::NotFound(_)) => return Ok(dseq),
            Ok(_) => dseq += 1,
            Err(e) => return Err(client_error(e)),
        }
    }
}

fn list_filter(ctx: &Ctx, args: &ListArgs, default_owner: bool) -> anyhow::Result<Filter> {
    let owner = match (&args.owner, default_owner && ctx.from.is_some() && args.provider.is_none()) {
        (Some(o), _) => Some(ctx.address(Some(o))?),
        (None, true) => Some(ctx.signer_address()?),
        (None, false) => None,
    };
    let provider = args.provider.as_deref().map(|p| ctx.address(Some(p))).transpose()?;
    Ok(Filter { owner, provider, state: args.state.clone(), limit: Some(args.limit), ..Filter::default() })
}

fn render_status(info: &DeploymentInfo, bids: &[Bid]) -> String {
    let d = &info.deployment;
    let mut out = format!(
        "deployment {}/{}  {}  version {}  created at {}\n",
        d.id.owner,
        d.id.dseq,
        d.state,
        hex::encode(d.version),
        d.created_at
    );
    if let Some(e) = &info.escrow {
        out.push_str(&format!(
            "escrow {}  balance {}{}  deposited {}{}  paid {}{}{}\n",
            e.state,
            e.balance.short(),
            e.denom,
            e.total_deposited,
            e.denom,
            e.total_transferred.short(),
            e.denom,
            e.exhausted_at.map(|h| format!("  runs out at height {h}")).unwrap_or_default()
        ));
    }
    out.push('\n');
    let groups: Vec<Vec<String>> =
        info.groups.iter().map(|g| vec![g.id.gseq.to_string(), g.spec.name.clone(), g.state.to_string()]).collect();
    out.push_str(&table(&["gseq", "group", "state"], &groups));
    out.push_str("\n\n");
    let orders: Vec<Vec<String>> = info
        .orders
        .iter()
        .map(|o| vec![format!("{}/{}", o.id.gseq, o.id.oseq), o.state.to_string(), o.bid_count.to_string()])
        .collect();
    out.push_str(&table(&["order", "state", "bids"], &orders));
    out.push_str("\n\n");
    out.push_str(&render_bids(bids));
    out.push_str("\n\n");
    out.push_str(&render_leases(&info.leases));
    out
}

fn render_bids(bids: &[Bid]) -> String {
    let rows: Vec<Vec<String>> = bids
        .iter()
        .map(|b| {
            vec![
                format!("{}/{}", b.id.gseq, b.id.oseq),
                b.id.provider.to_string(),
                format!("{}{}", b.price.amount.short(), b.price.denom),
                b.state.to_string(),
                b.expires_at.to_string(),
            ]
        })
        .collect();
    table(&["order", "provider", "price/block", "state", "expires at"], &rows)
}

fn render_leases(leases: &[Lease]) -> String {
    let rows: Vec<Vec<String>> = leases
        .iter()
        .map(|l| {
            vec![
                format!("{}/{}/{}", l.id.dseq, l.id.gseq, l.id.oseq),
                l.id.provider.to_string(),
                format!("{}{}", l.price.amount.short(), l.price.denom),
                l.state.to_string(),
                format!("{}{}", l.accrued.short(), l.price.denom),
            ]
        })
        .collect();
    table(&["lease", "provider", "price/block", "state", "accrued"], &rows)
}

pub fn bids(ctx: &Ctx, args: BidsArgs) -> anyhow::Result<ExitCode> {
    block_on(async {
        let owner = ctx.address(args.owner.as_deref())?;
        let filter = Filter {
            owner: Some(owner),
            dseq: Some(args.dseq),
            state: args.state,
            limit: Some(1000),
            ..Filter::default()
        };
        let page = ctx.client().bids(&filter).await.map_err(client_error)?;
        // No bids: ask every provider why (needs --from, the owner's key, to sign).
        let reasons = if page.items.is_empty() && ctx.from.is_some() {
            crate::cmd::tenant::why_no_bids(ctx, &owner, args.dseq).await.unwrap_or_default()
        } else {
            Vec::new()
        };
        let value = serde_json::json!({ "items": page.items, "next": page.next, "providers": reasons });
        ctx.print(&value, || {
            if page.items.is_empty() {
                let mut out = format!("no bids on deployment {}/{} yet", owner, args.dseq);
                if reasons.is_empty() {
                    out.push_str(" (providers bid within a few blocks)");
                } else {
                    out.push_str(":\n");
                    out.push_str(&reasons.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n"));
                }
                return out;
            }
            render_bids(&page.items)
        })?;
        Ok(ExitCode::SUCCESS)
    })?
}

pub fn lease(ctx: &Ctx, cmd: LeaseCommand) -> anyhow::Result<ExitCode> {
    block_on(async {
        let client = ctx.client();
        match cmd {
            LeaseCommand::Create(args) => {
                let owner = ctx.address(args.owner.as_deref())?;
                let provider = ctx.address(Some(&args.provider))?;
                let filter = Filter {
                    owner: Some(owner),
                    dseq: Some(args.dseq),
                    provider: Some(provider),
                    state: Some("open".into()),
                    limit: Some(1000),
                    ..Filter::default()
                };
                let bids: Vec<Bid> = client
                    .bids(&filter)
                    .await
                    .map_err(client_error)?
                    .items
                    .into_iter()
                    .filter(|b| args.gseq.is_none_or(|g| b.id.gseq == g))
                    .collect();
                if bids.is_empty() {
                    return Err(Failed(format!(
                        "provider {provider} has no open bid on deployment {owner}/{}{}; see `stratus bids {}`",
                        args.dseq,
                        args.gseq.map(|g| format!(" group {g}")).unwrap_or_default(),
                        args.dseq
                    ))
                    .into());
                }
                let msgs = bids.iter().map(|b| Msg::CreateLease { bid: b.id.clone() }).collect();
                let result = ctx.broadcast(msgs).await?;
                ctx.print_submitted(&result, &format!("{} lease(s) created with {provider}", bids.len()))?;
                let kept = crate::cmd::tenant::sdl_copy(ctx, &owner, args.dseq);
                if args.owner.is_none() && kept.exists() {
                    match crate::cmd::tenant::send_manifest_to(ctx, owner, args.dseq, &kept).await {
                        Ok(_) => eprintln!("manifest sent to {provider}"),
                        Err(e) => eprintln!(
                            "warning: the manifest was not sent ({e:#}); retry with `stratus lease send-manifest {}`",
                            args.dseq
                        ),
                    }
                }
            }
            LeaseCommand::Close(args) => {
                let ids: Vec<BidId> = match args.lease.parse::<BidId>() {
                    Ok(id) => vec![id],
                    Err(_) => {
                        let dseq: u64 = args.lease.parse().map_err(|_| {
                            anyhow!("{:?} is neither a DSEQ nor a lease id owner/dseq/gseq/oseq/provider", args.lease)
                        })?;
                        let owner = ctx.signer_address()?;
                        let provider = args.provider.as_deref().map(|p| ctx.address(Some(p))).transpose()?;
                        let info = client.deployment(&DeploymentId { owner, dseq }).await.map_err(client_error)?;
                        info.leases
                            .into_iter()
                            .filter(|l| l.is_active() && provider.is_none_or(|p| l.id.provider == p))
                            .map(|l| l.id)
                            .collect()
                    }
                };
                if ids.is_empty() {
                    return Err(Failed(format!("no active lease matches {}", args.lease)).into());
                }
                // The ledger lets the tenant close with CloseLease and the provider with CloseBid
                // (a provider's own close of its bid-turned-lease): send the one that fits.
                let me = ctx.signer_address()?;
                let msgs = ids
                    .into_iter()
                    .map(|lease| {
                        if lease.provider == me && lease.owner != me {
                            Msg::CloseBid { bid: lease, reason: stratus_types::market::CloseReason::Unspecified }
                        } else {
                            Msg::CloseLease { lease }
                        }
                    })
                    .collect();
                let result = ctx.broadcast(msgs).await?;
                ctx.print_submitted(&result, "lease(s) closed")?;
            }
            LeaseCommand::Withdraw(args) => {
                let ids: Vec<BidId> = if args.leases.is_empty() {
                    let me = ctx.signer_address()?;
                    let filter = Filter {
                        provider: Some(me),
                        state: Some("active".into()),
                        limit: Some(1000),
                        ..Filter::default()
                    };
                    client.leases(&filter).await.map_err(client_error)?.items.into_iter().map(|l| l.id).collect()
                } else {
                    args.leases
                        .iter()
                        .map(|s| s.parse::<BidId>().map_err(|e| anyhow!("{e}")))
                        .collect::<Result<_, _>>()?
                };
                if ids.is_empty() {
                    return Err(Failed("no active leases to withdraw from".into()).into());
                }
                let msgs = ids.into_iter().map(|lease| Msg::WithdrawLease { lease }).collect();
                let result = ctx.broadcast(msgs).await?;
                ctx.print_submitted(&result, "withdrawn")?;
            }
            LeaseCommand::SendManifest(args) => return crate::cmd::tenant::send_manifest(ctx, args).await,
            LeaseCommand::Status(args) => return crate::cmd::tenant::status(ctx, args).await,
            LeaseCommand::Logs(args) => return crate::cmd::tenant::logs(ctx, args).await,
            LeaseCommand::Events(args) => return crate::cmd::tenant::events(ctx, args).await,
            LeaseCommand::Metrics(args) => return crate::cmd::tenant::metrics(ctx, args).await,
            LeaseCommand::List(args) => {
                let filter = list_filter(ctx, &args, true)?;
                let page = client.leases(&filter).await.map_err(client_error)?;
                ctx.print(&page, || render_leases(&page.items))?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })?
}

pub fn group(ctx: &Ctx, cmd: GroupCommand) -> anyhow::Result<ExitCode> {
    let (msg, what) = match cmd {
        GroupCommand::Close(g) => (Msg::CloseGroup { dseq: g.dseq, gseq: g.gseq }, "closed"),
        GroupCommand::Pause(g) => (Msg::PauseGroup { dseq: g.dseq, gseq: g.gseq }, "paused"),
        GroupCommand::Start(g) => (Msg::StartGroup { dseq: g.dseq, gseq: g.gseq }, "started"),
    };
    block_on(async {
        let result = ctx.broadcast(vec![msg]).await?;
        ctx.print_submitted(&result, &format!("group {what}"))?;
        Ok(ExitCode::SUCCESS)
    })?
}
