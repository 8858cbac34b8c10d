//! [`MalachiteEngine`]: starts Malachite's actors (network, consensus, sync, WAL) and answers
//! their requests with the app (the table in `shared/design/consensus.md` §c): build and stash a
//! block when proposing, reassemble, verify and `check` a peer's block, commit a decided block
//! with its certificate, serve and accept synced blocks.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use malachitebft_app_channel::app::config::{ConsensusConfig, NodeConfig, P2pConfig, ValueSyncConfig};
use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{CommitCertificate, LinearTimeouts, Round, Validity};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{Keypair, LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{
    AppMsg, Channels, ConsensusContext, NetworkContext, NetworkIdentity, NetworkMsg, NetworkRequest, RequestContext,
    SyncContext, WalContext,
};
use malachitebft_signing::Signer as _;
use sha2::{Digest, Sha256};
use stratus_types::block::Block;
use tokio::sync::watch;

use super::codec::{BorshCodec, CertificateWire};
use super::context::{BlockId, Ctx, Height, ProposalPart, ValidatorAddress, ValidatorSet};
use super::signing::{ValidatorSigner, ValidatorVerifier, parts_signature_valid};
use super::stash::{Stash, Stashed};
use crate::{BlockApp, Certificate, ConsensusEngine, EngineStatus, block_id, now_ms};

/// How a validator joins the network and paces rounds (plain data; `node::config` fills it).
#[derive(Clone, Debug)]
pub struct BftConfig {
    /// Where the WAL (`wal/consensus.wal`) and the stash (`consensus.redb`) live.
    pub data_dir: PathBuf,
    pub key: SigningKey,
    pub moniker: String,
    /// libp2p listen address, e.g. `/ip4/127.0.0.1/tcp/26656`.
    pub listen: String,
    /// The other validators' listen addresses.
    pub peers: Vec<String>,
    /// Target time between blocks.
    pub block_time: Duration,
    /// Round 0's propose and vote timeouts (each later round adds half again).
    pub timeout_propose: Duration,
    pub timeout_vote: Duration,
    /// Fault injection for the scenario tests (`STRATUS_FAULT`); `None` in normal operation.
    pub fault: Option<Fault>,
}

/// Ways a validator can be made to misbehave, so the tests can show what the others do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `forge-tx-signatures`: propose blocks whose first transaction's signature is corrupted
    /// (a faulty or malicious proposer).
    ForgeTxSignatures,
    /// `crash-after-propose`: abort the process once it has built and stashed its proposal, before
    /// the parts leave, from height 3 on (a crash between proposing and voting).
    CrashAfterPropose,
}

impl Fault {
    pub fn parse(s: &str) -> Option<Fault> {
        match s {
            "forge-tx-signatures" => Some(Fault::ForgeTxSignatures),
            "crash-after-propose" => Some(Fault::CrashAfterPropose),
            _ => None,
        }
    }
}

pub struct MalachiteEngine {
    pub config: BftConfig,
}

/// Largest piece of a block in one proposal part (gossip messages stay well under the 4 MiB cap).
const PART_BYTES: usize = 512 * 1024;
/// Incomplete proposal streams kept per publisher; older ones are dropped (a peer cannot make
/// this node buffer without bound).
const STREAMS_PER_PEER: usize = 16;

struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

fn multiaddr(s: &str) -> anyhow::Result<Multiaddr> {
    s.parse().map_err(|e| anyhow::anyhow!("{s:?} is not a libp2p address like /ip4/127.0.0.1/tcp/26656: {e}"))
}

