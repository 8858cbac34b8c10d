//! `/events`: replay from a height, follow live blocks, resume without loss or duplicates.

use std::time::Duration;

use stratus_client::node::StreamItem;
use stratus_ledger::testkit::{DENOM, group};
use stratus_types::coin::Coin;
use stratus_types::event::Event;
use stratus_types::tx::Msg;

use crate::{Devnet, actors};

fn create(dseq: u64) -> Msg {
    Msg::CreateDeployment {
        dseq,
        groups: vec![group("web", 100, 1, None)],
        version: [1; 32],
        deposit: Coin::new(5_000_000, DENOM),
        gang: false,
    }
}

/// Reads the stream until height `to`, returning (events, mark heights).
async fn collect(sub: &mut stratus_client::node::Subscription, to: u64) -> (Vec<(u64, Event)>, Vec<u64>) {
    let mut events = Vec::new();
    let mut marks = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(20), sub.next()).await.expect("stream stalled").unwrap();
        match item {
            StreamItem::Event(e) => events.push((e.height, e.event)),
            StreamItem::Block(m) => {
                marks.push(m.height);
                if m.height >= to {
                    return (events, marks);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_then_live_delivers_every_block_once() {
    let mut a = actors(2);
    let net = Devnet::start(&a, |_| {}).await;
    let first = net.send(&mut a[0], vec![create(1)]).await.height.unwrap();
    // Subscribe from height 1 (replay), filtered to actor 0's deployment events.
    let filters = vec![("kinds", "deployment_created".to_string()), ("owner", a[0].address.to_string())];
    let mut sub = net.client.subscribe(1, filters).await.unwrap();
    // Live: one more for actor 0 and one for actor 1 (filtered out).
    let second = net.send(&mut a[0], vec![create(2)]).await.height.unwrap();
    net.send(&mut a[1], vec![create(3)]).await;
    let (events, marks) = collect(&mut sub, second + 2).await;
    assert_eq!(marks, (1..=second + 2).collect::<Vec<_>>(), "one mark per height, in order");
    let heights: Vec<u64> = events.iter().map(|(h, _)| *h).collect();
    assert_eq!(heights, vec![first, second]);
    assert!(events.iter().all(|(_, e)| e.owner() == Some(a[0].address) && e.kind() == "deployment_created"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_after_the_last_complete_block() {
    let mut a = actors(2);
    let net = Devnet::start(&a, |_| {}).await;
    let to = a[1].address;
    for _ in 0..3 {
        net.send(&mut a[0], vec![Msg::Send { to, amount: Coin::new(1, DENOM) }]).await;
    }
    let http = reqwest::Client::new();
    let mut resp = http.get(format!("{}/events?from_height=1&kinds=transfer", net.url)).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    while !text.contains("id: 3\n") {
        let chunk = resp.chunk().await.unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(resp);
    assert!(text.contains("event: transfer\n") && text.contains("event: block\n"), "{text}");
    let mut resp = http
        .get(format!("{}/events?from_height=1&kinds=transfer", net.url))
        .header("Last-Event-ID", "3")
        .send()
        .await
        .unwrap();
    let mut again = String::new();
    while !again.contains("event: block") {
        let chunk = resp.chunk().await.unwrap().unwrap();
        again.push_str(&String::from_utf8_lossy(&chunk));
    }
    let first_id = again.lines().find_map(|l| l.strip_prefix("id: ")).unwrap();
    assert_eq!(first_id, "4", "resumes at the block after the last id: {again}");

    let bad = http.get(format!("{}/events?kinds=nope", net.url)).send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("not an event kind"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_survives_a_node_restart() {
    let mut a = actors(2);
    // A fixed port, so the restarted node is at the same address.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let net = Devnet::start(&a, |c| c.api_addr = format!("127.0.0.1:{port}").parse().unwrap()).await;
    let to = a[1].address;
    let mut sub = net.client.subscribe(1, vec![("kinds", "transfer".into())]).await.unwrap();
    let h1 = net.send(&mut a[0], vec![Msg::Send { to, amount: Coin::new(1, DENOM) }]).await.height.unwrap();
    let (events, _) = collect(&mut sub, h1).await;
    assert_eq!(events.len(), 1);
    let home = net.stop().await;
    let net = Devnet::open(home).await;
    let h2 = net.send(&mut a[0], vec![Msg::Send { to, amount: Coin::new(2, DENOM) }]).await.height.unwrap();
    let (events, marks) = collect(&mut sub, h2).await;
    assert_eq!(marks.first(), Some(&(h1 + 1)), "no height skipped or repeated across the restart");
    assert!(marks.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0].1, Event::Transfer { amount, .. } if amount.amount == 2));
    assert!(sub.reconnects >= 1);
}
