//! The one-command devnet behind `stratus up`: a node with a faucet, three providers with
//! different simulated inventories, an auditor and a funded tenant, all in one home directory.
//!
//! Layout of the home (everything a later `up` needs to resume the same chain):
//!
//! ```text
//! config.toml genesis.json data/ keys/   the node and the keyring (tenant, providers, auditor)
//! providers/<name>/provider.toml         each provider's config; its data in provider-data/
//! devnet.json                            what `init` chose: URLs, ports, keys
//! devnet.pid  devnet.log                 the background process (`stratus devnet serve`)
//! devnet.ready                           written by that process once every provider is up
//! deployments/                           SDL copies of the tenant's deployments
//! ```
//!
//! One background process runs the node and the three provider daemons (each with its own key,
//! config, gateway and data directory, exactly as `stratus provider run` would); workloads run
//! in their own supervisor processes and survive it, as on a real provider.

pub mod serve;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use stratus_node::config::NodeConfig;
use stratus_node::init::{InitOptions, init};
use stratus_types::coin::Coin;
use stratus_types::params::{AuditorAlias, Params, TakeRate};

/// Akash's community auditor, named in the `signedBy` of most awesome-akash templates. The
/// devnet's auditor stands in for it (a ledger parameter), so those templates bid unmodified.
pub const AKASH_AUDITOR: &str = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63";

pub const TENANT: &str = "tenant";
pub const AUDITOR: &str = "auditor";
pub const CHAIN_ID: &str = "stratus-devnet";
/// Take rate on every payout, in basis points (2%), so the settlement shows where it goes.
pub const TAKE_RATE_BPS: u32 = 200;

/// What `init` chose, read back by every later command.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevnetFile {
    pub chain_id: String,
    pub node: String,
    pub block_time_ms: u64,
    pub providers: Vec<DevnetProvider>,
    /// The providers' runtime: `host` or `container`.
    #[serde(default = "host_runtime")]
    pub runtime: String,
    /// The container engine the providers use (container devnets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_socket: Option<String>,
    /// Validators deciding the chain: 1 is the solo engine in the devnet's own node home; more
    /// run Tendermint BFT, validator 0 in the home and the others in `validators/vI`.
    #[serde(default = "one_validator")]
    pub validators: usize,
    /// Where the devnet serves the web console (devnets made before it had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_port: Option<u16>,
}

fn one_validator() -> usize {
    1
}

/// The most validators a devnet runs (all in its one process).
pub const MAX_VALIDATORS: usize = 7;

fn host_runtime() -> String {
    "host".into()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevnetProvider {
    /// Short name (`h100`, `rtx4090`, `cpu`): `up --provider NAME` picks it.
    pub name: String,
    pub key: String,
    /// Relative to the home.
    pub config: PathBuf,
    pub address: String,
    /// One line: what it has.
    pub summary: String,
}

/// Written by the background process when everything is up.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ready {
    pub pid: u32,
    pub height: u64,
}

pub struct Devnet {
    pub home: PathBuf,
    pub file: DevnetFile,
}

struct ProviderPlan {
    name: &'static str,
    region: &'static str,
    tier: &'static str,
    nodes: String,
    persistent: &'static str,
    pricing: String,
    ports: (u16, u16),
    summary: &'static str,
}

/// Most providers a devnet can have.
pub const MAX_PROVIDERS: usize = 8;

