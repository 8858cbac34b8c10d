//! Transactions reach every validator: each one this node newly admits from a client is sent to
//! every other node's API (`POST /txs/batch`), so whichever validator proposes next has it.
//! Transactions that arrive that way are not forwarded again (every node lists all the others).
//! One sender per peer keeps a signer's transactions in order, and sends whatever has queued
//! up meanwhile as one batch (one request and one batch signature check for many transactions).

use std::time::Duration;

use tokio::sync::mpsc;

/// Most bytes (hex) in one batch: under the API's 2 MiB body limit.
const BATCH_HEX_BYTES: usize = 1 << 20;

pub async fn run(mut admitted: mpsc::Receiver<Vec<u8>>, peers: Vec<String>) {
    stratus_client::install_tls_provider();
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("transaction forwarding is off: {e}");
            return;
        }
    };
    let mut queues = Vec::new();
    for peer in peers {
        let (send, recv) = mpsc::channel::<Vec<u8>>(50_000);
        queues.push(send);
        tokio::spawn(send_batches(client.clone(), format!("{}/txs/batch", peer.trim_end_matches('/')), recv));
    }
    while let Some(tx) = admitted.recv().await {
        for q in &queues {
            // A peer that is far behind (or down) loses transactions rather than holding memory;
            // they still reach the chain through this node's own proposals and the other peers.
            let _ = q.try_send(tx.clone());
        }
    }
}

async fn send_batches(client: reqwest::Client, url: String, mut queue: mpsc::Receiver<Vec<u8>>) {
    while let Some(first) = queue.recv().await {
        let mut txs = vec![hex::encode(first)];
        let mut size = txs[0].len();
        while size < BATCH_HEX_BYTES {
            match queue.try_recv() {
                Ok(tx) => {
                    let h = hex::encode(tx);
                    size += h.len();
                    txs.push(h);
                }
                Err(_) => break,
            }
        }
        let body = serde_json::json!({ "txs": txs });
        for attempt in 0..3u32 {
            match client.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => tracing::debug!(%url, status = %r.status(), "forwarding transactions failed"),
                Err(e) => tracing::debug!(%url, "forwarding transactions failed: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }
}
