//! Which samples each worker trains, pure: a deterministic assignment of shards from (job seed,
//! epoch) over the live members, and the bookkeeping that keeps "every sample of an epoch is
//! trained exactly once" true while members die, are dropped from a round, join, and while the
//! whole plan is saved in a checkpoint and restored.
//!
//! The life of a sample range: *queued* for a member → *in flight* (taken for a round) →
//! *committed* when the member's contribution is applied, or back to the front of its queue when
//! the contribution is dropped (late), or handed to the other members when the member leaves.
//! "Trained" means "part of an applied update": a dropped round's samples are trained again.
//! A member that runs out of work takes half of the largest range of the member with the most
//! left, so an epoch ends on all members at about the same time; only when nobody has work left
//! is the next epoch dealt.

use std::collections::{BTreeMap, VecDeque};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

pub type WorkerId = u32;

/// Samples `from..to` of a shard, in an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Range {
    pub epoch: u64,
    pub shard: u32,
    pub from: u32,
    pub to: u32,
}

impl Range {
    pub fn len(&self) -> u32 {
        self.to - self.from
    }

    pub fn is_empty(&self) -> bool {
        self.to <= self.from
    }
}

/// Where a member is: the next sample it will train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: u64,
    pub shard: u32,
    pub offset: u32,
}

