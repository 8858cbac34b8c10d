//! Executes the next block while the previous one is being written.
//!
//! Blocks execute against an in-memory mirror of the state table (loaded from the store when the
//! pipeline starts, updated as each block is submitted), so execution never waits on disk reads.
//! Each block is then committed to the store (one durable write transaction) on a background
//! thread while the next one executes; commits stay strictly in order, one at a time, and
//! [`Pipeline::flush`] waits for the last. The store stays the source of truth: queries read its
//! snapshots, which only ever show committed heights, and a restart rebuilds the mirror from it.
//! A caller that must report a block as committed (the node's `?wait=commit`) does so only after
//! the block is flushed or the next submit returned.
//!
//! Cost: the mirror holds the whole state in memory (about the size of the state table).

use std::sync::Arc;
use std::thread::JoinHandle;

use stratus_ledger::{BlockOutcome, MemState, StateRead};

use stratus_types::block::Block;

use crate::{Store, StoreError};

/// Runs on the commit thread; receives the store commit to run (see [`Pipeline::submit_hooked`]).
pub type CommitHook =
    Box<dyn FnOnce(&mut dyn FnMut() -> Result<(), StoreError>) -> Result<(), StoreError> + Send + 'static>;

struct Inflight {
    handle: JoinHandle<Result<(), StoreError>>,
}

pub struct Pipeline {
    store: Arc<Store>,
    mirror: MemState,
    head: Head,
    inflight: Option<Inflight>,
}

/// The latest executed block: what the next block builds on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub height: u64,
    pub app_hash: [u8; 32],
}

impl Pipeline {
    pub fn new(store: Arc<Store>) -> Result<Pipeline, StoreError> {
        let snap = store.snapshot()?;
        let head = Head { height: snap.height, app_hash: snap.app_hash };
        let mirror = snap.load_state()?;
        Ok(Pipeline { store, mirror, head, inflight: None })
    }

    pub fn head(&self) -> Head {
        self.head
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Runs `f` on the latest executed state (committed, plus the block being committed).
    pub fn with_head<R>(&self, f: impl FnOnce(&dyn StateRead, Head) -> R) -> R {
        f(&self.mirror, self.head)
    }

    /// Starts committing `block` once the previous commit is done (waiting for it, and
    /// returning its error if it failed).
    pub fn submit(&mut self, block: Block, outcome: BlockOutcome) -> Result<(), StoreError> {
        self.submit_certified(block, outcome, Vec::new())
    }

    /// [`Pipeline::submit`] with the certificate the block was decided with, committed in the
    /// same store transaction.
    pub fn submit_certified(
        &mut self,
        block: Block,
        outcome: BlockOutcome,
        certificate: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.submit_hooked(block, outcome, certificate, Box::new(|commit| commit()))
    }

    /// [`Pipeline::submit_certified`], with `hook` run on the commit thread around the store
    /// commit: it is handed the commit to run, so the caller can hold its own locks while the
    /// block becomes visible and act as soon as it is durable (answer waiters), while the next
    /// block already executes.
    pub fn submit_hooked(
        &mut self,
        block: Block,
        outcome: BlockOutcome,
        certificate: Vec<u8>,
        hook: CommitHook,
    ) -> Result<(), StoreError> {
        self.flush()?;
        let height = block.header.height;
        if height != self.head.height + 1 || block.header.prev_app_hash != self.head.app_hash {
            return Err(StoreError::OutOfOrder { height: self.head.height, got: height });
        }
        self.mirror.apply(&outcome.changes);
        self.head = Head { height, app_hash: outcome.app_hash };
        let store = Arc::clone(&self.store);
        let handle = std::thread::spawn(move || {
            let mut commit = || store.commit_with(&block, &outcome, &certificate, redb::Durability::Immediate);
            hook(&mut commit)
        });
        self.inflight = Some(Inflight { handle });
        Ok(())
    }

    /// Waits until everything submitted is durably committed.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        match self.inflight.take() {
            Some(inflight) => inflight.handle.join().map_err(|_| StoreError::Db("commit thread panicked".into()))?,
            None => Ok(()),
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
