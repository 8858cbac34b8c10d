//! `provider.toml`: who the provider is, what it has, how it prices, how it runs workloads.
//!
//! Sizes are written like the SDL's (`512Gi`, `80Gi`), CPU in cores (`64`, `0.5`) or millicores
//! (`500m`), prices as decimals per block in the order's denomination.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use stratus_types::attributes::Attribute;
use stratus_types::dec::Dec;
use stratus_types::gpu::canonical_model;
use stratus_types::units::{parse_bytes, parse_cpu_millis};

use crate::pure::inventory::{ClusterSpec, GpuDevice, NodeSpec};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Key (in the home's keyring) that signs the provider's transactions.
    pub key: String,
    /// The node's API.
    #[serde(default = "default_node")]
    pub node: String,
    /// The gateway's public URL, published on the ledger (`https://host:port`).
    pub host_uri: String,
    /// Where the gateway listens.
    pub listen: SocketAddr,
    /// A client must send a request's headers within this, and its body within this again, or
    /// its connection is cut (slow-loris). The TLS handshake has its own 10 s.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Host name or address forwarded service ports are reached at.
    #[serde(default = "default_public_host")]
    pub public_host: String,
    /// Where leases' volumes, logs and state live (relative to the config file's directory).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Plain attributes (`region`, `tier`, …), published with the capability attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub website: String,
    pub inventory: InventoryConfig,
    #[serde(default)]
    pub pricing: PricingConfig,
    #[serde(default)]
    pub bidding: BiddingConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

/// GPU telemetry (docs/benchmarks.md): where samples come from, when a GPU is withdrawn from new
/// bids, and where the operator's Prometheus reads them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// How often the GPUs are sampled.
    pub interval_ms: u64,
    /// The inventory node whose GPUs the driver (NVML) reads: this machine [default: the first].
    pub node: Option<String>,
    /// Recorded NVML-shaped samples per node (`{"node": [sample, …]}`, relative to the config's
    /// directory), read at every tick instead of the driver: a stand-in where no GPU exists (the
    /// devnet's declared GPUs, tests). Named as such in every view.
    pub replay: Option<PathBuf>,
    /// Serve every GPU's figures (labelled by lease) and the host's as Prometheus text on plain
    /// HTTP here. Keep it private (loopback, the operator's network): tenants see their own GPUs
    /// through the gateway.
    pub metrics_listen: Option<SocketAddr>,
    /// A GPU at or over this temperature (or its own slowdown threshold) is withdrawn.
    pub max_temperature_c: u32,
    /// Uncorrectable ECC errors a GPU may have before it is withdrawn.
    pub max_ecc_uncorrected: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        let limits = stratus_hw::health::HealthLimits::default();
        TelemetryConfig {
            interval_ms: 5000,
            node: None,
            replay: None,
            metrics_listen: None,
            max_temperature_c: limits.max_temperature_c,
            max_ecc_uncorrected: limits.max_ecc_uncorrected,
        }
    }
}

impl TelemetryConfig {
    pub fn limits(&self) -> stratus_hw::health::HealthLimits {
        stratus_hw::health::HealthLimits {
            max_temperature_c: self.max_temperature_c,
            max_ecc_uncorrected: self.max_ecc_uncorrected,
        }
    }
}

fn default_node() -> String {
    "http://127.0.0.1:26657".into()
}

fn default_request_timeout_ms() -> u64 {
    10_000
}

fn default_public_host() -> String {
    "127.0.0.1".into()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("provider-data")
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryConfig {
    /// `declared` (the nodes below; simulated providers) or `detect` (this host).
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(default)]
    pub nodes: Vec<NodeConfig>,
    /// Persistent storage pools by class (`beta3 = "1Ti"`).
    #[serde(default)]
    pub persistent: BTreeMap<String, String>,
    /// Offer memory-backed `ram` volumes (`/dev/shm`).
    #[serde(default = "yes")]
    pub ram: bool,
}

