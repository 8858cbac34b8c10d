//! The embedded store: ledger state, blocks, their results and app hashes, in one redb file.
//!
//! **Invariants:** a block is committed in exactly one write transaction (its state changes,
//! the block, its results, the tx index, the new height and app hash), so after a crash at any
//! point the store holds the last committed height and nothing of a later one. A block is only
//! committed on top of the height and app hash it was built on. Readers use snapshots (redb read
//! transactions): a query sees one height throughout, even while the next block commits.

mod pipeline;

use std::path::Path;

use borsh::{BorshDeserialize, BorshSerialize};
use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition};
use stratus_ledger::{BlockOutcome, ChangeSet, LedgerError, StateRead, genesis};
use stratus_types::block::{Block, BlockEvent, TxResult};
use stratus_types::params::Genesis;

pub use pipeline::{CommitHook, Head, Pipeline};

const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const RESULTS: TableDefinition<u64, &[u8]> = TableDefinition::new("results");
/// Height → the certificate the consensus engine decided the block with (engine-encoded bytes,
/// kept to serve peers that sync and to prove the block was decided).
const CERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("certs");
/// Transaction hash → height (8 bytes, big-endian) and index in the block (4 bytes).
const TX_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tx_index");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const META_HEIGHT: &str = "height";
const META_APP_HASH: &str = "app_hash";
const META_GENESIS: &str = "genesis";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store at {path}: {detail}")]
    Open { path: String, detail: String },
    #[error("storage: {0}")]
    Db(String),
    #[error("store holds a different chain: genesis differs from {0}")]
    GenesisMismatch(String),
    #[error("store is not initialized: run `stratus node init` first")]
    NotInitialized,
    #[error("block {got} does not follow height {height}")]
    OutOfOrder { height: u64, got: u64 },
    #[error("block {height} was built on app hash {got}, but the store is at {expected}")]
    WrongParent { height: u64, expected: String, got: String },
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Ledger(Box<LedgerError>),
}

impl From<LedgerError> for StoreError {
    fn from(e: LedgerError) -> StoreError {
        StoreError::Ledger(Box::new(e))
    }
}

fn db<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

/// What executing a block produced, as stored.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockRecord {
    pub app_hash: [u8; 32],
    pub tx_results: Vec<TxResult>,
    pub events: Vec<BlockEvent>,
}

/// The borrowed twin of [`BlockRecord`]: same encoding (borsh writes a slice like a `Vec`).
#[derive(BorshSerialize)]
struct RecordRef<'a> {
    app_hash: &'a [u8; 32],
    tx_results: &'a [TxResult],
    events: &'a [BlockEvent],
}

