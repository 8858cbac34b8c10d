//! The ledger's view of state: ordered bytes → bytes, read through [`StateRead`] (implemented by
//! the store, and by [`MemState`] for tests and genesis), written into a [`State`] overlay whose
//! journal lets a failed transaction undo exactly its own writes.

use std::collections::BTreeMap;
use std::ops::Bound;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::LedgerError;

/// Key/value pairs in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Read access to committed state.
pub trait StateRead {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError>;
    /// Every entry whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, LedgerError>;
}

/// The writes of a block: key → new value, or `None` for a deletion. Ordered, so that encoding it
/// (for the app hash) and applying it are deterministic.
pub type ChangeSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// State held in memory: genesis building, tests, and the invariant checker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemState {
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemState {
    pub fn apply(&mut self, changes: &ChangeSet) {
        for (k, v) in changes {
            match v {
                // An update reuses the key and the value's buffer: most writes of a block update
                // existing records, and this runs for every key on the node's critical path.
                Some(v) => match self.entries.get_mut(k.as_slice()) {
                    Some(slot) => slot.clone_from(v),
                    None => {
                        self.entries.insert(k.clone(), v.clone());
                    }
                },
                None => {
                    self.entries.remove(k);
                }
            }
        }
    }
}

impl StateRead for MemState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.entries.get(key).cloned())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, LedgerError> {
        Ok(self
            .entries
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// Committed state with one block's changes on top, not yet committed: lets block N+1 execute
/// while block N is still being written (the store commits in order).
pub struct Layered<'a> {
    pub base: &'a dyn StateRead,
    pub top: &'a ChangeSet,
}

impl StateRead for Layered<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        match self.top.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, LedgerError> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self.base.scan_prefix(prefix)?.into_iter().collect();
        for (k, v) in self.top.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => {
                    merged.insert(k.clone(), v.clone());
                }
                None => {
                    merged.remove(k);
                }
            }
        }
        Ok(merged.into_iter().collect())
    }
}

/// Counts of state accesses, to show that per-block work does not grow with state size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessCounts {
    pub reads: u64,
    pub scanned: u64,
    pub writes: u64,
}

/// Pending writes over a committed base. Reads see pending writes first.
pub struct State<'b> {
    base: &'b dyn StateRead,
    writes: ChangeSet,
    /// What `writes` held for each key before every write since the journal was last cleared.
    journal: Vec<JournalEntry>,
    pub counts: AccessCounts,
}

/// A key and its pending write before a later write replaced it (`None`: no pending write).
type JournalEntry = (Vec<u8>, Option<Option<Vec<u8>>>);

/// A point to roll back to.
#[derive(Clone, Copy, Debug)]
pub struct Checkpoint(usize);

