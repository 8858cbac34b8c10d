//! Every command-line flag, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "stratus",
    version,
    about = "Stratus: an open GPU marketplace for AI training, compatible with Akash SDL"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command understands.
#[derive(Debug, Args)]
pub struct Global {
    /// Home directory: the keyring, and a node's config, genesis and data [default: ~/.stratus]
    #[arg(long, global = true, env = "STRATUS_HOME")]
    pub home: Option<PathBuf>,
    /// The node's API [default: the devnet's when --home holds one made by `stratus up`, else
    /// http://127.0.0.1:26657]
    #[arg(long, global = true, env = "STRATUS_NODE")]
    pub node: Option<String>,
    /// Key (in the keyring) that signs transactions and whose address queries default to.
    #[arg(long, global = true, env = "STRATUS_FROM")]
    pub from: Option<String>,
    /// How results are printed.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Transaction fee, e.g. 5000uact [default: the chain's minimum fee]
    #[arg(long, global = true)]
    pub fee: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check SDL files and print what they produce.
    #[command(subcommand)]
    Sdl(SdlCommand),
    /// Benchmarks (throughput figures for the README and issue notes).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Initialize and run a node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Manage keys: BIP39 mnemonics, ed25519, `stratus1…` addresses.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create, inspect, update, fund and close deployments.
    #[command(subcommand)]
    Deploy(DeployCommand),
    /// List the bids on a deployment.
    Bids(BidsArgs),
    /// Accept a bid (create a lease), close leases, withdraw earnings.
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Close, pause or restart one group of a deployment.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Register or update a provider, inspect providers.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Bid on an order, or withdraw a bid (providers).
    #[command(subcommand)]
    Bid(BidCommand),
    /// Sign or delete provider attributes (auditors); verify a provider's benchmark.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Published benchmark records: provider, GPU, figures, height, attested by; --chart draws
    /// bf16 throughput by GPU model across providers.
    Benchmarks(BenchmarksArgs),
    /// Send coins.
    Send(SendArgs),
    /// Get coins from a devnet's faucet.
    Faucet(FaucetArgs),
    /// Read the chain: status, accounts, transactions, blocks, market records, events.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Start (or resume) a local devnet — node, three providers, a funded tenant — and deploy an
    /// SDL on it, showing each phase from bids to logs. Ctrl-C closes the deployment and settles.
    Up(UpArgs),
    /// Stop the devnet `up` started in --home (the chain and leases stay; `up` resumes them).
    Down(DownArgs),
    /// Training competitions (FLock-style) on the ledger: tasks, stakes, submissions, scores
    /// committed and revealed, rewards anyone can recompute.
    #[command(subcommand)]
    Arena(ArenaCommand),
    /// Train language models: prepare data, run a job locally, or run its coordinator and
    /// workers (what the supercloud runs), evaluate checkpoints.
    #[command(subcommand)]
    Train(TrainCommand),
    /// Host runtime internals (run by the provider, not by people).
    #[command(subcommand, hide = true)]
    Workload(WorkloadCommand),
    /// The devnet `up` made: crash and restart its providers.
    #[command(subcommand)]
    Devnet(DevnetCommand),
    /// Serve the web console (templates, SDL editor, network) for the node at --node.
    Console(ConsoleArgs),
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Address the console listens on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:26680")]
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The SDL to deploy [default: examples/hello.yaml, a tiny HTTP server]
    pub sdl: Option<PathBuf>,
    /// Lease from this provider (a devnet name: h100, rtx4090, cpu; or an address) instead of
    /// the cheapest bid.
    #[arg(long)]
    pub provider: Option<String>,
    /// Bring everything up in the background, print one JSON object once the services run, and
    /// exit (`stratus down` stops it).
    #[arg(long)]
    pub detach: bool,
    /// Escrow deposit [default: 5000000 of the SDL's denomination]
    #[arg(long)]
    pub deposit: Option<String>,
    /// Time between blocks of a new devnet (an existing one keeps its own).
    #[arg(long, default_value = "1s")]
    pub block_time: String,
    /// Give up waiting for the services to run after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Where a new devnet's providers run workloads: `host` (bubblewrap sandboxes) or
    /// `container` (OCI containers through Docker or podman).
    /// [default: host; an existing devnet keeps its own]
    #[arg(long, value_parser = ["host", "container"])]
    pub runtime: Option<String>,
    /// The container engine for `--runtime container` (`unix:///path`, `tcp://host:port`)
    /// [default: DOCKER_HOST, the usual sockets, else a podman service the devnet starts]
    #[arg(long)]
    pub engine_socket: Option<String>,
    /// How many providers a new devnet has (1–8): h100, rtx4090 and cpu, then GPU providers in
    /// other regions (a100, l40s, a6000, h200, a40) [default: 3; an existing devnet keeps its own]
    #[arg(long)]
    pub providers: Option<usize>,
    /// Validators of a new devnet's chain (1–7): 1 is the solo engine; more run Tendermint BFT
    /// in the devnet's process [default: 1; an existing devnet keeps its own]
    #[arg(long)]
    pub validators: Option<usize>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Leave the workloads running (the next `up` re-adopts them as they are).
    #[arg(long)]
    pub keep_workloads: bool,
}