fn default_mode() -> String {
    "declared".into()
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub name: String,
    pub cpu: String,
    pub memory: String,
    /// Ephemeral storage.
    pub storage: String,
    #[serde(default)]
    pub gpus: Vec<GpuConfig>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GpuConfig {
    /// Any spelling: `h100`, `nvidia-a100`, `A100-SXM4-80GB`.
    pub model: String,
    /// Memory per GPU (`80Gi`); from the catalog if omitted.
    #[serde(default)]
    pub ram: Option<String>,
    /// `sxm` or `pcie`; from the name or the catalog if omitted.
    #[serde(default)]
    pub interface: Option<String>,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    /// Denominations bid in (empty: any the ledger accepts).
    #[serde(default)]
    pub denoms: Vec<String>,
    /// Per block, per replica.
    #[serde(default)]
    pub cpu_per_core: Option<String>,
    #[serde(default)]
    pub memory_per_gi: Option<String>,
    /// Per GiB, by class (`ephemeral`, `ram`, `beta3`, …).
    #[serde(default)]
    pub storage_per_gi: BTreeMap<String, String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Per GPU, by model (`h100 = "400"`, `"*" = "200"`).
    #[serde(default)]
    pub gpu: BTreeMap<String, String>,
    /// An executable that prices instead (Akash's stdin JSON contract).
    #[serde(default)]
    pub script: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BiddingConfig {
    /// Bid deposit (default: the ledger's minimum, in the order's denomination).
    #[serde(default)]
    pub deposit: Option<String>,
    /// Close an own bid that has not become a lease after this many blocks.
    #[serde(default = "d_bid_timeout")]
    pub bid_timeout_blocks: u64,
    /// Close a won lease whose manifest has not arrived after this many blocks.
    #[serde(default = "d_manifest_timeout")]
    pub manifest_timeout_blocks: u64,
    /// Withdraw earnings at least this often.
    #[serde(default = "d_withdraw")]
    pub withdraw_period_blocks: u64,
    /// And when a deployment's escrow will run out within this many blocks.
    #[serde(default = "d_margin")]
    pub withdraw_margin_blocks: u64,
    /// Close a lease whose replicas keep exiting or stay stopped for this long (0: never). A
    /// replica that fails for good (see `runtime.max_restarts`) closes its lease at once.
    #[serde(default = "d_unstable")]
    pub close_unstable_after_secs: u64,
    /// Also bid on orders whose placement requires these attributes only (Akash's
    /// `--provider-config` attribute filter); empty: no filter.
    #[serde(default)]
    pub require_attributes: BTreeMap<String, String>,
}

fn d_bid_timeout() -> u64 {
    300
}
fn d_manifest_timeout() -> u64 {
    300
}
fn d_withdraw() -> u64 {
    600
}
fn d_margin() -> u64 {
    50
}
fn d_unstable() -> u64 {
    120
}

impl Default for BiddingConfig {
    fn default() -> BiddingConfig {
        BiddingConfig {
            deposit: None,
            bid_timeout_blocks: d_bid_timeout(),
            manifest_timeout_blocks: d_manifest_timeout(),
            withdraw_period_blocks: d_withdraw(),
            withdraw_margin_blocks: d_margin(),
            close_unstable_after_secs: d_unstable(),
            require_attributes: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// `host` (processes in bubblewrap sandboxes) or `container` (OCI containers through the
    /// Docker Engine API: Docker, or podman's compatible service). `kubernetes` comes later.
    #[serde(default = "d_runtime")]
    pub kind: String,
    /// The bubblewrap program the host runtime sandboxes workloads with (a name looked up in
    /// `PATH`, or a path). Without a working one the provider does not bid, and says why.
    #[serde(default = "d_bwrap")]
    pub bwrap: String,
    /// The container engine (`unix:///path`, a socket path or `tcp://host:port`); unset:
    /// `DOCKER_HOST`, then `/var/run/docker.sock`, then `/run/podman/podman.sock`.
    #[serde(default)]
    pub engine_socket: Option<String>,
    /// Host ports handed to forwarded service ports, `first-last`.
    #[serde(default = "d_ports")]
    pub port_range: String,
    /// Per replica: bytes per log file, and files kept.
    #[serde(default = "d_log_bytes")]
    pub log_max_bytes: u64,
    #[serde(default = "d_log_files")]
    pub log_files: u32,
    /// What runs for an image (first match wins).
    #[serde(default)]
    pub images: Vec<ImageRule>,
    /// Host paths hidden from workloads (the provider's home and data are always hidden).
    #[serde(default)]
    pub hide: Vec<PathBuf>,
    /// A replica that exits this many times in a row, each within a minute of starting, is
    /// failed (and its lease closed); until then it restarts with back-off.
    #[serde(default = "d_max_restarts")]
    pub max_restarts: u32,
    /// Run as root, the provider gives each lease its own uid from here on (1,048,576 of them),
    /// so no workload shares an owner with another lease's files or the provider's.
    #[serde(default = "d_uid_base")]
    pub uid_base: u32,
}

fn d_runtime() -> String {
    "host".into()
}
fn d_bwrap() -> String {
    "bwrap".into()
}
fn d_ports() -> String {
    "32000-32999".into()
}
fn d_log_bytes() -> u64 {
    1 << 20
}
fn d_log_files() -> u32 {
    3
}
fn d_max_restarts() -> u32 {
    5
}
fn d_uid_base() -> u32 {
    2_000_000
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            kind: d_runtime(),
            bwrap: d_bwrap(),
            engine_socket: None,
            port_range: d_ports(),
            log_max_bytes: d_log_bytes(),
            log_files: d_log_files(),
            images: Vec::new(),
            hide: Vec::new(),
            max_restarts: d_max_restarts(),
            uid_base: d_uid_base(),
        }
    }
}

/// Maps an image (glob, e.g. `hashicorp/http-echo:*`) to a host command. Without `command`,
/// the manifest's own command runs on the host root (read-only). `{stratus}` is this binary.
/// The manifest's args are appended either way.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRule {
    pub image: String,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// `isolated` (default): the replica has only its own loopback; its ports are relayed in.
    /// `host`: it shares the host's network to dial out (the built-in trainer reaching its
    /// coordinator and S3 on other machines), and gets its published ports as inherited sockets
    /// (`LISTEN_FDS`, fd 3 on) instead of relays. Files, processes and uid stay sandboxed. Only
    /// for a command the provider fixes here (a rule with `command`): never for tenant code.
    #[serde(default)]
    pub network: ReplicaNetwork,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaNetwork {
    #[default]
    Isolated,
    Host,
}

/// The config with everything parsed and paths resolved.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub raw: ProviderConfig,
    /// The directory holding the config file (relative paths are relative to it).
    pub dir: PathBuf,
    pub data_dir: PathBuf,
    pub cluster: ClusterSpec,
    pub ports: (u16, u16),
}

impl ProviderConfig {
    pub fn load(path: &Path) -> anyhow::Result<Loaded> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let raw: ProviderConfig = toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        raw.resolve(&dir).with_context(|| format!("{}", path.display()))
    }

    pub fn resolve(self, dir: &Path) -> anyhow::Result<Loaded> {
        if !self.host_uri.starts_with("https://") {
            bail!("host_uri {:?} must be https://host:port (the gateway serves TLS)", self.host_uri);
        }
        if !["host", "container"].contains(&self.runtime.kind.as_str()) {
            bail!("runtime.kind {:?}: use `host` or `container` (kubernetes is planned)", self.runtime.kind);
        }
        if let Some(r) = self.runtime.images.iter().find(|r| r.network == ReplicaNetwork::Host && r.command.is_none()) {
            bail!(
                "runtime.images {:?}: network = \"host\" needs a fixed `command` (the tenant's own command must never share the host's network)",
                r.image
            );
        }
        let cluster = match self.inventory.mode.as_str() {
            "declared" => declared(&self.inventory)?,
            "detect" => crate::effects::detect::detect(&self.inventory)?,
            other => bail!("inventory.mode {other:?}: use `declared` or `detect`"),
        };
        let ports = parse_range(&self.runtime.port_range)?;
        let data_dir = if self.data_dir.is_absolute() { self.data_dir.clone() } else { dir.join(&self.data_dir) };
        Ok(Loaded { dir: dir.to_path_buf(), data_dir, cluster, ports, raw: self })
    }
}

