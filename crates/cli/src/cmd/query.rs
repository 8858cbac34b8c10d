//! `stratus query …`, `stratus send`, `stratus faucet`.

use std::process::ExitCode;

use anyhow::anyhow;
use stratus_client::Filter;
use stratus_client::node::StreamItem;
use stratus_types::coin::Coin;
use stratus_types::tx::Msg;

use crate::cmd::ctx::{Ctx, Failed, block_on, client_error, describe_event, table};
use crate::flags::{FaucetArgs, QueryCommand, SendArgs};

pub fn query(ctx: &Ctx, cmd: QueryCommand) -> anyhow::Result<ExitCode> {
    block_on(async {
        let client = ctx.client();
        match cmd {
            QueryCommand::Status => {
                let s = client.status().await.map_err(client_error)?;
                ctx.print(&s, || {
                    format!(
                        "chain {}  height {}  app hash {}\nblock time {} ms  mempool {} txs{}",
                        s.chain_id,
                        s.height,
                        hex::encode(s.app_hash),
                        s.block_time_ms,
                        s.mempool_txs,
                        if s.faucet { "  faucet on" } else { "" }
                    )
                })?;
            }
            QueryCommand::Params => {
                let p = client.params().await.map_err(client_error)?;
                ctx.print(&p, || serde_json::to_string_pretty(&p).unwrap_or_default())?;
            }
            QueryCommand::Account(a) => {
                let address = ctx.address(a.address.as_deref())?;
                let info = client.account(&address).await.map_err(client_error)?;
                ctx.print(&info, || {
                    let balances: Vec<String> = info.balances.iter().map(Coin::to_string).collect();
                    format!(
                        "{}\nsequence {} (next {})\nbalances {}",
                        info.address,
                        info.sequence,
                        info.next_sequence,
                        if balances.is_empty() { "none".to_string() } else { balances.join(", ") }
                    )
                })?;
            }
            QueryCommand::Tx(h) => {
                let hash: [u8; 32] = hex::decode(&h.hash)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| anyhow!("{:?} is not a transaction hash (64 hex digits)", h.hash))?;
                let tx = client.tx(&hash).await.map_err(client_error)?;
                ctx.print(&tx, || {
                    let mut out = format!(
                        "tx {} at height {} (index {}): {}\n",
                        hex::encode(tx.hash),
                        tx.height,
                        tx.index,
                        tx.error.as_deref().unwrap_or("ok")
                    );
                    for m in &tx.tx.body.msgs {
                        out.push_str(&format!("  message {}\n", m.name()));
                    }
                    for e in &tx.events {
                        out.push_str(&format!("  {}\n", describe_event(e)));
                    }
                    out
                })?;
            }
            QueryCommand::Block(b) => {
                let height: u64 = match b.height.as_str() {
                    "latest" => client.status().await.map_err(client_error)?.height,
                    h => h.parse().map_err(|_| anyhow!("{h:?} is not a height"))?,
                };
                let block = client.block(height).await.map_err(client_error)?;
                ctx.print(&block, || {
                    format!(
                        "block {}  time {} ms  app hash {}\n{} transactions",
                        block.height,
                        block.time_ms,
                        hex::encode(block.app_hash),
                        block.tx_hashes.len()
                    )
                })?;
            }
            QueryCommand::Orders(args) => {
                let owner = args.owner.as_deref().map(|o| ctx.address(Some(o))).transpose()?;
                let state = args.state.clone().or_else(|| Some("open".into()));
                let page = client
                    .orders(&Filter { owner, state, limit: Some(args.limit), ..Filter::default() })
                    .await
                    .map_err(client_error)?;
                ctx.print(&page, || {
                    let rows: Vec<Vec<String>> = page
                        .items
                        .iter()
                        .map(|o| vec![o.id.to_string(), o.state.to_string(), o.bid_count.to_string()])
                        .collect();
                    table(&["order", "state", "bids"], &rows)
                })?;
            }
            QueryCommand::Groups(args) => {
                let owner = args.owner.as_deref().map(|o| ctx.address(Some(o))).transpose()?;
                let page = client
                    .groups(&Filter { owner, state: args.state.clone(), limit: Some(args.limit), ..Filter::default() })
                    .await
                    .map_err(client_error)?;
                ctx.print(&page, || {
                    let rows: Vec<Vec<String>> = page
                        .items
                        .iter()
                        .map(|g| vec![g.id.to_string(), g.spec.name.clone(), g.state.to_string()])
                        .collect();
                    table(&["group", "name", "state"], &rows)
                })?;
            }
            QueryCommand::Events(args) => {
                let mut filters = Vec::new();
                if let Some(k) = args.kinds {
                    filters.push(("kinds", k));
                }
                if let Some(o) = &args.owner {
                    filters.push(("owner", ctx.address(Some(o))?.to_string()));
                }
                if let Some(p) = &args.provider {
                    filters.push(("provider", ctx.address(Some(p))?.to_string()));
                }
                let from = match args.from_height {
                    Some(h) => h,
                    None => client.status().await.map_err(client_error)?.height + 1,
                };
                let mut sub = client.subscribe(from, filters).await.map_err(client_error)?;
                let mut seen = 0u64;
                loop {
                    match sub.next().await.map_err(client_error)? {
                        StreamItem::Event(e) => {
                            seen += 1;
                            match ctx.output {
                                crate::flags::Output::Json => println!("{}", serde_json::to_string(&e)?),
                                crate::flags::Output::Table => {
                                    println!("{:>8}  {}", e.height, describe_event(&e.event))
                                }
                            }
                            if args.limit.is_some_and(|l| seen >= l) {
                                break;
                            }
                        }
                        StreamItem::Block(mark) => {
                            if args.to_height.is_some_and(|t| mark.height >= t) {
                                break;
                            }
                        }
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })?
}

pub fn send(ctx: &Ctx, args: SendArgs) -> anyhow::Result<ExitCode> {
    block_on(async {
        let to = ctx.address(Some(&args.to))?;
        let amount: Coin = args.amount.parse().map_err(|e| anyhow!("amount: {e}"))?;
        let result = ctx.broadcast(vec![Msg::Send { to, amount: amount.clone() }]).await?;
        ctx.print_submitted(&result, &format!("sent {amount} to {to}"))?;
        Ok(ExitCode::SUCCESS)
    })?
}

pub fn faucet(ctx: &Ctx, args: FaucetArgs) -> anyhow::Result<ExitCode> {
    block_on(async {
        let to = ctx.address(args.to.as_deref())?;
        let amount =
            args.amount.as_deref().map(str::parse::<Coin>).transpose().map_err(|e| anyhow!("--amount: {e}"))?;
        let result = ctx.client().faucet(&to, amount).await.map_err(client_error)?;
        if let Some(e) = &result.error {
            return Err(Failed(format!("faucet transaction failed: {e}")).into());
        }
        ctx.print_submitted(&result, &format!("faucet paid {to}"))?;
        Ok(ExitCode::SUCCESS)
    })?
}
