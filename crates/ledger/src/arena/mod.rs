//! The arena (federated training competitions): tasks with an escrowed reward pool, stakes of
//! training nodes and validators, delegations, submissions assigned to validators by ledger
//! state, scores committed then revealed, and finalisation, which computes every reward with
//! [`rewards::compute`] from what the ledger holds. Everything a task holds sits in the arena
//! module's account until it is claimed, unbonded or sent to the community pool.
//!
//! Windows (heights, inclusive): submissions `created_at..=submit_until`, score commits
//! `submit_until+1..=commit_until`, reveals `commit_until+1..=reveal_until`; from
//! `reveal_until+1` anyone may finalise.

pub mod rewards;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use stratus_types::address::Address;

use stratus_types::arena::{
    ArenaParams, ArenaRole, ArenaStake, AuditReport, Delegation, Score, Submission, Task, TaskRecord, TaskSpec,
    TaskState, Unbonding, Unclaimed, score_commit,
};
use stratus_types::coin::Coin;
use stratus_types::event::Event;

use crate::error::{ArenaError, LedgerError};
use crate::exec::{Exec, Result, community_pool};
use crate::keys;

/// The arena module's account: reward pools, stakes, delegations and unclaimed rewards.
pub fn arena_module() -> Address {
    Address::module("arena")
}

/// The median of `scores` (the lower middle for an even count), `None` when empty.
pub fn median(scores: &mut [u64]) -> Option<u64> {
    if scores.is_empty() {
        return None;
    }
    scores.sort_unstable();
    Some(scores[(scores.len() - 1) / 2])
}

/// `k` distinct validators for submission `id` of `task`, from `validators` (key order), chosen
/// by a hash of the previous app hash, the task and the submission: nobody picks whom they score,
/// anyone can recompute it.
pub fn assign(prev_app_hash: &[u8; 32], task: u64, id: u32, validators: &[Address], k: usize) -> Vec<Address> {
    let mut ranked: Vec<([u8; 32], Address)> = validators
        .iter()
        .map(|v| {
            let mut h = Sha256::new();
            h.update(b"stratus/arena/assign/v1");
            h.update(prev_app_hash);
            h.update(task.to_be_bytes());
            h.update(id.to_be_bytes());
            h.update(v.0);
            (h.finalize().into(), *v)
        })
        .collect();
    ranked.sort();
    ranked.into_iter().take(k).map(|(_, v)| v).collect()
}