fn parse_range(s: &str) -> anyhow::Result<(u16, u16)> {
    let bad = || anyhow!("runtime.port_range {s:?}: expected first-last, e.g. 32000-32999");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (u16, u16) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// Persistent pools (shared by both inventory modes).
pub fn pools(inv: &InventoryConfig) -> anyhow::Result<BTreeMap<String, u64>> {
    inv.persistent
        .iter()
        .map(|(class, size)| {
            let bytes = parse_bytes(size).map_err(|e| anyhow!("inventory.persistent.{class}: {e}"))?;
            Ok((class.clone(), bytes))
        })
        .collect()
}

fn declared(inv: &InventoryConfig) -> anyhow::Result<ClusterSpec> {
    if inv.nodes.is_empty() {
        bail!("inventory: declare at least one [[inventory.nodes]] (or set mode = \"detect\")");
    }
    let mut nodes = Vec::new();
    for n in &inv.nodes {
        let at = |field: &str, e: String| anyhow!("inventory node {}: {field}: {e}", n.name);
        let mut gpus = Vec::new();
        for g in &n.gpus {
            let detected = stratus_types::gpu::parse_product_name(&g.model, None);
            let ram_gi = match &g.ram {
                Some(r) => u32::try_from(parse_bytes(r).map_err(|e| at("gpus.ram", e))? >> 30).unwrap_or(u32::MAX),
                None => detected.ram_gi,
            };
            let interface = g.interface.clone().unwrap_or(detected.interface).to_ascii_lowercase();
            let device = GpuDevice { model: canonical_model(&detected.model), ram_gi, interface };
            gpus.extend(std::iter::repeat_n(device, g.count as usize));
        }
        nodes.push(NodeSpec {
            name: n.name.clone(),
            cpu_millis: parse_cpu_millis(&n.cpu).map_err(|e| at("cpu", e))?,
            memory: parse_bytes(&n.memory).map_err(|e| at("memory", e))?,
            ephemeral: parse_bytes(&n.storage).map_err(|e| at("storage", e))?,
            gpus,
        });
    }
    Ok(ClusterSpec { nodes, persistent: pools(inv)?, ram: inv.ram })
}

impl Loaded {
    /// Attributes published on the ledger: the configured ones, then capabilities in Akash's key
    /// form (GPU models with memory and interface; storage classes).
    pub fn ledger_attributes(&self) -> Vec<Attribute> {
        let mut out: Vec<Attribute> =
            self.raw.attributes.iter().map(|(k, v)| Attribute::new(k.clone(), v.clone())).collect();
        let mut gpu_keys = std::collections::BTreeSet::new();
        for n in &self.cluster.nodes {
            for g in &n.gpus {
                let base = format!("capabilities/gpu/vendor/nvidia/model/{}", g.model);
                gpu_keys.insert(base.clone());
                gpu_keys.insert(format!("{base}/ram/{}Gi", g.ram_gi));
                gpu_keys.insert(format!("{base}/ram/{}Gi/interface/{}", g.ram_gi, g.interface));
                gpu_keys.insert(format!("{base}/interface/{}", g.interface));
            }
        }
        out.extend(gpu_keys.into_iter().map(|k| Attribute::new(k, "true")));
        let mut n = 0;
        let mut storage = |class: &str, persistent: bool| {
            n += 1;
            out.push(Attribute::new(format!("capabilities/storage/{n}/class"), class));
            out.push(Attribute::new(format!("capabilities/storage/{n}/persistent"), persistent.to_string()));
        };
        storage("default", false);
        if self.cluster.ram {
            storage("ram", false);
        }
        for class in self.cluster.persistent.keys() {
            storage(class, true);
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

/// A price setting as an exact decimal.
pub fn price(field: &str, s: &Option<String>) -> anyhow::Result<Dec> {
    match s {
        None => Ok(Dec::ZERO),
        Some(v) => v.parse().map_err(|e| anyhow!("pricing.{field} {v:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
key = "prov"
host_uri = "https://127.0.0.1:8443"
listen = "127.0.0.1:8443"
attributes = { region = "eu-west" }

[inventory]
persistent = { beta3 = "1Ti" }

[[inventory.nodes]]
name = "n1"
cpu = "64"
memory = "512Gi"
storage = "2Ti"
gpus = [{ model = "A100-SXM4-80GB", count = 8 }]

[pricing]
cpu_per_core = "1.5"
gpu = { a100 = "400" }
"#;

    #[test]
    fn parses_sizes_gpus_and_publishes_akash_capability_keys() {
        let raw: ProviderConfig = toml::from_str(CONFIG).unwrap();
        let loaded = raw.resolve(Path::new("/etc/stratus")).unwrap();
        let n = &loaded.cluster.nodes[0];
        assert_eq!((n.cpu_millis, n.memory), (64_000, 512 << 30));
        assert_eq!(n.gpus.len(), 8);
        assert_eq!(n.gpus[0], GpuDevice { model: "a100".into(), ram_gi: 80, interface: "sxm".into() });
        assert_eq!(loaded.data_dir, Path::new("/etc/stratus/provider-data"));
        let attrs = loaded.ledger_attributes();
        let has = |k: &str, v: &str| attrs.iter().any(|a| a.key == k && a.value == v);
        assert!(has("region", "eu-west"));
        assert!(has("capabilities/gpu/vendor/nvidia/model/a100", "true"));
        assert!(has("capabilities/gpu/vendor/nvidia/model/a100/ram/80Gi/interface/sxm", "true"));
        assert!(has("capabilities/storage/2/class", "ram"));
        assert!(has("capabilities/storage/3/class", "beta3") && has("capabilities/storage/3/persistent", "true"));
        stratus_types::attributes::validate_provider_attributes(&attrs).unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let bad = CONFIG.replace("memory = \"512Gi\"", "memory = \"512GB\"");
        let err = toml::from_str::<ProviderConfig>(&bad).unwrap().resolve(Path::new(".")).unwrap_err();
        assert!(format!("{err:#}").contains("inventory node n1: memory"), "{err:#}");
        let bad = CONFIG.replace("https://", "http://");
        let err = toml::from_str::<ProviderConfig>(&bad).unwrap().resolve(Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("must be https"), "{err}");
        let err = toml::from_str::<ProviderConfig>(&CONFIG.replace("listen =", "lisen =")).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        // Host networking only for a command the provider fixes.
        let open = format!("{CONFIG}\n[[runtime.images]]\nimage = \"python:*\"\nnetwork = \"host\"\n");
        let err = toml::from_str::<ProviderConfig>(&open).unwrap().resolve(Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("python:*") && err.to_string().contains("fixed `command`"), "{err}");
        let fixed = format!(
            "{CONFIG}\n[[runtime.images]]\nimage = \"stratus/trainer*\"\ncommand = [\"{{stratus}}\", \"train\"]\nnetwork = \"host\"\n"
        );
        let loaded = toml::from_str::<ProviderConfig>(&fixed).unwrap().resolve(Path::new(".")).unwrap();
        assert_eq!(loaded.raw.runtime.images[0].network, ReplicaNetwork::Host);
    }
}
