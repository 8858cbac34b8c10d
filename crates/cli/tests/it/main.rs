//! The `stratus` binary, run as users and scripts run it.

mod arena;
mod benchmark;
mod console;
mod container;
mod crash;
mod devnet;
mod isolation;
mod journey;
mod provider;
mod sdl;
mod telemetry;
mod train;
mod train_up;
mod up;
mod validators;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn stratus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stratus")).args(args).output().expect("run stratus")
}

/// The command's stdout, asserting it succeeded (stderr and stdout in the message when not).
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}\n{}", String::from_utf8_lossy(&out.stderr), stdout(out));
    stdout(out)
}

/// The command's stdout as one JSON value, asserting it succeeded.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).expect("json")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn corpus() -> PathBuf {
    std::env::var("STRATUS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"))
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
