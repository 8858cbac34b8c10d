//! A node's home directory: `config.toml`, `genesis.json`, `data/ledger.redb`, and `keyring/`
//! (the faucet's key, and on devnets the funded accounts' keys).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use stratus_types::coin::Coin;
use stratus_types::params::Genesis;

pub const DEFAULT_API_ADDR: &str = "127.0.0.1:26657";
pub const DEFAULT_BLOCK_TIME_MS: u64 = 1000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the HTTP API listens.
    pub api_addr: SocketAddr,
    /// Target time between blocks (blocks are produced even when empty: heights are the ledger's
    /// clock, which escrow payments count).
    pub block_time_ms: u64,
    /// Most transactions (and bytes) in one block.
    pub max_block_txs: usize,
    pub max_block_bytes: usize,
    /// Mempool bounds; a submission beyond them is refused with an error, never dropped.
    pub mempool_max_txs: usize,
    pub mempool_max_bytes: usize,
    /// How long `POST /txs?wait=commit` waits before answering that the transaction is still pending.
    pub commit_timeout_ms: u64,
    /// A client must send a request's headers within this, and its body within this again, or
    /// its connection is cut (slow-loris).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Devnet faucet; absent on real networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faucet: Option<FaucetConfig>,
    /// Check the ledger's invariants (supply, escrow, indexes) after every committed block and
    /// halt on the first broken one, as Cosmos's crisis module does. Reads the whole state each
    /// block: for devnets and debugging (the devnet turns it on), not for large chains.
    #[serde(default)]
    pub check_invariants: bool,
    /// Which engine decides blocks, and how a BFT validator reaches its peers.
    #[serde(default)]
    pub consensus: ConsensusConfig,
}

/// `[consensus]` in config.toml.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusConfig {
    /// `solo`: this node decides every block (devnets). `bft`: Tendermint among the validators
    /// genesis lists (`stratus node init --testnet N`).
    #[serde(default)]
    pub engine: EngineKind,
    /// libp2p address validators connect to (bft).
    #[serde(default = "default_p2p_listen")]
    pub p2p_listen: String,
    /// The other validators' libp2p addresses (bft).
    #[serde(default)]
    pub peers: Vec<String>,
    /// The other nodes' HTTP APIs: a transaction admitted here is forwarded to them, so it
    /// reaches whichever validator proposes next (Malachite does not gossip transactions).
    #[serde(default)]
    pub peer_apis: Vec<String>,
    /// Round 0's propose timeout and prevote/precommit timeouts (later rounds add half again).
    #[serde(default = "default_timeout_propose_ms")]
    pub timeout_propose_ms: u64,
    #[serde(default = "default_timeout_vote_ms")]
    pub timeout_vote_ms: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    #[default]
    Solo,
    Bft,
}

impl Default for ConsensusConfig {
    fn default() -> ConsensusConfig {
        ConsensusConfig {
            engine: EngineKind::Solo,
            p2p_listen: default_p2p_listen(),
            peers: Vec::new(),
            peer_apis: Vec::new(),
            timeout_propose_ms: default_timeout_propose_ms(),
            timeout_vote_ms: default_timeout_vote_ms(),
        }
    }
}

fn default_p2p_listen() -> String {
    "/ip4/127.0.0.1/tcp/26656".into()
}

fn default_timeout_propose_ms() -> u64 {
    1000
}

fn default_timeout_vote_ms() -> u64 {
    500
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaucetConfig {
    /// Key (in this home's keyring, `test` backend) that pays.
    pub key: String,
    /// What one request gets at most, per denomination.
    pub grant: Vec<Coin>,
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        NodeConfig {
            api_addr: DEFAULT_API_ADDR.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 26657))),
            block_time_ms: DEFAULT_BLOCK_TIME_MS,
            max_block_txs: 10_000,
            max_block_bytes: 16 << 20,
            mempool_max_txs: 50_000,
            mempool_max_bytes: 64 << 20,
            commit_timeout_ms: 60_000,
            request_timeout_ms: default_request_timeout_ms(),
            faucet: None,
            check_invariants: false,
            consensus: ConsensusConfig::default(),
        }
    }
}

fn default_request_timeout_ms() -> u64 {
    10_000
}