/// The simulated providers: the three first ones always (prices are per block; on
/// `examples/hello.yaml` the CPU-only provider is the cheapest (5 uact), the rtx4090 one next
/// (7), the h100 one dearest), then GPU providers in other regions up to `n`.
fn plans(n: usize) -> Vec<ProviderPlan> {
    let mut all = base_plans();
    all.extend(EXTRA_GPU_PROVIDERS.iter().map(|&(name, model, region, price, summary)| ProviderPlan {
        name,
        region,
        tier: "community",
        nodes: format!(
                "\n[[inventory.nodes]]\nname = \"{name}-a\"\ncpu = \"64\"\nmemory = \"512Gi\"\nstorage = \"2Ti\"\ngpus = [{{ model = \"{model}\", count = 4 }}]\n"
            ),
        persistent: r#"{ beta3 = "2Ti" }"#,
        pricing: format!(
                "cpu_per_core = \"20\"\nmemory_per_gi = \"8\"\nstorage_per_gi = {{ ephemeral = \"4\", ram = \"4\", beta3 = \"2\" }}\nendpoint = \"3\"\ngpu = {{ {model} = \"{price}\", \"*\" = \"{price}\" }}"
            ),
        ports: (0, 0),
        summary,
    }));
    all.truncate(n);
    for (i, p) in all.iter_mut().enumerate() {
        let first = PLAN_PORTS_FROM + u16::try_from(i).unwrap_or(0) * PORTS_PER_PROVIDER;
        p.ports = (first, first + PORTS_PER_PROVIDER - 1);
    }
    all
}

/// Providers past the third: (name, GPU model, region, price per GPU per block, summary).
const EXTRA_GPU_PROVIDERS: &[(&str, &str, &str, &str, &str)] = &[
    ("a100", "a100", "us-west", "20000", "4× a100 80Gi"),
    ("l40s", "l40s", "ap-south", "12000", "4× l40s 48Gi"),
    ("a6000", "a6000", "eu-north", "10000", "4× rtx a6000 48Gi"),
    ("h200", "h200", "us-central", "70000", "4× h200 141Gi"),
    ("a40", "a40", "sa-east", "9000", "4× a40 48Gi"),
];

fn base_plans() -> Vec<ProviderPlan> {
    vec![
        ProviderPlan {
            name: "h100",
            region: "us-east",
            tier: "premium",
            nodes: r#"
[[inventory.nodes]]
name = "h100-a"
cpu = "128"
memory = "1Ti"
storage = "4Ti"
gpus = [{ model = "h100", count = 4, ram = "80Gi", interface = "sxm" }]

[[inventory.nodes]]
name = "h100-b"
cpu = "128"
memory = "1Ti"
storage = "4Ti"
gpus = [{ model = "h100", count = 4, ram = "80Gi", interface = "sxm" }]
"#
            .into(),
            persistent: r#"{ beta3 = "8Ti" }"#,
            pricing: r#"cpu_per_core = "40"
memory_per_gi = "8"
storage_per_gi = { ephemeral = "0.5", ram = "4", beta3 = "1" }
endpoint = "5"
gpu = { h100 = "60000", "*" = "60000" }"#
                .into(),
            ports: (0, 0),
            summary: "8× h100 80Gi sxm over 2 nodes",
        },
        ProviderPlan {
            name: "rtx4090",
            region: "eu-west",
            tier: "community",
            nodes: r#"
[[inventory.nodes]]
name = "rtx-a"
cpu = "64"
memory = "256Gi"
storage = "2Ti"
gpus = [{ model = "rtx4090", count = 4 }]
"#
            .into(),
            persistent: r#"{ beta3 = "2Ti" }"#,
            pricing: r#"cpu_per_core = "20"
memory_per_gi = "16"
storage_per_gi = { ephemeral = "8", ram = "8", beta3 = "4" }
endpoint = "3"
gpu = { rtx4090 = "8000", "*" = "8000" }"#
                .into(),
            ports: (0, 0),
            summary: "4× rtx4090 24Gi",
        },
        ProviderPlan {
            name: "cpu",
            region: "eu-central",
            tier: "community",
            nodes: r#"
[[inventory.nodes]]
name = "cpu-a"
cpu = "32"
memory = "128Gi"
storage = "1Ti"
"#
            .into(),
            persistent: r#"{ beta3 = "1Ti" }"#,
            pricing: r#"cpu_per_core = "10"
memory_per_gi = "16"
storage_per_gi = { ephemeral = "8", ram = "8", beta3 = "2" }
endpoint = "2""#
                .into(),
            ports: (0, 0),
            summary: "CPU only, ram and beta3 storage",
        },
    ]
}