impl<'b> State<'b> {
    pub fn new(base: &'b dyn StateRead) -> State<'b> {
        State { base, writes: ChangeSet::new(), journal: Vec::new(), counts: AccessCounts::default() }
    }

    pub fn get_raw(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        self.counts.reads += 1;
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    pub fn put_raw(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.counts.writes += 1;
        let previous = self.writes.insert(key.clone(), value);
        self.journal.push((key, previous));
    }

    pub fn get<T: BorshDeserialize>(&mut self, key: &[u8]) -> Result<Option<T>, LedgerError> {
        self.counts.reads += 1;
        // Decode pending writes in place: reads are the hot path of every transaction.
        let decode = |bytes: &[u8]| borsh::from_slice(bytes).map_err(|e| LedgerError::corrupt(key, &e));
        match self.writes.get(key) {
            Some(Some(bytes)) => decode(bytes).map(Some),
            Some(None) => Ok(None),
            None => match self.base.get(key)? {
                Some(bytes) => decode(&bytes).map(Some),
                None => Ok(None),
            },
        }
    }

    /// True when `key` holds a value.
    pub fn contains(&mut self, key: &[u8]) -> Result<bool, LedgerError> {
        self.counts.reads += 1;
        match self.writes.get(key) {
            Some(v) => Ok(v.is_some()),
            None => Ok(self.base.get(key)?.is_some()),
        }
    }

    pub fn put<T: BorshSerialize>(&mut self, key: Vec<u8>, value: &T) {
        let bytes = borsh::to_vec(value).unwrap_or_default();
        self.put_raw(key, Some(bytes));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.put_raw(key, None);
    }

    /// Entries under `prefix` with pending writes applied, in key order.
    pub fn scan_raw(&mut self, prefix: &[u8]) -> Result<Entries, LedgerError> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self.base.scan_prefix(prefix)?.into_iter().collect();
        for (k, v) in self.writes.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => {
                    merged.insert(k.clone(), v.clone());
                }
                None => {
                    merged.remove(k);
                }
            }
        }
        self.counts.scanned += merged.len() as u64;
        Ok(merged.into_iter().collect())
    }

    pub fn scan<T: BorshDeserialize>(&mut self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, T)>, LedgerError> {
        self.scan_raw(prefix)?
            .into_iter()
            .map(|(k, v)| match borsh::from_slice(&v) {
                Ok(t) => Ok((k, t)),
                Err(e) => Err(LedgerError::corrupt(&k, &e)),
            })
            .collect()
    }

    pub fn checkpoint(&mut self) -> Checkpoint {
        Checkpoint(self.journal.len())
    }

    /// Undoes every write made after `cp`.
    pub fn rollback(&mut self, cp: Checkpoint) {
        while self.journal.len() > cp.0 {
            let Some((key, previous)) = self.journal.pop() else { break };
            match previous {
                Some(v) => {
                    self.writes.insert(key, v);
                }
                None => {
                    self.writes.remove(&key);
                }
            }
        }
    }

    /// Forgets the journal: what was written stays written.
    pub fn commit_journal(&mut self) {
        self.journal.clear();
    }

    /// The block's real changes: writes that leave a key as it was (rewritten with the same
    /// value, or deleted when absent) are dropped, so the change set, and the app hash over it,
    /// depend only on what changed.
    pub fn into_changes(self) -> Result<ChangeSet, LedgerError> {
        let base = self.base;
        let mut changes = self.writes;
        let mut unchanged = Vec::new();
        for (k, v) in &changes {
            if base.get(k)? == *v {
                unchanged.push(k.clone());
            }
        }
        for k in unchanged {
            changes.remove(&k);
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layered_view_sees_pending_changes() {
        let mut base = MemState::default();
        base.entries.insert(b"k/1".to_vec(), b"old".to_vec());
        base.entries.insert(b"k/2".to_vec(), b"gone".to_vec());
        let mut top = ChangeSet::new();
        top.insert(b"k/1".to_vec(), Some(b"new".to_vec()));
        top.insert(b"k/2".to_vec(), None);
        top.insert(b"k/3".to_vec(), Some(b"added".to_vec()));
        let view = Layered { base: &base, top: &top };
        assert_eq!(view.get(b"k/1").unwrap(), Some(b"new".to_vec()));
        assert_eq!(view.get(b"k/2").unwrap(), None);
        let keys: Vec<Vec<u8>> = view.scan_prefix(b"k/").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"k/1".to_vec(), b"k/3".to_vec()]);
    }

    #[test]
    fn overlay_reads_writes_scans_and_rolls_back() {
        let mut base = MemState::default();
        base.entries.insert(b"a/1".to_vec(), b"x".to_vec());
        base.entries.insert(b"a/2".to_vec(), b"y".to_vec());
        base.entries.insert(b"b/1".to_vec(), b"z".to_vec());
        let mut st = State::new(&base);
        st.put_raw(b"a/3".to_vec(), Some(b"w".to_vec()));
        st.delete(b"a/1".to_vec());
        let keys: Vec<Vec<u8>> = st.scan_raw(b"a/").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"a/2".to_vec(), b"a/3".to_vec()]);
        st.commit_journal();
        let cp = st.checkpoint();
        st.put_raw(b"a/2".to_vec(), Some(b"changed".to_vec()));
        st.delete(b"a/3".to_vec());
        st.rollback(cp);
        assert_eq!(st.get_raw(b"a/2").unwrap(), Some(b"y".to_vec()));
        assert_eq!(st.get_raw(b"a/3").unwrap(), Some(b"w".to_vec()));
        st.put_raw(b"b/1".to_vec(), Some(b"z".to_vec()));
        st.delete(b"c/1".to_vec());
        let changes = st.into_changes().unwrap();
        assert_eq!(changes.get(b"a/1".as_slice()), Some(&None));
        assert_eq!(changes.len(), 2, "rewriting b/1 unchanged and deleting absent c/1 are no changes");
    }
}
