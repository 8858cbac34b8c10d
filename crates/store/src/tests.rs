use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stratus_ledger::testkit::{Actor, CHAIN_ID, DENOM};
use stratus_ledger::{SigCheck, apply_block};
use stratus_types::block::{Block, BlockHeader};
use stratus_types::coin::Coin;
use stratus_types::params::{Genesis, GenesisAccount, Params};
use stratus_types::tx::Msg;

use super::*;

fn genesis_for(actors: &[&Actor]) -> Genesis {
    Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        params: Params::devnet(),
        accounts: actors
            .iter()
            .map(|a| GenesisAccount { address: a.address, coins: vec![Coin::new(1_000_000_000, DENOM)] })
            .collect(),
        providers: vec![],
        validators: vec![],
    }
}

/// A deterministic block at `height`: a few transfers from `sender`.
fn next_block(store: &Store, sender: &mut Actor, to: &Actor) -> (Block, BlockOutcome) {
    let snap = store.snapshot().expect("snapshot");
    let height = snap.height + 1;
    let txs = (0..3)
        .map(|i| sender.tx(vec![Msg::Send { to: to.address, amount: Coin::new(u128::from(height * 10 + i), DENOM) }]))
        .collect();
    let block = Block {
        header: BlockHeader { chain_id: CHAIN_ID.into(), height, time_ms: height, prev_app_hash: snap.app_hash },
        txs,
    };
    let outcome = apply_block(&snap, &block, SigCheck::Verify).expect("apply");
    (block, outcome)
}

fn sequence_from(store: &Store, actor: &mut Actor) {
    let snap = store.snapshot().expect("snapshot");
    let account: Option<stratus_types::market::AccountState> =
        snap.get(&stratus_ledger::keys::account(&actor.address)).expect("get").and_then(|b| borsh::from_slice(&b).ok());
    actor.sequence = account.map_or(0, |a| a.sequence);
}

#[test]
fn init_is_idempotent_and_refuses_another_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Actor::new("a");
    let store = Store::open(&dir.path().join("db")).expect("open");
    store.init(&genesis_for(&[&a])).expect("init");
    store.init(&genesis_for(&[&a])).expect("init again");
    assert!(matches!(store.init(&genesis_for(&[&Actor::new("b")])), Err(StoreError::GenesisMismatch(_))));
    assert_eq!(store.snapshot().expect("snapshot").height, 0);
}

#[test]
fn commits_persist_across_reopen_and_refuse_wrong_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let (mut a, b) = (Actor::new("a"), Actor::new("b"));
    let hash_at_3;
    {
        let store = Store::open(&path).expect("open");
        store.init(&genesis_for(&[&a])).expect("init");
        for _ in 0..3 {
            let (block, outcome) = next_block(&store, &mut a, &b);
            store.commit(&block, &outcome).expect("commit");
        }
        let (mut block, outcome) = next_block(&store, &mut a, &b);
        block.header.height = 9;
        assert!(matches!(store.commit(&block, &outcome), Err(StoreError::OutOfOrder { height: 3, got: 9 })));
        block.header.height = 4;
        block.header.prev_app_hash = [0; 32];
        assert!(matches!(store.commit(&block, &outcome), Err(StoreError::WrongParent { .. })));
        hash_at_3 = store.snapshot().expect("snapshot").app_hash;
    }
    let store = Store::open(&path).expect("reopen");
    let snap = store.snapshot().expect("snapshot");
    assert_eq!((snap.height, snap.app_hash), (3, hash_at_3));
    let record = snap.record(3).expect("read").expect("record");
    assert_eq!(record.app_hash, hash_at_3);
    let block = snap.block(2).expect("read").expect("block");
    let (h, i) = snap.tx_location(&block.txs[1].hash()).expect("read").expect("indexed");
    assert_eq!((h, i), (2, 1));
}