impl Exec<'_> {
    fn in_window(&self, task: &Task, what: &'static str, from: u64, until: u64) -> Result<()> {
        if task.state != TaskState::Open || self.height < from || self.height > until {
            return Err(ArenaError::Window { task: task.id, what, from, until, now: self.height }.into());
        }
        Ok(())
    }

    pub fn task(&mut self, id: u64) -> Result<Task> {
        self.st.get(&keys::arena_task(id))?.ok_or(ArenaError::TaskNotFound(id).into())
    }

    fn stake_of(&mut self, task: u64, who: &Address) -> Result<Option<ArenaStake>> {
        self.st.get(&keys::arena_stake(task, who))
    }

    pub fn create_task(&mut self, creator: Address, spec: &TaskSpec) -> Result<u64> {
        self.check_denom(&spec.pool.denom)?;
        let invalid = |why: String| -> LedgerError { ArenaError::InvalidTask(why).into() };
        if spec.pool.amount == 0 {
            return Err(invalid("the reward pool must be positive".into()));
        }
        if spec.base_models.is_empty() {
            return Err(invalid("name at least one allowed base model (its sha256)".into()));
        }
        if spec.submission_blocks == 0 || spec.commit_blocks == 0 || spec.reveal_blocks == 0 {
            return Err(invalid("submission, commit and reveal windows must each be at least one block".into()));
        }
        if spec.validators_per_submission == 0 || spec.max_submissions_per_node == 0 {
            return Err(invalid("validators_per_submission and max_submissions_per_node must be at least 1".into()));
        }
        if spec.min_stake < self.params.arena.min_stake {
            return Err(invalid(format!(
                "min_stake {} is below the chain's minimum {}",
                spec.min_stake, self.params.arena.min_stake
            )));
        }
        let id: u64 = self.st.get(keys::ARENA_NEXT_TASK)?.unwrap_or(1);
        self.st.put(keys::ARENA_NEXT_TASK.to_vec(), &(id + 1));
        self.transfer(&creator, &arena_module(), &spec.pool)?;
        let submit_until = self.height.saturating_add(spec.submission_blocks);
        let commit_until = submit_until.saturating_add(spec.commit_blocks);
        let task = Task {
            id,
            creator,
            spec: spec.clone(),
            created_at: self.height,
            submit_until,
            commit_until,
            reveal_until: commit_until.saturating_add(spec.reveal_blocks),
            state: TaskState::Open,
        };
        self.st.put(keys::arena_task(id), &task);
        self.emit(Event::TaskCreated { task: id, creator, pool: spec.pool.clone() });
        Ok(id)
    }

    /// Stakes (or adds to a stake) as `role`; one role per task and address.
    pub fn arena_stake(
        &mut self,
        owner: Address,
        task_id: u64,
        role: ArenaRole,
        amount: u128,
        commission_bps: u32,
    ) -> Result<()> {
        let task = self.task(task_id)?;
        self.in_window(&task, "stakes", task.created_at, task.submit_until)?;
        if commission_bps > 10_000 {
            return Err(ArenaError::CommissionTooHigh(commission_bps).into());
        }
        let mut stake = match self.stake_of(task_id, &owner)? {
            Some(s) if s.role != role => {
                return Err(ArenaError::OtherRole { task: task_id, who: owner, role: s.role }.into());
            }
            Some(s) => s,
            None => ArenaStake {
                task: task_id,
                owner,
                role,
                amount: 0,
                delegated: 0,
                commission_bps,
                commission_set_at: self.height,
            },
        };
        let total = stake.amount.checked_add(amount).ok_or(LedgerError::Overflow("stake"))?;
        if total < task.spec.min_stake || amount == 0 {
            return Err(ArenaError::StakeBelowMinimum { task: task_id, stake: total, min: task.spec.min_stake }.into());
        }
        self.transfer(&owner, &arena_module(), &Coin::new(amount, task.spec.pool.denom.clone()))?;
        stake.amount = total;
        self.st.put(keys::arena_stake(task_id, &owner), &stake);
        self.emit(Event::ArenaStaked { task: task_id, owner, role, amount });
        Ok(())
    }

    /// A new commission, at most once per `commission_change_blocks`.
    pub fn set_commission(&mut self, owner: Address, task_id: u64, commission_bps: u32) -> Result<()> {
        let mut stake = self.stake_of(task_id, &owner)?.ok_or(ArenaError::NotStaked { task: task_id, who: owner })?;
        if commission_bps > 10_000 {
            return Err(ArenaError::CommissionTooHigh(commission_bps).into());
        }
        let next = stake.commission_set_at.saturating_add(self.params.arena.commission_change_blocks);
        if self.height < next {
            return Err(ArenaError::CommissionLocked { set_at: stake.commission_set_at, next }.into());
        }
        stake.commission_bps = commission_bps;
        stake.commission_set_at = self.height;
        self.st.put(keys::arena_stake(task_id, &owner), &stake);
        Ok(())
    }

    pub fn delegate(&mut self, delegator: Address, task_id: u64, delegate: Address, amount: u128) -> Result<()> {
        let task = self.task(task_id)?;
        self.in_window(&task, "delegations", task.created_at, task.submit_until)?;
        let mut stake =
            self.stake_of(task_id, &delegate)?.ok_or(ArenaError::NotStaked { task: task_id, who: delegate })?;
        if amount == 0 {
            return Err(LedgerError::ZeroAmount);
        }
        self.transfer(&delegator, &arena_module(), &Coin::new(amount, task.spec.pool.denom.clone()))?;
        let key = keys::arena_delegation(task_id, &delegate, &delegator);
        let mut d: Delegation =
            self.st.get(&key)?.unwrap_or(Delegation { task: task_id, delegator, delegate, amount: 0 });
        d.amount = d.amount.checked_add(amount).ok_or(LedgerError::Overflow("delegation"))?;
        stake.delegated = stake.delegated.checked_add(amount).ok_or(LedgerError::Overflow("delegation"))?;
        self.st.put(key, &d);
        self.st.put(keys::arena_stake(task_id, &delegate), &stake);
        self.emit(Event::ArenaDelegated { task: task_id, delegator, delegate, amount });
        Ok(())
    }

    pub fn submit_model(
        &mut self,
        node: Address,
        task_id: u64,
        model_sha256: [u8; 32],
        location: &str,
        base_model: [u8; 32],
        prev_app_hash: &[u8; 32],
    ) -> Result<u32> {
        let task = self.task(task_id)?;
        self.in_window(&task, "submissions", task.created_at, task.submit_until)?;
        match self.stake_of(task_id, &node)? {
            Some(s) if s.role == ArenaRole::TrainingNode => {}
            Some(s) => return Err(ArenaError::OtherRole { task: task_id, who: node, role: s.role }.into()),
            None => {
                return Err(ArenaError::NotStaked { task: task_id, who: node }.into());
            }
        }
        if !task.spec.base_models.contains(&base_model) {
            return Err(ArenaError::BaseModelNotAllowed { task: task_id, base: hex::encode(base_model) }.into());
        }
        let mine = self
            .st
            .scan::<Submission>(&keys::arena_submissions_of(task_id))?
            .into_iter()
            .filter(|(_, s)| s.node == node)
            .count();
        if mine >= task.spec.max_submissions_per_node as usize {
            return Err(ArenaError::SubmissionCap {
                task: task_id,
                who: node,
                max: task.spec.max_submissions_per_node,
            }
            .into());
        }
        let id: u32 = self.st.get(&keys::arena_next_submission(task_id))?.unwrap_or(1);
        self.st.put(keys::arena_next_submission(task_id), &(id + 1));
        let validators: Vec<Address> = self
            .st
            .scan::<ArenaStake>(&keys::arena_stakes_of(task_id))?
            .into_iter()
            .filter(|(_, s)| s.role == ArenaRole::Validator)
            .map(|(_, s)| s.owner)
            .collect();
        if validators.is_empty() {
            return Err(ArenaError::NoValidators(task_id).into());
        }
        let assigned = assign(prev_app_hash, task_id, id, &validators, task.spec.validators_per_submission as usize);
        let s = Submission {
            task: task_id,
            id,
            node,
            model_sha256,
            location: location.to_string(),
            base_model,
            submitted_at: self.height,
            validators: assigned.clone(),
        };
        self.st.put(keys::arena_submission(task_id, id), &s);
        self.emit(Event::ModelSubmitted { task: task_id, submission: id, node, validators: assigned });
        Ok(id)
    }

    pub fn commit_score(&mut self, validator: Address, task_id: u64, submission: u32, commit: [u8; 32]) -> Result<()> {
        let task = self.task(task_id)?;
        self.in_window(&task, "score commits", task.submit_until + 1, task.commit_until)?;
        let s: Submission = self
            .st
            .get(&keys::arena_submission(task_id, submission))?
            .ok_or(ArenaError::SubmissionNotFound { task: task_id, id: submission })?;
        if !s.validators.contains(&validator) {
            return Err(ArenaError::NotAssigned { task: task_id, submission, who: validator }.into());
        }
        let key = keys::arena_score(task_id, submission, &validator);
        if self.st.contains(&key)? {
            return Err(ArenaError::AlreadyCommitted { task: task_id, submission, who: validator }.into());
        }
        self.st.put(key, &Score { task: task_id, submission, validator, commit, revealed: None });
        Ok(())
    }

    pub fn reveal_score(
        &mut self,
        validator: Address,
        task_id: u64,
        submission: u32,
        score: u64,
        salt: [u8; 32],
    ) -> Result<()> {
        let task = self.task(task_id)?;
        self.in_window(&task, "reveals", task.commit_until + 1, task.reveal_until)?;
        let key = keys::arena_score(task_id, submission, &validator);
        let mut s: Score =
            self.st.get(&key)?.ok_or(ArenaError::NoCommit { task: task_id, submission, who: validator })?;
        if s.revealed.is_some() {
            return Err(ArenaError::AlreadyRevealed { task: task_id, submission, who: validator }.into());
        }
        if score_commit(task_id, submission, &validator, score, &salt) != s.commit {
            return Err(ArenaError::RevealMismatch { task: task_id, submission, who: validator }.into());
        }
        s.revealed = Some(score);
        self.st.put(key, &s);
        self.emit(Event::ScoreRevealed { task: task_id, submission, validator, score });
        Ok(())
    }

    /// Anyone, after the reveal window: computes every reward from the ledger's records, credits
    /// them as claimable, slashes validators that did not reveal, sends remainders to the
    /// community pool.
    pub fn finalize_task(&mut self, task_id: u64) -> Result<()> {
        let mut task = self.task(task_id)?;
        if task.state != TaskState::Open {
            return Err(ArenaError::AlreadyFinalized(task_id).into());
        }
        if self.height <= task.reveal_until {
            return Err(ArenaError::TooEarly { task: task_id, from: task.reveal_until + 1 }.into());
        }
        let tally = self.tally(&task)?;
        let outcome = rewards::compute(task.spec.pool.amount, &self.params.arena, &tally.nodes, &tally.validators)
            .ok_or(ArenaError::BadParams)?;
        let denom = task.spec.pool.denom.clone();
        for (to, amount) in &outcome.paid {
            let key = keys::arena_reward(task_id, to);
            let have: u128 = self.st.get(&key)?.unwrap_or(0);
            self.st.put(key, &(have + amount));
        }
        if outcome.remainder > 0 {
            self.transfer(&arena_module(), &community_pool(), &Coin::new(outcome.remainder, denom.clone()))?;
        }
        // Slashes: a share of a silent validator's own stake goes to the community pool.
        for v in tally.validators.iter().filter(|v| !v.revealed_all) {
            let mut stake = self.stake_of(task_id, &v.staker.address)?.ok_or(LedgerError::Overflow("stake"))?;
            let slash = rewards::mul_div(stake.amount, u128::from(self.params.arena.slash_bps), 10_000).unwrap_or(0);
            if slash > 0 {
                stake.amount -= slash;
                self.st.put(keys::arena_stake(task_id, &stake.owner), &stake);
                self.transfer(&arena_module(), &community_pool(), &Coin::new(slash, denom.clone()))?;
                self.emit(Event::ArenaSlashed { task: task_id, owner: stake.owner, amount: slash });
            }
        }
        task.state = TaskState::Finalized;
        self.st.put(keys::arena_task(task_id), &task);
        self.emit(Event::TaskFinalized {
            task: task_id,
            ranking: outcome.ranking.iter().map(|(a, _)| *a).collect(),
            paid: Coin::new(outcome.total_paid(), denom.clone()),
            remainder: Coin::new(outcome.remainder, denom),
        });
        Ok(())
    }

    /// Everything the ledger holds about a task (what the API serves and `audit` reads).
    pub fn task_record(&mut self, task: &Task) -> Result<TaskRecord> {
        Ok(TaskRecord {
            task: task.clone(),
            stakes: self.st.scan::<ArenaStake>(&keys::arena_stakes_of(task.id))?.into_iter().map(|(_, s)| s).collect(),
            delegations: self
                .st
                .scan::<Delegation>(&keys::arena_delegations_of(task.id))?
                .into_iter()
                .map(|(_, d)| d)
                .collect(),
            submissions: self
                .st
                .scan::<Submission>(&keys::arena_submissions_of(task.id))?
                .into_iter()
                .map(|(_, s)| s)
                .collect(),
            scores: self.st.scan::<Score>(&keys::arena_scores_of(task.id))?.into_iter().map(|(_, s)| s).collect(),
            unclaimed: Vec::new(),
        })
    }

    /// What the task's records say about each participant (the input of the reward formula).
    pub fn tally(&mut self, task: &Task) -> Result<Tally> {
        Ok(tally(&self.task_record(task)?))
    }

    /// Moves what `who` earned on a finalized task to its account.
    pub fn claim_rewards(&mut self, who: Address, task_id: u64) -> Result<()> {
        let task = self.task(task_id)?;
        let key = keys::arena_reward(task_id, &who);
        let amount: u128 = self.st.get(&key)?.unwrap_or(0);
        if amount == 0 {
            return Err(ArenaError::NothingToClaim { task: task_id, who }.into());
        }
        self.st.delete(key);
        self.transfer(&arena_module(), &who, &Coin::new(amount, task.spec.pool.denom.clone()))?;
        self.emit(Event::RewardsClaimed { task: task_id, owner: who, amount: Coin::new(amount, task.spec.pool.denom) });
        Ok(())
    }

    /// After finalisation: a stake (with nothing delegated left) or a delegation starts
    /// unbonding; it reaches its owner `unbonding_blocks` later.
    pub fn arena_unstake(&mut self, owner: Address, task_id: u64, delegate: Option<Address>) -> Result<()> {
        let task = self.task(task_id)?;
        if task.state != TaskState::Finalized {
            return Err(ArenaError::Locked(task_id).into());
        }
        let amount = match delegate {
            None => {
                let stake =
                    self.stake_of(task_id, &owner)?.ok_or(ArenaError::NotStaked { task: task_id, who: owner })?;
                if stake.delegated > 0 {
                    return Err(ArenaError::StillDelegated { who: owner, amount: stake.delegated }.into());
                }
                self.st.delete(keys::arena_stake(task_id, &owner));
                stake.amount
            }
            Some(d) => {
                let key = keys::arena_delegation(task_id, &d, &owner);
                let del: Delegation =
                    self.st.get(&key)?.ok_or(ArenaError::NoDelegation { task: task_id, who: owner, delegate: d })?;
                self.st.delete(key);
                let mut stake = self.stake_of(task_id, &d)?.ok_or(LedgerError::Overflow("stake"))?;
                stake.delegated -= del.amount;
                self.st.put(keys::arena_stake(task_id, &d), &stake);
                del.amount
            }
        };
        if amount == 0 {
            return Ok(());
        }
        let release_at = self.height.saturating_add(self.params.arena.unbonding_blocks);
        let u = Unbonding { owner, amount: Coin::new(amount, task.spec.pool.denom), release_at };
        let n: u64 = self.st.get(keys::ARENA_NEXT_UNBONDING)?.unwrap_or(0);
        self.st.put(keys::ARENA_NEXT_UNBONDING.to_vec(), &(n + 1));
        self.st.put(keys::arena_unbonding(release_at, n), &u);
        Ok(())
    }

    /// End of block: unbondings due now reach their owners.
    pub fn release_unbondings(&mut self) -> Result<()> {
        for (key, u) in self.st.scan::<Unbonding>(&keys::arena_unbondings_at(self.height))? {
            self.transfer(&arena_module(), &u.owner, &u.amount)?;
            self.st.delete(key);
        }
        Ok(())
    }
}

