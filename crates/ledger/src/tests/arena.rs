//! The arena on the ledger: a whole round (stakes, delegations, submissions assigned by ledger
//! state, scores committed and revealed, finalisation, claims, unbonding) with every reward to the
//! unit, and every bad input refused with its typed error and nothing changed.

use stratus_types::address::Address;
use stratus_types::arena::{ArenaRole, Score, Submission, TaskSpec, score_commit};

use super::*;
use crate::arena::arena_module;

const BASE: [u8; 32] = [0xba; 32];
const POOL: u128 = 1_000_000;

struct Arena {
    chain: TestChain,
    creator: Actor,
    nodes: Vec<Actor>,
    validators: Vec<Actor>,
    delegator: Actor,
}

fn spec() -> TaskSpec {
    TaskSpec {
        base_models: vec![BASE],
        data_url: "s3://arena/data".into(),
        validation_commitment: [7; 32],
        max_params: 1_000_000,
        context: 64,
        submission_blocks: 30,
        commit_blocks: 5,
        reveal_blocks: 5,
        pool: Coin::new(POOL, DENOM),
        min_stake: 100,
        validators_per_submission: 3,
        max_submissions_per_node: 1,
    }
}

fn arena() -> Arena {
    let creator = Actor::new("creator");
    let nodes: Vec<Actor> = (0..3).map(|i| Actor::new(&format!("node-{i}"))).collect();
    let validators: Vec<Actor> = (0..3).map(|i| Actor::new(&format!("validator-{i}"))).collect();
    let delegator = Actor::new("delegator");
    let mut all: Vec<&Actor> = vec![&creator, &delegator];
    all.extend(nodes.iter());
    all.extend(validators.iter());
    let chain = TestChain::new(params(), &all, FUNDS);
    let mut a = Arena { chain, creator, nodes, validators, delegator };
    let tx = a.creator.tx(vec![Msg::CreateTask { spec: spec() }]);
    assert_eq!(a.chain.run(tx), None);
    a
}

fn run(chain: &mut TestChain, who: &mut Actor, msg: Msg) -> Option<String> {
    let tx = who.tx(vec![msg]);
    chain.run(tx)
}

fn stake(a: &mut Arena) {
    for (i, amount) in [100u128, 100, 200].into_iter().enumerate() {
        let commission_bps = if i == 1 { 1_000 } else { 0 };
        let m = Msg::ArenaStake { task: 1, role: ArenaRole::TrainingNode, amount, commission_bps };
        assert_eq!(run(&mut a.chain, &mut a.nodes[i], m), None);
    }
    for i in 0..3 {
        let m = Msg::ArenaStake { task: 1, role: ArenaRole::Validator, amount: 100, commission_bps: 0 };
        assert_eq!(run(&mut a.chain, &mut a.validators[i], m), None);
    }
    let node1 = a.nodes[1].address;
    let m = Msg::ArenaDelegate { task: 1, delegate: node1, amount: 100 };
    assert_eq!(run(&mut a.chain, &mut a.delegator, m), None);
}

/// Several actors' messages in one block; each must succeed.
fn block(chain: &mut TestChain, msgs: Vec<(&mut Actor, Msg)>) {
    let txs = msgs.into_iter().map(|(who, m)| who.tx(vec![m])).collect();
    let results = chain.block(txs);
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
}

fn submit(a: &mut Arena, node: usize, model: u8) -> Option<String> {
    let m =
        Msg::SubmitModel { task: 1, model_sha256: [model; 32], location: format!("s3://m/{model}"), base_model: BASE };
    run(&mut a.chain, &mut a.nodes[node], m)
}

fn salt(v: usize, s: u32) -> [u8; 32] {
    [(v as u8) * 16 + s as u8; 32]
}