impl ConsensusEngine for MalachiteEngine {
    async fn run(self, app: Arc<dyn BlockApp>, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let cfg = self.config;
        let chain_id = app.chain_id().to_string();
        let genesis_validators = app.validators();
        anyhow::ensure!(
            !genesis_validators.is_empty(),
            "genesis lists no validators: a BFT chain needs `validators` in genesis.json (`stratus node init --testnet N` writes them)"
        );
        let mut members = Vec::new();
        for v in &genesis_validators {
            let public_key = ed25519_dalek::VerifyingKey::from_bytes(&v.public_key)
                .map_err(|e| anyhow::anyhow!("genesis validator {}: {e}", hex::encode(v.public_key)))?;
            members.push(super::context::Validator {
                address: ValidatorAddress::of(&v.public_key),
                public_key,
                power: v.power,
            });
        }
        let set = ValidatorSet::new(members);
        let public_key = cfg.key.verifying_key().to_bytes();
        let me = ValidatorAddress::of(&public_key);
        let is_validator = set.validators.iter().any(|v| v.address == me);

        // The network key is derived from the validator key (one secret to keep) but is a
        // different key; the validator proof binds the two.
        let net_seed: [u8; 32] =
            Sha256::new().chain_update(b"stratus/p2p-key/").chain_update(cfg.key.to_bytes()).finalize().into();
        let keypair = Keypair::ed25519_from_bytes(net_seed).map_err(|e| anyhow::anyhow!("network key: {e}"))?;
        let peer_id = keypair.public().to_peer_id();
        let signer = ValidatorSigner { chain_id: chain_id.clone(), key: cfg.key.clone() };
        let identity = if is_validator {
            let proof = signer
                .sign_validator_proof(public_key.to_vec(), peer_id.to_bytes())
                .await
                .map_err(|e| anyhow::anyhow!("signing the validator proof: {e}"))?;
            let proof_bytes = BorshCodec.encode(&proof)?;
            NetworkIdentity::new_validator(cfg.moniker.clone(), keypair, me.to_string(), proof_bytes)
        } else {
            NetworkIdentity::new(cfg.moniker.clone(), keypair, None)
        };

        let p2p = P2pConfig {
            listen_addr: multiaddr(&cfg.listen)?,
            persistent_peers: cfg.peers.iter().map(|p| multiaddr(p)).collect::<anyhow::Result<_>>()?,
            ..P2pConfig::default()
        };
        let mut consensus = ConsensusConfig { p2p, ..ConsensusConfig::default() };
        // Validators on one host (testnets) connect from one IP.
        consensus.p2p.discovery.max_connections_per_ip = 64;
        let value_sync = ValueSyncConfig {
            enabled: true,
            status_update_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            ..ValueSyncConfig::default()
        };
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
        let stash = Stash::open(&cfg.data_dir.join("consensus.redb"))?;
        let verifier = ValidatorVerifier { chain_id: chain_id.clone() };
        let consensus_ctx = if is_validator {
            ConsensusContext::new_validator(me, Box::new(verifier), Box::new(signer.clone()))
        } else {
            ConsensusContext::new_full_node(me, Box::new(verifier))
        };
        let (channels, handle) = malachitebft_app_channel::start_engine(
            Ctx,
            EngineConfig { moniker: cfg.moniker.clone(), consensus, value_sync },
            WalContext::new(cfg.data_dir.join("wal").join("consensus.wal"), BorshCodec),
            NetworkContext::new(identity, BorshCodec),
            consensus_ctx,
            SyncContext::new(BorshCodec),
            RequestContext::new(100),
        )
        .await
        .map_err(|e| anyhow::anyhow!("starting the BFT engine: {e}"))?;
        tracing::info!(
            validator = %me, is_validator, peer_id = %peer_id, listen = %cfg.listen,
            validators = set.validators.len(), "BFT engine started"
        );

        let timeouts = LinearTimeouts {
            propose: cfg.timeout_propose,
            propose_delta: cfg.timeout_propose / 2,
            prevote: cfg.timeout_vote,
            prevote_delta: cfg.timeout_vote / 2,
            precommit: cfg.timeout_vote,
            precommit_delta: cfg.timeout_vote / 2,
            rebroadcast: cfg.timeout_propose + cfg.timeout_vote * 2,
            ..LinearTimeouts::default()
        };
        if let Some(fault) = cfg.fault {
            tracing::warn!(?fault, "fault injection on: this validator misbehaves on purpose");
        }
        let Channels { mut consensus, network, net_requests, .. } = channels;
        let mut host = Host {
            fault: cfg.fault,
            app,
            chain_id,
            set,
            me,
            signer,
            timeouts,
            block_time: cfg.block_time,
            stash,
            streams: HashMap::new(),
            future: Vec::new(),
            stream_nonce: 0,
            status: EngineStatus {
                engine: "bft".into(),
                validator: is_validator.then(|| me.to_string()),
                ..EngineStatus::default()
            },
            last_synced: None,
            net_requests: net_requests.clone(),
        };
        let mut peers_tick = tokio::time::interval(Duration::from_secs(1));
        let outcome = loop {
            tokio::select! {
                msg = consensus.recv() => match msg {
                    Some(msg) => {
                        if let Err(e) = host.handle(msg, &network).await {
                            break Err(e);
                        }
                    }
                    None => break Err(anyhow::anyhow!("the consensus engine stopped")),
                },
                _ = peers_tick.tick() => {
                    if let Ok(Some(dump)) = NetworkRequest::dump_state(&net_requests).await {
                        let mut peers: Vec<String> = dump.peers.values().map(|p| {
                            p.consensus_address.clone().unwrap_or_else(|| p.moniker.clone())
                        }).collect();
                        peers.sort();
                        if peers != host.status.peers {
                            let (joined, left): (Vec<&String>, Vec<&String>) = (
                                peers.iter().filter(|p| !host.status.peers.contains(p)).collect(),
                                host.status.peers.iter().filter(|p| !peers.contains(p)).collect(),
                            );
                            tracing::info!(connected = peers.len(), ?joined, ?left, "consensus peers changed");
                        }
                        host.status.peers = peers;
                        host.report();
                    }
                }
                _ = stop.changed() => break Ok(()),
            }
        };
        handle.actor.stop(None);
        let _ = tokio::time::timeout(Duration::from_secs(5), handle.handle).await;
        outcome
    }
}