/// A task's records as committed state holds them (the node's `GET /arena/tasks/{id}`, tests).
pub fn read_task_record(state: &dyn crate::StateRead, id: u64) -> Result<Option<TaskRecord>> {
    fn all<T: borsh::BorshDeserialize>(state: &dyn crate::StateRead, prefix: &[u8]) -> Result<Vec<(Vec<u8>, T)>> {
        state
            .scan_prefix(prefix)?
            .into_iter()
            .map(|(k, v)| borsh::from_slice(&v).map(|t| (k.clone(), t)).map_err(|e| LedgerError::corrupt(&k, &e)))
            .collect()
    }
    let Some(bytes) = state.get(&keys::arena_task(id))? else { return Ok(None) };
    let task: Task = borsh::from_slice(&bytes).map_err(|e| LedgerError::corrupt(&keys::arena_task(id), &e))?;
    let reward_prefix = keys::arena_rewards_of(id);
    let unclaimed = all::<u128>(state, &reward_prefix)?
        .into_iter()
        .filter_map(|(k, amount)| {
            let owner = <[u8; 20]>::try_from(&k[reward_prefix.len()..]).ok().map(Address)?;
            Some(Unclaimed { owner, amount })
        })
        .collect();
    Ok(Some(TaskRecord {
        task,
        stakes: all(state, &keys::arena_stakes_of(id))?.into_iter().map(|(_, s)| s).collect(),
        delegations: all(state, &keys::arena_delegations_of(id))?.into_iter().map(|(_, d)| d).collect(),
        submissions: all(state, &keys::arena_submissions_of(id))?.into_iter().map(|(_, s)| s).collect(),
        scores: all(state, &keys::arena_scores_of(id))?.into_iter().map(|(_, s)| s).collect(),
        unclaimed,
    }))
}