/// The files of a node home.
#[derive(Clone, Debug)]
pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    pub fn new(dir: &Path) -> Home {
        Home { dir: dir.to_path_buf() }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    pub fn genesis_path(&self) -> PathBuf {
        self.dir.join("genesis.json")
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.join("data").join("ledger.redb")
    }

    /// The node's own validator key (hex of the ed25519 seed, readable by its owner only): never
    /// a client keyring key, so a node's consensus identity is not a spending key.
    pub fn validator_key_path(&self) -> PathBuf {
        self.dir.join("validator.key")
    }

    /// Loads the validator key, creating one first if the home has none (homes made before
    /// validator keys existed).
    pub fn validator_key(&self) -> anyhow::Result<ed25519_dalek::SigningKey> {
        let path = self.validator_key_path();
        if !path.exists() {
            let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
            self.write_validator_key(&key)?;
            tracing::info!(path = %path.display(), "created a validator key");
            return Ok(key);
        }
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let bytes = hex::decode(text.trim()).map_err(|e| anyhow::anyhow!("{}: not hex: {e}", path.display()))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{}: a validator key is 32 bytes (64 hex digits)", path.display()))?;
        Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn write_validator_key(&self, key: &ed25519_dalek::SigningKey) -> anyhow::Result<()> {
        let path = self.validator_key_path();
        fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).with_context(|| format!("cannot create {}", path.display()))?;
        std::io::Write::write_all(&mut file, format!("{}\n", hex::encode(key.to_bytes())).as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    pub fn is_initialized(&self) -> bool {
        self.config_path().exists() && self.genesis_path().exists()
    }

    pub fn load_config(&self) -> anyhow::Result<NodeConfig> {
        let path = self.config_path();
        let text = fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} (run `stratus node init` first)", path.display()))?;
        let config: NodeConfig = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if config.block_time_ms == 0 {
            bail!("{}: block_time_ms must be positive", path.display());
        }
        Ok(config)
    }

    pub fn load_genesis(&self) -> anyhow::Result<Genesis> {
        let path = self.genesis_path();
        let text = fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} (run `stratus node init` first)", path.display()))?;
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Writes config and genesis; refuses to overwrite an initialized home.
    pub fn write(&self, config: &NodeConfig, genesis: &Genesis) -> anyhow::Result<()> {
        if self.is_initialized() {
            bail!("{} already holds a node (config.toml and genesis.json); use another --home", self.dir.display());
        }
        fs::create_dir_all(self.dir.join("data")).with_context(|| format!("cannot create {}", self.dir.display()))?;
        let config_text = toml::to_string_pretty(config).context("encoding config")?;
        fs::write(self.config_path(), config_text)
            .with_context(|| format!("cannot write {}", self.config_path().display()))?;
        let genesis_text = serde_json::to_string_pretty(genesis).context("encoding genesis")?;
        fs::write(self.genesis_path(), genesis_text + "\n")
            .with_context(|| format!("cannot write {}", self.genesis_path().display()))?;
        Ok(())
    }
}

/// `1s`, `250ms`, `2m`, or a bare number of milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let bad = || format!("{s:?} is not a duration like 1s, 250ms or 2m");
    if digits == 0 {
        return Err(bad());
    }
    let n: u64 = s[..digits].parse().map_err(|_| bad())?;
    let ms = match &s[digits..] {
        "" | "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        _ => None,
    };
    match ms {
        Some(0) => Err(format!("{s:?}: must be positive")),
        Some(ms) => Ok(ms),
        None => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("1s"), Ok(1000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("2m"), Ok(120_000));
        assert_eq!(parse_duration_ms("40"), Ok(40));
        assert!(parse_duration_ms("1h").is_err());
        assert!(parse_duration_ms("0s").is_err());
        assert!(parse_duration_ms("s").is_err());
    }

    #[test]
    fn config_round_trips_and_rejects_unknown_fields() {
        let c = NodeConfig {
            faucet: Some(FaucetConfig { key: "faucet".into(), grant: vec![Coin::new(5, "uact")] }),
            ..NodeConfig::default()
        };
        let text = toml::to_string_pretty(&c).unwrap();
        assert_eq!(toml::from_str::<NodeConfig>(&text).unwrap(), c);
        let err = toml::from_str::<NodeConfig>(&format!("block_tme_ms = 3\n{text}")).unwrap_err();
        assert!(err.to_string().contains("block_tme_ms"), "{err}");
    }
}
