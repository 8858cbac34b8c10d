//! Transactions reach every validator: each one this node newly admits is posted to the other
//! nodes' APIs (`POST /txs`), so whichever validator proposes next has it. A node that already
//! holds it answers at once and does not forward it again, so a transaction crosses each link
//! at most twice.

use std::time::Duration;

use tokio::sync::mpsc;

/// Posts each admitted transaction to every peer API; a peer that is down is retried a few
/// times, then skipped (the transaction still reaches the chain through the other validators,
/// and through this node's own proposals).
pub async fn run(mut admitted: mpsc::Receiver<Vec<u8>>, peers: Vec<String>) {
    stratus_client::install_tls_provider();
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(5)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("transaction forwarding is off: {e}");
            return;
        }
    };
    let peers: Vec<String> = peers.into_iter().map(|p| format!("{}/txs", p.trim_end_matches('/'))).collect();
    while let Some(tx) = admitted.recv().await {
        let body = serde_json::json!({ "tx": hex::encode(&tx) });
        for url in &peers {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                for attempt in 0..3u32 {
                    match client.post(&url).json(&body).send().await {
                        // 400 included: the peer has it committed already, or judges it as we did.
                        Ok(r) if r.status().as_u16() < 500 => return,
                        Ok(r) => tracing::debug!(%url, status = %r.status(), "forwarding a transaction failed"),
                        Err(e) => tracing::debug!(%url, "forwarding a transaction failed: {e}"),
                    }
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            });
        }
    }
}