#[test]
fn a_certificate_is_committed_with_its_block_and_a_failed_commit_stores_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, b) = (Actor::new("a"), Actor::new("b"));
    let store = Arc::new(Store::open(&dir.path().join("db")).expect("open"));
    store.init(&genesis_for(&[&a])).expect("init");
    let (block, outcome) = next_block(&store, &mut a, &b);
    let mut wrong = block.clone();
    wrong.header.height = 5;
    assert!(store.commit_with(&wrong, &outcome, b"cert-5", Durability::Immediate).is_err());
    let mut pipeline = Pipeline::new(Arc::clone(&store)).expect("pipeline");
    pipeline.submit_certified(block, outcome, b"cert-1".to_vec()).expect("submit");
    pipeline.flush().expect("flush");
    let snap = store.snapshot().expect("snapshot");
    assert_eq!(snap.certificate(1).expect("read").as_deref(), Some(&b"cert-1"[..]));
    assert_eq!(snap.certificate(5).expect("read"), None, "the refused block left no certificate");
}

#[test]
fn snapshots_are_stable_while_blocks_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, b) = (Actor::new("a"), Actor::new("b"));
    let store = Store::open(&dir.path().join("db")).expect("open");
    store.init(&genesis_for(&[&a])).expect("init");
    let before = store.snapshot().expect("snapshot");
    let key = stratus_ledger::keys::balance(&b.address, DENOM);
    let (block, outcome) = next_block(&store, &mut a, &b);
    store.commit(&block, &outcome).expect("commit");
    assert_eq!(before.height, 0);
    assert_eq!(before.get(&key).expect("get"), None, "the old snapshot does not see the new block");
    assert!(store.snapshot().expect("snapshot").get(&key).expect("get").is_some());
}

#[test]
fn paging_through_a_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let actors: Vec<Actor> = (0..5).map(|i| Actor::new(&format!("p{i}"))).collect();
    let store = Store::open(&dir.path().join("db")).expect("open");
    store.init(&genesis_for(&actors.iter().collect::<Vec<_>>())).expect("init");
    let snap = store.snapshot().expect("snapshot");
    let first = snap.scan_page(stratus_ledger::keys::BALANCE, None, 3).expect("page");
    let rest = snap.scan_page(stratus_ledger::keys::BALANCE, first.last().map(|(k, _)| k.as_slice()), 3).expect("page");
    assert_eq!((first.len(), rest.len()), (3, 2));
    assert!(first.last().map(|(k, _)| k) < rest.first().map(|(k, _)| k));
}

/// Replays the stored blocks from genesis in memory and checks every stored app hash.
fn verify_history(path: &Path) -> u64 {
    let store = Store::open(path).expect("reopen after crash");
    let snap = store.snapshot().expect("snapshot");
    let g = store.genesis().expect("genesis");
    let (changes, mut hash) = stratus_ledger::genesis(&g).expect("genesis");
    let mut mem = stratus_ledger::MemState::default();
    mem.apply(&changes);
    for h in 1..=snap.height {
        let block = snap.block(h).expect("read").unwrap_or_else(|| panic!("block {h} missing"));
        assert_eq!(block.header.prev_app_hash, hash, "block {h} parent");
        let outcome = apply_block(&mem, &block, SigCheck::Verify).expect("replay");
        mem.apply(&outcome.changes);
        hash = outcome.app_hash;
        assert_eq!(snap.record(h).expect("read").map(|r| r.app_hash), Some(hash), "app hash at {h}");
    }
    assert_eq!(hash, snap.app_hash);
    assert!(snap.block(snap.height + 1).expect("read").is_none(), "nothing beyond the committed height");
    assert!(snap.record(snap.height + 1).expect("read").is_none());
    snap.height
}