/// The provider plans' port ranges are written from here; `init` moves them to the devnet's block.
const PLAN_PORTS_FROM: u16 = 34000;
/// Workload ports per provider.
const PORTS_PER_PROVIDER: u16 = 100;
/// Ports per devnet (room for the most providers).
const PORT_BLOCK: u16 = PORTS_PER_PROVIDER * MAX_PROVIDERS as u16;

/// The first port of this devnet's block: one of the 800-port blocks from 20000 to 60000, counting
/// from a hash of the home's path, blocks below the kernel's ephemeral range (where outgoing
/// connections take their ports) first. A block is taken when its providers' first ports bind
/// and this home can claim it (see [`claim_block`]): a new devnet's ports bind until its workloads
/// start, so binding alone let two devnets made at the same moment share a block.
///
/// Devnets whose providers run containers take their blocks from 12000 to 20000 instead: the
/// container engine publishes ports with NAT rules that can outlive their containers (netavark
/// left some behind when a container went away under a stopped engine), and such a rule then
/// steals the port from whichever devnet forwards it next — a host devnet's hello never answered.
fn port_block(home: &Path, container: bool) -> anyhow::Result<u16> {
    use sha2::{Digest, Sha256};
    let (first, blocks): (u16, u16) = if container { (12000, 10) } else { (20000, 50) };
    let key = fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf());
    let h = Sha256::digest(key.display().to_string().as_bytes());
    let start = u16::from_be_bytes([h[0], h[1]]) % blocks;
    let ephemeral_from = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let free = |base: u16| {
        (0..MAX_PROVIDERS as u16).all(|p| {
            (0..10).all(|k| std::net::TcpListener::bind(("127.0.0.1", base + p * PORTS_PER_PROVIDER + k)).is_ok())
        })
    };
    let mut bases: Vec<u16> = (0..blocks).map(|k| first + ((start + k) % blocks) * PORT_BLOCK).collect();
    bases.sort_by_key(|b| u32::from(*b) + u32::from(PORT_BLOCK) > ephemeral_from);
    bases.into_iter().find(|base| free(*base) && claim_block(*base, &key)).ok_or_else(|| {
        let last = first + blocks * PORT_BLOCK;
        anyhow!("no free block of {PORT_BLOCK} ports between {first} and {last} for the devnet's workloads")
    })
}

/// Claims a port block for `home`: a file named after the block in the machine's temporary
/// directory holding the home's path, made by hard-linking a filled-in file (atomic, and failing
/// when the claim exists). A claim whose home no longer exists is stale and taken over; a registry
/// that cannot be written (a read-only /tmp) does not stop the devnet, which then relies on the
/// bind check alone.
fn claim_block(base: u16, home: &Path) -> bool {
    let dir = std::env::temp_dir().join("stratus-devnet-ports");
    let draft = dir.join(format!(".{base}.{}", std::process::id()));
    if fs::create_dir_all(&dir).is_err() || fs::write(&draft, home.display().to_string()).is_err() {
        return true;
    }
    let path = dir.join(base.to_string());
    let mut claimed = false;
    for _ in 0..2 {
        if fs::hard_link(&draft, &path).is_ok() {
            claimed = true;
            break;
        }
        let holder = fs::read_to_string(&path).unwrap_or_default();
        if Path::new(&holder) == home {
            claimed = true;
            break;
        }
        if Path::new(&holder).exists() {
            break;
        }
        let _ = fs::remove_file(&path);
    }
    let _ = fs::remove_file(&draft);
    claimed
}

/// How a devnet's providers run workloads.
#[derive(Clone, Debug)]
pub struct RuntimeChoice {
    pub kind: String,
    pub engine_socket: Option<String>,
}

