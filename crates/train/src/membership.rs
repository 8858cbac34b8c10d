//! When a round closes, pure: every training member has arrived; or a quorum has and the
//! adaptive deadline — median + k·MAD of recent arrival times — has passed; or the longest wait
//! has passed with anyone arrived. Arrival times are seconds from the round's start.

use std::collections::VecDeque;

/// Arrival times remembered for the deadline.
const WINDOW: usize = 64;
/// Fewer arrivals than this and there is no deadline yet: the round waits for everyone (bounded
/// by the longest wait).
const MIN_HISTORY: usize = 3;

#[derive(Clone, Debug, Default)]
pub struct Arrivals {
    recent: VecDeque<f64>,
}

impl Arrivals {
    pub fn record(&mut self, secs: f64) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(secs);
    }

    /// The usual arrival time (the median), once there is some history.
    pub fn usual(&self) -> Option<f64> {
        (self.recent.len() >= MIN_HISTORY).then(|| median(&self.recent.iter().copied().collect::<Vec<_>>()))
    }

    /// median + k·MAD of the recent arrivals, at least `min`; none until there is some history.
    pub fn deadline(&self, k: f64, min: f64) -> Option<f64> {
        if self.recent.len() < MIN_HISTORY {
            return None;
        }
        let xs: Vec<f64> = self.recent.iter().copied().collect();
        let m = median(&xs);
        let deviations: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
        Some((m + k * median(&deviations)).max(min))
    }
}

/// Inner steps a worker whose contribution came too late can still do in the round under way, so
/// that it arrives with the others instead of sitting the round out: H × the share of the usual
/// round time left. None worth doing (under a quarter of H), or no history yet: 0 — it waits.
pub fn catch_up_steps(h: u64, elapsed: f64, usual: Option<f64>) -> u64 {
    let Some(usual) = usual.filter(|u| *u > 0.0) else { return 0 };
    let steps = (h as f64 * (usual - elapsed) / usual).floor().max(0.0) as u64;
    if steps * 4 < h { 0 } else { steps }
}

pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Contributions that let a round close at the deadline: ⌈fraction × members⌉, at least one.
pub fn quorum(fraction: f64, members: usize) -> usize {
    // The epsilon keeps 2/3 of 3 at 2 (in floating point it is 2.0000000000000004).
    ((fraction * members as f64 - 1e-9).ceil() as usize).clamp(1, members.max(1))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// Keep waiting.
    Wait,
    /// Every training member arrived.
    All,
    /// A quorum arrived and the deadline passed; the rest are dropped for this round.
    Quorum,
    /// The longest wait passed; whoever arrived is used.
    LongestWait,
    /// Nobody is training (all left, or only joiners are waiting): close with no contribution.
    Nobody,
}

pub struct Round {
    /// Members that were given samples this round and are still live.
    pub training: usize,
    pub arrived: usize,
    pub elapsed: f64,
}

pub fn decide(r: &Round, deadline: Option<f64>, quorum_fraction: f64, longest_wait: f64) -> Close {
    if r.training == 0 && r.arrived == 0 {
        return Close::Nobody;
    }
    if r.arrived >= r.training {
        return Close::All;
    }
    if r.arrived >= quorum(quorum_fraction, r.training) && deadline.is_some_and(|d| r.elapsed >= d) {
        return Close::Quorum;
    }
    if r.arrived > 0 && r.elapsed >= longest_wait {
        return Close::LongestWait;
    }
    Close::Wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_median_plus_k_mad_and_needs_history() {
        let mut a = Arrivals::default();
        a.record(10.0);
        a.record(11.0);
        assert_eq!(a.deadline(3.0, 0.5), None);
        a.record(12.0);
        a.record(10.0);
        a.record(30.0); // one straggler moves the median little and the MAD a little
        // median 11, deviations [1,0,1,1,19] → MAD 1: 11 + 3·1
        assert_eq!(a.deadline(3.0, 0.5), Some(14.0));
        assert_eq!(a.deadline(3.0, 20.0), Some(20.0), "never below the floor");
    }

    #[test]
    fn a_late_worker_catches_up_with_the_share_of_the_round_left() {
        assert_eq!(catch_up_steps(128, 1.0, Some(10.0)), 115);
        assert_eq!(catch_up_steps(128, 7.0, Some(10.0)), 38);
        assert_eq!(catch_up_steps(128, 8.0, Some(10.0)), 0, "under a quarter of H: wait for the next round");
        assert_eq!(catch_up_steps(128, 11.0, Some(10.0)), 0);
        assert_eq!(catch_up_steps(128, 1.0, None), 0, "no history");
    }

    #[test]
    fn a_round_closes_for_all_or_for_a_quorum_past_the_deadline_never_waits_forever() {
        let round = |training, arrived, elapsed| Round { training, arrived, elapsed };
        assert_eq!(quorum(2.0 / 3.0, 4), 3);
        assert_eq!(quorum(2.0 / 3.0, 1), 1);
        assert_eq!(quorum(2.0 / 3.0, 3), 2);
        assert_eq!(decide(&round(4, 4, 1.0), None, 0.67, 60.0), Close::All);
        assert_eq!(decide(&round(4, 3, 13.0), Some(14.0), 0.67, 60.0), Close::Wait, "before the deadline");
        assert_eq!(decide(&round(4, 3, 14.0), Some(14.0), 0.67, 60.0), Close::Quorum);
        assert_eq!(decide(&round(4, 2, 30.0), Some(14.0), 0.67, 60.0), Close::Wait, "no quorum");
        assert_eq!(decide(&round(4, 2, 60.0), Some(14.0), 0.67, 60.0), Close::LongestWait);
        assert_eq!(decide(&round(4, 3, 59.0), None, 0.67, 60.0), Close::Wait, "no history: wait for all");
        assert_eq!(decide(&round(0, 0, 0.0), None, 0.67, 60.0), Close::Nobody);
        assert_eq!(decide(&round(3, 0, 1e9), Some(1.0), 0.67, 60.0), Close::Wait, "nothing to use yet");
    }
}
