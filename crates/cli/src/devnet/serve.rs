//! `stratus devnet serve`: the background process of a devnet. The node and the provider daemons
//! share one async runtime; each provider is the same code `stratus provider run` runs. A
//! provider whose kill marker appears is crashed (its tasks aborted) and started again when the
//! marker goes (`stratus devnet provider kill|start`).

use std::collections::BTreeMap;
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
    // The other validators of a BFT devnet, in this process too; the chain moves once 2/3 of
    // them are up.
    for i in 1..devnet.file.validators {
        let validator_home = Devnet::validator_home(&home, i);
        let shutdown = stopped(&node_rx);
        tokio::spawn(async move {
            if let Err(e) = stratus_node::run(&validator_home, RunOptions::default(), shutdown, |_| {}).await {
                tracing::error!(validator = i, error = %format!("{e:#}"), "validator stopped");
            }
        });
    }
    tokio::select! {
        r = node_up_rx.wait_for(Option::is_some) => { r.map_err(|_| anyhow!("the node did not start"))?; }
        r = &mut node => { return r.map_err(|e| anyhow!("{e}"))?.context("the node stopped while starting"); }
    }

    if let Some(port) = devnet.file.console_port {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => {
                let (node, shutdown) = (devnet.file.node.clone(), stopped(&node_rx));
                // The devnet's home is where `train up` keeps its jobs.
                let jobs = std::sync::Arc::new(crate::cmd::train_up::HomeJobs(home.clone()));
                tokio::spawn(async move {
                    if let Err(e) = stratus_console::serve(listener, &node, jobs, shutdown).await {
                        tracing::error!(error = %format!("{e:#}"), "the console stopped");
                    }
                });
            }
            Err(e) => tracing::warn!(port, "the console cannot listen: {e}"),
        }
    }

    let keyring = Keyring::new(&home);
    let exe = std::env::current_exe().context("cannot find the stratus binary")?;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<String>(16);
    let mut providers: BTreeMap<String, RunningProvider> = BTreeMap::new();
    let mut wanted = 0;
    for p in &devnet.file.providers {
        if devnet.provider_killed(&p.name) {
            tracing::warn!(provider = %p.name, "left down: `stratus devnet provider start {}` brings it back", p.name);
            continue;
        }
        providers.insert(p.name.clone(), start_provider(devnet, &keyring, &exe, p, ready_tx.clone())?);
        wanted += 1;
    }
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
            stop_all(providers).await;
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

    // Until told to stop: crash and restart providers as `stratus devnet provider kill|start`
    // asks (a marker file per provider), and drain the ready channel of restarted ones.
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let shutdown = crate::cmd::node::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => { tracing::info!("stopping the devnet"); break; }
            r = &mut node => {
                tracing::error!(result = ?r.map(|r| r.map_err(|e| format!("{e:#}"))), "the node stopped");
                break;
            }
            Some(_) = ready_rx.recv() => {}
            _ = tick.tick() => {
                for p in &devnet.file.providers {
                    let killed = devnet.provider_killed(&p.name);
                    match (killed, providers.contains_key(&p.name)) {
                        (true, true) => {
                            if let Some(mut running) = providers.remove(&p.name) {
                                // A crash: the daemon's tasks (follow loop, gateway) are aborted
                                // where they are; nothing is said to the ledger. The kill command
                                // then SIGKILLs its workloads.
                                let _ = running.stop.send(true);
                                if tokio::time::timeout(Duration::from_secs(5), &mut running.task).await.is_err() {
                                    running.task.abort();
                                }
                                devnet.set_provider_state(&p.name, "down");
                                tracing::warn!(provider = %p.name, "provider killed");
                            }
                        }
                        (false, false) => match start_provider(devnet, &keyring, &exe, p, ready_tx.clone()) {
                            Ok(running) => {
                                providers.insert(p.name.clone(), running);
                            }
                            Err(e) => tracing::error!(provider = %p.name, error = %format!("{e:#}"), "cannot start"),
                        },
                        _ => {}
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_file(devnet.ready_path());
    // Providers first (they are the node's clients), then the node finishes its block.
    stop_all(providers).await;
    let _ = stop_node.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), node).await;
    tracing::info!("devnet stopped");
    Ok(())
}

struct RunningProvider {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts one provider daemon in this runtime; its name goes to `ready` once it serves.
fn start_provider(
    devnet: &Devnet,
    keyring: &Keyring,
    exe: &Path,
    p: &super::DevnetProvider,
    ready: tokio::sync::mpsc::Sender<String>,
) -> anyhow::Result<RunningProvider> {
    let home = devnet.home.clone();
    let cfg = stratus_provider::config::ProviderConfig::load(&home.join(&p.config))?;
    let key = keyring.signing_key(&p.key, None)?;
    let (stop, rx) = watch::channel(false);
    let shutdown = stopped(&rx);
    let (exe, name, state_devnet) =
        (exe.to_path_buf(), p.name.clone(), Devnet { home: home.clone(), file: devnet.file.clone() });
    let task = tokio::spawn(async move {
        let result = stratus_provider::effects::daemon::run(cfg, key, &home, exe, shutdown, |s| {
            tracing::info!(provider = %name, gateway = %s.gateway, "devnet provider up");
            state_devnet.set_provider_state(&name, "up");
            let _ = ready.try_send(name.clone());
        })
        .await;
        if let Err(e) = &result {
            tracing::error!(provider = %name, error = %format!("{e:#}"), "devnet provider stopped");
        }
        state_devnet.set_provider_state(&name, "down");
        result
    });
    Ok(RunningProvider { stop, task })
}

async fn stop_all(providers: BTreeMap<String, RunningProvider>) {
    for p in providers.values() {
        let _ = p.stop.send(true);
    }
    for (_, p) in providers {
        let _ = tokio::time::timeout(Duration::from_secs(10), p.task).await;
    }
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
