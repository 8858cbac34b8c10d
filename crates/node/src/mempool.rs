//! Transactions admitted but not yet in a block, in arrival order.
//!
//! Plain data: the node checks a transaction against the committed state (`check_tx`) and then
//! asks the mempool what only it knows — the signer's pending transactions. A signer's
//! transactions must arrive with consecutive sequences (the committed sequence, then +1 for each
//! pending one), so taking transactions in arrival order keeps every signer's order too.

use std::collections::{BTreeMap, HashMap, HashSet};

use stratus_types::address::Address;
use stratus_types::tx::Tx;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_txs: usize,
    pub max_bytes: usize,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    #[error("mempool is full ({txs} transactions, {bytes} bytes); retry after the next block")]
    Full { txs: usize, bytes: usize },
    #[error(
        "account sequence mismatch: expected {expected}, got {got} ({pending} of this account's transactions are pending; sign with the next sequence)"
    )]
    Sequence { expected: u64, got: u64, pending: usize },
    #[error(
        "insufficient funds for fees: {address} has {have}{denom} and {pending}{denom} is already promised to pending transactions, needs {need}{denom} more"
    )]
    Fees { address: Address, have: u128, pending: u128, need: u128, denom: String },
}

struct Entry {
    tx: Tx,
    hash: [u8; 32],
    size: usize,
    signer: Address,
}

#[derive(Default)]
struct Pending {
    /// sequence → arrival number.
    by_sequence: BTreeMap<u64, u64>,
}

pub struct Mempool {
    limits: Limits,
    queue: BTreeMap<u64, Entry>,
    by_hash: HashMap<[u8; 32], u64>,
    by_signer: HashMap<Address, Pending>,
    bytes: usize,
    next_arrival: u64,
    /// In a block being committed: skipped by `reap`.
    in_block: HashSet<[u8; 32]>,
}

