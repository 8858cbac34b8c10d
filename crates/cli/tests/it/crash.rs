//! SIGKILL the node at random moments while transactions flow; after every restart the chain
//! must be exactly what was reported: the height never goes back, every recorded app hash is
//! unchanged, and every transaction reported committed is still there, at the same height.
//!
//! `STRATUS_CRASH_ROUNDS` (default 20) and `STRATUS_CRASH_SEED` (default: the clock; printed)
//! reproduce or extend a run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stratus_ledger::testkit::{Actor, CHAIN_ID, DENOM};
use stratus_types::coin::Coin;
use stratus_types::tx::{Msg, Tx, TxBody};

use crate::devnet::{NodeProcess, init};

const SENDERS: usize = 4;

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Default)]
struct Seen {
    /// height → app hash, as the node reported it.
    app_hashes: BTreeMap<u64, String>,
    /// tx hash → height it was reported committed at.
    committed: BTreeMap<String, u64>,
    max_height: u64,
}

fn http() -> reqwest::blocking::Client {
    stratus_client::install_tls_provider();
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().expect("http client")
}

fn get(http: &reqwest::blocking::Client, url: &str) -> serde_json::Value {
    let r = http.get(url).send().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r.json().expect("json")
}

/// Submits transfers with `?wait=commit` until the node goes away; records what was committed.
fn sender(url: String, mut actor: Actor, to: stratus_types::address::Address, seen: Arc<Mutex<Seen>>) {
    let http = http();
    let Ok(r) = http.get(format!("{url}/accounts/{}", actor.address)).send() else { return };
    let Ok(account) = r.json::<serde_json::Value>() else { return };
    actor.sequence = account["next_sequence"].as_u64().expect("next_sequence");
    loop {
        let body = TxBody {
            chain_id: CHAIN_ID.into(),
            sequence: actor.sequence,
            fee: Coin::new(0, DENOM),
            memo: String::new(),
            msgs: vec![Msg::Send { to, amount: Coin::new(1, DENOM) }],
        };
        let tx = Tx::sign(body, &actor.key);
        let sent = http
            .post(format!("{url}/txs?wait=commit"))
            .json(&serde_json::json!({ "tx": hex::encode(tx.to_bytes()) }))
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json::<serde_json::Value>());
        let Ok(result) = sent else { return };
        assert_eq!(result["committed"], true, "{result}");
        assert!(result.get("error").is_none(), "{result}");
        let height = result["height"].as_u64().expect("height");
        let hash = result["hash"].as_str().expect("hash").to_string();
        // The block is committed: its app hash is final.
        let Ok(block) = http.get(format!("{url}/blocks/{height}")).send().and_then(|r| r.json::<serde_json::Value>())
        else {
            return;
        };
        let mut s = seen.lock().expect("lock");
        s.committed.insert(hash, height);
        s.app_hashes.insert(height, block["app_hash"].as_str().expect("app_hash").to_string());
        s.max_height = s.max_height.max(height);
        drop(s);
        actor.sequence += 1;
    }
}

fn verify(url: &str, seen: &Seen) {
    let http = http();
    let status = get(&http, &format!("{url}/status"));
    let height = status["height"].as_u64().expect("height");
    assert!(height >= seen.max_height, "height went back: {height} < {}", seen.max_height);
    for (h, hash) in &seen.app_hashes {
        let block = get(&http, &format!("{url}/blocks/{h}"));
        assert_eq!(block["app_hash"].as_str(), Some(hash.as_str()), "app hash at height {h} changed");
    }
    for (tx, h) in &seen.committed {
        let info = get(&http, &format!("{url}/txs/{tx}"));
        assert_eq!(info["height"].as_u64(), Some(*h), "tx {tx} moved");
        assert!(info["error"].is_null());
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_committed() {
    let rounds: usize = std::env::var("STRATUS_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let seed = std::env::var("STRATUS_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    eprintln!("crash test: {rounds} rounds, STRATUS_CRASH_SEED={seed}");
    let mut rng = Xorshift(seed);
    let home = tempfile::tempdir().expect("tempdir");
    let actors: Vec<Actor> = (0..=SENDERS).map(|i| Actor::new(&format!("crash-{i}"))).collect();
    let mut args = vec!["--chain-id".to_string(), CHAIN_ID.to_string()];
    for a in &actors {
        args.push("--account".into());
        args.push(format!("{}=1000000000000uact", a.address));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    init(home.path(), &args);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let started = Instant::now();
    for round in 0..rounds {
        let node = NodeProcess::start(home.path(), "20ms");
        verify(&node.url, &seen.lock().expect("lock"));
        let threads: Vec<_> = actors[..SENDERS]
            .iter()
            .map(|a| {
                let (url, actor, to, seen) = (node.url.clone(), a.clone(), actors[SENDERS].address, Arc::clone(&seen));
                std::thread::spawn(move || sender(url, actor, to, seen))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100 + rng.next() % 400));
        node.kill();
        for t in threads {
            t.join().expect("sender thread");
        }
        let s = seen.lock().expect("lock");
        eprintln!("round {round}: {} txs committed so far, height {}", s.committed.len(), s.max_height);
    }
    let node = NodeProcess::start(home.path(), "20ms");
    let s = seen.lock().expect("lock");
    verify(&node.url, &s);
    assert!(s.committed.len() >= rounds, "too few transactions committed to mean anything: {}", s.committed.len());
    eprintln!("{rounds} kills, {} committed txs verified, in {:.1?}", s.committed.len(), started.elapsed());
}