fn provider_toml(
    p: &ProviderPlan,
    key: &str,
    node: &str,
    (port, metrics_port): (u16, u16),
    runtime: &RuntimeChoice,
) -> String {
    let engine = runtime.engine_socket.as_ref().map(|e| format!("engine_socket = \"{e}\"\n")).unwrap_or_default();
    format!(
        r#"# A simulated devnet provider written by `stratus up` ({summary}).
key = "{key}"
node = "{node}"
host_uri = "https://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
public_host = "127.0.0.1"
attributes = {{ region = "{region}", tier = "{tier}", host = "akash", organization = "stratus-devnet" }}

[inventory]
mode = "declared"
ram = true
persistent = {persistent}
{nodes}
[pricing]
{pricing}

[bidding]
bid_timeout_blocks = 300
manifest_timeout_blocks = 120
withdraw_period_blocks = 600

# The declared GPUs have no driver: their telemetry is replayed from telemetry.json (healthy
# figures `stratus up` wrote; edit it to see a GPU withdrawn). Prometheus text at /metrics.
[telemetry]
replay = "telemetry.json"
interval_ms = 1000
metrics_listen = "127.0.0.1:{metrics_port}"

[runtime]
kind = "{kind}"
{engine}port_range = "{first}-{last}"

[[runtime.images]]
image = "hashicorp/http-echo*"
command = ["{{stratus}}", "workload", "http-echo"]

[[runtime.images]]
image = "python:*"

# The built-in trainer: this binary's `train coordinator` / `train worker`. It shares the host's
# network to reach its coordinator and S3 on other providers (its files, processes and uid stay
# sandboxed; the command is fixed here, never the tenant's).
[[runtime.images]]
image = "stratus/trainer*"
command = ["{{stratus}}", "train"]
network = "host"

# The built-in benchmark an auditor leases (`stratus audit benchmark`): this binary's
# `provider benchmark`, its record served on the service's port; no network beyond it.
[[runtime.images]]
image = "stratus/bench*"
command = ["{{stratus}}", "provider", "benchmark", "--quick", "--output", "json", "--serve", "127.0.0.1:8080"]

# The built-in arena participant: this binary's `arena train` (a training node) or `arena
# validate` (a validator), the SDL's args saying which; host network to reach the node's API
# and S3, sandboxed otherwise.
[[runtime.images]]
image = "stratus/arena*"
command = ["{{stratus}}", "arena"]
network = "host"
"#,
        summary = p.summary,
        region = p.region,
        tier = p.tier,
        persistent = p.persistent,
        nodes = p.nodes,
        pricing = p.pricing,
        first = p.ports.0,
        last = p.ports.1,
        kind = runtime.kind,
    )
}

