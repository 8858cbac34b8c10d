//! Every command-line flag, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "stratus",
    version,
    about = "Stratus: an open GPU marketplace for AI training, compatible with Akash SDL"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check SDL files and print what they produce.
    #[command(subcommand)]
    Sdl(SdlCommand),
    /// Benchmarks (throughput figures for the README and issue notes).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Parse, validate, build and hash SDL files repeatedly; prints files_per_s=<n> last.
    Sdl(BenchSdl),
    /// Apply and durably commit a realistic transaction mix; prints tx_per_s=<n> last.
    Ledger(BenchLedger),
    /// Per-block settlement work with few versus many active leases; prints the ratio last.
    Settlement(BenchSettlement),
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
