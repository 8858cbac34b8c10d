//! The node's [`BlockApp`]: admits transactions to the mempool, builds blocks from it, executes
//! decided blocks and commits them durably, then tells waiting submitters and event streams.
//!
//! **Ordering:** a transaction is reported committed only after the store transaction that holds
//! its block returned (fsync). The mempool lock is held while a block's commit becomes visible and
//! its transactions leave the mempool, so an admission never sees the new state with the old
//! mempool (which would misjudge the signer's next sequence).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use ed25519_dalek::SigningKey;
use stratus_ledger::{LedgerError, SigCheck, StateRead, apply_block, check_tx, keys};
use stratus_store::{Pipeline, Store};
use stratus_types::address::Address;
use stratus_types::api::{BlockMark, Submitted};
use stratus_types::block::{Block, BlockEvent, BlockHeader};
use stratus_types::coin::Coin;
use stratus_types::event::Event;
use stratus_types::market::AccountState;
use stratus_types::params::Params;
use stratus_types::tx::{Msg, Tx, TxBody};
use tokio::sync::{broadcast, oneshot, watch};

use crate::config::NodeConfig;
use crate::consensus::{BlockApp, Certificate, EngineStatus, Reject, Validator};
use crate::mempool::{Limits, Mempool, MempoolError};

/// Why a submission was refused; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The transaction can never be admitted as it is (400).
    #[error("{0}")]
    Invalid(String),
    /// Well-formed, but this node will not do it (403): the faucet's limits.
    #[error("{0}")]
    Refused(String),
    /// This node does not offer it (404): no faucet.
    #[error("{0}")]
    Unavailable(String),
    /// Retry later (503).
    #[error("{0}")]
    Busy(String),
    /// Admitted, but not committed in time (504).
    #[error("{0}")]
    Timeout(String),
    /// The node is broken (500).
    #[error("{0}")]
    Internal(String),
}

/// What every subscriber learns when a block commits.
#[derive(Debug)]
pub struct CommittedBlock {
    pub mark: BlockMark,
    pub events: Vec<BlockEvent>,
}

struct Faucet {
    key: SigningKey,
    address: Address,
    grant: Vec<Coin>,
    /// Serializes the faucet's own transactions (each needs the next sequence).
    lock: tokio::sync::Mutex<()>,
}

/// How far ahead of this node's clock a proposed block's time may be.
pub const MAX_CLOCK_AHEAD_MS: u64 = 30_000;

type Waiters = HashMap<[u8; 32], Vec<oneshot::Sender<Submitted>>>;

/// The mempool and everyone waiting on commits: the commit thread takes a block's transactions
/// out of the mempool and answers their waiters the moment the block is durable, while the next
/// block already executes.
struct Shared {
    store: Arc<Store>,
    mempool: Mutex<Mempool>,
    waiters: Mutex<Waiters>,
    head: watch::Sender<BlockMark>,
    blocks: broadcast::Sender<Arc<CommittedBlock>>,
    check_invariants: bool,
}

/// What is announced once a block is durable.
struct Executed {
    hashes: Vec<[u8; 32]>,
    errors: Vec<Option<String>>,
    events: Vec<BlockEvent>,
    mark: BlockMark,
}