/// A proposal reassembled from its parts, waiting for its height.
struct Assembled {
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: ValidatorAddress,
    block_bytes: Vec<u8>,
    signature: super::context::Signature,
}

#[derive(Default)]
struct PartialStream {
    parts: BTreeMap<u64, StreamContent<ProposalPart>>,
    arrival: u64,
}

struct Host {
    app: Arc<dyn BlockApp>,
    chain_id: String,
    set: ValidatorSet,
    me: ValidatorAddress,
    signer: ValidatorSigner,
    timeouts: LinearTimeouts,
    block_time: Duration,
    stash: Stash,
    /// Incomplete proposal streams by publisher and stream id.
    streams: HashMap<(PeerId, StreamId), PartialStream>,
    /// Complete proposals for heights this node has not reached yet.
    future: Vec<Assembled>,
    stream_nonce: u64,
    status: EngineStatus,
    /// When a block last came by sync: the node is catching up while they keep coming.
    last_synced: Option<std::time::Instant>,
    fault: Option<Fault>,
    net_requests: tokio::sync::mpsc::Sender<NetworkRequest>,
}

impl Host {
    fn params(&self) -> HeightParams<Ctx> {
        HeightParams::new(self.set.clone(), self.timeouts, Some(self.block_time))
    }

    fn report(&mut self) {
        self.status.catching_up = self.last_synced.is_some_and(|t| t.elapsed() < Duration::from_secs(3));
        self.app.report(self.status.clone());
    }