/// The reward formula's input from a task's records: each training node's best median score,
/// each validator's mean distance from the medians and whether it revealed everything assigned.
/// Pure: the ledger's finalisation and `stratus arena audit` both call it.
pub fn tally(r: &TaskRecord) -> Tally {
    let staker = |s: &ArenaStake| rewards::Staker {
        address: s.owner,
        own: s.amount,
        delegations: r.delegations.iter().filter(|d| d.delegate == s.owner).map(|d| (d.delegator, d.amount)).collect(),
        commission_bps: s.commission_bps,
    };
    let medians: BTreeMap<u32, u64> = r
        .submissions
        .iter()
        .filter_map(|sub| {
            let mut revealed: Vec<u64> =
                r.scores.iter().filter(|s| s.submission == sub.id).filter_map(|s| s.revealed).collect();
            median(&mut revealed).map(|m| (sub.id, m))
        })
        .collect();
    let mut nodes = Vec::new();
    let mut validators = Vec::new();
    for s in &r.stakes {
        match s.role {
            ArenaRole::TrainingNode => {
                let best =
                    r.submissions.iter().filter(|sub| sub.node == s.owner).filter_map(|sub| medians.get(&sub.id)).min();
                nodes.push(rewards::NodeResult { staker: staker(s), score: best.copied() });
            }
            ArenaRole::Validator => {
                let assigned: Vec<&Submission> =
                    r.submissions.iter().filter(|sub| sub.validators.contains(&s.owner)).collect();
                let mut revealed_all = !assigned.is_empty();
                let (mut deviation_sum, mut counted) = (0u128, 0u128);
                for sub in &assigned {
                    let mine = r
                        .scores
                        .iter()
                        .find(|x| x.submission == sub.id && x.validator == s.owner)
                        .and_then(|x| x.revealed);
                    match (mine, medians.get(&sub.id)) {
                        (Some(score), Some(m)) => {
                            deviation_sum += u128::from(score.abs_diff(*m)) * 10_000 / u128::from((*m).max(1));
                            counted += 1;
                        }
                        _ => revealed_all = false,
                    }
                }
                let deviation_bps =
                    deviation_sum.checked_div(counted).map_or(0, |d| u64::try_from(d).unwrap_or(u64::MAX));
                validators.push(rewards::ValidatorResult { staker: staker(s), revealed_all, deviation_bps });
            }
        }
    }
    Tally { nodes, validators, medians }
}

