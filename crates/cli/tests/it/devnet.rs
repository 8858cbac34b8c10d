//! A node run as its own process (`stratus node run`), as operators run it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub struct NodeProcess {
    pub child: Child,
    pub url: String,
}

impl NodeProcess {
    /// Starts `stratus node run` on a free loopback port and waits for its ready line.
    pub fn start(home: &Path, block_time: &str) -> NodeProcess {
        let log = File::options().create(true).append(true).open(home.join("node.log")).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_stratus"))
            .args([
                "--home",
                crate::path_str(home),
                "node",
                "run",
                "--block-time",
                block_time,
                "--api-addr",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn node");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read ready line");
        let Some(start) = line.find("http://") else {
            let log = std::fs::read_to_string(home.join("node.log")).unwrap_or_default();
            panic!("node did not start: {line:?}\n{log}");
        };
        let url = line[start..].split(',').next().expect("url").trim().to_string();
        NodeProcess { child, url }
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `stratus node init` into `home`.
pub fn init(home: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--home", crate::path_str(home), "node", "init", "--api-addr", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let out = crate::stratus(&all);
    assert!(out.status.success(), "node init failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs the CLI against a node with a home.
pub fn cli(home: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(args)
        .env("STRATUS_HOME", home)
        .env("STRATUS_NODE", url)
        .env_remove("STRATUS_FROM")
        .env_remove("STRATUS_KEYRING_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .expect("run stratus")
}

/// `stratus provider run` as its own process.
pub struct ProviderProcess {
    pub child: Child,
    pub address: String,
}

impl ProviderProcess {
    pub fn start(home: &Path, config: &Path) -> ProviderProcess {
        let log = File::options().create(true).append(true).open(home.join("provider.log")).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_stratus"))
            .args(["--home", crate::path_str(home), "provider", "run", "--config", crate::path_str(config)])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn provider");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read ready line");
        let Some(address) = line.strip_prefix("provider ").and_then(|l| l.split(':').next()) else {
            let log = std::fs::read_to_string(home.join("provider.log")).unwrap_or_default();
            panic!("provider did not start: {line:?}\n{log}");
        };
        ProviderProcess { address: address.to_string(), child }
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for ProviderProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Kills the workloads (supervisors and their sandboxes) started under `home` when dropped:
/// they outlive the provider by design, but not a test.
pub struct Reaper(pub std::path::PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        let home = self.0.display().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else { return };
        for e in entries.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.contains("workload") && cmd.contains(&home) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}
