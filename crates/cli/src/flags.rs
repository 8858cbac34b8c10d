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
