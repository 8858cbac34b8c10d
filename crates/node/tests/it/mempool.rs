//! Admission: bounded, ordered per signer, never a silent drop.

use stratus_client::ClientError;
use stratus_ledger::testkit::DENOM;
use stratus_types::coin::Coin;
use stratus_types::tx::Msg;

use crate::{Devnet, actors};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mempool_refuses_with_a_reason() {
    let a = actors(5);
    // No block for a minute: everything stays in the mempool.
    let net = Devnet::start(&a, |c| {
        c.block_time_ms = 60_000;
        c.mempool_max_txs = 3;
    })
    .await;
    let mut senders = a.clone();
    let to = a[0].address;
    for s in senders.iter_mut().take(3) {
        let tx = s.tx(vec![Msg::Send { to, amount: Coin::new(1, DENOM) }]);
        net.submit_raw(&tx, false).await.unwrap();
    }
    let tx = senders[3].tx(vec![Msg::Send { to, amount: Coin::new(1, DENOM) }]);
    match net.submit_raw(&tx, false).await {
        Err(ClientError::Api(m)) => assert!(m.contains("mempool is full (3 transactions"), "{m}"),
        other => panic!("expected a full mempool, got {other:?}"),
    }
    let raw = reqwest::Client::new()
        .post(format!("{}/txs", net.url))
        .json(&serde_json::json!({ "tx": hex::encode(tx.to_bytes()) }))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 503);
    assert_eq!(net.client.status().await.unwrap().mempool_txs, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_transactions_of_one_account_chain_their_sequences() {
    let mut a = actors(2);
    let net = Devnet::start(&a, |c| c.block_time_ms = 300).await;
    let to = a[1].address;
    let mut hashes = Vec::new();
    for i in 0..5u128 {
        let tx = a[0].tx(vec![Msg::Send { to, amount: Coin::new(i + 1, DENOM) }]);
        let r = net.submit_raw(&tx, false).await.unwrap();
        assert!(!r.committed);
        hashes.push(r.hash);
    }
    // The account reports the sequence after its pending transactions.
    let account = net.client.account(&a[0].address).await.unwrap();
    assert!(account.next_sequence >= account.sequence);
    assert_eq!(account.next_sequence, 5);
    // The last one waits for its block; all five apply in order.
    let last = a[0].tx(vec![Msg::Send { to, amount: Coin::new(100, DENOM) }]);
    let done = net.submit_raw(&last, true).await.unwrap();
    assert!(done.committed && done.error.is_none(), "{done:?}");
    for h in hashes {
        let tx = net.client.tx(&h).await.unwrap();
        assert_eq!(tx.error, None);
        assert!(tx.height <= done.height.unwrap());
    }
    let account = net.client.account(&a[0].address).await.unwrap();
    assert_eq!((account.sequence, account.next_sequence), (6, 6));
    assert_eq!(net.client.account(&to).await.unwrap().balances, vec![Coin::new(crate::FUNDS + 115, DENOM)]);
}
