//! The provider's and auditor's side: `provider register|update|show|list`, `bid create|close`,
//! `audit sign|delete|list`.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use stratus_client::Filter;
use stratus_types::attributes::Attribute;
use stratus_types::coin::Coin;
use stratus_types::dec::Dec;
use stratus_types::group::DecCoin;
use stratus_types::market::{BidId, CloseReason, OrderId, ProviderInfo};
use stratus_types::params::Params;
use stratus_types::tx::Msg;

use crate::cmd::ctx::{Ctx, block_on, client_error, table};
use crate::flags::{AuditCommand, BidCommand, ProviderArgs, ProviderCommand};

/// `KEY=VALUE` pairs.
pub fn parse_attributes(pairs: &[String]) -> anyhow::Result<Vec<Attribute>> {
    pairs
        .iter()
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or_else(|| anyhow!("attribute {p:?}: expected KEY=VALUE"))?;
            Ok(Attribute::new(k.trim(), v.trim()))
        })
        .collect()
}

/// `1.5uact`: a decimal amount, then the denomination.
pub fn parse_dec_coin(s: &str) -> anyhow::Result<DecCoin> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| anyhow!("{s:?}: missing denomination, e.g. 1.5uact"))?;
    let (amount, denom) = s.split_at(split);
    let amount: Dec = amount.parse().map_err(|e| anyhow!("{s:?}: {e}"))?;
    if !stratus_types::group::is_valid_denom(denom) {
        bail!("{s:?}: {denom:?} is not a denomination");
    }
    Ok(DecCoin::new(denom, amount))
}

fn provider_msg(args: ProviderArgs, update: bool) -> anyhow::Result<Msg> {
    let attributes = parse_attributes(&args.attributes)?;
    let info = ProviderInfo { email: args.email, website: args.website, tls_sha256: args.tls_sha256 };
    Ok(if update {
        Msg::UpdateProvider { host_uri: args.host_uri, attributes, info }
    } else {
        Msg::CreateProvider { host_uri: args.host_uri, attributes, info }
    })
}