#[derive(Debug, Subcommand)]
pub enum DevnetCommand {
    /// Run the node and the providers of the devnet in --home until SIGTERM.
    #[command(hide = true)]
    Serve,
    /// Crash or restart one of the devnet's providers (drills for healing jobs).
    #[command(subcommand)]
    Provider(DevnetProviderCommand),
}

#[derive(Debug, Subcommand)]
pub enum DevnetProviderCommand {
    /// Kill the provider's daemon and SIGKILL its workloads, as a crash would: nothing is said
    /// to the ledger, its leases stay open until someone closes them.
    Kill { name: String },
    /// Start a killed provider again (it re-adopts or restarts what its leases still need).
    Start { name: String },
}

#[derive(Debug, Subcommand)]
pub enum WorkloadCommand {
    /// Supervise one replica whose files are in DIR.
    Supervise { dir: PathBuf },
    /// PID 1 of a replica's sandbox.
    Init { spec: PathBuf },
    /// A stand-in for hashicorp/http-echo (-listen=:5678 -text=hello).
    #[command(name = "http-echo")]
    HttpEcho {
        #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Write a genesis and a node config into --home.
    Init(NodeInit),
    /// Produce blocks and serve the API until interrupted.
    Run(NodeRun),
}

#[derive(Debug, Args)]
pub struct NodeInit {
    #[arg(long, default_value = "stratus-devnet-1")]
    pub chain_id: String,
    /// Fund an account at genesis: NAME_OR_ADDRESS=COINS (COINS like 1000000000uact,5000uakt).
    /// A name not in the keyring becomes a new unencrypted (test backend) key.
    #[arg(long = "account", value_name = "NAME=COINS")]
    pub accounts: Vec<String>,
    /// Enable a faucet granting COINS per request (devnets).
    #[arg(long, value_name = "COINS")]
    pub faucet: Option<String>,
    /// Target time between blocks (1s, 250ms).
    #[arg(long, default_value = "1s")]
    pub block_time: String,
    #[arg(long, default_value = "127.0.0.1:26657")]
    pub api_addr: std::net::SocketAddr,
    /// Smallest fee per transaction (e.g. 100uact); none by default.
    #[arg(long)]
    pub min_fee: Option<String>,
    /// A BFT testnet of N validators: writes HOME/v0 … HOME/v{N-1}, each a node home with the
    /// shared genesis, its own validator key and the others as peers on 127.0.0.1.
    #[arg(long, value_name = "N")]
    pub testnet: Option<usize>,
    /// First port of a testnet: validator I listens for peers on P+2I and serves its API on P+2I+1.
    #[arg(long, value_name = "P", default_value_t = 26656, requires = "testnet")]
    pub base_port: u16,
}

#[derive(Debug, Args)]
pub struct NodeRun {
    /// Target time between blocks (1s, 250ms) [default: from config.toml]
    #[arg(long)]
    pub block_time: Option<String>,
    /// Address the API listens on (port 0 picks a free one) [default: from config.toml]
    #[arg(long)]
    pub api_addr: Option<std::net::SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyringBackend {
    /// Encrypted with a passphrase (STRATUS_KEYRING_PASSPHRASE, or asked for).
    File,
    /// Unencrypted: devnets and tests only.
    Test,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key from a fresh 24-word mnemonic (printed once: write it down).
    Add(KeysAdd),
    /// Import a key from a mnemonic or a hex private key read from standard input.
    Import(KeysAdd),
    /// List keys.
    List,
    /// Show a key's address and public key.
    Show(KeyName),
    /// Print a key's secret (mnemonic or private key). Anyone who sees it controls the account.
    Export(KeyName),
    /// Delete a key file.
    Delete(KeysDelete),
}

#[derive(Debug, Args)]
pub struct KeysAdd {
    pub name: String,
    #[arg(long, value_enum, default_value_t = KeyringBackend::File)]
    pub keyring_backend: KeyringBackend,
}

#[derive(Debug, Args)]
pub struct KeyName {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct KeysDelete {
    pub name: String,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub yes: bool,
}

/// A deployment of --from's account, or of --owner.
#[derive(Debug, Args)]
pub struct DeploymentRef {
    pub dseq: u64,
    /// Deployment owner [default: --from's address]
    #[arg(long)]
    pub owner: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Create a deployment from an SDL file, funding its escrow.
    Create(DeployCreate),
    /// Show a deployment: groups, orders, bids, leases, escrow.
    Status(DeploymentRef),
    /// Point a deployment at a new SDL version (same groups).
    Update(DeployUpdate),
    /// Close a deployment: its leases end and the escrow's rest is refunded.
    Close(DeploymentRef),
    /// Add funds to a deployment's escrow (anyone may).
    Deposit(DeployDeposit),
    /// List deployments.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct DeployCreate {
    pub file: PathBuf,
    /// Escrow deposit, e.g. 5000000uact (in the SDL's pricing denomination).
    #[arg(long)]
    pub deposit: String,
    /// Deployment sequence [default: the current height, or the next free one]
    #[arg(long)]
    pub dseq: Option<u64>,
    /// All or nothing: no lease pays until every group is leased, and unless that happens within
    /// the chain's gang_timeout_blocks the deployment closes and everything is refunded
    #[arg(long)]
    pub gang: bool,
}

#[derive(Debug, Args)]
pub struct DeployUpdate {
    pub dseq: u64,
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct DeployDeposit {
    pub dseq: u64,
    pub amount: String,
    #[arg(long)]
    pub owner: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this owner's [default: --from's address, if given]
    #[arg(long)]
    pub owner: Option<String>,
    /// Only this provider's (bids and leases).
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub state: Option<String>,
    /// Most items to show.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct BidsArgs {
    pub dseq: u64,
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Accept a provider's open bids on a deployment (one lease per group it bid on).
    Create(LeaseCreate),
    /// Close a deployment's leases (tenant), or one lease by id (its tenant, or its provider:
    /// then the provider's close, as `bid close` sends, is used).
    Close(LeaseClose),
    /// Provider: pay out what leases earned so far.
    Withdraw(LeaseWithdraw),
    /// List leases.
    List(ListArgs),
    /// Send the deployment's manifest to the providers it has leases with.
    SendManifest(SendManifest),
    /// What runs: per service, replicas and the URIs the world reaches them at.
    Status(LeaseRef),
    /// Workload output: the last lines, and with --follow new ones as they come.
    Logs(LeaseLogs),
    /// What happened to the lease (manifest, deploy, replica exits and restarts).
    Events(LeaseEvents),
    /// The lease's GPUs: temperature, power, utilisation, memory, clocks, ECC errors, throttling
    /// and health, from its provider; with --follow, again every --interval-ms.
    Metrics(LeaseMetricsArgs),
}

#[derive(Debug, Args)]
pub struct LeaseMetricsArgs {
    #[command(flatten)]
    pub lease: LeaseRef,
    #[arg(long, short)]
    pub follow: bool,
    #[arg(long, default_value_t = 2000)]
    pub interval_ms: u64,
}

#[derive(Debug, Args)]
pub struct SendManifest {
    pub dseq: u64,
    /// The SDL the deployment was created (or last updated) with [default: the copy `deploy create` kept]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LeaseRef {
    pub dseq: u64,
    /// Only this provider's lease(s).
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long)]
    pub owner: Option<String>,
}

#[derive(Debug, Args)]
pub struct LeaseLogs {
    #[command(flatten)]
    pub lease: LeaseRef,
    #[arg(long)]
    pub service: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub tail: usize,
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct LeaseEvents {
    #[command(flatten)]
    pub lease: LeaseRef,
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct LeaseCreate {
    pub dseq: u64,
    #[arg(long)]
    pub provider: String,
    /// Only this group's bid.
    #[arg(long)]
    pub gseq: Option<u32>,
    #[arg(long)]
    pub owner: Option<String>,
}

#[derive(Debug, Args)]
pub struct LeaseClose {
    /// DSEQ (all active leases of --from's deployment) or a lease id owner/dseq/gseq/oseq/provider.
    pub lease: String,
    /// With a DSEQ: only this provider's leases.
    #[arg(long)]
    pub provider: Option<String>,
}

#[derive(Debug, Args)]
pub struct LeaseWithdraw {
    /// Lease ids owner/dseq/gseq/oseq/provider; none: every active lease of --from (a provider).
    pub leases: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    Close(GroupRef),
    Pause(GroupRef),
    Start(GroupRef),
}

#[derive(Debug, Args)]
pub struct GroupRef {
    pub dseq: u64,
    pub gseq: u32,
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Register --from as a provider.
    Register(ProviderArgs),
    /// Change a provider's host, attributes or info.
    Update(ProviderArgs),
    /// Show a provider [default: --from's address] with its audited attributes.
    Show(ProviderShow),
    /// List providers.
    List(ListArgs),
    /// Run the provider daemon: register, bid, run what it wins, get paid.
    Run(ProviderRun),
    /// Measure this machine: per GPU matmul TFLOPS (fp32, fp16, bf16), memory and host↔device
    /// bandwidth; the same for the CPU; /dev/shm; storage write/read throughput in the provider's
    /// data directory; training tokens/s on the reference model. Without an NVIDIA driver (or a
    /// CUDA build) the figures are the CPU's, labelled so.
    Benchmark(ProviderBenchmark),
}

#[derive(Debug, Args)]
pub struct ProviderBenchmark {
    /// provider.toml: storage is measured in its data directory [default: the temp directory]
    #[arg(long, conflicts_with = "provider")]
    pub config: Option<PathBuf>,
    /// A devnet provider in --home (h100, rtx4090, cpu, …) instead of --config.
    #[arg(long)]
    pub provider: Option<String>,
    /// Seconds instead of a minute: smaller matrices, copies and files.
    #[arg(long)]
    pub quick: bool,
    /// Put the figures on the ledger (one record per GPU model, or `cpu`), signed by --from
    /// [default with --provider or --config: the provider's key].
    #[arg(long)]
    pub publish: bool,
    /// Then serve the record as JSON at GET / on this address until stopped (what an auditor's
    /// lease runs: the `stratus/bench` image).
    #[arg(long, hide = true)]
    pub serve: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProviderRun {
    /// provider.toml (see docs/provider.md).
    #[arg(long)]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ProviderArgs {
    /// The gateway's base URL, https://host:port.
    #[arg(long)]
    pub host_uri: String,
    /// Attribute KEY=VALUE (repeatable), e.g. region=eu-west, capabilities/gpu/vendor/nvidia/model/h100=true.
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
    #[arg(long, default_value = "")]
    pub email: String,
    #[arg(long, default_value = "")]
    pub website: String,
    /// sha256 (hex) of the gateway's TLS certificate, which tenants pin.
    #[arg(long, default_value = "")]
    pub tls_sha256: String,
}

#[derive(Debug, Args)]
pub struct ProviderShow {
    pub address: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BidCommand {
    /// Bid on an order owner/dseq/gseq/oseq.
    Create(BidCreate),
    /// Withdraw an open bid owner/dseq/gseq/oseq/provider.
    Close(BidClose),
}

#[derive(Debug, Args)]
pub struct BidCreate {
    pub order: String,
    /// Price per block for the whole group, e.g. 1.5uact.
    #[arg(long)]
    pub price: String,
    /// Bid deposit [default: the chain's minimum, in the price's denomination].
    #[arg(long)]
    pub deposit: Option<String>,
}

#[derive(Debug, Args)]
pub struct BidClose {
    pub bid: String,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Vouch for a provider's attributes (signed by --from, the auditor).
    Sign(AuditSign),
    /// Withdraw signed attributes by key (all of them if no --key).
    Delete(AuditDelete),
    /// Attributes auditors signed for a provider.
    List(ProviderShow),
    /// Rerun a provider's published benchmark as a lease on it (through the market, paid by
    /// --from) and sign its figures as `benchmark/<gpu>/…` attributes only if they agree within
    /// --tolerance-pct.
    Benchmark(AuditBenchmark),
}

#[derive(Debug, Args)]
pub struct AuditBenchmark {
    /// The provider (address or key name).
    pub provider: String,
    /// Which of its records: a GPU model [default: cpu, the record of a host without a GPU]
    #[arg(long)]
    pub gpu: Option<String>,
    /// How far (percent of the published figure) the auditor's own figures may be.
    #[arg(long, default_value_t = 25)]
    pub tolerance_pct: u32,
    /// Give up waiting for the lease's record after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct BenchmarksArgs {
    /// Only this GPU model (any spelling), or `cpu`.
    #[arg(long)]
    pub gpu: Option<String>,
    /// Draw bf16 throughput by GPU model and provider into this SVG file.
    #[arg(long)]
    pub chart: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditSign {
    pub provider: String,
    #[arg(long = "attr", value_name = "KEY=VALUE", required = true)]
    pub attributes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AuditDelete {
    pub provider: String,
    #[arg(long = "key")]
    pub keys: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    pub to: String,
    pub amount: String,
}

#[derive(Debug, Args)]
pub struct FaucetArgs {
    /// Address or key name [default: --from's address].
    pub to: Option<String>,
    /// Amount [default: the faucet's grant].
    #[arg(long)]
    pub amount: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Chain id, height, app hash, block time.
    Status,
    /// Ledger parameters.
    Params,
    /// Balances and sequence [default: --from's address].
    Account(ProviderShow),
    /// A committed transaction by hash.
    Tx(QueryHash),
    /// A block by height (or `latest`).
    Block(QueryBlock),
    /// Orders (open ones by default): what providers can bid on.
    Orders(ListArgs),
    /// Deployment groups.
    Groups(ListArgs),
    /// Follow committed events (Ctrl-C to stop).
    Events(QueryEvents),
}

#[derive(Debug, Args)]
pub struct QueryHash {
    pub hash: String,
}

#[derive(Debug, Args)]
pub struct QueryBlock {
    pub height: String,
}

#[derive(Debug, Args)]
pub struct QueryEvents {
    /// Comma-separated kinds, e.g. order_created,lease_created.
    #[arg(long)]
    pub kinds: Option<String>,
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    /// First height [default: the next block].
    #[arg(long)]
    pub from_height: Option<u64>,
    /// Stop after this many events.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Stop after this height.
    #[arg(long)]
    pub to_height: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Parse, validate, build and hash SDL files repeatedly; prints files_per_s=<n> last.
    Sdl(BenchSdl),
    /// Apply and durably commit a realistic transaction mix; prints tx_per_s=<n> last.
    Ledger(BenchLedger),
    /// Per-block settlement work with few versus many active leases; prints the ratio last.
    Settlement(BenchSettlement),
    /// Load a running node over HTTP (--node, funds from --from); prints tx_per_s=<n> last.
    Load(BenchLoad),
    /// Best-fit against greedy first-fit placement under churn; prints packing_ratio=<n> last.
    Packing(BenchPacking),
}

#[derive(Debug, Args)]
pub struct BenchPacking {
    #[arg(long, default_value_t = 64)]
    pub gpu_nodes: usize,
    #[arg(long, default_value_t = 16)]
    pub cpu_nodes: usize,
    /// Arrivals and departures per run.
    #[arg(long, default_value_t = 20_000)]
    pub steps: usize,
    /// Chance (percent) that a step ends a running lease.
    #[arg(long, default_value_t = 45)]
    pub departure_pct: u64,
    /// Runs, seeded 1..=N.
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
}

#[derive(Debug, Args)]
pub struct BenchLoad {
    /// Concurrent accounts, one transaction in flight each.
    #[arg(long, default_value_t = 500)]
    pub accounts: u64,
    /// Measuring window in seconds (after the warm-up).
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Spread the accounts over these nodes' APIs (comma-separated; the validators of a BFT
    /// chain) instead of sending everything to --node.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BenchSettlement {
    /// Active leases in the large state.
    #[arg(long, default_value_t = 1_000_000)]
    pub leases: u64,
}

#[derive(Debug, Args)]
pub struct BenchLedger {
    /// Transactions to apply (deploy, 5 bids, lease, 2 withdrawals, close per tenant).
    #[arg(long, default_value_t = 200_000)]
    pub txs: u64,
    /// Tenants starting a deployment per block (each block then holds about 10× this many txs).
    #[arg(long, default_value_t = 500)]
    pub tenants_per_block: u64,
    /// Directory for the store (a temporary one by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchSdl {
    /// Minimum measuring time in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SdlCommand {
    /// Validate SDL files: `ok FILE` for each valid file, diagnostics otherwise. Exit 0 iff all are valid.
    Check(SdlCheck),
    /// Print the GroupSpecs (what the ledger auctions) as JSON.
    Groups(SdlFile),
    /// Print the Manifest (what providers run) as JSON.
    Manifest(SdlFile),
    /// Print the manifest version (sha256, lowercase hex) stored on the ledger.
    Hash(SdlFile),
}

#[derive(Debug, Args)]
pub struct SdlCheck {
    /// One JSON object per file and line: {"file","valid","errors","warnings"}.
    #[arg(long)]
    pub json: bool,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SdlFile {
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// Turn a text corpus into byte-token shards (webdataset tars) with a held-out validation
    /// split, written to S3 (`s3://BUCKET/PREFIX`, endpoint and keys from AWS_*) or a directory.
    Prepare(TrainPrepareArgs),
    /// Run a job on this machine: a coordinator and N worker processes on loopback.
    Run(TrainRunArgs),
    /// Train on the supercloud: the job becomes one gang deployment (a coordinator and one group
    /// per worker), leased across providers at the cheapest feasible price; a worker whose
    /// provider disappears is replaced from another provider. Ctrl-C stops and settles.
    Up(TrainUpArgs),
    /// A supercloud job's state: step, loss, members, replacements, paid.
    Status(TrainJobRef),
    /// Stop a supercloud job: the last checkpoint stays, every lease closes, the settlement prints.
    Down(TrainJobRef),
    /// Drive a supercloud job that `train up` created: follow it and heal it (what `train up
    /// --detach` leaves running in the background).
    Supervise(TrainJobRef),
    /// Run a job's coordinator: admits workers, closes rounds, checkpoints, serves metrics.
    Coordinator(TrainCoordinatorArgs),
    /// Run a worker of the job the coordinator at URL runs.
    Worker(TrainWorkerArgs),
    /// Validation loss and bits per byte of a checkpoint.
    Eval(TrainEvalArgs),
    /// Write a model file (safetensors with its architecture; what `arena submit` takes): the
    /// newest checkpoint under a URL, or a job file's seeded initial model (a task's base model).
    Export(TrainExportArgs),
    /// Draw loss curves (SVG) from coordinators' metrics.jsonl files.
    Chart(TrainChartArgs),
}

#[derive(Debug, Args)]
pub struct TrainChartArgs {
    /// LABEL=METRICS.jsonl (the last `=` splits; or just the path: the label is its directory name), one per run.
    #[arg(required = true)]
    pub runs: Vec<String>,
    /// The SVG file to write.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "training loss")]
    pub title: String,
}

#[derive(Debug, Args)]
pub struct TrainPrepareArgs {
    /// A text file, or a directory of them (symbolic links and `.dat` indexes are skipped).
    #[arg(long)]
    pub corpus: PathBuf,
    /// Where the shards go: s3://BUCKET/PREFIX, file:///DIR or a directory.
    #[arg(long)]
    pub out: String,
    /// The fraction of samples held out for validation (the end of the corpus).
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Tokens (bytes) per sample.
    #[arg(long, default_value_t = 256)]
    pub sample_tokens: u32,
    #[arg(long, default_value_t = 64)]
    pub samples_per_shard: u32,
}

#[derive(Debug, Args)]
pub struct TrainUpArgs {
    /// The job file: an engine job (s3:// data and checkpoints) with a [cluster] section.
    pub job: PathBuf,
    /// Return once the first outer step is done and print one JSON object; the job and its
    /// healing go on in the background (`train status`, `train down`).
    #[arg(long)]
    pub detach: bool,
    /// Give up if the first outer step has not happened after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct TrainJobRef {
    /// The job: `job-DSEQ` as `train up` named it, or the deployment's dseq.
    pub job: String,
}

#[derive(Debug, Args)]
pub struct TrainRunArgs {
    /// The job file (TOML; see docs/training.md).
    pub job: PathBuf,
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Keep the metrics (JSON lines) of the coordinator and every worker here [default: a
    /// temporary directory, deleted at the end].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Serve the coordinator's /metrics and /status here.
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// Draw the run's loss curve into this SVG file at the end.
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// Drill: SIGKILL one worker once this fraction of the rounds is done, and start a replacement.
    #[arg(long)]
    pub kill_worker_at: Option<f64>,
}

#[derive(Debug, Args)]
pub struct TrainCoordinatorArgs {
    pub job: PathBuf,
    /// Where workers connect.
    #[arg(long, default_value = "0.0.0.0:7480")]
    pub listen: String,
    /// Start the first round once this many workers have joined.
    #[arg(long, default_value_t = 1)]
    pub min_workers: usize,
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// Write metrics.jsonl here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Validation samples scored at the end.
    #[arg(long, default_value_t = 512)]
    pub val_samples: usize,
    /// Workers must present this token. Required unless --listen is a loopback address.
    #[arg(long, env = "STRATUS_TRAIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct TrainWorkerArgs {
    /// The coordinator: HOST:PORT or tcp://HOST:PORT.
    #[arg(long, env = "STRATUS_TRAIN_COORDINATOR")]
    pub coordinator: String,
    /// A name for logs [default: the host name and process id].
    #[arg(long)]
    pub name: Option<String>,
    /// Per-step metrics as JSON lines.
    #[arg(long)]
    pub metrics_file: Option<PathBuf>,
    /// How long to keep trying to reach the coordinator, in seconds.
    #[arg(long, default_value_t = 60)]
    pub connect_timeout: u64,
    /// The job's token, as the coordinator was given it.
    #[arg(long, env = "STRATUS_TRAIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct TrainExportArgs {
    /// A job's checkpoint URL or one checkpoint's directory; or a job file (`….toml`) for its
    /// untrained model.
    pub source: String,
    /// The model file to write.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct TrainEvalArgs {
    /// A job's checkpoint URL (the newest complete checkpoint under it) or one checkpoint's
    /// directory (`…/ckpt/0000000008`).
    pub checkpoint_url: String,
    /// The prepared data set (its validation split is scored).
    #[arg(long)]
    pub data: String,
    /// Score at most this many validation samples.
    #[arg(long, default_value_t = 100_000)]
    pub samples: usize,
}

#[derive(Debug, Subcommand)]
pub enum ArenaCommand {
    /// `task create` (the reward pool is escrowed from --from) and `task show`.
    #[command(subcommand)]
    Task(ArenaTaskCommand),
    /// The same as `task create`.
    #[command(name = "task-create", hide = true)]
    TaskCreate(ArenaTaskCreate),
    /// Everything the ledger holds about a task (the same as `task show`).
    Show(ArenaTaskRef),
    /// Stake on a task as a training node or a validator (one role per task).
    Stake(ArenaStakeArgs),
    /// Delegate stake to a task's training node or validator.
    Delegate(ArenaDelegateArgs),
    /// Submit a model file: its sha256 goes on the ledger; with an s3:// --location the file is
    /// uploaded there first.
    Submit(ArenaSubmitArgs),
    /// A training node's whole job: fine-tune the task's base model on the task's training data,
    /// upload the result to --location and submit it (what the training-node template runs).
    Train(ArenaTrainArgs),
    /// Commit a score (micro-bits per byte) for a submission: only its hash with a fresh salt
    /// goes on the ledger (the salt is kept in the home for `reveal`).
    Commit(ArenaCommitArgs),
    /// Reveal a committed score in the reveal window.
    Reveal(ArenaRevealArgs),
    /// Run as a task's validator until its reveal window ends: for each submission assigned to
    /// --from, download the model, verify its sha256 and the task's rules, score bits per byte on
    /// the validation set, commit in the commit window and reveal in the reveal window.
    Validate(ArenaValidateArgs),
    /// A whole round on a devnet for a newcomer: three training nodes train real models (one
    /// submits an untrained one), three validators score them (one lies), two delegators; prints
    /// the leaderboard and every reward, and the audit.
    Demo(ArenaDemoArgs),
    /// After the reveal window (anyone): compute and credit every reward.
    Finalize(ArenaTaskRef),
    /// Move what --from earned on a finalized task to its account.
    Claim(ArenaTaskRef),
    /// The leaderboard and every reward of a finalized task, recomputed from the ledger.
    Rewards(ArenaTaskRef),
    /// Recompute every reward of a finalized task from ledger state and events alone and compare:
    /// {"task":…,"rewards_match":true|false,"differences":[…]}. Exit 1 on a difference.
    Audit(ArenaTaskRef),
}

#[derive(Debug, Subcommand)]
pub enum ArenaTaskCommand {
    /// Create a task: its reward pool is escrowed from --from.
    Create(ArenaTaskCreate),
    /// Everything the ledger holds about a task.
    Show(ArenaTaskRef),
}

#[derive(Debug, Args)]
pub struct ArenaValidateArgs {
    #[arg(long, env = "STRATUS_ARENA_TASK")]
    pub task: u64,
    /// The validation set (a file, or s3://…): its sha256 must be the task's commitment.
    #[arg(long, env = "STRATUS_VALIDATION_SET")]
    pub validation_set: String,
    /// Score at most this many windows of context + 1 bytes.
    #[arg(long, default_value_t = 4096)]
    pub max_windows: usize,
    /// How often to look at the ledger, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub poll_ms: u64,
    /// Run as a workload does: when done, wait for the round to end, finalize the task if
    /// nobody has, claim what this key earned, then stay idle (an exit would be restarted).
    #[arg(long, env = "STRATUS_ARENA_STAY", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub stay: bool,
    /// Serve progress as JSON at GET / on this address (`HOST:PORT`, or `fd:N` for a socket the
    /// provider passed: the templates' exposed port). No score shows before its reveal.
    #[arg(long, env = "STRATUS_STATUS_LISTEN")]
    pub status_listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct ArenaTrainArgs {
    #[arg(long, env = "STRATUS_ARENA_TASK")]
    pub task: u64,
    /// The base model file (a file, or s3://…): its sha256 must be one the task allows.
    #[arg(long, env = "STRATUS_BASE_MODEL")]
    pub base: String,
    /// Where the trained model goes (a file, or s3://bucket/key) and validators download it.
    #[arg(long, env = "STRATUS_MODEL_LOCATION")]
    pub location: String,
    #[arg(long, env = "STRATUS_TRAIN_STEPS", default_value_t = 200)]
    pub steps: u64,
    /// Windows of context + 1 bytes per step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Peak learning rate (linear warm-up, then cosine decay over --steps).
    #[arg(long, default_value_t = 0.004)]
    pub lr: f64,
    /// Seeds which windows of the data each step draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run as a workload does: when done, wait for the round to end, finalize the task if
    /// nobody has, claim what this key earned, then stay idle (an exit would be restarted).
    #[arg(long, env = "STRATUS_ARENA_STAY", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub stay: bool,
    /// Serve progress as JSON at GET / on this address (`HOST:PORT`, or `fd:N` for a socket the
    /// provider passed: the templates' exposed port). No score shows before its reveal.
    #[arg(long, env = "STRATUS_STATUS_LISTEN")]
    pub status_listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct ArenaDemoArgs {
    /// Inner steps the best training node trains (the second trains a quarter of them).
    #[arg(long, default_value_t = 96)]
    pub steps: u64,
}

#[derive(Debug, Args)]
pub struct ArenaTaskRef {
    pub task: u64,
}

#[derive(Debug, Args)]
pub struct ArenaTaskCreate {
    /// The reward pool, e.g. 1000000uact.
    #[arg(long)]
    pub pool: String,
    /// sha256 (hex) of an allowed base model; repeat for several.
    #[arg(long = "base-model", required = true)]
    pub base_models: Vec<String>,
    /// Where the training data is.
    #[arg(long)]
    pub data: String,
    /// The validation set (a file, or s3://…): its sha256 is committed now (the set stays with
    /// the creator and validators).
    #[arg(long)]
    pub validation_set: String,
    #[arg(long, default_value_t = 100)]
    pub min_stake: u128,
    #[arg(long, default_value_t = 30)]
    pub submission_blocks: u64,
    #[arg(long, default_value_t = 10)]
    pub commit_blocks: u64,
    #[arg(long, default_value_t = 10)]
    pub reveal_blocks: u64,
    #[arg(long, default_value_t = 3)]
    pub validators_per_submission: u32,
    #[arg(long, default_value_t = 1)]
    pub max_submissions: u32,
    #[arg(long, default_value_t = 10_000_000)]
    pub max_params: u64,
    #[arg(long, default_value_t = 256)]
    pub context: u32,
}

#[derive(Debug, Args)]
pub struct ArenaStakeArgs {
    pub task: u64,
    /// `node` (training node) or `validator`.
    #[arg(long, value_parser = ["node", "validator"])]
    pub role: String,
    #[arg(long)]
    pub amount: u128,
    /// What it keeps of its delegators' part, basis points.
    #[arg(long, default_value_t = 0)]
    pub commission_bps: u32,
}

#[derive(Debug, Args)]
pub struct ArenaDelegateArgs {
    pub task: u64,
    /// The training node or validator (address or key name).
    pub delegate: String,
    #[arg(long)]
    pub amount: u128,
}

#[derive(Debug, Args)]
pub struct ArenaSubmitArgs {
    pub task: u64,
    /// The model file (`stratus train export` writes one from a checkpoint).
    pub model: PathBuf,
    /// sha256 (hex) of the base model it starts from.
    #[arg(long)]
    pub base_model: String,
    /// Where validators download it [default: the file's path]; s3://… uploads it there.
    #[arg(long)]
    pub location: Option<String>,
}

#[derive(Debug, Args)]
pub struct ArenaCommitArgs {
    pub task: u64,
    pub submission: u32,
    /// Micro-bits per byte (lower is better).
    #[arg(long)]
    pub score: u64,
}

#[derive(Debug, Args)]
pub struct ArenaRevealArgs {
    pub task: u64,
    pub submission: u32,
}
