//! The arena's reward arithmetic (FLock's scheme, `../shared/design/arena.md`), pure and exact:
//! whole units only, every division floors, and what flooring leaves over is returned as the
//! `remainder` (it goes to the community pool), so `Σ paid + remainder = pool` always.
//!
//! - The pool splits into the training nodes' part (`node_share_bps`) and the validators'.
//! - Training nodes are ranked by the median of their revealed scores (lower is better: bits per
//!   byte); rank r weighs q^r (q = `q_bps`/10000, in 18-decimal fixed point), times the node's
//!   stake (own + delegated) relative to all nodes' stake.
//! - Validators weigh `max_deviation_bps − deviation` (their mean distance from the medians, in
//!   basis points of the median) times their relative stake; one past `max_deviation_bps`, or one
//!   that did not reveal every assigned score, gets nothing.
//! - A participant's reward splits between it and its delegators: delegators get
//!   `reward × t_d/(t_n + t_d) × (1 − σ)`, pro rata to their delegations; the participant the rest.

use std::collections::BTreeMap;

use stratus_types::address::Address;
use stratus_types::arena::ArenaParams as RewardParams;

/// 10^18: q^rank is carried with 18 decimals.
const ONE: u128 = 1_000_000_000_000_000_000;
const BPS: u128 = 10_000;

/// `a × b / c`, floored, exact for any u128 inputs whose result fits (a 256-bit product).
pub fn mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return None;
    }
    // a × b as (hi, lo) 128-bit words, by 64-bit limbs.
    let (a1, a0) = (a >> 64, a & u128::from(u64::MAX));
    let (b1, b0) = (b >> 64, b & u128::from(u64::MAX));
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u128::from(u64::MAX)) + (p10 & u128::from(u64::MAX));
    let lo = (p00 & u128::from(u64::MAX)) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    if hi == 0 {
        return Some(lo / c);
    }
    if hi >= c {
        return None; // the quotient does not fit in 128 bits
    }
    // Long division of (hi, lo) by c, one bit at a time (hi < c keeps the remainder below c).
    let (mut rem, mut quo) = (hi, 0u128);
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        quo <<= 1;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            quo |= 1;
        }
    }
    Some(quo)
}

/// A participant with its stake and delegations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staker {
    pub address: Address,
    pub own: u128,
    /// (delegator, amount), in a fixed order (the ledger's key order).
    pub delegations: Vec<(Address, u128)>,
    pub commission_bps: u32,
}

impl Staker {
    pub fn delegated(&self) -> u128 {
        self.delegations.iter().map(|(_, a)| *a).sum()
    }

