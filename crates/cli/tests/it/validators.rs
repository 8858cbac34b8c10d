//! The chain on four BFT validators (`stratus node init --testnet 4`, each `stratus node run`
//! its own process on 127.0.0.1), through the scenarios of `shared/design/consensus.md` §d. Every
//! scenario ends by checking that all running validators hold the same app hash at every height.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stratus_ledger::testkit::{Actor, CHAIN_ID, DENOM};
use stratus_types::coin::Coin;
use stratus_types::tx::{Msg, Tx, TxBody};

const VALIDATORS: usize = 4;
/// Testnets take 8-port blocks in 60000..60800 (other suites use other ranges; see ARCHITECTURE.md).
const PORT_FIRST: u16 = 60000;
const PORT_SLOTS: u16 = 100;

/// A claimed block of ports, released when dropped (a file per block, made with create_new, so
/// two test processes never take the same block).
struct PortClaim(PathBuf);

impl Drop for PortClaim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn claim_ports() -> (u16, PortClaim) {
    let dir = std::env::temp_dir().join("stratus-testnet-ports");
    std::fs::create_dir_all(&dir).expect("port registry");
    let start = (std::process::id() as u16) % PORT_SLOTS;
    for k in 0..PORT_SLOTS {
        let base = PORT_FIRST + ((start + k) % PORT_SLOTS) * 8;
        let free = (0..8).all(|p| std::net::TcpListener::bind(("127.0.0.1", base + p)).is_ok());
        let path = dir.join(base.to_string());
        if free && File::options().write(true).create_new(true).open(&path).is_ok() {
            return (base, PortClaim(path));
        }
    }
    panic!("no free block of 8 ports in {PORT_FIRST}..{}", PORT_FIRST + PORT_SLOTS * 8);
}

struct Testnet {
    dir: tempfile::TempDir,
    apis: Vec<String>,
    nodes: Vec<Option<Child>>,
    http: reqwest::blocking::Client,
    _ports: PortClaim,
}

