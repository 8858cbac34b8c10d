//! Our [`Context`] for Malachite: what a height, an address, a value, a proposal, its parts and a
//! vote are, and how validators sign them (ed25519, the same keys as the rest of Stratus).
//!
//! The value consensus votes on is a block's id ([`BlockId`]); the block itself travels as
//! proposal parts and waits in the stash until it is decided.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signature as EdSignature, VerifyingKey};
use malachitebft_core_types as mc;
use mc::{NilOrVal, Round, SignedExtension, VoteType};
use stratus_types::address::Address;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: the account address of its public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct ValidatorAddress(pub Address);

impl ValidatorAddress {
    pub fn of(public_key: &[u8; 32]) -> ValidatorAddress {
        ValidatorAddress(Address::from_public_key(public_key))
    }
}

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Address for ValidatorAddress {}

/// What consensus decides: the id of a block (sha256 of its encoding).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct BlockId(pub [u8; 32]);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0[..8]))
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl mc::Value for BlockId {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        *self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub height: Height,
    pub round: Round,
    pub value: BlockId,
    pub pol_round: Round,
    pub proposer: ValidatorAddress,
}

impl mc::Proposal<Ctx> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &BlockId {
        &self.value
    }
    fn take_value(self) -> BlockId {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// A block streamed as parts: who proposes it where, its bytes in chunks, and the proposer's
/// signature over all of it in the last part (parts travel unsigned otherwise).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    Init { height: Height, round: Round, pol_round: Round, proposer: ValidatorAddress },
    Data(Vec<u8>),
    Fin { signature: Vec<u8> },
}

impl mc::ProposalPart<Ctx> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    pub typ: VoteType,
    pub height: Height,
    pub round: Round,
    pub value: NilOrVal<BlockId>,
    pub validator: ValidatorAddress,
}

impl mc::Vote<Ctx> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.typ
    }
    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }
    // Vote extensions are not used.
    fn extension(&self) -> Option<&SignedExtension<Ctx>> {
        None
    }
    fn take_extension(&mut self) -> Option<SignedExtension<Ctx>> {
        None
    }
    fn extend(self, _extension: SignedExtension<Ctx>) -> Self {
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub address: ValidatorAddress,
    pub public_key: VerifyingKey,
    pub power: u64,
}

impl mc::Validator<Ctx> for Validator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }
    fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }
    fn voting_power(&self) -> u64 {
        self.power
    }
}

/// Validators sorted by address (every node sorts the same way, so proposer selection agrees).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    pub validators: Vec<Validator>,
}

impl ValidatorSet {
    pub fn new(mut validators: Vec<Validator>) -> ValidatorSet {
        validators.sort_by_key(|v| v.address);
        validators.dedup_by_key(|v| v.address);
        ValidatorSet { validators }
    }
}

impl mc::ValidatorSet<Ctx> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> u64 {
        self.validators.iter().map(|v| v.power).sum()
    }
    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// An ed25519 signature, ordered by its bytes (Malachite sorts signatures).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn to_dalek(&self) -> EdSignature {
        EdSignature::from_bytes(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodingError(String);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519;

impl mc::SigningScheme for Ed25519 {
    type DecodingError = DecodingError;
    type Signature = Signature;
    type PublicKey = VerifyingKey;
    type PrivateKey = ed25519_dalek::SigningKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, DecodingError> {
        let array: [u8; 64] =
            bytes.try_into().map_err(|_| DecodingError(format!("a signature is 64 bytes, not {}", bytes.len())))?;
        Ok(Signature(array))
    }
    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }
    fn decode_public_key(bytes: &[u8]) -> Result<VerifyingKey, DecodingError> {
        let array: [u8; 32] =
            bytes.try_into().map_err(|_| DecodingError(format!("a public key is 32 bytes, not {}", bytes.len())))?;
        VerifyingKey::from_bytes(&array).map_err(|e| DecodingError(e.to_string()))
    }
    fn encode_public_key(public_key: &VerifyingKey) -> Vec<u8> {
        public_key.to_bytes().to_vec()
    }
}

/// The chain's consensus context. Proposers rotate round-robin over the sorted validator set,
/// by height and round (equal voting power is what `node init --testnet` gives).
#[derive(Clone, Debug, Default)]
pub struct Ctx;

impl mc::Context for Ctx {
    type Address = ValidatorAddress;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = mc::LinearTimeouts;
    type Value = BlockId;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(&self, set: &'a ValidatorSet, height: Height, round: Round) -> &'a Validator {
        let n = set.validators.len().max(1) as u64;
        let r = round.as_u32().map_or(0, u64::from);
        let index = (height.0.wrapping_add(r) % n) as usize;
        // An empty set is refused when the engine starts; index 0 exists otherwise.
        &set.validators[index.min(set.validators.len().saturating_sub(1))]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockId,
        pol_round: Round,
        address: ValidatorAddress,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, proposer: address }
    }

    fn new_prevote(&self, height: Height, round: Round, value: NilOrVal<BlockId>, address: ValidatorAddress) -> Vote {
        Vote { typ: VoteType::Prevote, height, round, value, validator: address }
    }

    fn new_precommit(&self, height: Height, round: Round, value: NilOrVal<BlockId>, address: ValidatorAddress) -> Vote {
        Vote { typ: VoteType::Precommit, height, round, value, validator: address }
    }
}