    pub fn total(&self) -> u128 {
        self.own.saturating_add(self.delegated())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeResult {
    pub staker: Staker,
    /// Median of the revealed scores of its best submission (lower is better); `None`: no
    /// scored submission (no reward).
    pub score: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorResult {
    pub staker: Staker,
    /// Revealed every score it was assigned.
    pub revealed_all: bool,
    /// Its mean distance from the medians, basis points of the median.
    pub deviation_bps: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Training nodes by rank (best first): (address, rank), unranked ones left out.
    pub ranking: Vec<(Address, u32)>,
    /// What each address receives (participants and delegators together).
    pub paid: BTreeMap<Address, u128>,
    /// Left over by flooring (and unearned parts): to the community pool.
    pub remainder: u128,
}

impl Outcome {
    fn pay(&mut self, to: Address, amount: u128) {
        if amount > 0 {
            *self.paid.entry(to).or_default() += amount;
        }
    }

    pub fn total_paid(&self) -> u128 {
        self.paid.values().sum()
    }
}

/// Splits `pool` as the module doc says. Never pays more than `pool`; `None` only when the
/// parameters are impossible (q ≥ 1, shares over 100%).
pub fn compute(pool: u128, p: &RewardParams, nodes: &[NodeResult], validators: &[ValidatorResult]) -> Option<Outcome> {
    if u128::from(p.q_bps) >= BPS || u128::from(p.node_share_bps) > BPS {
        return None;
    }
    let mut out = Outcome::default();
    let node_pool = mul_div(pool, u128::from(p.node_share_bps), BPS)?;
    let validator_pool = pool - node_pool;

    // Nodes: rank by (score, address); weight q^rank × relative stake.
    let mut ranked: Vec<&NodeResult> = nodes.iter().filter(|n| n.score.is_some() && n.staker.total() > 0).collect();
    ranked.sort_by(|a, b| a.score.cmp(&b.score).then(a.staker.address.cmp(&b.staker.address)));
    let node_stake: u128 = ranked.iter().map(|n| n.staker.total()).fold(0u128, u128::saturating_add);
    let mut q_pow = ONE;
    let mut weights = Vec::with_capacity(ranked.len());
    for (rank, n) in ranked.iter().enumerate() {
        out.ranking.push((n.staker.address, u32::try_from(rank).unwrap_or(u32::MAX)));
        weights.push(mul_div(q_pow, n.staker.total(), node_stake)?);
        q_pow = mul_div(q_pow, u128::from(p.q_bps), BPS)?;
    }
    let paid_nodes = split(&mut out, node_pool, ranked.iter().map(|n| &n.staker).zip(weights))?;

    // Validators: closeness to the medians × relative stake; the far and the silent get nothing.
    let eligible: Vec<&ValidatorResult> = validators
        .iter()
        .filter(|v| v.revealed_all && v.deviation_bps <= u64::from(p.max_deviation_bps) && v.staker.total() > 0)
        .collect();
    let validator_stake: u128 = eligible.iter().map(|v| v.staker.total()).fold(0u128, u128::saturating_add);
    let mut vweights = Vec::with_capacity(eligible.len());
    for v in &eligible {
        let closeness = u128::from(p.max_deviation_bps) - u128::from(v.deviation_bps) + 1;
        vweights.push(mul_div(
            closeness * ONE / (u128::from(p.max_deviation_bps) + 1),
            v.staker.total(),
            validator_stake,
        )?);
    }
    let paid_validators = split(&mut out, validator_pool, eligible.iter().map(|v| &v.staker).zip(vweights))?;
    out.remainder = pool - paid_nodes - paid_validators;
    Some(out)
}

/// Pays `amount` by weight to each staker and its delegators; returns what was paid.
fn split<'a>(out: &mut Outcome, amount: u128, weighted: impl Iterator<Item = (&'a Staker, u128)>) -> Option<u128> {
    let weighted: Vec<(&Staker, u128)> = weighted.collect();
    let total_weight: u128 = weighted.iter().map(|(_, w)| *w).fold(0u128, u128::saturating_add);
    if total_weight == 0 {
        return Some(0);
    }
    let mut paid = 0u128;
    for (s, w) in weighted {
        let reward = mul_div(amount, w, total_weight)?;
        let delegated = s.delegated();
        let to_delegators =
            mul_div(mul_div(reward, delegated, s.total())?, BPS - u128::from(s.commission_bps.min(10_000)), BPS)?;
        let mut given = 0u128;
        for (d, a) in &s.delegations {
            let part = mul_div(to_delegators, *a, delegated)?;
            out.pay(*d, part);
            given += part;
        }
        let own = reward - to_delegators;
        out.pay(s.address, own);
        paid += own + given;
    }
    Some(paid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(i: u8) -> Address {
        Address([i; 20])
    }

    fn staker(i: u8, own: u128, delegations: Vec<(u8, u128)>, commission_bps: u32) -> Staker {
        Staker {
            address: addr(i),
            own,
            delegations: delegations.into_iter().map(|(d, a)| (addr(d), a)).collect(),
            commission_bps,
        }
    }

    /// The chain's defaults: 70% to nodes, q = 0.5, validators within 20% of the median.
    fn p() -> RewardParams {
        RewardParams::default()
    }

    #[test]
    fn mul_div_is_exact_past_128_bits() {
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Some(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 3, 6), Some(u128::MAX / 2));
        assert_eq!(mul_div(1 << 100, 1 << 100, 1 << 90), Some(1 << 110));
        assert_eq!(mul_div(u128::MAX, 2, 1), None);
        assert_eq!(mul_div(1, 1, 0), None);
        assert_eq!(mul_div(7, 3, 2), Some(10));
    }

    #[test]
    fn a_worked_example_to_the_unit() {
        // Pool 1_000_000: nodes 700_000, validators 300_000.
        let nodes = vec![
            NodeResult { staker: staker(1, 100, vec![], 0), score: Some(1_200_000) },
            NodeResult { staker: staker(2, 100, vec![(9, 100)], 1_000), score: Some(1_100_000) },
            NodeResult { staker: staker(3, 200, vec![], 0), score: Some(9_990_000) },
        ];
        let validators = vec![
            ValidatorResult { staker: staker(4, 100, vec![], 0), revealed_all: true, deviation_bps: 0 },
            ValidatorResult { staker: staker(5, 100, vec![], 0), revealed_all: true, deviation_bps: 1_000 },
            ValidatorResult { staker: staker(6, 100, vec![], 0), revealed_all: true, deviation_bps: 5_000 },
            ValidatorResult { staker: staker(7, 100, vec![], 0), revealed_all: false, deviation_bps: 0 },
        ];
        let out = compute(1_000_000, &p(), &nodes, &validators).unwrap();
        assert_eq!(out.ranking, vec![(addr(2), 0), (addr(1), 1), (addr(3), 2)]);
        // Weights: node 2: 1 × 200/600, node 1: 0.5 × 100/600, node 3: 0.25 × 200/600 → 4 : 1 : 1.
        // Node 2's 466_666 splits: delegators 466_666 × 100/200 × 0.9 = 209_999; node 2 keeps 256_667.
        assert_eq!(out.paid[&addr(9)], 209_999);
        assert_eq!(out.paid[&addr(2)], 256_667);
        assert_eq!(out.paid[&addr(1)], 116_666);
        assert_eq!(out.paid[&addr(3)], 116_666);
        // Validators: closeness 2001 and 1001 (of 2001), equal stakes; the far and the silent: nothing.
        assert_eq!(out.paid[&addr(4)], 199_966);
        assert_eq!(out.paid[&addr(5)], 100_033);
        assert!(!out.paid.contains_key(&addr(6)) && !out.paid.contains_key(&addr(7)));
        assert_eq!(out.total_paid() + out.remainder, 1_000_000);
        assert_eq!(out.remainder, 3);
    }

    fn arb_staker(i: u8) -> impl Strategy<Value = Staker> {
        (0u128..=u128::MAX >> 8, prop::collection::vec((100u8..120, 0u128..=u128::MAX >> 8), 0..3), 0u32..=10_000)
            .prop_map(move |(own, delegations, c)| staker(i, own, delegations, c))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("STRATUS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)))]

        /// Whatever the stakes (up to 2^120 each), nothing is created or lost and nothing overflows.
        #[test]
        fn the_pool_is_paid_out_exactly(
            pool in 0u128..=u128::MAX >> 4,
            n in prop::collection::vec((arb_staker(0), prop::option::of(0u64..10_000_000)), 0..6),
            v in prop::collection::vec((arb_staker(0), any::<bool>(), 0u64..4_000), 0..6),
            node_share_bps in 0u32..=10_000, q_bps in 1u32..10_000,
        ) {
            let nodes: Vec<NodeResult> = n.into_iter().enumerate()
                .map(|(i, (mut s, score))| { s.address = addr(i as u8 + 1); NodeResult { staker: s, score } }).collect();
            let validators: Vec<ValidatorResult> = v.into_iter().enumerate()
                .map(|(i, (mut s, r, d))| { s.address = addr(i as u8 + 50); ValidatorResult { staker: s, revealed_all: r, deviation_bps: d } }).collect();
            let p = RewardParams { node_share_bps, q_bps, ..p() };
            let out = compute(pool, &p, &nodes, &validators).expect("computes");
            prop_assert_eq!(out.total_paid() + out.remainder, pool);
        }

        /// A better rank never earns less than a worse one at the same stake, and more stake never
        /// earns less at the same rank.
        #[test]
        fn rank_and_stake_are_monotonic(stake in 1u128..1_000_000_000, extra in 0u128..1_000_000_000, pool in 1_000u128..1_000_000_000_000) {
            let nodes = vec![
                NodeResult { staker: staker(1, stake, vec![], 0), score: Some(10) },
                NodeResult { staker: staker(2, stake, vec![], 0), score: Some(20) },
                NodeResult { staker: staker(3, stake + extra, vec![], 0), score: Some(30) },
                NodeResult { staker: staker(4, stake, vec![], 0), score: Some(30) },
            ];
            let out = compute(pool, &p(), &nodes, &[]).expect("computes");
            let got = |i: u8| out.paid.get(&addr(i)).copied().unwrap_or(0);
            prop_assert!(got(1) >= got(2));
            // 3 and 4 share a score; 3 ranks first (address order) and has more stake.
            prop_assert!(got(3) >= got(4));
        }
    }
}
