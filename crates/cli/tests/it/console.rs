//! The web console in a real browser: Debian's Chromium driven by playwright-core
//! (`console/tests/browser.mjs`) against `stratus console` serving a running node. Screenshots of
//! each page land in `target/console-screenshots/` (docs/console.md shows them).
//!
//! Needs Node.js, `/usr/bin/chromium` and the console's npm packages; `.ci/run` installs them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::devnet::{NodeProcess, init};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console").canonicalize().expect("console/")
}

#[test]
fn the_console_works_in_a_real_browser() {
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM").is_some(),
        "this test drives Debian's Chromium: apt-get install chromium (.ci/run does)"
    );
    if !console_dir().join("node_modules/playwright-core").exists() {
        let npm = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(console_dir())
            .status()
            .expect("run npm");
        assert!(npm.success(), "npm ci in console/ failed");
    }
    let home = tempfile::tempdir().expect("tempdir");
    init(home.path(), &["--account", "alice=1000000000uact"]);
    let node = NodeProcess::start(home.path(), "300ms");
    let mut console = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(["--node", &node.url, "console", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn console");
    let mut line = String::new();
    BufReader::new(console.stdout.take().expect("stdout")).read_line(&mut line).expect("ready line");
    let _console = Killed(console);
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("console url").to_string();
    // A transaction, and a few blocks for the network page's tables and chart.
    let sent = crate::devnet::cli(home.path(), &node.url, &["--from", "alice", "send", "alice", "1uact"]);
    crate::ok(&sent);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    let out = Command::new("node")
        .arg(console_dir().join("tests/browser.mjs"))
        .arg(&url)
        .arg(&shots)
        .output()
        .expect("run node");
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser test failed:\n{printed}");
    for shot in ["network", "templates", "editor", "editor-error", "templates-phone", "network-dark"] {
        assert!(shots.join(format!("{shot}.png")).exists(), "screenshot {shot}.png");
    }
    eprintln!("{printed}");
    node.kill();
}