/// The shards of `epoch` for each of `members` (sorted): a seeded shuffle of the shard ids dealt
/// round-robin. A function of (seed, epoch, members) only.
pub fn assign(seed: u64, epoch: u64, shards: u32, members: &[WorkerId]) -> BTreeMap<WorkerId, Vec<u32>> {
    let mut order: Vec<u32> = (0..shards).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    order.shuffle(&mut rng);
    let mut sorted = members.to_vec();
    sorted.sort_unstable();
    let mut out: BTreeMap<WorkerId, Vec<u32>> = sorted.iter().map(|m| (*m, Vec::new())).collect();
    if sorted.is_empty() {
        return out;
    }
    for (i, shard) in order.into_iter().enumerate() {
        out.entry(sorted[i % sorted.len()]).or_default().push(shard);
    }
    out
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataPlan {
    seed: u64,
    /// Samples in each training shard.
    shard_sizes: Vec<u32>,
    /// The first epoch not yet dealt out.
    next_epoch: u64,
    queues: BTreeMap<WorkerId, VecDeque<Range>>,
    in_flight: BTreeMap<WorkerId, Vec<Range>>,
    /// Work of members that left when nobody else was there; the next member takes it.
    orphans: Vec<Range>,
}

impl DataPlan {
    pub fn new(seed: u64, shard_sizes: Vec<u32>) -> DataPlan {
        DataPlan {
            seed,
            shard_sizes,
            next_epoch: 0,
            queues: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            orphans: Vec::new(),
        }
    }

    pub fn members(&self) -> Vec<WorkerId> {
        self.queues.keys().copied().collect()
    }

    pub fn samples_per_epoch(&self) -> u64 {
        self.shard_sizes.iter().map(|s| u64::from(*s)).sum()
    }

    pub fn join(&mut self, id: WorkerId) {
        let queue = self.queues.entry(id).or_default();
        queue.extend(self.orphans.drain(..));
        sort_by_epoch(queue);
        self.in_flight.entry(id).or_default();
    }

    /// Takes the next `n` samples for `id` to train in this round, dealing out new epochs as
    /// needed. Fewer come back only when the data set is empty.
    pub fn take(&mut self, id: WorkerId, n: u32) -> Vec<Range> {
        if !self.queues.contains_key(&id) {
            self.join(id);
        }
        let mut out = Vec::new();
        let mut left = n;
        while left > 0 {
            let front = self.queues.get_mut(&id).and_then(|q| q.pop_front());
            let Some(mut r) = front else {
                if self.samples_per_epoch() == 0 {
                    break;
                }
                // Out of work: help a member that has some left in this epoch, else start the next.
                if !self.steal(id) {
                    self.deal_next_epoch();
                }
                continue;
            };
            if r.len() > left {
                let rest = Range { from: r.from + left, ..r };
                r.to = r.from + left;
                if let Some(q) = self.queues.get_mut(&id) {
                    q.push_front(rest);
                }
            }
            left -= r.len();
            out.push(r);
        }
        self.in_flight.entry(id).or_default().extend(out.iter().copied());
        out
    }

    /// `id`'s contribution was applied: what it took is trained.
    pub fn commit(&mut self, id: WorkerId) -> Vec<Range> {
        self.in_flight.get_mut(&id).map(std::mem::take).unwrap_or_default()
    }

    /// `id`'s contribution was dropped: what it took goes back to the front of its queue.
    pub fn rewind(&mut self, id: WorkerId) {
        let taken = self.in_flight.get_mut(&id).map(std::mem::take).unwrap_or_default();
        if let Some(q) = self.queues.get_mut(&id) {
            for r in taken.into_iter().rev() {
                q.push_front(r);
            }
            merge_adjacent(q);
        }
    }

    /// `id` left (died or was removed): its unfinished work is dealt to the others, range by range
    /// in member order, or kept for the next member when none is left.
    pub fn leave(&mut self, id: WorkerId) {
        self.rewind(id);
        self.in_flight.remove(&id);
        let Some(work) = self.queues.remove(&id) else { return };
        let others: Vec<WorkerId> = self.queues.keys().copied().collect();
        if others.is_empty() {
            self.orphans.extend(work);
            return;
        }
        for (i, r) in work.into_iter().enumerate() {
            if let Some(q) = self.queues.get_mut(&others[i % others.len()]) {
                q.push_back(r);
            }
        }
        for q in self.queues.values_mut() {
            sort_by_epoch(q);
        }
    }

    pub fn position(&self, id: WorkerId) -> Option<Position> {
        let r = self.in_flight.get(&id).and_then(|f| f.first()).or_else(|| self.queues.get(&id)?.front())?;
        Some(Position { epoch: r.epoch, shard: r.shard, offset: r.from })
    }

    /// Every member's position, for checkpoints.
    pub fn positions(&self) -> BTreeMap<WorkerId, Position> {
        self.queues.keys().filter_map(|id| Some((*id, self.position(*id)?))).collect()
    }

    /// Epochs dealt out so far.
    pub fn epochs_started(&self) -> u64 {
        self.next_epoch
    }

    /// Moves half of the largest queued range of the member with the most queued samples (the
    /// lowest id among equals) to `thief`; false when nobody has queued work.
    fn steal(&mut self, thief: WorkerId) -> bool {
        let queued = |q: &VecDeque<Range>| q.iter().map(|r| u64::from(r.len())).sum::<u64>();
        let victim = self
            .queues
            .iter()
            .filter(|(id, q)| **id != thief && queued(q) > 0)
            .max_by(|a, b| queued(a.1).cmp(&queued(b.1)).then(b.0.cmp(a.0)))
            .map(|(id, _)| *id);
        let Some(victim) = victim else { return false };
        let Some(q) = self.queues.get_mut(&victim) else { return false };
        let Some((at, _)) = q.iter().enumerate().max_by_key(|(i, r)| (r.len(), *i)) else { return false };
        let r = q[at];
        let stolen = if r.len() >= 2 {
            let mid = r.from + r.len() / 2;
            q[at].to = mid;
            Range { from: mid, ..r }
        } else {
            q.remove(at);
            r
        };
        if let Some(mine) = self.queues.get_mut(&thief) {
            mine.push_back(stolen);
        }
        true
    }

    fn deal_next_epoch(&mut self) {
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        let members = self.members();
        for (member, shards) in assign(self.seed, epoch, self.shard_sizes.len() as u32, &members) {
            let q = self.queues.entry(member).or_default();
            for shard in shards {
                let size = self.shard_sizes[shard as usize];
                if size > 0 {
                    q.push_back(Range { epoch, shard, from: 0, to: size });
                }
            }
        }
    }
}

/// Older epochs first, keeping the order within an epoch.
fn sort_by_epoch(q: &mut VecDeque<Range>) {
    q.make_contiguous().sort_by_key(|r| r.epoch);
}

/// A rewound range and the rest of its shard become one range again.
fn merge_adjacent(q: &mut VecDeque<Range>) {
    let mut merged: VecDeque<Range> = VecDeque::with_capacity(q.len());
    for r in q.drain(..) {
        match merged.back_mut() {
            Some(last) if last.epoch == r.epoch && last.shard == r.shard && last.to == r.from => last.to = r.to,
            _ => merged.push_back(r),
        }
    }
    *q = merged;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn assignment_is_a_function_of_seed_epoch_and_members() {
        let a = assign(7, 3, 10, &[2, 0, 1]);
        assert_eq!(a, assign(7, 3, 10, &[0, 1, 2]), "member order does not matter");
        let mut all: Vec<u32> = a.values().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>(), "every shard once");
        assert!(a.values().all(|s| s.len() == 3 || s.len() == 4));
        assert_ne!(a, assign(7, 4, 10, &[0, 1, 2]), "another epoch, another order");
        assert_ne!(a, assign(8, 3, 10, &[0, 1, 2]), "another seed, another order");
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Every member takes `n`; the members whose bit is set in `dropped` are late.
        Round {
            n: u32,
            dropped: u8,
        },
        /// A member dies mid-round, after taking its samples.
        DieMidRound {
            who: u8,
            n: u32,
        },
        Join,
        /// The coordinator restarts from the last checkpoint (taken at the last round's close).
        Resume,
        Checkpoint,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1u32..40, any::<u8>()).prop_map(|(n, dropped)| Op::Round { n, dropped }),
            1 => (any::<u8>(), 1u32..40).prop_map(|(who, n)| Op::DieMidRound { who, n }),
            1 => Just(Op::Join),
            1 => Just(Op::Resume),
            2 => Just(Op::Checkpoint),
        ]
    }

    proptest! {
        /// Across deaths, late rounds, joins and resumes from checkpoints: in every epoch no
        /// sample is trained twice, and every epoch that was finished had each sample trained.
        #[test]
        fn no_sample_twice_in_an_epoch_and_none_skipped(
            sizes in proptest::collection::vec(1u32..30, 1..6),
            ops in proptest::collection::vec(op(), 1..60),
        ) {
            let mut plan = DataPlan::new(42, sizes.clone());
            let mut next_id: WorkerId = 0;
            for _ in 0..3 { plan.join(next_id); next_id += 1; }
            // (epoch, shard, sample) → times trained; saved and restored with the plan.
            let mut trained: BTreeMap<(u64, u32, u32), u32> = BTreeMap::new();
            let mut saved = (plan.clone(), trained.clone());
            for op in ops {
                match op {
                    Op::Round { n, dropped } => {
                        let members = plan.members();
                        for m in &members { plan.take(*m, n); }
                        for (i, m) in members.iter().enumerate() {
                            if dropped & (1 << (i % 8)) != 0 {
                                plan.rewind(*m);
                            } else {
                                for r in plan.commit(*m) {
                                    for s in r.from..r.to { *trained.entry((r.epoch, r.shard, s)).or_default() += 1; }
                                }
                            }
                        }
                    }
                    Op::DieMidRound { who, n } => {
                        let members = plan.members();
                        if let Some(m) = members.get(usize::from(who) % members.len().max(1)) {
                            plan.take(*m, n);
                            plan.leave(*m);
                        }
                    }
                    Op::Join => { plan.join(next_id); next_id += 1; }
                    Op::Checkpoint => {
                        let json = serde_json::to_string(&plan).expect("serialises");
                        saved = (serde_json::from_str(&json).expect("deserialises"), trained.clone());
                    }
                    Op::Resume => { plan = saved.0.clone(); trained = saved.1.clone(); }
                }
                prop_assert!(trained.values().all(|t| *t == 1), "a sample trained twice: {trained:?}");
            }
            // Finish: one member drains everything that was dealt out.
            if plan.members().is_empty() { plan.join(next_id); }
            let epochs = plan.epochs_started();
            let m = plan.members()[0];
            for other in plan.members().into_iter().skip(1) { plan.leave(other); }
            let outstanding: u32 = plan.queues.values().flatten().map(Range::len).sum::<u32>()
                + plan.orphans.iter().map(Range::len).sum::<u32>();
            plan.take(m, outstanding);
            for r in plan.commit(m) {
                prop_assert!(r.epoch < epochs, "draining dealt a new epoch");
                for s in r.from..r.to { *trained.entry((r.epoch, r.shard, s)).or_default() += 1; }
            }
            for e in 0..epochs {
                for (shard, size) in sizes.iter().enumerate() {
                    for s in 0..*size {
                        prop_assert_eq!(trained.get(&(e, shard as u32, s)).copied(), Some(1), "epoch {} shard {} sample {}", e, shard, s);
                    }
                }
            }
        }
    }

    #[test]
    fn a_dead_members_unfinished_shard_goes_on_where_it_stopped() {
        let mut plan = DataPlan::new(1, vec![10, 10]);
        plan.join(0);
        plan.join(1);
        let a = plan.take(0, 4);
        plan.commit(0);
        plan.take(1, 4);
        plan.commit(1);
        assert_eq!(plan.position(0), Some(Position { epoch: 0, shard: a[0].shard, offset: 4 }));
        plan.take(0, 3);
        plan.leave(0); // died mid-round: the three it took are not trained
        let next = plan.take(1, 12);
        assert!(next.contains(&Range { epoch: 0, shard: a[0].shard, from: 4, to: 10 }), "{next:?}");
    }
}