pub struct Store {
    db: Database,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let database = Database::create(path)
            .map_err(|e| StoreError::Open { path: path.display().to_string(), detail: e.to_string() })?;
        let tx = database.begin_write().map_err(db_err)?;
        for t in [STATE, TX_INDEX] {
            tx.open_table(t).map_err(db)?;
        }
        for t in [BLOCKS, RESULTS, CERTS] {
            tx.open_table(t).map_err(db)?;
        }
        tx.open_table(META).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Store { db: database })
    }

    /// Writes the genesis state if the store is empty; otherwise checks it holds this genesis.
    pub fn init(&self, g: &Genesis) -> Result<(), StoreError> {
        let encoded = borsh::to_vec(g).map_err(db)?;
        if let Some(existing) = self.meta(META_GENESIS)? {
            return if existing == encoded { Ok(()) } else { Err(StoreError::GenesisMismatch(g.chain_id.clone())) };
        }
        let (changes, app_hash) = genesis(g)?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut state = tx.open_table(STATE).map_err(db)?;
            write_changes(&mut state, &changes)?;
            let mut meta = tx.open_table(META).map_err(db)?;
            meta.insert(META_GENESIS, encoded.as_slice()).map_err(db)?;
            meta.insert(META_HEIGHT, 0u64.to_be_bytes().as_slice()).map_err(db)?;
            meta.insert(META_APP_HASH, app_hash.as_slice()).map_err(db)?;
            let mut results = tx.open_table(RESULTS).map_err(db)?;
            let record = BlockRecord { app_hash, tx_results: vec![], events: vec![] };
            results.insert(0, pack(&borsh::to_vec(&record).map_err(db)?).as_slice()).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let meta = tx.open_table(META).map_err(db)?;
        Ok(meta.get(key).map_err(db)?.map(|v| v.value().to_vec()))
    }

    pub fn genesis(&self) -> Result<Genesis, StoreError> {
        let bytes = self.meta(META_GENESIS)?.ok_or(StoreError::NotInitialized)?;
        borsh::from_slice(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// A consistent read view of the latest committed height.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let tx = self.db.begin_read().map_err(db)?;
        let meta = tx.open_table(META).map_err(db)?;
        let height = meta.get(META_HEIGHT).map_err(db)?.ok_or(StoreError::NotInitialized)?;
        let height = u64::from_be_bytes(height.value().try_into().map_err(|_| StoreError::Corrupt("height".into()))?);
        let hash = meta.get(META_APP_HASH).map_err(db)?.ok_or(StoreError::NotInitialized)?;
        let app_hash: [u8; 32] = hash.value().try_into().map_err(|_| StoreError::Corrupt("app hash".into()))?;
        Ok(Snapshot {
            height,
            app_hash,
            state: tx.open_table(STATE).map_err(db)?,
            blocks: tx.open_table(BLOCKS).map_err(db)?,
            results: tx.open_table(RESULTS).map_err(db)?,
            certs: tx.open_table(CERTS).map_err(db)?,
            tx_index: tx.open_table(TX_INDEX).map_err(db)?,
        })
    }

    /// Commits an executed block atomically and durably, with no certificate.
    pub fn commit(&self, block: &Block, outcome: &BlockOutcome) -> Result<(), StoreError> {
        self.commit_with(block, outcome, &[], Durability::Immediate)
    }

    /// [`Store::commit`] with the block's certificate (stored in the same transaction: a
    /// committed block always has the certificate it was decided with) and an explicit
    /// durability (tests and benchmarks measure both).
    pub fn commit_with(
        &self,
        block: &Block,
        outcome: &BlockOutcome,
        certificate: &[u8],
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.commit_group(&[(block, outcome, certificate)], durability)
    }

    /// Commits consecutive blocks in one write transaction: all of them or none. Under load this
    /// is the pipeline's group commit — consecutive blocks mostly rewrite the same B-tree pages,
    /// so writing them together costs little more than writing one, and one fsync covers them.
    pub fn commit_group(
        &self,
        group: &[(&Block, &BlockOutcome, &[u8])],
        durability: Durability,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().map_err(db_err)?;
        tx.set_durability(durability).map_err(db)?;
        {
            let mut meta = tx.open_table(META).map_err(db)?;
            let height: [u8; 8] = meta
                .get(META_HEIGHT)
                .map_err(db)?
                .ok_or(StoreError::NotInitialized)?
                .value()
                .try_into()
                .map_err(|_| StoreError::Corrupt("height".into()))?;
            let mut height = u64::from_be_bytes(height);
            let mut hash: [u8; 32] = meta
                .get(META_APP_HASH)
                .map_err(db)?
                .ok_or(StoreError::NotInitialized)?
                .value()
                .try_into()
                .map_err(|_| StoreError::Corrupt("app hash".into()))?;
            let mut state = tx.open_table(STATE).map_err(db)?;
            let mut blocks = tx.open_table(BLOCKS).map_err(db)?;
            let mut certs = tx.open_table(CERTS).map_err(db)?;
            let mut results = tx.open_table(RESULTS).map_err(db)?;
            let mut located: Vec<([u8; 32], [u8; 12])> = Vec::new();
            for (block, outcome, certificate) in group {
                let h = block.header.height;
                if h != height + 1 {
                    return Err(StoreError::OutOfOrder { height, got: h });
                }
                if hash != block.header.prev_app_hash {
                    return Err(StoreError::WrongParent {
                        height: h,
                        expected: hex(&hash),
                        got: hex(&block.header.prev_app_hash),
                    });
                }
                write_changes(&mut state, &outcome.changes)?;
                blocks.insert(h, pack(&borsh::to_vec(block).map_err(db)?).as_slice()).map_err(db)?;
                // Encoded like `BlockRecord`, without copying the events.
                let record =
                    RecordRef { app_hash: &outcome.app_hash, tx_results: &outcome.tx_results, events: &outcome.events };
                if !certificate.is_empty() {
                    certs.insert(h, *certificate).map_err(db)?;
                }
                results.insert(h, pack(&borsh::to_vec(&record).map_err(db)?).as_slice()).map_err(db)?;
                located.extend(outcome.tx_results.iter().enumerate().map(|(i, r)| {
                    let mut loc = [0u8; 12];
                    loc[..8].copy_from_slice(&h.to_be_bytes());
                    loc[8..].copy_from_slice(&u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes());
                    (r.hash, loc)
                }));
                (height, hash) = (h, outcome.app_hash);
            }
            // Hashes are random: inserting them in order touches each index page once.
            located.sort_unstable();
            let mut index = tx.open_table(TX_INDEX).map_err(db)?;
            for (tx_hash, loc) in &located {
                index.insert(tx_hash.as_slice(), loc.as_slice()).map_err(db)?;
            }
            meta.insert(META_HEIGHT, height.to_be_bytes().as_slice()).map_err(db)?;
            meta.insert(META_APP_HASH, hash.as_slice()).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(())
    }
}

/// Blocks and their results are large and repetitive (ids, addresses): LZ4 makes them several
/// times smaller, which is most of a commit's write volume.
fn pack(bytes: &[u8]) -> Vec<u8> {
    lz4_flex::compress_prepend_size(bytes)
}

fn unpack(bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    lz4_flex::decompress_size_prepended(bytes).map_err(|e| StoreError::Corrupt(format!("compressed record: {e}")))
}

fn db_err(e: redb::TransactionError) -> StoreError {
    StoreError::Db(e.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_changes(state: &mut redb::Table<'_, &[u8], &[u8]>, changes: &ChangeSet) -> Result<(), StoreError> {
    for (k, v) in changes {
        match v {
            Some(v) => {
                state.insert(k.as_slice(), v.as_slice()).map_err(db)?;
            }
            None => {
                state.remove(k.as_slice()).map_err(db)?;
            }
        }
    }
    Ok(())
}

/// A read view of one committed height.
pub struct Snapshot {
    pub height: u64,
    pub app_hash: [u8; 32],
    state: ReadOnlyTable<&'static [u8], &'static [u8]>,
    blocks: ReadOnlyTable<u64, &'static [u8]>,
    results: ReadOnlyTable<u64, &'static [u8]>,
    certs: ReadOnlyTable<u64, &'static [u8]>,
    tx_index: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Snapshot {
    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        match self.blocks.get(height).map_err(db)? {
            Some(v) => borsh::from_slice(&unpack(v.value())?).map(Some).map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    /// The certificate block `height` was decided with (engine-encoded), if it has one.
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.certs.get(height).map_err(db)?.map(|v| v.value().to_vec()))
    }

    pub fn record(&self, height: u64) -> Result<Option<BlockRecord>, StoreError> {
        match self.results.get(height).map_err(db)? {
            Some(v) => borsh::from_slice(&unpack(v.value())?).map(Some).map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    /// Where a transaction was included: (height, index in the block).
    pub fn tx_location(&self, hash: &[u8; 32]) -> Result<Option<(u64, u32)>, StoreError> {
        let Some(v) = self.tx_index.get(hash.as_slice()).map_err(db)? else { return Ok(None) };
        let b = v.value();
        if b.len() != 12 {
            return Err(StoreError::Corrupt("tx index entry".into()));
        }
        let height = u64::from_be_bytes(b[..8].try_into().map_err(|_| StoreError::Corrupt("tx index".into()))?);
        let index = u32::from_be_bytes(b[8..].try_into().map_err(|_| StoreError::Corrupt("tx index".into()))?);
        Ok(Some((height, index)))
    }

    /// Entries under `prefix` starting after `after` (exclusive), at most `limit`: pagination.
    pub fn scan_page(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<stratus_ledger::Entries, StoreError> {
        // Strictly after `after`, but never before `prefix`: any cursor is a position, even one
        // another query issued.
        let start: Vec<u8> = match after {
            Some(a) if a >= prefix => {
                let mut s = a.to_vec();
                s.push(0);
                s
            }
            _ => prefix.to_vec(),
        };
        let mut out = Vec::new();
        for item in self.state.range(start.as_slice()..).map_err(db)? {
            let (k, v) = item.map_err(db)?;
            if !k.value().starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }
}

impl Snapshot {
    /// The whole state table in memory (for the execution mirror).
    pub fn load_state(&self) -> Result<stratus_ledger::MemState, StoreError> {
        let mut mem = stratus_ledger::MemState::default();
        for item in self.state.iter().map_err(db)? {
            let (k, v) = item.map_err(db)?;
            mem.entries.insert(k.value().to_vec(), v.value().to_vec());
        }
        Ok(mem)
    }
}

impl StateRead for Snapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        match self.state.get(key) {
            Ok(v) => Ok(v.map(|v| v.value().to_vec())),
            Err(e) => Err(LedgerError::Storage(e.to_string())),
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<stratus_ledger::Entries, LedgerError> {
        let storage = |e: redb::StorageError| LedgerError::Storage(e.to_string());
        let mut out = Vec::new();
        for item in self.state.range(prefix..).map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod encoding {
    #[test]
    fn record_ref_encodes_like_block_record() {
        let record = super::BlockRecord { app_hash: [3; 32], tx_results: vec![], events: vec![] };
        let by_ref =
            super::RecordRef { app_hash: &record.app_hash, tx_results: &record.tx_results, events: &record.events };
        assert_eq!(borsh::to_vec(&record).ok(), borsh::to_vec(&by_ref).ok());
    }
}