pub fn provider(ctx: &Ctx, cmd: ProviderCommand) -> anyhow::Result<ExitCode> {
    if let ProviderCommand::Run(args) = &cmd {
        return run_daemon(ctx, &args.config);
    }
    if let ProviderCommand::Benchmark(args) = &cmd {
        return super::benchmark::benchmark(ctx, args);
    }
    block_on(async {
        let client = ctx.client();
        match cmd {
            ProviderCommand::Register(args) => {
                let result = ctx.broadcast(vec![provider_msg(args, false)?]).await?;
                ctx.print_submitted(&result, &format!("provider {} registered", ctx.signer_address()?))?;
            }
            ProviderCommand::Update(args) => {
                let result = ctx.broadcast(vec![provider_msg(args, true)?]).await?;
                ctx.print_submitted(&result, "provider updated")?;
            }
            ProviderCommand::Show(s) => {
                let address = ctx.address(s.address.as_deref())?;
                let p = client.provider(&address).await.map_err(client_error)?;
                let audits = client.audits(&address).await.map_err(client_error)?;
                ctx.print(&serde_json::json!({ "provider": p, "audits": audits }), || {
                    let mut out = format!("provider {}\nhost {}\n", p.owner, p.host_uri);
                    if !p.info.tls_sha256.is_empty() {
                        out.push_str(&format!("tls sha256 {}\n", p.info.tls_sha256));
                    }
                    for a in &p.attributes {
                        out.push_str(&format!("  {}={}\n", a.key, a.value));
                    }
                    for au in &audits {
                        out.push_str(&format!("audited by {}:\n", au.auditor));
                        for a in &au.attributes {
                            out.push_str(&format!("  {}={}\n", a.key, a.value));
                        }
                    }
                    out
                })?;
            }
            // Handled above, before a runtime exists.
            ProviderCommand::Run(_) | ProviderCommand::Benchmark(_) => {}
            ProviderCommand::List(args) => {
                let page = client
                    .providers(&Filter { limit: Some(args.limit), ..Filter::default() })
                    .await
                    .map_err(client_error)?;
                ctx.print(&page, || {
                    let rows: Vec<Vec<String>> = page
                        .items
                        .iter()
                        .map(|p| vec![p.owner.to_string(), p.host_uri.clone(), p.attributes.len().to_string()])
                        .collect();
                    table(&["provider", "host", "attributes"], &rows)
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })?
}

pub fn bid(ctx: &Ctx, cmd: BidCommand) -> anyhow::Result<ExitCode> {
    block_on(async {
        match cmd {
            BidCommand::Create(args) => {
                let order: OrderId = args.order.parse().map_err(|e| anyhow!("{e}"))?;
                let price = parse_dec_coin(&args.price).map_err(|e| anyhow!("--price {e}"))?;
                let deposit = match &args.deposit {
                    Some(d) => d.parse::<Coin>().map_err(|e| anyhow!("--deposit: {e}"))?,
                    None => {
                        let params = ctx.client().params().await.map_err(client_error)?;
                        Coin::new(Params::min_deposit(&params.bid_min_deposit, &price.denom), price.denom.clone())
                    }
                };
                let msg = Msg::CreateBid { order: order.clone(), price, deposit, offer: Vec::new() };
                let result = ctx.broadcast(vec![msg]).await?;
                ctx.print_submitted(&result, &format!("bid on order {order}"))?;
            }
            BidCommand::Close(args) => {
                let bid: BidId = args.bid.parse().map_err(|e| anyhow!("{e}"))?;
                let result = ctx.broadcast(vec![Msg::CloseBid { bid, reason: CloseReason::Unspecified }]).await?;
                ctx.print_submitted(&result, "bid closed")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })?
}

pub fn audit(ctx: &Ctx, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    block_on(async {
        match cmd {
            AuditCommand::Sign(args) => {
                let provider = ctx.address(Some(&args.provider))?;
                let attributes = parse_attributes(&args.attributes)?;
                let result = ctx.broadcast(vec![Msg::SignProviderAttributes { provider, attributes }]).await?;
                ctx.print_submitted(&result, &format!("attributes of {provider} signed"))?;
            }
            AuditCommand::Delete(args) => {
                let provider = ctx.address(Some(&args.provider))?;
                let result = ctx.broadcast(vec![Msg::DeleteProviderAttributes { provider, keys: args.keys }]).await?;
                ctx.print_submitted(&result, "attributes deleted")?;
            }
            // Handled before a runtime exists (it runs its own).
            AuditCommand::Benchmark(_) => {}
            AuditCommand::List(s) => {
                let address = ctx.address(s.address.as_deref())?;
                let audits = ctx.client().audits(&address).await.map_err(client_error)?;
                ctx.print(&audits, || {
                    let rows: Vec<Vec<String>> = audits
                        .iter()
                        .flat_map(|au| {
                            au.attributes.iter().map(|a| vec![au.auditor.to_string(), a.key.clone(), a.value.clone()])
                        })
                        .collect();
                    table(&["auditor", "key", "value"], &rows)
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })?
}

/// `stratus provider run --config provider.toml`: the daemon, until Ctrl-C or SIGTERM (workloads
/// keep running; a restart re-adopts them).
fn run_daemon(ctx: &Ctx, config: &std::path::Path) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let cfg = stratus_provider::config::ProviderConfig::load(config)?;
    let keyring = ctx.keyring();
    let pass = match keyring.backend(&cfg.raw.key)? {
        stratus_client::keys::Backend::Test => None,
        stratus_client::keys::Backend::File => {
            crate::cmd::ctx::passphrase(&format!("passphrase for key {}: ", cfg.raw.key))?
        }
    };
    let key = keyring.signing_key(&cfg.raw.key, pass.as_deref())?;
    let exe = std::env::current_exe().map_err(|e| anyhow::anyhow!("cannot find the stratus binary: {e}"))?;
    crate::cmd::node::init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let home = ctx.home.clone();
    rt.block_on(stratus_provider::effects::daemon::run(
        cfg,
        key,
        &home,
        exe,
        crate::cmd::node::shutdown_signal(),
        |s| {
            println!("provider {}: gateway on https://{}", s.provider.address, s.gateway);
            let _ = std::io::stdout().flush();
        },
    ))?;
    // Workloads keep running; the next start adopts them.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(ExitCode::SUCCESS)
}
