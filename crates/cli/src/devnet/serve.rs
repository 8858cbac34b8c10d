//! `stratus devnet serve`: the background process of a devnet. The node and the three provider
//! daemons share one async runtime; each provider is the same code `stratus provider run` runs.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use stratus_client::NodeClient;
use stratus_client::keys::Keyring;
use stratus_node::RunOptions;
use stratus_types::tx::Msg;
use tokio::sync::watch;

use super::{AUDITOR, Devnet, Ready};

fn stopped(rx: &watch::Receiver<bool>) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

pub fn serve(home: &Path) -> anyhow::Result<()> {
    let devnet = Devnet::load(home)?;
    if let Some(pid) = devnet.running_pid()
        && pid != std::process::id()
    {
        return Err(anyhow!("the devnet in {} already runs (pid {pid})", home.display()));
    }
    std::fs::write(devnet.pid_path(), std::process::id().to_string())
        .with_context(|| format!("writing {}", devnet.pid_path().display()))?;
    crate::cmd::node::init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = rt.block_on(run(&devnet));
    rt.shutdown_timeout(Duration::from_secs(2));
    let _ = std::fs::remove_file(devnet.ready_path());
    let _ = std::fs::remove_file(devnet.pid_path());
    result
}

async fn run(devnet: &Devnet) -> anyhow::Result<()> {
    let home = devnet.home.clone();
    let (stop_providers, providers_rx) = watch::channel(false);
    let (stop_node, node_rx) = watch::channel(false);
    let (node_up, mut node_up_rx) = watch::channel(None::<String>);

    let node_home = home.clone();
    let node_shutdown = stopped(&node_rx);
    let mut node = tokio::spawn(async move {
        stratus_node::run(&node_home, RunOptions::default(), node_shutdown, |r| {
            let _ = node_up.send(Some(format!("http://{}", r.api_addr)));
        })
        .await
    });
    tokio::select! {
        r = node_up_rx.wait_for(Option::is_some) => { r.map_err(|_| anyhow!("the node did not start"))?; }
        r = &mut node => { return r.map_err(|e| anyhow!("{e}"))?.context("the node stopped while starting"); }
    }

    let keyring = Keyring::new(&home);
    let exe = std::env::current_exe().context("cannot find the stratus binary")?;
    let mut providers = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<String>(8);
    for p in &devnet.file.providers {
        let cfg = stratus_provider::config::ProviderConfig::load(&home.join(&p.config))?;
        let key = keyring.signing_key(&p.key, None)?;
        let shutdown = stopped(&providers_rx);
        let (home, exe, name, ready) = (home.clone(), exe.clone(), p.name.clone(), ready_tx.clone());
        providers.push(tokio::spawn(async move {
            let result = stratus_provider::effects::daemon::run(cfg, key, &home, exe, shutdown, |s| {
                tracing::info!(provider = %name, gateway = %s.gateway, "devnet provider up");
                let _ = ready.try_send(name.clone());
            })
            .await;
            if let Err(e) = &result {
                tracing::error!(provider = %name, error = %format!("{e:#}"), "devnet provider stopped");
            }
            result
        }));
    }
    drop(ready_tx);
    let wanted = devnet.file.providers.len();
    let started = async {
        let mut up = 0;
        while up < wanted {
            if ready_rx.recv().await.is_none() {
                return Err(anyhow!("a provider stopped while starting (see the log above)"));
            }
            up += 1;
        }
        Ok(())
    };
    tokio::select! {
        r = started => r?,
        () = crate::cmd::node::shutdown_signal() => {
            let _ = stop_providers.send(true);
            let _ = stop_node.send(true);
            return Ok(());
        }
    }

    let client = NodeClient::new(&devnet.file.node);
    audit_providers(devnet, &client, &keyring).await?;
    let height = client.status().await.map(|s| s.height).unwrap_or_default();
    let ready = Ready { pid: std::process::id(), height };
    std::fs::write(devnet.ready_path(), serde_json::to_vec(&ready)?)?;
    tracing::info!(height, "devnet ready");

    tokio::select! {
        () = crate::cmd::node::shutdown_signal() => tracing::info!("stopping the devnet"),
        r = &mut node => tracing::error!(result = ?r.map(|r| r.map_err(|e| format!("{e:#}"))), "the node stopped"),
    }
    let _ = std::fs::remove_file(devnet.ready_path());
    // Providers first (they are the node's clients), then the node finishes its block.
    let _ = stop_providers.send(true);
    for p in providers {
        let _ = tokio::time::timeout(Duration::from_secs(10), p).await;
    }
    let _ = stop_node.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), node).await;
    tracing::info!("devnet stopped");
    Ok(())
}

/// The devnet's auditor signs each provider's published attributes once (it stands in for
/// Akash's community auditor, so templates with `signedBy` find audited providers).
async fn audit_providers(devnet: &Devnet, client: &NodeClient, keyring: &Keyring) -> anyhow::Result<()> {
    let key = keyring.signing_key(AUDITOR, None)?;
    let auditor = keyring.show(AUDITOR)?.address;
    let mut msgs = Vec::new();
    for p in &devnet.file.providers {
        let address = p.address.parse().map_err(|e| anyhow!("{e}"))?;
        let record = client.provider(&address).await.map_err(|e| anyhow!("{e}"))?;
        let audits = client.audits(&address).await.map_err(|e| anyhow!("{e}"))?;
        let signed = audits.iter().find(|a| a.auditor == auditor).map(|a| a.attributes.clone()).unwrap_or_default();
        if record.attributes.iter().all(|a| signed.contains(a)) {
            continue;
        }
        msgs.push(Msg::SignProviderAttributes { provider: address, attributes: record.attributes });
    }
    if msgs.is_empty() {
        return Ok(());
    }
    let result = client
        .send_msgs(&key, msgs, stratus_types::coin::Coin::new(0, "uact"), true)
        .await
        .map_err(|e| anyhow!("the auditor's signatures: {e}"))?;
    if let Some(err) = result.error {
        return Err(anyhow!("the auditor's signatures failed: {err}"));
    }
    Ok(())
}