pub struct NodeApp {
    pub config: NodeConfig,
    pub chain_id: String,
    pub params: Params,
    store: Arc<Store>,
    exec: Mutex<Pipeline>,
    /// What the commit thread also needs, to answer waiters once a block is durable.
    shared: Arc<Shared>,
    /// Time of the last executed block (it may not be durable yet): the next one must be later.
    executed_time_ms: std::sync::atomic::AtomicU64,
    faucet: Option<Faucet>,
    /// Turns true when the node shuts down: long-lived responses (event streams) end.
    closing: watch::Sender<bool>,
    /// The genesis validator set as `GET /validators` shows it (empty on a solo chain).
    pub validator_set: Vec<stratus_types::api::ValidatorInfo>,
    engine_status: Mutex<EngineStatus>,
    /// Newly admitted transactions, for the task that forwards them to the other nodes.
    forward: std::sync::OnceLock<tokio::sync::mpsc::Sender<Vec<u8>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock is a bug; the data (a queue, a map) stays usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl NodeApp {
    pub fn open(store: Arc<Store>, config: NodeConfig, faucet_key: Option<SigningKey>) -> anyhow::Result<NodeApp> {
        let genesis = store.genesis()?;
        let snapshot = store.snapshot()?;
        let time_ms = match snapshot.block(snapshot.height)? {
            Some(b) => b.header.time_ms,
            None => genesis.genesis_time_ms,
        };
        let mark = BlockMark { height: snapshot.height, time_ms, app_hash: snapshot.app_hash };
        drop(snapshot);
        let pipeline = Pipeline::new(Arc::clone(&store)).context("loading the ledger state")?;
        let faucet = match (&config.faucet, faucet_key) {
            (Some(f), Some(key)) => {
                let address = Address::from_public_key(&key.verifying_key().to_bytes());
                Some(Faucet { key, address, grant: f.grant.clone(), lock: tokio::sync::Mutex::new(()) })
            }
            _ => None,
        };
        let limits = Limits { max_txs: config.mempool_max_txs, max_bytes: config.mempool_max_bytes };
        let executed_time_ms = std::sync::atomic::AtomicU64::new(mark.time_ms);
        let shared = Arc::new(Shared {
            store: Arc::clone(&store),
            mempool: Mutex::new(Mempool::new(limits)),
            waiters: Mutex::new(HashMap::new()),
            head: watch::channel(mark).0,
            blocks: broadcast::channel(1024).0,
            check_invariants: config.check_invariants,
        });
        let validator_set = genesis
            .validators
            .iter()
            .map(|v| stratus_types::api::ValidatorInfo {
                name: v.name.clone(),
                address: Address::from_public_key(&v.public_key),
                public_key: v.public_key,
                power: v.power,
            })
            .collect();
        Ok(NodeApp {
            validator_set,
            engine_status: Mutex::new(EngineStatus::default()),
            forward: std::sync::OnceLock::new(),
            chain_id: genesis.chain_id,
            params: genesis.params,
            store,
            exec: Mutex::new(pipeline),
            shared,
            executed_time_ms,
            faucet,
            closing: watch::channel(false).0,
            config,
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The latest committed block.
    pub fn head(&self) -> BlockMark {
        self.shared.head.borrow().clone()
    }

    pub fn watch_head(&self) -> watch::Receiver<BlockMark> {
        self.shared.head.subscribe()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CommittedBlock>> {
        self.shared.blocks.subscribe()
    }

    /// Ends event streams (the node is stopping).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn watch_closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// What the consensus engine last reported.
    pub fn engine_status(&self) -> EngineStatus {
        lock(&self.engine_status).clone()
    }

    /// Sends every transaction this node newly admits to `forward` (once; later calls are ignored).
    pub fn forward_to(&self, forward: tokio::sync::mpsc::Sender<Vec<u8>>) {
        let _ = self.forward.set(forward);
    }

    pub fn mempool_len(&self) -> usize {
        lock(&self.shared.mempool).len()
    }

    pub fn faucet_address(&self) -> Option<Address> {
        self.faucet.as_ref().map(|f| f.address)
    }

    /// What a committed transaction's submitter is told (also for a resubmission of one).
    fn committed_result(&self, hash: &[u8; 32]) -> Result<Option<Submitted>, SubmitError> {
        let internal = |e: stratus_store::StoreError| SubmitError::Internal(e.to_string());
        let snap = self.store.snapshot().map_err(internal)?;
        let Some((height, index)) = snap.tx_location(hash).map_err(internal)? else { return Ok(None) };
        let record = snap
            .record(height)
            .map_err(internal)?
            .ok_or_else(|| SubmitError::Internal("missing block record".into()))?;
        let error = record.tx_results.get(index as usize).and_then(|r| r.error.clone());
        let events = record.events.into_iter().filter(|e| e.tx == Some(index)).map(|e| e.event).collect();
        Ok(Some(Submitted { hash: *hash, committed: true, height: Some(height), error, events }))
    }

    /// Checks and admits a transaction. With `wait`, the receiver yields its block's result.
    pub fn admit(&self, bytes: &[u8], wait: bool) -> Result<Admitted, SubmitError> {
        let tx = self.decode(bytes)?;
        self.admit_decoded(tx, bytes, wait, true, true)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Tx, SubmitError> {
        let max = self.params.max_tx_bytes as usize;
        if bytes.len() > max {
            return Err(SubmitError::Invalid(format!("transaction is {} bytes; the limit is {max}", bytes.len())));
        }
        Tx::from_bytes(bytes).map_err(|e| {
            SubmitError::Invalid(format!("not a valid signed transaction (borsh bytes, hex-encoded): {e}"))
        })
    }

    /// Transactions another node admitted and forwarded (`POST /txs/batch`): signatures are
    /// checked in one batch, each is admitted without waiting, and none is forwarded again (every
    /// node forwards to all the others). One result per transaction, in order.
    pub fn admit_forwarded(&self, batch: &[Vec<u8>]) -> Vec<Result<(), SubmitError>> {
        let decoded: Vec<Result<Tx, SubmitError>> = batch.iter().map(|b| self.decode(b)).collect();
        let fresh: Vec<Tx> = {
            let mempool = lock(&self.shared.mempool);
            decoded.iter().filter_map(|t| t.as_ref().ok()).filter(|t| !mempool.contains(&t.hash())).cloned().collect()
        };
        // One batch verification for all; on failure each is checked on its own below.
        let all_valid = Tx::verify_batch(&fresh).is_ok();
        decoded
            .into_iter()
            .zip(batch)
            .map(|(tx, bytes)| self.admit_decoded(tx?, bytes, false, !all_valid, false).map(|_| ()))
            .collect()
    }

    fn admit_decoded(
        &self,
        tx: Tx,
        bytes: &[u8],
        wait: bool,
        verify: bool,
        forward: bool,
    ) -> Result<Admitted, SubmitError> {
        let hash = tx.hash();
        if let Some(done) = self.committed_result(&hash)? {
            return Ok(Admitted { hash, done: Some(done), waiter: None });
        }
        // The expensive check, outside any lock.
        if verify {
            tx.verify().map_err(|_| SubmitError::Invalid(LedgerError::BadSignature.to_string()))?;
        }
        let mut mempool = lock(&self.shared.mempool);
        let waiter = if wait {
            let (send, recv) = oneshot::channel();
            lock(&self.shared.waiters).entry(hash).or_default().push(send);
            Some(recv)
        } else {
            None
        };
        let forget = |this: &NodeApp| {
            if wait {
                let mut w = lock(&this.shared.waiters);
                if let Some(list) = w.get_mut(&hash) {
                    list.pop();
                    if list.is_empty() {
                        w.remove(&hash);
                    }
                }
            }
        };
        if mempool.contains(&hash) {
            return Ok(Admitted { hash, done: None, waiter });
        }
        let snap = self.store.snapshot().map_err(|e| SubmitError::Internal(e.to_string()))?;
        let checked = match check_tx(&snap, &tx, SigCheck::AlreadyVerified) {
            Ok(c) => c,
            Err(e) => {
                forget(self);
                drop(mempool);
                // Committed between the first look and now: a resubmission after all.
                if matches!(e, LedgerError::BadSequence { .. })
                    && let Some(done) = self.committed_result(&hash)?
                {
                    return Ok(Admitted { hash, done: Some(done), waiter: None });
                }
                if e.is_internal() {
                    return Err(SubmitError::Internal(e.to_string()));
                }
                return Err(SubmitError::Invalid(e.to_string()));
            }
        };
        drop(snap);
        match mempool.insert(tx, hash, bytes.len(), checked.committed_sequence, checked.fee_balance) {
            Ok(()) => {
                if forward
                    && let Some(to_peers) = self.forward.get()
                    && to_peers.try_send(bytes.to_vec()).is_err()
                {
                    tracing::warn!(tx = %hex::encode(hash), "forwarding queue full; the transaction waits for this node's own proposal");
                }
                Ok(Admitted { hash, done: None, waiter })
            }
            Err(e) => {
                forget(self);
                Err(match e {
                    MempoolError::Full { .. } => SubmitError::Busy(e.to_string()),
                    _ => SubmitError::Invalid(e.to_string()),
                })
            }
        }
    }

    /// Admits and, with `wait`, waits for the commit (up to `commit_timeout_ms`).
    pub async fn submit(&self, bytes: &[u8], wait: bool) -> Result<Submitted, SubmitError> {
        let admitted = self.admit(bytes, wait)?;
        self.finish(admitted).await
    }

    pub async fn finish(&self, admitted: Admitted) -> Result<Submitted, SubmitError> {
        if let Some(done) = admitted.done {
            return Ok(done);
        }
        let pending = Submitted { hash: admitted.hash, committed: false, height: None, error: None, events: vec![] };
        let Some(waiter) = admitted.waiter else { return Ok(pending) };
        let timeout = Duration::from_millis(self.config.commit_timeout_ms);
        match tokio::time::timeout(timeout, waiter).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) => Err(SubmitError::Internal("the node stopped before the transaction committed".into())),
            Err(_) => Err(SubmitError::Timeout(format!(
                "transaction {} was admitted but not committed within {} ms; check GET /txs/{}",
                hex::encode(admitted.hash),
                self.config.commit_timeout_ms,
                hex::encode(admitted.hash)
            ))),
        }
    }

    /// The sequence `address`'s next transaction must carry (committed plus pending).
    pub fn next_sequence(&self, address: &Address) -> Result<u64, SubmitError> {
        let mempool = lock(&self.shared.mempool);
        let snap = self.store.snapshot().map_err(|e| SubmitError::Internal(e.to_string()))?;
        let committed = account_sequence(&snap, address).map_err(|e| SubmitError::Internal(e.to_string()))?;
        Ok(mempool.next_sequence(address, committed))
    }

    /// Devnet faucet: sends up to the configured grant to `to` and waits for the commit.
    pub async fn faucet(&self, to: Address, amount: Option<Coin>) -> Result<Submitted, SubmitError> {
        let Some(f) = &self.faucet else {
            return Err(SubmitError::Unavailable(
                "this node has no faucet (devnets enable it at `stratus node init --faucet`)".into(),
            ));
        };
        let coins: Vec<Coin> = match amount {
            None => f.grant.clone(),
            Some(c) => {
                let Some(max) = f.grant.iter().find(|g| g.denom == c.denom) else {
                    let denoms: Vec<&str> = f.grant.iter().map(|g| g.denom.as_str()).collect();
                    return Err(SubmitError::Refused(format!(
                        "the faucet gives {}, not {}",
                        denoms.join(", "),
                        c.denom
                    )));
                };
                if c.amount > max.amount || c.amount == 0 {
                    return Err(SubmitError::Refused(format!(
                        "the faucet gives between 1{} and {max} per request",
                        c.denom
                    )));
                }
                vec![c]
            }
        };
        let msgs = coins.into_iter().map(|amount| Msg::Send { to, amount }).collect();
        let admitted = {
            let _serial = f.lock.lock().await;
            let sequence = self.next_sequence(&f.address)?;
            let fee = self.params.default_fee();
            let body = TxBody { chain_id: self.chain_id.clone(), sequence, fee, memo: "faucet".into(), msgs };
            let tx = Tx::sign(body, &f.key);
            self.admit(&tx.to_bytes(), true)?
        };
        self.finish(admitted).await
    }
}

impl Shared {
    /// Runs on the commit thread: the block becomes visible with the mempool locked (so an
    /// admission never sees the new state with the old mempool, which would misjudge a signer's
    /// next sequence), its transactions leave the mempool, and once it is durable its waiters
    /// and streams are told.
    fn finish_block(
        &self,
        commit: &mut dyn FnMut() -> Result<(), stratus_store::StoreError>,
        executed: Executed,
    ) -> Result<(), stratus_store::StoreError> {
        let height = executed.mark.height;
        let dropped = {
            let mut mempool = lock(&self.mempool);
            commit()?;
            mempool.remove(&executed.hashes);
            let snap = self.store.snapshot()?;
            let mut dropped = Vec::new();
            for signer in mempool.signers() {
                let committed = account_sequence(&snap, &signer)?;
                dropped.extend(mempool.drop_stale(&signer, committed));
            }
            dropped
        };
        if self.check_invariants {
            let snap = self.store.snapshot()?;
            if let Err(broken) = stratus_ledger::check_invariants(&snap) {
                tracing::error!(height, ?broken, "ledger invariants broken; halting");
                return Err(stratus_store::StoreError::Corrupt(format!(
                    "ledger invariants broken at height {height}: {}",
                    broken.join("; ")
                )));
            }
        }
        if !executed.hashes.is_empty() {
            tracing::info!(height, txs = executed.hashes.len(), app_hash = %hex::encode(executed.mark.app_hash), "committed");
        }
        if !dropped.is_empty() {
            tracing::warn!(count = dropped.len(), "dropped pending transactions that can no longer apply");
        }
        self.drop_waiters(dropped);
        self.announce(executed);
        Ok(())
    }

    /// After a commit: answers waiters and streams.
    fn announce(&self, executed: Executed) {
        let Executed { hashes, errors, events, mark } = executed;
        let mut per_tx: Vec<Vec<Event>> = vec![Vec::new(); hashes.len()];
        for e in &events {
            if let Some(list) = e.tx.and_then(|i| per_tx.get_mut(i as usize)) {
                list.push(e.event.clone());
            }
        }
        {
            let mut waiters = lock(&self.waiters);
            for ((hash, error), events) in hashes.iter().zip(errors).zip(per_tx) {
                if let Some(list) = waiters.remove(hash) {
                    let result = Submitted { hash: *hash, committed: true, height: Some(mark.height), error, events };
                    for w in list {
                        let _ = w.send(result.clone());
                    }
                }
            }
        }
        self.head.send_replace(mark.clone());
        // No subscribers is fine.
        let _ = self.blocks.send(Arc::new(CommittedBlock { mark, events }));
    }

    fn drop_waiters(&self, dropped: Vec<([u8; 32], String)>) {
        let mut waiters = lock(&self.waiters);
        for (hash, why) in dropped {
            if let Some(list) = waiters.remove(&hash) {
                let result = Submitted { hash, committed: false, height: None, error: Some(why), events: vec![] };
                for w in list {
                    let _ = w.send(result.clone());
                }
            }
        }
    }
}

/// The result of [`NodeApp::admit`].
pub struct Admitted {
    pub hash: [u8; 32],
    /// Already committed earlier (a resubmission): its result.
    pub done: Option<Submitted>,
    pub waiter: Option<oneshot::Receiver<Submitted>>,
}

pub fn account_sequence(state: &dyn StateRead, address: &Address) -> Result<u64, LedgerError> {
    let key = keys::account(address);
    match state.get(&key)? {
        Some(bytes) => {
            borsh::from_slice::<AccountState>(&bytes).map(|a| a.sequence).map_err(|e| LedgerError::corrupt(&key, &e))
        }
        None => Ok(0),
    }
}

impl BlockApp for NodeApp {
    fn chain_id(&self) -> &str {
        &self.chain_id
    }

    fn validators(&self) -> Vec<Validator> {
        self.validator_set.iter().map(|v| Validator { public_key: v.public_key, power: v.power }).collect()
    }

    fn report(&self, status: EngineStatus) {
        *lock(&self.engine_status) = status;
    }

    fn next_height(&self) -> u64 {
        lock(&self.exec).head().height + 1
    }

    fn build(&self, height: u64, time_ms: u64) -> Block {
        let head = lock(&self.exec).head();
        let prev_time = self.executed_time_ms.load(std::sync::atomic::Ordering::SeqCst);
        let txs = lock(&self.shared.mempool).reap(self.config.max_block_txs, self.config.max_block_bytes);
        Block {
            header: BlockHeader {
                chain_id: self.chain_id.clone(),
                height,
                // Block times never go back, whatever the wall clock does.
                time_ms: time_ms.max(prev_time + 1),
                prev_app_hash: head.app_hash,
            },
            txs,
        }
    }

    fn check(&self, block: &Block) -> Result<(), Reject> {
        let reject = |reason: String| Reject { height: block.header.height, reason };
        let head = lock(&self.exec).head();
        let h = &block.header;
        if h.chain_id != self.chain_id {
            return Err(reject(format!("chain {:?}, expected {:?}", h.chain_id, self.chain_id)));
        }
        if h.height != head.height + 1 {
            return Err(reject(format!("expected height {}", head.height + 1)));
        }
        if h.prev_app_hash != head.app_hash {
            return Err(reject("built on a different app hash".into()));
        }
        if h.time_ms <= self.executed_time_ms.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(reject("time does not advance".into()));
        }
        // A faulty proposer must not move the chain's clock into the future (escrow and bid
        // lifetimes count heights, but block times are what tenants and auditors read).
        let now = crate::consensus::now_ms();
        if h.time_ms > now.saturating_add(MAX_CLOCK_AHEAD_MS) {
            return Err(reject(format!(
                "its time is {} s ahead of this node's clock (at most {} s allowed)",
                (h.time_ms - now) / 1000,
                MAX_CLOCK_AHEAD_MS / 1000
            )));
        }
        if block.txs.len() > self.config.max_block_txs {
            return Err(reject(format!("{} transactions, limit {}", block.txs.len(), self.config.max_block_txs)));
        }
        // Every signature, before the block can be voted for or committed (`commit` applies with
        // signatures taken as verified). This node's mempool verified what it admitted, so only
        // the others (a peer's proposal) are verified here, all at once.
        let foreign: Vec<&Tx> = {
            let mempool = lock(&self.shared.mempool);
            block.txs.iter().filter(|t| !mempool.contains(&t.hash())).collect()
        };
        if !foreign.is_empty() {
            let owned: Vec<Tx> = foreign.iter().map(|t| (*t).clone()).collect();
            if Tx::verify_batch(&owned).is_err() {
                let bad = foreign.iter().find(|t| t.verify().is_err()).map_or([0; 32], |t| t.hash());
                return Err(reject(format!("transaction {} has an invalid signature", hex::encode(bad))));
            }
        }
        Ok(())
    }

    fn commit(&self, block: Block, certificate: Certificate) -> anyhow::Result<[u8; 32]> {
        let hashes: Vec<[u8; 32]> = block.txs.iter().map(Tx::hash).collect();
        let mark_time = block.header.time_ms;
        let height = block.header.height;
        let mut exec = lock(&self.exec);
        // Every signature was verified: at admission, or by `check` before the block was decided.
        let outcome = exec.with_head(|state, _| apply_block(state, &block, SigCheck::AlreadyVerified))?;
        let executed = Executed {
            errors: outcome.tx_results.iter().map(|r| r.error.clone()).collect(),
            events: outcome.events.clone(),
            mark: BlockMark { height, time_ms: mark_time, app_hash: outcome.app_hash },
            hashes,
        };
        let app_hash = outcome.app_hash;
        // The next block (which may execute while this one is written) must not take these.
        lock(&self.shared.mempool).mark_in_block(&executed.hashes);
        self.executed_time_ms.store(mark_time, std::sync::atomic::Ordering::SeqCst);
        let shared = Arc::clone(&self.shared);
        let hook: stratus_store::CommitHook = Box::new(move |commit| shared.finish_block(commit, executed));
        exec.submit_hooked(block, outcome, certificate.to_bytes(), hook).context("committing the previous block")?;
        Ok(app_hash)
    }

    fn flush(&self) -> anyhow::Result<()> {
        lock(&self.exec).flush().context("committing the block to the store")
    }

    fn decided(&self, from: u64, to: u64) -> anyhow::Result<Vec<(Block, Option<Certificate>)>> {
        let snap = self.store.snapshot()?;
        let mut out = Vec::new();
        for h in from.max(1)..=to.min(snap.height) {
            let Some(block) = snap.block(h)? else { break };
            let certificate = snap.certificate(h)?.map(|c| Certificate::from_bytes(&c)).transpose()?;
            out.push((block, certificate));
        }
        Ok(out)
    }
}
