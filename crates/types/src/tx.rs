//! Signed transactions.
//!
//! Encoding: borsh, which is canonical (one byte string per value; maps in key order, checked on
//! decode), so a transaction's hash and signature cover exactly one meaning. The signature covers
//! a domain tag and the borsh bytes of the body, which holds the chain id, the signer's sequence
//! number and the messages: a transaction cannot be replayed on another chain or twice on this one.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::address::Address;
use crate::attributes::Attribute;
use crate::coin::Coin;
use crate::group::{DecCoin, GroupSpec};
use crate::market::{BidId, CloseReason, DeploymentId, LeaseId, OrderId, ProviderInfo, ResourceOffer};

/// Prefix of the bytes a transaction signature covers.
pub const SIGN_DOMAIN: &[u8] = b"stratus/tx/v1\0";

/// One state change a transaction asks for. The signer is the actor: the deployment owner, the
/// provider, the auditor or the sender, as each message requires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[borsh(use_discriminant = false)]
pub enum Msg {
    Send {
        to: Address,
        amount: Coin,
    },
    CreateDeployment {
        dseq: u64,
        groups: Vec<GroupSpec>,
        #[serde(with = "hex32")]
        version: [u8; 32],
        deposit: Coin,
        /// All or nothing: no lease pays until every group is leased, and unless that happens
        /// within the chain's `gang_timeout_blocks` the deployment closes and everything is
        /// refunded. For jobs that need every group at once (a training cluster).
        #[serde(default)]
        gang: bool,
    },
    UpdateDeployment {
        dseq: u64,
        #[serde(with = "hex32")]
        version: [u8; 32],
    },
    CloseDeployment {
        dseq: u64,
    },
    CloseGroup {
        dseq: u64,
        gseq: u32,
    },
    PauseGroup {
        dseq: u64,
        gseq: u32,
    },
    StartGroup {
        dseq: u64,
        gseq: u32,
    },
    /// Anyone may add funds to a deployment's escrow.
    DepositDeployment {
        deployment: DeploymentId,
        amount: Coin,
    },
    CreateBid {
        order: OrderId,
        price: DecCoin,
        deposit: Coin,
        offer: Vec<ResourceOffer>,
    },
    CloseBid {
        bid: BidId,
        reason: CloseReason,
    },
    CreateLease {
        bid: BidId,
    },
    CloseLease {
        lease: LeaseId,
    },
    WithdrawLease {
        lease: LeaseId,
    },
    CreateProvider {
        host_uri: String,
        attributes: Vec<Attribute>,
        info: ProviderInfo,
    },
    UpdateProvider {
        host_uri: String,
        attributes: Vec<Attribute>,
        info: ProviderInfo,
    },
    SignProviderAttributes {
        provider: Address,
        attributes: Vec<Attribute>,
    },
    DeleteProviderAttributes {
        provider: Address,
        keys: Vec<String>,
    },
    /// A provider publishes what it measured (replacing its earlier record for that GPU model).
    PublishBenchmark {
        figures: crate::benchmark::BenchmarkFigures,
    },
    /// Arena: a task with its reward pool, escrowed from the creator.
    CreateTask {
        spec: crate::arena::TaskSpec,
    },
    /// Arena: stake on a task as a training node or a validator (one role per task).
    ArenaStake {
        task: u64,
        role: crate::arena::ArenaRole,
        #[serde(with = "crate::coin::u128_string")]
        amount: u128,
        commission_bps: u32,
    },
    ArenaSetCommission {
        task: u64,
        commission_bps: u32,
    },
    ArenaDelegate {
        task: u64,
        delegate: Address,
        #[serde(with = "crate::coin::u128_string")]
        amount: u128,
    },
    /// After the task is finalized: the signer's stake (`delegate` none) or its delegation to
    /// `delegate` starts unbonding.
    ArenaUnstake {
        task: u64,
        delegate: Option<Address>,
    },
    SubmitModel {
        task: u64,
        #[serde(with = "hex32")]
        model_sha256: [u8; 32],
        location: String,
        #[serde(with = "hex32")]
        base_model: [u8; 32],
    },
    CommitScore {
        task: u64,
        submission: u32,
        #[serde(with = "hex32")]
        commit: [u8; 32],
    },
    RevealScore {
        task: u64,
        submission: u32,
        /// Micro-bits per byte (lower is better).
        score: u64,
        #[serde(with = "hex32")]
        salt: [u8; 32],
    },
    /// Anyone, after the reveal window: computes and credits every reward.
    FinalizeTask {
        task: u64,
    },
    ClaimRewards {
        task: u64,
    },
}

impl Msg {
    /// Short name for logs, errors and filters (`create_deployment`).
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Send { .. } => "send",
            Msg::CreateDeployment { .. } => "create_deployment",
            Msg::UpdateDeployment { .. } => "update_deployment",
            Msg::CloseDeployment { .. } => "close_deployment",
            Msg::CloseGroup { .. } => "close_group",
            Msg::PauseGroup { .. } => "pause_group",
            Msg::StartGroup { .. } => "start_group",
            Msg::DepositDeployment { .. } => "deposit_deployment",
            Msg::CreateBid { .. } => "create_bid",
            Msg::CloseBid { .. } => "close_bid",
            Msg::CreateLease { .. } => "create_lease",
            Msg::CloseLease { .. } => "close_lease",
            Msg::WithdrawLease { .. } => "withdraw_lease",
            Msg::CreateProvider { .. } => "create_provider",
            Msg::UpdateProvider { .. } => "update_provider",
            Msg::SignProviderAttributes { .. } => "sign_provider_attributes",
            Msg::DeleteProviderAttributes { .. } => "delete_provider_attributes",
            Msg::PublishBenchmark { .. } => "publish_benchmark",
            Msg::CreateTask { .. } => "create_task",
            Msg::ArenaStake { .. } => "arena_stake",
            Msg::ArenaSetCommission { .. } => "arena_set_commission",
            Msg::ArenaDelegate { .. } => "arena_delegate",
            Msg::ArenaUnstake { .. } => "arena_unstake",
            Msg::SubmitModel { .. } => "submit_model",
            Msg::CommitScore { .. } => "commit_score",
            Msg::RevealScore { .. } => "reveal_score",
            Msg::FinalizeTask { .. } => "finalize_task",
            Msg::ClaimRewards { .. } => "claim_rewards",
        }
    }
}

