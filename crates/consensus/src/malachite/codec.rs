//! How consensus messages, sync messages and WAL entries become bytes: borsh throughout (the
//! library's `borsh` features cover most types), with the two it does not cover — commit
//! certificates inside sync responses and the validator proof — encoded here by hand.

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::streaming::StreamMessage;
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
use malachitebft_core_consensus::LivenessMsg;
use malachitebft_core_types::{
    CommitCertificate, ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round, ValidatorProof,
};
use malachitebft_sync::ValueResponse;

use super::context::{BlockId, Ctx, Height, ProposalPart, Signature, ValidatorAddress};

#[derive(Debug, thiserror::Error)]
#[error("consensus message encoding: {0}")]
pub struct CodecError(String);

/// The one codec for the network, sync and the WAL.
#[derive(Clone, Copy, Debug, Default)]
pub struct BorshCodec;

macro_rules! borsh_codec {
    ($($t:ty),* $(,)?) => {$(
        impl Codec<$t> for BorshCodec {
            type Error = CodecError;

            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                borsh::from_slice(&bytes).map_err(|e| CodecError(e.to_string()))
            }

            fn encode(&self, msg: &$t) -> Result<Bytes, CodecError> {
                borsh::to_vec(msg).map(Bytes::from).map_err(|e| CodecError(e.to_string()))
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<Ctx>,
    LivenessMsg<Ctx>,
    StreamMessage<ProposalPart>,
    ProposedValue<Ctx>,
    PolkaCertificate<Ctx>,
    Status<Ctx>,
    Request<Ctx>,
);

/// A commit certificate on the wire and in the store: no vote extensions (this chain uses none).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CertificateWire {
    pub height: Height,
    pub round: Round,
    pub value_id: BlockId,
    pub signatures: Vec<(ValidatorAddress, Signature)>,
}

impl CertificateWire {
    pub fn from_commit(c: &CommitCertificate<Ctx>) -> CertificateWire {
        let signatures = c.commit_signatures.iter().map(|s| (s.address, s.signature.clone())).collect();
        CertificateWire { height: c.height, round: c.round, value_id: c.value_id, signatures }
    }

    /// Extensions are dropped: this chain uses none.
    fn from_extended(c: &ExtendedCommitCertificate<Ctx>) -> CertificateWire {
        CertificateWire::from_commit(&c.trim_vote_extensions())
    }

    pub fn to_extended(&self) -> ExtendedCommitCertificate<Ctx> {
        ExtendedCommitCertificate {
            height: self.height,
            round: self.round,
            value_id: self.value_id,
            commit_signatures: self
                .signatures
                .iter()
                .map(|(a, s)| ExtendedCommitSignature::new(*a, s.clone(), None))
                .collect(),
        }
    }
}

#[derive(BorshSerialize, BorshDeserialize)]
struct ResponseWire {
    start_height: Height,
    values: Vec<(Vec<u8>, CertificateWire)>,
}

fn response_wire(msg: &Response<Ctx>) -> ResponseWire {
    let Response::ValueResponse(r) = msg;
    ResponseWire {
        start_height: r.start_height,
        values: r
            .values
            .iter()
            .map(|v| (v.value_bytes.to_vec(), CertificateWire::from_extended(&v.certificate)))
            .collect(),
    }
}

impl Codec<Response<Ctx>> for BorshCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Response<Ctx>, CodecError> {
        let wire: ResponseWire = borsh::from_slice(&bytes).map_err(|e| CodecError(e.to_string()))?;
        Ok(Response::ValueResponse(ValueResponse::new(
            wire.start_height,
            wire.values.into_iter().map(|(b, c)| RawDecidedValue::new(Bytes::from(b), c.to_extended())).collect(),
        )))
    }

    fn encode(&self, msg: &Response<Ctx>) -> Result<Bytes, CodecError> {
        borsh::to_vec(&response_wire(msg)).map(Bytes::from).map_err(|e| CodecError(e.to_string()))
    }
}

impl HasEncodedLen<Response<Ctx>> for BorshCodec {
    fn encoded_len(&self, msg: &Response<Ctx>) -> Result<usize, CodecError> {
        Ok(self.encode(msg)?.len())
    }
}

#[derive(BorshSerialize, BorshDeserialize)]
struct ProofWire {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: Signature,
}

impl Codec<ValidatorProof<Ctx>> for BorshCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<Ctx>, CodecError> {
        let w: ProofWire = borsh::from_slice(&bytes).map_err(|e| CodecError(e.to_string()))?;
        Ok(ValidatorProof::new(w.public_key, w.peer_id, w.signature))
    }

    fn encode(&self, p: &ValidatorProof<Ctx>) -> Result<Bytes, CodecError> {
        let w =
            ProofWire { public_key: p.public_key.clone(), peer_id: p.peer_id.clone(), signature: p.signature.clone() };
        borsh::to_vec(&w).map(Bytes::from).map_err(|e| CodecError(e.to_string()))
    }
}