/// Healthy, idle figures for every declared GPU of the provider whose config is at `config`, in
/// the `[telemetry] replay` file beside it: what its dashboards show in place of a driver.
fn write_replayed_telemetry(config: &Path) -> anyhow::Result<()> {
    let loaded = stratus_provider::config::ProviderConfig::load(config)?;
    let mut nodes = serde_json::Map::new();
    for n in &loaded.cluster.nodes {
        let samples: Vec<serde_json::Value> = n
            .gpus
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let uuid = format!("GPU-devnet-{}-{i}", n.name);
                serde_json::json!({
                    "index": i, "model": g.model,
                    "uuid_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(uuid.as_bytes())),
                    "temperature_c": 34 + i, "slowdown_temperature_c": 90, "power_w": 61.5,
                    "power_limit_w": 700.0, "utilization_pct": 0, "memory_used_bytes": 0,
                    "memory_total_bytes": u64::from(g.ram_gi) << 30, "sm_clock_mhz": 345,
                    "memory_clock_mhz": 2619, "ecc_corrected": 0, "ecc_uncorrected": 0,
                    "throttle_reasons": ["gpu_idle"], "xid_events": []
                })
            })
            .collect();
        nodes.insert(n.name.clone(), serde_json::Value::Array(samples));
    }
    let path = config.with_file_name("telemetry.json");
    fs::write(&path, serde_json::to_vec_pretty(&nodes)?).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Devnet {
    pub fn exists(home: &Path) -> bool {
        home.join("devnet.json").exists()
    }

    pub fn load(home: &Path) -> anyhow::Result<Devnet> {
        let path = home.join("devnet.json");
        let bytes = fs::read(&path).with_context(|| {
            format!(
                "{} holds no devnet (no devnet.json); `stratus up --home {}` makes one",
                home.display(),
                home.display()
            )
        })?;
        let file = serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", path.display()))?;
        Ok(Devnet { home: home.to_path_buf(), file })
    }

    /// Writes a fresh devnet into `home`: genesis with funded keys, provider configs.
    pub fn init(
        home: &Path,
        block_time_ms: u64,
        runtime: &RuntimeChoice,
        providers: usize,
        validators: usize,
    ) -> anyhow::Result<Devnet> {
        if !(1..=MAX_PROVIDERS).contains(&providers) {
            bail!("a devnet has 1 to {MAX_PROVIDERS} providers, not {providers}");
        }
        if !(1..=MAX_VALIDATORS).contains(&validators) {
            bail!("a devnet has 1 to {MAX_VALIDATORS} validators, not {validators}");
        }
        if home.join("config.toml").exists() {
            bail!(
                "{} already holds a node that is not a devnet made by `stratus up`; pick another --home",
                home.display()
            );
        }
        fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
        let node_port = free_port()?;
        let node = format!("http://127.0.0.1:{node_port}");
        let coins = |n: u128| vec![Coin::new(n, "uact"), Coin::new(n, "uakt")];
        let mut accounts = vec![(TENANT.to_string(), coins(100_000_000_000)), (AUDITOR.to_string(), coins(10_000_000))];
        for p in plans(providers) {
            accounts.push((format!("provider-{}", p.name), coins(1_000_000_000)));
        }
        let keyring = stratus_client::keys::Keyring::new(home);
        // The auditor's address goes into the genesis parameters, so its key comes first.
        if keyring.show(AUDITOR).is_err() {
            let words = stratus_client::keys::generate_mnemonic();
            keyring.add(
                AUDITOR,
                &stratus_client::keys::Secret::Mnemonic(words),
                stratus_client::keys::Backend::Test,
                None,
            )?;
        }
        let auditor = keyring.show(AUDITOR)?.address;
        let mut params = Params::devnet();
        params.take_rates = vec![
            TakeRate { denom: "uact".into(), bps: TAKE_RATE_BPS },
            TakeRate { denom: "uakt".into(), bps: TAKE_RATE_BPS },
        ];
        params.auditor_aliases = vec![AuditorAlias { name: AKASH_AUDITOR.into(), auditor }];
        let config =
            // A devnet is small: check the ledger's invariants after every block.
            NodeConfig {
                api_addr: format!("127.0.0.1:{node_port}").parse()?,
                block_time_ms,
                check_invariants: true,
                ..NodeConfig::default()
            };
        let options = InitOptions {
            chain_id: CHAIN_ID.into(),
            accounts,
            faucet_grant: Some(vec![Coin::new(100_000_000, "uact"), Coin::new(100_000_000, "uakt")]),
            config,
            params,
            genesis_time_ms: stratus_client::now_ms(),
            validators: Vec::new(),
        };
        let report = if validators == 1 {
            init(home, options)?
        } else {
            let mut members = vec![(home.to_path_buf(), (free_port()?, node_port))];
            for i in 1..validators {
                members.push((Devnet::validator_home(home, i), (free_port()?, free_port()?)));
            }
            stratus_node::init::init_validators(&members, options)?
        };
        let address_of = |name: &str| {
            report.accounts.iter().find(|a| a.name == name).map(|a| a.address.to_string()).unwrap_or_default()
        };
        // Each devnet forwards workload ports from its own block, so two devnets on one machine
        // never hand out the same port.
        let base = port_block(home, runtime.kind == "container")?;
        let count = providers;
        let mut providers = Vec::new();
        for mut p in plans(count) {
            p.ports = (p.ports.0 - PLAN_PORTS_FROM + base, p.ports.1 - PLAN_PORTS_FROM + base);
            let key = format!("provider-{}", p.name);
            let dir = PathBuf::from("providers").join(p.name);
            fs::create_dir_all(home.join(&dir))?;
            let config = dir.join("provider.toml");
            // The metrics port is the last of the provider's claimed block (workloads get the
            // rest): a port from the kernel's ephemeral range could be taken by then.
            let metrics = p.ports.1;
            p.ports.1 -= 1;
            fs::write(home.join(&config), provider_toml(&p, &key, &node, (free_port()?, metrics), runtime))?;
            write_replayed_telemetry(&home.join(&config))?;
            providers.push(DevnetProvider {
                name: p.name.into(),
                address: address_of(&key),
                key,
                config,
                summary: p.summary.into(),
            });
        }
        let file = DevnetFile {
            chain_id: CHAIN_ID.into(),
            node,
            block_time_ms,
            providers,
            runtime: runtime.kind.clone(),
            engine_socket: runtime.engine_socket.clone(),
            validators,
            console_port: Some(free_port()?),
        };
        fs::write(home.join("devnet.json"), serde_json::to_vec_pretty(&file)?)?;
        Ok(Devnet { home: home.to_path_buf(), file })
    }

    /// The web console's URL, when this devnet serves one.
    pub fn console_url(&self) -> Option<String> {
        self.file.console_port.map(|p| format!("http://127.0.0.1:{p}/"))
    }

    /// Validator `i`'s node home (validator 0's is the devnet home itself).
    pub fn validator_home(home: &Path, i: usize) -> PathBuf {
        if i == 0 { home.to_path_buf() } else { home.join("validators").join(format!("v{i}")) }
    }

    pub fn pid_path(&self) -> PathBuf {
        self.home.join("devnet.pid")
    }

    pub fn log_path(&self) -> PathBuf {
        self.home.join("devnet.log")
    }

    pub fn ready_path(&self) -> PathBuf {
        self.home.join("devnet.ready")
    }

    /// The background process's pid, if it runs.
    pub fn running_pid(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.pid_path()).ok()?.trim().parse().ok()?;
        is_serve(pid, &self.home).then_some(pid)
    }

    /// Starts the background process (its own process group, so a Ctrl-C to `up` does not
    /// reach it) and waits until every provider is up.
    pub fn start(&self) -> anyhow::Result<u32> {
        let exe = std::env::current_exe().context("cannot find the stratus binary")?;
        let _ = fs::remove_file(self.ready_path());
        let log = fs::File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .with_context(|| format!("opening {}", self.log_path().display()))?;
        let child = Command::new(exe)
            .arg("--home")
            .arg(&self.home)
            .args(["devnet", "serve"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting the devnet process")?;
        let pid = child.id();
        // Not waited on here: it outlives this command. Reaped by init when `up` exits.
        drop(child);
        self.wait_ready(pid, Duration::from_secs(120))?;
        Ok(pid)
    }

    fn wait_ready(&self, pid: u32, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Ok(bytes) = fs::read(self.ready_path())
                && let Ok(r) = serde_json::from_slice::<Ready>(&bytes)
                && r.pid == pid
            {
                return Ok(());
            }
            if !is_serve(pid, &self.home) && !pid_running(pid) {
                bail!("the devnet process exited while starting:\n{}", self.log_tail(20));
            }
            if start.elapsed() > timeout {
                bail!("the devnet did not come up within {} s:\n{}", timeout.as_secs(), self.log_tail(20));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let from = all.len().saturating_sub(lines);
        all[from..].iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM, then waits (SIGKILL after `grace`). True if it was running.
    pub fn stop(&self, grace: Duration) -> anyhow::Result<bool> {
        let Some(pid) = self.running_pid() else {
            let _ = fs::remove_file(self.ready_path());
            return Ok(false);
        };
        let target = nix::unistd::Pid::from_raw(i32::try_from(pid).map_err(|_| anyhow!("bad pid {pid}"))?);
        let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while pid_running(pid) {
            if start.elapsed() > grace {
                let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL);
                std::thread::sleep(Duration::from_millis(200));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Reap it if this process started it (`up` in the foreground).
        let _ = nix::sys::wait::waitpid(target, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        let _ = fs::remove_file(self.pid_path());
        let _ = fs::remove_file(self.ready_path());
        Ok(true)
    }

    /// Stops the providers' workloads (their lease records and volumes stay).
    pub fn stop_workloads(&self) -> usize {
        self.file
            .providers
            .iter()
            .filter_map(|p| stratus_provider::config::ProviderConfig::load(&self.home.join(&p.config)).ok())
            .map(|cfg| stratus_provider::runtime::host::stop_all(&cfg.data_dir))
            .sum()
    }

    fn provider_dir(&self, name: &str) -> PathBuf {
        self.home.join("providers").join(name)
    }

    /// Whether `stratus devnet provider kill` took this provider down (and `start` has not
    /// brought it back).
    pub fn provider_killed(&self, name: &str) -> bool {
        self.provider_dir(name).join("killed").exists()
    }

    pub fn set_provider_state(&self, name: &str, state: &str) {
        let _ = fs::write(self.provider_dir(name).join("state"), state);
    }

    fn provider_state(&self, name: &str) -> String {
        fs::read_to_string(self.provider_dir(name).join("state")).unwrap_or_default()
    }

    fn wait_provider_state(&self, name: &str, state: &str, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        while self.provider_state(name) != state {
            if self.running_pid().is_none() {
                bail!("the devnet in {} stopped:\n{}", self.home.display(), self.log_tail(10));
            }
            if start.elapsed() > timeout {
                bail!("provider {name} is not {state} after {} s:\n{}", timeout.as_secs(), self.log_tail(10));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn running_provider(&self, name: &str) -> anyhow::Result<DevnetProvider> {
        let Some(p) = self.provider_by_name(name).cloned() else {
            let names: Vec<&str> = self.file.providers.iter().map(|p| p.name.as_str()).collect();
            bail!("the devnet has no provider {name:?} (it has {})", names.join(", "));
        };
        if self.running_pid().is_none() {
            bail!(
                "the devnet in {} is not running: `stratus up --home {}` starts it",
                self.home.display(),
                self.home.display()
            );
        }
        Ok(p)
    }

    /// Crashes a provider: its daemon stops where it is (no message to the ledger), then its
    /// workloads are SIGKILLed. Returns how many replicas were killed.
    pub fn kill_provider(&self, name: &str) -> anyhow::Result<usize> {
        let p = self.running_provider(name)?;
        fs::write(self.provider_dir(&p.name).join("killed"), b"")?;
        self.wait_provider_state(&p.name, "down", Duration::from_secs(30))?;
        let cfg = stratus_provider::config::ProviderConfig::load(&self.home.join(&p.config))?;
        Ok(stratus_provider::runtime::host::stop_all(&cfg.data_dir))
    }

    /// Starts a killed provider again and waits until it serves.
    pub fn start_provider(&self, name: &str) -> anyhow::Result<()> {
        let p = self.running_provider(name)?;
        let _ = fs::remove_file(self.provider_dir(&p.name).join("killed"));
        self.wait_provider_state(&p.name, "up", Duration::from_secs(60))
    }

    pub fn provider_by_name(&self, name: &str) -> Option<&DevnetProvider> {
        self.file.providers.iter().find(|p| p.name == name || p.address == name || p.key == name)
    }
}

/// A live process (zombies count as gone).
fn pid_running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// `pid` is `stratus … devnet serve` for this home (pids are reused).
fn is_serve(pid: u32, home: &Path) -> bool {
    let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<String> = cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    pid_running(pid)
        && args.windows(2).any(|w| w[0] == "devnet" && w[1] == "serve")
        && args.iter().any(|a| Path::new(a) == home)
}

/// The container engine a container devnet uses: the one asked for, else one that answers
/// (`DOCKER_HOST`, the usual sockets), else a podman service started in the home (stopped by
/// `stratus down`).
pub fn container_engine(home: &Path, requested: Option<&str>) -> anyhow::Result<String> {
    use stratus_provider::runtime::container::{engine_candidates, probe};
    let own = podman_socket(home);
    let mut tried = Vec::new();
    if requested == Some(own.as_str()) {
        // This devnet's own service, stopped by `down`: start it again.
        return start_podman(home, &own, &tried);
    }
    for uri in engine_candidates(requested) {
        match probe(&uri) {
            Ok(()) => return Ok(uri),
            Err(e) => tried.push(format!("{uri}: {e}")),
        }
    }
    if requested.is_some() {
        bail!("no container engine answers at {}", tried.join("; "));
    }
    start_podman(home, &own, &tried)
}

/// `podman system service` on the devnet's own socket, unless it answers already.
fn start_podman(home: &Path, own: &str, tried: &[String]) -> anyhow::Result<String> {
    use stratus_provider::runtime::container::probe;
    if probe(own).is_ok() {
        return Ok(own.to_string());
    }
    fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
    let log = fs::File::create(home.join("podman.log"))?;
    let child = Command::new("podman")
        .args(["system", "service", "--time=0", own])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            anyhow!(
                "no container engine answers ({}) and podman cannot be started ({e}): install podman (apt-get install podman runc) or Docker, or pass --engine-socket",
                tried.join("; ")
            )
        })?;
    fs::write(home.join("podman.pid"), child.id().to_string())?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if probe(own).is_ok() {
            return Ok(own.to_string());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("podman's service did not answer on {own} within 30 s (see {})", home.join("podman.log").display())
}

/// The socket of the podman service a devnet starts for itself.
pub fn podman_socket(home: &Path) -> String {
    let home = fs::canonicalize(home).unwrap_or_else(|_| home.to_path_buf());
    format!("unix://{}", home.join("podman.sock").display())
}

/// Stops the podman service this devnet started, if any. Containers keep running (podman runs
/// them without its service); the next `up` starts the service again and re-adopts them.
pub fn stop_podman(home: &Path) -> bool {
    let Some(pid) = fs::read_to_string(home.join("podman.pid")).ok().and_then(|p| p.trim().parse::<i32>().ok()) else {
        return false;
    };
    let _ = fs::remove_file(home.join("podman.pid"));
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if !String::from_utf8_lossy(&cmdline).contains("podman") {
        return false;
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    true
}

#[cfg(test)]
mod tests {
    use super::claim_block;

    #[test]
    fn a_port_block_has_one_live_claimant_and_a_gone_home_loses_its_claim() {
        // Block numbers real devnets never use (theirs are multiples of 800 from 20000).
        let base = 1 + (std::process::id() % 1000) as u16;
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        assert!(claim_block(base, a.path()), "a free block is claimed");
        assert!(claim_block(base, a.path()), "its claimant may claim it again (a re-init)");
        assert!(!claim_block(base, b.path()), "another live home may not");
        let gone = a.path().to_path_buf();
        drop(a);
        assert!(!gone.exists());
        assert!(claim_block(base, b.path()), "a claim whose home is gone is taken over");
        assert!(!claim_block(base, &gone), "and now belongs to the new home");
        let _ = std::fs::remove_file(std::env::temp_dir().join("stratus-devnet-ports").join(base.to_string()));
    }
}
