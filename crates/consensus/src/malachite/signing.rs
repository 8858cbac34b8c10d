//! Validators sign votes, proposals and the network-key proof with their ed25519 validator key.
//! Every signed message is prefixed with its kind and the chain id, so a signature from one
//! chain or for one kind of message can never be replayed as another.

use async_trait::async_trait;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use malachitebft_core_types::{SignedMessage, ValidatorProof, VoteExtensionScope};
use malachitebft_signing::{Error, Signer, VerificationResult, Verifier};

use super::context::{Ctx, Height, Proposal, Signature, Vote};
use malachitebft_core_types::Round;

pub fn vote_sign_bytes(chain_id: &str, vote: &Vote) -> Vec<u8> {
    sign_bytes("vote", chain_id, &borsh::to_vec(vote).unwrap_or_default())
}

pub fn proposal_sign_bytes(chain_id: &str, proposal: &Proposal) -> Vec<u8> {
    sign_bytes("proposal", chain_id, &borsh::to_vec(proposal).unwrap_or_default())
}

fn sign_bytes(kind: &str, chain_id: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(b"stratus/");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'/');
    out.extend_from_slice(chain_id.as_bytes());
    out.push(0);
    out.extend_from_slice(body);
    out
}

/// The bytes the proposer signs in a proposal's Fin part: the position and the whole block
/// (the parts themselves travel unsigned).
fn parts_sign_bytes(chain_id: &str, height: Height, round: Round, block_bytes: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"stratus/proposal-parts/");
    h.update(chain_id.as_bytes());
    h.update(height.0.to_be_bytes());
    h.update(round.as_i64().to_be_bytes());
    h.update(block_bytes);
    h.finalize().to_vec()
}

/// Whether `signature` is the proposer's over a proposal's parts.
pub fn parts_signature_valid(
    chain_id: &str,
    proposer: &VerifyingKey,
    (height, round): (Height, Round),
    block_bytes: &[u8],
    signature: &Signature,
) -> bool {
    verify(proposer, &parts_sign_bytes(chain_id, height, round, block_bytes), signature).is_valid()
}

fn verify(public_key: &VerifyingKey, bytes: &[u8], signature: &Signature) -> VerificationResult {
    VerificationResult::from_bool(public_key.verify(bytes, &signature.to_dalek()).is_ok())
}

/// Signs as this node's validator.
#[derive(Clone)]
pub struct ValidatorSigner {
    pub chain_id: String,
    pub key: SigningKey,
}

impl ValidatorSigner {
    pub fn sign(&self, bytes: &[u8]) -> Signature {
        Signature(self.key.sign(bytes).to_bytes())
    }

    /// The Fin part's signature over a proposal this node streams.
    pub fn sign_parts(&self, height: Height, round: Round, block_bytes: &[u8]) -> Signature {
        self.sign(&parts_sign_bytes(&self.chain_id, height, round, block_bytes))
    }
}

#[async_trait]
impl Signer<Ctx> for ValidatorSigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<Ctx, Vote>, Error> {
        let signature = self.sign(&vote_sign_bytes(&self.chain_id, &vote));
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(&self, proposal: Proposal) -> Result<SignedMessage<Ctx, Proposal>, Error> {
        let signature = self.sign(&proposal_sign_bytes(&self.chain_id, &proposal));
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        _scope: VoteExtensionScope<Ctx>,
        _extension: (),
    ) -> Result<SignedMessage<Ctx, ()>, Error> {
        Err(Error::from_source("vote extensions are not used on this chain"))
    }

    async fn sign_validator_proof(&self, public_key: Vec<u8>, peer_id: Vec<u8>) -> Result<ValidatorProof<Ctx>, Error> {
        let signature = self.sign(&ValidatorProof::<Ctx>::signing_bytes(&public_key, &peer_id));
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

/// Verifies other validators' signatures.
pub struct ValidatorVerifier {
    pub chain_id: String,
}

#[async_trait]
impl Verifier<Ctx> for ValidatorVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &VerifyingKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verify(public_key, &vote_sign_bytes(&self.chain_id, vote), signature))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &VerifyingKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verify(public_key, &proposal_sign_bytes(&self.chain_id, proposal), signature))
    }

    async fn verify_signed_vote_extension(
        &self,
        _scope: &VoteExtensionScope<Ctx>,
        _extension: &(),
        _signature: &Signature,
        _public_key: &VerifyingKey,
    ) -> Result<VerificationResult, Error> {
        Ok(VerificationResult::Invalid)
    }

    async fn verify_validator_proof(&self, proof: &ValidatorProof<Ctx>) -> Result<VerificationResult, Error> {
        let Ok(key) = <[u8; 32]>::try_from(proof.public_key.as_slice()) else {
            return Ok(VerificationResult::Invalid);
        };
        let Ok(key) = VerifyingKey::from_bytes(&key) else { return Ok(VerificationResult::Invalid) };
        Ok(verify(&key, &proof.preimage(), &proof.signature))
    }
}
