//! Submissions, queries, pagination and errors over HTTP.

use stratus_client::{ClientError, Filter};
use stratus_ledger::testkit::{CHAIN_ID, DENOM, group, provider_msg};
use stratus_types::coin::Coin;
use stratus_types::dec::Dec;
use stratus_types::event::Event;
use stratus_types::group::DecCoin;
use stratus_types::market::DeploymentId;
use stratus_types::tx::{Msg, Tx, TxBody};

use crate::{Devnet, actors};

fn create(dseq: u64) -> Msg {
    Msg::CreateDeployment {
        dseq,
        groups: vec![group("web", 100, 1, None)],
        version: [dseq as u8; 32],
        deposit: Coin::new(5_000_000, DENOM),
        gang: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_transactions_are_visible_in_every_query() {
    let mut a = actors(2);
    let net = Devnet::start(&a, |_| {}).await;
    let to = a[1].address;
    let sent = net.send(&mut a[0], vec![Msg::Send { to, amount: Coin::new(7, DENOM) }]).await;
    assert!(sent.committed && sent.error.is_none(), "{sent:?}");
    let height = sent.height.unwrap();
    assert!(sent.events.iter().any(|e| matches!(e, Event::Transfer { amount, .. } if amount.amount == 7)));

    let tx = net.client.tx(&sent.hash).await.unwrap();
    assert_eq!((tx.height, tx.error.clone()), (height, None));
    assert_eq!(tx.events, sent.events);
    let block = net.client.block(height).await.unwrap();
    assert!(block.tx_hashes.contains(&hex::encode(sent.hash)));
    assert_eq!(block.tx_results.len(), block.tx_hashes.len());
    // Blocks come every 50 ms, empty or not: wait for the next one.
    let mut next = net.client.block(height + 1).await;
    for _ in 0..100 {
        if next.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        next = net.client.block(height + 1).await;
    }
    assert_eq!(next.unwrap().prev_app_hash, block.app_hash, "blocks chain by app hash");
    let account = net.client.account(&to).await.unwrap();
    assert_eq!(account.balances, vec![Coin::new(crate::FUNDS + 7, DENOM)]);
    let sender = net.client.account(&a[0].address).await.unwrap();
    assert_eq!((sender.sequence, sender.next_sequence), (1, 1));

    // Submitting the same transaction again reports its committed result, it does not fail.
    let again = net.client.submit(&tx.tx, true).await.unwrap();
    assert_eq!((again.hash, again.height, again.committed), (sent.hash, Some(height), true));

    let status = net.client.status().await.unwrap();
    assert_eq!(status.chain_id, CHAIN_ID);
    assert!(status.height >= height && status.faucet);
    let params = net.client.params().await.unwrap();
    assert_eq!(params.denoms, vec!["uakt".to_string(), "uact".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_submissions_get_one_clear_sentence() {
    let mut a = actors(2);
    let net = Devnet::start(&a[..1], |_| {}).await;
    let http = reqwest::Client::new();
    let post = |body: String| {
        let http = http.clone();
        let url = format!("{}/txs", net.url);
        async move {
            let r = http.post(url).header("content-type", "application/json").body(body).send().await.unwrap();
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap();
            (status, v["error"].as_str().unwrap_or_default().to_string())
        }
    };
    let (s, e) = post("{\"tx\": \"zz\"}".into()).await;
    assert_eq!(s, 400);
    assert!(e.contains("not hex"), "{e}");
    let (s, e) = post("{\"tx\": \"00ff\"}".into()).await;
    assert_eq!(s, 400);
    assert!(e.contains("not a valid signed transaction"), "{e}");
    let (s, e) = post("not json".into()).await;
    assert_eq!(s, 400);
    assert!(e.contains("body must be"), "{e}");

    let expect = |r: Result<_, ClientError>, needle: &str| match r {
        Err(ClientError::Api(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected an API error containing {needle:?}, got {other:?}"),
    };
    let send = Msg::Send { to: a[1].address, amount: Coin::new(1, DENOM) };
    // Wrong chain.
    let body = TxBody {
        chain_id: "other".into(),
        sequence: 0,
        fee: Coin::new(0, DENOM),
        memo: String::new(),
        msgs: vec![send.clone()],
    };
    expect(net.submit_raw(&Tx::sign(body, &a[0].key), false).await, "is for chain \"other\"");
    // Tampered after signing.
    let mut tampered = a[0].tx(vec![send.clone()]);
    a[0].sequence = 0;
    tampered.body.memo = "changed".into();
    expect(net.submit_raw(&tampered, false).await, "signature is invalid");
    // A sequence gap.
    a[0].sequence = 5;
    expect(net.submit_raw(&a[0].tx(vec![send.clone()]), false).await, "expected 0, got 5");
    a[0].sequence = 0;
    // No messages.
    expect(net.submit_raw(&a[0].tx(vec![]), false).await, "no messages");
    a[0].sequence = 0;
    // A fee the signer cannot pay (actor 1 holds nothing).
    let body = TxBody {
        chain_id: CHAIN_ID.into(),
        sequence: 0,
        fee: Coin::new(5, DENOM),
        memo: String::new(),
        msgs: vec![send.clone()],
    };
    expect(net.submit_raw(&Tx::sign(body, &a[1].key), false).await, "insufficient funds");
    // A message that fails in its block: committed, with the ledger's sentence.
    let failed = net.send(&mut a[0], vec![Msg::CloseDeployment { dseq: 99 }]).await;
    assert!(failed.committed);
    assert_eq!(failed.error.as_deref(), Some(format!("deployment {}/99 does not exist", a[0].address).as_str()));
    // Wrong wait value.
    let r = http.post(format!("{}/txs?wait=forever", net.url)).body("{}").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_filter_and_paginate() {
    let mut a = actors(2);
    let net = Devnet::start(&a, |_| {}).await;
    let owner = a[0].address;
    let provider = a[1].address;
    let created = net.send(&mut a[0], (1..=5).map(create).collect()).await;
    assert!(created.error.is_none(), "{created:?}");
    let reg = net.send(&mut a[1], vec![provider_msg(&[])]).await;
    assert!(reg.error.is_none(), "{reg:?}");
    let bid = |dseq: u64| Msg::CreateBid {
        order: DeploymentId { owner, dseq }.group(1).order(1),
        price: DecCoin::new(DENOM, Dec::from_int(50).unwrap()),
        deposit: Coin::new(500_000, DENOM),
        offer: vec![],
    };
    let bids = net.send(&mut a[1], vec![bid(1), bid(2), bid(3)]).await;
    assert!(bids.error.is_none(), "{bids:?}");
    let lease = net
        .send(
            &mut a[0],
            vec![Msg::CreateLease { bid: DeploymentId { owner, dseq: 2 }.group(1).order(1).bid(provider) }],
        )
        .await;
    assert!(lease.error.is_none(), "{lease:?}");

    // Pages of 2 cover all 5 deployments once, in dseq order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = net
            .client
            .deployments(&Filter { owner: Some(owner), limit: Some(2), after: after.clone(), ..Filter::default() })
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|d| d.id.dseq));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);

    let open = net.client.orders(&Filter { state: Some("open".into()), ..Filter::default() }).await.unwrap();
    assert_eq!(open.items.len(), 4, "dseq 2's order became active");
    let active = net
        .client
        .orders(&Filter { owner: Some(owner), state: Some("active".into()), ..Filter::default() })
        .await
        .unwrap();
    assert_eq!(active.items.iter().map(|o| o.id.dseq).collect::<Vec<_>>(), vec![2]);
    let by_provider = net.client.bids(&Filter { provider: Some(provider), ..Filter::default() }).await.unwrap();
    assert_eq!(by_provider.items.len(), 3);
    let open_bids = net
        .client
        .bids(&Filter { provider: Some(provider), state: Some("open".into()), ..Filter::default() })
        .await
        .unwrap();
    assert_eq!(open_bids.items.len(), 2);
    let one = net.client.bids(&Filter { owner: Some(owner), dseq: Some(3), ..Filter::default() }).await.unwrap();
    assert_eq!(one.items.len(), 1);
    let leases = net.client.leases(&Filter { provider: Some(provider), ..Filter::default() }).await.unwrap();
    assert_eq!(leases.items.len(), 1);
    let groups = net.client.groups(&Filter { owner: Some(owner), dseq: Some(4), ..Filter::default() }).await.unwrap();
    assert_eq!(groups.items.len(), 1);
    let info = net.client.deployment(&DeploymentId { owner, dseq: 2 }).await.unwrap();
    assert_eq!((info.groups.len(), info.orders.len(), info.leases.len(), info.payments.len()), (1, 1, 1, 1));
    assert!(info.escrow.is_some());
    let providers = net.client.providers(&Filter::default()).await.unwrap();
    assert_eq!(providers.items.len(), 1);
    assert_eq!(net.client.provider(&provider).await.unwrap().owner, provider);

    // Bad filters and missing records say what is wrong.
    let get = |path: &str| {
        let url = format!("{}{path}", net.url);
        async move {
            let r = reqwest::get(url).await.unwrap();
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap();
            (status, v["error"].as_str().unwrap_or_default().to_string())
        }
    };
    let (s, e) = get("/deployments?colour=red").await;
    assert_eq!(s, 400);
    assert!(e.contains("unknown query parameter \"colour\"") && e.contains("owner, state"), "{e}");
    // dseq alone filters across owners (a schema cannot say "dseq needs owner").
    let r: serde_json::Value = reqwest::get(format!("{}/bids?dseq=3", net.url)).await.unwrap().json().await.unwrap();
    assert!(r["items"].as_array().is_some_and(|i| i.iter().all(|b| b["id"]["dseq"] == 3)), "{r}");
    let (s, e) = get("/leases?state=sleepy").await;
    assert!(s == 400 && e.contains("not one of active"), "{e}");
    let (s, e) = get("/orders?limit=0").await;
    assert!(s == 400 && e.contains("limit"), "{e}");
    let (s, e) = get(&format!("/deployments?owner={owner}&after=zz")).await;
    assert!(s == 400 && e.contains("cursor"), "{e}");
    let (s, e) = get(&format!("/deployments/{owner}/77")).await;
    assert!(s == 404 && e.contains("does not exist"), "{e}");
    let (s, _) = get("/blocks/0").await;
    assert_eq!(s, 404);
    let (s, e) = get("/blocks/999999").await;
    assert!(s == 404 && e.contains("latest is"), "{e}");
    let (s, e) = get("/accounts/stratus1nope").await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = get("/nowhere").await;
    assert!(s == 404 && e.contains("openapi.json"), "{e}");
    let (s, _) = get("/blocks/latest").await;
    assert_eq!(s, 200);
    // The stable version prefix serves the same routes.
    let plain: serde_json::Value = reqwest::get(format!("{}/params", net.url)).await.unwrap().json().await.unwrap();
    let v1: serde_json::Value = reqwest::get(format!("{}/v1/params", net.url)).await.unwrap().json().await.unwrap();
    assert_eq!(plain, v1);
    let (s, e) = get("/v1/blocks/999999").await;
    assert!(s == 404 && e.contains("latest is"), "{e}");
    // The solo engine's certificate: one signature, by the node's own validator key.
    let block: serde_json::Value = reqwest::get(format!("{}/blocks/1", net.url)).await.unwrap().json().await.unwrap();
    assert_eq!(block["certificate"]["engine"], "solo", "{block}");
    let signers = block["certificate"]["signers"].as_array().expect("signers");
    assert!(signers.len() == 1 && signers[0].as_str().is_some_and(|a| a.starts_with("stratus1")), "{block}");
    let status: serde_json::Value = reqwest::get(format!("{}/status", net.url)).await.unwrap().json().await.unwrap();
    assert_eq!(status["consensus"]["validator"], signers[0], "{status}");
    let set: serde_json::Value = reqwest::get(format!("{}/validators", net.url)).await.unwrap().json().await.unwrap();
    assert_eq!(set, serde_json::json!([]), "a solo chain has no genesis validator set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_served() {
    let net = Devnet::start(&[], |_| {}).await;
    let doc: serde_json::Value = reqwest::get(format!("{}/openapi.json", net.url)).await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/events"]["get"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faucet_pays_up_to_its_grant() {
    let net = Devnet::start(&[], |_| {}).await;
    let who = actors(3).pop().unwrap().address;
    let paid = net.client.faucet(&who, None).await.unwrap();
    assert!(paid.committed && paid.error.is_none(), "{paid:?}");
    // Concurrent requests each get the faucet's next sequence.
    let (x, y) = tokio::join!(
        net.client.faucet(&who, Some(Coin::new(10, DENOM))),
        net.client.faucet(&who, Some(Coin::new(20, DENOM)))
    );
    assert!(x.unwrap().error.is_none() && y.unwrap().error.is_none());
    let balance = net.client.account(&who).await.unwrap().balances;
    assert_eq!(balance, vec![Coin::new(1_030, DENOM)]);
    match net.client.faucet(&who, Some(Coin::new(1_001, DENOM))).await {
        Err(ClientError::Api(m)) => assert!(m.contains("between 1uact and 1000uact"), "{m}"),
        other => panic!("{other:?}"),
    }
    match net.client.faucet(&who, Some(Coin::new(1, "uakt"))).await {
        Err(ClientError::Api(m)) => assert!(m.contains("gives uact, not uakt"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_continues_the_same_chain() {
    let mut a = actors(2);
    let net = Devnet::start(&a, |_| {}).await;
    let to = a[1].address;
    let sent = net.send(&mut a[0], vec![Msg::Send { to, amount: Coin::new(3, DENOM) }]).await;
    let h = sent.height.unwrap();
    let before = net.client.block(h).await.unwrap();
    let home = net.stop().await;
    let net = Devnet::open(home).await;
    let status = net.client.status().await.unwrap();
    assert!(status.height >= h);
    assert_eq!(net.client.block(h).await.unwrap(), before);
    // Sequences continue.
    let next = net.send(&mut a[0], vec![Msg::Send { to, amount: Coin::new(3, DENOM) }]).await;
    assert!(next.error.is_none() && next.height.unwrap() > h, "{next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_and_every_error_is_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let a = actors(1);
    let net = Devnet::start(&a, |c| c.request_timeout_ms = 500).await;
    let addr = net.url.trim_start_matches("http://").to_string();

    // Slow-loris: headers trickle in a byte every 100 ms; the node cuts the connection.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = std::time::Instant::now();
    let request = format!("GET /status HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "a".repeat(100));
    let mut cut = false;
    for b in request.as_bytes() {
        if s.write_all(&[*b]).await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(std::time::Duration::from_millis(100), s.read(&mut buf)).await {
            Ok(Ok(n)) => {
                let got = String::from_utf8_lossy(&buf[..n]).to_string();
                assert!(n == 0 || got.starts_with("HTTP/1.1 408"), "answered a slow client: {got}");
                cut = true;
                break;
            }
            Ok(Err(_)) => {
                cut = true;
                break;
            }
            Err(_) => {}
        }
    }
    assert!(cut && started.elapsed() < std::time::Duration::from_secs(5), "not cut ({:?})", started.elapsed());

    // Errors axum would answer in plain text come back as the documented JSON error.
    // A body over the limit is refused from its Content-Length, before it is sent.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /txs HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let v: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap();
    assert!(v["error"].as_str().unwrap().contains("larger than"), "{v}");

    let http = reqwest::Client::new();
    let cases = [
        (http.get(format!("{}/txs/%FF%FE", net.url)), 400),
        (http.get(format!("{}/leases?state=%ZZ", net.url)), 400),
        (http.delete(format!("{}/status", net.url)), 405),
    ];
    for (request, want) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status().as_u16(), want);
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_batch_admits_the_valid_and_names_each_refusal() {
    let mut a = actors(2);
    let net = Devnet::start(&a[..1], |_| {}).await;
    let send = Msg::Send { to: a[1].address, amount: Coin::new(1, DENOM) };
    let first = a[0].tx(vec![send.clone()]);
    let second = a[0].tx(vec![send.clone()]);
    let mut forged = a[0].tx(vec![send.clone()]);
    forged.signature[0] ^= 1;
    let body = serde_json::json!({ "txs": [
        hex::encode(first.to_bytes()),
        hex::encode(second.to_bytes()),
        hex::encode(forged.to_bytes()),
        "00ff",
    ]});
    let url = format!("{}/txs/batch", net.url);
    let r: serde_json::Value =
        reqwest::Client::new().post(&url).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["admitted"], 2, "{r}");
    let errors = r["errors"].as_array().expect("errors");
    assert_eq!(errors.iter().map(|e| e["index"].as_u64().unwrap()).collect::<Vec<_>>(), vec![2, 3], "{r}");
    assert!(errors[0]["error"].as_str().unwrap().contains("signature is invalid"), "{r}");
    // The admitted ones commit like any other.
    let done = net.submit_raw(&second, true).await.unwrap();
    assert!(done.committed && done.error.is_none(), "{done:?}");
    for body in
        [serde_json::json!({ "tx": "00" }), serde_json::json!({ "txs": [""] }), serde_json::json!({ "txs": ["0"] })]
    {
        let bad = reqwest::Client::new().post(&url).json(&body).send().await.unwrap();
        assert_eq!(bad.status().as_u16(), 400, "{body}");
    }
}
