//! Proposed blocks not yet decided, on disk (`HOME/data/consensus.redb`), so that after a crash
//! the WAL's replayed votes find the block they voted for, and a proposer asked again for the
//! same height and round proposes the same block instead of equivocating.

use std::path::Path;

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types::{Round, Validity};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::context::{BlockId, Height, Signature, ValidatorAddress};

/// Block id → [`Stashed`].
const UNDECIDED: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("undecided");

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Stashed {
    pub height: Height,
    pub round: Round,
    pub pol_round: Round,
    pub proposer: ValidatorAddress,
    pub block_bytes: Vec<u8>,
    /// The proposer's signature over the parts (none for a block that came by sync).
    pub signature: Option<Signature>,
    pub valid: bool,
}

impl Stashed {
    pub fn validity(&self) -> Validity {
        if self.valid { Validity::Valid } else { Validity::Invalid }
    }
}

pub struct Stash {
    db: Database,
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("consensus stash: {e}")
}

impl Stash {
    pub fn open(path: &Path) -> anyhow::Result<Stash> {
        let db = Database::create(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(UNDECIDED).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Stash { db })
    }

    /// Stores a proposed block durably (before this node proposes or votes for it).
    pub fn put(&self, id: &BlockId, entry: &Stashed) -> anyhow::Result<()> {
        let bytes = borsh::to_vec(entry).map_err(err)?;
        let tx = self.db.begin_write().map_err(err)?;
        tx.open_table(UNDECIDED).map_err(err)?.insert(&id.0, bytes.as_slice()).map_err(err)?;
        tx.commit().map_err(err)
    }

    pub fn get(&self, id: &BlockId) -> anyhow::Result<Option<Stashed>> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(UNDECIDED).map_err(err)?;
        match table.get(&id.0).map_err(err)? {
            Some(v) => Ok(Some(borsh::from_slice(v.value()).map_err(err)?)),
            None => Ok(None),
        }
    }

    /// Everything stashed for `height` (a few entries: one per round that had a proposal).
    pub fn at_height(&self, height: Height) -> anyhow::Result<Vec<(BlockId, Stashed)>> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(UNDECIDED).map_err(err)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(err)? {
            let (k, v) = row.map_err(err)?;
            let entry: Stashed = borsh::from_slice(v.value()).map_err(err)?;
            if entry.height == height {
                out.push((BlockId(*k.value()), entry));
            }
        }
        Ok(out)
    }

    /// Forgets everything at or below a committed height.
    pub fn prune_through(&self, height: Height) -> anyhow::Result<()> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut table = tx.open_table(UNDECIDED).map_err(err)?;
            table.retain(|_, v| borsh::from_slice::<Stashed>(v).is_ok_and(|e| e.height > height)).map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}