/// Recomputes a finalized task's rewards from `record` and compares them with `credited` (each
/// address's claimed plus unclaimed rewards) and the finalisation's remainder.
pub fn audit(
    record: &TaskRecord,
    params: &ArenaParams,
    credited: &BTreeMap<Address, u128>,
    remainder: u128,
) -> AuditReport {
    let t = tally(record);
    let mut differences = Vec::new();
    let outcome = rewards::compute(record.task.spec.pool.amount, params, &t.nodes, &t.validators);
    let Some(outcome) = outcome else {
        return AuditReport {
            task: record.task.id,
            rewards_match: false,
            differences: vec!["the arena parameters are impossible".into()],
            recomputed: Vec::new(),
            remainder: 0,
        };
    };
    let addresses: std::collections::BTreeSet<&Address> = outcome.paid.keys().chain(credited.keys()).collect();
    for a in addresses {
        let want = outcome.paid.get(a).copied().unwrap_or(0);
        let got = credited.get(a).copied().unwrap_or(0);
        if want != got {
            differences.push(format!("{a}: recomputed {want}, the ledger credited {got}"));
        }
    }
    if outcome.remainder != remainder {
        differences.push(format!("remainder: recomputed {}, the ledger sent {remainder}", outcome.remainder));
    }
    AuditReport {
        task: record.task.id,
        rewards_match: differences.is_empty(),
        differences,
        recomputed: outcome.paid.into_iter().map(|(owner, amount)| Unclaimed { owner, amount }).collect(),
        remainder: outcome.remainder,
    }
}

/// The reward formula's input, as the ledger's records give it.
pub struct Tally {
    pub nodes: Vec<rewards::NodeResult>,
    pub validators: Vec<rewards::ValidatorResult>,
    pub medians: BTreeMap<u32, u64>,
}