/// Scores (micro-bits per byte) validator v gives submission s: honest ones agree within a few
/// percent; validator 2 lies about submission 3 (the good model gets a terrible score).
fn score(v: usize, s: u32) -> u64 {
    let truth = [0, 1_200_000, 1_100_000, 9_990_000][s as usize];
    match (v, s) {
        (2, 2) => 9_000_000,
        (1, _) => truth + truth / 50,
        _ => truth,
    }
}

#[test]
fn a_round_pays_every_participant_to_the_unit_and_the_liar_nothing() {
    let mut a = arena();
    stake(&mut a);
    for (node, model) in [(0, 1), (1, 2), (2, 3)] {
        assert_eq!(submit(&mut a, node, model), None);
    }
    // Every submission is assigned to all three validators (k = 3), from ledger state.
    for id in 1..=3u32 {
        let s: Submission = a.chain.get(&keys::arena_submission(1, id)).expect("submission");
        assert_eq!(s.validators.len(), 3);
    }
    let task: stratus_types::arena::Task = a.chain.get(&keys::arena_task(1)).expect("task");
    a.chain.advance_to(task.submit_until);
    let mut commits = Vec::new();
    for (v, actor) in a.validators.iter_mut().enumerate() {
        let addr = actor.address;
        let msgs = (1..=3u32)
            .map(|s| Msg::CommitScore {
                task: 1,
                submission: s,
                commit: score_commit(1, s, &addr, score(v, s), &salt(v, s)),
            })
            .collect();
        commits.push(actor.tx(msgs));
    }
    assert!(a.chain.block(commits).iter().all(|r| r.error.is_none()));
    a.chain.advance_to(task.commit_until);
    let mut reveals = Vec::new();
    for (v, actor) in a.validators.iter_mut().enumerate() {
        let msgs = (1..=3u32)
            .map(|s| Msg::RevealScore { task: 1, submission: s, score: score(v, s), salt: salt(v, s) })
            .collect();
        reveals.push(actor.tx(msgs));
    }
    assert!(a.chain.block(reveals).iter().all(|r| r.error.is_none()));
    a.chain.advance_to(task.reveal_until);
    let before: Vec<u128> = a.nodes.iter().map(|n| a.chain.balance(&n.address)).collect();
    let pool_before = a.chain.balance(&community_pool());
    assert_eq!(run(&mut a.chain, &mut a.delegator, Msg::FinalizeTask { task: 1 }), None);
    let ranking = a.chain.events.iter().find_map(|e| match &e.event {
        Event::TaskFinalized { ranking, paid, remainder, .. } => Some((ranking.clone(), paid.amount, remainder.amount)),
        _ => None,
    });
    let (ranking, paid, remainder) = ranking.expect("finalized");
    // Medians: submission 2 → 1_100_000 (node 1), 1 → 1_200_000 (node 0), 3 → 9_990_000 (node 2).
    assert_eq!(ranking, vec![a.nodes[1].address, a.nodes[0].address, a.nodes[2].address]);
    assert_eq!(paid + remainder, POOL);
    let reward = |who: &Address| a.chain.get::<u128>(&keys::arena_reward(1, who)).unwrap_or(0);
    // The same worked example as `arena::rewards`' unit test, now from the ledger's records.
    assert_eq!(reward(&a.nodes[1].address), 256_667);
    assert_eq!(reward(&a.delegator.address), 209_999);
    assert_eq!(reward(&a.nodes[0].address), 116_666);
    assert_eq!(reward(&a.nodes[2].address), 116_666);
    // Validators 0 and 1 agree with the medians (0 exactly, 1 within 2%); 2 lied by 718%: nothing.
    assert!(reward(&a.validators[0].address) > reward(&a.validators[1].address));
    assert!(reward(&a.validators[1].address) > 0);
    assert_eq!(reward(&a.validators[2].address), 0);
    assert_eq!(a.chain.balance(&community_pool()), pool_before + remainder);

    // The audit recomputes all of it from the records alone; a credit off by one unit is caught.
    let record = crate::arena::read_task_record(&a.chain.state, 1).expect("readable").expect("task");
    let credited: std::collections::BTreeMap<Address, u128> =
        record.unclaimed.iter().map(|u| (u.owner, u.amount)).collect();
    let report = crate::arena::audit(&record, &params().arena, &credited, remainder);
    assert!(report.rewards_match, "{:?}", report.differences);
    let mut wrong = credited.clone();
    *wrong.get_mut(&a.nodes[0].address).expect("node 0") += 1;
    let report = crate::arena::audit(&record, &params().arena, &wrong, remainder);
    assert!(!report.rewards_match);
    assert_eq!(report.differences.len(), 1, "{:?}", report.differences);

    // Claims move the coins; a second claim has nothing to take.
    assert_eq!(run(&mut a.chain, &mut a.nodes[1], Msg::ClaimRewards { task: 1 }), None);
    assert_eq!(a.chain.balance(&a.nodes[1].address), before[1] + 256_667);
    let again = run(&mut a.chain, &mut a.nodes[1], Msg::ClaimRewards { task: 1 }).unwrap_or_default();
    assert!(again.contains("nothing to claim"), "{again}");

    // Unstaking: node 1 must wait for its delegator; then both unbond and arrive later.
    let still = run(&mut a.chain, &mut a.nodes[1], Msg::ArenaUnstake { task: 1, delegate: None }).unwrap_or_default();
    assert!(still.contains("still delegated"), "{still}");
    let node1 = a.nodes[1].address;
    assert_eq!(run(&mut a.chain, &mut a.delegator, Msg::ArenaUnstake { task: 1, delegate: Some(node1) }), None);
    assert_eq!(run(&mut a.chain, &mut a.nodes[1], Msg::ArenaUnstake { task: 1, delegate: None }), None);
    let node1_now = a.chain.balance(&node1);
    a.chain.advance_to(a.chain.height + params().arena.unbonding_blocks + 1);
    assert_eq!(a.chain.balance(&node1), node1_now + 100);
}

