//! Blocks in, changes and events out.
//!
//! A transaction runs in two steps. The envelope (chain id, sequence, fee) is checked and, if it
//! passes, the fee is paid and the sequence advances for good. Then its messages run in order;
//! if one fails, every change of the messages is undone (the fee and sequence stay), and the
//! result carries the error. After the transactions, end-of-block work expires old bids, closes gang
//! deployments that did not form by their deadline and closes leases whose escrow ran out; each
//! visits only what is due at this height.

use sha2::{Digest, Sha256};
use stratus_types::address::Address;
use stratus_types::block::{Block, BlockEvent, TxResult};
use stratus_types::coin::Coin;
use stratus_types::market::{AccountState, CloseReason, DeploymentId};
use stratus_types::params::Genesis;
use stratus_types::tx::{Msg, Tx};

use crate::error::LedgerError;
use crate::exec::{Exec, Result, community_pool};
use crate::keys;
use crate::state::{AccessCounts, ChangeSet, MemState, State, StateRead};

/// Whether `apply_block` checks signatures (a node that admitted the transactions through its
/// mempool has already done so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigCheck {
    Verify,
    AlreadyVerified,
}

/// Everything executing a block produced.
#[derive(Debug)]
pub struct BlockOutcome {
    pub changes: ChangeSet,
    pub events: Vec<BlockEvent>,
    pub tx_results: Vec<TxResult>,
    pub app_hash: [u8; 32],
    pub counts: AccessCounts,
}

/// The app hash after a block: a hash chain over every block's ordered change set, so two
/// replicas agree on it exactly when they agree on the whole state (given the same genesis).
pub fn app_hash(height: u64, previous: &[u8; 32], changes: &ChangeSet) -> [u8; 32] {
    let mut changes_digest = Sha256::new();
    for (key, value) in changes {
        changes_digest.update((key.len() as u64).to_be_bytes());
        changes_digest.update(key);
        match value {
            Some(v) => {
                changes_digest.update([1]);
                changes_digest.update((v.len() as u64).to_be_bytes());
                changes_digest.update(v);
            }
            None => changes_digest.update([0]),
        }
    }
    let mut h = Sha256::new();
    h.update(b"stratus/app-hash/v1");
    h.update(height.to_be_bytes());
    h.update(previous);
    h.update(changes_digest.finalize());
    h.finalize().into()
}

/// The state a genesis file describes, as the changes of height 0, and its app hash.
pub fn genesis(g: &Genesis) -> Result<(ChangeSet, [u8; 32])> {
    let empty = MemState::default();
    let mut ex = Exec::new(State::new(&empty), 0, g.params.clone());
    ex.st.put(keys::PARAMS.to_vec(), &g.params);
    ex.st.put(keys::CHAIN_ID.to_vec(), &g.chain_id);
    for account in &g.accounts {
        for coin in &account.coins {
            ex.mint_genesis(&account.address, coin)?;
        }
    }
    for p in &g.providers {
        ex.create_provider(p.owner, &p.host_uri, &p.attributes, &p.info)?;
    }
    let changes = ex.st.into_changes()?;
    let hash = app_hash(0, &[0; 32], &changes);
    Ok((changes, hash))
}

/// Executes a block on top of `base`. `Err` only for internal failures (corrupt or unreadable
/// state): the block must then not be committed.
pub fn apply_block(base: &dyn StateRead, block: &Block, sig: SigCheck) -> Result<BlockOutcome> {
    let mut st = State::new(base);
    let params = Exec::load_params(&mut st)?;
    let chain_id: String = st.get(keys::CHAIN_ID)?.unwrap_or_default();
    let mut ex = Exec::new(st, block.header.height, params);
    ex.prev_app_hash = block.header.prev_app_hash;
    let mut tx_results = Vec::with_capacity(block.txs.len());
    for (i, tx) in block.txs.iter().enumerate() {
        ex.tx_index = Some(u32::try_from(i).map_err(|_| LedgerError::Overflow("tx index"))?);
        let outcome = match sig {
            SigCheck::Verify if tx.verify().is_err() => Err(LedgerError::BadSignature),
            _ => apply_tx(&mut ex, tx, &chain_id),
        };
        let error = match outcome {
            Ok(()) => None,
            Err(e) if e.is_internal() => return Err(e),
            Err(e) => Some(e.to_string()),
        };
        tx_results.push(TxResult { hash: tx.hash(), error });
    }
    ex.tx_index = None;
    ex.expire_bids()?;
    ex.expire_gangs()?;
    ex.release_unbondings()?;
    ex.close_exhausted()?;
    ex.st.commit_journal();
    let counts = ex.st.counts;
    let events = std::mem::take(&mut ex.events);
    let changes = ex.st.into_changes()?;
    let app_hash = app_hash(block.header.height, &block.header.prev_app_hash, &changes);
    Ok(BlockOutcome { changes, events, tx_results, app_hash, counts })
}

