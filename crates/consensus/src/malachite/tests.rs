//! The adapter's pure parts: encodings round-trip, signatures bind their chain and kind,
//! proposers rotate, and the stash keeps what is undecided.

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Response};
use malachitebft_core_types::{Context as _, NilOrVal, Round, SignedMessage, VoteType};
use malachitebft_signing::{Signer as _, Verifier as _};
use malachitebft_sync::ValueResponse;

use super::codec::{BorshCodec, CertificateWire};
use super::context::{BlockId, Ctx, Height, Validator, ValidatorAddress, ValidatorSet, Vote};
use super::signing::{ValidatorSigner, ValidatorVerifier};
use super::stash::{Stash, Stashed};

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i; 32])
}

fn validator(i: u8) -> Validator {
    let k = key(i);
    Validator { address: ValidatorAddress::of(&k.verifying_key().to_bytes()), public_key: k.verifying_key(), power: 10 }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
}

#[test]
fn a_vote_verifies_only_on_its_own_chain() {
    let signer = ValidatorSigner { chain_id: "a".into(), key: key(1) };
    let vote = Vote {
        typ: VoteType::Precommit,
        height: Height(3),
        round: Round::new(0),
        value: NilOrVal::Val(BlockId([9; 32])),
        validator: validator(1).address,
    };
    let signed: SignedMessage<Ctx, Vote> = block_on(signer.sign_vote(vote.clone())).expect("sign");
    let pk = key(1).verifying_key();
    let same = ValidatorVerifier { chain_id: "a".into() };
    let other = ValidatorVerifier { chain_id: "b".into() };
    assert!(block_on(same.verify_signed_vote(&vote, &signed.signature, &pk)).expect("verify").is_valid());
    assert!(block_on(other.verify_signed_vote(&vote, &signed.signature, &pk)).expect("verify").is_invalid());
    let mut altered = vote;
    altered.round = Round::new(1);
    assert!(block_on(same.verify_signed_vote(&altered, &signed.signature, &pk)).expect("verify").is_invalid());
}

#[test]
fn sync_responses_and_proofs_round_trip() {
    let c = CertificateWire {
        height: Height(7),
        round: Round::new(2),
        value_id: BlockId([4; 32]),
        signatures: vec![(validator(1).address, super::context::Signature([5; 64]))],
    };
    let response = Response::ValueResponse(ValueResponse::new(
        Height(7),
        vec![RawDecidedValue::new(Bytes::from_static(b"block"), c.to_extended())],
    ));
    let bytes = BorshCodec.encode(&response).expect("encode");
    assert_eq!(BorshCodec.decode(bytes).ok(), Some(response));

    let signer = ValidatorSigner { chain_id: "a".into(), key: key(2) };
    let proof = block_on(signer.sign_validator_proof(key(2).verifying_key().to_bytes().to_vec(), b"peer".to_vec()))
        .expect("proof");
    let decoded = BorshCodec.decode(BorshCodec.encode(&proof).expect("encode")).expect("decode");
    assert_eq!(proof, decoded);
    let verifier = ValidatorVerifier { chain_id: "a".into() };
    assert!(block_on(verifier.verify_validator_proof(&decoded)).expect("verify").is_valid());
    let garbage: Result<malachitebft_core_types::ValidatorProof<Ctx>, _> = BorshCodec.decode(Bytes::from_static(b"xx"));
    assert!(garbage.is_err(), "undecodable bytes are an error, not a panic");
}

#[test]
fn proposers_rotate_over_the_sorted_set_by_height_and_round() {
    let set = ValidatorSet::new(vec![validator(3), validator(1), validator(2), validator(4)]);
    let pick = |h: u64, r: u32| Ctx.select_proposer(&set, Height(h), Round::new(r)).address;
    let heights: Vec<ValidatorAddress> = (0..4).map(|h| pick(h, 0)).collect();
    let mut distinct = heights.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "four heights, four different proposers");
    assert_eq!(pick(5, 1), pick(6, 0), "the next round moves to the next validator");
    let sorted: Vec<ValidatorAddress> = set.validators.iter().map(|v| v.address).collect();
    assert!(sorted.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn the_stash_keeps_undecided_blocks_across_reopen_and_prunes_decided_heights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("consensus.redb");
    let entry = |h: u64, r: u32| Stashed {
        height: Height(h),
        round: Round::new(r),
        pol_round: Round::Nil,
        proposer: validator(1).address,
        block_bytes: vec![h as u8; 10],
        signature: None,
        valid: true,
    };
    {
        let stash = Stash::open(&path).expect("open");
        stash.put(&BlockId([1; 32]), &entry(5, 0)).expect("put");
        stash.put(&BlockId([2; 32]), &entry(5, 1)).expect("put");
        stash.put(&BlockId([3; 32]), &entry(6, 0)).expect("put");
    }
    let stash = Stash::open(&path).expect("reopen");
    assert_eq!(stash.at_height(Height(5)).expect("read").len(), 2);
    assert_eq!(stash.get(&BlockId([2; 32])).expect("read"), Some(entry(5, 1)));
    stash.prune_through(Height(5)).expect("prune");
    assert!(stash.at_height(Height(5)).expect("read").is_empty());
    assert_eq!(stash.get(&BlockId([3; 32])).expect("read"), Some(entry(6, 0)));
}