#[test]
fn a_validator_that_does_not_reveal_earns_nothing_and_is_slashed() {
    let mut a = arena();
    stake(&mut a);
    assert_eq!(submit(&mut a, 0, 1), None);
    let task: stratus_types::arena::Task = a.chain.get(&keys::arena_task(1)).expect("task");
    a.chain.advance_to(task.submit_until);
    let commits: Vec<(&mut Actor, Msg)> = a
        .validators
        .iter_mut()
        .enumerate()
        .map(|(v, actor)| {
            let commit = score_commit(1, 1, &actor.address, 1_000_000, &salt(v, 1));
            (actor, Msg::CommitScore { task: 1, submission: 1, commit })
        })
        .collect();
    block(&mut a.chain, commits);
    a.chain.advance_to(task.commit_until);
    let reveals: Vec<(&mut Actor, Msg)> = a
        .validators
        .iter_mut()
        .take(2)
        .enumerate()
        .map(|(v, actor)| (actor, Msg::RevealScore { task: 1, submission: 1, score: 1_000_000, salt: salt(v, 1) }))
        .collect();
    block(&mut a.chain, reveals);
    a.chain.advance_to(task.reveal_until);
    let pool_before = a.chain.balance(&community_pool());
    assert_eq!(run(&mut a.chain, &mut a.creator, Msg::FinalizeTask { task: 1 }), None);
    let silent = a.validators[2].address;
    assert_eq!(a.chain.get::<u128>(&keys::arena_reward(1, &silent)).unwrap_or(0), 0);
    let stake: stratus_types::arena::ArenaStake = a.chain.get(&keys::arena_stake(1, &silent)).expect("stake");
    assert_eq!(stake.amount, 90, "10% slashed");
    assert!(a.chain.balance(&community_pool()) >= pool_before + 10);
    let s: Score = a.chain.get(&keys::arena_score(1, 1, &silent)).expect("commit kept");
    assert_eq!(s.revealed, None);
}