/// What [`check_tx`] learned about the signer, for the mempool's own checks against the
/// transactions it already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCheck {
    /// The sequence the signer's next transaction must carry, counting committed ones only.
    pub committed_sequence: u64,
    /// The signer's balance in the fee's denomination.
    pub fee_balance: u128,
}

/// Checks what can be checked before a transaction is admitted to the mempool: signature (unless
/// the caller already did), chain, messages, that its sequence is not already used, the minimum
/// fee, and that the signer can pay it.
pub fn check_tx(base: &dyn StateRead, tx: &Tx, sig: SigCheck) -> Result<TxCheck> {
    if sig == SigCheck::Verify {
        tx.verify().map_err(|_| LedgerError::BadSignature)?;
    }
    let mut st = State::new(base);
    let params = Exec::load_params(&mut st)?;
    let chain_id: String = st.get(keys::CHAIN_ID)?.unwrap_or_default();
    if tx.body.chain_id != chain_id {
        return Err(LedgerError::WrongChain { expected: chain_id, got: tx.body.chain_id.clone() });
    }
    if tx.body.msgs.is_empty() {
        return Err(LedgerError::NoMessages);
    }
    let signer = tx.signer();
    let account: AccountState = st.get(&keys::account(&signer))?.unwrap_or(AccountState { sequence: 0 });
    if tx.body.sequence < account.sequence {
        return Err(LedgerError::BadSequence { expected: account.sequence, got: tx.body.sequence });
    }
    let mut ex = Exec::new(st, 0, params);
    check_fee(&ex, &tx.body.fee)?;
    let have = ex.balance(&signer, &tx.body.fee.denom)?;
    if have < tx.body.fee.amount {
        return Err(LedgerError::InsufficientFunds {
            address: signer,
            have: Coin::new(have, tx.body.fee.denom.clone()),
            need: tx.body.fee.clone(),
        });
    }
    Ok(TxCheck { committed_sequence: account.sequence, fee_balance: have })
}

fn check_fee(ex: &Exec<'_>, fee: &Coin) -> Result<()> {
    if ex.params.min_fees.is_empty() {
        return Ok(());
    }
    match ex.params.min_fees.iter().find(|m| m.denom == fee.denom) {
        Some(min) if fee.amount >= min.amount => Ok(()),
        Some(min) => Err(LedgerError::FeeTooLow { min: min.clone(), got: fee.clone() }),
        None => Err(LedgerError::FeeTooLow { min: ex.params.min_fees[0].clone(), got: fee.clone() }),
    }
}

fn apply_tx(ex: &mut Exec<'_>, tx: &Tx, chain_id: &str) -> Result<()> {
    let body = &tx.body;
    if body.chain_id != chain_id {
        return Err(LedgerError::WrongChain { expected: chain_id.to_string(), got: body.chain_id.clone() });
    }
    if body.msgs.is_empty() {
        return Err(LedgerError::NoMessages);
    }
    let signer = tx.signer();
    let account_key = keys::account(&signer);
    let mut account: AccountState = ex.st.get(&account_key)?.unwrap_or(AccountState { sequence: 0 });
    if body.sequence != account.sequence {
        return Err(LedgerError::BadSequence { expected: account.sequence, got: body.sequence });
    }
    check_fee(ex, &body.fee)?;
    let envelope = ex.mark();
    if let Err(e) = ex.transfer(&signer, &community_pool(), &body.fee) {
        ex.rollback(envelope);
        return Err(e);
    }
    account.sequence += 1;
    ex.st.put(account_key, &account);
    ex.st.commit_journal();

    let messages = ex.mark();
    for (i, msg) in body.msgs.iter().enumerate() {
        if let Err(e) = apply_msg(ex, signer, msg) {
            if e.is_internal() {
                return Err(e);
            }
            ex.rollback(messages);
            return Err(if body.msgs.len() > 1 {
                LedgerError::InMessage { index: i + 1, name: msg.name(), source: Box::new(e) }
            } else {
                e
            });
        }
    }
    ex.st.commit_journal();
    Ok(())
}