/// Run by the crash test in a child process: commits blocks until killed.
#[test]
fn crash_writer() {
    let Ok(dir) = std::env::var("STRATUS_STORE_CRASH_DIR") else { return };
    let path = Path::new(&dir).join("db");
    let (mut a, b) = (Actor::new("crash-a"), Actor::new("crash-b"));
    let store = Store::open(&path).expect("open");
    store.init(&genesis_for(&[&a])).expect("init");
    sequence_from(&store, &mut a);
    loop {
        let (block, outcome) = next_block(&store, &mut a, &b);
        store.commit(&block, &outcome).expect("commit");
    }
}

/// kill -9 at random moments while blocks commit: every reopen finds the last committed height,
/// a history that replays to the same app hashes, and nothing partial.
#[test]
fn survives_sigkill_at_any_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut last = 0;
    let mut seed = 0x1234_5678_u64;
    for round in 0..12 {
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", "tests::crash_writer", "--nocapture", "--test-threads=1"])
            .env("STRATUS_STORE_CRASH_DIR", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn writer");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 400));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let height = verify_history(&dir.path().join("db"));
        assert!(height >= last, "round {round}: height went back from {last} to {height}");
        last = height;
    }
    assert!(last > 0, "the writer committed nothing");
}

/// Blocks that queue while a commit is slow are written together (one transaction), and every
/// block's hook still runs, in order, after its block is durable.
#[test]
fn blocks_queued_behind_a_slow_commit_are_committed_as_one_group_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, b) = (Actor::new("a"), Actor::new("b"));
    let store = Arc::new(Store::open(&dir.path().join("db")).expect("open"));
    store.init(&genesis_for(&[&a])).expect("init");
    let mut pipeline = Pipeline::new(Arc::clone(&store)).expect("pipeline");
    // Block 1's hook says it runs, then holds the commit thread until blocks 2..=5 are queued.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let mut held = Some(held);
    let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(u64, u64)>::new()));
    let mut hashes = Vec::new();
    for height in 1..=5u64 {
        let txs: Vec<_> = (0..2)
            .map(|i| a.tx(vec![Msg::Send { to: b.address, amount: Coin::new(u128::from(height * 10 + i), DENOM) }]))
            .collect();
        hashes.push(txs[1].hash());
        let block = pipeline.with_head(|_, head| Block {
            header: BlockHeader { chain_id: CHAIN_ID.into(), height, time_ms: height, prev_app_hash: head.app_hash },
            txs,
        });
        let outcome = pipeline.with_head(|state, _| apply_block(state, &block, SigCheck::Verify)).expect("apply");
        let (seen, store) = (Arc::clone(&seen), Arc::clone(&store));
        let gate = if height == 1 { held.take().map(|g| (g, entered_tx.clone())) } else { None };
        let hook: CommitHook = Box::new(move |commit| {
            if let Some((gate, entered)) = gate {
                let _ = entered.send(());
                let _ = gate.recv_timeout(Duration::from_secs(60));
            }
            commit()?;
            seen.lock().expect("lock").push((height, store.snapshot()?.height));
            Ok(())
        });
        pipeline.submit_hooked(block, outcome, format!("cert-{height}").into_bytes(), hook).expect("submit");
        if height == 1 {
            entered.recv_timeout(Duration::from_secs(60)).expect("block 1's commit started alone");
        }
    }
    release.send(()).expect("release block 1's commit");
    pipeline.flush().expect("flush");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5], "hooks in block order");
    assert!(seen.iter().all(|(h, durable)| durable >= h), "each hook ran after its block was durable: {seen:?}");
    assert_eq!(seen[1], (2, 5), "blocks 2..=5 queued behind block 1 were written as one group: {seen:?}");
    let snap = store.snapshot().expect("snapshot");
    assert_eq!(snap.height, 5);
    for (i, hash) in hashes.iter().enumerate() {
        let h = i as u64 + 1;
        assert_eq!(snap.tx_location(hash).expect("index"), Some((h, 1)), "block {h}'s transaction is indexed");
        assert_eq!(snap.certificate(h).expect("read"), Some(format!("cert-{h}").into_bytes()));
    }
}