#[test]
fn bad_input_gets_its_typed_error_and_changes_nothing() {
    let mut a = arena();
    // Stake below the minimum; a second role on the same task.
    let low = Msg::ArenaStake { task: 1, role: ArenaRole::TrainingNode, amount: 99, commission_bps: 0 };
    assert!(run(&mut a.chain, &mut a.nodes[0], low).is_some_and(|e| e.contains("below task 1's minimum 100")));
    stake(&mut a);
    let second = Msg::ArenaStake { task: 1, role: ArenaRole::Validator, amount: 100, commission_bps: 0 };
    assert!(
        run(&mut a.chain, &mut a.nodes[0], second)
            .is_some_and(|e| e.contains("is a training node on task 1: one role"))
    );
    // Submissions: by a non-staker, a validator, from a base model not allowed, over the cap.
    let m = Msg::SubmitModel { task: 1, model_sha256: [1; 32], location: "x".into(), base_model: BASE };
    assert!(run(&mut a.chain, &mut a.delegator, m.clone()).is_some_and(|e| e.contains("has no stake on task 1")));
    let e = run(&mut a.chain, &mut a.validators[0], m).unwrap_or_default();
    assert!(e.contains("is a validator on task 1"), "{e}");
    let m = Msg::SubmitModel { task: 1, model_sha256: [1; 32], location: "x".into(), base_model: [9; 32] };
    assert!(run(&mut a.chain, &mut a.nodes[0], m).is_some_and(|e| e.contains("is not one task 1 allows")));
    assert_eq!(submit(&mut a, 0, 1), None);
    assert!(submit(&mut a, 0, 2).is_some_and(|e| e.contains("already submitted 1 model(s)")));
    // A commit before its window; an unknown submission.
    let early = Msg::CommitScore { task: 1, submission: 1, commit: [0; 32] };
    assert!(
        run(&mut a.chain, &mut a.validators[0], early).is_some_and(|e| e.contains("takes score commits at heights"))
    );
    let task: stratus_types::arena::Task = a.chain.get(&keys::arena_task(1)).expect("task");
    a.chain.advance_to(task.submit_until);
    assert!(submit(&mut a, 1, 3).is_some_and(|e| e.contains("takes submissions at heights")), "closed window");
    // A score from someone not assigned (a training node).
    let m = Msg::CommitScore { task: 1, submission: 1, commit: [0; 32] };
    assert!(run(&mut a.chain, &mut a.nodes[2], m).is_some_and(|e| e.contains("is not assigned to submission 1")));
    let v0 = a.validators[0].address;
    let commit = score_commit(1, 1, &v0, 1_000_000, &salt(0, 1));
    assert_eq!(run(&mut a.chain, &mut a.validators[0], Msg::CommitScore { task: 1, submission: 1, commit }), None);
    a.chain.advance_to(task.commit_until);
    // A reveal that does not match its commit.
    let lie = Msg::RevealScore { task: 1, submission: 1, score: 999, salt: salt(0, 1) };
    assert!(run(&mut a.chain, &mut a.validators[0], lie).is_some_and(|e| e.contains("does not match")));
    let s: Score = a.chain.get(&keys::arena_score(1, 1, &v0)).expect("commit");
    assert_eq!(s.revealed, None, "nothing stored changed");
    // Finalizing early; unstaking before finalization; a send into the arena's account.
    assert!(
        run(&mut a.chain, &mut a.creator, Msg::FinalizeTask { task: 1 })
            .is_some_and(|e| e.contains("can be finalized from height"))
    );
    let m = Msg::ArenaUnstake { task: 1, delegate: None };
    assert!(run(&mut a.chain, &mut a.nodes[0], m).is_some_and(|e| e.contains("locked until it is finalized")));
    let m = Msg::Send { to: arena_module(), amount: Coin::new(5, DENOM) };
    assert!(run(&mut a.chain, &mut a.creator, m).is_some_and(|e| e.contains("arena module's account")));
}