impl Mempool {
    pub fn new(limits: Limits) -> Mempool {
        Mempool {
            limits,
            queue: BTreeMap::new(),
            by_hash: HashMap::new(),
            by_signer: HashMap::new(),
            bytes: 0,
            next_arrival: 0,
            in_block: HashSet::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, hash: &[u8; 32]) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The sequence `signer`'s next transaction must carry, given its committed sequence.
    pub fn next_sequence(&self, signer: &Address, committed: u64) -> u64 {
        let last = self.by_signer.get(signer).and_then(|p| p.by_sequence.keys().next_back().copied());
        // A block may have committed some of these already (they leave the mempool just after).
        last.map_or(committed, |l| committed.max(l + 1))
    }

    /// Fees `signer`'s pending transactions will pay in `denom`.
    pub fn pending_fees(&self, signer: &Address, denom: &str) -> u128 {
        let Some(p) = self.by_signer.get(signer) else { return 0 };
        p.by_sequence
            .values()
            .filter_map(|a| self.queue.get(a))
            .filter(|e| e.tx.body.fee.denom == denom)
            .map(|e| e.tx.body.fee.amount)
            .fold(0u128, u128::saturating_add)
    }

    /// Admits a transaction that passed `check_tx` against the committed state, which reported
    /// the signer's committed sequence and fee-denomination balance.
    pub fn insert(
        &mut self,
        tx: Tx,
        hash: [u8; 32],
        size: usize,
        committed_sequence: u64,
        fee_balance: u128,
    ) -> Result<(), MempoolError> {
        if self.queue.len() >= self.limits.max_txs || self.bytes + size > self.limits.max_bytes {
            return Err(MempoolError::Full { txs: self.queue.len(), bytes: self.bytes });
        }
        let signer = tx.signer();
        let expected = self.next_sequence(&signer, committed_sequence);
        if tx.body.sequence != expected {
            let pending = self.by_signer.get(&signer).map_or(0, |p| p.by_sequence.len());
            return Err(MempoolError::Sequence { expected, got: tx.body.sequence, pending });
        }
        let denom = tx.body.fee.denom.clone();
        let pending = self.pending_fees(&signer, &denom);
        if pending.saturating_add(tx.body.fee.amount) > fee_balance {
            return Err(MempoolError::Fees {
                address: signer,
                have: fee_balance,
                pending,
                need: tx.body.fee.amount,
                denom,
            });
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.by_signer.entry(signer).or_default().by_sequence.insert(tx.body.sequence, arrival);
        self.by_hash.insert(hash, arrival);
        self.bytes += size;
        self.queue.insert(arrival, Entry { tx, hash, size, signer });
        Ok(())
    }

    /// The oldest transactions, up to the limits, for the next block (they stay here until
    /// [`Mempool::remove`] is called with the committed block's hashes).
    pub fn reap(&self, max_txs: usize, max_bytes: usize) -> Vec<Tx> {
        let mut bytes = 0;
        let mut out = Vec::new();
        for e in self.queue.values().filter(|e| !self.in_block.contains(&e.hash)) {
            if out.len() >= max_txs || bytes + e.size > max_bytes {
                break;
            }
            bytes += e.size;
            out.push(e.tx.clone());
        }
        out
    }

    /// Marks transactions a block holds that is executed but not yet durable: they stay (they
    /// still count for the next sequence a signer must use) but the next block does not take them.
    pub fn mark_in_block(&mut self, hashes: &[[u8; 32]]) {
        self.in_block.extend(hashes.iter().filter(|h| self.by_hash.contains_key(*h)).copied());
    }

    fn remove_arrival(&mut self, arrival: u64) -> Option<Entry> {
        let e = self.queue.remove(&arrival)?;
        self.by_hash.remove(&e.hash);
        self.in_block.remove(&e.hash);
        self.bytes -= e.size;
        if let Some(p) = self.by_signer.get_mut(&e.signer) {
            p.by_sequence.remove(&e.tx.body.sequence);
            if p.by_sequence.is_empty() {
                self.by_signer.remove(&e.signer);
            }
        }
        Some(e)
    }

    /// Removes transactions a block included.
    pub fn remove(&mut self, hashes: &[[u8; 32]]) {
        for h in hashes {
            if let Some(a) = self.by_hash.get(h).copied() {
                self.remove_arrival(a);
            }
        }
    }

    /// Signers that have pending transactions.
    pub fn signers(&self) -> Vec<Address> {
        self.by_signer.keys().copied().collect()
    }

    /// Drops a signer's pending transactions when they can no longer apply: their first
    /// sequence is not the committed one (an earlier transaction failed before its sequence
    /// advanced, or the account was used elsewhere). Returns the dropped hashes and why.
    pub fn drop_stale(&mut self, signer: &Address, committed: u64) -> Vec<([u8; 32], String)> {
        let Some(p) = self.by_signer.get(signer) else { return Vec::new() };
        let Some((&first, _)) = p.by_sequence.iter().next() else { return Vec::new() };
        if first == committed {
            return Vec::new();
        }
        let arrivals: Vec<u64> = p.by_sequence.values().copied().collect();
        let why = format!(
            "dropped from the mempool: it carries sequence {first} or later, but the account's next sequence is {committed} (an earlier transaction did not apply); sign again"
        );
        arrivals.into_iter().filter_map(|a| self.remove_arrival(a)).map(|e| (e.hash, why.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use stratus_types::coin::Coin;
    use stratus_types::tx::{Msg, TxBody};

    use super::*;

    fn tx(key: u8, sequence: u64, fee: u128) -> (Tx, [u8; 32], usize) {
        let k = SigningKey::from_bytes(&[key; 32]);
        let body = TxBody {
            chain_id: "t".into(),
            sequence,
            fee: Coin::new(fee, "uact"),
            memo: String::new(),
            msgs: vec![Msg::Send { to: Address([9; 20]), amount: Coin::new(1, "uact") }],
        };
        let tx = Tx::sign(body, &k);
        let hash = tx.hash();
        let size = tx.to_bytes().len();
        (tx, hash, size)
    }

    fn pool(max_txs: usize) -> Mempool {
        Mempool::new(Limits { max_txs, max_bytes: 1 << 20 })
    }

    #[test]
    fn sequences_must_follow_committed_then_pending() {
        let mut m = pool(10);
        let (t0, h0, s0) = tx(1, 5, 0);
        assert_eq!(
            m.insert(t0.clone(), h0, s0, 4, 100),
            Err(MempoolError::Sequence { expected: 4, got: 5, pending: 0 })
        );
        m.insert(t0, h0, s0, 5, 100).unwrap();
        let (t1, h1, s1) = tx(1, 5, 0);
        let (t1b, h1b, s1b) = tx(1, 6, 0);
        assert!(matches!(m.insert(t1, h1, s1, 5, 100), Err(MempoolError::Sequence { expected: 6, .. })));
        m.insert(t1b, h1b, s1b, 5, 100).unwrap();
        // Once the block with sequence 5 commits (committed = 6) but before it is removed,
        // the next expected is still 7.
        assert_eq!(m.next_sequence(&t0_signer(), 6), 7);
        // Another signer is independent.
        let (u, hu, su) = tx(2, 0, 0);
        m.insert(u, hu, su, 0, 0).unwrap();
        assert_eq!(m.len(), 3);
    }

    fn t0_signer() -> Address {
        tx(1, 0, 0).0.signer()
    }

    #[test]
    fn full_pool_and_fee_budget_are_errors() {
        let mut m = pool(1);
        let (a, ha, sa) = tx(1, 0, 60);
        m.insert(a, ha, sa, 0, 100).unwrap();
        let (b, hb, sb) = tx(2, 0, 0);
        assert!(matches!(m.insert(b, hb, sb, 0, 100), Err(MempoolError::Full { txs: 1, .. })));
        let mut m = pool(10);
        let (a, ha, sa) = tx(1, 0, 60);
        m.insert(a, ha, sa, 0, 100).unwrap();
        let (b, hb, sb) = tx(1, 1, 60);
        let err = m.insert(b, hb, sb, 0, 100).unwrap_err();
        assert!(matches!(err, MempoolError::Fees { pending: 60, need: 60, .. }), "{err}");
        assert!(err.to_string().contains("already promised"), "{err}");
    }

    #[test]
    fn reap_keeps_arrival_order_and_remove_forgets() {
        let mut m = pool(10);
        let mut hashes = Vec::new();
        for (key, seq) in [(1, 0), (2, 0), (1, 1), (3, 0)] {
            let (t, h, s) = tx(key, seq, 0);
            m.insert(t, h, s, 0, 0).unwrap();
            hashes.push(h);
        }
        let reaped: Vec<[u8; 32]> = m.reap(3, usize::MAX).iter().map(Tx::hash).collect();
        assert_eq!(reaped, hashes[..3]);
        assert_eq!(m.len(), 4, "reaping does not remove");
        m.remove(&hashes[..3]);
        assert_eq!(m.len(), 1);
        assert!(m.contains(&hashes[3]) && !m.contains(&hashes[0]));
        assert_eq!(m.next_sequence(&t0_signer(), 2), 2);
        let one = m.reap(10, 1);
        assert!(one.is_empty(), "byte limit applies");
    }

    #[test]
    fn a_block_being_committed_keeps_its_transactions_counted_but_not_reaped() {
        let mut m = pool(10);
        let mut hashes = Vec::new();
        for seq in 0..3 {
            let (t, h, s) = tx(1, seq, 0);
            m.insert(t, h, s, 0, 0).unwrap();
            hashes.push(h);
        }
        m.mark_in_block(&hashes[..2]);
        let reaped: Vec<[u8; 32]> = m.reap(10, usize::MAX).iter().map(Tx::hash).collect();
        assert_eq!(reaped, vec![hashes[2]], "the next block takes only what the committing one does not hold");
        assert_eq!(m.next_sequence(&t0_signer(), 0), 3, "the in-block transactions still count for the sequence");
        m.remove(&hashes[..2]);
        let (t, h, s) = tx(1, 3, 0);
        m.insert(t, h, s, 2, 0).unwrap();
        assert_eq!(m.reap(10, usize::MAX).len(), 2, "once removed, nothing stays marked");
    }

    #[test]
    fn stale_signers_are_dropped_with_a_reason() {
        let mut m = pool(10);
        for seq in 0..3 {
            let (t, h, s) = tx(1, seq, 0);
            m.insert(t, h, s, 0, 0).unwrap();
        }
        let first = tx(1, 0, 0).1;
        m.remove(&[first]);
        // Committed sequence stayed 0 (the tx failed its envelope): 1 and 2 can never apply.
        let dropped = m.drop_stale(&t0_signer(), 0);
        assert_eq!(dropped.len(), 2);
        assert!(dropped[0].1.contains("next sequence is 0"));
        assert!(m.is_empty() && m.bytes() == 0);
        assert!(m.drop_stale(&t0_signer(), 0).is_empty());
    }
}