fn apply_msg(ex: &mut Exec<'_>, signer: Address, msg: &Msg) -> Result<()> {
    match msg {
        Msg::Send { to, amount } => ex.send(signer, *to, amount),
        Msg::CreateDeployment { dseq, groups, version, deposit, gang } => {
            ex.create_deployment(signer, *dseq, groups, *version, deposit, *gang)
        }
        Msg::UpdateDeployment { dseq, version } => ex.update_deployment(signer, *dseq, *version),
        Msg::CloseDeployment { dseq } => {
            let dep = DeploymentId { owner: signer, dseq: *dseq };
            if ex.deployment(&dep).is_ok() {
                ex.settle_checked(&dep)?;
            }
            ex.close_deployment(signer, *dseq, CloseReason::Owner)
        }
        Msg::CloseGroup { dseq, gseq } => ex.close_group(signer, *dseq, *gseq),
        Msg::PauseGroup { dseq, gseq } => ex.pause_group(signer, *dseq, *gseq),
        Msg::StartGroup { dseq, gseq } => ex.start_group(signer, *dseq, *gseq),
        Msg::DepositDeployment { deployment, amount } => {
            ex.active_deployment(deployment)?;
            ex.settle_checked(deployment)?;
            ex.escrow_deposit(deployment, signer, amount)
        }
        Msg::CreateBid { order, price, deposit, offer } => ex.create_bid(signer, order, price, deposit, offer),
        Msg::CloseBid { bid, reason } => ex.close_bid(signer, bid, *reason),
        Msg::CreateLease { bid } => {
            if ex.settle_checked(&bid.deployment())? {
                return Err(LedgerError::EscrowNotOpen("out of funds".into()));
            }
            ex.create_lease(signer, bid)
        }
        Msg::CloseLease { lease } => ex.close_lease_by_owner(signer, lease),
        Msg::WithdrawLease { lease } => ex.withdraw_lease(signer, lease),
        Msg::CreateProvider { host_uri, attributes, info } => ex.create_provider(signer, host_uri, attributes, info),
        Msg::UpdateProvider { host_uri, attributes, info } => ex.update_provider(signer, host_uri, attributes, info),
        Msg::SignProviderAttributes { provider, attributes } => ex.sign_attributes(signer, *provider, attributes),
        Msg::PublishBenchmark { figures } => ex.publish_benchmark(signer, figures),
        Msg::DeleteProviderAttributes { provider, keys } => ex.delete_attributes(signer, *provider, keys),
        Msg::CreateTask { spec } => ex.create_task(signer, spec).map(|_| ()),
        Msg::ArenaStake { task, role, amount, commission_bps } => {
            ex.arena_stake(signer, *task, *role, *amount, *commission_bps)
        }
        Msg::ArenaSetCommission { task, commission_bps } => ex.set_commission(signer, *task, *commission_bps),
        Msg::ArenaDelegate { task, delegate, amount } => ex.delegate(signer, *task, *delegate, *amount),
        Msg::ArenaUnstake { task, delegate } => ex.arena_unstake(signer, *task, *delegate),
        Msg::SubmitModel { task, model_sha256, location, base_model } => {
            let prev = ex.prev_app_hash;
            ex.submit_model(signer, *task, *model_sha256, location, *base_model, &prev).map(|_| ())
        }
        Msg::CommitScore { task, submission, commit } => ex.commit_score(signer, *task, *submission, *commit),
        Msg::RevealScore { task, submission, score, salt } => {
            ex.reveal_score(signer, *task, *submission, *score, *salt)
        }
        Msg::FinalizeTask { task } => ex.finalize_task(*task),
        Msg::ClaimRewards { task } => ex.claim_rewards(signer, *task),
    }
}