    fn next_height(&self) -> Height {
        Height(self.app.next_height())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<dyn BlockApp>) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let app = Arc::clone(&self.app);
        tokio::task::spawn_blocking(move || f(app)).await.context("app task")
    }

    async fn handle(
        &mut self,
        msg: AppMsg<Ctx>,
        network: &tokio::sync::mpsc::Sender<NetworkMsg<Ctx>>,
    ) -> anyhow::Result<()> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let height = self.next_height();
                tracing::info!(%height, "consensus ready");
                let _ = reply.send((height, self.params()));
            }
            AppMsg::StartedRound { height, round, proposer, role, reply_value } => {
                tracing::debug!(%height, %round, %proposer, ?role, "round started");
                self.status.height = height.0;
                self.status.round = round.as_i64();
                self.report();
                self.admit_future(height).await?;
                let values = self
                    .stash
                    .at_height(height)?
                    .into_iter()
                    .filter(|(_, s)| s.round == round)
                    .map(|(id, s)| proposed_value(id, &s))
                    .collect();
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue { height, round, timeout: _, reply } => {
                let (id, entry) = self.own_proposal(height, round).await?;
                if self.fault == Some(Fault::CrashAfterPropose) && height.0 >= 3 {
                    tracing::warn!(%height, %round, block = %id, "fault injection: crashing right after proposing");
                    std::process::abort();
                }
                // Just (re)started: parts published before any peer is connected are lost.
                self.wait_for_peers(Duration::from_secs(3)).await;
                self.publish(&entry, network).await;
                let _ = reply.send(LocallyProposedValue::new(height, round, id));
            }
            AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
                let value = match self.receive_part(published_by.unwrap_or(from), part) {
                    Some(assembled) => self.admit(assembled).await?,
                    None => None,
                };
                let _ = reply.send(value);
            }
            AppMsg::RestreamProposal { height, round, valid_round, address, value_id } => {
                if address == self.me
                    && let Some(mut entry) = self.stash.get(&value_id)?
                {
                    entry.round = round;
                    entry.pol_round = valid_round;
                    entry.signature = Some(self.signer.sign_parts(height, round, &entry.block_bytes));
                    self.publish(&entry, network).await;
                }
            }
            AppMsg::Decided { certificate, reply, .. } => {
                self.commit(&certificate).await?;
                let _ = reply.send(());
            }
            AppMsg::Finalized { reply, .. } => {
                let _ = reply.send(Next::Start(self.next_height(), self.params()));
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let (from, to) = (range.start().0, range.end().0);
                let decided = self.blocking(move |app| app.decided(from, to)).await??;
                let mut values = Vec::new();
                for (block, cert) in decided {
                    let Some(Certificate::Bft { encoded, .. }) = cert else { break };
                    let wire: CertificateWire = borsh::from_slice(&encoded).context("stored certificate")?;
                    values.push(RawDecidedValue::new(Bytes::from(borsh::to_vec(&block)?), wire.to_extended()));
                }
                let _ = reply.send(values);
            }
            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                let outcome = self.synced(height, round, proposer, &value_bytes).await?;
                let _ = reply.send(outcome);
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
                let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
            }
        }
        Ok(())
    }

    /// Waits (up to `limit`) until at least one peer is connected, and a moment more for its
    /// gossip subscriptions to arrive; returns at once when peers are already there (as the
    /// last once-a-second look found them, so a proposal costs no extra round trip).
    async fn wait_for_peers(&self, limit: Duration) {
        if !self.status.peers.is_empty() {
            return;
        }
        let requests = &self.net_requests;
        let start = std::time::Instant::now();
        let mut waited = false;
        while start.elapsed() < limit {
            if let Ok(Some(dump)) = NetworkRequest::dump_state(requests).await
                && !dump.peers.is_empty()
            {
                if waited {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                return;
            }
            waited = true;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The block this node proposes at (height, round): the one it stashed before a crash, or
    /// a new one from the mempool (stashed before it is published).
    async fn own_proposal(&mut self, height: Height, round: Round) -> anyhow::Result<(BlockId, Stashed)> {
        if let Some((id, entry)) =
            self.stash.at_height(height)?.into_iter().find(|(_, s)| s.round == round && s.proposer == self.me)
        {
            tracing::info!(%height, %round, block = %id, "re-proposing the stashed block");
            return Ok((id, entry));
        }
        let h = height.0;
        let mut block = self.blocking(move |app| app.build(h, now_ms())).await?;
        if self.fault == Some(Fault::ForgeTxSignatures)
            && let Some(tx) = block.txs.first_mut()
        {
            tx.signature[0] ^= 1;
        }
        let block_bytes = borsh::to_vec(&block)?;
        let id = BlockId(block_id(&block));
        let entry = Stashed {
            height,
            round,
            pol_round: Round::Nil,
            proposer: self.me,
            signature: Some(self.signer.sign_parts(height, round, &block_bytes)),
            block_bytes,
            valid: true,
        };
        self.stash.put(&id, &entry)?;
        tracing::info!(%height, %round, block = %id, txs = block.txs.len(), "proposing");
        Ok((id, entry))
    }

    async fn publish(&mut self, entry: &Stashed, network: &tokio::sync::mpsc::Sender<NetworkMsg<Ctx>>) {
        self.stream_nonce += 1;
        let mut id = Vec::with_capacity(20);
        id.extend_from_slice(&entry.height.0.to_be_bytes());
        id.extend_from_slice(&entry.round.as_i64().to_be_bytes());
        id.extend_from_slice(&self.stream_nonce.to_be_bytes());
        let stream_id = StreamId::new(Bytes::from(id));
        let mut parts = vec![ProposalPart::Init {
            height: entry.height,
            round: entry.round,
            pol_round: entry.pol_round,
            proposer: entry.proposer,
        }];
        parts.extend(entry.block_bytes.chunks(PART_BYTES).map(|c| ProposalPart::Data(c.to_vec())));
        if entry.block_bytes.is_empty() {
            parts.push(ProposalPart::Data(Vec::new()));
        }
        let signature = entry.signature.clone().map(|s| s.0.to_vec()).unwrap_or_default();
        parts.push(ProposalPart::Fin { signature });
        let mut contents: Vec<StreamContent<ProposalPart>> = parts.into_iter().map(StreamContent::Data).collect();
        contents.push(StreamContent::Fin);
        for (seq, content) in contents.into_iter().enumerate() {
            let msg = StreamMessage::new(stream_id.clone(), seq as u64, content);
            if network.send(NetworkMsg::PublishProposalPart(msg)).await.is_err() {
                tracing::warn!("network actor gone; proposal not published");
                return;
            }
        }
    }

    /// Adds a part to its stream; a complete, well-formed and correctly signed stream comes out.
    fn receive_part(&mut self, publisher: PeerId, msg: StreamMessage<ProposalPart>) -> Option<Assembled> {
        self.stream_nonce += 1;
        let key = (publisher, msg.stream_id.clone());
        let nonce = self.stream_nonce;
        let stream =
            self.streams.entry(key.clone()).or_insert_with(|| PartialStream { arrival: nonce, ..Default::default() });
        stream.parts.insert(msg.sequence, msg.content);
        // Bound what one publisher can make this node hold.
        let mine: Vec<(PeerId, StreamId, u64)> = self
            .streams
            .iter()
            .filter(|((p, _), _)| *p == publisher)
            .map(|((p, s), v)| (*p, s.clone(), v.arrival))
            .collect();
        if mine.len() > STREAMS_PER_PEER
            && let Some(oldest) = mine.iter().min_by_key(|(_, _, a)| *a)
        {
            self.streams.remove(&(oldest.0, oldest.1.clone()));
        }
        let stream = self.streams.get(&key)?;
        let last = stream.parts.iter().find(|(_, c)| matches!(c, StreamContent::Fin)).map(|(s, _)| *s)?;
        if stream.parts.len() as u64 != last + 1 || stream.parts.keys().last() != Some(&last) {
            return None;
        }
        let stream = self.streams.remove(&key)?;
        let parts: Vec<ProposalPart> = stream
            .parts
            .into_values()
            .filter_map(|c| match c {
                StreamContent::Data(p) => Some(p),
                StreamContent::Fin => None,
            })
            .collect();
        let (Some(ProposalPart::Init { height, round, pol_round, proposer }), Some(ProposalPart::Fin { signature })) =
            (parts.first().cloned(), parts.last().cloned())
        else {
            tracing::warn!(%publisher, "malformed proposal stream (no Init or Fin part); dropped");
            return None;
        };
        let mut block_bytes = Vec::new();
        for p in &parts[1..parts.len() - 1] {
            match p {
                ProposalPart::Data(d) => block_bytes.extend_from_slice(d),
                _ => {
                    tracing::warn!(%publisher, "malformed proposal stream (parts out of place); dropped");
                    return None;
                }
            }
        }
        let Some(validator) = self.set.validators.iter().find(|v| v.address == proposer) else {
            tracing::warn!(%publisher, %proposer, "proposal from a non-validator; dropped");
            return None;
        };
        let Ok(signature) = <[u8; 64]>::try_from(signature.as_slice()) else {
            tracing::warn!(%publisher, "proposal without a signature; dropped");
            return None;
        };
        let signature = super::context::Signature(signature);
        if !parts_signature_valid(&self.chain_id, &validator.public_key, (height, round), &block_bytes, &signature) {
            tracing::warn!(%publisher, %proposer, %height, "proposal parts with a bad signature; dropped");
            return None;
        }
        Some(Assembled { height, round, pol_round, proposer, block_bytes, signature })
    }

    /// Checks a proposal at the current height (the app's `check`), stashes it and returns it for
    /// consensus; a proposal for a later height waits.
    async fn admit(&mut self, a: Assembled) -> anyhow::Result<Option<ProposedValue<Ctx>>> {
        let next = self.next_height();
        if a.height < next {
            return Ok(None);
        }
        if a.height > next {
            self.future.retain(|f| f.height >= next);
            if self.future.len() < 64 {
                self.future.push(a);
            }
            return Ok(None);
        }
        let Ok(block) = borsh::from_slice::<Block>(&a.block_bytes) else {
            tracing::warn!(height = %a.height, proposer = %a.proposer, "proposed block does not decode; dropped");
            return Ok(None);
        };
        let id = BlockId(block_id(&block));
        let valid = if block.header.height != a.height.0 {
            tracing::warn!(height = %a.height, "proposed block's header has another height; voting against it");
            false
        } else {
            match self.blocking(move |app| app.check(&block)).await? {
                Ok(()) => true,
                Err(reject) => {
                    tracing::warn!(proposer = %a.proposer, round = %a.round, "{reject}; voting against it");
                    false
                }
            }
        };
        let entry = Stashed {
            height: a.height,
            round: a.round,
            pol_round: a.pol_round,
            proposer: a.proposer,
            block_bytes: a.block_bytes,
            signature: Some(a.signature),
            valid,
        };
        self.stash.put(&id, &entry)?;
        Ok(Some(proposed_value(id, &entry)))
    }

    /// Proposals that arrived before this node reached `height`: checked and stashed now, so
    /// `StartedRound` hands them to consensus.
    async fn admit_future(&mut self, height: Height) -> anyhow::Result<()> {
        let (now, later): (Vec<Assembled>, Vec<Assembled>) =
            std::mem::take(&mut self.future).into_iter().partition(|a| a.height == height);
        self.future = later.into_iter().filter(|a| a.height > height).collect();
        for a in now {
            self.admit(a).await?;
        }
        Ok(())
    }

    async fn commit(&mut self, certificate: &CommitCertificate<Ctx>) -> anyhow::Result<()> {
        let height = certificate.height;
        let id = certificate.value_id;
        let entry = self.stash.get(&id)?.with_context(|| {
            format!("height {height} was decided on block {id}, which this node never received; restart to sync it")
        })?;
        let block: Block = borsh::from_slice(&entry.block_bytes).context("stashed block")?;
        let signers = certificate
            .commit_signatures
            .iter()
            .filter_map(|s| self.set.validators.iter().find(|v| v.address == s.address))
            .map(|v| v.public_key.to_bytes())
            .collect();
        let cert = Certificate::Bft {
            round: certificate.round.as_u32().unwrap_or(0),
            signers,
            encoded: borsh::to_vec(&CertificateWire::from_commit(certificate))?,
        };
        let summary = cert.summary();
        let txs = block.txs.len();
        // Decided is answered only once the block is durable.
        let app_hash =
            self.blocking(move |app| app.commit(block, cert).and_then(|h| app.flush().map(|()| h))).await??;
        self.stash.prune_through(height)?;
        tracing::info!(%height, block = %id, txs, app_hash = %hex::encode(&app_hash[..8]), "decided: {summary}");
        Ok(())
    }

    async fn synced(
        &mut self,
        height: Height,
        round: Round,
        proposer: ValidatorAddress,
        bytes: &Bytes,
    ) -> anyhow::Result<SyncedValueOutcome<Ctx>> {
        let Ok(block) = borsh::from_slice::<Block>(bytes) else { return Ok(SyncedValueOutcome::PeerFault) };
        if block.header.height != height.0 {
            return Ok(SyncedValueOutcome::PeerFault);
        }
        if height != self.next_height() {
            return Ok(SyncedValueOutcome::LocalTransientError);
        }
        let id = BlockId(block_id(&block));
        let valid = match self.blocking(move |app| app.check(&block)).await? {
            Ok(()) => true,
            Err(reject) => {
                tracing::warn!(%height, "synced {reject}");
                false
            }
        };
        let entry = Stashed {
            height,
            round,
            pol_round: Round::Nil,
            proposer,
            block_bytes: bytes.to_vec(),
            signature: None,
            valid,
        };
        self.stash.put(&id, &entry)?;
        self.last_synced = Some(std::time::Instant::now());
        Ok(SyncedValueOutcome::Verdict(proposed_value(id, &entry)))
    }
}

fn proposed_value(id: BlockId, s: &Stashed) -> ProposedValue<Ctx> {
    ProposedValue {
        height: s.height,
        round: s.round,
        valid_round: s.pol_round,
        proposer: s.proposer,
        value: id,
        validity: if s.valid { Validity::Valid } else { Validity::Invalid },
    }
}