/// What the signer signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct TxBody {
    pub chain_id: String,
    /// Must equal the signer's account sequence; it then increases by one.
    pub sequence: u64,
    /// Paid to the community pool whether or not the messages succeed.
    pub fee: Coin,
    pub memo: String,
    pub msgs: Vec<Msg>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Tx {
    pub body: TxBody,
    #[serde(with = "hex32")]
    pub public_key: [u8; 32],
    #[serde(with = "hex64")]
    pub signature: [u8; 64],
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("the public key is not a valid ed25519 key")]
    BadPublicKey,
    #[error("the signature does not match the transaction and public key")]
    BadSignature,
    #[error("transaction bytes do not decode: {0}")]
    Decode(String),
}

impl TxBody {
    /// The bytes a signature covers.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = SIGN_DOMAIN.to_vec();
        // Serializing plain data into a Vec cannot fail.
        let _ = borsh::to_writer(&mut out, self);
        out
    }
}

impl Tx {
    pub fn sign(body: TxBody, key: &SigningKey) -> Tx {
        let signature = key.sign(&body.sign_bytes()).to_bytes();
        Tx { body, public_key: key.verifying_key().to_bytes(), signature }
    }

    pub fn signer(&self) -> Address {
        Address::from_public_key(&self.public_key)
    }

    pub fn verify(&self) -> Result<(), TxError> {
        let key = VerifyingKey::from_bytes(&self.public_key).map_err(|_| TxError::BadPublicKey)?;
        key.verify(&self.body.sign_bytes(), &Signature::from_bytes(&self.signature)).map_err(|_| TxError::BadSignature)
    }

    /// Verifies many transactions at once (faster than one by one); fails if any is invalid.
    pub fn verify_batch(txs: &[Tx]) -> Result<(), TxError> {
        let messages: Vec<Vec<u8>> = txs.iter().map(|t| t.body.sign_bytes()).collect();
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let signatures: Vec<Signature> = txs.iter().map(|t| Signature::from_bytes(&t.signature)).collect();
        let keys: Vec<VerifyingKey> = txs
            .iter()
            .map(|t| VerifyingKey::from_bytes(&t.public_key).map_err(|_| TxError::BadPublicKey))
            .collect::<Result<_, _>>()?;
        ed25519_dalek::verify_batch(&refs, &signatures, &keys).map_err(|_| TxError::BadSignature)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Tx, TxError> {
        borsh::from_slice(bytes).map_err(|e| TxError::Decode(e.to_string()))
    }

    /// sha256 of the encoded transaction.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }
}

/// serde helper: 32 bytes as lowercase hex.
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        bytes.try_into().map_err(|_| serde::de::Error::custom(format!("{text:?} is not 32 bytes of hex")))
    }
}

/// serde helper: 64 bytes as lowercase hex.
pub mod hex64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        bytes.try_into().map_err(|_| serde::de::Error::custom(format!("{text:?} is not 64 bytes of hex")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chain: &str, sequence: u64) -> TxBody {
        TxBody {
            chain_id: chain.into(),
            sequence,
            fee: Coin::new(0, "uact"),
            memo: String::new(),
            msgs: vec![Msg::Send { to: Address::module("x"), amount: Coin::new(5, "uact") }],
        }
    }

    #[test]
    fn signatures_cover_chain_and_sequence() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let tx = Tx::sign(body("stratus-devnet", 0), &key);
        assert_eq!(tx.verify(), Ok(()));
        for tampered in [body("other-chain", 0), body("stratus-devnet", 1)] {
            let forged = Tx { body: tampered, ..tx.clone() };
            assert_eq!(forged.verify(), Err(TxError::BadSignature));
        }
        assert_eq!(tx.signer(), Address::from_public_key(&key.verifying_key().to_bytes()));
    }

    #[test]
    fn encoding_round_trips_and_hash_is_stable() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let tx = Tx::sign(body("c", 4), &key);
        let bytes = tx.to_bytes();
        assert_eq!(Tx::from_bytes(&bytes), Ok(tx.clone()));
        assert_eq!(tx.hash(), Tx::from_bytes(&bytes).map(|t| t.hash()).unwrap_or_default());
        assert!(matches!(Tx::from_bytes(&bytes[..bytes.len() - 1]), Err(TxError::Decode(_))));
        let json = serde_json::to_string(&tx).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Tx>(&json).ok(), Some(tx));
    }

    #[test]
    fn batch_verification_catches_one_bad_signature() {
        let key = SigningKey::from_bytes(&[5u8; 32]);
        let mut txs: Vec<Tx> = (0..8).map(|i| Tx::sign(body("c", i), &key)).collect();
        assert_eq!(Tx::verify_batch(&txs), Ok(()));
        txs[3].body.sequence = 99;
        assert_eq!(Tx::verify_batch(&txs), Err(TxError::BadSignature));
    }
}