impl Testnet {
    /// Four validator homes, funding `actors`.
    fn init(actors: &[&Actor]) -> Testnet {
        let dir = tempfile::tempdir().expect("tempdir");
        let (base, claim) = claim_ports();
        let base_port = base.to_string();
        let funds: Vec<String> = actors.iter().map(|a| format!("--account={}=1000000000{DENOM}", a.address)).collect();
        let mut args = vec![
            "--home",
            crate::path_str(dir.path()),
            "node",
            "init",
            "--chain-id",
            CHAIN_ID,
            "--testnet",
            "4",
            "--base-port",
            &base_port,
            "--block-time",
            "200ms",
        ];
        args.extend(funds.iter().map(String::as_str));
        let printed = crate::ok(&crate::stratus(&args));
        assert!(printed.contains("validator v3"), "{printed}");
        let apis = (0..VALIDATORS).map(|i| format!("http://127.0.0.1:{}", base + 2 * i as u16 + 1)).collect();
        stratus_client::install_tls_provider();
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(15)).build().expect("http client");
        Testnet { dir, apis, nodes: (0..VALIDATORS).map(|_| None).collect(), http, _ports: claim }
    }

    fn home(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("v{i}"))
    }

    fn start_with(&mut self, i: usize, env: &[(&str, &str)]) {
        let log = File::options().create(true).append(true).open(self.home(i).join("node.log")).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_stratus"))
            .args(["node", "run", "--home", crate::path_str(&self.home(i))])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn validator");
        self.nodes[i] = Some(child);
    }

    fn start(&mut self, i: usize) {
        self.start_with(i, &[]);
    }

    /// SIGKILL: no chance to flush anything.
    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("reap");
        }
    }

    fn get(&self, i: usize, path: &str) -> Option<serde_json::Value> {
        let r = self.http.get(format!("{}{path}", self.apis[i])).send().ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().ok()
    }

    fn height(&self, i: usize) -> Option<u64> {
        self.get(i, "/status")?["height"].as_u64()
    }

    fn logs(&self) -> String {
        (0..VALIDATORS)
            .map(|i| {
                let text = std::fs::read_to_string(self.home(i).join("node.log")).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!("--- v{i} ---\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until every validator in `which` is at `height` or above.
    fn wait_for(&self, which: &[usize], height: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let heights: Vec<Option<u64>> = which.iter().map(|i| self.height(*i)).collect();
            if heights.iter().all(|h| h.is_some_and(|h| h >= height)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "validators {which:?} did not all reach height {height} within {within:?}: {heights:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn app_hash(&self, i: usize, height: u64) -> String {
        let block = self.get(i, &format!("/blocks/{height}")).unwrap_or_else(|| panic!("v{i} has no block {height}"));
        block["app_hash"].as_str().expect("app_hash").to_string()
    }

    /// Every validator in `which` holds the same app hash at every height from 1 to `through`.
    fn assert_agree(&self, which: &[usize], through: u64) {
        for h in 1..=through {
            let first = self.app_hash(which[0], h);
            for i in &which[1..] {
                assert_eq!(self.app_hash(*i, h), first, "v{i} and v{} differ at height {h}", which[0]);
            }
        }
    }

    fn max_height(&self, which: &[usize]) -> u64 {
        which.iter().filter_map(|i| self.height(*i)).max().unwrap_or(0)
    }

    /// Submits signed bytes to validator `i` and waits for the commit; `None` if it is down.
    fn submit(&self, i: usize, tx: &Tx) -> Option<serde_json::Value> {
        let r = self
            .http
            .post(format!("{}/txs?wait=commit", self.apis[i]))
            .json(&serde_json::json!({ "tx": hex::encode(tx.to_bytes()) }))
            .send()
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().ok()
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        for i in 0..VALIDATORS {
            self.kill(i);
        }
    }
}

fn transfer(from: &mut Actor, to: &Actor, amount: u128) -> Tx {
    let body = TxBody {
        chain_id: CHAIN_ID.into(),
        sequence: from.sequence,
        fee: Coin::new(0, DENOM),
        memo: String::new(),
        msgs: vec![Msg::Send { to: to.address, amount: Coin::new(amount, DENOM) }],
    };
    from.sequence += 1;
    Tx::sign(body, &from.key)
}

const ALL: [usize; 4] = [0, 1, 2, 3];
const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn four_validators_agree_and_survive_a_kill_a_wiped_disk_and_a_lost_quorum() {
    let (mut alice, bob) = (Actor::new("bft-alice"), Actor::new("bft-bob"));
    let mut net = Testnet::init(&[&alice, &bob]);
    for i in ALL {
        net.start(i);
    }
    net.wait_for(&ALL, 20, MINUTE);
    net.assert_agree(&ALL, 20);
    // Each block is kept with its certificate: a quorum (3 or 4 of 4) of validators' precommits.
    let validators: Vec<String> = ALL
        .iter()
        .map(|i| net.get(*i, "/status").expect("status")["consensus"]["validator"].as_str().expect("v").to_string())
        .collect();
    let set = net.get(1, "/validators").expect("validators");
    let mut listed: Vec<String> =
        set.as_array().expect("array").iter().map(|v| v["address"].as_str().expect("address").to_string()).collect();
    listed.sort();
    let mut running = validators.clone();
    running.sort();
    assert_eq!(listed, running, "the genesis set is the four running validators: {set}");
    assert!(set.as_array().expect("array").iter().all(|v| v["power"] == 10), "{set}");
    for h in [1, 10, 20] {
        let block = net.get(2, &format!("/blocks/{h}")).expect("block");
        assert_eq!(block["certificate"]["engine"], "bft", "{block}");
        let signers: Vec<String> = block["certificate"]["signers"]
            .as_array()
            .expect("signers")
            .iter()
            .map(|s| s.as_str().expect("address").to_string())
            .collect();
        assert!(signers.len() >= 3 && signers.iter().all(|s| validators.contains(s)), "height {h}: {block}");
    }
    for i in ALL {
        let status = net.get(i, "/status").expect("status");
        assert_eq!(status["consensus"]["engine"], "bft", "{status}");
        assert!(status["consensus"]["validator"].as_str().is_some_and(|v| v.starts_with("stratus1")), "{status}");
    }

    // A transaction sent to one validator is decided and stored on all of them.
    let tx = transfer(&mut alice, &bob, 777);
    let done = net.submit(1, &tx).expect("submit to v1");
    assert_eq!(done["committed"], true, "{done}");
    let at = done["height"].as_u64().expect("height");
    net.wait_for(&ALL, at, MINUTE);
    for i in ALL {
        let found = net.get(i, &format!("/txs/{}", hex::encode(tx.hash()))).expect("tx on every validator");
        assert_eq!(found["height"].as_u64(), Some(at), "v{i}: {found}");
    }

    // SIGKILL one: the other three go on; restarted, it catches up from its WAL and store.
    net.kill(2);
    let before = net.max_height(&[0, 1, 3]);
    net.wait_for(&[0, 1, 3], before + 10, MINUTE);
    net.start(2);
    net.wait_for(&ALL, net.max_height(&[0, 1, 3]), MINUTE);

    // A wiped data directory: it syncs the whole chain from height 1 from its peers.
    net.kill(3);
    std::fs::remove_dir_all(net.home(3).join("data")).expect("wipe v3's data");
    net.start(3);
    net.wait_for(&ALL, net.max_height(&[0, 1, 2]), MINUTE);
    let top = net.max_height(&ALL).min(net.height(3).expect("v3 height"));
    net.assert_agree(&ALL, top);

    // Two of four down: 20 of 40 voting power cannot decide; the chain halts.
    net.kill(0);
    net.kill(1);
    std::thread::sleep(Duration::from_secs(2));
    let halted = net.max_height(&[2, 3]);
    std::thread::sleep(Duration::from_secs(4));
    assert!(net.max_height(&[2, 3]) <= halted + 1, "two of four validators must not make progress");
    // One returns: three of four again, and the chain resumes.
    net.start(1);
    net.wait_for(&[1, 2, 3], halted + 5, MINUTE);
    net.start(0);
    let top = net.max_height(&[1, 2, 3]);
    net.wait_for(&ALL, top, MINUTE);
    net.assert_agree(&ALL, top);
}

#[test]
fn a_proposal_with_a_forged_transaction_signature_is_voted_down_and_the_chain_goes_on() {
    let (mut alice, bob) = (Actor::new("bft-forge-alice"), Actor::new("bft-forge-bob"));
    let mut net = Testnet::init(&[&alice, &bob]);
    // v0 corrupts the first transaction's signature in every block it proposes.
    net.start_with(0, &[("STRATUS_FAULT", "forge-tx-signatures")]);
    for i in 1..VALIDATORS {
        net.start(i);
    }
    net.wait_for(&ALL, 3, MINUTE);
    // Transactions go to v0 (it forwards them), so its proposals carry them.
    let mut committed = Vec::new();
    for k in 0..8u128 {
        let tx = transfer(&mut alice, &bob, 100 + k);
        let done = net.submit(0, &tx).expect("submit");
        assert_eq!(done["committed"], true, "{done}");
        committed.push((tx.hash(), done["height"].as_u64().expect("height")));
    }
    let top = net.max_height(&ALL);
    net.wait_for(&ALL, top, MINUTE);
    net.assert_agree(&ALL, top);
    // Every committed block's transactions verify: the forged ones never made it in.
    for h in 1..=top {
        let block = net.get(1, &format!("/blocks/{h}")).expect("block");
        for hash in block["tx_hashes"].as_array().expect("tx_hashes") {
            let tx = net.get(1, &format!("/txs/{}", hash.as_str().expect("hash"))).expect("tx");
            assert!(tx["error"].is_null(), "block {h}: {tx}");
        }
    }
    for (hash, height) in committed {
        let found = net.get(2, &format!("/txs/{}", hex::encode(hash))).expect("committed tx");
        assert_eq!(found["height"].as_u64(), Some(height));
    }
    let honest_logs: String =
        (1..VALIDATORS).map(|i| std::fs::read_to_string(net.home(i).join("node.log")).unwrap_or_default()).collect();
    assert!(
        honest_logs.contains("invalid signature; voting against it"),
        "the honest validators saw and refused v0's forged proposals\n{}",
        net.logs()
    );
}

/// `STRATUS_BFT_KILLS` (default 20) SIGKILLs of random validators while transactions flow to
/// random validators: no transaction reported committed is lost or moves, and all validators
/// end with the same app hash at every height.
#[test]
fn sigkills_of_random_validators_under_load_lose_no_committed_transaction() {
    let kills: usize = std::env::var("STRATUS_BFT_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(20);
    let senders: Vec<Actor> = (0..3).map(|i| Actor::new(&format!("bft-load-{i}"))).collect();
    let sink = Actor::new("bft-load-sink");
    let mut funded: Vec<&Actor> = senders.iter().collect();
    funded.push(&sink);
    let mut net = Testnet::init(&funded);
    for i in ALL {
        net.start(i);
    }
    net.wait_for(&ALL, 3, MINUTE);
    let net = Arc::new(Mutex::new(net));
    let apis: Vec<String> = net.lock().expect("lock").apis.clone();
    let committed: Arc<Mutex<BTreeMap<[u8; 32], u64>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(n, mut actor)| {
            let (apis, committed, stop, sink) = (apis.clone(), Arc::clone(&committed), Arc::clone(&stop), sink.address);
            std::thread::spawn(move || {
                let http =
                    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
                let mut target = n;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = TxBody {
                        chain_id: CHAIN_ID.into(),
                        sequence: actor.sequence,
                        fee: Coin::new(0, DENOM),
                        memo: String::new(),
                        msgs: vec![Msg::Send { to: sink, amount: Coin::new(1, DENOM) }],
                    };
                    let tx = Tx::sign(body, &actor.key);
                    // The same bytes go to one validator after another until one answers
                    // committed: a resubmission is answered with the first result.
                    loop {
                        target = (target + 1) % VALIDATORS;
                        let answer = http
                            .post(format!("{}/txs?wait=commit", apis[target]))
                            .json(&serde_json::json!({ "tx": hex::encode(tx.to_bytes()) }))
                            .send()
                            .ok()
                            .filter(|r| r.status().is_success())
                            .and_then(|r| r.json::<serde_json::Value>().ok());
                        if let Some(a) = answer.filter(|a| a["committed"] == true) {
                            assert!(a["error"].is_null(), "{a}");
                            committed.lock().expect("lock").insert(tx.hash(), a["height"].as_u64().expect("height"));
                            break;
                        }
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    actor.sequence += 1;
                }
            })
        })
        .collect();

    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..kills {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let victim = ((rng >> 32) % VALIDATORS as u64) as usize;
        let mut guard = net.lock().expect("lock");
        guard.kill(victim);
        drop(guard);
        std::thread::sleep(Duration::from_millis(300 + rng % 1200));
        let mut guard = net.lock().expect("lock");
        guard.start(victim);
        let others: Vec<usize> = ALL.into_iter().filter(|i| *i != victim).collect();
        let top = guard.max_height(&others);
        // Back in step, and the chain moving, before the next kill (a quorum is always up).
        guard.wait_for(&ALL, top + 2, MINUTE);
        eprintln!("kill {}/{kills}: v{victim}, all at height {top}", round + 1);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        t.join().expect("sender");
    }
    let net = net.lock().expect("lock");
    let top = net.max_height(&ALL);
    net.wait_for(&ALL, top, MINUTE);
    net.assert_agree(&ALL, top);
    let committed = committed.lock().expect("lock");
    eprintln!("{} transactions committed during {kills} kills, chain at height {top}", committed.len());
    assert!(committed.len() > 20, "transactions flowed during the kills: {}", committed.len());
    for (hash, height) in committed.iter() {
        for i in ALL {
            let found =
                net.get(i, &format!("/txs/{}", hex::encode(hash))).expect("a committed tx is on every validator");
            assert_eq!(found["height"].as_u64(), Some(*height), "v{i}: {found}");
        }
    }
}

#[test]
fn a_proposer_that_crashes_right_after_proposing_proposes_the_same_block_again() {
    let mut net = Testnet::init(&[]);
    // A long propose timeout: the others are still waiting in round 0 when it is back.
    for i in ALL {
        let path = net.home(i).join("config.toml");
        let config = std::fs::read_to_string(&path).expect("config");
        std::fs::write(&path, config.replace("timeout_propose_ms = 1000", "timeout_propose_ms = 8000")).expect("write");
    }
    for i in 1..VALIDATORS {
        net.start(i);
    }
    net.start_with(0, &[("STRATUS_FAULT", "crash-after-propose")]);
    let deadline = Instant::now() + MINUTE;
    while net.nodes[0].as_mut().expect("v0").try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "v0 never proposed\n{}", net.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    net.nodes[0] = None;
    let log = std::fs::read_to_string(net.home(0).join("node.log")).expect("log");
    let crashed =
        log.lines().find(|l| l.contains("crashing right after proposing")).expect("the crash line").to_string();
    let field = |line: &str, name: &str| {
        line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}="))).map(str::to_string)
    };
    let (height, block) = (field(&crashed, "height").expect("height"), field(&crashed, "block").expect("block"));
    net.start(0);
    let h: u64 = height.parse().expect("height");
    net.wait_for(&ALL, h + 2, MINUTE);
    let log = std::fs::read_to_string(net.home(0).join("node.log")).expect("log");
    let again = log.lines().find(|l| l.contains("re-proposing the stashed block")).unwrap_or_else(|| {
        panic!("v0 did not re-propose after its restart\n{}", net.logs());
    });
    assert_eq!(field(again, "block"), Some(block.clone()), "the same block, not a new one: {again}");
    let decided = log
        .lines()
        .find(|l| l.contains("decided:") && field(l, "height").as_deref() == Some(height.as_str()))
        .expect("v0 decided that height");
    assert_eq!(
        field(decided, "block"),
        Some(block),
        "the re-proposed block is the one decided:\n{crashed}\n{again}\n{decided}\n{}",
        net.logs()
    );
    net.assert_agree(&ALL, h + 2);
}
