//! Executes the next blocks while earlier ones are being written.
//!
//! Blocks execute against an in-memory mirror of the state table (loaded from the store when the
//! pipeline starts, updated as each block is submitted), so execution never waits on disk reads.
//! Submitted blocks queue for a commit thread, which writes them strictly in order; when several
//! are waiting it writes them all in one durable transaction (group commit: consecutive blocks
//! mostly rewrite the same B-tree pages, and one fsync covers them), so a slow disk delays blocks
//! instead of capping their rate. At most [`MAX_QUEUED`] blocks wait; a submit beyond that waits
//! for room. [`Pipeline::flush`] waits for everything submitted. The store stays the source of
//! truth: queries read its snapshots, which only ever show committed heights, and a restart
//! rebuilds the mirror from it. A caller that must report a block as committed (the node's
//! `?wait=commit`) does so from the block's commit hook, which runs once it is durable, or after
//! a flush.
//!
//! Cost: the mirror holds the whole state in memory (about the size of the state table).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use stratus_ledger::{BlockOutcome, MemState, StateRead};

use stratus_types::block::Block;

use crate::{Store, StoreError};

/// Runs on the commit thread; receives the store commit to run (see [`Pipeline::submit_hooked`]).
pub type CommitHook =
    Box<dyn FnOnce(&mut dyn FnMut() -> Result<(), StoreError>) -> Result<(), StoreError> + Send + 'static>;

/// The most blocks waiting to be committed (executed, not yet durable).
pub const MAX_QUEUED: usize = 4;

/// A block waiting for the commit thread.
struct Job {
    block: Block,
    outcome: BlockOutcome,
    certificate: Vec<u8>,
    hook: CommitHook,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// The commit thread is writing a group taken from `jobs`.
    writing: bool,
    /// A failed commit: reported by the next submit or flush; nothing after it is written.
    failed: Option<StoreError>,
    closing: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
    /// Write transactions so far (a group of blocks is one).
    groups: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: std::sync::MutexGuard<'a, Queue>) -> std::sync::MutexGuard<'a, Queue> {
        self.changed.wait(guard).unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub struct Pipeline {
    store: Arc<Store>,
    mirror: MemState,
    head: Head,
    shared: Arc<Shared>,
    committer: Option<JoinHandle<()>>,
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
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            groups: std::sync::atomic::AtomicU64::new(0),
        });
        let committer = {
            let (store, shared) = (Arc::clone(&store), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("commit".into())
                .spawn(move || commit_loop(&store, &shared))
                .map_err(|e| StoreError::Db(format!("starting the commit thread: {e}")))?
        };
        Ok(Pipeline { store, mirror, head, shared, committer: Some(committer) })
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

    /// Queues `block` for commit (waiting while [`MAX_QUEUED`] blocks already wait; returning
    /// the error of an earlier commit that failed).
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
    /// block already executes. In a group, the first block's hook runs the group's commit and the
    /// others' find their block already durable; hooks run one after another, in block order.
    pub fn submit_hooked(
        &mut self,
        block: Block,
        outcome: BlockOutcome,
        certificate: Vec<u8>,
        hook: CommitHook,
    ) -> Result<(), StoreError> {
        let height = block.header.height;
        if height != self.head.height + 1 || block.header.prev_app_hash != self.head.app_hash {
            return Err(StoreError::OutOfOrder { height: self.head.height, got: height });
        }
        {
            let mut queue = self.shared.lock();
            while queue.failed.is_none() && queue.jobs.len() >= MAX_QUEUED {
                queue = self.shared.wait(queue);
            }
            if let Some(e) = queue.failed.take() {
                return Err(e);
            }
        }
        // Only this thread adds jobs: the room found above is still there.
        self.mirror.apply(&outcome.changes);
        self.head = Head { height, app_hash: outcome.app_hash };
        self.shared.lock().jobs.push_back(Job { block, outcome, certificate, hook });
        self.shared.changed.notify_all();
        Ok(())
    }

    /// How many write transactions the commit thread has run (each a group of blocks).
    pub fn commit_groups(&self) -> u64 {
        self.shared.groups.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until everything submitted is durably committed.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let mut queue = self.shared.lock();
        while queue.failed.is_none() && (queue.writing || !queue.jobs.is_empty()) {
            queue = self.shared.wait(queue);
        }
        match queue.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The commit thread: takes every waiting block, writes them in one transaction, runs their
/// hooks in order; stops at the first failure (later blocks would not follow it).
fn commit_loop(store: &Store, shared: &Shared) {
    loop {
        let group: Vec<Job> = {
            let mut queue = shared.lock();
            while queue.jobs.is_empty() && !queue.closing {
                queue = shared.wait(queue);
            }
            if queue.failed.is_some() {
                // Blocks after a failed one cannot follow it.
                queue.jobs.clear();
                drop(queue);
                shared.changed.notify_all();
                continue;
            }
            if queue.jobs.is_empty() {
                return;
            }
            queue.writing = true;
            let group = queue.jobs.drain(..).collect();
            drop(queue);
            // Room in the queue: a submitter waiting for it goes on while this group is written.
            shared.changed.notify_all();
            group
        };
        let result = commit_group(store, group);
        shared.groups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut queue = shared.lock();
        queue.writing = false;
        if let Err(e) = result {
            queue.failed = Some(e);
            queue.jobs.clear();
        }
        drop(queue);
        shared.changed.notify_all();
    }
}

fn commit_group(store: &Store, group: Vec<Job>) -> Result<(), StoreError> {
    let mut hooks = Vec::with_capacity(group.len());
    let mut blocks = Vec::with_capacity(group.len());
    for job in group {
        hooks.push(job.hook);
        blocks.push((job.block, job.outcome, job.certificate));
    }
    let entries: Vec<(&Block, &BlockOutcome, &[u8])> = blocks.iter().map(|(b, o, c)| (b, o, c.as_slice())).collect();
    let mut write = Some(|| store.commit_group(&entries, redb::Durability::Immediate));
    for hook in hooks {
        // The first hook runs the group's commit; the others' blocks are durable already.
        let mut commit = || write.take().map_or(Ok(()), |w| w());
        hook(&mut commit)?;
    }
    Ok(())
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.flush();
        self.shared.lock().closing = true;
        self.shared.changed.notify_all();
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }
}
