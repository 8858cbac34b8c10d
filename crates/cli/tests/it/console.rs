//! The web console in a real browser: Debian's Chromium driven by playwright-core against the
//! console `stratus up --detach` serves for its devnet. `console/tests/browser.mjs` walks the
//! read-only pages (network, templates, editor diagnostics, phone width, dark theme, keyboard);
//! `console/tests/browser-deploy.mjs` walks the tenant's path (key from a mnemonic, deploy signed
//! in the page, live bids and declines, accept, lease with streaming logs, close and settlement,
//! provider dashboard). Screenshots of each page land in `target/console-screenshots/`
//! (docs/console.md shows them).
//!
//! Needs Node.js, `/usr/bin/chromium` and the console's npm packages; `.ci/run` installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::up::Home;

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console").canonicalize().expect("console/")
}

/// Runs a script of `console/tests` under Node; panics with what it printed if it fails.
pub fn node_script(script: &str, args: &[&str]) -> String {
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM").is_some(),
        "the console's browser tests drive Debian's Chromium: apt-get install chromium (.ci/run does)"
    );
    if !console_dir().join("node_modules/playwright-core").exists() {
        let npm = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(console_dir())
            .status()
            .expect("run npm");
        assert!(npm.success(), "npm ci in console/ failed");
    }
    let out = Command::new("node").arg(console_dir().join(script)).args(args).output().expect("run node");
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed:\n{printed}");
    printed
}

#[test]
fn the_console_works_in_a_real_browser() {
    let home = Home::new();
    let up = home.up(&["--detach"]);
    crate::ok(&up);
    let detached: serde_json::Value = serde_json::from_slice(&up.stdout).expect("up --detach prints JSON");
    let url = detached["console"].as_str().expect("the console's URL").to_string();
    // The devnet's tenant key is in its test keyring, mnemonic in the clear: the browser imports it.
    let tenant: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.path().join("keyring/tenant.json")).expect("tenant key"))
            .expect("json");
    let mnemonic = tenant["plaintext"].as_str().expect("the tenant's mnemonic");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    let shots = shots.to_str().expect("utf-8 path");
    let read_only = node_script("tests/browser.mjs", &[&url, shots]);
    // The devnet's pid, for freezing it while logs stream (the stall watchdog's test).
    let pid = std::fs::read_to_string(home.path().join("devnet.pid")).expect("devnet.pid");
    let deploy = node_script("tests/browser-deploy.mjs", &[&url, shots, mnemonic, pid.trim()]);
    for shot in [
        "network",
        "templates",
        "editor",
        "editor-error",
        "templates-phone",
        "network-dark",
        "key",
        "deployment",
        "lease",
        "settlement",
        "providers",
        "provider",
    ] {
        assert!(Path::new(shots).join(format!("{shot}.png")).exists(), "screenshot {shot}.png");
    }
    eprintln!("{read_only}{deploy}");
}
